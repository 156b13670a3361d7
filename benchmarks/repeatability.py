"""Do two consecutive runs of `seprof compare resnet50 --batch 1` agree? (target: SE/base ratios within 3%)

Runs the command twice as fresh processes (extra options are passed through, e.g. --budget 60), reads
the ratios from its JSON, and reports the relative difference of each configuration's median ratio.

    python benchmarks/repeatability.py --out benchmarks/results/repeatability.json
    python benchmarks/repeatability.py --out benchmarks/results/repeatability_budget.json -- --budget 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run_once(extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "r.json"
        command = [sys.executable, "-m", "seprof", "compare", "resnet50", "--batch", "1", "--json", str(out), *extra]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        data = json.loads(out.read_text())
    return {
        "ratios": {row["config"]: row["latency_ratio"] for row in data["configs"] if row["config"] != "base"},
        "ci": {row["config"]: [row["latency_ratio_ci_low"], row["latency_ratio_ci_high"]]
               for row in data["configs"] if row["config"] != "base"},
        "runs": data["timing"]["runs"],
        "seconds": data["timing"]["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("extra", nargs="*", help="options passed to seprof compare (after --)")
    args = parser.parse_args()
    first, second = run_once(args.extra), run_once(args.extra)
    differences = {c: abs(second["ratios"][c] - first["ratios"][c]) / first["ratios"][c] for c in first["ratios"]}
    result = {
        "command": "seprof compare resnet50 --batch 1 " + " ".join(args.extra),
        "first": first,
        "second": second,
        "relative_difference": differences,
        "within_3_percent": all(d <= 0.03 for d in differences.values()),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
