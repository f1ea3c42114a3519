"""The tutorial pipeline, defined once: paragraphs (blank-line blocks) embedded with the same model as
hrqa into ``faiss.IndexFlatIP``; a question is embedded and the nearest paragraph is the answer.

``hrqa eval --baselines`` scores it (and bm25s over the same paragraphs) on a question set;
``hrqa bench`` times it beside ``Engine.ask``, in process and as a process reading questions on stdin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from hrqa.evaluation import SINGLE_DOC_KINDS, fold, load_questions
from hrqa.records import Document


def paragraphs(text: str) -> list[str]:
    """Paragraphs as the tutorial pipeline splits them: on blank lines, white space folded."""
    blocks = [" ".join(block.split()) for block in text.replace("\r\n", "\n").split("\n\n")]
    return [b for b in blocks if b]


class ParagraphBaseline:
    """Paragraph texts, their vectors in ``faiss.IndexFlatIP``, and the function that encodes a question
    (hrqa's embedder in process; sentence-transformers in the benchmark's stand-alone process)."""

    def __init__(self, texts: Sequence[str], vectors: np.ndarray, encode_query: Callable[[str], np.ndarray]) -> None:
        import faiss

        self.paragraphs = list(texts)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.encode_query = encode_query
        self.index = faiss.IndexFlatIP(self.vectors.shape[1])
        self.index.add(self.vectors)

    @classmethod
    def build(cls, documents: Iterable[Document], embedder) -> ParagraphBaseline:
        """Split every document into paragraphs and embed them with ``embedder`` (``embed``/``embed_query``)."""
        texts = [p for document in documents for p in paragraphs(document.text)]
        return cls(texts, embedder.embed(texts), embedder.embed_query)

    def search(self, question: str, k: int) -> list[int]:
        """Rows of the ``k`` nearest paragraphs, nearest first."""
        vector = np.asarray(self.encode_query(question), dtype=np.float32).reshape(1, -1)
        _, rows = self.index.search(vector, k)
        return [int(r) for r in rows[0] if r >= 0]

    def answer(self, question: str) -> str:
        """The nearest paragraph: the tutorial pipeline's answer."""
        return self.paragraphs[self.search(question, 1)[0]]


def run_paragraph_baselines(engine, path: Path, k: int = 5) -> dict:
    """The usual pipelines on the engine's documents, measured in the same run: paragraphs ranked by the
    tutorial pipeline (MiniLM + FAISS inner product) or by bm25s; hit@5 and top paragraph holds the
    answer, on the single-answer questions."""
    import bm25s

    dense = ParagraphBaseline.build(engine.index.documents.values(), engine.embedder)
    texts = dense.paragraphs
    lexical = bm25s.BM25()
    lexical.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    questions = [q for q in load_questions(path) if q["kind"] in SINGLE_DOC_KINDS]
    figures = {}
    for name in ("dense FAISS over paragraphs", "bm25s over paragraphs"):
        hit, top = [], []
        for record in questions:
            if name.startswith("dense"):
                ranked = dense.search(record["question"], k)
            else:
                ids, _ = lexical.retrieve(
                    bm25s.tokenize([record["question"]], stopwords="en", show_progress=False),
                    k=min(k, len(texts)),
                    show_progress=False,
                )
                ranked = [int(i) for i in ids[0]]
            gold = fold(record["answer"])
            found = [gold in fold(texts[i]) for i in ranked]
            hit.append(any(found))
            top.append(bool(found) and found[0])
        figures[name] = {
            "hit@5": round(float(np.mean(hit)), 3),
            "top1_passage": round(float(np.mean(top)), 3),
            "questions": len(questions),
        }
    return figures
