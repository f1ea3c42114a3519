"""The records that flow through hrqa, defined once. Offsets are [start, end) into Document.text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: the one label shown for a document without a date (the catalog gives none; none is invented)
MISSING_DATE = "undated"


def date_label(date: str | None) -> str:
    """A document's date as people read it: the date, or MISSING_DATE."""
    return date or MISSING_DATE


@dataclass(frozen=True)
class Span:
    """Character offsets such that ``document.text[start:end]`` is the quoted text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"invalid span [{self.start}, {self.end})")

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: Span) -> bool:
        return self.start <= other.start and other.end <= self.end


@dataclass(frozen=True)
class Document:
    """One document of the corpus with its provenance.

    ``id`` is the path relative to the corpus folder (``file.jsonl#<_id>`` for a record of a
    collection); ``sha256`` hashes the bytes the text came from.
    """

    id: str
    text: str
    sha256: str
    title: str
    date: str | None = None
    publisher: str | None = None
    kind: str | None = None
    url: str | None = None

    def to_json(self) -> dict:
        """The document as the API's ``document`` endpoint returns it (text and catalog provenance)."""
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "publisher": self.publisher,
            "kind": self.kind,
            "text": self.text,
        }


@dataclass(frozen=True)
class Sentence:
    """A sentence (or list item, or heading line) of a document."""

    doc: str
    span: Span
    #: position of the sentence in its document, counting from 0
    position: int
    #: list item rather than prose
    is_list_item: bool = False


