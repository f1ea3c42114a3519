"""Documents, passages and sentences of a snapshot as columns on disk, read memory-mapped, with the
``Document``, ``Passage`` and ``Sentence`` records made when a row is read.

A million passages, three million sentences and their 250,000 documents as Python objects (or as one
JSON file) cost seconds to open and gigabytes to hold (benchmarks/million.py: a 377 MB ``store.json``
took ~4 s to parse); as columns they open in a fraction of a second. A snapshot holds:

    documents.json   document metadata, one JSON list per field: id, sha256, title, date, publisher,
                     kind, url; and the distinct passage headings
    documents.txt    every document's text, UTF-8, one after another (``columns/document_text.npy``
                     holds the byte offsets: document ``d`` is bytes ``[t[d], t[d + 1])``)
    columns/*.npy    one array per column, memory-mapped at open:
                     passage_id, passage_doc, passage_start, passage_end, passage_first, passage_last,
                     passage_heading, passage_hash, sentence_doc, sentence_start, sentence_end,
                     sentence_item, sentence_hash, sentence_cut, document_text

``*_doc`` are document numbers (corpus order), ``passage_heading`` a number into the headings list,
``sentence_cut`` the rows of sentences that are pieces of longer ones.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrqa.records import Document, Passage, Sentence, Span

DOCUMENTS_FILE = "documents.json"
TEXTS_FILE = "documents.txt"
COLUMNS_DIR = "columns"
#: the metadata fields of a document, as ``documents.json`` lists them (its text is in ``documents.txt``)
DOCUMENT_FIELDS = ("id", "sha256", "title", "date", "publisher", "kind", "url")
#: every column file and its dtype when written
COLUMN_TYPES = {
    "passage_id": None,  # bytes, fixed width
    "passage_doc": np.int32,
    "passage_start": np.int64,
    "passage_end": np.int64,
    "passage_first": np.int32,
    "passage_last": np.int32,
    "passage_heading": np.int32,
    "passage_hash": None,
    "sentence_doc": np.int32,
    "sentence_start": np.int64,
    "sentence_end": np.int64,
    "sentence_item": bool,
    "sentence_hash": None,
    "sentence_cut": np.int64,
    "document_text": np.int64,
}
#: rows turned into records per step when a whole table is iterated
_BLOCK = 65_536


def _encoded(values: Sequence[str]) -> np.ndarray:
    """Short ASCII-ish strings (hex ids and hashes) as one fixed-width bytes column."""
    if len(values) == 0:
        return np.zeros(0, dtype="S1")
    return np.array([v.encode("utf-8") for v in values])


def write_store(folder: Path, store: dict) -> None:
    """``documents.json``, ``documents.txt`` and ``columns/`` of a build's ``store``: ``documents`` (records
    with ``text``), ``passages`` and ``sentences`` (dicts of columns, as ``store.build_index`` makes them)."""
    passages, sentences, documents = store["passages"], store["sentences"], store["documents"]
    headings: dict[str, int] = {}
    heading_codes = np.fromiter(
        (headings.setdefault(h, len(headings)) for h in passages["heading"]),
        dtype=np.int32,
        count=len(passages["heading"]),
    )
    metadata = {name: [record[name] for record in documents] for name in DOCUMENT_FIELDS}
    metadata["headings"] = list(headings)
    (folder / DOCUMENTS_FILE).write_text(json.dumps(metadata, ensure_ascii=False), encoding="utf-8")
    offsets = np.zeros(len(documents) + 1, dtype=np.int64)
    with (folder / TEXTS_FILE).open("wb") as handle:
        for number, record in enumerate(documents):
            data = record["text"].encode("utf-8")
            handle.write(data)
            offsets[number + 1] = offsets[number] + len(data)
    columns = {
        "passage_id": _encoded(passages["id"]),
        "passage_doc": passages["doc"],
        "passage_start": passages["start"],
        "passage_end": passages["end"],
        "passage_first": passages["first"],
        "passage_last": passages["last"],
        "passage_heading": heading_codes,
        "passage_hash": _encoded(passages["hash"]),
        "sentence_doc": sentences["doc"],
        "sentence_start": sentences["start"],
        "sentence_end": sentences["end"],
        "sentence_item": sentences["item"],
        "sentence_hash": _encoded(sentences["hash"]),
        "sentence_cut": sentences.get("cut", ()),
        "document_text": offsets,
    }
    (folder / COLUMNS_DIR).mkdir()
    for name, values in columns.items():
        dtype = COLUMN_TYPES[name]
        np.save(folder / COLUMNS_DIR / f"{name}.npy", values if dtype is None else np.asarray(values, dtype=dtype))


def read_documents(root: Path) -> tuple[dict[str, list], list[str]]:
    """The metadata columns and the headings of a snapshot's ``documents.json``."""
    saved = json.loads((root / DOCUMENTS_FILE).read_bytes())
    if not isinstance(saved, dict) or any(not isinstance(saved.get(n), list) for n in (*DOCUMENT_FIELDS, "headings")):
        raise ValueError(f"{DOCUMENTS_FILE} lacks its columns")
    if len({len(saved[name]) for name in DOCUMENT_FIELDS}) != 1:
        raise ValueError(f"{DOCUMENTS_FILE}: columns differ in length")
    return {name: saved[name] for name in DOCUMENT_FIELDS}, saved["headings"]


