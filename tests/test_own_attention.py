"""Attention a model brings with it and seprof did not write: recognised by class (timm's attention factory,
torchvision's SqueezeExcitation, a user's registered class), listed per stage with counted parameters, and never
entered: no seprof block goes inside one, nor inside a transformer's self-attention layer."""

import ast
import importlib.util
import inspect
import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import seprof
from seprof import native
from seprof.cli import app
from seprof.errors import OptionError
from seprof.measure import open_model
from seprof.native import TIMM_KINDS, own_attention, register_attention
from seprof.stages import find_sites

runner = CliRunner()


def _counted(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- a user's model: residual units whose branch holds a gate, and one unit with a self-attention layer


class ChannelGate(nn.Module):
    """x · sigmoid(conv1x1(mean(x))): the user's own channel attention (its 1×1 conv is a residual sum's operand
    inside it, the place a generic rule would otherwise pick)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        context = self.bn(self.fc(x.mean((2, 3), keepdim=True)))
        return x * torch.sigmoid(context + context.mean())  # an addition of two computed tensors, inside


class Unit(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.gate = ChannelGate(channels)

    def forward(self, x):
        return x + self.gate(self.bn(self.conv(x)))


class TinyAttention(nn.Module):
    """A token self-attention layer whose output projection ends a residual branch inside it."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=1)
        mixed = self.proj(v * torch.sigmoid(q * k))
        return self.norm(mixed + v)  # a residual sum inside the attention layer


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.units = nn.Sequential(Unit(16), Unit(16))
        self.attn = TinyAttention(16)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        x = self.units(self.stem(x))
        x = x + self.attn(x)
        return self.head(x)


@pytest.fixture
def gate_registered():
    register_attention(ChannelGate, "gate")
    yield
    native._REGISTERED.pop(ChannelGate, None)


def test_a_registered_class_is_listed_counted_and_never_entered(gate_registered):
    found = find_sites(Net(), (3, 64, 64))
    assert [(s.path, s.attention.kind, s.attention.cls, s.stage) for s in found.attention] == [
        ("units.0.gate", "gate", "ChannelGate", 2), ("units.1.gate", "gate", "ChannelGate", 2)]
    gate = Net().units[0].gate
    assert {s.attention.params for s in found.attention} == {_counted(gate)} == {16 * 16 + 16 + 2 * 16}
    assert found.attention[0].attention.formula is None and not found.native
    # the generic rule walks the branch up from the sum through the gate's scaling, to the unit's BN: SE goes
    # there, before the gate, and never on the gate's 1×1 context inside it
    assert [s.path for s in found.sites] == ["units.0.bn", "units.1.bn"]
    assert not any(s.path.startswith(("units.0.gate.", "units.1.gate.", "attn.")) for s in found.sites)
    rows = found.attention_rows()
    assert [(r.stage, r.kind, r.modules, r.params, r.channels) for r in rows] == [(2, "gate", 2, 2 * 304, (16,))]


def test_without_registration_the_gates_inside_are_what_the_generic_rule_finds():
    found = find_sites(Net(), (3, 64, 64))
    assert not found.attention
    assert {"units.0.gate.bn", "units.1.gate.bn"} <= {s.path for s in found.sites}  # the 1×1 context: stage 6
    assert not any(s.path.startswith("attn.") for s in found.sites)  # a self-attention layer is never entered


def test_a_self_attention_layer_is_not_listed_and_not_entered():
    found = find_sites(Net(), (3, 64, 64))
    assert "attn" not in {s.path for s in found.attention}
    assert not any(s.path.startswith("attn.") for s in found.sites)


class ScaledGate(ChannelGate):
    pass


def test_a_subclass_of_a_registered_class_is_attention_too(gate_registered):
    assert own_attention(ScaledGate(8)).kind == "gate" and own_attention(ScaledGate(8)).cls == "ScaledGate"


class UnitsOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.units = nn.Sequential(Unit(16), Unit(16))

    def forward(self, x):
        return self.units(self.stem(x)).mean((2, 3))


@pytest.fixture
def units_registered():
    register_attention(Unit, "unit")
    yield
    native._REGISTERED.pop(Unit, None)


def test_a_model_with_nowhere_outside_its_own_attention_is_refused_in_one_line(units_registered):
    from seprof.errors import ModelError

    found = find_sites(UnitsOnly(), (3, 64, 64))  # listed, with no site: seprof stages shows them
    assert not found.sites and [(s.path, s.attention.kind) for s in found.attention] == [
        ("units.0", "unit"), ("units.1", "unit")]
    with pytest.raises(ModelError) as caught:
        seprof.profile(UnitsOnly(), timing=None, counters=("torch",))
    assert str(caught.value) == (
        "UnitsOnly has nowhere seprof can put SE outside its own attention (Unit (unit), 2 modules; 'seprof "
        "stages UnitsOnly' lists them), and seprof never places a block inside attention")


@pytest.mark.parametrize("block_type, kind, message", [
    ("ChannelGate", "gate", "'ChannelGate' is not a torch.nn.Module class"),
    (nn.Module, "gate", "would make every module of its kind attention"),
    (nn.Sequential, "gate", "would make every module of its kind attention"),
    (int, "gate", "is not a torch.nn.Module class"),
    (ChannelGate, "", "is not a name"),
    (ChannelGate, "two\nlines", "is not a name"),
    (ChannelGate, 3, "is not a name"),
])
def test_register_attention_refuses_bad_input_in_one_line(block_type, kind, message):
    with pytest.raises(OptionError, match=message) as caught:
        register_attention(block_type, kind)
    assert "\n" not in str(caught.value)
    assert ChannelGate not in native._REGISTERED


def test_register_attention_is_public():
    assert seprof.register_attention is register_attention and seprof.own_attention is own_attention


def test_torchvisions_squeeze_excitation_is_own_attention_with_a_formula():
    from torchvision.ops import SqueezeExcitation

    found = own_attention(SqueezeExcitation(64, 16))
    assert (found.kind, found.cls, found.params) == ("se", "SqueezeExcitation", 64 * 16 + 16 + 16 * 64 + 64)
    assert found.formula is not None and found.formula.params == found.params


def test_seprofs_own_blocks_are_not_the_models_attention():
    from seprof.blocks import SEBlock  # a subclass of torchvision's SqueezeExcitation

    assert own_attention(SEBlock(64, 16)) is None


# --- timm's kinds


timm = pytest.importorskip("timm") if importlib.util.find_spec("timm") else None
needs_timm = pytest.mark.skipif(timm is None, reason="timm is not installed")


def _factory_names() -> set[str]:
    """The names timm's get_attn compares its argument with, read from its source."""
    tree = ast.parse(inspect.getsource(timm.layers.get_attn))
    return {node.comparators[0].value for node in ast.walk(tree) if isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Name) and node.left.id == "attn_type"
            and isinstance(node.comparators[0], ast.Constant) and isinstance(node.comparators[0].value, str)}


