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

import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from hrqa.backends.base import UNKNOWN_KIND, Candidates, IndexView, Scope
from hrqa.errors import HrqaError, IndexMissingError
from hrqa.lexical import tokenize
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings

try:
    from qdrant_client import QdrantClient, models
except ImportError:  # pragma: no cover - a dependency; named when the backend is chosen
    QdrantClient = models = None

#: alias and collection names start with this
PREFIX = "hrqa"
PARTS = ("passages", "sentences", "documents", "vocabulary")
#: the bm25s.BM25() defaults that hrqa.lexical builds with (Lucene variant); tests compare the scores
BM25_K1 = 1.5
BM25_B = 0.75
#: points per upsert request (Qdrant's guidance: batches of a few hundred to a few thousand points)
BATCH = 512
#: records kept per cache (passages, sentences, documents) by one reader
CACHE_LIMIT = 100_000
MANIFEST_POINT = 0

_CLIENTS: dict[str, QdrantClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(url: str) -> QdrantClient:
    """One client per URL per process: ``:memory:`` lives inside its client, so build and ask share it."""
    if QdrantClient is None:
        raise HrqaError("the qdrant backend needs qdrant-client; install it with: pip install qdrant-client")
    with _CLIENTS_LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = QdrantClient(location=":memory:") if url == ":memory:" else QdrantClient(url=url)
        return _CLIENTS[url]


def alias_name(part: str, prefix: str = PREFIX) -> str:
    return f"{prefix}-{part}"


def collection_name(generation: str, part: str, prefix: str = PREFIX) -> str:
    return f"{prefix}-{generation}-{part}"


# ----------------------------------------------------------------------------- BM25 as sparse vectors


def bm25_values(tokens: Sequence[str], token_ids: dict[str, int], average_length: float) -> tuple[list, list]:
    """A passage's sparse vector: token ids and bm25s's term-frequency part (IDF is Qdrant's modifier)."""
    counts = Counter(tokens)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tokens) / average_length)
    indices = [token_ids[t] for t in counts]
    values = [float(np.float32(tf / (tf + norm))) for tf in counts.values()]
    return indices, values


def passage_tokens(index, row: int) -> list[str]:
    """The tokens bm25s indexed for a passage of a local snapshot (``store.build_index``)."""
    from hrqa.chunking import embedding_text

    passage = index.passages[row]
    return tokenize(embedding_text(index.documents[passage.doc], passage)) or [""]


# ----------------------------------------------------------------------------- writing


