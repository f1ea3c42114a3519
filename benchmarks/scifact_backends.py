"""SciFact nDCG@10 through the local backend and through Qdrant (in-memory), from one built index.

    nice -n 10 python benchmarks/scifact_backends.py ../shared/beir/scifact /tmp/scifact

Builds the SciFact index (5,183 abstracts, passages only, as ``hrqa eval --beir`` does) under
``WORK/index``, publishes that snapshot as a Qdrant generation in this process (``qdrant_client``
``:memory:``, the client code that talks to a cluster), encodes each test query once and scores both
backends with the configuration ``Engine.ask`` retrieves with (``retrieval.DEFAULT_PARAMETERS``) and
``hrqa eval``'s own ranking and metrics, so any difference is the backend's.

Embedding the abstracts is the slow part (15-30 min on a loaded 2-core machine): passage vectors are
kept in ``WORK/vectors.npz`` by text hash, so a rerun (after an index format change, say) embeds
nothing again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class CachedEmbedder:
    """An embedder whose ``embed`` keeps every vector in an ``.npz`` file by text hash (saved after each
    chunk, so an interrupted run keeps what it embedded)."""

    CHUNK = 512

    def __init__(self, embedder, path: Path) -> None:
        self._embedder, self._path = embedder, path
        self.name, self.dimension = embedder.name, embedder.dimension
        self._known: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as saved:
                self._known = dict(zip(saved["hashes"].tolist(), saved["vectors"], strict=True))

    @property
    def fingerprint(self) -> str:
        return self._embedder.fingerprint

    def embed_query(self, text: str) -> np.ndarray:
        return self._embedder.embed_query(text)

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        keys = [hashlib.sha1(text.encode("utf-8")).hexdigest() for text in texts]
        missing = sorted({key: i for i, key in enumerate(keys) if key not in self._known}.values())
        for start in range(0, len(missing), self.CHUNK):
            rows = missing[start : start + self.CHUNK]
            fresh = self._embedder.embed([texts[i] for i in rows])
            self._known.update((keys[i], fresh[j]) for j, i in enumerate(rows))
            self._save()
            if progress:
                progress(min(start + self.CHUNK, len(missing)), len(missing))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = self._known[key]
        return out

    def _save(self) -> None:
        hashes = list(self._known)
        temporary = self._path.with_name(self._path.stem + ".tmp.npz")
        np.savez(temporary, hashes=np.array(hashes), vectors=np.stack([self._known[h] for h in hashes]))
        temporary.replace(self._path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("beir", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/)")
    parser.add_argument("work", type=Path, help="folder for the index, its corpus view and the vector cache")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    from qdrant_client import QdrantClient

    from hrqa import retrieval, store
    from hrqa.backends.local import LocalBackend
    from hrqa.backends.qdrant import QdrantBackend, publish_snapshot
    from hrqa.embedding import load_embedder
    from hrqa.engine import Engine
    from hrqa.evaluation import _place_corpus, load_qrels, ndcg_at_k, recall_at_k
    from hrqa.settings import Settings

    parameters = retrieval.DEFAULT_PARAMETERS  # what Engine.ask and hrqa eval --beir retrieve with
    work = args.work
    corpus_view = work / "corpus"
    corpus_view.mkdir(parents=True, exist_ok=True)
    _place_corpus(args.beir / "corpus.jsonl", corpus_view / "corpus.jsonl")
    settings = Settings().with_(corpus_dir=corpus_view, index_dir=work / "index")
    embedder = CachedEmbedder(load_embedder(settings.model, settings.batch_size), work / "vectors.npz")

    def progress(stage: str, done: int, total: int) -> None:
        if stage.startswith("embedding") and (done == total or done % 1024 == 0):
            print(f"{stage} {done}/{total}", flush=True)

    mark = time.perf_counter()
    build = Engine.build_index(settings, embedder=embedder, progress=progress, wait=True, embed_sentences=False)
    build_s = time.perf_counter() - mark
    index = store.load_index(settings.index_dir)
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
    vectors = {q: embedder.embed_query(queries[q]) for q in query_ids}

    report: dict = {
        "queries": len(query_ids),
        "passages": len(index.passages),
        "retrieval": parameters.to_json(),
        "build_s": round(build_s, 1),
        "passages_embedded": build.passages_embedded,
        "qdrant_upload_s": round(upload_s, 1),
    }
    rankings: dict[str, list[list[str]]] = {}
    for name, backend in backends.items():
        ndcgs, recalls, latencies, ranked_lists = [], [], [], []
        for q in query_ids:
            mark = time.perf_counter()
            # as Engine.search: the documents of every passage ask ranks before its diversity step
            hits = retrieval.search(backend, vectors[q], queries[q], parameters.candidates, parameters=parameters)
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
    report["same_top10_documents"] = sum(a == b for a, b in zip(first, second, strict=True))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
