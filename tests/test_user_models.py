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
    ],
)
def test_refusals(spec, error, message):
    with pytest.raises(error, match=message):
        sites(spec)
