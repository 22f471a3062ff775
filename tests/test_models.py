"""RobustModel: shapes, normalisation inside, representation and head, fake ReLU, input checks."""

from __future__ import annotations

import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks.architectures import FakeReLU, build_backbone
from rrhelpers.optimization.representations import representations

from .conftest import tiny_model


def test_logits_representation_and_head_agree():
    model = tiny_model()
    x = torch.rand(3, 1, 12, 12)
    rep = model.representation(x)
    assert rep.shape == (3, model.num_features)
    torch.testing.assert_close(model(x), model.head(rep))
    logits, rep2 = model.forward_both(x)
    torch.testing.assert_close(rep, rep2)


def test_normalisation_is_inside_the_model():
    model = tiny_model()
    x = torch.rand(2, 1, 8, 8)
    manual = model.head(model.backbone((x - 0.5) / 0.25))
    torch.testing.assert_close(model(x), manual)


@pytest.mark.parametrize("arch, size, features", [
    ("resnet18_cifar", 32, 512), ("resnet50_cifar", 32, 2048), ("resnet50", 64, 2048),
])
def test_paper_architectures(arch, size, features):
    backbone = build_backbone(arch)
    assert backbone.num_features == features
    assert backbone(torch.rand(1, 3, size, size)).shape == (1, features)


def test_resnet50_matches_torchvision_parameter_count():
    from torchvision.models import resnet50

    ours = rr.RobustModel("resnet50", 1000, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    theirs = resnet50()
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_fake_relu_passes_gradient_through_zeros():
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    FakeReLU.apply(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2))
    model = tiny_model()
    with torch.no_grad():  # make the last activation negative everywhere: R(x) = 0
        model.backbone.stages[-1][-1].bn2.bias.fill_(-100.0)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    rep_real = model.representation(x)
    assert (rep_real == 0).all()
    (grad_real,) = torch.autograd.grad(rep_real[:, 0].sum(), x)
    rep_fake = model.representation(x, fake_relu=True)
    torch.testing.assert_close(rep_fake, rep_real)
    (grad_fake,) = torch.autograd.grad(rep_fake[:, 0].sum(), x)
    assert grad_real.abs().max() == 0
    assert grad_fake.abs().max() > 0


def test_predict_restores_training_mode():
    model = tiny_model().train()
    model.predict(torch.rand(5, 1, 8, 8))
    assert model.training


@pytest.mark.parametrize("bad, message", [
    (torch.rand(1, 8, 8), r"shape \(B, C, H, W\).*unsqueeze"),
    (torch.rand(2, 3, 8, 8), "1 channel"),
    (torch.rand(2, 1, 8, 8) * 255, r"values in \[0, 1\]"),
    (torch.full((2, 1, 8, 8), float("nan")), "NaN"),
    (torch.randint(0, 255, (2, 1, 8, 8), dtype=torch.uint8), "floating-point"),
    ([[0.5]], "torch.Tensor"),
])
def test_bad_inputs_get_clear_errors(bad, message):
    model = tiny_model()
    with pytest.raises(rr.InputError, match=message):
        model(bad)


def test_forward_reads_no_values_off_the_cpu():
    """Reading the range back from a GPU would synchronise it at every forward pass, so off the CPU only shape and
    dtype are checked (meta tensors, which have no values, stand in for a GPU's)."""
    model = tiny_model().to("meta")
    assert model(torch.empty(2, 1, 8, 8, device="meta")).shape == (2, 10)
    with pytest.raises(rr.InputError, match="1 channel"):
        model(torch.empty(2, 3, 8, 8, device="meta"))


def test_entry_points_check_the_range_of_their_whole_input():
    model = tiny_model()
    bad = torch.rand(3, 1, 8, 8) * 255
    for entry in (model.predict, lambda x: representations(model, x)):
        with pytest.raises(rr.InputError, match=r"values in \[0, 1\]"):
            entry(bad)


def test_input_checks_can_be_switched_off():
    model = tiny_model()
    model.check_inputs = False
    model(torch.rand(1, 1, 8, 8) * 2)  # no error: the caller took responsibility


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="unknown architecture"):
        rr.RobustModel("resnet7", 10, (0.5,), (0.5,))
    with pytest.raises(ValueError, match="class names"):
        rr.RobustModel("quick_resnet", 10, (0.5,), (0.5,), classes=["a", "b"])


def test_seeded_cpu_rng_repeats_its_draws_and_leaves_the_callers_stream_alone():
    from rrhelpers.networks.models import seeded_cpu_rng

    torch.manual_seed(11)
    expected = torch.rand(2)
    torch.manual_seed(11)
    with seeded_cpu_rng(3):
        first = torch.rand(4)
    with seeded_cpu_rng(3):
        assert torch.equal(torch.rand(4), first)
    assert torch.equal(torch.rand(2), expected)
