"""Questions on stdin: the cost of one question to ``hrqa ask --json`` and to the tutorial pipeline's process.

    nice -n 10 python benchmarks/ask_stream.py [--corpus DIR] [--questions 100]

One process each reads the questions, one per line, and prints one JSON line per answer; a question's cost
is the time between the first and the last answer over the answers between (start-up and the first
question's loading are paid once per process and left out). The tutorial pipeline's process is this
script run with ``--tutorial-process FOLDER``: sentence-transformers encodes each question (as a tutorial
does) and ``hrqa.baselines.paragraphs.ParagraphBaseline`` finds the top paragraph among the vectors the
benchmark saved in FOLDER.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrqa.baselines.paragraphs import ParagraphBaseline
from hrqa.bench import child_env, note, percentiles
from hrqa.settings import Settings


def stream_timing(command: Sequence[str], questions: Sequence[str], env: dict[str, str], cwd: Path) -> dict:
    """Feed ``questions`` one per line to ``command`` and time each answer line as it arrives."""
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

    note(f"stdin: hrqa ask --json with {len(questions)} questions")
    env = child_env(settings)
    hrqa = stream_timing([sys.executable, "-m", "hrqa.cli", "ask", "--json"], questions, env, workdir)
    folder = workdir / "stream-baseline"
    folder.mkdir(exist_ok=True)
    (folder / "paragraphs.json").write_text(json.dumps(baseline.paragraphs), encoding="utf-8")
    (folder / "model.txt").write_text(str(resolve_model_path(settings.model)), encoding="utf-8")
    np.save(folder / "vectors.npy", baseline.vectors)
    note(f"stdin: the tutorial pipeline with {len(questions)} questions")
    command = [sys.executable, str(Path(__file__).resolve()), "--tutorial-process", str(folder)]
    base = stream_timing(command, questions, env, workdir)
    result = {"hrqa": hrqa, "baseline": base}
    if hrqa.get("available") and base.get("available"):
        result["hrqa_to_baseline"] = round(hrqa["per_question_ms"] / base["per_question_ms"], 3)
    return result


def tutorial_process(folder: Path) -> None:
    """Answer each stdin line with the top paragraph, as the tutorial pipeline does: the question encoded
    by sentence-transformers, the paragraphs and vectors that ``ask_stream`` saved in ``folder``."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer((folder / "model.txt").read_text(encoding="utf-8"), device="cpu", local_files_only=True)

    def encode(question: str) -> np.ndarray:
        return model.encode([question], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]

    paragraphs = json.loads((folder / "paragraphs.json").read_text(encoding="utf-8"))
    baseline = ParagraphBaseline(paragraphs, np.load(folder / "vectors.npy"), encode)
    for line in sys.stdin:
        question = line.rstrip("\n")
        if question.strip():
            print(json.dumps({"question": question, "paragraph": baseline.answer(question)}), flush=True)


def format_lines(stream: dict) -> list[str]:
    lines = ["Questions on stdin, one process each, cost per question after the first answer"]
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
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.bench import cycle, load_dev_questions, measured_settings, workspace
    from hrqa.corpus import read_corpus
    from hrqa.embedding import load_embedder
    from hrqa.engine import Engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder (default: the sample corpus shipped with hrqa)")
    parser.add_argument("--questions", type=int, default=100, help="questions fed (dev questions, cycled)")
    parser.add_argument("--tutorial-process", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tutorial_process:
        tutorial_process(args.tutorial_process)
        return 0
    settings = Settings.from_env(**({"corpus_dir": Path(args.corpus)} if args.corpus else {}))
    settings = measured_settings(settings, bool(args.corpus))
    embedder = load_embedder(settings.model, settings.batch_size)
    with workspace() as workdir:
        settings = settings.with_(index_dir=workdir / "index")
        note("building the index and the tutorial pipeline")
        Engine.build_index(settings, embedder=embedder, wait=True)
        documents = read_corpus(settings.corpus_dir, settings.max_file_bytes).documents
        baseline = ParagraphBaseline.build(documents, embedder)
        questions = cycle(load_dev_questions() or ["What is this corpus about?"], args.questions)
        result = ask_stream(settings, questions, baseline, workdir)
    print("\n".join(format_lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
