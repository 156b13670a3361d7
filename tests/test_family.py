"""The whole ResNet family × stage sets × r: exact accounting equals the measured parameter difference,
and the SE model (per stage set and bias setting) keeps the base model's output shape. Runs on the meta device
(no weights allocated)."""

import pytest
import torch

from seprof.accounting import exact_params
from seprof.models import build_model, list_models
from seprof.stages import find_sites
from seprof.surgery import inject_sites, se_modules

STAGE_SETS = [None, [2], [5], [2, 3, 4], [3, 5]]
RATIOS = [3, 16, 32]


def params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list_models("resnet"))
def test_exact_equals_measured_and_shapes_hold(name):
    base = build_model(name, "meta")
    stage_map = find_sites(base, (3, 224, 224))
    assert stage_map.stage_numbers == (2, 3, 4, 5)
    with torch.no_grad():
        expected = base(torch.empty(2, 3, 224, 224, device="meta")).shape
    for stages in STAGE_SETS:
        sites = stage_map.select(stages)
        for bias in (True, False):
            for r in RATIOS:
                se = inject_sites(base, sites, r=r, bias=bias)
                exact = exact_params([s.channels for s in sites], r, bias)
                assert params(se) - params(base) == exact, (name, stages, r, bias)
                assert len(se_modules(se)) == len(sites)
            with torch.no_grad():  # the last r of this stage set and bias
                assert se(torch.empty(2, 3, 224, 224, device="meta")).shape == expected
