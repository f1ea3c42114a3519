"""Index build and warm query latency of one corpus, beside the tutorial pipeline over the same documents.

    nice -n 10 python benchmarks/corpus_latency.py [--corpus DIR] [--questions 100]

Builds the corpus (default: the sample corpus shipped with hrqa) into a fresh temporary index, then times,
interleaved so that drifting load affects every measure alike: encoding the question, ``Engine.search``,
``Engine.ask`` (with its own split: encode, retrieve, answer) and the tutorial pipeline
(``hrqa.baselines.paragraphs``: MiniLM + IndexFlatIP over paragraphs, the top paragraph as the answer).
``hrqa bench`` runs this for the sample corpus and a SciFact subset.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from hrqa.baselines.paragraphs import ParagraphBaseline
from hrqa.bench import ANSWER_TO_ENCODING_BUDGET, cycle, load_dev_questions, note, percentiles, timed
from hrqa.settings import Settings


def bench_corpus(
    name: str, settings: Settings, embedder, questions: Sequence[str], *, embed_sentences: bool = True
) -> dict:
    """Build ``settings.corpus_dir`` into a fresh ``settings.index_dir``, then time queries warm, in-process,
    beside the paragraph baseline over the same corpus and questions. The result holds the open engine and
    the baseline (``engine``, ``baseline_pipeline``) for later sections; they are dropped before writing."""
    from hrqa.corpus import read_corpus
    from hrqa.engine import Engine

    note(f"{name}: building the index ({'with' if embed_sentences else 'without'} sentence vectors)")
    report = Engine.build_index(settings, embedder=embedder, wait=True, embed_sentences=embed_sentences)
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

    note(f"{name}: baseline build (read, paragraphs, embed, IndexFlatIP)")
    started = time.perf_counter()
    documents = read_corpus(settings.corpus_dir, settings.max_file_bytes).documents
    baseline = ParagraphBaseline.build(documents, embedder)
    seconds = time.perf_counter() - started
    baseline_build = {
        "documents": len(documents),
        "paragraphs": len(baseline.paragraphs),
        "seconds": round(seconds, 3),
        "paragraphs_per_s": round(len(baseline.paragraphs) / seconds, 2) if seconds else None,
    }

    note(f"{name}: timing {len(questions)} questions")
    for question in questions[:5]:  # warm up: first calls allocate and fill caches
        engine.ask(question)
        baseline.answer(question)
    encode, search, ask, base = [], [], [], []
    parts: dict[str, list[float]] = {"encode": [], "retrieve": [], "answer": []}
    abstained = 0
    for question in questions:  # interleaved, so drifting load affects every measure alike
        encode.append(timed(embedder.embed_query, question)[1])
        search.append(timed(engine.search, question, 10)[1])
        answer, elapsed = timed(engine.ask, question)
        ask.append(elapsed)
        abstained += answer.abstained
        for part, values in parts.items():
            values.append(answer.timings_ms.get(part, float("nan")))
        base.append(timed(baseline.answer, question)[1])
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
        "engine": engine,
        "baseline_pipeline": baseline,
    }


def scifact_view(beir: Path, folder: Path, records: int | None) -> Path:
    """A corpus folder holding SciFact's corpus.jsonl (a hard link or a copy) or its first ``records`` lines."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "corpus.jsonl"
    if records is None:  # not a symbolic link: the corpus stage refuses links that leave the folder
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


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _pair(m: dict) -> str:
    return f"{m['p50']:.1f}/{m['p95']:.1f}"


def format_lines(corpora: dict) -> list[str]:
    """The "Index build" and "Query latency" tables of ``corpora`` (name → ``bench_corpus`` result, or
    ``{"skipped": reason}``)."""
    lines = ["Index build"]
    lines.append(
        f"  {'corpus':<10}{'docs':>7}{'passages':>10}{'docs/s':>9}{'pass/s':>9}{'read s':>8}"
        f"{'chunk s':>9}{'embed s':>9}{'index s':>9}{'write s':>9}{'total s':>9}  │ baseline: "
        f"{'paras':>6}{'total s':>9}"
    )
    built = {k: v for k, v in corpora.items() if "build" in v}
    for name, corpus in built.items():
        build, timing, base = corpus["build"], corpus["build"]["timings_s"], corpus["baseline"]
        lines.append(
            f"  {name:<10}{build['documents']:>7,}{build['passages']:>10,}{_fmt(build['documents_per_s']):>9}"
            f"{_fmt(build['passages_per_s']):>9}{_fmt(timing.get('read_s'), 2):>8}"
            f"{_fmt(timing.get('chunk_s'), 2):>9}{_fmt(timing.get('embed_s'), 2):>9}"
            f"{_fmt(timing.get('index_s'), 2):>9}{_fmt(timing.get('write_s'), 2):>9}"
            f"{_fmt(build['seconds'], 2):>9}  │ {'':>10}{base['paragraphs']:>6,}{_fmt(base['seconds'], 2):>9}"
        )
    for name, corpus in corpora.items():
        if "skipped" in corpus:
            lines.append(f"  {name:<10}skipped: {corpus['skipped']}")
    lines.append("  (seeds with sentence vectors, SciFact without; baseline = read + split + embed + IndexFlatIP)")
    lines.append("")
    lines.append("Query latency, warm, in-process (ms)")
    lines.append(
        f"  {'corpus':<10}{'n':>5}{'encode p50/p95':>17}{'search p50/p95':>17}{'answer p50/p95':>17}"
        f"{'answer/encode':>15}{'baseline p50/p95':>19}{'hrqa/baseline':>15}"
    )
    for name, corpus in built.items():
        q, b = corpus["query"], corpus["baseline"]["query_ms"]
        mark = "ok" if q["within_budget"] else "OVER"
        lines.append(
            f"  {name:<10}{q['questions']:>5}{_pair(q['encode_ms']):>17}{_pair(q['search_ms']):>17}"
            f"{_pair(q['ask_ms']):>17}{q['ask_to_encode_p50']:>10.2f} {mark:<4}{_pair(b):>19}"
            f"{corpus['hrqa_vs_baseline']['query_p50']:>15.2f}"
        )
        parts = q["ask_parts_p50_ms"]
        lines.append(
            f"  {'':<10}answer p50 split: encode {parts['encode']:.1f} · retrieve {parts['retrieve']:.1f} · "
            f"extract {parts['answer']:.1f} · baseline/encode {corpus['baseline']['query_to_encode_p50']:.2f}"
        )
    lines.append(f"  (budget: answer p50 ≤ {ANSWER_TO_ENCODING_BUDGET} × encode p50)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.bench import measured_settings, workspace
    from hrqa.embedding import load_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder (default: the sample corpus shipped with hrqa)")
    parser.add_argument("--questions", type=int, default=100, help="questions timed (dev questions, cycled)")
    parser.add_argument("--no-sentence-vectors", action="store_true", help="build without sentence vectors")
    args = parser.parse_args(argv)
    settings = Settings.from_env(**({"corpus_dir": Path(args.corpus)} if args.corpus else {}))
    settings = measured_settings(settings, bool(args.corpus))
    embedder = load_embedder(settings.model, settings.batch_size)
    questions = cycle(load_dev_questions() or ["What is this corpus about?"], args.questions)
    with workspace() as workdir:
        result = bench_corpus(
            "corpus",
            settings.with_(index_dir=workdir / "index"),
            embedder,
            questions,
            embed_sentences=not args.no_sentence_vectors,
        )
    print("\n".join(format_lines({"corpus": result})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
