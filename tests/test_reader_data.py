"""The reader's training data: groups from hrqa's own question path, and the "no answer" groups made
from answerable ones."""

from __future__ import annotations

import random

from hrqa import reader_data
from hrqa.engine import Engine
from hrqa.reader_data import Group


def _answer(text: str, document: str) -> dict:
    start = document.index(text)
    return {"start": start, "end": start + len(text), "text": text}


def test_groups_come_from_the_question_path_with_the_gold_sentence_marked(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    text = (tiny_settings.corpus_dir / "a.txt").read_text(encoding="utf-8")
    record = {"question": "Who opened the river festival?", "doc": "a.txt", "answers": [_answer("The mayor", text)]}
    unanswerable = {"question": "Who closed the river festival?", "doc": "a.txt", "answers": []}
    groups = reader_data.engine_groups(engine, [record, unanswerable], 3, "test")
    answered, abstain = groups
    assert answered.answerable and answered.answers.count(True) == 1
    gold = answered.candidates[answered.answers.index(True)]
    assert gold == "The mayor opened it."
    # each candidate is read with its context: the document's title and the sentence before it
    assert answered.contexts[answered.candidates.index(gold)].startswith("River festival")
    assert not abstain.answerable and not any(abstain.answers)


def test_a_gold_sentence_the_first_stage_missed_is_put_in_for_training_only(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    text = (tiny_settings.corpus_dir / "a.txt").read_text(encoding="utf-8")
    # a question whose words point elsewhere: one candidate, not the gold one
    record = {"question": "Where was the river festival held?", "doc": "a.txt", "answers": [_answer("mayor", text)]}
    (trained,) = reader_data.engine_groups(engine, [record], 1, "test")
    assert trained.candidates == ("The mayor opened it.",) and trained.answers == (True,)
    (validated,) = reader_data.engine_groups(engine, [record], 1, "test", add_missing_gold=False)
    assert validated.answerable and validated.answers == (False,)


def test_no_answer_groups_are_made_from_answerable_ones():
    group = Group(
        "Who did Rollo sign the treaty with in 911?",
        ("Rollo signed the treaty with Charles in 911.", "Charles ruled from Paris in 898.", "The Seine flows."),
        (True, False, False),
        "squad2",
    )
    removed = reader_data.gold_removed(group)
    assert removed.candidates == group.candidates[1:] and not removed.answerable and not any(removed.answers)
    swapped = reader_data.entity_swapped(group, random.Random(0))
    assert swapped is not None and not swapped.answerable and swapped.question != group.question
    # the swapped-in name or number comes from a near miss, never from the answering sentence
    assert "Paris" in swapped.question or "898" in swapped.question
    assert reader_data.gold_removed(Group("q?", ("a", "b"), (False, False), "t")) is None
