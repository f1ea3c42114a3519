"""The on-disk index: a snapshot folder per build, a CURRENT pointer, a manifest with checksums.

Layout of ``index/``::

    CURRENT                      name of the live snapshot (replaced atomically)
    .build.lock                  held by the one rebuild that may run
    snapshots/<id>/manifest.json format, model, chunking, corpus file hashes, file checksums, counts
    snapshots/<id>/store.json    documents (with text) and passage headings
    snapshots/<id>/tables.npz    passages and sentences with offsets, as columns (``hrqa.tables``)
    snapshots/<id>/passages.npy  passage vectors (float32, normalised)
    snapshots/<id>/sentences.npy sentence vectors (answer step)
    snapshots/<id>/vectors.faiss vector index over passages
    snapshots/<id>/bm25/         lexical index over passages (bm25s)

A build writes ``snapshots/.building-<id>``, verifies it, renames it into place, then swaps CURRENT.
A reader holds the snapshot it loaded; a crash at any point leaves the previous snapshot live.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hrqa import chunking, tables, vectors
from hrqa import corpus as corpus_module
from hrqa.embedding import Embedder
from hrqa.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexMissingError,
    IndexStaleError,
    IndexWriteError,
    printable,
)
from hrqa.lexical import LexicalIndex
from hrqa.records import Document, Passage, Sentence, Span
from hrqa.settings import Settings

FORMAT_VERSION = 1
REBUILD_HINT = "rebuild it with: hrqa index"
#: what loading, staleness checks and status read from a manifest
MANIFEST_KEYS = ("id", "built_at", "model", "chunking", "index_type", "corpus_files", "documents", "counts", "files")

#: files up to this size are checksummed before ``load_index`` returns, larger ones in a background
#: thread (``Verification``): sha256 runs at ~110 MB/s on this machine, so 32 MiB cost ~0.3 s of open
VERIFY_AT_OPEN_BYTES = 32 << 20

#: called with (stage, done, total) during a build
BuildProgress = Callable[[str, int, int], None]


@dataclass
class Index:
    """One loaded snapshot: everything retrieval and the answer step read. Never mutated."""

    root: Path
    manifest: dict
    documents: dict[str, Document]
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
    sentence_rows: dict[str, int] = field(default_factory=dict)
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
    def _doc_numbers(self) -> dict[str, int]:
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
                    actual = _file_sha256(path)
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


@dataclass(frozen=True)
class BuildReport:
    index_id: str
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int
    documents: int
    passages: int
    sentences: int
    passages_embedded: int
    sentences_embedded: int
    seconds: float
    timings: dict[str, float]
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        def names(items: tuple[str, ...]) -> str:
            shown = ", ".join(items[:5]) + (f" and {len(items) - 5} more" if len(items) > 5 else "")
            return f" ({shown})" if items else ""

        return (
            f"index {self.index_id}: {self.documents} documents, {self.passages} passages; "
            f"added {len(self.added)}{names(self.added)}, changed {len(self.changed)}{names(self.changed)}, "
            f"removed {len(self.removed)}{names(self.removed)}, unchanged {self.unchanged}; "
            f"embedded {self.passages_embedded} passages and {self.sentences_embedded} sentences "
            f"in {self.seconds:.1f} s"
        )


# ----------------------------------------------------------------------------- hashing helpers


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def corpus_fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file a build reads (documents and catalog): a change means a stale index.
    Files the corpus reader never reads (links out of the folder, dot files) are not hashed either."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    result: dict[str, str] = {}
    for path, relative in corpus_module.corpus_files(folder)[0]:
        try:
            result[relative] = _file_sha256(path)
        except OSError:  # unreadable: the reader skips it with a warning
            result[relative] = "unreadable"
    return result


# ----------------------------------------------------------------------------- snapshot pointer & lock


def snapshots_dir(index_dir: Path) -> Path:
    return Path(index_dir) / "snapshots"


#: a CURRENT pointer holds one snapshot name (about 25 bytes); anything longer is not a pointer
POINTER_MAX_BYTES = 256


def current_snapshot(index_dir: Path) -> Path:
    """The live snapshot folder named by CURRENT.

    Whatever CURRENT is (a directory, a FIFO, a device, a huge or binary file, a name too long for the
    file system), it is never opened in a way that could block, and anything but a regular file naming
    an existing snapshot is IndexCorruptError ("no usable snapshot"), which ``hrqa index`` repairs.
    """
    pointer = Path(index_dir) / "CURRENT"
    try:
        info = os.stat(pointer)
    except FileNotFoundError:
        raise IndexMissingError(f"no index in {index_dir}; build it with: hrqa index") from None
    except OSError as error:
        raise IndexCorruptError(f"cannot read {pointer} ({error.strerror}); {REBUILD_HINT}") from None
    if not stat.S_ISREG(info.st_mode):
        raise IndexCorruptError(f"{pointer} is not a file; {REBUILD_HINT}")
    try:
        # O_NONBLOCK: should CURRENT become a FIFO after the check above, open() must not wait for a writer
        descriptor = os.open(pointer, os.O_RDONLY | os.O_NONBLOCK)
        try:
            raw = os.read(descriptor, POINTER_MAX_BYTES + 1)
        finally:
            os.close(descriptor)
        name = raw.decode("utf-8").strip()
    except (OSError, ValueError) as error:
        raise IndexCorruptError(f"cannot read {pointer} ({error}); {REBUILD_HINT}") from None
    shown = printable(repr(name if len(name) <= 60 else name[:60] + "…"))
    # a snapshot name never starts with "." (".." or an unfinished ".building-*")
    if (
        not name
        or len(raw) > POINTER_MAX_BYTES
        or not name.isprintable()
        or "/" in name
        or "\\" in name
        or name.startswith(".")
    ):
        raise IndexCorruptError(f"{pointer} names a missing snapshot {shown}; {REBUILD_HINT}")
    path = snapshots_dir(index_dir) / name
    try:
        is_snapshot = path.is_dir()
    except OSError:  # a name the file system refuses (too long, ...)
        is_snapshot = False
    if not is_snapshot:
        raise IndexCorruptError(f"{pointer} names a missing snapshot {shown}; {REBUILD_HINT}")
    return path


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def build_lock(index_dir: Path, wait: bool = False) -> Iterator[None]:
    """One rebuild at a time: a second one waits (``wait``) or is refused with IndexBusyError."""
    try:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        handle = (Path(index_dir) / ".build.lock").open("a+")
    except OSError as error:
        raise write_error(index_dir, error) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise IndexBusyError(
                f"another rebuild of {index_dir} is running; wait for it to finish and try again"
            ) from None
        yield
    finally:
        handle.close()  # closing releases the lock, also when the process dies


def write_error(index_dir: Path, error: BaseException) -> IndexWriteError:
    """One line naming the index folder and the cause of a failed write (read-only, full, too big)."""
    if isinstance(error, OSError) and error.strerror:
        cause = error.strerror + (f": {printable(error.filename)}" if error.filename else "")
    else:  # FAISS reports a failed write as RuntimeError with a multi-line message
        lines = str(error).strip().splitlines() or [error.__class__.__name__]
        cause = printable(lines[-1] if "Error" in lines[-1] or len(lines) == 1 else lines[0])
    return IndexWriteError(
        f"cannot write the index in {printable(index_dir)} ({cause}); the index in use is unchanged. "
        "Make the folder writable or free some space, then run: hrqa index"
    )


# ----------------------------------------------------------------------------- loading


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
        for name, expected in manifest["files"].items():
            path = root / name
            if not path.exists():
                raise IndexCorruptError(f"index file {path} is missing; {REBUILD_HINT}")
            size = path.stat().st_size
            if name in sizes and size != sizes[name]:
                raise IndexCorruptError(f"index file {path} fails its checksum (damaged); {REBUILD_HINT}")
            if size > VERIFY_AT_OPEN_BYTES:
                later[name] = expected
            elif _file_sha256(path) != expected:
                raise IndexCorruptError(f"index file {path} fails its checksum (damaged); {REBUILD_HINT}")
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
    store = json.loads((root / "store.json").read_bytes())
    documents = [Document(**record) for record in store["documents"]]
    ids = [d.id for d in documents]
    columns = tables.Columns.read(root, store, ids)
    del store
    firsts = columns.sentence_rows.tolist()
    sentence_rows = {doc: firsts[n] for n, doc in enumerate(ids) if firsts[n + 1] > firsts[n]}
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
        documents={d.id: d for d in documents},
        passages=tables.passage_table(columns),
        sentences=tables.sentence_table(columns),
        passage_vectors=passage_vectors,
        sentence_vectors=sentence_vectors,
        vector_index=vectors.load_vector_index(root / "vectors.faiss"),
        lexical=LexicalIndex.load(root / "bm25"),
        passage_hashes=tables.text_column(columns.passage_hash),
        sentence_hashes=tables.text_column(columns.sentence_hash),
        sentence_rows=sentence_rows,
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


# ----------------------------------------------------------------------------- building


def _retrieval_parameters() -> dict:
    from hrqa.retrieval import DEFAULT_PARAMETERS  # retrieval reads indexes: imported late, at build time

    return DEFAULT_PARAMETERS.to_json()


def build_index(
    settings: Settings,
    embedder: Embedder,
    progress: BuildProgress | None = None,
    *,
    wait_for_lock: bool = False,
    embed_sentences: bool = True,
) -> BuildReport:
    """Read the corpus, chunk, embed what is new, write a snapshot and make it live.

    Vectors of passages and sentences whose text is unchanged are reused from the live snapshot
    (when built with the same model), so editing one document re-embeds that document only.
    """
    progress = progress or (lambda stage, done, total: None)
    index_dir = Path(settings.index_dir)
    with build_lock(index_dir, wait=wait_for_lock):
        started = time.perf_counter()
        timings: dict[str, float] = {}

        corpus_files = corpus_fingerprint(settings.corpus_dir)
        corpus = corpus_module.read_corpus(settings.corpus_dir, settings.max_file_bytes)
        if not corpus.documents:
            from hrqa.errors import CorpusError

            reasons = "; ".join(str(w) for w in corpus.warnings[:3])
            more = f" and {len(corpus.warnings) - 3} more" if len(corpus.warnings) > 3 else ""
            supported = ", ".join(sorted(corpus_module.SUPPORTED_SUFFIXES))
            raise CorpusError(
                f"no documents to index in {settings.corpus_dir}"
                + (f" ({reasons}{more})" if reasons else f"; add {supported} files to it")
                + " or pass --corpus DIR"
            )
        timings["read_s"] = time.perf_counter() - started

        mark = time.perf_counter()
        documents = list(corpus.documents)
        all_sentences: list[tuple[int, Sentence]] = []
        all_passages: list[tuple[int, Passage]] = []
        cut_rows: list[int] = []
        chunk_warnings: list[str] = []
        for number, document in enumerate(documents):
            units, sentences, passages = chunking.chunk(document, corpus.boilerplate, settings.chunking)
            cut = [len(all_sentences) + i for i, unit in enumerate(units) if unit.cut]
            if cut:
                chunk_warnings.append(
                    str(
                        corpus_module.CorpusWarning(
                            document.id,
                            f"{len(cut)} pieces of sentences longer than {settings.max_sentence_chars} characters "
                            "(setting max_sentence_chars); a quote from one says it is cut",
                            skipped=False,
                        )
                    )
                )
            cut_rows.extend(cut)
            all_sentences.extend((number, s) for s in sentences)
            all_passages.extend((number, p) for p in passages)
            progress("chunking", number + 1, len(documents))
        by_id = {d.id: d for d in documents}
        passage_texts = [chunking.embedding_text(by_id[p.doc], p) for _, p in all_passages]
        sentence_texts = [" ".join(by_id[s.doc].text[s.span.start : s.span.end].split()) for _, s in all_sentences]
        passage_hashes = [_text_hash(t) for t in passage_texts]
        sentence_hashes = [_text_hash(t) for t in sentence_texts]
        timings["chunk_s"] = time.perf_counter() - mark

        previous = _previous(index_dir, embedder.fingerprint)
        old_docs = previous.manifest["documents"] if previous else {}
        new_docs = {d.id: d.sha256 for d in documents}

        mark = time.perf_counter()
        passage_vectors, passages_embedded = _vectors_for(
            passage_texts,
            passage_hashes,
            previous and (previous.passage_hashes, previous.passage_vectors),
            embedder,
            lambda done, total: progress("embedding passages", done, total),
        )
        if embed_sentences:
            sentence_vectors, sentences_embedded = _vectors_for(
                sentence_texts,
                sentence_hashes,
                previous
                and previous.sentence_vectors is not None
                and (previous.sentence_hashes, previous.sentence_vectors),
                embedder,
                lambda done, total: progress("embedding sentences", done, total),
            )
        else:
            sentence_vectors, sentences_embedded = None, 0
        timings["embed_s"] = time.perf_counter() - mark

        mark = time.perf_counter()
        index_type = vectors.choose_index_type(settings.index_type, len(passage_vectors), settings.exact_search_limit)
        vector_index = vectors.build_vector_index(passage_vectors, index_type)
        lexical = LexicalIndex.build(passage_texts)
        timings["index_s"] = time.perf_counter() - mark

        mark = time.perf_counter()
        build_id = (
            dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            + "-"
            + _text_hash("".join(passage_hashes) + embedder.fingerprint + str(time.time_ns()))[:8]
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "id": build_id,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": {"name": embedder.name, "fingerprint": embedder.fingerprint, "dimension": embedder.dimension},
            "chunking": settings.chunking,
            "index_type": index_type.value,
            "corpus_dir": str(settings.corpus_dir),
            "corpus_files": corpus_files,
            "documents": new_docs,
            "counts": {
                "documents": len(documents),
                "passages": len(all_passages),
                "sentences": len(all_sentences),
                "boilerplate_lines": len(corpus.boilerplate),
            },
            "sentence_vectors": sentence_vectors is not None,
            # how questions are searched in this index (a figure measured on it names its configuration)
            "retrieval": _retrieval_parameters(),
        }
        store = {
            "documents": [_document_record(d) for d in documents],
            "passages": {
                "id": [p.id for _, p in all_passages],
                "doc": [n for n, _ in all_passages],
                "start": [p.span.start for _, p in all_passages],
                "end": [p.span.end for _, p in all_passages],
                "first": [p.first_sentence for _, p in all_passages],
                "last": [p.last_sentence for _, p in all_passages],
                "heading": [p.heading for _, p in all_passages],
                "hash": passage_hashes,
            },
            "sentences": {
                "doc": [n for n, _ in all_sentences],
                "start": [s.span.start for _, s in all_sentences],
                "end": [s.span.end for _, s in all_sentences],
                "item": [int(s.is_list_item) for _, s in all_sentences],
                "hash": sentence_hashes,
                "cut": cut_rows,
            },
        }
        write_snapshot(
            index_dir, manifest, store, passage_vectors, sentence_vectors, vector_index, lexical, progress=progress
        )
        timings["write_s"] = time.perf_counter() - mark

        added = tuple(sorted(set(new_docs) - set(old_docs)))
        removed = tuple(sorted(set(old_docs) - set(new_docs)))
        changed = tuple(sorted(k for k in set(new_docs) & set(old_docs) if new_docs[k] != old_docs[k]))
        return BuildReport(
            index_id=build_id,
            added=added,
            changed=changed,
            removed=removed,
            unchanged=len(new_docs) - len(added) - len(changed),
            documents=len(documents),
            passages=len(all_passages),
            sentences=len(all_sentences),
            passages_embedded=passages_embedded,
            sentences_embedded=sentences_embedded,
            seconds=time.perf_counter() - started,
            timings=timings,
            warnings=tuple(str(w) for w in corpus.warnings) + tuple(chunk_warnings),
        )


def _document_record(document: Document) -> dict:
    return {
        "id": document.id,
        "text": document.text,
        "sha256": document.sha256,
        "title": document.title,
        "date": document.date,
        "publisher": document.publisher,
        "kind": document.kind,
        "url": document.url,
    }


def _previous(index_dir: Path, fingerprint: str) -> Index | None:
    """The live snapshot, if it can be reused: loadable, same format and same model."""
    try:
        index = load_index(index_dir, verify=True)
        index.wait_verified()  # vectors are reused from it: every checksum first
    except (IndexMissingError, IndexCorruptError, IndexStaleError):
        return None
    return index if index.manifest["model"]["fingerprint"] == fingerprint else None


def _vectors_for(texts, hashes, previous, embedder: Embedder, progress) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``: reused by content hash from ``previous`` where possible, else embedded."""
    known: dict[str, int] = {}
    old_vectors = None
    if previous:
        old_hashes, old_vectors = previous
        known = {h: row for row, h in enumerate(old_hashes)}
    missing = [i for i, h in enumerate(hashes) if h not in known]
    # Identical texts (a repeated sentence) are embedded once.
    unique: dict[str, int] = {}
    for i in missing:
        unique.setdefault(hashes[i], i)
    fresh_rows = list(unique.values())
    progress(0, len(fresh_rows))  # show the stage at once: the first batch takes seconds
    fresh = embedder.embed([texts[i] for i in fresh_rows], progress=progress)
    fresh_by_hash = {hashes[i]: fresh[j] for j, i in enumerate(fresh_rows)}
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for i, h in enumerate(hashes):
        out[i] = fresh_by_hash[h] if h in fresh_by_hash else old_vectors[known[h]]
    return out, len(fresh_rows)


