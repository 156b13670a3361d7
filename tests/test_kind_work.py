"""The work of one block of each attention kind as closed-form arithmetic: checked against values computed by hand
at two sizes, against SE's and sSE's work in ``seprof.accounting`` for seprof's own kinds, and for timm's kinds
against the modules timm builds: the MACs torch's flop counter counts, and the full-map elements their ops read
and write."""

import math

import pytest
import torch

from seprof.accounting import SEWork, se_work, sse_work
from seprof.kinds import KIND_NAMES, KINDS, kind
from seprof.spec import BlockSpec

# Each value written out from the kind's formula, by hand, at C=64 on 56×56 (P = 3,136 positions, L = 112 strip
# positions, P·C = 200,704) and at C=2048 on 7×7 (P = 49, L = 14, P·C = 100,352).
HAND = {
    # h = C//16: 4, 128; a pool, the FCs C→h→C with biases, C sigmoids, the scale
    "se": (dict(pool_ops=200_704, fc_macs=2 * 64 * 4, bias_adds=4 + 64, gates=64, scale_muls=200_704),
           dict(pool_ops=100_352, fc_macs=2 * 2048 * 128, bias_adds=128 + 2048, gates=2048, scale_muls=100_352)),
    # a 1×1 conv C→1 with its bias at each position, P sigmoids, the scale
    "sse": (dict(spatial_macs=200_704, bias_adds=3136, gates=3136, scale_muls=200_704),
            dict(spatial_macs=100_352, bias_adds=49, gates=49, scale_muls=100_352)),
    # SE + sSE, and their maps added
    "scse": (dict(pool_ops=200_704, fc_macs=512, spatial_macs=200_704, bias_adds=68 + 3136, gates=64 + 3136,
                  scale_muls=2 * 200_704, combine_ops=200_704),
             dict(pool_ops=100_352, fc_macs=524_288, spatial_macs=100_352, bias_adds=2176 + 49, gates=2048 + 49,
                  scale_muls=2 * 100_352, combine_ops=100_352)),
    # one 1×1 conv C→C with its bias on the pooled vector, C hard sigmoids
    "ese": (dict(pool_ops=200_704, fc_macs=64 * 64, bias_adds=64, gates=64, scale_muls=200_704),
            dict(pool_ops=100_352, fc_macs=2048 * 2048, bias_adds=2048, gates=2048, scale_muls=100_352)),
    # a k-tap Conv1d along the C pooled values, k = 3 (C=64), 7 (C=2048)
    "eca": (dict(pool_ops=200_704, fc_macs=3 * 64, gates=64, scale_muls=200_704),
            dict(pool_ops=100_352, fc_macs=7 * 2048, gates=2048, scale_muls=100_352)),
    # Conv1d 1→d (1 tap) and d→k (k taps) along C, with biases: d·C + d·k·C MACs, d·C + C bias adds; d = 8, 256
    "ecam": (dict(pool_ops=200_704, fc_macs=8 * 64 + 8 * 3 * 64, bias_adds=8 * 64 + 64, gates=64, scale_muls=200_704),
             dict(pool_ops=100_352, fc_macs=256 * 2048 + 256 * 7 * 2048, bias_adds=256 * 2048 + 2048, gates=2048,
                  scale_muls=100_352)),
    "ceca": (dict(pool_ops=200_704, fc_macs=3 * 64, gates=64, scale_muls=200_704),
             dict(pool_ops=100_352, fc_macs=7 * 2048, gates=2048, scale_muls=100_352)),
    # GE-θ⁻ with a global extent and no MLP: a pool, C sigmoids, the scale
    "ge": (dict(pool_ops=200_704, gates=64, scale_muls=200_704),
           dict(pool_ops=100_352, gates=2048, scale_muls=100_352)),
    # attention pooling: conv C→1 (P·C MACs, P bias adds), a softmax over P, the weighted sum (P·C MACs);
    # ConvMlp C→d→C with biases and a LayerNorm on d (d = C/8: 8, 256); C sigmoids and the scale
    "gc": (dict(spatial_macs=2 * 200_704, fc_macs=2 * 64 * 8, bias_adds=3136 + 8 + 64, norm_ops=8,
                gates=3136 + 64, scale_muls=200_704),
           dict(spatial_macs=2 * 100_352, fc_macs=2 * 2048 * 256, bias_adds=49 + 256 + 2048, norm_ops=256,
                gates=49 + 2048, scale_muls=100_352)),
    # the same context and MLP, its output added at every element: no sigmoid, no scale
    "gca": (dict(spatial_macs=2 * 200_704, fc_macs=2 * 64 * 8, bias_adds=3136 + 8 + 64, norm_ops=8, gates=3136,
                 broadcast_adds=200_704),
            dict(spatial_macs=2 * 100_352, fc_macs=2 * 2048 * 256, bias_adds=49 + 256 + 2048, norm_ops=256, gates=49,
                 broadcast_adds=100_352)),
    # channel: avg and max pools, the MLP C→d→C on each (d = C/16: 4, 128; no biases), C sigmoids, the scale;
    # spatial: mean and max over C, a 7×7 conv 2→1 at each position, a BatchNorm on P, P sigmoids, the scale
    "cbam": (dict(pool_ops=4 * 200_704, fc_macs=2 * 2 * 64 * 4 + 2 * 49 * 3136, norm_ops=3136, gates=64 + 3136,
                  scale_muls=2 * 200_704),
             dict(pool_ops=4 * 100_352, fc_macs=2 * 2 * 2048 * 128 + 2 * 49 * 49, norm_ops=49, gates=2048 + 49,
                  scale_muls=2 * 100_352)),
    # the MLP once on the mean of the two pools, a 7×7 conv 1→1
    "lcbam": (dict(pool_ops=4 * 200_704, fc_macs=2 * 64 * 4 + 49 * 3136, norm_ops=3136, gates=64 + 3136,
                   scale_muls=2 * 200_704),
              dict(pool_ops=4 * 100_352, fc_macs=2 * 2048 * 128 + 49 * 49, norm_ops=49, gates=2048 + 49,
                   scale_muls=2 * 100_352)),
    # pools along W and along H; conv1 C→d, a BatchNorm on d, conv_h and conv_w d→C at the L strip positions
    # (d = 8, 88; no biases); C·L sigmoids; the map scaled twice
    "coord": (dict(pool_ops=2 * 200_704, fc_macs=2 * 64 * 8 * 112, norm_ops=8 * 112, gates=64 * 112,
                   scale_muls=2 * 200_704),
              dict(pool_ops=2 * 100_352, fc_macs=2 * 2048 * 88 * 14, norm_ops=88 * 14, gates=2048 * 14,
                   scale_muls=2 * 100_352)),
    # fc1 C→d, fc_h and fc_w d→C with biases at the L strip positions (d = 8, 344); the strips added into a full
    # map, P·C sigmoids on it, one scale
    "scoord": (dict(pool_ops=2 * 200_704, fc_macs=2 * 64 * 8 * 112, bias_adds=(8 + 64) * 112, expand_adds=200_704,
                    map_gates=200_704, scale_muls=200_704),
               dict(pool_ops=2 * 100_352, fc_macs=2 * 2048 * 344 * 14, bias_adds=(344 + 2048) * 14,
                    expand_adds=100_352, map_gates=100_352, scale_muls=100_352)),
    # a depthwise 7-tap conv and a GroupNorm on each strip (C·7·L MACs, C·L norm ops), C·L sigmoids, two scales
    "ela": (dict(pool_ops=2 * 200_704, fc_macs=64 * 7 * 112, norm_ops=64 * 112, gates=64 * 112,
                 scale_muls=2 * 200_704),
            dict(pool_ops=2 * 100_352, fc_macs=2048 * 7 * 14, norm_ops=2048 * 14, gates=2048 * 14,
                 scale_muls=2 * 100_352)),
    # a depthwise 3-tap conv on each strip; the strips added into a full map, P·C sigmoids on it, one scale
    "strip": (dict(pool_ops=2 * 200_704, fc_macs=64 * 3 * 112, expand_adds=200_704, map_gates=200_704,
                   scale_muls=200_704),
              dict(pool_ops=2 * 100_352, fc_macs=2048 * 3 * 14, expand_adds=100_352, map_gates=100_352,
                   scale_muls=100_352)),
}

