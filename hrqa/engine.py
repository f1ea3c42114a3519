"""The façade the CLI, the web app and the tests use: open an index, ask, find, rebuild, status."""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from hrqa import answer as answer_step
from hrqa import backends, retrieval, store
from hrqa.embedding import Embedder, load_embedder
from hrqa.errors import DocumentNotFoundError, IndexMissingError, IndexStaleError, QuestionError, printable
from hrqa.lexical import tokenize
from hrqa.reader import Reader, load_reader
from hrqa.records import (
    Answer,
    Document,
    DocumentInfo,
    DocumentList,
    FindReport,
    FindResult,
    Hit,
    MentionLine,
    SharedSpan,
    Span,
)
from hrqa.settings import Settings

log = logging.getLogger(__name__)

#: how many fused passages the answer step reads sentences from
ANSWER_PASSAGES = 8
#: a document whose best passage scores at least this share of the top passage gets a place
DIVERSITY_MIN_RELATIVE = 0.6
#: ... and when the question itself asks across sources ("how do the documents ...", "portrayed")
DIVERSITY_MIN_RELATIVE_COMPARATIVE = 0.3
_ACROSS = re.compile(
    r"\b(documents|sources|across|compare|comparison|perspectives?|portray(?:ed|s)?|views?|"
    r"differ|disagree|both|each side|sides|according to (?:the )?(?:different|various))\b",
    re.IGNORECASE,
)


def asks_across_sources(question: str) -> bool:
    """A question that asks how several sources see something (answered from each of them)."""
    return bool(_ACROSS.search(question))


#: words that point back at an earlier question ("Who hosted it?")
_REFERRING = frozenset(
    [
        "it",
        "its",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "he",
        "him",
        "his",
        "she",
        "her",
        "there",
        "such",
    ]
)


def clean_question(question: str, limit: int, what: str = "the question", setting: str = "max_question_chars") -> str:
    """The question without control characters and surplus white space; refuse empty, invisible or
    overlong. ``what`` names it in the messages ("history item 2"), ``setting`` the limit's setting."""
    if not isinstance(question, str):
        raise QuestionError(f"{what} must be text")
    if len(question) > 4 * limit:  # refuse a huge paste at once rather than clean it character by character
        raise QuestionError(f"{what} has {len(question)} characters, over the limit of {limit} (setting {setting})")
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") and c not in "\u200d" else c for c in question)
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError(f"{what} is empty; type a question")
    # a letter, digit, punctuation mark or symbol (emoji): U+200D (kept to join emoji) alone shows nothing
    if not any(unicodedata.category(c)[0] in "LNPS" for c in cleaned):
        raise QuestionError(f"{what} is empty (only invisible characters); type a question")
    if len(cleaned) > limit:
        raise QuestionError(f"{what} has {len(cleaned)} characters, over the limit of {limit} (setting {setting})")
    return cleaned


#: the most sources one answer may cite (k); the answer step reads at most a few dozen passages anyway
MAX_SOURCES = 50


def _texts(value: object, what: str, noun: str) -> list[str]:
    """``value`` as a list of strings, or a one-line QuestionError saying what is wrong with it."""
    if value is None:
        return []
    if isinstance(value, str):
        raise QuestionError(f"{what} must be a list of {noun}, not a single string")
    if not isinstance(value, (list, tuple)):
        raise QuestionError(f"{what} must be a list of {noun}, not {type(value).__name__}")
    for number, item in enumerate(value, 1):
        if not isinstance(item, str):
            shown = printable(repr(item))
            raise QuestionError(f"{what} item {number} must be text, not {shown[:60]}")
    return list(value)


@dataclass(frozen=True)
class Request:
    """The arguments of a question besides its text, checked: what ``Engine.ask`` works with."""

    k: int
    history: list[str]
    docs: list[str] | None
    kinds: list[str] | None


