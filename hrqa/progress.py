"""Build progress on the console, one printer for ``hrqa index`` and ``hrqa serve``: on a terminal one
updating line per stage, elsewhere (a log file, a pipe) a line per stage and per tenth of a long stage."""

from __future__ import annotations

import sys
from typing import TextIO

#: width of the bar drawn on a terminal (characters)
BAR_WIDTH = 30


class ConsoleProgress:
    """A ``BuildProgress`` callback ``(stage, done, total)`` that prints to ``stream`` (stderr)."""

    def __init__(self, stream: TextIO | None = None, *, prefix: str = "hrqa: ", terminal: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.prefix = prefix
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty()) if terminal is None else terminal
        #: the stage being printed (None before the first call)
        self.stage: str | None = None
        self._tenth = -1

    def __call__(self, stage: str, done: int, total: int) -> None:
        new_stage = stage != self.stage
        if self.terminal:
            if new_stage and self.stage is not None:
                self.stream.write("\n")
            filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r{self.prefix}{stage:<26} [{bar}] {done}/{total}")
        else:
            tenth = 10 * done // total if total else 10
            if not new_stage and tenth == self._tenth:
                self.stage = stage
                return
            self._tenth = tenth
            self.stream.write(f"{self.prefix}{stage:<26} {done}/{total}\n")
        self.stage = stage
        self.stream.flush()

    def close(self) -> None:
        """End the updating line (a terminal); a no-op elsewhere."""
        if self.terminal and self.stage is not None:
            self.stream.write("\n")
            self.stream.flush()
        self.stage, self._tenth = None, -1
