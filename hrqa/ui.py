"""The web chat: a thin Gradio layer over ``hrqa.engine.Engine`` (no retrieval logic here).

Everything a document, a catalog entry or a person typed reaches the page only through ``escape``:
HTML special characters and Markdown/template punctuation become character references, so a
document with ``<script>`` or ``<img onerror=...>`` in it is shown as those characters.
"""

from __future__ import annotations

import os

# before gradio is imported: no usage analytics, no version check, no telemetry of any kind
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import ipaddress
import itertools
import json
import logging
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr

from hrqa import uploads
from hrqa.engine import Engine
from hrqa.errors import HrqaError, IndexStaleError, SettingsError
from hrqa.records import DocumentInfo, DocumentList, FindReport, SharedSpan
from hrqa.settings import Settings
from hrqa.store import BuildReport

log = logging.getLogger(__name__)

EXAMPLE_QUESTIONS = (
    "Which two media outlets interviewed Professor Gong Xianghe?",
    "Where was the 23rd ASEM seminar on human rights held?",
    "Which organisations from Japan signed the open letter?",
    "Is China's use of surveillance technology portrayed as protective or as a threat?",
)

# Queue and concurrency, chosen deliberately (issue 5):
# - questions: an answer is a query embedding plus numpy/FAISS work, tens of milliseconds of CPU that
#   torch already spreads over the cores, so a few at once keep every core busy without letting
#   latency grow from contention; the rest wait in the queue in order. The web chat and the `ask`
#   API share this group, so the limit holds whichever way questions arrive.
ASK_CONCURRENCY = 4
# - rebuilds and uploads: one at a time (the index lock would refuse a second one anyway). They run in
#   their own group, so a question is never queued behind a rebuild: it is answered from the served
#   index until the engine swaps in the new one.
REBUILD_CONCURRENCY = 1
# - rendering sources and documents: no model work, milliseconds each.
VIEW_CONCURRENCY = 8
# - requests waiting beyond this are refused ("queue is full") instead of piling up without bound;
#   well above the 50 concurrent questions of the load test.
QUEUE_MAX_SIZE = 256
#: Gradio's temporary copies of uploaded files: checked every hour, deleted after a day (seconds)
TEMP_FILES_MAX_AGE = (3600, 86400)
#: seconds between refreshes of the status line in an open page (no model work, no I/O while idle)
STATUS_REFRESH_SECONDS = 2.0
#: the status line's staleness check hashes the corpus files, so it is cached this long
STATUS_CACHE_SECONDS = 10.0

#: a refused, overlong question is shown in the chat only this far
QUESTION_SHOWN_CHARS = 3000

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


# ----------------------------------------------------------------------------- escaping and rendering

# HTML special characters, plus everything Markdown, GFM autolinks, LaTeX delimiters or the gr.HTML
# template (``${}`` / ``{{}}``) would interpret, as numeric character references: the text is shown
# exactly, never interpreted. One translate() pass, so the references themselves stay intact.
_ESCAPES = {ord(c): f"&#{ord(c)};" for c in "'\\`*_{}[]()#+-!|~$:@=/"}
_ESCAPES.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;"})


def escape(text: object) -> str:
    """Text safe to place in HTML or Markdown: shown character for character, never as markup."""
    return str(text).translate(_ESCAPES)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _spans(values: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in values if int(a) < int(b)]


def marked_html(
    text: str, base: int, marks: Sequence[tuple[int, int]] = (), focus: tuple[int, int] | None = None
) -> str:
    """``text`` (which starts at document offset ``base``) escaped, with each span of ``marks`` in
    ``<mark>`` and the ``focus`` span in ``<span class="hrqa-focus">`` (the first piece carries
    ``id="hrqa-focus"`` so the page can scroll to it)."""
    end = base + len(text)
    points = {base, end}
    for a, b in [*marks, *([focus] if focus else [])]:
        points.update(min(max(p, base), end) for p in (a, b))
    cuts = sorted(points)
    out: list[str] = []
    focus_opened = False
    for a, b in itertools.pairwise(cuts):
        if a == b:
            continue
        piece = escape(text[a - base : b - base])
        if any(s <= a and b <= e for s, e in marks):
            piece = f"<mark>{piece}</mark>"
        if focus and focus[0] <= a and b <= focus[1]:
            ident = "" if focus_opened else ' id="hrqa-focus"'
            focus_opened = True
            piece = f'<span class="hrqa-focus"{ident}>{piece}</span>'
        out.append(piece)
    return "".join(out)


def cite_link(turn: int, n: int) -> str:
    """A clickable ``[n]`` in the chat: the page script turns a click into "open source n"."""
    return f'<a href="#hrqa-{turn}-{n}" class="hrqa-cite" title="Show source {n} in its document">[{n}]</a>'


def answer_markdown(turn: int, answer: dict) -> str:
    """The chat message for one answer: the quoted sentences, each with its clickable marker."""
    if answer["abstained"]:
        reason = f" ({escape(answer['abstain_reason'])})" if answer.get("abstain_reason") else ""
        links = " ".join(cite_link(turn, c["n"]) for c in answer["citations"])
        closest = (
            (f"\n\nThe closest passages are listed under Sources, as passages that do **not** answer it: {links}")
            if links
            else ""
        )
        return f"**The documents do not answer this question.**{reason}{closest}"
    lines = [f"“{escape(one_line(s['text']))}” {cite_link(turn, s['citation'])}" for s in answer["answer"]]
    return "\n\n".join(lines)


def chat_messages(turns: Sequence[dict]) -> list[dict]:
    """The conversation in messages format, rebuilt from the session's turns."""
    messages: list[dict] = []
    for number, turn in enumerate(turns):
        question = turn["question"]
        shown = question if len(question) <= QUESTION_SHOWN_CHARS else question[:QUESTION_SHOWN_CHARS] + " …"
        messages.append({"role": "user", "content": escape(shown)})
        if turn.get("answer") is not None:
            content = answer_markdown(number, turn["answer"])
        else:
            content = f"⚠️ {escape(turn.get('notice') or 'no answer')}"
        messages.append({"role": "assistant", "content": content})
    return messages


def _meta(citation: dict) -> str:
    parts = [
        citation.get("date") or "undated",
        citation.get("publisher") or "publisher unknown",
        citation.get("kind") or "kind unknown",
    ]
    return " · ".join(escape(p) for p in parts)


def _relevance(score: float) -> str:
    share = min(max(float(score), 0.0), 1.0)
    return (
        f'<span class="hrqa-rel" title="relevance {share:.2f} (1.00 = the best passage found)">'
        f'<span class="hrqa-rel-bar"><span style="width:{round(share * 100)}%"></span></span>'
        f" relevance {share:.2f}</span>"
    )


def _card(turn: int, citation: dict, selected: int | None, documents: dict | None = None) -> str:
    n = int(citation["n"])
    start = int(citation["start"])
    info = (documents or {}).get(citation["doc"])
    link = f" {share_link(citation['doc'], start, int(citation['end']), info['sha256'])}" if info else ""
    passage = marked_html(citation["passage"], start, _spans(citation.get("highlights", ())))
    chosen = " hrqa-selected" if selected == n else ""
    return (
        f'<div class="hrqa-card{chosen}" id="hrqa-card-{turn}-{n}">'
        f'<div class="hrqa-card-title"><span class="hrqa-n">[{n}]</span> {escape(citation["title"])}</div>'
        f'<div class="hrqa-meta">{_meta(citation)} {_relevance(citation["score"])}</div>'
        f'<blockquote class="hrqa-passage">{passage}</blockquote>'
        f'<button class="hrqa-show" data-hrqa-turn="{turn}" data-hrqa-cite="{n}">Show in document</button>{link}'
        "</div>"
    )


