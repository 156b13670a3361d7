"""Do two consecutive runs of `seprof compare resnet50 --batch 1` agree? (target: SE/base ratios within 3%)

Runs the command as fresh processes, in consecutive pairs (extra options are passed through, e.g.
--threads 2), reads the ratios from its JSON, and reports for each pair the relative difference of each
configuration's median ratio.

    python benchmarks/repeatability.py --pairs 3 --out benchmarks/results/repeatability_defaults.json
    python benchmarks/repeatability.py --pairs 2 --out benchmarks/results/repeatability_threads2.json -- --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def compare_json(extra: list[str]) -> dict:
    """The JSON report of `seprof compare resnet50 --batch 1 EXTRA...`, run as a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r.json"
        command = [sys.executable, "-m", "seprof", "compare", "resnet50", "--batch", "1", "--json", str(out), *extra]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def run_once(extra: list[str]) -> dict:
    data = compare_json(extra)
    return {
        "ratios": {row["config"]: row["latency_ratio"] for row in data["configs"] if row["config"] != "base"},
        "ci": {row["config"]: [row["latency_ratio_ci_low"], row["latency_ratio_ci_high"]]
               for row in data["configs"] if row["config"] != "base"},
        "base_ms": next(row["latency_ms"] for row in data["configs"] if row["config"] == "base"),
        "runs": data["timing"]["runs"],
        "threads": data["timing"]["threads"],
        "seconds": data["timing"]["seconds"],
    }


def pair(extra: list[str]) -> dict:
    first, second = run_once(extra), run_once(extra)
    differences = {c: abs(second["ratios"][c] - first["ratios"][c]) / first["ratios"][c] for c in first["ratios"]}
    return {
        "first": first,
        "second": second,
        "relative_difference": differences,
        "within_3_percent": all(d <= 0.03 for d in differences.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1, help="consecutive pairs of runs")
    parser.add_argument("--out", default=None)
    parser.add_argument("extra", nargs="*", help="options passed to seprof compare (after --)")
    args = parser.parse_args()
    pairs = []
    for _ in range(args.pairs):
        pairs.append(pair(args.extra))
        print(json.dumps(pairs[-1]), flush=True)
    result = {
        "command": " ".join(["seprof compare resnet50 --batch 1", *args.extra]),
        "pairs": pairs,
        "pairs_within_3_percent": sum(p["within_3_percent"] for p in pairs),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
