"""Vector index scale on synthetic vectors: build time, single-query latency, recall@10 against exact
search, file size and serving memory of each index type at each size.

    nice -n 10 python benchmarks/vector_scale.py [--sizes 10000 50000] [--types flat ivfsq hnsw]

Queries ask for as many rows as retrieval does (``retrieval.DEFAULT_PARAMETERS.candidates``). Serving memory
is the peak RSS of a fresh process (this script with ``--serve INDEX QUERIES``, under ``python -m
hrqa.bench``) that loads the index and answers the queries, less that of one that only imports the same
modules (``--imports-only``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrqa.bench import PACKAGE_PARENT, Child, note, percentiles, recall_at, run_child, synthetic_vectors, timed

DIMENSION = 384


def _candidates() -> int:
    from hrqa.retrieval import DEFAULT_PARAMETERS

    return DEFAULT_PARAMETERS.candidates


def serve(index_path: Path, queries_path: Path) -> None:
    """The serving process: load the index, answer every query, print the p50 in milliseconds."""
    from hrqa import vectors

    index = vectors.load_vector_index(index_path)
    queries = np.load(queries_path)
    candidates = _candidates()
    for query in queries[:10]:
        vectors.search(index, query, candidates)
    times = [timed(vectors.search, index, query, candidates)[1] for query in queries]
    print(json.dumps({"p50": float(np.median(times))}))


def imports_only() -> None:
    """What the serving process imports, and nothing else: the memory of a process without an index."""
    import faiss  # noqa: F401

    from hrqa import retrieval, vectors  # noqa: F401


def serving_rss(index_path: Path | None, queries_path: Path | None) -> Child:
    """A fresh process that loads the index and answers the queries (or, without an index, only imports)."""
    arguments = ["--serve", str(index_path), str(queries_path)] if index_path else ["--imports-only"]
    paths = [str(PACKAGE_PARENT), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # the same hrqa as this process
    return run_child([sys.executable, str(Path(__file__).resolve()), *arguments], timeout=900, env=env)


def bench_scale(sizes: Sequence[int], types: Sequence[str], queries: int, workdir: Path) -> dict:
    """Each index type at each size: build, latency, recall@10 against exact search, size, serving memory."""
    import faiss

    from hrqa import vectors

    candidates = _candidates()
    rows: list[dict] = []
    empty = serving_rss(None, None)
    for size in sizes:
        note(f"scale: {size:,} synthetic vectors")
        corpus, query_vectors = synthetic_vectors(size, queries, dimension=DIMENSION, seed=size)
        queries_path = workdir / f"queries-{size}.npy"
        np.save(queries_path, query_vectors)
        exact = faiss.IndexFlatIP(corpus.shape[1])
        exact.add(corpus)
        _, truth = exact.search(query_vectors, 10)
        del exact
        for kind in types:
            note(f"scale: {size:,} vectors, {kind}: building")
            index, build_ms = timed(vectors.build_vector_index, corpus, kind)
            for vector in query_vectors[:10]:
                vectors.search(index, vector, candidates)
            found, times = [], []
            for vector in query_vectors:
                (_, ids), elapsed = timed(vectors.search, index, vector, candidates)
                times.append(elapsed)
                found.append(ids[:10])
            path = workdir / f"{size}-{kind}.faiss"
            vectors.save_vector_index(index, path)
            del index
            note(f"scale: {size:,} vectors, {kind}: serving memory")
            served = serving_rss(path, queries_path)
            ok = served.returncode == 0 and served.peak_rss_mb and empty.peak_rss_mb
            rows.append(
                {
                    "vectors": size,
                    "index": kind,
                    "build_s": round(build_ms / 1000, 3),
                    "query_ms": percentiles(times),
                    "recall@10": round(recall_at(np.array(found), truth, 10), 4),
                    "index_mb": round(path.stat().st_size / 2**20, 1),
                    "serving_rss_mb": served.peak_rss_mb if served.returncode == 0 else None,
                    "serving_index_rss_mb": round(served.peak_rss_mb - empty.peak_rss_mb, 1) if ok else None,
                }
            )
            path.unlink()
        del corpus
    return {
        "queries": queries,
        "dimension": DIMENSION,
        "candidates": candidates,
        "process_without_index_rss_mb": empty.peak_rss_mb,
        "rows": rows,
        "parameters": vectors.parameters(),
    }


def format_lines(scale: dict) -> list[str]:
    lines = [
        (
            f"Vector index scale: synthetic normalised vectors, dimension {scale['dimension']}, "
            f"{scale['queries']} queries, {scale['candidates']} rows per query as retrieval asks"
        ),
        (
            f"  {'vectors':>10} {'index':<7}{'build s':>9}{'p50 ms':>8}{'p95 ms':>8}{'recall@10':>11}"
            f"{'file MB':>9}{'serving RSS MB':>16}{'of which index':>16}"
        ),
    ]

    def mb(value) -> str:
        return "–" if value is None else f"{value:,.0f}"

    for row in scale["rows"]:
        lines.append(
            f"  {row['vectors']:>10,} {row['index']:<7}{row['build_s']:>9.1f}{row['query_ms']['p50']:>8.2f}"
            f"{row['query_ms']['p95']:>8.2f}{row['recall@10']:>11.3f}{row['index_mb']:>9.1f}"
            f"{mb(row['serving_rss_mb']):>16}{mb(row['serving_index_rss_mb']):>16}"
        )
    lines.append(
        f"  (a process with numpy, faiss and hrqa imported and no index: "
        f"{mb(scale['process_without_index_rss_mb'])} MB; parameters: {scale['parameters']})"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.bench import workspace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000], help="vectors per index")
    parser.add_argument("--types", nargs="+", default=["flat", "ivfsq", "hnsw"], help="index types")
    parser.add_argument("--queries", type=int, default=200, help="queries per index")
    parser.add_argument("--serve", nargs=2, type=Path, metavar=("INDEX", "QUERIES"), help=argparse.SUPPRESS)
    parser.add_argument("--imports-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(*args.serve)
    elif args.imports_only:
        imports_only()
    else:
        with workspace() as workdir:
            print("\n".join(format_lines(bench_scale(args.sizes, args.types, args.queries, workdir))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
