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


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """Exported ONNX models go to a folder of this test session, never the user's ~/.cache: through
    XDG_CACHE_HOME, which child processes inherit (they drop HRQA_* variables, HRQA_CACHE_DIR too)."""
    import os

    home = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(home)
    os.environ.pop("HRQA_CACHE_DIR", None)
    yield home / "hrqa" / "onnx"
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


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


class HrqaCli:
    """Runs ``python -m hrqa.cli ARGS`` as a person would: its own process, no HRQA_* variables
    inherited from the environment (only those passed in ``env``)."""

    def __call__(
        self, *args, cwd: Path, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 300
    ):
        import os
        import subprocess
        import sys

        clean = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
        clean.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "hrqa.cli", *map(str, args)],
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            env=clean,
            timeout=timeout,
            check=False,
        )

    @staticmethod
    def error(result, *needles: str) -> str:
        """The one error line of a failed run; asserts a non-zero exit, no traceback, and ``needles`` in it."""
        assert result.returncode != 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("hrqa: error:")]
        assert len(errors) == 1, result.stderr
        assert result.stderr.rstrip("\n").endswith(errors[0]), result.stderr  # the last thing printed
        for needle in needles:
            assert needle in errors[0], (needle, errors[0])
        return errors[0]


@pytest.fixture(scope="session")
def hrqa_cli() -> HrqaCli:
    return HrqaCli()


@pytest.fixture(scope="session")
def check_contract():
    """A function asserting that one ``hrqa ask --json`` result keeps the JSON contract of issue 2:
    exact names and types, and every passage and answer sentence equal to ``text[start:end]`` of the
    document file in ``corpus``. Keys beyond the contract must be among the documented extras."""
    none = type(None)
    answer_keys = {
        "question": str,
        "abstained": bool,
        "answer": list,
        "citations": list,
        "index": dict,
        "timings_ms": dict,
    }
    answer_extras = {"searched": str, "confidence": float, "abstain_reason": (str, none)}
    sentence_keys = {"text": str, "citation": int, "doc": str, "start": int, "end": int}
    sentence_extras = {"cut": bool}  # a piece of a sentence over max_sentence_chars (issue 14)
    citation_keys = {
        "n": int,
        "doc": str,
        "title": str,
        "date": (str, none),
        "publisher": (str, none),
        "kind": (str, none),
        "start": int,
        "end": int,
        "passage": str,
        "score": (float, int),
    }
    citation_extras = {"highlights": list, "cut": bool}

    def keys(record: dict, required: dict, extras: dict) -> None:
        assert set(required) <= set(record), f"missing keys {set(required) - set(record)}"
        assert set(record) <= set(required) | set(extras), (
            f"unexpected keys {set(record) - set(required) - set(extras)}"
        )
        for key, kind in {**required, **extras}.items():
            if key in record:
                value = record[key]
                assert isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool), (key, value)

    def check(result: dict, corpus: Path) -> None:
        keys(result, answer_keys, answer_extras)
        keys(result["index"], {"id": str, "model": str}, {"reader": str})
        assert all(isinstance(v, (int, float)) for v in result["timings_ms"].values())
        numbers = [c["n"] for c in result["citations"]]
        assert numbers == list(range(1, len(numbers) + 1))
        for citation in result["citations"]:
            keys(citation, citation_keys, citation_extras)
            text = (corpus / citation["doc"]).read_text(encoding="utf-8")
            assert 0 <= citation["start"] < citation["end"] <= len(text)
            assert citation["passage"] == text[citation["start"] : citation["end"]]
        by_number = {c["n"]: c for c in result["citations"]}
        if result["abstained"]:
            assert result["answer"] == []
        for sentence in result["answer"]:
            keys(sentence, sentence_keys, sentence_extras)
            text = (corpus / sentence["doc"]).read_text(encoding="utf-8")
            assert sentence["text"] == text[sentence["start"] : sentence["end"]] != ""
            assert sentence["citation"] in by_number, f"citation [{sentence['citation']}] does not resolve"
            cited = by_number[sentence["citation"]]
            assert cited["doc"] == sentence["doc"]
            assert cited["start"] <= sentence["start"] < sentence["end"] <= cited["end"]

    return check
