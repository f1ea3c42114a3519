"""ONNX Runtime: the export cache (atomic, checksummed, rebuilt when damaged), the sessions, and the
real MiniLM export (slow) against sentence-transformers."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrqa import onnx_runtime
from hrqa.embedding import SentenceTransformerEmbedder, resolve_model_path
from hrqa.errors import ModelError, SettingsError
from hrqa.settings import DEFAULT_MODEL, Settings
from hrqa.snapshot import file_sha256


class FakeExport:
    """Writes a few bytes as ``model.onnx``, counting its calls; ``fail`` makes it raise half-way."""

    def __init__(self, payload: bytes = b"not really onnx", fail: bool = False) -> None:
        self.payload, self.fail, self.calls = payload, fail, 0

    def __call__(self, target: Path) -> dict:
        self.calls += 1
        target.write_bytes(self.payload[:3])
        if self.fail:
            raise ModelError("export failed half-way")
        target.write_bytes(self.payload)
        return {"format": "fake"}


def test_cached_export_writes_once_then_reuses(tmp_path: Path, caplog):
    export = FakeExport()
    with caplog.at_level(logging.WARNING, logger="hrqa.onnx_runtime"):
        folder = onnx_runtime.cached_export(tmp_path / "cache", "abc-v1", export, "the fake model")
        again = onnx_runtime.cached_export(tmp_path / "cache", "abc-v1", export, "the fake model")
    assert folder == again == tmp_path / "cache" / "abc-v1"
    assert export.calls == 1
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.onnx"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["bytes"] == len(export.payload) and meta["format"] == "fake" and meta["key"] == "abc-v1"
    assert meta["sha256"] == file_sha256(folder / "model.onnx")
    assert [r.getMessage() for r in caplog.records] == [
        f"exporting the fake model to ONNX once (about 10 s; later runs reuse {folder})"
    ]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["abc-v1"]  # no scratch left


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda f: (f / "model.onnx").write_bytes(b"not really"), "model.onnx has 10 bytes, 15 expected"),
        (lambda f: (f / "model.onnx").write_bytes(b"NOT REALLY ONNX"), "model.onnx fails its sha256"),
        (lambda f: (f / "model.onnx").unlink(), "model.onnx missing"),
        (lambda f: (f / "meta.json").write_text("{"), "meta.json unreadable (JSONDecodeError)"),
        (lambda f: (f / "meta.json").unlink(), "meta.json unreadable (FileNotFoundError)"),
    ],
    ids=["truncated", "bytes changed", "model missing", "meta broken", "meta missing"],
)
def test_a_damaged_cached_export_is_detected_and_rebuilt_with_one_line(tmp_path: Path, caplog, damage, problem):
    export = FakeExport()
    folder = onnx_runtime.cached_export(tmp_path, "key", export, "the fake model")
    damage(folder)
    assert onnx_runtime.cached_file_problem(folder) == problem
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="hrqa.onnx_runtime"):
        assert onnx_runtime.cached_export(tmp_path, "key", export, "the fake model") == folder
    assert export.calls == 2
    assert onnx_runtime.cached_file_problem(folder) is None
    assert [r.getMessage() for r in caplog.records] == [
        f"the cached ONNX export of the fake model in {folder} is damaged ({problem}); exporting it again"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


def test_a_failed_export_leaves_nothing_that_looks_usable(tmp_path: Path):
    with pytest.raises(ModelError, match="export failed half-way"):
        onnx_runtime.cached_export(tmp_path, "key", FakeExport(fail=True), "the fake model")
    assert list(tmp_path.iterdir()) == []
    export = FakeExport()
    onnx_runtime.cached_export(tmp_path, "key", export, "the fake model")
    assert export.calls == 1


def test_an_unwritable_cache_names_the_setting(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ModelError, match=r"cannot create the model cache .*; set HRQA_CACHE_DIR to a writable folder"):
        onnx_runtime.cached_export(blocker / "cache", "key", FakeExport(), "the fake model")


def test_inference_session_refuses_bad_threads_and_files(tmp_path: Path):
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        onnx_runtime.inference_session(tmp_path / "m.onnx", 0)
    (tmp_path / "m.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelError, match=r"cannot load the ONNX model .*m\.onnx"):
        onnx_runtime.inference_session(tmp_path / "m.onnx", 1)


def test_inference_session_settings(tmp_path: Path):
    """A two-node graph built with onnx.helper: the session runs it with the requested options."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "relu.onnx")
    session = onnx_runtime.inference_session(tmp_path / "relu.onnx", 2)
    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (2, 1)
    # threads sleep between calls: the encoder's and the reader's pools do not spin against each other
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]
    np.testing.assert_array_equal(session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0], [0.0, 2.0])


