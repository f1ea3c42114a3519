"""The answer step's first stage: the sentences of the retrieved passages most like the question.

Cheap signals only (stored sentence vectors against the question vector, IDF-weighted word overlap,
fused by ``reader.first_stage``); the reader reads the few best. Lines that restate the document's title
and field labels are left out, known from the document's structure rather than from the question; each
candidate carries the context the reader reads beside it.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

import numpy as np

from hrqa.backends.base import SearchBackend
from hrqa.lexical import STOPWORDS, tokenize
from hrqa.reader import FIRST_STAGE_RRF_K, first_stage, idf_overlap, sentence_context
from hrqa.records import Hit, Span


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with its first-stage signals and the reader's probability."""

    row: int
    doc: str
    span: Span
    text: str
    dense: float
    lexical: float
    passage_rank: int
    probability: float = 0.0
    #: the document's title and the sentence before this one (before its list, for a list entry)
    context: str = ""
    #: whether it states its document's own date and was put last (``datelines_last``)
    dateline: bool = False


def candidates(
    backend: SearchBackend,
    question: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    limit: int,
    passage_rank: bool = False,
    each_document: bool = False,
    specifics: tuple[str, ...] = (),
    counted: int = 0,
    rrf_k: int = FIRST_STAGE_RRF_K,
    datelines_last: bool = False,
) -> list[Candidate]:
    """The ``limit`` sentences of the hit passages most like the question (first stage), best first.

    One candidate per distinct wording (``wording``): a line repeated in a document is one sentence. ``passage_rank``:
    the rank of a sentence's passage in retrieval is a third signal of the fusion.
    ``each_document``: each document's best sentence comes in before the next best (``spread``).
    ``counted``: after them, the best this many that state a count (``states_quantity``), for a question
    asking how many. ``datelines_last``: a chosen sentence that states its document's own date (its
    dateline, ``states_publication_date``) comes after the others, so it is read last.
    """
    best_rank: dict[int, int] = {}
    for rank, hit in enumerate(hits):
        for position in range(hit.passage.first_sentence, hit.passage.last_sentence + 1):
            best_rank.setdefault(backend.sentence_row(hit.passage.doc, position), rank)
    distinct: dict[str, int] = {}
    sentences = {row: backend.sentence_at(row) for row in best_rank}
    holders = documents_holding(backend, {s.doc for s in sentences.values()}, specifics)
    titles: dict[str, set[str]] = {}
    for row, sentence in sentences.items():
        if holders and sentence.doc not in holders:
            continue
        if sentence.doc not in titles:
            titles[sentence.doc] = set(tokenize(backend.document(sentence.doc).title))
        text = backend.text(sentence.doc, sentence.span)
        if restates_title(text, titles[sentence.doc]) or is_label(text, sentence.is_list_item):
            continue
        distinct.setdefault(wording(text), row)
    if not distinct:
        return []
    rows = np.fromiter(distinct.values(), dtype=np.int64)
    texts = [backend.text(sentences[r].doc, sentences[r].span) for r in rows.tolist()]
    vectors = backend.vectors_of_sentences(rows)
    dense = vectors @ query_vector if vectors is not None else np.zeros(len(rows), dtype=np.float32)
    question_tokens = set(tokenize(question))
    # the question's IDF weights once, not once per sentence (a tenth of the first stage's time)
    weights = {t: backend.idf(t) for t in question_tokens}
    lexical = np.array([idf_overlap(question_tokens, set(tokenize(t)), weights.__getitem__) for t in texts])
    ranks = np.array([best_rank[r] for r in rows.tolist()]) if passage_rank else None
    if each_document:
        ranked = first_stage(dense, lexical, len(rows), ranks, rrf_k)
        chosen = spread(ranked, [sentences[r].doc for r in rows.tolist()], limit)
    else:
        chosen = first_stage(dense, lexical, limit, ranks, rrf_k)
    datelines: set[int] = set()
    if datelines_last:
        dates = {doc: backend.document(doc).date for doc in {sentences[r].doc for r in rows.tolist()}}
        datelines = {
            i for i in chosen.tolist() if states_publication_date(texts[i], dates[sentences[int(rows[i])].doc])
        }
        chosen = np.asarray(
            [i for i in chosen.tolist() if i not in datelines] + [i for i in chosen.tolist() if i in datelines],
            dtype=np.int64,
        )
    if counted:
        ranked = first_stage(dense, lexical, len(rows), ranks, rrf_k)
        kept = set(chosen.tolist())
        stating = [i for i in ranked.tolist() if i not in kept and states_quantity(texts[i])][:counted]
        chosen = np.asarray(chosen.tolist() + stating, dtype=np.int64)
    return [
        Candidate(
            row=int(rows[i]),
            doc=sentences[int(rows[i])].doc,
            span=sentences[int(rows[i])].span,
            text=texts[i],
            dense=float(dense[i]),
            lexical=float(lexical[i]),
            passage_rank=best_rank[int(rows[i])],
            context=context_of(backend, int(rows[i])),
            dateline=i in datelines,
        )
        for i in chosen.tolist()
    ]


