"""The page's event handlers and the named API, at module level: ``hrqa.ui.layout`` builds the page
and wires each event to one of these methods. They render with ``hrqa.ui.render`` and
``hrqa.ui.render_desk``, and ask ``Service`` (the served engine) for everything else."""

from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr

from hrqa import uploads
from hrqa.errors import HrqaError
from hrqa.ui.render import (
    DOCUMENT_PLACEHOLDER,
    chat_messages,
    document_html,
    notice_html,
    report_html,
    report_json,
    sources_html,
)
from hrqa.ui.render_desk import FIND_API_LIMIT, documents_html, export_html, find_html, span_html
from hrqa.ui.service import Service

log = logging.getLogger(__name__)


def box(inner: str) -> str:
    """A panel's content in its scrolling box."""
    return f'<div class="hrqa-box">{inner}</div>'


class Handlers:
    """Every event of the page and every API function, over one ``Service``. Gradio reads each
    method's signature (``gr.EventData``, ``gr.Request``, ``gr.Progress``) as it would a function's."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def on_ask(self, question: str, turns: list[dict], docs: list[str] | None, kinds: list[str] | None, order: str):
        turns = list(turns or [])
        history = [t["question"] for t in turns if t.get("answer") is not None]
        turn: dict = {"question": str(question or "")}
        try:
            turn["answer"] = self.service.ask(turn["question"], history=history, docs=docs, kinds=kinds)
            turn["documents"] = self.service.cited_documents(turn["answer"])  # URL and hash: references, links
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
            box(sources_html(turns, shown, order)),
            shown,
            box(DOCUMENT_PLACEHOLDER),
        )

    def on_open(self, turns: list[dict], order: str, event: gr.EventData):
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
            document = self.service.require_engine().document(citation["doc"])
            view = document_html(document, citation)
        except HrqaError as error:
            view = notice_html(str(error), "error")
        return box(sources_html(turns, turn, order, selected=n)), box(view), turn

    def on_order(self, turns: list[dict], shown: int, order: str):
        return box(sources_html(turns or [], shown, order))

    def on_clear(self):
        return [], [], box(sources_html([], -1)), -1, box(DOCUMENT_PLACEHOLDER)

    def on_tick(self, seen: dict, docs: list[str] | None, kinds: list[str] | None):
        seen = dict(seen or {})
        line, index = self.service.status_line(), self.service.index_id()
        status = notice_html(line) if line != seen.get("line") else gr.skip()
        if index != seen.get("index"):  # a new index: offer its documents and kinds, keep what still exists
            doc_choices, kind_choices = self.service.filter_choices()
            doc_ids = {value for _, value in doc_choices}
            doc_update = gr.update(choices=doc_choices, value=[d for d in docs or [] if d in doc_ids])
            kind_update = gr.update(choices=kind_choices, value=[k for k in kinds or [] if k in kind_choices])
        else:
            doc_update = kind_update = gr.skip()
        return status, doc_update, kind_update, {"line": line, "index": index}

    def on_rebuild(self, progress=gr.Progress()):  # noqa: B008 - how Gradio hands a handler its progress bar
        try:
            report = self.service.rebuild(lambda stage, done, total: progress((done, total), desc=stage))
        except HrqaError as error:
            return notice_html(str(error), "error"), notice_html(self.service.status_line())
        return report_html(report), notice_html(self.service.status_line())

    def on_upload(self, files: list[str] | None, progress=gr.Progress()):  # noqa: B008 - as above
        saved: list[str] = []
        refused: list[str] = []
        for item in files or []:
            path = Path(item if isinstance(item, str) else getattr(item, "name", str(item)))
            try:
                result = uploads.save_upload(
                    path, path.name, self.service.settings.corpus_dir, self.service.settings.max_file_bytes
                )
                saved.append(result.name)
            except HrqaError as error:
                refused.append(str(error))
        if not saved:
            message = "; ".join(refused) or "choose one or more files (txt, md, html, pdf) first"
            return notice_html(message, "error"), None, notice_html(self.service.status_line())
        try:
            report = self.service.rebuild(lambda stage, done, total: progress((done, total), desc=stage))
        except HrqaError as error:
            return (
                notice_html(f"saved {', '.join(saved)} but the rebuild failed: {error}", "error"),
                None,
                notice_html(self.service.status_line()),
            )
        return report_html(report, saved, refused), None, notice_html(self.service.status_line())

    # ---- the researcher's desk (issue 13): every mention, the documents, exports, shared links
    def on_find(self, term: str, docs: list[str] | None, kinds: list[str] | None):
        try:
            return box(find_html(self.service.find(str(term or ""), docs, kinds)))
        except HrqaError as error:
            return box(notice_html(str(error), "error"))

    def on_open_at(self, event: gr.EventData):
        """A mention (document, span, hash) or an "Open" button (document) clicked in Find or Documents."""
        data = getattr(event, "_data", None) or {}
        doc = data.get("doc")
        if not isinstance(doc, str):
            return gr.skip()
        try:
            if data.get("start") is None:
                return box(document_html(self.service.require_engine().document(doc)))
            target = self.service.shared_span(doc, data.get("start"), data.get("end"), data.get("hash"))
            return box(span_html(target, "A mention is highlighted."))
        except HrqaError as error:
            return box(notice_html(str(error), "error"))

    def on_documents(self, order: str):
        try:
            return box(documents_html(self.service.documents(), order))
        except HrqaError as error:
            return box(notice_html(str(error), "error"))

    def on_export(self, turns: list[dict]):
        return export_html(turns or [], self.service.index_info())

    def on_link(self, request: gr.Request):
        """Opening the app with ?doc=&start=&end=&h=: that document, with the span highlighted, or a
        warning when the document changed since the link was made."""
        query = dict(getattr(request, "query_params", None) or {})
        if "doc" not in query:
            return gr.skip()
        try:
            target = self.service.shared_span(query["doc"], query.get("start"), query.get("end"), query.get("h"))
            return box(span_html(target, "Shared link:"))
        except HrqaError as error:
            return box(notice_html(f"The shared link cannot be opened: {error}", "error"))

    # ---- the API (gradio_client): the JSON contract, not HTML
    def api_ask(
        self,
        question: str,
        k: int = 0,
        history: list[str] | None = None,
        docs: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> dict:
        """Answer a question; returns the JSON contract of `hrqa ask --json`. k=0 means the default."""
        try:
            return self.service.ask(question, k or None, history or (), docs or None, kinds or None)
        except HrqaError as error:
            raise gr.Error(str(error)) from None
        except Exception as error:  # a one-line error for the caller, never {"error": null}; the log keeps it
            log.exception("the ask API failed")
            raise gr.Error(f"internal error ({type(error).__name__}); see the server log") from None

    def api_rebuild(self) -> dict:
        """Run the incremental rebuild; returns the counts of the build report."""
        try:
            return report_json(self.service.rebuild())
        except HrqaError as error:
            raise gr.Error(str(error)) from None

    def api_status(self) -> dict:
        """Whether the index is ready, what is being built, and the status line."""
        return self.service.status()

    def api_document(self, doc_id: str) -> dict:
        """An indexed document by id (anything else, such as a path, is refused)."""
        try:
            d = self.service.require_engine().document(doc_id)
        except HrqaError as error:
            raise gr.Error(str(error)) from None
        return {"id": d.id, "title": d.title, "date": d.date, "publisher": d.publisher, "kind": d.kind, "text": d.text}

    def api_find(
        self, term: str, docs: list[str] | None = None, kinds: list[str] | None = None, limit: int = 0
    ) -> dict:
        """Every mention of a word or phrase: counts per document (with catalog fields), each mention with
        its line, and what was searched. limit=0 means the first 1000 mentions (counts are complete)."""
        try:
            return self.service.find(term, docs or None, kinds or None, limit or FIND_API_LIMIT).to_json()
        except HrqaError as error:
            raise gr.Error(str(error)) from None

    def api_documents(self) -> dict:
        """Every indexed document with its catalog provenance, size and passages, and the index it is in."""
        try:
            return self.service.documents().to_json()
        except HrqaError as error:
            raise gr.Error(str(error)) from None