# Full-map elements read and written, in maps (multiples of P·C), unfused: each op on the map reads it once
TRAFFIC = {
    "se": (2, 1),  # the pool reads; the scale reads and writes
    "sse": (2, 1),  # the conv reads; the scale
    "scse": (6, 3),  # pool, conv, two scales, the combine reads both maps and writes one
    "ese": (2, 1), "eca": (2, 1), "ecam": (2, 1), "ceca": (2, 1), "ge": (2, 1),
    "gc": (3, 1),  # conv, weighted sum, scale
    "gca": (3, 1),  # conv, weighted sum, the add at every element
    "cbam": (6, 2), "lcbam": (6, 2),  # two pools and a scale per branch
    "coord": (4, 2), "ela": (4, 2),  # two strip pools, two scales
    "scoord": (5, 3), "strip": (5, 3),  # two pools; the sum written, gated (read, written), the scale reads it and x
}

SIZES = ((64, 56, 56), (2048, 7, 7))


def test_every_kind_has_hand_computed_work():
    assert set(HAND) == set(TRAFFIC) == set(KIND_NAMES)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_each_kinds_work_is_the_hand_computed_one_at_two_sizes(name):
    for (c, h, w), expected in zip(SIZES, HAND[name]):
        assert kind(name).work_at(c, h, w) == SEWork(**expected)


