"""Save → load → identical outputs for every torchvision builder, for real (random weights, on the CPU).

Each model runs in a child process of its own, one at a time (its memory is freed when it ends, and a crash or
running out of memory is that model's error): build it, put SE in as ``seprof inject NAME --save`` does
(standard SE, r=16, every stage; beside the model's own SE with add_missing where it has blocks without), scale
its weights by 1 + U(0, 0.01) (so that a load that kept a fresh model's weights would differ), save it with
``seprof.save``, load it with ``seprof.load`` and compare, in eval mode, the state_dicts and the outputs at a
small input the model accepts (``torch.equal``). A model whose every block already has SE cannot be saved by
``seprof inject`` (it refuses to add none); ``seprof.save`` writes it with stages [] and ``seprof.load``
rebuilds it as built. Results are written after each model.

    python benchmarks/roundtrip.py --out benchmarks/results/roundtrip.json
    python benchmarks/roundtrip.py --models mnasnet0_5,raft_small --out /tmp/roundtrip.json
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torchvision

import seprof
from seprof import checkpoint
from seprof.errors import first_line
from seprof.families import Call
from seprof.models import build_model, default_input_shape, harness_of, list_models
from seprof.stages import find_sites
from seprof.surgery import inject, se_modules

SIDES = (32, 64, 96, 128, 160, 192, 224)  # square sides tried, smallest first
FRAMES = (4, 8)  # clip lengths tried for video models


def small_input(name: str) -> tuple[int, ...]:
    """The smallest input (C×H×W, or C×T×H×W) a meta-device pass of ``name`` accepts from a ladder of sizes, or
    its usual input. A detector resizes what it is given to its own size: it gets a 3×64×64 image."""
    harness = harness_of(name)
    usual = default_input_shape(name)
    if harness.call is Call.IMAGES:
        return (3, 64, 64)
    model = harness.runnable(build_model(name, "meta"))
    sides = [s for s in SIDES if s < min(usual[-2:])]
    if len(usual) == 4:  # video: C×T×H×W
        clips = [t for t in FRAMES if t < usual[1]] + [usual[1]]
        candidates = [(usual[0], t, s, s) for t in clips for s in sides]
    else:
        candidates = [(usual[0], s, s) for s in sides]
    candidates.sort(key=lambda c: (math.prod(c), c))
    return next((shape for shape in candidates if _accepts(model, shape)), tuple(usual))


def _accepts(model: torch.nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether a meta-device pass of ``model`` runs on one sample of ``shape``."""
    try:
        with torch.no_grad():
            model(torch.empty(1, *shape, device="meta"))
    except Exception:  # noqa: BLE001 - too small for the model, however it says so
        return False
    return True


def tensors(output) -> list[torch.Tensor]:
    """Every tensor in what a model returns (a tensor, or dicts, lists and tuples of them), in order."""
    if isinstance(output, torch.Tensor):
        return [output]
    values = output.values() if isinstance(output, dict) else output if isinstance(output, (list, tuple)) else []
    return [t for v in values for t in tensors(v)]


def identical(a, b) -> bool:
    ta, tb = tensors(a), tensors(b)
    return len(ta) == len(tb) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(ta, tb))


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def round_trip(name: str, folder: str) -> dict:
    """Save → load → compare for one model; the facts of the run."""
    start = time.perf_counter()
    harness = harness_of(name)
    usual = default_input_shape(name)
    shape = small_input(name)
    base = build_model(name, "cpu")
    found = find_sites(build_model(name, "meta"), usual, harness=harness)
    native = bool(found.native)
    path = os.path.join(folder, f"{name}.pt")
    row: dict = {"model": name, "input": list(shape), "params": sum(p.numel() for p in base.parameters())}
    if found.sites:
        model = inject(base, input_shape=usual, add_missing=native, harness=harness)
        row["mode"] = "injected beside its own SE (add_missing)" if native else "injected"
    else:
        model = base
        row["mode"] = "as built (every block has SE of its own: saved with stages [], loaded as built)"
    del base
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1 + 0.01 * torch.rand_like(p))
    model.eval()
    built = time.perf_counter()
    stages = sorted({m.stage for _, m in se_modules(model)})
    checkpoint.save(path, model, name=name, stages=stages, input_shape=list(usual), add_missing=native)
    saved = time.perf_counter()
    row["file_bytes"] = os.path.getsize(path)
    loaded = seprof.load(path)
    done = time.perf_counter()
    row["same_state_dict"] = same_state(model, loaded)
    torch.manual_seed(0)
    x = torch.randn(1, *shape)
    with torch.no_grad():
        a = harness.runnable(model)(x)
        b = harness.runnable(loaded)(x)
    row["identical_outputs"] = identical(a, b)
    row["output_tensors"] = len(tensors(a))
    row["status"] = "ok" if row["same_state_dict"] and row["identical_outputs"] else "mismatch"
    row.update(build_seconds=built - start, save_seconds=saved - built, load_seconds=done - saved,
               seconds=time.perf_counter() - start)
    return row


def _child(name: str, folder: str, send) -> None:
    torch.set_num_threads(int(os.environ.get("ROUNDTRIP_THREADS", torch.get_num_threads())))
    try:
        row = round_trip(name, folder)
    except Exception as error:  # noqa: BLE001 - recorded as this model's result
        row = {"model": name, "status": "error", "error": first_line(error),
               "traceback": traceback.format_exc().splitlines()[-6:]}
    send.send(row)


def run(names: list[str], out: Path, timeout: float) -> None:
    fork = multiprocessing.get_context("fork")
    result = {
        "what": "seprof.save → seprof.load → identical state_dict and outputs (eval mode) for each builder; "
                "weights random, scaled by 1 + U(0, 0.01) before saving",
        "seprof": seprof.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
        "python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "threads": torch.get_num_threads(), "timeout_seconds": timeout,
        "complete": False, "models": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for i, name in enumerate(names, 1):
            receive, send = fork.Pipe(duplex=False)
            child = fork.Process(target=_child, args=(name, folder, send))
            start = time.perf_counter()
            child.start()
            send.close()
            row = receive.recv() if receive.poll(timeout) else None
            overran = row is None and child.is_alive()
            child.join(5)
            if child.is_alive():
                child.kill()
                child.join()
            if row is None:
                reason = (f"ran past {timeout:.0f} s" if overran
                          else f"the process ended with exit code {child.exitcode}")
                row = {"model": name, "status": "error", "error": reason}
            row["wall_seconds"] = time.perf_counter() - start
            for file in Path(folder).glob("*"):
                file.unlink()
            result["models"].append(row)
            counts = {s: sum(r["status"] == s for r in result["models"]) for s in ("ok", "mismatch", "error")}
            result.update(counts=counts, complete=i == len(names))
            out.write_text(json.dumps(result, indent=1) + "\n")
            print(f"[{i}/{len(names)}] {name}: {row['status']} {row.get('error', '')} "
                  f"{row['wall_seconds']:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated builders (default: all torchvision builders)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds one model may take")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list(list_models(task=None))
    unknown = sorted(set(names) - set(list_models(task=None)))
    if unknown:
        sys.exit(f"unknown builders: {', '.join(unknown)}")
    run(names, args.out, args.timeout)


if __name__ == "__main__":
    main()
