"""seprof's injected SE-ResNet-50 against timm's seresnet50 (same architecture, r = 16), timed interleaved.

Both have 28,088,024 parameters: SE after bn3 of every Bottleneck, FC 1×1 convs with biases, hidden width
C/16. The base ResNet-50 is timed in the same rounds, so each SE model gets a paired ratio against it and the
two SE models one against each other. On CUDA the models are also timed as CUDA-graph replays (device time,
``device_*`` keys of the result). A third SE model isolates the SE block: seprof's SE injected into timm's
own resnet50 (``timm:resnet50``), the same backbone code as timm's seresnet50, so the two differ only in
their SE modules. timm is needed here (pip install "seprof[timm]"); random weights.

    python benchmarks/timm_seresnet50.py --runs 40 --threads 2 --out benchmarks/results/timm_seresnet50.json
    python benchmarks/timm_seresnet50.py --runs 60 --out benchmarks/results/timm_seresnet50_default_threads.json
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import timm
import torch
import torchvision

import seprof
from seprof.latency import delta, device_name, graph_times, ratio, ratio_ci, time_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="default: seprof's (torch's, at most the usable CPUs - 1 on the CPU)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    base = torchvision.models.resnet50().eval()
    timm_base = timm.create_model("resnet50", pretrained=False).eval()
    models = {
        "resnet50": base.to(device),
        "seprof": seprof.inject(base, r=16).eval().to(device),
        "timm": timm.create_model("seresnet50", pretrained=False).eval().to(device),
        "timm_resnet50": timm_base.to(device),
        "seprof_on_timm": seprof.inject(timm_base, r=16).eval().to(device),
    }
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    assert params["seprof"] == params["timm"] == params["seprof_on_timm"], params
    setup, t = time_models(models, (3, 224, 224), batch=args.batch, device=device, runs=args.runs, warmup=5,
                             threads=args.threads)
    result = {
        "setup": {**setup.__dict__},
        "params": params,
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
        for a, b in (("seprof", "timm"), ("seprof_on_timm", "timm"), ("seprof", "resnet50")):
            result[f"device_{a}_vs_{b}"] = {"ratio_q1_median_q3": ratio(device_t[a], device_t[b]),
                                           "ci95": ratio_ci(device_t[a], device_t[b])}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
