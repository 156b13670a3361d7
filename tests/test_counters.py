import pytest
import torch
import torch.nn.functional as F
from conftest import hooks_of
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

from seprof.counters import COUNTER_NAMES, count_all
from seprof.surgery import inject, se_modules

SHAPE = (3, 224, 224)


@pytest.fixture(scope="module")
def resnet50_counts(resnet50_meta):
    se = inject(resnet50_meta, r=16)
    scopes = [f"{path}.se" for path, _ in se_modules(se)]
    return se, scopes, count_all(se, SHAPE, scopes), count_all(resnet50_meta, SHAPE)


def test_resnet50_base_macs_by_each_counter(resnet50_counts):
    _, _, _, base = resnet50_counts
    # fvcore 4.11 G, thop 4.13 G, torch 4.09 G (conv + fc only), as recorded in the reference
    assert base["fvcore"].macs == 4_111_512_576
    assert base["thop"].macs == 4_133_742_592
    assert base["torch"].macs == 4_089_184_256


def test_base_equals_se_minus_the_se_scopes_for_every_counter(resnet50_counts):
    se, scopes, counts, base = resnet50_counts
    for name in COUNTER_NAMES:
        assert counts[name].without(scopes) == base[name].macs, name
        assert counts[name].macs > base[name].macs


def test_torch_counter_sees_exactly_the_se_fc_weights(resnet50_counts):
    _, scopes, counts, _ = resnet50_counts
    # FC MACs = 2·C·(C//r) per block = the paper formula; torch's counter skips bias, pool, sigmoid, scale
    assert sum(counts["torch"].scope_macs.values()) == 2_514_944
    assert counts["torch"].scope_macs["layer1.0.bn3.se"] == 2 * 256 * 16


def test_fvcore_and_thop_count_the_fcs_but_not_the_squeeze_or_the_scale(resnet50_counts):
    _, _, counts, _ = resnet50_counts
    # SE's squeeze is a tensor mean (aten::mean): fvcore has no handle for it and thop sees modules only, so both
    # count an SE block's FC MACs alone, 2·C·(C//r) (neither counts conv bias): 2·256·16 for SE_2_1, and the
    # paper's formula over the 16 blocks. A pooling module would add 56·56·256 (fvcore; thop: (56·56+1)·256).
    for name in ("fvcore", "thop"):
        assert counts[name].scope_macs["layer1.0.bn3.se"] == 2 * 256 * 16, name
        assert sum(counts[name].scope_macs.values()) == 2_514_944, name
        assert "aten::mean ×16" in counts[name].skipped, name  # the 16 squeezes, named as not counted
    assert "aten::mean ×17" in counts["torch"].skipped  # the 16 squeezes and the head's average pooling
    assert "aten::mul ×16" in counts["fvcore"].skipped and "aten::sigmoid ×16" in counts["fvcore"].skipped
    assert "aten::mul ×16" in counts["torch"].skipped
    assert "aten::mul ×16" in counts["thop"].skipped and "aten::add_ ×16" in counts["thop"].skipped
    assert "Sigmoid ×16" in counts["thop"].skipped
    # fvcore ignores ReLU on its own; it carries work, so it is named: 49 in the blocks and stem, 16 in SE
    assert "aten::relu_ ×65" in counts["fvcore"].skipped and "ReLU (counted as 0) ×65" in counts["thop"].skipped


def test_counters_leave_no_trace_on_a_real_model():
    from seprof.models import build_model

    model = build_model("resnet18", "cpu").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_all(model, (3, 64, 64))
    assert model.training and hooks_of(model) == []
    assert not any(name.startswith("total_") for name, _ in model.named_buffers())
    after = model.state_dict()
    assert list(after) == list(before) and all(torch.equal(before[k], after[k]) for k in before)


def test_a_failed_thop_pass_leaves_no_hooks_or_buffers(resnet18_meta):
    from seprof.counters import count_thop

    with pytest.raises(RuntimeError):
        count_thop(resnet18_meta, (1, 224, 224), [])  # one input channel: the first conv fails
    assert hooks_of(resnet18_meta) == []
    assert not any(name.startswith("total_") for name, _ in resnet18_meta.named_buffers())
    assert count_thop(resnet18_meta, (3, 224, 224), []).macs == count_thop(resnet18_meta, (3, 224, 224), []).macs


