"""The table of attention kinds: each kind's parameters as closed-form arithmetic, checked against values computed
by hand at two channel counts, then against the modules timm builds, and summed over resnet50's 16 bottleneck
outputs to the counts of timm's own modules there."""

import importlib.util
import inspect

import pytest
import torch

from seprof.kinds import KIND_NAMES, KINDS, divisible, eca_taps, kind

needs_timm = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="timm is not installed")

# Each value written out from the kind's formula, by hand:
HAND = {
    # seprof's SE, r=16: h = C//16; 2·C·h + h + C
    "se": (2 * 64 * 4 + 4 + 64, 2 * 2048 * 128 + 128 + 2048),  # 580, 526,464
    "sse": (64 + 1, 2048 + 1),
    "scse": (580 + 65, 526_464 + 2049),
    "ese": (64 * 64 + 64, 2048 * 2048 + 2048),
    # k = ⌊(log₂C + 1)/2⌋ made odd, at least 3: C=64 → ⌊3.5⌋ = 3; C=2048 → 6 → 7
    "eca": (3, 7),
    # d = 64/8 = 8 and 2048/8 = 256 (multiples of 8 already); 2d + d·k + 1
    "ecam": (2 * 8 + 8 * 3 + 1, 2 * 256 + 256 * 7 + 1),  # 41, 2,305
    "ceca": (3, 7),
    "ge": (0, 0),
    # d = C/8: 8, 256; conv_attn C + 1, ConvMlp C·d + d, LayerNorm 2d, d·C + C
    "gc": (65 + 512 + 8 + 16 + 512 + 64, 2049 + 524_288 + 256 + 512 + 524_288 + 2048),  # 1,177, 1,053,441
    "gca": (1177, 1_053_441),
    # d = C/16: 4, 128; two FCs without bias, a 7×7 conv on 2 maps and a BatchNorm on 1
    "cbam": (2 * 64 * 4 + 98 + 2, 2 * 2048 * 128 + 98 + 2),  # 612, 524,388
    "lcbam": (2 * 64 * 4 + 49 + 2, 2 * 2048 * 128 + 49 + 2),  # 563, 524,339
    # d = C·(2/3)/16 to a multiple of 8: 2.67 → 8, 85.3 → 88; conv1 C·d, BN 2d, conv_h and conv_w d·C
    "coord": (3 * 64 * 8 + 16, 3 * 2048 * 88 + 176),  # 1,552, 540,848
    # d = C·(2/3)/4 to a multiple of 8: 10.7 → 8, 341.3 → 344; three Linears with biases
    "scoord": (3 * 64 * 8 + 8 + 128, 3 * 2048 * 344 + 344 + 4096),  # 1,672, 2,117,976
    # two depthwise 7-tap convs, two one-group GroupNorms
    "ela": (2 * 64 * 7 + 4 * 64, 2 * 2048 * 7 + 4 * 2048),  # 1,152, 36,864
    "strip": (2 * 64 * 3, 2 * 2048 * 3),  # 384, 12,288
}

# What timm's modules hold at resnet50's 16 bottleneck outputs (3×256, 4×512, 6×1024, 3×2048)
RESNET50 = {"se": 2_530_992, "ese": 20_134_656, "eca": 86, "ceca": 86, "ecam": 14_768, "cbam": 2_516_544,
            "lcbam": 2_515_760, "gc": 5_065_776, "gca": 5_065_776, "coord": 2_526_432}
RESNET50_CHANNELS = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3


def test_the_table_holds_sixteen_kinds_each_once():
    assert len(KIND_NAMES) == len(set(KIND_NAMES)) == 16 and set(HAND) == set(KIND_NAMES)
    assert kind("cse") is kind("se")
    with pytest.raises(KeyError):
        kind("nope")


@pytest.mark.parametrize("name", KIND_NAMES)
def test_each_formula_gives_the_hand_computed_count_at_two_channel_counts(name):
    assert (kind(name).count(64), kind(name).count(2048)) == HAND[name]


@pytest.mark.parametrize("name, total", RESNET50.items())
def test_the_formulas_summed_over_resnet50_give_timms_counts(name, total):
    assert sum(kind(name).count(c) for c in RESNET50_CHANNELS) == total


