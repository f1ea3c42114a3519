"""The on-disk index: reading the live snapshot, checking it, and what it holds (``Index``).

Layout of ``index/`` (``hrqa.snapshot`` owns the folders, ``hrqa.build`` writes a snapshot)::

    CURRENT                         name of the live snapshot (replaced atomically)
    .build.lock                     held by the one rebuild that may run
    snapshots/<id>/manifest.json    format, model, chunking, corpus file hashes, file checksums, counts
    snapshots/<id>/documents.json   document metadata and passage headings, as columns
    snapshots/<id>/documents.txt    document texts (UTF-8, one after another)
    snapshots/<id>/columns/*.npy    passages, sentences and text offsets as columns (``hrqa.tables``)
    snapshots/<id>/passages.npy     passage vectors (float32, normalised)
    snapshots/<id>/sentences.npy    sentence vectors (answer step)
    snapshots/<id>/vectors.faiss    vector index over passages
    snapshots/<id>/bm25/            lexical index over passages (bm25s's files)

Everything large is memory-mapped at open (columns, texts, vectors, the FAISS index, the BM25 matrix)
and checksummed in a background thread, so a million passages open in seconds. A build writes
``snapshots/.building-<id>``, verifies it, renames it into place, then swaps CURRENT. A reader holds the
snapshot it loaded; a crash at any point leaves the previous snapshot live.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrqa import tables, vectors
from hrqa.errors import IndexCorruptError, IndexStaleError
from hrqa.lexical import LexicalIndex
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings
from hrqa.snapshot import (  # noqa: F401 (the names callers and tests have used from hrqa.store)
    POINTER_MAX_BYTES,
    REBUILD_HINT,
    build_lock,
    corpus_fingerprint,
    current_snapshot,
    file_sha256,
    snapshots_dir,
    write_error,
)
from hrqa.snapshot import prune as _prune  # noqa: F401 (called through here by hrqa.build)
from hrqa.snapshot import write_atomically as _write_atomically  # noqa: F401

#: 2: documents, passages and sentences as memory-mapped columns and texts (1: ``store.json`` and
#: ``tables.npz``, read whole); an index of another format is refused with the command that rebuilds it
FORMAT_VERSION = 2
#: what loading, staleness checks and status read from a manifest
#: (2: the sha256 of each document is in documents.json, no longer in the manifest)
MANIFEST_KEYS = ("id", "built_at", "model", "chunking", "index_type", "corpus_files", "counts", "files")

#: bytes checksummed before ``load_index`` returns, smallest files first; the rest in a background
#: thread (``Verification``): sha256 runs at ~110 MB/s on this machine, so 32 MiB cost ~0.3 s of open
VERIFY_AT_OPEN_BYTES = 32 << 20

#: what ``hrqa.build`` defines, importable from here as before (``store.build_index``)
_BUILD_NAMES = ("BuildProgress", "BuildReport", "build_index", "write_snapshot")


def __getattr__(name: str):
    if name in _BUILD_NAMES:  # imported late: hrqa.build imports this module
        from hrqa import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Index:
    """One loaded snapshot: everything retrieval and the answer step read. Never mutated."""

    root: Path
    manifest: dict
    #: made on access from the memory-mapped texts (``hrqa.tables.DocumentTable``)
    documents: Mapping[str, Document]
    #: records made on access from ``columns`` (``hrqa.tables``): a million passages hold no million objects
    passages: Sequence[Passage]
    sentences: Sequence[Sentence]
    passage_vectors: np.ndarray
    sentence_vectors: np.ndarray | None
    vector_index: object
    lexical: LexicalIndex
    passage_hashes: Sequence[str]
    sentence_hashes: Sequence[str]
    #: row of each document's first sentence in ``sentences``
    sentence_rows: Mapping[str, int] = field(default_factory=dict)
    #: (doc, start, end) of each sentence that is a piece of a longer one (cut at max_sentence_chars)
    cut_sentences: frozenset[tuple[str, int, int]] = frozenset()
    columns: tables.Columns | None = None
    #: checksums of the large files, computed after open (see ``load_index``); None: all checked at open
    verification: Verification | None = None

    @property
    def id(self) -> str:
        return self.manifest["id"]

    @property
    def model(self) -> str:
        return self.manifest["model"]["name"]

    def sentence(self, doc: str, position: int) -> Sentence:
        return self.sentences[self.sentence_rows[doc] + position]

    def sentence_row(self, doc: str, position: int) -> int:
        return self.sentence_rows[doc] + position

    def passage_text(self, passage: Passage) -> str:
        return self.documents[passage.doc].text[passage.span.start : passage.span.end]

    def text(self, doc: str, span: Span) -> str:
        return self.documents[doc].text[span.start : span.end]

    def is_cut(self, doc: str, span: Span) -> bool:
        """Whether ``span`` (a quoted sentence or passage) starts or ends inside a sentence that was
        longer than max_sentence_chars, i.e. the quote is cut."""
        if not self.cut_sentences:
            return False
        first, last = self._sentence_at(doc, span.start), self._sentence_at(doc, span.end - 1)
        return any((doc, s.span.start, s.span.end) in self.cut_sentences for s in (first, last) if s is not None)

    def mark_cut(self, answer: dict) -> dict:
        """The JSON of an answer, with ``"cut": true`` on each quoted sentence and passage that begins or
        ends inside a sentence longer than max_sentence_chars (its quote is a piece of that sentence;
        ``start``/``end`` still index exactly the quoted text)."""
        for item in [*answer.get("answer", ()), *answer.get("citations", ())]:
            if item.get("doc") in self.documents and self.is_cut(item["doc"], Span(item["start"], item["end"])):
                item["cut"] = True
        return answer

    def _sentence_at(self, doc: str, offset: int) -> Sentence | None:
        """The sentence of ``doc`` whose span holds ``offset``, if any."""
        columns = self.columns
        number = self._doc_numbers.get(doc)
        if number is None:
            return None
        lo, hi = int(columns.sentence_rows[number]), int(columns.sentence_rows[number + 1])
        # the first sentence of the document ending after ``offset`` (sentences follow one another)
        row = lo + int(np.searchsorted(columns.sentence_end[lo:hi], offset, side="right"))
        if row < hi and columns.sentence_start[row] <= offset:
            return self.sentences[row]
        return None

    def passage_holding(self, doc: str, position: int) -> Passage | None:
        """The first passage of ``doc`` covering its sentence ``position`` (a lookup in the columns of
        that document's passages, not a walk over every passage)."""
        columns = self.columns
        number = self._doc_numbers.get(doc)
        if number is None:
            return None
        lo, hi = int(columns.passage_rows[number]), int(columns.passage_rows[number + 1])
        holding = np.flatnonzero((columns.passage_first[lo:hi] <= position) & (position <= columns.passage_last[lo:hi]))
        return self.passages[lo + int(holding[0])] if holding.size else None

    @functools.cached_property
    def _doc_numbers(self) -> Mapping[str, int]:
        if isinstance(self.documents, tables.DocumentTable):
            return self.documents.number
        return {doc: number for number, doc in enumerate(self.columns.doc_ids)}

    def check(self) -> None:
        """Raise IndexCorruptError if the checksums computed after open found a damaged file (cheap:
        does not wait for them; every search through the local backend calls it)."""
        if self.verification is not None:
            self.verification.check()

    def wait_verified(self, timeout: float | None = None) -> bool:
        """Wait for the checksums of the large files; raise IndexCorruptError if one fails. True when
        every file has been checked (False: ``timeout`` passed first)."""
        return self.verification is None or self.verification.wait(timeout)


class Verification:
    """The checksums of a snapshot's large files, computed in a background thread after open.

    Hashing 6 GB of vectors takes about a minute here (sha256 at ~110 MB/s on this machine while other
    work runs), far beyond the 10 s an open may take; questions are answered meanwhile, and once a file
    is found damaged every search raises IndexCorruptError naming it (``Index.check``).
    """

    def __init__(self, root: Path, pending: dict[str, str]) -> None:
        self._root, self._pending = root, dict(pending)
        self._error: str | None = None
        self._done = threading.Event()
        self.seconds: float | None = None
        threading.Thread(target=self._run, name="hrqa-verify", daemon=True).start()

    def _run(self) -> None:
        started = time.perf_counter()
        with contextlib.suppress(OSError, AttributeError):  # a courtesy: questions go first (Linux: per thread)
            thread = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + 10))
        try:
            for name, expected in self._pending.items():
                path = self._root / name
                try:
                    actual = file_sha256(path)
                except OSError as error:
                    self._error = f"cannot read index file {path} ({error.strerror}); {REBUILD_HINT}"
                    return
                if actual != expected:
                    self._error = f"index file {path} fails its checksum (damaged); {REBUILD_HINT}"
                    return
        finally:
            self.seconds = time.perf_counter() - started
            self._done.set()

    def check(self) -> None:
        if self._error is not None:
            raise IndexCorruptError(self._error)

    def wait(self, timeout: float | None = None) -> bool:
        done = self._done.wait(timeout)
        self.check()
        return done


