"""The static report (parameters, paper formula, MACs) for many models at once: ``seprof zoo``.

Each model is profiled without latency, on the meta device: SE at every stage (r as given), or, for a model
with SE of its own, the model as built against the model with its SE removed. By default only the counters
that run on the meta device (thop and torch's flop counter) are used; fvcore needs real tensors and is
opt-in. Models are spread over worker processes (forked after torch is imported, so each starts warm).
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import TypeVar

from .counters import COUNTER_NAMES, check_counters
from .errors import SeprofError, first_line
from .export import write_atomic
from .models import MODEL_FAMILIES, model_family
from .options import check_workers
from .report import SCHEMA_VERSION, frame, whole
from .spec import PAPER_R
from .surgery import check_r

ZOO_COUNTERS = ("thop", "torch")

T = TypeVar("T")

ZOO_COLUMNS = {
    "model": "torchvision model name",
    "family": "seprof family (seprof models --family)",
    "task": "torchvision's group: classification, segmentation, detection, video, optical_flow, quantization",
    "se": "added: seprof's SE blocks at every stage; native: the model's own SE blocks",
    "input": "input C x H x W (C x T x H x W for video)",
    "r": "reduction ratio of the added SE blocks (empty for native SE)",
    "stages": "stages holding SE, comma-separated",
    "se_blocks": "number of SE blocks",
    "base_params": "parameters without SE",
    "se_params": "parameters with SE",
    "params_added": "se_params - base_params (measured)",
    "params_added_pct": "params_added as % of base_params",
    "analytic_paper": "(2/r)·Σ C² over the SE blocks, FC weights only (native: each block's own r = C/hidden)",
    "analytic_exact": "exact SE parameters from the block shapes, biases included",
    **{f"macs_base_{c}": f"ops per image of the model without SE, counted by {c}" for c in COUNTER_NAMES},
    **{f"macs_se_{c}": f"ops per image of the model with SE, counted by {c}" for c in COUNTER_NAMES},
    "error": "why this model could not be profiled (empty when it was)",
}


@dataclass(frozen=True)
class ZooRow:
    """The static cost of SE in one model."""

    model: str
    family: str
    task: str
    se: str
    input: str
    r: int | None
    stages: str = ""
    se_blocks: int | None = None  # the counts are None (empty in CSV/JSON) for a model that could not be profiled
    base_params: int | None = None
    se_params: int | None = None
    params_added: int | None = None
    params_added_pct: float | None = None
    analytic_paper: float | None = None
    analytic_exact: int | None = None
    macs_base: dict[str, int] | None = None
    macs_se: dict[str, int] | None = None
    error: str = ""

    def as_row(self) -> dict:
        """A flat dict keyed by ``ZOO_COLUMNS``."""
        row = {k: v for k, v in asdict(self).items() if k not in ("macs_base", "macs_se")}
        for c in COUNTER_NAMES:
            row[f"macs_base_{c}"] = (self.macs_base or {}).get(c)
            row[f"macs_se_{c}"] = (self.macs_se or {}).get(c)
        return row


def zoo_row(
    name: str, r: int = PAPER_R, counters: Sequence[str] = ZOO_COUNTERS, describe: Callable[[SeprofError], str] = str
) -> ZooRow:
    """Profile one model statically; a SeprofError becomes the row's ``error``, in the words of ``describe``
    (the command line names its flags)."""
    from .families import task_of
    from .measure import measure, open_model, plan_profile
    from .models import default_input_shape
    from .spec import BlockSpec

    shape = default_input_shape(name)
    base = dict(model=name, family=model_family(name).name, task=str(task_of(name)), input="x".join(map(str, shape)))
    try:
        source = open_model(name)
        native = bool(source.sites().native)
        base.update(se="native" if native else "added", r=None if native else r)
        report = measure(source, plan_profile(source, None if native else BlockSpec(r=r)), None, counters)
    except SeprofError as error:
        return ZooRow(**{"se": "", "r": None, **base}, error=describe(error))
    se, none = report.config("se"), report.config("base")
    return ZooRow(
        **base,
        stages=",".join(map(str, se.se_stages)),
        se_blocks=sum(s.blocks for s in report.stages if s.config == "se" and s.se),
        base_params=report.base_params,
        se_params=se.params,
        params_added=se.params_added,
        params_added_pct=round(se.params_added_pct, 4),
        analytic_paper=whole(se.analytic_paper),
        analytic_exact=se.analytic_exact,
        macs_base=dict(none.macs),
        macs_se=dict(se.macs),
    )


def run_zoo(
    names: Sequence[str],
    r: int = PAPER_R,
    counters: Sequence[str] = ZOO_COUNTERS,
    workers: int | None = None,
    on_done: Callable[[ZooRow], None] | None = None,
    describe: Callable[[SeprofError], str] = str,
) -> list[ZooRow]:
    """Profile ``names`` statically, in the given order; ``on_done`` is called as each model finishes;
    ``describe`` words a model's error (see ``zoo_row``)."""
    check_r(r, ())
    check_counters(counters)
    for name in names:
        if name not in MODEL_FAMILIES:
            model_family(name)  # raises the usual unknown-model error
    return parallel_map(functools.partial(zoo_row, r=r, counters=tuple(counters), describe=describe), names, workers,
                        on_done)


