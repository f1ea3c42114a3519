"""Retrieval: the pure fusion/diversity functions on small arrays, hybrid search and every-mention
search on a tiny index, and names found by hybrid search on the real engine."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from hrqa import retrieval
from hrqa.backends import Scope
from hrqa.backends.local import LocalBackend
from hrqa.embedding import HashingEmbedder
from hrqa.errors import SettingsError
from hrqa.records import Hit, Passage, Span
from hrqa.retrieval import Fusion, diversify, document_ranking, find_mentions, fuse, minmax, ocr_lookalikes, top_rows
from hrqa.settings import Settings
from hrqa.store import build_index, load_index

DENSE_ROWS = np.array([2, 0, 1])
DENSE_SCORES = np.array([0.9, 0.6, 0.1], dtype=np.float32)
LEXICAL_ROWS = np.array([1, 3])
LEXICAL_SCORES = np.array([4.0, 3.0], dtype=np.float32)


def hit(doc: str, score: float, n: int = 0) -> Hit:
    return Hit(Passage(id=f"{doc}{n}", doc=doc, span=Span(n, n + 1), first_sentence=n, last_sentence=n), score)


@pytest.fixture
def tiny_index(tiny_settings: Settings):
    build_index(tiny_settings, HashingEmbedder())
    return load_index(tiny_settings.index_dir)


# ----------------------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("values", "expected"),
    [([2.0, 4.0, 3.0], [0.0, 1.0, 0.5]), ([5.0, 5.0], [1.0, 1.0]), ([], [])],
)
def test_minmax(values, expected):
    out = minmax(np.array(values, dtype=np.float32))
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("weight", "order", "scores"),
    [
        # dense scaled {2: 1, 0: .625, 1: 0}; lexical divided by its best {1: 1, 3: .75}
        (0.7, [2, 0, 1, 3], [0.7, 0.4375, 0.3, 0.225]),
        (0.3, [1, 3, 2, 0], [0.7, 0.525, 0.3, 0.1875]),
        (1.0, [2, 0, 1, 3], [1.0, 0.625, 0.0, 0.0]),
    ],
)
def test_convex_fusion(weight, order, scores):
    scored = fuse(DENSE_ROWS, DENSE_SCORES, LEXICAL_ROWS, LEXICAL_SCORES, Fusion.CONVEX, dense_weight=weight)
    assert scored.rows.tolist() == order
    assert scored.scores.tolist() == pytest.approx(scores)
    assert scored.dense_rank == {2: 0, 0: 1, 1: 2}
    assert scored.lexical_rank == {1: 0, 3: 1}


def test_rrf_fusion():
    scored = fuse(DENSE_ROWS, DENSE_SCORES, LEXICAL_ROWS, LEXICAL_SCORES, Fusion.RRF)
    # ranks from 1, k = 60: row 1 is 3rd dense and 1st lexical; rows 0 and 3 tie and keep row order
    assert scored.rows.tolist() == [1, 2, 0, 3]
    assert scored.scores.tolist() == pytest.approx([1 / 63 + 1 / 61, 1 / 61, 1 / 62, 1 / 62])


def test_lexical_zero_does_not_count_as_a_match():
    scored = fuse(np.array([0, 1]), np.array([0.5, 0.4]), np.array([1]), np.array([0.0]), Fusion.CONVEX, 0.5)
    assert scored.rows.tolist() == [0, 1]
    assert scored.scores.tolist() == pytest.approx([0.5, 0.0])


def test_fusion_of_nothing():
    scored = fuse(np.array([], dtype=np.int64), np.array([]), np.array([], dtype=np.int64), np.array([]))
    assert scored.rows.size == 0 and scored.scores.size == 0


@pytest.mark.parametrize(("name", "member"), [("convex", Fusion.CONVEX), ("RRF", Fusion.RRF)])
def test_fusion_from_str(name, member):
    assert Fusion.from_str(name) is member


def test_unknown_fusion_lists_the_choices():
    with pytest.raises(SettingsError, match=r"unknown fusion 'max'; choose one of: convex, rrf"):
        Fusion.from_str("max")


def test_top_rows():
    assert top_rows(np.array([0.1, 0.9, 0.5, 0.7]), 3).tolist() == [1, 3, 2]
    assert top_rows(np.array([0.1, 0.9]), 10).tolist() == [1, 0]
    assert top_rows(np.array([]), 3).tolist() == []


def test_diversify_brings_in_a_close_second_document():
    hits = [hit("a", 1.0, 0), hit("a", 0.9, 1), hit("a", 0.8, 2), hit("b", 0.7), hit("c", 0.5)]
    chosen = diversify(hits, 3)
    assert [(h.passage.doc, h.score) for h in chosen] == [("a", 1.0), ("a", 0.9), ("b", 0.7)]
    # a document far below the best is not forced in
    assert [h.passage.doc for h in diversify(hits, 3, min_relative=0.75)] == ["a", "a", "a"]
    assert [h.score for h in diversify(hits, 5)] == [1.0, 0.9, 0.8, 0.7, 0.5]
    assert diversify([], 3) == []


def test_document_ranking_takes_each_documents_best_passage():
    hits = [hit("a", 0.4, 0), hit("b", 0.9), hit("a", 0.7, 1)]
    assert document_ranking(hits) == [("b", 0.9), ("a", 0.7)]


# ----------------------------------------------------------------------------- tiny index


@pytest.mark.parametrize(
    ("query", "doc"),
    [
        ("Beta Watch Japan", "b.txt"),
        ("owls at night", "c.md"),
        ("river festival Lyon", "a.txt"),
        ("who opened the festival? the mayor", "a.txt"),
    ],
)
def test_hybrid_search_on_a_tiny_index(tiny_index, query, doc):
    hits = retrieval.search(tiny_index, HashingEmbedder().embed_query(query), query, 3)
    assert len(hits) == 3
    assert hits[0].passage.doc == doc
    assert hits[0].dense_rank == 0 and hits[0].lexical_rank == 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_with_rrf_and_a_document_filter(tiny_index):
    query = "Beta Watch Japan"
    vector = HashingEmbedder().embed_query(query)
    assert retrieval.search(tiny_index, vector, query, 1, method=Fusion.RRF)[0].passage.doc == "b.txt"
    hits = retrieval.search(tiny_index, vector, query, 5, scope=Scope.of(docs=["a.txt", "c.md"]))
    assert {h.passage.doc for h in hits} == {"a.txt", "c.md"}


def test_scope_rows_by_document_and_kind(tiny_index):
    assert Scope.of() is None and Scope.of([], []) is None
    backend = LocalBackend(tiny_index)
    docs = [p.doc for p in tiny_index.passages]

    def rows(**chosen) -> list[int]:
        return backend.rows_in(Scope.of(**chosen)).tolist()

    assert rows(kinds=["government"]) == [r for r, d in enumerate(docs) if d == "a.txt"]
    assert rows(kinds=["unknown"]) == [r for r, d in enumerate(docs) if d != "a.txt"]
    assert rows(docs=["c.md", "a.txt"]) == [r for r, d in enumerate(docs) if d in {"a.txt", "c.md"}]
    assert rows(docs=["a.txt"], kinds=["NGO"]) == []
    assert rows(docs=["no-such.txt"]) == []


def test_a_filter_that_admits_nothing_finds_nothing(tiny_index):
    vector = HashingEmbedder().embed_query("owls")
    assert retrieval.search(tiny_index, vector, "owls", 5, scope=Scope.of(kinds=["NGO"])) == []


def test_find_mentions_counts_per_document(tiny_index):
    result = find_mentions(tiny_index, "the")
    assert result.documents_searched == 3
    assert result.counts == {"a.txt": 2, "b.txt": 1}
    for mention in result.mentions:
        assert tiny_index.text(mention.doc, mention.span).lower() == "the"
        assert mention.context.contains(mention.span)


class _Texts:
    """Just enough of a search backend for ``find_mentions``: documents to read."""

    dense_candidates = None

    def __init__(self, **texts: str) -> None:
        self.texts = texts

    def documents_to_search(self, docs=None):
        return (SimpleNamespace(id=d, text=t) for d, t in self.texts.items() if docs is None or d in docs)


def test_text_recognition_lookalikes_of_a_term_swap_capital_i_and_small_l():
    assert ocr_lookalikes("AI") == ["Al"]
    assert ocr_lookalikes("AI Act") == ["Al Act"]
    assert ocr_lookalikes("Owls") == ["OwIs"]
    assert ocr_lookalikes("river") == []  # no I or l
    assert ocr_lookalikes("Intelligence") == []  # three such letters: too many spellings to look for


def test_find_mentions_counts_a_lookalike_spelling_apart_from_the_mentions():
    backend = _Texts(
        **{
            "report.txt": "An ASEM Observatory on Al and Human Rights. AI audits. Al governance, Al-based tools.",
            "paper.txt": "Calls on al-Qaeda, AL and Al Gore.",
        }
    )
    result = find_mentions(backend, "AI")
    assert [backend.texts[m.doc][m.span.start : m.span.end] for m in result.mentions] == ["AI"]
    # spelled exactly so, as a whole word: "al-Qaeda" and "AL" are not counted, "Al Gore" is (a hint only)
    assert result.lookalikes == (("Al", 4),)
    assert find_mentions(backend, "audits").lookalikes == ()
    assert find_mentions(backend, "AI", docs=["paper.txt"]).lookalikes == (("Al", 1),)


def test_find_mentions_folds_case_and_line_breaks(tiny_index):
    result = find_mentions(tiny_index, "  THREE   days ")
    assert result.term == "THREE   days"
    assert len(result.mentions) == 1
    mention = result.mentions[0]
    assert tiny_index.text("a.txt", mention.span) == "three\ndays"
    assert tiny_index.text("a.txt", mention.context) == "It lasted three\ndays in June."


def test_find_mentions_no_match_and_scope(tiny_index):
    result = find_mentions(tiny_index, "Zebra Crossing")
    assert (result.documents_searched, result.mentions, result.counts) == (3, (), {})
    assert find_mentions(tiny_index, "the", docs=["b.txt"]).counts == {"b.txt": 1}
    assert find_mentions(tiny_index, "   ").mentions == ()
    # regex characters are literal
    assert find_mentions(tiny_index, "(Japan)").counts == {"b.txt": 1}


# ----------------------------------------------------------------------------- real engine


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "doc", "count"),
    [("Japan Uyghur Union", "004_6fc4feaa17a14d90.txt", 1), ("CHRD", "003_3873f173464d30ec.txt", 6)],
)
def test_names_are_found_by_hybrid_search(real_engine, name, doc, count):
    hits = real_engine.search(name, k=5)
    top_text = real_engine.index.passage_text(hits[0].passage)
    assert name in top_text
    assert hits[0].lexical_rank is not None and hits[0].lexical_rank <= 2
    mentions = real_engine.find(name)
    assert mentions.counts[doc] == count


@pytest.mark.slow
def test_a_name_in_the_signatory_list_is_in_the_top_passage(real_engine):
    hits = real_engine.search("Japan Uyghur Union", k=5)
    assert hits[0].passage.doc == "004_6fc4feaa17a14d90.txt"
    assert "46. Japan Uyghur Union" in real_engine.index.passage_text(hits[0].passage)
    assert hits[0].passage.heading == "Global call for international human rights monitoring mechanisms on China"


def test_approximate_index_candidates_carry_exact_cosines(tiny_settings, fake_embedder):
    from hrqa.engine import Engine

    engine = Engine.open(tiny_settings.with_(index_type="hnsw"), embedder=fake_embedder, build="missing")
    assert engine.index.manifest["index_type"] == "hnsw"
    query = fake_embedder.embed_query("river festival Lyon")
    rows, scores = engine.backend.dense_candidates(query, 5)
    assert list(scores) == sorted(scores, reverse=True)
    assert np.allclose(scores, engine.index.passage_vectors[rows] @ query)
