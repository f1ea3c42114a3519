"""What ``hrqa bench`` runs: every section, in order, into one report (and its printed tables).

    hrqa bench --size small [--beir DIR] [--json FILE]      # CI: a SciFact subset, 10k and 50k vectors
    hrqa bench --size full  [--beir DIR] [--json FILE]      # by hand: all of SciFact, up to 1M vectors

The sections, each a script that also runs alone: ``corpus_latency`` (the sample corpus, then SciFact when
a BEIR folder is found, each beside the tutorial pipeline), ``cold_start``, ``ask_stream``,
``encoder_speed``, ``vector_scale``. Later sections reuse what earlier ones built (the sample corpus's
index and tutorial pipeline, SciFact's passages), so one run builds each corpus once.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hrqa_benchmarks import ask_stream, cold_start, corpus_latency, encoder_speed, vector_scale

from hrqa.bench import ANSWER_TO_ENCODING_BUDGET, Plan, cycle, load_beir_queries, load_dev_questions, peak_rss_mb
from hrqa.settings import Settings

#: report entries that hold live objects for later sections, never written
_LIVE = ("engine", "baseline_pipeline")


def _written(report: dict) -> dict:
    """The report without the live objects of its corpora."""
    corpora = {n: {k: v for k, v in c.items() if k not in _LIVE} for n, c in report["corpora"].items()}
    return {k: v for k, v in report.items() if k != "corpora"} | {"corpora": corpora}


def run(
    plan: Plan, settings: Settings, beir: Path | None, workdir: Path, checkpoint: Callable[[dict], None] | None = None
) -> dict:
    """Every section; returns the report (JSON-ready). ``checkpoint`` receives the report after each
    section, so a long run that is stopped still leaves its figures so far."""
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
            checkpoint(_written(report))

    embedder = load_embedder(settings.model, settings.batch_size)
    seeds_settings = settings.with_(index_dir=workdir / "index-seeds")
    scifact_queries = load_beir_queries(beir) if beir else []
    seeds_questions = cycle(load_dev_questions() or scifact_queries or ["What is this corpus about?"], plan.questions)
    with section("seeds"):
        report["corpora"]["seeds"] = corpus_latency.bench_corpus("seeds", seeds_settings, embedder, seeds_questions)

    with section("scifact"):
        if beir:
            view = corpus_latency.scifact_view(beir, workdir / "scifact-corpus", plan.scifact_records)
            scifact_settings = settings.with_(corpus_dir=view, index_dir=workdir / "index-beir-scifact")
            questions = cycle(scifact_queries, plan.questions)
            scifact = corpus_latency.bench_corpus(
                "scifact", scifact_settings, embedder, questions, embed_sentences=False
            )
            scifact["records"] = plan.scifact_records or "all"
            report["corpora"]["scifact"] = scifact
        else:
            report["corpora"]["scifact"] = {"skipped": "no BEIR SciFact folder (give --beir DIR)"}
    report["memory"] = {"peak_rss_mb_after_corpora": peak_rss_mb()}

    with section("cold_start"):
        report["cold_start"] = {
            "ask": cold_start.cold_ask(seeds_settings, seeds_questions[0], plan.cold_runs),
            "app": cold_start.app_ready(seeds_settings, plan.app_timeout_s),
        }

    with section("stream"):
        baseline = report["corpora"]["seeds"]["baseline_pipeline"]
        questions = seeds_questions[: plan.stream_questions]
        report["stream"] = ask_stream.ask_stream(seeds_settings, questions, baseline, workdir)

    with section("embedding"):
        texts = _embedding_texts(report, plan.embedding_texts)
        questions = seeds_questions[:100]
        report["embedding"] = encoder_speed.embedding_speed(embedder, texts, plan.embedding_batches, questions)
    for corpus in report["corpora"].values():
        for key in _LIVE:
            corpus.pop(key, None)  # free the indexes before the scale section allocates
    report["memory"]["peak_rss_mb_after_embedding"] = peak_rss_mb()

    with section("scale"):
        report["scale"] = vector_scale.bench_scale(plan.scale_sizes, plan.scale_types, plan.scale_queries, workdir)
    report["memory"]["peak_rss_mb_bench_process"] = peak_rss_mb()
    report["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _embedding_texts(report: dict, count: int) -> list[str]:
    """Passages of SciFact (else the seeds) as the build embeds them."""
    for name in ("scifact", "seeds"):
        engine = report["corpora"].get(name, {}).get("engine")
        if engine is not None:
            return encoder_speed.passage_texts(engine.index, count)
    return []


def format_table(report: dict) -> str:
    """The report as plain-text tables (what ``hrqa bench`` prints)."""
    machine = report["machine"]
    memory = report["memory"]
    lines = [
        (
            f"hrqa bench --size {report['size']} · {machine['cpus']} cores · torch {machine['torch']} "
            f"({machine['torch_threads']} threads) · faiss {machine['faiss']} · load average "
            f"{machine['load_average_start'][0]} at start, {machine.get('load_average_end', ['?'])[0]} at end"
        ),
        "",
        *corpus_latency.format_lines(report["corpora"]),
        "",
        "Cold start and memory",
        *cold_start.format_lines(report["cold_start"]),
        (
            f"  peak RSS of this process: {memory['peak_rss_mb_after_corpora']:.0f} MB after both corpora "
            f"(model, indexes, baseline); {memory['peak_rss_mb_bench_process']:.0f} MB after the scale section"
        ),
        "",
        *ask_stream.format_lines(report.get("stream", {})),
        "",
        *encoder_speed.format_lines(report["embedding"]),
        "",
        *vector_scale.format_lines(report["scale"]),
        "",
        "Sections (seconds, 1-minute load average at start → end): "
        + "; ".join(
            f"{name} {v['seconds']:.0f} s ({v['load_average_start']:.1f} → {v['load_average_end']:.1f})"
            for name, v in report.get("sections", {}).items()
        ),
        f"measured in {report['seconds']:.0f} s; repeat with: hrqa bench --size {report['size']} --json FILE",
    ]
    return "\n".join(lines)
