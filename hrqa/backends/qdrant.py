"""The Qdrant backend: the index as collections on a Qdrant node or cluster (``HRQA_QDRANT_URL``), or
in this process (``:memory:``, qdrant-client's local mode: the same client code, for tests).

One generation of the index is four collections, named ``hrqa-<build id>-<part>``:

- ``passages``: point id = passage row; a dense vector ``dense`` (dot product of normalised vectors:
  cosine) and a sparse vector ``bm25`` with Qdrant's IDF modifier; payload ``doc``, ``kind`` (keyword
  indexes: the filters), ``first``/``last`` (integer indexes) and the passage's offsets and heading.
- ``sentences``: point id = sentence row; the sentence vector (answer step) and its offsets.
- ``documents``: point id = document number + 1, payload the document (text and provenance) and its
  sentence rows; point 0 holds the manifest.
- ``vocabulary``: point id = token id, payload the token and its document frequency (``idf``, ``knows``,
  and the query's token ids).

BM25 agrees with ``hrqa.lexical`` (bm25s, Lucene variant) because the words are hrqa's tokens and each
passage's sparse value for a token is bm25s's term-frequency part ``tf / (tf + k1 (1 - b + b dl/avgdl))``;
Qdrant multiplies by ``ln(1 + (N - df + 0.5) / (df + 0.5))``, bm25s's IDF, and the query holds each
token's count, as bm25s sums a repeated query token once per occurrence.

A build writes a new generation, then moves the aliases ``hrqa-<part>`` to it in one atomic alias
update; a reader resolves the aliases once when it opens and keeps that generation, as a local reader
keeps its snapshot. Nothing is deleted in place: Qdrant's IDF statistics are per shard and not updated
after deletes, so a rebuild (a new generation) is how a document leaves the index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from hrqa.backends.base import Candidates, IndexView, Scope
from hrqa.backends.qdrant_write import (  # the writing side; base.py builds through qdrant.build
    _CLIENTS,
    BATCH,
    MANIFEST_POINT,
    PARTS,
    PREFIX,
    QdrantClient,
    QdrantTarget,
    alias_name,
    average_length,
    bm25_values,
    build,
    client_for,
    match_any,
    models,
    passage_tokens,
    publish_snapshot,
)
from hrqa.errors import IndexMissingError
from hrqa.lexical import tokenize
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings

__all__ = [
    "_CLIENTS",
    "QdrantBackend",
    "QdrantTarget",
    "average_length",
    "bm25_values",
    "build",
    "client_for",
    "passage_tokens",
    "publish_snapshot",
]

#: records kept per cache (passages, sentences, documents) by one reader
CACHE_LIMIT = 100_000


# ----------------------------------------------------------------------------- reading


class QdrantBackend(IndexView):
    """One generation of the index on Qdrant, read through the search-backend protocol."""

    def __init__(self, client: QdrantClient, prefix: str = PREFIX) -> None:
        self.client = client
        live = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
        missing = [part for part in PARTS if alias_name(part, prefix) not in live]
        if missing:
            raise IndexMissingError(
                f"no index in qdrant (no alias {alias_name(missing[0], prefix)}); build it with: hrqa index"
            )
        # resolved once: this reader keeps the generation it opened, whatever a rebuild publishes
        self.collections = {part: live[alias_name(part, prefix)] for part in PARTS}
        found = client.retrieve(self.collections["documents"], [MANIFEST_POINT], with_payload=True)
        if not found:
            raise IndexMissingError(
                f"qdrant collection {self.collections['documents']} has no manifest; build it with: hrqa index"
            )
        self._manifest = found[0].payload["manifest"]
        self._passages: dict[int, Passage] = {}
        self._sentences: dict[int, Sentence] = {}
        self._documents: dict[str, tuple[Document, range]] = {}
        self._frequencies: dict[str, tuple[int | None, int]] = {}

    @classmethod
    def open(cls, settings: Settings, *, client: QdrantClient | None = None, prefix: str = PREFIX) -> QdrantBackend:
        return cls(client or client_for(settings.qdrant_url), prefix)

    # ------------------------------------------------------------------------- identity and counts

    @property
    def id(self) -> str:
        return self._manifest["id"]

    @property
    def model(self) -> str:
        return self._manifest["model"]["name"]

    @property
    def manifest(self) -> dict:
        return self._manifest

    @property
    def passage_count(self) -> int:
        return int(self._manifest["counts"]["passages"])

    @property
    def sentence_count(self) -> int:
        return int(self._manifest["counts"]["sentences"])

    # ------------------------------------------------------------------------- candidates

    def dense_candidates(self, query_vector: np.ndarray, k: int, scope: Scope | None = None) -> Candidates:
        found = self.client.query_points(
            self.collections["passages"],
            query=np.asarray(query_vector, dtype=np.float32).tolist(),
            using="dense",
            limit=k,
            query_filter=_scope_filter(scope),
            with_payload=False,
        ).points
        return _ranked(found)

    def lexical_candidates(self, query_text: str, k: int, scope: Scope | None = None) -> Candidates:
        counts = Counter()
        for token in tokenize(query_text):
            token_id, _ = self._frequency(token)
            if token_id is not None:
                counts[token_id] += 1
        if not counts:
            return Candidates.empty()
        found = self.client.query_points(
            self.collections["passages"],
            query=models.SparseVector(indices=list(counts), values=[float(c) for c in counts.values()]),
            using="bm25",
            limit=k,
            query_filter=_scope_filter(scope),
            with_payload=False,
        ).points
        ranked = _ranked(found)
        keep = ranked.scores > 0
        return Candidates(ranked.rows[keep], ranked.scores[keep])

    # ------------------------------------------------------------------------- records

    def passage(self, row: int) -> Passage:
        return self.passages_at([row])[0]

    def passages_at(self, rows) -> list[Passage]:
        rows = [int(r) for r in rows]
        wanted = [r for r in dict.fromkeys(rows) if r not in self._passages]
        if wanted:
            for record in self.client.retrieve(self.collections["passages"], wanted, with_payload=True):
                self._remember(self._passages, int(record.id), _passage(record.payload))
        try:
            return [self._passages[r] for r in rows]
        except KeyError as error:
            raise IndexError(f"no passage row {error.args[0]}") from None

    def iter_passages(self) -> Iterator[Passage]:
        for record in self._scroll("passages"):
            yield _passage(record.payload)

    def passage_holding(self, doc: str, position: int) -> Passage | None:
        found, _ = self.client.scroll(
            self.collections["passages"],
            scroll_filter=models.Filter(
                must=[
                    match_any("doc", [doc]),
                    models.FieldCondition(key="first", range=models.Range(lte=position)),
                    models.FieldCondition(key="last", range=models.Range(gte=position)),
                ]
            ),
            limit=1,
            with_payload=True,
        )
        return _passage(found[0].payload) if found else None

    def sentence_at(self, row: int) -> Sentence:
        row = int(row)
        if row not in self._sentences:
            found = self.client.retrieve(self.collections["sentences"], [row], with_payload=True)
            if not found:
                raise IndexError(f"no sentence row {row}")
            p = found[0].payload
            sentence = Sentence(p["doc"], Span(p["start"], p["end"]), p["position"], bool(p["item"]))
            self._remember(self._sentences, row, sentence)
        return self._sentences[row]

    def sentence_row(self, doc: str, position: int) -> int:
        return self.sentence_rows_of(doc)[position]

    def sentence_rows_of(self, doc: str) -> range:
        return self._document(doc)[1]

    def vectors_of_sentences(self, rows: np.ndarray) -> np.ndarray | None:
        if not self._manifest.get("sentence_vectors", True):
            return None
        rows = [int(r) for r in np.asarray(rows).reshape(-1)]
        found = self.client.retrieve(self.collections["sentences"], list(dict.fromkeys(rows)), with_vectors=["dense"])
        by_row = {int(r.id): r.vector["dense"] for r in found}
        dimension = int(self._manifest["model"].get("dimension") or len(next(iter(by_row.values()), [])))
        if not rows:
            return np.zeros((0, dimension), dtype=np.float32)
        return np.asarray([by_row[r] for r in rows], dtype=np.float32)

    def document(self, doc_id: str) -> Document:
        return self._document(doc_id)[0]

    def document_ids(self, scope: Scope | None = None) -> list[str]:
        return [
            record.payload["doc_id"]
            for record in self._scroll(
                "documents", _documents_filter(None if scope is None else scope.docs, scope), payload=["doc_id"]
            )
        ]

    def text(self, doc: str, span: Span) -> str:
        return self.document(doc).text[span.start : span.end]

    def idf(self, token: str) -> float:
        _, frequency = self._frequency(token)
        size = self.passage_count
        return float(np.log(1 + (size - frequency + 0.5) / (frequency + 0.5)))

    def knows(self, token: str) -> bool:
        return self._frequency(token)[1] > 0

    def documents_to_search(self, docs: Iterable[str] | None = None) -> Iterator[Document]:
        chosen = set(docs) if docs else None
        for record in self._scroll("documents", _documents_filter(chosen, None)):
            yield _document(record.payload)

    # ------------------------------------------------------------------------- helpers

    def _document(self, doc_id: str) -> tuple[Document, range]:
        if doc_id not in self._documents:
            found, _ = self.client.scroll(
                self.collections["documents"],
                scroll_filter=_match_filter("doc_id", [doc_id]),
                limit=1,
                with_payload=True,
            )
            if not found:
                raise KeyError(doc_id)
            p = found[0].payload
            entry = (_document(p), range(p["first_sentence"], p["first_sentence"] + p["sentences"]))
            self._remember(self._documents, doc_id, entry)
        return self._documents[doc_id]

    def _frequency(self, token: str) -> tuple[int | None, int]:
        """(token id, document frequency) of a token; (None, 0) for one no passage holds."""
        if token not in self._frequencies:
            found, _ = self.client.scroll(
                self.collections["vocabulary"],
                scroll_filter=_match_filter("token", [token]),
                limit=1,
                with_payload=True,
            )
            entry = (int(found[0].id), int(found[0].payload["df"])) if found else (None, 0)
            self._remember(self._frequencies, token, entry)
        return self._frequencies[token]

    def _scroll(self, part: str, scroll_filter=None, payload=True) -> Iterator:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collections[part], scroll_filter=scroll_filter, limit=BATCH, offset=offset, with_payload=payload
            )
            yield from records
            if offset is None:
                return

    @staticmethod
    def _remember(cache: dict, key, value) -> None:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[key] = value


def _match_filter(key: str, values: Sequence[str]):
    return models.Filter(must=[match_any(key, values)])


def _scope_filter(scope: Scope | None):
    if scope is None:
        return None
    must = []
    if scope.docs is not None:
        must.append(match_any("doc", sorted(scope.docs)))
    if scope.kinds is not None:
        must.append(match_any("kind", sorted(scope.kinds)))
    return models.Filter(must=must)


def _documents_filter(docs, scope: Scope | None):
    must = []
    if docs:
        must.append(match_any("doc_id", sorted(docs)))
    if scope is not None and scope.kinds is not None:
        must.append(match_any("kind", sorted(scope.kinds)))
    # point 0 (the manifest) has no doc_id
    must_not = [models.HasIdCondition(has_id=[MANIFEST_POINT])]
    return models.Filter(must=must or None, must_not=must_not)


def _ranked(points) -> Candidates:
    """Rows by score, ties to the lower row (as ``top_rows`` orders the local backend's)."""
    if not points:
        return Candidates.empty()
    rows = np.array([int(p.id) for p in points], dtype=np.int64)
    scores = np.array([p.score for p in points], dtype=np.float32)
    order = np.lexsort((rows, -scores))
    return Candidates(rows[order], scores[order])


def _passage(p: dict) -> Passage:
    return Passage(
        id=p["id"],
        doc=p["doc"],
        span=Span(p["start"], p["end"]),
        first_sentence=p["first"],
        last_sentence=p["last"],
        heading=p["heading"],
    )


def _document(p: dict) -> Document:
    return Document(
        id=p["doc_id"],
        text=p["text"],
        sha256=p["sha256"],
        title=p["title"],
        date=p["date"],
        publisher=p["publisher"],
        kind=p["declared_kind"],
        url=p["url"],
    )
