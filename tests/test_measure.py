import pytest
import torch
from conftest import hooks_of

import seprof
from seprof.errors import StageError
from seprof.models import build_model


@pytest.fixture(scope="module")
def report():
    return seprof.profile("resnet50", r=16, strip_stages=[[5]], latency=False)


def test_configurations(report):
    base, se, stripped = report.configs
    assert [c.config for c in report.configs] == ["base", "se", "se_strip_5"]
    assert base.params == 25_557_032 and base.params_added == 0
    assert se.params == 28_088_024 and se.params_added == 2_530_992 and round(se.params_added_pct, 2) == 9.90
    assert se.analytic_paper == 2_514_944 and se.analytic_exact == 2_530_992
    assert stripped.params_added == 951_600 and round(stripped.params_added_pct, 2) == 3.72
    assert stripped.se_stages == (2, 3, 4) and se.se_stages == (2, 3, 4, 5)
    assert base.macs == {"fvcore": 4_111_512_576, "thop": 4_133_742_592, "torch": 4_089_184_256}
    assert se.macs["torch"] - base.macs["torch"] == 2_514_944
    assert stripped.macs["torch"] - base.macs["torch"] == 942_080
    assert se.latency is None and report.timing is None


def test_stage_rows(report):
    rows = [s for s in report.stages if s.config == "se"]
    assert [s.measured for s in rows] == [25_392, 133_248, 792_960, 1_579_392]
    assert [s.analytic_exact for s in rows] == [25_392, 133_248, 792_960, 1_579_392]
    assert [s.analytic_paper for s in rows] == [24_576, 131_072, 786_432, 1_572_864]
    assert [s.resolution for s in rows] == [(56, 56), (28, 28), (14, 14), (7, 7)]
    stripped = [s for s in report.stages if s.config == "se_strip_5"]
    assert [s.se for s in stripped] == [True, True, True, False] and stripped[-1].measured == 0
    assert sum(s.work.scale_muls for s in rows) == 5_519_360


def test_frames(report):
    frame = report.to_frame()
    for col in ("model", "config", "r", "se_stages", "params", "params_added", "params_added_pct", "analytic_paper",
                "analytic_exact", "macs_fvcore", "macs_thop", "macs_torch", "latency_ms", "latency_iqr_ms",
                "device", "batch_size"):
        assert col in frame.columns
    assert frame["params_added"].tolist() == [0, 2_530_992, 951_600]
    assert frame["se_stages"].tolist() == ["", "2,3,4,5", "2,3,4"]
    assert len(report.stages_frame()) == 12


def test_no_bias():
    r = seprof.profile("resnet50", bias=False, strip_stages=[[5]], latency=False)
    assert r.config("se").params_added == 2_514_944 and round(r.config("se").params_added_pct, 2) == 9.84
    assert r.config("se_strip_5").params_added == 942_080 and round(r.config("se_strip_5").params_added_pct, 2) == 3.69


def test_empty_strip_request_means_the_last_se_stage():
    r = seprof.profile("resnet18", stages=[2, 3], strip_stages=[[]], input_shape=(3, 64, 64), latency=False)
    assert [c.config for c in r.configs] == ["base", "se", "se_strip_3"]
    with pytest.raises(StageError, match="SE is in stages 2, 3"):
        seprof.profile("resnet18", stages=[2, 3], strip_stages=[[4]], latency=False)


def test_profile_a_model_object_with_latency_leaves_it_unchanged():
    model = build_model("resnet18", "cpu").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = seprof.profile(model, r=8, input_shape=(3, 64, 64), runs=3, warmup=1, device="cpu", strip_stages=[[5]])
    assert r.model == "ResNet"
    assert all(c.latency is not None and c.latency.runs == 3 for c in r.configs)
    assert r.config("base").latency.ratio == (1.0, 1.0, 1.0)
    assert r.timing["device"] == "cpu" and r.timing["batch"] == 1 and r.timing["dtype"] == "float32"
    assert model.training and hooks_of(model) == []
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert list(model.state_dict()) == list(before)


def test_attribution_by_stage_and_several_batches(tmp_path):
    from seprof import profile

    report = profile("resnet18", input_shape=(3, 32, 32), attribute=True, batch=[1, 2], runs=2, warmup=0,
                     device="cpu", memory=True, counters=("torch",))
    names = [c.config for c in report.configs]
    assert names == ["base", "se", "se_only_2", "se_only_3", "se_only_4", "se_only_5"]
    assert report.config("se_only_5").params_added == 66_624  # 2 blocks × (2·512·32 + 32 + 512)
    assert [run.batch for run in report.latency_runs] == [1, 2]
    shares = report.attribution()
    assert [a.stage for a in shares] == [2, 3, 4, 5]
    assert abs(sum(a.params_share for a in shares) - 1) < 1e-12
    assert abs(sum(a.elementwise_share for a in shares) - 1) < 1e-12
    assert all(set(a.latency_ms) == {1, 2} for a in shares)
    rows = report.config_rows()
    assert len(rows) == 12 and [r["batch_size"] for r in rows[:6]] == [1] * 6
    assert all(r["peak_memory_bytes"] > 0 for r in rows)
    report.to_json(tmp_path / "r.json")