@needs_timm
@pytest.mark.parametrize("name", [k.name for k in KINDS if k.needs_timm])
@pytest.mark.parametrize("channels", [64, 2048, 200])
def test_each_formula_equals_the_module_timm_builds(name, channels):
    from timm.layers import create_attn

    entry = kind(name)
    with torch.device("meta"):
        module = create_attn(name, channels, **entry.defaults)
    assert type(module).__name__ == entry.timm_class
    assert entry.count(channels) == sum(p.numel() for p in module.parameters())


@needs_timm
@pytest.mark.parametrize("name, knobs", [
    ("cbam", {"spatial_kernel_size": 3, "mlp_bias": True, "rd_ratio": 0.25}),
    ("gc", {"fuse_add": True, "use_attn": False, "rd_divisor": 8}),
    ("coord", {"bias": True, "se_factor": 1.0}),
    ("ecam", {"gamma": 1, "beta": 2}),
    ("ceca", {"act_layer": torch.nn.ReLU}),
    ("ela", {"kernel_size": 5, "bias": True}),
    ("strip", {"use_conv": False}),
    ("scoord", {"rd_channels": 24}),
    ("scoord", {"bias": False}),
    ("gc", {"fuse_add": True, "fuse_scale": True}),
    ("ecam", {}),  # at C=88, d = 11 → 8 lost over 10%: 16
    ("cbam", {"rd_channels": 5}),
])
@pytest.mark.parametrize("channels", [96, 88])
def test_knobs_change_the_formula_as_they_change_the_module(name, knobs, channels):
    from timm.layers import create_attn

    with torch.device("meta"):
        module = create_attn(name, channels, **{**kind(name).defaults, **knobs})
    assert kind(name).count(channels, **knobs) == sum(p.numel() for p in module.parameters())


def test_ecas_mlp_width_takes_one_more_multiple_where_rounding_lost_over_ten_percent():
    assert kind("ecam").count(88) == 2 * 16 + 16 * 3 + 1  # d = 11 rounds to 8, under 90% of 11: 16; k = 3


def test_a_width_below_one_is_refused():
    with pytest.raises(ValueError, match="rd_channels 0 is not a width"):
        kind("gc").count(64, rd_channels=0)


@needs_timm
def test_timms_kinds_take_their_knobs_defaults_from_timms_signatures():
    from timm.layers.cbam import CbamModule
    from timm.layers.eca import EcaModule

    assert kind("cbam").shown_knobs == {name: inspect.signature(CbamModule).parameters[name].default
                                        for name in kind("cbam").uses}
    assert kind("ecam").knobs["use_mlp"] is True and inspect.signature(EcaModule).parameters["use_mlp"].default is False
    assert kind("ge").knobs["use_mlp"] is False  # seprof's default: timm 1.0.31 cannot build GE's MLP


def test_seprofs_own_kinds_take_their_knobs_from_blockspec():
    assert kind("se").shown_knobs == {"r": 16, "divisor": None, "bias": True}
    assert kind("sse").shown_knobs == {"bias": True}
    assert kind("se").count(2048, r=8) == 2 * 2048 * 256 + 256 + 2048
    assert kind("se").count(72, divisor=8) == 2 * 72 * 8 + 8 + 72  # 72/16 = 4.5, to a multiple of 8


def test_an_unknown_knob_is_refused_naming_the_kinds_knobs():
    with pytest.raises(TypeError, match=r"^sse has no knob 'r'; its knobs: bias \(layers given as classes are not "):
        kind("sse").count(64, r=4)


def test_the_rounding_and_ecas_kernel_rule():
    assert [divisible(v, 8) for v in (2.67, 10.67, 85.33, 341.33)] == [8, 8, 88, 344]
    assert divisible(20, 8, round_limit=0.9) == 24 and divisible(19, 16, round_limit=0.9) == 32
    assert [eca_taps(c, 2, 1) for c in (16, 64, 256, 512, 1024, 2048)] == [3, 3, 5, 5, 5, 7]


