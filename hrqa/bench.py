"""``hrqa bench``: index build, query latency, cold start, memory, vector-index scale and embedding speed,
measured in one run beside a baseline (MiniLM + FAISS IndexFlatIP over paragraphs, returning the top
paragraph: the common tutorial pipeline).

Sizes: ``small`` for CI (a SciFact subset, 10k and 50k synthetic vectors) and ``full`` by hand (all of
SciFact, 10k, 100k and 1M vectors). The figures go to stdout as a table and, with ``--json FILE``, to FILE
as JSON. Timings live here and never in tests: the machine is shared, so the load average at the start and
the end of the run is recorded beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
        return ordered[min(len(ordered) - 1, max(0, int(np.ceil(p * len(ordered))) - 1))]

    return {
        "p50": round(rank(0.50), 3),
        "p95": round(rank(0.95), 3),
        "mean": round(statistics.fmean(ordered), 3),
        "n": len(ordered),
    }


def cycle(items: Sequence[str], count: int) -> list[str]:
    """``count`` items taken round-robin from ``items``."""
    return [items[i % len(items)] for i in range(count)] if items else []


def paragraphs(text: str) -> list[str]:
    """Paragraphs as the tutorial pipeline splits them: on blank lines, white space folded."""
    blocks = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    return [b for b in blocks if b]


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    """Mean share of the true ``k`` nearest rows among the ``k`` found, over queries (rows)."""
    hits = [len(set(f[:k].tolist()) & set(t[:k].tolist())) / k for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else float("nan")


def synthetic_vectors(count: int, queries: int, dimension: int = 384, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Normalised vectors shaped like sentence embeddings, and queries drawn near them.

    A three-level mixture (a shared direction, topics, sub-topics of about 8 passages) with
    power-law variances in a random basis. Calibrated against MiniLM vectors of 2,000 SciFact
    abstracts: mean pair cosine 0.11 vs 0.07 synthetic; nearest neighbour 0.62 vs 0.59; 10th 0.44 vs 0.47;
    50% of the variance in 35 vs 37 dimensions. Queries are noisier than passages (query to nearest
    passage 0.51, as with real questions), which is what makes approximate search miss.
    """
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


# ----------------------------------------------------------------------------- measuring helpers


def _note(message: str) -> None:
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


def _timed(function: Callable, *arguments) -> tuple[object, float]:
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


#: Runs a module as ``python -m`` would and reports the process's own peak RSS (VmHWM) on stderr.
#: ru_maxrss of a child cannot serve: Linux carries the parent's high-water mark across fork and exec.
_PEAK_WRAPPER = """
import atexit, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\\nhrqa-bench-peak-kb " + line.split()[1] + "\\n")
atexit.register(_peak)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
_PEAK_MARK = "hrqa-bench-peak-kb "


def run_child(
    command: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300.0
) -> Child:
    """Run ``command`` to its end. A command of the form ``[python, "-m", module, ...]`` runs under
    _PEAK_WRAPPER so that its peak memory is known; ``os.wait4`` gives its CPU time."""
    command = list(command)
    if len(command) > 2 and command[1] == "-m":
        command = [command[0], "-c", _PEAK_WRAPPER, *command[2:]]
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


def _child_env(settings: Settings) -> dict[str, str]:
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


# ----------------------------------------------------------------------------- questions


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


# ----------------------------------------------------------------------------- baseline


class ParagraphBaseline:
    """MiniLM + faiss.IndexFlatIP over paragraphs (split on blank lines); a query returns the top one."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.paragraphs: list[str] = []
        self.vectors: np.ndarray | None = None
        self.index = None

    def build(self, corpus_dir: Path, max_file_bytes: int) -> dict:
        import faiss

        from hrqa.corpus import read_corpus

        started = time.perf_counter()
        documents = read_corpus(corpus_dir, max_file_bytes).documents
        self.paragraphs = [p for d in documents for p in paragraphs(d.text)]
        vectors = self.embedder.embed(self.paragraphs)
        self.vectors = vectors
        self.index = faiss.IndexFlatIP(self.embedder.dimension)
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        seconds = time.perf_counter() - started
        return {
            "documents": len(documents),
            "paragraphs": len(self.paragraphs),
            "seconds": round(seconds, 3),
            "paragraphs_per_s": round(len(self.paragraphs) / seconds, 2) if seconds else None,
        }

    def answer(self, question: str) -> str:
        vector = self.embedder.embed_query(question)
        _, rows = self.index.search(vector.reshape(1, -1).astype(np.float32, copy=False), 1)
        return self.paragraphs[int(rows[0][0])]


# ----------------------------------------------------------------------------- corpus benchmark


