"""Model sources: which source answers for a name, in the order of the table, and that each answers as the
public helpers (and seprof 0.7.0's branches) did: checked name, family, usual input, harness, build, names."""

import pytest
import torch
import torchvision

import seprof
from seprof.checkpoint import FORMAT, VERSION
from seprof.errors import ModelError, UnknownModelError
from seprof.families import DEFAULT_INPUT_SHAPE
from seprof.harness import PLAIN
from seprof.models import (
    FACTORY,
    SOURCES,
    TIMM,
    TORCHVISION,
    ModelSource,
    build_model,
    check_model_name,
    default_input_shape,
    harness_of,
    list_models,
    model_family,
    source_of,
)

FACTORIES = ["user_models:build_residual", "user_models:build_plain", "user_models:build_cifar",
             "user_models:build_resnet18_subclass"]

# name → (family, usual input, harness: task, call, traced, body, heads, counterpart), as seprof 0.7.0 gave them
TORCHVISION_ANSWERS = {
    "resnet50": ("resnet", (3, 224, 224), ("classification", "tensor", "", ("",), (), None)),
    "fcn_resnet50": ("fcn", (3, 520, 520),
                     ("segmentation", "tensor", "", ("backbone",), ("classifier", "aux_classifier"), "resnet50")),
    "r3d_18": ("video_resnet", (3, 16, 112, 112), ("video", "tensor", "", ("",), (), None)),
    "raft_small": ("raft", (3, 368, 496),
                   ("optical_flow", "pair", "", ("feature_encoder", "context_encoder"), (), None)),
    "quantized_resnet50": ("resnet", (3, 224, 224), ("quantization", "tensor", "", ("",), (), None)),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("rcnn", (3, 320, 320),
                                              ("detection", "images", "backbone", ("backbone.body",),
                                               ("backbone.fpn",), None)),
}


def fields(harness):
    return (str(harness.task), str(harness.call), harness.traced, harness.body, harness.heads,
            harness.counterpart_name)


@pytest.mark.parametrize("name", torchvision.models.list_models())
def test_every_torchvision_builder_is_torchvisions(name):
    assert source_of(name) is TORCHVISION and TORCHVISION.claims(name)
    assert not TIMM.claims(name) and not FACTORY.claims(name)


@pytest.mark.parametrize("name", ["timm:resnet18", "timm:resnet50.a1_in1k", "timm:hf-hub:timm/resnet18.a1_in1k"])
def test_a_timm_name_is_timms_even_with_a_colon_after_timm(name):
    assert source_of(name) is TIMM and not FACTORY.claims(name) and not TORCHVISION.claims(name)


@pytest.mark.parametrize("name", [*FACTORIES, "mypkg.models:build_net", "a:b:c"])
def test_a_factory_is_the_factory_sources(name):
    assert source_of(name) is FACTORY and not TIMM.claims(name) and not TORCHVISION.claims(name)


def test_the_table_tries_timm_then_factories_then_torchvision():
    assert SOURCES == (TIMM, FACTORY, TORCHVISION)
    assert all(isinstance(source, ModelSource) for source in SOURCES)
    assert [source.title for source in SOURCES] == ["timm", "factory", "torchvision"]


@pytest.mark.parametrize("name", ["resnet5", "nothing_like_it", ""])
def test_a_name_no_source_claims_is_refused_by_torchvision_as_before(name):
    assert not any(source.claims(name) for source in SOURCES) and source_of(name) is TORCHVISION
    with pytest.raises(UnknownModelError) as error:
        check_model_name(name)
    hint = "did you mean resnet50, resnet152, resnet34?" if name == "resnet5" else \
        "choose a torchvision model name, timm:NAME or package.module:function"
    assert str(error.value) == f"unknown model {name!r}: {hint}"
    for answer in (TORCHVISION.family, TORCHVISION.input_shape, TORCHVISION.harness, model_family,
                   default_input_shape, harness_of):
        with pytest.raises(UnknownModelError, match="unknown model"):
            answer(name)


@pytest.mark.parametrize("name", list(TORCHVISION_ANSWERS))
def test_torchvisions_answers_are_the_old_ones(name):
    family, shape, harness = TORCHVISION_ANSWERS[name]
    assert TORCHVISION.check_name(name) == check_model_name(name) == name
    assert TORCHVISION.family(name).name == model_family(name).name == family
    assert TORCHVISION.input_shape(name) == default_input_shape(name) == shape
    assert fields(TORCHVISION.harness(name)) == fields(harness_of(name)) == harness
    assert TORCHVISION.harness(name).float_note.startswith("built in float") == name.startswith("quantized_")
    assert not TORCHVISION.runs_user_code and not TORCHVISION.stages_follow_input


