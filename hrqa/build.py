"""Building a snapshot: read the corpus, chunk, embed what is new, write the snapshot folder, verify
that it loads, make it live (``hrqa.snapshot`` owns the folders; ``hrqa.store`` reads them).

The steps that a crash test watches (``tests/test_faults.py``) are called through ``hrqa.store``, where
they are importable as before: the lock, the verifying load, the pointer switch and the pruning.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrqa import chunking, store, tables, vectors
from hrqa import corpus as corpus_module
from hrqa.embedding import Embedder
from hrqa.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from hrqa.lexical import LexicalIndex
from hrqa.records import Document, Passage, Sentence
from hrqa.settings import Settings
from hrqa.snapshot import (
    corpus_fingerprint,
    current_snapshot,
    file_sha256,
    fsync_dir,
    snapshots_dir,
    text_hash,
    write_error,
)

#: called with (stage, done, total) during a build
BuildProgress = Callable[[str, int, int], None]


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
    with store.build_lock(index_dir, wait=wait_for_lock):
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
        passage_hashes = [text_hash(t) for t in passage_texts]
        sentence_hashes = [text_hash(t) for t in sentence_texts]
        timings["chunk_s"] = time.perf_counter() - mark

        previous = _previous(index_dir, embedder.fingerprint)
        old_docs = previous.documents.sha256s() if previous else {}
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
            + text_hash("".join(passage_hashes) + embedder.fingerprint + str(time.time_ns()))[:8]
        )
        manifest = {
            "format_version": store.FORMAT_VERSION,
            "id": build_id,
            "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "model": {"name": embedder.name, "fingerprint": embedder.fingerprint, "dimension": embedder.dimension},
            "chunking": settings.chunking,
            "index_type": index_type.value,
            "corpus_dir": str(settings.corpus_dir),
            "corpus_files": corpus_files,
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
        contents = {
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
            index_dir, manifest, contents, passage_vectors, sentence_vectors, vector_index, lexical, progress=progress
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


def _previous(index_dir: Path, fingerprint: str) -> store.Index | None:
    """The live snapshot, if it can be reused: loadable, same format and same model."""
    try:
        index = store.load_index(index_dir, verify=True)
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
    contents: dict,
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
            index_dir, base, building, final, manifest, contents, passage_vectors, sentence_vectors, vector_index,
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
    contents: dict,
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
    tables.write_store(building, contents)  # documents.json, documents.txt, columns/
    np.save(building / "passages.npy", passage_vectors)
    if sentence_vectors is not None:
        np.save(building / "sentences.npy", sentence_vectors)
    vectors.save_vector_index(vector_index, building / "vectors.faiss")
    lexical.save(building / "bm25")
    manifest = dict(manifest)
    manifest["files"] = {
        path.relative_to(building).as_posix(): file_sha256(path)
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
    store._read_snapshot(building, manifest)  # verify: it must load before it goes live
    os.rename(building, final)
    fsync_dir(base)
    pointer = Path(index_dir) / "CURRENT"
    if previous is None and pointer.is_dir() and not pointer.is_symlink():  # a damaged pointer: no file
        shutil.rmtree(pointer)  # can replace a directory; nothing lives in it (we hold the lock)
    store._write_atomically(pointer, manifest["id"] + "\n")
    store._prune(base, keep={manifest["id"], previous} - {None})
    if progress:
        progress("switching to the new index", 1, 1)
    return final
