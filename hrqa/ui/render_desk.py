"""Rendering the researcher's desk (issue 13): every mention, the documents list, a document opened at
a shared span, and the conversation exported as Markdown or JSON. Pure functions, escaped as in
``hrqa.ui.render``."""

from __future__ import annotations

import json
from collections.abc import Sequence

from hrqa.records import DocumentInfo, DocumentList, FindReport, SharedSpan
from hrqa.ui.render import LINK_HASH_CHARS, citations_text, escape, marked_html, one_line, share_link

#: mention lines the Find panel lists (the counts are always complete; the API takes its own limit)
FIND_SHOWN = 300
#: mentions the find API returns when the caller gives no limit (each carries its line, up to ~320 chars)
FIND_API_LIMIT = 1000
DOCUMENT_ORDERS = ("corpus order", "date", "publisher", "title")


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
