"""Hybrid retrieval: dense and lexical candidates from a search backend, fused here; document diversity;
every-mention search. The fusion and diversity steps are pure functions over arrays and hits.

Retrieval reads an index only through :class:`hrqa.backends.SearchBackend`, so every backend (the local
snapshot, Qdrant) gives the same candidates to the same fusion: answers do not depend on where the
index lives.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from hrqa.backends.base import Scope, SearchBackend, top_rows
from hrqa.errors import SettingsError
from hrqa.records import FindResult, Hit, Mention, Span

__all__ = [
    "CANDIDATES",
    "DEFAULT_PARAMETERS",
    "DENSE_WEIGHT",
    "RRF_K",
    "Fusion",
    "RetrievalParameters",
    "Scope",
    "Scored",
    "as_backend",
    "diversify",
    "document_ranking",
    "find_mentions",
    "fuse",
    "minmax",
    "search",
    "top_rows",
]


class Fusion(str, enum.Enum):
    """How dense and lexical scores combine.

    CONVEX: ``w * dense + (1 - w) * lexical`` after scaling each to [0, 1] over the candidates
    (txtai's "convex"); RRF: ``sum 1 / (rrf_k + rank)`` with ranks from 1 (Cormack et al. 2009, k=60).
    """

    CONVEX = "convex"
    RRF = "rrf"

    @classmethod
    def from_str(cls, value: str) -> Fusion:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise SettingsError(f"unknown fusion {value!r}; choose one of: {', '.join(m.value for m in cls)}") from None


@dataclass(frozen=True)
class RetrievalParameters:
    """How passages are retrieved: the one configuration ``Engine.ask`` and ``Engine.search`` (and so
    ``hrqa eval --beir``) use, recorded in every index manifest (``"retrieval"``)."""

    #: passages taken from each retriever before fusion; not tuned: the question path's value since the
    #: first version, with which the dev.jsonl figures in the README are measured
    candidates: int = 100
    #: how dense and lexical scores combine: convex, chosen on SciFact train qrels (nDCG@10 0.737 vs RRF 0.725,
    #: measured with 300 candidates; README "Answer quality")
    fusion: Fusion = Fusion.CONVEX
    #: dense share of the convex fusion, chosen on SciFact train qrels (0.3: 0.733, 0.5: 0.737, 0.7: 0.726)
    dense_weight: float = 0.5
    #: the constant of reciprocal-rank fusion, Cormack et al. 2009's k=60 (ranks counted from 1), not tuned
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 1:
            raise SettingsError(f"candidates must be a positive integer, got {self.candidates!r}")
        if not 0.0 <= float(self.dense_weight) <= 1.0:
            raise SettingsError(f"dense_weight must be between 0 and 1, got {self.dense_weight!r}")
        if isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, int) or self.rrf_k < 0:
            raise SettingsError(f"rrf_k must be a whole number of at least 0, got {self.rrf_k!r}")
        object.__setattr__(self, "fusion", Fusion.from_str(self.fusion))
        object.__setattr__(self, "dense_weight", float(self.dense_weight))

    def to_json(self) -> dict:
        return {
            "candidates": self.candidates,
            "fusion": self.fusion.value,
            "dense_weight": self.dense_weight,
            "rrf_k": self.rrf_k,
        }

    def with_(self, **changes) -> RetrievalParameters:
        return replace(self, **changes)


DEFAULT_PARAMETERS = RetrievalParameters()
#: the defaults by their former names (the scale benchmark asks the vector index for CANDIDATES rows)
CANDIDATES = DEFAULT_PARAMETERS.candidates
DENSE_WEIGHT = DEFAULT_PARAMETERS.dense_weight
RRF_K = DEFAULT_PARAMETERS.rrf_k


@dataclass(frozen=True)
class Scored:
    """Fused scores for candidate passage rows, best first."""

    rows: np.ndarray
    scores: np.ndarray
    dense_rank: dict[int, int]
    lexical_rank: dict[int, int]


def minmax(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant array maps to ones (all equally good), an empty one stays empty."""
    if values.size == 0:
        return values.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.ones_like(values, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def fuse(
    dense_rows: np.ndarray,
    dense_scores: np.ndarray,
    lexical_rows: np.ndarray,
    lexical_scores: np.ndarray,
    method: Fusion = Fusion.CONVEX,
    dense_weight: float = DENSE_WEIGHT,
    rrf_k: int = RRF_K,
) -> Scored:
    """Combine two ranked candidate lists (rows best first) into one ranking."""
    dense_rank = {int(r): i for i, r in enumerate(dense_rows)}
    lexical_rank = {int(r): i for i, r in enumerate(lexical_rows)}
    rows = np.array(sorted(set(dense_rank) | set(lexical_rank)), dtype=np.int64)
    if rows.size == 0:
        return Scored(rows, np.zeros(0, np.float32), dense_rank, lexical_rank)
    if method is Fusion.RRF:
        fused = np.array(
            [
                (1.0 / (rrf_k + dense_rank[r] + 1) if r in dense_rank else 0.0)
                + (1.0 / (rrf_k + lexical_rank[r] + 1) if r in lexical_rank else 0.0)
                for r in rows
            ],
            dtype=np.float32,
        )
    else:
        dense_n = dict(zip(dense_rows.tolist(), minmax(dense_scores).tolist()))
        lexical_n = dict(zip(lexical_rows.tolist(), _scale_lexical(lexical_scores).tolist()))
        fused = np.array(
            [dense_weight * dense_n.get(int(r), 0.0) + (1 - dense_weight) * lexical_n.get(int(r), 0.0) for r in rows],
            dtype=np.float32,
        )
    order = np.argsort(-fused, kind="stable")
    return Scored(rows[order], fused[order], dense_rank, lexical_rank)


def _scale_lexical(scores: np.ndarray) -> np.ndarray:
    """BM25 divided by its best candidate: 0 stays 'no word matched', unlike min-max."""
    if scores.size == 0:
        return scores.astype(np.float32)
    top = float(scores.max())
    return (scores / top).astype(np.float32) if top > 0 else np.zeros_like(scores, dtype=np.float32)


def as_backend(index) -> SearchBackend:
    """``index`` itself when it is a search backend; a loaded ``store.Index`` wrapped as the local one."""
    if hasattr(index, "dense_candidates"):
        return index
    from hrqa.backends.local import LocalBackend

    return LocalBackend(index)


def search(
    backend: SearchBackend,
    query_vector: np.ndarray,
    query_text: str,
    k: int,
    *,
    scope: Scope | None = None,
    parameters: RetrievalParameters = DEFAULT_PARAMETERS,
    method: Fusion | None = None,
    dense_weight: float | None = None,
    candidates: int | None = None,
) -> list[Hit]:
    """The ``k`` best passages for a question by fused dense and lexical evidence, within ``scope``.

    ``parameters`` is the configuration; ``method``, ``dense_weight`` and ``candidates``, when given,
    replace one of its values (experiments, tests)."""
    changes = {"fusion": method, "dense_weight": dense_weight, "candidates": candidates}
    changes = {name: value for name, value in changes.items() if value is not None}
    p = parameters.with_(**changes) if changes else parameters
    backend = as_backend(backend)
    dense = backend.dense_candidates(query_vector, p.candidates, scope)
    lexical = backend.lexical_candidates(query_text, p.candidates, scope)
    scored = fuse(dense.rows, dense.scores, lexical.rows, lexical.scores, p.fusion, p.dense_weight, p.rrf_k)
    rows = scored.rows[:k].tolist()
    return [
        Hit(
            passage=passage,
            score=float(s),
            dense_rank=scored.dense_rank.get(r),
            lexical_rank=scored.lexical_rank.get(r),
        )
        for r, passage, s in zip(rows, backend.passages_at(rows), scored.scores[:k].tolist())
    ]


def diversify(hits: list[Hit], k: int, min_relative: float = 0.6) -> list[Hit]:
    """Top ``k`` hits where every document scoring within ``min_relative`` of the best is represented.

    A question several documents speak to is then never answered from one side only.
    """
    if not hits:
        return []
    best = hits[0].score
    chosen: list[Hit] = []
    seen_docs: set[str] = set()
    for hit in hits:
        if hit.passage.doc not in seen_docs and hit.score >= min_relative * best:
            chosen.append(hit)
            seen_docs.add(hit.passage.doc)
    for hit in hits:
        if len(chosen) >= k:
            break
        if hit not in chosen:
            chosen.append(hit)
    chosen = chosen[:k]
    return sorted(chosen, key=lambda h: -h.score)


def document_ranking(hits: list[Hit]) -> list[tuple[str, float]]:
    """Documents by their best passage score (BEIR scores documents, hrqa retrieves passages)."""
    best: dict[str, float] = {}
    for hit in hits:
        if hit.score > best.get(hit.passage.doc, -np.inf):
            best[hit.passage.doc] = hit.score
    return sorted(best.items(), key=lambda item: -item[1])


#: letters that text recognition reads for each other in sans-serif type: capital I and small l (seeds/002
#: writes "Al" for "AI" 19 times, "AI" 14 times)
OCR_LOOKALIKES = {"I": "l", "l": "I"}
#: at most this many such letters are swapped in a term (2**n - 1 spellings to look for)
OCR_MAX_SWAPS = 2


def ocr_lookalikes(term: str) -> list[str]:
    """The spellings text recognition may have made of ``term`` by reading a capital I as a small l or
    the other way round, whose folded form differs from the term's ("AI" -> "Al"); none for a term with
    more than ``OCR_MAX_SWAPS`` such letters."""
    positions = [i for i, ch in enumerate(term) if ch in OCR_LOOKALIKES]
    if not positions or len(positions) > OCR_MAX_SWAPS:
        return []
    spellings = []
    for mask in range(1, 2 ** len(positions)):
        chars = list(term)
        for bit, i in enumerate(positions):
            if mask >> bit & 1:
                chars[i] = OCR_LOOKALIKES[chars[i]]
        spelling = "".join(chars)
        if spelling.casefold() != term.casefold() and spelling not in spellings:
            spellings.append(spelling)
    return spellings


def _term_pattern(term: str, flags: int) -> re.Pattern:
    """Whole words at the ends ("art" does not find "article"), any white space between words."""
    words = term.split()
    body = r"\s+".join(re.escape(w) for w in words)
    left = r"(?<!\w)" if re.match(r"\w", words[0]) else ""
    right = r"(?!\w)" if re.search(r"\w$", words[-1]) else ""
    return re.compile(left + body + right, flags)


def find_mentions(backend: SearchBackend, term: str, docs: Iterable[str] | None = None) -> FindResult:
    """Every occurrence of ``term`` (case and white space folded) in the indexed documents, and how often
    the same documents hold a spelling text recognition may have made of it (``ocr_lookalikes``, spelled
    exactly so: "Al" for "AI", not "al" or "AL")."""
    backend = as_backend(backend)
    term = term.strip()
    if not term.split():
        return FindResult(term, 0, ())
    pattern = _term_pattern(term, re.IGNORECASE)
    lookalikes = {spelling: _term_pattern(spelling, 0) for spelling in ocr_lookalikes(term)}
    counted = dict.fromkeys(lookalikes, 0)
    searched = 0
    mentions: list[Mention] = []
    for document in backend.documents_to_search(set(docs) if docs else None):
        searched += 1
        for match in pattern.finditer(document.text):
            mentions.append(
                Mention(
                    document.id,
                    Span(match.start(), match.end()),
                    _line_around(document.text, match.start(), match.end()),
                )
            )
        for spelling, found in lookalikes.items():
            counted[spelling] += sum(1 for _ in found.finditer(document.text))
    return FindResult(term, searched, tuple(mentions), tuple((s, n) for s, n in counted.items() if n))


def _line_around(text: str, start: int, end: int, reach: int = 160) -> Span:
    """The line holding a match (clipped to ``reach`` characters either side)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    line_start = max(line_start, start - reach)
    line_end = min(line_end, end + reach)
    while line_start < start and text[line_start].isspace():
        line_start += 1
    return Span(line_start, line_end)
