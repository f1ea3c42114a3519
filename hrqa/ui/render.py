"""The page's pure rendering: the chat, the sources panel, the document view, notices and build
reports as HTML or Markdown strings (no Gradio here, tested without a server).

Everything a document, a catalog entry or a person typed reaches the page only through ``escape``:
HTML special characters and Markdown/template punctuation become character references, so a
document with ``<script>`` or ``<img onerror=...>`` in it is shown as those characters.
"""

from __future__ import annotations

import itertools
import urllib.parse
from collections.abc import Sequence

from hrqa.records import unsure_note
from hrqa.store import BuildReport

#: a refused, overlong question is shown in the chat only this far
QUESTION_SHOWN_CHARS = 3000
#: hex digits of a document's sha256 a shared link carries (64 bits: a changed document is caught)
LINK_HASH_CHARS = 16


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


#: marks a sentence may open with when it is a quotation itself ("It will take …," said …), or close with
#: when it ends on one (… called for “decisive measures to protect fundamental freedoms in China.”): the
#: chat's own quotation marks around it would double them (“… in China.””)
_OPENING_QUOTES = ('"', "“", "‘", "«", "„", "「", "『")
_CLOSING_QUOTES = ('"', "”", "’", "»", "“", "」", "』")


def quoted(text: str) -> str:
    """An answer sentence as the chat shows it: inside quotation marks, unless it opens or ends with its own."""
    if text.lstrip().startswith(_OPENING_QUOTES) or text.rstrip().endswith(_CLOSING_QUOTES):
        return text
    return f"“{text}”"


def cite_link(turn: int, n: int) -> str:
    """A clickable ``[n]`` in the chat: the page script turns a click into "open source n"."""
    return f'<a href="#hrqa-{turn}-{n}" class="hrqa-cite" title="Show source {n} in its document">[{n}]</a>'


def speaker(citation: dict) -> str:
    """Who says what follows: the publisher of the quoted document (else its title) and its kind of source."""
    who = citation.get("publisher") or citation.get("title") or citation.get("doc") or "source unknown"
    kind = f" · {escape(citation['kind'])}" if citation.get("kind") else ""
    return f"**{escape(who)}**{kind}:"


def answer_markdown(turn: int, answer: dict) -> str:
    """The chat message for one answer: the quoted sentences, each with its clickable marker, under the
    name of the source that says them (the corpus is contested: who says it is part of the answer)."""
    if answer["abstained"]:
        reason = f" ({escape(answer['abstain_reason'])})" if answer.get("abstain_reason") else ""
        links = " ".join(cite_link(turn, c["n"]) for c in answer["citations"])
        closest = (
            (f"\n\nThe closest passages are listed under Sources, as passages that do **not** answer it: {links}")
            if links
            else ""
        )
        return f"**The documents do not answer this question.**{reason}{closest}"
    by_number = {c["n"]: c for c in answer["citations"]}
    lines: list[str] = []
    for number, sentence in enumerate(answer["answer"]):
        if number == 0 or sentence.get("doc") != answer["answer"][number - 1].get("doc"):
            lines.append(speaker(by_number.get(sentence["citation"], {"doc": sentence.get("doc")})))
        lines.append(f"{escape(quoted(one_line(sentence['text'])))} {cite_link(turn, sentence['citation'])}")
    note = unsure_note(answer.get("confidence", 1.0))
    if note:
        lines.append(f"*{escape(note)}*")
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
    quotes = [f"{quoted(s['text'])} [{s['citation']}] (characters {s['start']}–{s['end']})" for s in answer["answer"]]
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
