"""The web app's named API through gradio_client, against `python app.py` on a free loopback port.

`AppServer` is also used by test_browser.py and test_ui_security.py (one server per module)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GONG = "Which two media outlets interviewed Professor Gong Xianghe?"
ASEM = "Where was the 23rd ASEM seminar on human rights held?"
ASEM_DOC = "002_c71cddd6e74d6b21.txt"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """`python app.py --port N` in a subprocess over a corpus and an index in a temp folder."""

    def __init__(
        self,
        corpus: Path,
        index: Path,
        log_path: Path,
        *args: str,
        env: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ):
        self.corpus, self.index, self.log_path = corpus, index, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.args, self.auth = args, auth
        self.extra_env = {**(env or {}), **({"HRQA_AUTH": ":".join(auth)} if auth else {})}
        self.process: subprocess.Popen | None = None
        self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        self._logged_in = False

    def start(self, timeout: float = 420) -> AppServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
        env.update(
            {
                "HRQA_CORPUS_DIR": str(self.corpus),
                "HRQA_INDEX_DIR": str(self.index),
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), *self.args],
            cwd=self.log_path.parent,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app exited with {self.process.returncode}:\n{self.log()}")
            status = self.status()
            if status and status["ready"] and not status["building"]:
                return self
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"the app was not ready within {timeout} s:\n{self.log()}")

    def status(self) -> dict | None:
        """The `status` endpoint over plain HTTP (it bypasses the queue), or None while not up."""
        request = urllib.request.Request(
            f"{self.url}gradio_api/call/status", data=b'{"data": []}', headers={"Content-Type": "application/json"}
        )
        try:
            if self.auth and not self._logged_in:
                form = urllib.parse.urlencode({"username": self.auth[0], "password": self.auth[1]}).encode()
                self._http.open(f"{self.url}login", data=form, timeout=5).close()
                self._logged_in = True
            with self._http.open(request, timeout=5) as response:
                event_id = json.loads(response.read())["event_id"]
            with self._http.open(f"{self.url}gradio_api/call/status/{event_id}", timeout=10) as response:
                lines = response.read().decode("utf-8").splitlines()
        except OSError:
            return None
        for line in lines:
            if line.startswith("data:"):
                data = json.loads(line[5:])
                if isinstance(data, list) and data and isinstance(data[0], dict):
                    return data[0]
        return None

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False, auth=self.auth)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if getattr(self, "_log", None):
            self._log.close()


def seeds_with_index(real_engine, folder: Path) -> tuple[Path, Path]:
    """A fresh copy of the seeds plus a copy of the session's seeds index (built once by conftest's
    `real_engine`), so each module's server starts without re-embedding the seeds."""
    corpus, index = folder / "seeds", folder / "index"
    shutil.copytree(SEEDS, corpus)
    shutil.copytree(real_engine.settings.index_dir, index, ignore=shutil.ignore_patterns(".build.lock"))
    return corpus, index