def _date_key(citation: dict) -> tuple:
    return (citation.get("date") is None, citation.get("date") or "", citation["n"])


def sources_html(turns: Sequence[dict], turn: int, order: str = "relevance", selected: int | None = None) -> str:
    """The sources panel for one turn: a card per citation, grouped by publisher when there are several,
    in citation order or by document date."""
    if not 0 <= turn < len(turns) or turns[turn].get("answer") is None:
        return '<div class="hrqa-empty">Sources appear here after a question is answered.</div>'
    answer = turns[turn]["answer"]
    citations = list(answer["citations"])
    by_date = order == "document date"
    if by_date:
        citations.sort(key=_date_key)
    head = f'<div class="hrqa-sources-head">Sources for “{escape(one_line(answer["question"]))}”'
    if answer["abstained"]:
        head += (
            '<div class="hrqa-abstained">The documents do not answer this question: these are the '
            "closest passages, and none of them answers it.</div>"
        )
    documents = turns[turn].get("documents") or {}
    head += copy_block(answer, documents) + "</div>"
    if not citations:
        return head + '<div class="hrqa-empty">No passage matched.</div>'
    publishers = list(dict.fromkeys(c.get("publisher") or "publisher unknown" for c in citations))
    if len(publishers) == 1:
        return head + "".join(_card(turn, c, selected, documents) for c in citations)
    groups: dict[str, list[dict]] = {p: [] for p in publishers}
    for c in citations:
        groups[c.get("publisher") or "publisher unknown"].append(c)
    body = [f'<div class="hrqa-grouped">{len(groups)} publishers: each group shows what one source says.</div>']
    for publisher, members in groups.items():
        kinds = ", ".join(dict.fromkeys(escape(c.get("kind") or "kind unknown") for c in members))
        body.append(
            f'<div class="hrqa-group"><div class="hrqa-group-head">{escape(publisher)} '
            f'<span class="hrqa-kind">({kinds})</span></div>'
            + "".join(_card(turn, c, selected, documents) for c in members)
            + "</div>"
        )
    return head + "".join(body)


DOCUMENT_PLACEHOLDER = (
    '<div class="hrqa-empty">Click “Show in document” on a source, or a [n] marker in an '
    "answer, to read the whole document here with the passage highlighted.</div>"
)


def document_html(document, citation: dict | None = None) -> str:
    """A whole document, escaped, with the cited passage highlighted and its answer sentences marked."""
    meta = " · ".join(
        escape(p)
        for p in (
            document.date or "undated",
            document.publisher or "publisher unknown",
            document.kind or "kind unknown",
        )
    )
    head = (
        f'<div class="hrqa-doc-head"><div class="hrqa-doc-title">{escape(document.title)}</div>'
        f'<div class="hrqa-meta">{meta} · <code>{escape(document.id)}</code></div>'
    )
    focus = None
    marks: list[tuple[int, int]] = []
    if citation is not None:
        start, end = int(citation["start"]), int(citation["end"])
        if document.text[start:end] == citation["passage"]:
            focus = (start, end)
            marks = _spans(citation.get("highlights", ()))
            head += f'<div class="hrqa-doc-note">Source [{int(citation["n"])}] is highlighted below.</div>'
        else:
            head += (
                '<div class="hrqa-doc-note">This document changed since the answer was given; '
                "ask the question again to highlight the passage.</div>"
            )
    head += "</div>"
    return f'{head}<div class="hrqa-doc-text">{marked_html(document.text, 0, marks, focus)}</div>'


def notice_html(text: str, kind: str = "info") -> str:
    return f'<div class="hrqa-notice hrqa-{kind}">{escape(text)}</div>'


def report_json(report: BuildReport) -> dict:
    """What the ``rebuild`` API returns."""
    return {
        "index": report.index_id,
        "added": list(report.added),
        "changed": list(report.changed),
        "removed": list(report.removed),
        "unchanged": report.unchanged,
        "documents": report.documents,
        "passages": report.passages,
        "passages_embedded": report.passages_embedded,
        "sentences_embedded": report.sentences_embedded,
        "seconds": round(report.seconds, 2),
        "warnings": list(report.warnings),
        "summary": report.summary(),
    }


def report_html(report: BuildReport, saved: Sequence[str] = (), refused: Sequence[str] = ()) -> str:
    def names(items: Sequence[str]) -> str:
        return f" ({escape(', '.join(items))})" if items else ""

    rows = [
        ("Documents added", f"{len(report.added)}{names(report.added)}"),
        ("Documents changed", f"{len(report.changed)}{names(report.changed)}"),
        ("Documents removed", f"{len(report.removed)}{names(report.removed)}"),
        ("Passages embedded", f"{report.passages_embedded} of {report.passages}"),
        ("Time taken", f"{report.seconds:.1f} s"),
    ]
    table = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    parts = [
        (
            f'<div class="hrqa-report">Index {escape(report.index_id)} is live: {report.documents} documents.'
            f"<table>{table}</table>"
        )
    ]
    parts += [f'<div class="hrqa-ok">Added to the corpus: {escape(name)}</div>' for name in saved]
    parts += [f'<div class="hrqa-warn">Not added: {escape(reason)}</div>' for reason in refused]
    parts += [f'<div class="hrqa-warn">{escape(w)}</div>' for w in report.warnings]
    return "".join(parts) + "</div>"


# ----------------------------------------------------------------------------- the researcher's desk (issue 13)

#: hex digits of a document's sha256 a shared link carries (64 bits: a changed document is caught)
LINK_HASH_CHARS = 16
#: mention lines the Find panel lists (the counts are always complete; the API takes its own limit)
FIND_SHOWN = 300
#: mentions the find API returns when the caller gives no limit (each carries its line, up to ~320 chars)
FIND_API_LIMIT = 1000
DOCUMENT_ORDERS = ("corpus order", "date", "publisher", "title")


def share_query(doc: str, start: int, end: int, sha256: str) -> str:
    """The query string of a shared link: document, span and the prefix of the document's hash."""
    return "?" + urllib.parse.urlencode(
        {"doc": doc, "start": int(start), "end": int(end), "h": sha256[:LINK_HASH_CHARS]}
    )


def share_link(doc: str, start: int, end: int, sha256: str) -> str:
    """A "link" anchor that opens the app on this span in a new tab (to copy and share)."""
    href = escape(share_query(doc, start, end, sha256))
    return (
        f'<a class="hrqa-link" href="{href}" target="_blank" rel="noopener" '
        f'title="A link to this passage (opens in a new tab; copy it to share)">link</a>'
    )


def _info_meta(info: DocumentInfo) -> str:
    parts = (info.date or "undated", info.publisher or "publisher unknown", info.kind or "kind unknown")
    return " · ".join(escape(p) for p in parts)


FIND_PLACEHOLDER = (
    '<div class="hrqa-empty">Type a word or phrase to list every mention of it in the documents (within '
    "the filters below), with counts per document. Click a mention to read it in its document.</div>"
)


