"""The ``hrqa`` command, end to end: run as a real process (``python -m hrqa.cli``) over a copy of the
seeds and of the session's index, and in-process through ``main()`` where a test needs to count model
loads or share the already-loaded model."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hrqa import cli, embedding
from hrqa.errors import HrqaError
from hrqa.store import build_lock

GONG = "Which two media outlets interviewed Professor Gong Xianghe?"
GONG_DOC = "000_64fb9a0533498b8d.txt"
CHRD_DOC = "003_3873f173464d30ec.txt"
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers", "faiss", "bm25s")


def hrqa(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``hrqa`` in a fresh process, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("HRQA_")}
    return subprocess.run(
        [sys.executable, "-m", "hrqa.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def workspace(real_engine, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the seeds and of the session's index over them (no full rebuild needed)."""
    corpus, index = tmp_path / "seeds", tmp_path / "index"
    shutil.copytree(real_engine.settings.corpus_dir, corpus)
    shutil.copytree(real_engine.settings.index_dir, index)
    return corpus, index


@pytest.fixture
def shared_model(real_engine, monkeypatch) -> list[str]:
    """In-process runs reuse the session's loaded model; the list records each load_embedder call."""
    calls: list[str] = []

    def load(model, batch_size=64, **options):  # options: threads, threads_alone, cache_dir
        calls.append(model)
        return real_engine.embedder

    monkeypatch.setattr(embedding, "load_embedder", load)  # the engine and its lifecycle load through it
    for name in list(os.environ):
        if name.startswith("HRQA_"):
            monkeypatch.delenv(name)
    return calls


def locations(workspace: tuple[Path, Path]) -> list[str]:
    corpus, index = workspace
    return ["--corpus", str(corpus), "--index-dir", str(index)]


# ----------------------------------------------------------------------------- acceptance


@pytest.mark.slow
def test_index_then_ask_json(workspace, check_contract):
    corpus, _ = workspace
    indexed = hrqa("index", *locations(workspace))
    assert indexed.returncode == 0, indexed.stderr
    assert "5 documents" in indexed.stdout
    assert "added 0, changed 0, removed 0, unchanged 5; embedded 0 passages and 0 sentences" in indexed.stdout
    assert "re-embedded" not in indexed.stdout
    assert "switching to the new index" in indexed.stderr  # progress goes to stderr, the summary to stdout

    asked = hrqa("ask", *locations(workspace), "--json", GONG)
    assert asked.returncode == 0, asked.stderr
    result = json.loads(asked.stdout)
    check_contract(result, corpus)
    assert result["question"] == GONG and result["abstained"] is False
    assert "the Global Times and China News Network" in " ".join(s["text"] for s in result["answer"])
    cited = next(c for c in result["citations"] if c["n"] == result["answer"][0]["citation"])
    assert cited["doc"] == GONG_DOC
    assert cited["title"] == "Professor Gong Xianghe attends the 2025 Asian Human Rights Forum"
    assert cited["date"] == "2025-06-08"
    assert cited["publisher"] == "Human Rights Research Institute, Southeast University"


# ----------------------------------------------------------------------------- in-process runs


@pytest.mark.slow
def test_editing_one_seed_re_embeds_that_document_only(workspace, shared_model, capsys):
    corpus, _ = workspace
    path = corpus / CHRD_DOC
    path.write_text(
        path.read_text(encoding="utf-8").replace("May 13, the governments", "May 14, the governments"), encoding="utf-8"
    )
    assert cli.main(["index", *locations(workspace)]) == 0
    captured = capsys.readouterr()
    summary, reembedded = captured.out.strip().splitlines()
    assert f"added 0, changed 1 ({CHRD_DOC}), removed 0, unchanged 4" in summary
    assert reembedded == f"re-embedded documents: {CHRD_DOC}"
    passages = int(summary.split(" documents, ")[1].split(" passages")[0])
    embedded = int(summary.split("embedded ")[1].split(" passages")[0])
    assert 1 <= embedded < 10 < passages  # the CHRD statement has 9 passages; the corpus over 100


