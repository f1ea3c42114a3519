"""The reader: first stage, probabilities, the shipped ONNX model, and a seconds-long run of training."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hrqa import reader
from hrqa.errors import ModelError
from hrqa.reader_data import Group, write_groups


def test_first_stage_fuses_ranks_and_keeps_the_limit():
    dense = np.array([0.9, 0.1, 0.5, 0.4])
    lexical = np.array([0.0, 1.0, 0.6, 0.5])
    # ranks: dense 0,3,1,2 ; lexical 3,0,1,2 -> candidate 2 (1+1) leads, then 0 and 1 tie (0+3), 3 last
    assert reader.first_stage(dense, lexical, 3).tolist() == [2, 0, 1]
    assert reader.first_stage(np.zeros(0), np.zeros(0), 5).tolist() == []


def test_first_stage_can_fuse_the_rank_of_each_sentence_s_passage():
    dense = np.array([0.9, 0.8, 0.1])
    lexical = np.array([0.1, 0.2, 0.9])
    # dense ranks 0,1,2 and lexical 2,1,0: candidates 0 and 2 tie, the earlier first
    assert reader.first_stage(dense, lexical, 3).tolist() == [0, 2, 1]
    # candidate 2's passage came first in retrieval, candidate 0's last: that breaks the tie and lifts 1
    assert reader.first_stage(dense, lexical, 3, passage_rank=np.array([2, 1, 0])).tolist() == [2, 1, 0]


def test_a_smaller_rrf_constant_lets_one_signal_s_top_rank_count_for_more():
    dense = np.array([0.9, 0.8, 0.1, 0.0])
    lexical = np.array([0.0, 0.8, 0.9, 0.1])
    # candidate 0: dense rank 0, lexical rank 3; candidate 1: rank 1 in both
    assert reader.first_stage(dense, lexical, 4, rrf_k=reader.FIRST_STAGE_RRF_K).tolist() == [2, 1, 0, 3]
    assert reader.first_stage(dense, lexical, 4, rrf_k=1).tolist() == [2, 0, 1, 3]


def test_softmax_with_null_sums_to_one_and_orders_like_the_logits():
    scores = reader.softmax_with_null(np.array([2.0, 0.0, -1.0]), null_logit=1.0)
    assert scores.answer.sum() + scores.no_answer == pytest.approx(1.0)
    assert scores.answer[0] > scores.no_answer > scores.answer[1] > scores.answer[2]
    assert reader.softmax_with_null(np.zeros(0), 0.0).no_answer == pytest.approx(1.0)


def test_idf_overlap_is_the_share_of_question_weight_found():
    weights = {"japan": 3.0, "parti": 1.0}
    assert reader.idf_overlap({"japan", "parti"}, {"parti", "other"}, weights.get) == pytest.approx(0.25)
    assert reader.idf_overlap(set(), {"parti"}, weights.get) == 0.0


def test_a_reader_folder_without_its_files_is_refused(tmp_path: Path):
    with pytest.raises(ModelError, match="lacks model.onnx"):
        reader.OnnxReader(tmp_path)


@pytest.mark.slow
def test_the_shipped_reader_prefers_the_answering_sentence_and_abstains_on_off_topic():
    shipped = reader.load_reader()
    assert len(shipped.fingerprint) == 16
    question = "Which two media outlets interviewed Professor Gong Xianghe?"
    sentences = [
        "The forum was held at Southwest University of Political Science and Law.",
        "After the conference, Professor Gong Xianghe was interviewed by the Global Times and China News Network.",
        "Professor Gong Xianghe attended the forum.",
    ]
    scores = shipped.score(question, sentences)
    assert int(np.argmax(scores.answer)) == 1
    assert scores.no_answer < 0.5
    off_topic = shipped.score("What is the boiling point of mercury?", sentences)
    assert off_topic.no_answer > scores.no_answer


@pytest.mark.slow
def test_the_shipped_reader_has_a_model_card_with_its_fingerprint():
    card = (reader.READER_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert reader.load_reader().fingerprint in card
    assert (reader.READER_DIR / "model.onnx").stat().st_size <= 50 * 1024 * 1024


def _tiny_training_data(work: Path) -> None:
    groups = [
        Group("Where was the festival held?", ("It was held in Lyon.", "Owls hunt at night."), (True, False), "t"),
        Group(
            "Who opened it?", ("The mayor opened it.", "Larks sing at dawn.", "It rained."), (True, False, False), "t"
        ),
        Group("What do cats eat?", ("Owls hunt at night.",), (False,), "t"),
        Group("When was it?", ("It lasted three days in June.", "Lyon is a city."), (True, False), "t"),
    ]
    write_groups(groups, work / "train.jsonl")
    write_groups(groups[:2], work / "validation.jsonl")


def test_training_smoke_run_exports_a_reader_and_resumes(tmp_path: Path):
    pytest.importorskip("torch")
    from hrqa.reader_training import TrainingConfig, train

    work, out = tmp_path / "work", tmp_path / "reader"
    work.mkdir()
    _tiny_training_data(work)
    config = TrainingConfig(base="tiny", epochs=1, batch_pairs=4, checkpoint_every=1, threads=1, max_length=32)
    result = train(work, out, config, max_steps=2)
    assert result["chosen"] in {"fp32", "int8"}
    assert result["fused_operators"]["Attention"] == 2  # one fused attention operator per layer
    if result["chosen"] == "int8":  # quantised with reduce_range: no CPU saturates its products
        import onnx

        from hrqa.reader_export import SATURATION_FREE_PEAK, widest_integer_weight

        assert 0 < widest_integer_weight(onnx.load(str(out / "model.onnx"))) <= SATURATION_FREE_PEAK
    assert {"first_sentence", "recall", "best_threshold"} <= set(result["validation"])
    trained = reader.OnnxReader(out)
    scores = trained.score("Where was the festival held?", ["It was held in Lyon.", "Owls hunt at night."])
    assert scores.answer.shape == (2,) and scores.answer.sum() + scores.no_answer == pytest.approx(1.0, abs=1e-5)
    events = [json.loads(line)["event"] for line in (work / "train-log.jsonl").read_text().splitlines()]
    assert events[0] == "start" and "exported" in events
    # a second run with more steps resumes from the checkpoint rather than starting again
    train(work, out, TrainingConfig(**config.__dict__), max_steps=3)
    log = [json.loads(line) for line in (work / "train-log.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resumed" and e["step"] >= 2 for e in log)


def test_training_picks_its_device_and_a_checkpoint_moves_between_devices():
    torch = pytest.importorskip("torch")
    from hrqa.reader_training import TrainingConfig, same_config, training_device

    assert training_device("cpu") == "cpu"
    assert training_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        training_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            training_device("cuda")
    # a run trained on a GPU resumes (and exports) on a CPU: the device is not part of its identity
    gpu_run = TrainingConfig(base="tiny", device="cuda").__dict__
    assert same_config(gpu_run, TrainingConfig(base="tiny", device="cpu"))
    assert not same_config(gpu_run, TrainingConfig(base="tiny", device="cpu", seed=99))


def test_training_loss_prefers_the_answer_and_the_null_option():
    torch = pytest.importorskip("torch")
    from hrqa.reader_training import group_loss

    logits = torch.tensor([3.0, 0.0])
    null = torch.tensor(0.0)
    assert float(group_loss(logits, null, (True, False))) < float(group_loss(logits, null, (False, True)))
    assert float(group_loss(logits, torch.tensor(5.0), (False, False))) < float(
        group_loss(logits, null, (False, False))
    )


def test_the_query_path_of_the_reader_imports_no_torch(tmp_path: Path):
    import subprocess

    code = "import sys, hrqa.reader, hrqa.answer; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_reader_with_fewer_layers_trains_from_a_deeper_checkpoint_and_exports(tmp_path: Path):
    torch = pytest.importorskip("torch")
    import onnx

    from hrqa.reader_training import TrainingConfig, train

    work, out = tmp_path / "work", tmp_path / "reader"
    work.mkdir()
    _tiny_training_data(work)
    config = TrainingConfig(base="tiny", epochs=1, batch_pairs=4, checkpoint_every=1, threads=1, max_length=32)
    train(work, tmp_path / "deep", config, max_steps=1)  # a two-layer checkpoint to start from
    deep = torch.load(work / "checkpoint.pt", weights_only=False)["model"]
    (work / "checkpoint.pt").rename(tmp_path / "deep.pt")
    shallow = replace(config, layers=1, frozen_layers=0, init=str(tmp_path / "deep.pt"))
    train(work, out, shallow, max_steps=1)
    kept = torch.load(work / "checkpoint.pt", weights_only=False)["model"]
    assert any(".layer.1." in name for name in deep) and not any(".layer.1." in name for name in kept)
    assert any(".layer.0." in name for name in kept)
    graph = onnx.load(str(out / "model.onnx")).graph
    assert not any("layer.1" in node.name for node in graph.node) and any("layer.0" in n.name for n in graph.node)
    assert reader.OnnxReader(out).score("Where?", ["It was held in Lyon."]).answer.shape == (1,)
    with pytest.raises(ValueError, match="layers must be between 1 and"):
        train(work, out, replace(shallow, layers=3), max_steps=1)


def test_the_reader_uses_more_threads_only_when_no_other_call_runs():
    from hrqa.onnx_runtime import QUESTION_CALLS

    shipped = reader.OnnxReader(reader.READER_DIR, threads=1, threads_alone=2)
    sentences = ["It was held in Lyon.", "Owls hunt at night."]
    alone = shipped.logits("Where was the festival held?", sentences)
    with QUESTION_CALLS.call(alone=2, overlapping=1):  # another question's encoder, say
        overlapped = shipped.logits("Where was the festival held?", sentences)
    threads = {t: s.get_session_options().intra_op_num_threads for t, s in shipped._sessions.items()}
    assert threads == {2: 2, 1: 1}
    np.testing.assert_allclose(alone, overlapped, atol=1e-4)  # the same scores either way


def _matmul_model(weights: np.ndarray):
    """A float model of one matrix product, ``y = x @ weights``, for the quantiser to work on."""
    from onnx import TensorProto, helper, numpy_helper

    rows, cols = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "one-product",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", cols])],
        [numpy_helper.from_array(weights.astype(np.float32), "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_seven_bit_weights_bring_an_8_bit_product_within_the_range_no_cpu_saturates(tmp_path: Path):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hrqa.reader_export import SEVEN_BIT_PEAK, seven_bit_weights, widest_integer_weight

    rng = np.random.default_rng(3)
    weights = rng.normal(size=(64, 32))
    onnx.save(_matmul_model(weights), tmp_path / "fp32.onnx")
    quantize_dynamic(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", weight_type=QuantType.QInt8, per_channel=True)
    model = onnx.load(tmp_path / "int8.onnx")
    assert widest_integer_weight(model) == 127  # 8 bits: the peak of each channel is ±127
    x = rng.uniform(-1, 1, size=(5, 64)).astype(np.float32)
    before = _run(model, x)
    assert seven_bit_weights(model) == 1
    assert widest_integer_weight(model) <= SEVEN_BIT_PEAK
    after = _run(model, x)
    exact = x @ weights
    # half a 7-bit step per weight: still close to the float product, and to the 8-bit one
    assert np.abs(after - exact).max() < 0.05 * np.abs(exact).max()
    assert np.abs(after - before).max() < 0.05 * np.abs(exact).max()
    assert seven_bit_weights(model) == 0  # already within range: nothing to do
    # one scale for the whole tensor: one peak for it too
    quantize_dynamic(tmp_path / "fp32.onnx", tmp_path / "tensor.onnx", weight_type=QuantType.QInt8, per_channel=False)
    whole = onnx.load(tmp_path / "tensor.onnx")
    assert widest_integer_weight(whole) == 127 and seven_bit_weights(whole) == 1
    assert widest_integer_weight(whole) <= SEVEN_BIT_PEAK
    assert np.abs(_run(whole, x) - exact).max() < 0.05 * np.abs(exact).max()


def test_the_shipped_reader_computes_the_same_integers_on_every_cpu():
    """Its integer weights stay within 7 bits, so CPUs without VNNI do not saturate where CPUs with it do;
    an 8-bit copy of it (weights doubled, scales halved) comes back to the same file's numbers."""
    import onnx
    from onnx import numpy_helper

    from hrqa.reader_export import (
        SATURATION_FREE_PEAK,
        SEVEN_BIT_PEAK,
        _integer_weights,
        seven_bit_weights,
        widest_integer_weight,
    )

    shipped = onnx.load(str(reader.READER_DIR / "model.onnx"))
    assert 0 < widest_integer_weight(shipped) <= SEVEN_BIT_PEAK < SATURATION_FREE_PEAK
    widened = onnx.ModelProto()
    widened.CopyFrom(shipped)
    tensors = {t.name: t for t in widened.graph.initializer}
    products = _integer_weights(widened.graph)
    assert len(products) == 25  # 6 fused attentions + 19 other products
    for weights, scales, _ in products:
        q = numpy_helper.to_array(tensors[weights]).astype(np.int32)
        tensors[weights].CopyFrom(numpy_helper.from_array((2 * q).astype(np.int8), weights))
        tensors[scales].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensors[scales]) / 2, scales))
    assert widest_integer_weight(widened) > SATURATION_FREE_PEAK
    assert seven_bit_weights(widened) == len(products)
    original = {t.name: numpy_helper.to_array(t) for t in shipped.graph.initializer}
    for weights, scales, _ in products:
        back = {t.name: numpy_helper.to_array(t) for t in widened.graph.initializer if t.name in (weights, scales)}
        np.testing.assert_array_equal(back[weights], original[weights])
        np.testing.assert_allclose(back[scales], original[scales], rtol=1e-6)


