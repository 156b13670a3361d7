"""A checkpoint is data: loading one never imports or runs code the caller did not name, never exits the
interpreter, and a malformed one is one SeprofError."""

import sys

import pytest
import torch

import seprof
from seprof.checkpoint import FORMAT, VERSION, payload
from seprof.errors import ModelError, SeprofError, UnknownModelError
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
        f"open({str(marker)!r}, 'w').write('imported')\n\n"
        f"def build():\n    open({str(marker)!r}, 'w').write('called')\n")
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
    (recipe(state_dict={"fc.weight": torch.zeros(1)}),
     r"does not fit the model it names: \d+ missing \(e.g. .*\) state_dict keys"),
    (recipe(version=True), "is a seprof checkpoint of version True"),
    (recipe(block=None), r"holds a malformed block \(NoneType\)"),
    (recipe(block={"block": "se", "speed": 3}),
     r"holds a malformed block \(block=\{'block': 'se', 'speed': 3\} has the unknown setting 'speed'"),
    (recipe(block={"block": "ecb"}), r"holds a malformed block \(block='ecb' is not one of se, cse, sse, scse, ese, "
     r"eca"),
    (recipe(block={"block": "cbam", "knobs": {"gamma": 2}}), r"holds a malformed block \(knobs='gamma=2' is not a "
     r"knob of cbam"),
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


def test_an_mnasnet_checkpoint_saved_by_the_cli_keeps_its_module_versions_and_loads(tmp_path):
    from typer.testing import CliRunner

    from seprof.cli import app

    path = tmp_path / "mn.pt"
    result = CliRunner().invoke(app, ["inject", "mnasnet0_5", "--no-latency", "--input", "3x32x32", "--save",
                                      str(path)])
    assert result.exit_code == 0, result.output
    state = torch.load(path, weights_only=True)["state_dict"]
    assert state._metadata[""] == {"version": 2}  # MNASNet's own version: without it, it refuses to load
    loaded = seprof.load(path)
    assert len(se_modules(loaded)) == 16 and list(loaded.state_dict()) == list(state)
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())


def test_a_checkpoint_written_without_module_versions_loads_with_the_models_own(tmp_path):
    """seprof 0.6.0 wrote the state_dict as a plain dict: MNASNet then refused to load (version None)."""
    se = inject(build_model("mnasnet0_5", "cpu"), stages=[5], input_shape=(3, 32, 32))
    data = payload(se, name="mnasnet0_5", r=16, bias=True, stages=[5], input_shape=[3, 32, 32])
    data["state_dict"] = dict(data["state_dict"])
    torch.save(data, tmp_path / "old.pt")
    assert same_state(seprof.load(tmp_path / "old.pt"), se)


@pytest.fixture(scope="module")
def resnet18_recipe():
    se = inject(build_model("resnet18", "cpu"), stages=[5], input_shape=(3, 64, 64))
    return payload(se, name="resnet18", r=16, bias=True, stages=[5], input_shape=[3, 64, 64])


def state_copy(data):
    """A copy of a payload's state_dict with its module versions (which OrderedDict.copy() leaves behind)."""
    state = data["state_dict"].copy()
    state._metadata = dict(data["state_dict"]._metadata)
    return state


def with_tensor(data, key, tensor):
    state = state_copy(data)
    state[key] = tensor
    return {**data, "state_dict": state}


@pytest.mark.parametrize("key, make, message", [
    ("fc.weight", lambda: torch.empty(1000, 512, device="meta"),
     "fc.weight is a meta tensor, which holds no values: save the model with its weights on the CPU"),
    ("fc.weight", lambda: torch.zeros(1000, 512).to_sparse(),
     r"fc.weight is a sparse_coo tensor: save it dense \(tensor.to_dense\(\)\)"),
    ("fc.weight", lambda: torch.zeros(1000, 512).to_sparse_csr(), "fc.weight is a sparse_csr tensor"),
    ("fc.weight", lambda: torch.quantize_per_tensor(torch.zeros(1000, 512), 0.1, 0, torch.qint8),
     (r"fc.weight is a quantized tensor \(torch.qint8\): seprof rebuilds the float model; save that model's "
      "state_dict")),
    ("fc.weight", lambda: torch.zeros(1000, 512, dtype=torch.complex64),
     (r"fc.weight is of dtype torch.complex64 where the model holds torch.float32: save it as "
      r"tensor.to\(torch.float32\)")),
    ("bn1.num_batches_tracked", lambda: torch.tensor(0.0),
     "bn1.num_batches_tracked is of dtype torch.float32 where the model holds torch.int64"),
], ids=["meta", "sparse_coo", "sparse_csr", "quantized", "complex", "float_count"])
@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support", "ignore:Validating sparse tensor invariants",
                            "ignore:torch.quantize_per_tensor", "ignore:TypedStorage is deprecated")
