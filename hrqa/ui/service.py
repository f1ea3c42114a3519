"""What the page and the API share: the served engine (``hrqa.lifecycle.Lifecycle`` opens, builds and
rebuilds it) seen as the web layer needs it: answers as JSON, the status line, filter choices."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from hrqa.engine import Engine
from hrqa.errors import HrqaError
from hrqa.lifecycle import IndexNotReadyError, Lifecycle
from hrqa.progress import ConsoleProgress
from hrqa.records import DocumentList, FindReport, SharedSpan
from hrqa.settings import Settings
from hrqa.store import BuildReport

#: the status line's staleness check hashes the corpus files, so it is cached this long (seconds)
STATUS_CACHE_SECONDS = 10.0

__all__ = ["IndexNotReadyError", "Service"]


class Service:
    """The engine once open, and the state of any build, for the page and the API.

    The first open (and a build of a missing index) runs in a background thread, so the page is up
    at once and says the index is being built; questions are answered as soon as it is ready.
    """

    def __init__(self, settings: Settings, embedder=None) -> None:
        self.settings = settings
        self.lifecycle = Lifecycle(settings, embedder, progress=ConsoleProgress())
        #: (when, index id, line): the last status line, recomputed after a while or for a new index
        self._status_cache: tuple[float, str | None, str] = (0.0, None, "")

    @property
    def engine(self) -> Engine | None:
        return self.lifecycle.engine

    @engine.setter
    def engine(self, engine: Engine | None) -> None:
        self.lifecycle.engine = engine
        self._status_cache = (0.0, None, "")

    # -- building: the lifecycle's

    def start(self):
        return self.lifecycle.start()

    def rebuild(self, extra: Callable[[str, int, int], None] | None = None) -> BuildReport:
        """Incremental rebuild; questions keep being answered from the served index until the swap."""
        try:
            return self.lifecycle.rebuild(extra)
        finally:
            self._status_cache = (0.0, None, "")

    def require_engine(self) -> Engine:
        return self.lifecycle.require_engine()

    # -- serving

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
        return self.lifecycle.status().progress_text()

    def status_line(self) -> str:
        """The page's status line: documents, passages, model, build time, or what is happening."""
        state = self.lifecycle.status()
        engine = self.engine
        if engine is None:
            if state.building:
                return f"The index is being built: {state.progress_text()}. The page answers once it is ready."
            return f"No index: {state.error or 'not opened yet'}. Use Rebuild embeddings to build it."
        stamp, index_id, line = self._status_cache
        if time.monotonic() - stamp > STATUS_CACHE_SECONDS or index_id != engine.index.id:
            try:
                line = "Index: " + engine.status().line()
            except HrqaError as error:
                line = f"Index: {error}"
            self._status_cache = (time.monotonic(), engine.index.id, line)
        if state.building:
            return f"{line} · REBUILDING ({state.progress_text()}); answers come from this index until it is done"
        return line

    def status(self) -> dict:
        state = self.lifecycle.status()
        return {
            "ready": state.ready,
            "building": state.building,
            "progress": list(state.progress) if state.progress else None,
            "index": state.index_id,
            "error": state.error,
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
        return docs, sorted(engine.kinds())

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
