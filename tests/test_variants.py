"""cSE/sSE/scSE, the SENet Fig. 5 positions and the ablation knobs: exact counts for ResNet-50, the blocks'
arithmetic by hand, and properties that hold for every block × position × stage set × divisor."""

import pytest
import torch
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from user_models import build_residual

import seprof
from seprof.blocks import SCSEBlock, SEBlock, SSEBlock, TokenSE, TokenSSE, make_block
from seprof.errors import OptionError
from seprof.measure import analytic, num_params
from seprof.spec import (
    BlockKind,
    BlockSpec,
    Combine,
    Gate,
    Position,
    Squeeze,
    make_divisible,
)
from seprof.stages import find_sites
from seprof.surgery import inject, se_modules, strip


@pytest.fixture(scope="module")
def resnet50_sweep():
    blocks = [*(BlockSpec(r=r, bias=False) for r in (2, 4, 8, 16, 32)), BlockSpec(), BlockSpec("sse"),
              BlockSpec("sse", bias=False), BlockSpec("scse"), BlockSpec("scse", bias=False),
              *(BlockSpec(position=p) for p in ("pre", "post", "identity"))]
    return seprof.sweep("resnet50", blocks, timing=None, counters=("torch",))


def test_reduction_ratios_without_biases_add_exactly_the_formula(resnet50_sweep):
    for r, added, total in ((2, 20_119_552, 45_676_584), (4, 10_059_776, 35_616_808), (8, 5_029_888, 30_586_920),
                            (16, 2_514_944, 28_071_976), (32, 1_257_472, 26_814_504)):
        c = resnet50_sweep.config(f"se_r{r}_nobias@all")
        assert (c.params_added, c.params, c.analytic_paper, c.analytic_exact) == (added, total, added, added)


def test_sse_and_scse_on_the_16_bottleneck_outputs(resnet50_sweep):
    for name, added in (("sse@all", 15_120), ("sse_nobias@all", 15_104), ("scse_r16_add@all", 2_546_112),
                        ("scse_r16_add_nobias@all", 2_530_048)):
        c = resnet50_sweep.config(name)
        assert c.params_added == c.analytic_exact == added, name
    assert resnet50_sweep.config("sse_nobias@all").analytic_paper == 15_104  # Σ N_s·C_s


def test_se_pre_sees_each_units_input_and_post_identity_add_as_standard(resnet50_sweep):
    pre = resnet50_sweep.config("se_r16_pre@all")
    assert pre.params_added == pre.analytic_exact == 2_005_108
    stages = [s for s in resnet50_sweep.stages if s.config == "se_r16_pre@all"]
    assert [s.measured for s in stages] == [17_508, 108_400, 694_112, 1_185_088]
    assert [s.analytic_exact for s in stages] == [17_508, 108_400, 694_112, 1_185_088]
    assert stages[1].channels == (256, 512, 512, 512) and stages[1].resolutions == ((56, 56), (28, 28))
    for name in ("se_r16_post@all", "se_r16_identity@all", "se_r16@all"):
        assert resnet50_sweep.config(name).params_added == 2_530_992, name


def test_the_paper_block_is_the_default_everywhere():
    assert BlockSpec() == BlockSpec("se", 16, True, "avg", "sigmoid", None, "add", "standard")
    report = seprof.profile("resnet50", timing=None, counters=("torch",))
    assert report.block == BlockSpec() and report.config("se").params_added == 2_530_992


def test_knobs_a_block_does_not_have_are_refused():
    for kwargs, option in (({"kind": "sse", "r": 8}, "r"), ({"kind": "sse", "squeeze": "max"}, "squeeze"),
                           ({"kind": "sse", "divisor": 8}, "divisor"), ({"kind": "se", "combine": "max"}, "combine"),
                           ({"divisor": 0}, "divisor"), ({"r": 0}, "r"), ({"kind": "cbamx"}, "block"),
                           ({"position": "middle"}, "position"), ({"bias": 1}, "bias")):
        with pytest.raises(OptionError) as info:
            BlockSpec(**kwargs)
        assert info.value.option == option, kwargs


def test_divisor_rounds_as_torchvision_does():
    from torchvision.models._utils import _make_divisible

    for channels in (16, 24, 40, 64, 96, 256, 1000, 2048):
        for r in (1, 3, 4, 16, 32):
            for divisor in (1, 4, 8):
                assert make_divisible(channels / r, divisor) == _make_divisible(channels / r, divisor)
                spec = BlockSpec(r=r, divisor=divisor)
                assert make_block(spec, channels).fc1.out_channels == spec.hidden(channels)
    assert BlockSpec(r=16, divisor=8).hidden(64) == 8 and BlockSpec(r=16).hidden(64) == 4


