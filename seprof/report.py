"""Results of a profile as plain dataclasses, and their export (the only module that imports pandas).

One ``ConfigResult`` per configuration (base, SE, SE with stages stripped) and one ``StageResult`` per
(configuration, stage). ``Report.to_frame()`` / ``stages_frame()`` give pandas DataFrames whose columns are
documented in ``CONFIG_COLUMNS`` / ``STAGE_COLUMNS``; CSV and JSON files are written atomically (a temporary
file in the same folder, then a rename), so a failed run never leaves a half-written or clobbered file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .accounting import SEWork, element_bytes, floor_ms, traffic_bytes
from .export import write_atomic
from .spec import BlockSpec
from .text import stage_set_text

# Version of the JSON report's layout: 2 added schema_version, versions of every library, OS and CPU/GPU,
# and empty r/bias for configurations without SE; 3 the block's kind and knobs (a column each), the stages
# a sweep point asked for, and the work columns pool_ops, spatial_macs, gates (was sigmoids), combine_ops; 4
# input_origin (where the input came from), own_attention (the model's own attention seprof lists, with why any of
# it cannot be stripped) and own_kinds (the kinds of it measured, with ``own_attention=True``).
SCHEMA_VERSION = 4

CONFIG_COLUMNS = {
    "model": "model name (or class name for a model object)",
    "config": "base, se, se_strip_<stages>, se_only_<stage> (with --attribute), or <block>@<stages> in a sweep",
    "block": "the block seprof added: se, cse, sse, scse or one of timm's kinds (ese, eca, cbam, ...; seprof blocks "
    "lists them); empty without, and for a model's own SE blocks",
    "r": "reduction ratio of seprof's blocks (empty without SE, for sSE, and for a model's own SE blocks, which "
    "keep their widths)",
    "bias": "whether the blocks' excitation layers have biases (empty without SE)",
    "squeeze": "the channel squeeze: avg or max pooling (empty for sSE)",
    "gate": "the excitation gate: sigmoid, hardsigmoid, tanh or relu",
    "divisor": "hidden width rounded to a multiple of this (empty: C // r, as the paper)",
    "combine": "how scSE combines its two maps: add or max (empty for other blocks)",
    "position": "where in the residual unit: standard, pre, post or identity (SENet Fig. 5)",
    "knobs": "a timm kind's own knobs set away from their defaults, as name=value separated by '; ' (empty: its "
    "defaults, or seprof's kinds, whose knobs have columns of their own)",
    "stage_set": "the stages a sweep point asked for ('all', or e.g. '4' or '4+5'); empty outside sweeps",
    "se_stages": "stages holding SE blocks in this configuration, comma-separated",
    "input": "input C x H x W",
    "params": "parameters of the model",
    "params_added": "parameters added over the base model (measured: parameter count difference)",
    "params_added_pct": "params_added as % of the base model's parameters",
    "analytic_paper": "the papers' formula, weights only: (2/r)·Σ N_s·C_s² for SE (eq. 5; native SE: each block's "
    "own r = C/hidden), Σ N_s·C_s for sSE, both for scSE",
    "analytic_exact": "exact block parameters: real hidden width, biases included when present",
    "macs_fvcore": "MAC-equivalent ops per sample (batch 1) counted by fvcore: conv/matmul MACs, plus BatchNorm "
    "and pooling at 1 op per element, so more than the MACs alone; skips SE's squeeze (a tensor mean) and "
    "element-wise ops such as SE's sigmoid and scale multiply (the JSON's counters.fvcore.skipped lists them)",
    "macs_thop": "MAC-equivalent ops per sample (batch 1) counted by thop: conv/linear MACs (biases not counted), "
    "plus BatchNorm at 2 ops and average pooling at kernel+1 ops per element; only known module types, so "
    "functional calls (residual add, SE's squeeze and scale multiply) go uncounted",
    "macs_torch": "MACs per sample (batch 1) from torch.utils.flop_counter: its FLOPs of conv and matmul ops / 2; "
    "BatchNorm, pooling, activations and element-wise ops go uncounted",
    "macs_analytic": "the MACs of the attention blocks alone per sample, by the table of kinds' formulas: the "
    "excitation's FC/conv MACs on squeezed tensors plus MACs over the full map (sSE's conv, GC's attention "
    "pooling); pooling, gates and the scale multiply are ops of their own (the JSON's stage work columns)",
    "latency_ms": "median forward latency of one batch, ms",
    "latency_iqr_ms": "interquartile range of the latency samples, ms",
    "latency_runs": "number of timed samples",
    "latency_ratio": "median of per-round latency ratios against the base model",
    "latency_ratio_ci_low": "95% bootstrap confidence interval of latency_ratio, low end",
    "latency_ratio_ci_high": "95% bootstrap confidence interval of latency_ratio, high end",
    "latency_added_ms": "median of per-round latency differences against the base model, ms",
    "latency_added_ms_ci_low": "95% bootstrap confidence interval of latency_added_ms, low end",
    "latency_added_ms_ci_high": "95% bootstrap confidence interval of latency_added_ms, high end",
    "device_ms": "CUDA only: median device time of one batch, the timed step (forward; forward + backward in "
    "train mode) captured as a CUDA graph and replayed (host dispatch out), ms",
    "device_added_ms": "CUDA only: median of per-round device-time differences against the base model, ms; "
    "latency_added_ms minus this is the added host dispatch",
    "graphs": "whether the timed step (forward; forward + backward in train mode) was captured as a CUDA graph "
    "(True/False; empty when not timed)",
    "graphs_note": "why the step was not captured as a CUDA graph (empty when it was, or when not timed)",
    "peak_memory_bytes": "peak bytes one call needs beyond weights and input (CUDA: max_memory_allocated; "
    "CPU: tensors the call creates); with --memory",
    "device": "device the latency was measured on",
    "dtype": "data type of the timed forward pass",
    "threads": "torch intra-op threads while timing",
    "cpus": "CPUs the process could run on (CPU timing; by default threads leave one of them free)",
    "stopped": "why sampling stopped: rounds (--runs alone), converged (every ratio's 95% CI within ±1%), "
    "budget (time ran out first), max rounds, or budget before runs (time ran out before the rounds asked, or "
    "the default 20)",
    "batch_size": "batch size of the timed pass",
    "mode": "infer (forward, inference_mode) or train (forward + backward, train mode)",
    "channels_last": "models and input in the channels-last memory format",
    "se_traffic_bytes": "analytic bytes the configuration's attention blocks move in one forward pass of the batch: "
    "feature-map reads and writes (unfused) × batch at the dtype's size, plus their parameters read once at 4 "
    "bytes; at batch 1 in float32 when not timed (empty in train mode)",
    "bandwidth_gbs": "memory bandwidth measured in the same run by a large tensor copy (bytes read + written per "
    "second, GB/s)",
    "floor_ms": "se_traffic_bytes at bandwidth_gbs: the time that traffic takes to and from memory, ms",
    "runs_asked": "timed rounds asked for with --runs (empty: not given); latency_runs says how many were taken",
    "warmup": "warm-up calls per model asked for with --warmup",
    "warmup_done": "warm-up calls each model got: warmup, or fewer when they took the whole sampling budget",
}

STAGE_COLUMNS = {
    "model": "model name",
    "config": "configuration, as in the main CSV",
    "stage": "stage number s (feature maps at stride 2^s)",
    "resolution": "H x W of the feature map at the SE point (a token count for ViT; a/b where blocks differ, as "
    "SE-PRE in a stage's first block)",
    "blocks": "N_s, blocks in the stage",
    "channels": "C_s, channels SE recalibrates (a/b/... if blocks differ)",
    "hidden": "the SE hidden width: C_s // r (or rounded to the divisor), a native SE block's own; empty for sSE",
    "se": "whether this configuration has SE in this stage",
    "analytic_paper": "(2/r)·N_s·C_s² for this stage (0 without SE)",
    "analytic_exact": "exact SE parameters of this stage",
    "measured": "parameters of this stage's SE modules, counted in the model",
    "se_macs_fvcore": "ops fvcore counts inside this stage's SE blocks: FC MACs, plus the squeeze where a block "
    "pools with a pooling op (seprof's squeezes with a tensor mean, which fvcore does not count)",
    "se_macs_thop": "ops thop counts inside this stage's SE blocks: FC MACs, plus the squeeze where a block pools "
    "with a pooling module (seprof's squeezes with a tensor mean, which thop does not see)",
    "se_macs_torch": "MACs torch's flop counter counts inside this stage's SE blocks",
    "pool_ops": "analytic: reductions over the full map: SE's squeeze, H·W·C adds (avg) or compares (max) per block; "
    "a timm kind's pools by its formula (CBAM: average and max over positions and over channels)",
    "fc_macs": "analytic: the excitation's multiply-accumulates on squeezed tensors, 2·C·hidden per SE block (a timm "
    "kind's FC, 1-D and strip convs by its formula)",
    "spatial_macs": "analytic: multiply-accumulates over the full map: sSE's 1x1 conv C→1, H·W·C per block (GC's "
    "attention pooling too)",
    "bias_adds": "analytic: bias adds, hidden + C per SE block and H·W per sSE conv, with biases (a timm kind's by "
    "its formula)",
    "gates": "analytic: gate evaluations on squeezed tensors, C per channel and H·W per spatial excitation",
    "scale_muls": "analytic: scale multiplies, H·W·C per recalibrated map (no common counter counts these)",
    "combine_ops": "analytic: scSE's add or max of its two maps, H·W·C per block (and a timm kind's skip add)",
    "norm_ops": "analytic: a timm kind's norm ops on its squeezed tensors, one per element (0 for seprof's kinds)",
    "map_gates": "analytic: gate evaluations on the full map (simple coordinate and strip attention)",
    "broadcast_adds": "analytic: a vector added at every element of the map (GC fused by addition)",
    "expand_adds": "analytic: a full map made by adding two broadcast strips (simple coordinate and strip attention)",
    "feature_reads": "analytic: elements of the feature maps the blocks read per sample, unfused (squeeze, sSE conv, "
    "scale, combine; each full-map op of a timm kind)",
    "feature_writes": "analytic: elements the blocks write per sample, unfused (each recalibrated map, the combined "
    "one)",
}


@dataclass(frozen=True)
class Latency:
    """A model's measured latency; ``ratio`` quartiles are per-round ratios against the base model,
    ``ratio_ci`` the 95% bootstrap CI of their median, ``delta_ms`` quartiles of the per-round differences."""

    median_ms: float
    iqr_ms: float
    runs: int
    ratio: tuple[float, float, float]
    ratio_ci: tuple[float, float] = (float("nan"), float("nan"))
    delta_ms: tuple[float, float, float] = (0.0, 0.0, 0.0)
    peak_memory_bytes: int | None = None
    delta_ci: tuple[float, float] = (float("nan"), float("nan"))
    device_ms: float | None = None  # CUDA-graph replay: device time with the host's dispatch out
    device_delta_ms: float | None = None  # median per-round difference of device time against base


@dataclass(frozen=True)
class LatencyRun:
    """One interleaved timing run (one batch size): how it was taken and each configuration's result."""

    batch: int
    setup: dict[str, Any]
    latency: dict[str, Latency]


