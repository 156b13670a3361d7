"""Wall time and peak memory of `seprof zoo` (all supported models, static report) as a fresh process.

Peak memory is sampled from /proc every 20 ms over the whole process tree (the command and its worker
processes): the largest sum of resident set sizes seen, and the largest single process. Linux only.

    python benchmarks/zoo.py --repeat 3 --out benchmarks/results/zoo.json
    python benchmarks/zoo.py --task all --repeat 3 --out benchmarks/results/zoo_all_0.6.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def run_once(command: list[str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        sizes = [_rss_kib(p) for p in _tree(proc.pid)]
        peak_sum, peak_one = max(peak_sum, sum(sizes)), max(peak_one, max(sizes, default=0))
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {proc.stderr.read().decode()}")
    return {"seconds": seconds, "peak_rss_sum_mib": peak_sum / 1024, "peak_rss_process_mib": peak_one / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--task", default=None, help="seprof zoo --task (default: classification, its default)")
    args = parser.parse_args()
    command = [sys.executable, "-m", "seprof", "zoo"]
    if args.task is not None:
        command += ["--task", args.task]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    runs = [run_once(command) for _ in range(args.repeat)]
    import torch
    import torchvision

    result = {
        "command": " ".join(["seprof", *command[3:]]),
        "runs": runs,
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "max_peak_rss_sum_mib": max(r["peak_rss_sum_mib"] for r in runs),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "targets": {"seconds": 30, "peak_rss_gib": 2},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
