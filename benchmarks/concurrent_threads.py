"""Questions at once against intra-op threads: the measurement behind the ``threads_alone`` default.

    nice -n 10 python benchmarks/concurrent_threads.py [--corpus DIR] [--at-once 50] [--rounds 2]

One process, one engine per ``threads_alone`` value (2 and 1; ``threads`` stays 1 when calls overlap),
taking turns: each round asks ``--at-once`` questions of the sample set at once and reports questions per
second; then each engine answers questions one at a time (p50). A question alone should use every core; many
at once must not oversubscribe them. The index is built first, into a temporary folder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hrqa.bench import load_dev_questions, measured_settings, note, percentiles, timed, workspace
from hrqa.settings import Settings

#: the settings compared: a question alone on 2 intra-op threads, or on 1
THREADS_ALONE = (2, 1)


def at_once(engine, questions: Sequence[str]) -> float:
    """Questions per second with every question asked at the same time, each in its own thread."""
    started = time.perf_counter()
    with ThreadPoolExecutor(len(questions)) as pool:
        list(pool.map(lambda question: engine.ask(question, 5), questions))
    return len(questions) / (time.perf_counter() - started)


def measure(settings: Settings, questions: Sequence[str], count: int, rounds: int) -> dict:
    from hrqa.engine import Engine

    batch = [questions[i % len(questions)] for i in range(count)]
    engines = {n: Engine.open(settings.with_(threads_alone=n), build="missing") for n in THREADS_ALONE}
    for engine in engines.values():
        engine.ask(batch[0], 5)  # models loaded, first-call paths taken
    per_second: dict[int, list[float]] = {n: [] for n in THREADS_ALONE}
    for _ in range(rounds):
        for n, engine in engines.items():
            time.sleep(1.0)  # the other engine's threads asleep again
            per_second[n].append(round(at_once(engine, batch), 2))
    alone = {n: percentiles([timed(engine.ask, q, 5)[1] for q in questions]) for n, engine in engines.items()}
    return {"at_once": count, "questions_per_s": per_second, "one_at_a_time_ms": alone}


def main(argv: Sequence[str] | None = None) -> int:
    from hrqa.engine import Engine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="corpus folder (default: the sample corpus shipped with hrqa)")
    parser.add_argument("--at-once", type=int, default=50, help="questions asked at the same time")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    settings = Settings.from_env(**({"corpus_dir": Path(args.corpus)} if args.corpus else {}))
    settings = measured_settings(settings, bool(args.corpus))
    questions = load_dev_questions() or ["What is this corpus about?"]
    with workspace() as workdir:
        settings = settings.with_(index_dir=workdir / "index")
        note("building the index")
        Engine.build_index(settings, wait=True)
        result = measure(settings, questions, args.at_once, args.rounds)
    print(f"{result['at_once']} questions at once, questions/s per round:")
    for n in THREADS_ALONE:
        alone = result["one_at_a_time_ms"][n]
        print(
            f"  threads_alone={n}: {', '.join(map(str, result['questions_per_s'][n]))}"
            f"  · one at a time p50 {alone['p50']:.1f} ms, p95 {alone['p95']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
