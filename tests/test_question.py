"""What a question asks for, read from its wording (``hrqa/question.py``); the rest of the module is
tested with the engine (``test_engine.py``)."""

from __future__ import annotations

from hrqa import question


def test_quantity_questions_are_told_by_how_many_or_how_much():
    assert question.asks_quantity("Roughly how many experts took part in the forum?")
    assert question.asks_quantity("How much money did the EU put into the seminar?")
    assert not question.asks_quantity("How did the seminar end?")
    assert not question.asks_quantity("Which organisations signed the letter?")


def test_date_and_who_questions_are_told_from_their_wording():
    assert question.asks_date("In what year did Liu Huawen join the committee?")
    assert question.asks_date("On which date was the letter published?")
    assert not question.asks_date("When was the seminar held?")  # "when" may be answered by an event
    assert not question.asks_date("On what grounds do they contest it?")
    assert question.asks_who("Who delivered the keynote address?") and question.asks_who("By whom was it hosted?")
    assert not question.asks_who("What did the man who founded it say?")  # a relative "who" asks no one


def test_money_questions_are_told_from_their_wording():
    assert question.asks_money("How much money did the EU put into the seminar?")
    assert question.asks_money("How much did the European Union contribute to the budget?")
    assert question.asks_money("What maximum fine does the law impose for violations?")
    assert question.asks_money("How much did it cost to build Harvard Stadium?")
    assert not question.asks_money("How much did the forum change the debate?")
    assert not question.asks_money("How many organisations signed the letter?")
    assert not question.asks_money("Which fine distinction does LIU draw?")


def test_a_question_may_name_how_many_things_it_wants():
    assert question.named_count("Which five issues did CHRD want Washington to prioritise?") == 5
    assert question.named_count("What are the 2 integer responses to a decision problem?") == 2
    assert question.named_count("Which issues did CHRD raise?") == 0
    assert question.named_count("Did both governments agree to two rounds?") == 0


def test_the_focus_of_a_question_drops_the_clause_that_frames_it():
    assert question.focus("According to LIU Huawen, which scholar introduced the concept?") == (
        "Which scholar introduced the concept?"
    )
    assert question.focus("In its May 2010 statement ahead of the talks, which two dissidents did CHRD name?") == (
        "Which two dissidents did CHRD name?"
    )
    assert question.focus("At the forum's final ceremony, in what capacity did he speak?") == (
        "In what capacity did he speak?"
    )
    # no opening frame, a frame the question ends with, an exception ("besides …") is what is asked
    assert question.focus("Which scholar introduced the concept?") is None
    assert question.focus("Which scholar introduced the concept, according to LIU Huawen?") is None
    assert question.focus("Besides its five priority areas, which other issues did CHRD raise?") is None
    # a frame holding a comma of its own is left whole rather than cut in the middle
    assert question.focus("According to the statement adopted at the forum, held in April, what goal?") is None
