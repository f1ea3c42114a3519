"""The local backend: one snapshot folder (FAISS vectors, a bm25s index, columnar passage and sentence
tables) loaded into this process by ``hrqa.store``. Behaviour is that of hrqa before the backend seam;
filters become the rows of the admitted documents (from per-document columns), never a mask built by the caller."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hrqa import vectors
from hrqa.backends.base import UNKNOWN_KIND, Candidates, Scope, top_rows
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings
from hrqa.store import Index, load_index
from hrqa.tables import DocumentTable

#: a filter admitting at most this many passages is searched exactly (a gather and a product: about
#: 5 ms at 20k rows of 384 dimensions here); a broader one through the approximate index with an ID
#: selector (benchmarks/million.py: a kind filter over 1M passages)
EXACT_FILTER_ROWS = 20_000


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
        index.check()  # a large file found damaged after open (store.load_index) stops every search
        approximate = index.manifest.get("index_type", "flat") != "flat"
        if scope is not None:
            rows = self.rows_in(scope)
            if not approximate or rows.size <= EXACT_FILTER_ROWS:
                scores = index.passage_vectors[rows] @ query_vector
                best = top_rows(scores, k)
                return Candidates(rows[best], scores[best])
            # a broad filter: the approximate index searches the admitted rows only
            found = _filtered_search(index.vector_index, query_vector, k, self._selector(scope, rows))
            scores = index.passage_vectors[found] @ query_vector
            order = np.lexsort((found, -scores))
            return Candidates(found[order], scores[order])
        if not approximate:
            scores = index.passage_vectors @ query_vector
            best = top_rows(scores, k)
            return Candidates(best, scores[best])
        _, rows = vectors.search(index.vector_index, query_vector, k)
        # an approximate (8-bit) index finds the candidates; their exact cosines feed the fusion
        scores = index.passage_vectors[rows] @ query_vector
        order = np.argsort(-scores, kind="stable")
        return Candidates(rows[order], scores[order])

    def lexical_candidates(self, query_text: str, k: int, scope: Scope | None = None) -> Candidates:
        self.index.check()
        scores = self.index.lexical.scores(query_text)
        rows = None
        if scope is not None:
            rows = self.rows_in(scope)
            scores = scores[rows]
        # only passages holding a query word score above zero: the top k among those (a partition over
        # 1M scores took ~16 ms of a question at 1M passages, benchmarks/million.py; ties still go to
        # the lower row, as ``nonzero`` keeps row order)
        nonzero = np.flatnonzero(scores > 0)
        best = nonzero[top_rows(scores[nonzero], k)]
        return Candidates(best if rows is None else rows[best], scores[best])

    def rows_in(self, scope: Scope) -> np.ndarray:
        """Passage rows of the documents in ``scope``, ascending (the last few scopes are remembered:
        a question asks for the same rows for its dense and its lexical candidates)."""
        cached = self._scope_rows.get(scope)
        if cached is None:
            cached = np.flatnonzero(self._admitted(scope)[self._columns.passage_doc])
            if len(self._scope_rows) >= 8:
                self._scope_rows.clear()
            self._scope_rows[scope] = cached
        return cached

    def _selector(self, scope: Scope, rows: np.ndarray):
        """FAISS's ID selector over ``rows`` (the rows of ``scope``), remembered with them: a selector
        over a third of 1M passages takes ~20 ms to make (benchmarks/million.py, kind filter)."""
        held = self._selectors.get(scope)
        if held is None:
            import faiss

            bitmap = np.zeros(self.passage_count, dtype=bool)
            bitmap[rows] = True
            bitmap = np.packbits(bitmap, bitorder="little")
            # the selector reads the bitmap in place: both are kept
            held = (faiss.IDSelectorBitmap(self.passage_count, faiss.swig_ptr(bitmap)), bitmap)
            if len(self._selectors) >= 8:
                self._selectors.clear()
            self._selectors[scope] = held
        return held[0]

    @cached_property
    def _selectors(self) -> dict:
        return {}

    def _admitted(self, scope: Scope) -> np.ndarray:
        """One flag per document (corpus order): in ``scope``."""
        columns = self._columns
        allowed = np.ones(len(columns.ids), dtype=bool)
        if scope.docs is not None:
            chosen = np.zeros(len(columns.ids), dtype=bool)
            chosen[[columns.number[d] for d in scope.docs if d in columns.number]] = True
            allowed &= chosen
        if scope.kinds is not None:
            codes = [columns.kinds.index(k) for k in scope.kinds if k in columns.kinds]
            allowed &= np.isin(columns.kind_code, codes)
        return allowed

    @cached_property
    def _scope_rows(self) -> dict:
        return {}

    @cached_property
    def _columns(self) -> _Columns:
        documents = self.index.documents
        ids = list(documents)
        if isinstance(documents, DocumentTable):  # the kinds without making every document (and its text)
            each_kind = [documents.kind(n) or UNKNOWN_KIND for n in range(len(ids))]
        else:
            each_kind = [documents[d].kind or UNKNOWN_KIND for d in ids]
        kinds = sorted(set(each_kind))
        codes = {kind: code for code, kind in enumerate(kinds)}
        return _Columns(
            ids=ids,
            number=documents.number if isinstance(documents, DocumentTable) else {d: i for i, d in enumerate(ids)},
            kinds=kinds,
            kind_code=np.array([codes[k] for k in each_kind], dtype=np.int32),
            passage_doc=self.index.columns.passage_doc,
        )

    # ------------------------------------------------------------------------- records

    def passage(self, row: int) -> Passage:
        return self.index.passages[row]

    def passages_at(self, rows) -> list[Passage]:
        passages = self.index.passages
        return [passages[int(r)] for r in rows]

    def passage_holding(self, doc: str, position: int) -> Passage | None:
        return self.index.passage_holding(doc, position)

    def sentence_at(self, row: int) -> Sentence:
        return self.index.sentences[row]

    def sentence_row(self, doc: str, position: int) -> int:
        return self.index.sentence_row(doc, position)

    def sentence_rows_of(self, doc: str) -> range:
        """The document's sentence rows (consecutive: a build adds documents one after another)."""
        number = self._columns.number.get(doc)
        if number is None:
            return range(0)
        firsts = self.index.columns.sentence_rows
        return range(int(firsts[number]), int(firsts[number + 1]))

    def vectors_of_sentences(self, rows: np.ndarray) -> np.ndarray | None:
        if self.index.sentence_vectors is None:
            return None
        return self.index.sentence_vectors[np.asarray(rows, dtype=np.int64)]

    def document(self, doc_id: str) -> Document:
        return self.index.documents[doc_id]

    def document_ids(self, scope: Scope | None = None) -> list[str]:
        if scope is None:
            return list(self.index.documents)
        ids = self._columns.ids
        return [ids[i] for i in np.flatnonzero(self._admitted(scope))]

    def text(self, doc: str, span: Span) -> str:
        return self.index.text(doc, span)

    def idf(self, token: str) -> float:
        return self.index.lexical.idf(token)

    def knows(self, token: str) -> bool:
        return self.index.lexical.knows(token)

    def documents_to_search(self, docs: Iterable[str] | None = None) -> Iterator[Document]:
        self.index.check()
        chosen = set(docs) if docs else None
        return (d for d in self.index.documents.values() if chosen is None or d.id in chosen)


@dataclass(frozen=True)
class _Columns:
    """Documents and passages as arrays, for filters: document ids in corpus order, their numbers, the
    kinds of source, each document's kind code and each passage's document number."""

    ids: list[str]
    number: dict[str, int]
    kinds: list[str]
    kind_code: np.ndarray
    passage_doc: np.ndarray


def _filtered_search(vector_index, query: np.ndarray, k: int, selector) -> np.ndarray:
    """Rows found by the approximate index among those ``selector`` (a FAISS ID selector) admits."""
    import faiss

    if hasattr(vector_index, "hnsw"):
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=vector_index.hnsw.efSearch)
    elif hasattr(vector_index, "nprobe"):
        params = faiss.SearchParametersIVF(sel=selector, nprobe=vector_index.nprobe)
    else:
        params = faiss.SearchParameters(sel=selector)
    _, ids = vector_index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k, params=params)
    return ids[0][ids[0] >= 0].astype(np.int64)