def load_index(index_dir: Path, verify: bool = True) -> Index:
    """Load the live snapshot, checking format and (with ``verify``) every file's checksum.

    Every file must exist with the size the manifest recorded. Files up to VERIFY_AT_OPEN_BYTES are
    checksummed before this returns; larger ones (vectors, the lexical index and tables of a big
    corpus) in a background thread, so that a million passages open in seconds: a damaged one then
    makes every later search raise IndexCorruptError (``Index.check``), and ``Index.wait_verified()``
    waits for the verdict (a build does before it reuses vectors).
    """
    root = current_snapshot(index_dir)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"cannot read {root / 'manifest.json'} ({error}); {REBUILD_HINT}") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"{root / 'manifest.json'} is not a manifest; {REBUILD_HINT}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexStaleError(
            f"index in {index_dir} has format {manifest.get('format_version')!r}, this hrqa reads "
            f"format {FORMAT_VERSION}; {REBUILD_HINT}"
        )
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing or not isinstance(manifest["files"], dict) or not isinstance(manifest["model"], dict):
        raise IndexCorruptError(
            f"{root / 'manifest.json'} lacks {', '.join(missing) or 'valid files/model entries'}; {REBUILD_HINT}"
        )
    later: dict[str, str] = {}
    if verify:
        sizes = manifest.get("sizes", {})
        found: list[tuple[int, str, str]] = []
        for name, expected in manifest["files"].items():
            path = root / name
            if not path.exists():
                raise IndexCorruptError(f"index file {path} is missing; {REBUILD_HINT}")
            size = path.stat().st_size
            if name in sizes and size != sizes[name]:
                raise IndexCorruptError(f"index file {path} fails its checksum (damaged); {REBUILD_HINT}")
            found.append((size, name, expected))
        budget = VERIFY_AT_OPEN_BYTES
        for size, name, expected in sorted(found):  # the small files (all of a small index) now
            if size > budget:
                later[name] = expected
                continue
            budget -= size
            if file_sha256(root / name) != expected:
                raise IndexCorruptError(f"index file {root / name} fails its checksum (damaged); {REBUILD_HINT}")
    try:
        index = _read_snapshot(root, manifest)
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError, RuntimeError) as error:
        raise IndexCorruptError(
            f"cannot read index {root} ({error.__class__.__name__}: {error}); {REBUILD_HINT}"
        ) from None
    if later:
        index.verification = Verification(root, later)
    return index


