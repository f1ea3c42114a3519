"""One conformance suite for every search backend: the local snapshot, Qdrant in this process (qdrant-client's
local mode, the same client code that talks to a cluster) and, when HRQA_QDRANT_URL is set, a real Qdrant
server. Every backend must give the local backend's candidates, records and answers; the qdrant backend's
scoring is cross-checked with qdrant-edge-py (Qdrant's own shard engine, in process)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hrqa import retrieval
from hrqa.backends import BackendKind, Scope, SearchBackend, open_backend
from hrqa.backends import qdrant as qdrant_backend
from hrqa.backends.local import LocalBackend
from hrqa.embedding import HashingEmbedder
from hrqa.errors import IndexMissingError, SettingsError
from hrqa.lexical import tokenize
from hrqa.settings import Settings
from hrqa.store import build_index, load_index

SERVER = os.environ.get("HRQA_QDRANT_URL", "")
QUERIES = [
    "Beta Watch Japan",
    "owls at night",
    "river festival Lyon",
    "who opened the festival? the mayor",
    "Acme Union letter signatories",
    "larks sing",
    "nothing matches zebra",
]


def _new_client(kind: str):
    from qdrant_client import QdrantClient

    if kind == "qdrant-server":
        return QdrantClient(url=SERVER)
    return QdrantClient(":memory:")


class Served:
    """A built index served by one backend kind, with the local backend over the same snapshot beside it."""

    def __init__(self, kind: str, settings: Settings) -> None:
        self.kind = kind
        self.settings = settings
        self.prefix = f"hrqa-test-{uuid.uuid4().hex[:8]}"  # a real server may be shared: own names
        self.client = None if kind == "local" else _new_client(kind)

    def publish(self) -> SearchBackend:
        """Build (incrementally) from the corpus folder and serve the new generation."""
        build_index(self.settings, HashingEmbedder())
        index = load_index(self.settings.index_dir)
        self.local = LocalBackend(index)
        if self.client is None:
            return self.local
        qdrant_backend.publish_snapshot(index, self.client, prefix=self.prefix)
        return self.open()

    def open(self) -> SearchBackend:
        if self.client is None:
            return LocalBackend(load_index(self.settings.index_dir))
        return qdrant_backend.QdrantBackend(self.client, self.prefix)

    def close(self) -> None:
        if self.client is not None and self.kind == "qdrant-server":
            for description in self.client.get_collections().collections:
                if description.name.startswith(self.prefix + "-"):
                    self.client.delete_collection(description.name)


KINDS = [
    "local",
    "qdrant-memory",
    pytest.param(
        "qdrant-server",
        marks=pytest.mark.skipif(not SERVER, reason="no Qdrant server: set HRQA_QDRANT_URL=http://host:6333"),
    ),
]


@pytest.fixture(params=KINDS)
def served(request, tiny_settings: Settings) -> Iterator[Served]:
    served = Served(request.param, tiny_settings)
    yield served
    served.close()


@pytest.fixture
def backend(served: Served) -> SearchBackend:
    return served.publish()


# ----------------------------------------------------------------------------- candidates and fusion


@pytest.mark.parametrize("query", QUERIES)
def test_candidates_equal_the_local_backends(served, backend, query):
    vector = HashingEmbedder().embed_query(query)
    for got, expected in (
        (backend.dense_candidates(vector, 10), served.local.dense_candidates(vector, 10)),
        (backend.lexical_candidates(query, 10), served.local.lexical_candidates(query, 10)),
    ):
        assert got.rows.tolist() == expected.rows.tolist()
        np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("method", list(retrieval.Fusion))
def test_fused_top_10_equals_the_local_backends(served, backend, query, method):
    vector = HashingEmbedder().embed_query(query)
    got = retrieval.search(backend, vector, query, 10, method=method)
    expected = retrieval.search(served.local, vector, query, 10, method=method)
    assert [h.passage for h in got] == [h.passage for h in expected]
    assert [(h.dense_rank, h.lexical_rank) for h in got] == [(h.dense_rank, h.lexical_rank) for h in expected]
    assert [h.score for h in got] == pytest.approx([h.score for h in expected], abs=1e-5)


@pytest.mark.parametrize(
    ("docs", "kinds", "allowed"),
    [
        (["a.txt", "c.md"], None, {"a.txt", "c.md"}),
        (None, ["government"], {"a.txt"}),
        (None, ["unknown"], {"b.txt", "c.md"}),
        (["b.txt"], ["unknown", "government"], {"b.txt"}),
        (["a.txt"], ["NGO"], set()),
        (["no-such.txt"], None, set()),
    ],
)
def test_filters_are_honoured(served, backend, docs, kinds, allowed):
    scope = Scope.of(docs, kinds)
    assert set(backend.document_ids(scope)) == allowed
    for query in ("festival letter owls Japan", "the"):
        vector = HashingEmbedder().embed_query(query)
        dense = backend.dense_candidates(vector, 100, scope)
        lexical = backend.lexical_candidates(query, 100, scope)
        assert {backend.passage(int(r)).doc for r in dense.rows} == allowed  # every passage in scope
        assert {backend.passage(int(r)).doc for r in lexical.rows} <= allowed
        assert dense.rows.tolist() == served.local.dense_candidates(vector, 100, scope).rows.tolist()
        assert lexical.rows.tolist() == served.local.lexical_candidates(query, 100, scope).rows.tolist()


# ----------------------------------------------------------------------------- records


def test_records_equal_the_local_backends(served, backend):
    local = served.local
    assert (backend.id, backend.model, backend.passage_count, backend.sentence_count) == (
        local.id,
        local.model,
        local.passage_count,
        local.sentence_count,
    )
    rows = list(range(local.passage_count))
    assert backend.passages_at(rows[::-1]) == local.passages_at(rows[::-1])
    assert [backend.sentence_at(r) for r in range(local.sentence_count)] == list(local.index.sentences)
    assert backend.document_ids() == local.document_ids() == ["a.txt", "b.txt", "c.md"]
    for doc in local.document_ids():
        assert backend.document(doc) == local.document(doc)
        assert backend.sentence_rows_of(doc) == local.sentence_rows_of(doc)
        for position in range(len(local.sentence_rows_of(doc))):
            assert backend.sentence_row(doc, position) == local.sentence_row(doc, position)
            assert backend.passage_holding(doc, position) == local.passage_holding(doc, position)
    assert backend.passage_holding("a.txt", 99) is None
    chosen = np.array([4, 0, 2])
    np.testing.assert_allclose(backend.vectors_of_sentences(chosen), local.vectors_of_sentences(chosen), atol=1e-7)
    for token in ("festiv", "owl", "japan", "the", "zebra", ""):
        assert backend.idf(token) == pytest.approx(local.idf(token))
        assert backend.knows(token) == local.knows(token)
    with pytest.raises(KeyError):
        backend.document("no-such.txt")


@pytest.mark.parametrize(("term", "docs"), [("the", None), ("THREE days", None), ("the", ["b.txt"]), ("zebra", None)])
def test_every_mention_search_equals_the_local_backends(served, backend, term, docs):
    assert retrieval.find_mentions(backend, term, docs) == retrieval.find_mentions(served.local, term, docs)


# ----------------------------------------------------------------------------- generations


def test_a_rebuild_swaps_generations_and_a_reader_keeps_its_own(served, backend):
    (served.settings.corpus_dir / "d.txt").write_text("Storks nest on chimneys in spring.\n", encoding="utf-8")
    newer = served.publish()
    assert "d.txt" in newer.document_ids() and "d.txt" not in backend.document_ids()
    assert newer.id != backend.id
    # the older reader still answers from the generation it opened
    assert backend.lexical_candidates("storks", 5).rows.size == 0
    assert newer.lexical_candidates("storks", 5).rows.size == 1
    assert served.open().id == newer.id


def test_a_document_deleted_by_a_rebuild_is_gone(served, backend):
    assert backend.lexical_candidates("owls", 5).rows.size == 1
    (served.settings.corpus_dir / "c.md").unlink()
    rebuilt = served.publish()
    assert rebuilt.document_ids() == ["a.txt", "b.txt"]
    assert rebuilt.lexical_candidates("owls larks", 10).rows.size == 0
    vector = HashingEmbedder().embed_query("Owls hunt at night. Larks sing at dawn.")
    assert {rebuilt.passage(int(r)).doc for r in rebuilt.dense_candidates(vector, 10).rows} == {"a.txt", "b.txt"}
    assert retrieval.find_mentions(rebuilt, "owls").mentions == ()
    with pytest.raises(KeyError):
        rebuilt.document("c.md")
    # IDF counts only the passages left (no stale statistics of deleted points)
    assert rebuilt.idf("festiv") == pytest.approx(served.local.idf("festiv"))


@pytest.mark.parametrize("kind", ["qdrant-memory"])
def test_only_the_live_generation_and_the_one_before_it_are_kept(kind, tiny_settings):
    served = Served(kind, tiny_settings)
    generations = []
    for n in range(3):
        (tiny_settings.corpus_dir / f"extra{n}.txt").write_text(f"Extra document number {n}.\n", encoding="utf-8")
        generations.append(served.publish().id.lower())
    names = {c.name for c in served.client.get_collections().collections}
    kept = {name.split("-")[-3] + "-" + name.split("-")[-2] for name in names}
    assert kept == set(generations[1:])


def test_qdrant_without_an_index_names_the_command():
    with pytest.raises(IndexMissingError, match="build it with: hrqa index"):
        qdrant_backend.QdrantBackend(_new_client("qdrant-memory"))


# ----------------------------------------------------------------------------- settings and the engine


@pytest.mark.parametrize(("value", "member"), [("local", BackendKind.LOCAL), ("QDRANT", BackendKind.QDRANT)])
def test_backend_setting_from_the_environment(value, member):
    settings = Settings.from_env({"HRQA_BACKEND": value, "HRQA_QDRANT_URL": "http://q:6333"})
    assert settings.backend is member and settings.qdrant_url == "http://q:6333"


def test_unknown_backend_lists_the_choices():
    with pytest.raises(SettingsError, match=r"unknown backend 'milvus'; choose one of: local, qdrant"):
        Settings(backend="milvus")


def test_open_backend_picks_by_settings(tiny_settings):
    build_index(tiny_settings, HashingEmbedder())
    assert isinstance(open_backend(tiny_settings), LocalBackend)
    url = f":memory:{uuid.uuid4().hex}"  # a client of its own for this test
    qdrant_backend._CLIENTS[url] = _new_client("qdrant-memory")
    settings = tiny_settings.with_(backend="qdrant", qdrant_url=url)
    with pytest.raises(IndexMissingError):
        open_backend(settings)
    qdrant_backend.publish_snapshot(load_index(tiny_settings.index_dir), qdrant_backend.client_for(url))
    assert isinstance(open_backend(settings), qdrant_backend.QdrantBackend)
    assert isinstance(open_backend(settings), SearchBackend)


class OverlapReader:
    """A deterministic stand-in for the trained reader: logits from shared words (answers depend on the
    candidates and their order only, which is what the backends must agree on)."""

    fingerprint = "overlap-test"
    null_logit = 1.5

    def logits(self, question, sentences, contexts=None):
        words = set(tokenize(question))
        return np.array([len(words & set(tokenize(s))) for s in sentences], dtype=np.float32)


def _engines(settings: Settings):
    from hrqa.engine import Engine

    url = f":memory:{uuid.uuid4().hex}"
    qdrant_backend._CLIENTS[url] = _new_client("qdrant-memory")
    local = Engine.open(settings, embedder=HashingEmbedder(), build="missing")
    local._reader = OverlapReader()
    remote = Engine.open(
        settings.with_(backend="qdrant", qdrant_url=url, index_dir=settings.index_dir.parent / "index-q"),
        embedder=HashingEmbedder(),
        build="missing",
    )
    remote._reader = OverlapReader()
    return local, remote


def _answer(engine, question, **options) -> dict:
    result = engine.ask(question, **options).to_json()
    result.pop("timings_ms")
    result["index"].pop("id")
    return result


def test_the_engine_answers_alike_through_both_backends(tiny_settings):
    local, remote = _engines(tiny_settings)
    assert isinstance(remote.backend, qdrant_backend.QdrantBackend)
    for question in QUERIES:
        assert _answer(remote, question) == _answer(local, question)
    assert _answer(remote, "festival owls", docs=["c.md"]) == _answer(local, "festival owls", docs=["c.md"])
    assert remote.find("the") == local.find("the")
    assert remote.status().passages == local.status().passages
    assert remote.document("a.txt") == local.document("a.txt")


@pytest.mark.slow
def test_dev_answers_are_identical_through_both_backends(dev_questions, tmp_path):
    """Every dev.jsonl question over the seeds: the same answer JSON (fake embedder, overlap reader)."""
    from tests.conftest import SEEDS

    corpus = tmp_path / "seeds"
    shutil.copytree(SEEDS, corpus)
    local, remote = _engines(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"))
    assert dev_questions
    answered = 0
    for record in dev_questions:
        expected = _answer(local, record["question"])
        assert _answer(remote, record["question"]) == expected, record["id"]
        answered += not expected["abstained"] and bool(expected["citations"])
    assert answered >= len(dev_questions) // 2  # the comparison is over real answers, not abstentions


# ----------------------------------------------------------------------------- Qdrant's engine itself


def test_qdrant_edge_scores_as_the_local_backend(tiny_settings, tmp_path: Path):
    """The same points in qdrant-edge-py (Qdrant's Rust shard engine): top-10 by dense and by BM25 (IDF
    modifier over hrqa's sparse values) equal the local backend's, scores to float precision."""
    edge = pytest.importorskip("qdrant_edge")
    build_index(tiny_settings, HashingEmbedder())
    index = load_index(tiny_settings.index_dir)
    local = LocalBackend(index)
    shard = edge.EdgeShard.create(
        str(tmp_path / "shard"),
        edge.EdgeConfig(
            vectors={"dense": edge.EdgeVectorParams(size=index.passage_vectors.shape[1], distance=edge.Distance.Dot)},
            sparse_vectors={"bm25": edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)},
        ),
    )
    average = qdrant_backend.average_length(index)
    token_ids: dict[str, int] = {}
    points = []
    for row, passage in enumerate(index.passages):
        tokens = qdrant_backend.passage_tokens(index, row)
        for token in tokens:
            token_ids.setdefault(token, len(token_ids))
        indices, values = qdrant_backend.bm25_values(tokens, token_ids, average)
        vector = {"dense": index.passage_vectors[row].tolist(), "bm25": edge.SparseVector(indices, values)}
        points.append(edge.Point(row, vector, {"doc": passage.doc}))
    shard.update(edge.UpdateOperation.upsert_points(points))
    try:
        for query in QUERIES:
            vector = HashingEmbedder().embed_query(query)
            found = shard.query(edge.QueryRequest(limit=10, query=edge.Query.Nearest(vector.tolist(), using="dense")))
            expected = local.dense_candidates(vector, 10)
            got = qdrant_backend._ranked(found)
            assert got.rows.tolist() == expected.rows.tolist()
            np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5, atol=1e-6)
            counts: dict[int, float] = {}
            for token in [t for t in tokenize(query) if t in token_ids]:
                counts[token_ids[token]] = counts.get(token_ids[token], 0.0) + 1.0
            expected = local.lexical_candidates(query, 10)
            if not counts:
                assert expected.rows.size == 0
                continue
            sparse = edge.SparseVector(list(counts), list(counts.values()))
            found = shard.query(edge.QueryRequest(limit=10, query=edge.Query.Nearest(sparse, using="bm25")))
            got = qdrant_backend._ranked([p for p in found if p.score > 0])
            assert got.rows.tolist() == expected.rows.tolist()
            np.testing.assert_allclose(got.scores, expected.scores, rtol=1e-5)
            # a payload filter, as the qdrant backend sends for a scope
            only = edge.Filter(must=[edge.FieldCondition(key="doc", match=edge.MatchAny(["a.txt", "c.md"]))])
            found = shard.query(
                edge.QueryRequest(limit=10, query=edge.Query.Nearest(vector.tolist(), using="dense"), filter=only)
            )
            expected = local.dense_candidates(vector, 10, Scope.of(docs=["a.txt", "c.md"]))
            assert qdrant_backend._ranked(found).rows.tolist() == expected.rows.tolist()
    finally:
        shard.close()
