"""The answer step: score the sentences of the top passages, pick 1-3, decide whether to abstain,
and number the citations. Extractive only: every answer sentence is a span of a document.

Signals (no reader model is available offline): the sentence embedding against the question
(computed at index time), IDF-weighted lexical coverage of the question, the rank of the passage
the sentence came from, and whether the sentence has the kind of thing asked for (a date for
"when", a number for "how many", a name for "who").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hrqa.lexical import tokenize
from hrqa.records import Answer, AnswerSentence, Citation, Hit, Passage, Span
from hrqa.store import Index

#: weights of the sentence signals (tuned on dev.jsonl; see README "Answer quality")
W_DENSE = 0.45
W_LEXICAL = 0.35
W_PASSAGE = 0.15
W_TYPE = 0.05
#: further sentences join the answer when within this much of the best one
JOIN_MARGIN = 0.06
MAX_ANSWER_SENTENCES = 3
#: abstain when the best evidence scores below this (calibrated on dev.jsonl)
ABSTAIN_BELOW = 0.45
#: a sentence longer than this is a run-on (an attendee list): it may answer, but never joins others
LONG_SENTENCE = 600

_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)?\s+(?:to\s+\d{1,2}\s+)?(?:January|February|March|April|May|June|July|"
    r"August|September|October|November|December)|(?:January|February|March|April|May|June|July|August|September|"
    r"October|November|December)\s+\d{1,2}|(?:19|20)\d{2})\b", re.IGNORECASE)
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|fifty|"
                     r"hundred|thousand|million|dozens?)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of|for|and|the|de|la)?\s*[A-Z][\w’'-]+)+")


def expected_type(question: str) -> str | None:
    """What the question asks for: 'date', 'number', 'name' or None."""
    q = question.lower()
    if re.search(r"\b(when|what date|which date|what year|on what day|what time|dates?)\b", q):
        return "date"
    if re.search(r"\b(how many|how much|what number|what percentage|roughly how)\b", q):
        return "number"
    if re.search(r"\b(who|whom|whose|which (?:organi[sz]ation|person|scholar|ministry|media|outlet|country|city|party))", q):
        return "name"
    return None


def has_type(text: str, wanted: str | None) -> bool:
    if wanted == "date":
        return bool(_DATE.search(text))
    if wanted == "number":
        return bool(_NUMBER.search(text))
    if wanted == "name":
        return bool(_NAME.search(text))
    return False


def lexical_coverage(question_tokens: list[str], sentence_tokens: set[str], idf: dict[str, float]) -> float:
    """Share of the question's IDF weight that the sentence contains (0..1)."""
    total = sum(idf[t] for t in set(question_tokens))
    if total <= 0:
        return 0.0
    return sum(idf[t] for t in set(question_tokens) if t in sentence_tokens) / total


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    doc: str
    span: Span
    score: float
    dense: float
    lexical: float
    passage_rank: int


def score_sentences(index: Index, question: str, query_vector: np.ndarray, hits: list[Hit]) -> list[ScoredSentence]:
    """Every sentence of the hit passages, scored against the question, best first."""
    question_tokens = tokenize(question)
    idf = {t: index.lexical.idf(t) for t in set(question_tokens)}
    wanted = expected_type(question)
    best_rank: dict[int, int] = {}
    for rank, hit in enumerate(hits):
        for position in range(hit.passage.first_sentence, hit.passage.last_sentence + 1):
            row = index.sentence_row(hit.passage.doc, position)
            best_rank.setdefault(row, rank)
    if not best_rank:
        return []
    rows = np.fromiter(best_rank.keys(), dtype=np.int64)
    if index.sentence_vectors is not None:
        dense = index.sentence_vectors[rows] @ query_vector
    else:
        dense = np.zeros(len(rows), dtype=np.float32)
    scored: list[ScoredSentence] = []
    seen_text: set[str] = set()
    for row, dense_score in zip(rows.tolist(), dense.tolist()):
        sentence = index.sentences[row]
        text = index.text(sentence.doc, sentence.span)
        folded = " ".join(text.lower().split())
        if folded in seen_text:  # the same sentence twice (a repeated line) is one candidate
            continue
        seen_text.add(folded)
        lexical = lexical_coverage(question_tokens, set(tokenize(text)), idf)
        rank = best_rank[row]
        score = (W_DENSE * dense_score + W_LEXICAL * lexical + W_PASSAGE / (1 + rank)
                 + W_TYPE * has_type(text, wanted))
        scored.append(ScoredSentence(row, sentence.doc, sentence.span, float(score), float(dense_score), lexical, rank))
    scored.sort(key=lambda s: -s.score)
    return scored


