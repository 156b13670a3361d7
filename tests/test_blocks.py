import pytest
import torch
from torchvision.ops import SqueezeExcitation

from seprof.accounting import block_params
from seprof.blocks import SE_BLOCKS, SEBlock, make_block
from seprof.spec import BlockKind, BlockSpec


@pytest.mark.parametrize("channels,r,bias", [(256, 16, True), (256, 16, False), (64, 3, True), (7, 7, False)])
def test_parameter_count_matches_accounting(channels, r, bias):
    block = SEBlock(channels, r, bias)
    assert sum(p.numel() for p in block.parameters()) == block_params(channels, r, bias)
    assert (block.fc1.bias is not None) == bias and (block.fc2.bias is not None) == bias


def test_is_torchvisions_squeeze_excitation():
    block = make_block(BlockSpec(r=8), 32)
    assert isinstance(block, SqueezeExcitation) and block.fc1.out_channels == 4
    assert set(SE_BLOCKS) == {kind for kind in BlockKind if kind.seprof}  # timm's kinds: timm_block


def test_forward_is_squeeze_excite_scale_by_hand():
    block = SEBlock(2, r=2, bias=False)
    with torch.no_grad():
        block.fc1.weight.fill_(1.0)  # hidden = relu(z0 + z1)
        block.fc2.weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))  # s = sigmoid(±hidden)
    x = torch.tensor([[[[1.0, 3.0]], [[2.0, 2.0]]]])  # channel means 2 and 2
    s = torch.sigmoid(torch.tensor([4.0, -4.0]))
    expected = x * s.view(1, 2, 1, 1)
    assert torch.allclose(block(x), expected)
