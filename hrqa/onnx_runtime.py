"""ONNX Runtime for every transformer hrqa runs at question time.

Three pieces:

- ``inference_session``: the one way hrqa opens an ONNX Runtime session (CPU, threads, optimisations).
- ``cached_export``: an ONNX file exported once into a cache folder keyed by what it was exported from,
  written atomically (a temporary folder renamed into place), checked against the sha256 in its
  ``meta.json`` on every load, and rebuilt with a one-line message when damaged.
- ``SentenceEncoder`` and ``export_sentence_encoder``: a sentence-transformers BERT with mean pooling and
  normalisation as one ONNX graph (pooling and normalisation inside it), tokenised by the ``tokenizers``
  package from the model folder's ``tokenizer.json``.

Importing this module imports neither torch nor onnxruntime. Only an export imports torch and
sentence-transformers; running an exported model needs onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hrqa.errors import ModelError
from hrqa.snapshot import file_sha256

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)

#: The graph ``export_sentence_encoder`` writes: inputs input_ids, attention_mask, token_type_ids (int64,
#: batch × sequence); output sentence_embedding (float32, batch × dimension, L2-normalised). Part of the
#: cache key: a change to the graph changes this and so never meets an old file.
SENTENCE_ENCODER_FORMAT = "bert-mean-normalize-v2"  # v2: ONNX Runtime's BERT fusions applied
#: ONNX opset of the exports (ONNX Runtime 1.18 runs up to 21; 17 has LayerNormalization)
OPSET = 17
#: An export is kept only when its vectors are within this of sentence-transformers' (max abs difference
#: per component; measured on all-MiniLM-L6-v2: 1.2e-7).
EXPORT_TOLERANCE = 1e-5
#: Texts an export is checked on: batched (padding) and one by one; short, non-Latin, truncated, mixed.
VERIFY_TEXTS = (
    "Which two media outlets interviewed Professor Gong Xianghe?",
    "Owls hunt at night.",
    "日本ウイグル協会",
    "word " * 400,  # longer than any model's limit: truncation
    (
        "The 23rd Informal ASEM Seminar on Human Rights was held in Copenhagen in 2023, on Human Rights and "
        "Technology, with 120 participants from Asia and Europe."
    ),
)
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"


# ----------------------------------------------------------------------------- sessions


#: ONNX Runtime's intra-op threads spin after each call, waiting for the next: a question runs the query
#: encoder and then the reader, each a session with its own pool, so one pool's spinning threads took the
#: cores from the other's. Measured 2026-11-24 in-process on dev.jsonl + team_checks (51 questions, two
#: rounds, three alternating processes each): spinning encode p50 16.8/17.2/22.7 ms, answer step
#: 106.5/120.9/117.3 ms; without spinning 9.0/8.6/7.8 ms and 92.9/90.7/82.3 ms. 50 dev.jsonl questions at
#: once, two processes each, two rounds: 12.1-13.1 questions/s spinning, 11.7-15.1 without. One encoder
#: called back to back alone is 0.6 ms slower without (7.75 against 7.15 ms p50): not how questions run.
SPINNING = False


def inference_session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    """A CPU session over the ONNX file at ``path``: ``threads`` intra-op threads that sleep between calls
    (``SPINNING``), one inter-op thread (the graphs hrqa runs are sequential), all graph optimisations on.

    Raises ModelError when onnxruntime is missing or the file is not a loadable model.
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("onnxruntime is not installed; run: pip install onnxruntime") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if SPINNING else "0")
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the fallback warnings would reach every user's terminal
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
        raise ModelError(f"cannot load the ONNX model {path}: {error}") from error


class QuestionCalls:
    """How many question-time model calls (query encoder, reader) run at once in this process.

    A call that runs alone may use more intra-op threads (``Settings.threads_alone``) than calls that
    overlap (``Settings.threads``): one lone question gets every core, many at once get one each and
    do not oversubscribe the cores.
    """

    def __init__(self) -> None:
        self._running = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def call(self, alone: int, overlapping: int) -> Iterator[int]:
        """Count a call while it runs; yields the threads it may use."""
        with self._lock:
            self._running += 1
            running = self._running
        try:
            yield alone if running == 1 else overlapping
        finally:
            with self._lock:
                self._running -= 1


#: the process's question-time model calls, counted together
QUESTION_CALLS = QuestionCalls()


# ----------------------------------------------------------------------------- the cache


