"""Encoding speed: passages as the build encodes them (torch and ONNX Runtime, per thread count and batch
size), torch int8 for the record, and the latency of encoding one question.

    nice -n 10 python benchmarks/encoder_speed.py [--texts 32] [--batches 16 64] [--questions 100]

The passages are those of the sample corpus (or ``--corpus``), chunked as the build chunks them. GFLOP/s
count useful work only (tokens that are not padding) against CEILING_GFLOPS. Question encoding compares
ONNX Runtime, sentence-transformers (torch) and the numpy forward pass hrqa used before ONNX Runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from hrqa.bench import note, percentiles, timed

#: Sustained fp32 matrix throughput of this 2-core machine, as issue 9 measured it: the ceiling against
#: which the build's encoding speed is read.
CEILING_GFLOPS = 140.0


def transformer_flops(config: dict, tokens: int) -> float:
    """Floating-point operations of one BERT forward pass over a sequence of ``tokens`` tokens: per layer
    the four attention projections (8·n·H²), the feed-forward pair (4·n·H·I) and the attention products
    (4·n²·H); embeddings, norms and softmax are ignored (under 1%)."""
    h, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    n = tokens
    return float(layers * (8 * n * h * h + 4 * n * h * inner + 4 * n * n * h))


def encode_sorted(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str], batch_size: int) -> np.ndarray:
    """The order of ``SentenceTransformerEmbedder.embed`` (longest first, fixed batches, input order
    kept) around any encoder, so that every backend, thread count and batch size is timed the same way."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: np.ndarray | None = None
    for begin in range(0, len(order), batch_size):
        batch = order[begin : begin + batch_size]
        vectors = encode([texts[i] for i in batch])
        if out is None:
            out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
        out[batch] = vectors
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_model(path: Path):
    """The model as sentence-transformers loads it (the reference every other encoder is compared to)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def _torch_encoder(model, batch_size: int) -> Callable[[list[str]], np.ndarray]:
    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )

    return encode


def embedding_speed(
    embedder, texts: Sequence[str], batches: Sequence[int], queries: Sequence[str] = (), threads=None
) -> dict:
    """Texts per second of the build's encoding on torch and on ONNX Runtime, for each batch size and
    thread count, on the same passages; how far the two backends' vectors are apart; torch int8 for the
    record; and the question-time latencies of ``query_encoding``."""
    import torch

    from hrqa.onnx_runtime import sentence_encoder_problem

    if not hasattr(embedder, "onnx_encoder"):
        return {"available": False, "reason": f"{type(embedder).__name__} is not a sentence-transformers model"}
    texts = list(texts)
    cores = os.cpu_count() or 1
    threads = sorted(set(threads or (1, cores)))
    onnx = {count: embedder.onnx_encoder(count) for count in threads}
    if any(encoder is None for encoder in onnx.values()):
        return {"available": False, "reason": f"no ONNX encoder: {sentence_encoder_problem(embedder.path)}"}
    model = torch_model(embedder.path)
    config = json.loads((embedder.path / "config.json").read_text(encoding="utf-8"))
    lengths = [len(e.ids) for e in onnx[threads[0]].tokenizer.encode_batch(texts)]
    useful_gflop = sum(transformer_flops(config, n) for n in lengths) / 1e9
    rows: list[dict] = []

    def measure(backend: str, count: int, batch: int, encode) -> np.ndarray:
        encode_sorted(encode, texts[:batch], batch)  # warm up: allocations, first-call paths
        cpu = time.process_time()
        vectors, elapsed = timed(encode_sorted, encode, texts, batch)
        seconds, cpu_seconds = elapsed / 1000, time.process_time() - cpu
        rows.append(
            {
                "backend": backend,
                "threads": count,
                "batch": batch,
                "option": f"{backend}, sorted, batch {batch}, {count} thread{'s' if count > 1 else ''}",
                "texts_per_s": round(len(texts) / seconds, 2),
                "seconds": round(seconds, 3),
                "gflops": round(useful_gflop / seconds, 1),
                "share_of_ceiling": round(useful_gflop / seconds / CEILING_GFLOPS, 3),
                # CPU time of all this process's threads: what the work costs whatever else runs
                "cpu_seconds": round(cpu_seconds, 3),
                "gflop_per_cpu_s": round(useful_gflop / cpu_seconds, 1) if cpu_seconds else None,
            }
        )
        note(f"embedding: {rows[-1]['option']}: {rows[-1]['texts_per_s']} texts/s, {rows[-1]['gflops']} GFLOP/s")
        return vectors

    outputs: dict[str, np.ndarray] = {}
    for count in threads:
        for batch in batches:
            with torch_threads(count):
                outputs["torch"] = measure("torch", count, batch, _torch_encoder(model, batch))
            outputs["onnx"] = measure("onnx", count, batch, onnx[count].encode)
    difference = np.abs(outputs["torch"] - outputs["onnx"])
    cosines = np.sum(outputs["torch"] * outputs["onnx"], axis=1)
    best = {b: max((r for r in rows if r["backend"] == b), key=lambda r: r["texts_per_s"]) for b in ("torch", "onnx")}
    return {
        "available": True,
        "texts": len(texts),
        "mean_chars": round(statistics.fmean(map(len, texts)), 1) if texts else 0,
        "mean_tokens": round(statistics.fmean(lengths), 1) if lengths else 0,
        "useful_gflop": round(useful_gflop, 1),
        "ceiling_gflops": CEILING_GFLOPS,
        "cores": cores,
        "rows": rows,
        "best": best,
        "build_backend": embedder.BUILD_BACKEND,
        "onnx_vs_torch": {
            "max_abs_difference": float(difference.max()) if texts else None,
            "cosine_min": round(float(cosines.min()), 7) if texts else None,
        },
        "int8": _int8_option(model, texts, max(batches), outputs["torch"]),
        "torch_threads_default": torch.get_num_threads(),
        "query": query_encoding(embedder, model, queries, threads) if queries else {},
    }


#: questions each encoder answers in a row before the next takes over; and the pause between turns, in
#: which thread pools that spin after a call (ONNX Runtime's, torch's OpenMP) go idle. Interleaving one
#: question at a time let one encoder's spinning threads steal a core from the next: ONNX Runtime with 2
#: threads measured 19.7 ms interleaved against 5.8 ms alone (quiet machine, 2026-11-24)
QUERY_TURN = 20
QUERY_TURN_PAUSE_S = 0.3


def query_encoding(embedder, model, questions: Sequence[str], threads: Sequence[int]) -> dict:
    """Latency of encoding one question, on the same questions: ONNX Runtime with each thread count,
    torch (sentence-transformers ``model``, its default threads), and the numpy forward pass hrqa used
    before ONNX Runtime (NumpyReferenceEncoder). The encoders take turns of QUERY_TURN questions, so
    drifting load affects each alike while no encoder runs beside another's spinning threads."""
    encoders: dict[str, Callable[[list[str]], np.ndarray]] = {}
    for count in threads:
        encoders[f"onnx, {count} thread{'s' if count > 1 else ''}"] = embedder.onnx_encoder(count).encode
    encoders["torch (sentence-transformers)"] = _torch_encoder(model, 1)
    numpy_reference = NumpyReferenceEncoder.for_folder(embedder.path)
    if numpy_reference is not None:
        encoders["numpy forward pass (hrqa before ONNX Runtime)"] = numpy_reference.encode
    samples: dict[str, list[float]] = {name: [] for name in encoders}
    for start in range(0, len(questions), QUERY_TURN):
        turn = questions[start : start + QUERY_TURN]
        for name, encode in encoders.items():
            time.sleep(QUERY_TURN_PAUSE_S)
            encode([turn[0]])  # warm: the first call after a pause wakes the thread pool
            samples[name].extend(timed(encode, [question])[1] for question in turn)
    return {
        "questions": len(questions),
        "turn": QUERY_TURN,
        "setting_threads": embedder.threads,
        "setting_threads_alone": getattr(embedder, "threads_alone", embedder.threads),
        "ms": {name: percentiles(values) for name, values in samples.items()},
    }


