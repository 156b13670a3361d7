"""How much of SE's parameter budget sits in each stage of SE-ResNet-50, and what stripping late stages saves.

    python examples/se_resnet50_budget.py
"""

import seprof

report = seprof.profile("resnet50", r=16, strip_stages=[[5], [4, 5]], latency=False)

configs = report.to_frame()
print(configs[["config", "se_stages", "params", "params_added", "params_added_pct", "macs_fvcore"]].to_string())
stages = report.stages_frame()
se = stages[stages.config == "se"]
print(se[["stage", "resolution", "blocks", "channels", "analytic_paper", "measured"]].to_string())
