"""Models with SE blocks of their own: found, stripped, measured; inject refuses unless asked to add more."""

import pytest
import torch

from seprof import inject, profile, strip
from seprof.blocks import SEBlock, TokenSE
from seprof.counters import count_all, count_with_blocks
from seprof.errors import ModelError, OptionError
from seprof.measure import num_params
from seprof.models import build_model
from seprof.stages import find_sites
from seprof.surgery import inject_sites, scope_of, se_at, se_modules


@pytest.fixture(scope="module")
def effnet():
    return build_model("efficientnet_b0", "meta")


def test_strip_native_se_by_stage(effnet):
    before = num_params(effnet)
    stripped = strip(effnet)
    assert before - num_params(stripped) == 636_540
    last = strip(effnet, [5])
    native = find_sites(last, (3, 224, 224)).native
    assert len(native) == 11 and {s.stage for s in native} == {1, 2, 3, 4}
    assert num_params(effnet) == before  # the caller's model is untouched


def test_inject_refuses_a_model_with_its_own_se(effnet):
    with pytest.raises(ModelError, match="already has 16 SE blocks of its own"):
        inject(effnet)
    mobilenet = build_model("mobilenet_v3_large", "meta")
    added = inject(mobilenet, add_missing=True)
    assert len(se_modules(added)) == 7


def test_compare_a_native_model():
    report = profile("efficientnet_b0", strip_stages=[[5]], latency=False, counters=("thop", "torch"))
    se, base, stripped = report.config("se"), report.config("base"), report.config("se_strip_5")
    assert report.native and report.r is None
    assert (base.params, se.params_added, round(se.params_added_pct, 2)) == (4_652_008, 636_540, 13.68)
    assert se.analytic_exact == 636_540 and se.analytic_paper == 627_200  # 2·C·hidden per block
    assert stripped.params_added == 151_040 and stripped.se_stages == (1, 2, 3, 4)
    # torch's counter sees the FC weights of each block: 2·C·hidden MACs
    assert se.macs["torch"] - base.macs["torch"] == 627_200
    with pytest.raises(OptionError, match="r=8 applies to SE that seprof adds: .* "
                                          "\\(add_missing=True adds SE to its blocks without one\\)"):
        profile("efficientnet_b0", r=8, latency=False, counters=("torch",))
    with pytest.raises(ModelError, match="already has 16 SE blocks"):
        inject(build_model("efficientnet_b0", "meta"))


@pytest.mark.parametrize("name, counters", [("resnet18", ("fvcore", "thop", "torch")),
                                            ("efficientnet_b0", ("thop", "torch")),
                                            ("vit_b_32", ("thop", "torch"))])
def test_counting_blocks_alone_equals_counting_the_model_with_them(name, counters):
    model = build_model(name, "meta")
    shape = (3, 64, 64) if name == "resnet18" else (3, 224, 224)
    found = find_sites(model, shape)
    if found.native:
        sites, base, with_se = found.native, strip(model), model
    else:
        sites, base = found.sites, model
        with_se = inject_sites(model, sites, r=16)
    scopes = [scope_of(s) for s in sites]
    direct = count_all(with_se, shape, scopes, counters)
    combined = count_with_blocks(base, shape, [(scope_of(s), se_at(with_se, s), s.feature_shape) for s in sites],
                                 counters)
    for c in counters:
        assert combined[c].macs == direct[c].macs, c
        assert combined[c].scope_macs == direct[c].scope_macs, c
        assert combined[c].skipped == direct[c].skipped, c


def test_token_se_matches_se_parameters_and_recalibrates_channels():
    torch.manual_seed(0)
    tokens = TokenSE(64, r=16)
    assert num_params(tokens) == num_params(SEBlock(64, r=16)) == 2 * 64 * 4 + 4 + 64
    x = torch.randn(2, 10, 64)
    out = tokens(x)
    scale = torch.sigmoid(tokens.fc2(torch.relu(tokens.fc1(x.mean(dim=1, keepdim=True)))))
    assert torch.allclose(out, x * scale)
    grid = torch.randn(2, 5, 5, 64)  # Swin's N×H×W×C
    assert tokens(grid).shape == grid.shape


def test_checkpoint_of_se_added_beside_native_se(tmp_path):
    import seprof

    path = tmp_path / "m.pt"
    report = profile("mobilenet_v3_small", add_missing=True, latency=False, counters=("torch",))
    assert report.add_missing and report.config("se").params_added == report.config("se").analytic_exact
    se = inject(build_model("mobilenet_v3_small", "cpu"), add_missing=True)
    seprof.save(path, se, name="mobilenet_v3_small", stages=report.config("se").se_stages, input_shape=(3, 224, 224),
                add_missing=True)
    model = seprof.load(path)
    assert len(se_modules(model)) == 2
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_native_models_refuse_options_for_added_se(tmp_path):
    for kwargs, option in (({"bias": False}, "bias=False"), ({"bias": True}, "bias=True"),
                           ({"block": "sse"}, "block='sse'"), ({"r": 16}, "r=16")):
        with pytest.raises(OptionError, match=f"{option} applies to SE that seprof adds"):
            profile("mobilenet_v3_small", latency=False, counters=("torch",), **kwargs)
    with pytest.raises(ModelError, match="measure them with seprof.profile; or use add_missing=True to add SE to its 2 "
                                         "blocks without one"):
        inject(build_model("mobilenet_v3_small", "meta"))
