import pytest
import torch
from torch import nn

from seprof import latency
from seprof.errors import DeviceError, OptionError
from seprof.latency import (
    DEFAULT_BUDGET_S,
    DEFAULT_RUNS,
    Timing,
    default_threads,
    quartiles,
    ratio,
    resolve_device,
    sampling,
    time_models,
    torch_threads,
)


class Recorder(nn.Module):
    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x):
        self.log.append(self.name)
        return x * 2


def test_models_are_interleaved_with_rotating_order():
    log = []
    models = {n: Recorder(n, log) for n in ("a", "b", "c")}
    samples = []
    setup, timings = time_models(models, (1, 4, 4), runs=3, warmup=2, on_sample=lambda: samples.append(1))
    number = setup.number
    assert log[:9] == ["a", "b", "c", "a", "b", "c", "a", "b", "c"]  # 2 warm-up rounds, then calibration
    timed = log[9::number]
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert len(samples) == 9 and all(t.runs == 3 for t in timings.values())
    assert setup.runs == 3 and setup.warmup == 2 and setup.batch == 1 and setup.device == "cpu"
    assert setup.runs_asked == 3 and setup.warmup_done == 2


def test_number_of_calls_per_sample_reaches_the_minimum_sample_time():
    setup, timings = time_models({"m": nn.Identity()}, (1,), runs=2, warmup=0)
    assert setup.number > 1  # an identity call is far below 20 ms
    assert all(t > 0 for t in timings["m"].samples_ms)


def test_statistics():
    t = Timing((1.0, 2.0, 3.0, 4.0, 100.0))
    assert t.median_ms == 3.0 and t.iqr_ms == 2.0 and t.runs == 5
    assert quartiles([5.0]) == (5.0, 5.0, 5.0)
    assert ratio(Timing((2.0, 4.0, 6.0)), Timing((1.0, 2.0, 2.0))) == (2.0, 2.0, 2.5)