def test_torchvision_lists_every_tasks_models():
    assert TORCHVISION.names() == list_models(task=None)
    assert set(TORCHVISION.names()) == set(torchvision.models.list_models())


def test_torchvision_builds_a_detectors_backbone_with_frozen_batchnorm_on_meta_too():
    from torchvision.ops.misc import FrozenBatchNorm2d

    model = TORCHVISION.build("fasterrcnn_resnet50_fpn", torch.device("meta"))
    assert sum(isinstance(m, FrozenBatchNorm2d) for m in model.backbone.body.modules()) == 53
    assert all(p.is_meta for p in model.parameters())


def test_timms_answers_are_the_old_ones():
    pytest.importorskip("timm")
    answers = {"timm:resnet18": ("timm:resnet", (3, 224, 224)), "timm:resnet50.a1_in1k": ("timm:resnet", (3, 224, 224)),
               "timm:vit_base_patch16_384": ("timm:vision_transformer", (3, 384, 384))}
    for name, (family, shape) in answers.items():
        assert TIMM.check_name(name) == check_model_name(name) == name
        assert TIMM.family(name).name == model_family(name).name == family
        assert TIMM.input_shape(name) == default_input_shape(name) == shape
        assert TIMM.harness(name) is harness_of(name) is PLAIN
    assert not TIMM.runs_user_code and not TIMM.stages_follow_input
    with pytest.raises(UnknownModelError, match=r"^unknown timm model 'timm:resnet5': did you mean timm:resnet50, "):
        TIMM.family("timm:resnet5")
    with pytest.raises(UnknownModelError, match=r"^unknown pretrained tag 'nope' in 'timm:resnet50.nope': the tags "):
        TIMM.input_shape("timm:resnet50.nope")


def test_timm_lists_the_models_of_the_modules_it_has_rules_for():
    pytest.importorskip("timm")
    from seprof.timm_models import timm_names

    names = TIMM.names()
    assert names == tuple(timm_names()) and "timm:resnet50" in names
    assert all(source_of(name) is TIMM for name in names)


def test_timm_builds_on_meta():
    pytest.importorskip("timm")
    model = TIMM.build("timm:resnet18", torch.device("meta"))
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == 11_689_512


@pytest.mark.parametrize("name", FACTORIES)
def test_a_factorys_answers_are_the_old_ones_and_need_no_import(name):
    assert FACTORY.check_name(name) == check_model_name(name) == name
    assert FACTORY.family(name) is model_family(name) is None
    assert FACTORY.input_shape(name) == default_input_shape(name) == DEFAULT_INPUT_SHAPE == (3, 224, 224)
    assert FACTORY.harness(name) is harness_of(name) is PLAIN
    assert FACTORY.runs_user_code and FACTORY.stages_follow_input and FACTORY.names() == ()


def test_an_unimportable_factory_is_answered_for_until_it_is_built():
    name = "no_such_module_here:build"
    assert FACTORY.check_name(name) == name and FACTORY.input_shape(name) == (3, 224, 224)
    with pytest.raises(UnknownModelError, match="^cannot import 'no_such_module_here' for model "):
        FACTORY.build(name, torch.device("meta"))


def test_a_factory_builds_on_meta_as_a_weightless_copy():
    model = FACTORY.build("user_models:build_residual", torch.device("meta"))
    assert all(p.is_meta for p in model.parameters())
    real = build_model("user_models:build_residual", "cpu")
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [(k, v.shape) for k, v in real.state_dict().items()]


def checkpoint_naming(path, name):
    torch.save({"format": FORMAT, "version": VERSION, "model": name, "r": 16, "bias": True, "stages": [],
                "input_shape": [3, 224, 224], "add_missing": False, "block": {"block": "se", "r": 16, "bias": True},
                "state_dict": build_model("user_models:build_residual", "cpu").state_dict()}, path)
    return path


