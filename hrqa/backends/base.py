"""What the question path needs from an index, as a protocol, and what a build needs from a store.

Rows are positions: passage row ``r`` is the ``r``-th passage of the snapshot, sentence row ``s`` the
``s``-th sentence (documents in corpus order, sentences in document order). Every backend numbers them
the same way, so the fusion in ``hrqa.retrieval`` and the answer step see identical rows whichever
backend serves them.

Filters are a :class:`Scope`: sets of document ids and of kinds of source. A backend turns a scope into
whatever it filters with (row ranges, payload keyword filters); no caller builds a mask over every
passage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

import numpy as np

from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Backend

if TYPE_CHECKING:
    from hrqa.settings import Settings

#: the kind a document without one is filtered as (the UI offers it as "unknown")
UNKNOWN_KIND = "unknown"


#: where the index lives (``Settings.backend``); defined with the settings that it is read into
BackendKind = Backend


@dataclass(frozen=True)
class Scope:
    """The documents a question may draw on: ids and kinds of source (both: a document must be in each)."""

    docs: frozenset[str] | None = None
    kinds: frozenset[str] | None = None

    @classmethod
    def of(cls, docs: Iterable[str] | None = None, kinds: Iterable[str] | None = None) -> Scope | None:
        """A scope, or None when neither documents nor kinds are chosen (everything)."""
        docs = frozenset(docs or ())
        kinds = frozenset(kinds or ())
        if not docs and not kinds:
            return None
        return cls(docs or None, kinds or None)

    def admits(self, document: Document) -> bool:
        return (self.docs is None or document.id in self.docs) and (
            self.kinds is None or (document.kind or UNKNOWN_KIND) in self.kinds
        )


class Candidates(NamedTuple):
    """Passage rows best first, with their scores (cosine for dense, BM25 for lexical)."""

    rows: np.ndarray
    scores: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


@runtime_checkable
class SearchBackend(Protocol):
    """Everything retrieval, the answer step and every-mention search read from an index."""

    @property
    def id(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def manifest(self) -> dict: ...

    @property
    def passage_count(self) -> int: ...

    @property
    def sentence_count(self) -> int: ...

    def dense_candidates(self, query_vector: np.ndarray, k: int, scope: Scope | None = None) -> Candidates:
        """The ``k`` passages nearest ``query_vector`` (normalised) by cosine, within ``scope``."""
        ...

    def lexical_candidates(self, query_text: str, k: int, scope: Scope | None = None) -> Candidates:
        """The ``k`` best passages by BM25 over ``hrqa.lexical.tokenize``; only scores above zero."""
        ...

    def passage(self, row: int) -> Passage: ...

    def passages_at(self, rows: Sequence[int]) -> list[Passage]:
        """The passages of ``rows``, in that order (one round trip where the index is remote)."""
        ...

    def passage_holding(self, doc: str, position: int) -> Passage | None:
        """The first passage of ``doc`` covering sentence ``position``."""
        ...

    def sentence_at(self, row: int) -> Sentence: ...

    def sentence_row(self, doc: str, position: int) -> int: ...

    def sentence_rows_of(self, doc: str) -> range:
        """The rows of every sentence of ``doc``, in order."""
        ...

    def vectors_of_sentences(self, rows: np.ndarray) -> np.ndarray | None:
        """Sentence vectors of ``rows`` (None when the index was built without them)."""
        ...

    def document(self, doc_id: str) -> Document:
        """A document by id; KeyError when there is none."""
        ...

    def document_ids(self, scope: Scope | None = None) -> list[str]: ...

    def text(self, doc: str, span: Span) -> str: ...

    def idf(self, token: str) -> float:
        """BM25 inverse document frequency of a (tokenized) word over passages; unseen: the maximum."""
        ...

    def knows(self, token: str) -> bool:
        """Whether any passage holds the word."""
        ...

    def documents_to_search(self, docs: Iterable[str] | None = None) -> Iterator[Document]:
        """The documents an every-mention search reads (all, or those of ``docs``), in corpus order."""
        ...


class BuildTarget(Protocol):
    """What a build writes into: records are upserted into a new generation that only ``publish`` makes
    live (atomically); ``delete`` drops a document's records from the generation being written."""

    def upsert_documents(self, documents: Sequence[Document], first_sentence_rows: Sequence[int]) -> None: ...

    def upsert_passages(
        self, rows: Sequence[int], passages: Sequence[Passage], vectors: np.ndarray, tokens: Sequence[list[str]]
    ) -> None: ...

    def upsert_sentences(
        self, rows: Sequence[int], sentences: Sequence[Sentence], vectors: np.ndarray | None
    ) -> None: ...

    def delete(self, doc_ids: Iterable[str]) -> None: ...

    def publish(self, manifest: dict) -> str:
        """Make the new generation live; returns its name."""
        ...


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, largest first.

    Ties go to the lower row, also at the cut, so every backend returns the same rows for the same
    scores (an unstable partition would pick any of several tied rows).
    """
    k = min(k, scores.size)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k < scores.size:
        threshold = scores[np.argpartition(-scores, k - 1)[k - 1]]
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)[: k - above.size]
        part = np.concatenate([above, tied])
    else:
        part = np.arange(scores.size)
    return part[np.lexsort((part, -scores[part]))]


def open_backend(settings: Settings, **options) -> SearchBackend:
    """The live index of ``settings``, served by the backend ``settings.backend`` names."""
    kind = BackendKind.from_str(settings.backend)
    if kind is BackendKind.QDRANT:
        from hrqa.backends import qdrant

        return qdrant.QdrantBackend.open(settings, **options)
    from hrqa.backends import local

    return local.LocalBackend.open(settings, **options)


# ----------------------------------------------------------------------------- the answer step's view


class IndexView:
    """The attributes ``hrqa.answer`` reads from a ``store.Index`` (``documents``, ``sentences``,
    ``passages``, ``sentence_vectors``, ``sentence_rows``, ``lexical.idf``/``knows``, ``text``,
    ``sentence_row``), served through the protocol, so a backend other than the local snapshot answers
    with today's answer step. Mix into a backend class."""

    @property
    def documents(self) -> Mapping[str, Document]:
        return _Documents(self)

    @property
    def sentences(self) -> Sequence[Sentence]:
        return _Rows(self.sentence_at, lambda: self.sentence_count)

    @property
    def passages(self) -> Sequence[Passage]:
        return _Rows(self.passage, lambda: self.passage_count, getattr(self, "iter_passages", None))

    @property
    def sentence_vectors(self):
        return _SentenceVectors(self) if self.manifest.get("sentence_vectors", True) else None

    @property
    def sentence_rows(self) -> Mapping[str, int]:
        return _FirstRows(self)

    @property
    def lexical(self):
        return self

    def passage_text(self, passage: Passage) -> str:
        return self.text(passage.doc, passage.span)

    def sentence(self, doc: str, position: int) -> Sentence:
        return self.sentence_at(self.sentence_row(doc, position))