def test_sse_is_a_gate_per_position_by_hand():
    block = SSEBlock(2, BlockSpec("sse"))
    with torch.no_grad():
        block.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
        block.conv.bias.fill_(0.5)
    x = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])  # per position: 1-2+0.5, 3-0+0.5
    q = torch.sigmoid(torch.tensor([-0.5, 3.5])).view(1, 1, 1, 2)
    assert torch.allclose(block(x), x * q)
    assert BlockSpec("sse").params(2) == num_params(block) == 3


@pytest.mark.parametrize("combine", list(Combine))
def test_scse_combines_the_two_maps_by_sum_or_max(combine):
    torch.manual_seed(0)
    block = SCSEBlock(8, BlockSpec("scse", r=2, combine=combine))
    x = torch.randn(2, 8, 5, 5)
    a, b = block.cse(x), block.sse(x)
    assert torch.allclose(block(x), a + b if combine is Combine.ADD else torch.maximum(a, b))
    assert num_params(block) == BlockSpec("scse", r=2).params(8) == (2 * 8 * 4 + 4 + 8) + (8 + 1)


@pytest.mark.parametrize("gate, fn", [("sigmoid", torch.sigmoid), ("hardsigmoid", torch.nn.functional.hardsigmoid),
                                      ("tanh", torch.tanh), ("relu", torch.relu)])
@pytest.mark.parametrize("squeeze", list(Squeeze))
def test_squeeze_and_gate_are_what_they_say(gate, fn, squeeze):
    torch.manual_seed(0)
    block = SEBlock(8, spec=BlockSpec(r=2, gate=gate, squeeze=squeeze))
    x = torch.randn(1, 8, 4, 4)
    z = x.amax(dim=(2, 3), keepdim=True) if squeeze is Squeeze.MAX else x.mean(dim=(2, 3), keepdim=True)
    assert torch.allclose(block(x), x * fn(block.fc2(torch.relu(block.fc1(z)))), atol=1e-6)
    tokens = TokenSE(8, spec=BlockSpec(r=2, gate=gate, squeeze=squeeze))
    t = torch.randn(2, 6, 8)
    zt = t.amax(dim=1, keepdim=True) if squeeze is Squeeze.MAX else t.mean(dim=1, keepdim=True)
    assert torch.allclose(tokens(t), t * fn(tokens.fc2(torch.relu(tokens.fc1(zt)))), atol=1e-6)


def test_token_blocks_keep_the_spatial_parameters():
    for kind in BlockKind:
        spec = BlockSpec(kind)
        layout = "nhwc" if kind.entry.needs_grid else "tokens"  # tokens without a grid: tests/test_block_kinds.py
        assert num_params(make_block(spec, 64, layout)) == num_params(make_block(spec, 64)) == spec.params(64)
    gate = TokenSSE(4)
    x = torch.randn(1, 3, 4)
    assert torch.allclose(gate(x), x * torch.sigmoid(gate.fc(x)))


def test_analytic_work_of_one_scse_block():
    w = BlockSpec("scse", bias=False).work(256, 56, 56)
    pixels = 256 * 56 * 56
    assert (w.pool_ops, w.fc_macs, w.spatial_macs, w.bias_adds, w.gates, w.scale_muls, w.combine_ops) == (
        pixels, 2 * 256 * 16, pixels, 0, 256 + 56 * 56, 2 * pixels, pixels)
    assert BlockSpec("scse").paper_params(256) == 2 * 256 * 256 / 16 + 256


def test_generic_rule_takes_pre_and_refuses_identity():
    model = build_residual()
    pre = inject(model, block=BlockSpec(position="pre"), input_shape=(3, 32, 32))
    sites = find_sites(model, (3, 32, 32), position="pre").sites
    assert [s.channels for s in sites] == [16, 16, 16, 32] and all(s.feed == "input" for s in sites)
    assert num_params(pre) - num_params(model) == analytic(sites, BlockSpec())[1]
    with pytest.raises(OptionError, match="SE-Identity needs a block seprof has a rule for"):
        find_sites(model, (3, 32, 32), position="identity")


def test_positions_other_than_standard_are_refused_outside_residual_units():
    for name in ("vgg11", "mobilenet_v2", "densenet121"):
        with pytest.raises(OptionError, match="has no place in "):
            find_sites(seprof.build_model(name, "meta"), (3, 224, 224), position="post")


# Real models, built once; the property test changes nothing in them.
_SAMPLE = {
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), (3, 32, 32), True),
    "tiny resnext": (lambda: torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 2, 1, 1],
                                                              num_classes=10, groups=4, width_per_group=8), (3, 32, 32),
                     True),
    "regnet_x_400mf": (lambda: torchvision.models.regnet_x_400mf(num_classes=10), (3, 32, 32), True),
    "generic residual": (build_residual, (3, 32, 32), True),
    "shufflenet_v2_x0_5": (lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10), (3, 64, 64), False),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(num_classes=10), (3, 64, 64), False),
    "tiny vit": (lambda: torchvision.models.VisionTransformer(32, 8, 2, 2, 32, 64, num_classes=10), (3, 32, 32),
                 False),
}
_BUILT: dict = {}


