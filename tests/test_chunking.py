"""Chunking: sentence and passage offsets map back to the exact text; wrapped lines, lists, boilerplate."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

from hrqa.chunking import chunk_document, embedding_text, make_passages, split_sentences, split_units
from hrqa.corpus import read_corpus
from hrqa.records import Document, Span
from hrqa.settings import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
SEED_CORPUS = read_corpus(SEEDS)
SEED_DOCS = {d.id: d for d in SEED_CORPUS.documents}
CHUNKING = Settings().chunking
LETTER = "004_6fc4feaa17a14d90.txt"
CHRD_STATEMENT = "003_3873f173464d30ec.txt"


def chunked(doc_id: str, chunking: dict[str, int] = CHUNKING):
    return chunk_document(SEED_DOCS[doc_id], SEED_CORPUS.boilerplate, chunking)


def quote(document: Document, span: Span) -> str:
    return document.text[span.start : span.end]


def doc(text: str, doc_id: str = "t.txt") -> Document:
    return Document(id=doc_id, text=text, sha256="0", title="T")


def test_all_five_seeds_are_read():
    assert sorted(SEED_DOCS) == sorted(p.name for p in SEEDS.glob("*.txt"))


@pytest.mark.parametrize("doc_id", sorted(SEED_DOCS))
def test_every_sentence_and_passage_maps_back_to_the_file(doc_id: str):
    document = SEED_DOCS[doc_id]
    assert document.text == (SEEDS / doc_id).read_text(encoding="utf-8")
    sentences, passages = chunked(doc_id)
    assert sentences and passages
    for position, sentence in enumerate(sentences):
        text = quote(document, sentence.span)
        assert sentence.doc == doc_id and sentence.position == position
        assert text and text == text.strip()
    # sentences are in document order and never overlap
    for before, after in pairwise(sentences):
        assert before.span.end <= after.span.start
    for passage in passages:
        text = quote(document, passage.span)
        assert passage.doc == doc_id
        assert text and text == text.strip()
        first, last = sentences[passage.first_sentence], sentences[passage.last_sentence]
        assert passage.span == Span(first.span.start, last.span.end)
    # every sentence is in some passage
    covered = {i for p in passages for i in range(p.first_sentence, p.last_sentence + 1)}
    assert covered == set(range(len(sentences)))


def test_wrapped_lines_are_rejoined_into_sentences_that_cross_newlines():
    document = SEED_DOCS[CHRD_STATEMENT]
    sentences, _ = chunked(CHRD_STATEMENT)
    texts = [quote(document, s.span) for s in sentences]
    statement = "This statement was issued by Beijing-based Chinese\nHuman Rights Defenders on May 10, 2010."
    # the sentence appears twice in the file (a repeated paragraph); each is one whole sentence
    assert texts.count(statement) == 2
    talks = next(t for t in texts if t.startswith("On May 13, the governments"))
    assert talks == (
        "On May 13, the governments\nof China and the United States are set\n"
        "to hold the next round of talks in the U.S.-China Human Rights Dialogue."
    )
    assert sum("\n" in t for t in texts) >= 10


def test_list_items_of_the_open_letter_are_one_unit_each():
    document = SEED_DOCS[LETTER]
    sentences, _ = chunked(LETTER)
    item_lines = [line.strip() for line in document.text.splitlines() if re.match(r"^\s+\d+\. ", line)]
    items = [quote(document, s.span) for s in sentences if s.is_list_item]
    assert len(item_lines) == 281
    assert items == item_lines
    assert "46. Japan Uyghur Union" in items
    assert "56. Chinese Human Rights Defenders (CHRD)" in items


def test_list_passages_carry_the_letters_heading_and_respect_the_item_count():
    sentences, passages = chunked(LETTER)
    list_passages = [p for p in passages if sentences[p.first_sentence].is_list_item]
    assert len(list_passages) == 29  # 281 items, 10 per passage
    for passage in list_passages:
        assert passage.heading == "Global call for international human rights monitoring mechanisms on China"
        window = sentences[passage.first_sentence : passage.last_sentence + 1]
        assert all(s.is_list_item for s in window)
        assert len(window) <= CHUNKING["list_items_per_passage"]
    # list windows do not overlap: each item is in exactly one list passage
    assert sum(p.last_sentence - p.first_sentence + 1 for p in list_passages) == 281
    # the heading is part of what the model sees for a list passage
    letter = SEED_DOCS[LETTER]
    text = embedding_text(letter, list_passages[4])
    assert text.splitlines()[:2] == [letter.title, list_passages[4].heading]


def test_list_heading_is_the_sentence_ending_in_a_colon():
    document = doc(
        "Intro paragraph.\n\nSignatories of the letter:\n\n  1. Acme Union\n  2. Beta Watch\n- Gamma League\n"
    )
    sentences, passages = chunk_document(document, frozenset(), CHUNKING)
    assert [(quote(document, s.span), s.is_list_item) for s in sentences] == [
        ("Intro paragraph.", False),
        ("Signatories of the letter:", False),
        ("1. Acme Union", True),
        ("2. Beta Watch", True),
        ("- Gamma League", True),
    ]
    assert [(p.first_sentence, p.last_sentence, p.heading) for p in passages] == [
        (0, 1, ""),
        (2, 4, "Signatories of the letter:"),
    ]


@pytest.mark.parametrize("doc_id", [CHRD_STATEMENT, LETTER])
def test_boilerplate_lines_are_in_no_sentence_and_no_passage(doc_id: str):
    document = SEED_DOCS[doc_id]
    assert "Share on facebook" in document.text
    sentences, passages = chunked(doc_id)
    for unit in list(sentences) + list(passages):
        text = quote(document, unit.span)
        for line in SEED_CORPUS.boilerplate:
            assert line not in text, (line, text[:80])


def test_boilerplate_is_left_out_of_a_tiny_corpus(tiny_corpus: Path):
    corpus = read_corpus(tiny_corpus)
    for document in corpus.documents:
        sentences, passages = chunk_document(document, corpus.boilerplate, CHUNKING)
        for unit in list(sentences) + list(passages):
            assert "Menu Home" not in quote(document, unit.span)


def test_tiny_corpus_units_exactly(tiny_corpus: Path):
    corpus = read_corpus(tiny_corpus)
    a = next(d for d in corpus.documents if d.id == "a.txt")
    sentences, passages = chunk_document(a, corpus.boilerplate, CHUNKING)
    assert [quote(a, s.span) for s in sentences] == [
        "The river festival was held in Lyon.",
        "It lasted three\ndays in June.",
        "The mayor opened it.",
    ]
    assert len(passages) == 1 and quote(a, passages[0].span).endswith("The mayor opened it.")


SIX = "One is here. Two is here. Three is here. Four is here. Five is here. Six is here."


@pytest.mark.parametrize(
    ("size", "overlap", "windows"),
    [
        (3, 1, [(0, 2), (2, 4), (4, 5)]),
        (3, 0, [(0, 2), (3, 5)]),
        (2, 1, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]),
        (4, 2, [(0, 3), (2, 5)]),
        (1, 0, [(i, i) for i in range(6)]),
        (6, 0, [(0, 5)]),
    ],
)
def test_passage_windows_follow_size_and_overlap(size: int, overlap: int, windows):
    document = doc(SIX)
    units = split_units(document.text)
    assert len(units) == 6
    passages = make_passages(document, units, max_sentences=size, max_chars=10_000, overlap=overlap, list_items=10)
    assert [(p.first_sentence, p.last_sentence) for p in passages] == windows


def test_passage_windows_respect_max_chars_but_keep_a_long_sentence_whole():
    long_sentence = "This sentence is long " + "and longer " * 10 + "still."
    document = doc(f"Short one. Short two. {long_sentence} Short three.")
    units = split_units(document.text)
    assert len(units) == 4
    passages = make_passages(document, units, max_sentences=4, max_chars=30, overlap=0, list_items=10)
    assert [(p.first_sentence, p.last_sentence) for p in passages] == [(0, 1), (2, 2), (3, 3)]
    assert quote(document, passages[1].span) == long_sentence
    for passage in passages:
        assert passage.span.end - passage.span.start <= 30 or passage.first_sentence == passage.last_sentence


def test_seed_passages_respect_the_settings():
    chunking = {"passage_sentences": 3, "passage_max_chars": 500, "passage_overlap": 1, "list_items_per_passage": 5}
    for doc_id in SEED_DOCS:
        sentences, passages = chunked(doc_id, chunking)
        for passage in passages:
            count = passage.last_sentence - passage.first_sentence + 1
            if sentences[passage.first_sentence].is_list_item:
                assert count <= 5
            else:
                assert count <= 3
                assert count == 1 or passage.span.end - passage.span.start <= 500


def test_passage_ids_are_content_hashes():
    document = doc(SIX)
    first = chunk_document(document, frozenset(), CHUNKING)[1]
    again = chunk_document(doc(SIX), frozenset(), CHUNKING)[1]
    assert [p.id for p in first] == [p.id for p in again]
    changed = chunk_document(doc(SIX.replace("Six", "Seven")), frozenset(), CHUNKING)[1]
    assert first[0].id == changed[0].id and first[-1].id != changed[-1].id
    assert len({p.id for p in first}) == len(first)


def test_short_line_without_end_punctuation_is_a_heading_for_the_prose_below():
    document = doc("Background\n\nThe seminar met in Copenhagen. It lasted three days.\n")
    units = split_units(document.text)
    assert [(u.kind, quote(document, u.span)) for u in units] == [
        ("heading", "Background"),
        ("sentence", "The seminar met in Copenhagen."),
        ("sentence", "It lasted three days."),
    ]
    passages = chunk_document(document, frozenset(), CHUNKING)[1]
    assert passages[0].heading == "Background"


def test_split_sentences_maps_a_wrapped_paragraph():
    text = "Intro.\n\nFirst part\ncontinues here. Second sentence\nwraps too.\n"
    start = text.index("First")
    end = text.index("too.") + 4
    spans = split_sentences(text, start, end)
    assert [text[s.start : s.end] for s in spans] == ["First part\ncontinues here.", "Second sentence\nwraps too."]


def test_a_sentence_broken_by_blank_lines_after_a_comma_is_one_sentence():
    text = "Intro.\n\nThe paper by Professor Dignum,\n\n\n\nDr Carli and Dr Tang set the frame. It held.\n\nNext.\n"
    units = split_units(text)
    assert [text[u.span.start : u.span.end] for u in units] == [
        "Intro.",
        "The paper by Professor Dignum,\n\n\n\nDr Carli and Dr Tang set the frame.",
        "It held.",
        "Next.",
    ]
    # a list entry ending in a comma is still an entry of its own, and a heading still a heading
    listed = split_units("Signed by:\n\n1. Acme Union,\n\n2. Beta Watch\n\nClosing words\n\nThe end.\n")
    assert [u.kind for u in listed] == ["sentence", "item", "item", "heading", "sentence"]


def test_embedding_text_folds_white_space_and_adds_the_title():
    document = Document(id="t.txt", text="Heading\n\nA wrapped\nline   here.", sha256="0", title="Doc title")
    passages = chunk_document(document, frozenset(), CHUNKING)[1]
    assert embedding_text(document, passages[0]) == "Doc title\nHeading\nHeading A wrapped line here."


# ----------------------------------------------------------------------------- over-long blocks (issue 14)

SEED_SNAPSHOT = Path(__file__).resolve().parent / "data" / "seed_chunks.json"


def unpunctuated(chars: int, seed: int = 0) -> str:
    """A paragraph of random lower-case words with no sentence end anywhere (as a scraped table dump)."""
    import random

    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(500)]
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars].rstrip() + "\n"


def test_seed_chunks_are_those_of_the_chunker_before_the_sentence_cap():
    """tests/data/seed_chunks.json was written by the chunker of commit fce572b (before the cap) and again
    when blank lines after a comma stopped ending a paragraph (sentence rules 2: in seed 002 "prepared by
    Professor Virginia Dignum," and "Dr Rachele Carli, ..." became one sentence; nothing else moved but
    the paragraph numbers after it): every seed's units and passages are still exactly those."""
    import json

    snapshot = json.loads(SEED_SNAPSHOT.read_text(encoding="utf-8"))
    assert sorted(snapshot) == sorted(SEED_DOCS)
    for doc_id, expected in snapshot.items():
        units = split_units(SEED_DOCS[doc_id].text, SEED_CORPUS.boilerplate)
        assert [[u.span.start, u.span.end, u.kind, u.block, int(u.after_skip)] for u in units] == expected["units"]
        assert not any(u.cut for u in units)
        passages = chunked(doc_id)[1]
        assert [
            [p.id, p.span.start, p.span.end, p.first_sentence, p.last_sentence, p.heading] for p in passages
        ] == expected["passages"]