@dataclass(frozen=True)
class Passage:
    """A window of whole sentences; the unit that is embedded and retrieved."""

    id: str
    doc: str
    span: Span
    #: the sentence positions it covers, first..last inclusive
    first_sentence: int
    last_sentence: int
    #: heading of the list (or section) the passage belongs to; indexed with it, not quoted
    heading: str = ""


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and where each retriever ranked it (0-based)."""

    passage: Passage
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None


@dataclass(frozen=True)
class Citation:
    n: int
    doc: str
    title: str
    date: str | None
    publisher: str | None
    kind: str | None
    span: Span
    passage: str
    score: float
    #: spans (document offsets) of the answer sentences inside this passage, for highlighting
    highlights: tuple[Span, ...] = ()

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "doc": self.doc,
            "title": self.title,
            "date": self.date,
            "publisher": self.publisher,
            "kind": self.kind,
            "start": self.span.start,
            "end": self.span.end,
            "passage": self.passage,
            "score": round(float(self.score), 4),
            "highlights": [[h.start, h.end] for h in self.highlights],
        }


#: below this confidence an answer is shown as unsure (the chat and ``hrqa ask`` say so). Measured
#: 2026-11-25 with the reader's abstention off: answers below 0.5 were right for 22% of the squad2-dev
#: validation questions (363) against 49% above (1,171; unanswerable questions count as wrong), and
#: for 56% of the seed questions of dev.jsonl, team_checks and two probe sets (25) against 84% (45).
UNSURE_BELOW = 0.5


def unsure_note(confidence: float) -> str | None:
    """What the chat and ``hrqa ask`` say under an answer the reader is unsure of (None when it is not)."""
    if confidence >= UNSURE_BELOW:
        return None
    return (
        f"The reader is unsure that these sentences answer the question (confidence {confidence:.2f}); "
        "check them in their sources."
    )


@dataclass(frozen=True)
class AnswerSentence:
    text: str
    citation: int
    doc: str
    span: Span
    score: float = 0.0

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "citation": self.citation,
            "doc": self.doc,
            "start": self.span.start,
            "end": self.span.end,
        }


@dataclass(frozen=True)
class Answer:
    question: str
    abstained: bool
    sentences: tuple[AnswerSentence, ...]
    citations: tuple[Citation, ...]
    index_id: str
    model: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: the question actually searched (differs from ``question`` for a follow-up)
    searched: str = ""
    #: the reader's probability that the quoted sentences answer: 1 - P(no answer) over the candidates read
    confidence: float = 0.0
    #: why the system judged that the corpus does not answer (None when it answers)
    abstain_reason: str | None = None
    #: fingerprint of the reader model that chose the sentences
    reader: str = ""

    def to_json(self) -> dict:
        """The JSON contract of ``hrqa ask --json`` (names are relied upon; keep them)."""
        return {
            "question": self.question,
            "abstained": self.abstained,
            "answer": [s.to_json() for s in self.sentences],
            "citations": [c.to_json() for c in self.citations],
            "index": {"id": self.index_id, "model": self.model, "reader": self.reader},
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "searched": self.searched or self.question,
            "confidence": round(float(self.confidence), 4),
            "abstain_reason": self.abstain_reason,
        }


@dataclass(frozen=True)
class Mention:
    """One passage-free occurrence of a term: where it is and the line around it."""

    doc: str
    span: Span
    context: Span


def lookalike_note(term: str, lookalikes: tuple[tuple[str, int], ...]) -> str:
    """What ``hrqa find`` and the chat's search add about spellings that text recognition may have made of
    the term (empty when there are none)."""
    if not lookalikes:
        return ""
    found = ", ".join(f"{n} of “{spelling}”" for spelling, n in lookalikes)
    return f"; not counted: {found}, which text recognition may have made of “{term}” (search for it to list them)"


@dataclass(frozen=True)
class FindResult:
    term: str
    documents_searched: int
    mentions: tuple[Mention, ...]
    #: (spelling, mentions) of each spelling text recognition may have made of the term that the searched
    #: documents hold ("Al" for "AI"; ``retrieval.ocr_lookalikes``), not counted among the mentions
    lookalikes: tuple[tuple[str, int], ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.mentions:
            counts[m.doc] = counts.get(m.doc, 0) + 1
        return counts

    def to_json(self, context: Callable[[Mention], str]) -> dict:
        """``hrqa find --json``; ``context`` gives the text shown around a mention (the index holds it)."""
        return {
            "term": self.term,
            "documents_searched": self.documents_searched,
            "counts": self.counts,
            "mentions": [
                {"doc": m.doc, "start": m.span.start, "end": m.span.end, "context": context(m)} for m in self.mentions
            ],
            "lookalikes": [{"spelling": s, "mentions": n} for s, n in self.lookalikes],
        }


@dataclass(frozen=True)
class DocumentInfo:
    """An indexed document as the documents view lists it: its catalog provenance, size and passages
    (the text itself stays in the index)."""

    id: str
    title: str
    date: str | None
    publisher: str | None
    kind: str | None
    url: str | None
    sha256: str
    #: length of the indexed text, in characters
    characters: int
    passages: int

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "date": self.date,
            "publisher": self.publisher,
            "kind": self.kind,
            "url": self.url,
            "sha256": self.sha256,
            "characters": self.characters,
            "passages": self.passages,
        }


@dataclass(frozen=True)
class DocumentList:
    """Every indexed document (corpus order) and the snapshot they come from."""

    index_id: str
    model: str
    built_at: str
    documents: tuple[DocumentInfo, ...]

    def to_json(self) -> dict:
        return {
            "index": {"id": self.index_id, "model": self.model, "built_at": self.built_at},
            "documents": [d.to_json() for d in self.documents],
        }


@dataclass(frozen=True)
class MentionLine:
    """A mention with the text of the line around it (``line`` is ``document.text[context]``)."""

    doc: str
    span: Span
    context: Span
    line: str
    #: the line goes on before / after the context (it was clipped)
    cut_before: bool = False
    cut_after: bool = False

    def to_json(self) -> dict:
        return {
            "doc": self.doc,
            "start": self.span.start,
            "end": self.span.end,
            "context_start": self.context.start,
            "context_end": self.context.end,
            "context": self.line,
            "cut_before": self.cut_before,
            "cut_after": self.cut_after,
        }


@dataclass(frozen=True)
class FindReport:
    """Every mention of a term within a scope, with what was searched: the scope itself is a finding
    when nothing matches ("searched 5 documents, 62,467 characters: no mention of ...")."""

    term: str
    documents_searched: int
    characters_searched: int
    #: (document, number of mentions) for each document that mentions the term, most mentions first
    counts: tuple[tuple[DocumentInfo, int], ...]
    #: the mentions in corpus order, at most ``limit`` of ``total`` (the counts are always complete)
    mentions: tuple[MentionLine, ...]
    total: int
    index_id: str = ""
    #: as ``FindResult.lookalikes``
    lookalikes: tuple[tuple[str, int], ...] = ()

    def summary(self) -> str:
        scope = f"searched {self.documents_searched} documents, {self.characters_searched:,} characters"
        if not self.total:
            found = f"{scope}: no mention of “{self.term}”"
        else:
            shown = f" (the first {len(self.mentions)} listed)" if len(self.mentions) < self.total else ""
            found = (
                f"{scope}: {self.total} mention{'s' if self.total != 1 else ''} of “{self.term}” in "
                f"{len(self.counts)} document{'s' if len(self.counts) != 1 else ''}{shown}"
            )
        return found + lookalike_note(self.term, self.lookalikes)

    def to_json(self) -> dict:
        return {
            "term": self.term,
            "index": self.index_id,
            "documents_searched": self.documents_searched,
            "characters_searched": self.characters_searched,
            "total": self.total,
            "summary": self.summary(),
            "counts": [{**info.to_json(), "mentions": count} for info, count in self.counts],
            "mentions": [m.to_json() for m in self.mentions],
            "lookalikes": [{"spelling": s, "mentions": n} for s, n in self.lookalikes],
        }


@dataclass(frozen=True)
class SharedSpan:
    """What a shared link (document, span, hash prefix) points at now: the span to highlight, or
    ``problem`` saying why it is not highlighted (the document changed, the span is outside it)."""

    document: Document
    span: Span | None
    problem: str | None = None