def write_snapshot(
    index_dir: Path,
    manifest: dict,
    store: dict,
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray | None,
    vector_index,
    lexical: LexicalIndex,
    progress: BuildProgress | None = None,
) -> Path:
    """Write a snapshot beside the live one, verify it loads, then switch CURRENT to it.

    A write that fails (read-only folder, full disk, file-size limit, a FAISS write error) removes what it
    wrote and raises IndexWriteError; the live snapshot and CURRENT are untouched.
    """
    base = snapshots_dir(index_dir)
    building = base / f".building-{manifest['id']}"
    final = base / manifest["id"]
    try:
        return _write_snapshot(
            index_dir, base, building, final, manifest, store, passage_vectors, sentence_vectors, vector_index,
            lexical, progress,
        )  # fmt: skip
    except (OSError, RuntimeError) as error:
        for leftover in (building, final):
            if leftover.is_dir() and not _is_live(index_dir, leftover):
                shutil.rmtree(leftover, ignore_errors=True)
        raise write_error(index_dir, error) from None


def _is_live(index_dir: Path, snapshot: Path) -> bool:
    try:
        return current_snapshot(index_dir) == snapshot
    except (IndexMissingError, IndexCorruptError):
        return False


def _write_snapshot(
    index_dir: Path,
    base: Path,
    building: Path,
    final: Path,
    manifest: dict,
    store: dict,
    passage_vectors: np.ndarray,
    sentence_vectors: np.ndarray | None,
    vector_index,
    lexical: LexicalIndex,
    progress: BuildProgress | None,
) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    for leftover in base.glob(".building-*"):  # from a build that died; we hold the lock
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in Path(index_dir).glob(".CURRENT.*.tmp"):  # a pointer a killed build never swapped in
        leftover.unlink(missing_ok=True)
    try:
        previous = current_snapshot(index_dir).name
    except (IndexMissingError, IndexCorruptError):
        previous = None
    building.mkdir()
    tables.write_store(building, store)  # store.json and tables.npz
    np.save(building / "passages.npy", passage_vectors)
    if sentence_vectors is not None:
        np.save(building / "sentences.npy", sentence_vectors)
    vectors.save_vector_index(vector_index, building / "vectors.faiss")
    lexical.save(building / "bm25")
    manifest = dict(manifest)
    manifest["files"] = {
        path.relative_to(building).as_posix(): _file_sha256(path)
        for path in sorted(building.rglob("*"))
        if path.is_file()
    }
    # a truncated or grown file is found at open, also where its checksum is computed later
    manifest["sizes"] = {name: (building / name).stat().st_size for name in manifest["files"]}
    (building / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    for path in building.rglob("*"):
        if path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    _read_snapshot(building, manifest)  # verify: it must load before it goes live
    os.rename(building, final)
    _fsync_dir(base)
    pointer = Path(index_dir) / "CURRENT"
    if previous is None and pointer.is_dir() and not pointer.is_symlink():  # a damaged pointer: no file
        shutil.rmtree(pointer)  # can replace a directory; nothing lives in it (we hold the lock)
    _write_atomically(pointer, manifest["id"] + "\n")
    _prune(base, keep={manifest["id"], previous} - {None})
    if progress:
        progress("switching to the new index", 1, 1)
    return final


def _prune(base: Path, keep: set[str]) -> None:
    """Drop every snapshot but ``keep``: the new one and the one it replaced (a reader may still hold
    it). This also drops snapshots that a killed build renamed into place but never made live."""
    for old in base.iterdir():
        if old.is_dir() and not old.name.startswith(".") and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
