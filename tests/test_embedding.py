"""Embedders: the deterministic fake, and the packaged MiniLM loaded offline (no network at any time)."""

from __future__ import annotations

import json
import logging
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from hrqa.embedding import (
    HashingEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
    resolve_model_path,
    weights_fingerprint,
)
from hrqa.errors import ModelError, SettingsError
from hrqa.settings import DEFAULT_MODEL

TEXTS = [
    "Professor Gong Xianghe was interviewed by the Global Times and China News Network.",
    "Owls hunt at night.",
    "The 23rd Informal ASEM Seminar on Human Rights was held in Copenhagen.",
    "短い文",
    "A much longer sentence about the human rights dialogue between China and the United States of America.",
]


# ----------------------------------------------------------------------------- the fake


def test_hashing_embedder_is_deterministic_and_normalised():
    first, second = HashingEmbedder(), HashingEmbedder()
    a, b = first.embed(TEXTS), second.embed(TEXTS)
    assert a.dtype == np.float32 and a.shape == (5, 64)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(first.embed_query(TEXTS[1]), a[1])
    assert first.fingerprint == second.fingerprint == "hash64"
    assert HashingEmbedder(dimension=32).fingerprint == "hash32"


def test_hashing_embedder_counts_and_reports_progress():
    embedder = HashingEmbedder(dimension=16)
    calls = []
    out = embedder.embed(TEXTS[:3], progress=lambda done, total: calls.append((done, total)))
    assert out.shape == (3, 16)
    assert calls == [(3, 3)]
    assert (embedder.calls, embedder.texts_embedded) == (1, 3)
    empty = embedder.embed([])
    assert empty.shape == (0, 16) and empty.dtype == np.float32


def test_hashing_embedder_similar_texts_are_closer():
    embedder = HashingEmbedder()
    q = embedder.embed_query("owls hunt")
    owls, seminar = embedder.embed([TEXTS[1], TEXTS[2]])
    assert q @ owls > q @ seminar


def test_empty_text_gives_a_zero_vector_not_nan():
    vector = HashingEmbedder().embed_query("!!!")
    assert not np.isnan(vector).any() and not vector.any()


# ----------------------------------------------------------------------------- the packaged model


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))
    return attempts


def test_the_no_network_guard_works(no_network):
    with socket.socket() as sock, pytest.raises(AssertionError, match="network access attempted"):
        sock.connect(("127.0.0.1", 9))
    assert no_network == [("127.0.0.1", 9)]
    no_network.clear()


@pytest.mark.slow
def test_packaged_model_loads_and_embeds_offline(no_network):
    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL, batch_size=2)
    assert embedder.dimension == 384
    progress = []
    vectors = embedder.embed(TEXTS, progress=lambda done, total: progress.append((done, total)))
    assert vectors.dtype == np.float32 and vectors.shape == (5, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert progress == [(2, 5), (4, 5), (5, 5)]
    # batches are sorted by length internally; rows still come back in input order
    for text, row in zip(TEXTS, vectors):
        query = embedder.embed_query(text)
        assert query.dtype == np.float32 and query.shape == (384,)
        assert np.allclose(query, row, atol=1e-4)
    # meaning, not just shape: a paraphrase is closer than an unrelated sentence
    paraphrase = embedder.embed_query("Which newspapers interviewed Gong Xianghe?")
    assert paraphrase @ vectors[0] > paraphrase @ vectors[1] + 0.2
    assert embedder.embed([]).shape == (0, 384)
    assert no_network == []


def test_packaged_model_path_and_fingerprint_are_stable():
    path = resolve_model_path(DEFAULT_MODEL)
    assert (path / "modules.json").exists()
    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL)
    assert embedder.path == path
    assert embedder.name == DEFAULT_MODEL
    assert embedder.dimension == 384  # read from the pooling config, without loading the model
    assert embedder._model is None
    fingerprint = embedder.fingerprint
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert SentenceTransformerEmbedder(DEFAULT_MODEL).fingerprint == fingerprint == weights_fingerprint(path)


def test_a_local_model_folder_is_accepted_by_path():
    path = resolve_model_path(DEFAULT_MODEL)
    embedder = load_embedder(str(path), batch_size=8)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert (embedder.name, embedder.batch_size, embedder.dimension) == (str(path), 8, 384)
    assert embedder.fingerprint == SentenceTransformerEmbedder(DEFAULT_MODEL).fingerprint


def test_fingerprint_changes_with_the_weights(tmp_path: Path):
    (tmp_path / "model.safetensors").write_bytes(b"weights one")
    first = weights_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"weights two")
    assert weights_fingerprint(tmp_path) != first


@pytest.mark.parametrize("name", ["sentence-transformers/all-mpnet-base-v2", "no/such/folder"])
def test_a_model_that_is_not_a_local_folder_raises(name: str):
    with pytest.raises(ModelError, match=r"is not a local sentence-transformers folder \(hrqa never downloads"):
        SentenceTransformerEmbedder(name)


