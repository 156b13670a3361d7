"""timm's attention kinds as seprof's blocks: every kind on one model per layout (maps, token grids, tokens,
video) at every position, exact count == measured; the knobs from the API and the command line; one-line
refusals; and the issue's must-show sweep over resnet50's 16 bottleneck outputs."""

import csv

import pytest
import torch
import torchvision
from typer.testing import CliRunner

pytest.importorskip("timm")

import seprof  # noqa: E402
from seprof.blocks import ChannelsFirst, make_block  # noqa: E402
from seprof.cli import app  # noqa: E402
from seprof.errors import OptionError  # noqa: E402
from seprof.kinds import KIND_NAMES, SEPROF_KINDS  # noqa: E402
from seprof.measure import analytic, num_params  # noqa: E402
from seprof.spec import BlockKind, BlockSpec, Position  # noqa: E402
from seprof.stages import find_sites  # noqa: E402
from seprof.surgery import inject, inject_sites, se_modules, strip  # noqa: E402

TIMM_KINDS = [k for k in KIND_NAMES if k not in SEPROF_KINDS]
GRID_KINDS = ["cbam", "lcbam", "coord", "scoord", "ela", "strip"]
runner = CliRunner()


def test_the_table_names_every_block_and_which_need_a_grid():
    assert [str(k) for k in BlockKind] == ["se", "cse", *KIND_NAMES[1:]]
    assert len(TIMM_KINDS) == 13 and len(KIND_NAMES) == 16
    assert [k for k in KIND_NAMES if BlockKind(k).entry.needs_grid] == GRID_KINDS


# one model per layout, on the meta device: (builder, input, layout the sites have, video)
LAYOUTS = {
    "map": (lambda: torchvision.models.resnet18(), (3, 224, 224), "nchw", False),
    "token grid": (lambda: torchvision.models.swin_t(), (3, 224, 224), "nhwc", False),
    "tokens": (lambda: torchvision.models.vit_b_16(), (3, 224, 224), "tokens", False),
    "video": (lambda: torchvision.models.video.r3d_18(), (3, 8, 112, 112), "nchw", True),
    "video grid": (lambda: torchvision.models.video.swin3d_t(), (3, 8, 112, 112), "nhwc", True),
}


@pytest.fixture(scope="module")
def meta_models():
    with torch.device("meta"):
        return {name: (build(), shape, layout, video) for name, (build, shape, layout, video) in LAYOUTS.items()}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("kind", TIMM_KINDS)
def test_every_kind_on_every_layout_counts_exactly_on_the_meta_device(meta_models, kind, layout):
    model, shape, expected_layout, video = meta_models[layout]
    stage_map = find_sites(model, shape)
    assert {s.layout for s in stage_map.sites} == {expected_layout}
    assert all((s.frames is not None) == video for s in stage_map.sites)
    spec = BlockSpec(kind)
    if layout == "tokens" and kind in GRID_KINDS:
        with pytest.raises(OptionError, match=r"gates positions on an H×W grid, .* tokens without one; on tokens "
                                              r"use se, sse, scse, ese, eca, ecam, ceca, ge, gc, gca$"):
            inject_sites(model, stage_map.sites, spec, share=True)
        return
    se = inject_sites(model, stage_map.sites, spec, share=True)
    assert num_params(se) - num_params(model) == analytic(stage_map.sites, spec)[1]
    assert analytic(stage_map.sites, spec)[1] == sum(spec.params(s.channels) for s in stage_map.sites)
    blocks = [m.se for _, m in se_modules(se)]
    assert len(blocks) == len(stage_map.sites)
    assert all(isinstance(b, ChannelsFirst) == (layout != "map") for b in blocks)
    assert all(b.per_frame == (video and kind in GRID_KINDS) for b in blocks if isinstance(b, ChannelsFirst))
    x = torch.empty(1, *shape, device="meta")
    assert se(x).shape == model(x).shape


