"""Profiles: which data, models and hyperparameters a chapter uses at a given scale.

``quick`` runs on a CPU in minutes (MNIST-5k, small ResNets, the paper's settings scaled to 28x28 images);
``cifar10`` uses CIFAR-10 and CIFAR ResNet-18s at L2 eps 0.5 (a GPU is advised); ``restricted_imagenet`` and
``imagenet`` use an ImageNet folder and the published ResNet-50s (the paper's settings; chapters 1-8, a GPU needed),
look over a seeded pool of 2,000 images of a split where a chapter scans all of it, and judge content with VGG-19.
Step sizes of the unconstrained problems scale with sqrt(#pixels) (:func:`step_scale`): the paper's step 1 on
224x224x3 images is about 0.07 on 28x28 digits.
Chapters read their settings from their parameters cell (:func:`read_settings`), where ``None`` means "the
profile's value"; the settings are typed, one dataclass per chapter (:mod:`rrhelpers.book.settings`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Optional

import torch

from ..data import pixel_values
from .settings import (
    Brittleness,
    ChapterSettings,
    FeatureManipulation,
    FeatureVisualization,
    FeedforwardInversion,
    Interpolation,
    Inversion,
    RobustTraining,
    Sensitivity,
    StyleTransfer,
    Synthesis,
)


@dataclass(frozen=True)
class Profile:
    name: str
    dataset: str
    standard: str
    robust: str
    train_eps: float
    chapters: dict[str, ChapterSettings] = field(default_factory=dict)
    """Each chapter's settings (:mod:`rrhelpers.book.settings`), by the chapter's name."""
    pool: Optional[int] = None
    """Chapters that look over a whole split (top-activating images, misclassified ones, nearest neighbours) use at
    most this many of its images, drawn with a fixed seed (:func:`rrhelpers.data.sample`); None: all of them."""
    judge: str = "knn"
    """Who says what an image shows in the content checks that the claims assert
    (:func:`rrhelpers.book.judges.content_judge`): ``'knn'`` (raw-pixel nearest neighbours in the training set) or a
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
_UNVERIFIED_INVERSION_CLAIMS = dict(min_recognised=0.6, min_recognised_gap=0.3, max_relative_error=0.25)
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
            "brittleness": Brittleness(pairs=24, radii=(0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0), steps=100, shown=6,
                                       shown_eps=2.0),
            "robust_training": RobustTraining(eval_eps=(0.0, 1.5, 2.5, 3.5), eval_images=300, steps=50,
                                              uniform_background=True, check_eps=1.5, max_clean_cost=0.05,
                                              min_apgd_accuracy=0.80, max_attack_gap=0.03),
            "inversion": Inversion(images=30, steps=1000, step_size=1.0, step_schedule="cosine", noise_mean=0.1,
                                   min_recognised=0.85, gap_judge="knn", max_relative_error=0.10, min_ssim=0.5,
                                   min_ssim_gap=0.1),
            "feature_visualization": FeatureVisualization(coordinates=6, step_size=0.1, top=4, regularised_steps=400,
                                                          class_seeds=5, class_eps=10.0, class_steps=200,
                                                          class_step_size=0.5, class_step_schedule="cosine",
                                                          min_recognised=0.80),
            "feature_manipulation": FeatureManipulation(steps=300, step_size=0.1, snapshot_every=25),
            "interpolation": Interpolation(destinations=2, steps=500, step_size=0.1),
            "sensitivity": Sensitivity(images=6, eps=3.0, step_size=0.1, claim_images=40),
            "style_transfer": StyleTransfer(robust="quick-photo-robust", standard="quick-photo-standard",
                                            contents=("chelsea", "astronaut"), styles=("immunohistochemistry", "brick"),
                                            size=96, steps=50, content_stage=1, rf_images=128, rf_eps=0.5,
                                            rf_steps=10),
            "feedforward_inversion": FeedforwardInversion(epochs=4, batch_size=64, width=32, feature_weight=0.0,
                                                          adversarial_weight=0.0, claim_images=500, shift=3,
                                                          min_closer_share=0.55, min_robust_ssim=0.5),
            "synthesis": Synthesis(judges=("quick-judge-standard", "quick-judge-robust"), eps=3.0, step_size=0.075,
                                   inpaint_eps=6.0, claim_draws=20, min_recognised=0.85, min_recognised_gap=0.25),
        },
    ),
    "cifar10": Profile(
        name="cifar10",
        dataset="cifar10",
        standard="cifar10-standard",
        robust="cifar10-robust",
        train_eps=0.5,
        chapters={
            "brittleness": Brittleness(pairs=100, radii=(0.1, 0.25, 0.5, 1.0, 2.0, 3.0), steps=200, shown=8,
                                       shown_eps=1.0),
            "robust_training": RobustTraining(eval_eps=(0.0, 0.25, 0.5, 1.0, 2.0), eval_images=10_000, steps=20,
                                              uniform_background=False, check_eps=0.5, max_clean_cost=0.08,
                                              min_apgd_accuracy=0.65, max_attack_gap=0.03),
            "inversion": Inversion(images=10, steps=10_000, step_size=0.15, step_schedule="constant", noise_mean=0.5,
                                   **_UNVERIFIED_INVERSION_CLAIMS),
            "feature_visualization": FeatureVisualization(coordinates=8, step_size=0.15, top=5, regularised_steps=1000,
                                                          class_seeds=3, class_eps=10.0, class_steps=200,
                                                          class_step_size=0.25, class_step_schedule="constant",
                                                          **_UNVERIFIED_VISUALIZATION_CLAIMS),
            "feature_manipulation": FeatureManipulation(steps=400, step_size=0.15, snapshot_every=40),
            "interpolation": Interpolation(destinations=3, steps=2000, step_size=0.15),
            "sensitivity": Sensitivity(images=8, eps=6.0, step_size=0.15, claim_images=200),
            "style_transfer": StyleTransfer(robust="cifar10-robust", standard="cifar10-standard",
                                            contents=("chelsea", "astronaut", "motorcycle"),
                                            styles=("immunohistochemistry", "brick", "hubble_deep_field"), size=160,
                                            steps=300, content_stage=3, rf_images=256, rf_eps=0.5, rf_steps=20),
            "feedforward_inversion": FeedforwardInversion(epochs=30, batch_size=128, width=64, adversarial_weight=0.05,
                                                          claim_images=2000, shift=4),
            "synthesis": Synthesis(judges=("cifar10-judge-standard", "cifar10-judge-robust"), eps=6.0, step_size=0.15,
                                   inpaint_eps=12.0, claim_draws=50, **_UNVERIFIED_SYNTHESIS_CLAIMS),
        },
    ),
}