def test_a_long_unpunctuated_paragraph_costs_work_linear_in_its_length(monkeypatch):
    """The sentence splitter is quadratic in the length of what it is given (pysbd); it is given at most
    ``max_sentence_chars`` characters at a time and each character once, so its work per character is
    bounded by a constant. (Time figures: benchmarks/chunk_long_paragraph.py.)"""
    from hrqa import chunking

    calls: list[int] = []
    real = chunking._segment

    def counting(joined: str) -> list[str]:
        calls.append(len(joined))
        return real(joined)

    monkeypatch.setattr(chunking, "_segment", counting)
    text = unpunctuated(200_000)
    units = split_units(text, max_chars=3000)
    assert max(calls) <= 3000
    assert sum(calls) <= len(text)  # each character reaches the splitter at most once
    assert sum(c * c for c in calls) <= 3000 * len(text)  # quadratic work per call, linear in total
    assert len(calls) <= 2 * len(text) // 1500 + 1  # every two windows advance half the cap at least
    # the units cover the paragraph exactly, in order, each at most the cap, each a piece that says so
    assert all(u.kind == "sentence" and u.cut and 0 < u.span.end - u.span.start <= 3000 for u in units)
    assert "".join(text[u.span.start : u.span.end] for u in units).replace(" ", "") == text.replace(" ", "").strip()
    for before, after in pairwise(units):
        assert before.span.end < after.span.start and text[before.span.end : after.span.start].isspace()