class _Rows(Sequence):
    def __init__(self, get, count, iterate=None) -> None:
        self._get, self._count, self._iterate = get, count, iterate

    def __len__(self) -> int:
        return self._count()

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self._get(r) for r in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(row)
        return self._get(int(row))

    def __iter__(self):
        return iter(self._iterate()) if self._iterate else (self._get(r) for r in range(len(self)))


class _SentenceVectors:
    def __init__(self, backend) -> None:
        self._backend = backend

    def __getitem__(self, rows) -> np.ndarray:
        return self._backend.vectors_of_sentences(np.asarray(rows, dtype=np.int64))


class _Documents(Mapping):
    def __init__(self, backend) -> None:
        self._backend = backend

    def __getitem__(self, doc_id: str) -> Document:
        return self._backend.document(doc_id)

    def __iter__(self):
        return iter(self._backend.document_ids())

    def __len__(self) -> int:
        return len(self._backend.document_ids())

    def values(self):
        return list(self._backend.documents_to_search())


class _FirstRows(Mapping):
    def __init__(self, backend) -> None:
        self._backend = backend

    def __getitem__(self, doc_id: str) -> int:
        return self._backend.sentence_rows_of(doc_id).start

    def __iter__(self):
        return iter(self._backend.document_ids())

    def __len__(self) -> int:
        return len(self._backend.document_ids())


# ----------------------------------------------------------------------------- what the engine serves


def open_index(settings: Settings):
    """The live index as the engine serves it: a ``store.Index`` for the local backend (the answer step
    reads it directly), a backend object with the same answer-facing attributes otherwise."""
    kind = BackendKind.from_str(settings.backend)
    if kind is BackendKind.QDRANT:
        from hrqa.backends import qdrant

        return qdrant.QdrantBackend.open(settings)
    from hrqa import store

    return store.load_index(settings.index_dir)


def build_index(
    settings: Settings, embedder, progress=None, *, wait_for_lock: bool = False, embed_sentences: bool = True
):
    """Build (incrementally) and publish a new generation of the index of ``settings``.

    ``embed_sentences=False`` (a retrieval-only index) saves the sentence vectors of the local snapshot;
    the qdrant backend stores them always (its generation holds a sentence collection)."""
    kind = BackendKind.from_str(settings.backend)
    if kind is BackendKind.QDRANT:
        from hrqa.backends import qdrant

        return qdrant.build(settings, embedder, progress, wait_for_lock=wait_for_lock)
    from hrqa import store

    return store.build_index(settings, embedder, progress, wait_for_lock=wait_for_lock, embed_sentences=embed_sentences)
