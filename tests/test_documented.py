"""seprof's counts of every torchvision builder against torchvision's own documentation: the DEFAULT weights'
``meta`` holds the parameter count (``num_params``) and the multiply-adds at the weights' evaluation size
(``_ops``, in G). Base parameters and torch's counter, at the input seprof runs each model at (its DEFAULT
weights' evaluation crop), must equal them, on the meta device, to the documentation's rounding.

Every exception is listed below with its reason, and the reason is checked where it can be: the auxiliary heads
seprof leaves out, rebuilt here, restore the documented counts exactly; RAFT at the documentation's 512×512
gives its figure. Detectors are counted by what a shape-only pass traces, which is less than the whole model.
"""

import functools

import pytest
import torch
from torchvision.models import get_model, get_model_weights

from seprof.counters import count_torch
from seprof.measure import num_params
from seprof.meta import with_batchnorm
from seprof.models import _construct, build_model, default_input_shape, harness_of, list_models

# Auxiliary heads that only train: seprof builds the models without them (the documented counts include them).
AUX_HEADS = {
    "fcn_resnet50": "aux_loss", "fcn_resnet101": "aux_loss", "deeplabv3_resnet50": "aux_loss",
    "deeplabv3_resnet101": "aux_loss", "deeplabv3_mobilenet_v3_large": "aux_loss",
    "inception_v3": "aux_logits", "quantized_inception_v3": "aux_logits",
}
# The documented parameters with the head, less seprof's without it (docs/models.md lists them).
AUX_PARAMS = {
    "fcn_resnet50": 2_365_205, "fcn_resnet101": 2_365_205, "deeplabv3_resnet50": 2_365_205,
    "deeplabv3_resnet101": 2_365_205, "deeplabv3_mobilenet_v3_large": 3_851,
    "inception_v3": 3_326_696, "quantized_inception_v3": 3_326_696,
}
# Detectors: the counters run what a shape-only pass traces (the backbone with its FPN or SSD's extra layers);
# the heads, anchors and post-processing depend on the boxes found, so the count is below the documented one.
TRACED_PART = {
    "fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn", "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2",
    "keypointrcnn_resnet50_fpn", "retinanet_resnet50_fpn", "retinanet_resnet50_fpn_v2", "fcos_resnet50_fpn",
    "ssd300_vgg16", "ssdlite320_mobilenet_v3_large",
}
# torchvision documents RAFT's multiply-adds at 512×512; seprof runs it at 368×496 (FlyingChairs' crop).
DOCUMENTED_AT = {"raft_small": (3, 512, 512), "raft_large": (3, 512, 512)}


def documented(name):
    return get_model_weights(name).DEFAULT.meta


def torch_gmacs(name, model, shape=None):
    harness = harness_of(name)
    counted = with_batchnorm(harness.counted(model))
    traced = harness.traced_input(model, shape or default_input_shape(name))
    return round(count_torch(counted, traced, ()).macs / 1e9, 3)


def with_aux_head(name):
    """``name`` as torchvision documents it: with its auxiliary head, on the meta device."""
    options = {AUX_HEADS[name]: True}
    if name.startswith("quantized_"):
        options["quantize"] = False
    if "inception" in name:
        options["init_weights"] = False
    else:
        options["weights_backbone"] = None
    return _construct(functools.partial(get_model, name, weights=None, **options), torch.device("meta")).eval()


def test_the_exceptions_name_builders_that_exist():
    names = set(list_models(task=None))
    assert set(AUX_HEADS) == set(AUX_PARAMS) and set(AUX_HEADS) | TRACED_PART | set(DOCUMENTED_AT) <= names


@pytest.mark.parametrize("name", list_models(task=None))
def test_base_parameters_and_torchs_macs_are_the_documented_ones(name):
    meta = documented(name)
    model = build_model(name, "meta")
    if name in AUX_HEADS:
        assert meta["num_params"] - num_params(model) == AUX_PARAMS[name]
        full = with_aux_head(name)
        assert num_params(full) == meta["num_params"]
        if name not in ("inception_v3", "quantized_inception_v3"):  # the head runs in eval mode too
            assert torch_gmacs(name, full) == meta["_ops"]
        else:
            assert torch_gmacs(name, model) == meta["_ops"]  # an auxiliary classifier runs in training only
        return
    assert num_params(model) == meta["num_params"]
    if name in TRACED_PART:
        assert torch_gmacs(name, model) < meta["_ops"]
    else:
        assert torch_gmacs(name, model, DOCUMENTED_AT.get(name)) == meta["_ops"]


def test_every_classifier_runs_at_its_weights_evaluation_crop():
    """The input seprof runs a classifier at is its DEFAULT weights' evaluation crop, read from torchvision's
    source without importing it; here compared with the transform torchvision builds."""
    for name in list_models(task=None):
        transforms = get_model_weights(name).DEFAULT.transforms
        crop = getattr(transforms, "keywords", {}).get("crop_size")
        if crop is not None and len(default_input_shape(name)) == 3:
            side = crop if isinstance(crop, int) else crop[0]
            assert default_input_shape(name) == (3, side, side), name
    assert default_input_shape("efficientnet_b7") == (3, 600, 600)
    assert default_input_shape("efficientnet_v2_l") == (3, 480, 480)
    assert default_input_shape("swin_v2_t") == (3, 256, 256)
    assert default_input_shape("vit_h_14") == (3, 518, 518)


def test_a_classifier_whose_crop_cannot_be_read_says_so(monkeypatch):
    from seprof import families

    monkeypatch.setattr(families, "_model_sources", lambda task: None)
    monkeypatch.setattr(families, "_weights_crops", lambda task: {})
    assert families.input_shape_of("efficientnet_b7") == (3, 224, 224)
    assert "torchvision's source, where each model's evaluation crop is written, could not be read" in \
        families.input_origin("efficientnet_b7")
    assert "could not be read" not in families.input_origin("fcn_resnet50")  # other tasks: their family's input
