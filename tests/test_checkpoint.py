"""A checkpoint is data: loading one never imports or runs code the caller did not name, never exits the
interpreter, and a malformed one is one SeprofError."""

import sys

import pytest
import torch

import seprof
from seprof.checkpoint import FORMAT, VERSION, payload
from seprof.errors import ModelError
from seprof.models import build_model
from seprof.surgery import inject, se_modules


class Pickled:
    """An object only a full unpickler would rebuild (and run code for)."""

    def __reduce__(self):
        return (print, ("this must never run",))


def same_state(a, b):
    """The two models hold the same tensors under the same names."""
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def recipe(**changes):
    data = {"format": FORMAT, "version": VERSION, "model": "resnet18", "r": 16, "bias": True, "stages": [5],
            "input_shape": [3, 64, 64], "add_missing": False, "block": {"block": "se", "r": 16, "bias": True},
            "state_dict": {}}
    data.update(changes)
    return data


@pytest.fixture
def evil(tmp_path, monkeypatch):
    """A module in the current folder that leaves a marker file when imported."""
    marker = tmp_path / "ran"
    (tmp_path / "evilmod.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n\ndef build():\n    open({str(marker)!r}, 'w').write('called')\n")
    monkeypatch.chdir(tmp_path)
    yield marker
    sys.modules.pop("evilmod", None)


@pytest.mark.parametrize("name", ["evilmod:build", "builtins:exit", "os:getcwd"])
def test_a_factory_named_in_a_file_is_not_imported_unless_trusted(tmp_path, evil, name):
    path = tmp_path / "m.pt"
    torch.save(recipe(model=name), path)
    with pytest.raises(ModelError, match=f"names the factory '{name}': loading it would import and run that code; "
                                         "pass base=.* or trust_factory=True"):
        seprof.load(path)
    assert not evil.exists() and "evilmod" not in sys.modules


