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
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SENTENCES_PER_DOCUMENT = 12
#: the passages of a document (first and last sentence): four, neighbours sharing a sentence, as hrqa chunks
WINDOWS = ((0, 3), (3, 6), (6, 9), (9, 11))
DIMENSION = 384


def sentence_pool() -> list[str]:
    """Sentences of the seed documents: the text shapes (lengths, names, numbers) of the real corpus."""
    pool: list[str] = []
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            pool += [s.strip() for s in re.split(r"(?<=[.!?])\s+", line) if len(s.strip()) > 20]
    return pool


def build(folder: Path, passages: int, index_type: str, seed: int = 0) -> dict:
    """Write a snapshot of about ``passages`` synthetic passages into ``folder`` as a build would.

    Lean where a build of real text is not: each pool sentence is tokenized once and a passage's BM25
    tokens are its title's and its sentences' (``lexical_from_tokens``, checked against
    ``LexicalIndex.build`` on the first passages), vectors are written to disk in blocks and passed on
    memory-mapped, columns are numpy arrays. At 1M passages ``LexicalIndex.build`` (bm25s over Python
    lists of tokens) took over 9 GB and many minutes here, beside 6 GB of vectors held in memory.
    """
    from hrqa import vectors
    from hrqa.build import _document_record, write_snapshot
    from hrqa.chunking import embedding_text
    from hrqa.lexical import LexicalIndex, tokenize
    from hrqa.records import Document, Passage, Span
    from hrqa.settings import Settings
    from hrqa.snapshot import text_hash
    from hrqa.store import FORMAT_VERSION

    rng = np.random.default_rng(seed)
    pool = sentence_pool()
    settings = Settings()
    documents_count = max(1, passages // len(WINDOWS))
    started = time.perf_counter()
    chosen = rng.integers(0, len(pool), (documents_count, SENTENCES_PER_DOCUMENT))
    pool_hashes = [text_hash(sentence) for sentence in pool]
    records, sentence_start, sentence_end = [], [], []
    passage_start, passage_end = [], []
    for number in range(documents_count):
        text, spans = "", []
        for position, index in enumerate(chosen[number].tolist()):
            if position and position % 5 == 0:
                text += "\n\n"
            elif position:
                text += " "
            spans.append((len(text), len(text) + len(pool[index])))
            text += pool[index]
        records.append(
            _document_record(
                Document(
                    f"doc{number:07d}.txt",
                    text,
                    text_hash(text),
                    f"Document {number}",
                    kind=("NGO", "government", None)[number % 3],
                )
            )
        )
        for start, end in spans:
            sentence_start.append(start)
            sentence_end.append(end)
        for first, last in WINDOWS:
            passage_start.append(spans[first][0])
            passage_end.append(spans[last][1])
    windows = len(WINDOWS)
    total = documents_count * windows
    passage_doc = np.repeat(np.arange(documents_count, dtype=np.int32), windows)
    store_passages = {
        "id": [f"{number}-{first}" for number in range(documents_count) for first, _ in WINDOWS],
        "doc": passage_doc,
        "start": np.array(passage_start, dtype=np.int64),
        "end": np.array(passage_end, dtype=np.int64),
        "first": np.tile([first for first, _ in WINDOWS], documents_count).astype(np.int32),
        "last": np.tile([last for _, last in WINDOWS], documents_count).astype(np.int32),
        "heading": [""] * total,
        # content hashes only let a rebuild reuse vectors: these are unique per passage, as real ones
        "hash": [f"{row:020x}" for row in range(total)],
    }
    store_sentences = {
        "doc": np.repeat(np.arange(documents_count, dtype=np.int32), SENTENCES_PER_DOCUMENT),
        "start": np.array(sentence_start, dtype=np.int64),
        "end": np.array(sentence_end, dtype=np.int64),
        "item": np.zeros(documents_count * SENTENCES_PER_DOCUMENT, dtype=bool),
        "hash": [pool_hashes[i] for i in chosen.ravel().tolist()],
    }
    del sentence_start, sentence_end, passage_start, passage_end
    chunk_s = time.perf_counter() - started

    mark = time.perf_counter()
    vocabulary: dict[str, int] = {}
    pool_tokens = [np.array([vocabulary.setdefault(t, len(vocabulary)) for t in tokenize(s)], np.int32) for s in pool]
    lexical = lexical_from_tokens(chosen, pool_tokens, vocabulary)
    lexical_s = time.perf_counter() - mark
    # the lean lexical index equals hrqa's own on the first passages (same texts, same scores)
    sample = min(total, 2000) // windows
    sample_texts = []
    for number in range(sample):
        document = Document(**records[number])
        for w, (first, last) in enumerate(WINDOWS):
            row = number * windows + w
            span = Span(int(store_passages["start"][row]), int(store_passages["end"][row]))
            sample_texts.append(embedding_text(document, Passage("", document.id, span, first, last)))
    check_lexical(lexical_from_tokens(chosen[:sample], pool_tokens, dict(vocabulary)), LexicalIndex.build(sample_texts))

    mark = time.perf_counter()
    scratch = folder.parent / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    passage_vectors = unit_vectors(scratch / "passages.npy", total, rng)
    sentence_vectors = unit_vectors(scratch / "sentences.npy", documents_count * SENTENCES_PER_DOCUMENT, rng)
    vector_index = vectors.build_vector_index(passage_vectors, index_type)
    vectors_s = time.perf_counter() - mark
    manifest = {
        "format_version": FORMAT_VERSION,
        "id": f"bench-{total}",
        "built_at": "synthetic",
        "model": {"name": "fixed-vector", "fingerprint": "fixed-vector", "dimension": DIMENSION},
        "chunking": settings.chunking,
        "index_type": index_type,
        "corpus_dir": "",
        "corpus_files": {},
        "counts": {
            "documents": documents_count,
            "passages": total,
            "sentences": len(store_sentences["doc"]),
            "boilerplate_lines": 0,
        },
        "sentence_vectors": True,
    }
    store = {"documents": records, "passages": store_passages, "sentences": store_sentences}
    mark = time.perf_counter()
    write_snapshot(folder, manifest, store, passage_vectors, sentence_vectors, vector_index, lexical)
    write_s = time.perf_counter() - mark
    del passage_vectors, sentence_vectors
    shutil.rmtree(scratch)
    status = Path("/proc/self/status").read_text()
    peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
    return {
        "passages": total,
        "sentences": manifest["counts"]["sentences"],
        "documents": documents_count,
        "chunk_s": round(chunk_s, 1),
        "bm25_s": round(lexical_s, 1),
        "vectors_and_index_s": round(vectors_s, 1),
        "write_s": round(write_s, 1),
        "build_peak_rss_mb": round(peak),
    }


def unit_vectors(path: Path, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random unit vectors written to ``path`` in blocks, returned memory-mapped."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, DIMENSION))
    for start in range(0, count, 100_000):
        block = rng.standard_normal((min(100_000, count - start), DIMENSION), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    return np.load(path, mmap_mode="r")


def lexical_from_tokens(chosen: np.ndarray, pool_tokens: list[np.ndarray], vocabulary: dict[str, int]):
    """bm25s's index (method "lucene", k1 1.5, b 0.75: its defaults, as ``LexicalIndex.build``) over the
    synthetic passages, computed with numpy a block of documents at a time.

    Passage ``(d, w)`` is document ``d``'s title ("Document d") and its sentences ``WINDOWS[w]``, each
    sentence ``chosen[d, s]`` of the pool with tokens ``pool_tokens[...]`` (ids into ``vocabulary``).
    """
    import bm25s

    from hrqa.lexical import LexicalIndex, tokenize

    k1, b = 1.5, 0.75
    documents = len(chosen)
    windows = len(WINDOWS)
    title_word = vocabulary.setdefault(tokenize("Document")[0], len(vocabulary))
    number_ids = np.array([vocabulary.setdefault(str(n), len(vocabulary)) for n in range(documents)], np.int32)
    lengths = np.array([len(t) for t in pool_tokens], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    flat = np.concatenate(pool_tokens) if pool_tokens else np.zeros(0, np.int32)
    vocabulary_size = len(vocabulary)
    rows_parts, tokens_parts, counts_parts = [], [], []
    block = 50_000
    for begin in range(0, documents, block):
        docs = np.arange(begin, min(documents, begin + block))
        pieces_row, pieces_sentence = [], []
        for w, (first, last) in enumerate(WINDOWS):
            for position in range(first, last + 1):
                pieces_row.append(docs * windows + w)
                pieces_sentence.append(chosen[docs, position])
        piece_row = np.concatenate(pieces_row)
        piece_sentence = np.concatenate(pieces_sentence)
        # each piece expands to its sentence's tokens (a ragged arange)
        counts = lengths[piece_sentence]
        token_row = np.repeat(piece_row, counts)
        starts = np.repeat(offsets[piece_sentence] - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
        token_id = flat[np.arange(counts.sum()) + starts]
        passage_rows = np.arange(docs[0] * windows, (docs[-1] + 1) * windows)
        token_row = np.concatenate([token_row, passage_rows, passage_rows])
        token_id = np.concatenate(
            [token_id, np.full(passage_rows.size, title_word, np.int32), number_ids[passage_rows // windows]]
        )
        codes, tf = np.unique(token_row.astype(np.int64) * vocabulary_size + token_id, return_counts=True)
        rows_parts.append((codes // vocabulary_size).astype(np.int32))
        tokens_parts.append((codes % vocabulary_size).astype(np.int32))
        counts_parts.append(tf.astype(np.float32))
    rows = np.concatenate(rows_parts)
    tokens = np.concatenate(tokens_parts)
    tf = np.concatenate(counts_parts)
    del rows_parts, tokens_parts, counts_parts
    passages = documents * windows
    passage_length = np.bincount(rows, weights=tf, minlength=passages)
    average = passage_length.mean()
    frequency = np.bincount(tokens, minlength=vocabulary_size)
    idf = np.log(1 + (passages - frequency + 0.5) / (frequency + 0.5)).astype(np.float32)
    data = idf[tokens] * (tf / (k1 * ((1 - b) + b * passage_length[rows] / average) + tf)).astype(np.float32)
    order = np.lexsort((rows, tokens))
    retriever = bm25s.BM25()
    retriever.scores = {
        "data": data[order].astype(np.float32),
        "indices": rows[order].astype(np.int32),
        "indptr": np.concatenate([[0], np.cumsum(frequency)]).astype(np.int64),
        "num_docs": passages,
    }
    vocabulary = dict(vocabulary)
    vocabulary[""] = len(vocabulary)  # as bm25s adds it: past the last column
    retriever.vocab_dict = vocabulary
    retriever.unique_token_ids_set = set(vocabulary.values())
    retriever.nonoccurrence_array = None
    return LexicalIndex.of_bm25s(retriever)


def check_lexical(lean, reference) -> None:
    """The lean index scores every sampled passage as ``LexicalIndex.build`` does (to float32 rounding)."""
    assert lean.size == reference.size, (lean.size, reference.size)
    for query in ["human rights council", "Document 7 freedom of expression", "the report of 2019", "torture"]:
        assert np.allclose(lean.scores(query), reference.scores(query), rtol=1e-5, atol=1e-6), query
    for token in ["human", "right", "document", "zzz"]:
        assert abs(lean.idf(token) - reference.idf(token)) < 1e-5, token


MEASURE = r"""
import json, sys, time
import numpy as np
from pathlib import Path
from hrqa.engine import Engine
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
    null_logit = 0.0
    def logits(self, question, sentences, contexts=None):
        # one logit for every sentence: the first stage's order decides (the rank prior)
        return np.ones(len(sentences), dtype=np.float32)

index_dir, empty, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
mark = time.perf_counter()
engine = Engine.open(Settings(index_dir=Path(index_dir), corpus_dir=Path(empty)), embedder=FixedEmbedder())
open_s = time.perf_counter() - mark
engine.reader = ConstantReader()
engine.ask(questions[0])  # first question: lazy tables and caches
first_s = time.perf_counter() - mark
# the large files' checksums run in a background thread after open (store.load_index): the figures
# below are taken once it is done, the time it took is reported beside them
engine.index.wait_verified()
verified_s = time.perf_counter() - mark
beyond, parts = [], {"retrieve": [], "answer": []}
cpu = []  # CPU time of this process per question: less at the mercy of other jobs on shared cores
for q in questions:
    started = time.process_time()
    t = engine.ask(q).timings_ms
    cpu.append((time.process_time() - started) * 1000)
    beyond.append(t["total"] - t.get("encode", 0.0))
    for key in parts:
        parts[key].append(t.get(key, 0.0))
filtered = []
for q in questions[:20]:
    t = engine.ask(q, kinds=["NGO"]).timings_ms
    filtered.append(t["total"] - t.get("encode", 0.0))
status = Path("/proc/self/status").read_text()
field = lambda name: int(next(l for l in status.splitlines() if l.startswith(name)).split()[1]) / 1024
print(json.dumps({"cpu_ms": cpu, "open_s": open_s, "first_answer_s": first_s, "verified_s": verified_s, "beyond_ms": beyond,
    "parts": parts, "filtered_ms": filtered, "peak_rss_mb": field("VmHWM"), "rss_anon_mb": field("RssAnon"),
    "rss_file_mb": field("RssFile")}))
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
        "open_and_first_answer_s": round(raw["first_answer_s"], 2),
        "checksums_done_after_s": round(raw["verified_s"], 1),
        "ask_beyond_encoder_ms": {"p50": pct(raw["beyond_ms"], 50), "p95": pct(raw["beyond_ms"], 95)},
        "ask_cpu_ms": {"p50": pct(raw["cpu_ms"], 50), "p95": pct(raw["cpu_ms"], 95)},
        "retrieve_ms_p50": pct(raw["parts"]["retrieve"], 50),
        "answer_ms_p50": pct(raw["parts"]["answer"], 50),
        "filtered_ask_ms": {"p50": pct(raw["filtered_ms"], 50), "p95": pct(raw["filtered_ms"], 95)},
        "peak_rss_mb": round(raw["peak_rss_mb"]),
        "rss_at_end_mb": {"anonymous": round(raw["rss_anon_mb"]), "file_backed": round(raw["rss_file_mb"])},
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
    sizes: dict[str, int] = {}
    for snapshot in folder.glob("snapshots/*"):
        for path in sorted(snapshot.rglob("*")):
            if path.is_file():  # a folder's files together (columns/, bm25/)
                name = path.relative_to(snapshot).parts[0] + ("/" if path.parent != snapshot else "")
                sizes[name] = sizes.get(name, 0) + path.stat().st_size
    report["files_mb"] = {k: round(v / 1e6, 1) for k, v in sizes.items()}
    questions = [json.loads(line)["question"] for line in (ROOT / "tests/data/dev.jsonl").open(encoding="utf-8")]
    report["measure"] = measure(folder, questions)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
