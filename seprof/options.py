"""The timing options as typed choices and checked values, without importing torch.

``Device``, ``Mode`` and ``Dtype`` are the choices of ``seprof.profile`` and ``seprof.latency`` (strings are
accepted where they are given, and turned into these). ``check_timing_options`` and
``refuse_timing_options`` hold every rule that needs no device, so a command line can refuse a bad value at
once, before torch is imported; ``latency.check_timing_options`` adds the rules that depend on the device.
``TimingOptions`` carries them all as one checked value.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from .errors import OptionError

CI_TARGET = 0.01
MAX_ROUNDS = 1000  # the most timed rounds a run takes, asked for or adaptive
MAX_WARMUP = 1000  # the most warm-up calls per model that may be asked for
DEFAULT_RUNS = 20
DEFAULT_BUDGET_S = 30.0
DEFAULT_WARMUP = 3


class Choice(str, Enum):
    """An option with a fixed set of values; compares equal to, and prints as, its value."""

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def parse(cls, option: str, value: str | Choice) -> Choice:
        """``value`` as a member of this choice, or an OptionError naming ``option`` and the valid values."""
        try:
            return cls(value)
        except ValueError:
            raise OptionError(option, value, f"is not one of {', '.join(m.value for m in cls)}") from None


class Device(Choice):
    """Where to time: CUDA when available (auto), the CPU, or CUDA."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Mode(Choice):
    """What one timed call is: a forward pass in inference mode, or forward + backward in train mode."""

    INFER = "infer"
    TRAIN = "train"


class Dtype(Choice):
    """The compute type: float32, or float16/bfloat16 under autocast."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells it, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


MAX_DEFAULT_WORKERS = 4  # each worker holds a torch import, about 0.5 GB


def default_workers() -> int:
    """Worker processes for building many models: one per core, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(MAX_DEFAULT_WORKERS, os.cpu_count() or 1))


