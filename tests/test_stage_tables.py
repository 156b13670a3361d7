"""Stage tables of representative models: stage s = stride 2^s, from shapes."""

import pytest

from seprof.models import build_model, default_input_shape
from seprof.stages import find_sites


def table(name, native=False):
    stage_map = find_sites(build_model(name, "meta"), default_input_shape(name))
    chosen = stage_map.native_map() if native else stage_map
    return [(s.stage, s.blocks, s.resolution) for s in chosen.stages]


@pytest.mark.parametrize(
    "name, native, expected",
    [
        ("resnet50", False, [(2, 3, (56, 56)), (3, 4, (28, 28)), (4, 6, (14, 14)), (5, 3, (7, 7))]),
        ("mobilenet_v2", False, [(1, 1, (112, 112)), (2, 2, (56, 56)), (3, 3, (28, 28)), (4, 7, (14, 14)),
                                 (5, 4, (7, 7))]),
        ("efficientnet_b0", True, [(1, 1, (112, 112)), (2, 2, (56, 56)), (3, 2, (28, 28)), (4, 6, (14, 14)),
                                   (5, 5, (7, 7))]),
        ("densenet121", False, [(2, 6, (56, 56)), (3, 12, (28, 28)), (4, 24, (14, 14)), (5, 16, (7, 7))]),
        ("inception_v3", False, [(3, 3, (35, 35)), (4, 5, (17, 17)), (5, 3, (8, 8))]),
        ("vit_b_16", False, [(4, 12, (197,))]),
        ("vit_b_32", False, [(5, 12, (50,))]),
        ("swin_t", False, [(2, 2, (56, 56)), (3, 2, (28, 28)), (4, 6, (14, 14)), (5, 2, (7, 7))]),
        ("vgg16", False, [(0, 2, (224, 224)), (1, 2, (112, 112)), (2, 3, (56, 56)), (3, 3, (28, 28)),
                          (4, 3, (14, 14))]),
        ("googlenet", False, [(3, 2, (28, 28)), (4, 5, (14, 14)), (5, 2, (7, 7))]),
    ],
)
def test_stage_tables(name, native, expected):
    assert table(name, native) == expected


def test_inception_input_is_299_and_channels_per_module():
    assert default_input_shape("inception_v3") == (3, 299, 299)
    stage_map = find_sites(build_model("inception_v3", "meta"), (3, 299, 299))
    assert [s.channels for s in stage_map.sites] == [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]


def test_efficientnet_b0_native_blocks_keep_their_own_widths():
    stage_map = find_sites(build_model("efficientnet_b0", "meta"), (3, 224, 224))
    assert stage_map.sites == () and len(stage_map.native) == 16
    first = stage_map.native[0]
    assert (first.channels, first.hidden, first.bias, first.label) == (32, 8, True, "MBConv.block.1 (native)")


def test_mobilenet_v3_has_native_se_and_blocks_without():
    stage_map = find_sites(build_model("mobilenet_v3_large", "meta"), (3, 224, 224))
    assert len(stage_map.native) == 8 and len(stage_map.sites) == 7
    assert {s.native for s in stage_map.sites} == {False}


def test_token_layouts():
    vit = find_sites(build_model("vit_b_16", "meta"), (3, 224, 224)).sites[0]
    assert (vit.layout, vit.channels, vit.feature_shape) == ("tokens", 768, (197, 768))
    swin = find_sites(build_model("swin_t", "meta"), (3, 224, 224)).sites[0]
    assert (swin.layout, swin.channels, swin.feature_shape) == ("nhwc", 96, (56, 56, 96))


def test_stage_numbers_do_not_move_with_the_input_size():
    model = build_model("inception_v3", "meta")
    for size in (230, 299, 342):
        stage_map = find_sites(model, (3, size, size), (3, 299, 299))
        assert stage_map.stage_numbers == (3, 4, 5), size
    assert round(stage_map.sites[0].stride, 2) == 8.54  # 299 / 35


def test_vit_h_14_stride_is_14_at_the_size_it_is_built_for():
    """vit_h_14 runs at its DEFAULT weights' 518 (37×37 patches), and is built for 224 when asked."""
    site = find_sites(build_model("vit_h_14", "meta"), (3, 518, 518)).sites[0]
    assert (site.stage, site.stride, site.resolution) == (4, 14.0, (37 * 37 + 1,))  # tokens, the class token too
    small = find_sites(build_model("vit_h_14", "meta", input_shape=(3, 224, 224)), (3, 224, 224)).sites[0]
    assert (small.stage, small.stride, small.resolution) == (4, 14.0, (16 * 16 + 1,))


def test_auxiliary_classifiers_are_not_built():
    googlenet = build_model("googlenet", "meta")
    assert not any(name.startswith("aux") for name, _ in googlenet.named_modules())
    assert sum(p.numel() for p in googlenet.parameters()) == 6_624_904
