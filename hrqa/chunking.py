"""Sentences with exact offsets (hard-wrapped lines rejoined, list items kept whole) and passages.

The core is pure: ``split_units`` turns a text into ordered units (prose sentences, list items,
heading lines) whose spans index the original text; ``make_passages`` groups units into windows.
Rejoining wrapped lines replaces each newline inside a paragraph by a space *of the same length*,
so the sentence splitter's output maps back onto the file character for character.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from hrqa.records import Document, Passage, Sentence, Span

#: "1. item", "12) item", "- item", "• item", "- 3. item" at the start of a line
LIST_ITEM = re.compile(r"^[ \t\u00a0]*(?:[-*•‣◦▪–][ \t\u00a0]+)?(?:\d{1,4}[.)]|[-*•‣◦▪–])[ \t\u00a0]+\S")
#: a line that ends a sentence
TERMINAL = re.compile(r"[.!?。！？:;\"'”’)\]]\s*$")
HEADING_MAX_CHARS = 120
#: characters ``str.splitlines`` ends a line at; inside a paragraph they read as spaces
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))
#: the fallback when pysbd fails on a paragraph: split after end punctuation followed by white space
_FALLBACK_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
#: the longest unit (sentence, list item) and the most text given to the sentence splitter at once;
#: the default of ``Settings.max_sentence_chars``. pysbd's time grows with the square of an unpunctuated
#: paragraph (measured on 2 shared cores: 2.5k characters 2.8 us/char, 50k 7.6 us/char, 100k 12.7 us/char),
#: so longer paragraphs are cut into windows of at most this many characters first. The longest real
#: sentence seen is 1,878 characters (seed 000) and 1,580 in 1,500 SciFact abstracts, so no real sentence
#: is cut; a cut one is flagged (``Unit.cut``) and said to be cut wherever it is quoted.
MAX_UNIT_CHARS = 3000
#: where a window of an over-long paragraph may end cleanly: end punctuation, closing quotes, white space
_SENTENCE_BOUNDARY = re.compile(r"[.!?。！？][\"'”’)\]]*\s+")
#: everything up to the last white space (greedy, so one linear pass)
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Unit:
    """A piece of a document the answer step can quote: a sentence, a list item or a heading line."""

    span: Span
    kind: str  # "sentence" | "item" | "heading"
    #: index of the paragraph (block of lines between blank lines) the unit came from
    block: int
    #: a skipped (boilerplate) line lies between this unit and the one before: no passage spans it
    after_skip: bool = False
    #: a piece of a sentence or list item longer than the unit limit (cut at white space where possible)
    cut: bool = False


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


def split_units(text: str, skip_lines: frozenset[str] = frozenset(), max_chars: int = MAX_UNIT_CHARS) -> list[Unit]:
    """Split ``text`` into units; lines whose stripped text is in ``skip_lines`` are left out.

    No unit is longer than ``max_chars``: a longer sentence or list item is cut into pieces (``cut``),
    and the work is linear in the length of the text.
    """
    units: list[Unit] = []
    for block_number, (start, end, is_list, after_skip) in enumerate(_blocks(text, skip_lines)):
        if is_list:
            item = _trimmed(text, start, end)
            pieces = _windows(text, item.start, item.end, max_chars)
            for i, (a, b, cut) in enumerate(pieces):
                span = _trimmed(text, a, b)
                units.append(Unit(span, "item", block_number, after_skip and i == 0, cut or len(pieces) > 1))
            continue
        block = text[start:end]
        if "\n" not in block.strip() and len(block.strip()) <= HEADING_MAX_CHARS and not TERMINAL.search(block):
            units.append(Unit(_trimmed(text, start, end), "heading", block_number, after_skip))
            continue
        for i, (span, cut) in enumerate(_sentences(text, start, end, max_chars)):
            units.append(Unit(span, "sentence", block_number, after_skip and i == 0, cut))
    return units


def _blocks(text: str, skip_lines: frozenset[str]):
    """Yield (start, end, is_list_item, after_skip) for paragraphs and list items, in order.

    Blank and boilerplate lines end a paragraph; every list item line is a block of its own.
    ``after_skip`` says a boilerplate line came between this block and the one before. Blank lines after
    a line that ends in a comma do not end its paragraph: no sentence ends there, and scraped pages break
    a sentence across paragraphs so ("prepared by Professor Virginia Dignum,\n\n\n\nDr Rachele Carli,
    and Dr Tang Yingxia provided ...").
    """
    paragraph_start: int | None = None
    paragraph_after_skip = False
    paragraph_end = 0
    last_content = ""  # of the paragraph's last line
    pending_skip = False
    offset = 0
    for line in text.splitlines(keepends=True):
        line_start, offset = offset, offset + len(line)
        content = line.strip()
        if not content and paragraph_start is not None and last_content.endswith(","):
            continue
        if not content or content in skip_lines or LIST_ITEM.match(line):
            if paragraph_start is not None:
                yield paragraph_start, paragraph_end, False, paragraph_after_skip
                paragraph_start = None
            if content and content in skip_lines:
                pending_skip = True
            elif content:
                yield line_start, line_start + len(line.rstrip("\r\n")), True, pending_skip
                pending_skip = False
            continue
        if paragraph_start is None:
            paragraph_start, paragraph_after_skip, pending_skip = line_start, pending_skip, False
        paragraph_end = line_start + len(line.rstrip("\r\n"))
        last_content = content
    if paragraph_start is not None:
        yield paragraph_start, paragraph_end, False, paragraph_after_skip


def _trimmed(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def split_sentences(text: str, start: int, end: int, max_chars: int = MAX_UNIT_CHARS) -> list[Span]:
    """Sentence spans of the paragraph ``text[start:end]``, wrapped lines read as one line."""
    return [span for span, _ in _sentences(text, start, end, max_chars)]


def _sentences(text: str, start: int, end: int, max_chars: int) -> list[tuple[Span, bool]]:
    """(span, cut) of each sentence of the paragraph ``text[start:end]``.

    A paragraph longer than ``max_chars`` is split into windows first (``_windows``), each given to the
    sentence splitter alone, so no call sees more than ``max_chars`` characters. A sentence that touches
    a window edge which is not a sentence end is a piece of a longer sentence: ``cut``.
    """
    out: list[tuple[Span, bool]] = []
    windows = _windows(text, start, end, max_chars)
    for number, (a, b, cut_after) in enumerate(windows):
        cut_before = number > 0 and windows[number - 1][2]
        spans = _split_window(text, a, b)
        for i, span in enumerate(spans):
            out.append((span, (cut_before and i == 0) or (cut_after and i == len(spans) - 1)))
    return out


def _split_window(text: str, start: int, end: int) -> list[Span]:
    """pysbd's sentence spans of ``text[start:end]`` (at most one window of a paragraph)."""
    # Same-length replacement: positions in `joined` are positions in the paragraph.
    joined = text[start:end].translate(_LINE_BREAKS)
    spans: list[Span] = []
    cursor = 0
    for sentence in _segment(joined):
        piece = sentence.strip()
        if not piece:
            continue
        found = joined.find(piece, cursor)
        if found < 0:  # the splitter changed the text; keep the rest as one sentence
            break
        spans.append(Span(start + found, start + found + len(piece)))
        cursor = found + len(piece)
    rest = _trimmed(text, start + cursor, end)
    if rest.end > rest.start:
        spans.append(rest)
    return spans


def _windows(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int, bool]]:
    """``text[start:end]`` as consecutive windows (a, b, cut) of at most ``max_chars`` characters.

    A window ends at its last sentence end (end punctuation and white space), so sentences that fit stay
    whole; without one, the sentence is longer than ``max_chars`` and the window ends at its last white
    space in its second half (``cut``: the sentence goes on), else after ``max_chars`` characters
    (``cut``). A window that ends early leaves no sentence end before the next window's second half, so
    every two windows advance by at least half of ``max_chars``: the scanning is linear. A text no
    longer than ``max_chars`` is one window.
    """
    windows: list[tuple[int, int, bool]] = []
    position = start
    half = max(1, max_chars // 2)
    while end - position > max_chars:
        limit = position + max_chars
        boundary = None
        for match in _SENTENCE_BOUNDARY.finditer(text, position + 1, limit):
            boundary = match.end()
        if boundary is not None and boundary > position:
            windows.append((position, boundary, False))
            position = boundary
            continue
        match = _UP_TO_LAST_SPACE.match(text, position + half, limit)
        cut = match.end() if match and match.end() > position else limit
        windows.append((position, cut, True))
        position = cut
    windows.append((position, end, False))
    return windows


def _segment(joined: str) -> list[str]:
    """pysbd's sentences of one paragraph; a simple punctuation split where pysbd fails."""
    try:
        return _segmenter().segment(joined)
    except Exception as error:  # noqa: BLE001 -- pysbd raises on some odd input (ValueError on "a\x1c1."): keep the text
        log.debug("pysbd failed (%s: %s); splitting at end punctuation", error.__class__.__name__, error)
        return _FALLBACK_SENTENCE_END.split(joined)


def make_sentences(document: Document, units: list[Unit]) -> list[Sentence]:
    return [
        Sentence(doc=document.id, span=unit.span, position=i, is_list_item=unit.kind == "item")
        for i, unit in enumerate(units)
    ]


def make_passages(
    document: Document,
    units: list[Unit],
    *,
    max_sentences: int,
    max_chars: int,
    overlap: int,
    list_items: int,
) -> list[Passage]:
    """Windows of whole units. Prose and lists are windowed apart; list windows carry a heading."""
    passages: list[Passage] = []
    for run_kind, positions in _runs(units):
        if run_kind == "item":
            heading = _list_heading(document.text, units, positions[0])
            for i in range(0, len(positions), list_items):
                window = positions[i : i + list_items]
                passages.append(_passage(document, units, window, heading))
            continue
        heading = _section_heading(document.text, units, positions[0])
        i = 0
        while i < len(positions):
            window = [positions[i]]
            while (
                i + len(window) < len(positions)
                and len(window) < max_sentences
                and units[positions[i + len(window)]].span.end - units[window[0]].span.start <= max_chars
            ):
                window.append(positions[i + len(window)])
            passages.append(_passage(document, units, window, heading))
            if i + len(window) >= len(positions):
                break
            i += max(1, len(window) - overlap)
    return passages


def _runs(units: list[Unit]):
    """Consecutive unit positions grouped into list runs and prose runs (boilerplate lines end a run)."""
    run: list[int] = []
    run_kind = ""
    for position, unit in enumerate(units):
        kind = "item" if unit.kind == "item" else "prose"
        if run and (kind != run_kind or unit.after_skip):
            yield run_kind, run
            run = []
        run_kind = kind
        run.append(position)
    if run:
        yield run_kind, run


def _list_heading(text: str, units: list[Unit], first: int) -> str:
    """The list's heading: a sentence ending in ':' just above it, else the nearest heading line
    above, else the sentence just above."""
    if first > 0 and units[first - 1].kind == "sentence":
        above = _fold(text, units[first - 1].span)
        if above.endswith(":"):
            return above
    heading = _section_heading(text, units, first - 1)
    if heading:
        return heading
    return _fold(text, units[first - 1].span) if first > 0 else ""


def _section_heading(text: str, units: list[Unit], first: int) -> str:
    """The nearest heading line at or above position ``first`` (empty when there is none)."""
    for position in range(first, -1, -1):
        if units[position].kind == "heading":
            return _fold(text, units[position].span)
    return ""


def _fold(text: str, span: Span) -> str:
    return " ".join(text[span.start : span.end].split())


def _passage(document: Document, units: list[Unit], window: list[int], heading: str) -> Passage:
    span = Span(units[window[0]].span.start, units[window[-1]].span.end)
    digest = hashlib.sha1(f"{document.id}\0{span.start}\0{document.text[span.start : span.end]}".encode()).hexdigest()
    return Passage(
        id=digest[:16],
        doc=document.id,
        span=span,
        first_sentence=window[0],
        last_sentence=window[-1],
        heading=heading,
    )


class Chunks(NamedTuple):
    units: list[Unit]
    sentences: list[Sentence]
    passages: list[Passage]


def chunk(document: Document, boilerplate: frozenset[str], chunking: dict[str, int]) -> Chunks:
    """Units, sentences and passages of one document, with the settings of ``Settings.chunking``."""
    units = split_units(document.text, boilerplate, chunking.get("max_sentence_chars", MAX_UNIT_CHARS))
    sentences = make_sentences(document, units)
    passages = make_passages(
        document,
        units,
        max_sentences=chunking["passage_sentences"],
        max_chars=chunking["passage_max_chars"],
        overlap=chunking["passage_overlap"],
        list_items=chunking["list_items_per_passage"],
    )
    return Chunks(units, sentences, passages)


def chunk_document(document: Document, boilerplate: frozenset[str], chunking: dict[str, int]):
    """Sentences and passages of one document, with the chunking settings of ``Settings.chunking``."""
    _, sentences, passages = chunk(document, boilerplate, chunking)
    return sentences, passages


def embedding_text(document: Document, passage: Passage) -> str:
    """What the models see for a passage: its document's title and heading give it context."""
    body = " ".join(document.text[passage.span.start : passage.span.end].split())
    context = [document.title]
    if passage.heading and passage.heading != document.title:
        context.append(passage.heading)
    return "\n".join(context + [body])
