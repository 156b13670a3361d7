"""A model's own attention that is an add-on to its block (x·gate or x + f(x)) is strippable: ``seprof.strip``
replaces it with nn.Identity, and ``profile(own_attention=True)`` / ``compare --own-attention`` measures the table's
kinds of it against the model without it, by their formulas. The attention convs (SK, SplitAttn) and the
self-attention layers are their blocks' convs or spatial mixing: listed, never stripped, each with its reason."""

import json

import pytest
import torch
from conftest import hooks_of
from torch import nn
from typer.testing import CliRunner

import seprof
from seprof import native
from seprof.cli import app
from seprof.errors import ModelError, OptionError
from seprof.kinds import kind
from seprof.native import own_attention, register_attention

timm = pytest.importorskip("timm")
from timm.layers.create_attn import create_attn  # noqa: E402

runner = CliRunner()

# the table's kinds measured with own_attention (ese, eca and ceca are native SE, measured without it)
MEASURED = ("ecam", "ge", "gc", "gca", "cbam", "lcbam", "coord", "scoord", "ela", "strip")
NATIVE = ("ese", "eca", "ceca")
NO_FORMULA = ("nl", "bat")  # add-ons (x + f(x)) of no kind in the table: stripped, counted, not measured
_ARGUMENTS = {"ge": {"use_mlp": False}}  # timm 1.0.31's GatherExcite cannot build its MLP
INPUT = (3, 112, 112)  # stage 2 at 28×28, stage 3 at 14×14 (BatNonLocalAttn takes blocks of 7)
WIDTHS = {2: (16, 28), 3: (32, 14)}  # stage: (C, H = W)


