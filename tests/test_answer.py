"""The answer step, one mechanism per test, on small examples (plus the real model where it matters)."""

from __future__ import annotations

import pytest

from hrqa import answer
from hrqa.answer import ScoredSentence
from hrqa.engine import Engine
from hrqa.lexical import tokenize
from hrqa.records import Hit, Passage, Span


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("On what dates was the forum held?", "date"),
        ("When was the statement issued?", "date"),
        ("When governments buy AI systems, what should vendors show?", None),
        ("How many organisations signed?", "number"),
        ("Roughly how many participants came?", "number"),
        ("What maximum fine does the law impose?", "number"),
        ("Who is the International Director?", "name"),
        ("Under which rule were discussions held?", None),
        ("Where was the forum held?", "place"),
        ("Which city hosted the seminar?", "place"),
    ],
)
def test_expected_type(question, wanted):
    assert answer.expected_type(question) == wanted


def test_has_type_ignores_what_the_question_already_says():
    question = "What happened at the 2025 forum on what date?"
    assert not answer.has_type("The 2025 forum was a success.", "date", question)
    assert answer.has_type("It opened on 19 April 2025.", "date", question)
    assert answer.has_type("It gathered around one hundred participants.", "number")


def test_missing_specifics_flags_numbers_the_corpus_never_mentions():
    known = set(tokenize("the 23rd seminar in 2025"))
    assert answer.missing_specifics("Which city hosted the 22nd seminar?", known.__contains__) == ["22nd"]
    assert answer.missing_specifics("Which city hosted the 23rd seminar?", known.__contains__) == []
    # words are not specifics: paraphrases reword them freely
    assert answer.missing_specifics("Which metropolis hosted it?", known.__contains__) == []


@pytest.mark.parametrize(
    ("question", "focus"),
    [
        ("Who is the International Director of CHRD?", "International Director"),
        ("Under which rule were all discussions held?", "rule"),
        ("Roughly how many participants did it gather?", "participants"),
        ("Which Japanese political party is among the signatories?", "Japanese political party"),
    ],
)
def test_focus_tokens_are_the_phrase_after_the_question_word(question, focus):
    assert answer.focus_tokens(question) == set(tokenize(focus))


def test_term_weights_favour_words_few_candidates_share():
    matched = [{"seminar", "asem"}, {"seminar", "asem", "rule"}, {"seminar", "asem"}, {"seminar"}]
    weights = answer.term_weights({"seminar", "asem", "rule"}, matched, lambda t: 1.0)
    assert weights["rule"] > weights["asem"] > weights["seminar"]
    boosted = answer.term_weights({"seminar", "rule"}, matched, lambda t: 1.0, focus={"rule"})
    assert boosted["rule"] == pytest.approx(answer.FOCUS_WEIGHT * weights["rule"])


def test_question_words_match_stem_prefixes():
    question = {"japanes", "parti"}
    matched = answer.matched_question_words(
        question, [set(tokenize("National Party of Japan")), set(tokenize("Amnesty International")), set()]
    )
    assert matched == [{"japanes", "parti"}, set(), set()]
    assert answer.matches("japan", {"japanes"}) and not answer.matches("art", {"articl"})


def test_lexical_coverage_is_the_share_of_weight_found():
    weights = {"japanes": 1.0, "parti": 3.0}
    assert answer.lexical_coverage({"parti"}, weights) == 0.75
    assert answer.lexical_coverage(set(), weights) == 0.0
    assert answer.lexical_coverage(set(), {}) == 0.0


def test_is_heading():
    assert answer.is_heading("SUMMARY OF RECOMMENDATIONS", False)
    assert not answer.is_heading("All discussions were held under the Chatham House Rule.", False)
    assert not answer.is_heading("76. National Party of Japan", True)


def _scored(score, dense=0.5, typed=False, doc="a.txt", start=0, end=10):
    return ScoredSentence(
        row=0, doc=doc, span=Span(start, end), score=score, dense=dense, lexical=0.5, passage_rank=0, typed=typed
    )


def test_abstention_reasons():
    knows = {"seminar", "23rd"}.__contains__
    good = [_scored(0.6, typed=True)]
    assert answer.abstention_reason("When was the 23rd seminar held?", good, knows) is None
    assert "22nd" in answer.abstention_reason("When was the 22nd seminar held?", good, knows)
    untyped = [_scored(0.6, typed=False)]
    assert "date" in answer.abstention_reason("When was the seminar held?", untyped, knows)
    weak_typed = [_scored(answer.MIN_TYPED_SCORE - 0.01, typed=True)]
    assert answer.abstention_reason("When was the seminar held?", weak_typed, knows)
    off_topic = [ScoredSentence(0, "a.txt", Span(0, 5), 0.6, answer.MIN_DENSE - 0.05, 0.1, 0, False)]
    assert "close" in answer.abstention_reason("Why is the sky blue?", off_topic, knows)
    # far in meaning but sharing most of the question's words: still answered
    off_topic = [_scored(0.6, dense=answer.MIN_DENSE - 0.05)]
    assert answer.abstention_reason("Why is the sky blue?", off_topic, knows) is None
    off_topic = [ScoredSentence(0, "a.txt", Span(0, 5), 0.6, answer.MIN_DENSE - 0.05, 0.1, 0, False)]
    assert "close" in answer.abstention_reason("Why is the sky blue?", off_topic, knows)
    assert answer.abstention_reason("Anything?", [], knows) == "no passage matches the question"


