"""The wall times the README quotes for the main job: `seprof inject resnet50 --r 16`, with and without latency.

Each command runs as a fresh process (torch's import included), interleaved, `--repeat` times; medians are
recorded with every sample and the machine.

    python benchmarks/main_job.py --repeat 3 --out benchmarks/results/main_job.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics

from wall import wall  # benchmarks/wall.py, beside this script

import seprof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    command = shutil.which("seprof") or "seprof"
    commands = {
        "seprof inject resnet50 --r 16": [command, "inject", "resnet50", "--r", "16"],
        "seprof inject resnet50 --r 16 --no-latency": [command, "inject", "resnet50", "--r", "16", "--no-latency"],
    }
    wall(commands["seprof inject resnet50 --r 16 --no-latency"])  # warm the file cache once
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            times[name].append(round(wall(cmd), 2))
    result = {
        "medians_s": {name: round(statistics.median(t), 2) for name, t in times.items()},
        "samples_s": times,
        "repeat": args.repeat,
        "seprof": seprof.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