def test_an_empty_folder_is_not_a_model(tmp_path: Path):
    with pytest.raises(ModelError, match=r"set HRQA_MODEL to such a folder or to all-MiniLM-L6-v2"):
        load_embedder(str(tmp_path))


@pytest.mark.slow
def test_a_broken_model_folder_raises_model_error(tmp_path: Path, no_network):
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match=r"cannot load model from .*"):
        SentenceTransformerEmbedder(str(tmp_path))
    with pytest.raises(ModelError, match=r"no weights \(\*\.safetensors or pytorch_model\.bin\) in "):
        weights_fingerprint(tmp_path)
    assert no_network == []


@pytest.mark.slow
def test_questions_and_passages_on_onnx_equal_sentence_transformers(model_cache: Path, no_network):
    """The ONNX Runtime vectors (questions and the build's batches) against sentence-transformers'."""
    embedder = SentenceTransformerEmbedder()
    assert embedder.cache_dir == model_cache
    questions = ["Which two media outlets interviewed Professor Gong Xianghe?", "日本ウイグル協会", "x " * 400, *TEXTS]
    reference = embedder._load().encode(questions, normalize_embeddings=True, convert_to_numpy=True)
    queries = np.stack([embedder.embed_query(question) for question in questions])
    assert queries.dtype == np.float32 and queries.shape == (len(questions), 384)
    assert np.abs(queries - reference).max() <= 1e-5
    assert np.abs(embedder.embed(questions) - reference).max() <= 1e-5  # the build path, batched and padded
    assert embedder.onnx_encoder() is not None and embedder.onnx_encoder().threads == embedder.threads
    assert no_network == []


@pytest.mark.slow
def test_a_model_that_is_not_a_mean_pooled_bert_runs_on_torch_said_once(tmp_path: Path, caplog):
    """A copy of MiniLM pooled by [CLS]: no ONNX export (its graph pools by mean), the torch vectors."""
    source = resolve_model_path(DEFAULT_MODEL)
    folder = tmp_path / "cls-model"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(source / "model.safetensors")
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    embedder = load_embedder(str(folder), cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="hrqa.embedding"):
        first = embedder.embed_query(TEXTS[0])
        second = embedder.embed_query(TEXTS[1])
        load_embedder(str(folder), cache_dir=tmp_path / "cache").embed_query(TEXTS[2])
    reference = embedder._load().encode(TEXTS[:2], normalize_embeddings=True)
    assert np.abs(np.stack([first, second]) - reference).max() <= 1e-6
    said = [r.getMessage() for r in caplog.records if "runs on torch" in r.getMessage()]
    assert said == [
        f"model {folder} runs on torch, not ONNX Runtime: pooling ['pooling_mode_cls_token'], not mean tokens"
    ]
    assert not (tmp_path / "cache").exists()


def test_threads_must_be_positive(tmp_path: Path):
    with pytest.raises(ModelError, match="threads must be a positive integer, got 0"):
        SentenceTransformerEmbedder(threads=0, cache_dir=tmp_path)


def test_threads_and_cache_dir_come_from_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HRQA_THREADS", "3")
    monkeypatch.setenv("HRQA_CACHE_DIR", str(tmp_path / "models"))
    embedder = SentenceTransformerEmbedder()
    assert (embedder.threads, embedder.cache_dir) == (3, tmp_path / "models")
    assert SentenceTransformerEmbedder(threads=1, cache_dir=tmp_path).threads == 1
    monkeypatch.setenv("HRQA_THREADS", "none")
    with pytest.raises(SettingsError, match="HRQA_THREADS='none' is not an integer"):
        SentenceTransformerEmbedder()


# Imports the question path must not make: each costs seconds of a cold `hrqa ask`.
HEAVY = ("torch", "sentence_transformers", "transformers")


@pytest.mark.slow
def test_ask_imports_neither_torch_nor_sentence_transformers(real_engine):
    """A fresh `hrqa ask` (the ONNX export cached by the session's index build) answers on ONNX Runtime."""
    import subprocess
    import sys

    settings = real_engine.settings
    code = (
        "import sys; from hrqa.cli import main; "
        f"code = main(['ask', '--corpus', {str(settings.corpus_dir)!r}, '--index-dir', {str(settings.index_dir)!r}, "
        "'Which two media outlets interviewed Professor Gong Xianghe?']); "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not loaded, f'imported: {loaded}'; sys.exit(code)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "the Global Times and China News Network" in result.stdout
    assert "ONNX" not in result.stderr  # nothing exported, nothing rebuilt: the cache was used


@pytest.mark.slow
def test_embed_query_imports_neither_torch_nor_sentence_transformers(real_engine):
    import subprocess
    import sys

    code = (
        "import sys; from hrqa.embedding import load_embedder; "
        "v = load_embedder('all-MiniLM-L6-v2').embed_query('Owls hunt at night.'); "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not loaded, f'imported: {loaded}'; assert v.shape == (384,)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
