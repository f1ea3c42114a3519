"""The first stage: which sentences reach the reader, and the context each is read with."""

from __future__ import annotations

import numpy as np

from hrqa import candidates
from hrqa.engine import Engine
from hrqa.lexical import tokenize
from hrqa.reader import CONTEXT_CHARS, FIRST_STAGE_RRF_K, reader_text, sentence_context


def test_a_line_restating_the_documents_title_is_no_candidate():
    title = set(tokenize("CHINA – Joint Human Rights Dialogue with the USA: Time to make it effective"))
    assert candidates.restates_title("CHINA – Joint Human Rights Dialogue with the USA", title)
    assert not candidates.restates_title("This statement was issued by CHRD on May 10, 2010.", title)
    assert not candidates.restates_title("", title) and not candidates.restates_title("Joint dialogue", set())
    # a sentence stays a candidate even where a document without catalog entry took it as its title
    assert not candidates.restates_title(
        "The river festival was held in Lyon.", set(tokenize("The river festival was held in Lyon."))
    )


def test_labels_are_no_candidates_but_short_sentences_and_list_entries_are():
    assert candidates.is_label("Hosted by", False) and candidates.is_label("Share:", False)
    assert not candidates.is_label("It rained.", False)
    assert not candidates.is_label("2. Acme", True)
    assert not candidates.is_label("2023-07-31 14:21·Forum on Global Human Rights Governance", False)


def test_a_breadcrumb_trail_is_a_label():
    assert candidates.is_label("CHINA VIEW> Documents> Detail", False)
    assert candidates.is_label("Home » News » Statements", False)
    # a dateline is not a trail, nor is a sentence or a list entry that holds the sign
    assert not candidates.is_label("29-31 October 2025 | Copenhagen, Denmark", False)
    assert not candidates.is_label("Growth was > 5% in 2020.", False)
    assert not candidates.is_label("123. Stand with HK@JPN>", True)


def test_lines_leading_into_what_follows_are_labels():
    for line in ("In partnership with", "Co-organised by", "Who we work with", "Signatories of the letter:"):
        assert candidates.is_label(line, False), line
    assert not candidates.is_label("In partnership with ASEF.", False)  # a sentence
    assert not candidates.is_label("The seminar was organised by", True)  # a list entry stays
    assert not candidates.is_label("Organisations signing the letter", False)
    # a sentence the segmenter cut after a function word stays a candidate
    assert not candidates.is_label(
        '"Talks must be one part of a consistent policy towards China." CHRD urges the', False
    )


def _row_of(backend, doc: str, text: str) -> int:
    for row in backend.sentence_rows_of(doc):
        if backend.text(doc, backend.sentence_at(row).span) == text:
            return row
    raise AssertionError(f"no sentence {text!r} in {doc}")


def test_a_sentence_is_read_with_its_title_and_the_sentence_before_it(tiny_settings, fake_embedder):
    backend = Engine.open(tiny_settings, embedder=fake_embedder, build="missing").backend
    context = candidates.context_of(backend, _row_of(backend, "a.txt", "The mayor opened it."))
    assert context == "River festival | It lasted three days in June."  # the line break folded to a space


def test_a_list_entry_is_read_with_the_line_that_leads_into_its_list(tiny_settings, fake_embedder):
    backend = Engine.open(tiny_settings, embedder=fake_embedder, build="missing").backend
    row = _row_of(backend, "b.txt", "3. Gamma League")
    assert backend.sentence_at(row).is_list_item
    context = candidates.context_of(backend, row)
    # not the entry before it ("2. Beta Watch (Japan)"): the lead-in line, here also the document's title
    assert context.endswith("Signatories of the letter:") and "Beta Watch" not in context


def test_the_first_sentence_has_only_the_title_and_context_is_cut():
    assert sentence_context("River festival", "") == "River festival"
    assert sentence_context("River festival", "River festival") == "River festival"  # a title line before it
    assert sentence_context("", "It rained.") == "It rained."
    assert len(sentence_context("T", "x" * 1000)) == len("T | ") + CONTEXT_CHARS
    # the sentence comes first: truncation shortens the context, never the sentence read
    assert reader_text("It rained.", "Weather") == "It rained. [SEP] Weather"
    assert reader_text("It rained.", "") == "It rained."


def test_the_reader_is_given_each_candidates_context(tiny_settings, fake_embedder):
    from tests.test_answer import FakeReader

    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    fake = FakeReader({"The mayor opened it.": 3.0})
    engine._reader = fake
    engine.ask("Who opened the river festival?")
    assert fake.sentences and None not in fake.contexts
    mayor = fake.sentences.index("The mayor opened it.")
    assert fake.contexts[mayor] == "River festival | It lasted three days in June."


def test_the_passage_rank_reaches_the_fusion_only_when_asked(tiny_settings, fake_embedder, monkeypatch):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    retrieved = engine.retrieve("Who opened the river festival?", 5)
    original, seen, constants = candidates.first_stage, [], []

    def spy(dense, lexical, limit, passage_rank=None, rrf_k=None):
        seen.append(passage_rank)
        constants.append(rrf_k)
        return original(dense, lexical, limit, passage_rank, rrf_k)

    monkeypatch.setattr(candidates, "first_stage", spy)
    args = (engine.backend, "Who opened it?", retrieved.query_vector, retrieved.hits, 50)
    candidates.candidates(*args)
    found = candidates.candidates(*args, passage_rank=True)
    assert seen[0] is None
    # one rank per sentence considered, in retrieval's ranks: the best passage's rank for each
    assert len(seen[1]) >= len(found) and seen[1].min() == 0
    assert set(seen[1].tolist()) <= set(range(len(retrieved.hits)))
    assert {c.passage_rank for c in found} <= set(seen[1].tolist())
    assert constants == [FIRST_STAGE_RRF_K, FIRST_STAGE_RRF_K]
    candidates.candidates(*args, rrf_k=7)
    assert constants[-1] == 7


