"""The façade the CLI, the web app and the tests use: open an index, ask, find, rebuild, status.

Checking a question's arguments lives in ``hrqa.question``, the researcher's desk (documents, every
mention, shared links) in ``hrqa.desk``, opening or building in the background while serving in
``hrqa.lifecycle``; the names below are the engine's public face for all of them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from hrqa import answer as answer_step
from hrqa import backends, desk, retrieval, store
from hrqa.embedding import Embedder, settings_embedder
from hrqa.errors import (
    DocumentNotFoundError,
    IndexBusyError,
    IndexMissingError,
    IndexStaleError,
    QuestionError,
    printable,
)
from hrqa.question import (  # noqa: F401 - re-exported: the engine's public names since before the split
    MAX_SOURCES,
    Request,
    asks_across_sources,
    check_request,
    clean_question,
    contextualise,
    document_kinds,
    reader_question,
)
from hrqa.reader import Reader, load_reader
from hrqa.records import Answer, Document, DocumentList, FindReport, FindResult, Hit, SharedSpan
from hrqa.settings import Settings

log = logging.getLogger(__name__)

#: how many fused passages the answer step reads sentences from. 8 against 16, measured 2026-11-24:
#: squad2-dev validation, every third question (515): first sentence 0.802 vs 0.790, answer 0.856 vs
#: 0.848; dev.jsonl + team_checks (51): first 0.875 vs 0.850, answer 0.925 vs 0.950 (one question apart)
ANSWER_PASSAGES = 8
#: a document whose best passage scores at least this share of the top passage gets a place
DIVERSITY_MIN_RELATIVE = 0.6
#: ... and when the question itself asks across sources ("how do the documents ...", "portrayed")
DIVERSITY_MIN_RELATIVE_COMPARATIVE = 0.3

_T = TypeVar("_T")


@dataclass(frozen=True)
class Retrieved:
    query_vector: object
    hits: list[Hit]
    across_sources: bool


@dataclass(frozen=True)
class Status:
    index_id: str
    documents: int
    passages: int
    sentences: int
    model: str
    built_at: str
    index_type: str
    stale: str | None = None

    def line(self) -> str:
        text = (
            f"{self.documents} documents · {self.passages} passages · model {self.model} · "
            f"built {self.built_at} · index {self.index_id}"
        )
        return text + (f" · STALE: {self.stale}" if self.stale else "")


class Engine:
    """One index snapshot served at a time; a rebuild swaps in the new one atomically."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        index: store.Index | None = None,
        *,
        reader: Reader | None = None,
        answer_parameters: answer_step.AnswerParameters = answer_step.DEFAULT_PARAMETERS,
        retrieval_parameters: retrieval.RetrievalParameters = retrieval.DEFAULT_PARAMETERS,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self._index = index
        #: one rebuild at a time in this process (the build lock keeps processes apart): build and swap
        self._rebuild_guard = threading.Lock()
        #: what is computed once per served snapshot, by name: (snapshot, value)
        self._per_snapshot: dict[str, tuple[object, object]] = {}
        self._reader = reader
        self.answer_parameters = answer_parameters
        #: the one retrieval configuration: questions (``ask``) and ranked search (``search``, BEIR) alike
        self.retrieval_parameters = retrieval_parameters

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        build: str = "never",
        progress: store.BuildProgress | None = None,
    ) -> Engine:
        """Open the index of ``settings``.

        ``build``: "never" (raise when missing or stale), "missing" (build only when missing or
        unreadable), "stale" (also rebuild when the corpus, model or chunking changed).
        """
        settings = settings or Settings.from_env()
        embedder = embedder or settings_embedder(settings)
        engine = cls(settings, embedder)
        try:
            engine._index = backends.open_index(settings)
        except (IndexMissingError, store.IndexCorruptError, IndexStaleError):
            if build == "never":
                raise
            log.info("building the index in %s", settings.index_dir)
            engine.rebuild(progress)
            return engine
        reason = store.staleness(engine._index, settings, embedder.fingerprint)
        if reason:
            if build == "stale":
                log.info("index is stale (%s); rebuilding", reason)
                engine.rebuild(progress)
            elif engine._index.manifest["model"]["fingerprint"] != embedder.fingerprint:
                raise IndexStaleError(reason)
            else:
                log.warning("%s", reason)
        return engine

    @property
    def index(self) -> store.Index:
        if self._index is None:
            raise IndexMissingError(f"no index in {self.settings.index_dir}; build it with: hrqa index")
        return self._index

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        history: Sequence[str] = (),
        docs: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> Answer:
        """Answer a question with sentences quoted from the corpus, or abstain."""
        started = time.perf_counter()
        index = self.index  # hold this snapshot for the whole question, whatever a rebuild does
        question = clean_question(question, self.settings.max_question_chars)
        request = check_request(index, self.settings, k, history, docs, kinds, known_kinds=self._kinds(index))
        k, history, docs, kinds = request.k, request.history, request.docs, request.kinds
        searched = contextualise(question, history)
        timings: dict[str, float] = {}
        retrieved = self.retrieve(searched, k, docs=docs, kinds=kinds, timings=timings, index=index)
        mark = time.perf_counter()
        result = answer_step.build_answer(
            self.backend_of(index),
            self.reader,
            question,
            searched,
            reader_question(question, searched, history),
            retrieved.query_vector,
            retrieved.hits,
            k,
            across_sources=retrieved.across_sources,
            params=self.answer_parameters,
        )
        timings["answer"] = (time.perf_counter() - mark) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return Answer(**{**result.__dict__, "timings_ms": timings})

    def retrieve(
        self,
        searched: str,
        k: int,
        *,
        docs: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        timings: dict[str, float] | None = None,
        index: store.Index | None = None,
    ) -> Retrieved:
        """The passages the answer step reads for ``searched``: fused, then diversified by document."""
        index = index or self.index
        timings = timings if timings is not None else {}
        mark = time.perf_counter()
        query_vector = self.embedder.embed_query(searched)
        timings["encode"] = (time.perf_counter() - mark) * 1000
        mark = time.perf_counter()
        scope = backends.Scope.of(docs, kinds)
        # diversity looks at every document's best passage among the candidates, not just the top few
        parameters = self.retrieval_parameters
        hits = retrieval.search(
            self.backend_of(index), query_vector, searched, parameters.candidates, scope=scope, parameters=parameters
        )
        across = asks_across_sources(searched)
        bar = DIVERSITY_MIN_RELATIVE_COMPARATIVE if across else DIVERSITY_MIN_RELATIVE
        hits = retrieval.diversify(hits, max(ANSWER_PASSAGES, k), bar)
        timings["retrieve"] = (time.perf_counter() - mark) * 1000
        return Retrieved(query_vector, hits, across)

    @property
    def backend(self) -> backends.SearchBackend:
        """The served index behind the search-backend protocol (what retrieval and find read)."""
        return self.backend_of(self.index)

    def backend_of(self, index) -> backends.SearchBackend:
        return self._once_per_snapshot(index, "backend", retrieval.as_backend)

    def kinds(self) -> frozenset[str]:
        """The kinds of source of the served documents ("unknown" for a document without one)."""
        return self._kinds(self.index)

    def _kinds(self, index) -> frozenset[str]:
        """The kinds of source of ``index``'s documents, gathered once per snapshot (not per question)."""
        return self._once_per_snapshot(index, "kinds", document_kinds)

    def _once_per_snapshot(self, index, name: str, compute: Callable[[object], _T]) -> _T:
        held = self._per_snapshot.get(name)
        if held is None or held[0] is not index:
            held = (index, compute(index))
            self._per_snapshot[name] = held  # one assignment: a question in another thread sees old or new
        return held[1]  # type: ignore[return-value]

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = load_reader(threads=self.settings_threads(), threads_alone=self.settings.threads_alone)
        return self._reader

    @reader.setter
    def reader(self, reader: Reader) -> None:
        """Another reader for the questions that follow (evaluation compares readers in one process)."""
        self._reader = reader

    def settings_threads(self) -> int:
        return int(getattr(self.settings, "threads", 1) or 1)

    def search(
        self,
        query: str,
        k: int = 10,
        docs: Sequence[str] | None = None,
        *,
        parameters: retrieval.RetrievalParameters | None = None,
    ) -> list[Hit]:
        """Fused passage hits for a query (no answer step): what BEIR evaluation scores. ``parameters``:
        another retrieval configuration than the engine's (an ablation beside the real figure)."""
        index = self.index
        query_vector = self.embedder.embed_query(query)
        return retrieval.search(
            self.backend_of(index),
            query_vector,
            query,
            k,
            scope=backends.Scope.of(docs),
            parameters=parameters or self.retrieval_parameters,
        )

    def find(self, term: str, docs: Sequence[str] | None = None) -> FindResult:
        """Every mention of a term or phrase in the indexed documents."""
        if not term or not term.strip():
            raise QuestionError("the search term is empty")
        return retrieval.find_mentions(self.backend, term, docs)

    @classmethod
    def build_index(
        cls,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        progress: store.BuildProgress | None = None,
        wait: bool = False,
        embed_sentences: bool = True,
    ) -> store.BuildReport:
        """Build (incrementally) the index of ``settings`` without serving it: ``hrqa index`` and the
        corpora of evaluation and benchmarks. Loads the embedder (unless given), never the reader.
        ``embed_sentences=False`` leaves out sentence vectors (a retrieval-only index, local backend)."""
        embedder = embedder or settings_embedder(settings)
        return backends.build_index(settings, embedder, progress, wait_for_lock=wait, embed_sentences=embed_sentences)

    def rebuild(self, progress: store.BuildProgress | None = None, *, wait: bool = False) -> store.BuildReport:
        """Incremental rebuild; the new snapshot replaces the served one only once it is complete.
        One at a time: a second rebuild (this engine's, or another process's through the index's build
        lock) waits for the first (``wait``) or is refused with IndexBusyError. A failed rebuild raises
        and leaves the served snapshot as it was."""
        if not self._rebuild_guard.acquire(blocking=wait):
            raise IndexBusyError(
                f"another rebuild of {self.settings.index_dir} is running; wait for it to finish and try again"
            )
        try:  # build and swap under the guard: a later rebuild's snapshot is never replaced by an earlier one
            report = backends.build_index(self.settings, self.embedder, progress, wait_for_lock=wait)
            self._index = backends.open_index(self.settings)
            return report
        finally:
            self._rebuild_guard.release()

    def document(self, doc_id: str) -> Document:
        """An indexed document by its id; anything else (paths, ``..``) is refused."""
        try:
            return self.index.documents[doc_id]
        except (KeyError, TypeError):
            raise DocumentNotFoundError(f"no indexed document {doc_id!r}") from None

    def status(self) -> Status:
        index = self.index
        counts = index.manifest["counts"]
        return Status(
            index_id=index.id,
            documents=counts["documents"],
            passages=counts["passages"],
            sentences=counts["sentences"],
            model=index.model,
            built_at=index.manifest["built_at"],
            index_type=index.manifest["index_type"],
            stale=store.staleness(index, self.settings, None),
        )

    # -- the researcher's desk (issue 13): every mention, the corpus at a glance, shared links

    def documents(self) -> DocumentList:
        """Every indexed document with its catalog provenance, size and number of passages."""
        index = self.index
        return desk.document_list(index, self._document_infos(index))

    def _document_infos(self, index) -> dict:
        return self._once_per_snapshot(index, "infos", desk.document_infos)  # counted once per snapshot

    def every_mention(
        self,
        term: str,
        *,
        docs: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> FindReport:
        """Every mention of ``term`` within the document and kind filters, counted per document, with
        the line around each (the first ``limit`` of them; the counts are always complete)."""
        index = self.index
        term = clean_question(term, self.settings.max_question_chars, "the search term")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise QuestionError(f"limit must be a whole number of at least 1, not {printable(repr(limit))[:40]}")
        request = check_request(index, self.settings, None, (), docs, kinds, known_kinds=self._kinds(index))
        scope = backends.Scope.of(request.docs, request.kinds)
        infos = self._document_infos(index)
        return desk.mentions_report(index, self.backend_of(index), infos, term, scope, limit)

    def shared_span(self, doc_id: str, start: object, end: object, sha256_prefix: str | None = None) -> SharedSpan:
        """What a shared link points at: the document and the span to highlight, unless the document
        changed since the link was made or the span lies outside it (``hrqa.desk.shared_span``)."""
        return desk.shared_span(self.document(doc_id), start, end, sha256_prefix)
