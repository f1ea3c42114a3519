"""The façade: question cleaning, follow-ups, cross-source questions, filters, diversity."""

from __future__ import annotations

import pytest

from hrqa.engine import Engine, asks_across_sources, clean_question, contextualise
from hrqa.errors import DocumentNotFoundError, QuestionError


def test_clean_question_folds_white_space_and_control_characters():
    assert clean_question("  Who\tsigned\x00 the\nletter? ", 100) == "Who signed the letter?"


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01"])
def test_clean_question_refuses_empty(question):
    with pytest.raises(QuestionError, match="empty"):
        clean_question(question, 100)


def test_clean_question_refuses_overlong():
    with pytest.raises(QuestionError, match="limit of 10"):
        clean_question("x" * 11, 10)


@pytest.mark.parametrize(
    ("question", "history", "searched"),
    [
        ("Who hosted it?", ["Where was the seminar held?"], "Where was the seminar held? Who hosted it?"),
        ("And the dates?", ["Where was the seminar held?"], "Where was the seminar held? And the dates?"),
        ("Who signed the open letter?", ["Where was the seminar held?"], "Who signed the open letter?"),
        ("Who hosted it?", [], "Who hosted it?"),
    ],
)
def test_contextualise_follow_ups(question, history, searched):
    assert contextualise(question, history) == searched


@pytest.mark.parametrize(
    ("question", "across"),
    [
        ("How do the documents weigh opportunities against risks?", True),
        ("Is surveillance portrayed as protective or as a threat?", True),
        ("Which two media outlets interviewed Professor Gong Xianghe?", False),
    ],
)
def test_asks_across_sources(question, across):
    assert asks_across_sources(question) is across


def test_filters_restrict_citations(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    result = engine.ask("festival letter owls", k=5, docs=["c.md"])
    assert result.citations and {c.doc for c in result.citations} == {"c.md"}
    by_kind = engine.ask("festival letter owls", k=5, kinds=["government"])
    assert {c.doc for c in by_kind.citations} == {"a.txt"}


def test_document_refuses_paths(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    assert engine.document("a.txt").title == "River festival"
    for bad in ["../a.txt", "/etc/passwd", "missing.txt"]:
        with pytest.raises(DocumentNotFoundError):
            engine.document(bad)


def test_status_line(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    status = engine.status()
    assert status.documents == 3 and status.model == "hashing-test" and status.stale is None
    assert "3 documents" in status.line()


@pytest.mark.slow
def test_follow_up_is_answered_about_the_earlier_subject(real_engine):
    first = "Where was the 23rd ASEM seminar on human rights held?"
    assert "Copenhagen" in " ".join(s.text for s in real_engine.ask(first).sentences)
    follow_up = real_engine.ask("Who hosted it?", history=[first])
    assert not follow_up.abstained
    assert "hosted by the Ministry of Foreign Affairs of Denmark" in " ".join(s.text for s in follow_up.sentences)


@pytest.mark.slow
def test_perspective_question_cites_every_side(real_engine):
    result = real_engine.ask(
        "Is China's use of cameras and digital surveillance technology portrayed as protective or as a threat "
        "to human rights across the documents?"
    )
    cited = {c.doc for c in result.citations}
    assert {"001_31dddcd0259575bf.txt", "004_6fc4feaa17a14d90.txt", "000_64fb9a0533498b8d.txt"} <= cited
    kinds = {c.kind for c in result.citations}
    assert "state-affiliated" in kinds and "NGO" in kinds
    # and the answer quotes each side in its own words, one sentence per document
    quoted_docs = [s.doc for s in result.sentences]
    assert len(quoted_docs) == len(set(quoted_docs)) >= 2


@pytest.mark.slow
def test_names_and_list_entries_found(real_engine):
    result = real_engine.ask("Which Japanese political party is among the signatories of the joint open letter?")
    assert "National Party of Japan" in result.sentences[0].text
    mentions = real_engine.find("Japan Uyghur Union")
    assert mentions.counts == {"004_6fc4feaa17a14d90.txt": 1}
