"""BatchNorm folding while frozen: the same function and input gradients, the model untouched afterwards."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rrhelpers as rr
from rrhelpers.networks.fusion import BLOCKED_AT_MOST_PX, FoldedConv2d, conv_bn_pairs, folded_batchnorm
from rrhelpers.networks.models import frozen
from rrhelpers.optimization.representations import input_gradient


def _model_with_statistics(arch: str, **arch_kwargs) -> rr.RobustModel:
    """A model whose BatchNorms are far from the identity, so a wrong fold would show."""
    torch.manual_seed(0)
    model = rr.RobustModel(arch, 10, (0.5,) * 3, (0.25,) * 3, arch_kwargs=arch_kwargs or None)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.3, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.3)
    return model.eval()


def _logits_and_input_gradient(model: rr.RobustModel, x: torch.Tensor, y: torch.Tensor, fake_relu: bool = False):
    x = x.clone().requires_grad_(True)
    logits = model(x, fake_relu=fake_relu)
    grad = torch.autograd.grad(F.cross_entropy(logits, y), x)[0]
    return logits.detach(), grad


@pytest.mark.parametrize("arch, arch_kwargs, size", [
    ("resnet", {"block": "basic", "layers": (1, 1, 1), "width": 8}, 16),
    ("resnet", {"block": "bottleneck", "layers": (1, 2), "width": 8, "stem": "imagenet"}, 32),
])
@pytest.mark.parametrize("fake_relu", [False, True])
def test_folded_model_computes_the_same_function(arch, arch_kwargs, size, fake_relu):
    model = _model_with_statistics(arch, **arch_kwargs)
    x, y = torch.rand(4, 3, size, size), torch.randint(0, 10, (4,))
    expected = _logits_and_input_gradient(model, x, y, fake_relu)
    with frozen(model, fold_batchnorm=True):
        assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        got = _logits_and_input_gradient(model, x, y, fake_relu)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_model_is_restored_exactly_after_folding():
    model = _model_with_statistics("resnet", block="bottleneck", layers=(1, 1), width=8)
    model.train()
    params = {name: p for name, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    pairs = len(list(conv_bn_pairs(model)))
    assert pairs == 1 + 3 * 2 + 2  # stem, three per bottleneck, two projection shortcuts
    with pytest.raises(ValueError, match="boom"), frozen(model, fold_batchnorm=True):
        assert not model.training
        raise ValueError("boom")
    assert model.training
    assert {name: p for name, p in model.named_parameters()} == params  # the same Parameter objects, back in place
    assert all(p.requires_grad for p in model.parameters())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)


def test_folding_needs_eval_mode_and_nests():
    model = _model_with_statistics("resnet", block="basic", layers=(1,), width=8).train()
    with pytest.raises(RuntimeError, match="eval mode"), folded_batchnorm(model):
        pass
    model.eval()
    with folded_batchnorm(model), folded_batchnorm(model) as inner:  # the inner one finds nothing left to fold
        assert not any(isinstance(m, nn.BatchNorm2d) for m in inner.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3


def test_attack_folds_but_matches_the_unfolded_solver():
    """pgd_attack (folded) and the solver run on the unfolded model take the same path."""
    model = _model_with_statistics("resnet", block="basic", layers=(1, 1), width=8)
    x, y = torch.rand(6, 3, 16, 16), torch.randint(0, 10, (6,))
    folded = rr.pgd_attack(model, x, y, eps=0.5, steps=5, random_start=False)
    with frozen(model):
        plain = rr.optimize(rr.CrossEntropy(model, y), x, rr.L2Ball(0.5), 5, 0.25).x
    torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert folded.is_contiguous()  # in the caller's layout although the folded (channels-last) model's grads are not
    assert input_gradient(model, x, y).is_contiguous()
    cl = x.contiguous(memory_format=torch.channels_last)
    assert rr.pgd_attack(model, cl, y, 0.5, 2).is_contiguous(memory_format=torch.channels_last)


def test_models_that_declare_no_pairs_run_unchanged():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    with folded_batchnorm(net):
        assert isinstance(net[1], nn.BatchNorm2d)


def test_folded_convolutions_run_channels_last_except_on_small_outputs():
    conv, bn = nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8)
    bn.running_mean.normal_(0, 0.5), bn.running_var.uniform_(0.3, 3.0), bn.weight.data.uniform_(0.5, 1.5)
    bn.eval()
    relaid, plain = FoldedConv2d(conv, bn, channels_last=True), FoldedConv2d(conv, bn)
    wide, small = torch.rand(2, 8, 4 * BLOCKED_AT_MOST_PX, 4 * BLOCKED_AT_MOST_PX), torch.rand(2, 8, 8, 8)
    assert relaid(wide).is_contiguous(memory_format=torch.channels_last)
    assert relaid(small).shape[-1] <= BLOCKED_AT_MOST_PX and relaid(small).is_contiguous()
    assert plain(wide).is_contiguous()  # without channels_last, the input's layout
    for x in (wide, small, small.contiguous(memory_format=torch.channels_last)):
        torch.testing.assert_close(relaid(x), bn(conv(x)), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(plain(x), bn(conv(x)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="padding_mode='reflect'"):
        FoldedConv2d(nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"), bn)
