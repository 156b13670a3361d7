"""The SENet paper's printed figures for SE-ResNet-50, next to seprof's exact numbers for the same configuration.

Source: Hu, Shen, Albanie, Sun, Wu, "Squeeze-and-Excitation Networks", arXiv 1709.01507 v4 (TPAMI):
Sec. 4 (complexity: ~3.86 → ~3.87 GFLOPs, ~2.5 M parameters, ~10% → ~4% without the last stage's SE),
Table 10 (reduction ratio), Tables 11–12 (squeeze, excitation), Table 13 (stages), Table 14 (integration).
The ablations (Sec. 6) use SE-ResNet-50 *without FC biases*, and so do the rows below. seprof's model is
torchvision's ResNet-50, which is ResNet v1.5 (stride on the 3×3 conv of a downsampling block, not on the
first 1×1): the same parameters as the paper's v1, more MACs. The paper's "GFLOPs" are multiply-accumulates.

``PRINTED`` holds what the paper prints, verbatim; ``compare`` measures each row's configuration with seprof
(meta device: nothing is allocated) and says, in one line, wherever the printed value cannot be matched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .accounting import SEWork
from .report import ConfigResult, Report
from .spec import BlockSpec, Position

BASE = "base"


@dataclass(frozen=True)
class Printed:
    """One figure as the paper prints it.

    Attributes:
        where: the table or section ("Table 10").
        row: the row's label as printed ("r = 4", "SE Stage 3").
        quantity: "params" (millions, total), "added" (millions added), "added %" or "GMACs" (the paper's GFLOPs).
        printed: the printed number (None where the paper prints no such figure for the row).
        block: seprof's block for the row (None: the base model).
        stages: the stages with SE (None: all).
    """

    where: str
    row: str
    quantity: str
    printed: float | None
    block: BlockSpec | None
    stages: tuple[int, ...] | None = None


def _se(r: int = 16, position: Position = Position.STANDARD) -> BlockSpec:
    return BlockSpec(r=r, bias=False, position=position)


PRINTED: tuple[Printed, ...] = (
    Printed("Sec. 4", "ResNet-50", "GMACs", 3.86, None),
    Printed("Sec. 4", "SE-ResNet-50", "GMACs", 3.87, _se()),
    Printed("Sec. 4", "SE-ResNet-50: ~2.5 M added", "added", 2.5, _se()),
    Printed("Sec. 4", "SE-ResNet-50: ~10% added", "added %", 10, _se()),
    Printed("Sec. 4", "without the last stage's SE: ~4%", "added %", 4, _se(), (2, 3, 4)),
    *(Printed("Table 10", f"r = {r}", "params", p, _se(r)) for r, p in ((2, 45.7), (4, 35.7), (8, 30.7), (16, 28.1),
                                                                         (32, 26.9))),
    Printed("Table 10", "original", "params", 25.6, None),
    Printed("Table 11", "Max (squeeze)", "params", None, BlockSpec(bias=False, squeeze="max")),
    Printed("Table 12", "ReLU (excitation)", "params", None, BlockSpec(bias=False, gate="relu")),
    Printed("Table 12", "Tanh (excitation)", "params", None, BlockSpec(bias=False, gate="tanh")),
    *(Printed("Table 13", label, "params", p, _se(), stages)
      for label, p, stages in (("SE Stage 2", 25.6, (2,)), ("SE Stage 3", 25.7, (3,)), ("SE Stage 4", 26.4, (4,)),
                               ("SE All", 28.1, None))),
    Printed("Table 13", "ResNet-50", "params", 25.6, None),
    *(Printed("Table 13", label, "GMACs", g, _se(), stages)
      for label, g, stages in (("SE Stage 2", 3.86, (2,)), ("SE Stage 3", 3.86, (3,)), ("SE Stage 4", 3.86, (4,)),
                               ("SE All", 3.87, None))),
    *(Printed("Table 14", label, "params", None, _se(position=position))
      for label, position in (("SE", Position.STANDARD), ("SE-PRE", Position.PRE), ("SE-POST", Position.POST),
                              ("SE-Identity", Position.IDENTITY))),
)


@dataclass(frozen=True)
class Comparison:
    """One printed figure against seprof's: ``exact`` in the printed unit, the difference, and a note."""

    printed: Printed
    exact: float
    exact_text: str
    difference: str
    note: str


def _unit(quantity: str, value: float) -> str:
    if quantity in ("params", "added"):
        return f"{value / 1e6:.2f} M"
    if quantity == "added %":
        return f"{value:.2f}%"
    return f"{value / 1e9:.3f} G"


def _rounded(quantity: str, value: float) -> float:
    """``value`` in the printed unit, to the printed precision."""
    if quantity in ("params", "added"):
        return round(value / 1e6, 1)
    if quantity == "added %":
        return float(round(value))
    return round(value / 1e9, 2)


def _macs_note(p: Printed, v1: ConfigResult, work: SEWork, first: bool) -> str:
    """Where a printed GFLOPs figure comes from: ResNet v1 counted as seprof counts, with SE's FC MACs, then
    with its pooling and its scale counted too; which of them round to the printed value."""
    base = ("torchvision's ResNet-50 is v1.5 (a downsampling block's stride on its 3×3 conv); the paper's v1 "
            "(stride on the first 1×1 conv), counted the same way: " if first else "ResNet v1: ")
    if p.block is None:
        return base + f"{v1.macs['torch'] / 1e9:.4f} G, which rounds to {_rounded('GMACs', v1.macs['torch']):.2f}"
    steps = [("with SE's FC MACs", "the FC MACs alone", v1.macs["torch"]),
             ("adding its pooling adds", "the pooling counted", v1.macs["torch"] + work.pool_ops),
             ("and its scale multiplies", "the scale counted too", v1.macs["torch"] + work.pool_ops + work.scale_muls)]
    text = base + "; ".join(f"{what}: {total / 1e9:.4f} G" for what, _, total in steps)
    matches = [short for _, short, total in steps if _rounded("GMACs", total) == p.printed]
    if not matches:
        return text + f"; none rounds to the printed {p.printed:.2f}"
    return text + f"; the printed {p.printed:.2f} is reached with {matches[0]}"


def _note(p: Printed, value: float, biases: int) -> str:
    if p.printed is None:
        return "the paper prints errors only for this row; seprof's exact count"
    if _rounded(p.quantity, value) == p.printed:
        return "matches to the printed precision"
    if p.quantity == "added %":
        return f"cannot be matched: the exact share rounds to {_rounded(p.quantity, value):.0f}%"
    with_biases = _rounded(p.quantity, value + biases)
    return (f"cannot be matched: the exact count rounds to {_rounded(p.quantity, value):.1f} M ({with_biases:.1f} M "
            f"with FC biases), {abs(value / 1e6 - p.printed):.2f} M below the printed {p.printed:.1f} M")


def compare(model: str = "resnet50") -> list[Comparison]:
    """Each printed figure against seprof's exact number for the same configuration of ``model``: total
    parameters, parameters added (count and % of the base), or MACs by torch's flop counter (conv and matmul
    MACs, as the paper's GFLOPs), with the same MACs of ResNet v1 in the note. Runs on the meta device."""
    from .models import build_model

    wanted = {(p.block, p.stages) for p in PRINTED if p.block is not None}
    report = _counted(model, wanted)
    v1 = _counted(_resnet_v1(build_model(model, "meta")), {(p.block, p.stages) for p in PRINTED
                                                            if p.quantity == "GMACs" and p.block is not None})
    rows, first_macs = [], True
    for p in PRINTED:
        config = _config(report, p)
        value = {"params": config.params, "added": config.params_added, "added %": config.params_added_pct,
                 "GMACs": config.macs["torch"]}[p.quantity]
        difference = "—" if p.printed is None else _difference(p, value)
        if p.quantity == "GMACs":
            work = sum((s.work for s in v1.stages if s.config == _config(v1, p).config and s.se), SEWork())
            note = _macs_note(p, _config(v1, p), work, first_macs)
            first_macs = False
        else:
            biases = sum(h + c for s in report.stages if s.config == config.config and s.se
                         for h, c in zip(s.hidden, s.channels))
            note = _note(p, value, biases)
        rows.append(Comparison(p, value, _unit(p.quantity, value), difference, note))
    return rows


def _counted(model, wanted: set) -> Report:
    """The base model and each (block, stages) of ``wanted``, counted by torch's flop counter on the meta
    device."""
    from .measure import assemble, build, count, open_model, plan_sweep

    source = open_model(model)
    blocks = list(dict.fromkeys(b for b, _ in wanted))
    plan = plan_sweep(source, blocks, sorted({s for _, s in wanted}, key=lambda s: (s is None, s or ())))
    keep = {c.name for c in plan.configs if c.name == BASE or (c.block, c.stage_set) in wanted}
    plan = replace(plan, configs=tuple(c for c in plan.configs if c.name in keep))
    models = build(source, plan)
    return assemble(plan, models, count(plan, models, ("torch",)))


def _config(report: Report, p: Printed) -> ConfigResult:
    if p.block is None:
        return report.config(BASE)
    return next(c for c in report.configs if (c.block, c.stage_set) == (p.block, p.stages))


def _resnet_v1(model):
    """``model`` (a torchvision ResNet, changed in place) as ResNet v1: each downsampling Bottleneck's stride
    moved from its 3×3 conv to its first 1×1 conv, as in He et al. and the SENet paper's ResNet-50."""
    from torchvision.models.resnet import Bottleneck

    for block in model.modules():
        if isinstance(block, Bottleneck) and block.conv2.stride != (1, 1):
            block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)
    return model


def _difference(p: Printed, value: float) -> str:
    if p.quantity in ("params", "added"):
        return f"{p.printed - value / 1e6:+.2f} M"
    if p.quantity == "added %":
        return f"{p.printed - value:+.2f} pp"
    return f"{p.printed - value / 1e9:+.3f} G"


def comparison_csv(rows: list[Comparison]) -> str:
    """The comparison as CSV: where, row, figure, printed, seprof (exact, in units), difference, note."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["where", "row", "figure", "block", "stages", "printed", "seprof", "difference", "note"])
    for c in rows:
        p = c.printed
        exact = round(c.exact, 4) if p.quantity == "added %" else int(c.exact)
        writer.writerow([p.where, p.row, p.quantity, p.block.slug if p.block else "", "+".join(map(str, p.stages))
                         if p.stages else ("all" if p.block else ""), "" if p.printed is None else p.printed, exact,
                         c.difference, c.note])
    return out.getvalue()