def test_sentences_that_differ_only_in_case_spacing_or_punctuation_are_one_candidate():
    summary = "The talks showed the value of dialogue and the strengths of Asia and Europe"
    assert candidates.wording(summary) == candidates.wording(summary.upper() + ".")
    assert candidates.wording(summary) == candidates.wording(summary.replace(" ", "\n  "))
    assert candidates.wording(summary) != candidates.wording(summary.replace("Europe", "Africa"))


def test_spread_takes_each_documents_best_then_the_next_best():
    ranked = np.array([4, 0, 1, 2, 3, 5])
    docs = ["a", "a", "b", "a", "a", "c"]  # by position
    assert candidates.spread(ranked, docs, limit=3).tolist() == [4, 2, 5]
    assert candidates.spread(ranked, docs, limit=4).tolist() == [4, 0, 2, 5]
    assert candidates.spread(ranked, docs, limit=2).tolist() == [4, 2]
    assert candidates.spread(ranked, docs, limit=9).tolist() == ranked.tolist()


class _Texts:
    """A backend's ``document`` for ``documents_holding``: documents by id, with their text."""

    def __init__(self, texts):
        self.texts = texts

    def document(self, doc):
        from types import SimpleNamespace

        return SimpleNamespace(text=self.texts[doc])


def test_documents_holding_every_number_of_the_question():
    backend = _Texts({"a": "Held on 2025-04-19, the 23RD forum.", "b": "In 2010 and 2.5 times", "c": "On 12025."})
    docs = {"a", "b", "c"}
    assert candidates.documents_holding(backend, docs, ("2025", "23rd")) == {"a"}  # as a word, any case
    assert candidates.documents_holding(backend, docs, ("2010",)) == {"b"}
    assert candidates.documents_holding(backend, docs, ("5",)) == set()  # not the 5 of 2.5
    assert candidates.documents_holding(backend, docs, ()) == set()


def test_sentences_of_documents_without_the_questions_numbers_are_left_out(tiny_settings, fake_embedder):
    engine = Engine.open(tiny_settings, embedder=fake_embedder, build="missing")
    retrieved = engine.retrieve("Which 2 groups signed the letter?", 5)
    args = (engine.backend, "Which 2 groups signed the letter?", retrieved.query_vector, retrieved.hits, 50)
    every = candidates.candidates(*args)
    assert {c.doc for c in every} > {"b.txt"}
    # "2" is a word of b.txt only ("2. Beta Watch"): the other documents' sentences are left out
    assert {c.doc for c in candidates.candidates(*args, specifics=("2",))} == {"b.txt"}
    # a number no retrieved document holds leaves them all in
    assert candidates.candidates(*args, specifics=("1999",)) == every


def test_a_catalog_date_is_found_as_pages_write_it():
    assert candidates.date_spellings("2010-05-10") == {"2010-05-10", "May 10, 2010", "10 May 2010"}
    assert "Sep 3, 2023" in candidates.date_spellings("2023-09-03")
    assert candidates.date_spellings(None) == candidates.date_spellings("10 May") == set()
    assert candidates.date_spellings("2010-05") == candidates.date_spellings("2010") == set()
    dateline = "This statement was issued by Beijing-based Chinese\nHuman Rights Defenders on May 10, 2010."
    assert candidates.states_publication_date(dateline, "2010-05-10")
    assert candidates.states_publication_date("2023-07-31 14:21·Forum on Global Human Rights Governance", "2023-07-31")
    # another date, or a document without one, is content
    assert not candidates.states_publication_date(dateline, "2010-05-13")
    assert not candidates.states_publication_date(dateline, None)
    assert not candidates.states_publication_date("On May 13, the governments of China and the US meet.", "2010-05-10")


def test_a_dateline_is_read_after_the_other_candidates(tmp_path, fake_embedder):
    from hrqa.settings import Settings

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Festival statement\n\nThis festival statement was issued by City Hall on June 1, 2024.\n\n"
        "The festival statement asks for more bridges. It also asks for later opening hours.\n",
        encoding="utf-8",
    )
    (folder / "catalog.toml").write_text('["a.txt"]\ndate = "2024-06-01"\n', encoding="utf-8")
    engine = Engine.open(
        Settings(corpus_dir=folder, index_dir=tmp_path / "index"), embedder=fake_embedder, build="missing"
    )
    question = "What does the festival statement issued by City Hall ask for?"
    retrieved = engine.retrieve(question, 5)
    args = (engine.backend, question, retrieved.query_vector, retrieved.hits, 5)
    plain = [c.text for c in candidates.candidates(*args)]
    last = [c.text for c in candidates.candidates(*args, datelines_last=True)]
    dateline = "This festival statement was issued by City Hall on June 1, 2024."
    assert plain[0] == dateline  # it shares the most words with the question
    assert sorted(last) == sorted(plain) and last[-1] == dateline