def check_request(
    index: store.Index,
    settings: Settings,
    k: object = None,
    history: object = (),
    docs: object = None,
    kinds: object = None,
) -> Request:
    """k, history and the document and kind filters of a question, as they come from the CLI, the API or
    a library call: each wrong one is refused with a one-line message naming it (a document id that is
    not indexed, a kind no document has), never iterated character by character or crashed on."""
    if k is None or (type(k) is int and k == 0):  # 0: the default (the API's "not given")
        k = settings.top_k
    if type(k) is not int or not 1 <= k <= MAX_SOURCES:
        raise QuestionError(f"k must be a whole number from 1 to {MAX_SOURCES}, not {printable(repr(k))[:40]}")
    cleaned: list[str] = []
    limit = 10 * settings.max_question_chars
    for number, item in enumerate(_texts(history, "history", "earlier questions"), 1):
        try:
            cleaned.append(clean_question(item, limit, f"history item {number}", "10 × max_question_chars"))
        except QuestionError:
            if len(item) > limit:
                raise
            # an empty or invisible earlier question gives no context: left out, as before
    doc_ids = _texts(docs, "docs", "document ids")
    missing = [d for d in doc_ids if d not in index.documents]
    if missing:
        shown = ", ".join(printable(repr(d))[:80] for d in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        example = printable(repr(min(index.documents)))[:80] if index.documents else "'report.pdf'"
        raise DocumentNotFoundError(
            f"no indexed document {shown}{more}; a document id is its path in the corpus folder, e.g. {example}"
        )
    kind_names = _texts(kinds, "kinds", "kinds of source")
    known = {d.kind or "unknown" for d in index.documents.values()}
    unknown = [k for k in kind_names if k not in known]
    if unknown:
        shown = ", ".join(printable(repr(k))[:80] for k in unknown[:3])
        raise QuestionError(f"no indexed document is of kind {shown}; the kinds are: {', '.join(sorted(known))}")
    return Request(k, cleaned, doc_ids or None, kind_names or None)


def contextualise(question: str, history: Sequence[str]) -> str:
    """What to search for a follow-up: a question that refers back ("it", "they") or is too short to
    stand alone is searched together with the previous question of the conversation."""
    if not history:
        return question
    words = re.findall(r"\w+", question.lower())
    content = tokenize(question)
    if any(w in _REFERRING for w in words) or len(content) <= 1:
        return f"{history[-1]} {question}"
    return question


def reader_question(question: str, searched: str, history: Sequence[str]) -> str:
    """What the reader reads: the question as asked. A follow-up ("Who hosted it?") is searched together
    with the previous question, so its candidates are the earlier subject's sentences; the reader then
    judges them against the question itself. Measured on tests/data/dev_conversations.jsonl (10
    follow-ups): question alone 0.8 answered right, question [SEP] previous question 0.6, the searched
    text (both questions run together) 0.2."""
    return question


def _mention_line(text: str, mention) -> MentionLine:
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
        self._rebuild_guard = threading.Lock()
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
        embedder = embedder or load_embedder(settings.model, settings.batch_size)
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
        request = check_request(index, self.settings, k, history, docs, kinds)
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
        held = getattr(self, "_backend", None)  # (index, its backend): wrapping once per snapshot
        if held is None or held[0] is not index:
            held = (index, retrieval.as_backend(index))
            self._backend = held
        return held[1]

    @property
    def reader(self) -> Reader:
        if self._reader is None:
            self._reader = load_reader(threads=self.settings_threads())
        return self._reader

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
        embedder = embedder or load_embedder(settings.model, settings.batch_size)
        return backends.build_index(settings, embedder, progress, wait_for_lock=wait, embed_sentences=embed_sentences)

    def rebuild(self, progress: store.BuildProgress | None = None, *, wait: bool = False) -> store.BuildReport:
        """Incremental rebuild; the new snapshot replaces the served one only once it is complete."""
        report = backends.build_index(self.settings, self.embedder, progress, wait_for_lock=wait)
        self._index = backends.open_index(self.settings)
        return report

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
        return DocumentList(
            index_id=index.id,
            model=index.model,
            built_at=index.manifest["built_at"],
            documents=tuple(self._document_infos(index).values()),
        )

    def _document_infos(self, index) -> dict[str, DocumentInfo]:
        held = getattr(self, "_infos", None)  # (index, infos): counted once per snapshot
        if held is None or held[0] is not index:
            passages: dict[str, int] = {}
            # a remote backend lists its passages in one scroll; the local snapshot holds them in a list
            every = index.iter_passages() if hasattr(index, "iter_passages") else index.passages
            for passage in every:
                passages[passage.doc] = passages.get(passage.doc, 0) + 1
            infos = {
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
            held = (index, infos)
            self._infos = held
        return held[1]

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
        request = check_request(index, self.settings, None, (), docs, kinds)
        backend = self.backend_of(index)
        scope = backends.Scope.of(request.docs, request.kinds)
        chosen = backend.document_ids(scope) if scope is not None else list(index.documents)
        infos = self._document_infos(index)
        found = retrieval.find_mentions(backend, term, chosen) if chosen else FindResult(term, 0, ())
        counts = found.counts
        shown = found.mentions if limit is None else found.mentions[:limit]
        return FindReport(
            term=found.term,
            documents_searched=len(chosen),
            characters_searched=sum(infos[d].characters for d in chosen),
            counts=tuple((infos[d], n) for d, n in sorted(counts.items(), key=lambda kv: -kv[1])),
            mentions=tuple(_mention_line(backend.document(m.doc).text, m) for m in shown),
            total=len(found.mentions),
            index_id=index.id,
        )

    def shared_span(self, doc_id: str, start: object, end: object, sha256_prefix: str | None = None) -> SharedSpan:
        """What a shared link points at: the document and the span to highlight, unless the document
        changed since the link was made (its sha256 no longer starts with the link's prefix) or the
        span lies outside it."""
        document = self.document(doc_id)
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
