import pytest
import torch
from conftest import hooks_of
from torch import nn

from seprof.errors import ModelError, OptionError, StageError
from seprof.meta import meta_clone
from seprof.models import build_model
from seprof.stages import find_sites, stage_of


def table(stage_map):
    return [(s.stage, s.blocks, s.channels[0], s.resolution) for s in stage_map.stages]


def test_resnet50_stages_match_the_paper(resnet50_meta):
    stage_map = find_sites(resnet50_meta, (3, 224, 224))
    assert table(stage_map) == [(2, 3, 256, (56, 56)), (3, 4, 512, (28, 28)), (4, 6, 1024, (14, 14)),
                                (5, 3, 2048, (7, 7))]
    assert [s.name for s in stage_map.sites][:4] == ["SE_2_1", "SE_2_2", "SE_2_3", "SE_3_1"]
    assert stage_map.sites[-1].name == "SE_5_3"
    assert stage_map.sites[0].path == "layer1.0.bn3" and stage_map.sites[0].block_type == "Bottleneck"


def test_basic_blocks_put_se_after_bn2(resnet18_meta):
    stage_map = find_sites(resnet18_meta, (3, 224, 224))
    assert table(stage_map) == [(2, 2, 64, (56, 56)), (3, 2, 128, (28, 28)), (4, 2, 256, (14, 14)), (5, 2, 512, (7, 7))]
    assert stage_map.sites[0].path == "layer1.0.bn2"


def test_small_inputs_keep_the_stages_of_the_architecture(resnet50_meta):
    stage_map = find_sites(resnet50_meta, (3, 32, 32))
    assert table(stage_map) == [(2, 3, 256, (8, 8)), (3, 4, 512, (4, 4)), (4, 6, 1024, (2, 2)), (5, 3, 2048, (1, 1))]
    # 16×16 shrinks stage 4 and 5 to 1×1 alike; the stage numbers still come from the stride
    assert [s.stage for s in find_sites(resnet50_meta, (3, 16, 16)).stages] == [2, 3, 4, 5]


def test_stage_of_rounds_log2_of_the_stride():
    assert [stage_of(224, n) for n in (56, 28, 14, 7)] == [2, 3, 4, 5]
    assert stage_of(299, 35) == 3


def test_select_and_unknown_stage(resnet50_meta):
    stage_map = find_sites(resnet50_meta, (3, 224, 224))
    assert {s.stage for s in stage_map.select([2, 4])} == {2, 4}
    assert len(stage_map.select(None)) == 16
    with pytest.raises(StageError, match="stage 6 is not available: this model's stages are 2, 3, 4, 5"):
        stage_map.select([6])


def test_real_model_is_left_untouched():
    model = build_model("resnet18", "cpu").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    find_sites(model, (3, 64, 64))
    assert model.training
    assert hooks_of(model) == []
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_meta_clone_copies_structure_not_data():
    model = build_model("resnet18", "cpu")
    clone = meta_clone(model)
    assert all(p.is_meta for p in clone.parameters()) and all(b.is_meta for b in clone.buffers())
    assert [n for n, _ in clone.named_parameters()] == [n for n, _ in model.named_parameters()]
    assert not any(p.is_meta for p in model.parameters())


def test_models_without_known_blocks_are_refused():
    with pytest.raises(ModelError, match="nowhere seprof can put SE"):
        find_sites(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), (3, 32, 32))


def test_inputs_the_model_cannot_run_on_are_refused(resnet18_meta):
    with pytest.raises(OptionError, match=r"input_shape=\(4, 64, 64\) has 4 channels, but ResNet takes 3: its first "
                       r"convolution \(conv1\) has in_channels=3"):
        find_sites(resnet18_meta, (4, 64, 64))