@dataclass(frozen=True)
class StageShare:
    """Where SE costs, for one stage: its share of SE's parameters, work and measured latency."""

    stage: int
    params: int
    params_share: float
    elementwise_ops: int
    elementwise_share: float
    fc_macs: int
    fc_share: float
    latency_ms: dict[int, tuple[float, float, float]]
    latency_share: dict[int, float]
    latency_ci: dict[int, tuple[float, float]]

    def resolved(self, batch: int) -> bool:
        """Whether the added latency at ``batch`` differs from zero at 95% confidence."""
        lo, hi = self.latency_ci[batch]
        return lo > 0 or hi < 0


@dataclass(frozen=True)
class ConfigResult:
    """One configuration of the model: which stages have SE, and what it costs."""

    config: str
    se_stages: tuple[int, ...]
    params: int
    params_added: int
    params_added_pct: float
    analytic_paper: float
    analytic_exact: int
    macs: dict[str, int]
    latency: Latency | None = None
    block: BlockSpec | None = None
    stage_set: tuple[int, ...] | None = None

    @property
    def sweep_point(self) -> bool:
        """Whether this is a point of a sweep (named "<block>@<stages>")."""
        return "@" in self.config

    @property
    def stage_set_text(self) -> str:
        """The stages a sweep point asked for: 'all', '4', '4+5'."""
        return stage_set_text(self.stage_set)


