"""Faults (issue 5): a rebuild killed at any moment, two rebuilds at once, questions during a rebuild.

A killed rebuild runs in its own process and dies by SIGKILL, so nothing of it can clean up. Most
builds here run the real ``hrqa index`` code (``hrqa.cli.main``) through a small driver that swaps in
a fake embedder slowed to a real model's pace and writes a mark at each stage (and pauses at each step
of the write phase), so a test can kill it at a known moment. One test kills ``python -m hrqa.cli
index`` itself, with the packaged model, while it embeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from hrqa import store
from hrqa.embedding import HashingEmbedder
from hrqa.engine import Engine
from hrqa.errors import IndexBusyError
from hrqa.settings import Settings

DRIVER = r"""
import contextlib, os, sys, time
from pathlib import Path

import numpy as np

from hrqa import cli, embedding, progress, store, vectors

MARKS = Path(os.environ["FAULT_MARKS"])
TAG = os.environ["FAULT_TAG"]
EMBED_DELAY = float(os.environ["FAULT_EMBED_DELAY"])
PAUSE_AT = os.environ["FAULT_PAUSE_AT"]


def mark(event):
    with MARKS.open("a", encoding="utf-8") as handle:
        handle.write(f"{TAG} {event}\n")
    if event == PAUSE_AT:  # long enough for the test to kill it right here
        time.sleep(60)


class SlowHashingEmbedder(embedding.HashingEmbedder):
    def embed(self, texts, progress=None):
        rows = [np.zeros((0, self.dimension), np.float32)]
        for begin in range(0, len(texts), 32):
            time.sleep(EMBED_DELAY)
            rows.append(super().embed(texts[begin : begin + 32]))
            if progress:
                progress(min(begin + 32, len(texts)), len(texts))
        return np.concatenate(rows)


embedding.load_embedder = lambda model, batch_size=64, **options: SlowHashingEmbedder()

progress_call = progress.ConsoleProgress.__call__
def on_progress(self, stage, done, total):
    if stage != self.stage:
        mark("stage " + stage)
    progress_call(self, stage, done, total)
progress.ConsoleProgress.__call__ = on_progress

real_lock = store.build_lock
@contextlib.contextmanager
def build_lock(index_dir, wait=False):
    mark("waiting for the lock")
    with real_lock(index_dir, wait):
        mark("locked")
        yield
        mark("unlocking")
store.build_lock = build_lock

def mark_before(owner, name, event, when=lambda *a: True):
    real = getattr(owner, name)
    def wrapper(*args, **kwargs):
        if when(*args):
            mark(event)
        return real(*args, **kwargs)
    setattr(owner, name, wrapper)

# the steps of the write phase, in order
mark_before(vectors, "save_vector_index", "write: saving vectors")
mark_before(store, "_read_snapshot", "write: verifying", lambda root, *a: root.name.startswith(".building-"))
mark_before(store, "_write_atomically", "write: switching")
mark_before(store.os, "replace", "write: replacing CURRENT", lambda *a: len(a) > 1 and Path(a[1]).name == "CURRENT")
mark_before(store, "_prune", "write: switched")

sys.exit(cli.main(sys.argv[1:]))
"""

WRITE_STEPS = ["write: saving vectors", "write: verifying", "write: switching", "write: replacing CURRENT"]
#: generated documents added after the previous index was built: the kill builds must embed them
GENERATED = 120
QUESTION = "Where was the river festival held?"

WORDS = [
    "rights",
    "court",
    "report",
    "journalist",
    "detained",
    "province",
    "hearing",
    "petition",
    "union",
    "letter",
    "signed",
    "council",
    "freedom",
    "press",
    "assembly",
    "observer",
    "mission",
    "statement",
    "evidence",
]


def write_generated(folder: Path, count: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for number in range(count):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "." for _ in range(8)
        ]
        (folder / f"generated_{seed}_{number:04d}.txt").write_text(
            f"Report {number}\n\n" + " ".join(sentences[:4]) + "\n" + " ".join(sentences[4:]) + "\n", encoding="utf-8"
        )


def write_small_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "festival.txt").write_text(
        "The river festival was held in Lyon.\nIt lasted three\ndays in June.\n\nThe mayor opened it.\n",
        encoding="utf-8",
    )
    (folder / "owls.md").write_text("# Notes\n\nOwls hunt at night. Larks sing at dawn.\n", encoding="utf-8")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """An index of a small corpus (the one being served), and then many new documents in the corpus."""
    root = tmp_path_factory.mktemp("faults")
    write_small_corpus(root / "corpus")
    store.build_index(Settings(corpus_dir=root / "corpus", index_dir=root / "index"), HashingEmbedder())
    write_generated(root / "corpus", GENERATED)
    return root


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path, dirs_exist_ok=True)
    return tmp_path


def settings_of(root: Path) -> Settings:
    return Settings(corpus_dir=root / "corpus", index_dir=root / "index")


def start_driver(root: Path, *args: str, tag: str = "A", embed_delay: float = 0.0, pause_at: str = ""):
    """The driver running `hrqa index ARGS` in ``root``; it stops for a minute at the mark ``pause_at``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    env.update(
        FAULT_MARKS=str(root / "marks"), FAULT_TAG=tag, FAULT_EMBED_DELAY=str(embed_delay), FAULT_PAUSE_AT=pause_at
    )
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, "index", "--corpus", "corpus", "--index-dir", "index", *args],
        cwd=root,
        env=env,
        stdout=(root / f"{tag}.out").open("w"),
        stderr=(root / f"{tag}.err").open("w"),
    )


