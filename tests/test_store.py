"""The on-disk index: build/load round trip, manifest, incremental and atomic rebuilds, staleness,
corruption and the build lock. All with the fast HashingEmbedder over tiny corpora."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrqa import store, tables
from hrqa.chunking import chunk_document, embedding_text
from hrqa.corpus import read_corpus
from hrqa.embedding import HashingEmbedder
from hrqa.errors import CorpusError, IndexBusyError, IndexCorruptError, IndexMissingError, IndexStaleError
from hrqa.settings import Settings
from hrqa.store import build_index, build_lock, load_index, staleness


class RecordingEmbedder(HashingEmbedder):
    """The fake embedder, remembering every text it was asked to embed."""

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(dimension=dimension)
        self.seen: list[str] = []

    def embed(self, texts, progress=None):
        self.seen.extend(texts)
        return super().embed(texts, progress)


def vectors_of(index: store.Index, doc: str) -> dict[str, np.ndarray]:
    """Passage vectors of one document, keyed by passage id."""
    return {p.id: index.passage_vectors[row] for row, p in enumerate(index.passages) if p.doc == doc}


@pytest.fixture
def built(tiny_settings: Settings) -> tuple[Settings, store.BuildReport]:
    return tiny_settings, build_index(tiny_settings, HashingEmbedder())


# ----------------------------------------------------------------------------- build and load


def test_build_then_load_round_trip(built):
    settings, report = built
    corpus = read_corpus(settings.corpus_dir)
    index = load_index(settings.index_dir)
    assert index.id == report.index_id
    assert index.model == "hashing-test"
    assert sorted(index.documents) == ["a.txt", "b.txt", "c.md"]
    for document in corpus.documents:
        assert index.documents[document.id] == document
    expected_passages, expected_sentences = [], []
    for document in corpus.documents:
        sentences, passages = chunk_document(document, corpus.boilerplate, settings.chunking)
        expected_sentences += sentences
        expected_passages += passages
    assert index.passages == expected_passages
    assert index.sentences == expected_sentences
    texts = [embedding_text(index.documents[p.doc], p) for p in index.passages]
    assert np.array_equal(index.passage_vectors, HashingEmbedder().embed(texts))
    assert index.sentence_vectors is not None and index.sentence_vectors.shape == (len(expected_sentences), 64)
    assert index.vector_index.ntotal == len(expected_passages)
    assert index.lexical.size == len(expected_passages)
    # sentence lookup by (doc, position)
    for sentence in index.sentences:
        assert index.sentence(sentence.doc, sentence.position) == sentence
    first = index.passages[0]
    assert index.passage_text(first) == index.documents[first.doc].text[first.span.start : first.span.end]


def test_first_build_report(built):
    _, report = built
    assert report.added == ("a.txt", "b.txt", "c.md")
    assert (report.changed, report.removed, report.unchanged) == ((), (), 0)
    assert report.documents == 3
    assert report.passages_embedded == report.passages  # all distinct texts
    assert report.sentences_embedded == report.sentences
    assert report.warnings == ()
    assert re.fullmatch(
        rf"index {re.escape(report.index_id)}: 3 documents, {report.passages} passages; added 3 "
        rf"\(a\.txt, b\.txt, c\.md\), changed 0, removed 0, unchanged 0; embedded {report.passages} passages "
        rf"and {report.sentences} sentences in \d+\.\d s",
        report.summary(),
    )


def test_manifest_records_what_the_index_was_built_from(built):
    settings, report = built
    index = load_index(settings.index_dir)
    manifest = json.loads((index.root / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == index.manifest
    assert manifest["format_version"] == store.FORMAT_VERSION
    assert manifest["id"] == report.index_id
    assert manifest["model"] == {"name": "hashing-test", "fingerprint": "hash64", "dimension": 64}
    assert manifest["chunking"] == settings.chunking
    assert manifest["index_type"] == "flat"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", manifest["built_at"])
    corpus = settings.corpus_dir
    assert "documents" not in manifest  # 250k of them made an 11 MB manifest (benchmarks/million.py)
    assert index.documents.sha256s() == {
        name: hashlib.sha256((corpus / name).read_bytes()).hexdigest() for name in ("a.txt", "b.txt", "c.md")
    }
    assert manifest["corpus_files"] == {
        name: hashlib.sha256((corpus / name).read_bytes()).hexdigest()
        for name in ("a.txt", "b.txt", "c.md", "catalog.toml")
    }
    assert manifest["counts"] == {
        "documents": 3,
        "passages": report.passages,
        "sentences": report.sentences,
        "boilerplate_lines": 1,
    }
    assert {"documents.json", "documents.txt", "passages.npy", "sentences.npy", "vectors.faiss"} <= set(
        manifest["files"]
    )
    assert {f"columns/{name}.npy" for name in tables.COLUMN_TYPES} <= set(manifest["files"])
    assert any(name.startswith("bm25/") for name in manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((index.root / name).read_bytes()).hexdigest() == digest


def test_index_without_sentence_vectors(tiny_settings: Settings):
    report = build_index(tiny_settings, HashingEmbedder(), embed_sentences=False)
    assert report.sentences_embedded == 0
    index = load_index(tiny_settings.index_dir)
    assert index.sentence_vectors is None and index.manifest["sentence_vectors"] is False


def test_progress_reports_each_stage(tiny_settings: Settings):
    stages = []
    build_index(tiny_settings, HashingEmbedder(), lambda stage, done, total: stages.append((stage, done, total)))
    names = [s for s, _, _ in stages]
    assert names[:3] == ["chunking"] * 3
    assert stages[2] == ("chunking", 3, 3)
    assert "embedding passages" in names and "embedding sentences" in names
    assert names[-1] == "switching to the new index"


def test_empty_corpus_raises(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "empty.txt").write_bytes(b"")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    with pytest.raises(CorpusError, match=r"no documents to index in .*corpus \(skipped empty.txt: empty file\)"):
        build_index(settings, HashingEmbedder())
    with pytest.raises(IndexMissingError):
        load_index(settings.index_dir)


# ----------------------------------------------------------------------------- incremental rebuilds


def test_editing_one_document_re_embeds_that_document_only(built):
    settings, first = built
    before = load_index(settings.index_dir)
    path = settings.corpus_dir / "c.md"
    path.write_text("# Notes\n\nOwls hunt at night. Larks sing at dawn.\n\nBats fly at dusk.\n", encoding="utf-8")

    embedder = RecordingEmbedder()
    report = build_index(settings, embedder)
    after = load_index(settings.index_dir)

    assert (report.added, report.changed, report.removed, report.unchanged) == ((), ("c.md",), (), 2)
    assert report.index_id != first.index_id
    # only c.md's new passages and sentences were embedded ...
    old_hashes = set(before.passage_hashes)
    new_c_passages = [
        h for p, h in zip(after.passages, after.passage_hashes) if p.doc == "c.md" and h not in old_hashes
    ]
    assert report.passages_embedded == len(new_c_passages) >= 1
    assert report.passages_embedded < report.passages
    old_sentences = set(before.sentence_hashes)
    new_c_sentences = {
        h for s, h in zip(after.sentences, after.sentence_hashes) if s.doc == "c.md" and h not in old_sentences
    }
    assert report.sentences_embedded == len(new_c_sentences) == 1  # "Bats fly at dusk."
    c_title = after.documents["c.md"].title
    passage_texts = embedder.seen[: report.passages_embedded]
    assert all(text.startswith(c_title) for text in passage_texts)
    assert embedder.seen[report.passages_embedded :] == ["Bats fly at dusk."]
    # ... while a full build of the same corpus embeds every passage
    full = build_index(settings.with_(index_dir=settings.index_dir.parent / "full"), HashingEmbedder())
    assert full.passages_embedded == full.passages == report.passages
    assert full.sentences_embedded == report.sentences
    # the unchanged documents keep their very vectors
    for doc in ("a.txt", "b.txt"):
        old, new = vectors_of(before, doc), vectors_of(after, doc)
        assert old.keys() == new.keys()
        for passage_id in old:
            assert np.array_equal(old[passage_id], new[passage_id])


def test_reused_vectors_come_from_the_previous_snapshot_not_a_new_embedding(built):
    settings, _ = built
    before = load_index(settings.index_dir)

    class Shifted(HashingEmbedder):
        """Same fingerprint, different vectors: any re-embedded passage would show."""

        def embed(self, texts, progress=None):
            return np.roll(super().embed(texts, progress), 1, axis=1)

    (settings.corpus_dir / "b.txt").write_text(
        (settings.corpus_dir / "b.txt").read_text(encoding="utf-8") + "  4. Delta Group\n", encoding="utf-8"
    )
    build_index(settings, Shifted())
    after = load_index(settings.index_dir)
    for doc in ("a.txt", "c.md"):
        old, new = vectors_of(before, doc), vectors_of(after, doc)
        assert all(np.array_equal(old[k], new[k]) for k in old)
    changed_rows = [row for row, p in enumerate(after.passages) if p.doc == "b.txt"]
    assert not np.array_equal(
        after.passage_vectors[changed_rows[-1]],
        HashingEmbedder().embed([embedding_text(after.documents["b.txt"], after.passages[changed_rows[-1]])])[0],
    )


def test_unchanged_corpus_embeds_nothing(built):
    settings, _ = built
    embedder = RecordingEmbedder()
    report = build_index(settings, embedder)
    assert (report.added, report.changed, report.removed, report.unchanged) == ((), (), (), 3)
    assert (report.passages_embedded, report.sentences_embedded) == (0, 0)
    assert embedder.seen == []


def test_adding_and_removing_documents(built):
    settings, _ = built
    before = load_index(settings.index_dir)
    (settings.corpus_dir / "c.md").unlink()
    (settings.corpus_dir / "d.txt").write_text("Herons wade in the shallows.\n", encoding="utf-8")
    embedder = RecordingEmbedder()
    report = build_index(settings, embedder)
    assert (report.added, report.changed, report.removed, report.unchanged) == (("d.txt",), (), ("c.md",), 2)
    after = load_index(settings.index_dir)
    assert sorted(after.documents) == ["a.txt", "b.txt", "d.txt"]
    assert not any(p.doc == "c.md" for p in after.passages)
    assert not any(s.doc == "c.md" for s in after.sentences)
    assert embedder.seen == [
        "Herons wade in the shallows.\nHerons wade in the shallows.",
        "Herons wade in the shallows.",
    ]
    assert report.passages_embedded == 1 and report.sentences_embedded == 1
    for doc in ("a.txt", "b.txt"):
        old, new = vectors_of(before, doc), vectors_of(after, doc)
        assert all(np.array_equal(old[k], new[k]) for k in old)


def test_another_model_re_embeds_everything(built):
    settings, first = built
    report = build_index(settings, HashingEmbedder(dimension=32))
    assert report.passages_embedded == first.passages
    index = load_index(settings.index_dir)
    assert index.manifest["model"]["fingerprint"] == "hash32"
    assert index.passage_vectors.shape == (first.passages, 32)


# ----------------------------------------------------------------------------- atomic swap


def test_current_points_to_a_complete_snapshot(built):
    settings, report = built
    root = store.current_snapshot(settings.index_dir)
    assert root.name == report.index_id
    assert (settings.index_dir / "CURRENT").read_text(encoding="utf-8") == report.index_id + "\n"
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    assert all((root / name).is_file() for name in manifest["files"])
    assert not list(store.snapshots_dir(settings.index_dir).glob(".building-*"))


def test_a_build_that_dies_leaves_the_previous_snapshot_live(built, monkeypatch):
    settings, first = built
    (settings.corpus_dir / "a.txt").write_text("Entirely new text for the festival.\n", encoding="utf-8")

    def disk_full(index, path):
        raise OSError("No space left on device")

    monkeypatch.setattr(store.vectors, "save_vector_index", disk_full)
    with pytest.raises(OSError, match="No space left"):
        build_index(settings, HashingEmbedder())
    assert load_index(settings.index_dir).id == first.index_id
    # the failed write removed what it wrote (issue 14); a build killed outright leaves it to the next one
    assert not list(store.snapshots_dir(settings.index_dir).glob(".building-*"))

    monkeypatch.undo()
    report = build_index(settings, HashingEmbedder())
    assert report.changed == ("a.txt",)
    assert load_index(settings.index_dir).id == report.index_id
    assert not list(store.snapshots_dir(settings.index_dir).glob(".building-*"))


def test_old_snapshots_are_pruned(built):
    settings, first = built
    ids = [first.index_id]
    for text in ("Version two.\n", "Version three.\n"):
        (settings.corpus_dir / "a.txt").write_text(text, encoding="utf-8")
        ids.append(build_index(settings, HashingEmbedder()).index_id)
    # the live snapshot and the one it replaced (a reader may still hold it) are kept
    kept = sorted(p.name for p in store.snapshots_dir(settings.index_dir).iterdir())
    assert kept == sorted(ids[1:])


# ----------------------------------------------------------------------------- staleness


def test_fresh_index_is_not_stale(built):
    settings, _ = built
    assert staleness(load_index(settings.index_dir), settings, "hash64") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: (c / "a.txt").write_text("Edited.\n", encoding="utf-8"), r"\(changed a\.txt\)"),
        (lambda c: (c / "z.txt").write_text("New.\n", encoding="utf-8"), r"\(added z\.txt\)"),
        (lambda c: (c / "b.txt").unlink(), r"\(removed b\.txt\)"),
        (lambda c: (c / "catalog.toml").write_text("", encoding="utf-8"), r"\(changed catalog\.toml\)"),
    ],
)
def test_corpus_changes_make_the_index_stale(built, change, message):
    settings, _ = built
    index = load_index(settings.index_dir)
    change(settings.corpus_dir)
    reason = staleness(index, settings, "hash64")
    assert re.search(
        r"^corpus changed since the index was built " + message + r"; rebuild it with: hrqa index$", reason
    )


def test_another_model_makes_the_index_stale(built):
    settings, _ = built
    reason = staleness(load_index(settings.index_dir), settings, "0123456789abcdef")
    assert reason == (
        "index was built with model hashing-test (hash64), not the configured all-MiniLM-L6-v2; "
        "rebuild it with: hrqa index"
    )


def test_other_chunking_settings_make_the_index_stale(built):
    settings, _ = built
    reason = staleness(load_index(settings.index_dir), settings.with_(passage_sentences=6), "hash64")
    assert reason == "chunking settings changed since the index was built; rebuild it with: hrqa index"


# ----------------------------------------------------------------------------- damage


def test_missing_index_raises(tmp_path: Path):
    with pytest.raises(IndexMissingError, match=r"no index in .*nothing; build it with: hrqa index"):
        load_index(tmp_path / "nothing")


@pytest.mark.parametrize(
    "name",
    ["passages.npy", "documents.json", "documents.txt", "columns/passage_start.npy", "vectors.faiss", "sentences.npy"],
)
def test_a_damaged_file_fails_its_checksum(built, name: str):
    settings, _ = built
    path = store.current_snapshot(settings.index_dir) / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        IndexCorruptError,
        match=rf"index file .*{re.escape(name)} fails its checksum \(damaged\); "
        r"rebuild it with: hrqa index",
    ):
        load_index(settings.index_dir)


def test_a_missing_file_is_reported(built):
    settings, _ = built
    (store.current_snapshot(settings.index_dir) / "passages.npy").unlink()
    with pytest.raises(IndexCorruptError, match=r"index file .*passages\.npy is missing; rebuild it with: hrqa index"):
        load_index(settings.index_dir)


def test_unparseable_manifest_and_store(built):
    settings, _ = built
    root = store.current_snapshot(settings.index_dir)
    (root / "documents.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=r"cannot read index .*JSONDecodeError"):
        load_index(settings.index_dir, verify=False)
    (root / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=r"cannot read .*manifest\.json"):
        load_index(settings.index_dir)


def test_current_naming_a_missing_snapshot(built):
    settings, _ = built
    (settings.index_dir / "CURRENT").write_text("gone\n", encoding="utf-8")
    with pytest.raises(
        IndexCorruptError, match=r"CURRENT names a missing snapshot 'gone'; rebuild it with: hrqa index"
    ):
        load_index(settings.index_dir)


def test_another_format_version_is_stale(built):
    settings, _ = built
    path = store.current_snapshot(settings.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 0
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStaleError, match=r"has format 0, this hrqa reads format 2; rebuild it with: hrqa index"):
        load_index(settings.index_dir)


def test_a_damaged_index_is_rebuilt_in_full(built):
    settings, first = built
    (store.current_snapshot(settings.index_dir) / "passages.npy").write_bytes(b"junk")
    report = build_index(settings, HashingEmbedder())
    assert report.passages_embedded == first.passages
    assert report.added == ("a.txt", "b.txt", "c.md")  # nothing could be reused
    assert load_index(settings.index_dir).id == report.index_id


# ----------------------------------------------------------------------------- lock


def test_a_second_build_while_the_lock_is_held_is_refused(built):
    settings, first = built
    with build_lock(settings.index_dir):
        with pytest.raises(IndexBusyError, match=r"another rebuild of .* is running; wait for it to finish"):
            build_index(settings, HashingEmbedder())
        with pytest.raises(IndexBusyError), build_lock(settings.index_dir):
            pass
    assert load_index(settings.index_dir).id == first.index_id
    build_index(settings, HashingEmbedder())  # released: builds again


# ----------------------------------------------------------------------------- columns and lazy checksums


def test_documents_passages_and_sentences_are_memory_mapped_columns(built):
    settings, report = built
    root = store.current_snapshot(settings.index_dir)
    saved = json.loads((root / "documents.json").read_text(encoding="utf-8"))
    assert set(saved) == {*tables.DOCUMENT_FIELDS, "headings"}  # metadata columns: no texts, no passages
    assert saved["id"] == ["a.txt", "b.txt", "c.md"]
    index = load_index(settings.index_dir)
    assert isinstance(index.columns.sentence_start, np.memmap) and isinstance(index.passage_vectors, np.memmap)
    assert len(index.passages) == report.passages and len(index.sentences) == report.sentences
    passages = list(index.passages)
    assert index.passages[-1] == passages[-1] and index.passages[1:3] == passages[1:3]
    assert index.passages[::2] == passages[::2]
    with pytest.raises(IndexError):
        index.passages[len(passages)]
    assert index.passage_hashes[-1] == list(index.passage_hashes)[-1] and len(index.passage_hashes[0]) == 20
    # documents are made when read, from the texts file: as the corpus reader made them
    documents = index.documents
    assert isinstance(documents, tables.DocumentTable) and len(documents) == 3
    assert "b.txt" in documents and "nope.txt" not in documents and ["x"] not in documents
    assert list(documents) == ["a.txt", "b.txt", "c.md"]
    assert [d.id for d in documents.values()] == list(documents)
    with pytest.raises(KeyError):
        documents["nope.txt"]
    assert documents["c.md"] is documents["c.md"]  # made once


def test_passage_holding_is_the_first_passage_covering_the_sentence(built):
    settings, _ = built
    index = load_index(settings.index_dir)
    for sentence in index.sentences:
        walked = next(
            p
            for p in index.passages
            if p.doc == sentence.doc and p.first_sentence <= sentence.position <= p.last_sentence
        )
        assert index.passage_holding(sentence.doc, sentence.position) == walked
    assert index.passage_holding("a.txt", 999) is None
    assert index.passage_holding("no-such.txt", 0) is None


def test_a_snapshot_of_the_first_format_is_refused_and_rebuilt_in_full(built):
    """Format 1 kept documents, passages and sentences in store.json and tables.npz: never misread."""
    settings, first = built
    root = store.current_snapshot(settings.index_dir)
    (root / "store.json").write_text(json.dumps({"documents": [], "headings": []}), encoding="utf-8")
    (root / "tables.npz").write_bytes(b"PK")
    for name in ("documents.json", "documents.txt"):
        (root / name).unlink()
    shutil.rmtree(root / "columns")
    path = root / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(IndexStaleError, match=r"has format 1, this hrqa reads format 2; rebuild it with: hrqa index"):
        load_index(settings.index_dir)
    report = build_index(settings, HashingEmbedder())  # what `hrqa index` runs
    assert report.passages_embedded == first.passages  # nothing read from the old format
    assert load_index(settings.index_dir).manifest["format_version"] == store.FORMAT_VERSION


@pytest.mark.parametrize("name", ["sentences.npy", "passages.npy", "columns/sentence_hash.npy", "documents.txt"])
def test_a_large_file_is_checksummed_after_open_and_damage_stops_every_search(built, monkeypatch, name):
    from hrqa.backends.local import LocalBackend

    settings, _ = built
    monkeypatch.setattr(store, "VERIFY_AT_OPEN_BYTES", 0)  # every file counts as large
    assert load_index(settings.index_dir).wait_verified(timeout=60)  # intact: all checked, no error
    path = store.current_snapshot(settings.index_dir) / name
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # a hash digit or a float's low bit: only the checksum can tell
    path.write_bytes(bytes(data))
    index = load_index(settings.index_dir)  # opens: the checksum runs in the background
    damaged = rf"index file .*{re.escape(name)} fails its checksum \(damaged\); rebuild it with: hrqa index"
    with pytest.raises(IndexCorruptError, match=damaged):
        index.wait_verified(timeout=60)
    backend = LocalBackend(index)
    with pytest.raises(IndexCorruptError, match=damaged):
        backend.lexical_candidates("festival", 5)
    with pytest.raises(IndexCorruptError, match=damaged):
        backend.dense_candidates(np.ones(64, dtype=np.float32) / 8, 5)


def test_a_truncated_large_file_is_found_at_open_by_its_size(built, monkeypatch):
    settings, _ = built
    monkeypatch.setattr(store, "VERIFY_AT_OPEN_BYTES", 0)
    path = store.current_snapshot(settings.index_dir) / "sentences.npy"
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(IndexCorruptError, match=r"sentences\.npy fails its checksum \(damaged\)"):
        load_index(settings.index_dir)


def test_a_build_does_not_reuse_vectors_of_a_snapshot_that_fails_a_late_checksum(built, monkeypatch):
    settings, first = built
    monkeypatch.setattr(store, "VERIFY_AT_OPEN_BYTES", 0)
    path = store.current_snapshot(settings.index_dir) / "passages.npy"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    report = build_index(settings, HashingEmbedder())
    assert report.passages_embedded == first.passages  # nothing reused from the damaged snapshot