@dataclass(frozen=True)
class StageResult:
    """One stage of one configuration."""

    config: str
    stage: int
    resolution: tuple[int, int]
    blocks: int
    channels: tuple[int, ...]
    hidden: tuple[int, ...]
    se: bool
    analytic_paper: float
    analytic_exact: int
    measured: int
    se_macs: dict[str, int]
    work: SEWork
    bias_params: int = 0
    resolutions: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.resolutions:
            object.__setattr__(self, "resolutions", (tuple(self.resolution),))


GIVEN_INPUT = "as given"  # a report's input_origin when the caller named the input


@dataclass(frozen=True)
class Report:
    """Everything one profile measured, with how it was measured."""

    model: str
    input_shape: tuple[int, ...]
    r: int | None
    bias: bool | None
    base_params: int
    configs: tuple[ConfigResult, ...]
    stages: tuple[StageResult, ...]
    counters: dict[str, dict[str, Any]]
    timing: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    native: bool = False
    add_missing: bool = False
    latency_runs: tuple[LatencyRun, ...] = ()
    block: BlockSpec | None = None
    notes: tuple[str, ...] = ()
    sample: str = "image"
    native_blocks: tuple[str, ...] = ()
    input_origin: str = ""
    own_attention: tuple[dict[str, Any], ...] = ()
    own_kinds: tuple[str, ...] = ()

    def attribution(self) -> list[StageShare]:
        """Per SE stage: parameters and analytic work (from the "se" configuration) and the latency that SE
        in that stage alone adds (configuration "se_only_<s>" minus base: median of per-round differences,
        with quartiles), each as a share of the sum over stages. Needs ``profile(..., attribute=True)``."""
        rows = [s for s in self.stages if s.config == "se" and s.se]
        params = sum(s.measured for s in rows) or 1
        elementwise = sum(s.work.elementwise for s in rows) or 1
        fc = sum(s.work.fc_macs for s in rows) or 1
        added = {run.batch: {s.stage: run.latency[f"se_only_{s.stage}"].delta_ms for s in rows
                             if f"se_only_{s.stage}" in run.latency} for run in self.latency_runs}
        cis = {run.batch: {s.stage: run.latency[f"se_only_{s.stage}"].delta_ci for s in rows
                           if f"se_only_{s.stage}" in run.latency} for run in self.latency_runs}
        totals = {b: sum(d[1] for d in per.values()) for b, per in added.items()}
        return [
            StageShare(
                s.stage, s.measured, s.measured / params, s.work.elementwise, s.work.elementwise / elementwise,
                s.work.fc_macs, s.work.fc_macs / fc,
                {b: per[s.stage] for b, per in added.items() if s.stage in per},
                {b: per[s.stage][1] / totals[b] if totals[b] > 0 else float("nan") for b, per in added.items()
                 if s.stage in per},
                {b: per[s.stage] for b, per in cis.items() if s.stage in per},
            )
            for s in rows
        ]

    @property
    def counter_names(self) -> tuple[str, ...]:
        """The MAC counters this report holds, in seprof's order."""
        return tuple(self.counters)

    def config(self, name: str) -> ConfigResult:
        """The configuration called ``name`` ("base", "se", ...)."""
        return next(c for c in self.configs if c.config == name)

    def config_rows(self) -> list[dict[str, Any]]:
        """One flat dict per configuration (per configuration and batch size when several were timed),
        keyed by ``CONFIG_COLUMNS``."""
        runs = self.latency_runs or (None,)
        rows = []
        for run in runs:
            rows += self._config_rows(run)
        return rows

    def _config_rows(self, run: LatencyRun | None) -> list[dict[str, Any]]:
        timing = run.setup if run is not None else {}
        rows = []
        for c in self.configs:
            lat = run.latency[c.config] if run is not None else None
            knobs = c.block.as_dict() if c.block is not None else dict.fromkeys(
                ("block", "r", "squeeze", "gate", "divisor", "combine", "position"))
            knobs["bias"] = knobs.get("bias") if c.block is not None else (self.bias if c.se_stages else None)
            rows.append(
                {
                    "model": self.model,
                    "config": c.config,
                    **{k: knobs[k] for k in ("block", "r", "bias", "squeeze", "gate", "divisor", "combine",
                                             "position")},
                    "knobs": "; ".join(f"{k}={v}" for k, v in (knobs.get("knobs") or {}).items()) or None,
                    "stage_set": c.stage_set_text if c.sweep_point else None,
                    "se_stages": ",".join(map(str, c.se_stages)),
                    "input": "x".join(map(str, self.input_shape)),
                    "params": c.params,
                    "params_added": c.params_added,
                    "params_added_pct": round(c.params_added_pct, 4),
                    "analytic_paper": whole(c.analytic_paper),
                    "analytic_exact": c.analytic_exact,
                    **{f"macs_{k}": v for k, v in c.macs.items()},
                    "macs_analytic": self.analytic_macs(c.config),
                    "latency_ms": lat.median_ms if lat else None,
                    "latency_iqr_ms": lat.iqr_ms if lat else None,
                    "latency_runs": lat.runs if lat else None,
                    "latency_ratio": lat.ratio[1] if lat else None,
                    "latency_ratio_ci_low": finite(lat.ratio_ci[0]) if lat else None,
                    "latency_ratio_ci_high": finite(lat.ratio_ci[1]) if lat else None,
                    "latency_added_ms": lat.delta_ms[1] if lat else None,
                    "latency_added_ms_ci_low": finite(lat.delta_ci[0]) if lat else None,
                    "latency_added_ms_ci_high": finite(lat.delta_ci[1]) if lat else None,
                    "device_ms": lat.device_ms if lat else None,
                    "device_added_ms": lat.device_delta_ms if lat else None,
                    "graphs": None if "graphs" not in timing else timing["graphs"] == "captured",
                    "graphs_note": None if timing.get("graphs") in (None, "captured") else timing["graphs"],
                    "peak_memory_bytes": lat.peak_memory_bytes if lat else None,
                    "device": timing.get("device"),
                    "dtype": timing.get("dtype"),
                    "threads": timing.get("threads"),
                    "cpus": timing.get("cpus"),
                    "stopped": timing.get("stopped"),
                    "batch_size": timing.get("batch"),
                    "mode": timing.get("mode"),
                    "channels_last": timing.get("channels_last"),
                    **self._traffic(c.config, timing),
                    "runs_asked": timing.get("runs_asked"),
                    "warmup": timing.get("warmup"),
                    "warmup_done": timing.get("warmup_done"),
                }
            )
        return rows

    def work(self, config: str) -> SEWork:
        """The analytic work of ``config``'s attention blocks per sample (seprof's or the model's own)."""
        return sum((s.work for s in self.stages if s.config == config and s.se), SEWork())

    def analytic_macs(self, config: str) -> int:
        """The MACs of ``config``'s attention blocks per sample by the formulas: the excitation's, and those
        over the full map."""
        work = self.work(config)
        return work.fc_macs + work.spatial_macs

    def traffic_bytes(self, config: str, batch: int = 1, dtype: str = "float32") -> int:
        """Bytes the attention blocks of ``config`` move in one forward pass of ``batch`` samples at ``dtype``
        (see ``seprof.accounting.traffic_bytes``; parameters at 4 bytes, as they are stored)."""
        rows = [s for s in self.stages if s.config == config and s.se]
        work = sum((s.work for s in rows), SEWork())
        return traffic_bytes(work, sum(s.measured for s in rows), batch, element_bytes(dtype))

    def _traffic(self, config: str, timing: dict[str, Any]) -> dict[str, Any]:
        """The traffic columns of one configuration's row: empty without a timing run (no bandwidth)."""
        if timing.get("mode") == "train":  # the traffic counted is a forward pass's
            return {"se_traffic_bytes": None, "bandwidth_gbs": None, "floor_ms": None}
        moved = self.traffic_bytes(config, timing.get("batch", 1), timing.get("dtype", "float32"))
        bandwidth = timing.get("bandwidth_gbs")
        if not bandwidth:
            return {"se_traffic_bytes": moved, "bandwidth_gbs": None, "floor_ms": None}
        return {"se_traffic_bytes": moved, "bandwidth_gbs": round(bandwidth, 2),
                "floor_ms": round(floor_ms(moved, bandwidth), 4)}

    def stage_rows(self) -> list[dict[str, Any]]:
        """One flat dict per (configuration, stage), keyed by ``STAGE_COLUMNS``."""
        return [
            {
                "model": self.model,
                "config": s.config,
                "stage": s.stage,
                "resolution": "/".join("x".join(map(str, r)) for r in s.resolutions),
                "blocks": s.blocks,
                "channels": "/".join(map(str, sorted(set(s.channels)))),
                "hidden": "/".join(map(str, sorted(set(s.hidden)))),
                "se": s.se,
                "analytic_paper": whole(s.analytic_paper),
                "analytic_exact": s.analytic_exact,
                "measured": s.measured,
                **{f"se_macs_{k}": v for k, v in s.se_macs.items()},
                "feature_reads": s.work.feature_reads,
                "feature_writes": s.work.feature_writes,
                **{name: value for name, value in asdict(s.work).items() if name in STAGE_COLUMNS},
            }
            for s in self.stages
        ]

    def to_frame(self):
        """The configurations as a pandas DataFrame, one row each."""
        return frame(self.config_rows(), CONFIG_COLUMNS)

    def stages_frame(self):
        """The per-stage results as a pandas DataFrame, one row per (configuration, stage)."""
        return frame(self.stage_rows(), STAGE_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """Everything in the report as JSON-ready data."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model": self.model,
            "input_shape": list(self.input_shape),
            "input_origin": self.input_origin,
            "r": self.r,
            "bias": self.bias,
            "block": self.block.as_dict() if self.block is not None else None,
            "native_se": self.native,
            "add_missing": self.add_missing,
            "notes": list(self.notes),
            "native_blocks": list(self.native_blocks),
            "own_kinds": list(self.own_kinds),
            "own_attention": [dict(row, channels=list(row["channels"])) for row in self.own_attention],
            "base_params": self.base_params,
            "configs": self.config_rows(),
            "stages": self.stage_rows(),
            "counters": self.counters,
            "timing": self.timing,
            "latency_runs": [{"batch": run.batch, "setup": run.setup} for run in self.latency_runs],
            "attribution": [asdict(a) for a in self.attribution()] if any(
                c.config.startswith("se_only_") for c in self.configs) else None,
            "versions": self.versions,
            "units": {"macs": f"multiply-accumulates per {self.sample} (batch 1); FLOPs = 2 × MACs"},
        }

    def csv_text(self) -> str:
        """One CSV row per configuration (per configuration and batch size when several were timed)."""
        return self.to_frame().to_csv(index=False)

    def stages_csv_text(self) -> str:
        """One CSV row per (configuration, stage)."""
        return self.stages_frame().to_csv(index=False)

    def json_text(self) -> str:
        """The whole report as JSON (a value with no estimate, NaN, is null)."""
        return json.dumps(json_safe(self.to_dict()), indent=2, allow_nan=False) + "\n"

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per configuration to ``path`` (atomically)."""
        write_atomic(path, self.csv_text())

    def stages_to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per (configuration, stage) to ``path`` (atomically)."""
        write_atomic(path, self.stages_csv_text())

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the whole report as JSON to ``path`` (atomically)."""
        write_atomic(path, self.json_text())


def finite(value: float) -> float | None:
    """``value``, or None for NaN (no estimate: a CI from too few samples), which CSV and JSON show as empty."""
    return None if value != value else value


def json_safe(data: Any) -> Any:
    """``data`` with every NaN or infinity (a float JSON cannot hold) replaced by None."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def whole(value: float) -> int | float:
    """A count that the arithmetic made a float, as an int when it is whole (2514944.0 → 2514944)."""
    return int(value) if float(value).is_integer() else value


def frame(rows: list[dict[str, Any]], columns: dict[str, str]):
    """``rows`` as a pandas DataFrame with ``columns``, each column typed by its values (missing ones aside):
    integers stay integers (a CSV shows 20, not 20.0), and a missing value is an empty cell."""
    import pandas as pd

    data = pd.DataFrame(rows, columns=list(columns), dtype=object)
    for column in data.columns:
        values = [v for v in data[column] if v is not None and v == v]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            data[column] = data[column].astype("Int64")
        elif values and all(isinstance(v, bool) for v in values):
            data[column] = data[column].astype("boolean")
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            data[column] = data[column].astype("Float64")
    return data


def threads_label(setup: dict[str, Any]) -> str:
    """'1 thread of 2 CPUs' (CPU timing), '8 threads' (no CPU count recorded) for a timing setup dict."""
    threads = setup.get("threads")
    label = f"{threads} thread{'' if threads == 1 else 's'}"
    cpus = setup.get("cpus")
    return f"{label} of {cpus} CPU{'' if cpus == 1 else 's'}" if cpus else label
