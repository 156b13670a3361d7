"""Latency (and peak memory) of several models measured in one run, interleaved.

Method: every model gets ``warmup`` untimed calls and one calibration call; then rounds, each timing every
model once, the order rotated each round so no model always runs first. A sample is the mean of ``number``
back-to-back calls, timed with ``time.perf_counter`` between two device synchronisations (CUDA kernels run
asynchronously), with a fixed torch thread count; ``number`` is the same for all models, chosen so that a
sample of the fastest model lasts at least ~20 ms. Medians and interquartile ranges are over the samples; a
ratio's spread comes from the per-round paired ratios, which cancels drift that affects both models alike
(thermal state, other load), and its 95% confidence interval from a bootstrap of those ratios.

Rounds: ``runs`` alone means exactly that many (at most ``MAX_ROUNDS``, 1000). With a ``budget`` (seconds),
at least ``runs`` rounds (by default 20) are taken and then more until every ratio's 95% CI is within
±``target`` (1%) of its median (checked every 5 rounds from round 10 on) or ``MAX_ROUNDS`` are reached; the
budget ends sampling whenever it is spent, even short of ``runs`` rounds (the run's ``stopped`` says so).
Neither given, the budget is 30 s (see ``sampling``). Sampling stops at the end of a round, so it ends within
the budget plus one round. Warm-up is bounded too: the warm-up calls, made in interleaved rounds so every
model gets as many, stop when they have taken the sampling budget (30 s when none is given), and the setup
records how many were made (``warmup_done``).

Threads: unless told, torch's intra-op thread count, but on the CPU never every CPU the process may run on
(see ``default_threads``): a thread that the OS or another process pre-empts stalls every op at its
barrier. On a shared 2-core VM, timing on both cores left a ratio's CI at ±1.1–2.3% after 30 s (and two
60 s runs once 7.7% apart); on one core it was ±0.7–1.9% after 45–60 rounds.

Modes: "infer" is a forward pass under ``torch.inference_mode``; "train" is the model in train mode, forward,
and backward of the output's sum, gradients cleared before each call (no optimizer step). ``dtype``
float16/bfloat16 runs under autocast (CUDA: both; CPU: bfloat16 only). ``channels_last`` converts models and
input to the channels-last memory format.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from . import options
from .errors import DeviceError, OptionError, first_line
from .harness import loss_of
from .options import CI_TARGET, DEFAULT_BUDGET_S, DEFAULT_RUNS, MAX_ROUNDS, Device, Dtype, Mode, usable_cpus

MIN_SAMPLE_S = 0.02
MIN_ADAPTIVE_ROUNDS = 10  # before the first convergence check: a CI from fewer samples means little
CHECK_EVERY = 5  # rounds between convergence checks (each bootstraps every ratio)


def sampling(runs: int | None, budget: float | None) -> tuple[int, float | None]:
    """The (rounds, budget) a timing run uses: ``runs`` alone is exactly that many rounds (no budget); both
    given, at least ``runs`` rounds, then adaptive, all within ``budget``, which ends sampling even short of
    ``runs`` rounds; ``budget`` alone, the same with 20 rounds; neither, the same within 30 s."""
    if runs is None:
        return DEFAULT_RUNS, DEFAULT_BUDGET_S if budget is None else budget
    return runs, budget


def warmup_budget(budget: float | None) -> float:
    """Seconds the warm-up calls of one timing run may take, all models together: the sampling budget, or the
    default budget where ``runs`` alone leaves sampling without one."""
    return DEFAULT_BUDGET_S if budget is None else budget


def default_threads(device: torch.device) -> int:
    """torch's intra-op thread count, but on the CPU at most one less than the usable CPUs (at least 1), so
    that the OS and other processes have a CPU that is not timing; on CUDA, torch's count."""
    if device.type != "cpu":
        return torch.get_num_threads()
    return max(1, min(torch.get_num_threads(), usable_cpus() - 1))


def check_timing_options(
    runs: int | None,
    warmup: int,
    batch: int | Sequence[int],
    threads: int | None,
    mode: str = "infer",
    dtype: str = "float32",
    budget: float | None = None,
    device: torch.device | None = None,
) -> tuple[Mode, Dtype]:
    """Raise an OptionError for a timing setting out of range (``options.check_timing_options``), or a
    dtype the device cannot run; return ``mode`` and ``dtype`` as choices."""
    mode, dtype = options.check_timing_options(runs, warmup, batch, threads, mode, dtype, budget)
    if threads is not None and threads > usable_cpus():
        cpus = usable_cpus()
        raise OptionError("threads", threads, f"is more than the {cpus} CPU{'' if cpus == 1 else 's'} this process may "
                          f"use: threads beyond them only wait for each other; choose 1 to {cpus}")
    if dtype is Dtype.FLOAT16 and device is not None and device.type == "cpu":
        raise OptionError("dtype", dtype, "is not supported on the CPU: use bfloat16 or float32 there")
    return mode, dtype


