"""The served engine's lifecycle in process (``hrqa.lifecycle``): open or build in the background,
rebuild while serving, progress and status, failures and refusals. Tiny corpus, fake embedder; an
embedder that stops inside a build until the test lets it go makes each "meanwhile" certain."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hrqa.embedding import HashingEmbedder
from hrqa.errors import CorpusError, IndexBusyError
from hrqa.lifecycle import Activity, IndexNotReadyError, Lifecycle
from hrqa.settings import Settings

QUESTION = "Where was the river festival held?"
#: seconds a test waits for another thread to reach a point (a failure, not a measurement)
WAIT = 60


class GatedEmbedder(HashingEmbedder):
    """Embeds documents only once ``release`` is set (``entered`` says a build is waiting there), or
    raises ``failure`` there; questions are embedded at once."""

    def __init__(self, *, closed: bool = True) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.failure: Exception | None = None
        if not closed:
            self.release.set()

    def embed(self, texts, progress=None):
        self.entered.set()
        assert self.release.wait(WAIT), "the test never released the build"
        if self.failure is not None:
            raise self.failure
        return super().embed(texts, progress)

    def close(self) -> None:
        self.release.clear()
        self.entered.clear()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls.append((stage, done, total))


@pytest.fixture
def served(tiny_settings: Settings) -> tuple[Lifecycle, GatedEmbedder, Recorder]:
    """A lifecycle whose index is open and served (built synchronously, the gate open), then closed."""
    embedder, recorder = GatedEmbedder(closed=False), Recorder()
    lifecycle = Lifecycle(tiny_settings, embedder, progress=recorder)
    lifecycle.open()
    assert lifecycle.status().ready and not lifecycle.status().building
    embedder.close()
    recorder.calls.clear()
    return lifecycle, embedder, recorder


def add_document(settings: Settings, name: str = "d.txt") -> None:
    (settings.corpus_dir / name).write_text("The lantern parade was held in Porto.\n", encoding="utf-8")


def in_background(function) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except Exception as error:  # noqa: BLE001 - handed to the test, which asserts on it
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_a_missing_index_is_built_in_the_background_with_progress_and_status(tiny_settings: Settings):
    embedder, recorder = GatedEmbedder(), Recorder()
    lifecycle = Lifecycle(tiny_settings, embedder, progress=recorder)
    assert lifecycle.status().activity is None and not lifecycle.status().ready

    thread = lifecycle.start()
    assert embedder.entered.wait(WAIT)
    building = lifecycle.status()
    assert (building.ready, building.activity, building.index_id) == (False, Activity.BUILDING, None)
    assert building.progress == recorder.calls[-1]  # the build's latest step, also told to the listener
    with pytest.raises(IndexNotReadyError, match=r"the index is being built \(.+ \d+/\d+\); ask again"):
        lifecycle.require_engine()
    with pytest.raises(IndexNotReadyError, match="it will be up to date when that finishes"):
        lifecycle.rebuild()

    embedder.release.set()
    thread.join(WAIT)
    ready = lifecycle.status()
    assert (ready.ready, ready.activity, ready.progress, ready.error) == (True, None, None, None)
    assert ready.index_id == lifecycle.require_engine().index.id
    assert lifecycle.engine.status().documents == 3
    stages = [stage for stage, _, _ in recorder.calls]
    assert stages and len(set(stages)) >= 2  # several stages reported, each with (done, total)
    assert all(0 <= done <= total for _, done, total in recorder.calls)


def test_questions_during_a_rebuild_are_answered_from_the_old_snapshot(served, tiny_settings: Settings):
    lifecycle, embedder, _ = served
    old = lifecycle.engine.index.id
    add_document(tiny_settings)

    thread, outcome = in_background(lifecycle.rebuild)
    assert embedder.entered.wait(WAIT)
    status = lifecycle.status()
    assert (status.ready, status.activity, status.index_id) == (True, Activity.REBUILDING, old)
    answer = lifecycle.require_engine().ask(QUESTION)
    assert answer.index_id == old and "Lyon" in " ".join(s.text for s in answer.sentences)

    embedder.release.set()
    thread.join(WAIT)
    report = outcome["value"]
    assert report.added == ("d.txt",) and report.index_id != old
    assert lifecycle.status().index_id == report.index_id and lifecycle.status().activity is None
    assert lifecycle.require_engine().ask("Where was the lantern parade held?").citations[0].doc == "d.txt"


def test_a_failed_rebuild_keeps_the_old_index_and_reports_the_error(served, tiny_settings: Settings):
    lifecycle, embedder, _ = served
    old = lifecycle.engine.index.id
    add_document(tiny_settings)
    embedder.failure = RuntimeError("the disk went away")
    embedder.release.set()

    with pytest.raises(RuntimeError, match="the disk went away"):
        lifecycle.rebuild()

    status = lifecycle.status()
    assert (status.ready, status.activity, status.index_id) == (True, None, old)
    assert status.error == "the rebuild failed (RuntimeError: the disk went away)"
    assert lifecycle.require_engine().ask(QUESTION).index_id == old

    embedder.failure = None  # the next rebuild succeeds and clears the error
    report = lifecycle.rebuild()
    assert lifecycle.status().error is None and lifecycle.status().index_id == report.index_id != old


def test_a_rebuild_refused_by_the_corpus_keeps_the_index_and_says_why(served, tiny_settings: Settings):
    lifecycle, embedder, _ = served
    old = lifecycle.engine.index.id
    for path in tiny_settings.corpus_dir.iterdir():
        path.unlink()
    embedder.release.set()

    with pytest.raises(CorpusError) as caught:
        lifecycle.rebuild()

    assert lifecycle.status().error == str(caught.value)
    assert lifecycle.status().index_id == old == lifecycle.require_engine().index.id


def test_a_second_rebuild_while_one_runs_is_refused_and_the_first_one_finishes(served, tiny_settings: Settings):
    lifecycle, embedder, _ = served
    old = lifecycle.engine.index.id
    add_document(tiny_settings)
    thread, outcome = in_background(lifecycle.rebuild)
    assert embedder.entered.wait(WAIT)

    with pytest.raises(IndexBusyError, match=r"another rebuild of .*index is running; wait for it"):
        lifecycle.rebuild()
    assert lifecycle.status().error is None  # refused, not failed
    assert lifecycle.status().activity is Activity.REBUILDING

    embedder.release.set()
    thread.join(WAIT)
    assert outcome["value"].index_id == lifecycle.status().index_id != old
    assert lifecycle.status().activity is None


def test_a_stale_index_is_served_while_it_is_rebuilt(tiny_settings: Settings):
    Lifecycle(tiny_settings, HashingEmbedder()).open()  # an index of the three documents
    add_document(tiny_settings)
    embedder = GatedEmbedder()
    lifecycle = Lifecycle(tiny_settings, embedder)

    thread = lifecycle.start()
    assert embedder.entered.wait(WAIT)
    status = lifecycle.status()
    assert (status.ready, status.activity) == (True, Activity.REBUILDING)
    old = status.index_id
    assert "d.txt" not in lifecycle.require_engine().index.documents
    assert lifecycle.require_engine().ask(QUESTION).index_id == old

    embedder.release.set()
    thread.join(WAIT)
    assert lifecycle.status().index_id != old and "d.txt" in lifecycle.require_engine().index.documents


def test_an_open_that_fails_is_reported_and_a_rebuild_builds_the_index(tmp_path: Path):
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    settings.corpus_dir.mkdir()
    lifecycle = Lifecycle(settings, HashingEmbedder())

    lifecycle.open()  # an empty corpus: nothing to build

    status = lifecycle.status()
    assert (status.ready, status.activity) == (False, None) and status.error
    with pytest.raises(IndexNotReadyError, match=r"the index is not available: .+; use Rebuild embeddings"):
        lifecycle.require_engine()
    add_document(settings)
    report = lifecycle.rebuild()
    assert lifecycle.status().error is None and lifecycle.require_engine().index.id == report.index_id
