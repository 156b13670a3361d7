"""seprof's injected SE-ResNet-50 against timm's seresnet50 (same architecture, r = 16), timed interleaved.

The SE models have 28,088,024 parameters each: SE after bn3 of every Bottleneck, FC 1×1 convs with biases,
hidden width C/16. Six models are timed in the same rounds, so every pair gets a paired ratio:

- ``resnet50`` and ``seprof``: torchvision's ResNet-50, and seprof's SE injected into it;
- ``timm``: timm's seresnet50; ``timm_resnet50``: timm's resnet50;
- ``seprof_on_timm``: seprof's SE injected into timm's resnet50, the same backbone code as timm's seresnet50,
  so only the SE modules differ (seprof's wraps ``bn3``, which keeps the state_dict keys);
- ``seprof_block_in_timm``: timm's seresnet50 with seprof's SEBlock where it calls its own SEModule: no
  wrapper, so only the block differs.

All six carry the same random values (timm's seresnet50's, copied key for key). With ``--builds K`` the
models are built K times (in the order above, then in shuffled orders) and the rounds pooled, so that no one
memory layout decides a ratio; the device times, the setup's ``number`` and the bandwidth are the last
build's. On CUDA the models are also timed as CUDA-graph replays (device time, ``device_*`` keys). ``dispatch``
records each model's aten ops and module calls per forward pass: the host's work, which eager timing on a GPU
pays. timm is needed here (pip install "seprof[timm]").

    python benchmarks/timm_seresnet50.py --runs 300 --builds 6 --threads 1 \
        --out benchmarks/results/timm_seresnet50_same_weights.json
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import random
from pathlib import Path

import timm
import torch
import torchvision

import seprof
from seprof import dispatched
from seprof.blocks import SEBlock
from seprof.latency import Timing, delta, device_name, graph_times, ratio, ratio_ci, time_models


def dispatch(model: torch.nn.Module) -> dict:
    """aten ops and module calls of one forward pass (batch 1 at 3×64×64: the counts do not depend on the size)."""
    done = dispatched(model, torch.randn(1, 3, 64, 64, device=next(model.parameters()).device))
    return {"aten_ops": len(done.ops), "module_calls": len(done.modules),
            "by_op": dict(collections.Counter(done.ops).most_common())}


def same_weights(models: dict[str, torch.nn.Module], source: str = "timm") -> None:
    """Give every model ``source``'s values, key for key (seprof's ``bn3.inner.*`` and ``bn3.se.*`` are timm's
    ``bn3.*`` and ``se.*``; the base models take the backbone's): the models then differ in code only."""
    values = models[source].state_dict()
    for model in models.values():
        model.load_state_dict({key: values[key.replace(".bn3.inner.", ".bn3.").replace(".bn3.se.", ".se.")]
                               for key in model.state_dict()})


def build(device: torch.device, order: list[str]) -> dict[str, torch.nn.Module]:
    """The six models, made in ``order`` (so their tensors land in a different order in memory each build),
    all with timm's seresnet50's values, in that order for timing too."""
    made: dict[str, torch.nn.Module] = {}
    for name in order:
        if name == "resnet50":
            made[name] = torchvision.models.resnet50()
        elif name == "seprof":
            made[name] = seprof.inject(torchvision.models.resnet50(), r=16)
        elif name == "timm":
            made[name] = timm.create_model("seresnet50", pretrained=False)
        elif name == "timm_resnet50":
            made[name] = timm.create_model("resnet50", pretrained=False)
        elif name == "seprof_block_in_timm":
            made[name] = seprof_blocks_in(timm.create_model("seresnet50", pretrained=False))
        else:
            made[name] = seprof.inject(timm.create_model("resnet50", pretrained=False), r=16)
    same_weights(made)
    return {name: model.eval().to(device) for name, model in made.items()}


def seprof_blocks_in(model: torch.nn.Module) -> torch.nn.Module:
    """timm's seresnet50 with each of its SEModules replaced by seprof's SEBlock (same width, r = 16, biases),
    called where timm calls its own: no wrapper, the same keys; the block alone is what differs."""
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            block.se = SEBlock(block.se.fc1.in_channels, r=16)
    return model