def test_thop_says_what_it_cannot_see_in_attention():
    from seprof.counters import count_thop
    from seprof.models import build_model

    vit = count_thop(build_model("vit_b_16", "meta"), (3, 224, 224), [])
    assert "MultiheadAttention (own weights, used functionally) ×12" in vit.skipped
    # its in- and out-projections and the two matmuls of each block's attention, called functionally
    assert "aten::addmm ×24" in vit.skipped and "aten::bmm ×24" in vit.skipped
    swin = count_thop(build_model("swin_t", "meta"), (3, 224, 224), [])
    assert "Linear not called as a module ×24" in swin.skipped
    assert {"aten::addmm ×24", "aten::bmm ×24", "aten::_softmax ×12"} <= set(swin.skipped)
    assert not any(s.startswith(("Permute", "StochasticDepth", "Flatten")) for s in swin.skipped)  # no work


def test_torch_counter_lists_in_place_adds(resnet50_counts):
    _, _, counts, base = resnet50_counts
    assert "aten::add_ ×16" in base["torch"].skipped and "aten::batch_norm ×53" in base["torch"].skipped


def test_shape_only_modules_restore_every_forward():
    from seprof.meta import shape_only_modules
    from seprof.models import build_model

    model = build_model("mobilenet_v3_small", "meta")
    with shape_only_modules(model):
        assert "forward" in model.features[0][1].__dict__  # a BatchNorm2d
        out = model(torch.empty(1, 3, 224, 224, device="meta"))
    assert out.shape == (1, 1000)
    assert not any("forward" in m.__dict__ for m in model.modules())


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_thop_counts_on_the_meta_device_equal_a_plain_thop_pass(name):
    import sys

    import thop

    from seprof.counters import count_thop
    from seprof.models import build_model

    tally = sys.modules["thop.profile"].count_parameters
    model = build_model(name, "cpu")
    with torch.no_grad():
        plain, _ = thop.profile(model, inputs=(torch.zeros(1, 3, 224, 224),), verbose=False)
    assert count_thop(build_model(name, "meta"), (3, 224, 224), []).macs == int(plain)
    assert sys.modules["thop.profile"].count_parameters is tally


def test_norm_subclasses_with_a_forward_of_their_own_run_as_written():
    from torch import nn

    from seprof.meta import shape_only_modules

    class ScaledNorm(nn.BatchNorm2d):
        def __init__(self, channels):
            super().__init__(channels)
            self.scale = nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            return self.scale(super().forward(x))

    model = nn.Sequential(nn.Conv2d(3, 4, 3), ScaledNorm(4), nn.BatchNorm2d(4)).to("meta").eval()
    with shape_only_modules(model):
        assert "forward" not in model[1].__dict__ and "forward" in model[2].__dict__


def test_every_counter_is_one_interface_and_scopes_any_part_of_a_model():
    from seprof.counters import COUNTERS
    from seprof.models import build_model

    model = build_model("resnet18", "meta")
    for name in ("thop", "torch"):
        counter = COUNTERS[name]
        assert counter.name == name and counter.unit and counter.note
        count = counter(model, (3, 64, 64), ["layer4", "layer1"])
        # layer4 at 2×2: 3×3 convs 256→512 (stride 2) and 512→512 ×3, plus the 1×1 projection
        convs = 2 * 2 * 9 * (256 * 512 + 3 * 512 * 512) + 2 * 2 * 256 * 512
        assert count.scope_macs["layer4"] >= convs and 0 < count.scope_macs["layer1"] < count.macs
    assert COUNTERS["torch"](model, (3, 64, 64), ["layer4"]).scope_macs["layer4"] == convs


