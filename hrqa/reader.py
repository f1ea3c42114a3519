"""The reader: a cross-encoder that hrqa trains (``hrqa train-reader``) to decide which sentences answer
a question, and whether any does.

Two stages. ``first_stage`` ranks the sentences of the retrieved passages cheaply (the sentence vectors
stored at index time against the question vector, fused by reciprocal rank with IDF-weighted word
overlap) and keeps the best few; the reader scores those (question, sentence) pairs in one batched ONNX
Runtime call. It was trained listwise with a learned "no answer" logit beside the candidates (as SQuAD
2.0 readers score a null answer), so ``softmax([scores, null])`` gives each sentence's probability of
being the answer and the probability that none is.

The model ships inside the package (``hrqa/models/reader/``: ``model.onnx``, ``tokenizer.json``,
``reader.json``, ``MODEL_CARD.md``); question time imports neither torch nor transformers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from hrqa.errors import ModelError

log = logging.getLogger(__name__)

READER_DIR = Path(__file__).parent / "models" / "reader"

#: RRF constant of the first stage. 60 (hrqa's passage fusion, Cormack et al. 2009) was taken over unmeasured;
#: the first stage fuses a few dozen sentences, not thousands of documents, and a smaller constant lets
#: the top ranks of each signal count for more. Measured 2026-11-25 over every distinct sentence of the
#: hit passages, share of answerable questions with an answering sentence among the first 3 / 5 / 8:
#: squad2-dev validation (755): 60 -> 0.915 / 0.950 / 0.972, 30 -> 0.917 / 0.948 / 0.972, 20 -> 0.918 /
#: 0.951 / 0.974, 10 -> 0.921 / 0.951 / 0.976, 5 -> 0.921 / 0.948 / 0.974; the seed questions of dev.jsonl,
#: team_checks and the three blind sets (110): 60 -> 0.800 / 0.845 / 0.873, 20 -> 0.809 / 0.855 / 0.882,
#: 10 -> 0.818 / 0.864 / 0.891. End to end (reader 45b75ece87d53e36, one process, each question under each
#: constant in turn), answer / first sentence / overall: squad2-dev validation (1,545) 60 -> 0.875 / 0.834 /
#: 0.454, 20 -> 0.878 / 0.836 / 0.456, 10 -> 0.879 / 0.837 / 0.455; seed sets: 20 answers b-12 besides
#: and changes nothing else, 10 answers b-12 and b3-02 but answers the unanswerable dev-27 and loses 2
#: first sentences (b2-13, b3-27). 20 it is.
FIRST_STAGE_RRF_K = 20

#: characters of the sentence before a candidate that the reader sees as its context: the opening of a
#: sentence names its subject, which is what a pronoun ("It gathered ...") or a list entry leaves out.
#: The reader was trained with 200. Shorter at question time was measured on 2026-11-24 (shipped reader,
#: 5 candidates, rank prior 1.0): on the 755 answerable squad2-dev validation groups the first sentence
#: was right for 0.823 (200), 0.831 (100) and 0.831 (60) of them, at 5-pair p50 of 62, 57 and 50 ms;
#: but end to end on dev.jsonl 100 lost 2 of 23 first sentences (0.826 -> 0.739) and 60 lost 2 answers
#: (0.87 -> 0.78): this corpus's sentences lean on what comes before them more than Wikipedia's do.
CONTEXT_CHARS = 200


def reader_text(sentence: str, context: str) -> str:
    """What a context-reading reader sees of a candidate: the sentence, then [SEP] and its context.

    The sentence comes first, so truncation (longest first) shortens the context, never the sentence.
    """
    return f"{sentence} [SEP] {context}" if context else sentence


def sentence_context(title: str, before: str) -> str:
    """A candidate's context: its document's title and the sentence before it (or before its list)."""
    before = before[:CONTEXT_CHARS]
    if not before or before.strip() == title.strip():
        return title
    return f"{title} | {before}" if title else before


@dataclass(frozen=True)
class ReaderScores:
    """The reader's verdict on one question's candidates."""

    #: probability that each candidate (in the order given) is the answer
    answer: np.ndarray
    #: probability that no candidate answers
    no_answer: float


class Reader(Protocol):
    """What the answer step needs of a reader: a logit per (question, sentence) pair, read one pair at a
    time so the answer step may stop early (``answer.read``), and the logit of the null option that the
    candidates' logits compete with (``softmax_with_null``)."""

    fingerprint: str
    null_logit: float

    def logits(self, question: str, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray: ...


def idf_overlap(question_tokens: set[str], sentence_tokens: set[str], idf: Callable[[str], float]) -> float:
    """Share of the question's IDF weight carried by words the sentence shares with it (0..1)."""
    total = sum(idf(t) for t in question_tokens)
    if total <= 0:
        return 0.0
    return sum(idf(t) for t in question_tokens & sentence_tokens) / total


def first_stage(
    dense: np.ndarray,
    lexical: np.ndarray,
    limit: int,
    passage_rank: np.ndarray | None = None,
    rrf_k: int = FIRST_STAGE_RRF_K,
) -> np.ndarray:
    """Positions of the ``limit`` best candidates by reciprocal-rank fusion of the score arrays, and of
    the rank of each candidate's passage in retrieval when ``passage_rank`` is given (lower is better).

    Ties in one signal share its rank order by position (stable), so earlier passages win ties.
    """
    n = len(dense)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    orders = [-np.asarray(dense), -np.asarray(lexical)]
    if passage_rank is not None:
        orders.append(np.asarray(passage_rank))
    fused = np.zeros(n)
    for order in orders:
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(order, kind="stable")] = np.arange(n)
        fused += 1.0 / (rrf_k + 1 + rank)
    return np.argsort(-fused, kind="stable")[:limit]


