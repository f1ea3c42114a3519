"""Cold start: a fresh ``hrqa ask`` process until its answer, and ``hrqa serve`` until the page answers.

    nice -n 10 python benchmarks/cold_start.py [--corpus DIR] [--runs 3]

The index is built first (into a temporary folder), so the figures are what a person waits for with a
built index and a warm OS cache. Each ``hrqa ask`` runs under ``python -m hrqa.bench``, which reports the
process's own peak memory. Budgets (issue 6): ask 4 s, app ready 10 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from hrqa.bench import child_env, current_rss_mb, free_port, note, run_child
from hrqa.settings import Settings


def cold_ask(settings: Settings, question: str, runs: int) -> dict:
    """A fresh ``hrqa ask`` process until it has printed its answer (the index is built, the OS cache warm)."""
    command = [
        sys.executable,
        "-m",
        "hrqa.cli",
        "ask",
        "--corpus",
        str(settings.corpus_dir),
        "--index-dir",
        str(settings.index_dir),
        "--model",
        settings.model,
        question,
    ]
    seconds, cpu, peaks = [], [], []
    for run in range(runs):
        note(f"cold start: hrqa ask, run {run + 1}/{runs}")
        child = run_child(command, env=child_env(settings), cwd=settings.index_dir.parent, timeout=300)
        if child.returncode != 0 or not child.stdout.strip():
            return {"available": False, "reason": f"hrqa ask exited {child.returncode}: {child.stderr.strip()[-300:]}"}
        seconds.append(round(child.seconds, 3))
        cpu.append(child.cpu_seconds)
        peaks.append(child.peak_rss_mb or 0.0)
    return {
        "available": True,
        "command": "python -m hrqa.cli ask --corpus … --index-dir … QUESTION",
        "runs_s": seconds,
        "median_s": round(statistics.median(seconds), 3),
        "cpu_s_median": round(statistics.median(cpu), 3),
        "peak_rss_mb": max(peaks),
    }


def app_ready(settings: Settings, timeout: float, app: Path | None = None) -> dict:
    """``hrqa serve --port P`` (what ``python app.py`` runs) with a built index, until
    http://127.0.0.1:P/ answers (any status). ``app``: a script to start instead (``python app``)."""
    if app is not None and not app.exists():
        return {"available": False, "reason": f"not available: {app.name} not found at {app}"}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, str(app)] if app is not None else [sys.executable, "-m", "hrqa.cli", "serve"]
    note(f"app start: {' '.join(command[1:])} --port {port}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=settings.index_dir.parent,
            env=child_env(settings),
            stdout=out,
            stderr=err,
        )
        try:
            while time.perf_counter() - started < timeout:
                if process.poll() is not None:
                    err.seek(0)
                    tail = err.read().decode("utf-8", "replace").strip()[-300:]
                    return {"available": False, "reason": f"hrqa serve exited {process.returncode}: {tail}"}
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        status = response.status
                except urllib.error.HTTPError as error:  # an HTTP answer all the same (401 with auth)
                    status = error.code
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    time.sleep(0.1)
                    continue
                return {
                    "available": True,
                    "ready_s": round(time.perf_counter() - started, 3),
                    "status": status,
                    "rss_mb_when_ready": current_rss_mb(process.pid),
                }
            return {"available": False, "reason": f"hrqa serve did not answer on {url} within {timeout:.0f} s"}
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def format_lines(cold_start: dict) -> list[str]:
    """The cold-start lines of ``{"ask": cold_ask(...), "app": app_ready(...)}``."""
    lines = []
    ask = cold_start["ask"]
    if ask.get("available"):
        lines.append(
            f"  hrqa ask, fresh process to first answer: median {ask['median_s']:.2f} s "
            f"(runs {', '.join(f'{s:.2f}' for s in ask['runs_s'])}; budget 4 s), "
            f"CPU {ask['cpu_s_median']:.2f} s, peak RSS {ask['peak_rss_mb']:.0f} MB"
        )
    else:
        lines.append(f"  hrqa ask: not available ({ask['reason']})")
    app = cold_start["app"]
    if app.get("available"):
        rss = app.get("rss_mb_when_ready")
        lines.append(
            f"  hrqa serve (app.py) start until http://127.0.0.1:PORT/ answers: {app['ready_s']:.2f} s (budget 10 s), "
            f"RSS {'–' if rss is None else f'{rss:,.0f}'} MB"
        )
    else:
        lines.append(f"  hrqa serve (app.py) ready: {app['reason']}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.bench import load_dev_questions, measured_settings, workspace
    from hrqa.engine import Engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder (default: the sample corpus shipped with hrqa)")
    parser.add_argument("--runs", type=int, default=1, help="fresh hrqa ask processes")
    parser.add_argument("--app-timeout", type=float, default=120.0, help="seconds to wait for hrqa serve")
    args = parser.parse_args(argv)
    settings = Settings.from_env(**({"corpus_dir": Path(args.corpus)} if args.corpus else {}))
    settings = measured_settings(settings, bool(args.corpus))
    question = (load_dev_questions() or ["What is this corpus about?"])[0]
    with workspace() as workdir:
        settings = settings.with_(index_dir=workdir / "index")
        note("building the index")
        Engine.build_index(settings, wait=True)
        result = {"ask": cold_ask(settings, question, args.runs), "app": app_ready(settings, args.app_timeout)}
    print("\n".join(["Cold start", *format_lines(result)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
