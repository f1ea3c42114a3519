"""The trained reader leaves training: ONNX export (fp32, and int8 when it keeps the accuracy), its
files written whole, and the validation figures that decide between them."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np

from hrqa.reader_data import Group, read_groups


def evaluate_groups(score, groups: list[Group]) -> dict:
    """Validation figures from ``score(group) -> (logits, null)``: first-sentence accuracy on answerable
    groups, candidate recall, and the best overall accuracy over no-answer thresholds with false
    abstention at most 0.10."""
    rows = []
    for g in groups:
        logits, null = score(g)
        values = np.append(logits, null)
        p = np.exp(values - values.max())
        p /= p.sum()
        best = int(np.argmax(logits)) if len(logits) else -1
        rows.append((g.answerable, any(g.answers), best >= 0 and g.answers[best], float(p[-1])))
    answerable = [r for r in rows if r[0]]
    unanswerable = [r for r in rows if not r[0]]
    result = {
        "groups": len(rows),
        "first_sentence": round(sum(r[2] for r in answerable) / max(1, len(answerable)), 4),
        "recall": round(sum(r[1] for r in answerable) / max(1, len(answerable)), 4),
    }
    best = None
    for threshold in np.arange(0.05, 0.96, 0.05):
        false_abstain = sum(r[3] >= threshold for r in answerable) / max(1, len(answerable))
        abstain = sum(r[3] >= threshold for r in unanswerable) / max(1, len(unanswerable))
        right = sum(r[2] and r[3] < threshold for r in answerable) + sum(r[3] >= threshold for r in unanswerable)
        overall = right / max(1, len(rows))
        entry = {
            "threshold": round(float(threshold), 2),
            "overall": round(overall, 4),
            "abstain": round(abstain, 4),
            "false_abstain": round(false_abstain, 4),
        }
        if false_abstain <= 0.10 and (best is None or overall > best["overall"]):
            best = entry
    result["best_threshold"] = best
    return result


def export(model, config, out: Path, work: Path) -> dict:
    """ONNX export (fp32, then dynamic int8 when it keeps the fp32 validation accuracy), the tokenizer
    and ``reader.json``, written to a temporary folder and moved into ``out`` whole."""
    import torch

    from hrqa.reader_training import PairEncoder, tokenizer_file  # the trainer imports this module

    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.eval()
    eager_attention(model.encoder)
    dummy = PairEncoder(config.base, config.max_length)([("a question?", "a sentence."), ("q", "s s s")])
    fp32 = staging / "model-fp32.onnx"
    torch.onnx.export(
        model,
        dummy,
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["logits"],
        dynamic_axes={name: {0: "pairs", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
        | {"logits": {0: "pairs"}},
        opset_version=17,
        dynamo=False,
    )
    shutil.copyfile(tokenizer_file(config.base), staging / "tokenizer.json")
    null = float(model.null.detach())
    (staging / "reader.json").write_text(
        json.dumps(
            {"null_logit": null, "max_length": config.max_length, "base": config.base, "context": config.context},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hrqa.onnx_runtime import fuse_bert

    encoder_config = model.encoder.config
    # Attention fused into one operator per layer (then int8 as QAttention); the word embeddings stay a
    # Gather that int8 quantises on its own: fusing them into EmbedLayerNormalization as well cost 0.017
    # of first-sentence accuracy. Run 3 on 515 validation groups: first sentence 0.815 fused against
    # 0.811 plain, 8 candidates 94.5 ms against 121.6 ms p50 (2 threads, quiet, alternating turns).
    fused = fuse_bert(fp32, encoder_config.num_attention_heads, encoder_config.hidden_size, embeddings=False)
    if fused:
        os.replace(fused[0], fp32)
    int8 = staging / "model-int8.onnx"
    # per-channel weights: keeps 99.8% of the fp32 first-sentence accuracy where per-tensor kept 96.6%.
    # DefaultTensorType: the fused operators are outside the type inference the quantiser relies on
    # reduce_range: 7-bit weights, so the same integer products come out on every x86 CPU
    # (``seven_bit_weights``)
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    validation = read_groups(work / "validation.jsonl") if (work / "validation.jsonl").exists() else []
    figures = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        shutil.copyfile(path, staging / "model.onnx")
        from hrqa.reader import OnnxReader

        reader = OnnxReader(staging, threads=config.threads)
        figures[name] = evaluate_groups(
            lambda g, reader=reader: (reader.logits(g.question, list(g.candidates), list(g.contexts)), null),
            validation,
        )
    keep_int8 = figures["int8"]["first_sentence"] >= 0.99 * figures["fp32"]["first_sentence"]
    shutil.copyfile(int8 if keep_int8 else fp32, staging / "model.onnx")
    fp32.unlink()
    int8.unlink()
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
    return {
        "onnx": figures,
        "chosen": "int8" if keep_int8 else "fp32",
        "bytes": (out / "model.onnx").stat().st_size,
        "fused_operators": fused[1] if fused else {},
    }


def eager_attention(encoder) -> None:
    """Have a transformers encoder trace its attention as plain operators: the SDPA path exports with
    masking operators (IsNaN, Where) that keep ONNX Runtime from fusing attention."""
    if hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")
    else:
        encoder.config._attn_implementation = "eager"


#: the largest weight magnitude that cannot saturate: u8 activations (up to 255) times s8 weights are
#: summed in pairs into 16 bits on x86 CPUs without VNNI (VPMADDUBSW), so 2 * 255 * 64 = 32,640 fits in
#: 32,767 where 2 * 255 * 127 does not (ONNX Runtime's quantisation guide: "reduce_range", whose signed
#: weights span -64..64)
SATURATION_FREE_PEAK = 64
#: each channel's peak after ``seven_bit_weights``: within signed 7 bits (-64..63)
SEVEN_BIT_PEAK = 63


def _integer_weights(graph) -> list[tuple[str, str, str]]:
    """(weights, per-channel scales, zero points) of every integer matrix product of a dynamically
    quantised graph: MatMulInteger (scales behind the Mul that rescales its output) and QAttention."""
    produced = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {i.name for i in graph.initializer}
    found = []
    for node in graph.node:
        if node.op_type == "MatMulInteger":
            cast = consumers[node.output[0]][0]
            rescale = consumers[cast.output[0]][0]
            scales = next(n for n in produced[rescale.input[1]].input if n in initializers)
            found.append((node.input[1], scales, node.input[3]))
        elif node.op_type == "QAttention":
            found.append((node.input[1], node.input[4], node.input[7]))
    return found


def seven_bit_weights(model) -> int:
    """Requantise the int8 weights of ``model`` (an ``onnx.ModelProto``, changed in place) to 7 bits per
    output channel; the number of weight tensors changed.

    With 8-bit weights, CPUs without VNNI saturate some 16-bit pair sums while CPUs with VNNI do not, so
    one model gave different answers on different machines of the same kind (the shipped reader,
    2026-11-25: dev.jsonl unanswerable abstained 0.50 on one, 0.25 on the other). With 7 bits both compute
    the same integers. For a model whose float weights are kept, ``export`` quantises with
    ``reduce_range`` instead; this serves a shipped int8 file whose float weights are not.
    """
    from onnx import numpy_helper

    tensors = {i.name: i for i in model.graph.initializer}
    changed = 0
    for weights, scales, zero_points in _integer_weights(model.graph):
        if np.asarray(numpy_helper.to_array(tensors[zero_points])).any():
            raise ValueError(f"{weights}: asymmetric weights (a zero point other than 0) are not supported")
        quantised = numpy_helper.to_array(tensors[weights]).astype(np.int32)
        scale = numpy_helper.to_array(tensors[scales])
        # per output channel, or one peak for the whole tensor when it has one scale
        peak = np.maximum(np.abs(quantised).max(axis=0), 1) if scale.size > 1 else max(np.abs(quantised).max(), 1)
        if np.max(peak) <= SATURATION_FREE_PEAK:
            continue
        factor = SEVEN_BIT_PEAK / np.asarray(peak, dtype=np.float64)
        requantised = np.clip(np.round(quantised * factor), -SEVEN_BIT_PEAK - 1, SEVEN_BIT_PEAK).astype(np.int8)
        rescaled = (scale.astype(np.float64) / factor.reshape(scale.shape)).astype(np.float32)
        tensors[weights].CopyFrom(numpy_helper.from_array(requantised, weights))
        tensors[scales].CopyFrom(numpy_helper.from_array(rescaled, scales))
        changed += 1
    return changed


def widest_integer_weight(model) -> int:
    """The largest magnitude among the integer matrix-product weights of ``model`` (0 when it has none)."""
    from onnx import numpy_helper

    tensors = {i.name: i for i in model.graph.initializer}
    return max(
        (
            int(np.abs(numpy_helper.to_array(tensors[w]).astype(np.int32)).max())
            for w, _, _ in _integer_weights(model.graph)
        ),
        default=0,
    )


#: the torch module each matrix product of an exported reader belongs to, from its ONNX node's name
_PRODUCT_MODULE = re.compile(
    r"^/encoder/encoder/layer\.(\d+)/(attention/self/query|attention/self/key|attention/self/value|"
    r"attention/output/dense|intermediate/dense|output/dense)/MatMul(?:_quant)?$"
)
_FUSED_ATTENTION = re.compile(r"^Attention_(\d+)(?:_quant)?$")


def _module(path: str) -> str:
    """The torch module an ONNX name belongs to: "/encoder/encoder/layer.0/output/dense/MatMul_output_0"
    -> "encoder.encoder.layer.0.output.dense"."""
    return ".".join(path.strip("/").split("/")[:-1])


def float_state_dict(model, null_logit: float) -> dict[str, np.ndarray]:
    """The reader's weights, back in float, by their torch names (``reader_training.build_model``), from
    an exported reader (an ``onnx.ModelProto``: fp32 or dynamically quantised, attention fused or not).

    Why: a reader whose training checkpoint is gone (run 3's, for the shipped reader) can still be the
    warm start of a later run (``hrqa train-reader --init model.onnx``). Quantised weights come back as
    scale × (integer − zero point), so the recovered model differs from the trained one by the
    quantisation's rounding. The unused pooler is not recovered (the base model's is kept)."""
    from onnx import numpy_helper

    tensors = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    scales = {weights: (scale, zero) for weights, scale, zero in _integer_weights(model.graph)}

    def dequantised(name: str) -> np.ndarray:
        if name not in scales:  # a float weight (an fp32 export)
            return tensors[name].astype(np.float32)
        scale, zero = scales[name]
        values = tensors[name].astype(np.float32) - tensors[zero].astype(np.float32)
        return values * tensors[scale].astype(np.float32)

    state = {
        name: value.astype(np.float32) for name, value in tensors.items() if name.startswith(("encoder.", "head."))
    }
    for part in ("word", "position", "token_type"):
        name = f"encoder.embeddings.{part}_embeddings.weight"
        if f"{name}_quantized" in tensors:
            state[name] = (
                tensors[f"{name}_quantized"].astype(np.float32) - float(tensors[f"{name}_zero_point"])
            ) * float(tensors[f"{name}_scale"])
    for node in model.graph.node:
        weights = node.input[1] if len(node.input) > 1 else ""
        if weights not in tensors:
            continue
        product = _PRODUCT_MODULE.match(node.name)
        fused = _FUSED_ATTENTION.match(node.name)
        if product:
            layer, module = product.groups()
            prefix = f"encoder.encoder.layer.{layer}.{module.replace('/', '.')}"
            state[f"{prefix}.weight"] = dequantised(weights).T.copy()  # ONNX multiplies by W^T
        elif fused:
            layer = fused.group(1)
            packed, bias = dequantised(weights), tensors[node.input[2]].astype(np.float32)
            width = packed.shape[1] // 3
            for i, part in enumerate(("query", "key", "value")):
                prefix = f"encoder.encoder.layer.{layer}.attention.self.{part}"
                state[f"{prefix}.weight"] = packed[:, i * width : (i + 1) * width].T.copy()
                state[f"{prefix}.bias"] = bias[i * width : (i + 1) * width].copy()
        elif node.name.startswith("/head/") and node.op_type in ("MatMul", "MatMulInteger", "Gemm"):
            head = dequantised(weights)
            state["head.weight"] = (head.T if head.shape[1] == 1 else head).reshape(1, -1).copy()
            if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] in tensors:
                state["head.bias"] = tensors[node.input[2]].astype(np.float32).reshape(1)
    # biases and layer norms by the operator that uses them: the exporter shares one initializer among
    # equal tensors (a fresh model's zero biases), so their names are not always the modules'
    for node in model.graph.node:
        constants = [name in tensors for name in node.input]
        if node.op_type == "SkipLayerNormalization":
            dense = _module(node.input[0])  # encoder.encoder.layer.N.attention.output.dense
            block = dense.rsplit(".", 1)[0]
            state[f"{block}.LayerNorm.weight"] = tensors[node.input[2]].astype(np.float32)
            state[f"{block}.LayerNorm.bias"] = tensors[node.input[3]].astype(np.float32)
            if len(node.input) > 4 and constants[4]:
                state[f"{dense}.bias"] = tensors[node.input[4]].astype(np.float32)
        elif node.op_type == "BiasGelu":
            state[f"{_module(node.input[0])}.bias"] = tensors[node.input[1]].astype(np.float32)
        elif node.op_type == "LayerNormalization" and all(constants[1:3]):
            norm = _module(node.name + "/")  # encoder.embeddings.LayerNorm
            state[f"{norm}.weight"] = tensors[node.input[1]].astype(np.float32)
            state[f"{norm}.bias"] = tensors[node.input[2]].astype(np.float32)
        elif node.op_type == "Add" and any(constants) and node.name.startswith(("/encoder/encoder/layer.", "/head/")):
            bias = node.input[constants.index(True)]
            state[f"{_module(node.name + '/')}.bias"] = tensors[bias].astype(np.float32).reshape(-1)
    for name in [n for n in state if n.endswith(("_quantized", "_scale", "_zero_point", "_Transposed"))]:
        del state[name]
    state["null"] = np.asarray(null_logit, dtype=np.float32)
    return state
