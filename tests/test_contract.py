"""The JSON contract of ``hrqa ask --json`` holds for every question of tests/data/dev.jsonl: names,
types, offsets into the document files, and citation numbers that resolve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
with (DATA / "dev.jsonl").open(encoding="utf-8") as _handle:
    DEV = [json.loads(line) for line in _handle if line.strip()]
SHARED_DEV = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def answers(real_engine):
    """The engine's JSON for every dev question (JSON round trip: what a client sees)."""
    return [json.loads(json.dumps(real_engine.ask(q["question"]).to_json())) for q in DEV]


def test_the_dev_set_is_the_shared_one():
    assert len(DEV) == 30
    assert len({q["id"] for q in DEV}) == 30
    if SHARED_DEV.exists():  # beside a checkout in the project workspace
        assert (DATA / "dev.jsonl").read_bytes() == SHARED_DEV.read_bytes()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: r["citations"][0].update(passage=r["citations"][0]["passage"] + " "),
        lambda r: r["citations"][0].update(start=r["citations"][0]["start"] + 1),
        lambda r: r["answer"][0].update(citation=99),
        lambda r: r["answer"][0].update(text=r["answer"][0]["text"].upper()),
        lambda r: r.update(extra=1),
        lambda r: r.pop("timings_ms"),
        lambda r: r["citations"][0].update(n=True),
    ],
)
def test_the_contract_check_catches_a_broken_answer(answers, seeds_copy: Path, check_contract, tamper):
    result = json.loads(json.dumps(answers[1]))
    check_contract(result, seeds_copy)
    tamper(result)
    with pytest.raises(AssertionError):
        check_contract(result, seeds_copy)


@pytest.mark.parametrize("number", range(len(DEV)), ids=[q["id"] for q in DEV])
def test_contract_holds(answers, real_engine, seeds_copy: Path, check_contract, number: int):
    result = answers[number]
    check_contract(result, seeds_copy)
    assert result["question"] == DEV[number]["question"]
    assert result["index"] == {
        "id": real_engine.index.id,
        "model": "all-MiniLM-L6-v2",
        "reader": real_engine.reader.fingerprint,
    }
    assert {"encode", "retrieve", "answer", "total"} <= set(result["timings_ms"])
    assert result["citations"], "every answer cites its closest passages, also when it abstains"
    assert len(result["citations"]) <= max(real_engine.settings.top_k, len(result["answer"]))
    for citation in result["citations"]:
        document = real_engine.index.documents[citation["doc"]]
        assert (citation["title"], citation["date"], citation["publisher"], citation["kind"]) == (
            document.title,
            document.date,
            document.publisher,
            document.kind,
        )
        assert 0 <= citation["score"] <= 1
        for start, end in citation["highlights"]:
            assert citation["start"] <= start < end <= citation["end"]
    if result["abstained"]:
        assert isinstance(result["abstain_reason"], str) and result["abstain_reason"]
    else:
        assert 1 <= len(result["answer"]) <= 3
        assert result["abstain_reason"] is None
    by_number = {c["n"]: c for c in result["citations"]}
    for sentence in result["answer"]:
        assert [sentence["start"], sentence["end"]] in by_number[sentence["citation"]]["highlights"]


def test_acceptance_question_is_answered_with_the_catalog_provenance(real_engine):
    result = real_engine.ask("Which two media outlets interviewed Professor Gong Xianghe?").to_json()
    assert not result["abstained"]
    assert "the Global Times and China News Network" in " ".join(s["text"] for s in result["answer"])
    cited = {s["citation"] for s in result["answer"]}
    citation = next(c for c in result["citations"] if c["n"] in cited)
    assert citation["doc"] == "000_64fb9a0533498b8d.txt"
    assert citation["title"] == "Professor Gong Xianghe attends the 2025 Asian Human Rights Forum"
    assert citation["date"] == "2025-06-08"
    assert citation["publisher"] == "Human Rights Research Institute, Southeast University"
