"""The engine's researcher's-desk methods (issue 13): the documents list, every mention within the
filters, and shared links checked against the document's hash. Tiny corpus, fake embedder."""

from __future__ import annotations

import pytest

from hrqa.engine import Engine
from hrqa.errors import DocumentNotFoundError, QuestionError


@pytest.fixture
def engine(tiny_settings, fake_embedder) -> Engine:
    return Engine.open(tiny_settings, embedder=fake_embedder, build="missing")


def test_documents_lists_every_document_with_catalog_size_and_passages(engine, tiny_corpus):
    listing = engine.documents()

    assert listing.index_id == engine.index.id
    assert listing.model == engine.index.model
    by_id = {d.id: d for d in listing.documents}
    assert set(by_id) == {"a.txt", "b.txt", "c.md"}
    river = by_id["a.txt"]
    assert (river.title, river.date, river.publisher, river.kind) == (
        "River festival",
        "2024-06-01",
        "City Hall",
        "government",
    )
    assert river.characters == len(engine.document("a.txt").text)
    assert river.sha256 == engine.document("a.txt").sha256
    assert sum(d.passages for d in listing.documents) == len(engine.index.passages)
    assert all(d.passages >= 1 for d in listing.documents)
    assert by_id["c.md"].date is None  # undated: the catalog has no entry for it
    json = listing.to_json()
    assert json["index"]["id"] == listing.index_id
    assert [d["id"] for d in json["documents"]] == [d.id for d in listing.documents]


def test_every_mention_counts_per_document_and_gives_each_line(engine):
    report = engine.every_mention("japan")

    assert report.total == 1
    assert [(info.id, n) for info, n in report.counts] == [("b.txt", 1)]
    (mention,) = report.mentions
    text = engine.document("b.txt").text
    assert text[mention.span.start : mention.span.end] == "Japan"
    assert mention.line == text[mention.context.start : mention.context.end] == "2. Beta Watch (Japan)"
    assert report.documents_searched == 3
    assert report.characters_searched == sum(len(engine.document(d).text) for d in ("a.txt", "b.txt", "c.md"))
    assert report.summary().endswith("1 mention of “japan” in 1 document")


def test_no_mention_says_what_was_searched(engine):
    report = engine.every_mention("Peru")

    chars = sum(len(engine.document(d).text) for d in ("a.txt", "b.txt", "c.md"))
    assert report.total == 0 and report.counts == () and report.mentions == ()
    assert report.summary() == f"searched 3 documents, {chars:,} characters: no mention of “Peru”"
    assert report.to_json()["summary"] == report.summary()


def test_every_mention_keeps_to_the_document_and_kind_filters(engine):
    assert engine.every_mention("Menu", docs=["a.txt"]).documents_searched == 1
    assert [info.id for info, _ in engine.every_mention("Menu", docs=["a.txt"]).counts] == ["a.txt"]
    by_kind = engine.every_mention("Menu", kinds=["government"])
    assert by_kind.documents_searched == 1 and by_kind.total == 1
    # both filters: a document must pass each; none does, so nothing is searched (not everything)
    none = engine.every_mention("Menu", docs=["b.txt"], kinds=["government"])
    assert (none.documents_searched, none.characters_searched, none.total) == (0, 0, 0)


def test_every_mention_limit_keeps_the_counts_complete(engine):
    report = engine.every_mention("Menu", limit=1)

    assert report.total == 2 and len(report.mentions) == 1
    assert sum(n for _, n in report.counts) == 2
    assert "(the first 1 listed)" in report.summary()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"term": "   "}, QuestionError, "the search term is empty"),
        ({"term": "x" * 2001}, QuestionError, "over the limit of 2000"),
        ({"term": "a", "docs": ["../etc/passwd"]}, DocumentNotFoundError, "no indexed document"),
        ({"term": "a", "docs": "a.txt"}, QuestionError, "not a single string"),
        ({"term": "a", "kinds": ["poetry"]}, QuestionError, "no indexed document is of kind 'poetry'"),
        ({"term": "a", "limit": 0}, QuestionError, "limit must be a whole number"),
    ],
)
def test_every_mention_refuses_bad_arguments(engine, kwargs, error, message):
    with pytest.raises(error, match=message):
        engine.every_mention(**kwargs)


def test_shared_span_highlights_when_the_hash_matches(engine):
    document = engine.document("a.txt")
    start = document.text.index("The river festival")
    end = start + len("The river festival was held in Lyon.")

    target = engine.shared_span("a.txt", start, end, document.sha256[:16])

    assert target.problem is None
    assert document.text[target.span.start : target.span.end] == "The river festival was held in Lyon."


@pytest.mark.parametrize(
    ("start", "end", "prefix", "message"),
    [
        (0, 5, "0123456789abcdef", "has changed since the link was made"),
        (0, 10**6, None, "not within this document"),
        ("x", 5, None, "not a valid range"),
        (7, 3, None, "not a valid range"),
    ],
)
def test_shared_span_warns_instead_of_highlighting(engine, start, end, prefix, message):
    target = engine.shared_span("a.txt", start, end, prefix)

    assert target.span is None
    assert message in target.problem


def test_shared_span_without_a_hash_highlights_but_says_it_was_not_checked(engine):
    target = engine.shared_span("a.txt", 0, 4)

    assert target.span is not None and "not checked" in target.problem


def test_shared_span_refuses_a_document_that_is_not_indexed(engine):
    with pytest.raises(DocumentNotFoundError):
        engine.shared_span("../a.txt", 0, 4, None)
