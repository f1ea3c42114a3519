"""The chat's rendering of answers (``hrqa/ui/render.py``): pure functions, no server."""

from __future__ import annotations

from hrqa import ui
from hrqa.ui.render import citations_text, escape, quoted


def _answer(*texts: str) -> dict:
    sentences = [{"text": t, "citation": 1, "doc": "a.txt", "start": 0, "end": len(t)} for t in texts]
    return {"abstained": False, "answer": sentences, "citations": [{"n": 1, "doc": "a.txt"}]}


def test_answer_sentences_are_shown_in_quotation_marks_once():
    assert quoted("The forum was held in Chongqing.") == "“The forum was held in Chongqing.”"
    # a sentence that is a quotation itself keeps its own marks and gets no second pair
    speech = '"It will take a serious commitment," said Renee Xia.'
    assert quoted(speech) == speech
    assert quoted("“Data is power,” she said.") == "“Data is power,” she said."
    ending = "50 United Nations experts called for “decisive measures to protect fundamental freedoms in China.”"
    assert quoted(ending) == ending  # not “… in China.””
    assert quoted("He said “no” twice.") == "“He said “no” twice.”"  # a quotation inside: the marks stay


def test_copy_with_citations_quotes_sentences_as_the_chat_does():
    ending = "50 United Nations experts called for “decisive measures to protect fundamental freedoms in China.”"
    answer = {
        "abstained": False,
        "answer": [{"text": ending, "citation": 1, "start": 10, "end": 110}],
        "citations": [{"n": 1, "title": "Open letter", "doc": "d.txt", "start": 0, "end": 200}],
        "index": {"id": "i", "model": "m"},
    }
    assert citations_text(answer).splitlines()[0] == f"{ending} [1] (characters 10–110)"


def test_the_chat_message_quotes_each_sentence_with_its_marker():
    message = ui.answer_markdown(0, _answer("Plain sentence.", '"Quoted," he said.'))
    who, plain, speech = message.split("\n\n")
    assert who == "**a.txt**:"  # no catalog entry: the document's name says whose words these are
    assert plain.startswith("“Plain sentence.”") and 'href="#hrqa-0-1"' in plain
    assert speech.startswith("&quot;Quoted,&quot; he said. <a")  # escaped, no “ before it


def test_each_sources_sentences_come_under_its_name_and_kind():
    answer = {
        "abstained": False,
        "answer": [
            {"text": "Cameras prevent crimes.", "citation": 1, "doc": "gov.txt"},
            {"text": "They also record offences.", "citation": 1, "doc": "gov.txt"},
            {"text": "Surveillance targets defenders.", "citation": 2, "doc": "ngo.txt"},
        ],
        "citations": [
            {"n": 1, "doc": "gov.txt", "publisher": "Ministry <Press>", "kind": "state-affiliated"},
            {"n": 2, "doc": "ngo.txt", "title": "Open letter", "kind": "NGO"},
        ],
    }
    blocks = ui.answer_markdown(0, answer).split("\n\n")
    # escaped like every text the chat shows
    assert blocks[0] == f"**{escape('Ministry <Press>')}** · {escape('state-affiliated')}:"
    assert "&lt;Press&gt;" in blocks[0]
    assert blocks[1].startswith("“Cameras prevent crimes.”") and blocks[2].startswith("“They also record")
    assert blocks[3] == "**Open letter** · NGO:"  # no publisher in the catalog: the title
    assert blocks[4].startswith("“Surveillance targets defenders.”") and len(blocks) == 5


def test_an_answer_the_reader_is_unsure_of_says_so_under_its_quotes():
    unsure = {**_answer("Plain sentence."), "confidence": 0.18}
    blocks = ui.answer_markdown(0, unsure).split("\n\n")
    assert blocks[-1].startswith("*The reader is unsure") and "confidence 0.18" in blocks[-1]
    assert "unsure" not in ui.answer_markdown(0, {**_answer("Plain sentence."), "confidence": 0.5})
    abstained = {"abstained": True, "answer": [], "citations": [], "confidence": 0.02}
    assert "unsure" not in ui.answer_markdown(0, abstained)
