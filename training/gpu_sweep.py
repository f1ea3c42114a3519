"""Runs several `hrqa.reader_training.train` configurations side by side on one GPU (device machine).

python3 training/gpu_sweep.py sweep VARIANTS.json   -> writes $OUT/summary.json, logs, the best runs' trained weights
python3 training/gpu_sweep.py run NAME CONFIG_JSON  -> one training run (a child of sweep)

Not product code: a launcher for the lent GPU. The training itself is hrqa's own `train()`; only its last
step (export) is replaced here by saving the trained weights in float16 (exported to ONNX back on the CPU
machine, with the project's export) and scoring the validation groups and the seed-corpus groups.
"""

import json
import lzma
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(os.environ.get("GPU_CARRY", Path(__file__).resolve().parent.parent / ".gpu"))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BASE = Path("/tmp/base")
RESULTS = Path("/tmp/results")
DEVICE = os.environ.get("DEVICE", "cuda")
MAX_STEPS = int(os.environ["MAX_STEPS"]) if os.environ.get("MAX_STEPS") else None


def make_base() -> None:
    import numpy as np
    import torch
    from safetensors.torch import save_file

    if (BASE / "model.safetensors").exists():
        return
    BASE.mkdir(parents=True, exist_ok=True)
    for f in (HERE / "base").iterdir():
        if f.name != "weights.npz":
            shutil.copy(f, BASE / f.name)
    z = np.load(HERE / "base" / "weights.npz")
    config = json.loads((BASE / "config.json").read_text())
    words = np.zeros((config["vocab_size"], config["hidden_size"]), dtype=np.float32)
    words[z["word_ids"]] = z["word_q"].astype(np.float32) * z["word_scale"]
    tensors = {"embeddings.word_embeddings.weight": torch.from_numpy(words)}
    for key in z.files:
        if key.startswith("w:"):
            tensors[key[2:]] = torch.from_numpy(z[key].astype(np.float32))
    save_file(tensors, str(BASE / "model.safetensors"))


def unpack(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("train.jsonl", "validation.jsonl"):
        (work / name).write_bytes(lzma.decompress((HERE / f"{name}.xz").read_bytes()))


def run(name: str, settings: dict) -> None:
    import torch

    import hrqa.reader_training as rt
    from hrqa.reader_data import read_groups

    seeds = read_groups_xz(HERE / "seeds.jsonl.xz")
    work = Path(f"/tmp/work-{name}")
    validation = read_groups(work / "validation.jsonl")
    if os.environ.get("EVAL_LIMIT"):  # a quick check of this script on a CPU
        limit = int(os.environ["EVAL_LIMIT"])
        validation, seeds = validation[:limit], seeds[:limit]
    evaluate = rt.evaluate_groups

    def with_seeds(score, sample):
        return {**evaluate(score, sample), "seeds": evaluate(score, seeds)}

    rt.evaluate_groups = with_seeds

    def save_instead_of_export(model, config, out, work_dir):
        score = scorer(model, config)
        figures = {"validation": evaluate(score, validation), "seeds": evaluate(score, seeds)}
        trained = {
            n: p.detach().to("cpu", torch.float16).clone() for n, p in model.named_parameters() if p.requires_grad
        }
        RESULTS.mkdir(exist_ok=True)
        torch.save(trained, RESULTS / f"{name}.pt")
        (RESULTS / f"{name}.json").write_text(json.dumps({"name": name, "settings": settings, **figures}))
        return {"onnx": {"fp16": figures}, "chosen": "fp16"}

    rt.export = save_instead_of_export
    config = rt.TrainingConfig(
        base=str(BASE),
        device=DEVICE,
        threads=2,
        validation_sample=int(os.environ.get("EVAL_LIMIT") or 100000),
        checkpoint_every=10**9,
        **settings,
    )
    started = time.time()
    rt.train(work, work / "out", config, max_steps=MAX_STEPS)
    print(name, "done in", round(time.time() - started), "s", flush=True)


def scorer(model, config):
    """``score(group) -> (logits, null)`` of a model on DEVICE, bfloat16 on a GPU (as it trained)."""
    import torch

    import hrqa.reader_training as rt

    model.to(DEVICE).eval()
    encode = rt.PairEncoder(config.base, config.max_length)

    def score(g):
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=DEVICE == "cuda"):
            logits = model(*encode(rt.pairs_of(g, config.context), DEVICE))
        return logits.float().cpu().numpy(), float(model.null.detach())

    return score


