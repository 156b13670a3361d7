"""Every torchvision classification model: SE goes in (or, for models with their own SE, comes out), the output
shape holds, and the exact analytic count equals the measured parameter difference. Meta device only."""

import pytest
import torch
import torchvision

from seprof.measure import analytic, num_params
from seprof.models import FAMILIES, MODEL_FAMILIES, build_model, default_input_shape, list_models, model_family
from seprof.spec import BlockSpec
from seprof.stages import find_sites
from seprof.surgery import inject_sites, se_at, strip_sites


def test_every_torchvision_classification_model_is_supported():
    names = torchvision.models.list_models(module=torchvision.models)
    assert len(names) == 80
    assert set(list_models()) == set(names)
    assert {MODEL_FAMILIES[n] for n in names} == set(FAMILIES)


@pytest.mark.parametrize("name", list_models())
def test_se_in_or_out_keeps_shapes_and_exact_counts(name):
    model = build_model(name, "meta")
    shape = default_input_shape(name)
    stage_map = find_sites(model, shape)
    native = model_family(name).native
    assert bool(stage_map.native) == native
    if native:
        sites = stage_map.native
        changed = strip_sites(model, sites)
        added = num_params(model) - num_params(changed)
        assert all(se_at(changed, s) is None for s in sites)
    else:
        sites = stage_map.sites
        changed = inject_sites(model, sites, r=16)
        added = num_params(changed) - num_params(model)
        assert all(se_at(changed, s) is not None for s in sites)
    assert sites and added == analytic(sites, None if native else BlockSpec(r=16))[1]
    x = torch.empty(2, *shape, device="meta")
    with torch.no_grad():
        assert changed(x).shape == model(x).shape
    assert all(p.device.type == "meta" for p in model.parameters())
