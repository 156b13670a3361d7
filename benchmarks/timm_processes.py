"""seprof's SE-ResNet-50 against timm's seresnet50, replicated over fresh processes.

One process's paired CI (``timm_seresnet50.py``) leaves out what changes from one process to the next: where
the allocator puts each model, what else the machine is doing. On a 2-core VM that moves the ratio by ±1–2%,
more than one run's CI says. Here each of ``--processes`` fresh processes builds three models (seprof's
SE-ResNet-50, timm's seresnet50, timm's with seprof's SEBlock in place of its SEModule; all with timm's values,
see ``timm_seresnet50.build``), in an order rotated from process to process, times ``--runs`` interleaved rounds
and reports its median paired ratios. The result is the per-process ratios, their median and a bootstrap 95%
CI of that median over processes: a CI that includes the spread between runs.

    python benchmarks/timm_processes.py --processes 12 --runs 60 --out benchmarks/results/timm_processes.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from seprof.latency import MIN_CI_SAMPLES

NAMES = ["seprof", "timm", "seprof_block_in_timm"]
PAIRS = (("seprof", "timm"), ("seprof_block_in_timm", "timm"))


def child(runs: int, offset: int, threads: int) -> None:
    import torch
    from timm_seresnet50 import build

    from seprof.latency import ratio, time_models

    order = NAMES[offset % len(NAMES):] + NAMES[:offset % len(NAMES)]
    torch.manual_seed(0)
    models = build(torch.device("cpu"), order)
    setup, t = time_models(models, (3, 224, 224), runs=runs, warmup=5, threads=threads)
    print(json.dumps({"order": order, "seconds": setup.seconds, "median_ms": {n: t[n].median_ms for n in NAMES},
                      **{f"{a}_vs_{b}": ratio(t[a], t[b])[1] for a, b in PAIRS}}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=60, help="interleaved rounds in each process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.runs, args.child, args.threads)
        return
    if args.processes < MIN_CI_SAMPLES or args.runs < 1:
        parser.error(f"give at least {MIN_CI_SAMPLES} processes (for a CI over them) and 1 round")
    here = Path(__file__).resolve()
    results = []
    for k in range(args.processes):
        done = subprocess.run([sys.executable, str(here), "--child", str(k), "--runs", str(args.runs),
                               "--threads", str(args.threads)], capture_output=True, text=True, cwd=here.parent)
        if done.returncode:
            sys.exit(f"process {k + 1} failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"process {k + 1}/{args.processes}: " + ", ".join(
            f"{a}/{b} {results[-1][f'{a}_vs_{b}']:.4f}" for a, b in PAIRS), file=sys.stderr)

    from statistics import median

    import timm
    import torch

    from seprof.latency import device_name, median_ci

    summary = {}
    for a, b in PAIRS:
        values = [r[f"{a}_vs_{b}"] for r in results]
        summary[f"{a}_vs_{b}"] = {"per_process": values, "median": median(values),
                                  "ci95_over_processes": median_ci(values)}
    out = {"setup": {"processes": args.processes, "runs_per_process": args.runs, "threads": args.threads,
                     "device": device_name(torch.device("cpu")), "torch": torch.__version__,
                     "timm": timm.__version__, "python": platform.python_version()},
           **summary, "processes": results}
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
