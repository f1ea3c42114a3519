"""Shared fixtures: tiny corpora in tmp_path with a fake embedder (fast), and one real index over
the seeds with the packaged MiniLM model (built once per test session)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hrqa.embedding import HashingEmbedder
from hrqa.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Three small documents: prose with a wrapped line, a list under a heading, a repeated nav line."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(
        "Menu Home About Contact Us\n\nThe river festival was held in Lyon.\nIt lasted three\ndays in June.\n\n"
        "The mayor opened it.\n",
        encoding="utf-8",
    )
    (folder / "b.txt").write_text(
        "Menu Home About Contact Us\n\nSignatories of the letter:\n\n  1. Acme Union\n  2. Beta Watch (Japan)\n"
        "  3. Gamma League\n",
        encoding="utf-8",
    )
    (folder / "c.md").write_text("# Notes\n\nOwls hunt at night. Larks sing at dawn.\n", encoding="utf-8")
    (folder / "catalog.toml").write_text(
        '["a.txt"]\ntitle = "River festival"\ndate = "2024-06-01"\npublisher = "City Hall"\nkind = "government"\n',
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def fake_embedder() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture
def tiny_settings(tiny_corpus: Path, tmp_path: Path) -> Settings:
    return Settings(corpus_dir=tiny_corpus, index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def seeds_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("seeds") / "seeds"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture(scope="session")
def real_engine(seeds_copy: Path, tmp_path_factory):
    """The real pipeline (packaged MiniLM) over a copy of the seeds; built once per session."""
    from hrqa.engine import Engine

    settings = Settings(corpus_dir=seeds_copy, index_dir=tmp_path_factory.mktemp("index") / "index")
    return Engine.open(settings, build="missing")


@pytest.fixture(scope="session")
def dev_questions() -> list[dict]:
    with (DATA / "dev.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
