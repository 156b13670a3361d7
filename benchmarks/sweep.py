"""How long a parameter-only sweep takes: ``seprof sweep resnet50 ... --no-latency`` as a fresh process.

Target (issue 10): a 15-row parameter-only sweep of resnet50 takes seconds, not minutes. Each command runs as a
fresh process (import of torch included), interleaved, ``--repeat`` times; medians are recorded, with a bare
``import torch, torchvision`` for scale.

    python benchmarks/sweep.py --repeat 5 --out benchmarks/results/sweep.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

from wall import wall  # benchmarks/wall.py, beside this script

SEPROF = [sys.executable, "-m", "seprof"]
COMMANDS = {
    "sweep, 15 rows: --r 2,4,8,16,32 --stages 2,5,all": SEPROF + [
        "sweep", "resnet50", "--r", "2,4,8,16,32", "--stages", "2,5,all", "--no-latency"],
    "sweep, 25 rows: --r 2,4,8,16,32 --stages each,all": SEPROF + [
        "sweep", "resnet50", "--r", "2,4,8,16,32", "--stages", "each,all", "--no-latency"],
    "sweep, 16 rows: --block se,sse,scse --position standard,pre,post,identity --stages all": SEPROF + [
        "sweep", "resnet50", "--block", "se,sse,scse", "--position", "standard,pre,post,identity", "--scse-combine",
        "add", "--no-latency"],
    "inject resnet50 --no-latency (one configuration, for scale)": SEPROF + ["inject", "resnet50", "--no-latency"],
    "python -c 'import torch, torchvision' (for scale)": [sys.executable, "-c", "import torch, torchvision"],
}



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            samples[name].append(wall(command))
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "repeat": args.repeat,
        "seconds": {name: {"median": statistics.median(v), "runs": [round(x, 2) for x in v]}
                    for name, v in samples.items()},
    }
    from importlib.metadata import version

    result["versions"] = {p: version(p) for p in ("seprof", "torch", "torchvision", "fvcore", "thop")}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
