"""Reading a ``zeroskip build --json`` report where no Amaranth is wanted (``zeroskip sim``)."""

from __future__ import annotations

import json

from zeroskip.errors import ZeroskipError


def achieved_clock_mhz(path: str) -> float:
    """The clock a board build runs the array at: its PLL's, or the Fmax it reached if lower."""
    try:
        with open(path) as f:
            report = json.load(f)
    except OSError as error:
        raise ZeroskipError(f"--build-report {path}: {error.strerror or error}") from None
    except ValueError:
        raise ZeroskipError(f"--build-report {path}: not JSON") from None
    clock = report.get("achieved_clock_mhz") if isinstance(report, dict) else None
    if not isinstance(clock, (int, float)) or isinstance(clock, bool) or not clock > 0:
        raise ZeroskipError(f"--build-report {path}: no achieved_clock_mhz (not a `zeroskip "
                            "build --json` report, or its place and route found no clock)")
    return float(clock)