class DocumentTable(Mapping):
    """The documents of a snapshot by id, each made (and kept) when first read: the texts stay in the
    memory-mapped ``documents.txt`` until then."""

    def __init__(self, metadata: dict[str, list], offsets: np.ndarray, texts: bytes | mmap.mmap) -> None:
        self._metadata, self._offsets, self._texts = metadata, offsets, texts
        self.ids: list[str] = metadata["id"]
        self.number = {doc: n for n, doc in enumerate(self.ids)}
        if len(self.number) != len(self.ids):
            raise ValueError("a document id appears twice")
        if len(offsets) != len(self.ids) + 1 or (len(offsets) and int(offsets[-1]) != len(texts)):
            raise ValueError(f"{TEXTS_FILE} and its offsets differ")
        self._made: dict[int, Document] = {}

    def sha256s(self) -> dict[str, str]:
        """Each document's sha256 by id (no text read): what a rebuild compares the corpus with."""
        return dict(zip(self.ids, self._metadata["sha256"], strict=True))

    def kind(self, number: int) -> str | None:
        """The kind of source of document ``number`` (no text read)."""
        return self._metadata["kind"][number]

    def at(self, number: int) -> Document:
        made = self._made.get(number)
        if made is None:
            start, end = int(self._offsets[number]), int(self._offsets[number + 1])
            fields = {name: self._metadata[name][number] for name in DOCUMENT_FIELDS}
            made = Document(text=self._texts[start:end].decode("utf-8"), **fields)
            self._made[number] = made
        return made

    def __getitem__(self, doc_id: str) -> Document:
        try:
            return self.at(self.number[doc_id])
        except TypeError:  # an unhashable key is not an id
            raise KeyError(doc_id) from None

    def __contains__(self, doc_id: object) -> bool:
        try:
            return doc_id in self.number
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<{len(self)} documents>"


class FirstRows(Mapping):
    """The row of each document's first sentence, by id, for documents with sentences (read from the
    columns on access: no dict of every document is made at open)."""

    def __init__(self, number: Mapping[str, int], firsts: np.ndarray, ids: Sequence[str]) -> None:
        self._number, self._firsts, self._ids = number, firsts, ids

    def __getitem__(self, doc: str) -> int:
        n = self._number[doc]
        first = int(self._firsts[n])
        if int(self._firsts[n + 1]) == first:
            raise KeyError(doc)
        return first

    def __iter__(self) -> Iterator[str]:
        has = np.flatnonzero(np.diff(self._firsts) > 0)
        return (self._ids[n] for n in has.tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(np.diff(self._firsts) > 0))


def map_file(path: Path) -> bytes | mmap.mmap:
    """A file's bytes, memory-mapped read-only (an empty file cannot be mapped: its empty bytes)."""
    with path.open("rb") as handle:
        if not handle.seek(0, 2):
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


