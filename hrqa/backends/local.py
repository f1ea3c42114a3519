"""The local backend: one snapshot folder (FAISS vectors, a bm25s index, columnar passage and sentence
tables) loaded into this process by ``hrqa.store``. Behaviour is that of hrqa before the backend seam;
filters become row ranges (a document's passages are consecutive rows), never a mask over every row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property

import numpy as np

from hrqa import vectors
from hrqa.backends.base import Candidates, Scope, top_rows
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings
from hrqa.store import Index, load_index


class LocalBackend:
    """A loaded ``store.Index`` behind the :class:`~hrqa.backends.base.SearchBackend` protocol."""

    def __init__(self, index: Index) -> None:
        self.index = index

    @classmethod
    def open(cls, settings: Settings, *, verify: bool = True) -> LocalBackend:
        return cls(load_index(settings.index_dir, verify=verify))

    # ------------------------------------------------------------------------- identity and counts

    @property
    def id(self) -> str:
        return self.index.id

    @property
    def model(self) -> str:
        return self.index.model

    @property
    def manifest(self) -> dict:
        return self.index.manifest

    @property
    def passage_count(self) -> int:
        return len(self.index.passages)

    @property
    def sentence_count(self) -> int:
        return len(self.index.sentences)

    # ------------------------------------------------------------------------- candidates

    def dense_candidates(self, query_vector: np.ndarray, k: int, scope: Scope | None = None) -> Candidates:
        index = self.index
        if scope is not None:
            rows = self.rows_in(scope)
            scores = index.passage_vectors[rows] @ query_vector
            best = top_rows(scores, k)
            return Candidates(rows[best], scores[best])
        if index.manifest.get("index_type", "flat") == "flat":
            scores = index.passage_vectors @ query_vector
            best = top_rows(scores, k)
            return Candidates(best, scores[best])
        _, rows = vectors.search(index.vector_index, query_vector, k)
        # an approximate (8-bit) index finds the candidates; their exact cosines feed the fusion
        scores = index.passage_vectors[rows] @ query_vector
        order = np.argsort(-scores, kind="stable")
        return Candidates(rows[order], scores[order])

    def lexical_candidates(self, query_text: str, k: int, scope: Scope | None = None) -> Candidates:
        scores = self.index.lexical.scores(query_text)
        rows = None
        if scope is not None:
            rows = self.rows_in(scope)
            scores = scores[rows]
        best = top_rows(scores, k)
        best = best[scores[best] > 0]
        return Candidates(best if rows is None else rows[best], scores[best])

    def rows_in(self, scope: Scope) -> np.ndarray:
        """Passage rows of the documents in ``scope``, ascending."""
        ranges = [self._passage_ranges[d] for d in self.document_ids(scope) if d in self._passage_ranges]
        if not ranges:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in ranges])

    @cached_property
    def _passage_ranges(self) -> dict[str, range]:
        """Each document's passage rows (consecutive: a build adds documents one after another)."""
        return _runs(p.doc for p in self.index.passages)

    @cached_property
    def _sentence_ranges(self) -> dict[str, range]:
        return _runs(s.doc for s in self.index.sentences)

    # ------------------------------------------------------------------------- records

    def passage(self, row: int) -> Passage:
        return self.index.passages[row]

    def passages_at(self, rows) -> list[Passage]:
        passages = self.index.passages
        return [passages[int(r)] for r in rows]

    def passage_holding(self, doc: str, position: int) -> Passage | None:
        for row in self._passage_ranges.get(doc, range(0)):
            passage = self.index.passages[row]
            if passage.first_sentence <= position <= passage.last_sentence:
                return passage
        return None

    def sentence_at(self, row: int) -> Sentence:
        return self.index.sentences[row]

    def sentence_row(self, doc: str, position: int) -> int:
        return self.index.sentence_row(doc, position)

    def sentence_rows_of(self, doc: str) -> range:
        return self._sentence_ranges.get(doc, range(0))

    def vectors_of_sentences(self, rows: np.ndarray) -> np.ndarray | None:
        if self.index.sentence_vectors is None:
            return None
        return self.index.sentence_vectors[np.asarray(rows, dtype=np.int64)]

    def document(self, doc_id: str) -> Document:
        return self.index.documents[doc_id]

    def document_ids(self, scope: Scope | None = None) -> list[str]:
        documents = self.index.documents.values()
        return [d.id for d in documents if scope is None or scope.admits(d)]

    def text(self, doc: str, span: Span) -> str:
        return self.index.text(doc, span)

    def idf(self, token: str) -> float:
        return self.index.lexical.idf(token)

    def knows(self, token: str) -> bool:
        return self.index.lexical.knows(token)

    def documents_to_search(self, docs: Iterable[str] | None = None) -> Iterator[Document]:
        chosen = set(docs) if docs else None
        return (d for d in self.index.documents.values() if chosen is None or d.id in chosen)


def _runs(docs: Iterable[str]) -> dict[str, range]:
    runs: dict[str, range] = {}
    start, current, row = 0, None, -1
    for row, doc in enumerate(docs):
        if doc != current:
            if current is not None:
                runs[current] = range(start, row)
            start, current = row, doc
    if current is not None:
        runs[current] = range(start, row + 1)
    return runs
