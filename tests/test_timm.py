"""timm's models as timm:NAME: native SE-like modules found and counted exactly, seprof's blocks in timm's
blocks, and a missing timm refused in one line."""

import sys

import pytest
import torch
from typer.testing import CliRunner

from seprof import profile
from seprof.accounting import fc_params
from seprof.cli import app
from seprof.measure import open_model

timm = pytest.importorskip("timm")
runner = CliRunner()


def test_timm_seresnet50s_native_se_is_found_and_stripping_stage_5_matches_seprofs_resnet50():
    native = open_model("timm:seresnet50").sites().native
    assert len(native) == 16 and {s.own.cls for s in native} == {"SEModule"}
    assert [sum(1 for s in native if s.stage == k) for k in (2, 3, 4, 5)] == [3, 4, 6, 3]
    theirs = profile("timm:seresnet50", strip_stages=((5,),), timing=None, counters=("torch",))
    ours = profile("resnet50", strip_stages=((5,),), timing=None, counters=("torch",))
    assert theirs.native and theirs.config("se").params_added == 2_530_992
    assert theirs.config("se_strip_5").params == ours.config("se_strip_5").params == 26_508_632


def test_seprofs_se_in_timms_resnet50_adds_what_it_adds_to_torchvisions():
    report = profile("timm:resnet50", timing=None, counters=("torch",))
    assert report.config("se").params_added == report.config("se").analytic_exact == 2_530_992
    assert report.config("se").params == 28_088_024  # as timm's own seresnet50


@pytest.mark.parametrize("name, cls, exact", [
    ("timm:ecaresnet50d", "EcaModule", None),
    ("timm:ese_vovnet19b_dw", "EffectiveSEModule", None),
    ("timm:efficientnet_b0", "SqueezeExcite", None),
    ("timm:legacy_seresnet50", "SEModule", 2_530_992),
    ("timm:regnety_016", "SEModule", None),
])
def test_each_native_kind_has_its_exact_formula(name, cls, exact):
    report = profile(name, timing=None, counters=())
    native = open_model(name).sites().native
    assert {s.own.cls for s in native} == {cls}
    se = report.config("se")
    assert se.params_added == se.analytic_exact == sum(s.own.params for s in native)
    if exact is not None:
        assert se.params_added == exact
    for s in native:
        if s.own.kind == "ese":
            assert s.own.params == s.channels ** 2 + s.channels
        if s.own.kind == "eca":
            assert s.own.params == s.own.taps  # one 1-D conv of k taps, no bias
        if s.own.kind == "se" and s.own.norm == 0:
            assert s.own.params == fc_params(s.channels, s.hidden, s.bias)


@pytest.mark.parametrize("name, stages", [
    ("timm:resnext50_32x4d", [2, 3, 4, 5]),
    ("timm:regnetx_016", [2, 3, 4, 5]),
    ("timm:convnext_tiny", [2, 3, 4, 5]),
    ("timm:vit_tiny_patch16_224", [4]),
    ("timm:tf_efficientnet_lite0", [1, 2, 3, 4, 5]),
    ("timm:vit_base_patch16_rpn_224", [4]),
    ("timm:vit_base_patch16_18x2_224", [4]),
    ("timm:vit_dpwee_patch16_reg1_gap_256", [4]),
    ("timm:convnext_atto", [2, 3, 4, 5]),  # a conv MLP: channels first
    ("timm:swin_tiny_patch4_window7_224", [2, 3, 4, 5]),
    ("timm:mobilenetv4_conv_small", [4, 5]),
])
def test_seprofs_blocks_go_into_timms_families(name, stages):
    report = profile(name, timing=None, counters=("torch",))
    se = report.config("se")
    assert list(se.se_stages) == stages
    assert se.params_added == se.analytic_exact > 0


def test_timm_in_the_cli():
    result = runner.invoke(app, ["compare", "timm:seresnet50", "--strip-stage", "5", "--no-latency"])
    assert result.exit_code == 0, result.output
    assert "26,508,632" in result.stdout and "its own SE blocks" in result.stdout
    result = runner.invoke(app, ["stages", "timm:efficientnet_b0"])
    assert result.exit_code == 0 and "SqueezeExcite" in result.stdout
    result = runner.invoke(app, ["models", "--source", "timm", "--family", "senet"])
    assert result.exit_code == 0 and "timm:legacy_seresnet50" in result.stdout
    result = runner.invoke(app, ["inject", "timm:resnet5", "--no-latency"])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("seprof: error: unknown timm model 'timm:resnet5': did you mean timm:resnet50, "
                                     "timm:resnet51q, timm:resnet50t?")