def bench_corpus(
    name: str, settings: Settings, embedder, questions: Sequence[str], *, embed_sentences: bool = True
) -> dict:
    """Build ``settings.corpus_dir`` into a fresh ``settings.index_dir``, then time queries warm, in-process,
    beside the paragraph baseline over the same corpus and questions."""
    from hrqa import store
    from hrqa.engine import Engine

    _note(f"{name}: building the index ({'with' if embed_sentences else 'without'} sentence vectors)")
    report = store.build_index(settings, embedder, embed_sentences=embed_sentences)
    timings = {k: round(v, 3) for k, v in report.timings.items()}
    build = {
        "documents": report.documents,
        "passages": report.passages,
        "sentences": report.sentences,
        "sentence_vectors": embed_sentences,
        "seconds": round(report.seconds, 3),
        "timings_s": timings,
        "documents_per_s": round(report.documents / report.seconds, 2),
        "passages_per_s": round(report.passages / report.seconds, 2),
        "passages_embedded_per_s": round(report.passages / timings["embed_s"], 2) if timings.get("embed_s") else None,
    }
    engine = Engine.open(settings, embedder=embedder, build="never")

    _note(f"{name}: baseline build (paragraphs + IndexFlatIP)")
    baseline = ParagraphBaseline(embedder)
    baseline_build = baseline.build(settings.corpus_dir, settings.max_file_bytes)

    _note(f"{name}: timing {len(questions)} questions")
    for question in questions[:5]:  # warm up: first calls allocate and fill caches
        engine.ask(question)
        baseline.answer(question)
    encode, search, ask, base = [], [], [], []
    parts: dict[str, list[float]] = {"encode": [], "retrieve": [], "answer": []}
    abstained = 0
    for question in questions:  # interleaved, so drifting load affects every measure alike
        encode.append(_timed(embedder.embed_query, question)[1])
        search.append(_timed(engine.search, question, 10)[1])
        answer, elapsed = _timed(engine.ask, question)
        ask.append(elapsed)
        abstained += answer.abstained
        for part, values in parts.items():
            values.append(answer.timings_ms.get(part, float("nan")))
        base.append(_timed(baseline.answer, question)[1])
    query = {
        "questions": len(questions),
        "unique_questions": len(set(questions)),
        "abstained": abstained,
        "encode_ms": percentiles(encode),
        "search_ms": percentiles(search),
        "ask_ms": percentiles(ask),
        "ask_parts_p50_ms": {part: percentiles(values)["p50"] for part, values in parts.items()},
    }
    query["ask_to_encode_p50"] = round(query["ask_ms"]["p50"] / query["encode_ms"]["p50"], 3)
    query["within_budget"] = query["ask_to_encode_p50"] <= ANSWER_TO_ENCODING_BUDGET
    baseline_query = percentiles(base)
    return {
        "corpus": str(settings.corpus_dir),
        "build": build,
        "query": query,
        "baseline": {
            **baseline_build,
            "query_ms": baseline_query,
            "query_to_encode_p50": round(baseline_query["p50"] / query["encode_ms"]["p50"], 3),
        },
        "hrqa_vs_baseline": {
            "build_seconds": round(report.seconds / baseline_build["seconds"], 3),
            "query_p50": round(query["ask_ms"]["p50"] / baseline_query["p50"], 3),
        },
        "engine": engine,  # dropped before the report is written; kept for later sections
        "baseline_pipeline": baseline,  # likewise
    }


