"""What a new user waits for: help, version, the model list, and the first sign of life of a long command.

Each command runs as a fresh process (import included), interleaved, ``--repeat`` times; medians are
recorded. "first status" runs ``seprof inject resnet50`` with its stderr on a pseudo-terminal (as in a
terminal, where the live status shows) and records the time until its first byte appears there, then stops
the run. Linux only (uses a pty).

    python benchmarks/first_contact.py --repeat 5 --out benchmarks/results/first_contact.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from wall import wall  # benchmarks/wall.py, beside this script

SEPROF = [sys.executable, "-m", "seprof"]
COMMANDS = {
    "seprof --help": SEPROF + ["--help"],
    "seprof inject --help": SEPROF + ["inject", "--help"],
    "seprof --version": SEPROF + ["--version"],
    "seprof models": SEPROF + ["models"],
    "python -c 'import torch, torchvision' (for scale)": [sys.executable, "-c", "import torch, torchvision"],
}



def models_head() -> float:
    """`seprof models | head -3`: until head has its three lines and the pipeline has ended."""
    start = time.perf_counter()
    subprocess.run(f"{' '.join(SEPROF)} models | head -3", shell=True, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def first_status() -> float:
    """Seconds until `seprof inject resnet50` writes its first byte to a terminal on stderr."""
    leader, follower = pty.openpty()
    start = time.perf_counter()
    process = subprocess.Popen(SEPROF + ["inject", "resnet50"], stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    try:
        ready, _, _ = select.select([leader], [], [], 60)
        seconds = time.perf_counter() - start
        if not ready:
            raise RuntimeError("no status within 60 s")
        return seconds
    finally:
        process.send_signal(signal.SIGINT)
        process.wait()
        os.close(leader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in [*COMMANDS, "seprof models | head -3", "first status"]}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            samples[name].append(wall(command))
        samples["seprof models | head -3"].append(models_head())
        samples["first status"].append(first_status())
    import torch
    import torchvision

    result = {
        "medians_s": {name: round(statistics.median(values), 3) for name, values in samples.items()},
        "samples_s": {name: [round(v, 3) for v in values] for name, values in samples.items()},
        "repeat": args.repeat,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "targets": {"help, version, models": "well under 1 s", "first status": "within 1 s"},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