NAMES = ["resnet50", "seprof", "timm", "timm_resnet50", "seprof_on_timm", "seprof_block_in_timm"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="rounds in all, shared among the builds")
    parser.add_argument("--builds", type=int, default=1, help="build the models afresh this many times, in a "
                        "shuffled order, and pool the rounds: no one memory layout decides the ratio")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None,
                        help="default: seprof's (torch's, at most the usable CPUs - 1 on the CPU)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if not 1 <= args.builds <= args.runs:
        parser.error(f"--builds {args.builds}: give between 1 and --runs ({args.runs}) builds")
    device = torch.device(args.device)
    torch.manual_seed(0)
    shuffle = random.Random(0)
    samples: dict[str, list[float]] = {name: [] for name in NAMES}
    orders, seconds = [], 0.0
    for k in range(args.builds):
        order = NAMES[:] if k == 0 else shuffle.sample(NAMES, len(NAMES))
        models = build(device, order)
        if k == 0:
            params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
            assert len({params[name] for name in NAMES if name not in ("resnet50", "timm_resnet50")}) == 1, params
            counted = {name: dispatch(m) for name, m in models.items()}
        runs = args.runs // args.builds + (1 if k < args.runs % args.builds else 0)
        setup, timed = time_models(models, (3, 224, 224), batch=args.batch, device=device, runs=runs, warmup=5,
                                   threads=args.threads)
        orders.append(order)
        seconds += setup.seconds
        for name in NAMES:
            samples[name] += timed[name].samples_ms
        if k < args.builds - 1:
            del models
    t = {name: Timing(tuple(s)) for name, s in samples.items()}
    setup_out = {**setup.__dict__, "runs": args.runs, "seconds": round(seconds, 3), "builds": args.builds,
                 "build_orders": orders}
    result = {
        "setup": setup_out,
        "params": params,
        "dispatch": counted,
        "median_ms": {name: timing.median_ms for name, timing in t.items()},
        "iqr_ms": {name: timing.iqr_ms for name, timing in t.items()},
        "seprof_vs_resnet50": {"ratio_q1_median_q3": ratio(t["seprof"], t["resnet50"]),
                               "ci95": ratio_ci(t["seprof"], t["resnet50"])},
        "timm_vs_resnet50": {"ratio_q1_median_q3": ratio(t["timm"], t["resnet50"]),
                             "ci95": ratio_ci(t["timm"], t["resnet50"])},
        "seprof_vs_timm": {"ratio_q1_median_q3": ratio(t["seprof"], t["timm"]),
                           "ci95": ratio_ci(t["seprof"], t["timm"]),
                           "delta_ms_q1_median_q3": delta(t["seprof"], t["timm"])},
        "timm_resnet50_vs_resnet50": {"ratio_q1_median_q3": ratio(t["timm_resnet50"], t["resnet50"]),
                                      "ci95": ratio_ci(t["timm_resnet50"], t["resnet50"])},
        "seprof_block_in_timm_vs_timm": {"ratio_q1_median_q3": ratio(t["seprof_block_in_timm"], t["timm"]),
                                         "ci95": ratio_ci(t["seprof_block_in_timm"], t["timm"]),
                                         "delta_ms_q1_median_q3": delta(t["seprof_block_in_timm"], t["timm"])},
        "seprof_on_timm_vs_timm": {"ratio_q1_median_q3": ratio(t["seprof_on_timm"], t["timm"]),
                                   "ci95": ratio_ci(t["seprof_on_timm"], t["timm"]),
                                   "delta_ms_q1_median_q3": delta(t["seprof_on_timm"], t["timm"])},
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__,
                     "python": platform.python_version(), "device": device_name(device)},
    }
    # On CUDA, the same models as CUDA-graph replays (device time, the host's dispatch out), interleaved too
    graphs, device_t = graph_times(models, (3, 224, 224), args.batch, device, rounds=max(20, args.runs // 2))
    result["graphs"] = graphs
    if device_t is not None:
        result["device_median_ms"] = {name: timing.median_ms for name, timing in device_t.items()}
        for a, b in (("seprof", "timm"), ("seprof_on_timm", "timm"), ("seprof_block_in_timm", "timm"),
                     ("seprof", "resnet50")):
            result[f"device_{a}_vs_{b}"] = {"ratio_q1_median_q3": ratio(device_t[a], device_t[b]),
                                           "ci95": ratio_ci(device_t[a], device_t[b])}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
