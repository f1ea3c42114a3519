"""Chunking time of one unpunctuated paragraph of 0.1, 1 and 10 MB (issue 14): linear, not quadratic.

    nice -n 10 python benchmarks/chunk_long_paragraph.py [--sizes 0.1 1 10] [--uncapped 0.025 0.05 0.1]

``--uncapped`` also times the old behaviour (the whole paragraph given to pysbd at once, i.e.
max_sentence_chars set beyond the paragraph) for the sizes given, to show the quadratic curve it replaces.
"""

from __future__ import annotations

import argparse
import random
import time

from hrqa.chunking import MAX_UNIT_CHARS, split_units


def unpunctuated(chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(2000)]
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="*", default=[0.1, 1, 10], help="paragraph sizes in MB")
    parser.add_argument("--uncapped", type=float, nargs="*", default=[], help="sizes (MB) to time uncapped")
    args = parser.parse_args()
    split_units("Warm up. The splitter loads once.")
    print(f"{'MB':>6} {'cap':>10} {'units':>7} {'seconds':>8} {'us/char':>8}")
    runs = [(mb, MAX_UNIT_CHARS) for mb in args.sizes] + [(mb, 10**12) for mb in args.uncapped]
    for mb, cap in runs:
        text = unpunctuated(int(mb * 1_000_000))
        started = time.perf_counter()
        units = split_units(text, max_chars=cap)
        seconds = time.perf_counter() - started
        shown = "none" if cap == 10**12 else str(cap)
        print(f"{mb:>6} {shown:>10} {len(units):>7} {seconds:>8.2f} {seconds / len(text) * 1e6:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
