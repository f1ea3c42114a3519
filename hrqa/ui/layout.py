"""The page: its layout and the line that wires each event to a handler (``hrqa.ui.handlers``), the
queue's concurrency groups, and the page's static CSS and JavaScript (``hrqa/ui/static/``)."""

from __future__ import annotations

from importlib import resources

import gradio as gr

from hrqa import uploads
from hrqa.ui.handlers import Handlers, box
from hrqa.ui.render import DOCUMENT_PLACEHOLDER, notice_html, sources_html
from hrqa.ui.render_desk import DOCUMENT_ORDERS, FIND_PLACEHOLDER, export_html
from hrqa.ui.service import Service

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


def static_text(name: str) -> str:
    """A file of ``hrqa/ui/static`` (package data: ``pip install .`` carries it)."""
    return resources.files("hrqa.ui").joinpath("static", name).read_text(encoding="utf-8")


CSS = static_text("hrqa.css")
SOURCES_JS = static_text("sources.js")
DOCUMENT_JS = static_text("document.js")
OPEN_JS = static_text("open.js")
COPY_JS = static_text("copy.js")
EXPORT_JS = static_text("export.js")


def build_app(service: Service) -> gr.Blocks:
    """The Blocks app: chat, sources, document view, filters, rebuild and upload, and the API."""
    settings = service.settings
    h = Handlers(service)

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
                        find_results = gr.HTML(box(FIND_PLACEHOLDER), elem_id="hrqa-find-results", js_on_load=OPEN_JS)
                    with gr.Tab("Documents", id="documents", elem_id="hrqa-tab-documents") as documents_tab:
                        documents_order = gr.Radio(
                            list(DOCUMENT_ORDERS), value="corpus order", label="Order by", elem_id="hrqa-docs-order"
                        )
                        documents_view = gr.HTML(
                            box('<div class="hrqa-empty">Loading the list of documents…</div>'),
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
                sources = gr.HTML(box(sources_html([], -1)), elem_id="hrqa-sources", js_on_load=SOURCES_JS + COPY_JS)
                document = gr.HTML(box(DOCUMENT_PLACEHOLDER), elem_id="hrqa-document", js_on_load=DOCUMENT_JS)
        timer = gr.Timer(STATUS_REFRESH_SECONDS)

        answer_outputs = [chat, turns, question, sources, shown, document]
        for trigger in (ask.click, question.submit):
            trigger(
                h.on_ask,
                [question, turns, docs_filter, kinds_filter, order],
                answer_outputs,
                api_visibility="private",
                show_progress_on=[chat],
                **ask_events,
            )
        for button in examples:
            button.click(
                h.on_ask,
                [button, turns, docs_filter, kinds_filter, order],
                answer_outputs,
                api_visibility="private",
                show_progress_on=[chat],
                **ask_events,
            )
        sources.click(
            h.on_open,
            [turns, order],
            [sources, document, shown],
            api_visibility="private",
            show_progress="hidden",
            **view_events,
        )
        order.change(
            h.on_order,
            [turns, shown, order],
            [sources],
            api_visibility="private",
            show_progress="hidden",
            **view_events,
        )
        for trigger in (new_chat.click, chat.clear):  # the chat's own bin icon clears the session too
            trigger(h.on_clear, None, [chat, turns, sources, shown, document], api_visibility="private", **view_events)
        rebuild.click(
            h.on_rebuild, None, [report, status], api_visibility="private", show_progress_on=[report], **rebuild_events
        )
        add.click(
            h.on_upload,
            [files],
            [report, files, status],
            api_visibility="private",
            show_progress_on=[report],
            **rebuild_events,
        )
        # the status line bypasses the queue: it must not wait behind queued questions
        for trigger in (demo.load, timer.tick):
            trigger(
                h.on_tick,
                [seen, docs_filter, kinds_filter],
                [status, docs_filter, kinds_filter, seen],
                api_visibility="private",
                queue=False,
                show_progress="hidden",
            )
        # the researcher's desk (issue 13)
        for trigger in (find.click, find_term.submit):
            trigger(
                h.on_find,
                [find_term, docs_filter, kinds_filter],
                [find_results],
                api_visibility="private",
                show_progress_on=[find_results],
                **view_events,
            )
        for panel in (find_results, documents_view):
            panel.click(h.on_open_at, None, [document], api_visibility="private", show_progress="hidden", **view_events)
        for trigger in (documents_tab.select, documents_order.change):
            trigger(
                h.on_documents, [documents_order], [documents_view], api_visibility="private", show_progress="hidden"
            )
        turns.change(h.on_export, [turns], [export], api_visibility="private", show_progress="hidden", **view_events)
        demo.load(h.on_link, None, [document], api_visibility="private", show_progress="hidden", **view_events)

        gr.api(h.api_ask, api_name="ask", **ask_events)
        gr.api(h.api_find, api_name="find", **view_events)
        gr.api(h.api_documents, api_name="documents", **view_events)
        gr.api(h.api_rebuild, api_name="rebuild", **rebuild_events)
        gr.api(h.api_status, api_name="status", queue=False)
        gr.api(h.api_document, api_name="document", **view_events)
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=1)  # every queued event sets its own limit
    return demo