def _imagenet_chapters(robust: str, standard: str) -> dict[str, ChapterSettings]:
    """The paper's settings at 224 px (its Appendix A: feature correspondence eps 1000, 200 steps of 1; inversion
    and interpolation 10,000 steps of 1; model insights eps 40, 60 steps of 1) for chapters 1-8."""
    return {
        "brittleness": Brittleness(pairs=100, radii=(0.5, 1.0, 2.0, 5.0, 10.0, 20.0), steps=200, shown=8,
                                   shown_eps=5.0),
        "robust_training": RobustTraining(eval_eps=(0.0, 0.5, 1.0, 2.0, 3.0), eval_images=1000, steps=20,
                                          uniform_background=False, check_eps=3.0, max_clean_cost=0.25,
                                          min_apgd_accuracy=0.30, max_attack_gap=0.03),
        "inversion": Inversion(images=8, steps=10_000, step_size=1.0, step_schedule="constant", noise_mean=0.5,
                               **_UNVERIFIED_INVERSION_CLAIMS),
        "feature_visualization": FeatureVisualization(coordinates=8, step_size=1.0, top=5, regularised_steps=1000,
                                                      class_seeds=3, class_eps=40.0, class_steps=60,
                                                      class_step_size=1.0, class_step_schedule="constant",
                                                      **_UNVERIFIED_VISUALIZATION_CLAIMS),
        "feature_manipulation": FeatureManipulation(steps=200, step_size=1.0, snapshot_every=20),
        "interpolation": Interpolation(destinations=3, steps=10_000, step_size=1.0),
        "sensitivity": Sensitivity(images=8, eps=40.0, step_size=1.0, claim_images=200),
        "style_transfer": StyleTransfer(robust=robust, standard=standard,
                                        contents=("chelsea", "astronaut", "motorcycle"),
                                        styles=("immunohistochemistry", "brick", "hubble_deep_field"), size=256,
                                        steps=300, content_stage=3, rf_images=256, rf_eps=3.0, rf_steps=20),
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


def chapter_settings(profile: str, chapter: str, **overrides: Any) -> ChapterSettings:
    """The profile's settings for ``chapter`` (:mod:`rrhelpers.book.settings`), with every override that is not None
    applied and ``profile`` set."""
    prof = get_profile(profile)
    if chapter not in prof.chapters:
        having = sorted(name for name, p in PROFILES.items() if chapter in p.chapters)
        raise ValueError(f"profile {profile!r} has no settings for chapter {chapter!r}; profiles that have: {having}")
    settings = prof.chapters[chapter]
    known = {f.name for f in fields(settings)} - {"profile"}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)} for chapter {chapter!r}; known: {sorted(known)}")
    return replace(settings, profile=prof, **{k: v for k, v in overrides.items() if v is not None})


def read_settings(chapter: str, parameters: Mapping[str, Any]) -> ChapterSettings:
    """:func:`chapter_settings` from a chapter's parameters cell: ``parameters`` is the notebook's namespace
    (``globals()``); its ``profile`` and every variable named like one of the chapter's settings are read, so each
    knob is written once, in the cell (which names may appear there is a test of the book)."""
    if "profile" not in parameters:
        raise ValueError("the parameters cell must set profile (e.g. profile = \"quick\") before the settings are read")
    profile = parameters["profile"]
    settings = get_profile(profile).chapters.get(chapter)
    known = {f.name for f in fields(settings)} - {"profile"} if settings is not None else set()
    return chapter_settings(profile, chapter, **{k: parameters[k] for k in known if k in parameters})


def step_scale(dataset: str, reference: str) -> float:
    """sqrt(d_dataset / d_reference), d the pixel values of an image: a normalised step of size s moves an image by s
    in L2, so the same relative change on ``dataset``'s images takes ``reference``'s step times this factor."""
    return math.sqrt(pixel_values(dataset) / pixel_values(reference))