def find_html(report: FindReport, shown: int = FIND_SHOWN) -> str:
    """Counts per document, then every mention as its line with the term highlighted; each line opens
    the document at that place, and carries a shareable link."""
    summary = f'<div class="hrqa-find-summary">{escape(report.summary()[0].upper() + report.summary()[1:])}</div>'
    if not report.total:
        return f'<div class="hrqa-find hrqa-find-none">{summary}</div>'
    rows = "".join(
        f'<tr class="hrqa-count"><td class="hrqa-count-n">{count}</td><td><span class="hrqa-count-title">'
        f'{escape(info.title)}</span><div class="hrqa-meta">{_info_meta(info)} · <code>{escape(info.id)}</code>'
        f"</div></td></tr>"
        for info, count in report.counts
    )
    hashes = {info.id: info.sha256 for info, _ in report.counts}
    titles = {info.id: info.title for info, _ in report.counts}
    lines = []
    for m in report.mentions[:shown]:
        line = marked_html(m.line, m.context.start, [(m.span.start, m.span.end)])
        line = ("… " if m.cut_before else "") + line + (" …" if m.cut_after else "")
        lines.append(
            f'<li class="hrqa-mention" data-hrqa-open="{escape(m.doc)}" data-hrqa-start="{m.span.start}" '
            f'data-hrqa-end="{m.span.end}" data-hrqa-hash="{escape(hashes[m.doc][:LINK_HASH_CHARS])}" '
            f'title="Open the document at this mention">'
            f'<span class="hrqa-mention-doc">{escape(titles[m.doc])}</span> '
            f'<span class="hrqa-mention-line">{line}</span> {share_link(m.doc, m.span.start, m.span.end, hashes[m.doc])}'
            "</li>"
        )
    tail = ""
    if report.total > len(lines):
        tail = f'<div class="hrqa-empty">… and {report.total - len(lines)} more mentions, not listed here.</div>'
    return (
        f'<div class="hrqa-find">{summary}<table class="hrqa-counts">{rows}</table>'
        f'<ol class="hrqa-mentions">{"".join(lines)}</ol>{tail}</div>'
    )


def sorted_documents(documents: Sequence[DocumentInfo], order: str) -> list[DocumentInfo]:
    """The documents view's orders: by date (newest first, undated last), publisher, title, or as indexed."""
    if order == "date":
        dated = sorted((d for d in documents if d.date), key=lambda d: d.date, reverse=True)
        return dated + [d for d in documents if not d.date]
    if order == "publisher":  # documents without a publisher last
        return sorted(
            documents, key=lambda d: (d.publisher is None, (d.publisher or "").casefold(), d.title.casefold())
        )
    if order == "title":
        return sorted(documents, key=lambda d: d.title.casefold())
    return list(documents)


def documents_html(listing: DocumentList, order: str = "corpus order") -> str:
    """Every indexed document with its catalog provenance, size and passages; each opens in the viewer."""
    documents = sorted_documents(listing.documents, order)
    head = (
        f'<div class="hrqa-docs-head">{len(documents)} documents · index <code>{escape(listing.index_id)}</code> · '
        f"model {escape(listing.model)} · built {escape(listing.built_at)}</div>"
    )
    rows = []
    for d in documents:
        url = (
            f'<a class="hrqa-url" href="{escape(d.url)}" target="_blank" rel="noopener noreferrer">{escape(d.url)}</a>'
            if d.url and d.url.lower().startswith(("https://", "http://"))
            else escape(d.url or "no URL in the catalog")
        )
        rows.append(
            f'<div class="hrqa-doc-row"><div class="hrqa-doc-row-title">{escape(d.title)} '
            f'<button class="hrqa-show" data-hrqa-open="{escape(d.id)}">Open</button></div>'
            f'<div class="hrqa-meta"><span class="hrqa-doc-date">{escape(d.date or "undated")}</span> · '
            f'<span class="hrqa-doc-publisher">{escape(d.publisher or "publisher unknown")}</span> · '
            f'<span class="hrqa-doc-kind">{escape(d.kind or "kind unknown")}</span></div>'
            f'<div class="hrqa-meta"><code class="hrqa-doc-id">{escape(d.id)}</code> · '
            f'<span class="hrqa-doc-url">{url}</span> · <span class="hrqa-doc-size">{d.characters:,} characters'
            f'</span> · <span class="hrqa-doc-passages">{d.passages} passages</span></div></div>'
        )
    return f'{head}<div class="hrqa-docs">{"".join(rows)}</div>'


def span_html(target: SharedSpan, note: str = "") -> str:
    """A document opened at a span (a shared link, a mention): the span highlighted and scrolled to, or,
    when the document changed since, a warning and no highlight."""
    document = target.document
    meta = " · ".join(
        escape(p)
        for p in (
            document.date or "undated",
            document.publisher or "publisher unknown",
            document.kind or "kind unknown",
        )
    )
    head = (
        f'<div class="hrqa-doc-head"><div class="hrqa-doc-title">{escape(document.title)}</div>'
        f'<div class="hrqa-meta">{meta} · <code>{escape(document.id)}</code></div>'
    )
    marks: list[tuple[int, int]] = []
    focus = None
    if target.span is None:
        head += f'<div class="hrqa-doc-note hrqa-link-warning">⚠️ Not highlighted: {escape(target.problem)}.</div>'
    else:
        focus = (target.span.start, target.span.end)
        marks = [focus]
        text = f"{note} " if note else ""
        text += f"Characters {target.span.start:,}–{target.span.end:,} are highlighted below"
        text += f" ({target.problem})." if target.problem else "."
        head += f'<div class="hrqa-doc-note">{escape(text)}</div>'
    head += "</div>"
    return f'{head}<div class="hrqa-doc-text">{marked_html(document.text, 0, marks, focus)}</div>'


def _reference(n: int, citation: dict, info: dict | None) -> str:
    parts = [
        citation["title"],
        f"{citation.get('publisher') or 'publisher unknown'}, {citation.get('date') or 'undated'}",
        citation.get("kind") or "kind unknown",
    ]
    if info and info.get("url"):
        parts.append(info["url"])
    return (
        f"[{n}] "
        + ". ".join(parts)
        + f". Document {citation['doc']}, characters {citation['start']}–{citation['end']}."
    )


def citations_text(answer: dict, documents: dict | None = None) -> str:
    """The text "Copy with citations" copies: each quoted sentence, verbatim, with its reference number and offsets,
    then the numbered references (title, publisher, date, kind, URL where the catalog has one, document
    id and the passage's offsets) and the index they come from."""
    documents = documents or {}
    if answer["abstained"]:
        return ""
    quotes = [f"“{s['text']}” [{s['citation']}] (characters {s['start']}–{s['end']})" for s in answer["answer"]]
    used = list(dict.fromkeys(s["citation"] for s in answer["answer"]))
    by_number = {c["n"]: c for c in answer["citations"]}
    references = [_reference(n, by_number[n], documents.get(by_number[n]["doc"])) for n in used]
    index = answer.get("index") or {}
    source = f"Quoted by hrqa from index {index.get('id', '?')} (model {index.get('model', '?')})."
    return "\n\n".join(["\n".join(quotes), "\n".join(references), source])


def copy_block(answer: dict, documents: dict | None = None) -> str:
    """The "Copy with citations" button and the text it copies (kept in the page, never interpreted)."""
    text = citations_text(answer, documents)
    if not text:
        return ""
    return (
        '<div class="hrqa-copy"><button class="hrqa-show" data-hrqa-copy="1" title="Copy the quoted sentences '
        'with numbered references">Copy with citations</button> <span class="hrqa-copied"></span>'
        f'<textarea class="hrqa-copy-text" hidden readonly>{escape(text)}</textarea></div>'
    )