@needs_timm
def test_seprof_blocks_lists_the_kinds_with_their_formulas_and_resnet50_counts():
    from typer.testing import CliRunner

    from seprof.cli import app

    result = CliRunner().invoke(app, ["blocks"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Attention kinds: 16\n")
    rows = {line.split("│")[1].strip(): line.split("│")[-2].strip() for line in result.output.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert rows == {"se": "2,530,992", "sse": "15,120", "scse": "2,546,112", "ese": "20,134,656", "eca": "86",
                    "ecam": "14,768", "ceca": "86", "ge": "0", "gc": "5,065,776", "gca": "5,065,776",
                    "cbam": "2,516,544", "lcbam": "2,515,760", "coord": "2,526,432", "scoord": "10,102,736",
                    "ela": "271,872", "strip": "90,624"}
    words = " ".join(result.output.split())
    assert "C² + C" in result.output
    assert "seprof adds each kind with --block (timm's with their knobs as --knob NAME=VALUE)" in words


def test_without_timm_seprof_blocks_shows_its_own_kinds_and_says_what_timms_need(monkeypatch):
    import sys

    from typer.testing import CliRunner

    from seprof import kinds
    from seprof.cli import app

    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError, as where it is not installed
    kinds._signature_defaults.cache_clear()
    try:
        result = CliRunner().invoke(app, ["blocks"], env={"COLUMNS": "200"})
    finally:
        kinds._signature_defaults.cache_clear()
    assert result.exit_code == 0, result.output
    assert "2,530,992" in result.output and result.output.count("needs timm") == 13
    assert 'their defaults are read from timm 1.0.23 or later (pip install "seprof[timm]")' in " ".join(
        result.output.split())


@needs_timm
def test_a_timm_without_a_kinds_class_is_named_with_the_release_that_has_it():
    from seprof.kinds import TIMM_FLOOR, _signature_defaults

    with pytest.raises(ImportError, match=r"^timm 1\.\d+\.\d+ has no NoSuchAttn: seprof's attention kinds need timm "
                       + TIMM_FLOOR.replace(".", r"\.") + " or later$"):
        _signature_defaults("NoSuchAttn")


def test_the_timm_floor_is_pyprojects():
    import re
    from pathlib import Path

    from seprof.kinds import TIMM_FLOOR

    floors = set(re.findall(r'"timm>=([0-9.]+),<2"', (Path(__file__).parent.parent / "pyproject.toml").read_text()))
    assert floors == {TIMM_FLOOR}


_BUILT = [(name, channels, knobs) for name, knobs in [
    ("ese", {}), ("eca", {}), ("eca", {"beta": 3}), ("ecam", {}), ("ceca", {}), ("ceca", {"act_layer": torch.nn.ReLU}),
    ("ge", {"use_mlp": False}), ("gc", {}), ("gc", {"fuse_add": True, "fuse_scale": True}), ("gc", {"use_attn": False}),
    ("gca", {}), ("cbam", {}), ("cbam", {"mlp_bias": True, "spatial_kernel_size": 3}), ("lcbam", {}), ("coord", {}),
    ("coord", {"bias": True}), ("scoord", {}), ("ela", {}), ("ela", {"bias": True, "kernel_size": 5}), ("strip", {}),
    ("strip", {"use_conv": False})] for channels in (88, 2048)]


@needs_timm
@pytest.mark.parametrize("name, channels, knobs", _BUILT)
def test_a_built_module_is_read_back_to_its_kind_and_its_formula_gives_its_count(name, channels, knobs):
    from timm.layers import create_attn

    from seprof.kinds import kind_of

    with torch.device("meta"):
        module = create_attn(name, channels, **{**kind(name).defaults, **knobs})
    found, params = kind_of(module)
    assert found.name == name and params == sum(p.numel() for p in module.parameters())


def test_a_module_named_as_timms_but_built_otherwise_is_not_read():
    from torch import nn

    from seprof.kinds import kind_of

    class GlobalContext(nn.Module):  # a model's own class of the same name
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv2d(8, 8, 1)

    assert kind_of(GlobalContext()) is None


@needs_timm
def test_a_subclass_of_a_timm_kind_is_read_as_its_base_and_a_weightless_norm_is_counted():
    from timm.layers.coord_attn import CoordAttn
    from timm.layers.global_context import GlobalContext

    from seprof.kinds import kind_of
    from seprof.native import own_attention

    class MyContext(GlobalContext):
        pass

    with torch.device("meta"):
        mine = MyContext(64)
        weightless = CoordAttn(64, norm_layer=lambda c, **kw: torch.nn.BatchNorm2d(c, affine=False, **kw))
    found = own_attention(mine)
    assert (found.kind, found.cls, found.exact, found.params) == ("gc", "MyContext", 1177, 1177)
    assert kind_of(weightless) is None and own_attention(weightless).exact is None