@pytest.fixture(scope="module")
def app(real_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-api")
    corpus, index = seeds_with_index(real_engine, folder)
    server = AppServer(corpus, index, folder / "app.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(app):
    return app.client()


def test_ask_returns_the_json_contract_with_the_quoted_answer(app, client, check_contract):
    result = client.predict(GONG, api_name="/ask")

    check_contract(result, app.corpus)
    assert result["abstained"] is False
    assert "the Global Times and China News Network" in " ".join(s["text"] for s in result["answer"])
    cited = {c["n"]: c for c in result["citations"]}
    first = result["answer"][0]
    assert cited[first["citation"]]["doc"] == first["doc"] == "000_64fb9a0533498b8d.txt"


def test_follow_up_question_is_asked_in_the_context_of_the_previous_one(client):
    first = client.predict(ASEM, api_name="/ask")
    follow_up = client.predict("Who hosted it?", 0, [ASEM], api_name="/ask")

    def quoted(result: dict) -> str:  # the quoted answer sentences
        return " ".join(" ".join(s["text"].split()) for s in result["answer"])

    assert "Copenhagen" in quoted(first)
    assert follow_up["abstained"] is False
    assert ASEM in follow_up["searched"]
    assert {c["doc"] for c in follow_up["citations"]} == {ASEM_DOC}
    assert "hosted by the Ministry of Foreign Affairs of Denmark" in quoted(follow_up)


def test_document_filter_keeps_every_citation_in_the_chosen_document(client):
    result = client.predict(
        "Which organisations from Japan signed the open letter?", 0, None, [ASEM_DOC], api_name="/ask"
    )

    assert result["citations"]
    assert {c["doc"] for c in result["citations"]} == {ASEM_DOC}


def test_kind_filter_keeps_every_citation_in_the_chosen_kind(client):
    result = client.predict(
        "Is China's use of surveillance technology portrayed as protective or as a threat?",
        0,
        None,
        None,
        ["state-affiliated"],
        api_name="/ask",
    )

    assert result["citations"]
    assert {c["kind"] for c in result["citations"]} == {"state-affiliated"}


@pytest.mark.parametrize(
    "question, message",
    [
        ("   ", "the question is empty"),
        ("x" * 2001, "over the limit of 2000"),
    ],
)
def test_a_bad_question_is_refused_with_its_reason(client, question, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(question, api_name="/ask")


def test_status_reports_the_served_index(client):
    status = client.predict(api_name="/status")

    assert status["ready"] is True
    assert "5 documents" in status["line"]


# ----------------------------------------------------------------------------- the researcher's desk (issue 13)


def test_find_returns_counts_every_mention_and_the_searched_scope(app, client, real_engine):
    result = client.predict("Japan", api_name="/find")

    assert result == real_engine.every_mention("Japan", limit=1000).to_json()  # what the engine says, as JSON
    assert result["documents_searched"] == 5
    assert result["total"] == sum(c["mentions"] for c in result["counts"]) == len(result["mentions"]) > 0
    assert result["counts"][0]["id"] == "004_6fc4feaa17a14d90.txt"
    assert result["counts"][0]["publisher"] == "FORUM-ASIA (joint open letter of 321 organisations)"
    for mention in result["mentions"]:
        text = (app.corpus / mention["doc"]).read_text(encoding="utf-8")
        assert text[mention["start"] : mention["end"]] == "Japan"
        assert text[mention["context_start"] : mention["context_end"]] == mention["context"]


def test_find_counts_the_spelling_text_recognition_made_of_the_term_apart(client):
    """seeds/002 writes "Al" for "AI" (text recognition) 19 times and "AI" 14 times."""
    result = client.predict("AI", api_name="/find")

    assert result["total"] == 14
    assert result["lookalikes"] == [{"spelling": "Al", "mentions": 19}]
    assert "not counted: 19 of “Al”, which text recognition may have made of “AI”" in result["summary"]


def test_find_keeps_to_the_filters_and_the_limit(client):
    only = client.predict("Japan", [ASEM_DOC, "000_64fb9a0533498b8d.txt"], None, api_name="/find")
    assert only["documents_searched"] == 2
    assert {c["id"] for c in only["counts"]} == {"000_64fb9a0533498b8d.txt"}

    ngo = client.predict("Japan", None, ["NGO"], api_name="/find")
    assert ngo["documents_searched"] == 2 and {c["kind"] for c in ngo["counts"]} == {"NGO"}

    limited = client.predict("Japan", None, None, 2, api_name="/find")
    assert len(limited["mentions"]) == 2 and limited["total"] > 2


def test_find_of_an_absent_word_says_what_was_searched(client):
    result = client.predict("Zanzibar", api_name="/find")

    characters = result["characters_searched"]
    assert result["total"] == 0 and result["counts"] == [] and result["mentions"] == []
    assert result["summary"] == f"searched 5 documents, {characters:,} characters: no mention of “Zanzibar”"


@pytest.mark.parametrize(
    "args, message",
    [
        (("   ",), "the search term is empty"),
        (("Japan", ["../seeds/catalog.toml"]), "no indexed document"),
        (("Japan", None, ["poetry"]), "no indexed document is of kind 'poetry'"),
        (("Japan", None, None, -3), "limit must be a whole number"),
    ],
)
def test_find_refuses_bad_arguments_with_their_reason(client, args, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/find")


def test_documents_lists_every_seed_with_its_catalog_provenance(app, client):
    import tomllib

    catalog = tomllib.loads((SEEDS / "catalog.toml").read_text(encoding="utf-8"))
    result = client.predict(api_name="/documents")
    status = client.predict(api_name="/status")

    assert result["index"]["id"] == status["index"]
    assert result["index"]["model"] and result["index"]["built_at"]
    assert [d["id"] for d in result["documents"]] == sorted(catalog)
    for document in result["documents"]:
        entry = catalog[document["id"]]
        assert {k: document[k] for k in ("title", "publisher", "kind")} == {
            k: entry[k] for k in ("title", "publisher", "kind")
        }
        assert document["date"] == entry.get("date")
        assert document["url"] is None
        assert document["passages"] >= 1
        assert document["sha256"] == hashlib.sha256((app.corpus / document["id"]).read_bytes()).hexdigest()
        served = client.predict(document["id"], api_name="/document")
        assert document["characters"] == len(served["text"])
    assert f"{sum(d['passages'] for d in result['documents'])} passages" in status["line"]


# (runs last: it adds a document to this module's corpus)


def test_questions_asked_during_a_rebuild_are_answered_from_the_old_index(app, client):
    """The rebuild embeds a new document for several seconds; a question asked meanwhile is answered at once,
    from the index being served, and the rebuild then swaps in the new index."""
    old_index = client.predict(api_name="/status")["index"]
    filler = " ".join(
        f"Entry {i} of the lantern survey counted {i * 7} lanterns along canal {i % 13} in {1800 + i}."
        for i in range(300)
    )
    (app.corpus / "lantern_survey.txt").write_text(f"Lantern survey\n\n{filler}\n", encoding="utf-8")

    finished: dict[str, float] = {}
    rebuild_job = client.submit(api_name="/rebuild")
    rebuild_job.add_done_callback(lambda _: finished.setdefault("rebuild", time.monotonic()))
    deadline = time.monotonic() + 60
    while not (app.status() or {}).get("building"):
        assert time.monotonic() < deadline, "the rebuild did not start"
        time.sleep(0.2)

    answers: list[dict] = []

    def ask() -> None:
        answers.append(app.client().predict(GONG, api_name="/ask"))
        finished["ask"] = time.monotonic()

    askers = [threading.Thread(target=ask) for _ in range(3)]
    for thread in askers:
        thread.start()
    for thread in askers:
        thread.join(120)
    report = rebuild_job.result(timeout=300)

    assert len(answers) == 3
    for answer in answers:
        assert "the Global Times and China News Network" in " ".join(s["text"] for s in answer["answer"])
        assert answer["index"]["id"] == old_index
    assert finished["ask"] < finished["rebuild"], "a question waited for the rebuild"
    assert report["added"] == ["lantern_survey.txt"]
    assert report["passages_embedded"] > 0
    assert report["index"] != old_index
    assert client.predict(api_name="/status")["index"] == report["index"]
    after = client.predict("How many lanterns did entry 12 of the lantern survey count?", api_name="/ask")
    assert after["index"]["id"] == report["index"]
