"""Beyond classification: segmentation, detection, video, optical flow and quantizable builders, through the CLI
and the API, with exact counts; and the harness that runs them (views that keep every module path)."""

import csv
import io
import json

import pytest
import torch
from conftest import hooks_of
from typer.testing import CliRunner

from seprof import TimingOptions, profile
from seprof.accounting import fc_params
from seprof.blocks import SCSEBlock, SEBlock, SEBlock3d, SSEBlock3d, make_block
from seprof.checkpoint import load
from seprof.cli import app
from seprof.families import Task, counterpart_of, input_shape_of, model_names, task_of
from seprof.harness import loss_of
from seprof.measure import num_params, open_model
from seprof.models import build_model, harness_of, list_models
from seprof.spec import BlockKind, BlockSpec

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def flat(text):
    return " ".join(text.split())


def test_deeplabv3_keeps_resnet50s_stages_and_counts_although_dilated():
    result = run("inject", "deeplabv3_resnet50", "--r", "16", "--no-latency", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    se = [s for s in data["stages"] if s["config"] == "se"]
    assert [(s["stage"], s["blocks"], s["channels"]) for s in se] == [
        (2, 3, "256"), (3, 4, "512"), (4, 6, "1024"), (5, 3, "2048")]
    assert [s["resolution"] for s in se] == ["130x130", "65x65", "65x65", "65x65"]  # stride 8 from conv3_x on
    added = next(c for c in data["configs"] if c["config"] == "se")
    assert added["params_added"] == added["analytic_exact"] == 2_530_992  # as resnet50: dilation adds nothing
    assert any("numbered as in resnet50" in note for note in data["notes"])


def test_compare_deeplabv3_strip_stage_5_strips_conv5_x():
    result = run("compare", "deeplabv3_resnet50", "--strip-stage", "5", "--no-latency", "--csv", "-")
    assert result.exit_code == 0, result.output
    rows = {row["config"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["se"]["params_added"] == "2530992"
    assert rows["se_strip_5"]["params_added"] == str(2_530_992 - 3 * fc_params(2048, 128))  # conv5_x's 3 blocks
    assert rows["se_strip_5"]["se_stages"] == "2,3,4"


def test_fcn_takes_scse():
    result = run("inject", "fcn_resnet50", "--block", "scse", "--no-latency")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "fcn_resnet50 · scSE (r=16, add), with biases · stages 2–5 · input 3×520×520" in text
    assert "32,957,013 → SE 35,503,125 (+2,546,112" in text  # resnet50's scSE count: 2,530,992 + 16,064 + 16 - 16


def test_heads_are_a_stage_of_their_own():
    source = open_model("deeplabv3_resnet50", heads=True)
    sites = source.sites().sites
    head = [s for s in sites if s.stage == 6]
    assert [s.path for s in head] == [
        "classifier.0.convs.0.2", "classifier.0.convs.1.2", "classifier.0.convs.2.2", "classifier.0.convs.3.2",
        "classifier.0.project.2", "classifier.3"]  # the ASPP's 1×1 pooled branch is left out
    assert {s.channels for s in head} == {256}
    report = profile("deeplabv3_resnet50", heads=True, timing=None, counters=("torch",))
    se = report.config("se")
    assert se.params_added == se.analytic_exact == 2_530_992 + 6 * fc_params(256, 16)
    fpn = [s for s in open_model("retinanet_resnet50_fpn", heads=True).sites().sites if s.stage == 6]
    assert [s.point for s in fpn] == ["layer_blocks.2", "layer_blocks.1", "layer_blocks.0", "p6", "p7"]


def test_a_detector_is_counted_by_its_backbone_and_timed_whole():
    report = profile("fasterrcnn_mobilenet_v3_large_320_fpn", timing=TimingOptions(runs=1, warmup=0),
                     counters=("torch",), add_missing=True)
    assert report.base_params == num_params(build_model("fasterrcnn_mobilenet_v3_large_320_fpn", "meta"))
    assert any("counts cover the backbone only, at 3×320×320" in note and "rpn, roi_heads" in note and
               "latency times the whole model" in note for note in report.notes)
    assert all(c.latency.median_ms > 0 for c in report.configs)


def test_a_detector_refuses_train_mode_and_a_segmenter_trains():
    with pytest.raises(Exception, match="takes targets in train mode"):
        profile("ssd300_vgg16", timing=TimingOptions(runs=1, mode="train"), counters=())
    report = profile("lraspp_mobilenet_v3_large", input_shape=(3, 64, 64), counters=(),
                     timing=TimingOptions(runs=1, warmup=0, mode="train"))  # a dict output, summed for backward
    assert report.config("se").latency.median_ms > 0


def test_video_takes_3d_se_with_the_2d_blocks_parameters():
    for kind in BlockKind:
        spec = BlockSpec(kind)
        flat_block, volume = make_block(spec, 64), make_block(spec, 64, video=True)
        assert num_params(volume) == num_params(flat_block)
        x = torch.randn(2, 64, 4, 5, 6)
        assert volume(x).shape == x.shape
    assert isinstance(make_block(BlockSpec(), 64, video=True), SEBlock3d)
    assert isinstance(make_block(BlockSpec(BlockKind.SCSE), 64, video=True).sse, SSEBlock3d)
    assert isinstance(make_block(BlockSpec(BlockKind.SCSE), 64).cse, SEBlock) and SCSEBlock
    result = run("inject", "r3d_18", "--input", "3x8x112x112", "--no-latency", "--json", "-")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    se = [s for s in data["stages"] if s["config"] == "se"]
    assert [(s["stage"], s["resolution"]) for s in se] == [
        (1, "8x56x56"), (2, "4x28x28"), (3, "2x14x14"), (4, "1x7x7")]
    assert data["configs"][1]["params_added"] == data["configs"][1]["analytic_exact"] == 89_080  # as resnet18


def test_video_clip_and_optical_flow_are_timed_on_real_tensors():
    report = profile("r2plus1d_18", input_shape=(3, 4, 32, 32), counters=(),
                     timing=TimingOptions(runs=1, warmup=0, mode="train"))
    assert report.config("se").latency.median_ms > 0
    report = profile("raft_small", input_shape=(3, 128, 128), counters=("torch",),
                     timing=TimingOptions(runs=1, warmup=0))
    assert report.config("se").params_added == report.config("se").analytic_exact == 7_984
    assert any("the same random frame twice" in note for note in report.notes)


def test_mvit_tokens_are_numbered_by_their_spatial_stride():
    sites = open_model("mvit_v2_s").sites().sites
    counts = {}
    for s in sites:
        counts[s.stage] = counts.get(s.stage, 0) + 1
    assert counts == {2: 1, 3: 2, 4: 11, 5: 2}
    assert sites[0].resolution == (1 + 8 * 56 * 56,)  # a class token and 8×56×56 token grid


def test_quantizable_builders_are_built_in_float_and_placed_as_their_float_counterparts():
    report = profile("quantized_resnet50", timing=None, counters=("torch",))
    assert report.config("se").params_added == 2_530_992
    assert report.base_params == num_params(build_model("resnet50", "meta"))
    assert any("built in float (quantize=False)" in note for note in report.notes)
    assert task_of("quantized_resnet50") is Task.QUANTIZATION


def test_a_segmentation_checkpoint_rebuilds_with_its_stages_and_heads(tmp_path):
    path = tmp_path / "seg.pt"
    result = run("inject", "lraspp_mobilenet_v3_large", "--add-missing", "--heads", "--input", "3x64x64",
                 "--no-latency", "--save", str(path))
    assert result.exit_code == 0, result.output
    model = load(path)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64))["out"].shape == (1, 21, 64, 64)


def test_views_keep_paths_and_leave_nothing_behind():
    model = build_model("ssdlite320_mobilenet_v3_large", "meta")
    before = hooks_of(model)
    harness = harness_of("ssdlite320_mobilenet_v3_large")
    view = harness.tracing(model)
    assert dict(view.named_parameters()).keys() == dict(model.named_parameters()).keys()
    assert "forward" not in model.__dict__ and hooks_of(model) == before
    assert harness.traced_input(model, (3, 500, 400)) == (3, 320, 320)  # SSDlite resizes to 320×320
    assert loss_of({"a": torch.ones(2), "b": [torch.ones(3), torch.tensor([1])]}).item() == 5.0


def test_every_task_is_listed_and_every_name_has_its_usual_input():
    assert len(model_names(None)) == 121
    assert input_shape_of("r3d_18") == (3, 16, 112, 112)
    assert input_shape_of("raft_large") == (3, 368, 496)
    assert input_shape_of("fcn_resnet50") == (3, 520, 520)
    assert input_shape_of("fasterrcnn_mobilenet_v3_large_320_fpn") == (3, 320, 320)
    assert counterpart_of("deeplabv3_mobilenet_v3_large") == "mobilenet_v3_large"
    assert counterpart_of("fasterrcnn_resnet50_fpn") is None
    result = run("models", "--task", "all")
    assert result.exit_code == 0 and "Supported models (121)" in result.stdout
    result = run("models", "--task", "optical_flow")
    assert "raft_large" in result.stdout and "resnet50 " not in result.stdout
    assert set(list_models(task="video")) == set(model_names(Task.VIDEO))


def test_frozen_batchnorm_backbones_have_torchvisions_parameters_and_count_like_bn_ones():
    from torchvision.ops.misc import FrozenBatchNorm2d

    from seprof.counters import count_all
    from seprof.meta import with_batchnorm

    model = build_model("fasterrcnn_resnet50_fpn", "meta")
    assert num_params(model) == 41_755_286  # torchvision's documented count: frozen BN holds buffers
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.body.modules()) == 53
    plain = build_model("fasterrcnn_resnet50_fpn_v2", "meta")  # v2 keeps nn.BatchNorm2d, as torchvision builds it
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in plain.modules())
    frozen, unfrozen = model.backbone.body, with_batchnorm(model.backbone.body)
    assert unfrozen is not frozen and any(isinstance(m, FrozenBatchNorm2d) for m in frozen.modules())
    counts = count_all(unfrozen, (3, 64, 64), (), ("thop", "torch"))
    bn_body = torch.nn.Sequential()  # the same body built with BN: resnet50 without avgpool and fc
    reference = build_model("resnet50", "meta")
    for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
        bn_body.add_module(name, getattr(reference, name))
    expected = count_all(bn_body, (3, 64, 64), (), ("thop", "torch"))
    assert {k: c.macs for k, c in counts.items()} == {k: c.macs for k, c in expected.items()}


