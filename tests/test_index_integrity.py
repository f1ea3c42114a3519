"""A missing, damaged, foreign or outdated index is a clear error that names the rebuild (issue 5).

Damage is found by the checksums the manifest keeps of every snapshot file. Library cases use the fast
fake embedder; the ``hrqa`` cases run the command in its own process (the index is built with the fake
embedder, which for the command is "another model").
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from hrqa import store
from hrqa.embedding import HashingEmbedder
from hrqa.engine import Engine
from hrqa.errors import IndexCorruptError, IndexMissingError, IndexStaleError
from hrqa.settings import Settings

REBUILD = "hrqa index"
#: the snapshot files whose damage must be detected (bm25/ holds several more)
DAMAGEABLE = [
    "vectors.faiss",
    "documents.json",
    "documents.txt",
    "columns/passage_start.npy",
    "passages.npy",
    "sentences.npy",
    "bm25/params.index.json",
    "bm25/data.csc.index.npy",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A corpus and an index built from it with the fake embedder; tests damage copies of it."""
    root = tmp_path_factory.mktemp("pristine")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text(
        "The river festival was held in Lyon.\nIt lasted three\ndays in June.\n", encoding="utf-8"
    )
    (corpus / "b.md").write_text("# Notes\n\nOwls hunt at night. Larks sing at dawn.\n", encoding="utf-8")
    store.build_index(Settings(corpus_dir=corpus, index_dir=root / "index"), HashingEmbedder())
    return root


@pytest.fixture
def copy(pristine: Path, tmp_path: Path) -> Settings:
    shutil.copytree(pristine / "corpus", tmp_path / "corpus")
    shutil.copytree(pristine / "index", tmp_path / "index")
    return Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")


def live(settings: Settings) -> Path:
    return store.current_snapshot(settings.index_dir)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))


def delete(path: Path) -> None:
    path.unlink()


def test_the_damageable_files_are_checksummed(copy: Settings) -> None:
    manifest = json.loads((live(copy) / "manifest.json").read_text(encoding="utf-8"))
    assert set(DAMAGEABLE) <= set(manifest["files"])
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in manifest["files"].values())


# ----------------------------------------------------------------------------- missing


def test_a_missing_index_names_the_build_command(tiny_settings: Settings) -> None:
    with pytest.raises(IndexMissingError, match=f"no index in .*index; build it with: {REBUILD}"):
        Engine.open(tiny_settings, embedder=HashingEmbedder())


def test_an_index_folder_without_a_snapshot_is_missing(copy: Settings) -> None:
    (copy.index_dir / "CURRENT").unlink()
    with pytest.raises(IndexMissingError, match=REBUILD):
        Engine.open(copy, embedder=HashingEmbedder())


# ----------------------------------------------------------------------------- damaged


@pytest.mark.parametrize("damage", [truncate, flip_a_byte, delete])
@pytest.mark.parametrize("name", DAMAGEABLE)
def test_a_damaged_file_is_named_with_the_rebuild(copy: Settings, name: str, damage) -> None:
    damage(live(copy) / name)
    with pytest.raises(IndexCorruptError, match=rf"{re.escape(name)} (fails its checksum|is missing).*{REBUILD}"):
        Engine.open(copy, embedder=HashingEmbedder())


@pytest.mark.parametrize(
    "manifest",
    ['{"format_version": 2, "id": "x"', "", "\x00\x01binary", "[1, 2, 3]", '{"format_version": 2, "id": "x"}'],
    ids=["truncated", "empty", "binary", "not-an-object", "missing-keys"],
)
def test_a_damaged_manifest_is_named_with_the_rebuild(copy: Settings, manifest: str) -> None:
    (live(copy) / "manifest.json").write_text(manifest, encoding="utf-8")
    with pytest.raises(IndexCorruptError, match=rf"manifest\.json.*{REBUILD}"):
        Engine.open(copy, embedder=HashingEmbedder())


@pytest.mark.parametrize(
    "pointer",
    ["nonexistent-id\n", "", "..", ".building-x", "../../etc", b"\xff\xfe\x00"],
    ids=["unknown", "empty", "dot-dot", "unfinished", "escape", "binary"],
)
def test_a_damaged_current_pointer_is_named_with_the_rebuild(copy: Settings, pointer) -> None:
    (copy.index_dir / "snapshots" / ".building-x").mkdir()
    current = copy.index_dir / "CURRENT"
    current.write_bytes(pointer if isinstance(pointer, bytes) else pointer.encode())
    with pytest.raises(IndexCorruptError, match=rf"CURRENT.*{REBUILD}"):
        Engine.open(copy, embedder=HashingEmbedder())


