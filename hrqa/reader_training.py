"""Training the reader (``hrqa train-reader``): a cross-encoder from the packaged MiniLM weights.

The model reads "[CLS] question [SEP] sentence [SEP]", mean-pools the last layer over the tokens and
maps that to one logit with a linear head. A learned scalar beside the candidates' logits is the
"no answer" option. The loss is listwise: softmax cross-entropy over (candidates + no answer) against
the answering candidates (their probabilities summed) or against "no answer". Mean pooling and a
listwise loss with hard negatives learned where [CLS] pooling with a pointwise loss did not (issue 10's
feasibility runs).

Seeded, logged (JSON lines), resumable from the checkpoint it writes every ``checkpoint_every`` steps.
Needs torch and transformers (installed with sentence-transformers); nothing here runs at question time.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hrqa.reader import reader_text
from hrqa.reader_data import Group, read_groups
from hrqa.reader_export import evaluate_groups, export

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    #: a BERT folder (the packaged MiniLM by default) or "tiny" for a random 2-layer model (smoke tests)
    base: str = "all-MiniLM-L6-v2"
    #: one pass over ~35k pairs: about 60 minutes on this 2-core machine
    epochs: float = 1.0
    #: candidates per training group: the answering one(s) and the first stage's hardest others
    group_size: int = 6
    #: pairs per optimiser step (groups are packed until this many pairs)
    batch_pairs: int = 64
    learning_rate: float = 4e-5
    head_learning_rate: float = 1e-3
    warmup_share: float = 0.05
    weight_decay: float = 0.01
    #: question + sentence tokens; 96 keeps 98% of squad2-dev pairs whole
    max_length: int = 96
    #: the word embeddings and this many lower layers stay as MiniLM has them: a quarter less compute
    #: per step on 2 cores, and the general-purpose lower layers are not fitted to a few thousand questions
    frozen_layers: int = 2
    seed: int = 13
    checkpoint_every: int = 100
    #: validation groups scored after each epoch (all of them at the end)
    validation_sample: int = 400
    threads: int = 2
    #: a checkpoint.pt of an earlier run whose weights this run starts from (a warm start)
    init: str | None = None
    #: read each candidate with its context (title and the sentence before: ``reader.reader_text``)
    context: bool = True
    #: keep only the lowest this many encoder layers (None: all): a smaller reader that costs
    #: proportionally less per pair, started from the ``init`` weights' lower layers. Measured: 3 of run
    #: 3's 6 layers, one epoch, first sentence 0.567 against 0.790 on 400 validation groups (MODEL_CARD.md)
    layers: int | None = None
    #: "cpu", "cuda", or "auto" (CUDA when torch sees a GPU). On a GPU the forward pass runs in bfloat16
    #: (autocast; the weights and optimiser stay float32). Not part of a run's identity: a checkpoint
    #: written on a GPU resumes and exports on a CPU
    device: str = "auto"


def _base_path(base: str) -> Path | None:
    if base == "tiny":
        return None
    from hrqa.embedding import resolve_model_path

    return resolve_model_path(base)


def tokenizer_file(base: str) -> Path:
    path = _base_path(base)
    if path is None:
        from hrqa.embedding import resolve_model_path

        path = resolve_model_path("all-MiniLM-L6-v2")
    return path / "tokenizer.json"


def build_model(base: str):
    import torch
    from torch import nn
    from transformers import AutoModel, BertConfig, BertModel

    class CrossEncoder(nn.Module):
        def __init__(self, encoder) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = nn.Linear(encoder.config.hidden_size, 1)
            nn.init.normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
            self.null = nn.Parameter(torch.zeros(()))

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    path = _base_path(base)
    if path is None:
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(tokenizer_file(base))).get_vocab_size()
        encoder = BertModel(
            BertConfig(
                vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
            )
        )
    else:
        encoder = AutoModel.from_pretrained(str(path))
    return CrossEncoder(encoder)


def initial_weights(init: str) -> dict:
    """The warm start's weights: a ``checkpoint.pt`` of an earlier run, or an exported reader's
    ``model.onnx`` (with its ``reader.json`` beside it) recovered to float (``reader_export.
    float_state_dict``; without the pooler, which the reader does not use)."""
    import torch

    if not init.endswith(".onnx"):
        return torch.load(init, weights_only=False)["model"]
    import onnx

    from hrqa.reader_export import float_state_dict

    null = json.loads((Path(init).parent / "reader.json").read_text(encoding="utf-8"))["null_logit"]
    return {
        name: torch.from_numpy(np.asarray(value)) for name, value in float_state_dict(onnx.load(init), null).items()
    }


def keep_lowest_layers(model, layers: int) -> None:
    """Drop the encoder's layers above the lowest ``layers`` (the head then reads the last kept one)."""
    stack = model.encoder.encoder.layer
    if not 1 <= layers <= len(stack):
        raise ValueError(f"layers must be between 1 and {len(stack)}, got {layers}")
    del stack[layers:]
    model.encoder.config.num_hidden_layers = layers


