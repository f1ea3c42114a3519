"""The local engine at scale: build a synthetic index of N passages, then measure Engine.ask end to end.

    nice -n 10 python benchmarks/million.py --passages 20000            # quick (about a minute)
    nice -n 10 python benchmarks/million.py --passages 1000000          # by hand: the issue's figures

The passages have real text shapes (sentences drawn from the seed documents, four to a passage with
one shared, as hrqa chunks) and random normalised vectors (no embedding), written through
``store.write_snapshot`` as a build would. The measurement runs in a fresh process: ``Engine.open``
(load and verify), then every dev.jsonl question asked with one fixed query vector, so the figures are
hrqa beyond the query encoder: retrieval, the answer step (with a stand-in reader of constant cost:
the trained reader's time does not depend on the corpus size) and citations. Targets (issue 11):
ask p50 <= 50 ms beyond the encoder, peak memory <= 4 GB, open <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENTENCES_PER_DOCUMENT = 12  # four passages of four sentences, one shared between neighbours
DIMENSION = 384


def sentence_pool() -> list[str]:
    """Sentences of the seed documents: the text shapes (lengths, names, numbers) of the real corpus."""
    pool: list[str] = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            pool += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.strip()) > 20]
    return pool


def build(folder: Path, passages: int, index_type: str, seed: int = 0) -> dict:
    from hrqa import vectors
    from hrqa.chunking import embedding_text
    from hrqa.lexical import LexicalIndex
    from hrqa.records import Document, Passage, Span
    from hrqa.settings import Settings
    from hrqa.store import _document_record, _text_hash, write_snapshot

    rng = np.random.default_rng(seed)
    pool = sentence_pool()
    settings = Settings()
    documents_count = max(1, passages // 4)
    started = time.perf_counter()
    documents, store_passages, store_sentences, texts = (
        [],
        {k: [] for k in ["id", "doc", "start", "end", "first", "last", "heading", "hash"]},
        {k: [] for k in ["doc", "start", "end", "item", "hash"]},
        [],
    )
    for number in range(documents_count):
        chosen = [pool[i] for i in rng.integers(0, len(pool), SENTENCES_PER_DOCUMENT)]
        text, spans = "", []
        for position, sentence in enumerate(chosen):
            if position and position % 5 == 0:
                text += "\n\n"
            elif position:
                text += " "
            spans.append((len(text), len(text) + len(sentence)))
            text += sentence
        doc_id = f"doc{number:07d}.txt"
        document = Document(
            doc_id, text, _text_hash(text), f"Document {number}", kind=("NGO", "government", None)[number % 3]
        )
        documents.append(document)
        for position, (start, end) in enumerate(spans):
            store_sentences["doc"].append(number)
            store_sentences["start"].append(start)
            store_sentences["end"].append(end)
            store_sentences["item"].append(0)
            store_sentences["hash"].append(_text_hash(text[start:end]))
        for first in range(0, SENTENCES_PER_DOCUMENT - 1, 3):
            last = min(first + 3, SENTENCES_PER_DOCUMENT - 1)
            passage = Passage(f"{number}-{first}", doc_id, Span(spans[first][0], spans[last][1]), first, last)
            passage_text = embedding_text(document, passage)
            texts.append(passage_text)
            for key, value in zip(
                ("id", "doc", "start", "end", "first", "last", "heading", "hash"),
                (passage.id, number, passage.span.start, passage.span.end, first, last, "", _text_hash(passage_text)),
            ):
                store_passages[key].append(value)
    chunk_s = time.perf_counter() - started

    def unit_vectors(count: int) -> np.ndarray:
        out = np.empty((count, DIMENSION), dtype=np.float32)
        for start in range(0, count, 100_000):
            block = rng.standard_normal((min(100_000, count - start), DIMENSION), dtype=np.float32)
            out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    mark = time.perf_counter()
    passage_vectors = unit_vectors(len(texts))
    sentence_vectors = unit_vectors(len(store_sentences["doc"]))
    vector_index = vectors.build_vector_index(passage_vectors, index_type)
    vectors_s = time.perf_counter() - mark
    mark = time.perf_counter()
    lexical = LexicalIndex.build(texts)
    lexical_s = time.perf_counter() - mark
    manifest = {
        "format_version": 1,
        "id": f"bench-{len(texts)}",
        "built_at": "synthetic",
        "model": {"name": "fixed-vector", "fingerprint": "fixed-vector", "dimension": DIMENSION},
        "chunking": settings.chunking,
        "index_type": index_type,
        "corpus_dir": "",
        "corpus_files": {},
        "documents": {d.id: d.sha256 for d in documents},
        "counts": {
            "documents": len(documents),
            "passages": len(texts),
            "sentences": len(store_sentences["doc"]),
            "boilerplate_lines": 0,
        },
        "sentence_vectors": True,
    }
    store = {
        "documents": [_document_record(d) for d in documents],
        "passages": store_passages,
        "sentences": store_sentences,
    }
    del documents, texts
    mark = time.perf_counter()
    write_snapshot(folder, manifest, store, passage_vectors, sentence_vectors, vector_index, lexical)
    write_s = time.perf_counter() - mark
    return {
        "passages": manifest["counts"]["passages"],
        "sentences": manifest["counts"]["sentences"],
        "documents": manifest["counts"]["documents"],
        "chunk_s": round(chunk_s, 1),
        "vectors_and_index_s": round(vectors_s, 1),
        "bm25_s": round(lexical_s, 1),
        "write_s": round(write_s, 1),
    }


MEASURE = r"""
import json, sys, time
import numpy as np
from pathlib import Path
from hrqa.engine import Engine
from hrqa.reader import softmax_with_null
from hrqa.settings import Settings