def test_select_sentences_joins_close_ones_and_stops_at_the_margin():
    scored = [_scored(0.80), _scored(0.78, start=20, end=30), _scored(0.60, start=40, end=50)]
    assert [s.score for s in answer.select_sentences(scored)] == [0.80, 0.78]
    long_first = [_scored(0.8, end=answer.LONG_SENTENCE + 1), _scored(0.79, start=700, end=710)]
    assert len(answer.select_sentences(long_first)) == 1
    assert answer.select_sentences([]) == []


def test_select_across_sources_takes_each_documents_best_sentence():
    scored = [
        _scored(0.9, doc="a"),
        _scored(0.85, doc="a", start=20, end=30),
        _scored(0.7, doc="b"),
        _scored(0.6, doc="c"),
        _scored(0.3, doc="d"),
    ]
    assert [(s.doc, s.score) for s in answer.select_across_sources(scored)] == [("a", 0.9), ("b", 0.7), ("c", 0.6)]
    lone = [_scored(0.9, doc="a"), _scored(0.2, doc="b")]
    assert [s.doc for s in answer.select_across_sources(lone)] == ["a"]


def _hit(doc, start, end, score):
    passage = Passage(id=f"{doc}{start}", doc=doc, span=Span(start, end), first_sentence=0, last_sentence=0)
    return Hit(passage=passage, score=score)


def test_merge_hits_merges_overlapping_passages_of_one_document():
    merged = answer.merge_hits(
        [_hit("a", 0, 50, 0.9), _hit("a", 40, 90, 0.7), _hit("b", 0, 50, 0.8), _hit("a", 200, 250, 0.5)]
    )
    assert merged == [(Span(0, 90), "a", 0.9), (Span(0, 50), "b", 0.8), (Span(200, 250), "a", 0.5)]


def test_order_citations_keeps_each_document_before_second_passages():
    merged = [(Span(0, 10), "a", 0.9), (Span(20, 30), "a", 0.8), (Span(0, 10), "b", 0.4), (Span(0, 10), "c", 0.3)]
    ordered = answer.order_citations(merged, lambda e: e[1] == "c")
    assert [(e[1], e[2]) for e in ordered] == [("c", 0.3), ("a", 0.9), ("b", 0.4), ("a", 0.8)]


def test_answer_on_tiny_corpus_quotes_exact_text(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    result = engine.ask("Where was the river festival held?", k=3)
    assert not result.abstained
    document = engine.document("a.txt")
    first = result.sentences[0]
    assert first.text == document.text[first.span.start : first.span.end]
    assert "Lyon" in first.text
    for citation in result.citations:
        assert citation.passage == engine.document(citation.doc).text[citation.span.start : citation.span.end]
    assert result.citations[first.citation - 1].doc == "a.txt"


def test_list_question_returns_the_matching_entry(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    result = engine.ask("Which signatory is from Japan?")
    assert any("Beta Watch (Japan)" in s.text for s in result.sentences)


@pytest.mark.slow
def test_title_that_restates_the_question_is_not_the_answer(real_engine):
    result = real_engine.ask(
        "Under which rule were all discussions at the 23rd Informal ASEM Seminar on Human Rights held?"
    )
    assert "Chatham House Rule" in result.sentences[0].text


@pytest.mark.slow
def test_unanswerable_near_miss_abstains_but_lists_closest_passages(real_engine):
    result = real_engine.ask("Which city hosted the 22nd Informal ASEM Seminar on Human Rights?")
    assert result.abstained and result.sentences == ()
    assert result.citations and "22nd" in result.abstain_reason


@pytest.mark.parametrize(
    ("question", "several"),
    [
        ("Which organisations from Japan signed the letter?", True),
        ("Who signed the open letter from Japan?", True),
        ("Which Japanese political party is among the signatories?", False),
        ("Under which rule were discussions held?", False),
    ],
)
def test_asks_for_several(question, several):
    assert answer.asks_for_several(question) is several


@pytest.mark.slow
def test_list_question_returns_every_matching_entry(real_engine):
    result = real_engine.ask("Which organisations from Japan signed the open letter?")
    entries = [s.text for s in result.sentences]
    assert len(entries) == 7 and all("Japan" in e for e in entries)
    assert "46. Japan Uyghur Union" in entries
    for sentence in result.sentences:  # every entry cited by a passage that contains it
        citation = result.citations[sentence.citation - 1]
        assert citation.span.contains(sentence.span)
    # a singular question keeps the single best entry
    single = real_engine.ask("Which Japanese political party is among the signatories of the joint open letter?")
    assert [s.text for s in single.sentences] == ["76. National Party of Japan"]
