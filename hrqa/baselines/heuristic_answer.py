"""The answer step before the trained reader, kept only as a baseline that ``hrqa eval`` measures
beside the reader in the same run (issue 10). Not used to answer questions.

The answer step: score the sentences of the top passages, pick 1-3, decide whether to abstain,
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

from hrqa.answer import cite, missing_specifics
from hrqa.baselines.heuristic_signals import (
    expected_type,
    focus_phrase,
    focus_tokens,
    has_type,
    lexical_coverage,
    matched_question_words,
    matches,
    term_weights,
)
from hrqa.lexical import tokenize
from hrqa.records import Answer, AnswerSentence, Hit, Passage, Span

#: weights of the sentence signals, from a grid search of top-1 sentence accuracy on dev.jsonl's
#: single-answer questions (a plateau: dense 0.3-0.6, lexical 0.35-0.7 score within one question)
W_DENSE = 0.45
W_LEXICAL = 0.5
W_PASSAGE = 0.05
W_TYPE = 0.15
#: share of the focus words (what is asked for: "International Director") the sentence contains
W_FOCUS = 0.3
#: a sentence that only restates the question ("ABOUT THE 23rd SEMINAR") answers nothing: its score
#: is scaled down until it brings this many content words the question does not have
NOVEL_WORDS_FOR_FULL_SCORE = 3
#: further sentences join the answer when within this much of the best one
JOIN_MARGIN = 0.06
MAX_ANSWER_SENTENCES = 3
#: abstain when even the closest sentence is this far from the question (an off-topic question)
MIN_DENSE = 0.30
#: ... unless it shares most of the question's weighted words with some sentence
MIN_LEXICAL = 0.5
#: a date/number question needs a sentence with a date/number scoring at least this (calibrated on
#: dev.jsonl: answered questions' typed evidence scored 0.49-0.86, the unanswerable one's 0.43)
MIN_TYPED_SCORE = 0.46
#: a sentence longer than this is a run-on (an attendee list): it may answer, but never joins others
LONG_SENTENCE = 600


@dataclass(frozen=True)
class ScoredSentence:
    row: int
    doc: str
    span: Span
    score: float
    dense: float
    lexical: float
    passage_rank: int
    typed: bool


def score_sentences(index, question: str, query_vector: np.ndarray, hits: list[Hit]) -> list[ScoredSentence]:
    """Every sentence of the hit passages, scored against the question, best first."""
    question_tokens = tokenize(question)
    question_set = set(question_tokens)
    wanted = expected_type(question)
    best_rank: dict[int, int] = {}
    for rank, hit in enumerate(hits):
        for position in range(hit.passage.first_sentence, hit.passage.last_sentence + 1):
            best_rank.setdefault(index.sentence_row(hit.passage.doc, position), rank)
    # One candidate per distinct text: a line repeated in a document is one sentence.
    candidates: dict[str, int] = {}
    for row in best_rank:
        sentence = index.sentences[row]
        candidates.setdefault(" ".join(index.text(sentence.doc, sentence.span).lower().split()), row)
    if not candidates:
        return []
    rows = np.fromiter(candidates.values(), dtype=np.int64)
    texts = [index.text(index.sentences[r].doc, index.sentences[r].span) for r in rows.tolist()]
    tokens = [set(tokenize(t)) for t in texts]
    matched = matched_question_words(question_set, tokens)
    focus = focus_tokens(question) & question_set
    weights = term_weights(question_set, matched, index.lexical.idf, focus)
    if index.sentence_vectors is not None:
        dense = index.sentence_vectors[rows] @ query_vector
    else:
        dense = np.zeros(len(rows), dtype=np.float32)
    scored: list[ScoredSentence] = []
    for row, text, words, found, dense_score in zip(rows.tolist(), texts, tokens, matched, dense.tolist()):
        sentence = index.sentences[row]
        lexical = lexical_coverage(found, weights)
        rank = best_rank[row]
        typed = has_type(text, wanted, question)
        novelty = min(1.0, len(words - question_set) / NOVEL_WORDS_FOR_FULL_SCORE)
        focused = len(focus & found) / len(focus) if focus else 0.0
        score = (
            W_DENSE * dense_score + W_LEXICAL * lexical + W_PASSAGE / (1 + rank) + W_TYPE * typed + W_FOCUS * focused
        )
        score *= 0.5 + 0.5 * novelty
        if is_heading(text, sentence.is_list_item) and not typed:
            score *= HEADING_FACTOR
        scored.append(
            ScoredSentence(row, sentence.doc, sentence.span, float(score), float(dense_score), lexical, rank, typed)
        )
    scored.sort(key=lambda s: -s.score)
    return scored


#: titles and section headings name a topic; they answer only when they hold the date/number asked for
HEADING_FACTOR = 0.7


def is_heading(text: str, is_list_item: bool) -> bool:
    """A short line without closing punctuation, not a list item: a title or section heading."""
    return not is_list_item and "\n" not in text.strip() and len(text) <= 150 and not re.search(r"[.!?\"”’)]\s*$", text)


def abstention_reason(question: str, scored: list[ScoredSentence], knows) -> str | None:
    """Why the corpus does not answer the question, or None when the best sentence does.

    Three signals, each checkable on its own: a number or name in the question that the corpus
    never mentions; a question asking for a date or number when none of the leading sentences
    holds one; a question far from every sentence (off-topic).
    """
    if not scored:
        return "no passage matches the question"
    missing = missing_specifics(question, knows)
    if missing:
        return f"the corpus never mentions {', '.join(repr(m) for m in missing)}"
    wanted = expected_type(question)
    if wanted in {"date", "number"} and not any(s.typed and s.score >= MIN_TYPED_SCORE for s in scored[:3]):
        return f"none of the closest sentences gives the {wanted} asked for"
    if max(s.dense for s in scored) < MIN_DENSE and max(s.lexical for s in scored) < MIN_LEXICAL:
        return "no sentence is close to the question"
    return None


#: a comparative answer quotes each document whose best sentence scores at least this share of the best
ACROSS_MIN_RELATIVE = 0.6


def select_across_sources(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence of each of the leading documents: a question about how the sources see
    something is answered with each side's own words, never one side only."""
    chosen: list[ScoredSentence] = []
    for candidate in scored:
        if len(chosen) >= MAX_ANSWER_SENTENCES or candidate.score < ACROSS_MIN_RELATIVE * scored[0].score:
            break
        if all(candidate.doc != c.doc for c in chosen) and candidate.span.end - candidate.span.start <= LONG_SENTENCE:
            chosen.append(candidate)
    return chosen or scored[:1]


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