def make_soup(soup: str, members: list[str]) -> None:
    """The members' trained weights averaged (one base, one recipe, other seeds: a "model soup"), scored."""
    import torch

    import hrqa.reader_training as rt
    from hrqa.reader_data import read_groups

    parts = [torch.load(RESULTS / f"{m}.pt") for m in members]
    averaged = {k: sum(p[k].float() for p in parts) / len(parts) for k in parts[0]}
    settings = json.loads((RESULTS / f"{members[0]}.json").read_text())["settings"]
    config = rt.TrainingConfig(base=str(BASE), device=DEVICE, **settings)
    model = rt.build_model(config.base)
    state = model.state_dict()
    state.update(averaged)
    model.load_state_dict(state)
    score = scorer(model, config)
    validation = read_groups(Path(f"/tmp/work-{members[0]}/validation.jsonl"))
    seeds = read_groups_xz(HERE / "seeds.jsonl.xz")
    if os.environ.get("EVAL_LIMIT"):
        validation, seeds = validation[: int(os.environ["EVAL_LIMIT"])], seeds[: int(os.environ["EVAL_LIMIT"])]
    figures = {"validation": rt.evaluate_groups(score, validation), "seeds": rt.evaluate_groups(score, seeds)}
    torch.save({k: v.to(torch.float16) for k, v in averaged.items()}, RESULTS / f"{soup}.pt")
    (RESULTS / f"{soup}.json").write_text(
        json.dumps({"name": soup, "settings": settings, "members": members, **figures})
    )


def read_groups_xz(path: Path):
    from hrqa.reader_data import read_groups

    plain = Path("/tmp") / path.name.removesuffix(".xz")
    if not plain.exists():
        plain.write_bytes(lzma.decompress(path.read_bytes()))
    return read_groups(plain)


def sweep(variants_file: str) -> None:
    out = Path(os.environ.get("OUT", "/tmp/out"))
    out.mkdir(parents=True, exist_ok=True)
    variants = json.loads(Path(variants_file).read_text())
    budget = float(os.environ.get("SWEEP_SECONDS", "420"))
    make_base()
    procs = {}
    for name, settings in variants.items():
        unpack(Path(f"/tmp/work-{name}"))
        log = open(f"/tmp/{name}.out", "w")  # noqa: SIM115 - the child writes to it until it ends
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, "run", name, json.dumps(settings)], stdout=log, stderr=subprocess.STDOUT
        )
    started = time.time()
    while any(p.poll() is None for p in procs.values()) and time.time() - started < budget:
        time.sleep(10)
        print(round(time.time() - started), {n: p.poll() for n, p in procs.items()}, flush=True)
    for p in procs.values():
        if p.poll() is None:
            p.kill()
    for soup, members in json.loads(os.environ.get("SOUPS", "{}")).items():
        if all((RESULTS / f"{m}.pt").exists() for m in members):
            make_soup(soup, members)
            variants = {**variants, soup: {"soup": members}}
    summary = {}
    for name in variants:
        result = RESULTS / f"{name}.json"
        summary[name] = json.loads(result.read_text()) if result.exists() else {"name": name, "unfinished": True}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    logs = Path("/tmp/logs")
    logs.mkdir(exist_ok=True)
    for name in variants:
        if not Path(f"/tmp/{name}.out").exists():
            continue
        shutil.copy(f"/tmp/{name}.out", logs / f"{name}.out")
        log = Path(f"/tmp/work-{name}/train-log.jsonl")
        if log.exists():
            shutil.copy(log, logs / f"{name}.train-log.jsonl")
    shutil.make_archive(str(out / "logs"), "gztar", logs)

    def rank(item):
        s = item[1]
        return s["validation"]["first_sentence"] + s["seeds"]["first_sentence"] if "validation" in s else -1

    finished = sorted(summary.items(), key=rank, reverse=True)
    keep = int(os.environ.get("KEEP", "2"))
    for name, _ in finished[:keep]:
        if "validation" not in summary[name]:
            continue
        import torch

        weights = torch.load(RESULTS / f"{name}.pt")
        keys = sorted(weights)
        half = len(keys) // 2
        for part, chunk in enumerate((keys[:half], keys[half:])):
            torch.save({k: weights[k] for k in chunk}, out / f"{name}.part{part}.pt")
    for name, s in finished:
        if "validation" in s:
            v, q = s["validation"], s["seeds"]
            print(
                name,
                "squad first",
                v["first_sentence"],
                "best",
                v["best_threshold"],
                "| seeds first",
                q["first_sentence"],
                "recall",
                q["recall"],
            )
        else:
            print(name, "unfinished")


if __name__ == "__main__":
    if sys.argv[1] == "sweep":
        sweep(sys.argv[2])
    else:
        run(sys.argv[2], json.loads(sys.argv[3]))
