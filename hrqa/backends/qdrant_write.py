"""The qdrant backend's writing side: the collections of one generation (their schema and payload
indexes), BM25 as sparse vectors, batched upserts, and the atomic alias swap that makes a generation
live. The layout of a generation and why BM25 agrees with ``hrqa.lexical`` are in ``hrqa.backends.qdrant``,
which reads what this module writes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from hrqa.backends.base import UNKNOWN_KIND
from hrqa.errors import HrqaError
from hrqa.lexical import tokenize
from hrqa.records import Document, Sentence
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
        if not is_local(client):  # payload indexes: local mode has none and says so on every call
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
                points_selector=models.FilterSelector(filter=match_any(key, chosen)),
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


def is_local(client: QdrantClient) -> bool:
    return type(getattr(client, "_client", None)).__name__ == "QdrantLocal"


def match_any(key: str, values: Sequence[str]):
    return models.FieldCondition(key=key, match=models.MatchAny(any=list(values)))
