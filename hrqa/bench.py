"""``hrqa bench``: the measuring helpers every benchmark shares, and the command that runs them.

The benchmark sections themselves are scripts in the repository's ``benchmarks/`` folder, installed as the
``hrqa_benchmarks`` package (see ``benchmarks/__init__.py``): ``hrqa bench`` runs ``hrqa_benchmarks.suite``,
and each section also runs on its own (``python benchmarks/corpus_latency.py``). What stays here is small
and has no opinion on what is measured: percentiles, timers, peak memory of this process and of a child,
the plan of a run (``small`` for CI, ``full`` by hand), the sample corpus and questions shipped as package
data, and BEIR query loading. Timings live in benchmarks and never in tests: the machine may be shared, so
each section records the load average at its start and end.

``python -m hrqa.bench TARGET ARG...`` runs TARGET (a module name, or a ``.py`` script) as ``python -m``
or ``python SCRIPT`` would, and writes the process's own peak resident memory (VmHWM) to stderr at exit:
``run_child`` starts children that way, because ru_maxrss of a child cannot serve (Linux carries the
parent's high-water mark across fork and exec).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hrqa.settings import Settings

#: the folder holding the hrqa package (the source tree, or site-packages in an installed copy): the
#: bench's child processes import the same hrqa from it; nothing else is read from there
PACKAGE_PARENT = Path(__file__).resolve().parent.parent
#: the corpus measured unless --corpus (or HRQA_CORPUS_DIR) names another: the seeds, shipped as package
#: data so that an installed hrqa benchmarks the same documents from any directory
SAMPLE_CORPUS = Path(__file__).resolve().parent / "data" / "seeds"
#: questions about the sample corpus (a copy of tests/data/dev.jsonl, kept equal by tests/test_packaging.py)
DEV_QUESTIONS = Path(__file__).resolve().parent / "data" / "dev.jsonl"
#: where a BEIR SciFact folder is looked for when --beir is not given (beside the working directory)
BEIR_CANDIDATES = (Path("../shared/beir/scifact"),)
#: the issue's latency budget: full answer p50 over query encoding p50
ANSWER_TO_ENCODING_BUDGET = 1.3


@dataclass(frozen=True)
class Plan:
    """How much a run measures."""

    size: str
    #: questions timed per corpus (cycled from the unique ones)
    questions: int
    #: SciFact records indexed (None: all)
    scifact_records: int | None
    #: fresh ``hrqa ask`` processes timed
    cold_runs: int
    #: passages encoded for each embedding option
    embedding_texts: int
    embedding_batches: tuple[int, ...]
    scale_sizes: tuple[int, ...]
    #: vector index kinds (IndexType values, and vectors.IVFSQ)
    scale_types: tuple[str, ...]
    scale_queries: int = 200
    #: questions fed on stdin to one ``hrqa ask --json`` process (and to the baseline's)
    stream_questions: int = 100
    app_timeout_s: float = 120.0

    @classmethod
    def for_size(cls, size: str) -> Plan:
        if size == "small":
            return cls(
                size,
                questions=100,
                scifact_records=300,
                cold_runs=1,
                embedding_texts=32,
                embedding_batches=(16, 64),
                scale_sizes=(10_000, 50_000),
                scale_types=("flat", "ivfsq", "hnsw"),
            )
        if size == "full":
            return cls(
                size,
                questions=300,
                scifact_records=None,
                cold_runs=3,
                embedding_texts=256,
                embedding_batches=(16, 32, 64),
                scale_sizes=(10_000, 100_000, 1_000_000),
                scale_types=("flat", "ivfsq", "ivfpq", "hnsw"),
            )
        raise ValueError(f"unknown bench size {size!r}; choose one of: small, full")


# ----------------------------------------------------------------------------- pure helpers


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of a list of milliseconds (nearest-rank percentiles)."""
    if not samples_ms:
        return {"p50": float("nan"), "p95": float("nan"), "mean": float("nan"), "n": 0}
    ordered = sorted(samples_ms)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]

    return {
        "p50": round(rank(0.50), 3),
        "p95": round(rank(0.95), 3),
        "mean": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def cycle(items: Sequence[str], count: int) -> list[str]:
    """``count`` items taken round-robin from ``items``."""
    return [items[i % len(items)] for i in range(count)] if items else []


def recall_at(found, truth, k: int = 10) -> float:
    """Mean share of the true ``k`` nearest rows among the ``k`` found, over queries (rows)."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]
    return statistics.fmean(hits) if hits else float("nan")


def synthetic_vectors(count: int, queries: int, dimension: int = 384, seed: int = 0):
    """Normalised float32 vectors shaped like sentence embeddings, and queries drawn near them.

    A three-level mixture (a shared direction, topics, sub-topics of about 8 passages) with
    power-law variances in a random basis. Calibrated against MiniLM vectors of 2,000 SciFact
    abstracts: mean pair cosine 0.11 vs 0.07 synthetic; nearest neighbour 0.62 vs 0.59; 10th 0.44 vs 0.47;
    50% of the variance in 35 vs 37 dimensions. Queries are noisier than passages (query to nearest
    passage 0.51, as with real questions), which is what makes approximate search miss.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    scales = np.arange(1, dimension + 1, dtype=np.float64) ** -0.6
    scales = np.sqrt(scales / scales.sum() * dimension).astype(np.float32)
    basis = np.linalg.qr(rng.standard_normal((dimension, dimension)))[0].astype(np.float32)

    def directions(n: int) -> np.ndarray:
        x = (rng.standard_normal((n, dimension), dtype=np.float32) * scales) @ basis
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    topics = max(8, int(np.sqrt(count)))
    subtopics = max(topics, count // 8)
    shared = directions(1)[0] * 0.55
    centres = directions(topics)[rng.integers(0, topics, subtopics)] + 0.7 * directions(subtopics)

    def points(n: int, spread: float) -> np.ndarray:
        x = shared + centres[rng.integers(0, subtopics, n)] + spread * directions(n)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    out = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, 65_536):
        out[start : start + 65_536] = points(min(65_536, count - start), 1.2)
    return out, points(queries, 1.8).astype(np.float32)


# ----------------------------------------------------------------------------- measuring


def note(message: str) -> None:
    """Progress of a benchmark, on stderr (the figures go to stdout)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is in KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def timed(function: Callable, *arguments) -> tuple[object, float]:
    """``function(*arguments)`` and the milliseconds it took."""
    started = time.perf_counter()
    result = function(*arguments)
    return result, (time.perf_counter() - started) * 1000


@dataclass(frozen=True)
class Child:
    """A finished subprocess: wall time, CPU time, exit code, its own peak memory, what it printed."""

    seconds: float
    cpu_seconds: float
    returncode: int
    peak_rss_mb: float | None
    stdout: str
    stderr: str


_PEAK_MARK = "hrqa-bench-peak-kb "


def _report_peak() -> None:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write(f"\n{_PEAK_MARK}{line.split()[1]}\n")


def run_reporting_peak(argv: Sequence[str]) -> None:
    """``python -m hrqa.bench TARGET ARG...``: run TARGET as ``python -m TARGET`` (or ``python TARGET``
    for a ``.py`` path) would, and report this process's peak RSS on stderr when it exits."""
    import atexit
    import runpy

    target, *_ = argv
    atexit.register(_report_peak)
    sys.argv = list(argv)
    if target.endswith(".py"):
        sys.path[0] = str(Path(target).resolve().parent)
        runpy.run_path(target, run_name="__main__")
    else:
        sys.path[0] = ""  # as python -m: the working directory first
        runpy.run_module(target, run_name="__main__", alter_sys=True)


def run_child(
    command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300.0
) -> Child:
    """Run ``command`` to its end; ``os.wait4`` gives its CPU time. ``[python, "-m", module, ...]`` and
    ``[python, "script.py", ...]`` run under ``python -m hrqa.bench`` so that their peak memory is known."""
    command = list(command)
    if len(command) > 2 and command[1] == "-m":
        command = [command[0], "-m", "hrqa.bench", *command[2:]]
    elif len(command) > 1 and command[1].endswith(".py"):
        command = [command[0], "-m", "hrqa.bench", *command[1:]]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    peak = None
    for line in (stdout + "\n" + stderr).splitlines():
        if line.startswith(_PEAK_MARK):
            peak = round(int(line[len(_PEAK_MARK) :]) / 1024, 1)
    stderr = "\n".join(line for line in stderr.splitlines() if not line.startswith(_PEAK_MARK))
    return Child(seconds, round(usage.ru_utime + usage.ru_stime, 3), process.returncode, peak, stdout, stderr)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env(settings: Settings) -> dict[str, str]:
    """The environment of an ``hrqa`` child process: the settings measured, and the same hrqa package."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    env.update(
        {
            "HRQA_CORPUS_DIR": str(settings.corpus_dir),
            "HRQA_INDEX_DIR": str(settings.index_dir),
            "HRQA_MODEL": settings.model,
            "HRQA_CACHE_DIR": str(settings.cache_dir),
            "HRQA_THREADS": str(settings.threads),
            "PYTHONPATH": os.pathsep.join(
                [str(PACKAGE_PARENT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
            ),
        }
    )
    return env


# ----------------------------------------------------------------------------- questions and corpora


def load_dev_questions(path: Path = DEV_QUESTIONS) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["question"] for line in handle if line.strip()]


def load_beir_queries(folder: Path, split: str = "test") -> list[str]:
    """Queries of a BEIR folder that have judgements in ``split`` (all queries if it has none)."""
    texts: dict[str, str] = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                texts[str(record["_id"])] = record["text"]
    judged: list[str] = []
    qrels = folder / "qrels" / f"{split}.tsv"
    if qrels.exists():
        for number, line in enumerate(qrels.read_text(encoding="utf-8").splitlines()):
            query_id = line.split("\t")[0]
            if number == 0 and not query_id.isdigit():
                continue  # header
            if query_id in texts and query_id not in judged:
                judged.append(query_id)
    return [texts[q] for q in judged] or list(texts.values())


def find_beir(requested: str | None) -> Path | None:
    candidates = [Path(requested)] if requested else list(BEIR_CANDIDATES)
    for candidate in candidates:
        if (candidate / "corpus.jsonl").exists() and (candidate / "queries.jsonl").exists():
            return candidate.resolve()
    return None


def measured_settings(settings: Settings, corpus_given: bool) -> Settings:
    """The settings a benchmark measures: the sample corpus unless one was named, every path absolute
    (children run in the benchmark's temporary folder)."""
    if not corpus_given and not os.environ.get("HRQA_CORPUS_DIR"):
        settings = settings.with_(corpus_dir=SAMPLE_CORPUS)  # the same documents wherever it runs
    settings = settings.with_(corpus_dir=settings.corpus_dir.resolve())
    if Path(settings.model).exists():  # a model folder (else the name of the packaged model)
        settings = settings.with_(model=str(Path(settings.model).resolve()))
    return settings


@contextlib.contextmanager
def workspace(parent: Path | None = None) -> Iterator[Path]:
    """A temporary folder for the indexes a benchmark builds (each fresh), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hrqa-bench-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- the command


def run(plan: Plan, settings: Settings, beir: Path | None, workdir: Path, checkpoint=None) -> dict:
    """Every section of ``hrqa bench`` (``hrqa_benchmarks.suite.run``); the report, JSON-ready."""
    from hrqa_benchmarks import suite

    return suite.run(plan, settings, beir, workdir, checkpoint)


def format_table(report: dict) -> str:
    """The report as plain-text tables (``hrqa_benchmarks.suite.format_table``)."""
    from hrqa_benchmarks import suite

    return suite.format_table(report)


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """The ``hrqa bench`` command; ``settings``: those of its flags (``settings_from_args``)."""
    from hrqa.settings import settings_from_args

    plan = Plan.for_size(args.size)
    settings = measured_settings(settings or settings_from_args(args), bool(getattr(args, "corpus", None)))
    beir = find_beir(getattr(args, "beir", None))
    if getattr(args, "beir", None) and beir is None:
        from hrqa.errors import HrqaError

        raise HrqaError(f"{args.beir} is not a BEIR folder (needs corpus.jsonl and queries.jsonl)")
    # Every index the bench builds is fresh (a build reuses vectors from a live snapshot) and temporary;
    # --index-dir only says where the temporary folder goes.
    parent = Path(args.index_dir).resolve().parent if getattr(args, "index_dir", None) else None
    target = Path(args.json) if getattr(args, "json", None) else None

    def write(report: dict) -> None:
        if target:
            target.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    with workspace(parent) as workdir:
        report = run(plan, settings, beir, workdir, checkpoint=write)
    write(report)
    print(format_table(report))
    if target:
        print(f"figures written to {target}")
    return 0


if __name__ == "__main__":
    run_reporting_peak(sys.argv[1:])