def conversation_json(turns: Sequence[dict], index: dict | None = None) -> dict:
    """The conversation for export: each answer's JSON contract, and the index id and model that served it."""
    return {
        "hrqa": "conversation",
        "index": dict(index or {}),
        "turns": [{"question": t["question"], "answer": t.get("answer"), "notice": t.get("notice")} for t in turns],
    }


def conversation_markdown(turns: Sequence[dict], index: dict | None = None) -> str:
    """The conversation as Markdown: each question, its quoted answer and its references."""
    index = index or {}
    lines = [
        "# hrqa conversation",
        "",
        f"Index {index.get('id', '?')} · model {index.get('model', '?')} · built {index.get('built_at', '?')}",
    ]
    for number, turn in enumerate(turns, 1):
        lines += ["", f"## {number}. {one_line(turn['question'])}", ""]
        answer = turn.get("answer")
        if answer is None:
            lines.append(f"No answer: {turn.get('notice') or 'no answer'}")
        elif answer["abstained"]:
            reason = f" ({answer['abstain_reason']})" if answer.get("abstain_reason") else ""
            lines.append(f"The documents do not answer this question.{reason}")
        else:
            for block in citations_text(answer, turn.get("documents")).split("\n\n"):
                lines += [f"> {line}" if block.startswith("“") else line for line in block.split("\n")]
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_html(turns: Sequence[dict], index: dict | None = None) -> str:
    """The "Export conversation" buttons: two buttons that download the conversation as Markdown and as JSON."""
    if not turns:
        return '<div class="hrqa-empty hrqa-export-empty">Export the conversation once a question is answered.</div>'
    markdown = conversation_markdown(turns, index)
    data = json.dumps(conversation_json(turns, index), ensure_ascii=False, indent=1)
    return (
        '<div class="hrqa-export">Export conversation: '
        '<button class="hrqa-show" data-hrqa-export="md">Markdown</button> '
        '<button class="hrqa-show" data-hrqa-export="json">JSON</button>'
        f'<textarea class="hrqa-export-md" hidden readonly>{escape(markdown)}</textarea>'
        f'<textarea class="hrqa-export-json" hidden readonly>{escape(data)}</textarea></div>'
    )


# ----------------------------------------------------------------------------- the served engine


class IndexNotReadyError(HrqaError):
    """A question arrived while the first index is still being built or opened."""


class _ConsoleProgress:
    """Build progress on the console: a line per stage, and one per tenth of a long stage."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.last: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        tenth = 10 * done // total if total else 10
        if (stage, tenth) != self.last:
            self.last = (stage, tenth)
            print(f"hrqa: {stage:<22} {done}/{total}", file=self.stream, flush=True)


class Service:
    """What the page and the API share: the engine once open, and the state of any build.

    The first open (and a build of a missing index) runs in a background thread, so the page is up
    at once and says the index is being built; questions are answered as soon as it is ready.
    """

    def __init__(self, settings: Settings, embedder=None) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.error: str | None = None
        self._embedder = embedder
        self._build_lock = threading.Lock()
        self._progress: tuple[str, int, int] | None = None
        self._activity: str | None = None  # "building" | "rebuilding" | "opening"
        self._status_cache: tuple[float, str] = (0.0, "")
        self._console = _ConsoleProgress()

    # -- building

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._open, name="hrqa-open", daemon=True)
        thread.start()
        return thread

    def _report(self, stage: str, done: int, total: int, extra: Callable[[str, int, int], None] | None) -> None:
        self._progress = (stage, done, total)
        self._console(stage, done, total)
        if extra is not None:
            extra(stage, done, total)

    def _open(self) -> None:
        """Open the index; build it when missing; rebuild it when stale while serving the old one."""
        from hrqa.embedding import load_embedder

        with self._build_lock:
            self._activity, self._progress, self.error = "opening", None, None
            try:
                print(
                    f"hrqa: opening the index in {self.settings.index_dir} (corpus {self.settings.corpus_dir})",
                    file=sys.stderr,
                    flush=True,
                )
                if self._embedder is None:
                    self._embedder = load_embedder(self.settings.model, self.settings.batch_size)
                self._activity = "building"

                def progress(stage: str, done: int, total: int) -> None:
                    self._report(stage, done, total, None)

                try:
                    engine = Engine.open(self.settings, embedder=self._embedder, build="missing", progress=progress)
                except IndexStaleError:  # built with another model: its vectors cannot answer; rebuild first
                    engine = Engine.open(self.settings, embedder=self._embedder, build="stale", progress=progress)
                self.engine = engine
                stale = engine.status().stale
                if stale:
                    print(
                        f"hrqa: {stale}; rebuilding (questions are answered from the current index meanwhile)",
                        file=sys.stderr,
                        flush=True,
                    )
                    self._activity = "rebuilding"
                    print(f"hrqa: {engine.rebuild(progress).summary()}", file=sys.stderr, flush=True)
                print(f"hrqa: index ready: {engine.status().line()}", file=sys.stderr, flush=True)
            except HrqaError as error:
                self.error = str(error)
                print(f"hrqa: error: {error}", file=sys.stderr, flush=True)
            except Exception as error:  # the page must say why; the console gets the traceback
                self.error = f"the index could not be opened ({type(error).__name__}: {error})"
                log.exception("opening the index failed")
            finally:
                self._activity, self._progress = None, None
                self._status_cache = (0.0, "")

    def rebuild(self, extra: Callable[[str, int, int], None] | None = None) -> BuildReport:
        """Incremental rebuild; questions keep being answered from the served index until the swap."""
        if self.engine is None and self._activity is not None:
            raise IndexNotReadyError(
                f"the index is being built ({self.progress_text()}); it will be up to date when that finishes"
            )
        with self._build_lock:
            engine = self.engine
            self._activity, self._progress = "rebuilding", None
            try:
                if engine is None:  # the first open failed (e.g. an empty corpus): build from scratch
                    from hrqa.embedding import load_embedder

                    self._embedder = self._embedder or load_embedder(self.settings.model, self.settings.batch_size)
                    engine = Engine(self.settings, self._embedder)
                report = engine.rebuild(lambda stage, done, total: self._report(stage, done, total, extra))
                self.engine, self.error = engine, None
                print(f"hrqa: {report.summary()}", file=sys.stderr, flush=True)
                return report
            finally:
                self._activity, self._progress = None, None
                self._status_cache = (0.0, "")

    # -- serving

    def require_engine(self) -> Engine:
        if self.engine is not None:
            return self.engine
        if self._activity is not None:
            raise IndexNotReadyError(f"the index is being built ({self.progress_text()}); ask again in a moment")
        raise IndexNotReadyError(
            f"the index is not available: {self.error or 'it has not been opened'}; "
            "use Rebuild embeddings (or run: hrqa index) to build it"
        )

    def ask(
        self,
        question: str,
        k: int | None = None,
        history: Sequence[str] = (),
        docs: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> dict:
        engine = self.require_engine()
        index = engine.index
        # passed on as given: the engine checks each (a string is not a list, 1.5 is not a k)
        answer = engine.ask(question, k or None, history=history or (), docs=docs or None, kinds=kinds or None)
        return index.mark_cut(answer.to_json())

    def progress_text(self) -> str:
        progress = self._progress
        if progress is None:
            return "loading the model" if self._activity == "opening" else "starting"
        stage, done, total = progress
        return f"{stage} {done}/{total}"

    def status_line(self) -> str:
        """The page's status line: documents, passages, model, build time, or what is happening."""
        engine, activity = self.engine, self._activity
        if engine is None:
            if activity is not None:
                return f"The index is being built: {self.progress_text()}. The page answers once it is ready."
            return f"No index: {self.error or 'not opened yet'}. Use Rebuild embeddings to build it."
        stamp, line = self._status_cache
        if time.monotonic() - stamp > STATUS_CACHE_SECONDS or not line:
            try:
                line = "Index: " + engine.status().line()
            except HrqaError as error:
                line = f"Index: {error}"
            self._status_cache = (time.monotonic(), line)
        if activity == "rebuilding":
            return f"{line} · REBUILDING ({self.progress_text()}); answers come from this index until it is done"
        return line

    def status(self) -> dict:
        engine = self.engine
        return {
            "ready": engine is not None,
            "building": self._activity is not None,
            "progress": list(self._progress) if self._progress else None,
            "index": engine.index.id if engine is not None else None,
            "error": self.error,
            "line": self.status_line(),
        }

    def index_id(self) -> str | None:
        engine = self.engine
        return engine.index.id if engine is not None else None

    def filter_choices(self) -> tuple[list[tuple[str, str]], list[str]]:
        engine = self.engine
        if engine is None:
            return [], []
        documents = engine.index.documents
        docs = sorted(((f"{d.title} ({d.id})", d.id) for d in documents.values()), key=lambda c: c[0].lower())
        kinds = sorted({d.kind or "unknown" for d in documents.values()})
        return docs, kinds

    # -- the researcher's desk (issue 13): what the engine says, passed on

    def find(
        self, term: str, docs: Sequence[str] | None = None, kinds: Sequence[str] | None = None, limit: int | None = None
    ) -> FindReport:
        return self.require_engine().every_mention(term, docs=docs or None, kinds=kinds or None, limit=limit)

    def documents(self) -> DocumentList:
        return self.require_engine().documents()

    def shared_span(self, doc: str, start: object, end: object, sha256_prefix: str | None) -> SharedSpan:
        return self.require_engine().shared_span(doc, start, end, sha256_prefix)

    def cited_documents(self, answer: dict) -> dict[str, dict]:
        """Catalog entries (URL, hash) of the documents an answer cites, for its references and links."""
        engine = self.require_engine()
        infos = {d.id: d for d in engine.documents().documents}
        return {c["doc"]: infos[c["doc"]].to_json() for c in answer["citations"] if c["doc"] in infos}

    def index_info(self) -> dict:
        """The served index's id, model and build time (what an export names), or {} when none."""
        engine = self.engine
        if engine is None:
            return {}
        listing = engine.documents()
        return {"id": listing.index_id, "model": listing.model, "built_at": listing.built_at}


