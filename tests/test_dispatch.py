"""seprof.dispatched: the aten ops and module calls of one call, exactly, with nothing left behind."""

import torch
import torchvision
from torch import nn

import seprof
from seprof import dispatched


def test_se_adds_six_ops_and_seven_module_calls_per_block_to_resnet18():
    torch.manual_seed(0)
    base = torchvision.models.resnet18().eval()
    model = seprof.inject(base, r=16).eval()
    x = torch.randn(1, 3, 32, 32)
    plain, with_se = dispatched(base, x), dispatched(model, x)
    added = list(with_se.ops)
    for op in plain.ops:
        added.remove(op)
    # per block: the squeeze (mean), fc1, ReLU in place, fc2, sigmoid, the scale; 8 BasicBlocks
    assert sorted(added) == sorted(["aten.mean.dim", "aten.convolution.default", "aten.relu_.default",
                                    "aten.convolution.default", "aten.sigmoid.default", "aten.mul.Tensor"] * 8)
    # per block: the wrapper, the block, and its pool, fc1, ReLU, fc2, gate
    assert len(with_se.modules) - len(plain.modules) == 8 * 7 and with_se.modules.count("WithSE") == 8


def test_train_records_the_backward_pass_and_nothing_stays_on_the_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(2, 3, 8, 8)
    forward, both = dispatched(model, x), dispatched(model, x, train=True)
    assert forward.modules == both.modules == ("Sequential", "Conv2d", "ReLU")
    assert "aten.convolution.default" in forward.ops and len(both.ops) > len(forward.ops)
    assert "aten.convolution_backward.default" in both.ops and model[0].weight.grad is not None
    assert dispatched(model, x, train=True) == both  # gradients from before do not add accumulation ops
    assert not model.training and not nn.modules.module._global_forward_pre_hooks and torch.is_grad_enabled()