class QdrantTarget:
    """A new generation of collections, written in batches, made live by :meth:`publish`."""

    def __init__(
        self,
        client: QdrantClient,
        generation: str,
        dimension: int,
        *,
        average_length: float,
        sentence_vectors: bool = True,
        prefix: str = PREFIX,
    ) -> None:
        self.client = client
        self.generation = generation
        self.prefix = prefix
        self.average_length = average_length
        self.token_ids: dict[str, int] = {}
        self.frequencies: Counter[int] = Counter()
        dense = {"dense": models.VectorParams(size=dimension, distance=models.Distance.DOT)}
        configs = {
            "passages": (dense, {"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)}),
            "sentences": (dense if sentence_vectors else {}, None),
            "documents": ({}, None),
            "vocabulary": ({}, None),
        }
        for part, (vectors_config, sparse_config) in configs.items():
            name = self.collection(part)
            if client.collection_exists(name):  # left by a build that died
                client.delete_collection(name)
            client.create_collection(name, vectors_config=vectors_config, sparse_vectors_config=sparse_config)
        if not _is_local(client):  # payload indexes: local mode has none and says so on every call
            for part, field, schema in (
                ("passages", "doc", models.PayloadSchemaType.KEYWORD),
                ("passages", "kind", models.PayloadSchemaType.KEYWORD),
                ("passages", "first", models.PayloadSchemaType.INTEGER),
                ("passages", "last", models.PayloadSchemaType.INTEGER),
                ("sentences", "doc", models.PayloadSchemaType.KEYWORD),
                ("documents", "doc_id", models.PayloadSchemaType.KEYWORD),
                ("documents", "kind", models.PayloadSchemaType.KEYWORD),
                ("vocabulary", "token", models.PayloadSchemaType.KEYWORD),
            ):
                client.create_payload_index(self.collection(part), field_name=field, field_schema=schema)

    def collection(self, part: str) -> str:
        return collection_name(self.generation, part, self.prefix)

    def upsert_documents(
        self,
        documents: Sequence[Document],
        first_sentence_rows: Sequence[int],
        numbers=None,
        sentence_counts: Sequence[int] | None = None,
    ) -> None:
        numbers = numbers if numbers is not None else range(len(documents))
        counts = sentence_counts if sentence_counts is not None else [0] * len(documents)
        points = [
            models.PointStruct(
                id=number + 1,
                vector={},
                payload={
                    "doc_id": d.id,
                    "text": d.text,
                    "sha256": d.sha256,
                    "title": d.title,
                    "date": d.date,
                    "publisher": d.publisher,
                    "kind": d.kind or UNKNOWN_KIND,
                    "declared_kind": d.kind,
                    "url": d.url,
                    "first_sentence": int(first),
                    "sentences": int(count),
                },
            )
            for number, d, first, count in zip(numbers, documents, first_sentence_rows, counts)
        ]
        self._upsert("documents", points)

    def upsert_passages(self, rows, passages, vectors: np.ndarray, tokens, kinds: Sequence[str] | None = None) -> None:
        points = []
        for i, (row, passage, words) in enumerate(zip(rows, passages, tokens)):
            for token in set(words):
                if token not in self.token_ids:
                    self.token_ids[token] = len(self.token_ids)
                self.frequencies[self.token_ids[token]] += 1
            indices, values = bm25_values(words, self.token_ids, self.average_length)
            points.append(
                models.PointStruct(
                    id=int(row),
                    vector={
                        "dense": np.asarray(vectors[i], dtype=np.float32).tolist(),
                        "bm25": models.SparseVector(indices=indices, values=values),
                    },
                    payload={
                        "doc": passage.doc,
                        "kind": (kinds[i] if kinds is not None else None) or UNKNOWN_KIND,
                        "id": passage.id,
                        "start": passage.span.start,
                        "end": passage.span.end,
                        "first": passage.first_sentence,
                        "last": passage.last_sentence,
                        "heading": passage.heading,
                    },
                )
            )
        self._upsert("passages", points)

    def upsert_sentences(self, rows, sentences: Sequence[Sentence], vectors: np.ndarray | None) -> None:
        points = [
            models.PointStruct(
                id=int(row),
                vector={} if vectors is None else {"dense": np.asarray(vectors[i], dtype=np.float32).tolist()},
                payload={
                    "doc": s.doc,
                    "start": s.span.start,
                    "end": s.span.end,
                    "position": s.position,
                    "item": s.is_list_item,
                },
            )
            for i, (row, s) in enumerate(zip(rows, sentences))
        ]
        self._upsert("sentences", points)

    def delete(self, doc_ids: Iterable[str]) -> None:
        """Drop documents from the generation being written (never from a live one; see the module)."""
        chosen = list(doc_ids)
        for part, key in (("passages", "doc"), ("sentences", "doc"), ("documents", "doc_id")):
            self.client.delete(
                self.collection(part),
                points_selector=models.FilterSelector(filter=_match(key, chosen)),
            )

    def publish(self, manifest: dict) -> str:
        """Write the vocabulary and manifest, then move every alias to this generation at once."""
        words = list(self.token_ids.items())
        for start in range(0, len(words), BATCH):
            self._upsert(
                "vocabulary",
                [
                    models.PointStruct(id=i, vector={}, payload={"token": t, "df": self.frequencies[i]})
                    for t, i in words[start : start + BATCH]
                ],
            )
        manifest = {**manifest, "lexical": {"k1": BM25_K1, "b": BM25_B, "average_length": self.average_length}}
        self._upsert("documents", [models.PointStruct(id=MANIFEST_POINT, vector={}, payload={"manifest": manifest})])
        live = {a.alias_name: a.collection_name for a in self.client.get_aliases().aliases}
        operations = []
        for part in PARTS:
            alias = alias_name(part, self.prefix)
            if alias in live:
                operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)))
            operations.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=self.collection(part), alias_name=alias)
                )
            )
        self.client.update_collection_aliases(change_aliases_operations=operations)
        previous = live.get(alias_name("passages", self.prefix))
        keep = {self.generation}
        if previous:
            keep.add(previous[len(self.prefix) + 1 : -len("-passages")])
        _prune(self.client, self.prefix, keep)
        return self.generation

    def _upsert(self, part: str, points: list) -> None:
        if points:
            self.client.upsert(self.collection(part), points=points, wait=True)


