"""Profiles: which data, models and hyperparameters a chapter uses at a given scale.

``quick`` runs on a CPU in minutes (MNIST-5k, small ResNets, the paper's settings scaled to 28x28 images);
``cifar10`` uses CIFAR-10 and CIFAR ResNet-18s at L2 eps 0.5 (a GPU is advised); ``restricted_imagenet`` and
``imagenet`` use an ImageNet folder and the published ResNet-50s (the paper's settings; chapters 1-8, a GPU needed),
look over a seeded pool of 2,000 images of a split where a chapter scans all of it, and judge content with VGG-19.
Step sizes of the unconstrained problems scale with sqrt(#pixels): the paper's step 1 on 224x224x3 images is about
0.07 on 28x28 digits.
Chapters call :func:`chapter_settings` with their parameters cell, where ``None`` means "the profile's value".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Optional

import torch


@dataclass(frozen=True)
class Profile:
    name: str
    dataset: str
    standard: str
    robust: str
    train_eps: float
    chapters: dict[str, dict[str, Any]] = field(default_factory=dict)
    pool: Optional[int] = None
    """Chapters that look over a whole split (top-activating images, misclassified ones, nearest neighbours) use at
    most this many of its images, drawn with a fixed seed (:func:`rrhelpers.data.sample`); None: all of them."""
    judge: str = "knn"
    """Who says what an image shows in the content checks that the claims assert
    (:func:`rrhelpers.judges.content_judge`): ``'knn'`` (raw-pixel nearest neighbours in the training set) or a
    classifier that is neither compared model."""
    other_judges: tuple[str, ...] = ()
    """Judges whose verdicts the chapters report beside ``judge``'s, without asserting them."""

    def __post_init__(self) -> None:
        for judge in (self.judge, *self.other_judges):
            if judge in (self.robust, self.standard):
                raise ValueError(f"profile {self.name!r}: the judge {judge!r} is one of the models it compares; a "
                                 "judge must know neither (use 'knn' or a third classifier)")

    @property
    def judges(self) -> tuple[str, ...]:
        """Every judge of the content checks, the asserted one first."""
        return (self.judge, *self.other_judges)

    @property
    def device(self) -> str:
        return "cuda" if torch.cuda.is_available() else "cpu"


# The claim thresholds of the full profiles: what the paper's claims imply (most robust inversions and class
# pictures show their target, far fewer standard ones), not yet measured on the real models and data.
_UNVERIFIED_INVERSION_CLAIMS = dict(min_recognised=0.6, min_recognised_gap=0.3, gap_judge=None,
                                    max_relative_error=0.25, min_ssim=None, min_ssim_gap=None)
