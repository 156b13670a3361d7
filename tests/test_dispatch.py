"""seprof.dispatched: the aten ops and module calls of one call, exactly, with nothing left behind."""

import pytest
import torch
import torchvision
from torch import nn

import seprof
from seprof import dispatched


def test_se_adds_six_ops_and_six_module_calls_per_block_to_resnet18():
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
    # per block: the wrapper, the block, and its fc1, ReLU, fc2, gate (the squeeze is a tensor mean, no module)
    assert len(with_se.modules) - len(plain.modules) == 8 * 6 and with_se.modules.count("WithSE") == 8


def test_train_records_the_backward_pass_and_nothing_stays_on_the_model():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()).eval()
    x = torch.randn(2, 3, 8, 8)
    forward, both = dispatched(model, x), dispatched(model, x, train=True)
    assert forward.modules == both.modules == ("Sequential", "Conv2d", "ReLU")
    assert "aten.convolution.default" in forward.ops and len(both.ops) > len(forward.ops)
    assert "aten.convolution_backward.default" in both.ops and model[0].weight.grad is None
    model[0].weight.grad = torch.ones_like(model[0].weight)
    assert dispatched(model, x, train=True) == both  # gradients from before do not add accumulation ops
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))  # and are put back
    assert not model.training and not nn.modules.module._global_forward_pre_hooks and torch.is_grad_enabled()


def test_a_pass_in_train_mode_leaves_batchnorm_statistics_and_gradients_as_they_were():
    torch.manual_seed(0)
    model = torchvision.models.resnet18().train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    buffers = {name: tensor for name, tensor in model.named_buffers()}
    done = dispatched(model, torch.randn(2, 3, 32, 32), train=True)
    assert "aten.native_batch_norm_backward.default" in done.ops and model.training
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # running_mean, num_batches_tracked...
    assert all(tensor is buffers[name] for name, tensor in model.named_buffers())
    assert all(p.grad is None for p in model.parameters())


def test_a_name_instead_of_a_model_is_one_error():
    from seprof.errors import ModelError

    with pytest.raises(ModelError, match=r"dispatched takes a model \(torch.nn.Module\), not str: build one first"):
        dispatched("resnet18", torch.zeros(1, 3, 32, 32))