def test_profile_reports_each_step_as_it_starts():
    steps = []
    seprof.profile("resnet18", input_shape=(3, 64, 64), latency=False, on_step=steps.append)
    assert steps == ["building resnet18", "finding SE sites", "building 2 configurations", "counting (fvcore)",
                     "counting (thop)", "counting (torch)"]


def test_kept_for_backward_counts_each_saved_activation_once_and_no_weight_or_input():
    from torch import nn

    from seprof.meta import kept_for_backward, meta_clone

    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU(), nn.Conv2d(8, 4, 3, bias=False), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 10))
    meta = meta_clone(net).train()
    # ReLU keeps its 8×8×8 output, which conv 2 keeps as its input (one storage); Linear keeps its input, a view of
    # conv 2's 4×6×6 output; conv 1's input (the batch) and every weight (Linear's as a transposed view) are not
    # counted; conv 2's and Linear's outputs are not kept
    assert kept_for_backward(meta, (3, 10, 10), 2) == 2 * (8 * 8 * 8 + 4 * 6 * 6) * 4
    assert kept_for_backward(meta, (3, 10, 10), 5) == 5 * (8 * 8 * 8 + 4 * 6 * 6) * 4
    assert all(p.device.type == "cpu" for p in net.parameters())  # the model given was not touched


def test_the_train_floor_is_below_the_peak_a_real_training_step_measures():
    from seprof.latency import peak_memory, torch_threads
    from seprof.meta import kept_for_backward, meta_clone

    model = build_model("squeezenet1_0", "cpu")  # activations outweigh its 5 MB of weight gradients here
    kept = kept_for_backward(meta_clone(model).train(), (3, 96, 96), 4)
    with torch_threads(1):  # the tensors the step creates; one thread, as a shared CPU stalls a second one
        peak = peak_memory(model, (3, 96, 96), 4, torch.device("cpu"), mode="train")
    assert kept == 23_226_496 and 0.8 * peak < kept <= peak


def test_train_mode_memory_is_checked_up_front_beyond_what_a_forward_pass_needs():
    from seprof.errors import OptionError
    from seprof.latency import free_memory
    from seprof.measure import _train_floor, build, check_memory, open_model, plan_profile
    from seprof.options import TimingOptions

    source = open_model("resnet18", (3, 64, 64))
    plan = plan_profile(source)
    meta = build(source, plan)  # meta-device models only: nothing real is made
    largest = meta["se"]
    _, per_sample = _train_floor(plan, largest, 2, False, len(plan.configs))
    free = free_memory(torch.device("cpu"))
    batch = int(2 * free / per_sample)  # a training step needs twice the memory that is free
    check_memory(plan, meta, TimingOptions(batch=(batch,)), torch.device("cpu"), len(plan.configs))  # a forward fits
    with pytest.raises(OptionError) as refused:
        check_memory(plan, meta, TimingOptions(batch=(1, batch), mode="train"), torch.device("cpu"),
                     len(plan.configs))
    assert str(refused.value).startswith(f"batch={batch} is too large: resnet18 at input 3x64x64, batch {batch}, "
                                         "needs at least ")
    assert " GiB in train mode (" in str(refused.value) and str(refused.value).endswith("use a smaller input or batch")


def test_a_budget_ends_sampling_short_of_the_runs_asked_and_the_report_says_so():
    from seprof.options import TimingOptions
    from seprof.render import _setup_lines

    report = seprof.profile("resnet18", input_shape=(3, 32, 32), counters=(),
                            timing=TimingOptions(device="cpu", runs=500, budget=0.3, warmup=1))
    setup = report.latency_runs[0].setup
    assert setup["stopped"] == "budget before runs" and setup["runs_asked"] == 500 and setup["runs"] < 500
    assert setup["warmup"] == setup["warmup_done"] == 1
    assert all(lat.runs == setup["runs"] for lat in report.latency_runs[0].latency.values())
    row = report.config_rows()[1]
    assert (row["runs_asked"], row["latency_runs"], row["stopped"]) == (500, setup["runs"], "budget before runs")
    assert "the 0.3 s budget ran out before the 500 rounds asked (--runs)" in _setup_lines(setup)[1]


def test_the_forward_floor_counts_new_tensors_not_views_of_weights():
    from torch import nn

    from seprof.meta import largest_tensor

    # Linear's transposed 1000×512 weight is a view, not a 2 MB tensor each sample would make again
    assert largest_tensor(nn.Linear(512, 1000), (512,)) == (1000 * 4, "aten::addmm")
    assert largest_tensor(nn.Conv2d(3, 8, 3), (3, 10, 10)) == (8 * 8 * 8 * 4, "aten::convolution")