@pytest.mark.slow
def test_a_fresh_index_of_another_folder(tiny_corpus: Path, tmp_path: Path, shared_model, capsys):
    index = tmp_path / "tiny-index"
    assert cli.main(["index", "--corpus", str(tiny_corpus), "--index-dir", str(index)]) == 0
    out = capsys.readouterr().out
    assert "3 documents" in out and "added 3 (a.txt, b.txt, c.md)" in out
    assert out.strip().splitlines()[-1] == "re-embedded documents: a.txt, b.txt, c.md"
    assert (index / "CURRENT").exists()


def test_stdin_questions_are_answered_two_at_once_in_the_order_asked():
    both_running = threading.Barrier(2, timeout=10)

    def answer(question: str) -> dict:
        if question in ("slow", "quick"):
            both_running.wait()  # only returns once the two questions are being answered together
            if question == "slow":
                time.sleep(0.2)  # the first question finishes last
        return {"question": question}

    results = list(cli.answer_lines(["slow\n", "\n", "quick\n", "last"], answer, workers=2))
    assert [r["question"] for r in results] == ["slow", "quick", "last"]


def test_a_stdin_answer_comes_out_before_the_next_question_is_typed():
    printed = threading.Event()

    def typed():
        yield "first\n"
        assert printed.wait(10), "the first answer was held back until the next line came"
        yield "second\n"

    results = []
    for result in cli.answer_lines(typed(), lambda q: {"question": q}, workers=2):
        results.append(result["question"])
        printed.set()
    assert results == ["first", "second"]


def test_questions_read_ahead_are_dropped_when_the_answers_are_no_longer_read():
    answered = []

    def answer(question: str) -> dict:
        time.sleep(0.05)
        answered.append(question)
        return {"question": question}

    answers = cli.answer_lines([f"q{n}\n" for n in range(20)], answer, workers=2)
    assert next(answers) == {"question": "q0"}
    answers.close()  # as when the output pipe closes or Ctrl-C stops the loop that prints
    settled = len(answered)
    time.sleep(0.3)
    assert len(answered) == settled <= 1 + 2 * 2  # at most the questions read ahead, nothing after


def test_a_failure_reading_stdin_is_raised_after_the_answers_before_it():
    def broken():
        yield "first\n"
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    answers = cli.answer_lines(broken(), lambda q: {"question": q}, workers=2)
    assert next(answers) == {"question": "first"}
    with pytest.raises(UnicodeDecodeError):
        next(answers)
    with pytest.raises(HrqaError, match="--workers must be at least 1"):
        list(cli.answer_lines(["a"], lambda q: {}, workers=0))


@pytest.mark.slow
def test_stdin_mode_loads_the_model_once(workspace, shared_model, monkeypatch, capsys, check_contract):
    corpus, _ = workspace
    overlong = "why " * 600
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{GONG}\n\nWhat is CHRD?\n{overlong}\nWho is Liu Huawen?\n"))
    code = cli.main(["ask", *locations(workspace), "--json"])
    out = capsys.readouterr().out.splitlines()
    assert shared_model == ["all-MiniLM-L6-v2"]  # one model for every question
    assert code == 1  # one question failed; the others were still answered
    assert len(out) == 4
    results = [json.loads(line) for line in out]
    for result in results[:2] + results[3:]:
        check_contract(result, corpus)
    assert results[2] == {
        "question": overlong.rstrip("\n"),
        "error": "the question has 2399 characters, over the limit of 2000 (setting max_question_chars)",
    }


@pytest.mark.slow
def test_text_mode_shows_markers_and_sources(workspace, shared_model, capsys):
    code = cli.main(["ask", *locations(workspace), "-k", "2", *GONG.split()])
    out = capsys.readouterr().out
    assert code == 0
    answer, sources = out.split("\nSources\n")
    assert "the Global Times and China News Network" in answer
    assert answer.splitlines()[0].endswith(" [1]")
    source_lines = [line for line in sources.splitlines() if line.startswith("[")]
    assert len(source_lines) <= 2
    assert source_lines[0] == (
        "[1] Professor Gong Xianghe attends the 2025 Asian Human Rights Forum — 2025-06-08 · "
        "Human Rights Research Institute, Southeast University · academic (Chinese state university) "
        f"({GONG_DOC}, relevance 1.00)"
    )
    # the quoted sentence is marked inside its passage (the passage is wrapped at 100 columns)
    marked = " ".join(line.strip() for line in sources.splitlines() if line.startswith("    "))
    assert (
        "»After the conference, Professor Gong Xianghe was interviewed by the Global Times and China News "
        "Network.«" in marked
    )
    assert all(len(line) <= 100 for line in sources.splitlines() if line.startswith("    "))


