"""Which attention block, where in the residual unit, at which r: parameters and MACs of each choice on
ResNet-50, then the two cheapest timed against the base model (CPU, a few rounds).

    python examples/which_attention.py
"""

import seprof
from seprof import BlockSpec, TimingOptions

blocks = [BlockSpec(kind, r=16, position=position)
          for kind in ("se", "sse", "scse") for position in ("standard", "pre")]
report = seprof.sweep("resnet50", blocks, stage_sets=["all"], timing=None, counters=("torch",))
frame = report.to_frame()
print(frame[["config", "block", "r", "position", "params_added", "params_added_pct", "analytic_exact",
             "macs_torch"]].to_string())

# time the two smallest against the base model: interleaved rounds, the ratio with its 95% CI
cheapest = sorted(blocks, key=lambda b: report.config(f"{b.slug}@all").params_added)[:2]
timed = seprof.sweep("resnet50", cheapest, timing=TimingOptions(runs=6, warmup=1, device="cpu"),
                     counters=("torch",))
for c in timed.configs[1:]:
    lo, hi = c.latency.ratio_ci
    print(f"{c.block.short:>24}: {c.latency.ratio[1]:.3f}× base latency (95% CI {lo:.3f}–{hi:.3f})")
