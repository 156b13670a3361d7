"""The benchmarks' shared stopwatch: a command's wall time as a fresh process, its output discarded."""

from __future__ import annotations

import subprocess
import time


def wall(command: list[str]) -> float:
    """Seconds ``command`` takes to run to completion (it must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start
