"""What a question asks and what comes with it: the question cleaned, its arguments (k, history,
filters) checked with one-line errors, a follow-up's search text, and questions across sources."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hrqa.errors import DocumentNotFoundError, QuestionError, printable
from hrqa.lexical import tokenize
from hrqa.settings import Settings

if TYPE_CHECKING:
    from hrqa import store

#: what a question calls the corpus's sources when it asks how they see something
_SOURCE_NOUNS = "documents|sources|texts|statements|reports|publications|essays|sides"
#: A question across sources names the sources as speakers ("the documents", "the NGO statements",
#: "across the corpus"), asks for perspectives, or sets two things side by side ("compare how", "both …
#: and"). Not words that merely occur in such questions: "the main sources of primary law", "heat
#: sources", "in view of", "compared to", "both examples". The bare-word version before matched 35 of
#: the 2,805 squad2-dev questions, all of them about one article; this one matches 1 ("both
#: inflationary and deflationary"), and still every perspective question of dev.jsonl and of the
#: 12 across-sources questions written for checking (2026-11-25; README, answer quality).
_ACROSS = re.compile(
    r"\b(?:(?:the|these|those|all|both|each|different|various|several|two|three)\s+(?:[\w-]+\s+)?"
    + f"(?:{_SOURCE_NOUNS})"
    + r"\b(?!\s+of\b)"
    + rf"|across\s+(?:the\s+)?(?:corpus|collection|{_SOURCE_NOUNS})"
    r"|perspectives|viewpoints|portray(?:ed|s|al)?|each side|both sides"
    r"|(?:compare|contrast)\s+(?:how|what|the)"
    r"|differ|disagree"
    r"|according to (?:the )?(?:different|various)"
    r"|both\b.*\band)\b",
    re.IGNORECASE,
)


def asks_across_sources(question: str) -> bool:
    """A question that asks how several sources see something (answered from each of them)."""
    return bool(_ACROSS.search(question))


#: words that point back at an earlier question ("Who hosted it?")
_REFERRING = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "he",
        "him",
        "his",
        "she",
        "her",
        "there",
        "such",
    ]
)


def clean_question(question: str, limit: int, what: str = "the question", setting: str = "max_question_chars") -> str:
    """The question without control characters and surplus white space; refuse empty, invisible or
    overlong. ``what`` names it in the messages ("history item 2"), ``setting`` the limit's setting."""
    if not isinstance(question, str):
        raise QuestionError(f"{what} must be text")
    if len(question) > 4 * limit:  # refuse a huge paste at once rather than clean it character by character
        raise QuestionError(f"{what} has {len(question)} characters, over the limit of {limit} (setting {setting})")
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") and c not in "\u200d" else c for c in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError(f"{what} is empty; type a question")
    # a letter, digit, punctuation mark or symbol (emoji): U+200D (kept to join emoji) alone shows nothing
    if not any(unicodedata.category(c)[0] in "LNPS" for c in cleaned):
        raise QuestionError(f"{what} is empty (only invisible characters); type a question")
    if len(cleaned) > limit:
        raise QuestionError(f"{what} has {len(cleaned)} characters, over the limit of {limit} (setting {setting})")
    return cleaned


#: the most sources one answer may cite (k); the answer step reads at most a few dozen passages anyway
MAX_SOURCES = 50


def _texts(value: object, what: str, noun: str) -> list[str]:
    """``value`` as a list of strings, or a one-line QuestionError saying what is wrong with it."""
    if value is None:
        return []
    if isinstance(value, str):
        raise QuestionError(f"{what} must be a list of {noun}, not a single string")
    if not isinstance(value, (list, tuple)):
        raise QuestionError(f"{what} must be a list of {noun}, not {type(value).__name__}")
    for number, item in enumerate(value, 1):
        if not isinstance(item, str):
            shown = printable(repr(item))
            raise QuestionError(f"{what} item {number} must be text, not {shown[:60]}")
    return list(value)


@dataclass(frozen=True)
class Request:
    """The arguments of a question besides its text, checked: what ``Engine.ask`` works with."""

    k: int
    history: list[str]
    docs: list[str] | None
    kinds: list[str] | None


