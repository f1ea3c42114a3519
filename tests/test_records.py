"""The records serialise themselves (what the CLI and the API print), and a missing date has one label."""

from __future__ import annotations

from hrqa.records import MISSING_DATE, Document, FindReport, FindResult, Mention, Span, date_label, lookalike_note


def test_a_missing_date_has_one_label():
    assert MISSING_DATE == "undated"
    assert date_label(None) == date_label("") == MISSING_DATE
    assert date_label("2024-06-01") == "2024-06-01"


def test_a_document_serialises_as_the_api_returns_it():
    document = Document("a.txt", "Owls hunt.", "ab12", "Owls", date=None, publisher="P", kind="ngo", url="u")
    assert document.to_json() == {
        "id": "a.txt",
        "title": "Owls",
        "date": None,
        "publisher": "P",
        "kind": "ngo",
        "text": "Owls hunt.",
    }


def test_a_find_result_serialises_with_the_context_the_caller_gives():
    text = "Owls hunt at night. Owls sleep."
    mentions = (Mention("a.txt", Span(0, 4), Span(0, 19)), Mention("a.txt", Span(20, 24), Span(20, 31)))
    result = FindResult("owls", 3, mentions)
    assert result.to_json(lambda m: text[m.context.start : m.context.end]) == {
        "term": "owls",
        "documents_searched": 3,
        "counts": {"a.txt": 2},
        "mentions": [
            {"doc": "a.txt", "start": 0, "end": 4, "context": "Owls hunt at night."},
            {"doc": "a.txt", "start": 20, "end": 24, "context": "Owls sleep."},
        ],
        "lookalikes": [],
    }


def test_a_find_summary_names_the_lookalike_spellings_it_did_not_count():
    report = FindReport(
        term="AI",
        documents_searched=1,
        characters_searched=100,
        counts=(),
        mentions=(),
        total=0,
        lookalikes=(("Al", 2),),
    )
    assert report.summary() == (
        "searched 1 documents, 100 characters: no mention of “AI”; not counted: 2 of “Al”, which text "
        "recognition may have made of “AI” (search for it to list them)"
    )
    assert report.to_json()["lookalikes"] == [{"spelling": "Al", "mentions": 2}]
    assert lookalike_note("AI", ()) == ""
