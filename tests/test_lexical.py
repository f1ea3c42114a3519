"""Lexical side: the tokenizer and the BM25 index, compared against a reference BM25 written out here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hrqa.lexical import LexicalIndex, tokenize

TEXTS = [
    "The cat sat on the mat.",
    "Dogs bark loudly at night.",
    "A cat and a dog.",
    "Cats.",
    "The Japan Uyghur Union signed the open letter.",
]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Who signed the letters?", ["sign", "letter"]),
        ("Which two media outlets interviewed him?", ["two", "media", "outlet", "interview"]),
        ("CHRD’s statement, U.S.-China", ["chrd", "statement", "u", "china"]),
        ("人权 and 技术", ["人权", "技术"]),
        ("the of and", []),
        ("", []),
        ("Running RUNS ran", ["run", "run", "ran"]),
    ],
)
def test_tokenize(text: str, tokens: list[str]):
    assert tokenize(text) == tokens


def reference_bm25(corpus: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """BM25 as Lucene scores it (the bm25s default): idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
    term score = idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))."""
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    scores = np.zeros(n)
    for term in set(query):
        df = sum(term in d for d in corpus)
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, document in enumerate(corpus):
            tf = document.count(term)
            if tf:
                scores[i] += idf * tf / (tf + k1 * (1 - b + b * len(document) / avgdl))
    return scores


@pytest.mark.parametrize("query", ["dog", "cat", "cats and dogs at night", "Japan Uyghur Union", "mat cat"])
def test_scores_match_the_reference_bm25(query: str):
    index = LexicalIndex.build(TEXTS)
    expected = reference_bm25([tokenize(t) for t in TEXTS], tokenize(query))
    assert np.allclose(index.scores(query), expected, atol=1e-5)


def test_scores_rank_the_matching_passages():
    scores = LexicalIndex.build(TEXTS).scores("dog")
    assert scores.dtype == np.float32 and scores.shape == (5,)
    assert list(np.argsort(-scores, kind="stable")[:2]) == [2, 1]  # the shorter passage wins
    assert scores[0] == scores[3] == scores[4] == 0


@pytest.mark.parametrize("query", ["zebra", "the of", "", "?!"])
def test_a_query_with_no_indexed_word_scores_zero(query: str):
    scores = LexicalIndex.build(TEXTS).scores(query)
    assert scores.shape == (5,) and not scores.any()


def test_passages_without_words_are_indexable():
    index = LexicalIndex.build(["", "the of", "Owls hunt."])
    assert index.size == 3
    scores = index.scores("owls")
    assert scores[0] == scores[1] == 0 and scores[2] > 0


def test_idf_and_knows():
    index = LexicalIndex.build(TEXTS)
    # "cat" is in 3 of 5 passages (cat, cat, cats)
    assert index.idf("cat") == pytest.approx(math.log(1 + (5 - 3 + 0.5) / 3.5))
    unseen = math.log(1 + 5.5 / 0.5)
    assert index.idf("zebra") == pytest.approx(unseen)
    assert index.idf("uyghur") == pytest.approx(math.log(1 + 4.5 / 1.5))
    assert index.knows("cat") and index.knows("uyghur")
    assert not index.knows("zebra")


def test_save_and_load_round_trip(tmp_path: Path):
    index = LexicalIndex.build(TEXTS)
    index.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25")
    assert loaded.size == 5
    for query in ("dog", "Japan Uyghur Union", "zebra"):
        assert np.array_equal(loaded.scores(query), index.scores(query))
    assert loaded.idf("cat") == index.idf("cat")


@pytest.mark.parametrize("query", ["cat", "cat cat dog", "Japan Uyghur Union letter", "zebra", ""])
def test_scores_equal_bm25s_own_on_the_same_folder(tmp_path: Path, query: str):
    """hrqa reads and scores bm25s's files with numpy alone; bm25s itself loads the same folder and
    gives the same float32 scores (a repeated query token counted once per occurrence in both)."""
    import bm25s

    LexicalIndex.build(TEXTS).save(tmp_path / "bm25")
    ours = LexicalIndex.load(tmp_path / "bm25")
    theirs = bm25s.BM25.load(str(tmp_path / "bm25"), show_progress=False, verbosity=0)
    tokens = [t for t in tokenize(query) if t in theirs.vocab_dict]
    expected = theirs.get_scores(tokens) if tokens else np.zeros(len(TEXTS), dtype=np.float32)
    assert ours.scores(query).dtype == np.float32
    assert np.array_equal(ours.scores(query), expected)


def test_a_loaded_index_is_memory_mapped_and_needs_no_bm25s(tmp_path: Path):
    import subprocess
    import sys

    LexicalIndex.build(TEXTS).save(tmp_path / "bm25")
    assert isinstance(LexicalIndex.load(tmp_path / "bm25")._data, np.memmap)
    program = (
        "import sys; from pathlib import Path; from hrqa.lexical import LexicalIndex; "
        f"index = LexicalIndex.load(Path({str(tmp_path / 'bm25')!r})); index.scores('cat'); "
        "assert 'bm25s' not in sys.modules and 'scipy' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", program], check=True)


def test_a_method_with_a_per_query_term_is_refused(tmp_path: Path):
    import json

    LexicalIndex.build(TEXTS).save(tmp_path / "bm25")
    params = json.loads((tmp_path / "bm25/params.index.json").read_text(encoding="utf-8"))
    params["method"] = "bm25l"
    (tmp_path / "bm25/params.index.json").write_text(json.dumps(params), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bm25 method 'bm25l' is not one of robertson, lucene, atire"):
        LexicalIndex.load(tmp_path / "bm25")
