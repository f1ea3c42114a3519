"""The chat's rendering of answers (``hrqa/ui/render.py``): pure functions, no server."""

from __future__ import annotations

from hrqa import ui
from hrqa.ui.render import quoted


def _answer(*texts: str) -> dict:
    sentences = [{"text": t, "citation": 1, "doc": "a.txt", "start": 0, "end": len(t)} for t in texts]
    return {"abstained": False, "answer": sentences, "citations": [{"n": 1}]}


def test_answer_sentences_are_shown_in_quotation_marks_once():
    assert quoted("The forum was held in Chongqing.") == "“The forum was held in Chongqing.”"
    # a sentence that is a quotation itself keeps its own marks and gets no second pair
    speech = '"It will take a serious commitment," said Renee Xia.'
    assert quoted(speech) == speech
    assert quoted("“Data is power,” she said.") == "“Data is power,” she said."


def test_the_chat_message_quotes_each_sentence_with_its_marker():
    message = ui.answer_markdown(0, _answer("Plain sentence.", '"Quoted," he said.'))
    plain, speech = message.split("\n\n")
    assert plain.startswith("“Plain sentence.”") and 'href="#hrqa-0-1"' in plain
    assert speech.startswith("&quot;Quoted,&quot; he said. <a")  # escaped, no “ before it