def cached_file_problem(folder: Path) -> str | None:
    """Why the cached export in ``folder`` cannot be used (None when it can): the ONNX file must have the
    size and sha256 that its meta.json recorded when it was written."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        expected_bytes, expected_sha = int(meta["bytes"]), str(meta["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"{META_FILE} unreadable ({type(error).__name__})"
    model = folder / MODEL_FILE
    try:
        size = model.stat().st_size
    except OSError:
        return f"{MODEL_FILE} missing"
    if size != expected_bytes:
        return f"{MODEL_FILE} has {size:,} bytes, {expected_bytes:,} expected"
    if file_sha256(model) != expected_sha:
        return f"{MODEL_FILE} fails its sha256"
    return None


def read_meta(folder: Path) -> dict:
    return json.loads((folder / META_FILE).read_text(encoding="utf-8"))


def cached_export(cache_dir: Path, key: str, export: Callable[[Path], dict], what: str) -> Path:
    """The folder ``cache_dir/key`` holding ``model.onnx`` and ``meta.json``; exported first when missing
    or damaged.

    ``export(target)`` writes the ONNX file at ``target`` (checking it as it sees fit) and returns facts to
    record in meta.json. It runs in a temporary folder beside the final one, which is renamed into place
    only when complete: a stopped export leaves nothing that looks usable. Two processes exporting at once
    both finish; the first rename wins and the other's copy is discarded. ``what`` names the model in the
    one-line messages.
    """
    folder = cache_dir / key
    problem = cached_file_problem(folder) if folder.exists() else None
    if folder.exists() and problem is None:
        return folder
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ModelError(
            f"cannot create the model cache {cache_dir}: {error.strerror}; set HRQA_CACHE_DIR to a writable folder"
        ) from error
    if problem is not None:
        log.warning("the cached ONNX export of %s in %s is damaged (%s); exporting it again", what, folder, problem)
        _discard(folder)
    else:
        log.warning("exporting %s to ONNX once (about 10 s; later runs reuse %s)", what, folder)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        started = time.perf_counter()
        facts = export(scratch / MODEL_FILE)
        model = scratch / MODEL_FILE
        meta = {
            "key": key,
            "bytes": model.stat().st_size,
            "sha256": file_sha256(model),
            "export_seconds": round(time.perf_counter() - started, 2),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **facts,
        }
        (scratch / META_FILE).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        try:
            scratch.rename(folder)
        except OSError:  # another process put its export there first
            if cached_file_problem(folder) is not None:
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder


def _discard(folder: Path) -> None:
    """Move ``folder`` out of the way at once (a rename), then delete it."""
    doomed = folder.with_name(f".{folder.name}.damaged-{os.getpid()}-{time.monotonic_ns()}")
    try:
        folder.rename(doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


# ----------------------------------------------------------------------------- sentence encoder


def sentence_encoder_problem(model_path: Path) -> str | None:
    """Why the model folder cannot be exported as a SentenceEncoder graph (None when it can): it must be
    a BERT with mean pooling (and optionally normalisation) and a tokenizer.json."""
    try:
        config = json.loads((model_path / "config.json").read_text(encoding="utf-8"))
        modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling_dirs = [m["path"] for m in modules if m["type"].rsplit(".", 1)[-1] == "Pooling"]
        pooling = json.loads((model_path / pooling_dirs[0] / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        return f"not a sentence-transformers folder with modules.json and a pooling config ({type(error).__name__})"
    if config.get("model_type") != "bert":
        return f"model type {config.get('model_type')!r}, not bert"
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"modules {kinds}, not Transformer, Pooling, Normalize"
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v)
    if modes != ["pooling_mode_mean_tokens"]:
        return f"pooling {modes}, not mean tokens"
    if not (model_path / "tokenizer.json").exists():
        return "no tokenizer.json"
    return None


def export_sentence_encoder(model_path: Path, target: Path) -> dict:
    """Export the sentence-transformers BERT at ``model_path`` (mean pooling and normalisation inside the
    graph) to ``target``, then check it against sentence-transformers on VERIFY_TEXTS, batched and one by
    one. Returns the facts for meta.json. Imports torch and sentence-transformers.

    Raises ModelError when the export fails or its vectors differ by more than EXPORT_TOLERANCE.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars: the one-line message is enough

    class Pooled(torch.nn.Module):
        """The transformer, mean pooling over the attention mask, L2 normalisation (sentence-transformers'
        Pooling and Normalize modules, as one graph)."""

        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    try:
        # eager attention: the traced graph of the SDPA path is not exported as reliably
        model = SentenceTransformer(
            str(model_path), device="cpu", local_files_only=True, model_kwargs={"attn_implementation": "eager"}
        )
        model.eval()
        graph = Pooled(model[0].auto_model).eval()
        example = torch.tensor([[101, 2023, 2003, 102], [101, 2023, 102, 0]], dtype=torch.long)
        inputs = ("input_ids", "attention_mask", "token_type_ids")
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shapes; the check below is what counts
            torch.onnx.export(
                graph,
                (example, (example != 0).long(), torch.zeros_like(example)),
                str(target),
                input_names=list(inputs),
                output_names=["sentence_embedding"],
                dynamic_axes={name: {0: "batch", 1: "sequence"} for name in inputs}
                | {"sentence_embedding": {0: "batch"}},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        reference = model.encode(list(VERIFY_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    except ModelError:
        raise
    except Exception as error:  # torch, transformers and the exporter each raise their own types
        raise ModelError(f"cannot export {model_path} to ONNX: {type(error).__name__}: {error}") from error
    max_length = int(model.max_seq_length)
    tokenizer_path = model_path / "tokenizer.json"
    difference = _difference_to(reference, target, tokenizer_path, max_length)
    if not difference <= EXPORT_TOLERANCE:
        raise ModelError(
            f"the ONNX export of {model_path} differs from sentence-transformers by {difference:.2e} "
            f"(more than {EXPORT_TOLERANCE:g})"
        )
    config = model[0].auto_model.config
    fused = fuse_bert(target, config.num_attention_heads, config.hidden_size)
    if fused:
        fused_difference = _difference_to(reference, fused[0], tokenizer_path, max_length)
        if fused_difference <= EXPORT_TOLERANCE:
            os.replace(fused[0], target)
            difference = max(difference, fused_difference)
        else:
            log.info(
                "the fused graph differs from sentence-transformers by %.2e; keeping the plain one", fused_difference
            )
            fused[0].unlink()
            fused = None
    import onnx

    return {
        "format": SENTENCE_ENCODER_FORMAT,
        "source": str(model_path),
        "max_length": max_length,
        "dimension": int(reference.shape[1]),
        "verified_texts": len(VERIFY_TEXTS),
        "max_abs_difference_to_torch": difference,
        "fused_operators": fused[1] if fused else {},
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "opset": OPSET,
    }


def _difference_to(reference: np.ndarray, onnx_path: Path, tokenizer_path: Path, max_length: int) -> float:
    """Largest difference of the graph's vectors of VERIFY_TEXTS, batched and one by one, to ``reference``."""
    encoder = SentenceEncoder(onnx_path, tokenizer_path, max_length, threads=1)
    batched = encoder.encode(VERIFY_TEXTS)
    single = np.stack([encoder.encode([text])[0] for text in VERIFY_TEXTS])
    return float(max(np.abs(batched - reference).max(), np.abs(single - reference).max()))


def fuse_bert(path: Path, heads: int, hidden: int, embeddings: bool = True) -> tuple[Path, dict[str, int]] | None:
    """ONNX Runtime's offline BERT fusions (one Attention operator per layer, SkipLayerNormalization,
    BiasGelu, and EmbedLayerNormalization unless ``embeddings`` is False) of the graph at ``path``, written
    beside it: the fused path and the operators fused, or None when ONNX Runtime fuses no attention or
    cannot. The session's own optimisations do not fuse attention, and a graph exported through torch's
    SDPA attention never fuses (export with eager attention). Measured 2026-11-24 on all-MiniLM-L6-v2, one
    question, 2 threads, loaded machine: 19.4 ms against 22.6 ms p50, vectors within 1.3e-7 of the plain
    graph; the reader in ``reader_export``."""
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("bert")
        options.enable_embed_layer_norm = embeddings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optimized = optimize_model(
                str(path),
                model_type="bert",
                num_heads=heads,
                hidden_size=hidden,
                opt_level=1,
                optimization_options=options,
            )
        counts = {name: int(n) for name, n in optimized.get_fused_operator_statistics().items() if n}
        if not counts.get("Attention"):
            return None
        fused = path.with_name(path.stem + ".fused.onnx")
        optimized.save_model_to_file(str(fused))
    except Exception as error:  # noqa: BLE001 -- the optimiser raises what onnx and its passes raise
        log.info("ONNX Runtime's BERT fusions do not apply to %s (%s: %s)", path, type(error).__name__, error)
        return None
    return fused, counts


class SentenceEncoder:
    """Texts → normalised float32 sentence vectors, on an exported graph (see export_sentence_encoder)."""

    def __init__(self, onnx_path: Path, tokenizer_path: Path, max_length: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.session = inference_session(onnx_path, threads)
        self.threads = threads
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length)
        pad_id = tokenizer.token_to_id("[PAD]")
        # the pad id only fills masked positions: any id of the vocabulary gives the same vectors
        tokenizer.enable_padding(pad_id=pad_id or 0, pad_token="[PAD]")
        self.tokenizer = tokenizer
        width = self.session.get_outputs()[0].shape[-1]
        self.dimension = width if isinstance(width, int) else None  # None: named by the graph, not fixed

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One normalised float32 row per text, in one batch padded to the longest."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, feed)[0].astype(np.float32, copy=False)


def sentence_encoder(
    model_path: Path, fingerprint: str, cache_dir: Path, threads: int, what: str = "the query encoder"
) -> SentenceEncoder:
    """The ONNX SentenceEncoder of a model folder, exported into ``cache_dir`` the first time. A cached
    file that passes its checksum but does not load is exported again, once."""
    key = f"{fingerprint}-{SENTENCE_ENCODER_FORMAT}"

    def export(target: Path) -> dict:
        return export_sentence_encoder(model_path, target)

    folder = cached_export(cache_dir, key, export, what)
    for attempt in (1, 2):
        try:
            meta = read_meta(folder)
            return SentenceEncoder(folder / MODEL_FILE, model_path / "tokenizer.json", int(meta["max_length"]), threads)
        except (ModelError, ValueError, KeyError, OSError) as error:
            if attempt == 2:
                raise ModelError(f"the ONNX export of {what} in {folder} does not load: {error}") from error
            log.warning(
                "the cached ONNX export of %s in %s does not load (%s); exporting it again", what, folder, error
            )
            _discard(folder)
            folder = cached_export(cache_dir, key, export, what)
    raise AssertionError("unreachable")