def test_channels_first_runs_tokens_as_one_map_and_video_whole_or_by_frame():
    torch.manual_seed(0)
    tokens = torch.randn(2, 10, 32)
    eca = make_block(BlockSpec("eca"), 32, "tokens")
    direct = eca.attn(tokens.transpose(1, 2).unsqueeze(2)).squeeze(2).transpose(1, 2)  # N×C×1×L by hand
    assert torch.allclose(eca(tokens), direct)
    clip = torch.randn(2, 32, 3, 6, 5)  # N×C×T×H×W
    gc = make_block(BlockSpec("gc"), 32, "nchw", video=True)
    assert not gc.per_frame
    assert torch.allclose(gc(clip), gc.attn(clip.reshape(2, 32, 18, 5)).reshape(clip.shape), atol=1e-6)
    cbam = make_block(BlockSpec("cbam"), 32, "nchw", video=True).eval()
    assert cbam.per_frame
    frames = torch.stack([cbam.attn(clip[:, :, t]) for t in range(3)], dim=2)
    assert torch.allclose(cbam(clip), frames, atol=1e-6)
    grid = torch.randn(2, 6, 5, 32)  # Swin's N×H×W×C
    coord = make_block(BlockSpec("coord"), 32, "nhwc").eval()
    assert torch.allclose(coord(grid), coord.attn(grid.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), atol=1e-6)


@pytest.fixture(scope="module")
def small_resnet():
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval()


@pytest.mark.parametrize("position", list(Position))
@pytest.mark.parametrize("kind", TIMM_KINDS)
def test_every_kind_at_every_position_counts_runs_and_strips_back(small_resnet, kind, position):
    model = small_resnet
    before = {k: v.clone() for k, v in model.state_dict().items()}
    spec = BlockSpec(kind, position=position)
    sites = find_sites(model, (3, 32, 32), position=position).sites
    se = inject(model, block=spec, input_shape=(3, 32, 32))
    assert num_params(se) - num_params(model) == analytic(sites, spec)[1]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert se.eval()(x).shape == model(x).shape
    back = strip(se)
    assert list(back.state_dict()) == list(before)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_knobs_change_the_block_and_its_count():
    spec = BlockSpec("cbam", knobs={"spatial_kernel_size": 3, "rd_ratio": 1 / 8})
    assert spec.knobs == (("rd_ratio", 0.125), ("spatial_kernel_size", 3))
    # CBAM on 2048 channels, d = 2048 / 8 = 256: 2·C·d MLP weights (no biases by default), a 2-input 3×3 conv
    # without a bias and a BatchNorm on its one map (weight and bias)
    assert spec.params(2048) == 2 * 2048 * 256 + 2 * 9 + 2
    assert num_params(make_block(spec, 2048)) == spec.params(2048)
    assert spec.label == "CBAM (rd_ratio=0.125, spatial_kernel_size=3)"
    assert BlockSpec.from_dict(spec.as_dict()) == spec
    assert BlockSpec("cbam", knobs={"spatial_kernel_size": 7}) == BlockSpec("cbam")  # the default: one block
    eca = BlockSpec("eca", knobs={"kernel_size": 9})  # a fixed kernel instead of γ and β's
    assert eca.params(2048) == 9 == num_params(make_block(eca, 2048))
    assert BlockSpec("eca").params(2048) == 7  # ⌊|log₂2048 + 1| / 2⌋ = 6, the odd number above: 7
    gca = BlockSpec("gc", knobs={"fuse_add": True, "fuse_scale": False})  # gca's own build: that kind, one spec
    assert gca == BlockSpec("gca") and gca.label == "GC-add" and gca.knobs == ()
    assert BlockSpec("gca", knobs={"fuse_add": False, "fuse_scale": True}) == BlockSpec("gc")
    assert BlockSpec("gca", knobs={"fuse_scale": True}).label == "GC (fuse_add=true)"
    assert gca.params(256) == num_params(make_block(gca, 256))
    assert BlockSpec("eca", knobs={"gamma": 1.5, "beta": 0}).params(2048) == 7  # ⌊|11 + 0| / 1.5⌋ = 7, odd
    assert BlockSpec("eca", knobs={"gamma": 1, "beta": 3}).params(2048) == 15  # ⌊14 / 1⌋ = 14 → the odd 15


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "cbam", "r": 8}, r"r=8 applies to seprof's se, sse and scse, not to block='cbam': cbam's own knobs"),
    ({"kind": "eca", "bias": False}, r"bias=False applies to seprof's se, sse and scse, not to block='eca'"),
    ({"kind": "gc", "gate": "tanh"}, r"gate='tanh' applies to seprof's"),
    ({"kind": "se", "knobs": {"rd_ratio": 0.5}}, r"knobs='rd_ratio=0.5' applies to timm's kinds; block='se' "
     r"takes seprof's own \(r, bias, divisor\)"),
    ({"kind": "cbam", "knobs": {"gamma": 2}}, r"knobs='gamma=2' is not a knob of cbam \(its knobs: rd_ratio"),
    ({"kind": "cbam", "knobs": {"spatial_kernel_size": 0}}, r"is not an odd kernel size \(cbam's default: 7\)"),
    ({"kind": "coord", "knobs": {"has_skip": 1}}, r"knobs='has_skip=1' is not true or false"),
    ({"kind": "cbam", "knobs": {"rd_ratio": -1.0}}, r"knobs='rd_ratio=-1' is not above 0"),
    ({"kind": "ge", "knobs": {"use_mlp": True}}, r"is not a knob of ge: timm 1.0.31's GatherExcite cannot build"),
    ({"kind": "eca", "knobs": {"act_layer": "relu"}}, r"is not a knob of eca: it belongs to ECA's MLP variant"),
    ({"kind": "gc", "knobs": {"fuse_add": 1}}, r"knobs='fuse_add=1' is not true or false"),
    ({"kind": "eca", "knobs": {"kernel_size": 4}}, r"is not an odd kernel size"),
    ({"kind": "ecam", "knobs": {"kernel_size": 5}}, r"is not a knob of ecam: its MLP needs C"),
    ({"kind": "cbam", "knobs": [1, 2]}, r"knobs=\[1, 2\] is invalid: give a mapping"),
])
def test_a_knob_a_kind_does_not_take_is_one_error(kwargs, match):
    with pytest.raises(OptionError, match=match):
        BlockSpec(**kwargs)