def test_an_answer_the_reader_is_unsure_of_says_so():
    from hrqa.records import Answer, AnswerSentence, Span

    sentence = AnswerSentence(text="The forum was held in Chongqing.", citation=1, doc="a.txt", span=Span(0, 32))
    unsure = Answer("Where?", False, (sentence,), (), "i", "m", confidence=0.18)
    lines = cli.format_answer(unsure).splitlines()
    assert lines[0] == "The forum was held in Chongqing. [1]"
    assert lines[1].startswith("(The reader is unsure") and "confidence 0.18" in lines[1]
    sure = cli.format_answer(Answer("Where?", False, (sentence,), (), "i", "m", confidence=0.5))
    assert "unsure" not in sure
    abstained = cli.format_answer(Answer("Where?", True, (), (), "i", "m", confidence=0.05))
    assert "unsure" not in abstained  # an abstention says so itself


@pytest.mark.slow
def test_k_limits_the_sources(workspace, shared_model, capsys):
    assert cli.main(["ask", *locations(workspace), "--json", "-k", "1", GONG]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["citations"]) == max(1, len({s["citation"] for s in result["answer"]}))


@pytest.mark.slow
def test_a_stale_index_is_reported_but_still_answers(workspace, shared_model, capsys, caplog):
    corpus, _ = workspace
    (corpus / CHRD_DOC).write_text("Replaced.\n", encoding="utf-8")
    assert cli.main(["ask", *locations(workspace), "--json", GONG]) == 0
    assert json.loads(capsys.readouterr().out)["abstained"] is False
    assert f"corpus changed since the index was built (changed {CHRD_DOC}); rebuild it with: hrqa index" in caplog.text


# ----------------------------------------------------------------------------- errors


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hrqa: error: ")
    return lines[0].removeprefix("hrqa: error: ")


def test_missing_index(tmp_path: Path):
    message = one_line_error(hrqa("ask", "--index-dir", str(tmp_path / "none"), "hello"))
    assert message == f"no index in {tmp_path / 'none'}; build it with: hrqa index"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "the question is empty; type a question"),
        ([], 'no question given; usage: hrqa ask "your question"'),
    ],
)
def test_bad_questions(workspace, args, message):
    assert one_line_error(hrqa("ask", *locations(workspace), *args)) == message


def test_missing_corpus_folder(tmp_path: Path):
    message = one_line_error(hrqa("index", "--corpus", str(tmp_path / "nope"), "--index-dir", str(tmp_path / "i")))
    assert message == f"corpus folder {tmp_path / 'nope'} does not exist; pass --corpus DIR or create it"


@pytest.mark.slow
def test_a_model_that_is_not_a_folder(workspace):
    message = one_line_error(hrqa("ask", *locations(workspace), "--model", "org/some-hub-model", "hello"))
    assert message.startswith("model 'org/some-hub-model' is not a local sentence-transformers folder")


