"""hrqa bench: the measuring helpers exactly, the sections as scripts (by path and from the package), and
one small run end to end for the shape and sanity of its figures. No timing thresholds here: timings
belong in the benchmark's output, not in tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from hrqa import bench


def test_percentiles_nearest_rank():
    figures = bench.percentiles([float(x) for x in range(1, 101)])
    assert figures == {"p50": 50.0, "p95": 95.0, "mean": 50.5, "n": 100}
    assert bench.percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "mean": 7.0, "n": 1}
    assert math.isnan(bench.percentiles([])["p50"])


def test_cycle_repeats_round_robin():
    assert bench.cycle(["a", "b", "c"], 7) == ["a", "b", "c", "a", "b", "c", "a"]
    assert bench.cycle([], 3) == []


def test_recall_at_counts_shared_rows():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 2, 9], [7, 8, 9]])
    assert bench.recall_at(found, truth, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert bench.recall_at(truth, truth, 3) == 1.0


def test_synthetic_vectors_are_normalised_reproducible_and_clustered():
    corpus, queries = bench.synthetic_vectors(2000, 50, dimension=64, seed=3)
    assert corpus.shape == (2000, 64) and queries.shape == (50, 64)
    assert corpus.dtype == np.float32 and queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(corpus, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    again, _ = bench.synthetic_vectors(2000, 50, dimension=64, seed=3)
    np.testing.assert_array_equal(corpus, again)
    # clustered: a query's nearest passage is much closer than an average passage
    scores = queries @ corpus.T
    assert float(scores.max(axis=1).mean()) > float(scores.mean()) + 0.2


def test_plan_sizes_and_unknown_size():
    small, full = bench.Plan.for_size("small"), bench.Plan.for_size("full")
    assert small.questions >= 100 and full.questions >= 100
    assert full.scale_sizes == (10_000, 100_000, 1_000_000)
    assert max(small.scale_sizes) < 100_000
    assert {"flat", "ivfsq", "hnsw"} <= set(full.scale_types) and {"flat", "hnsw"} <= set(small.scale_types)
    with pytest.raises(ValueError, match="choose one of: small, full"):
        bench.Plan.for_size("huge")


def test_load_beir_queries_keeps_judged_queries_in_order(tmp_path: Path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "text": f"query {i}"}) for i in ("1", "2", "3")) + "\n", encoding="utf-8"
    )
    (tmp_path / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n3\td1\t1\n1\td2\t1\n3\td3\t1\n", encoding="utf-8"
    )
    assert bench.load_beir_queries(tmp_path) == ["query 3", "query 1"]
    (tmp_path / "qrels" / "test.tsv").unlink()
    assert bench.load_beir_queries(tmp_path) == ["query 1", "query 2", "query 3"]


def test_app_ready_says_not_available_without_app(tmp_path: Path):
    from hrqa_benchmarks.cold_start import app_ready

    from hrqa.settings import Settings

    result = app_ready(Settings(index_dir=tmp_path / "index"), 5, app=tmp_path / "app.py")
    assert result["available"] is False
    assert "not available" in result["reason"]


def test_run_child_reports_exit_code_output_cpu_and_own_peak_memory(tmp_path: Path):
    import os
    import sys

    (tmp_path / "hrqa_bench_probe.py").write_text("import sys\nprint('hello')\nsys.exit(3)\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    child = bench.run_child([sys.executable, "-m", "hrqa_bench_probe"], env=env)
    assert child.returncode == 3
    assert child.stdout.strip() == "hello"
    assert "hrqa-bench-peak-kb" not in child.stderr
    # the child's own high-water mark: a bare interpreter, far below this test process's
    assert 1 < child.peak_rss_mb < bench.peak_rss_mb()
    assert child.seconds > 0 and child.cpu_seconds >= 0
    assert bench.run_child([sys.executable, "-c", "pass"]).peak_rss_mb is None
    # a script by path: its own folder first on sys.path, as ``python script.py`` has it
    (tmp_path / "probe_script.py").write_text(
        "import sys\nimport hrqa_bench_probe_sibling\nprint(sys.argv[1:])\n", encoding="utf-8"
    )
    (tmp_path / "hrqa_bench_probe_sibling.py").write_text("", encoding="utf-8")
    child = bench.run_child([sys.executable, str(tmp_path / "probe_script.py"), "a", "b"], cwd=Path("/"))
    assert (child.returncode, child.stdout.strip()) == (0, "['a', 'b']"), child.stderr
    assert child.peak_rss_mb is not None and child.peak_rss_mb > 1


SECTIONS = ("corpus_latency", "cold_start", "ask_stream", "encoder_speed", "vector_scale")


@pytest.mark.parametrize("name", SECTIONS)
def test_each_section_is_a_script_that_runs_by_path_and_from_the_package(name: str):
    """``python benchmarks/NAME.py`` in the source tree and ``hrqa_benchmarks.NAME`` wherever hrqa is
    installed (the wheel carries the folder): the same file, and its own command line."""
    import importlib
    import subprocess
    import sys

    module = importlib.import_module(f"hrqa_benchmarks.{name}")
    script = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    assert Path(module.__file__).resolve() == script
    assert callable(module.main) and callable(module.format_lines)
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], check=False, capture_output=True, text=True, cwd="/"
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: ") and (module.__doc__ or "").splitlines()[0] in " ".join(
        shown.stdout.split()
    )


def test_the_scale_section_serves_an_index_in_a_fresh_process(tmp_path: Path):
    from hrqa_benchmarks import vector_scale

    from hrqa import vectors

    corpus, queries = bench.synthetic_vectors(1000, 20, dimension=32, seed=4)
    vectors.save_vector_index(vectors.build_vector_index(corpus, "flat"), tmp_path / "v.faiss")
    np.save(tmp_path / "q.npy", queries)
    served = vector_scale.serving_rss(tmp_path / "v.faiss", tmp_path / "q.npy")
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["p50"] > 0 and served.peak_rss_mb > 1
    bare = vector_scale.serving_rss(None, None)
    assert bare.returncode == 0 and bare.stdout == "" and bare.peak_rss_mb > 1


# ----------------------------------------------------------------------------- the backends the scale section measures


def test_choose_index_type_exact_while_small_then_the_large_type():
    from hrqa import vectors
    from hrqa.settings import IndexType

    assert vectors.choose_index_type(IndexType.AUTO, 200_000, 200_000) is IndexType.FLAT
    assert vectors.choose_index_type(IndexType.AUTO, 200_001, 200_000) is vectors.LARGE_INDEX_TYPE
    assert vectors.choose_index_type(IndexType.IVFPQ, 10, 200_000) is IndexType.IVFPQ


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq", "ivfsq"])
def test_quantised_indexes_fall_back_to_exact_below_the_training_minimum(kind: str):
    import faiss

    from hrqa import vectors

    corpus, queries = bench.synthetic_vectors(500, 5, dimension=32, seed=1)
    index = vectors.build_vector_index(corpus, kind)
    assert isinstance(index, faiss.IndexFlatIP) and index.ntotal == 500
    _, rows = vectors.search(index, queries[0], 3)
    np.testing.assert_array_equal(rows, np.argsort(-(corpus @ queries[0]))[:3])


@pytest.mark.parametrize("kind", ["hnsw", "ivfsq"])
def test_quantised_indexes_find_the_exact_neighbours_and_survive_a_round_trip(kind: str, tmp_path: Path):
    from hrqa import vectors
    from hrqa.retrieval import CANDIDATES

    corpus, queries = bench.synthetic_vectors(vectors.MIN_TRAINED_ROWS, 50, dimension=64, seed=2)
    truth = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]
    index = vectors.build_vector_index(corpus, kind)
    assert type(index).__name__ == {"hnsw": "IndexHNSWSQ", "ivfsq": "IndexIVFScalarQuantizer"}[kind]
    found = np.array([vectors.search(index, q, CANDIDATES)[1][:10] for q in queries])
    assert bench.recall_at(found, truth, 10) >= 0.95
    vectors.save_vector_index(index, tmp_path / "vectors.faiss")
    loaded = vectors.load_vector_index(tmp_path / "vectors.faiss")
    again = np.array([vectors.search(loaded, q, CANDIDATES)[1][:10] for q in queries])
    np.testing.assert_array_equal(found, again)


# ----------------------------------------------------------------------------- one small run, end to end


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """``hrqa bench --size small --json FILE`` in-process; the figures and the printed table. In CI, the
    figures of the same command run from an installed wheel just before (.ci/run sets CI_BENCH_JSON)."""
    import os

    from hrqa import cli

    earlier = os.environ.get("CI_BENCH_JSON")
    if earlier and Path(earlier).is_file():
        return json.loads(Path(earlier).read_text(encoding="utf-8"))
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    code = cli.main(["bench", "--size", "small", "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def _sane_latency(figures: dict) -> None:
    assert figures["n"] >= 100
    assert 0 < figures["p50"] <= figures["p95"]


@pytest.mark.slow
def test_small_run_corpora(small_run: dict):
    assert small_run["size"] == "small"
    assert set(small_run["corpora"]) == {"seeds", "scifact"}
    for name, corpus in small_run["corpora"].items():
        if "skipped" in corpus:
            assert name == "scifact"  # only when no BEIR folder sits beside the repository
            continue
        build = corpus["build"]
        assert build["documents"] > 0 and build["passages"] >= build["documents"] // 2
        assert set(build["timings_s"]) >= {"read_s", "chunk_s", "embed_s", "index_s", "write_s"}
        assert build["documents_per_s"] > 0 and build["passages_per_s"] > 0
        assert sum(build["timings_s"].values()) <= build["seconds"] * 1.01
        query = corpus["query"]
        for measure in ("encode_ms", "search_ms", "ask_ms"):
            _sane_latency(query[measure])
        assert query["ask_to_encode_p50"] == pytest.approx(query["ask_ms"]["p50"] / query["encode_ms"]["p50"], rel=1e-2)
        assert isinstance(query["within_budget"], bool)
        assert set(query["ask_parts_p50_ms"]) == {"encode", "retrieve", "answer"}
        baseline = corpus["baseline"]
        assert baseline["paragraphs"] > 0 and baseline["seconds"] > 0
        _sane_latency(baseline["query_ms"])
        assert corpus["hrqa_vs_baseline"]["query_p50"] > 0
    assert small_run["corpora"]["seeds"]["build"]["sentence_vectors"] is True
    scifact = small_run["corpora"]["scifact"]
    if "build" in scifact:
        assert scifact["build"]["sentence_vectors"] is False
        assert scifact["build"]["documents"] == 300


@pytest.mark.slow
def test_small_run_cold_start_and_memory(small_run: dict):
    ask = small_run["cold_start"]["ask"]
    assert ask["available"], ask.get("reason")
    assert ask["median_s"] > 0 and ask["peak_rss_mb"] > 50
    app = small_run["cold_start"]["app"]
    if app["available"]:
        assert app["ready_s"] > 0 and 100 <= app["status"] < 600
    else:
        assert app["reason"]
    memory = small_run["memory"]
    assert 100 < memory["peak_rss_mb_after_corpora"] <= memory["peak_rss_mb_bench_process"]


@pytest.mark.slow
def test_small_run_embedding_options(small_run: dict):
    embedding = small_run["embedding"]
    assert embedding["available"]
    options = {(row["backend"], row["threads"], row["batch"]) for row in embedding["rows"]}
    assert {("torch", 1, 16), ("onnx", 1, 16), ("torch", 1, 64), ("onnx", 1, 64)} <= options
    assert all(row["texts_per_s"] > 0 and row["gflops"] > 0 for row in embedding["rows"])
    assert embedding["onnx_vs_torch"]["max_abs_difference"] <= 1e-5
    int8 = embedding["int8"]
    if int8["available"]:
        assert 0.5 < int8["cosine_to_fp32_mean"] <= 1.0001
    query = embedding["query"]
    assert {"onnx, 1 thread", "torch (sentence-transformers)", "numpy forward pass (hrqa before ONNX Runtime)"} <= set(
        query["ms"]
    )
    for figures in query["ms"].values():
        assert 0 < figures["p50"] <= figures["p95"]


@pytest.mark.slow
def test_small_run_questions_on_stdin(small_run: dict):
    stream = small_run["stream"]
    for name in ("hrqa", "baseline"):
        assert stream[name]["available"], stream[name].get("reason")
        assert stream[name]["questions"] == 100 and stream[name]["answered"] == 100
        assert 0 < stream[name]["per_question_ms"] and stream[name]["first_answer_s"] < stream[name]["wall_s"]
    assert stream["hrqa_to_baseline"] > 0


@pytest.mark.slow
def test_small_run_scale(small_run: dict):
    scale = small_run["scale"]
    sizes = {row["vectors"] for row in scale["rows"]}
    assert sizes == {10_000, 50_000}
    for row in scale["rows"]:
        assert row["build_s"] >= 0 and 0 < row["query_ms"]["p50"] <= row["query_ms"]["p95"]
        assert 0 <= row["recall@10"] <= 1
        assert row["index_mb"] > 0 and row["serving_rss_mb"] > 0
        if row["index"] == "flat":
            assert row["recall@10"] >= 0.99  # exact against exact
    hnsw = [r for r in scale["rows"] if r["index"] == "hnsw"]
    assert len(hnsw) == 2 and hnsw[0]["index_mb"] < hnsw[1]["index_mb"]


@pytest.mark.slow
def test_small_run_table_mentions_every_section(small_run: dict):
    table = bench.format_table(small_run)
    for heading in (
        "Index build",
        "Query latency",
        "Cold start and memory",
        "Questions on stdin",
        "Encoding passages (build path)",
        "Encoding one question",
        "Vector index scale",
        "hrqa bench --size small",
    ):
        assert heading in table


@pytest.mark.slow
def test_the_concurrency_script_compares_both_thread_settings(real_engine):
    """``benchmarks/concurrent_threads.py`` (run by hand): every engine answers, each setting is reported."""
    from hrqa_benchmarks import concurrent_threads

    questions = ["Which two media outlets interviewed Professor Gong Xianghe?", "Where was the 23rd seminar held?"]
    result = concurrent_threads.measure(real_engine.settings, questions, count=3, rounds=1)
    assert set(result["questions_per_s"]) == set(concurrent_threads.THREADS_ALONE) == {1, 2}
    assert all(len(rates) == 1 and rates[0] > 0 for rates in result["questions_per_s"].values())
    assert all(figures["p50"] > 0 for figures in result["one_at_a_time_ms"].values())
