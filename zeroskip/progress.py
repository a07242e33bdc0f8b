"""Progress lines for long-running steps (training epochs, simulations), silenced by ``-q``."""

from __future__ import annotations

import sys
import time


class Progress:
    """Prints one line per step to stderr, with elapsed time; does nothing when quiet."""

    def __init__(self, quiet: bool = False, stream=None):
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:7.1f}s] {message}", file=self.stream, flush=True)


QUIET = Progress(quiet=True)