@pytest.mark.slow
def test_an_index_built_with_another_model_is_refused(workspace, tmp_path: Path):
    """A local model folder whose weights differ: refused before any weights are loaded."""
    packaged = embedding.resolve_model_path("all-MiniLM-L6-v2")
    other = tmp_path / "other-model"
    shutil.copytree(packaged, other, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (other / "model.safetensors").write_bytes(b"not the same weights")
    message = one_line_error(hrqa("ask", *locations(workspace), "--model", str(other), "hello"))
    assert message.startswith("index was built with model all-MiniLM-L6-v2 (")
    assert message.endswith(f"not the configured {other}; rebuild it with: hrqa index")


@pytest.mark.slow
def test_a_running_rebuild_refuses_a_second(workspace):
    _, index = workspace
    with build_lock(index):
        message = one_line_error(hrqa("index", *locations(workspace)))
    assert message == f"another rebuild of {index} is running; wait for it to finish and try again"


# ----------------------------------------------------------------------------- start-up cost


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["index", "--help"]])
def test_help_does_not_import_the_heavy_libraries(args):
    probe = (
        "import sys\n"
        "from hrqa.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "usage: hrqa" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_the_console_script_is_installed():
    script = Path(sys.executable).with_name("hrqa")
    if not script.exists():
        script = shutil.which("hrqa")
        if script is None:
            pytest.skip("the hrqa script is not on this interpreter's path")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0
    for command in ("index", "ask", "find"):
        assert command in result.stdout


# ----------------------------------------------------------------------------- one way to settings (issue 12)


@pytest.fixture
def served(monkeypatch) -> list:
    """``hrqa.ui`` replaced by a stand-in whose ``serve`` records the settings it is started with."""
    import types

    import hrqa

    calls: list = []
    fake = types.ModuleType("hrqa.ui")
    fake.serve = lambda settings=None, **ignored: calls.append((settings, ignored)) or 0
    monkeypatch.setitem(sys.modules, "hrqa.ui", fake)
    monkeypatch.setattr(hrqa, "ui", fake, raising=False)
    for name in list(os.environ):
        if name.startswith("HRQA_"):
            monkeypatch.delenv(name)
    return calls


def test_serve_hands_every_flag_to_the_web_app(served, tmp_path: Path):
    """``hrqa serve --model X`` was accepted and silently dropped: every flag reaches the settings."""
    argv = ["--model", str(tmp_path / "model"), "--corpus", str(tmp_path / "c"), "--index-dir", str(tmp_path / "i")]
    assert cli.main(["serve", *argv, "--host", "127.0.0.2", "--port", "8123", "--insecure"]) == 0
    (settings, ignored), *more = served
    assert not more and not ignored
    assert settings.model == str(tmp_path / "model")
    assert (settings.corpus_dir, settings.index_dir) == (tmp_path / "c", tmp_path / "i")
    assert (settings.host, settings.port, settings.insecure) == ("127.0.0.2", 8123, True)


def test_serve_flags_left_out_leave_the_environment_in_charge(served, monkeypatch):
    monkeypatch.setenv("HRQA_INSECURE", "1")
    monkeypatch.setenv("HRQA_MODEL", "/models/env")
    monkeypatch.setenv("HRQA_PORT", "8001")
    assert cli.main(["serve"]) == 0
    settings = served[0][0]
    assert (settings.insecure, settings.model, settings.port) == (True, "/models/env", 8001)


def test_app_py_is_hrqa_serve(served, tmp_path: Path):
    """``python app.py`` declares no flags of its own: it runs ``hrqa serve``'s code path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hrqa_app_under_test", Path(cli.__file__).parent.parent / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert app.main(["--model", str(tmp_path / "m"), "--port", "8124"]) == 0
    settings = served[0][0]
    assert (settings.model, settings.port) == (str(tmp_path / "m"), 8124)
    assert "add_argument" not in Path(app.__file__).read_text(encoding="utf-8")


def test_bad_serve_flags_fail_before_the_web_app_loads(served, capsys):
    assert cli.main(["serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "hrqa: error: port must be between 1 and 65535, got 70000"
    assert served == []


def test_bench_takes_its_settings_from_the_flags(monkeypatch, tmp_path: Path):
    from hrqa import bench

    seen = []
    monkeypatch.setattr(bench, "run", lambda plan, settings, *rest, **kw: seen.append(settings) or {})
    monkeypatch.setattr(bench, "format_table", lambda report: "")
    for name in list(os.environ):
        if name.startswith("HRQA_"):
            monkeypatch.delenv(name)
    assert cli.main(["bench", "--model", str(tmp_path / "m"), "--corpus", str(tmp_path / "c")]) == 0
    assert seen[0].model == str(tmp_path / "m") and seen[0].corpus_dir == tmp_path / "c"


def test_an_abstention_says_why():
    from hrqa.records import Answer

    reason = "the question asks for a date, and the sentence that comes closest states none"
    abstained = Answer("When?", True, (), (), "i", "m", confidence=0.6, abstain_reason=reason)
    first = cli.format_answer(abstained).splitlines()[0]
    assert first == f"The corpus does not answer this question ({reason}). Closest passages:"
    silent = cli.format_answer(Answer("When?", True, (), (), "i", "m", confidence=0.05))
    assert silent.splitlines()[0] == "The corpus does not answer this question. Closest passages:"