def test_a_tensor_seprof_cannot_load_is_one_error_naming_its_key(tmp_path, resnet18_recipe, key, make, message):
    torch.save(with_tensor(resnet18_recipe, key, make()), tmp_path / "m.pt")
    with pytest.raises(ModelError, match=f"^'{tmp_path / 'm.pt'}' holds a tensor seprof cannot load: {message}"):
        seprof.load(tmp_path / "m.pt")


def test_a_float_tensor_of_another_precision_is_cast_as_torch_loads_it(tmp_path, resnet18_recipe):
    half = torch.randn(1000, 512).half()
    torch.save(with_tensor(resnet18_recipe, "fc.weight", half), tmp_path / "m.pt")
    model = seprof.load(tmp_path / "m.pt")
    assert model.fc.weight.dtype == torch.float32 and torch.equal(model.fc.weight, half.float())


def test_any_other_failure_while_rebuilding_is_a_model_error_chained_to_its_cause(tmp_path, resnet18_recipe):
    state = state_copy(resnet18_recipe)
    state._metadata["bn1"] = {"version": "2"}  # BatchNorm compares its version with 2
    torch.save({**resnet18_recipe, "state_dict": state}, tmp_path / "m.pt")
    with pytest.raises(ModelError, match=r"'\S+m.pt' cannot be rebuilt into a model: TypeError: '<' not supported "
                                         r"between instances of 'str' and 'int'; it may be damaged, or written by "
                                         "something other than seprof$") as caught:
        seprof.load(tmp_path / "m.pt")
    assert isinstance(caught.value.__cause__, TypeError)
    state._metadata = [1, 2]
    torch.save({**resnet18_recipe, "state_dict": state}, tmp_path / "m.pt")
    with pytest.raises(ModelError, match="holds malformed module versions: its state_dict's _metadata is not a dict"):
        seprof.load(tmp_path / "m.pt")


WRONG = [None, True, -1, 0, 10**30, 1.5, "x", [], [None], [10**30], {"a": 1}, torch.zeros(1)]


@pytest.fixture(scope="module")
def small_recipe():
    se = inject(build_model("squeezenet1_1", "cpu"), stages=[4], input_shape=(3, 64, 64))
    return payload(se, name="squeezenet1_1", r=16, bias=True, stages=[4], input_shape=[3, 64, 64])


@pytest.mark.parametrize("key", ["format", "version", "model", "r", "bias", "stages", "input_shape", "add_missing",
                                 "heads", "block", "state_dict"])
def test_any_value_at_any_key_loads_or_is_one_seprof_error(tmp_path, small_recipe, key):
    """Some load (r and bias of a version 2 file are the block's, which the file also holds): none raises
    anything but a SeprofError, of one line."""
    path = tmp_path / "m.pt"
    for value in WRONG:
        torch.save({**small_recipe, key: value}, path)
        try:
            seprof.load(path)
        except SeprofError as error:
            assert len(str(error).splitlines()) == 1, (key, value)


@pytest.mark.parametrize("knob", ["block", "r", "bias", "squeeze", "gate", "divisor", "combine", "position"])
def test_any_value_of_any_block_setting_loads_or_is_one_seprof_error(tmp_path, small_recipe, knob):
    path = tmp_path / "m.pt"
    for value in WRONG:
        torch.save({**small_recipe, "block": {**small_recipe["block"], knob: value}}, path)
        try:
            seprof.load(path)
        except SeprofError as error:
            assert len(str(error).splitlines()) == 1, (knob, value)