_LOGITS_SCRIPT = """
import json, sys
from pathlib import Path
from hrqa.reader import OnnxReader
pairs = json.loads(sys.argv[1])
print(json.dumps([[float(x) for q, s, c in pairs for x in OnnxReader(Path(f), threads=1).logits(q, [s], [c])]
                  for f in sys.argv[2:]]))
"""


@pytest.mark.slow
def test_the_reader_scores_alike_on_a_cpu_without_vnni(tmp_path: Path):
    """The shipped reader under an emulated Haswell (AVX2, no VNNI: QEMU's user mode, which .ci/run
    installs) gives this CPU's logits; an 8-bit copy of it (weights doubled, scales halved: the same
    numbers where nothing saturates) does not, so the emulated CPU does take the saturating path."""
    import os
    import platform
    import shutil
    import subprocess

    import onnx
    from onnx import numpy_helper

    from hrqa.reader_export import _integer_weights

    if platform.machine() != "x86_64":
        pytest.skip("the VNNI question is an x86 one")
    qemu = shutil.which("qemu-x86_64")
    assert qemu, "qemu-x86_64 is missing: .ci/run installs Debian's qemu-user"
    widened_dir = tmp_path / "eight-bit"
    shutil.copytree(reader.READER_DIR, widened_dir)
    model = onnx.load(str(widened_dir / "model.onnx"))
    tensors = {t.name: t for t in model.graph.initializer}
    for weights, scales, _ in _integer_weights(model.graph):
        q = numpy_helper.to_array(tensors[weights]).astype(np.int32)
        tensors[weights].CopyFrom(numpy_helper.from_array((2 * q).astype(np.int8), weights))
        tensors[scales].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensors[scales]) / 2, scales))
    onnx.save(model, str(widened_dir / "model.onnx"))
    pairs = [
        [
            "Which two media outlets interviewed Professor Gong Xianghe?",
            "After the conference, Professor Gong Xianghe was interviewed by the Global Times and China News Network.",
            "Asian Human Rights Forum | The forum was held.",
        ],
        [
            "In what country is Normandy located?",
            "The Normans gave their name to Normandy, a region in France.",
            "Normans",
        ],
        ["Who opened the seminar?", "The seminar was held in Copenhagen in October 2025.", "ASEM seminar"],
    ]
    args = [_LOGITS_SCRIPT, json.dumps(pairs), str(reader.READER_DIR), str(widened_dir)]
    env = {**os.environ, "PYTHONPATH": str(Path(reader.__file__).parent.parent)}

    def logits(command: list[str]) -> np.ndarray:
        done = subprocess.run(
            command + ["-c", *args], capture_output=True, text=True, env=env, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return np.array(json.loads(done.stdout.strip().splitlines()[-1]))

    here = logits([sys.executable])
    emulated = logits([qemu, "-cpu", "Haswell", sys.executable])
    assert np.abs(here[0] - emulated[0]).max() < 0.02, (here, emulated)
    # the 8-bit copy saturates where VNNI is missing: on the emulated CPU, and here too on such a host
    assert np.abs(emulated[1] - emulated[0]).max() > 0.05, emulated
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if "avx512_vnni" in flags or "avx_vnni" in flags:
        # with VNNI nothing saturates: the 8-bit copy is the shipped model, number for number
        np.testing.assert_allclose(here[1], here[0], atol=0.02)


def test_an_exported_reader_gives_back_its_float_weights_for_a_warm_start(tmp_path: Path):
    """``reader_export.float_state_dict``: the weights of a trained (tiny) reader come back from its ONNX
    export by their torch names, within the quantisation's rounding, and ``--init model.onnx`` starts
    training from them."""
    torch = pytest.importorskip("torch")
    import onnx

    from hrqa.reader_export import _integer_weights, float_state_dict
    from hrqa.reader_training import TrainingConfig, initial_weights, train

    work, out = tmp_path / "work", tmp_path / "reader"
    work.mkdir()
    _tiny_training_data(work)
    config = TrainingConfig(base="tiny", epochs=1, batch_pairs=4, checkpoint_every=1, threads=1, max_length=32)
    train(work, out, config, max_steps=2)
    trained = torch.load(work / "checkpoint.pt", weights_only=False)["model"]
    exported = onnx.load(str(out / "model.onnx"))
    null = json.loads((out / "reader.json").read_text())["null_logit"]
    recovered = float_state_dict(exported, null)
    assert set(recovered) == {name for name in trained if not name.startswith("encoder.pooler.")}
    quantised = bool(_integer_weights(exported.graph))
    for name, value in recovered.items():
        original = trained[name].numpy()
        assert value.shape == original.shape, name
        # int8 rounds each weight by at most half a step, a step being at most 1/63 of its channel's peak
        limit = 0.01 * float(np.abs(original).max()) + 1e-6 if quantised else 1e-5
        assert float(np.abs(value - original).max()) <= limit, name
    # a later run starts from the export as it would from a checkpoint
    assert initial_weights(str(out / "model.onnx")).keys() == recovered.keys()
    (work / "checkpoint.pt").unlink()
    (work / "train-log.jsonl").unlink()
    train(work, tmp_path / "again", replace(config, init=str(out / "model.onnx")), max_steps=1)
    assert (tmp_path / "again" / "model.onnx").exists()