def _run(*args):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("args, message", [
    (["--block", "cbam", "--r", "8"], "--r 8 applies to seprof's se, sse and scse, not to --block cbam: cbam's own "
     "knobs are listed by seprof blocks and given as --knob NAME=VALUE"),
    (["--block", "cbam", "--knob", "spatial_kernel_size"], "--knob 'spatial_kernel_size' is not NAME=VALUE"),
    (["--block", "cbam", "--knob", "spatial_kernel_size=3,5"], "gives several values, which only seprof sweep takes"),
    (["--block", "cbam", "--knob", "x=1", "--knob", "x=2"], "gives x twice"),
    (["--block", "cbam", "--knob", "kernel=3"], "--knob 'kernel=3' is not a knob of cbam (its knobs: rd_ratio"),
    (["--block", "se", "--knob", "rd_ratio=1/8"], "applies to timm's kinds; --block se takes seprof's own"),
    (["--block", "cbam", "--knob", "rd_ratio=0"], "--knob 'rd_ratio=0' is not above 0"),
    (["--block", "cbamx"], "--block 'cbamx' is not one of se, cse, sse, scse, ese, eca"),
])
def test_bad_knobs_on_the_command_line_are_one_line_and_exit_2(args, message):
    result = _run("inject", "resnet18", *args, "--no-latency")
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_grid_kinds_on_vit_tokens_are_refused_naming_the_kinds_that_run_there():
    result = _run("inject", "vit_b_16", "--block", "coord", "--no-latency")
    assert result.exit_code == 2
    assert "--block coord gates positions on an H×W grid, and stage 4's features are 197 tokens without one; " \
           "on tokens use se, sse, scse, ese, eca, ecam, ceca, ge, gc, gca" in result.output


