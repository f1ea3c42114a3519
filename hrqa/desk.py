"""The researcher's desk (issue 13) over one index snapshot: the documents with their provenance, every
mention of a term with its line, and what a shared link points at. ``Engine`` checks the arguments and
holds the snapshot; these functions read it."""

from __future__ import annotations

from collections.abc import Sequence

from hrqa import backends, retrieval
from hrqa.errors import printable
from hrqa.records import Document, DocumentInfo, DocumentList, FindReport, FindResult, MentionLine, SharedSpan, Span


def document_infos(index) -> dict[str, DocumentInfo]:
    """Every indexed document with its catalog provenance, size and number of passages, by id."""
    passages: dict[str, int] = {}
    # a remote backend lists its passages in one scroll; the local snapshot holds them in a list
    every = index.iter_passages() if hasattr(index, "iter_passages") else index.passages
    for passage in every:
        passages[passage.doc] = passages.get(passage.doc, 0) + 1
    return {
        d.id: DocumentInfo(
            id=d.id,
            title=d.title,
            date=d.date,
            publisher=d.publisher,
            kind=d.kind,
            url=d.url,
            sha256=d.sha256,
            characters=len(d.text),
            passages=passages.get(d.id, 0),
        )
        for d in index.documents.values()
    }


def document_list(index, infos: dict[str, DocumentInfo]) -> DocumentList:
    return DocumentList(
        index_id=index.id,
        model=index.model,
        built_at=index.manifest["built_at"],
        documents=tuple(infos.values()),
    )


def mention_line(text: str, mention) -> MentionLine:
    """A mention with its line's text, and whether the line goes on beyond it on either side."""
    start, end = mention.context.start, mention.context.end
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    return MentionLine(
        mention.doc,
        mention.span,
        mention.context,
        text[start:end],
        bool(text[line_start:start].strip()),
        end < line_end,
    )


def mentions_report(
    index,
    backend: backends.SearchBackend,
    infos: dict[str, DocumentInfo],
    term: str,
    scope: backends.Scope | None,
    limit: int | None,
) -> FindReport:
    """Every mention of ``term`` (already checked) in the documents of ``scope``, counted per document,
    with the line around each (the first ``limit`` of them; the counts are always complete)."""
    chosen: Sequence[str] = backend.document_ids(scope) if scope is not None else list(index.documents)
    found = retrieval.find_mentions(backend, term, chosen) if chosen else FindResult(term, 0, ())
    shown = found.mentions if limit is None else found.mentions[:limit]
    return FindReport(
        term=found.term,
        documents_searched=len(chosen),
        characters_searched=sum(infos[d].characters for d in chosen),
        counts=tuple((infos[d], n) for d, n in sorted(found.counts.items(), key=lambda kv: -kv[1])),
        mentions=tuple(mention_line(backend.document(m.doc).text, m) for m in shown),
        total=len(found.mentions),
        index_id=index.id,
        lookalikes=found.lookalikes,
    )


def shared_span(document: Document, start: object, end: object, sha256_prefix: str | None = None) -> SharedSpan:
    """What a shared link points at: the document and the span to highlight, unless the document
    changed since the link was made (its sha256 no longer starts with the link's prefix) or the
    span lies outside it."""
    try:
        span = Span(int(str(start)), int(str(end)))
    except ValueError:
        return SharedSpan(document, None, "the link's characters are not a valid range")
    if span.end > len(document.text) or span.start == span.end:
        return SharedSpan(
            document,
            None,
            f"the link's characters {span.start}-{span.end} are not within this document "
            f"({len(document.text):,} characters); it has changed since the link was made",
        )
    prefix = (sha256_prefix or "").strip().lower()
    if prefix and not document.sha256.startswith(prefix):
        return SharedSpan(
            document,
            None,
            f"this document has changed since the link was made (its hash is now {document.sha256[:12]}…, "
            f"the link's {printable(prefix)[:12]}…), so the linked characters may no longer be the text "
            "that was shared",
        )
    return SharedSpan(document, span, None if prefix else "the link carries no hash: the text was not checked")
