import pytest
import torch
from conftest import hooks_of

from seprof.errors import ModelError, OptionError, StageError
from seprof.models import build_model, harness_of
from seprof.stages import find_sites, is_native_se
from seprof.surgery import WithSE, inject, inject_sites, se_modules, strip, strip_sites

BASE_PARAMS = 25_557_032


def params(model):
    return sum(p.numel() for p in model.parameters())


def test_se_resnet50_parameters(resnet50_meta):
    assert params(resnet50_meta) == BASE_PARAMS
    se = inject(resnet50_meta, r=16)
    assert params(se) == 28_088_024
    assert params(se) - BASE_PARAMS == 2_530_992
    assert params(inject(resnet50_meta, r=16, bias=False)) - BASE_PARAMS == 2_514_944
    assert params(strip(se, [5])) - BASE_PARAMS == 951_600
    assert params(strip(inject(resnet50_meta, r=16, bias=False), [5])) - BASE_PARAMS == 942_080


def test_blocks_are_named_and_placed_before_the_residual_sum(resnet50_meta):
    se = inject(resnet50_meta, stages=[5])
    found = se_modules(se)
    assert [(path, m.name) for path, m in found] == [
        ("layer4.0.bn3", "SE_5_1"), ("layer4.1.bn3", "SE_5_2"), ("layer4.2.bn3", "SE_5_3")
    ]
    assert isinstance(se.layer4[0].bn3, WithSE) and isinstance(se.layer4[0].bn3.inner, torch.nn.BatchNorm2d)
    assert se.layer4[0].bn3.se.fc1.out_channels == 128


def test_inject_then_strip_restores_the_state_dict_exactly():
    base = build_model("resnet18", "cpu")
    se = inject(base, r=4, stages=[2, 4])
    restored = strip(se)
    a, b = base.state_dict(), restored.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not se_modules(restored)


def test_callers_model_is_never_changed():
    base = build_model("resnet18", "cpu").train()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    se = inject(base, r=8, input_shape=(3, 64, 64))
    strip(se, [2])
    assert not se_modules(base) and hooks_of(base) == [] and hooks_of(se) == []
    assert base.training and se.training
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert len(se_modules(se)) == 8  # strip worked on a copy too


def test_se_model_runs_and_keeps_the_output_shape():
    base = build_model("resnet18", "cpu")
    se = inject(base, r=16, stages=[3, 5])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert se(x).shape == base(x).shape == (2, 1000)
        # SE recalibrates: outputs differ from the base model's
        assert not torch.allclose(se(x), base(x))
        # without its SE blocks the model computes exactly what the base model does
        assert torch.equal(strip(se)(x), base(x))


def test_errors(resnet50_meta):
    with pytest.raises(OptionError, match="r=0 is invalid"):
        inject(resnet50_meta, r=0)
    with pytest.raises(OptionError, match="r=257 is larger than the 256 channels of stage 2"):
        inject(resnet50_meta, r=257)
    # r only has to fit the stages that get SE
    assert len(se_modules(inject(resnet50_meta, r=1024, stages=[4, 5]))) == 9
    with pytest.raises(StageError, match="stage 1 is not available"):
        inject(resnet50_meta, stages=[1])
    se = inject(resnet50_meta, stages=[2, 3])
    with pytest.raises(ModelError, match="already has seprof SE blocks"):
        inject(se)
    with pytest.raises(StageError, match="stage 5 is not available: SE is in stages 2, 3"):
        strip(se, [5])
    with pytest.raises(ModelError, match="no SE blocks to strip"):
        strip(resnet50_meta)


def test_shared_copies_of_a_meta_model_leave_it_untouched(resnet50_meta):
    stage_map = find_sites(resnet50_meta, (3, 224, 224))
    before = dict(resnet50_meta.named_modules())
    se = inject_sites(resnet50_meta, stage_map.sites, share=True)
    assert dict(resnet50_meta.named_modules()) == before and not se_modules(resnet50_meta)
    # only the way to each site is new: the stem and every conv are the base model's own objects
    assert se.conv1 is resnet50_meta.conv1 and se.layer1[0].conv1 is resnet50_meta.layer1[0].conv1
    assert se.layer1 is not resnet50_meta.layer1 and se.layer1[0].bn3.inner is resnet50_meta.layer1[0].bn3
    assert len(se_modules(se)) == 16
    stripped = strip_sites(se, stage_map.select([5]), share=True)
    assert len(se_modules(stripped)) == 13 and len(se_modules(se)) == 16
    assert sum(p.numel() for p in strip_sites(se, stage_map.sites, share=True).parameters()) == sum(
        p.numel() for p in resnet50_meta.parameters())


def test_se_blocks_at_weightless_sites_take_the_models_device():
    vgg = build_model("vgg11", "meta")  # SE after each ReLU, which has no weights of its own
    se = inject(vgg, input_shape=(3, 64, 64))
    assert all(p.is_meta for p in se.parameters())


def test_a_shared_copy_has_its_own_tables_on_the_way_to_each_site(resnet50_meta):
    stage_map = find_sites(resnet50_meta, (3, 224, 224))
    se = inject_sites(resnet50_meta, stage_map.select([2]), share=True)
    handle = se.layer1.register_forward_hook(lambda *args: None)
    se.layer1.register_buffer("extra", torch.zeros(1, device="meta"))
    assert not resnet50_meta.layer1._forward_hooks and "extra" not in dict(resnet50_meta.layer1.named_buffers())
    handle.remove()


@pytest.mark.parametrize("name, removed", [
    ("ssdlite320_mobilenet_v3_large", 819_880),  # its backbone's tail is halved (reduce_tail), so its SE blocks too
    ("lraspp_mobilenet_v3_large", 1_512_280),  # the same 8 SE blocks as mobilenet_v3_large's
])
def test_strip_takes_a_harness_for_a_detectors_or_segmenters_own_se(name, removed):
    model = build_model(name, "meta")
    before = dict(model.named_modules())
    stripped = strip(model, harness=harness_of(name))
    assert params(model) - params(stripped) == removed
    assert not any(is_native_se(m) for m in stripped.modules())
    assert dict(model.named_modules()) == before and hooks_of(model) == []  # the caller's model as it was
    assert sum(is_native_se(m) for m in model.modules()) == 8


def test_a_detector_run_without_its_harness_is_one_error():
    with pytest.raises(ModelError, match="^SSD cannot run on input 3x224x224: "):
        strip(build_model("ssdlite320_mobilenet_v3_large", "meta"))  # called with a tensor, not a list of images


def test_mobilenet_v3_larges_own_se_blocks_hold_what_lraspps_strip_removes():
    model = build_model("mobilenet_v3_large", "meta")
    assert params(model) - params(strip(model)) == 1_512_280