def _folder(tmp_path: Path, config: dict, modules: list[str], pooling: dict, tokenizer: bool = True) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modules.json").write_text(
        json.dumps([{"path": f"{i}_{m}" if m == "Pooling" else "", "type": f"x.{m}"} for i, m in enumerate(modules)])
    )
    (tmp_path / "1_Pooling").mkdir(exist_ok=True)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    if tokenizer:
        (tmp_path / "tokenizer.json").write_text("{}")
    return tmp_path


MEAN = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}


@pytest.mark.parametrize(
    ("config", "modules", "pooling", "tokenizer", "problem"),
    [
        ({"model_type": "bert"}, ["Transformer", "Pooling", "Normalize"], MEAN, True, None),
        ({"model_type": "bert"}, ["Transformer", "Pooling"], MEAN, True, None),
        ({"model_type": "roberta"}, ["Transformer", "Pooling"], MEAN, True, "model type 'roberta', not bert"),
        (
            {"model_type": "bert"},
            ["Transformer", "Pooling", "Dense"],
            MEAN,
            True,
            "modules ['Transformer', 'Pooling', 'Dense'], not Transformer, Pooling, Normalize",
        ),
        (
            {"model_type": "bert"},
            ["Transformer", "Pooling"],
            {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
            True,
            "pooling ['pooling_mode_max_tokens', 'pooling_mode_mean_tokens'], not mean tokens",
        ),
        ({"model_type": "bert"}, ["Transformer", "Pooling"], MEAN, False, "no tokenizer.json"),
    ],
)
def test_which_folders_export_as_a_sentence_encoder(tmp_path: Path, config, modules, pooling, tokenizer, problem):
    folder = _folder(tmp_path, config, modules, pooling, tokenizer)
    assert onnx_runtime.sentence_encoder_problem(folder) == problem


def test_a_folder_without_modules_is_not_a_sentence_encoder(tmp_path: Path):
    assert onnx_runtime.sentence_encoder_problem(tmp_path).startswith("not a sentence-transformers folder")


def test_the_default_cache_is_under_the_user_cache_and_follows_the_environment(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("HRQA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings().cache_dir == tmp_path / "xdg" / "hrqa" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert Settings().cache_dir == Path.home() / ".cache" / "hrqa" / "onnx"
    assert Settings.from_env({"HRQA_CACHE_DIR": str(tmp_path / "m")}).cache_dir == tmp_path / "m"
    assert Settings.from_env({"HRQA_THREADS": "2"}).threads == 2
    assert Settings.from_env({"HRQA_THREADS_ALONE": "4"}).threads_alone == 4
    with pytest.raises(SettingsError, match="threads_alone must be a positive integer"):
        Settings(threads_alone=0)


def test_a_graph_without_bert_attention_is_not_fused(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    plain = tmp_path / "plain.onnx"
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), plain)
    assert onnx_runtime.fuse_bert(plain, heads=2, hidden=4) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.onnx"]
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    assert onnx_runtime.fuse_bert(tmp_path / "broken.onnx", heads=2, hidden=4) is None


def test_a_call_alone_gets_its_threads_and_overlapping_calls_get_theirs():
    calls = onnx_runtime.QuestionCalls()
    with calls.call(alone=2, overlapping=1) as first:
        assert first == 2
        with calls.call(alone=2, overlapping=1) as second:  # another question's call meanwhile
            assert second == 1
    with calls.call(alone=2, overlapping=1) as later:  # both finished: alone again
        assert later == 2


def test_a_call_that_fails_is_no_longer_counted():
    calls = onnx_runtime.QuestionCalls()
    with pytest.raises(RuntimeError), calls.call(alone=2, overlapping=1):
        raise RuntimeError("the model failed")
    with calls.call(alone=2, overlapping=1) as threads:
        assert threads == 2


# ----------------------------------------------------------------------------- the real model (slow)


@pytest.mark.slow
def test_the_real_export_matches_torch_and_a_truncated_file_is_rebuilt(model_cache: Path, tmp_path: Path, caplog):
    """Export MiniLM into the session cache (or find it there), copy it, truncate the copy: the next
    question finds the damage, says so in one line, exports again and answers with the same vector."""
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache)
    expected = embedder.embed_query("Owls hunt at night.")
    key = f"{embedder.fingerprint}-{onnx_runtime.SENTENCE_ENCODER_FORMAT}"
    meta = onnx_runtime.read_meta(model_cache / key)
    assert meta["max_abs_difference_to_torch"] <= onnx_runtime.EXPORT_TOLERANCE
    assert meta["verified_texts"] == len(onnx_runtime.VERIFY_TEXTS) and meta["max_length"] == 256
    # ONNX Runtime's BERT fusions took: one attention operator for each of MiniLM's 6 layers
    assert meta["fused_operators"]["Attention"] == 6

    cache = tmp_path / "cache"
    shutil.copytree(model_cache / key, cache / key)
    model = cache / key / "model.onnx"
    with model.open("r+b") as handle:
        handle.truncate(model.stat().st_size // 2)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = SentenceTransformerEmbedder(cache_dir=cache).embed_query("Owls hunt at night.")
    np.testing.assert_allclose(again, expected, atol=1e-6)
    messages = [r.getMessage() for r in caplog.records if "ONNX" in r.getMessage()]
    assert len(messages) == 1 and "is damaged (model.onnx has" in messages[0] and "exporting it again" in messages[0]
    assert onnx_runtime.cached_file_problem(cache / key) is None
    assert model.stat().st_size == meta["bytes"]


@pytest.mark.slow
def test_a_cached_file_that_passes_its_checksum_but_does_not_load_is_exported_again(model_cache, tmp_path, caplog):
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache)
    embedder.embed_query("warm")
    key = f"{embedder.fingerprint}-{onnx_runtime.SENTENCE_ENCODER_FORMAT}"
    folder = tmp_path / key
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"garbage that is not a graph")
    meta = onnx_runtime.read_meta(model_cache / key)
    meta.update(bytes=27, sha256=file_sha256(folder / "model.onnx"))
    (folder / "meta.json").write_text(json.dumps(meta))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        vector = SentenceTransformerEmbedder(cache_dir=tmp_path).embed_query("Owls hunt at night.")
    assert vector.shape == (384,)
    assert any("does not load" in r.getMessage() for r in caplog.records)
    assert onnx_runtime.cached_file_problem(folder) is None and (folder / "model.onnx").stat().st_size > 1e6


@pytest.mark.slow
def test_the_query_encoder_uses_more_threads_only_when_no_other_call_runs(model_cache: Path):
    embedder = SentenceTransformerEmbedder(cache_dir=model_cache, threads=1, threads_alone=2)
    alone = embedder.embed_query("Owls hunt at night.")
    with onnx_runtime.QUESTION_CALLS.call(alone=2, overlapping=1):  # another question's reader, say
        overlapped = embedder.embed_query("Owls hunt at night.")
    assert {t: e.session.get_session_options().intra_op_num_threads for t, e in embedder._encoders.items()} == {
        2: 2,
        1: 1,
    }
    np.testing.assert_allclose(alone, overlapped, atol=1e-6)


def test_packaged_model_is_a_sentence_encoder():
    assert onnx_runtime.sentence_encoder_problem(resolve_model_path(DEFAULT_MODEL)) is None
    assert os.path.basename(onnx_runtime.MODEL_FILE) == "model.onnx"
