"""The one console progress printer of ``hrqa index`` and ``hrqa serve`` (``hrqa.progress``)."""

from __future__ import annotations

import io

from hrqa.progress import ConsoleProgress


def test_in_a_log_each_stage_and_each_tenth_is_one_line():
    stream = io.StringIO()
    progress = ConsoleProgress(stream, terminal=False)
    for done in range(101):
        progress("embedding passages", done, 100)
    progress("switching to the new index", 1, 1)
    progress.close()

    lines = stream.getvalue().splitlines()
    assert lines[0] == f"hrqa: {'embedding passages':<26} 0/100"
    assert [line.split()[-1] for line in lines[:-1]] == [f"{10 * t}/100" for t in range(11)]
    assert lines[-1] == f"hrqa: {'switching to the new index':<26} 1/1"
    assert "\r" not in stream.getvalue()


def test_on_a_terminal_each_stage_is_one_updating_line():
    stream = io.StringIO()
    progress = ConsoleProgress(stream, prefix="", terminal=True)
    progress("reading corpus", 1, 2)
    progress("reading corpus", 2, 2)
    progress("embedding passages", 0, 0)
    progress.close()

    text = stream.getvalue()
    assert text.count("\n") == 2  # one line per stage, ended when the next begins and at close
    first, second = text.split("\n")[:2]
    assert first.endswith(f"\rreading corpus{' ' * 12} [{'#' * 30}] 2/2")
    assert second == f"\rembedding passages{' ' * 8} [{'#' * 30}] 0/0"


def test_a_stream_that_is_not_a_terminal_gets_lines():
    assert ConsoleProgress(io.StringIO()).terminal is False