#: at most this many entries of one list make an answer
MAX_LIST_ENTRIES = 15
#: ... and only when they are a small part of their list
MAX_LIST_SHARE = 0.25


def asks_for_several(question: str) -> bool:
    """A question whose asked-for phrase is plural ("which organisations ...", "who are the signatories")."""
    if re.match(r"\s*(?:who|which) (?:signed|are|were|joined|endorsed)\b", question, re.IGNORECASE):
        return True
    focus = focus_phrase(question)
    return any(len(w) > 3 and w.lower().endswith("s") and not w.lower().endswith("ss") for w in focus)


def matching_list_entries(index, question: str, scored: list[ScoredSentence], look_at: int = 5) -> list[ScoredSentence]:
    """All entries of a list that share the question's distinctive name.

    "Which organisations from Japan signed?": the best-scored list entry among the leading
    sentences that mentions one of the question's capitalised words ("46. Japan Uyghur Union")
    picks the list; the answer becomes every entry of that list mentioning it. Only for questions
    asking for several things; names match by stem prefix (Japanese / Japan).
    """
    if not asks_for_several(question) or expected_type(question) in {"date", "number"}:
        return []
    names = [t for w in re.findall(r"(?<!^)\b[A-Z][\w’'-]*", question.strip()) for t in tokenize(w)]
    best, keys = None, []
    for candidate in scored[:look_at]:
        # the list must be in the document that answers best, not a list elsewhere sharing a word
        if index.sentences[candidate.row].is_list_item and candidate.doc == scored[0].doc:
            title = set(tokenize(index.documents[candidate.doc].title))
            words = set(tokenize(index.text(candidate.doc, candidate.span)))
            # the document's own subject ("China" in a letter about China) tells no entry apart
            keys = [t for t in names if matches(t, words) and not matches(t, title)]
            if keys:
                best = candidate
                break
    if best is None:
        return []
    sentence = index.sentences[best.row]
    start = index.sentence_rows[sentence.doc]
    # the list the best entry belongs to: the run of list items around it
    first = best.row
    while first > start and index.sentences[first - 1].is_list_item and index.sentences[first - 1].doc == sentence.doc:
        first -= 1
    entries: list[ScoredSentence] = []
    row = first
    while row < len(index.sentences) and index.sentences[row].doc == sentence.doc and index.sentences[row].is_list_item:
        item = index.sentences[row]
        if any(matches(key, set(tokenize(index.text(item.doc, item.span)))) for key in keys):
            entries.append(
                ScoredSentence(
                    row, item.doc, item.span, best.score, best.dense, best.lexical, best.passage_rank, best.typed
                )
            )
        row += 1
    # a word most entries share ("Human Rights") is no selection
    if len(entries) < 2 or len(entries) > MAX_LIST_SHARE * (row - first):
        return []
    return entries[:MAX_LIST_ENTRIES]


