"""Every torchvision model (121 builders): SE goes in (or, for models with their own SE, comes out), the output
shapes hold, and the exact analytic count equals the measured parameter difference. Meta device only."""

import pytest
import torch
import torchvision

from seprof.families import Task, task_of
from seprof.measure import analytic, num_params, open_model
from seprof.models import FAMILIES, MODEL_FAMILIES, build_model, default_input_shape, list_models, model_family
from seprof.spec import BlockSpec
from seprof.stages import find_sites
from seprof.surgery import inject_sites, se_at, strip_sites


def test_every_torchvision_classification_model_is_supported():
    names = torchvision.models.list_models(module=torchvision.models)
    assert len(names) == 80
    assert set(list_models()) == set(names)
    assert {MODEL_FAMILIES[n] for n in names} == {f.name for f in FAMILIES.values() if f.task is Task.CLASSIFICATION}


def test_every_torchvision_builder_has_a_family_and_a_task():
    names = torchvision.models.list_models()
    assert len(names) == 121
    assert set(list_models(task=None)) == set(names) == set(MODEL_FAMILIES)
    counts = {task: len(list_models(task=task)) for task in Task}
    assert counts == {Task.CLASSIFICATION: 80, Task.SEGMENTATION: 6, Task.DETECTION: 12, Task.VIDEO: 9,
                      Task.OPTICAL_FLOW: 2, Task.QUANTIZATION: 12}
    assert {MODEL_FAMILIES[n] for n in names} == set(FAMILIES)


OTHER_TASKS = [name for name in list_models(task=None) if task_of(name) is not Task.CLASSIFICATION]


@pytest.mark.parametrize("name", OTHER_TASKS)
def test_every_other_builder_takes_se_with_exact_counts_and_unchanged_outputs(name):
    """Segmentation, detection, video, optical flow and quantizable builders, each through its harness: the
    output shapes of what a shape-only pass runs (a detector's backbone: every pyramid level) are unchanged."""
    source = open_model(name)
    stage_map = source.sites()
    model, harness = source.meta, source.harness
    if stage_map.native:
        sites = stage_map.native
        changed = strip_sites(model, sites)
        added = num_params(model) - num_params(changed)
    else:
        sites = stage_map.sites
        changed = inject_sites(model, sites, r=16)
        added = num_params(changed) - num_params(model)
        assert all(se_at(changed, s) is not None for s in sites)
    assert sites and added == analytic(sites, None if stage_map.native else BlockSpec(r=16))[1]
    shape = harness.traced_input(model, source.input_shape)
    x = torch.empty(1, *shape, device="meta")

    def shapes(m):
        out = harness.tracing(m)(x)
        values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else [out]
        return [tuple(v.shape) for v in values]

    with torch.no_grad():
        assert shapes(changed) == shapes(model)
    assert all(p.device.type == "meta" for p in model.parameters())


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