def check_request(
    index: store.Index,
    settings: Settings,
    k: object = None,
    history: object = (),
    docs: object = None,
    kinds: object = None,
    *,
    known_kinds: Collection[str] | None = None,
) -> Request:
    """k, history and the document and kind filters of a question, as they come from the CLI, the API or
    a library call: each wrong one is refused with a one-line message naming it (a document id that is
    not indexed, a kind no document has), never iterated character by character or crashed on.
    ``known_kinds``: the index's ``document_kinds``, when the caller holds them (a pass over every
    document otherwise: ~120 ms at 250k documents)."""
    if k is None or (type(k) is int and k == 0):  # 0: the default (the API's "not given")
        k = settings.top_k
    if type(k) is not int or not 1 <= k <= MAX_SOURCES:
        raise QuestionError(f"k must be a whole number from 1 to {MAX_SOURCES}, not {printable(repr(k))[:40]}")
    cleaned: list[str] = []
    limit = 10 * settings.max_question_chars
    for number, item in enumerate(_texts(history, "history", "earlier questions"), 1):
        try:
            cleaned.append(clean_question(item, limit, f"history item {number}", "10 × max_question_chars"))
        except QuestionError:
            if len(item) > limit:
                raise
            # an empty or invisible earlier question gives no context: left out, as before
    doc_ids = _texts(docs, "docs", "document ids")
    missing = [d for d in doc_ids if d not in index.documents]
    if missing:
        shown = ", ".join(printable(repr(d))[:80] for d in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        example = printable(repr(min(index.documents)))[:80] if index.documents else "'report.pdf'"
        raise DocumentNotFoundError(
            f"no indexed document {shown}{more}; a document id is its path in the corpus folder, e.g. {example}"
        )
    kind_names = _texts(kinds, "kinds", "kinds of source")
    known = document_kinds(index) if known_kinds is None else known_kinds
    unknown = [k for k in kind_names if k not in known]
    if unknown:
        shown = ", ".join(printable(repr(k))[:80] for k in unknown[:3])
        raise QuestionError(f"no indexed document is of kind {shown}; the kinds are: {', '.join(sorted(known))}")
    return Request(k, cleaned, doc_ids or None, kind_names or None)


def document_kinds(index: store.Index) -> frozenset[str]:
    """The kinds of source of the indexed documents ("unknown" for a document without one)."""
    return frozenset(d.kind or "unknown" for d in index.documents.values())


def contextualise(question: str, history: Sequence[str]) -> str:
    """What to search for a follow-up: a question that refers back ("it", "they") or is too short to
    stand alone is searched together with the previous question of the conversation."""
    if not history:
        return question
    words = re.findall(r"\w+", question.lower())
    content = tokenize(question)
    if any(w in _REFERRING for w in words) or len(content) <= 1:
        return f"{history[-1]} {question}"
    return question


def reader_question(question: str, searched: str, history: Sequence[str]) -> str:
    """What the reader reads: the question as asked. A follow-up ("Who hosted it?") is searched together
    with the previous question, so its candidates are the earlier subject's sentences; the reader then
    judges them against the question itself. Measured on tests/data/dev_conversations.jsonl (10
    follow-ups): question alone 0.8 answered right, question [SEP] previous question 0.6, the searched
    text (both questions run together) 0.2."""
    return question


#: a leading clause that frames the question ("According to LIU Huawen, …", "In its May 2010 statement ahead
#: of the talks, …", "Speaking to reporters after the forum, …") up to its first comma, when a question word
#: follows. It names the source or the occasion, which retrieval needs to find the document; the words after
#: it say what is asked. Within one comma, so "According to the statement adopted at the forum, held in
#: April, what …" has none (an ambiguous frame is left whole).
_FRAME = re.compile(
    r"^\s*(?:according\s+to|in|as|speaking|writing|ahead\s+of|after|before|at|during|on|for|from|per|under)\b"
    r"[^,?]{3,}?,\s+"
    r"(?=(?:what|which|who|whom|whose|how|why|when|where|did|does|do|is|are|was|were|(?:in|on|to|by|for|at|from)"
    r"\s+what)\b)",
    re.IGNORECASE,
)


def focus(question: str) -> str | None:
    """The question without the clause that frames it ("According to LIU Huawen, which scholar introduced
    …?" -> "Which scholar introduced …?"), or None when it opens with no such clause."""
    match = _FRAME.match(question)
    if not match:
        return None
    rest = question[match.end() :]
    return rest[:1].upper() + rest[1:]


# What a question asks for, from its wording: the answer step checks the chosen sentence against it

_QUANTITY_QUESTION = re.compile(r"\bhow (?:many|much)\b", re.IGNORECASE)


def asks_quantity(question: str) -> bool:
    """ "How many …?", "How much …?": the answer is a quantity, so its sentence states one."""
    return bool(_QUANTITY_QUESTION.search(question))


#: number words a question may name a count of things with, and their values
COUNT_WORDS = {w: n for n, w in enumerate(["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"], 2)}
_NAMED_COUNT = re.compile(
    r"\b(?:which|what|the|name)\s+(two|three|four|five|six|seven|eight|nine|ten|[2-9])\b", re.IGNORECASE
)


def named_count(question: str) -> int:
    """ "Which three regions …?": how many things the question asks for (0 when it names no count)."""
    match = _NAMED_COUNT.search(question)
    if not match:
        return 0
    word = match.group(1).lower()
    return int(word) if word.isdigit() else COUNT_WORDS[word]


#: "How much money …?", "How much did the EU contribute …?", "What maximum fine does …?": an amount of money
#: (the noun followed by a verb, so "Which fine distinction …" asks for none)
_MONEY_QUESTION = re.compile(
    r"\bhow\s+much\s+(?:money|funding|did\b.*\b(?:cost|pay|paid|contribute|spend|spent|invest|give|donate|raise))"
    r"|\b(?:what|which)\s+(?:(?:maximum|minimum|total|annual)\s+)?(?:fines?|penalty|amount\s+of\s+money|sum|budget|"
    r"funding|price|cost|salary|endowment)\s+(?:does|did|do|is|was|are|were|can|could|may|might|will|would|has|have|had)\b"
    r"|\bhow\s+much\b.*\b(?:fine|cost|worth|budget|funding|money|endowment)\b",
    re.IGNORECASE,
)


def asks_money(question: str) -> bool:
    """ "How much money …?", "What maximum fine …?": the answer is an amount of money."""
    return bool(_MONEY_QUESTION.search(question))


_DATE_QUESTION = re.compile(r"\b(?:what|which)\s+(?:year|date|day|month|century|decade)\b", re.IGNORECASE)


def asks_date(question: str) -> bool:
    """ "In what year …?", "On which date …?": the answer is a date."""
    return bool(_DATE_QUESTION.search(question))


_WHO_QUESTION = re.compile(r"^\W*(?:(?:to|by|for|with|from|of)\s+)?(?:who|whom|whose)\b", re.IGNORECASE)


def asks_who(question: str) -> bool:
    """ "Who …?", "By whom …?": the answer names someone."""
    return bool(_WHO_QUESTION.search(question))