# ----------------------------------------------------------------------------- the page

CSS = """
#hrqa-status { font-size: 0.85em; opacity: 0.85; }
.hrqa-box { max-height: 46vh; overflow-y: auto; padding-right: 4px; }
#hrqa-document .hrqa-box { max-height: 52vh; border: 1px solid rgba(128,128,128,0.35); border-radius: 6px;
                           padding: 0 10px 8px; }
.hrqa-doc-head { position: sticky; top: 0; background: var(--background-fill-primary, #fff); padding: 6px 0;
                 border-bottom: 1px solid rgba(128,128,128,0.3); margin-bottom: 6px; z-index: 1; }
.hrqa-empty { opacity: 0.7; font-style: italic; padding: 8px 0; }
.hrqa-sources-head { font-weight: 600; margin-bottom: 6px; }
.hrqa-abstained { font-weight: 400; margin-top: 4px; padding: 6px 8px; border-left: 3px solid #d97706;
                  background: rgba(217, 119, 6, 0.08); }
.hrqa-grouped { font-size: 0.85em; opacity: 0.8; margin-bottom: 4px; }
.hrqa-group { margin-bottom: 10px; }
.hrqa-group-head { font-weight: 600; border-bottom: 1px solid rgba(128,128,128,0.4); margin: 8px 0 4px; }
.hrqa-kind { font-weight: 400; opacity: 0.75; }
.hrqa-card { border: 1px solid rgba(128,128,128,0.35); border-radius: 6px; padding: 8px 10px; margin: 6px 0; }
.hrqa-card.hrqa-selected { border-color: #2563eb; box-shadow: 0 0 0 1px #2563eb; }
.hrqa-card-title { font-weight: 600; }
.hrqa-n { color: #2563eb; }
.hrqa-meta { font-size: 0.85em; opacity: 0.8; margin: 2px 0 4px; }
.hrqa-rel { white-space: nowrap; margin-left: 6px; }
.hrqa-rel-bar { display: inline-block; width: 60px; height: 7px; background: rgba(128,128,128,0.25);
                border-radius: 4px; vertical-align: middle; overflow: hidden; }
.hrqa-rel-bar > span { display: block; height: 100%; background: #16a34a; }
.hrqa-passage { margin: 4px 0; padding: 4px 8px; border-left: 3px solid rgba(128,128,128,0.5);
                white-space: normal; font-size: 0.92em; }
.hrqa-show { font-size: 0.85em; padding: 2px 8px; border-radius: 4px; border: 1px solid #2563eb;
             color: #2563eb; background: transparent; cursor: pointer; }
.hrqa-show:hover { background: rgba(37, 99, 235, 0.1); }
.hrqa-doc-title { font-weight: 600; font-size: 1.05em; }
.hrqa-doc-note { font-size: 0.85em; margin: 2px 0 6px; }
.hrqa-doc-text { white-space: pre-wrap; font-size: 0.92em; line-height: 1.45; }
.hrqa-focus { background: rgba(37, 99, 235, 0.12); }
mark { background: #fde047; color: #111; padding: 0 1px; }
.hrqa-report table { margin: 6px 0; font-size: 0.9em; }
.hrqa-report th { text-align: left; padding-right: 12px; font-weight: 500; }
.hrqa-warn { color: #b45309; font-size: 0.9em; }
.hrqa-ok { color: #15803d; font-size: 0.9em; }
.hrqa-notice.hrqa-error { color: #b91c1c; }
a.hrqa-cite { text-decoration: none; font-weight: 600; cursor: pointer; color: #2563eb !important; }
.hrqa-find-summary { font-weight: 600; margin: 4px 0 6px; }
.hrqa-counts { border-collapse: collapse; margin-bottom: 8px; width: 100%; }
.hrqa-counts td { border: none; border-bottom: 1px solid rgba(128,128,128,0.25); padding: 4px 6px; }
.hrqa-count-n { font-weight: 600; text-align: right; width: 3em; }
.hrqa-count-title { font-weight: 600; }
.hrqa-mentions { padding-left: 1.6em; margin: 0; }
.hrqa-mention { cursor: pointer; padding: 3px 4px; border-radius: 4px; }
.hrqa-mention:hover { background: rgba(37, 99, 235, 0.08); }
.hrqa-mention-doc { display: block; font-size: 0.8em; opacity: 0.7; }
a.hrqa-link { font-size: 0.8em; margin-left: 6px; color: #2563eb !important; }
.hrqa-docs-head { font-size: 0.9em; margin: 4px 0 8px; }
.hrqa-doc-row { border: 1px solid rgba(128,128,128,0.35); border-radius: 6px; padding: 6px 10px; margin: 6px 0; }
.hrqa-doc-row-title { font-weight: 600; }
.hrqa-doc-row .hrqa-show { margin-left: 6px; font-weight: 400; }
.hrqa-link-warning { color: #b45309; font-weight: 600; }
.hrqa-copy { font-weight: 400; margin-top: 4px; }
.hrqa-copy-text { width: 100%; min-height: 8em; font-size: 0.85em; }
.hrqa-copied { font-size: 0.85em; opacity: 0.8; }
.hrqa-export { font-size: 0.9em; }
"""

