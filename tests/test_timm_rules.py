"""Where seprof's blocks go in timm's other families: the generic rule for transformer-style blocks (SE at the
MLP output), the rows of ``seprof.timm_models`` (Eva, CaiT, XCiT, VOLO, MLP-Mixer, MobileViT, DenseNet, VGG,
VoVNet, Inception, NAS cells), and a model that stays refused. Meta device only; one small model per rule."""

from collections import Counter

import pytest

from seprof.errors import ModelError
from seprof.measure import open_model

timm = pytest.importorskip("timm")


def facts(name: str) -> tuple[dict[str, int], dict[int, int], set[str], list[int]]:
    """A timm model's sites: count per label, count per stage, layouts, and the channels of each stage."""
    stage_map = open_model(f"timm:{name}").sites()
    assert not stage_map.native
    sites = stage_map.sites
    channels = [sorted({s.channels for s in sites if s.stage == k}) for k in stage_map.stage_numbers]
    return (dict(Counter(s.label for s in sites)), dict(Counter(s.stage for s in sites)), {s.layout for s in sites},
            [c for group in channels for c in group])


@pytest.mark.parametrize("name, labels, stages, layout, channels", [
    # LeViT: blocks and the downsampling blocks' residual MLPs, tokens at strides 16, 32, 64
    ("levit_128s", {"LevitBlock.mlp": 9, "LevitDownsample.mlp": 2}, {4: 2, 5: 4, 6: 5}, "tokens", [128, 256, 384]),
    # TinyViT: its transformer stages (its first, convolutional stage does not trace)
    ("tiny_vit_5m_224", {"TinyVitBlock.mlp": 10}, {3: 2, 4: 6, 5: 2}, "tokens", [128, 160, 320]),
    # NesT: N×blocks×tokens×C, numbered by the positions it holds (16 blocks of 196 tokens: stride 4)
    ("nest_tiny", {"TransformerLayer.mlp": 12}, {2: 2, 3: 2, 4: 8}, "nhwc", [96, 192, 384]),
    ("hiera_tiny_224", {"HieraBlock.mlp": 12}, {2: 1, 3: 2, 4: 7, 5: 2}, "tokens", [96, 192, 384, 768]),
])
def test_the_generic_rule_puts_se_at_the_mlp_output_of_transformer_style_blocks(name, labels, stages, layout,
                                                                                channels):
    found = facts(name)
    assert found == (labels, stages, {layout}, channels)
    site = open_model(f"timm:{name}").sites().sites[0]
    assert site.description == "the block's MLP output, before the residual sum (generic rule)"


@pytest.mark.parametrize("name, labels, stages, layout, channels", [
    # Eva: PE-core's attention-pool head runs an MLP over one latent token; it takes no SE
    ("vit_pe_core_tiny_patch16_384", {"EvaBlock.mlp": 12}, {4: 12}, "tokens", [192]),
    # class-attention blocks (2 in CaiT, 2 in XCiT) run their MLP on the class token alone: no SE there
    ("cait_xxs24_224", {"LayerScaleBlock.mlp": 24}, {4: 24}, "tokens", [192]),
    ("xcit_nano_12_p16_224", {"XCABlock.mlp": 12}, {4: 12}, "tokens", [128]),
    ("volo_d1_224", {"Outlooker.mlp": 4, "Transformer.mlp": 14}, {3: 4, 4: 14}, "nhwc", [192, 384]),
    # the channel-mixing MLP, not the token-mixing one
    ("mixer_s16_224", {"MixerBlock.mlp_channels": 8}, {4: 8}, "tokens", [512]),
    ("resmlp_12_224", {"ResBlock.mlp_channels": 12}, {4: 12}, "tokens", [384]),
    ("mobilevitv2_050", {"MobileVitV2Block.conv_proj": 3}, {3: 1, 4: 1, 5: 1}, "nchw", [128, 192, 256]),
    ("densenet121", {"DenseLayer.conv2": 58}, {2: 6, 3: 12, 4: 24, 5: 16}, "nchw", [32, 32, 32, 32]),
    ("vovnet39a", {"OsaBlock.conv_concat": 6}, {2: 1, 3: 1, 4: 2, 5: 2}, "nchw", [256, 512, 768, 1024]),
    ("inception_v3", {"InceptionA (output)": 3, "InceptionB (output)": 1, "InceptionC (output)": 4,
                      "InceptionD (output)": 1, "InceptionE (output)": 2}, {3: 3, 4: 5, 5: 3}, "nchw",
     [256, 288, 768, 1280, 2048]),
    ("pnasnet5large", {"CellStem0 (output)": 1, "Cell (output)": 13}, {2: 1, 3: 5, 4: 4, 5: 4}, "nchw",
     [270, 540, 1080, 2160, 4320]),
])
def test_timms_other_families_take_se_by_their_rows(name, labels, stages, layout, channels):
    assert facts(name) == (labels, stages, {layout}, channels)


def test_timms_vgg_takes_se_after_each_convs_relu_as_torchvisions():
    theirs = open_model("timm:vgg11").sites().sites
    ours = open_model("vgg11").sites().sites
    assert [(s.path, s.stage, s.channels) for s in theirs] == [(s.path, s.stage, s.channels) for s in ours]
    assert len(theirs) == 8


def test_a_model_nothing_fits_stays_refused_in_one_line():
    with pytest.raises(ModelError, match=r"^EfficientVitLarge has nowhere seprof can put SE: ") as error:
        open_model("timm:efficientvit_l1").sites()
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("name, stem, sites, finest", [
    ("cpubone_nano", "stem.0.act", 5, 4.0),
    ("efficientvit_b0", "stem.in_conv.act", 8, 4.0),
])
def test_the_generic_rules_put_no_se_in_a_stem_finer_than_the_models_first_feature_stride(name, stem, sites, finest):
    """timm's feature_info starts at stride 4 in these models; a conv unit of the stride-2 stem is not a stage."""
    source = open_model(f"timm:{name}")
    assert min(entry["reduction"] for entry in source.meta.feature_info) == finest
    found = source.sites().sites
    assert len(found) == sites and min(s.stride for s in found) == finest
    assert stem not in {s.path for s in found}


@pytest.mark.parametrize("name, labels, stages, layout, channels", [
    # MetaFormer (PoolFormer): a pooling mixer beside an MLP of 1×1 convs: N×C×H×W at the MLP output
    ("poolformer_s12", {"MetaFormerBlock.mlp": 12}, {2: 2, 3: 2, 4: 6, 5: 2}, "nchw", [64, 128, 320, 512]),
    # gMLP: the channel MLP holds the spatial gating unit
    ("gmlp_s16_224", {"SpatialGatingBlock.mlp_channels": 30}, {4: 30}, "tokens", [256]),
    # MobileViT v1: the transformer path projected back, none in its MobileNetV2 blocks
    ("mobilevit_xxs", {"MobileVitBlock.conv_proj": 3}, {3: 1, 4: 1, 5: 1}, "nchw", [48, 64, 80]),
])
def test_more_families_by_their_rules(name, labels, stages, layout, channels):
    assert facts(name) == (labels, stages, {layout}, channels)