def marks(root: Path) -> list[str]:
    path = root / "marks"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def kill(process: subprocess.Popen) -> None:
    assert process.poll() is None, "the build finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def index_state(index_dir: Path) -> dict:
    """The live snapshot: CURRENT, the manifest id, and the sha256 of every file in the snapshot."""
    live = store.current_snapshot(index_dir)
    return {
        "CURRENT": (index_dir / "CURRENT").read_text(encoding="utf-8"),
        "id": json.loads((live / "manifest.json").read_text(encoding="utf-8"))["id"],
        "files": {
            p.relative_to(live).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(live.rglob("*"))
            if p.is_file()
        },
    }


def assert_serves(settings: Settings, index_id: str) -> None:
    engine = Engine.open(settings, embedder=HashingEmbedder())
    assert engine.index.id == index_id
    answer = engine.ask(QUESTION)
    assert any("Lyon" in s.text for s in answer.sentences)


def assert_a_normal_rebuild_succeeds_and_cleans_up(settings: Settings, previous_id: str) -> None:
    report = store.build_index(settings, HashingEmbedder())
    assert report.documents == GENERATED + 2
    assert_serves(settings, report.index_id)
    snapshots = settings.index_dir / "snapshots"
    assert sorted(p.name for p in snapshots.iterdir()) == sorted({previous_id, report.index_id})
    assert not list(settings.index_dir.glob(".CURRENT.*"))


# ----------------------------------------------------------------------------- killed rebuilds


@pytest.mark.parametrize("seconds", [0.5, 1.5, 3.0])
def test_a_rebuild_killed_after_some_seconds_leaves_the_index_identical(root: Path, seconds: float) -> None:
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    build = start_driver(root, embed_delay=0.07)
    time.sleep(seconds)
    kill(build)
    reached = [m.split(" ", 1)[1] for m in marks(root) if " stage " in m or " write" in m]
    print(f"killed after {seconds} s, during: {reached[-1] if reached else 'start-up and reading'}")
    assert index_state(settings.index_dir) == before, reached
    assert_serves(settings, before["id"])
    assert_a_normal_rebuild_succeeds_and_cleans_up(settings, before["id"])


@pytest.mark.parametrize("step", WRITE_STEPS)
def test_a_rebuild_killed_while_writing_leaves_the_index_identical(root: Path, step: str) -> None:
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    build = start_driver(root, pause_at=step)
    wait_for(lambda: f"A {step}" in marks(root), what=step)
    kill(build)
    snapshots = settings.index_dir / "snapshots"
    left = sorted(p.name for p in snapshots.iterdir())
    assert index_state(settings.index_dir) == before, left
    if step in ("write: saving vectors", "write: verifying"):  # an unfinished snapshot beside the live one
        assert any(name.startswith(".building-") for name in left), left
    else:  # complete and in place, but never made live
        assert len([name for name in left if not name.startswith(".")]) == 2, left
    if step == "write: replacing CURRENT":  # the new pointer was written but never swapped in
        assert list(settings.index_dir.glob(".CURRENT.*.tmp"))
    assert_serves(settings, before["id"])
    assert_a_normal_rebuild_succeeds_and_cleans_up(settings, before["id"])