class NumpyReferenceEncoder:
    """BERT + mean pooling + normalisation in numpy: the question encoder of hrqa before ONNX Runtime,
    kept only as the benchmark's reference (it matched sentence-transformers to about 1e-7)."""

    def __init__(self, path: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        limits = json.loads((path / "sentence_bert_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(limits.get("max_seq_length", 256)))
        self.weights = {k: v.astype(np.float32) for k, v in load_file(str(path / "model.safetensors")).items()}
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])

    @classmethod
    def for_folder(cls, path: Path) -> NumpyReferenceEncoder | None:
        from hrqa.onnx_runtime import sentence_encoder_problem

        if sentence_encoder_problem(path) is not None or not (path / "model.safetensors").exists():
            return None
        return cls(path)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.eps) * self.weights[name + ".weight"] + self.weights[name + ".bias"]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[name + ".weight"].T + self.weights[name + ".bias"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._encode_one(text) for text in texts])

    def _encode_one(self, text: str) -> np.ndarray:
        from scipy.special import erf

        w = self.weights
        ids = np.array(self.tokenizer.encode(text).ids)
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        width = x.shape[1]
        head = width // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                self._linear(x, p + f"attention.self.{part}").reshape(n, self.heads, head).transpose(1, 0, 2)
                for part in ("query", "key", "value")
            )
            attention = q @ k.transpose(0, 2, 1) / np.sqrt(head)
            attention = np.exp(attention - attention.max(-1, keepdims=True))
            attention /= attention.sum(-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(n, width)
            x = self._norm(x + self._linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            inner = self._linear(x, p + "intermediate.dense")
            inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))  # exact GELU, as BERT's "gelu"
            x = self._norm(x + self._linear(inner, p + "output.dense"), p + "output.LayerNorm")
        pooled = x.mean(0)
        return (pooled / np.linalg.norm(pooled)).astype(np.float32)