_UNVERIFIED_VISUALIZATION_CLAIMS = dict(min_recognised=0.6, min_recognised_gap=0.3)
_UNVERIFIED_SYNTHESIS_CLAIMS = dict(min_recognised=0.6, min_recognised_gap=0.2)

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        dataset="mnist5k",
        standard="quick-standard",
        robust="quick-robust",
        train_eps=2.5,
        judge="quick-judge-robust",
        other_judges=("knn",),
        chapters={
            "brittleness": dict(pairs=24, radii=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), steps=100, shown=6,
                                shown_eps=2.0, seed=0),
            "robust_training": dict(eval_eps=(0.0, 1.5, 2.5, 3.5), eval_images=300, steps=50,
                                    gradient_images=8, max_clean_cost=0.05, uniform_background=True, seed=0,
                                    check_eps=1.5, apgd_steps=100, min_apgd_accuracy=0.80, max_attack_gap=0.05),
            "inversion": dict(images=30, steps=1000, step_size=1.0, step_schedule="cosine", noise_mean=0.1,
                              noise_std=0.05, seed=0, min_recognised=0.85, min_recognised_gap=None,
                              gap_judge="knn", max_relative_error=0.10, min_ssim=0.5, min_ssim_gap=0.1),
            "feature_visualization": dict(coordinates=6, seeds=4, steps=200, step_size=0.1, top=4,
                                          regularised_steps=400, classes=10, class_seeds=5, class_eps=10.0,
                                          class_steps=200, class_step_size=0.5, class_step_schedule="cosine",
                                          seed=0, min_recognised=0.80, min_recognised_gap=None),
            "feature_manipulation": dict(images=8, coordinates=6, steps=300, step_size=0.1, snapshot_every=25,
                                         seed=0),
            "interpolation": dict(sources=3, destinations=2, frames=8, steps=500, step_size=0.1, seed=0),
            "sensitivity": dict(images=6, k=5, eps=3.0, steps=60, step_size=0.1, claim_images=40, seed=0),
            "style_transfer": dict(robust="quick-photo-robust", standard="quick-photo-standard",
                                   contents=("chelsea", "astronaut"), styles=("immunohistochemistry", "brick"),
                                   size=96, style_weights=(1e2, 1e3, 1e4, 1e5), style_weight=1e4, steps=50, content_stage=1,
                                   rf_images=128, rf_eps=0.5, rf_steps=10, seed=0),
            "feedforward_inversion": dict(epochs=4, batch_size=64, width=32, feature_weight=0.1,
                                          adversarial_weight=0.0, images=12, claim_images=500,
                                          iterative_steps=1000, iterative_step_size=0.1, shift=3, seed=0,
                                          min_closer_share=0.55),
            "synthesis": dict(judges=("quick-judge-standard", "quick-judge-robust"), classes=10, draws=3,
                              gaussian_size=4, eps=3.0, steps=60, step_size=0.075, inpaint_eps=6.0, mask_size=12,
                              known_weight=1.0, claim_draws=20, seed=0, min_recognised=0.85,
                              min_recognised_gap=0.25),
        },
    ),
    "cifar10": Profile(
        name="cifar10",
        dataset="cifar10",
        standard="cifar10-standard",
        robust="cifar10-robust",
        train_eps=0.5,
        chapters={
            "brittleness": dict(pairs=100, radii=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0), steps=200, shown=8,
                                shown_eps=1.0, seed=0),
            "robust_training": dict(eval_eps=(0.0, 0.25, 0.5, 1.0, 2.0), eval_images=10_000, steps=20,
                                    gradient_images=8, max_clean_cost=0.08, uniform_background=False, seed=0,
                                    check_eps=0.5, apgd_steps=100, min_apgd_accuracy=0.65, max_attack_gap=0.03),
            "inversion": dict(images=10, steps=10_000, step_size=0.15, step_schedule="constant", noise_mean=0.5,
                              noise_std=0.05, seed=0, **_UNVERIFIED_INVERSION_CLAIMS),
            "feature_visualization": dict(coordinates=8, seeds=4, steps=200, step_size=0.15, top=5,
                                          regularised_steps=1000, classes=10, class_seeds=3, class_eps=10.0,
                                          class_steps=200, class_step_size=0.25, class_step_schedule="constant",
                                          seed=0, **_UNVERIFIED_VISUALIZATION_CLAIMS),
            "feature_manipulation": dict(images=8, coordinates=6, steps=400, step_size=0.15, snapshot_every=40,
                                         seed=0),
            "interpolation": dict(sources=3, destinations=3, frames=8, steps=2000, step_size=0.15, seed=0),
            "sensitivity": dict(images=8, k=5, eps=6.0, steps=60, step_size=0.15, claim_images=200, seed=0),
            "style_transfer": dict(robust="cifar10-robust", standard="cifar10-standard",
                                   contents=("chelsea", "astronaut", "motorcycle"),
                                   styles=("immunohistochemistry", "brick", "hubble_deep_field"),
                                   size=160, style_weights=(1e2, 1e3, 1e4, 1e5), style_weight=1e4, steps=300,
                                   content_stage=3,
                                   rf_images=256, rf_eps=0.5, rf_steps=20, seed=0),
            "feedforward_inversion": dict(epochs=30, batch_size=128, width=64, feature_weight=0.1,
                                          adversarial_weight=0.05, images=12, claim_images=2000,
                                          iterative_steps=10_000, iterative_step_size=0.15, shift=4, seed=0,
                                          min_closer_share=None),
            "synthesis": dict(judges=("cifar10-judge-standard", "cifar10-judge-robust"), classes=10, draws=3,
                              gaussian_size=4, eps=6.0, steps=60, step_size=0.15, inpaint_eps=12.0, mask_size=12,
                              known_weight=1.0, claim_draws=50, seed=0, **_UNVERIFIED_SYNTHESIS_CLAIMS),
        },
    ),
}


