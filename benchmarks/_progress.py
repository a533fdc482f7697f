"""A progress bar for the long parts of the suite, on stderr so the tables on stdout stay clean.

Redraws in place on a terminal; elsewhere (CI logs, pytest) it prints a line per quarter so logs
stay short.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]

BAR_WIDTH = 28


class Progress:
    def __init__(self, label: str, total: int, *, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self._last_quarter = -1

    def __enter__(self) -> Progress:
        self._draw()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.done = self.total if exc is None else self.done
        self._draw(final=True)

    def advance(self, steps: int = 1, detail: str = "") -> None:
        self.done = min(self.total, self.done + steps)
        self._draw(detail=detail)

    def _draw(self, *, final: bool = False, detail: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        share = self.done / self.total
        if self.tty:
            filled = int(BAR_WIDTH * share)
            bar = "█" * filled + "·" * (BAR_WIDTH - filled)
            line = f"\r  {self.label:<34} {bar} {self.done}/{self.total} {elapsed:6.1f}s {detail}"
            self.stream.write(line[:150].ljust(150) + ("\n" if final else ""))
            self.stream.flush()
            return
        quarter = int(share * 4)
        if final or quarter != self._last_quarter:
            self._last_quarter = quarter
            state = "done" if final else f"{share:.0%}"
            self.stream.write(f"  {self.label}: {state} ({elapsed:.1f}s) {detail}\n")
            self.stream.flush()
