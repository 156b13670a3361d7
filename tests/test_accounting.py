from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from seprof.accounting import SEWork, block_params, exact_params, hidden_channels, paper_params, se_work

# resnet50: (N_s, C_s) of stages 2..5
RESNET50 = {2: (3, 256), 3: (4, 512), 4: (6, 1024), 5: (3, 2048)}


def channels(stages):
    return [c for s in stages for c in [RESNET50[s][1]] * RESNET50[s][0]]


def test_paper_formula_per_stage_matches_the_reference_table():
    assert [paper_params(channels([s]), 16) for s in (2, 3, 4, 5)] == [24_576, 131_072, 786_432, 1_572_864]
    assert paper_params(channels([2, 3, 4, 5]), 16) == 2_514_944
    assert paper_params(channels([2, 3, 4]), 16) == 942_080


def test_exact_count_with_biases_per_stage():
    assert [exact_params(channels([s]), 16) for s in (2, 3, 4, 5)] == [25_392, 133_248, 792_960, 1_579_392]
    assert exact_params(channels([2, 3, 4, 5]), 16) == 2_530_992
    assert exact_params(channels([2, 3, 4]), 16) == 951_600
    assert exact_params(channels([2, 3, 4, 5]), 16, bias=False) == 2_514_944


def test_non_integer_hidden_width_uses_the_real_width():
    # C = 64, r = 3: the formula gives 2·64²/3, the block holds 2·64·21 weights + 21 + 64 biases
    assert paper_params([64], 3) == Fraction(8192, 3)
    assert hidden_channels(64, 3) == 21
    assert block_params(64, 3) == 2 * 64 * 21 + 21 + 64


@given(c=st.integers(1, 4096), k=st.integers(1, 64))
def test_exact_equals_formula_plus_biases_when_r_divides_c(c, k):
    r = k if c % k == 0 else 1
    assert block_params(c, r, bias=False) == paper_params([c], r)
    assert block_params(c, r) == paper_params([c], r) + c // r + c


def test_se_work_of_one_resnet50_stage2_block():
    w = se_work(256, 56, 56, 16)
    assert w == SEWork(pool_ops=802_816, fc_macs=8_192, bias_adds=272, gates=256, scale_muls=802_816)
    assert w.elementwise == 2 * 802_816
    assert se_work(256, 56, 56, 16, bias=False).bias_adds == 0
    assert w + w == SEWork(pool_ops=1_605_632, fc_macs=16_384, bias_adds=544, gates=512, scale_muls=1_605_632)