def test_a_rebuild_killed_after_the_switch_serves_the_new_index(root: Path) -> None:
    """Past the atomic switch the new snapshot is live and complete; the previous one is still intact."""
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    build = start_driver(root, pause_at="write: switched")
    wait_for(lambda: "A write: switched" in marks(root), what="the switch")
    kill(build)
    after = index_state(settings.index_dir)
    assert after["id"] != before["id"]
    assert_serves(settings, after["id"])
    previous = settings.index_dir / "snapshots" / before["id"]
    assert {
        p.relative_to(previous).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(previous.rglob("*"))
        if p.is_file()
    } == before["files"]


def test_several_kills_in_a_row_then_a_normal_rebuild(root: Path) -> None:
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    for step in WRITE_STEPS:
        build = start_driver(root, pause_at=step)
        wait_for(lambda step=step: f"A {step}" in marks(root), what=step)
        kill(build)
        (root / "marks").unlink()
        assert index_state(settings.index_dir) == before
    assert_a_normal_rebuild_succeeds_and_cleans_up(settings, before["id"])


@pytest.mark.slow
def test_killing_hrqa_index_with_the_real_model_while_it_embeds(root: Path) -> None:
    """``python -m hrqa.cli index`` itself: the previous index was built with another (fake) model, so it
    embeds every passage; it is killed once embedding is under way."""
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    err = root / "real.err"
    build = subprocess.Popen(
        [sys.executable, "-m", "hrqa.cli", "index", "--corpus", "corpus", "--index-dir", "index"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=err.open("w"),
    )
    wait_for(
        lambda: "embedding passages" in err.read_text(encoding="utf-8", errors="replace"), timeout=180, what="embedding"
    )
    time.sleep(0.5)
    kill(build)
    assert index_state(settings.index_dir) == before
    assert_serves(settings, before["id"])


# ----------------------------------------------------------------------------- two rebuilds at once


def test_a_second_rebuild_is_refused_while_one_runs(root: Path, hrqa_cli) -> None:
    settings = settings_of(root)
    before = index_state(settings.index_dir)
    first = start_driver(root, embed_delay=0.08)
    wait_for(lambda: "A locked" in marks(root), what="the lock")
    with pytest.raises(IndexBusyError, match=r"another rebuild of .*index is running; wait for it"):
        store.build_index(settings, HashingEmbedder())
    result = hrqa_cli("index", "--corpus", "corpus", "--index-dir", "index", cwd=root)
    assert result.returncode == 2
    hrqa_cli.error(result, "another rebuild of index is running")
    assert first.poll() is None, "the first build must still be running for this test to mean anything"
    assert first.wait(timeout=120) == 0, (root / "A.err").read_text()
    after = index_state(settings.index_dir)
    assert after["id"] != before["id"] and after["id"] in (root / "A.out").read_text()
    assert_serves(settings, after["id"])


def test_a_second_rebuild_with_wait_runs_after_the_first(root: Path) -> None:
    settings = settings_of(root)
    first = start_driver(root, tag="A", embed_delay=0.08)
    wait_for(lambda: "A locked" in marks(root), what="the first lock")
    second = start_driver(root, "--wait", tag="B")
    wait_for(lambda: "B waiting for the lock" in marks(root), what="the second build")
    assert first.poll() is None, "the first build must still be running for this test to mean anything"
    assert first.wait(timeout=120) == 0, (root / "A.err").read_text()
    assert second.wait(timeout=120) == 0, (root / "B.err").read_text()
    events = [m for m in marks(root) if m.split(" ", 1)[1] in ("locked", "unlocking")]
    assert events == ["A locked", "A unlocking", "B locked", "B unlocking"]  # never interleaved
    second_report = (root / "B.out").read_text()
    # the second build read the first one's complete snapshot: nothing left to embed
    assert "embedded 0 passages and 0 sentences" in second_report
    assert index_state(settings.index_dir)["id"] in second_report
    assert_serves(settings, index_state(settings.index_dir)["id"])


# ----------------------------------------------------------------------------- questions during a rebuild


class SlowEmbedder(HashingEmbedder):
    """Embeds documents at a real model's pace; questions stay fast."""

    def embed(self, texts, progress=None):
        rows = [np.zeros((0, self.dimension), np.float32)]
        for begin in range(0, len(texts), 32):
            time.sleep(0.01)
            rows.append(super().embed(texts[begin : begin + 32]))
        return np.concatenate(rows)


def test_questions_asked_during_a_rebuild_are_all_answered(tmp_path: Path) -> None:
    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    store.build_index(settings, HashingEmbedder())
    engine = Engine.open(settings, embedder=SlowEmbedder())
    old = engine.index
    write_generated(tmp_path / "corpus", 100)
    (tmp_path / "corpus" / "parade.txt").write_text("The lantern parade was held in Porto.\n", encoding="utf-8")

    answers: dict[int, list] = defaultdict(list)
    loads: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask(number: int) -> None:
        while not stop.is_set():
            try:
                answers[number].append(engine.ask(QUESTION))
            except Exception as error:  # noqa: BLE001 - any failure fails the test, reported below
                errors.append(error)

    def load() -> None:  # another process's view: what is on disk loads whole, old or new
        while not stop.is_set():
            try:
                loads.append(store.load_index(settings.index_dir).id)
            except Exception as error:  # noqa: BLE001 - as above
                errors.append(error)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(3)] + [threading.Thread(target=load)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    report = engine.rebuild()
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors[:3]
    new = engine.index
    assert new.id == report.index_id != old.id and "parade.txt" in new.documents
    snapshots = {old.id: old, new.id: new}
    for number, sequence in answers.items():
        ids = [a.index_id for a in sequence]
        assert set(ids) <= set(snapshots)
        switch = ids.index(new.id) if new.id in ids else len(ids)
        assert ids == [old.id] * switch + [new.id] * (len(ids) - switch), number  # one switch, never back
        for answer in sequence:
            index = snapshots[answer.index_id]  # every quote comes from the snapshot the answer names
            assert any("Lyon" in s.text for s in answer.sentences)
            for s in answer.sentences:
                assert index.documents[s.doc].text[s.span.start : s.span.end] == s.text
    all_ids = [a.index_id for sequence in answers.values() for a in sequence]
    assert old.id in all_ids and new.id in all_ids
    assert set(loads) <= set(snapshots) and loads, loads
    assert engine.ask("Where was the lantern parade held?").citations[0].doc == "parade.txt"


# ----------------------------------------------------------------------------- broken pointers and disks (issue 14)


def _corrupt_pointer(index_dir: Path, shape: str) -> None:
    pointer = index_dir / "CURRENT"
    pointer.unlink()
    if shape == "long-name":
        pointer.write_text("x" * 300 + "\n", encoding="utf-8")  # ENAMETOOLONG when looked up
    elif shape == "directory":
        pointer.mkdir()
        (pointer / "inside").write_text("a file in a folder named CURRENT", encoding="utf-8")
    elif shape == "fifo":
        os.mkfifo(pointer)  # opening it for reading would wait for a writer forever
    elif shape == "huge":
        pointer.write_bytes(b"20240101T000000-abcdef12" * 100_000)
    elif shape == "dangling-link":
        pointer.symlink_to(index_dir / "nowhere")


def _within(seconds: float, function):
    """Run ``function`` in a thread; fail (rather than hang the suite) if it has not returned in time."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked?)"
    return outcome


@pytest.mark.parametrize("shape", ["long-name", "directory", "fifo", "huge", "dangling-link"])
def test_a_corrupt_current_pointer_is_no_snapshot_and_hrqa_index_repairs_it(tmp_path: Path, shape: str) -> None:
    from hrqa.errors import IndexCorruptError, IndexMissingError

    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    first = store.build_index(settings, HashingEmbedder())
    _corrupt_pointer(settings.index_dir, shape)
    outcome = _within(20, lambda: store.load_index(settings.index_dir))
    error = outcome.get("error")
    assert isinstance(error, (IndexCorruptError, IndexMissingError)), outcome
    assert "CURRENT" in str(error) or "no index" in str(error)
    assert "hrqa index" in str(error) and "\n" not in str(error)
    # the engine treats it as "no current snapshot": it builds one, and the pointer is a file again
    outcome = _within(60, lambda: Engine.open(settings, embedder=HashingEmbedder(), build="missing"))
    assert "error" not in outcome, outcome
    assert (settings.index_dir / "CURRENT").is_file() and not (settings.index_dir / "CURRENT").is_symlink()
    assert store.load_index(settings.index_dir).id != first.index_id


@pytest.mark.slow
def test_hrqa_ask_and_hrqa_index_with_a_fifo_as_current(tmp_path: Path, hrqa_cli) -> None:
    """The CLI path of the worst shape: a FIFO made both commands hang; now ask names the pointer and
    the command that fixes it, and that command fixes it."""
    write_small_corpus(tmp_path / "corpus")
    store.build_index(settings_of(tmp_path), HashingEmbedder())
    _corrupt_pointer(tmp_path / "index", "fifo")
    common = ("--corpus", "corpus", "--index-dir", "index")
    result = hrqa_cli("ask", *common, "Where was the festival?", cwd=tmp_path, timeout=120)
    hrqa_cli.error(result, "CURRENT is not a file", "hrqa index")
    result = hrqa_cli("index", *common, cwd=tmp_path, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "index" / "CURRENT").is_file()
    store.load_index(tmp_path / "index")


def _write_denied(monkeypatch, index_dir: Path) -> None:
    """The index folder behaves as read-only: creating anything in it fails with EACCES. (Tests run as
    root in CI, where chmod does not stop a write; test_a_read_only_index_folder_for_real checks the
    real thing where it can.)"""
    import errno

    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if Path(self).is_relative_to(index_dir) and not Path(self).exists():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)


def _assert_write_refused(settings: Settings, previous: store.BuildReport, error, cause: str) -> None:
    from hrqa.errors import IndexWriteError

    assert isinstance(error, IndexWriteError)
    message = str(error)
    assert "\n" not in message and f"cannot write the index in {settings.index_dir}" in message
    assert cause in message and "hrqa index" in message
    assert store.load_index(settings.index_dir).id == previous.index_id  # untouched
    assert [p.name for p in store.snapshots_dir(settings.index_dir).iterdir()] == [previous.index_id]


def test_a_read_only_index_folder_is_one_error_naming_folder_and_cause(tmp_path: Path, monkeypatch) -> None:
    from hrqa.errors import IndexWriteError

    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    first = store.build_index(settings, HashingEmbedder())
    (tmp_path / "corpus" / "new.txt").write_text("A new document about herons.\n", encoding="utf-8")
    _write_denied(monkeypatch, settings.index_dir)
    with pytest.raises(IndexWriteError) as caught:
        store.build_index(settings, HashingEmbedder())
    _assert_write_refused(settings, first, caught.value, "Permission denied")


def test_a_faiss_write_error_is_one_error_and_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    from hrqa import vectors
    from hrqa.errors import IndexWriteError

    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    first = store.build_index(settings, HashingEmbedder())
    (tmp_path / "corpus" / "new.txt").write_text("A new document about herons.\n", encoding="utf-8")

    def failing(index, path):
        raise RuntimeError(
            "Error in faiss::FileIOWriter::FileIOWriter(const char*) at faiss/impl/io.cpp:98: Error: "
            "'f' failed: could not open vectors.faiss for writing: Read-only file system"
        )

    monkeypatch.setattr(vectors, "save_vector_index", failing)
    with pytest.raises(IndexWriteError) as caught:
        store.build_index(settings, HashingEmbedder())
    _assert_write_refused(settings, first, caught.value, "Read-only file system")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_index_folder_for_real(tmp_path: Path) -> None:
    from hrqa.errors import IndexWriteError

    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    first = store.build_index(settings, HashingEmbedder())
    (tmp_path / "corpus" / "new.txt").write_text("A new document about herons.\n", encoding="utf-8")
    folders = [settings.index_dir, store.snapshots_dir(settings.index_dir)]
    for folder in folders:
        folder.chmod(0o555)
    try:
        with pytest.raises(IndexWriteError) as caught:
            store.build_index(settings, HashingEmbedder())
        _assert_write_refused(settings, first, caught.value, "Permission denied")
    finally:
        for folder in folders:
            folder.chmod(0o755)


@pytest.mark.slow
def test_hrqa_index_over_a_file_size_limit_is_one_line_and_exit_2(tmp_path: Path, hrqa_cli) -> None:
    """A real write failure, also as root: RLIMIT_FSIZE makes writing store.json fail with EFBIG."""
    import resource

    write_small_corpus(tmp_path / "corpus")
    settings = settings_of(tmp_path)
    first = store.build_index(settings, HashingEmbedder())
    (tmp_path / "corpus" / "new.txt").write_text("A new document about herons. " * 200 + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "hrqa.cli", "index", "--corpus", "corpus", "--index-dir", "index"]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    env = {k: v for k, v in os.environ.items() if not k.startswith("HRQA_")}
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env=env, preexec_fn=limit, timeout=300, check=False
    )
    assert result.returncode == 2
    hrqa_cli.error(result, "cannot write the index in index (File too large)", "hrqa index")
    assert (tmp_path / "index" / "CURRENT").read_text(encoding="utf-8") == first.index_id + "\n"
    assert not list(store.snapshots_dir(settings.index_dir).glob(".building-*"))