# The sources panel relays two kinds of click to the server as its own "click" event with the turn
# and citation numbers (never a document id: the server looks those up in the session's answers):
# its "Show in document" buttons, and the [n] markers in the chat (one listener on the page).
SOURCES_JS = """
window.__hrqaOpen = (turn, cite) => trigger('click', {turn: turn, cite: cite});
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-hrqa-cite]');
  if (!button) return;
  event.preventDefault();
  window.__hrqaOpen(Number(button.dataset.hrqaTurn), Number(button.dataset.hrqaCite));
});
if (!window.__hrqaChatLinks) {
  window.__hrqaChatLinks = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href^="#hrqa-"]');
    if (!link) return;
    const match = /^#hrqa-(\\d+)-(\\d+)$/.exec(link.getAttribute('href') || '');
    if (!match) return;
    event.preventDefault();
    event.stopPropagation();
    window.__hrqaOpen(Number(match[1]), Number(match[2]));
  }, true);
}
"""

# after each update, bring the answer sentence (else the passage) into view, in its box and the page
DOCUMENT_JS = """
watch('value', () => {
  const target = element.querySelector('.hrqa-focus mark') || element.querySelector('#hrqa-focus');
  if (target) target.scrollIntoView({block: 'center'});
});
"""

# The Find and Documents panels relay a click on a mention or an "Open" button as their own "click"
# event with the document id (and the mention's span and hash); the server refuses ids it has not
# indexed. A click on a "link" anchor is left to the browser (it opens the shared link in a new tab).
OPEN_JS = """
element.addEventListener('click', (event) => {
  if (event.target.closest('a')) return;
  const item = event.target.closest('[data-hrqa-open]');
  if (!item) return;
  event.preventDefault();
  const d = item.dataset;
  trigger('click', {doc: d.hrqaOpen, start: d.hrqaStart ?? null, end: d.hrqaEnd ?? null, hash: d.hrqaHash ?? null});
});
"""

# "Copy with citations" (in the sources panel) and "Export conversation": the text is already in the
# page, in a hidden textarea the server filled (escaped); the click copies it, or downloads it as a file.
COPY_JS = """
element.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-hrqa-copy]');
  if (!button) return;
  event.preventDefault();
  const block = button.closest('.hrqa-copy');
  const text = block.querySelector('.hrqa-copy-text').value;
  const said = block.querySelector('.hrqa-copied');
  try {
    await navigator.clipboard.writeText(text);
    said.textContent = 'Copied.';
  } catch (error) {
    said.textContent = 'The browser refused the clipboard; the text is shown below to copy by hand.';
    const area = block.querySelector('.hrqa-copy-text');
    area.hidden = false;
    area.select();
  }
});
"""

EXPORT_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('[data-hrqa-export]');
  if (!button) return;
  event.preventDefault();
  const kind = button.dataset.hrqaExport;
  const text = element.querySelector('.hrqa-export-' + kind).value;
  const type = kind === 'json' ? 'application/json' : 'text/markdown';
  const url = URL.createObjectURL(new Blob([text], {type: type + ';charset=utf-8'}));
  const link = document.createElement('a');
  link.href = url;
  link.download = 'hrqa-conversation.' + kind;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});