def test_the_rebuild_it_names_fixes_a_damaged_index(copy: Settings) -> None:
    truncate(live(copy) / "vectors.faiss")
    with pytest.raises(IndexCorruptError):
        Engine.open(copy, embedder=HashingEmbedder())
    report = store.build_index(copy, HashingEmbedder())  # what `hrqa index` runs
    assert report.passages_embedded == report.passages  # nothing reused from the damaged snapshot
    engine = Engine.open(copy, embedder=HashingEmbedder())
    assert engine.index.id == report.index_id
    assert any("Lyon" in s.text for s in engine.ask("Where was the river festival held?").sentences)


def test_open_with_build_missing_rebuilds_a_damaged_index(copy: Settings) -> None:
    flip_a_byte(live(copy) / "documents.json")
    engine = Engine.open(copy, embedder=HashingEmbedder(), build="missing")
    assert store.load_index(copy.index_dir).id == engine.index.id


# ----------------------------------------------------------------------------- another model, older format


def test_an_index_built_with_another_model_is_stale(copy: Settings) -> None:
    with pytest.raises(IndexStaleError, match=rf"built with model hashing-test \(hash64\).*{REBUILD}"):
        Engine.open(copy, embedder=HashingEmbedder(dimension=32))


def test_the_rebuild_fixes_an_index_of_another_model(copy: Settings) -> None:
    other = HashingEmbedder(dimension=32)
    report = store.build_index(copy, other)
    assert report.passages_embedded == report.passages  # vectors of another model are never reused
    assert Engine.open(copy, embedder=other).index.manifest["model"]["dimension"] == 32


@pytest.mark.parametrize("version", [0, 1, None, "2", 3])
def test_an_index_of_another_format_version_is_stale(copy: Settings, version) -> None:
    path = live(copy) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = version
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(
        IndexStaleError,
        match=rf"has format {re.escape(repr(version))}, this hrqa reads format "
        rf"{store.FORMAT_VERSION}; rebuild it with: {REBUILD}",
    ):
        Engine.open(copy, embedder=HashingEmbedder())
    store.build_index(copy, HashingEmbedder())
    assert Engine.open(copy, embedder=HashingEmbedder()).index.manifest["format_version"] == store.FORMAT_VERSION


# ----------------------------------------------------------------------------- the command line


def _ask(hrqa_cli, settings: Settings):
    return hrqa_cli(
        "ask",
        "--corpus",
        settings.corpus_dir,
        "--index-dir",
        settings.index_dir,
        "Where was the festival?",
        cwd=settings.index_dir.parent,
    )


@pytest.mark.slow
def test_cli_missing_index(hrqa_cli, copy: Settings) -> None:
    shutil.rmtree(copy.index_dir)
    result = _ask(hrqa_cli, copy)
    assert result.returncode == 2
    hrqa_cli.error(result, "no index in", REBUILD)
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vectors.faiss", "documents.txt", "passages.npy"])
def test_cli_damaged_index_names_the_file_and_the_rebuild(hrqa_cli, copy: Settings, name: str) -> None:
    truncate(live(copy) / name)
    result = _ask(hrqa_cli, copy)
    assert result.returncode == 2
    hrqa_cli.error(result, name, "fails its checksum", REBUILD)
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_cli_index_of_another_model(hrqa_cli, copy: Settings) -> None:
    result = _ask(hrqa_cli, copy)  # built with the fake embedder, asked with the packaged MiniLM
    assert result.returncode == 2
    hrqa_cli.error(result, "built with model hashing-test", REBUILD)


@pytest.mark.slow
def test_cli_index_of_an_older_format(hrqa_cli, copy: Settings) -> None:
    path = live(copy) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format_version"] = 0
    path.write_text(json.dumps(manifest), encoding="utf-8")
    result = _ask(hrqa_cli, copy)
    assert result.returncode == 2
    hrqa_cli.error(result, "has format 0", REBUILD)