def test_sweep_sweeps_a_knob_over_the_kinds_that_have_it():
    from seprof.arguments import SweepBlocks, sweep_specs

    options = SweepBlocks(block=["se,cbam,lcbam"], knobs=["spatial_kernel_size=3,7"])
    specs = sweep_specs(options)
    assert [s.label for s in specs] == ["SE (r=16)", "CBAM (spatial_kernel_size=3)", "CBAM", "light CBAM "
                                        "(spatial_kernel_size=3)", "light CBAM"]
    eca = sweep_specs(SweepBlocks(block=["eca,ecam"], knobs=["kernel_size=3,5"]))  # ecam's kernel follows γ, β
    assert [s.label for s in eca] == ["ECA (kernel_size=3)", "ECA (kernel_size=5)", "ECA-MLP"]
    with pytest.raises(OptionError, match="is a knob of none of the blocks swept"):
        sweep_specs(SweepBlocks(block=["se,eca"], knobs=["spatial_kernel_size=3"]))
    with pytest.raises(OptionError, match="applies to none of the blocks swept"):
        sweep_specs(SweepBlocks(block=["eca,cbam"], r=["8"]))


def test_the_issues_sweep_adds_exactly_each_kinds_formula(tmp_path):
    """seprof sweep resnet50 --block se,eca,ceca,ese,gc,ge,cbam,lcbam,coord,sse,scse --no-latency --csv s.csv"""
    out = tmp_path / "s.csv"
    kinds = "se,eca,ceca,ese,gc,ge,cbam,lcbam,coord,sse,scse"
    result = _run("sweep", "resnet50", "--block", kinds, "--no-latency", "--csv", str(out))
    assert result.exit_code == 0, result.output
    rows = [r for r in csv.DictReader(out.open()) if r["config"] != "base"]
    assert [r["block"] for r in rows] == kinds.split(",")
    for row in rows:
        assert int(row["params_added"]) == int(row["analytic_exact"]), row["block"]
    added = {r["block"]: int(r["params_added"]) for r in rows}
    # timm's modules at their defaults on resnet50's 16 bottleneck outputs (ge: GE-θ⁻, parameter-free)
    assert added == {"se": 2_514_944 + 16_048, "eca": 86, "ceca": 86, "ese": 20_134_656, "gc": 5_065_776, "ge": 0,
                     "cbam": 2_516_544, "lcbam": 2_515_760, "coord": 2_526_432, "sse": 15_120,
                     "scse": 2_514_944 + 16_048 + 15_120}
    assert all(int(r["macs_analytic"]) >= 0 for r in rows)


def test_the_api_takes_a_kind_and_its_knobs():
    report = seprof.profile("resnet18", block=BlockSpec("cbam", knobs={"spatial_kernel_size": 3}), timing=None,
                            counters=("torch",))
    se = report.config("se")
    assert se.params_added == se.analytic_exact
    assert report.config_rows()[1]["knobs"] == "spatial_kernel_size=3"


def test_a_timm_kind_saves_and_loads_with_its_knobs(tmp_path):
    path = tmp_path / "cbam.pt"
    result = _run("inject", "resnet18", "--block", "cbam", "--knob", "spatial_kernel_size=3", "--stages", "4,5",
                  "--input", "3x64x64", "--no-latency", "--save", str(path))
    assert result.exit_code == 0, result.output
    saved = torch.load(path, weights_only=True)
    model = seprof.load(path)
    assert model.state_dict().keys() == saved["state_dict"].keys()
    assert all(torch.equal(v, saved["state_dict"][k]) for k, v in model.state_dict().items())
    blocks = [m.se for _, m in se_modules(model)]
    assert len(blocks) == 4 and all(b.spatial.conv.conv.kernel_size == (3, 3) for b in blocks)
