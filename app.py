"""Start the hrqa web chat: ``python app.py [--host H] [--port N] [--insecure] [--corpus DIR] ...``.

The same as ``hrqa serve`` (its flags, its settings, its code path); settings also come from the
environment (HRQA_HOST, HRQA_PORT, HRQA_AUTH, HRQA_INSECURE, HRQA_CORPUS_DIR, HRQA_INDEX_DIR, HRQA_MODEL).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from hrqa.cli import main as hrqa  # light: gradio and torch load only once the flags are known to be good

    return hrqa(["serve", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
