"""Lexical side: one tokenizer for indexing and querying, and a bm25s index that persists."""

from __future__ import annotations

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


class LexicalIndex:
    """BM25 over passages (bm25s), scored for all passages at once so it fuses with dense scores."""

    def __init__(self, retriever) -> None:
        self._retriever = retriever
        self._vocab = retriever.vocab_dict

    @classmethod
    def build(cls, texts: Sequence[str]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        # an empty token keeps bm25s happy with texts that tokenize to nothing
        retriever.index([tokenize(t) or [""] for t in texts], show_progress=False)
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage for ``query`` (zeros when no query word is indexed)."""
        tokens = [t for t in tokenize(query) if t in self._vocab]
        size = int(self._retriever.scores["num_docs"])
        if not tokens:
            return np.zeros(size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(tokens), dtype=np.float32)

    @property
    def size(self) -> int:
        return int(self._retriever.scores["num_docs"])

    def idf(self, token: str) -> float:
        """BM25's inverse document frequency of a token over passages; unseen tokens get the maximum."""
        indptr = self._retriever.scores["indptr"]
        token_id = self._vocab.get(token)
        frequency = 0
        if token_id is not None and token_id + 1 < len(indptr):
            frequency = int(indptr[token_id + 1] - indptr[token_id])
        return float(np.log(1 + (self.size - frequency + 0.5) / (frequency + 0.5)))

    def knows(self, token: str) -> bool:
        return self.idf(token) < float(np.log(1 + (self.size + 0.5) / 0.5)) - 1e-9