class FixedEmbedder:
    name = fingerprint = "fixed-vector"
    dimension = 384
    def __init__(self):
        v = np.random.default_rng(7).standard_normal(384).astype(np.float32)
        self.vector = v / np.linalg.norm(v)
    def embed_query(self, text):
        return self.vector

class ConstantReader:
    fingerprint = "constant"
    def score(self, question, sentences):
        return softmax_with_null(np.linspace(1.0, 0.0, len(sentences), dtype=np.float32), 0.0)

index_dir, empty, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
mark = time.perf_counter()
engine = Engine.open(Settings(index_dir=Path(index_dir), corpus_dir=Path(empty)), embedder=FixedEmbedder())
open_s = time.perf_counter() - mark
engine._reader = ConstantReader()
engine.ask(questions[0])  # first question: lazy tables and caches
beyond, parts = [], {"retrieve": [], "answer": []}
for q in questions:
    t = engine.ask(q).timings_ms
    beyond.append(t["total"] - t.get("encode", 0.0))
    for key in parts:
        parts[key].append(t.get(key, 0.0))
filtered = []
for q in questions[:20]:
    t = engine.ask(q, kinds=["NGO"]).timings_ms
    filtered.append(t["total"] - t.get("encode", 0.0))
status = Path("/proc/self/status").read_text()
peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps({"open_s": open_s, "beyond_ms": beyond, "parts": parts, "filtered_ms": filtered, "peak_rss_mb": peak}))
"""


def measure(folder: Path, questions: list[str]) -> dict:
    empty = folder.parent / "empty-corpus"
    empty.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder), str(empty), json.dumps(questions)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    raw = json.loads(result.stdout.strip().splitlines()[-1])

    def pct(values, p):
        return round(float(np.percentile(values, p)), 1)

    return {
        "open_s": round(raw["open_s"], 2),
        "ask_beyond_encoder_ms": {"p50": pct(raw["beyond_ms"], 50), "p95": pct(raw["beyond_ms"], 95)},
        "retrieve_ms_p50": pct(raw["parts"]["retrieve"], 50),
        "answer_ms_p50": pct(raw["parts"]["answer"], 50),
        "filtered_ask_ms": {"p50": pct(raw["filtered_ms"], 50), "p95": pct(raw["filtered_ms"], 95)},
        "peak_rss_mb": round(raw["peak_rss_mb"]),
        "questions": len(raw["beyond_ms"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=20_000)
    parser.add_argument("--folder", type=Path, default=None, help="index folder (reused when present)")
    parser.add_argument("--index-type", default="ivfsq", help="flat, hnsw, ivfsq, ivfpq (ivfsq: 1M built in ~1 min)")
    args = parser.parse_args()
    folder = args.folder or Path(os.environ.get("TMPDIR", "/tmp")) / f"hrqa-bench-{args.passages}" / "index"
    report: dict = {"passages_requested": args.passages, "index_type": args.index_type}
    if not (folder / "CURRENT").exists():
        folder.mkdir(parents=True, exist_ok=True)
        report["build"] = build(folder, args.passages, args.index_type)
    sizes = {p.name: p.stat().st_size for p in sorted(folder.glob("snapshots/*/*")) if p.is_file()}
    report["files_mb"] = {k: round(v / 1e6, 1) for k, v in sizes.items()}
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev.jsonl").open(encoding="utf-8")]
    report["measure"] = measure(folder, questions)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