def test_a_checkpoint_naming_a_factory_is_rebuilt_only_when_trusted(tmp_path):
    path = checkpoint_naming(tmp_path / "m.pt", "user_models:build_residual")
    with pytest.raises(ModelError) as error:
        seprof.load(path)
    assert str(error.value) == (
        f"{str(path)!r} names the factory 'user_models:build_residual': loading it would import and run that code; "
        "pass base=<the model without SE> or factory=<a function that builds it>, or trust_factory=True if you "
        "trust this file")
    loaded = seprof.load(path, trust_factory=True)
    assert torch.equal(loaded.head[2].weight, build_model("user_models:build_residual", "cpu").head[2].weight)


def test_a_checkpoint_naming_a_name_no_source_claims_asks_for_the_base(tmp_path):
    path = checkpoint_naming(tmp_path / "m.pt", "resnet5")
    with pytest.raises(ModelError) as error:
        seprof.load(path)
    assert str(error.value) == (f"{str(path)!r} names the model 'resnet5', which is not a torchvision model seprof "
                                "knows; pass base=<the model without SE>")


def test_a_model_built_for_its_input_is_built_for_the_input_asked():
    """ViT's image_size and MaxViT's input_size are build arguments: the model is built for the size asked, its
    parameters follow (the position embedding), and a size the builder refuses is one line naming --input."""
    big = seprof.profile("vit_h_14", timing=None, counters=("torch",))
    assert big.input_shape == (3, 518, 518) and big.base_params == 633_470_440  # IMAGENET1K_SWAG_E2E_V1's count
    small = seprof.profile("vit_h_14", input_shape=(3, 224, 224), timing=None, counters=("torch",))
    assert small.base_params == 632_045_800 and small.input_origin == "as given"
    assert seprof.profile("maxvit_t", input_shape=(3, 448, 448), timing=None, counters=("torch",)).input_shape == (
        3, 448, 448)
    with pytest.raises(seprof.errors.OptionError) as error:
        seprof.profile("maxvit_t", input_shape=(3, 256, 256), timing=None, counters=("torch",))
    assert str(error.value).startswith("input_shape=(3, 256, 256) is not a size maxvit_t can be built for: Input "
                                       "size (64, 64) of block 0 is not divisible by partition size 7")


def test_a_report_says_where_its_input_comes_from():
    report = seprof.profile("efficientnet_b7", timing=None, counters=("torch",))
    assert report.input_shape == (3, 600, 600)
    assert report.input_origin == "the evaluation crop of efficientnet_b7's DEFAULT weights (IMAGENET1K_V1)"
    assert report.to_dict()["input_origin"] == report.input_origin
    assert round(report.config("se").macs["torch"] / 1e9, 3) == 37.746  # torchvision's documented GMACs
    assert seprof.profile("timm:resnet18", timing=None, counters=("torch",)).input_origin == (
        "the input_size of resnet18's pretrained config in timm")


def test_a_model_object_runs_at_its_own_input():
    """A model object's input is its timm pretrained config's, a ViT's image_size, else 3×224×224; said so."""
    import timm

    botnet = timm.create_model("sebotnet33ts_256")  # cannot run at 224 ("ByobNet cannot run on input 3x224x224")
    stripped = seprof.strip(botnet)  # its own SE blocks, found at 3×256×256 without being told
    assert not any(type(m).__name__ == "SEModule" for m in stripped.modules())
    report = seprof.profile(botnet, timing=None, counters=("torch",))
    assert report.input_shape == (3, 256, 256) and "pretrained config" in report.input_origin
    vit = torchvision.models.vit_b_16(image_size=384)
    assert seprof.profile(vit, timing=None, counters=("torch",)).input_shape == (3, 384, 384)
    plain = seprof.profile(torchvision.models.resnet18(), timing=None, counters=("torch",))
    assert plain.input_shape == DEFAULT_INPUT_SHAPE and "give input_shape" in plain.input_origin


def test_a_maxvit_object_runs_at_the_input_it_was_built_for():
    """torchvision's MaxVit keeps no input size, but its first stage's grid is the input at stride 4."""
    with torch.device("meta"):
        model = torchvision.models.maxvit_t(input_size=(448, 448))
    from seprof.measure import open_model

    source = open_model(model)
    assert source.input_shape == (3, 448, 448)
    assert source.input_origin == "the input_size MaxVit was built for (its first grid × 4)"
    assert {s.stage for s in source.sites().native} == {2, 3, 4, 5}  # its own SE, found at 448 without being told