@dataclass(frozen=True)
class Columns:
    """The columns of one snapshot and what is derived from them at load (each document's first
    passage and sentence row)."""

    doc_ids: list[str]
    headings: list[str]
    passage_id: np.ndarray
    passage_doc: np.ndarray
    passage_start: np.ndarray
    passage_end: np.ndarray
    passage_first: np.ndarray
    passage_last: np.ndarray
    passage_heading: np.ndarray
    passage_hash: np.ndarray
    sentence_doc: np.ndarray
    sentence_start: np.ndarray
    sentence_end: np.ndarray
    sentence_item: np.ndarray
    sentence_hash: np.ndarray
    sentence_cut: np.ndarray
    document_text: np.ndarray
    #: rows ``passage_rows[d]:passage_rows[d + 1]`` are document ``d``'s passages (likewise sentences)
    passage_rows: np.ndarray
    sentence_rows: np.ndarray

    @classmethod
    def read(cls, root: Path, doc_ids: list[str], headings: list[str]) -> Columns:
        """The columns of the snapshot in ``root``, memory-mapped (pages are read as rows are)."""
        arrays = {name: np.load(root / COLUMNS_DIR / f"{name}.npy", mmap_mode="r") for name in COLUMN_TYPES}
        return cls.of(doc_ids, headings, arrays)

    @classmethod
    def of(cls, doc_ids: list[str], headings: list[str], arrays: dict[str, np.ndarray]) -> Columns:
        count = len(doc_ids)
        for prefix in ("passage", "sentence"):
            docs = arrays[f"{prefix}_doc"]
            lengths = {arrays[name].shape[0] for name in arrays if name.startswith(prefix) and name != "sentence_cut"}
            if len(lengths) != 1:
                raise ValueError(f"{prefix} columns differ in length")
            # documents follow one another: a build appends each document's rows in corpus order
            if docs.size and (docs.min() < 0 or docs.max() >= count or np.any(np.diff(docs) < 0)):
                raise ValueError(f"{prefix} document numbers out of order or range")
        if arrays["passage_heading"].size and arrays["passage_heading"].max() >= len(headings):
            raise ValueError("a passage heading number out of range")
        numbers = np.arange(count + 1)
        passage_rows = np.searchsorted(arrays["passage_doc"], numbers)
        sentence_rows = np.searchsorted(arrays["sentence_doc"], numbers)
        return cls(doc_ids=doc_ids, headings=headings, passage_rows=passage_rows, sentence_rows=sentence_rows, **arrays)

    def passage(self, row: int) -> Passage:
        return Passage(
            id=self.passage_id[row].decode("utf-8"),
            doc=self.doc_ids[self.passage_doc[row]],
            span=Span(int(self.passage_start[row]), int(self.passage_end[row])),
            first_sentence=int(self.passage_first[row]),
            last_sentence=int(self.passage_last[row]),
            heading=self.headings[self.passage_heading[row]],
        )

    def passages(self, start: int, stop: int) -> list[Passage]:
        ids = [i.decode("utf-8") for i in self.passage_id[start:stop].tolist()]
        headings = self.headings
        return [
            Passage(id=i, doc=self.doc_ids[d], span=Span(a, b), first_sentence=f, last_sentence=la, heading=headings[h])
            for i, d, a, b, f, la, h in zip(
                ids,
                self.passage_doc[start:stop].tolist(),
                self.passage_start[start:stop].tolist(),
                self.passage_end[start:stop].tolist(),
                self.passage_first[start:stop].tolist(),
                self.passage_last[start:stop].tolist(),
                self.passage_heading[start:stop].tolist(),
            )
        ]

    def sentence(self, row: int) -> Sentence:
        doc = int(self.sentence_doc[row])
        return Sentence(
            doc=self.doc_ids[doc],
            span=Span(int(self.sentence_start[row]), int(self.sentence_end[row])),
            position=row - int(self.sentence_rows[doc]),  # rows of a document follow one another
            is_list_item=bool(self.sentence_item[row]),
        )

    def sentences(self, start: int, stop: int) -> list[Sentence]:
        docs = self.sentence_doc[start:stop]
        positions = np.arange(start, max(start, stop)) - self.sentence_rows[docs]
        return [
            Sentence(doc=self.doc_ids[d], span=Span(a, b), position=p, is_list_item=i)
            for d, a, b, p, i in zip(
                docs.tolist(),
                self.sentence_start[start:stop].tolist(),
                self.sentence_end[start:stop].tolist(),
                positions.tolist(),
                self.sentence_item[start:stop].tolist(),
            )
        ]


class Table(Sequence):
    """Rows of a column store as a read-only sequence of records, each made when it is read."""

    def __init__(self, size: int, one, many) -> None:
        self._size, self._one, self._many = size, one, many

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, row):
        if isinstance(row, slice):
            start, stop, step = row.indices(self._size)
            if step == 1:
                return self._many(start, max(start, stop))
            return [self._one(r) for r in range(start, stop, step)]
        row = int(row)  # numpy integers too
        if row < 0:
            row += self._size
        if not 0 <= row < self._size:
            raise IndexError(row)
        return self._one(row)

    def __iter__(self) -> Iterator:
        for start in range(0, self._size, _BLOCK):
            yield from self._many(start, min(start + _BLOCK, self._size))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def passage_table(columns: Columns) -> Table:
    return Table(len(columns.passage_doc), columns.passage, columns.passages)


def sentence_table(columns: Columns) -> Table:
    return Table(len(columns.sentence_doc), columns.sentence, columns.sentences)


def text_column(values: np.ndarray) -> Table:
    """A bytes column (ids, content hashes) read as strings."""
    return Table(
        len(values),
        lambda row: values[row].decode("utf-8"),
        lambda start, stop: [v.decode("utf-8") for v in values[start:stop].tolist()],
    )