def test_threads_are_restored():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(OptionError, match="device='tpu' is not one of auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_timing():
    setup, timings = time_models({"m": nn.Conv2d(3, 8, 3).cuda().eval()}, (3, 32, 32), device=torch.device("cuda"),
                                 runs=3)
    assert setup.device == "cuda" and timings["m"].runs == 3


def test_bad_settings():
    for bad in ({"runs": 0}, {"warmup": -1}, {"batch": 0}, {"threads": 0}):
        with pytest.raises(OptionError, match="is invalid"):
            time_models({"m": nn.Identity()}, (1,), **bad)


def test_train_mode_runs_backward_and_clears_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    setup, timings = time_models({"m": model}, (3, 8, 8), batch=2, runs=2, warmup=1, mode="train")
    assert setup.mode == "train" and model.training
    assert all(p.grad is not None for p in model.parameters())  # the last call's gradients


def test_budget_keeps_sampling_past_runs_until_the_ci_is_tight_or_time_is_up():
    models = {"a": nn.Identity(), "b": nn.Identity()}
    setup, timings = time_models(models, (4,), runs=3, warmup=0, budget=0.5)
    assert setup.runs >= 3 and setup.budget_s == 0.5 and timings["a"].runs == setup.runs
    assert setup.seconds < 5


def test_ratio_confidence_interval_is_deterministic_and_brackets_the_median():
    from seprof.latency import median_ci, ratio_ci

    a, b = Timing((2.0, 2.2, 2.1, 2.4, 2.0, 2.3)), Timing((1.0, 1.0, 1.1, 1.2, 1.0, 1.1))
    lo, hi = ratio_ci(a, b)
    assert lo <= ratio(a, b)[1] <= hi and (lo, hi) == ratio_ci(a, b)
    assert (all(x != x for x in median_ci([3.0]))
            and all(x != x for x in median_ci([1.0, 2.0, 3.0, 4.0, 5.0])))  # too few
    lo, hi = median_ci([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert 1.0 <= lo <= 3.5 <= hi <= 6.0


def test_bfloat16_autocast_and_channels_last_on_cpu():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    setup, _ = time_models({"m": model}, (3, 8, 8), runs=2, warmup=0, dtype="bfloat16", channels_last=True)
    assert setup.dtype == "bfloat16" and setup.channels_last
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_timing_option_errors():
    for kwargs, message in (({"mode": "eval"}, "mode='eval' is not one of infer, train"),
                            ({"dtype": "float16"}, "dtype='float16' is not supported on the CPU"),
                            ({"dtype": "int8"}, "dtype='int8' is not one of float32, float16, bfloat16"),
                            ({"budget": 0}, "budget=0 is invalid"),
                            ({"runs": 2.5}, "runs=2.5 is invalid: it must be a whole number")):
        with pytest.raises(OptionError, match=message):
            time_models({"m": nn.Identity()}, (1,), **kwargs)


def test_peak_memory_on_cpu_counts_what_the_call_creates():
    from seprof.latency import peak_memory

    conv = nn.Conv2d(3, 8, 3, bias=False)
    assert peak_memory(conv, (3, 10, 10), 1, torch.device("cpu")) == 8 * 8 * 8 * 4  # one float32 output
    two = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.Conv2d(8, 8, 3, bias=False))
    assert peak_memory(two, (3, 10, 10), 1, torch.device("cpu")) == (8 * 8 * 8 + 8 * 6 * 6) * 4
    trained = peak_memory(two, (3, 10, 10), 1, torch.device("cpu"), mode="train")
    assert trained > (8 * 8 * 8 + 8 * 6 * 6) * 4  # saved activations and gradients
    assert all(p.grad is None for p in two.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_train_memory_and_autocast():
    from seprof.latency import peak_memory

    model = nn.Conv2d(3, 8, 3).cuda()
    assert peak_memory(model, (3, 32, 32), 4, torch.device("cuda"), mode="train", dtype="float16") > 0
    setup, _ = time_models({"m": model}, (3, 32, 32), device=torch.device("cuda"), runs=2, dtype="float16")
    assert setup.dtype == "float16"


def test_compile_time_is_reported_apart_from_the_samples():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    setup, timings = time_models({"m": model}, (3, 8, 8), runs=2, warmup=1, compile=True)
    assert setup.compiled and setup.compile_s["m"] > 0
    assert timings["m"].runs == 2 and max(timings["m"].samples_ms) < 1000 * setup.compile_s["m"]


def test_views_of_weights_are_not_new_memory():
    from seprof.latency import peak_memory

    linear = nn.Linear(192, 1000)
    peak = peak_memory(linear, (192,), 1, torch.device("cpu"), mode="train")
    assert 192 * 1000 * 4 <= peak < 2 * 192 * 1000 * 4  # the weight's gradient, not also a view of the weight


def test_a_budget_never_stops_before_ten_rounds():
    setup, _ = time_models({"a": nn.Identity(), "b": nn.Identity()}, (4,), runs=1, warmup=0, budget=5)
    assert setup.runs >= 10


def test_sampling_defaults_runs_alone_is_exact_and_a_budget_adds_adaptive_rounds():
    assert (DEFAULT_RUNS, DEFAULT_BUDGET_S) == (20, 30.0)
    assert sampling(None, None) == (20, 30.0)  # the default: at least 20 rounds, adaptive within 30 s
    assert sampling(5, None) == (5, None)  # --runs alone: exactly that many
    assert sampling(None, 10.0) == (20, 10.0)
    assert sampling(5, 10.0) == (5, 10.0)


def test_runs_alone_takes_exactly_that_many_rounds_and_a_budget_alone_at_least_the_default(monkeypatch):
    models = {"a": nn.Identity(), "b": nn.Identity()}
    setup, timings = time_models(models, (4,), runs=4, warmup=0)
    assert setup.runs == 4 and setup.budget_s is None and timings["a"].runs == 4
    monkeypatch.setattr(latency, "MIN_SAMPLE_S", 0.001)  # 1 ms samples: the default 20 rounds fit in the budget
    setup, timings = time_models(models, (4,), warmup=0, budget=0.5)
    assert setup.runs >= DEFAULT_RUNS and setup.budget_s == 0.5 and timings["b"].runs == setup.runs


class Sleeper(nn.Module):
    """A model whose every call takes at least ``seconds``, and counts its calls."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.calls = seconds, 0

    def forward(self, x):
        import time

        time.sleep(self.seconds)
        self.calls += 1
        return x


def test_the_warm_up_stops_when_it_has_taken_the_budget_and_every_model_gets_as_many_calls():
    from seprof.latency import _warm_up, warmup_budget

    assert warmup_budget(2.0) == 2.0 and warmup_budget(None) == DEFAULT_BUDGET_S  # --runs alone: 30 s
    models = {"a": Sleeper(0.01), "b": Sleeper(0.01)}
    with torch.inference_mode():
        done = _warm_up(models, torch.zeros(1), 1000, "infer", 0.1)
    assert 1 <= done <= 5  # a round takes at least 20 ms: at most 5 start within 0.1 s
    assert models["a"].calls == models["b"].calls == done
    with torch.inference_mode():
        assert _warm_up(models, torch.zeros(1), 2, "infer", 0.1) == 2  # the calls asked, when they fit
        assert _warm_up(models, torch.zeros(1), 0, "infer", 0.1) == 0


def test_runs_and_warmup_above_their_maximum_are_refused_up_front():
    from seprof.options import MAX_ROUNDS, MAX_WARMUP, TimingOptions

    assert (MAX_ROUNDS, MAX_WARMUP) == (1000, 1000)
    with pytest.raises(OptionError) as refused:
        TimingOptions(runs=1001, budget=2)
    assert str(refused.value) == (
        "runs=1001 is more than 1000, the most rounds seprof times: choose 1 to 1000, or leave it out and give a "
        "budget in seconds: seprof then samples until every ratio's 95% CI is within ±1% of its median")
    with pytest.raises(OptionError) as refused:
        time_models({"m": nn.Identity()}, (1,), warmup=1001)
    assert str(refused.value) == ("warmup=1001 is more than 1000, the most warm-up calls seprof makes: choose 0 to "
                                  "1000 (a few calls reach a steady state; the default is 3)")
    assert TimingOptions(runs=1000, warmup=1000).runs == 1000  # the maximum itself is fine


@pytest.mark.parametrize("cpus,torch_count,expected", [(1, 1, 1), (2, 2, 1), (4, 4, 3), (16, 8, 8), (32, 16, 16)])
def test_default_cpu_threads_leave_one_cpu_free(monkeypatch, cpus, torch_count, expected):
    monkeypatch.setattr(latency, "usable_cpus", lambda: cpus)
    with torch_threads(torch_count):
        assert default_threads(torch.device("cpu")) == expected
        assert default_threads(torch.device("cuda")) == torch_count  # no CPU timing to protect


def test_timing_records_threads_and_cpus():
    setup, _ = time_models({"m": nn.Identity()}, (4,), runs=2, warmup=0)
    assert setup.threads == default_threads(torch.device("cpu")) and setup.cpus == latency.usable_cpus()
    assert 1 <= setup.threads and (setup.cpus == 1 or setup.threads < setup.cpus)
    setup, _ = time_models({"m": nn.Identity()}, (4,), runs=2, warmup=0, threads=1)
    assert setup.threads == 1


def test_why_sampling_stops():
    from seprof.latency import MAX_ROUNDS, STOP_REASONS, _stop_reason

    steady = {"base": [10.0] * 20, "se": [11.0] * 20}  # the paired ratio is 1.1 in every round: a zero-width CI
    noisy = {"base": [10.0] * 20, "se": [11.0, 13.0, 9.0, 12.0] * 5}
    names = ["base", "se"]
    assert _stop_reason(steady, names, 20, 20, 1.0, None, 0.01) == "rounds"  # --runs alone
    assert _stop_reason(steady, names, 19, 20, 1e6, None, 0.01) is None  # ... exactly that many, however long
    assert _stop_reason(steady, names, 20, 20, 1.0, 30.0, 0.01) == "converged"
    assert _stop_reason(steady, names, 21, 20, 1.0, 30.0, 0.01) is None  # convergence is checked every 5 rounds
    assert _stop_reason(noisy, names, 20, 20, 1.0, 30.0, 0.01) is None
    assert _stop_reason(noisy, names, 20, 20, 31.0, 30.0, 0.01) == "budget"
    assert _stop_reason(noisy, names, MAX_ROUNDS, 20, 1.0, 30.0, 0.01) == "max rounds"
    assert _stop_reason(steady, names, 15, 20, 1.0, 30.0, 0.01) is None  # converged, but short of runs
    assert _stop_reason(steady, names, 15, 20, 30.0, 30.0, 0.01) == "budget before runs"  # the budget wins
    assert {"rounds", "converged", "budget", "max rounds", "budget before runs"} == set(STOP_REASONS)
    setup, _ = time_models({"a": nn.Identity(), "b": nn.Identity()}, (4,), runs=2, warmup=0)
    assert setup.stopped == "rounds"
    setup, _ = time_models({"a": nn.Identity(), "b": nn.Identity()}, (4,), warmup=0, budget=0.2)
    assert setup.stopped in ("converged", "budget", "budget before runs") and setup.runs_asked is None


def test_the_latency_title_says_how_an_adaptive_run_ended():
    from seprof.render import _setup_lines

    base = {"mode": "infer", "device": "cpu", "device_name": "x", "dtype": "float32", "batch": 1, "threads": 1,
            "cpus": 2, "runs": 45, "number": 1, "warmup": 3, "seconds": 22.0}
    first, second = _setup_lines({**base, "budget_s": None, "stopped": "rounds"})
    assert first == "CPU (x) · 1 thread of 2 CPUs · float32 · batch 1 · forward, inference mode"
    assert second == "45 rounds in 22.0 s: the number asked for; each sample the mean of 1 call, after 3 warm-up calls"
    assert "45 rounds in 22.0 s: stopped once every ratio's 95% CI was within ±1% (budget 30 s)" in _setup_lines(
        {**base, "budget_s": 30.0, "stopped": "converged"})[1]
    assert ": the 30 s budget ran out before every ratio's 95% CI was within ±1%" in _setup_lines(
        {**base, "budget_s": 30.0, "stopped": "budget"})[1]
    short = {**base, "runs": 83, "budget_s": 2.0, "stopped": "budget before runs", "runs_asked": 500}
    assert _setup_lines(short)[1] == ("83 rounds in 22.0 s: the 2 s budget ran out before the 500 rounds asked "
                                      "(--runs); each sample the mean of 1 call, after 3 warm-up calls")
    assert _setup_lines({**short, "runs_asked": None})[1].startswith(
        "83 rounds in 22.0 s: the 2 s budget ran out before the default minimum of 20 rounds; ")
    cut = _setup_lines({**short, "warmup": 1000, "warmup_done": 12})
    assert cut[1].endswith("after 12 warm-up calls") and cut[2] == (
        "Warm-up stopped after 12 of the 1000 calls per model asked (--warmup): it may take as long as the 2 s budget")
    assert _setup_lines({**base, "budget_s": None, "stopped": "rounds", "warmup": 1000, "warmup_done": 40})[2] == (
        "Warm-up stopped after 40 of the 1000 calls per model asked (--warmup): it may take as long as the default "
        "30 s budget")
    assert len(_setup_lines({**short, "warmup_done": 3})) == 2  # every warm-up call made: no line

def test_device_time_is_cuda_only_and_says_why_not():
    from seprof.latency import graph_times

    model = {"m": torch.nn.Conv2d(3, 4, 3)}
    assert graph_times(model, (3, 8, 8), 1, torch.device("cpu")) == (
        "no CUDA graphs on the CPU: the wall time is the time", None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_device_time_from_graph_replays_is_below_wall_time():
    from seprof import TimingOptions, profile

    report = profile("resnet18", counters=(), timing=TimingOptions(device="cuda", runs=6, warmup=2))
    run = report.latency_runs[0]
    assert run.setup["graphs"] == "captured"
    for config in ("base", "se"):
        assert run.latency[config].device_ms > 0
    se = run.latency["se"]
    assert se.device_delta_ms is not None
    row = next(r for r in report.config_rows() if r["config"] == "se")
    assert row["device_ms"] == se.device_ms and row["graphs"] is True and row["graphs_note"] is None
    # train mode: forward + backward captured, and the models' gradients released afterwards
    train = profile("resnet18", counters=(), timing=TimingOptions(device="cuda", runs=2, mode="train"))
    assert train.latency_runs[0].setup["graphs"] == "captured"
    assert all(lat.device_ms > 0 for lat in train.latency_runs[0].latency.values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_train_capture_leaves_no_gradients_and_a_failed_capture_says_why():
    from seprof.latency import graph_times

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).cuda().train()
    graphs, timings = graph_times({"m": model}, (3, 16, 16), 2, torch.device("cuda"), mode="train", rounds=3)
    assert graphs == "captured" and timings["m"].runs == 3
    assert all(p.grad is None for p in model.parameters())

    class Syncs(nn.Module):  # reads a value back to the host mid-pass: not capturable
        def forward(self, x):
            return x * float(x.sum())

    graphs, timings = graph_times({"m": Syncs()}, (3, 8, 8), 1, torch.device("cuda"))
    assert graphs.startswith("not captured: ") and "during capture" not in graphs and timings is None
    assert torch.cuda.current_stream() == torch.cuda.default_stream()
    # the process goes on: random numbers, the next capture, and the allocator emptying its cache all work
    assert torch.randn(1, device="cuda").isfinite().all()
    graphs, _ = graph_times({"m": model.eval()}, (3, 16, 16), 1, torch.device("cuda"), rounds=2)
    assert graphs == "captured"
    torch.cuda.empty_cache()


def test_the_device_time_line_names_the_captured_step_or_says_why_not():
    from rich.console import Console

    from seprof.render import _device_line
    from seprof.report import Latency, LatencyRun

    def line(mode, device_ms, graphs="captured"):
        console = Console(record=True, width=200)
        run = LatencyRun(32, {"device": "cuda", "mode": mode, "graphs": graphs},
                         {"base": Latency(5.0, 0.1, 10, (1.0, 1.0, 1.0), device_ms=device_ms)})
        _device_line(console, run)
        return console.export_text().strip()

    assert line("train", 4.0).startswith("Device time: forward + backward captured as a CUDA graph and replayed")
    assert line("infer", 4.0).startswith("Device time: the forward pass captured as a CUDA graph and replayed")
    assert line("infer", None, "not captured: CUDA error: operation not permitted when stream is capturing") == (
        "Device time: not captured: CUDA error: operation not permitted when stream is capturing")


def test_a_failed_capture_reports_the_models_error_not_the_captures_end():
    from seprof.latency import _first_cause

    def chained(first, second):
        try:
            try:
                raise first
            except Exception:
                raise second  # noqa: B904 - the chain is the point: second's context is first
        except Exception as error:
            return error

    cause = RuntimeError("operation not permitted when stream is capturing")
    assert _first_cause(
        chained(cause, RuntimeError("operation failed due to a previous error during capture"))) is cause
    unrelated = chained(KeyError("x"), RuntimeError("CUDA out of memory"))
    assert _first_cause(unrelated) is unrelated