@pytest.mark.parametrize("name", KIND_NAMES)
def test_each_kinds_feature_traffic_counts_the_maps_its_ops_read_and_write(name):
    reads, writes = TRAFFIC[name]
    for c, h, w in SIZES:
        work = kind(name).work_at(c, h, w)
        assert (work.feature_reads, work.feature_writes) == (reads * c * h * w, writes * c * h * w)


@pytest.mark.parametrize("name", ["se", "sse", "scse"])
@pytest.mark.parametrize("knobs", [{}, {"bias": False}, {"r": 8}, {"divisor": 8},
                                   {"r": 4, "divisor": 8, "bias": False}])
@pytest.mark.parametrize("size", [(64, 56, 56), (2048, 7, 7), (72, 28, 28), (384, 197, 1)])
def test_seprofs_own_kinds_do_the_work_of_their_parts(name, knobs, size):
    if name == "sse":
        knobs = {k: v for k, v in knobs.items() if k == "bias"}
    spec, (c, h, w) = BlockSpec(kind=name, **knobs), size
    parts = se_work(c, h, w, None, spec.bias, spec.hidden(c)) if name != "sse" else SEWork()
    if name != "se":
        parts += sse_work(c, h, w, spec.bias)
    if name == "scse":
        parts += SEWork(combine_ops=h * w * c)  # the two maps combined
    assert kind(name).work_at(*size, **knobs) == spec.work(*size) == parts


# Knobs that change the work, with the work by hand at C=64 on 56×56 (P·C = 200,704)
KNOBS = [
    ("ese", {"add_maxpool": True}, dict(pool_ops=2 * 200_704, fc_macs=4096, bias_adds=64, gates=64,
                                        scale_muls=200_704)),
    ("ge", {"add_maxpool": True}, dict(pool_ops=2 * 200_704, gates=64, scale_muls=200_704)),
    # an average for the context; both fusions: two MLPs (d = 8), the scale, then the add
    ("gc", {"use_attn": False, "fuse_add": True},
     dict(pool_ops=200_704, fc_macs=2 * 2 * 64 * 8, bias_adds=2 * (8 + 64), norm_ops=2 * 8, gates=64,
          scale_muls=200_704, broadcast_adds=200_704)),
    ("cbam", {"mlp_bias": True, "spatial_kernel_size": 3},
     dict(pool_ops=4 * 200_704, fc_macs=2 * 2 * 64 * 4 + 2 * 9 * 3136, bias_adds=2 * (4 + 64), norm_ops=3136,
          gates=64 + 3136, scale_muls=2 * 200_704)),
    ("coord", {"bias": True, "has_skip": True},
     dict(pool_ops=2 * 200_704, fc_macs=2 * 64 * 8 * 112, bias_adds=(8 + 64) * 112, norm_ops=8 * 112,
          gates=64 * 112, scale_muls=2 * 200_704, combine_ops=200_704)),
    ("ela", {"kernel_size": 5, "bias": True, "has_skip": True},
     dict(pool_ops=2 * 200_704, fc_macs=64 * 5 * 112, bias_adds=64 * 112, norm_ops=64 * 112, gates=64 * 112,
          scale_muls=2 * 200_704, combine_ops=200_704)),
    ("strip", {"use_conv": False}, dict(pool_ops=2 * 200_704, expand_adds=200_704, map_gates=200_704,
                                        scale_muls=200_704)),
    ("scoord", {"bias": False, "rd_channels": 24},
     dict(pool_ops=2 * 200_704, fc_macs=2 * 64 * 24 * 112, expand_adds=200_704, map_gates=200_704,
          scale_muls=200_704)),
]