def passages_holding(index, sentences: list[ScoredSentence]) -> list[Passage]:
    """The passages that contain the given sentences (one per sentence, first match)."""
    found: list[Passage] = []
    for s in sentences:
        position = index.sentences[s.row].position
        for passage in index.passages:
            if passage.doc == s.doc and passage.first_sentence <= position <= passage.last_sentence:
                if passage not in found:
                    found.append(passage)
                break
    return found


def build_answer(
    index,
    question: str,
    searched: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    k: int,
    *,
    across_sources: bool = False,
    timings: dict[str, float] | None = None,
) -> Answer:
    """Answer ``question`` from ``hits`` (already retrieved and diversified for ``searched``);
    ``across_sources``: the question asks how several sources see something."""
    # Passages were found with the whole conversation; sentences are scored against the question
    # itself, so "Who hosted it?" looks for hosting within the seminar's passages.
    scored = score_sentences(index, question, query_vector, hits)
    chosen = select_across_sources(scored) if across_sources and scored else select_sentences(scored)
    confidence = chosen[0].score if chosen else 0.0
    reason = abstention_reason(searched, scored, index.lexical.knows)
    abstained = reason is not None
    if not abstained and chosen:
        entries = matching_list_entries(index, question, scored)
        if entries:
            chosen = entries
            hits = hits + [Hit(passage=p, score=0.0) for p in passages_holding(index, entries)]

    # Citations: passages that hold an answer sentence first, then the rest by score.
    answer_spans = [] if abstained else [(s.doc, s.span) for s in chosen]
    citations = cite(index.documents.__getitem__, hits, answer_spans, k)
    sentences = []
    for s in chosen if not abstained else []:
        citation = next(c for c in citations if c.doc == s.doc and c.span.contains(s.span))
        sentences.append(
            AnswerSentence(text=index.text(s.doc, s.span), citation=citation.n, doc=s.doc, span=s.span, score=s.score)
        )
    return Answer(
        question=question,
        abstained=abstained,
        sentences=tuple(sentences),
        citations=tuple(citations),
        index_id=index.id,
        model=index.model,
        timings_ms=dict(timings or {}),
        searched=searched,
        confidence=confidence,
        abstain_reason=reason,
    )