"""


def _box(inner: str) -> str:
    return f'<div class="hrqa-box">{inner}</div>'


def build_app(service: Service) -> gr.Blocks:
    """The Blocks app: chat, sources, document view, filters, rebuild and upload, and the API."""
    settings = service.settings

    def on_ask(question: str, turns: list[dict], docs: list[str] | None, kinds: list[str] | None, order: str):
        turns = list(turns or [])
        history = [t["question"] for t in turns if t.get("answer") is not None]
        turn: dict = {"question": str(question or "")}
        try:
            turn["answer"] = service.ask(turn["question"], history=history, docs=docs, kinds=kinds)
            turn["documents"] = service.cited_documents(turn["answer"])  # URL and hash: references, links
        except HrqaError as error:
            turn["answer"], turn["notice"] = None, str(error)
        except Exception as error:  # a chat message, not a traceback; the log keeps it
            log.exception("answering %r failed", turn["question"])
            turn["answer"], turn["notice"] = None, f"internal error ({type(error).__name__}); see the server log"
        turns.append(turn)
        number = len(turns) - 1
        shown = number if turn["answer"] is not None else -1
        return (
            chat_messages(turns),
            turns,
            "",
            _box(sources_html(turns, shown, order)),
            shown,
            _box(DOCUMENT_PLACEHOLDER),
        )

    def on_open(turns: list[dict], order: str, event: gr.EventData):
        data = getattr(event, "_data", None) or {}
        try:
            turn, n = int(data.get("turn")), int(data.get("cite"))
        except (TypeError, ValueError):
            return gr.skip(), gr.skip(), gr.skip()
        answer = turns[turn].get("answer") if 0 <= turn < len(turns or []) else None
        citation = next((c for c in (answer or {}).get("citations", ()) if c["n"] == n), None)
        if citation is None:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            document = service.require_engine().document(citation["doc"])
            view = document_html(document, citation)
        except HrqaError as error:
            view = notice_html(str(error), "error")
        return _box(sources_html(turns, turn, order, selected=n)), _box(view), turn

    def on_order(turns: list[dict], shown: int, order: str):
        return _box(sources_html(turns or [], shown, order))

    def on_clear():
        return [], [], _box(sources_html([], -1)), -1, _box(DOCUMENT_PLACEHOLDER)

    def on_tick(seen: dict, docs: list[str] | None, kinds: list[str] | None):
        seen = dict(seen or {})
        line, index = service.status_line(), service.index_id()
        status = notice_html(line) if line != seen.get("line") else gr.skip()
        if index != seen.get("index"):  # a new index: offer its documents and kinds, keep what still exists
            doc_choices, kind_choices = service.filter_choices()
            doc_ids = {value for _, value in doc_choices}
            doc_update = gr.update(choices=doc_choices, value=[d for d in docs or [] if d in doc_ids])
            kind_update = gr.update(choices=kind_choices, value=[k for k in kinds or [] if k in kind_choices])
        else:
            doc_update = kind_update = gr.skip()
        return status, doc_update, kind_update, {"line": line, "index": index}

    def on_rebuild(progress=gr.Progress()):  # noqa: B008 - how Gradio hands a handler its progress bar
        try:
            report = service.rebuild(lambda stage, done, total: progress((done, total), desc=stage))
        except HrqaError as error:
            return notice_html(str(error), "error"), notice_html(service.status_line())
        return report_html(report), notice_html(service.status_line())

    def on_upload(files: list[str] | None, progress=gr.Progress()):  # noqa: B008 - as above
        saved: list[str] = []
        refused: list[str] = []
        for item in files or []:
            path = Path(item if isinstance(item, str) else getattr(item, "name", str(item)))
            try:
                result = uploads.save_upload(path, path.name, settings.corpus_dir, settings.max_file_bytes)
                saved.append(result.name)
            except HrqaError as error:
                refused.append(str(error))
        if not saved:
            message = "; ".join(refused) or "choose one or more files (txt, md, html, pdf) first"
            return notice_html(message, "error"), None, notice_html(service.status_line())
        try:
            report = service.rebuild(lambda stage, done, total: progress((done, total), desc=stage))
        except HrqaError as error:
            return (
                notice_html(f"saved {', '.join(saved)} but the rebuild failed: {error}", "error"),
                None,
                notice_html(service.status_line()),
            )
        return report_html(report, saved, refused), None, notice_html(service.status_line())

    # ---- the researcher's desk (issue 13): every mention, the documents, exports, shared links
    def on_find(term: str, docs: list[str] | None, kinds: list[str] | None):
        try:
            return _box(find_html(service.find(str(term or ""), docs, kinds)))
        except HrqaError as error:
            return _box(notice_html(str(error), "error"))

    def on_open_at(event: gr.EventData):
        """A mention (document, span, hash) or an "Open" button (document) clicked in Find or Documents."""
        data = getattr(event, "_data", None) or {}
        doc = data.get("doc")
        if not isinstance(doc, str):
            return gr.skip()
        try:
            if data.get("start") is None:
                return _box(document_html(service.require_engine().document(doc)))
            target = service.shared_span(doc, data.get("start"), data.get("end"), data.get("hash"))
            return _box(span_html(target, "A mention is highlighted."))
        except HrqaError as error:
            return _box(notice_html(str(error), "error"))

    def on_documents(order: str):
        try:
            return _box(documents_html(service.documents(), order))
        except HrqaError as error:
            return _box(notice_html(str(error), "error"))

    def on_export(turns: list[dict]):
        return export_html(turns or [], service.index_info())

    def on_link(request: gr.Request):
        """Opening the app with ?doc=&start=&end=&h=: that document, with the span highlighted, or a
        warning when the document changed since the link was made."""
        query = dict(getattr(request, "query_params", None) or {})
        if "doc" not in query:
            return gr.skip()
        try:
            target = service.shared_span(query["doc"], query.get("start"), query.get("end"), query.get("h"))
            return _box(span_html(target, "Shared link:"))
        except HrqaError as error:
            return _box(notice_html(f"The shared link cannot be opened: {error}", "error"))

    # ---- the API (gradio_client): the JSON contract, not HTML
    def api_ask(
        question: str,
        k: int = 0,
        history: list[str] | None = None,
        docs: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> dict:
        """Answer a question; returns the JSON contract of `hrqa ask --json`. k=0 means the default."""
        try:
            return service.ask(question, k or None, history or (), docs or None, kinds or None)
        except HrqaError as error:
            raise gr.Error(str(error)) from None
        except Exception as error:  # a one-line error for the caller, never {"error": null}; the log keeps it
            log.exception("the ask API failed")
            raise gr.Error(f"internal error ({type(error).__name__}); see the server log") from None

    def api_rebuild() -> dict:
        """Run the incremental rebuild; returns the counts of the build report."""
        try:
            return report_json(service.rebuild())
        except HrqaError as error:
            raise gr.Error(str(error)) from None

    def api_status() -> dict:
        """Whether the index is ready, what is being built, and the status line."""
        return service.status()

    def api_document(doc_id: str) -> dict:
        """An indexed document by id (anything else, such as a path, is refused)."""
        try:
            d = service.require_engine().document(doc_id)
        except HrqaError as error:
            raise gr.Error(str(error)) from None
        return {"id": d.id, "title": d.title, "date": d.date, "publisher": d.publisher, "kind": d.kind, "text": d.text}

    def api_find(term: str, docs: list[str] | None = None, kinds: list[str] | None = None, limit: int = 0) -> dict:
        """Every mention of a word or phrase: counts per document (with catalog fields), each mention with
        its line, and what was searched. limit=0 means the first 1000 mentions (counts are complete)."""
        try:
            return service.find(term, docs or None, kinds or None, limit or FIND_API_LIMIT).to_json()
        except HrqaError as error:
            raise gr.Error(str(error)) from None

    def api_documents() -> dict:
        """Every indexed document with its catalog provenance, size and passages, and the index it is in."""
        try:
            return service.documents().to_json()
        except HrqaError as error:
            raise gr.Error(str(error)) from None

    ask_events = {"concurrency_limit": ASK_CONCURRENCY, "concurrency_id": "ask"}
    rebuild_events = {"concurrency_limit": REBUILD_CONCURRENCY, "concurrency_id": "rebuild"}
    view_events = {"concurrency_limit": VIEW_CONCURRENCY, "concurrency_id": "view"}

    with gr.Blocks(
        title="hrqa: questions to the human-rights corpus",
        analytics_enabled=False,
        delete_cache=TEMP_FILES_MAX_AGE,  # uploads are copied into the corpus; Gradio's copies expire
    ) as demo:
        turns = gr.State([])
        shown = gr.State(-1)
        seen = gr.State({})
        gr.HTML(
            "<h2 style='margin:0'>hrqa</h2><div>Answers quoted word for word from the documents, "
            "each with its source. Click a [n] marker to read the sentence in its document.</div>",
            js_on_load=None,
        )
        status = gr.HTML(notice_html("Starting…"), elem_id="hrqa-status", js_on_load=None)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                with gr.Tabs(elem_id="hrqa-tabs"):
                    with gr.Tab("Ask", id="ask", elem_id="hrqa-tab-ask"):
                        chat = gr.Chatbot(
                            label="Conversation",
                            elem_id="hrqa-chat",
                            height=430,
                            latex_delimiters=[],
                            feedback_options=None,
                            buttons=["copy"],
                            placeholder="Ask a question about the documents, or try an example below.",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                show_label=False,
                                placeholder="Ask a question about the documents",
                                elem_id="hrqa-question",
                                scale=6,
                                max_lines=4,
                                autofocus=True,
                            )
                            ask = gr.Button("Ask", variant="primary", elem_id="hrqa-ask", scale=1, min_width=80)
                        with gr.Row(elem_id="hrqa-examples"):
                            examples = [
                                gr.Button(q, size="sm", variant="secondary", min_width=120) for q in EXAMPLE_QUESTIONS
                            ]
                        with gr.Row():
                            new_chat = gr.Button("New conversation", size="sm", variant="secondary", scale=0)
                            export = gr.HTML(export_html([]), elem_id="hrqa-export", js_on_load=EXPORT_JS, min_height=0)
                    with gr.Tab("Find every mention", id="find", elem_id="hrqa-tab-find"):
                        with gr.Row():
                            find_term = gr.Textbox(
                                show_label=False,
                                placeholder="A word or phrase, e.g. Japan",
                                elem_id="hrqa-find-term",
                                scale=6,
                                max_lines=1,
                            )
                            find = gr.Button("Find", variant="primary", elem_id="hrqa-find", scale=1, min_width=80)
                        find_results = gr.HTML(_box(FIND_PLACEHOLDER), elem_id="hrqa-find-results", js_on_load=OPEN_JS)
                    with gr.Tab("Documents", id="documents", elem_id="hrqa-tab-documents") as documents_tab:
                        documents_order = gr.Radio(
                            list(DOCUMENT_ORDERS), value="corpus order", label="Order by", elem_id="hrqa-docs-order"
                        )
                        documents_view = gr.HTML(
                            _box('<div class="hrqa-empty">Loading the list of documents…</div>'),
                            elem_id="hrqa-documents",
                            js_on_load=OPEN_JS,
                        )
                with gr.Accordion("Filters: only some documents or kinds of source", open=False):
                    docs_filter = gr.Dropdown(
                        label="Only these documents", choices=[], multiselect=True, elem_id="hrqa-docs-filter"
                    )
                    kinds_filter = gr.Dropdown(
                        label="Only these kinds of source", choices=[], multiselect=True, elem_id="hrqa-kinds-filter"
                    )
                with gr.Accordion("Index: rebuild embeddings, add documents", open=False):
                    rebuild = gr.Button("Rebuild embeddings", elem_id="hrqa-rebuild")
                    report = gr.HTML("", elem_id="hrqa-report", js_on_load=None, min_height=110)
                    files = gr.File(
                        label=f"Add documents (txt, md, html, pdf; at most "
                        f"{settings.max_file_bytes // 1_000_000} MB each)",
                        file_count="multiple",
                        file_types=list(uploads.ALLOWED_SUFFIXES),
                        elem_id="hrqa-upload",
                    )
                    add = gr.Button("Add to the corpus and rebuild", elem_id="hrqa-add")
            with gr.Column(scale=4):
                order = gr.Radio(
                    ["relevance", "document date"], value="relevance", label="Order sources by", elem_id="hrqa-order"
                )
                sources = gr.HTML(_box(sources_html([], -1)), elem_id="hrqa-sources", js_on_load=SOURCES_JS + COPY_JS)
                document = gr.HTML(_box(DOCUMENT_PLACEHOLDER), elem_id="hrqa-document", js_on_load=DOCUMENT_JS)
        timer = gr.Timer(STATUS_REFRESH_SECONDS)

        answer_outputs = [chat, turns, question, sources, shown, document]
        for trigger in (ask.click, question.submit):
            trigger(
                on_ask,
                [question, turns, docs_filter, kinds_filter, order],
                answer_outputs,
                api_visibility="private",
                show_progress_on=[chat],
                **ask_events,
            )
        for button in examples:
            button.click(
                on_ask,
                [button, turns, docs_filter, kinds_filter, order],
                answer_outputs,
                api_visibility="private",
                show_progress_on=[chat],
                **ask_events,
            )
        sources.click(
            on_open,
            [turns, order],
            [sources, document, shown],
            api_visibility="private",
            show_progress="hidden",
            **view_events,
        )
        order.change(
            on_order, [turns, shown, order], [sources], api_visibility="private", show_progress="hidden", **view_events
        )
        for trigger in (new_chat.click, chat.clear):  # the chat's own bin icon clears the session too
            trigger(on_clear, None, [chat, turns, sources, shown, document], api_visibility="private", **view_events)
        rebuild.click(
            on_rebuild, None, [report, status], api_visibility="private", show_progress_on=[report], **rebuild_events
        )
        add.click(
            on_upload,
            [files],
            [report, files, status],
            api_visibility="private",
            show_progress_on=[report],
            **rebuild_events,
        )
        # the status line bypasses the queue: it must not wait behind queued questions
        for trigger in (demo.load, timer.tick):
            trigger(
                on_tick,
                [seen, docs_filter, kinds_filter],
                [status, docs_filter, kinds_filter, seen],
                api_visibility="private",
                queue=False,
                show_progress="hidden",
            )
        # the researcher's desk (issue 13)
        for trigger in (find.click, find_term.submit):
            trigger(
                on_find,
                [find_term, docs_filter, kinds_filter],
                [find_results],
                api_visibility="private",
                show_progress_on=[find_results],
                **view_events,
            )
        for panel in (find_results, documents_view):
            panel.click(on_open_at, None, [document], api_visibility="private", show_progress="hidden", **view_events)
        for trigger in (documents_tab.select, documents_order.change):
            trigger(on_documents, [documents_order], [documents_view], api_visibility="private", show_progress="hidden")
        turns.change(on_export, [turns], [export], api_visibility="private", show_progress="hidden", **view_events)
        demo.load(on_link, None, [document], api_visibility="private", show_progress="hidden", **view_events)

        gr.api(api_ask, api_name="ask", **ask_events)
        gr.api(api_find, api_name="find", **view_events)
        gr.api(api_documents, api_name="documents", **view_events)
        gr.api(api_rebuild, api_name="rebuild", **rebuild_events)
        gr.api(api_status, api_name="status", queue=False)
        gr.api(api_document, api_name="document", **view_events)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)  # every queued event sets its own limit
    return demo


# ----------------------------------------------------------------------------- serving


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is refused (413) before anything reads or
    parses it; a body without Content-Length is read up to the limit first. Uploads (``/upload``) have
    their own limit, Gradio's ``max_file_size``."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith("/upload"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                await self._refuse(send, 400, "the Content-Length header is not a number")
                return
            if size > self.limit:
                await self._refuse(send, 413, self._message(f"{size} bytes"))
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > self.limit:
                await self._refuse(send, 413, self._message(f"over {self.limit} bytes"))
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, size: str) -> str:
        return f"the request body ({size}) is over the limit of {self.limit} bytes (setting max_request_bytes)"

    @staticmethod
    async def _refuse(send, status: int, message: str) -> None:
        import json

        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def launch_limits(settings: Settings) -> dict:
    """The ``launch()`` arguments that bound what a client can make the server hold: upload size,
    request body size, and stored sessions (each raw REST call to /gradio_api/call/* opens one)."""
    from starlette.middleware import Middleware

    return {
        "max_file_size": settings.max_file_bytes,
        "app_kwargs": {"middleware": [Middleware(BodyLimit, limit=settings.max_request_bytes)]},
        "state_session_capacity": settings.max_sessions,
    }


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(settings: Settings) -> tuple[str, str] | None:
    """The credentials to require, or None; refuse to bind beyond loopback without credentials unless
    ``insecure`` is set (then warn)."""
    credentials = None
    if settings.auth:
        user, _, password = settings.auth.partition(":")
        if not password:
            raise SettingsError("HRQA_AUTH needs a password: user:password")
        credentials = (user, password)
    if credentials is None and not is_loopback(settings.host):
        if not settings.insecure:
            raise SettingsError(
                f"refusing to serve on {settings.host} without credentials: anyone who can reach it could read "
                "the corpus, rebuild the index and upload files. Set HRQA_AUTH=user:password, or pass "
                "--insecure (HRQA_INSECURE=1) to accept that"
            )
        print(
            f"hrqa: WARNING: serving on {settings.host}:{settings.port} without credentials (--insecure); "
            "anyone who can reach this address can read the corpus, rebuild the index and upload files",
            file=sys.stderr,
            flush=True,
        )
    return credentials


def serve(settings: Settings | None = None) -> int:
    """Start the web app with ``settings`` (``hrqa serve`` and ``python app.py`` build them from their
    flags with ``settings_from_args``; None: the environment's); returns the exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
    logging.getLogger("hrqa").setLevel(logging.INFO)
    try:
        settings = settings or Settings.from_env()
        credentials = check_binding(settings)
    except HrqaError as error:
        print(f"hrqa: error: {error}", file=sys.stderr)
        return 2
    service = Service(settings)
    service.start()
    demo = build_app(service)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    try:
        demo.launch(
            server_name=settings.host,
            server_port=settings.port,
            auth=credentials,
            auth_message="hrqa: sign in with the HRQA_AUTH credentials" if credentials else None,
            **launch_limits(settings),
            share=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            inbrowser=False,
            show_error=False,
            footer_links=["api"],
            theme=theme,
            css=CSS,
            quiet=False,
        )
    except OSError as error:  # the port is taken, or the address cannot be bound
        print(
            f"hrqa: error: cannot serve on {settings.host}:{settings.port} ({error}); choose another with --port",
            file=sys.stderr,
        )
        return 2
    return 0