def _imagenet_chapters(robust: str, standard: str) -> dict[str, dict[str, Any]]:
    """The paper's settings at 224 px (its Appendix A: feature correspondence eps 1000, 200 steps of 1; inversion
    and interpolation 10,000 steps of 1; model insights eps 40, 60 steps of 1) for chapters 1-8."""
    return {
        "brittleness": dict(pairs=100, radii=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0), steps=200, shown=8, shown_eps=5.0,
                            seed=0),
        "robust_training": dict(eval_eps=(0.0, 0.5, 1.0, 2.0, 3.0), eval_images=1000, steps=20, gradient_images=8,
                                max_clean_cost=0.25, uniform_background=False, seed=0, check_eps=3.0, apgd_steps=100,
                                min_apgd_accuracy=0.30, max_attack_gap=0.03),
        "inversion": dict(images=8, steps=10_000, step_size=1.0, step_schedule="constant", noise_mean=0.5,
                          noise_std=0.05, seed=0, **_UNVERIFIED_INVERSION_CLAIMS),
        "feature_visualization": dict(coordinates=8, seeds=4, steps=200, step_size=1.0, top=5,
                                      regularised_steps=1000, classes=10, class_seeds=3, class_eps=40.0,
                                      class_steps=60, class_step_size=1.0, class_step_schedule="constant", seed=0,
                                      **_UNVERIFIED_VISUALIZATION_CLAIMS),
        "feature_manipulation": dict(images=8, coordinates=6, steps=200, step_size=1.0, snapshot_every=20, seed=0),
        "interpolation": dict(sources=3, destinations=3, frames=8, steps=10_000, step_size=1.0, seed=0),
        "sensitivity": dict(images=8, k=5, eps=40.0, steps=60, step_size=1.0, claim_images=200, seed=0),
        "style_transfer": dict(robust=robust, standard=standard, contents=("chelsea", "astronaut", "motorcycle"),
                               styles=("immunohistochemistry", "brick", "hubble_deep_field"), size=256,
                               style_weights=(1e2, 1e3, 1e4, 1e5), style_weight=1e4, steps=300, content_stage=3,
                               rf_images=256, rf_eps=3.0, rf_steps=20, seed=0),
    }


PROFILES["restricted_imagenet"] = Profile(
    name="restricted_imagenet", dataset="restricted_imagenet", standard="madry-reps-restricted-imagenet-standard",
    robust="madry-reps-restricted-imagenet-robust", train_eps=3.5, pool=2000, judge="torchvision-vgg19",
    chapters=_imagenet_chapters("madry-reps-restricted-imagenet-robust", "madry-reps-restricted-imagenet-standard"))
PROFILES["imagenet"] = Profile(
    name="imagenet", dataset="imagenet", standard="torchvision-resnet50", robust="madry-imagenet-l2-3", train_eps=3.0,
    pool=2000, judge="torchvision-vgg19",
    chapters=_imagenet_chapters("madry-imagenet-l2-3", "torchvision-resnet50"))


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; available: {sorted(PROFILES)}")
    return PROFILES[name]


def chapter_settings(profile: str, chapter: str, **overrides: Any) -> SimpleNamespace:
    """The profile's settings for ``chapter``, with every override that is not None applied."""
    prof = get_profile(profile)
    if chapter not in prof.chapters:
        having = sorted(name for name, p in PROFILES.items() if chapter in p.chapters)
        raise ValueError(f"profile {profile!r} has no settings for chapter {chapter!r}; profiles that have: {having}")
    settings = dict(prof.chapters[chapter])
    unknown = set(overrides) - set(settings)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)} for chapter {chapter!r}; known: {sorted(settings)}")
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return SimpleNamespace(**settings, profile=prof)