def select_sentences(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence, plus up to two more close to it (from any document), in score order."""
    if not scored:
        return []
    chosen = [scored[0]]
    if scored[0].span.end - scored[0].span.start > LONG_SENTENCE:
        return chosen
    for candidate in scored[1:]:
        if len(chosen) >= MAX_ANSWER_SENTENCES or candidate.score < scored[0].score - JOIN_MARGIN:
            break
        if candidate.span.end - candidate.span.start > LONG_SENTENCE:
            continue
        chosen.append(candidate)
    return chosen


def merge_hits(hits: list[Hit]) -> list[tuple[Span, str, float]]:
    """Passages of the same document that overlap or touch become one span (never shown twice)."""
    merged: list[list] = []
    for hit in hits:
        span = hit.passage.span
        for entry in merged:
            if entry[1] == hit.passage.doc and entry[0].start <= span.end and span.start <= entry[0].end:
                entry[0] = Span(min(entry[0].start, span.start), max(entry[0].end, span.end))
                entry[2] = max(entry[2], hit.score)
                break
        else:
            merged.append([span, hit.passage.doc, hit.score])
    return [(span, doc, score) for span, doc, score in merged]


def build_answer(
    index: Index,
    question: str,
    searched: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    k: int,
    *,
    abstain_below: float = ABSTAIN_BELOW,
    timings: dict[str, float] | None = None,
) -> Answer:
    """Answer ``question`` from ``hits`` (already retrieved and diversified for ``searched``)."""
    scored = score_sentences(index, searched, query_vector, hits)
    chosen = select_sentences(scored)
    confidence = chosen[0].score if chosen else 0.0
    abstained = not chosen or confidence < abstain_below

    # Citations: passages that hold an answer sentence first, then the rest by score.
    merged = merge_hits(hits)
    answer_spans = [] if abstained else [(s.doc, s.span) for s in chosen]

    def holds_answer(entry) -> bool:
        span, doc, _ = entry
        return any(doc == d and span.contains(s) for d, s in answer_spans)

    ordered = sorted(merged, key=lambda e: (not holds_answer(e), -e[2]))[: max(k, len(answer_spans))]
    top_score = max((e[2] for e in ordered), default=1.0) or 1.0
    citations: list[Citation] = []
    for n, (span, doc, score) in enumerate(ordered, 1):
        document = index.documents[doc]
        highlights = tuple(s for d, s in answer_spans if d == doc and span.contains(s))
        citations.append(Citation(
            n=n, doc=doc, title=document.title, date=document.date, publisher=document.publisher,
            kind=document.kind, span=span, passage=document.text[span.start : span.end],
            score=float(score / top_score), highlights=highlights))
    sentences = []
    for s in chosen if not abstained else []:
        citation = next(c for c in citations if c.doc == s.doc and c.span.contains(s.span))
        sentences.append(AnswerSentence(text=index.text(s.doc, s.span), citation=citation.n, doc=s.doc,
                                        span=s.span, score=s.score))
    return Answer(question=question, abstained=abstained, sentences=tuple(sentences), citations=tuple(citations),
                  index_id=index.id, model=index.model, timings_ms=dict(timings or {}), searched=searched,
                  confidence=confidence)


def passage_of(index: Index, passage: Passage) -> str:
    return index.passage_text(passage)
