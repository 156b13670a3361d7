"""Whole-process time of the static report against a bare `import torch, torchvision`.

Target (issue: "seprof 0.1"): `seprof inject resnet50 --no-latency` costs at most 1.5× the bare import.
Both commands run as fresh processes, interleaved, `--repeat` times each; medians are compared.

    python benchmarks/static_report.py --repeat 7 --out benchmarks/results/static_report.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys

from wall import wall  # benchmarks/wall.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()

    seprof = shutil.which("seprof") or "seprof"
    commands = {
        "import torch, torchvision": [sys.executable, "-c", "import torch, torchvision"],
        "seprof inject resnet50 --no-latency": [seprof, "inject", "resnet50", "--no-latency"],
    }
    for cmd in commands.values():  # warm the file cache once
        wall(cmd)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            times[name].append(wall(cmd))
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["seprof inject resnet50 --no-latency"] / medians["import torch, torchvision"]
    result = {
        "medians_s": medians,
        "samples_s": times,
        "ratio": ratio,
        "target_ratio": 1.5,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    for name, m in medians.items():
        print(f"{name:40s} median {m:6.2f} s  "
              f"(min {min(times[name]):.2f}, max {max(times[name]):.2f}, n={args.repeat})")
    print(f"ratio {ratio:.2f}× (target ≤ 1.5×)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