def resolve_device(device: str | Device, check_available: bool = True) -> torch.device:
    """``auto`` → CUDA when available, else CPU; CUDA asked for but absent is an error."""
    device = Device.parse("device", device)
    if device is Device.AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is Device.CUDA and check_available and not torch.cuda.is_available():
        raise DeviceError("device", "cuda", "was asked for, but CUDA is not available here: use cpu or auto")
    return torch.device(device.value)


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


def free_memory(device: torch.device) -> int | None:
    """Bytes of memory free for new tensors on ``device`` (CPU: the kernel's MemAvailable), or None if
    unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


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


# Fewer samples give no 95% interval: with n ≤ 5 the bootstrap interval of a median is the range of the samples,
# which covers the median with probability 1 - 2·0.5^n (75% at 3, 94% at 5), not 95%.
MIN_CI_SAMPLES = 6


def median_ci(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap confidence interval (percentile method) of the median of ``values``; (nan, nan) for
    fewer than ``MIN_CI_SAMPLES`` values."""
    import random

    if len(values) < MIN_CI_SAMPLES:
        return float("nan"), float("nan")
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def ratio_ci(a: Timing, b: Timing) -> tuple[float, float]:
    """95% bootstrap CI of the median per-round ratio a/b."""
    return median_ci([x / y for x, y in zip(a.samples_ms, b.samples_ms)])


def delta_ci(a: Timing, b: Timing) -> tuple[float, float]:
    """95% bootstrap CI of the median per-round difference a − b, ms."""
    return median_ci([x - y for x, y in zip(a.samples_ms, b.samples_ms)])


def delta(a: Timing, b: Timing) -> tuple[float, float, float]:
    """Quartiles of the per-round differences a − b in ms (paired, like ``ratio``)."""
    return quartiles([x - y for x, y in zip(a.samples_ms, b.samples_ms)])


@dataclass(frozen=True)
class TimingSetup:
    """How the timings were taken."""

    device: str
    device_name: str
    dtype: str
    batch: int
    threads: int
    runs: int  # rounds taken
    warmup: int  # warm-up calls per model asked for
    number: int
    mode: str = "infer"
    channels_last: bool = False
    budget_s: float | None = None
    seconds: float = 0.0
    compiled: bool = False
    compile_s: dict[str, float] | None = None
    cpus: int | None = None
    stopped: str = "rounds"  # why sampling stopped: see STOP_REASONS
    method: str = "perf_counter between device syncs, models interleaved, order rotated each round"
    bandwidth_gbs: float | None = None  # a large tensor copy's bytes read + written per second, same run
    runs_asked: int | None = None  # the rounds asked for (``runs`` as given; None: the default)
    warmup_done: int | None = None  # warm-up calls each model got: ``warmup``, or fewer when they took the budget


def random_batch(input_shape: Sequence[int], batch: int, device: torch.device,
                 channels_last: bool = False) -> torch.Tensor:
    """A random batch of ``input_shape`` samples on ``device`` (channels-last when asked and it is 4-D)."""
    x = torch.randn(batch, *input_shape, device=device)
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


COPY_BYTES = {"cpu": 256 * 2**20, "cuda": 2**30}


