"""Synthesis: class-conditional Gaussian seeds, generation and inpainting through the one solver."""

from __future__ import annotations

import pytest
import torch

import rrhelpers as rr
from rrhelpers.optimization.synthesis import ClassConditionalGaussian, generate, inpaint, square_masks

from .conftest import tiny_model


def two_class_images(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: dark images; class 1: bright images (with noise)."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 2
    images = (0.2 + 0.6 * labels.view(-1, 1, 1, 1) + 0.05 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return images, labels


def test_gaussian_samples_follow_their_class():
    images, labels = two_class_images()
    gaussian = ClassConditionalGaussian(images, labels, size=7)
    seeds = gaussian.sample(torch.tensor([0, 1, 0, 1]), seed=3)
    assert seeds.shape == (4, 1, 28, 28) and seeds.min() >= 0 and seeds.max() <= 1
    means = seeds.flatten(1).mean(1)
    assert means[0] < 0.3 and means[2] < 0.3 and means[1] > 0.7 and means[3] > 0.7
    assert torch.equal(seeds, gaussian.sample(torch.tensor([0, 1, 0, 1]), seed=3))
    assert not torch.equal(seeds, gaussian.sample(torch.tensor([0, 1, 0, 1]), seed=4))


def test_gaussian_errors():
    images, labels = two_class_images()
    with pytest.raises(ValueError, match="at least 2"):
        ClassConditionalGaussian(images[:3], torch.tensor([0, 0, 1]))
    gaussian = ClassConditionalGaussian(images, labels)
    with pytest.raises(ValueError, match=r"class\(es\) \[7\]"):
        gaussian.sample(torch.tensor([7]))


def test_generation_raises_the_class_probability_within_the_ball():
    model = tiny_model()
    seeds = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    classes = torch.tensor([1, 2, 3, 4])
    result = generate(model, classes, seeds, eps=2.0, steps=20, step_size=0.3, progress=False)
    before = torch.nn.functional.cross_entropy(model(seeds), classes, reduction="none")
    after = torch.nn.functional.cross_entropy(model(result.x), classes, reduction="none")
    assert (after < before).all()
    assert ((result.x - seeds).flatten(1).norm(dim=1) <= 2.0 + 1e-4).all()


def test_inpainting_keeps_the_known_pixels_more_than_the_missing_ones():
    model = tiny_model()
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    known = square_masks(images, 10, centre=True)
    corrupted = images * known
    result = inpaint(model, corrupted, known, torch.tensor([0, 1, 2]), eps=3.0, steps=50, step_size=0.1,
                     known_weight=1.0, progress=False)
    change = (result.x - corrupted).abs()
    assert (change * known).sum() / known.sum() < (change * (1 - known)).sum() / (1 - known).sum()


def test_square_masks():
    images = torch.zeros(5, 3, 16, 16)
    masks = square_masks(images, 4, seed=0)
    assert masks.shape == (5, 1, 16, 16)
    assert ((1 - masks).flatten(1).sum(1) == 16).all()
    centred = square_masks(images, 4, centre=True)
    assert centred[0, 0, 6:10, 6:10].sum() == 0 and centred.sum() == 5 * (256 - 16)
    with pytest.raises(ValueError, match="square size"):
        square_masks(images, 17)


def test_masked_rms_error_counts_only_the_missing_pixels():
    references = torch.zeros(2, 3, 4, 4)
    known = torch.ones(2, 1, 4, 4)
    known[:, :, :2, :2] = 0  # 4 missing pixels per image, in every channel
    images = references.clone()
    images[:, :, 2:, 2:] = 5.0  # wrong where it is known: ignored
    images[:, :, :2, :2] = 0.5
    assert abs(rr.masked_rms_error(images, references, known) - 0.5) < 1e-6


def test_generate_from_gaussian_gives_every_model_the_same_seeds():
    images, labels = two_class_images()
    gaussian = ClassConditionalGaussian(images, labels, size=7)
    models = {"robust": tiny_model(seed=1), "standard": tiny_model(seed=2)}
    classes = torch.tensor([0, 1, 1])
    made = rr.generate_from_gaussian(models, gaussian, classes, seed=2, eps=0.5, steps=3, step_size=0.2)
    assert list(made) == ["seed", "robust", "standard"]
    assert torch.equal(made["seed"], gaussian.sample(classes, seed=2))
    by_hand = generate(models["standard"], classes, made["seed"], 0.5, 3, 0.2).x.cpu()
    assert torch.allclose(made["standard"], by_hand)
    assert ((made["robust"] - made["seed"]).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()
