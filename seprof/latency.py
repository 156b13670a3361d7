"""Latency of several models measured in one run, interleaved.

Method: every model gets ``warmup`` untimed calls and one calibration call; then ``runs`` rounds, each
timing every model once, the order rotated each round so no model always runs first. A sample is the mean of
``number`` back-to-back calls under ``torch.inference_mode``, timed with ``time.perf_counter`` between two
device synchronisations (CUDA kernels run asynchronously), with a fixed torch thread count; ``number`` is
the same for all models, chosen so that a sample of the fastest model lasts at least ~20 ms. Medians and interquartile
ranges are over the samples; a ratio's spread comes from the per-round paired ratios, which cancels drift
that affects both models alike (thermal state, other load).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from .errors import DeviceError, OptionError

DEVICES = ("auto", "cpu", "cuda")
MIN_SAMPLE_S = 0.02


def check_timing_options(runs: int, warmup: int, batch: int, threads: int | None) -> None:
    """Raise an OptionError for a timing setting out of range."""
    for option, value, low in (("--runs", runs, 1), ("--warmup", warmup, 0), ("--batch", batch, 1)):
        if value < low:
            raise OptionError(f"{option} {value} is invalid: it must be at least {low}")
    if threads is not None and threads < 1:
        raise OptionError(f"--threads {threads} is invalid: it must be at least 1 (default: torch's setting)")


def resolve_device(device: str, check_available: bool = True) -> torch.device:
    """``auto`` → CUDA when available, else CPU; CUDA asked for but absent is an error."""
    if device not in DEVICES:
        raise OptionError(f"--device {device!r} is not one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and check_available and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for, but CUDA is not available here: use --device cpu or auto")
    return torch.device(device)


def device_name(device: torch.device) -> str:
    """A human name for the device: the GPU's or the CPU's model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else (platform.processor() or platform.machine() or "unknown CPU")


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) of ``values``."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


@dataclass(frozen=True)
class Timing:
    """The timed samples of one model, in milliseconds per forward pass of one batch."""

    samples_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def iqr_ms(self) -> float:
        q1, _, q3 = quartiles(self.samples_ms)
        return q3 - q1

    @property
    def runs(self) -> int:
        return len(self.samples_ms)


def ratio(a: Timing, b: Timing) -> tuple[float, float, float]:
    """Quartiles (q1, median, q3) of the per-round ratios a/b of two models timed in the same rounds."""
    return quartiles([x / y for x, y in zip(a.samples_ms, b.samples_ms)])


@dataclass(frozen=True)
class TimingSetup:
    """How the timings were taken."""

    device: str
    device_name: str
    dtype: str
    batch: int
    threads: int
    runs: int
    warmup: int
    number: int
    method: str = "perf_counter between device syncs, inference_mode, models interleaved, order rotated each round"


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _sample(model: nn.Module, x: torch.Tensor, number: int) -> float:
    """Seconds per call of ``model(x)``, averaged over ``number`` calls."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(number):
        model(x)
    sync()
    return (time.perf_counter() - start) / number


def time_models(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    batch: int = 1,
    device: torch.device = torch.device("cpu"),
    runs: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    on_sample: Callable[[], None] | None = None,
) -> tuple[TimingSetup, dict[str, Timing]]:
    """Time the forward pass (inference mode, float32) of each model on a random batch, interleaved.

    The models must already be on ``device`` in eval mode; they are not modified. ``on_sample`` is called
    after every timed sample (``runs`` × number of models in all), e.g. to advance a progress bar.
    """
    check_timing_options(runs, warmup, batch, threads)
    threads = threads if threads is not None else torch.get_num_threads()
    x = torch.randn(batch, *input_shape, device=device)
    samples: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    with torch.inference_mode(), torch_threads(threads):
        fastest = math.inf
        for model in models.values():
            for _ in range(warmup):
                model(x)
            fastest = min(fastest, _sample(model, x, 1))
        number = max(1, math.ceil(MIN_SAMPLE_S / max(fastest, 1e-9)))
        for i in range(runs):
            for name in names[i % len(names):] + names[: i % len(names)]:
                samples[name].append(_sample(models[name], x, number) * 1e3)
                if on_sample is not None:
                    on_sample()
    setup = TimingSetup(device.type, device_name(device), "float32", batch, threads, runs, warmup, number)
    return setup, {name: Timing(tuple(s)) for name, s in samples.items()}