def _int8_option(model, texts, batch_size, reference: np.ndarray) -> dict:
    """torch dynamic int8 quantisation of the Linear layers (installed with torch; no download)."""
    import torch

    try:
        with warnings.catch_warnings():  # deprecated in torch, still the one int8 path installed
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(
                copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8
            )
    except (RuntimeError, AssertionError, NotImplementedError) as error:  # no int8 engine on this CPU
        return {"available": False, "reason": f"quantize_dynamic failed: {error}"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vectors, elapsed = timed(encode_sorted, _torch_encoder(quantized, batch_size), texts, batch_size)
    cosines = np.sum(vectors * reference, axis=1)
    # Does int8 keep the nearest passage? Each text as a query against the fp32 vectors of the others.
    fp32 = reference @ reference.T
    int8 = vectors @ reference.T
    np.fill_diagonal(fp32, -np.inf)
    np.fill_diagonal(int8, -np.inf)
    same_top = float(np.mean(fp32.argmax(axis=1) == int8.argmax(axis=1)))
    return {
        "available": True,
        "texts_per_s": round(len(texts) / (elapsed / 1000), 2),
        "cosine_to_fp32_mean": round(float(cosines.mean()), 4),
        "cosine_to_fp32_min": round(float(cosines.min()), 4),
        "same_nearest_neighbour": round(same_top, 3),
    }


def format_lines(embedding: dict) -> list[str]:
    lines = ["Encoding passages (build path): sorted by length, the same passages for every option"]
    if not embedding.get("available"):
        return [*lines, f"  not available ({embedding['reason']})"]
    lines.append(
        f"  {embedding['texts']} passages, mean {embedding['mean_chars']:.0f} characters, "
        f"{embedding['mean_tokens']:.0f} tokens; {embedding['useful_gflop']:.0f} GFLOP of useful work"
    )
    lines.append(
        f"  {'backend':<8}{'threads':>8}{'batch':>7}{'texts/s':>9}{'GFLOP/s':>9}{'of ceiling':>12}{'GFLOP per CPU-s':>17}"
    )
    for row in embedding["rows"]:
        per_cpu = row.get("gflop_per_cpu_s")
        lines.append(
            f"  {row['backend']:<8}{row['threads']:>8}{row['batch']:>7}{row['texts_per_s']:>9.1f}"
            f"{row['gflops']:>9.1f}{row['share_of_ceiling']:>12.0%}{'–' if per_cpu is None else f'{per_cpu:,.1f}':>17}"
        )
    agreement = embedding["onnx_vs_torch"]
    lines.append(
        f"  (ceiling {embedding['ceiling_gflops']:.0f} GFLOP/s; the build uses {embedding['build_backend']}; "
        f"ONNX vs torch: max difference {agreement['max_abs_difference']:.1e}, cosine ≥ {agreement['cosine_min']})"
    )
    int8 = embedding["int8"]
    if int8.get("available"):
        lines.append(
            f"  torch int8 (not used): {int8['texts_per_s']:.1f} texts/s, cosine to fp32 mean "
            f"{int8['cosine_to_fp32_mean']:.4f} (min {int8['cosine_to_fp32_min']:.4f}), same nearest passage "
            f"{int8['same_nearest_neighbour']:.1%}"
        )
    else:
        lines.append(f"  int8: {int8['reason']}")
    query = embedding.get("query") or {}
    if query:
        lines.append(
            f"Encoding one question ({query['questions']} questions, in turns of {query.get('turn', 1)}; the setting: "
            f"{query.get('setting_threads_alone', query['setting_threads'])} thread(s) for a question alone, "
            f"{query['setting_threads']} when questions overlap)"
        )
        for name, figures in query["ms"].items():
            lines.append(f"  {name:<50}p50 {figures['p50']:>6.1f} ms   p95 {figures['p95']:>6.1f} ms")
    return lines


def passage_texts(index, count: int) -> list[str]:
    """The first ``count`` passages of a loaded index, as the build embeds them."""
    from hrqa import chunking

    return [chunking.embedding_text(index.documents[p.doc], p) for p in index.passages[:count]]


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.bench import cycle, load_dev_questions, measured_settings, workspace
    from hrqa.embedding import load_embedder
    from hrqa.engine import Engine
    from hrqa.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder (default: the sample corpus shipped with hrqa)")
    parser.add_argument("--texts", type=int, default=32, help="passages encoded for each option")
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64], help="batch sizes")
    parser.add_argument("--questions", type=int, default=100, help="questions encoded one at a time")
    args = parser.parse_args(argv)
    settings = Settings.from_env(**({"corpus_dir": Path(args.corpus)} if args.corpus else {}))
    settings = measured_settings(settings, bool(args.corpus))
    embedder = load_embedder(settings.model, settings.batch_size)
    with workspace() as workdir:
        settings = settings.with_(index_dir=workdir / "index")
        Engine.build_index(settings, embedder=embedder, wait=True, embed_sentences=False)
        texts = passage_texts(Engine.open(settings, embedder=embedder, build="never").index, args.texts)
    questions = cycle(load_dev_questions() or ["What is this corpus about?"], args.questions)
    print("\n".join(format_lines(embedding_speed(embedder, texts, args.batches, questions))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
