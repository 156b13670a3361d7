"""How much of SE's eager latency cost survives torch.compile? Consecutive pairs of
`seprof compare resnet50 --batch 1` (eager) and the same with `--compile`, as fresh processes.

For each configuration it records the SE/base ratio, the added milliseconds (median of per-round
differences) and, per pair, the compiled added ms as a fraction of the eager added ms. Compile time is
reported apart by seprof and never enters the latency.

    python benchmarks/compile_overhead.py --pairs 2 --out benchmarks/results/compile_overhead.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from repeatability import compare_json


def summary(data: dict) -> dict:
    rows = {row["config"]: row for row in data["configs"]}
    return {
        "base_ms": rows["base"]["latency_ms"],
        "configs": {c: {"ms": r["latency_ms"], "ratio": r["latency_ratio"],
                        "ratio_ci": [r["latency_ratio_ci_low"], r["latency_ratio_ci_high"]],
                        "added_ms": r["latency_added_ms"],
                        "added_ms_ci": [r["latency_added_ms_ci_low"], r["latency_added_ms_ci_high"]]}
                    for c, r in rows.items() if c != "base"},
        "runs": data["timing"]["runs"],
        "threads": data["timing"]["threads"],
        "seconds": data["timing"]["seconds"],
        "compile_s": data["timing"].get("compile_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("extra", nargs="*", help="options passed to both seprof compare runs (after --)")
    args = parser.parse_args()
    pairs = []
    for _ in range(args.pairs):
        eager, compiled = summary(compare_json(args.extra)), summary(compare_json([*args.extra, "--compile"]))
        remaining = {c: compiled["configs"][c]["added_ms"] / eager["configs"][c]["added_ms"]
                     for c in eager["configs"] if eager["configs"][c]["added_ms"] > 0}
        pairs.append({"eager": eager, "compiled": compiled, "compiled_added_over_eager_added": remaining})
        print(json.dumps(pairs[-1]), flush=True)
    result = {"command": " ".join(["seprof compare resnet50 --batch 1", *args.extra, "[--compile]"]), "pairs": pairs}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
