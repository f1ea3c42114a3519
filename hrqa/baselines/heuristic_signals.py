"""What the previous (heuristic) answer step read from a question and a sentence, kept with it as an
evaluation baseline (``hrqa.baselines.heuristic_answer``): the answer type a question asks for, whether a
sentence holds one, the focus phrase after the question word, and IDF-weighted lexical coverage.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from hrqa.lexical import tokenize

_DATE = re.compile(
    r"\b(\d{4}-\d{2}-\d{2}|\d{1,2}(?:st|nd|rd|th)?\s+(?:to\s+\d{1,2}\s+)?(?:January|February|March|April|May|June|July|"
    r"August|September|October|November|December)|(?:January|February|March|April|May|June|July|August|September|"
    r"October|November|December)\s+\d{1,2}|(?:19|20)\d{2})\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|fifty|"
    r"hundred|thousand|million|dozens?)\b",
    re.IGNORECASE,
)
#: "in Copenhagen", "at Southwest University": a place named after a locative preposition
_PLACE = re.compile(r"\b(?:in|at|near|from)\s+(?:the\s+)?[A-Z][\w’'-]+")
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of|for|and|the|de|la)?\s*[A-Z][\w’'-]+)+")


def expected_type(question: str) -> str | None:
    """What the question asks for: 'date', 'number', 'name' or None."""
    q = question.lower()
    # "When was/did ..." asks for a date; "When governments buy ..., what ..." does not
    if re.search(
        r"^\s*when\s+(?:did|was|were|is|are|will|does|do|has|had)\b|\b(?:what|which) (?:date|dates|year|day|"
        r"time)\b|\bon what\b",
        q,
    ):
        return "date"
    if re.search(
        r"\b(how many|how much|what number|what percentage|what amount|what maximum|what minimum|"
        r"roughly how|what fine|what sum)\b",
        q,
    ):
        return "number"
    if re.search(r"\b(who|whom|whose)\b", q):
        return "name"
    if re.search(r"^\s*where\b|\b(?:which|what) (?:city|country|place|venue|location)\b|\bin which\b", q):
        return "place"
    return None


def has_type(text: str, wanted: str | None, question: str = "") -> bool:
    """Whether ``text`` holds a date/number/name that the question itself does not already give."""
    pattern = {"date": _DATE, "number": _NUMBER, "name": _NAME, "place": _PLACE}.get(wanted or "")
    if pattern is None:
        return False
    given = {m.group(0).lower() for m in pattern.finditer(question)}
    return any(m.group(0).lower() not in given for m in pattern.finditer(text))


#: question words followed by what is asked for ("which rule", "who is the director", "how many
#: participants"); "where", "when" and "why" are followed by the subject instead, so they have no focus
_WH = re.compile(r"\b(?:who|whom|whose|what|which|how many|how much)\b", re.IGNORECASE)
_AUXILIARY = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "the",
        "a",
        "an",
        "do",
        "does",
        "did",
        "two",
        "three",
        "four",
        "five",
        "kind",
        "type",
    ]
)


def focus_tokens(question: str) -> set[str]:
    """Tokens of the phrase right after the question word: what is asked for.

    "Who is the International Director of CHRD..." -> {intern, director};
    "Which Japanese political party is among..." -> {japanes, polit, parti}.
    """
    return {t for w in focus_phrase(question) for t in tokenize(w)}


def focus_phrase(question: str) -> list[str]:
    """The words right after the question word, up to the next function word."""
    match = _WH.search(question)
    if not match:
        return []
    words = re.findall(r"[\w’'-]+", question[match.end() :])
    phrase: list[str] = []
    for word in words:
        lowered = word.lower()
        if lowered in _AUXILIARY and not phrase:
            continue
        if tokenize(word) == []:  # a function word ends the phrase
            break
        phrase.append(word)
    return phrase


def _related(a: str, b: str) -> bool:
    return a == b or (len(a) >= 4 and len(b) >= 4 and (a.startswith(b) or b.startswith(a)))


def matches(token: str, words: set[str]) -> bool:
    """Exact token match, or one word a prefix of the other ("japan" / "japanes"): stemming misses
    demonyms and some derived forms."""
    return token in words or any(_related(token, w) for w in words)


def matched_question_words(question_tokens: set[str], candidate_tokens: list[set[str]]) -> list[set[str]]:
    """For each candidate, the question words it contains (by ``matches``); the prefix test runs
    once per distinct word rather than once per sentence."""
    vocabulary = set().union(*candidate_tokens) if candidate_tokens else set()
    by_prefix: dict[str, list[str]] = defaultdict(list)  # related words share their first 4 letters
    for word in vocabulary:
        if len(word) >= 4:
            by_prefix[word[:4]].append(word)
    related = {q: {q} | {w for w in by_prefix.get(q[:4], ()) if _related(q, w)} for q in question_tokens}
    return [{q for q in question_tokens if not related[q].isdisjoint(words)} for words in candidate_tokens]


FOCUS_WEIGHT = 2.0


def term_weights(
    question_tokens: set[str], matched: list[set[str]], idf, focus: set[str] = frozenset()
) -> dict[str, float]:
    """Weight of each question word: its corpus IDF times its rarity among the candidate sentences
    (``matched``: the question words each candidate contains).

    The question's topic ("ASEM seminar") is in most retrieved sentences and tells them apart
    poorly; the words only a few candidates share ("rule", "discussions") point at the answer.
    """
    n = len(matched) or 1
    weights = {}
    for token in question_tokens:
        local = sum(token in words for words in matched)
        weights[token] = idf(token) * float(np.log(1 + (n - local + 0.5) / (local + 0.5)))
        if token in focus:
            weights[token] *= FOCUS_WEIGHT
    return weights


def lexical_coverage(matched: set[str], weights: dict[str, float]) -> float:
    """Share of the question's term weight in the question words a sentence contains (0..1)."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(weights.get(t, 0.0) for t in matched) / total