def test_a_version_1_checkpoint_loads_as_se(tmp_path, resnet18_recipe):
    old = {k: v for k, v in resnet18_recipe.items() if k not in ("block", "heads")}
    torch.save({**old, "version": 1, "r": 8}, tmp_path / "v1.pt")
    with pytest.raises(ModelError, match=r"6 tensors have other shapes \(e.g. layer4.0.bn2.se.fc1.bias: \(32,\) in "
                                         r"the file, \(64,\) in the model\)"):
        seprof.load(tmp_path / "v1.pt")  # the file's tensors are r=16's: r=8 is read from the file
    torch.save({**old, "version": 1}, tmp_path / "v1.pt")
    assert len(se_modules(seprof.load(tmp_path / "v1.pt"))) == 2


def test_a_timm_name_with_an_unknown_pretrained_tag_is_one_error_listing_the_tags(tmp_path, resnet18_recipe):
    pytest.importorskip("timm")
    from seprof.timm_models import check_timm_name

    message = ("unknown pretrained tag 'nonexistent_tag' in 'timm:resnet18.nonexistent_tag': the tags of "
               "timm:resnet18 are a1_in1k, a2_in1k, a3_in1k, tv_in1k, fb_ssl_yfcc100m_ft_in1k, "
               "fb_swsl_ig1b_ft_in1k, gluon_in1k (the first is its default); or name timm:resnet18 alone")
    with pytest.raises(UnknownModelError) as caught:
        check_timm_name("timm:resnet18.nonexistent_tag")
    assert str(caught.value) == message
    assert check_timm_name("timm:resnet18.tv_in1k") == "timm:resnet18.tv_in1k"
    assert check_timm_name("timm:botnet50ts_256.untrained") == "timm:botnet50ts_256.untrained"  # a config, no weights
    with pytest.raises(UnknownModelError, match=r"unknown pretrained tag '' in 'timm:resnet18\.'"):
        check_timm_name("timm:resnet18.")
    torch.save({**resnet18_recipe, "model": "timm:resnet18.nonexistent_tag"}, tmp_path / "m.pt")
    with pytest.raises(UnknownModelError) as caught:
        seprof.load(tmp_path / "m.pt")
    assert str(caught.value) == message


def test_a_timm_model_with_tensors_outside_its_state_dict_is_rebuilt_with_them(tmp_path):
    """timm's resnetblur18 holds its blur filter as a buffer the state_dict leaves out: seprof.load builds such a
    model as usual (not left unfilled for the file to fill)."""
    pytest.importorskip("timm")
    name = "timm:resnetblur18"
    se = inject(build_model(name, "cpu", seed=1), stages=[5], input_shape=(3, 64, 64)).eval()
    seprof.save(tmp_path / "m.pt", se, name=name, stages=[5], input_shape=[3, 64, 64])
    loaded = seprof.load(tmp_path / "m.pt")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x), se(x))


def test_load_refuses_a_meta_base_and_a_file_that_is_not_regular_and_takes_a_bytes_path(tmp_path, resnet18_recipe):
    import os

    torch.save(resnet18_recipe, tmp_path / "m.pt")
    with pytest.raises(ModelError, match="^base is on the meta device, with no tensors to load the weights into"):
        seprof.load(tmp_path / "m.pt", base=build_model("resnet18", "meta"))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(ModelError, match=r"'\S+fifo' is not a regular file \(a device, FIFO or socket\)"):
        seprof.load(tmp_path / "fifo")
    assert len(se_modules(seprof.load(os.fsencode(tmp_path / "m.pt")))) == 2  # resnet18's stage 5: two blocks


def test_save_writes_only_what_load_can_rebuild(tmp_path):
    se = inject(build_model("resnet18", "cpu"), stages=[4, 5], input_shape=(3, 64, 64))
    with pytest.raises(ModelError, match=r"^stages=\[5\] is not where the model holds seprof's blocks \(stages 4, 5\): "
                                         r"a file saved so could not be loaded; give stages=\[4, 5\]$"):
        seprof.save(tmp_path / "m.pt", se, name="resnet18", stages=[5], input_shape=[3, 64, 64])
    assert not (tmp_path / "m.pt").exists()
    own = build_model("mobilenet_v3_small", "cpu")  # its own SE, and no seprof block: saved and loaded as built
    seprof.save(tmp_path / "own.pt", own, name="mobilenet_v3_small", stages=[], input_shape=[3, 224, 224])
    loaded = seprof.load(tmp_path / "own.pt")
    x = torch.randn(1, 3, 64, 64)
    assert not se_modules(loaded) and torch.equal(loaded(x), own.eval()(x))