def scifact_view(beir: Path, folder: Path, records: int | None) -> Path:
    """A corpus folder holding SciFact's corpus.jsonl (a symlink) or its first ``records`` lines."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "corpus.jsonl"
    if records is None:  # a hard link (or a copy): the corpus stage refuses links that leave the folder
        try:
            os.link(beir / "corpus.jsonl", target)
        except OSError:
            shutil.copyfile(beir / "corpus.jsonl", target)
    else:
        with (beir / "corpus.jsonl").open(encoding="utf-8") as source, target.open("w", encoding="utf-8") as out:
            for number, line in enumerate(source):
                if number >= records:
                    break
                out.write(line)
    return folder


# ----------------------------------------------------------------------------- cold start


def cold_ask(settings: Settings, question: str, runs: int) -> dict:
    """A fresh ``hrqa ask`` process until it has printed its answer (the index is built, the OS cache warm)."""
    command = [
        sys.executable,
        "-m",
        "hrqa.cli",
        "ask",
        "--corpus",
        str(settings.corpus_dir),
        "--index-dir",
        str(settings.index_dir),
        "--model",
        settings.model,
        question,
    ]
    seconds, cpu, peaks = [], [], []
    for run in range(runs):
        _note(f"cold start: hrqa ask, run {run + 1}/{runs}")
        child = run_child(command, env=_child_env(settings), cwd=settings.index_dir.parent, timeout=300)
        if child.returncode != 0 or not child.stdout.strip():
            return {"available": False, "reason": f"hrqa ask exited {child.returncode}: {child.stderr.strip()[-300:]}"}
        seconds.append(round(child.seconds, 3))
        cpu.append(child.cpu_seconds)
        peaks.append(child.peak_rss_mb or 0.0)
    return {
        "available": True,
        "command": "python -m hrqa.cli ask --corpus … --index-dir … QUESTION",
        "runs_s": seconds,
        "median_s": round(statistics.median(seconds), 3),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "peak_rss_mb": max(peaks),
    }


def app_ready(settings: Settings, timeout: float, app: Path | None = None) -> dict:
    """``hrqa serve --port P`` (what ``python app.py`` runs) with a built index, until
    http://127.0.0.1:P/ answers (any status). ``app``: a script to start instead (``python app``)."""
    if app is not None and not app.exists():
        return {"available": False, "reason": f"not available: {app.name} not found at {app}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, str(app)] if app is not None else [sys.executable, "-m", "hrqa.cli", "serve"]
    _note(f"app start: {' '.join(command[1:])} --port {port}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=settings.index_dir.parent,
            env=_child_env(settings),
            stdout=out,
            stderr=err,
        )
        try:
            while time.perf_counter() - started < timeout:
                if process.poll() is not None:
                    err.seek(0)
                    tail = err.read().decode("utf-8", "replace").strip()[-300:]
                    return {"available": False, "reason": f"hrqa serve exited {process.returncode}: {tail}"}
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        status = response.status
                except urllib.error.HTTPError as error:  # an HTTP answer all the same (401 with auth)
                    status = error.code
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    time.sleep(0.1)
                    continue
                return {
                    "available": True,
                    "ready_s": round(time.perf_counter() - started, 3),
                    "status": status,
                    "rss_mb_when_ready": current_rss_mb(process.pid),
                }
            return {"available": False, "reason": f"hrqa serve did not answer on {url} within {timeout:.0f} s"}
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# ----------------------------------------------------------------------------- questions on stdin


#: The tutorial pipeline as a process answering one question per stdin line: sentence-transformers
#: encodes the question, faiss.IndexFlatIP finds the top paragraph, a JSON line is printed.
_BASELINE_STREAM = """
import json, sys
import faiss, numpy as np
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu", local_files_only=True)
with open(sys.argv[2], encoding="utf-8") as handle:
    paragraphs = json.load(handle)
vectors = np.load(sys.argv[3])
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(vectors)
for line in sys.stdin:
    question = line.rstrip("\\n")
    if not question.strip():
        continue
    vector = model.encode([question], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    _, rows = index.search(vector.astype(np.float32), 1)
    print(json.dumps({"question": question, "paragraph": paragraphs[int(rows[0][0])]}), flush=True)
"""


def stream_timing(command: Sequence[str], questions: Sequence[str], env: dict[str, str], cwd: Path) -> dict:
    """Feed ``questions`` one per line to ``command`` and time each answer line as it arrives. The cost
    of a question is the time between the first and the last answer over the answers between: start-up
    and the first question's loading are left out, as they are paid once per process."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd, text=True
        )

        def feed() -> None:
            try:
                process.stdin.write("".join(q.replace("\n", " ") + "\n" for q in questions))
            finally:
                process.stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        arrivals: list[float] = []
        answered = 0
        parts: dict[str, list[float]] = {}
        for line in process.stdout:
            arrivals.append(time.perf_counter())
            result = json.loads(line)
            answered += "error" not in result
            for part, value in result.get("timings_ms", {}).items():  # hrqa's own split of each answer
                parts.setdefault(part, []).append(float(value))
        process.wait()
        writer.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if len(arrivals) != len(questions) or len(arrivals) < 2:
        return {"available": False, "reason": f"{len(arrivals)} answers to {len(questions)} questions: {stderr[-300:]}"}
    return {
        "available": True,
        "questions": len(questions),
        "answered": answered,
        "per_question_ms": round((arrivals[-1] - arrivals[0]) * 1000 / (len(arrivals) - 1), 2),
        "first_answer_s": round(arrivals[0] - started, 3),
        "wall_s": round(arrivals[-1] - started, 3),
        "parts_p50_ms": {part: percentiles(values)["p50"] for part, values in parts.items()},
    }


def ask_stream(settings: Settings, questions: Sequence[str], baseline: ParagraphBaseline, workdir: Path) -> dict:
    """``hrqa ask --json`` with the questions on stdin against the tutorial pipeline's process on the same
    corpus and questions: the cost of one question as a person measures it from outside."""
    from hrqa.embedding import resolve_model_path

    _note(f"stdin: hrqa ask --json with {len(questions)} questions")
    hrqa = stream_timing([sys.executable, "-m", "hrqa.cli", "ask", "--json"], questions, _child_env(settings), workdir)
    folder = workdir / "stream-baseline"
    folder.mkdir(exist_ok=True)
    (folder / "paragraphs.json").write_text(json.dumps(baseline.paragraphs), encoding="utf-8")
    np.save(folder / "vectors.npy", np.ascontiguousarray(baseline.vectors, dtype=np.float32))
    _note(f"stdin: the tutorial pipeline with {len(questions)} questions")
    base = stream_timing(
        [
            sys.executable,
            "-c",
            _BASELINE_STREAM,
            str(resolve_model_path(settings.model)),
            str(folder / "paragraphs.json"),
            str(folder / "vectors.npy"),
        ],
        questions,
        _child_env(settings),
        workdir,
    )
    result = {"hrqa": hrqa, "baseline": base}
    if hrqa.get("available") and base.get("available"):
        result["hrqa_to_baseline"] = round(hrqa["per_question_ms"] / base["per_question_ms"], 3)
    return result


# ----------------------------------------------------------------------------- encoding: build and question


#: Sustained fp32 matrix throughput of this 2-core machine, as issue 9 measured it: the ceiling against
#: which the build's encoding speed is read.
CEILING_GFLOPS = 140.0


def transformer_flops(config: dict, tokens: int) -> float:
    """Floating-point operations of one BERT forward pass over a sequence of ``tokens`` tokens: per layer
    the four attention projections (8·n·H²), the feed-forward pair (4·n·H·I) and the attention products
    (4·n²·H); embeddings, norms and softmax are ignored (under 1%)."""
    h, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    n = tokens
    return float(layers * (8 * n * h * h + 4 * n * h * inner + 4 * n * n * h))


def _encode_sorted(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], batch_size: int) -> np.ndarray:
    """The build's loop (SentenceTransformerEmbedder.embed): longest first, fixed batches, input order kept."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: np.ndarray | None = None
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        vectors = encode([texts[i] for i in batch])
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[batch] = vectors
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _torch_encoder(model, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    return encode


def embedding_speed(
    embedder,
    texts: Sequence[str],
    batches: Sequence[int],
    queries: Sequence[str] = (),
    threads: Sequence[int] | None = None,
) -> dict:
    """Texts per second of the build's encoding (sorted by length) on torch and on ONNX Runtime, for each
    batch size and thread count, on the same passages; GFLOP/s of useful work (tokens that are not
    padding) against CEILING_GFLOPS; how far the two backends' vectors are apart; torch int8 for the
    record; and the question-time latencies of ``query_encoding``."""
    import torch

    if not hasattr(embedder, "onnx_encoder"):
        return {"available": False, "reason": f"{type(embedder).__name__} is not a sentence-transformers model"}
    texts = list(texts)
    cores = os.cpu_count() or 1
    threads = sorted(set(threads or (1, cores)))
    model = embedder._load()
    config = json.loads((embedder.path / "config.json").read_text(encoding="utf-8"))
    onnx = {count: embedder.onnx_encoder(count) for count in threads}
    if any(encoder is None for encoder in onnx.values()):
        return {"available": False, "reason": f"{embedder.name} has no ONNX encoder: {embedder._onnx_problem}"}
    tokenizer = onnx[threads[0]].tokenizer
    lengths = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    useful_gflop = sum(transformer_flops(config, n) for n in lengths) / 1e9
    rows: list[dict] = []

    def measure(backend: str, count: int, batch: int, encode) -> np.ndarray:
        _encode_sorted(encode, texts[:batch], batch)  # warm up: allocations, first-call paths
        cpu = time.process_time()
        vectors, elapsed = _timed(_encode_sorted, encode, texts, batch)
        seconds, cpu_seconds = elapsed / 1000, time.process_time() - cpu
        rows.append(
            {
                "backend": backend,
                "threads": count,
                "batch": batch,
                "option": f"{backend}, sorted, batch {batch}, {count} thread{'s' if count > 1 else ''}",
                "texts_per_s": round(len(texts) / seconds, 2),
                "seconds": round(seconds, 3),
                "gflops": round(useful_gflop / seconds, 1),
                "share_of_ceiling": round(useful_gflop / seconds / CEILING_GFLOPS, 3),
                # CPU time of all this process's threads: what the work costs whatever else runs
                "cpu_seconds": round(cpu_seconds, 3),
                "gflop_per_cpu_s": round(useful_gflop / cpu_seconds, 1) if cpu_seconds else None,
            }
        )
        _note(f"embedding: {rows[-1]['option']}: {rows[-1]['texts_per_s']} texts/s, {rows[-1]['gflops']} GFLOP/s")
        return vectors

    outputs: dict[str, np.ndarray] = {}
    for count in threads:
        for batch in batches:
            with torch_threads(count):
                outputs["torch"] = measure("torch", count, batch, _torch_encoder(model, batch))
            outputs["onnx"] = measure("onnx", count, batch, onnx[count].encode)
    difference = np.abs(outputs["torch"] - outputs["onnx"])
    cosines = np.sum(outputs["torch"] * outputs["onnx"], axis=1)
    best = {b: max((r for r in rows if r["backend"] == b), key=lambda r: r["texts_per_s"]) for b in ("torch", "onnx")}
    result = {
        "available": True,
        "texts": len(texts),
        "mean_chars": round(statistics.fmean(map(len, texts)), 1) if texts else 0,
        "mean_tokens": round(statistics.fmean(lengths), 1) if lengths else 0,
        "useful_gflop": round(useful_gflop, 1),
        "ceiling_gflops": CEILING_GFLOPS,
        "cores": cores,
        "rows": rows,
        "best": best,
        "build_backend": embedder.BUILD_BACKEND,
        "onnx_vs_torch": {
            "max_abs_difference": float(difference.max()) if texts else None,
            "cosine_min": round(float(cosines.min()), 7) if texts else None,
        },
        "int8": _int8_option(model, texts, max(batches), outputs["torch"]),
        "torch_threads_default": torch.get_num_threads(),
    }
    result["query"] = query_encoding(embedder, queries, threads) if queries else {}
    return result


def query_encoding(embedder, questions: Sequence[str], threads: Sequence[int]) -> dict:
    """Latency of encoding one question, interleaved on the same questions: ONNX Runtime with each thread
    count (and the question-time setting), torch (sentence-transformers, its default threads), and the
    numpy forward pass hrqa used before ONNX Runtime (NumpyReferenceEncoder, kept here as the
    reference)."""
    encoders: dict[str, Callable[[str], np.ndarray]] = {}
    for count in threads:
        encoders[f"onnx, {count} thread{'s' if count > 1 else ''}"] = embedder.onnx_encoder(count).encode
    model = embedder._load()
    encoders["torch (sentence-transformers)"] = _torch_encoder(model, 1)
    numpy_reference = NumpyReferenceEncoder.for_folder(embedder.path)
    if numpy_reference is not None:
        encoders["numpy forward pass (hrqa before ONNX Runtime)"] = numpy_reference.encode
    samples: dict[str, list[float]] = {name: [] for name in encoders}
    for question in questions[:5]:  # warm up
        for encode in encoders.values():
            encode([question])
    for question in questions:
        for name, encode in encoders.items():
            samples[name].append(_timed(encode, [question])[1])
    return {
        "questions": len(questions),
        "setting_threads": embedder.threads,
        "ms": {name: percentiles(values) for name, values in samples.items()},
    }


class NumpyReferenceEncoder:
    """BERT + mean pooling + normalisation in numpy: the question encoder of hrqa before ONNX Runtime,
    kept only as the benchmark's reference (it matched sentence-transformers to about 1e-7)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        limits = json.loads((path / "sentence_bert_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(limits.get("max_seq_length", 256)))
        self.weights = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()}
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])

    @classmethod
    def for_folder(cls, path: Path) -> NumpyReferenceEncoder | None:
        from hrqa.onnx_runtime import sentence_encoder_problem

        if sentence_encoder_problem(path) is not None or not (path / "model.safetensors").exists():
            return None
        return cls(path)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.eps) * self.weights[name + ".weight"] + self.weights[name + ".bias"]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[name + ".weight"].T + self.weights[name + ".bias"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._encode_one(text) for text in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        from scipy.special import erf

        w = self.weights
        ids = np.array(self.tokenizer.encode(text).ids)
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        width = x.shape[1]
        head = width // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                self._linear(x, p + f"attention.self.{part}").reshape(n, self.heads, head).transpose(1, 0, 2)
                for part in ("query", "key", "value")
            )
            attention = q @ k.transpose(0, 2, 1) / np.sqrt(head)
            attention = np.exp(attention - attention.max(-1, keepdims=True))
            attention /= attention.sum(-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(n, width)
            x = self._norm(x + self._linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            inner = self._linear(x, p + "intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))  # exact GELU, as BERT's "gelu"
            x = self._norm(x + self._linear(inner, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)


def _int8_option(model, texts, batch_size, reference: np.ndarray) -> dict:
    """torch dynamic int8 quantisation of the Linear layers (installed with torch; no download)."""
    import torch

    try:
        with warnings.catch_warnings():  # deprecated in torch, still the one int8 path installed
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8
            )
    except (RuntimeError, AssertionError, NotImplementedError) as error:  # no int8 engine on this CPU
        return {"available": False, "reason": f"quantize_dynamic failed: {error}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectors, elapsed = _timed(_encode_sorted, _torch_encoder(quantized, batch_size), texts, batch_size)
    cosines = np.sum(vectors * reference, axis=1)
    # Does int8 keep the nearest passage? Each text as a query against the fp32 vectors of the others.
    fp32 = reference @ reference.T
    int8 = vectors @ reference.T
    np.fill_diagonal(fp32, -np.inf)
    np.fill_diagonal(int8, -np.inf)
    same_top = float(np.mean(fp32.argmax(axis=1) == int8.argmax(axis=1)))
    return {
        "available": True,
        "texts_per_s": round(len(texts) / (elapsed / 1000), 2),
        "cosine_to_fp32_mean": round(float(cosines.mean()), 4),
        "cosine_to_fp32_min": round(float(cosines.min()), 4),
        "same_nearest_neighbour": round(same_top, 3),
    }


# ----------------------------------------------------------------------------- scale (synthetic vectors)


_SERVE_SCRIPT = """
import json, sys, time
import numpy as np
from hrqa import vectors
from hrqa.retrieval import CANDIDATES
index = vectors.load_vector_index(sys.argv[1])
queries = np.load(sys.argv[2])
for q in queries[:10]:
    vectors.search(index, q, CANDIDATES)
times = []
for q in queries:
    started = time.perf_counter()
    vectors.search(index, q, CANDIDATES)
    times.append((time.perf_counter() - started) * 1000)
print(json.dumps({"p50": float(np.median(times))}))
"""
_EMPTY_SCRIPT = "import numpy, faiss\nfrom hrqa import vectors, retrieval\n"


def serving_rss(index_path: Path | None, queries_path: Path) -> Child:
    """A fresh process that loads the index and answers the queries: its peak RSS is what serving costs."""
    script = queries_path.parent / ("hrqa_bench_serve.py" if index_path else "hrqa_bench_empty.py")
    script.write_text(_SERVE_SCRIPT if index_path else _EMPTY_SCRIPT, encoding="utf-8")
    arguments = [str(index_path), str(queries_path)] if index_path else []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_PARENT), str(script.parent)])}
    return run_child([sys.executable, "-m", script.stem, *arguments], cwd=script.parent, timeout=900, env=env)


def bench_scale(sizes: Sequence[int], types: Sequence[str], queries: int, workdir: Path) -> dict:
    """Build time, single-query latency (as retrieval asks: CANDIDATES rows), recall@10 against exact
    search, index size and serving memory, for each index type at each size."""
    import faiss

    from hrqa import vectors
    from hrqa.retrieval import CANDIDATES

    rows: list[dict] = []
    empty = serving_rss(None, workdir / "none.npy")
    for size in sizes:
        _note(f"scale: {size:,} synthetic vectors")
        corpus, query_vectors = synthetic_vectors(size, queries, seed=size)
        queries_path = workdir / f"queries-{size}.npy"
        np.save(queries_path, query_vectors)
        exact = faiss.IndexFlatIP(corpus.shape[1])
        exact.add(corpus)
        _, truth = exact.search(query_vectors, 10)
        del exact
        for kind in types:
            _note(f"scale: {size:,} vectors, {kind}: building")
            index, build_ms = _timed(vectors.build_vector_index, corpus, kind)
            for vector in query_vectors[:10]:
                vectors.search(index, vector, CANDIDATES)
            found, times = [], []
            for vector in query_vectors:
                (_, ids), elapsed = _timed(vectors.search, index, vector, CANDIDATES)
                times.append(elapsed)
                found.append(ids[:10])
            path = workdir / f"{size}-{kind}.faiss"
            vectors.save_vector_index(index, path)
            del index
            _note(f"scale: {size:,} vectors, {kind}: serving memory")
            served = serving_rss(path, queries_path)
            rows.append(
                {
                    "vectors": size,
                    "index": kind,
                    "build_s": round(build_ms / 1000, 3),
                    "query_ms": percentiles(times),
                    "recall@10": round(recall_at(np.array(found), truth, 10), 4),
                    "index_mb": round(path.stat().st_size / 2**20, 1),
                    "serving_rss_mb": served.peak_rss_mb if served.returncode == 0 else None,
                    "serving_index_rss_mb": round(served.peak_rss_mb - empty.peak_rss_mb, 1)
                    if served.returncode == 0 and served.peak_rss_mb and empty.peak_rss_mb
                    else None,
                }
            )
            path.unlink()
        del corpus
    return {
        "queries": queries,
        "dimension": 384,
        "candidates": CANDIDATES,
        "process_without_index_rss_mb": empty.peak_rss_mb,
        "rows": rows,
        "parameters": vectors.parameters(),
    }


# ----------------------------------------------------------------------------- the run


def run(
    plan: Plan, settings: Settings, beir: Path | None, workdir: Path, checkpoint: Callable[[dict], None] | None = None
) -> dict:
    """Every section of the benchmark; returns the report (JSON-ready). ``checkpoint`` receives the report
    after each section, so a long run that is stopped still leaves its figures so far."""
    import faiss
    import torch

    from hrqa.embedding import load_embedder

    started = time.perf_counter()
    report: dict = {
        "size": plan.size,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "load_average_start": [round(x, 2) for x in os.getloadavg()],
        },
        "budget": {
            "ask_to_encode_p50": ANSWER_TO_ENCODING_BUDGET,
            "cold_ask_s": 4.0,
            "app_ready_s": 10.0,
            "scale_1m": {"query_p50_ms": 20.0, "recall@10": 0.95, "rss_mb": 2048},
        },
        "sections": {},
        "corpora": {},
    }

    @contextlib.contextmanager
    def section(name: str) -> Iterator[None]:
        """Seconds and the 1-minute load average of each section: the machine may be shared."""
        load, mark = os.getloadavg()[0], time.perf_counter()
        yield
        report["sections"][name] = {
            "seconds": round(time.perf_counter() - mark, 1),
            "load_average_start": round(load, 2),
            "load_average_end": round(os.getloadavg()[0], 2),
        }
        if checkpoint:
            checkpoint(
                {k: v for k, v in report.items() if k != "corpora"}
                | {"corpora": {n: {k: v for k, v in c.items() if k not in _LIVE} for n, c in report["corpora"].items()}}
            )

    embedder = load_embedder(settings.model, settings.batch_size)
    seeds_settings = settings.with_(index_dir=workdir / "index-seeds")
    dev = load_dev_questions()
    scifact_queries = load_beir_queries(beir) if beir else []
    seeds_questions = cycle(dev or scifact_queries or ["What is this corpus about?"], plan.questions)
    with section("seeds"):
        report["corpora"]["seeds"] = bench_corpus("seeds", seeds_settings, embedder, seeds_questions)

    with section("scifact"):
        if beir:
            view = scifact_view(beir, workdir / "scifact-corpus", plan.scifact_records)
            scifact_settings = settings.with_(corpus_dir=view, index_dir=workdir / "index-beir-scifact")
            scifact = bench_corpus(
                "scifact", scifact_settings, embedder, cycle(scifact_queries, plan.questions), embed_sentences=False
            )
            scifact["records"] = plan.scifact_records or "all"
            report["corpora"]["scifact"] = scifact
        else:
            report["corpora"]["scifact"] = {"skipped": "no BEIR SciFact folder (give --beir DIR)"}
    report["memory"] = {"peak_rss_mb_after_corpora": peak_rss_mb()}

    with section("cold_start"):
        report["cold_start"] = {
            "ask": cold_ask(seeds_settings, seeds_questions[0], plan.cold_runs),
            "app": app_ready(seeds_settings, plan.app_timeout_s),
        }

    with section("stream"):
        seeds = report["corpora"]["seeds"]
        report["stream"] = ask_stream(
            seeds_settings, seeds_questions[: plan.stream_questions], seeds["baseline_pipeline"], workdir
        )

    with section("embedding"):
        texts = _embedding_texts(report, plan.embedding_texts)
        report["embedding"] = embedding_speed(embedder, texts, plan.embedding_batches, seeds_questions[:100])
    for corpus in report["corpora"].values():
        for key in _LIVE:
            corpus.pop(key, None)  # free the indexes before the scale section allocates
    report["memory"]["peak_rss_mb_after_embedding"] = peak_rss_mb()

    with section("scale"):
        report["scale"] = bench_scale(plan.scale_sizes, plan.scale_types, plan.scale_queries, workdir)
    report["memory"]["peak_rss_mb_bench_process"] = peak_rss_mb()
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


#: report entries that hold live objects for later sections, never written
_LIVE = ("engine", "baseline_pipeline")


def _embedding_texts(report: dict, count: int) -> list[str]:
    """Passages of SciFact (else the seeds) as the build embeds them."""
    from hrqa import chunking

    for name in ("scifact", "seeds"):
        engine = report["corpora"].get(name, {}).get("engine")
        if engine is not None:
            index = engine.index
            return [chunking.embedding_text(index.documents[p.doc], p) for p in index.passages[:count]]
    return []


# ----------------------------------------------------------------------------- output


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(report: dict) -> str:
    """The report as plain-text tables (what ``hrqa bench`` prints)."""
    lines: list[str] = []
    machine = report["machine"]
    lines.append(
        f"hrqa bench --size {report['size']} · {machine['cpus']} cores · torch {machine['torch']} "
        f"({machine['torch_threads']} threads) · faiss {machine['faiss']} · load average "
        f"{machine['load_average_start'][0]} at start, {machine.get('load_average_end', ['?'])[0]} at end"
    )
    lines.append("")
    lines.append("Index build")
    lines.append(
        f"  {'corpus':<10}{'docs':>7}{'passages':>10}{'docs/s':>9}{'pass/s':>9}{'read s':>8}"
        f"{'chunk s':>9}{'embed s':>9}{'index s':>9}{'write s':>9}{'total s':>9}  │ baseline: "
        f"{'paras':>6}{'total s':>9}"
    )
    corpora = {k: v for k, v in report["corpora"].items() if "build" in v}
    for name, corpus in corpora.items():
        build, timing, base = corpus["build"], corpus["build"]["timings_s"], corpus["baseline"]
        lines.append(
            f"  {name:<10}{build['documents']:>7,}{build['passages']:>10,}{_fmt(build['documents_per_s']):>9}"
            f"{_fmt(build['passages_per_s']):>9}{_fmt(timing.get('read_s'), 2):>8}"
            f"{_fmt(timing.get('chunk_s'), 2):>9}{_fmt(timing.get('embed_s'), 2):>9}"
            f"{_fmt(timing.get('index_s'), 2):>9}{_fmt(timing.get('write_s'), 2):>9}"
            f"{_fmt(build['seconds'], 2):>9}  │ {'':>10}{base['paragraphs']:>6,}{_fmt(base['seconds'], 2):>9}"
        )
    for name, corpus in report["corpora"].items():
        if "skipped" in corpus:
            lines.append(f"  {name:<10}skipped: {corpus['skipped']}")
    lines.append("  (seeds with sentence vectors, SciFact without; baseline = read + split + embed + IndexFlatIP)")
    lines.append("")
    lines.append("Query latency, warm, in-process (ms)")
    lines.append(
        f"  {'corpus':<10}{'n':>5}{'encode p50/p95':>17}{'search p50/p95':>17}{'answer p50/p95':>17}"
        f"{'answer/encode':>15}{'baseline p50/p95':>19}{'hrqa/baseline':>15}"
    )
    for name, corpus in corpora.items():
        q, b = corpus["query"], corpus["baseline"]["query_ms"]

        def pair(m: dict) -> str:
            return f"{m['p50']:.1f}/{m['p95']:.1f}"

        mark = "ok" if q["within_budget"] else "OVER"
        lines.append(
            f"  {name:<10}{q['questions']:>5}{pair(q['encode_ms']):>17}{pair(q['search_ms']):>17}"
            f"{pair(q['ask_ms']):>17}{q['ask_to_encode_p50']:>10.2f} {mark:<4}{pair(b):>19}"
            f"{corpus['hrqa_vs_baseline']['query_p50']:>15.2f}"
        )
        parts = q["ask_parts_p50_ms"]
        lines.append(
            f"  {'':<10}answer p50 split: encode {parts['encode']:.1f} · retrieve {parts['retrieve']:.1f} · "
            f"extract {parts['answer']:.1f} · baseline/encode {corpus['baseline']['query_to_encode_p50']:.2f}"
        )
    lines.append(f"  (budget: answer p50 ≤ {ANSWER_TO_ENCODING_BUDGET} × encode p50)")
    lines.append("")
    lines.append("Cold start and memory")
    ask = report["cold_start"]["ask"]
    if ask.get("available"):
        lines.append(
            f"  hrqa ask, fresh process to first answer: median {ask['median_s']:.2f} s "
            f"(runs {', '.join(f'{s:.2f}' for s in ask['runs_s'])}; budget 4 s), "
            f"CPU {ask['cpu_s_median']:.2f} s, peak RSS {ask['peak_rss_mb']:.0f} MB"
        )
    else:
        lines.append(f"  hrqa ask: not available ({ask['reason']})")
    app = report["cold_start"]["app"]
    if app.get("available"):
        lines.append(
            f"  hrqa serve (app.py) start until http://127.0.0.1:PORT/ answers: {app['ready_s']:.2f} s (budget 10 s), "
            f"RSS {_fmt(app.get('rss_mb_when_ready'), 0)} MB"
        )
    else:
        lines.append(f"  hrqa serve (app.py) ready: {app['reason']}")
    memory = report["memory"]
    lines.append(
        f"  peak RSS of this process: {memory['peak_rss_mb_after_corpora']:.0f} MB after both corpora "
        f"(model, indexes, baseline); {memory['peak_rss_mb_bench_process']:.0f} MB after the scale section"
    )
    lines.append("")
    stream = report.get("stream", {})
    lines.append("Questions on stdin, one process each, cost per question after the first answer")
    for name, label in (("hrqa", "hrqa ask --json"), ("baseline", "tutorial pipeline (MiniLM + IndexFlatIP)")):
        figures = stream.get(name, {"available": False, "reason": "not measured"})
        if figures.get("available"):
            lines.append(
                f"  {label:<42}{figures['per_question_ms']:>8.1f} ms  ({figures['questions']} questions, "
                f"first answer after {figures['first_answer_s']:.2f} s)"
            )
        else:
            lines.append(f"  {label:<42}not available ({figures['reason']})")
    if "hrqa_to_baseline" in stream:
        lines.append(f"  hrqa / baseline: {stream['hrqa_to_baseline']:.2f} (target ≤ 1.0)")
    split = stream.get("hrqa", {}).get("parts_p50_ms")
    if split:
        lines.append("  hrqa's own split, p50: " + " · ".join(f"{part} {ms:.1f} ms" for part, ms in split.items()))
    lines.append("")
    embedding = report["embedding"]
    lines.append("Encoding passages (build path): sorted by length, the same passages for every option")
    if embedding.get("available"):
        lines.append(
            f"  {embedding['texts']} passages, mean {embedding['mean_chars']:.0f} characters, "
            f"{embedding['mean_tokens']:.0f} tokens; {embedding['useful_gflop']:.0f} GFLOP of useful work"
        )
        lines.append(
            f"  {'backend':<8}{'threads':>8}{'batch':>7}{'texts/s':>9}{'GFLOP/s':>9}{'of ceiling':>12}"
            f"{'GFLOP per CPU-s':>17}"
        )
        for row in embedding["rows"]:
            lines.append(
                f"  {row['backend']:<8}{row['threads']:>8}{row['batch']:>7}{row['texts_per_s']:>9.1f}"
                f"{row['gflops']:>9.1f}{row['share_of_ceiling']:>12.0%}{_fmt(row.get('gflop_per_cpu_s')):>17}"
            )
        agreement = embedding["onnx_vs_torch"]
        lines.append(
            f"  (ceiling {embedding['ceiling_gflops']:.0f} GFLOP/s; the build uses {embedding['build_backend']}; "
            f"ONNX vs torch: max difference {agreement['max_abs_difference']:.1e}, cosine ≥ {agreement['cosine_min']})"
        )
        int8 = embedding["int8"]
        if int8.get("available"):
            lines.append(
                f"  torch int8 (not used): {int8['texts_per_s']:.1f} texts/s, cosine to fp32 mean "
                f"{int8['cosine_to_fp32_mean']:.4f} (min {int8['cosine_to_fp32_min']:.4f}), same nearest passage "
                f"{int8['same_nearest_neighbour']:.1%}"
            )
        else:
            lines.append(f"  int8: {int8['reason']}")
        query = embedding.get("query") or {}
        if query:
            lines.append(
                f"Encoding one question ({query['questions']} questions, interleaved; the setting: "
                f"{query['setting_threads']} thread(s))"
            )
            for name, figures in query["ms"].items():
                lines.append(f"  {name:<50}p50 {figures['p50']:>6.1f} ms   p95 {figures['p95']:>6.1f} ms")
    else:
        lines.append(f"  not available ({embedding['reason']})")
    lines.append("")
    scale = report["scale"]
    lines.append(
        f"Vector index scale: synthetic normalised vectors, dimension {scale['dimension']}, "
        f"{scale['queries']} queries, {scale['candidates']} rows per query as retrieval asks"
    )
    lines.append(
        f"  {'vectors':>10} {'index':<7}{'build s':>9}{'p50 ms':>8}{'p95 ms':>8}{'recall@10':>11}"
        f"{'file MB':>9}{'serving RSS MB':>16}{'of which index':>16}"
    )
    for row in scale["rows"]:
        lines.append(
            f"  {row['vectors']:>10,} {row['index']:<7}{row['build_s']:>9.1f}{row['query_ms']['p50']:>8.2f}"
            f"{row['query_ms']['p95']:>8.2f}{row['recall@10']:>11.3f}{row['index_mb']:>9.1f}"
            f"{_fmt(row['serving_rss_mb'], 0):>16}{_fmt(row['serving_index_rss_mb'], 0):>16}"
        )
    lines.append(
        f"  (a process with numpy, faiss and hrqa imported and no index: "
        f"{scale['process_without_index_rss_mb']:.0f} MB; parameters: {scale['parameters']})"
    )
    lines.append("")
    lines.append(
        "Sections (seconds, 1-minute load average at start → end): "
        + "; ".join(
            f"{name} {v['seconds']:.0f} s ({v['load_average_start']:.1f} → {v['load_average_end']:.1f})"
            for name, v in report.get("sections", {}).items()
        )
    )
    lines.append(f"measured in {report['seconds']:.0f} s; repeat with: hrqa bench --size {report['size']} --json FILE")
    return "\n".join(lines)


def main(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """The ``hrqa bench`` command; ``settings``: those of its flags (``settings_from_args``)."""
    from hrqa.settings import settings_from_args

    plan = Plan.for_size(args.size)
    settings = settings or settings_from_args(args)
    if not getattr(args, "corpus", None) and not os.environ.get("HRQA_CORPUS_DIR"):
        settings = settings.with_(corpus_dir=SAMPLE_CORPUS)  # the same documents wherever it runs
    # children run in the bench's temporary folder: every path they are given is absolute
    settings = settings.with_(corpus_dir=settings.corpus_dir.resolve())
    if Path(settings.model).exists():  # a model folder (else the name of the packaged model)
        settings = settings.with_(model=str(Path(settings.model).resolve()))
    beir = find_beir(getattr(args, "beir", None))
    if getattr(args, "beir", None) and beir is None:
        from hrqa.errors import HrqaError

        raise HrqaError(f"{args.beir} is not a BEIR folder (needs corpus.jsonl and queries.jsonl)")
    # Every index the bench builds is fresh (a build reuses vectors from a live snapshot) and temporary;
    # --index-dir only says where the temporary folder goes.
    parent = Path(args.index_dir).resolve().parent if getattr(args, "index_dir", None) else None
    workdir = Path(tempfile.mkdtemp(prefix="hrqa-bench-", dir=parent))
    target = Path(args.json) if getattr(args, "json", None) else None

    def write(report: dict) -> None:
        if target:
            target.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    try:
        report = run(plan, settings, beir, workdir, checkpoint=write)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write(report)
    print(format_table(report))
    if target:
        print(f"figures written to {target}")
    return 0