def group_loss(logits, null, answers):
    """Listwise loss of one group: -log P(an answering candidate), or -log P(no answer)."""
    import torch

    scores = torch.cat([logits, null.reshape(1)])
    total = torch.logsumexp(scores, 0)
    if any(answers):
        gold = torch.tensor([i for i, a in enumerate(answers) if a], dtype=torch.long, device=logits.device)
        return total - torch.logsumexp(logits[gold], 0)
    return total - null


def trim(group: Group, size: int) -> Group:
    """The answering candidates and the hardest others (first-stage order), at most ``size``."""
    if len(group.candidates) <= size:
        return group
    keep = [i for i, a in enumerate(group.answers) if a][:size]
    keep += [i for i, a in enumerate(group.answers) if not a][: size - len(keep)]
    return group.keep(sorted(keep))


def pairs_of(group: Group, context: bool) -> list[tuple[str, str]]:
    """The (question, candidate) pairs the reader reads, with each candidate's context when it reads one."""
    if not context:
        return [(group.question, c) for c in group.candidates]
    return [(group.question, reader_text(c, x)) for c, x in zip(group.candidates, group.contexts, strict=True)]


def batches(groups: list[Group], lengths: list[int], batch_pairs: int, rng: random.Random) -> list[list[int]]:
    """Group indices packed into batches of about ``batch_pairs`` pairs, similar lengths together."""
    order = list(range(len(groups)))
    rng.shuffle(order)
    out: list[list[int]] = []
    for start in range(0, len(order), 400):  # sort by length within shuffled windows: less padding
        window = sorted(order[start : start + 400], key=lambda i: lengths[i])
        current: list[int] = []
        pairs = 0
        for i in window:
            if current and pairs + len(groups[i].candidates) > batch_pairs:
                out.append(current)
                current, pairs = [], 0
            current.append(i)
            pairs += len(groups[i].candidates)
        if current:
            out.append(current)
    rng.shuffle(out)
    return out


class PairEncoder:
    def __init__(self, base: str, max_length: int) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(tokenizer_file(base)))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()

    def __call__(self, pairs: list[tuple[str, str]], device: str = "cpu"):
        import torch

        encodings = self.tokenizer.encode_batch(pairs)
        return tuple(
            torch.tensor(rows, dtype=torch.long, device=device)
            for rows in (
                [e.ids for e in encodings],
                [e.attention_mask for e in encodings],
                [e.type_ids for e in encodings],
            )
        )