def _preload() -> None:
    """Import what every worker needs once, before forking, instead of once per worker."""
    import thop  # noqa: F401
    import torch.fx  # noqa: F401
    import torch.utils.flop_counter  # noqa: F401

    from . import measure  # noqa: F401


def parallel_map(
    fn: Callable[[str], T], names: Sequence[str], workers: int | None = None, on_done: Callable[[T], None] | None = None
) -> list[T]:
    """``[fn(name) for name in names]`` over worker processes (see ``parallel_imap``); ``on_done`` is called
    with each result, in order."""
    results = []
    for result in parallel_imap(fn, names, workers):
        results.append(result)
        if on_done:
            on_done(result)
    return results


def parallel_imap(fn: Callable[[str], T], names: Sequence[str], workers: int | None = None) -> Iterator[T]:
    """``fn(name)`` for each name, over worker processes (forked, so torch is imported once), yielded in the
    order of ``names`` as soon as each is ready (a result that comes early waits for those before it)."""
    workers = check_workers(workers)
    if workers == 1 or len(names) == 1 or "fork" not in multiprocessing.get_all_start_methods():
        yield from (fn(name) for name in names)
        return
    _preload()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(fn, name) for name in names]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def zoo_frame(rows: Sequence[ZooRow]):
    """The rows as a pandas DataFrame with ``ZOO_COLUMNS``."""
    return frame([row.as_row() for row in rows], ZOO_COLUMNS)


@dataclass(frozen=True)
class ModelInfo:
    """A supported model's entry in ``seprof models``."""

    model: str
    family: str
    input: str
    stages: str
    blocks: int
    native_blocks: int
    task: str = "classification"
    refused: str = ""


def model_info(name: str) -> ModelInfo:
    """Family, task, stages and block counts of one supported model (one meta-device pass); a model seprof
    cannot place SE in gets its reason, in one line, as its stages."""
    from .families import task_of
    from .measure import open_model

    try:
        source = open_model(name)
        stage_map = source.sites()
    except SeprofError as error:
        return ModelInfo(name, model_family(name).name, "", "", 0, 0, str(task_of(name)),
                         first_line(error, with_type=False))
    stages = sorted({s.stage for s in (*stage_map.sites, *stage_map.native)})
    return ModelInfo(name, model_family(name).name, "x".join(map(str, source.input_shape)),
                     ",".join(map(str, stages)), len(stage_map.sites), len(stage_map.native), str(task_of(name)))


def zoo_text(rows: Sequence[ZooRow], kind: str = "csv") -> str:
    """The rows as CSV or JSON text."""
    import json

    if kind == "csv":
        return zoo_frame(rows).to_csv(index=False)
    from .measure import environment

    data = {"schema_version": SCHEMA_VERSION, "columns": ZOO_COLUMNS, "rows": [row.as_row() for row in rows],
            "units": {"macs": "MAC-equivalent ops per image (batch 1), as each counter defines them"},
            "versions": environment()}
    return json.dumps(data, indent=2) + "\n"


def write_zoo(rows: Sequence[ZooRow], path: str, kind: str = "csv") -> None:
    """Write the rows to ``path`` as CSV or JSON (atomically)."""
    write_atomic(path, zoo_text(rows, kind))
