"""Lexical side: one tokenizer for indexing and querying, and a bm25s index that persists."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)

#: English function words; question words are kept out of matching too ("who", "which").
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "according",
        "did",
        "does",
        "also",
        "among",
        "s",
    ]
)


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import Stemmer

        return Stemmer.Stemmer("english").stemWord
    except ImportError:  # stemming is a gain, not a requirement
        return lambda word: word


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _stemmer()(word)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stemmed word tokens without stopwords. CJK runs stay whole words."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


#: the bm25s files of a lexical index (``bm25s.BM25.save``'s names, so bm25s itself can load the folder)
PARAMS_FILE, VOCAB_FILE = "params.index.json", "vocab.index.json"
ARRAY_FILES = {"data": "data.csc.index.npy", "indices": "indices.csc.index.npy", "indptr": "indptr.csc.index.npy"}
#: bm25s methods whose scores are the stored matrix alone (BM25L and BM25+ add a per-query term)
SUMMED_METHODS = ("robertson", "lucene", "atire")


class LexicalIndex:
    """BM25 over passages, scored for all passages at once so it fuses with dense scores.

    bm25s builds it (Lucene variant, its defaults k1 1.5, b 0.75) and its files are bm25s's; reading
    and scoring need only numpy: the score matrix is memory-mapped and a query sums the columns of its
    tokens as ``bm25s.BM25.get_scores`` does (same order, so the same float32 scores), without the
    import of bm25s and scipy (about 7 s of an open at 1M passages on this machine, benchmarks/million.py).
    """

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, vocab: dict[str, int], params: dict):
        if params.get("method") not in SUMMED_METHODS:
            raise ValueError(f"bm25 method {params.get('method')!r} is not one of {', '.join(SUMMED_METHODS)}")
        if len(data) != len(indices) or (len(indptr) and int(indptr[-1]) != len(data)):
            raise ValueError("bm25 score matrix arrays differ in length")
        self._data, self._indices, self._indptr = data, indices, indptr
        self._vocab, self._params = vocab, params
        self._dtype = np.dtype(params.get("dtype", "float32"))
        self._int_dtype = np.dtype(params.get("int_dtype", "int32"))

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        # an empty token keeps bm25s happy with texts that tokenize to nothing
        retriever.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return cls.of_bm25s(retriever)

    @classmethod
    def of_bm25s(cls, retriever) -> LexicalIndex:
        """The index a ``bm25s.BM25`` holds (built, or made from arrays as benchmarks/million.py does)."""
        scores = retriever.scores
        params = {
            "k1": retriever.k1,
            "b": retriever.b,
            "delta": retriever.delta,
            "method": retriever.method,
            "idf_method": retriever.idf_method,
            "dtype": retriever.dtype,
            "int_dtype": retriever.int_dtype,
            "num_docs": int(scores["num_docs"]),
            "version": getattr(retriever, "_original_version", None) or _bm25s_version(),
            "backend": retriever.backend,
        }
        return cls(scores["data"], scores["indices"], scores["indptr"], dict(retriever.vocab_dict), params)

    def save(self, folder: Path) -> None:
        """The folder as ``bm25s.BM25.save`` writes it."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / ARRAY_FILES["data"], self._data)
        np.save(folder / ARRAY_FILES["indices"], self._indices)
        np.save(folder / ARRAY_FILES["indptr"], self._indptr)
        (folder / VOCAB_FILE).write_text(json.dumps(self._vocab, ensure_ascii=False), encoding="utf-8")
        (folder / PARAMS_FILE).write_text(json.dumps(self._params, indent=4), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """A saved index, its score matrix memory-mapped (pages are read as queries touch them)."""
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        vocab = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
        if not isinstance(params, dict) or not isinstance(vocab, dict):
            raise TypeError(f"{folder} is not a bm25s index")
        arrays = {name: np.load(folder / file, mmap_mode="r", allow_pickle=False) for name, file in ARRAY_FILES.items()}
        return cls(arrays["data"], arrays["indices"], arrays["indptr"], vocab, params)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no query word is indexed)."""
        ids = np.asarray([self._vocab[t] for t in tokenize(query) if t in self._vocab], dtype=self._int_dtype)
        scores = np.zeros(self.size, dtype=self._dtype)
        # bm25s.BM25._compute_relevance_from_scores: each query token's column added in turn (a repeated
        # token counts once per occurrence)
        for start, end in zip(self._indptr[ids].tolist(), self._indptr[ids + 1].tolist(), strict=True):
            np.add.at(scores, self._indices[start:end], self._data[start:end])
        return scores

    @property
    def size(self) -> int:
        return int(self._params["num_docs"])

    def idf(self, token: str) -> float:
        """BM25's inverse document frequency of a token over passages; unseen tokens get the maximum."""
        indptr = self._indptr
        token_id = self._vocab.get(token)
        frequency = 0
        if token_id is not None and token_id + 1 < len(indptr):
            frequency = int(indptr[token_id + 1] - indptr[token_id])
        return float(np.log(1 + (self.size - frequency + 0.5) / (frequency + 0.5)))

    def knows(self, token: str) -> bool:
        return self.idf(token) < float(np.log(1 + (self.size + 0.5) / 0.5)) - 1e-9


def _bm25s_version() -> str:
    from importlib.metadata import version

    return version("bm25s")
