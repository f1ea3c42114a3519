"""The web chat: a thin Gradio layer over ``hrqa.engine.Engine`` (no retrieval logic here).

- ``render``, ``render_desk``: pure functions from answers and records to escaped HTML and Markdown
- ``service``: the served engine as the page needs it (``hrqa.lifecycle`` opens, builds, rebuilds it)
- ``handlers``: every event and API function; ``layout``: the page and its event lines
- ``serve``: binding checks, request limits, ``serve`` (``hrqa serve``); ``static/``: CSS and JavaScript
"""

from __future__ import annotations

import os

# before gradio is imported: no usage analytics, no version check, no telemetry of any kind
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from hrqa.lifecycle import IndexNotReadyError
from hrqa.ui.layout import EXAMPLE_QUESTIONS, build_app
from hrqa.ui.render import (
    DOCUMENT_PLACEHOLDER,
    answer_markdown,
    chat_messages,
    citations_text,
    cite_link,
    copy_block,
    document_html,
    escape,
    marked_html,
    notice_html,
    one_line,
    report_html,
    report_json,
    share_link,
    share_query,
    sources_html,
)
from hrqa.ui.render_desk import (
    DOCUMENT_ORDERS,
    conversation_json,
    conversation_markdown,
    documents_html,
    export_html,
    find_html,
    sorted_documents,
    span_html,
)
from hrqa.ui.serve import BodyLimit, check_binding, is_loopback, launch_limits, serve
from hrqa.ui.service import Service

__all__ = [
    "DOCUMENT_ORDERS",
    "DOCUMENT_PLACEHOLDER",
    "EXAMPLE_QUESTIONS",
    "BodyLimit",
    "IndexNotReadyError",
    "Service",
    "answer_markdown",
    "build_app",
    "chat_messages",
    "check_binding",
    "citations_text",
    "cite_link",
    "conversation_json",
    "conversation_markdown",
    "copy_block",
    "document_html",
    "documents_html",
    "escape",
    "export_html",
    "find_html",
    "is_loopback",
    "launch_limits",
    "marked_html",
    "notice_html",
    "one_line",
    "report_html",
    "report_json",
    "serve",
    "share_link",
    "share_query",
    "sorted_documents",
    "sources_html",
    "span_html",
]
