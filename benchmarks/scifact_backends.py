"""SciFact nDCG@10 through the local backend and through Qdrant (in-memory), from one built index.

    HRQA_BACKEND=local nice -n 10 hrqa eval --beir ../shared/beir/scifact --beir-index /tmp/scifact/index
    nice -n 10 python benchmarks/scifact_backends.py ../shared/beir/scifact /tmp/scifact/index

The first command builds (embeds 5,183 abstracts) and scores the local backend; this script loads
that snapshot, publishes it as a Qdrant generation in this process (``qdrant_client`` ``:memory:``,
the client code that talks to a cluster), encodes each test query once and scores both backends with
``hrqa eval``'s own ranking and metrics, so any difference is the backend's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("beir", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("index_dir", type=Path, help="the index hrqa eval --beir built")
    parser.add_argument("--split", default="test")
    parser.add_argument("--candidates", type=int, default=300, help="as hrqa eval --beir")
    args = parser.parse_args()

    from qdrant_client import QdrantClient

    from hrqa import retrieval, store
    from hrqa.backends.local import LocalBackend
    from hrqa.backends.qdrant import QdrantBackend, publish_snapshot
    from hrqa.embedding import load_embedder
    from hrqa.evaluation import load_qrels, ndcg_at_k, recall_at_k
    from hrqa.settings import Settings

    settings = Settings()
    index = store.load_index(args.index_dir)
    index.wait_verified()
    mark = time.perf_counter()
    client = QdrantClient(location=":memory:")
    publish_snapshot(index, client, prefix="scifact")
    upload_s = time.perf_counter() - mark
    backends = {"local": LocalBackend(index), "qdrant (in-memory)": QdrantBackend(client, prefix="scifact")}

    queries = {}
    with (args.beir / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            queries[str(record["_id"])] = record["text"]
    qrels = load_qrels(args.beir / f"qrels/{args.split}.tsv")
    query_ids = [q for q in qrels if q in queries]
    embedder = load_embedder(settings.model, settings.batch_size)
    vectors = {q: embedder.embed_query(queries[q]) for q in query_ids}

    report: dict = {"queries": len(query_ids), "passages": len(index.passages), "qdrant_upload_s": round(upload_s, 1)}
    rankings: dict[str, list[list[str]]] = {}
    for name, backend in backends.items():
        ndcgs, recalls, latencies, ranked_lists = [], [], [], []
        for q in query_ids:
            mark = time.perf_counter()
            hits = retrieval.search(backend, vectors[q], queries[q], args.candidates, candidates=args.candidates)
            latencies.append((time.perf_counter() - mark) * 1000)
            ranked = [doc.split("#", 1)[1] for doc, _ in retrieval.document_ranking(hits)]
            ranked_lists.append(ranked[:10])
            ndcgs.append(ndcg_at_k(ranked, qrels[q], 10))
            recalls.append(recall_at_k(ranked, qrels[q], 100))
        rankings[name] = ranked_lists
        report[name] = {
            "ndcg@10": round(statistics.fmean(ndcgs), 4),
            "recall@100": round(statistics.fmean(recalls), 4),
            "search_ms_p50": round(statistics.median(latencies), 1),
        }
    first, second = rankings.values()
    report["same_top10_documents"] = sum(a == b for a, b in zip(first, second))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