def _read_snapshot(root: Path, manifest: dict) -> Index:
    metadata, headings = tables.read_documents(root)
    ids = metadata["id"]
    columns = tables.Columns.read(root, ids, headings)
    documents = tables.DocumentTable(metadata, columns.document_text, tables.map_file(root / tables.TEXTS_FILE))
    cut_sentences = {
        (ids[columns.sentence_doc[row]], int(columns.sentence_start[row]), int(columns.sentence_end[row]))
        for row in columns.sentence_cut.tolist()
    }
    # memory-mapped: pages are read as questions touch them (1M passages and 3M sentences of 384
    # float32 are 6 GB on disk; benchmarks/million.py)
    passage_vectors = np.load(root / "passages.npy", mmap_mode="r")
    sentence_vectors = np.load(root / "sentences.npy", mmap_mode="r") if (root / "sentences.npy").exists() else None
    if len(passage_vectors) != len(columns.passage_doc):
        raise ValueError("passage vectors and passages differ in count")
    if sentence_vectors is not None and len(sentence_vectors) != len(columns.sentence_doc):
        raise ValueError("sentence vectors and sentences differ in count")
    return Index(
        root=root,
        manifest=manifest,
        documents=documents,
        passages=tables.passage_table(columns),
        sentences=tables.sentence_table(columns),
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        vector_index=vectors.load_vector_index(root / "vectors.faiss", mmap=True),
        lexical=LexicalIndex.load(root / "bm25"),
        passage_hashes=tables.text_column(columns.passage_hash),
        sentence_hashes=tables.text_column(columns.sentence_hash),
        sentence_rows=tables.FirstRows(documents.number, columns.sentence_rows, ids),
        cut_sentences=frozenset(cut_sentences),
        columns=columns,
    )


def staleness(index: Index, settings: Settings, model_fingerprint: str | None) -> str | None:
    """Why ``index`` does not match the corpus folder, model and settings; None when it does."""
    manifest = index.manifest
    if model_fingerprint is not None and manifest["model"]["fingerprint"] != model_fingerprint:
        return (
            f"index was built with model {manifest['model']['name']} "
            f"({manifest['model']['fingerprint']}), not the configured {settings.model}; {REBUILD_HINT}"
        )
    if manifest["chunking"] != settings.chunking:
        return f"chunking settings changed since the index was built; {REBUILD_HINT}"
    current = corpus_fingerprint(settings.corpus_dir)
    built = manifest["corpus_files"]
    if current != built:
        added = sorted(set(current) - set(built))
        removed = sorted(set(built) - set(current))
        changed = sorted(k for k in set(current) & set(built) if current[k] != built[k])
        parts = [
            f"{label} {', '.join(items[:3])}"
            for label, items in (("added", added), ("changed", changed), ("removed", removed))
            if items
        ]
        return f"corpus changed since the index was built ({'; '.join(parts)}); {REBUILD_HINT}"
    return None