def check_workers(workers: int | None) -> int:
    """The number of worker processes to use (``default_workers`` when None), or an OptionError (for fewer than
    one, or more than the CPUs this process may use)."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise OptionError("workers", workers, "is invalid: use 1 or more worker processes")
    cpus = usable_cpus()
    if workers > cpus:
        raise OptionError("workers", workers, f"is more than the {cpus} CPU{'' if cpus == 1 else 's'} this process "
                          f"may use: workers beyond them only wait for each other (and each holds a torch import); "
                          f"choose 1 to {cpus}")
    return workers


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_timing_options(
    runs: int | None,
    warmup: int,
    batch: int | Sequence[int],
    threads: int | None,
    mode: str | Mode = Mode.INFER,
    dtype: str | Dtype = Dtype.FLOAT32,
    budget: float | None = None,
) -> tuple[Mode, Dtype]:
    """Raise an OptionError for a timing setting out of range; return ``mode`` and ``dtype`` as choices."""
    batches = [batch] if _whole(batch) else list(batch)
    for option, value, low in (("runs", runs, 1), ("warmup", warmup, 0), *(("batch", b, 1) for b in batches)):
        if value is not None and (not _whole(value) or value < low):
            raise OptionError(option, value, f"is invalid: it must be a whole number of at least {low}")
    if runs is not None and runs > MAX_ROUNDS:
        raise OptionError("runs", runs, f"is more than {MAX_ROUNDS}, the most rounds seprof times: choose 1 to "
                          f"{MAX_ROUNDS}, or leave it out and give a budget in seconds: seprof then samples until "
                          f"every ratio's 95% CI is within ±{100 * CI_TARGET:g}% of its median")
    if warmup is not None and warmup > MAX_WARMUP:
        raise OptionError("warmup", warmup, f"is more than {MAX_WARMUP}, the most warm-up calls seprof makes: "
                          f"choose 0 to {MAX_WARMUP} (a few calls reach a steady state; the default is "
                          f"{DEFAULT_WARMUP})")
    if threads is not None and (not _whole(threads) or threads < 1):
        raise OptionError(
            "threads",
            threads,
            "is invalid: it must be at least 1 (default: torch's, at most the usable CPUs - 1 on the CPU)",
        )
    mode, dtype = Mode.parse("mode", mode), Dtype.parse("dtype", dtype)
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, float)) or not (budget > 0 and math.isfinite(budget))
    ):
        raise OptionError("budget", budget, "is invalid: give a finite time in seconds above 0")
    return mode, dtype


def refuse_timing_options(batch: int | Sequence[int] = 1, **given: Any) -> None:
    """With timing off: an OptionError for the first timing option given another value than its default,
    which the run would silently ignore. ``given`` takes the names of ``TimingOptions``' fields; ``batch`` is
    refused unless it is 1."""
    for option, value in given.items():
        if value != _TIMING_DEFAULTS[option]:  # the defaults, read off TimingOptions below
            raise OptionError(
                option, value, "applies to timing, which {other} turns off: drop one of them", other=("latency", False)
            )
    batches = [batch] if _whole(batch) else list(batch)
    if batches != [1]:
        raise OptionError(
            "batch",
            batches if len(batches) > 1 else batches[0],
            "applies to timing (MACs are per image), which {other} turns off: drop one of them",
            other=("latency", False),
        )


@dataclass(frozen=True)
class TimingOptions:
    """How to time: one value, checked when made (every rule that needs no device; the device's own rules,
    such as float16 on the CPU or more threads than CPUs, are checked when timing starts).

    Attributes:
        batch: batch sizes, each timed in its own interleaved run (an int is one batch size).
        device: auto (CUDA when available), cpu or cuda.
        runs: timed rounds, 1 to ``MAX_ROUNDS`` (exactly these without ``budget``; with it, at least these
            unless the budget runs out first; default: at least 20, adaptive within the budget).
        warmup: untimed calls per model before timing, 0 to ``MAX_WARMUP`` (fewer when they would take longer
            than the sampling budget, see ``seprof.latency``).
        threads: torch intra-op threads (default: torch's, at most the usable CPUs - 1 on the CPU).
        mode: infer (forward in inference mode) or train (forward + backward in train mode).
        dtype: float32, or float16/bfloat16 under autocast.
        channels_last: models and input in the channels-last memory format.
        budget: seconds of sampling per timing run, which ends it even before ``runs`` rounds (default 30,
            unless ``runs`` is given alone).
        memory: also measure each configuration's peak memory per call.
        compile: time ``torch.compile``'d models.
    """

    batch: tuple[int, ...] = (1,)
    device: Device = Device.AUTO
    runs: int | None = None
    warmup: int = DEFAULT_WARMUP
    threads: int | None = None
    mode: Mode = Mode.INFER
    dtype: Dtype = Dtype.FLOAT32
    channels_last: bool = False
    budget: float | None = None
    memory: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        batch = (self.batch,) if _whole(self.batch) else tuple(self.batch)
        object.__setattr__(self, "batch", batch)
        object.__setattr__(self, "device", Device.parse("device", self.device))
        mode, dtype = check_timing_options(self.runs, self.warmup, list(batch) or [0], self.threads, self.mode,
                                           self.dtype, self.budget)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "dtype", dtype)
        for name in ("channels_last", "memory", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise OptionError(name, getattr(self, name), "is invalid: give True or False")

    @classmethod
    def from_legacy(cls, latency: bool = True, **given: Any) -> TimingOptions | None:
        """The options the separate keyword arguments of seprof 0.4's ``profile`` describe (``latency=False``:
        None, with any other timing argument refused, as the run would ignore it)."""
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if "save" in unknown:
            raise TypeError("profile() takes no save= since seprof 0.5: save the model seprof.inject returns with "
                            "seprof.save(path, model, name=..., block=..., stages=..., input_shape=...)")
        if unknown:
            raise TypeError(f"profile() got an unexpected keyword argument {unknown[0]!r}")
        if not latency:
            refuse_timing_options(given.pop("batch", 1), **given)
            return None
        return cls(**given)


# Each timing option and its default, which means "not given" (batch is checked on its own).
_TIMING_DEFAULTS = {f.name: f.default for f in fields(TimingOptions) if f.name != "batch"}
