"""Sentence rankings without an answer step, and the answer step the reader replaced, scored on the same
index and questions as the reader (``hrqa eval --baselines`` on a SQuAD-style file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrqa.baselines import heuristic_answer
from hrqa.evaluation import judge, load_questions, summarise
from hrqa.lexical import tokenize


def run_sentence_baselines(engine, path: Path, k: int = 5, articles: set[str] | None = None) -> dict:
    """Sentence rankings without an answer step, and the heuristic answer step the reader replaced,
    on the same index and questions: bm25s over all sentences, MiniLM over all sentences, RRF of the
    two (k=60), each never abstaining; the heuristic answers and abstains as it used to."""
    import bm25s

    index = engine.index
    questions = [q for q in load_questions(path) if not articles or q.get("article") in articles]
    texts = [index.text(s.doc, s.span) for s in index.sentences]
    lexical = bm25s.BM25()
    lexical.index([tokenize(t) or [""] for t in texts], show_progress=False)
    vocabulary = lexical.vocab_dict
    sentence_vectors = index.sentence_vectors
    if sentence_vectors is None:
        sentence_vectors = engine.embedder.embed(texts)
    rankings: dict[str, list[dict]] = {"bm25s over sentences": [], "MiniLM over sentences": [], "RRF of the two": []}
    heuristic: list[dict] = []
    for record in questions:
        query_vector = engine.embedder.embed_query(record["question"])
        dense = sentence_vectors @ query_vector
        tokens = [t for t in tokenize(record["question"]) if t in vocabulary]
        bm25 = np.asarray(lexical.get_scores(tokens), dtype=np.float32) if tokens else np.zeros(len(texts), np.float32)
        dense_order = np.argsort(-dense, kind="stable")
        bm25_order = np.argsort(-bm25, kind="stable")
        rank_dense = np.empty(len(texts), np.int64)
        rank_dense[dense_order] = np.arange(len(texts))
        rank_bm25 = np.empty(len(texts), np.int64)
        rank_bm25[bm25_order] = np.arange(len(texts))
        rrf = 1.0 / (61 + rank_dense) + 1.0 / (61 + rank_bm25)
        for name, order in (
            ("bm25s over sentences", bm25_order),
            ("MiniLM over sentences", dense_order),
            ("RRF of the two", np.argsort(-rrf, kind="stable")),
        ):
            top = [int(r) for r in order[:k]]
            result = {
                "abstained": False,
                "answer": [_sentence_json(index, top[0])] if top else [],
                "citations": [_sentence_json(index, r) for r in top],
            }
            rankings[name].append(judge(record, result, k))
        retrieved = engine.retrieve(record["question"], k)
        old = heuristic_answer.build_answer(
            index,
            record["question"],
            record["question"],
            retrieved.query_vector,
            retrieved.hits,
            k,
            across_sources=retrieved.across_sources,
        )
        heuristic.append(judge(record, old.to_json(), k))
    figures = {name: summarise(verdicts)["overall"] for name, verdicts in rankings.items()}
    figures["previous heuristic answer step"] = summarise(heuristic)["overall"]
    return figures


def _sentence_json(index, row: int) -> dict:
    sentence = index.sentences[row]
    text = index.text(sentence.doc, sentence.span)
    return {"doc": sentence.doc, "start": sentence.span.start, "end": sentence.span.end, "text": text, "passage": text}