def _counted(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class Unit(nn.Module):
    """conv → BN → the attention module → + the input: the attention slot of timm's residual blocks."""

    def __init__(self, channels: int, attention: str, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels // stride, channels, 3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(channels)
        self.attn = create_attn(attention, channels, **_ARGUMENTS.get(attention, {}))
        self.down = nn.Conv2d(channels // stride, channels, 1, stride=stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        return self.down(x) + self.attn(self.bn(self.conv(x)))


class Net(nn.Module):
    def __init__(self, attention: str) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=4, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.units = nn.Sequential(Unit(16, attention), Unit(32, attention, stride=2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))

    def forward(self, x):
        return self.head(self.units(self.stem(x)))


def _attention_keys(model: nn.Module) -> set[str]:
    return {key for key in model.state_dict() if ".attn." in key}


def _stripped_alike(model: nn.Module, stripped: nn.Module, removed: int) -> None:
    """``stripped`` is ``model`` less its attention modules: their keys and ``removed`` parameters, the same
    output shape; ``model`` keeps its own, and no hook is left in either."""
    assert set(stripped.state_dict()) == set(model.state_dict()) - _attention_keys(model)
    assert _counted(model) - _counted(stripped) == removed
    assert all(isinstance(unit.attn, nn.Identity) for unit in stripped.units)
    assert not any(isinstance(unit.attn, nn.Identity) for unit in model.units)
    x = torch.randn(2, *INPUT)
    with torch.no_grad():
        assert stripped(x).shape == model(x).shape == (2, 10)
    assert not hooks_of(model) and not hooks_of(stripped)


@pytest.mark.parametrize("name", (*MEASURED, *NATIVE, *NO_FORMULA))
def test_every_add_on_is_recognised_as_strippable_and_stripped(name):
    model = Net(name).eval()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    found = [own_attention(unit.attn) for unit in model.units]
    assert all(own is not None and own.kind == name and own.strippable and not own.not_strippable for own in found)
    _stripped_alike(model, seprof.strip(model), sum(own.params for own in found))
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())  # untouched


@pytest.mark.parametrize("name", MEASURED)
def test_the_tables_kinds_are_measured_by_their_formulas(name):
    entry = kind(name)
    report = seprof.profile(Net(name), own_attention=True, input_shape=INPUT, timing=None)
    se = report.config("se")
    exact = sum(entry.count(c) for c, _ in WIDTHS.values())  # the factory's defaults are the kind's
    assert se.params_added == se.analytic_exact == se.analytic_paper == exact
    assert exact == sum(_counted(unit.attn) for unit in Net(name).units)
    assert report.native and report.own_kinds == (name,) and report.block is None and report.bias is None
    rows = {s.stage: s for s in report.stages if s.config == "se"}
    for stage, (channels, size) in WIDTHS.items():
        assert rows[stage].work == entry.work_at(channels, size, size)  # at the module's own H×W
        assert rows[stage].measured == rows[stage].analytic_exact == entry.count(channels)
        # torch's flop counter, on the module in the model, counts the formula's MACs
        assert rows[stage].se_macs["torch"] == rows[stage].work.fc_macs + rows[stage].work.spatial_macs
    assert se.macs["torch"] - report.config("base").macs["torch"] == sum(
        rows[s].se_macs["torch"] for s in WIDTHS)


def test_seprofs_se_goes_beside_the_models_own_attention_by_default():
    report = seprof.profile(Net("cbam"), input_shape=INPUT, timing=None, counters=("torch",))
    assert not report.native and not report.own_kinds and report.block is not None
    assert report.config("base").params == _counted(Net("cbam"))
    assert [(r["kind"], r["modules"], r["not_strippable"]) for r in report.own_attention] == [
        ("cbam", 1, ""), ("cbam", 1, "")]


@pytest.mark.parametrize("name", NATIVE)
def test_native_se_needs_no_flag(name):
    with pytest.raises(OptionError, match=r"own_attention=True adds nothing for Net \(drop it\): its SE-like "
                       rf"attention \(\w+ \({name}\)\) is measured without it$"):
        seprof.profile(Net(name), own_attention=True, input_shape=INPUT, timing=None)
    assert seprof.profile(Net(name), input_shape=INPUT, timing=None, counters=("torch",)).native


@pytest.mark.parametrize("name", NO_FORMULA)
def test_an_add_on_without_a_formula_is_stripped_but_not_measured(name):
    with pytest.raises(OptionError) as caught:
        seprof.profile(Net(name), own_attention=True, input_shape=INPUT, timing=None)
    assert str(caught.value).endswith(
        "seprof cannot measure its own attention, 2 " + own_attention(Net(name).units[0].attn).label
        + ": seprof's table of kinds has no formula for it (seprof.strip removes it, and it stays counted)")


def test_strip_takes_the_stages_asked_for():
    model = Net("gc")
    stripped = seprof.strip(model, [3])
    assert isinstance(stripped.units[1].attn, nn.Identity) and not isinstance(stripped.units[0].attn, nn.Identity)
    assert _counted(model) - _counted(stripped) == kind("gc").count(32)
    with pytest.raises(Exception, match="stage 4 is not available: this model's stages are 2, 3"):
        seprof.strip(model, [4])


# --- a class of yours


class Gate(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.fc(x.mean((2, 3), keepdim=True)))


class GatedNet(Net):
    def __init__(self) -> None:
        super().__init__("gc")
        for unit in self.units:
            unit.attn = Gate(unit.bn.num_features)


@pytest.fixture
def gate():
    yield
    native._REGISTERED.pop(Gate, None)


def test_a_registered_class_is_kept_unless_declared_strippable(gate):
    register_attention(Gate, "gate")
    assert own_attention(Gate(8)).not_strippable == (
        "it is a class of yours (register_attention); give strippable=True where its block works without it")
    with pytest.raises(ModelError, match=r"^GatedNet has no SE blocks to strip, and seprof cannot strip its own "
                       r"attention, 2 Gate \(gate\): it is a class of yours"):
        seprof.strip(GatedNet())
    register_attention(Gate, "gate", strippable=True)
    model = GatedNet()
    _stripped_alike(model, seprof.strip(model), 16 * 16 + 16 + 32 * 32 + 32)
    with pytest.raises(OptionError, match="seprof's table of kinds has no formula for it"):
        seprof.profile(GatedNet(), own_attention=True, input_shape=INPUT, timing=None)


def test_register_attention_takes_strippable_as_true_or_false(gate):
    with pytest.raises(OptionError, match="strippable='yes' is not True or False"):
        register_attention(Gate, "gate", strippable="yes")


# --- timm's models


SK = ("SelectiveKernel (sk): it is the block's 3×3 conv (a selective-kernel conv, with the block's stride); without it "
      "the block has no spatial conv")
SPLAT = ("SplitAttn (splat): it is the block's 3×3 conv (a split-attention conv, with the block's stride); without it "
         "the block has no spatial conv")


@pytest.mark.parametrize("name, modules, removed", [
    ("gcresnext26ts", 8, 178_648),  # gca: 2,354 + 8,802 + 33,986 + 133,506
    ("gc_efficientnetv2_rw_t", 29, 2_330_369),  # gc, in the SE slot of its MBConv blocks
])
def test_timm_models_with_global_context_are_stripped(name, modules, removed):
    model = timm.create_model(name).eval()
    found = [own_attention(m) for m in model.modules() if type(m).__name__ == "GlobalContext"]
    assert len(found) == modules and all(own.strippable for own in found)
    assert sum(own.exact for own in found) == sum(own.params for own in found) == removed
    stripped = seprof.strip(model)
    context = {key for key in model.state_dict() for path, m in model.named_modules()
               if type(m).__name__ == "GlobalContext" and key.startswith(path + ".")}
    assert set(stripped.state_dict()) == set(model.state_dict()) - context
    assert _counted(model) - _counted(stripped) == removed
    with torch.no_grad():
        assert stripped(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert not hooks_of(model) and not hooks_of(stripped)


@pytest.mark.parametrize("name, reason, modules", [("skresnet18", SK, 8), ("resnest14d", SPLAT, 4)])
def test_attention_convs_stay_listed_and_are_refused_with_their_reason(name, reason, modules):
    model = timm.create_model(name)
    with pytest.raises(ModelError) as caught:
        seprof.strip(model)
    assert str(caught.value) == (f"ResNet has no SE blocks to strip, and seprof cannot strip its own attention, "
                                 f"{modules} {reason}")
    with pytest.raises(OptionError) as caught:
        seprof.profile(f"timm:{name}", own_attention=True, timing=None)
    assert str(caught.value) == (f"own_attention=True adds nothing for timm:{name} (drop it): seprof cannot measure "
                                 f"its own attention, {modules} {reason}")


def test_compare_measures_gc_resnexts_own_attention(tmp_path):
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["compare", "timm:gcresnext26ts", "--own-attention", "--no-latency", "--json",
                                 str(out)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    se, base = (next(c for c in data["configs"] if c["config"] == name) for name in ("se", "base"))
    assert se["params_added"] == se["analytic_exact"] == 178_648
    assert base["params"] == 10_476_600 - 178_648 and se["params"] == 10_476_600
    assert data["own_kinds"] == ["gca"] and data["native_se"] and data["own_attention"] == []
    assert [s["analytic_exact"] for s in data["stages"] if s["config"] == "se"] == [2_354, 8_802, 33_986, 133_506]
    lines = result.output.splitlines()
    assert lines[0] == ("timm:gcresnext26ts · its own attention blocks (GlobalContext (gca)) · stages 2–5 · input "
                        "3×256×256")
    assert any(line.startswith("│ GC-add in stages 2–5 │ 10,476,600 │ +178,648 │  +1.73% │") for line in lines)
    assert any(line.startswith("│ base (no GC-add)") for line in lines)
    assert ("Bottom line: timm:gcresnext26ts with its own GC-add in stages 2–5: +1.73% parameters, +0.088% MACs "
            "(fvcore), latency not measured.") in lines


def test_stages_says_which_of_a_models_own_attention_is_strippable_and_why():
    result = runner.invoke(app, ["stages", "timm:skresnet18"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(map(len, result.output.splitlines())) <= 80
    assert "│ strip │" in result.output.replace("┃", "│") and "│ no    │" in result.output
    assert " ".join(SK.split()) + "." in " ".join(result.output.split())
    result = runner.invoke(app, ["stages", "timm:gcresnext26ts"], env={"COLUMNS": "80"})
    assert "│ yes   │" in result.output and "it is the block's" not in result.output