def test_trusting_a_factory_that_exits_does_not_end_the_interpreter(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(recipe(model="builtins:exit"), path)
    with pytest.raises(ModelError, match=r"builtins:exit\(\) failed: it called sys.exit\(None\)"):
        seprof.load(path, trust_factory=True)


def test_a_factory_checkpoint_loads_with_the_callers_base_or_factory(tmp_path, evil):
    base = build_model("resnet18", "cpu")
    se = inject(base, stages=[5], input_shape=(3, 64, 64))
    path = tmp_path / "m.pt"
    torch.save(payload(se, name="evilmod:build", r=16, bias=True, stages=[5], input_shape=[3, 64, 64]), path)
    for loaded in (seprof.load(path, base=base), seprof.load(path, factory=lambda: build_model("resnet18", "cpu"))):
        assert len(se_modules(loaded)) == 2
        assert same_state(loaded, se)
    assert not evil.exists()


@pytest.mark.parametrize("data, message", [
    ({"not": "ours"}, "is not a seprof SE-model checkpoint"),
    ([1, 2, 3], "is not a seprof SE-model checkpoint"),
    (recipe(version=99), "is a seprof checkpoint of version 99; this seprof reads versions 1, 2"),
    ({k: v for k, v in recipe().items() if k != "r"}, "has no 'r': it is not a complete seprof checkpoint"),
    ({k: v for k, v in recipe().items() if k != "state_dict"}, "has no 'state_dict'"),
    ({k: v for k, v in recipe().items() if k != "model"}, "has no 'model'"),
    (recipe(r="16"), "'r' is '16', not an integer of at least 1"),
    (recipe(r=True), "'r' is True, not an integer of at least 1"),
    (recipe(r=0), "holds a malformed recipe"),
    (recipe(stages="5"), "'stages' is '5', not a list of stage numbers"),
    (recipe(input_shape=[3, 64]), "holds a malformed recipe"),
    (recipe(input_shape=[3, -64, 64]), "holds a malformed recipe"),
    (recipe(bias="yes"), "'bias' is 'yes', not true or false"),
    (recipe(model=5), "'model' is 5, not a model name"),
    (recipe(model="not_a_model"), "names the model 'not_a_model', which is not a torchvision model seprof knows"),
    (recipe(state_dict={"fc.weight": torch.zeros(1)}), r"does not fit the model it names: \d+ missing \(e.g. .*\) "
     "state_dict keys"),
    (recipe(version=True), "is a seprof checkpoint of version True"),
    (recipe(block=None), r"holds a malformed block \(NoneType\)"),
    (recipe(block={"block": "se", "speed": 3}), r"holds a malformed block \(block=\{'block': 'se', 'speed': 3\} has "
     "the unknown setting 'speed'"),
    (recipe(block={"block": "eca"}), r"holds a malformed block \(block='eca' is not one of se, cse, sse, scse\)"),
    (recipe(stages=[9]), "holds a recipe that does not fit its model: stage 9 is not available"),
])
def test_malformed_checkpoints_are_one_error(tmp_path, data, message):
    path = tmp_path / "m.pt"
    torch.save(data, path)
    with pytest.raises(ModelError, match=message):
        seprof.load(path)


def test_a_checkpoint_whose_tensors_do_not_fit_says_which(tmp_path):
    se = inject(build_model("resnet18", "cpu"), stages=[5], input_shape=(3, 64, 64))
    state = se.state_dict()
    state["fc.weight"] = torch.zeros(10, 512)
    state["extra.weight"] = torch.zeros(1)
    torch.save(recipe(state_dict=state), tmp_path / "a.pt")
    with pytest.raises(ModelError, match=r"1 unexpected \(e.g. extra.weight\) state_dict keys"):
        seprof.load(tmp_path / "a.pt")
    del state["extra.weight"]
    torch.save(recipe(state_dict=state), tmp_path / "b.pt")
    with pytest.raises(ModelError, match=r"1 tensors have other shapes \(e.g. fc.weight: \(10, 512\) in the file, "
                                         r"\(1000, 512\) in the model\)"):
        seprof.load(tmp_path / "b.pt")


def test_a_callers_factory_that_exits_is_an_error(tmp_path):
    torch.save(recipe(), tmp_path / "m.pt")
    with pytest.raises(ModelError, match=r"factory\(\) failed: it called sys.exit\(1\)"):
        seprof.load(tmp_path / "m.pt", factory=lambda: sys.exit(1))


def test_unreadable_files_are_one_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        seprof.load(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00not a checkpoint at all")
    (tmp_path / "text.pt").write_text("a text file\n")
    torch.save({"format": FORMAT, "payload": Pickled()}, tmp_path / "pickled.pt")
    for name in ("garbage.pt", "text.pt", "pickled.pt"):  # the object is refused, never rebuilt
        with pytest.raises(ModelError, match=r"is not a checkpoint seprof can read: torch.load\(\.\.\., "
                                             r"weights_only=True\) refused it \(\w+\); seprof reads tensors") as caught:
            seprof.load(tmp_path / name)
        assert "weights_only=False" not in str(caught.value) and len(str(caught.value).splitlines()) == 1
    with pytest.raises(ModelError, match="is a folder, not a checkpoint file"):
        seprof.load(tmp_path)
    with pytest.raises(ModelError, match="base is a int, not a torch.nn.Module"):
        seprof.load(tmp_path / "garbage.pt", base=5)


def test_a_torchvision_checkpoint_round_trips(tmp_path):
    path = tmp_path / "m.pt"
    se = inject(build_model("resnet18", "cpu"), stages=[4, 5], input_shape=(3, 64, 64))
    seprof.save(path, se, name="resnet18", r=16, bias=True, stages=[4, 5], input_shape=[3, 64, 64])
    loaded = seprof.load(path)
    assert not loaded.training and len(se_modules(loaded)) == 4
    assert same_state(loaded, se)