def copy_bandwidth(device: torch.device, copies: int = 5) -> float:
    """Memory bandwidth in GB/s (10⁹ bytes read + written per second), from the fastest of ``copies`` copies of
    a large float32 tensor into another (256 MiB on the CPU, 1 GiB on CUDA, device to device), after one
    untimed copy. The floor SE's memory traffic cannot go below on this device, measured here and now."""
    size = COPY_BYTES.get(device.type, COPY_BYTES["cpu"])
    source = torch.ones(size // 4, device=device)
    target = torch.empty_like(source)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    target.copy_(source)
    fastest = math.inf
    for _ in range(copies):
        sync()
        start = time.perf_counter()
        target.copy_(source)
        sync()
        fastest = min(fastest, time.perf_counter() - start)
    del source, target
    return 2 * size / fastest / 1e9


@contextlib.contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` intra-op threads, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _step(model: nn.Module, x: torch.Tensor, mode: str) -> None:
    """One call: a forward pass, or in train mode forward + backward (gradients cleared first)."""
    if mode == "train":
        model.zero_grad(set_to_none=True)
        loss_of(model(x)).backward()
    else:
        model(x)


def _warm_up(models: Mapping[str, nn.Module], x: torch.Tensor, warmup: int, mode: str, budget: float) -> int:
    """Up to ``warmup`` untimed rounds of one call per model, in order; a round starts only while the rounds so
    far took less than ``budget`` seconds. Returns the rounds made: the warm-up calls each model got."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    start = time.perf_counter()
    done = 0
    while done < warmup and time.perf_counter() - start < budget:
        for model in models.values():
            _step(model, x, mode)
        sync()
        done += 1
    return done


def _sample(model: nn.Module, x: torch.Tensor, number: int, mode: str = "infer") -> float:
    """Seconds per call of ``model(x)`` (and backward in train mode), averaged over ``number`` calls."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(number):
        _step(model, x, mode)
    sync()
    return (time.perf_counter() - start) / number


def _autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, dtype))


def _grad_context(mode: str) -> contextlib.AbstractContextManager:
    return torch.enable_grad() if mode == "train" else torch.inference_mode()


def prepare(models: Mapping[str, nn.Module], mode: str, channels_last: bool) -> None:
    """Put the (seprof-owned) models in the mode's train/eval state and memory format, in place."""
    for model in models.values():
        model.train(mode == "train")
        if channels_last:
            model.to(memory_format=torch.channels_last)


# rounds: ``runs`` alone, all taken; converged: every ratio's CI within the target; budget: the budget ran out
# after ``runs`` rounds, before the CI converged; budget before runs: it ran out before ``runs`` rounds.
STOP_REASONS = ("rounds", "converged", "budget", "max rounds", "budget before runs")


def _stop_reason(samples: Mapping[str, list[float]], names: Sequence[str], rounds: int, runs: int, elapsed: float,
                 budget: float | None, target: float) -> str | None:
    """Why sampling stops after ``rounds`` rounds, ``elapsed`` seconds into it, one of STOP_REASONS; None to go
    on. ``runs`` and ``budget`` as ``sampling`` resolves them."""
    if rounds < runs:
        return "budget before runs" if budget is not None and elapsed >= budget else None
    if budget is None:
        return "rounds"
    if (len(names) > 1 and rounds >= MIN_ADAPTIVE_ROUNDS and rounds % CHECK_EVERY == 0
            and _converged(samples, names, target)):
        return "converged"
    if elapsed >= budget:
        return "budget"
    if rounds >= MAX_ROUNDS:
        return "max rounds"
    return None


def _converged(samples: Mapping[str, list[float]], names: Sequence[str], target: float) -> bool:
    base = Timing(tuple(samples[names[0]]))
    for name in names[1:]:
        t = Timing(tuple(samples[name]))
        lo, hi = ratio_ci(t, base)
        mid = ratio(t, base)[1]
        if (hi - lo) / 2 > target * mid:
            return False
    return True


def time_models(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    batch: int = 1,
    device: torch.device = torch.device("cpu"),
    runs: int | None = None,
    warmup: int = options.DEFAULT_WARMUP,
    threads: int | None = None,
    on_sample: Callable[[], None] | None = None,
    mode: str = "infer",
    dtype: str = "float32",
    channels_last: bool = False,
    budget: float | None = None,
    target: float = CI_TARGET,
    compile: bool = False,
) -> tuple[TimingSetup, dict[str, Timing]]:
    """Time each model on a random batch, interleaved (see the module docstring for the method).

    The models must already be on ``device``; they are put in train/eval mode and memory format for
    ``mode``/``channels_last`` (seprof's own copies: callers pass models they own). The first model is the
    reference for the adaptive stopping rule; ``runs`` and ``budget`` as ``sampling`` resolves them, the warm-up
    within ``warmup_budget(budget)``; ``threads`` by default ``default_threads(device)``. ``on_sample`` is
    called after every timed sample. With ``compile``, each model is wrapped in ``torch.compile``; its first
    call (which compiles) is timed on its own, reported in ``compile_s`` and never mixed into the samples.
    """
    mode, dtype = (choice.value for choice in check_timing_options(runs, warmup, batch, threads, mode, dtype,
                                                                   budget, device))
    runs_asked = runs
    runs, budget = sampling(runs, budget)
    threads = threads if threads is not None else default_threads(device)
    prepare(models, mode, channels_last)
    x = random_batch(input_shape, batch, device, channels_last)
    samples: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    compile_s: dict[str, float] | None = None
    if compile:
        models = {name: torch.compile(model) for name, model in models.items()}
        compile_s = {}
    with _grad_context(mode), _autocast(device, dtype), torch_threads(threads):
        if compile_s is not None:
            for name, model in models.items():
                compile_s[name] = round(_sample(model, x, 1, mode), 3)
        warmup_done = _warm_up(models, x, warmup, mode, warmup_budget(budget))
        fastest = min(_sample(model, x, 1, mode) for model in models.values())
        started = time.perf_counter()  # the budget is for sampling; compilation and warm-up are apart
        number = max(1, math.ceil(MIN_SAMPLE_S / max(fastest, 1e-9)))
        i = 0
        while True:
            for name in names[i % len(names):] + names[: i % len(names)]:
                samples[name].append(_sample(models[name], x, number, mode) * 1e3)
                if on_sample is not None:
                    on_sample()
            i += 1
            stopped = _stop_reason(samples, names, i, runs, time.perf_counter() - started, budget, target)
            if stopped is not None:
                break
    seconds = time.perf_counter() - started
    with torch_threads(threads):
        bandwidth = copy_bandwidth(device)
    setup = TimingSetup(device.type, device_name(device), dtype, batch, threads, i, warmup, number, mode,
                        channels_last, budget, round(seconds, 3), compile, compile_s,
                        usable_cpus() if device.type == "cpu" else None, stopped, bandwidth_gbs=round(bandwidth, 2),
                        runs_asked=runs_asked, warmup_done=warmup_done)
    return setup, {name: Timing(tuple(s)) for name, s in samples.items()}


GRAPH_ROUNDS = 20


def graph_times(
    models: Mapping[str, nn.Module],
    input_shape: Sequence[int],
    batch: int,
    device: torch.device,
    mode: str = "infer",
    dtype: str = "float32",
    channels_last: bool = False,
    compile: bool = False,
    rounds: int = GRAPH_ROUNDS,
) -> tuple[str, dict[str, Timing] | None]:
    """Device time of each model's step with the host out of the picture: the step (a forward pass, or in train
    mode forward + backward as ``_step`` runs it) captured once as a CUDA graph, then replayed, each sample
    ``number`` replays between two CUDA events, ``rounds`` rounds interleaved as for wall time. Returns
    ("captured", timings) or (why not, in words, None): not on the CPU, not with ``compile`` (its own
    "reduce-overhead" mode replays graphs), or the reason capture or replay failed. The models are in the state
    ``time_models`` left them (mode, memory format, device); in train mode their gradients are None afterwards."""
    if device.type != "cuda":
        return "no CUDA graphs on the CPU: the wall time is the time", None
    if compile:
        return "not captured under torch.compile: seprof graphs eager models only; wall time only", None
    half = None if dtype == "float32" else getattr(torch, dtype)
    graphs: dict[str, torch.cuda.CUDAGraph] = {}
    stream = torch.cuda.current_stream(device)
    generator = torch.cuda.default_generators[device.index if device.index is not None else torch.cuda.current_device()]
    rng = generator.clone_state() if hasattr(generator, "clone_state") else None
    try:
        x = random_batch(input_shape, batch, device, channels_last)
        with _graph_grad_context(mode), torch.autocast(
                "cuda", dtype=half or torch.float32, enabled=half is not None, cache_enabled=False):
            for name, model in models.items():
                side = torch.cuda.Stream(device)
                side.wait_stream(torch.cuda.current_stream(device))
                with torch.cuda.stream(side):
                    for _ in range(3):  # warm-up on a side stream, as capture requires
                        _step(model, x, mode)
                torch.cuda.current_stream(device).wait_stream(side)
                graphs[name] = torch.cuda.CUDAGraph()  # held only here, so that releasing it frees its pool
                with torch.cuda.graph(graphs[name]):
                    # in train mode _step sets the gradients to None first, so the captured backward allocates
                    # them from the graph's pool and every replay writes them afresh
                    _step(model, x, mode)
    except Exception as error:  # noqa: BLE001 - whatever stops capture is reported, and wall time stands
        torch.cuda.set_stream(stream)  # a capture that fails at its end leaves its own stream current
        if rng is not None and hasattr(generator, "graphsafe_set_state"):
            generator.graphsafe_set_state(rng)  # else the generator stays "capturing" and every later randn fails
        # no empty_cache here: after a failed capture some torch versions' allocator still counts it under way
        _release(graphs, models, mode, empty_cache=False)
        return f"not captured: {first_line(_first_cause(error), with_type=False)}", None
    try:
        samples = _replay(graphs, device, rounds)
    except RuntimeError as error:
        return f"captured, but replay failed: {first_line(error, with_type=False)}", None
    finally:
        _release(graphs, models, mode)
    return "captured", {name: Timing(tuple(s)) for name, s in samples.items()}


def _first_cause(error: BaseException) -> BaseException:
    """The model's own error where the capture's end raised another over it: a capture that fails in the model
    raises again when the capture ends ("...during capture"), which hides the reason."""
    if error.__context__ is not None and "captur" in str(error).lower():
        return error.__context__
    return error


def _graph_grad_context(mode: str) -> contextlib.AbstractContextManager:
    # not inference_mode: tensors made under it cannot enter a graph that is replayed outside it
    return torch.enable_grad() if mode == "train" else torch.no_grad()


def _release(graphs: dict[str, torch.cuda.CUDAGraph], models: Mapping[str, nn.Module], mode: str,
             empty_cache: bool = True) -> None:
    """Drop the graphs and (in train mode) the gradients their pools hold; with ``empty_cache``, give the memory
    back to the caching allocator."""
    graphs.clear()
    if mode == "train":
        for model in models.values():
            model.zero_grad(set_to_none=True)
    if empty_cache:
        torch.cuda.empty_cache()


def _replay(graphs: Mapping[str, torch.cuda.CUDAGraph], device: torch.device, rounds: int) -> dict[str, list[float]]:
    """ms per replay of each graph: ``rounds`` interleaved rounds (order rotated), each sample ``number``
    back-to-back replays between two CUDA events, ``number`` chosen so a sample lasts ``MIN_SAMPLE_S``."""
    names = list(graphs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    torch.cuda.synchronize(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graphs[names[0]].replay()
    end.record()
    end.synchronize()
    number = max(1, math.ceil(MIN_SAMPLE_S * 1e3 / max(start.elapsed_time(end), 1e-6)))
    for i in range(rounds):
        for name in names[i % len(names):] + names[: i % len(names)]:
            start.record()
            for _ in range(number):
                graphs[name].replay()
            end.record()
            end.synchronize()
            samples[name].append(start.elapsed_time(end) / number)
    return samples


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages that ops create while it is active, and their peak; outputs that
    share a storage already seen (views, in-place results) or one that existed before (``existing``) are not
    counted again."""

    def __init__(self, existing: Sequence[torch.Tensor] = ()) -> None:
        super().__init__()
        self.live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        # storages that exist before the call (weights, buffers, input): views of them are not new memory
        self.existing = {t.untyped_storage().data_ptr() for t in existing}

    def _release(self, key: int) -> None:
        self.current -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self.live and key not in self.existing:
                    self.live[key] = storage.nbytes()
                    self.current += storage.nbytes()
                    self.peak = max(self.peak, self.current)
                    weakref.finalize(storage, self._release, key)
        return out


def peak_memory(
    model: nn.Module,
    input_shape: Sequence[int],
    batch: int,
    device: torch.device,
    mode: str = "infer",
    dtype: str = "float32",
    channels_last: bool = False,
) -> int:
    """Peak bytes one call needs beyond what is already allocated (weights, input).

    CUDA: ``torch.cuda.max_memory_allocated`` over the call minus the allocation before it. CPU: the peak of
    the bytes held by tensors that the call's ops create (activations, saved tensors for backward, gradients),
    tracked through the dispatcher: deterministic, and blind to allocator caching and non-tensor memory.
    """
    prepare({"m": model}, mode, channels_last)
    x = random_batch(input_shape, batch, device, channels_last)
    model.zero_grad(set_to_none=True)
    with _grad_context(mode), _autocast(device, dtype):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            _step(model, x, mode)
            torch.cuda.synchronize(device)
            peak = torch.cuda.max_memory_allocated(device) - before
        else:
            tracker = _LiveBytes([*model.parameters(), *model.buffers(), x])
            with tracker:
                _step(model, x, mode)
            peak = tracker.peak
    model.zero_grad(set_to_none=True)
    return int(peak)
