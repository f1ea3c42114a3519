"""Settings: defaults, HRQA_* environment parsing, and bad values refused where they enter."""

from __future__ import annotations

from pathlib import Path

import pytest

from hrqa.errors import SettingsError
from hrqa.settings import DEFAULT_MODEL, IndexType, Settings


def test_defaults():
    settings = Settings()
    assert settings.corpus_dir == Path("seeds")
    assert settings.index_dir == Path("index")
    assert settings.model == DEFAULT_MODEL == "all-MiniLM-L6-v2"
    assert settings.index_type is IndexType.AUTO
    assert (settings.host, settings.port, settings.auth, settings.insecure) == ("127.0.0.1", 7860, None, False)
    assert settings.top_k == 5
    assert settings.chunking == {
        "sentence_rules": 2,
        "passage_sentences": 4,
        "passage_max_chars": 800,
        "passage_overlap": 1,
        "list_items_per_passage": 10,
        "max_sentence_chars": 3000,
    }


def test_from_env_with_no_variables_gives_the_defaults():
    assert Settings.from_env({}) == Settings()


def test_from_env_parses_each_type():
    settings = Settings.from_env(
        {
            "HRQA_PORT": "8123",
            "HRQA_HOST": "0.0.0.0",
            "HRQA_INSECURE": "yes",
            "HRQA_CORPUS_DIR": "/data/corpus",
            "HRQA_INDEX_DIR": "idx",
            "HRQA_INDEX_TYPE": "HNSW",
            "HRQA_TOP_K": "7",
            "HRQA_AUTH": "ana:secret",
            "HRQA_MODEL": "/models/mini",
            "UNRELATED": "ignored",
        }
    )
    assert settings.port == 8123
    assert settings.host == "0.0.0.0"
    assert settings.insecure is True
    assert settings.corpus_dir == Path("/data/corpus")
    assert settings.index_dir == Path("idx")
    assert settings.index_type is IndexType.HNSW
    assert settings.top_k == 7
    assert settings.auth == "ana:secret"
    assert settings.model == "/models/mini"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("ON", True), ("0", False), ("false", False), ("No", False), ("off", False)],
)
def test_boolean_spellings(raw, expected):
    assert Settings.from_env({"HRQA_INSECURE": raw}).insecure is expected


def test_empty_variable_is_ignored():
    assert Settings.from_env({"HRQA_PORT": ""}).port == 7860


def test_flags_override_the_environment_and_none_means_not_given():
    settings = Settings.from_env({"HRQA_PORT": "8000", "HRQA_CORPUS_DIR": "env"}, port=9000, corpus_dir=None)
    assert settings.port == 9000
    assert settings.corpus_dir == Path("env")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HRQA_PORT": "eighty"}, r"HRQA_PORT='eighty' is not an integer"),
        ({"HRQA_PORT": "0"}, r"port must be between 1 and 65535, got 0"),
        ({"HRQA_PORT": "70000"}, r"port must be between 1 and 65535, got 70000"),
        ({"HRQA_INSECURE": "maybe"}, r"HRQA_INSECURE='maybe' is not a boolean \(use 1/0, true/false\)"),
        ({"HRQA_INDEX_TYPE": "annoy"}, r"unknown index type 'annoy'; choose one of: auto, flat, hnsw, ivfpq"),
        ({"HRQA_TOP_K": "0"}, r"top_k must be a positive integer, got 0"),
        ({"HRQA_BATCH_SIZE": "-3"}, r"batch_size must be a positive integer, got -3"),
        ({"HRQA_AUTH": "nopassword"}, r"auth must look like user:password"),
        ({"HRQA_AUTH": ":secret"}, r"auth must look like user:password"),
    ],
)
def test_bad_environment_values_raise(environ, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"passage_sentences": 0}, r"passage_sentences must be a positive integer, got 0"),
        ({"passage_max_chars": True}, r"passage_max_chars must be a positive integer, got True"),
        ({"list_items_per_passage": 2.5}, r"list_items_per_passage must be a positive integer, got 2.5"),
        ({"passage_overlap": 4}, r"passage_overlap must be between 0 and passage_sentences - 1 \(3\), got 4"),
        ({"passage_overlap": -1}, r"passage_overlap must be between 0 and passage_sentences - 1 \(3\), got -1"),
        ({"index_type": "faiss"}, r"choose one of: auto, flat, hnsw, ivfpq"),
    ],
)
def test_bad_values_raise_at_construction(changes, message):
    with pytest.raises(SettingsError, match=message):
        Settings(**changes)


def test_settings_error_is_a_value_error():
    with pytest.raises(ValueError):
        Settings(top_k=0)


@pytest.mark.parametrize(
    ("raw", "expected"), [("flat", IndexType.FLAT), (" IVFPQ ", IndexType.IVFPQ), ("Auto", IndexType.AUTO)]
)
def test_index_type_from_str(raw, expected):
    assert IndexType.from_str(raw) is expected
    assert Settings(index_type=raw).index_type is expected


def test_paths_are_paths_and_with_changes_one_value():
    settings = Settings(corpus_dir="docs", index_dir="out")
    assert isinstance(settings.corpus_dir, Path) and isinstance(settings.index_dir, Path)
    changed = settings.with_(top_k=3)
    assert changed.top_k == 3 and changed.corpus_dir == Path("docs") and settings.top_k == 5
    with pytest.raises(SettingsError, match="top_k"):
        settings.with_(top_k=0)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_settings_from_args_maps_flags_and_skips_what_was_not_given():
    import argparse

    from hrqa.settings import settings_from_args

    args = argparse.Namespace(corpus="c", index_dir=None, model="m", port=8123, insecure=None, limit=3, json=True)
    settings = settings_from_args(args, {"HRQA_INDEX_DIR": "env-index", "HRQA_INSECURE": "1"})
    assert (settings.corpus_dir, settings.index_dir, settings.model) == (Path("c"), Path("env-index"), "m")
    assert (settings.port, settings.insecure) == (8123, True)
    assert settings_from_args(argparse.Namespace(), {}) == Settings()
    with pytest.raises(SettingsError, match="port must be between 1 and 65535, got 0"):
        settings_from_args(argparse.Namespace(port=0), {})