@pytest.mark.parametrize("name, knobs, expected", KNOBS)
def test_knobs_change_the_work_as_they_change_the_block(name, knobs, expected):
    assert kind(name).work_at(64, 56, 56, **knobs) == SEWork(**expected)


def test_unknown_knobs_and_gathers_without_a_formula_are_refused():
    with pytest.raises(TypeError, match=r"^sse has no knob 'r'"):
        kind("sse").work_at(64, 8, 8, r=4)
    with pytest.raises(ValueError, match="rd_channels 0 is not a width"):
        kind("coord").work_at(64, 8, 8, rd_channels=0)
    with pytest.raises(ValueError, match="ge with extent 2 .* give extent=0"):
        kind("ge").work_at(64, 8, 8, extent=2)
    with pytest.raises(ValueError, match="extra_params"):
        kind("ge").work_at(64, 8, 8, extra_params=True)


def test_tokens_are_a_map_of_one_column():
    assert kind("coord").work_at(384, 197, 1).gates == 384 * (197 + 1)
    assert kind("eca").work_at(384, 197, 1) == kind("eca").work_at(384, 1, 197)


# --- against the modules timm builds, at C=64 on 14×10 (P·C = 8,960; no weight or small tensor has that many)


def _map_traffic(module, x):
    """Elements of full maps (x's size) that the module's aten ops read and write: views are left out, and an
    input broadcast over the map counts by its own elements."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    full, seen = x.numel(), {"reads": 0, "writes": 0}

    def maps(tensors, size):
        return sum(full for t in tree_leaves(tensors) if isinstance(t, torch.Tensor) and size(t) == full)

    class Traffic(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                seen["reads"] += maps((args, kwargs), lambda t: math.prod(n for n, s in zip(t.shape, t.stride()) if s))
                seen["writes"] += maps(out, torch.Tensor.numel)
            return out

    with torch.no_grad(), Traffic():
        module(x)
    return seen["reads"], seen["writes"]


def _built(name, knobs):
    timm_layers = pytest.importorskip("timm.layers.create_attn")
    entry = kind(name)
    return timm_layers.create_attn(name, 64, **{**entry.defaults, **knobs}).eval()


TIMM_CASES = [(k.name, {}) for k in KINDS if k.needs_timm] + [(name, knobs) for name, knobs, _ in KNOBS] + [
    ("ecam", {"gamma": 1, "beta": 2}), ("ceca", {"act_layer": torch.nn.ReLU}), ("gc", {"fuse_add": True}),
    ("scoord", {"has_skip": True}), ("strip", {"has_skip": True, "bias": True, "kernel_size": 5}),
]


@pytest.mark.parametrize("name, knobs", TIMM_CASES)
def test_torchs_flop_counter_sees_exactly_the_macs_of_the_excitation_and_the_map_convs(name, knobs):
    """torch counts convolutions and matrix products (bias adds aside): fc_macs + spatial_macs. It skips pools,
    norms, gates, softmax, scales, adds and combines."""
    from torch.utils.flop_counter import FlopCounterMode

    module = _built(name, knobs)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.randn(1, 64, 14, 10))
    work = kind(name).work_at(64, 14, 10, **knobs)
    assert counter.get_total_flops() // 2 == work.fc_macs + work.spatial_macs
    assert {str(op) for op in counter.get_flop_counts()["Global"]} <= {"aten.convolution", "aten.mm", "aten.addmm",
                                                                        "aten.bmm"}


@pytest.mark.parametrize("name, knobs", TIMM_CASES)
def test_the_traffic_is_the_full_maps_the_modules_ops_read_and_write(name, knobs):
    module = _built(name, knobs)
    work = kind(name).work_at(64, 14, 10, **knobs)
    assert _map_traffic(module, torch.randn(1, 64, 14, 10)) == (work.feature_reads, work.feature_writes)