def test_raft_counts_its_feature_encoders_blocks_once_per_frame():
    from seprof.counters import count_all
    from seprof.measure import build, count, plan_profile

    source = open_model("raft_small", (3, 128, 128))
    plan = plan_profile(source)
    sites = plan.configs[1].added
    assert {s.maps for s in sites if s.path.startswith("feature_encoder.")} == {2}  # both frames, one batch
    assert {s.maps for s in sites if s.path.startswith("context_encoder.")} == {1}
    models = build(source, plan)
    counted = count(plan, models, ("torch", "thop"))
    for counter in ("torch", "thop"):
        direct = count_all(plan.harness.counted(models["se"]), (3, 128, 128), (), (counter,))[counter]
        assert counted["se"][counter].macs == direct.macs, counter


def test_a_model_object_takes_its_harness_and_a_factory_takes_a_clip():
    import torchvision

    fcn = torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None)
    report = profile(fcn, timing=None, counters=(), harness=harness_of("fcn_resnet50"), input_shape=(3, 520, 520))
    assert report.config("se").se_stages == (2, 3, 4, 5) and report.config("se").params_added == 2_530_992
    result = run("stages", "user_models:build_video", "--input", "3x8x64x64")
    assert result.exit_code == 0, result.output
    assert "8×32×32" in result.stdout and "BasicBlock.conv2" in result.stdout


def test_deeplabv3_trains_from_a_batch_of_two():
    with pytest.raises(Exception, match="is too small to time deeplabv3_mobilenet_v3_large in train mode"):
        profile("deeplabv3_mobilenet_v3_large", input_shape=(3, 64, 64), counters=(),
                timing=TimingOptions(runs=1, mode="train"))
    report = profile("deeplabv3_mobilenet_v3_large", input_shape=(3, 64, 64), counters=(),
                     timing=TimingOptions(runs=1, warmup=0, mode="train", batch=(2,)))
    assert report.config("se").latency.median_ms > 0