def test_a_long_list_item_is_cut_into_pieces_that_say_so():
    text = "Signatories:\n\n- " + unpunctuated(10_000).strip() + "\n- Beta Watch\n"
    units = split_units(text, max_chars=1000)
    items = [u for u in units if u.kind == "item"]
    assert len(items) > 10 and items[-1].span == Span(text.index("- Beta"), len(text) - 1)
    assert all(u.cut for u in items[:-1]) and not items[-1].cut
    assert all(u.span.end - u.span.start <= 1000 and quote(doc(text), u.span).strip() for u in items)


def test_a_paragraph_over_the_cap_keeps_its_sentences_whole_when_they_fit():
    """Windows of an over-long paragraph end at sentence ends, so its sentences are those of the
    splitter run over the whole paragraph, and none is marked cut."""
    sentences = [f"Witness {i} said the meeting in Geneva lasted {i + 2} hours. " for i in range(120)]
    text = "".join(sentences).strip() + "\n"
    whole = split_units(text, max_chars=10**9)
    capped = split_units(text, max_chars=400)
    assert len(whole) == 120
    assert [u.span for u in capped] == [u.span for u in whole]
    assert not any(u.cut for u in capped)


def test_one_over_long_sentence_among_normal_ones_is_cut_and_flagged():
    long_one = "The list of names runs on " + unpunctuated(2_500).strip() + "."
    text = f"First sentence here. {long_one} Last sentence here.\n"
    document = doc(text)
    units = split_units(text, max_chars=1000)
    assert quote(document, units[0].span) == "First sentence here." and not units[0].cut
    assert quote(document, units[-1].span) == "Last sentence here." and not units[-1].cut
    pieces = units[1:-1]
    assert len(pieces) >= 3 and all(u.cut and u.span.end - u.span.start <= 1000 for u in pieces)
    assert " ".join(quote(document, u.span) for u in pieces) == long_one
    # passages still hold whole units, and none is longer than the cap
    passages = chunk_document(document, frozenset(), {**CHUNKING, "max_sentence_chars": 1000})[1]
    assert all(p.span.end - p.span.start <= max(1000, CHUNKING["passage_max_chars"]) for p in passages)