_NUMBER_WORDS = (
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"
    "eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|"
    "million|millions|billion|billions|trillion|dozen|dozens|twice|thrice"
)
_QUANTITY = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)

_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?"
)
_DAYS = r"\d{1,2}(?:\s*(?:-|–|to|and)\s*\d{1,2})?"
#: dates, years, ordinals and list numbers ("182. Dawn of Hong Kong"): numbers that say when or which,
#: not how many
_NOT_A_COUNT = re.compile(
    rf"\b(?:{_DAYS}\s+{_MONTH}|{_MONTH}\s+{_DAYS}\b|(?:1[5-9]|20)\d\d\b|\d+(?:st|nd|rd|th)\b)|^\W*\d+[.)]\s",
    re.IGNORECASE,
)


def states_quantity(text: str) -> bool:
    """Whether a sentence states a count or an amount, in digits or in words (dates, years and ordinals
    are not one)."""
    return bool(_QUANTITY.search(_NOT_A_COUNT.sub(" ", text)))


def date_spellings(date: str | None) -> set[str]:
    """The ways a page writes a catalog date ("2010-05-10"): as given, "May 10, 2010", "10 May 2010" and
    with the month abbreviated. None for a missing date, or for one the catalog gives only as a month or a
    year ("2010-05", "2010": ``corpus._iso_date`` accepts them), which content sentences state as well."""
    try:
        day = datetime.date.fromisoformat(date or "")
    except ValueError:
        return set()
    spellings = {day.isoformat()}
    for month in (f"{day:%B}", f"{day:%b}"):
        spellings |= {f"{month} {day.day}, {day.year}", f"{day.day} {month} {day.year}"}
    return spellings


def states_publication_date(text: str, date: str | None) -> bool:
    """Whether a sentence states its document's own date (``Document.date``, from the catalog): a
    dateline or byline ("This statement was issued by … on May 10, 2010.", "2023-07-31 14:21·Forum on …
    by LIU Huawen"). It names the document's publisher and subject, so the first stage and the reader rank
    it high for any question about that document, while it answers only when and by whom the document
    was issued. Known from the document's catalog entry, not from the question."""
    flat = " ".join(text.split())
    return any(spelling in flat for spelling in date_spellings(date))


def documents_holding(backend: SearchBackend, docs: set[str], specifics: tuple[str, ...]) -> set[str]:
    """Those of ``docs`` whose text holds every one of ``specifics`` (numbers, years, ordinals of the
    question) as a word. A document that never mentions the question's "2025" cannot say what happened
    in 2025. Empty when there are no specifics or no document holds them all (then none is left out)."""
    if not specifics:
        return set()
    patterns = [re.compile(rf"(?<![\w.]){re.escape(s)}(?![\w])", re.IGNORECASE) for s in specifics]
    return {d for d in docs if all(p.search(backend.document(d).text) for p in patterns)}


def spread(ranked: np.ndarray, docs: list[str], limit: int) -> np.ndarray:
    """``limit`` of ``ranked`` (positions, best first): each document's best first, then the next best
    wherever they are, in ``ranked``'s order. Every leading source gets read, not only the first one."""
    firsts: dict[str, int] = {}
    for position in ranked.tolist():
        firsts.setdefault(docs[position], position)
    kept = set(list(firsts.values())[:limit])
    for position in ranked.tolist():
        if len(kept) >= limit:
            break
        kept.add(position)
    return np.asarray([p for p in ranked.tolist() if p in kept], dtype=np.int64)


