"""Load: 50 questions at once through the Gradio API (gradio_client, loopback), all answered correctly.

Latency figures are written to tests/artifacts/load.json for the record; the test asserts correctness
only (timings belong in benchmarks, not in pass/fail)."""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.test_ui_api import AppServer, seeds_with_index

pytestmark = pytest.mark.slow

#: question -> text its answer must quote
EXPECTED = {
    "Which two media outlets interviewed Professor Gong Xianghe?": "the Global Times and China News Network",
    "On what dates was the 2025 Asian Human Rights Forum held?": "19 to 20 April",
    "How many organisations in total signed the global call for international human rights monitoring "
    "mechanisms on China?": "321 organisations",
    "According to LIU Huawen, which scholar introduced the concept of digital human rights?": "Ma Changshan",
    'Which ministry issued the "14th Five Year Plan for Industrial Green Development"?': (
        "Ministry of Industry and Information Technology"
    ),
}
CONCURRENT = 50
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture(scope="module")
def app(real_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    corpus, index = seeds_with_index(real_engine, folder)
    server = AppServer(corpus, index, folder / "app.log").start()
    yield server
    server.stop()


def test_fifty_concurrent_questions_are_all_answered_correctly(app):
    questions = [list(EXPECTED)[i % len(EXPECTED)] for i in range(CONCURRENT)]
    client = app.client()
    client.predict(questions[0], api_name="/ask")  # warm

    def ask(question: str) -> tuple[str, dict, float]:
        started = time.perf_counter()
        result = client.predict(question, api_name="/ask")
        return question, result, (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        outcomes = list(pool.map(ask, questions))
    wall = time.perf_counter() - started

    for question, result, _ in outcomes:
        quoted = " ".join(" ".join(s["text"].split()) for s in result["answer"])
        assert not result["abstained"], question
        assert EXPECTED[question] in quoted, (question, quoted)
    latencies = sorted(ms for _, _, ms in outcomes)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "load.json").write_text(
        json.dumps(
            {
                "questions": len(outcomes),
                "p50_ms": round(statistics.median(latencies), 1),
                "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
                "max_ms": round(latencies[-1], 1),
                "wall_s": round(wall, 2),
            },
            indent=1,
        )
    )
