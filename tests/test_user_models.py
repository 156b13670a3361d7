"""A user's own model, named as package.module:function: known blocks, the generic rules, and refusals."""

import pytest
import torch

from seprof import inject, profile
from seprof.errors import ModelError, UnknownModelError
from seprof.models import build_model, default_input_shape
from seprof.stages import find_sites
from seprof.surgery import se_modules

SHAPE = (3, 224, 224)


def sites(spec):
    return find_sites(build_model(spec, "meta"), SHAPE)


def test_residual_blocks_are_found_by_the_generic_rule():
    stage_map = sites("user_models:build_residual")
    assert [(s.stage, s.blocks) for s in stage_map.stages] == [(2, 2), (3, 2)]
    first = stage_map.sites[0]
    assert (first.path, first.label, first.channels) == ("body.0.bn2", "Block.bn2", 16)
    assert "generic rule" in first.description


def test_plain_conv_bn_act_units_are_found_when_there_is_no_residual():
    stage_map = sites("user_models:build_plain")
    assert [s.path for s in stage_map.sites] == ["2", "5", "8"]
    assert [(s.stage, s.blocks) for s in stage_map.stages] == [(1, 1), (2, 2)]


def test_known_blocks_in_a_user_model():
    assert len(sites("user_models:build_resnet18_subclass").sites) == 8


def test_inject_and_profile_a_factory():
    model = build_model("user_models:build_residual", "cpu")
    se = inject(model, r=4)
    assert len(se_modules(se)) == 4
    with torch.no_grad():
        assert se(torch.randn(1, *SHAPE)).shape == (1, 10)
    report = profile("user_models:build_residual", r=4, latency=False, counters=("thop", "torch"))
    assert report.config("se").params_added == report.config("se").analytic_exact
    assert default_input_shape("user_models:build_residual") == SHAPE


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("user_models:build_mlp", ModelError, "nowhere seprof can put SE"),
        ("user_models:build_not_a_module", ModelError, "returned str, not a torch.nn.Module"),
        ("user_models:not_a_factory", UnknownModelError, "is not callable"),
        ("user_models:missing", UnknownModelError, "has no 'missing'"),
        ("no_such_package.models:build", UnknownModelError, "cannot import 'no_such_package.models'"),
        (":build", UnknownModelError, "is not package.module:function"),
        ("user_models:Block", UnknownModelError, r"user_models:Block cannot be called with no arguments \(missing a "
         r"required argument: 'channels'\): seprof calls a factory with none"),
        ("user_models:build_cifar", ModelError, "Cifar cannot run on input 3x224x224"),
        ("user_models:build_needs_values", ModelError, "a forward that needs tensor values cannot be analysed"),
    ],
)
def test_refusals(spec, error, message):
    with pytest.raises(error, match=message):
        sites(spec)


def test_a_fixed_input_model_is_numbered_from_its_own_input():
    stage_map = find_sites(build_model("user_models:build_cifar", "meta"), (3, 32, 32))
    assert [(s.stage, s.path) for s in stage_map.sites] == [(0, "f.2"), (1, "f.5")]


def test_shared_activation_modules_fall_back_to_the_bn():
    residual = sites("user_models:build_shared_act")
    assert [s.path for s in residual.sites] == ["1.bn2", "2.bn2"]
    assert "shared activation" in residual.sites[0].description
    stack = sites("user_models:build_shared_relu_stack")
    assert [s.path for s in stack.sites] == ["1", "4"]


def test_adding_a_parameter_is_not_a_residual():
    stage_map = sites("user_models:build_pos_embed")
    assert [(s.path, s.description) for s in stage_map.sites] == [("body.2", "after conv+BN+activation (generic rule)")]


def test_factories_that_resist_the_meta_device_are_built_for_real_then_copied():
    model = build_model("user_models:build_resnet18_on_cpu", "meta")
    assert all(p.is_meta for p in model.parameters())
    assert len(find_sites(model, SHAPE).sites) == 8


def test_building_on_meta_affects_only_the_building_thread():
    import threading

    from seprof.models import _register_on_meta

    original = torch.nn.Module.register_parameter
    made = {}
    with _register_on_meta():
        other = threading.Thread(target=lambda: made.update(linear=torch.nn.Linear(2, 2)))
        other.start()
        other.join()
        here = torch.nn.Linear(2, 2)
    assert here.weight.is_meta and not made["linear"].weight.is_meta
    assert torch.nn.Module.register_parameter is original


def test_meta_building_skips_initialisation_only_for_meta_tensors():
    from seprof.models import _no_init_on_meta

    original = torch.nn.init.kaiming_uniform_
    with _no_init_on_meta():
        meta = torch.empty(3, 3, device="meta")
        assert torch.nn.init.kaiming_uniform_(meta) is meta
        real = torch.zeros(3, 3)
        torch.nn.init.ones_(real)
        assert torch.equal(real, torch.ones(3, 3))
    assert torch.nn.init.kaiming_uniform_ is original


def test_a_registered_placement_serves_every_position():
    from user_models import Block, build_residual

    import seprof
    from seprof.spec import BlockSpec
    from seprof.stages import PLACEMENTS
    from seprof.surgery import strip

    model = build_residual()
    assert find_sites(model, (3, 32, 32)).sites[0].description.endswith("(generic rule)")
    seprof.register_placement(Block, "bn2", "the unit's branch, before the sum", pre="conv1", identity="down")
    try:
        stage_map = find_sites(model, (3, 32, 32))
        assert [s.label for s in stage_map.sites] == ["Block.bn2"] * 4
        for position in ("standard", "identity", "pre"):
            se = seprof.inject(model, block=BlockSpec(r=16, position=position), input_shape=(3, 32, 32))
            sites = find_sites(model, (3, 32, 32), position=position).sites
            expected = sum(2 * s.channels * (s.channels // 16) + s.channels // 16 + s.channels for s in sites)
            assert sum(p.numel() for p in se.parameters()) - sum(p.numel() for p in model.parameters()) == expected
            assert list(strip(se).state_dict()) == list(model.state_dict())
        identity = find_sites(model, (3, 32, 32), position="identity").sites
        assert [s.feed for s in identity] == ["absent", "absent", "output", "absent"]  # body.2 has a projection
        with pytest.raises(seprof.SeprofError, match="is not a torch.nn.Module class"):
            seprof.register_placement(int, "x", "nowhere")
    finally:
        PLACEMENTS.pop(Block, None)
    assert find_sites(model, (3, 32, 32)).sites[0].description.endswith("(generic rule)")


def test_the_generic_rule_takes_token_branches_that_end_in_a_linear_layer():
    """A residual sum over tokens, whose branch ends in a Linear: token SE there, by the generic rule."""
    stage_map = sites("user_models:build_tiny_vit")
    assert [(s.point, s.layout, s.stage, s.channels, s.resolution) for s in stage_map.sites] == [
        ("fc2", "tokens", 4, 64, (196,)), ("fc2", "tokens", 4, 64, (196,))]