class _Attention(nn.Module):
    """Self-attention with its matmuls called functionally: once by hand (q·kᵀ, softmax, ·v), once by SDPA."""

    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.qkv, self.proj, self.heads = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), heads

    def forward(self, x):
        n, length, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        by_hand = (q @ k.transpose(-2, -1) * (dim // self.heads) ** -0.5).softmax(-1) @ v
        both = by_hand + F.scaled_dot_product_attention(q, k, v)
        return self.proj(both.transpose(1, 2).reshape(n, length, dim))


class _Transformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_Attention(), _Attention()])

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return x


def test_thop_names_the_attention_matmuls_it_missed_with_their_calls_and_torch_counts_them():
    from seprof.counters import count_thop, count_torch

    model = _Transformer().to("meta").eval()
    thop_count, torch_count = count_thop(model, (10, 32), []), count_torch(model, (10, 32), [])
    # per block: q·kᵀ and ·v by hand and in SDPA (on the meta device, its math path: two bmm); the scale
    # multiplies (one by hand, q and k in SDPA), two softmaxes, the sum of both, and the residual add
    assert thop_count.uncounted == {"aten::bmm": 8, "aten::mul": 6, "aten::_softmax": 2, "aten::_safe_softmax": 2,
                                    "aten::add": 4}
    assert "aten::bmm ×8" in thop_count.skipped
    # each matmul: 4 heads · 10 · 10 · 8 MACs; thop counts the linear layers only, torch's counter all of it
    matmuls, linears = 2 * 4 * (4 * 10 * 10 * 8), 2 * 10 * (32 * 96 + 32 * 32)
    assert (thop_count.macs, torch_count.macs) == (linears, linears + matmuls)
    assert not {"aten::bmm", "aten::mm", "aten::addmm"} & set(torch_count.uncounted)
    assert hooks_of(model) == [] and _get_current_dispatch_mode_stack() == []


def test_thop_names_the_residual_add_and_the_scale_multiply_of_resnet18_with_se(resnet18_meta):
    from seprof.counters import count_thop

    se = inject(resnet18_meta, r=16)
    count = count_thop(se, SHAPE, [])
    # 8 blocks: a residual add, an SE squeeze (a tensor mean) and an SE scale each; ReLU: twice a block, once in
    # the stem, once in each SE
    assert count.uncounted == {"aten::add_": 8, "aten::mean": 8, "aten::mul": 8, "Sigmoid": 8,
                               "ReLU (counted as 0)": 25, "MaxPool2d (counted as 0)": 1}
    assert hooks_of(se) == [] and _get_current_dispatch_mode_stack() == []


def test_thop_names_nothing_inside_the_module_types_it_has_rules_for():
    from seprof.counters import count_thop

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4), nn.Softmax(-1)).to("meta").eval()
    assert count_thop(model, (3, 8, 8), []).uncounted == {}  # nn.Flatten: no rule, but it only reshapes

    class Gelus(nn.Module):  # one GELU module called twice, and a linear layer used only through its weight
        def __init__(self) -> None:
            super().__init__()
            self.act, self.fc = nn.GELU(), nn.Linear(4, 4)

        def forward(self, x):
            return F.linear(self.act(self.act(x)), self.fc.weight)

    assert count_thop(Gelus().to("meta").eval(), (4,), []).uncounted == {
        "GELU": 2, "Linear not called as a module": 1, "aten::mm": 1}


def test_fvcore_leaves_out_shape_arithmetic_and_names_the_work_it_ignores():
    from seprof.counters import count_fvcore, count_torch

    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            n = x.shape[0]  # a 0-dim tensor in fvcore's trace, and n * 1 an aten::mul on it
            return (self.fc(x).view(n * 1, -1) * 2).relu()

    expected = {"aten::mul": 1, "aten::relu": 1}
    assert count_fvcore(Scaled(), (4,), []).uncounted == expected == count_torch(Scaled(), (4,), []).uncounted


def test_work_is_what_computes_values():
    from seprof.counters import carries_work

    assert all(carries_work(op) for op in ("aten::add_", "bmm", "aten::_softmax", "relu_", "ne", "__and__", "mean"))
    assert not any(carries_work(op) for op in ("aten::copy_", "_unsafe_view", "cat", "masked_fill_", "fill_",
                                               "constant_pad_nd", "aten::dropout_", "new_zeros", "_to_copy"))