def _model(name):
    if name not in _BUILT:
        torch.manual_seed(0)
        factory, shape, residual = _SAMPLE[name]
        _BUILT[name] = (factory().eval(), shape, residual)
    return _BUILT[name]


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(_SAMPLE)), kind=st.sampled_from(list(BlockKind)),
       position=st.sampled_from(list(Position)), r=st.sampled_from([1, 2, 4, 16, 64]),
       divisor=st.sampled_from([None, 1, 8]), bias=st.booleans(), squeeze=st.sampled_from(list(Squeeze)),
       gate=st.sampled_from(list(Gate)), combine=st.sampled_from(list(Combine)), data=st.data())
def test_any_block_anywhere_counts_exactly_keeps_shapes_and_strips_back(name, kind, position, r, divisor, bias,
                                                                        squeeze, gate, combine, data):
    model, shape, residual = _model(name)
    channel, own = kind.channel, kind.seprof  # timm's kinds take none of seprof's knobs
    spec = BlockSpec(kind, r if channel else 16, bias or not own, squeeze if channel else "avg",
                     gate if own else "sigmoid", divisor if channel else None,
                     combine if kind is BlockKind.SCSE else "add", position)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if position is not Position.STANDARD and (not residual or (name == "generic residual" and position in (
            Position.POST, Position.IDENTITY))):
        with pytest.raises(OptionError):  # no meaning here, or (generic rule) no module to put it on
            inject(model, block=spec, input_shape=shape)
        return
    stage_map = find_sites(model, shape, position=position)
    stages = sorted(data.draw(st.sets(st.sampled_from(stage_map.stage_numbers), min_size=1)))
    sites = stage_map.select(stages)
    if kind.entry.needs_grid and any(s.layout == "tokens" for s in sites):
        with pytest.raises(OptionError, match="gates positions on an H×W grid"):
            inject(model, stages=stages, block=spec, input_shape=shape)
        return
    if channel and divisor is None and r > min(s.channels for s in sites):
        with pytest.raises(OptionError, match="is larger than the"):
            inject(model, stages=stages, block=spec, input_shape=shape)
        return
    se = inject(model, stages=stages, block=spec, input_shape=shape)
    assert num_params(se) - num_params(model) == analytic(sites, spec)[1]
    assert len(se_modules(se)) == len(sites)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        assert se.eval()(x).shape == model(x).shape
    back = strip(se)
    assert list(back.state_dict()) == list(before)
    assert all(torch.equal(v, before[k]) for k, v in back.state_dict().items())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the caller's model untouched
    assert not se_modules(model) and not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_inject_keeps_every_modules_own_mode_and_strip_gives_it_back():
    model = torchvision.models.resnet18(num_classes=10).train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()  # frozen BN in a model that trains
    modes = {name: m.training for name, m in model.named_modules()}
    for position in Position:
        se = inject(model, block=BlockSpec(position=position), input_shape=(3, 32, 32))
        for _, m in se_modules(se):  # a wrapper takes its inner module's mode, the model's where there is none
            assert m.training == m.se.training == (m.inner.training if m.inner is not None else True)
        back = strip(se)
        assert {name: m.training for name, m in back.named_modules()} == modes, position
    regnet = torchvision.models.regnet_x_400mf(num_classes=10).train()
    for m in regnet.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    se = inject(regnet, input_shape=(3, 32, 32))
    assert not any(m.training for m in se.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_api_misuse_is_one_clear_error():
    from seprof.measure import profile, sweep

    with pytest.raises(OptionError, match="timing=None and runs= both say how to time"):
        profile("resnet18", timing=None, runs=2)
    with pytest.raises(OptionError, match="stages=\\[\\] selects no stage"):
        profile("resnet18", stages=[], timing=None, counters=("torch",))
    with pytest.raises(TypeError, match="takes no save= since seprof 0.5: save the model seprof.inject returns"):
        profile("resnet18", latency=False, save="x.pt")
    with pytest.raises(OptionError, match="blocks=\\[\\] is empty"):
        sweep("resnet18", [], timing=None)
    with pytest.raises(OptionError, match="stage_sets=2 is not a stage set"):
        sweep("resnet18", stage_sets=[2, 3], timing=None)
    with pytest.raises(OptionError, match="stage_sets=\\[\\] is not a stage set"):
        sweep("resnet18", stage_sets=[[]], timing=None)
    with pytest.raises(OptionError, match="stage_sets='2' is asked for twice"):
        sweep("resnet18", stage_sets=["each", [2]], timing=None)
    with pytest.raises(TypeError, match="give r=8 by name"):
        seprof.surgery.inject_sites(torchvision.models.resnet18(), [], 8)
    with pytest.raises(OptionError, match="has the unknown setting 'speed'"):
        BlockSpec.from_dict({"block": "se", "speed": 3})
