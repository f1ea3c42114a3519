"""Start the hrqa web chat: ``python app.py [--host H] [--port N] [--insecure]``.

The same as ``hrqa serve``; settings also come from the environment (HRQA_HOST, HRQA_PORT, HRQA_AUTH,
HRQA_INSECURE, HRQA_CORPUS_DIR, HRQA_INDEX_DIR).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description="Start the hrqa web chat.")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, or HRQA_HOST)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or HRQA_PORT)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow binding beyond loopback without HRQA_AUTH credentials (prints a warning)",
    )
    parser.add_argument("--corpus", default=None, help="corpus folder (default seeds/, or HRQA_CORPUS_DIR)")
    parser.add_argument("--index-dir", default=None, help="index folder (default index/, or HRQA_INDEX_DIR)")
    args = parser.parse_args(argv)

    from hrqa.ui import serve  # imports gradio and torch: only once the flags are known to be good

    return serve(
        host=args.host, port=args.port, insecure=args.insecure, corpus_dir=args.corpus, index_dir=args.index_dir
    )


if __name__ == "__main__":
    sys.exit(main())