@needs_timm
def test_seprof_knows_every_kind_timms_factory_makes():
    assert set(TIMM_KINDS) == _factory_names()


_ARGUMENTS = {"ge": {"extent": 2, "use_mlp": False}, "bottleneck": {"feat_size": (8, 8)}}
_WITH_FORMULA = {"se", "ese", "eca", "ceca"}


@needs_timm
@pytest.mark.parametrize("kind", TIMM_KINDS)
def test_each_timm_kind_is_recognised_by_class_with_its_parameters_counted(kind):
    module = timm.layers.create_attn(kind, 64, **_ARGUMENTS.get(kind, {}))
    found = own_attention(module)
    assert found is not None and found.kind == kind and found.cls == type(module).__name__
    assert found.params == _counted(module)
    assert (found.formula is not None) == (kind in _WITH_FORMULA)
    if found.formula is not None:
        assert found.formula.params == found.params


@needs_timm
def test_gc_resnext_lists_its_global_context_and_places_se_outside_it():
    found = open_model("timm:gcresnext26ts").sites()
    assert len(found.attention) == 8 and {s.attention.label for s in found.attention} == {"GlobalContext (gca)"}
    assert [r.modules for r in found.attention_rows()] == [2, 2, 2, 2]
    assert [r.stage for r in found.attention_rows()] == [2, 3, 4, 5]
    assert all(r.formula for r in found.attention_rows())  # gca's formula, with the widths read off each module
    assert all(s.attention.exact == s.attention.params for s in found.attention)
    model = open_model("timm:gcresnext26ts").meta
    assert sum(s.attention.params for s in found.attention) == sum(
        _counted(m) for m in model.modules() if type(m).__name__ == "GlobalContext") == 178_648
    # 0.6.0 put 8 more on each GC module's 1×1 context vector and called it stage 8 (stride 256)
    assert len(found.sites) == 8 and [s.stage for s in found.sites] == [2, 2, 3, 3, 4, 4, 5, 5]
    inside = [s.path for s in found.attention]
    assert not any(site.path.startswith(path + ".") for site in found.sites for path in inside)


@needs_timm
@pytest.mark.parametrize("name, label, modules, stages", [
    ("timm:resnest14d", "SplitAttn (splat)", 4, [2, 3, 4]),
    ("timm:skresnet18", "SelectiveKernel (sk)", 8, [2, 3, 4, 5]),
    ("timm:halonet26t", "HaloAttn (halo)", 3, [4, 5]),
])
def test_attention_convs_and_self_attention_layers_are_the_models_own(name, label, modules, stages):
    found = open_model(name).sites()
    assert {s.attention.label for s in found.attention} == {label}
    assert len(found.attention) == modules and sorted({s.stage for s in found.attention}) == stages
    assert found.sites and not any(site.path.startswith(s.path + ".") for site in found.sites for s in found.attention)
    assert not any(r.formula for r in found.attention_rows())  # no formula for these: counted


@needs_timm
def test_stages_lists_the_models_own_attention_with_counted_parameters():
    result = runner.invoke(app, ["stages", "timm:gcresnext26ts"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Its own attention: 8 modules" in result.output
    assert "GlobalContext (gca)" in result.output and "178,648" in result.output
    assert "Where seprof adds SE: 8 blocks" in result.output


@needs_timm
def test_a_report_names_the_models_own_attention_and_exports_it(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["inject", "timm:gcresnext26ts", "--no-latency", "--details", "--json", str(out)],
                           env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert ("Its own attention, neither entered nor measured: 8 GlobalContext (gca) in stages 2–5, 178,648 parameters "
            "by its formula. 'seprof stages timm:gcresnext26ts' lists it by stage.") in " ".join(result.output.split())
    assert "Its own attention: 8 modules" in result.output  # --details: by stage
    rows = json.loads(out.read_text())["own_attention"]
    assert [(r["stage"], r["kind"], r["cls"], r["modules"]) for r in rows] == [
        (s, "gca", "GlobalContext", 2) for s in (2, 3, 4, 5)]
    assert sum(r["params"] for r in rows) == 178_648