def wording(text: str) -> str:
    """What makes two sentences the same candidate: their words, whatever the case, spacing and
    punctuation. Web pages repeat a summary line, with or without its full stop, beside the paragraph that
    opens with it (seeds/002: "... of Asia and Europe" twice); read twice, it took two of the reader's
    five places."""
    return " ".join(re.findall(r"\w+", text.lower()))


def context_of(backend: SearchBackend, row: int) -> str:
    """What the reader reads beside a sentence: its document's title and the sentence before it, or
    for a list entry the sentence before the list ("We, the undersigned organisations ...")."""
    sentence = backend.sentence_at(row)
    first = backend.sentence_rows_of(sentence.doc).start
    before = row - 1
    if sentence.is_list_item:
        while before >= first and backend.sentence_at(before).is_list_item:
            before -= 1
    text = backend.text(sentence.doc, backend.sentence_at(before).span) if before >= first else ""
    return sentence_context(backend.document(sentence.doc).title, " ".join(text.split()))


#: a line whose words are at least this share of its document's title words restates the title
TITLE_SHARE = 0.8
_SENTENCE_END = re.compile(r"[.!?。！？\"”’)]\s*$")


def ends_sentence(text: str) -> bool:
    """Whether a line ends as a sentence does (a heading, a label or a cut-off fragment does not)."""
    return bool(_SENTENCE_END.search(text))


def restates_title(text: str, title_tokens: set[str]) -> bool:
    """A title line, header or breadcrumb that repeats the document's title: it names the topic and
    answers nothing, yet shares the question's words. Known from the catalog, not from the question.

    (The reader, trained on Wikipedia sentences, rated such lines highest for questions that name
    the document's subject: 5 of dev.jsonl's 13 misses before this rule.)
    """
    if ends_sentence(text):  # a sentence, even one that is also the title (a first line taken as it)
        return False
    tokens = set(tokenize(text))
    return bool(tokens) and bool(title_tokens) and len(tokens & title_tokens) >= TITLE_SHARE * len(tokens)


#: a line of fewer words than this, without a sentence end, not a list entry, is a label ("Hosted by",
#: "Share:"): it leads into what follows and answers nothing by itself
LABEL_WORDS = 3
#: a line of at most this many words without a sentence end whose last word is a function word ("In
#: partnership with", "Co-organised by", "Who we work with") leads into what follows too: the reader rated
#: "In partnership with" highest of all (logit 2.9) for dev.jsonl's question on where the 22nd ASEM
#: seminar was held. Longer ones are sentences that the segmenter cut after a function word ("... China."
#: CHRD urges the" before "U.S. government to ...": seeds/003)
LEAD_IN_WORDS = 6
_LEADS_INTO = re.compile(r"(\w+)\W*$")
#: a page's breadcrumb trail ("CHINA VIEW> Documents> Detail", "Home » News"): words joined by the
#: separators of site navigation. A follow-up asking what "the other documents" say was answered with the
#: trail of seed 001 (2026-11-25), since it names "Documents".
_BREADCRUMB = re.compile(r"\w\s*[>»›]\s*\w")


def is_label(text: str, is_list_item: bool) -> bool:
    """A field label, navigation word or lead-in line of a page ("Hosted by", "Share:", "In partnership
    with"), known from its shape: no sentence end, and fewer than ``LABEL_WORDS`` words, or at most
    ``LEAD_IN_WORDS`` ending in a colon or a function word, or a breadcrumb trail of at most
    ``LEAD_IN_WORDS`` words. List entries never are."""
    if is_list_item or ends_sentence(text):
        return False
    words = len(re.findall(r"\w+", text))
    if words < LABEL_WORDS or (words <= LEAD_IN_WORDS and text.rstrip().endswith(":")):
        return True
    if words <= LEAD_IN_WORDS and _BREADCRUMB.search(text):
        return True
    last = _LEADS_INTO.search(text)
    return words <= LEAD_IN_WORDS and bool(last) and last.group(1).lower() in STOPWORDS