def training_device(choice: str) -> str:
    """The torch device of ``TrainingConfig.device``."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice not in ("cpu", "cuda"):
        raise ValueError(f'device must be "cpu", "cuda" or "auto", got {choice!r}')
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda asked for, but torch sees no GPU")
    return choice


def train(work: Path, out: Path, config: TrainingConfig, max_steps: int | None = None) -> dict:
    """Train on ``work/train.jsonl``, validate on ``work/validation.jsonl``, export the reader to ``out``."""
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    log_path = work / "train-log.jsonl"

    def record(event: str, **values) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "event": event, **values}
        with log_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")
        log.info("%s %s", event, json.dumps(values))

    groups = [trim(g, config.group_size) for g in read_groups(work / "train.jsonl")]
    validation = read_groups(work / "validation.jsonl") if (work / "validation.jsonl").exists() else []
    sample = random.Random(config.seed).sample(validation, min(config.validation_sample, len(validation)))
    encode = PairEncoder(config.base, config.max_length)
    lengths = [max(len(e.ids) for e in encode.tokenizer.encode_batch(pairs_of(g, config.context))) for g in groups]
    device = training_device(config.device)
    model = build_model(config.base)
    if config.init:
        model.load_state_dict(initial_weights(config.init), strict=not config.init.endswith(".onnx"))
    if config.layers is not None:
        keep_lowest_layers(model, config.layers)
    model.to(device)
    # bfloat16 matrix products on a GPU; float32 on a CPU, where autocast would only cost time
    precision = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    for parameter in model.encoder.embeddings.parameters():
        parameter.requires_grad = False
    for layer in model.encoder.encoder.layer[: config.frozen_layers]:
        for parameter in layer.parameters():
            parameter.requires_grad = False
    steps_per_epoch = len(batches(groups, lengths, config.batch_pairs, random.Random(0)))
    total_steps = max(1, math.ceil(config.epochs * steps_per_epoch))
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    body = [p for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimiser = torch.optim.AdamW(
        [
            {"params": body, "lr": config.learning_rate, "weight_decay": config.weight_decay},
            {"params": head, "lr": config.head_learning_rate, "weight_decay": 0.0},
        ]
    )
    warmup = max(1, int(config.warmup_share * total_steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    )
    checkpoint = work / "checkpoint.pt"
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        if same_config(state.get("config") or {}, config):
            model.load_state_dict(state["model"])
            optimiser.load_state_dict(state["optimiser"])
            schedule.load_state_dict(state["schedule"])
            step = state["step"]
            record("resumed", step=step)
        else:
            log.warning("checkpoint %s is for another configuration; starting afresh", checkpoint)
    counts: dict[str, int] = {}
    for g in groups:
        counts[g.source] = counts.get(g.source, 0) + 1
    record(
        "start",
        config=asdict(config),
        groups=len(groups),
        pairs=sum(len(g.candidates) for g in groups),
        by_source=counts,
        unanswerable=sum(not g.answerable for g in groups),
        validation_groups=len(validation),
        steps=total_steps,
        steps_per_epoch=steps_per_epoch,
    )

    def score(g: Group):
        with torch.no_grad(), precision:
            logits = model(*encode(pairs_of(g, config.context), device))
        return logits.float().cpu().numpy(), float(model.null.detach())

    started = time.perf_counter()
    running, seen = 0.0, 0
    epoch = step // steps_per_epoch
    while step < total_steps:
        plan = batches(groups, lengths, config.batch_pairs, random.Random(config.seed + epoch))
        for batch_number, batch in enumerate(plan):
            if epoch * steps_per_epoch + batch_number < step:
                continue  # resumed: skip the batches already trained on
            if step >= total_steps:
                break
            model.train()
            pairs = [pair for i in batch for pair in pairs_of(groups[i], config.context)]
            with precision:
                logits = model(*encode(pairs, device)).float()
            losses, at = [], 0
            for i in batch:
                n = len(groups[i].candidates)
                losses.append(group_loss(logits[at : at + n], model.null, groups[i].answers))
                at += n
            loss = torch.stack(losses).mean()
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            step += 1
            running += float(loss) * len(batch)
            seen += len(batch)
            if step % 50 == 0 or step == total_steps or step <= 3:
                elapsed = time.perf_counter() - started
                record("progress", step=step, of=total_steps, loss=round(running / seen, 4), seconds=round(elapsed))
                running, seen = 0.0, 0
            if step % config.checkpoint_every == 0:
                _save_checkpoint(model, optimiser, schedule, step, config, checkpoint)
        epoch += 1
        if sample and step < total_steps:
            model.eval()
            record("validation", epoch=epoch, sample=len(sample), **evaluate_groups(score, sample))
    _save_checkpoint(model, optimiser, schedule, step, config, checkpoint)
    model.to("cpu").eval()
    # the full validation runs on the exported ONNX models (faster than torch), fp32 and int8
    exported = export(model, config, out, work)
    record("exported", **exported)
    return {"validation": exported["onnx"][exported["chosen"]], **exported}


def same_config(saved: dict, config: TrainingConfig) -> bool:
    """Whether a checkpoint's configuration is ``config``: a setting added since the checkpoint was written
    counts as its default, so a finished run resumes straight to its export."""
    defaults = asdict(TrainingConfig())
    return all(saved.get(name, defaults[name]) == value for name, value in asdict(config).items() if name != "device")


def _save_checkpoint(model, optimiser, schedule, step: int, config: TrainingConfig, path: Path) -> None:
    import torch

    partial = path.with_suffix(".partial")
    torch.save(
        {
            "model": model.state_dict(),
            "optimiser": optimiser.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
            "config": asdict(config),
        },
        partial,
    )
    partial.replace(path)
