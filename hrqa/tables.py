"""Passages and sentences of a snapshot as columns: numpy arrays saved beside ``store.json``, with the
``Passage`` and ``Sentence`` records made when a row is read.

A million passages and three million sentences as Python objects cost seconds to build and gigabytes
to hold (benchmarks/million.py); as columns they load in a fraction of a second and take about 70 bytes
a sentence. ``store.json`` keeps the documents (with their text) and the distinct headings;
``tables.npz`` keeps everything numeric, one array per column:

    passage_id, passage_doc, passage_start, passage_end, passage_first, passage_last, passage_heading,
    passage_hash, sentence_doc, sentence_start, sentence_end, sentence_item, sentence_hash, sentence_cut

``*_doc`` are document numbers (corpus order), ``passage_heading`` a number into the headings list,
``sentence_cut`` the rows of sentences that are pieces of longer ones. Snapshots written before the
columns (their ``store.json`` holds ``passages`` and ``sentences`` as JSON lists) load into the same
columns.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hrqa.records import Passage, Sentence, Span

TABLES_FILE = "tables.npz"
#: rows turned into records per step when a whole table is iterated
_BLOCK = 65_536


def _encoded(values: Sequence[str]) -> np.ndarray:
    """Short ASCII-ish strings (hex ids and hashes) as one fixed-width bytes column."""
    if len(values) == 0:
        return np.zeros(0, dtype="S1")
    return np.array([v.encode("utf-8") for v in values])


def write_store(folder: Path, store: dict) -> None:
    """``store.json`` (documents and headings) and ``tables.npz`` (the columns) of a build's ``store``."""
    passages, sentences = store["passages"], store["sentences"]
    headings: dict[str, int] = {}
    heading_codes = np.fromiter(
        (headings.setdefault(h, len(headings)) for h in passages["heading"]),
        dtype=np.int32,
        count=len(passages["heading"]),
    )
    (folder / "store.json").write_text(
        json.dumps({"documents": store["documents"], "headings": list(headings)}, ensure_ascii=False), encoding="utf-8"
    )
    with (folder / TABLES_FILE).open("wb") as handle:
        np.savez(
            handle,
            passage_id=_encoded(passages["id"]),
            passage_doc=np.asarray(passages["doc"], dtype=np.int32),
            passage_start=np.asarray(passages["start"], dtype=np.int64),
            passage_end=np.asarray(passages["end"], dtype=np.int64),
            passage_first=np.asarray(passages["first"], dtype=np.int32),
            passage_last=np.asarray(passages["last"], dtype=np.int32),
            passage_heading=heading_codes,
            passage_hash=_encoded(passages["hash"]),
            sentence_doc=np.asarray(sentences["doc"], dtype=np.int32),
            sentence_start=np.asarray(sentences["start"], dtype=np.int64),
            sentence_end=np.asarray(sentences["end"], dtype=np.int64),
            sentence_item=np.asarray(sentences["item"], dtype=bool),
            sentence_hash=_encoded(sentences["hash"]),
            sentence_cut=np.asarray(sentences.get("cut", ()), dtype=np.int64),
        )


@dataclass(frozen=True)
class Columns:
    """The columns of one snapshot and what is derived from them at load (each document's first
    passage and sentence row, each sentence's position in its document)."""

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
    #: rows ``passage_rows[d]:passage_rows[d + 1]`` are document ``d``'s passages (likewise sentences)
    passage_rows: np.ndarray
    sentence_rows: np.ndarray
    sentence_position: np.ndarray

    @classmethod
    def read(cls, root: Path, store: dict, doc_ids: list[str]) -> Columns:
        """The columns of the snapshot in ``root`` whose ``store.json`` is ``store``."""
        if "passages" in store:  # a snapshot written before the columns
            p, s = store["passages"], store["sentences"]
            headings: dict[str, int] = {}
            arrays = {
                "passage_id": _encoded(p["id"]),
                "passage_doc": np.asarray(p["doc"], dtype=np.int32),
                "passage_start": np.asarray(p["start"], dtype=np.int64),
                "passage_end": np.asarray(p["end"], dtype=np.int64),
                "passage_first": np.asarray(p["first"], dtype=np.int32),
                "passage_last": np.asarray(p["last"], dtype=np.int32),
                "passage_heading": np.array([headings.setdefault(h, len(headings)) for h in p["heading"]], np.int32),
                "passage_hash": _encoded(p["hash"]),
                "sentence_doc": np.asarray(s["doc"], dtype=np.int32),
                "sentence_start": np.asarray(s["start"], dtype=np.int64),
                "sentence_end": np.asarray(s["end"], dtype=np.int64),
                "sentence_item": np.asarray(s["item"], dtype=bool),
                "sentence_hash": _encoded(s["hash"]),
                "sentence_cut": np.asarray(s.get("cut", ()), dtype=np.int64),
            }
            heading_list = list(headings)
        else:
            try:  # each member carries a CRC-32: damage shows here, also before its checksum is computed
                with np.load(root / TABLES_FILE, allow_pickle=False) as tables:
                    arrays = {name: tables[name] for name in tables.files}
            except zipfile.BadZipFile as error:
                raise ValueError(f"{TABLES_FILE}: {error}") from None
            heading_list = list(store["headings"])
        return cls.of(doc_ids, heading_list, arrays)

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
        sentence_doc = arrays["sentence_doc"]
        position = (np.arange(sentence_doc.size) - sentence_rows[sentence_doc]).astype(np.int32)
        return cls(
            doc_ids=doc_ids,
            headings=headings,
            passage_rows=passage_rows,
            sentence_rows=sentence_rows,
            sentence_position=position,
            **arrays,
        )

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
        return Sentence(
            doc=self.doc_ids[self.sentence_doc[row]],
            span=Span(int(self.sentence_start[row]), int(self.sentence_end[row])),
            position=int(self.sentence_position[row]),
            is_list_item=bool(self.sentence_item[row]),
        )

    def sentences(self, start: int, stop: int) -> list[Sentence]:
        return [
            Sentence(doc=self.doc_ids[d], span=Span(a, b), position=p, is_list_item=i)
            for d, a, b, p, i in zip(
                self.sentence_doc[start:stop].tolist(),
                self.sentence_start[start:stop].tolist(),
                self.sentence_end[start:stop].tolist(),
                self.sentence_position[start:stop].tolist(),
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