def test_a_missing_timm_is_one_line_exit_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    out = tmp_path / "r.csv"
    for args in (["inject", "timm:resnet50", "--no-latency", "--csv", str(out)], ["models", "--source", "timm"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.splitlines() == [
            'seprof: error: timm is not installed, and timm: models need it: pip install "seprof[timm]"']
    assert not out.exists()


def test_convnext_blocks_with_conv_mlps_are_channels_first():
    sites = open_model("timm:convnext_atto").sites().sites
    assert [s.channels for s in sites if s.index == 1] == [40, 80, 160, 320]
    assert {s.layout for s in sites} == {"nchw"}
    assert {s.layout for s in open_model("timm:convnext_tiny").sites().sites} == {"nhwc"}


def test_a_users_rule_for_a_timm_block_is_kept():
    from timm.models.resnet import BasicBlock

    from seprof.stages import PLACEMENTS, register_placement

    open_model("timm:resnet18").sites()  # timm's rules are registered by now
    saved = PLACEMENTS[BasicBlock]
    try:
        register_placement(BasicBlock, "bn1", "the user's own choice")
        assert {s.point for s in open_model("timm:resnet18").sites().sites} == {"bn1"}
    finally:
        PLACEMENTS[BasicBlock] = saved


def test_seprofs_se_resnet50_dispatches_exactly_timms_seresnet50s_ops():
    # the host-side work of SE is its dispatch; seprof's block must not add any over timm's SEModule
    import torch
    import torchvision

    import seprof
    from seprof import dispatched

    torch.manual_seed(0)
    x = torch.randn(1, 3, 64, 64)
    timms = timm.create_model("seresnet50").eval()
    timms_base = timm.create_model("resnet50").eval()
    ours = seprof.inject(torchvision.models.resnet50(), r=16).eval()
    on_timms = seprof.inject(timms_base, r=16).eval()
    theirs, mine, mine_on_timms, base = (dispatched(m, x) for m in (timms, ours, on_timms, timms_base))
    # the same ops in the same order, i.e. the same kernels; 6 per block (pool, conv, ReLU, conv, sigmoid, mul)
    assert mine.ops == theirs.ops and mine_on_timms.ops == theirs.ops
    assert len(theirs.ops) == len(base.ops) + 16 * 6
    assert theirs.ops.count("aten.relu_.default") == base.ops.count("aten.relu_.default") + 16  # in place, as timm's
    # module calls, per block: seprof's SE makes 6 (the wrapper that keeps the state_dict keys bn3.inner. and
    # bn3.se., the block, fc1, ReLU, fc2, gate; the squeeze is a tensor mean, as timm's), timm's SEModule 6 (the
    # block, fc1, its Identity norm placeholder, ReLU, fc2, gate). So on timm's own backbone the counts are equal,
    # and seprof's torchvision SE-ResNet-50 makes 34 fewer, as many as timm's backbone makes more than
    # torchvision's (32 Identity placeholders in its blocks, and its head's SelectAdaptivePool2d and Flatten)
    assert len(theirs.modules) - len(mine.modules) == 34
    assert len(mine_on_timms.modules) == len(theirs.modules)
    assert mine_on_timms.modules.count("WithSE") == 16 and not any(m == "WithSE" for m in theirs.modules)
    # forward + backward in train mode: the same ops on the same backbone
    x2 = torch.randn(2, 3, 64, 64)
    assert dispatched(on_timms.train(), x2, train=True).ops == dispatched(timms.train(), x2, train=True).ops
    # channels-last: still the same ops (a pooling module would add a metadata-only as_strided_ per block)
    last = torch.channels_last
    ours, timms = ours.to(memory_format=last), timms.eval().to(memory_format=last)
    assert dispatched(ours, x.to(memory_format=last)).ops == dispatched(timms, x.to(memory_format=last)).ops
    assert not torch.nn.modules.module._global_forward_pre_hooks  # the recording left nothing behind


def test_a_timm_model_whose_class_takes_img_size_is_built_for_the_input_given():
    usual, asked = open_model("timm:vit_base_patch16_224"), open_model("timm:vit_base_patch16_224", (3, 384, 384))

    def params(source):
        return sum(p.numel() for p in source.meta.parameters())

    assert params(usual) == 86_567_656 and params(asked) == 86_567_656 + (577 - 197) * 768  # the position embedding
    assert usual.sites().sites[0].height == 197 and asked.sites().sites[0].height == 577
    assert {s.stage for s in asked.sites().sites} == {4}
    plain = open_model("timm:resnet50", (3, 320, 320))  # no img_size: built as usual, run at the input given
    assert params(plain) == 25_557_032 and plain.sites().sites[0].height == 80


def test_a_size_a_timm_model_cannot_be_built_or_run_at_is_one_line():
    result = runner.invoke(app, ["stages", "timm:maxvit_tiny_tf_224", "--input", "3x7x7"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--input 3x7x7 is not a size timm:maxvit_tiny_tf_224 can be built for: " in result.output
    result = runner.invoke(app, ["stages", "timm:vit_base_patch16_224", "--input", "3x8x8"])  # built, cannot run
    assert result.exit_code == 2 and "cannot run on input 3x8x8" in result.output


def test_a_timm_model_object_built_for_another_size_runs_at_that_size():
    with torch.device("meta"):
        model = timm.create_model("vit_tiny_patch16_224", img_size=384)
    source = open_model(model)
    assert source.input_shape == (3, 384, 384)
    assert source.input_origin == "the img_size VisionTransformer was built for (timm)"
    assert source.sites().sites[0].height == 577  # 24² patches and the class token