def _prune(client: QdrantClient, prefix: str, keep: set[str]) -> None:
    """Drop every generation but ``keep`` (the new one and the one it replaced: a reader may hold it)."""
    for description in client.get_collections().collections:
        name = description.name
        for part in PARTS:
            suffix = f"-{part}"
            if name.startswith(prefix + "-") and name.endswith(suffix):
                generation = name[len(prefix) + 1 : -len(suffix)]
                if generation and generation not in keep:
                    client.delete_collection(name)


def export(index, target: QdrantTarget, progress=None) -> None:
    """Write a loaded local snapshot (``store.Index``) into ``target`` in batches."""
    progress = progress or (lambda stage, done, total: None)
    documents = list(index.documents.values())
    firsts = [index.sentence_rows.get(d.id, 0) for d in documents]
    counts = Counter(s.doc for s in index.sentences)
    for start in range(0, len(documents), BATCH):
        chunk = slice(start, start + BATCH)
        target.upsert_documents(
            documents[chunk],
            firsts[chunk],
            range(start, start + len(documents[chunk])),
            [counts[d.id] for d in documents[chunk]],
        )
    total = len(index.passages)
    for start in range(0, total, BATCH):
        rows = range(start, min(total, start + BATCH))
        passages = [index.passages[r] for r in rows]
        target.upsert_passages(
            rows,
            passages,
            index.passage_vectors[start : rows.stop],
            [passage_tokens(index, r) for r in rows],
            [index.documents[p.doc].kind for p in passages],
        )
        progress("writing passages to qdrant", rows.stop, total)
    total = len(index.sentences)
    for start in range(0, total, BATCH):
        rows = range(start, min(total, start + BATCH))
        vectors = None if index.sentence_vectors is None else index.sentence_vectors[start : rows.stop]
        target.upsert_sentences(rows, [index.sentences[r] for r in rows], vectors)
        progress("writing sentences to qdrant", rows.stop, total)


def average_length(index) -> float:
    """Mean token count of a snapshot's passages, as bm25s counts them."""
    total = len(index.passages)
    return sum(len(passage_tokens(index, r)) for r in range(total)) / max(total, 1)


def build(settings: Settings, embedder, progress=None, *, wait_for_lock: bool = False, prefix: str = PREFIX):
    """Build the local snapshot (chunking, embedding what is new), then publish it as a new generation.

    The snapshot folder is the build's staging area and its cache of vectors by content hash, so an
    edit re-embeds only what changed, as with the local backend.
    """
    from hrqa import store

    report = store.build_index(settings, embedder, progress, wait_for_lock=wait_for_lock)
    index = store.load_index(settings.index_dir, verify=False)
    publish_snapshot(index, client_for(settings.qdrant_url), progress, prefix=prefix)
    return report


def publish_snapshot(index, client: QdrantClient, progress=None, *, prefix: str = PREFIX) -> str:
    """A loaded local snapshot as a new live generation on ``client``."""
    target = QdrantTarget(
        client,
        index.id.lower(),
        int(index.passage_vectors.shape[1]),
        average_length=average_length(index),
        sentence_vectors=index.sentence_vectors is not None,
        prefix=prefix,
    )
    export(index, target, progress)
    return target.publish(index.manifest)


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
                    _match("doc", [doc]),
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


def _is_local(client: QdrantClient) -> bool:
    return type(getattr(client, "_client", None)).__name__ == "QdrantLocal"


def _match(key: str, values: Sequence[str]):
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))


def _match_filter(key: str, values: Sequence[str]):
    return models.Filter(must=[_match(key, values)])


def _scope_filter(scope: Scope | None):
    if scope is None:
        return None
    must = []
    if scope.docs is not None:
        must.append(_match("doc", sorted(scope.docs)))
    if scope.kinds is not None:
        must.append(_match("kind", sorted(scope.kinds)))
    return models.Filter(must=must)


def _documents_filter(docs, scope: Scope | None):
    must = []
    if docs:
        must.append(_match("doc_id", sorted(docs)))
    if scope is not None and scope.kinds is not None:
        must.append(_match("kind", sorted(scope.kinds)))
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
