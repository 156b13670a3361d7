import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import SqueezeExcitation

from seprof.accounting import block_params
from seprof.blocks import SE_BLOCKS, SEBlock, SEBlock3d, make_block
from seprof.spec import BlockKind, BlockSpec, Squeeze


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


@pytest.mark.parametrize("squeeze", list(Squeeze))
def test_the_squeeze_is_a_tensor_reduction_with_torchvisions_keys_and_values(squeeze):
    # x.mean (x.amax) over the positions, as timm's SE: no pooling child, and the keys and values of
    # torchvision's SqueezeExcitation with the same weights and its pooling module (max: AdaptiveMaxPool2d)
    torch.manual_seed(0)
    block = SEBlock(16, spec=BlockSpec(r=4, squeeze=squeeze)).eval()
    assert [name for name, _ in block.named_children()] == ["fc1", "fc2", "activation", "scale_activation"]
    reference = SqueezeExcitation(16, 4).eval()
    if squeeze is Squeeze.MAX:
        reference.avgpool = nn.AdaptiveMaxPool2d(1)
    reference.load_state_dict(block.state_dict())  # strict: the same keys
    x = torch.randn(2, 16, 5, 7)
    assert torch.equal(block(x), reference(x)) and torch.equal(block._scale(x), reference._scale(x))
    assert torch.equal(torch.jit.script(block)(x), reference(x))  # scriptable, as torchvision's block


@pytest.mark.parametrize("squeeze", list(Squeeze))
def test_the_3d_squeeze_reduces_time_height_and_width(squeeze):
    torch.manual_seed(0)
    block = SEBlock3d(16, spec=BlockSpec(r=4, squeeze=squeeze)).eval()
    assert [name for name, _ in block.named_children()] == ["fc1", "fc2", "activation", "scale_activation"]
    x = torch.randn(2, 16, 3, 5, 7)
    z = F.adaptive_max_pool3d(x, 1) if squeeze is Squeeze.MAX else F.adaptive_avg_pool3d(x, 1)
    assert torch.allclose(block(x), x * torch.sigmoid(block.fc2(torch.relu(block.fc1(z)))))