def softmax_with_null(logits: np.ndarray, null_logit: float) -> ReaderScores:
    """Probabilities over the candidates and the null option, as the reader was trained."""
    values = np.append(np.asarray(logits, dtype=np.float64), float(null_logit))
    values = np.exp(values - values.max())
    values /= values.sum()
    return ReaderScores(answer=values[:-1].astype(np.float32), no_answer=float(values[-1]))


def folder_fingerprint(folder: Path) -> str:
    """sha256 (16 hex digits) of the model and tokenizer files: what the manifest and answers record."""
    digest = hashlib.sha256()
    for name in ("model.onnx", "tokenizer.json", "reader.json"):
        path = folder / name
        if not path.exists():
            raise ModelError(f"the reader in {folder} lacks {name}; reinstall hrqa or run: hrqa train-reader")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class OnnxReader:
    """The shipped reader on ONNX Runtime, loaded once; thread-safe scoring."""

    def __init__(self, folder: Path = READER_DIR, threads: int = 1, threads_alone: int | None = None) -> None:
        """``threads``: intra-op threads when question-time model calls overlap; ``threads_alone`` (default
        ``threads``) when this call runs alone (``onnx_runtime.QUESTION_CALLS``)."""
        self.folder = Path(folder)
        self.fingerprint = folder_fingerprint(self.folder)
        config = json.loads((self.folder / "reader.json").read_text(encoding="utf-8"))
        self.null_logit = float(config["null_logit"])
        self.max_length = int(config["max_length"])
        #: whether the reader was trained to read each candidate with its context (``reader_text``)
        self.reads_context = bool(config.get("context", False))
        self.threads = threads
        self.threads_alone = threads_alone or threads
        self._sessions: dict[int, object] = {}  # intra-op threads → session
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self, threads: int | None = None):
        threads = threads or self.threads
        with self._lock:
            if threads not in self._sessions:
                from tokenizers import Tokenizer

                from hrqa.onnx_runtime import inference_session

                if self._tokenizer is None:
                    tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
                    tokenizer.enable_truncation(self.max_length)
                    # one pair per call needs no padding (the shipped tokenizer.json pads to 128 tokens)
                    tokenizer.no_padding()
                    self._tokenizer = tokenizer
                try:
                    session = inference_session(self.folder / "model.onnx", threads)
                except ModelError as error:
                    raise ModelError(
                        f"the reader cannot be loaded ({error}); reinstall hrqa or run: hrqa train-reader"
                    ) from None
                self._inputs = {i.name for i in session.get_inputs()}
                self._sessions[threads] = session
        return self._sessions[threads], self._tokenizer

    def logits(self, question: str, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        from hrqa.onnx_runtime import QUESTION_CALLS

        with QUESTION_CALLS.call(self.threads_alone, self.threads) as threads:
            return self._logits(self._load(threads), question, sentences, contexts)

    def _logits(self, loaded, question: str, sentences: Sequence[str], contexts: Sequence[str] | None) -> np.ndarray:
        session, tokenizer = loaded
        if self.reads_context and contexts is not None:
            sentences = [reader_text(s, c) for s, c in zip(sentences, contexts, strict=True)]
        # One pair per call: dynamic int8 quantisation scales activations over the whole input, so in a
        # padded batch a pair's score would depend on its neighbours (up to 0.6 logits apart, measured);
        # alone, each pair has its own scale and no padding (dev.jsonl: 146 ms for 12 pairs against 223 ms
        # batched, on 2 loaded cores).
        scores = []
        for encoding in tokenizer.encode_batch([(question, s) for s in sentences]):
            feeds = {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
            (out,) = session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
            scores.append(float(np.asarray(out).reshape(-1)[0]))
        return np.array(scores, dtype=np.float32)

    def score(self, question: str, sentences: Sequence[str], contexts: Sequence[str] | None = None) -> ReaderScores:
        return softmax_with_null(self.logits(question, sentences, contexts), self.null_logit)


_SHIPPED: dict[tuple[str, int, int], OnnxReader] = {}
_SHIPPED_LOCK = threading.Lock()


def load_reader(folder: Path | None = None, threads: int = 1, threads_alone: int | None = None) -> OnnxReader:
    """The reader in ``folder`` (default: the one shipped in the package), loaded once per process."""
    key = (str(folder or READER_DIR), threads, threads_alone or threads)
    with _SHIPPED_LOCK:
        if key not in _SHIPPED:
            _SHIPPED[key] = OnnxReader(Path(key[0]), threads, key[2])
        return _SHIPPED[key]
