"""Typed settings of each chapter: one frozen dataclass per chapter, its fields the chapter's knobs.

A profile (:mod:`rrhelpers.book.profiles`) holds one instance per chapter and writes only what differs from the defaults
here: the values every profile shares (seeds, the paper's counts of seeds, frames and top-k coordinates). The
``min_*`` / ``max_*`` fields are the claim thresholds the chapter asserts (None: not asserted at that scale).
:func:`rrhelpers.book.profiles.chapter_settings` returns a copy with the parameters cell's overrides and the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .profiles import Profile

__all__ = [
    "Brittleness", "ChapterSettings", "FeatureManipulation", "FeatureVisualization", "FeedforwardInversion",
    "Interpolation", "Inversion", "RobustTraining", "Sensitivity", "StyleTransfer", "Synthesis",
]


@dataclass(frozen=True, kw_only=True)
class ChapterSettings:
    seed: int = 0
    """The chapter's random choices (test images, coordinates, seeds of the solver)."""
    profile: Optional[Profile] = field(default=None, repr=False, compare=False)
    """The profile these settings came from (set by ``chapter_settings``)."""


@dataclass(frozen=True, kw_only=True)
class Brittleness(ChapterSettings):
    """Chapter 1: representation-matching attacks between image pairs."""
    pairs: int
    radii: tuple[float, ...]
    steps: int
    shown: int
    shown_eps: float


@dataclass(frozen=True, kw_only=True)
class RobustTraining(ChapterSettings):
    """Chapter 2: accuracy under attack of both models, APGD beside the package's attack, input gradients."""
    eval_eps: tuple[float, ...]
    eval_images: int
    steps: int
    gradient_images: int = 8
    uniform_background: bool
    """Whether the data have a uniform background (MNIST): the gradient-on-object measure applies."""
    check_eps: float
    apgd_steps: int = 100
    min_accuracy_gain: float = 0.40
    max_clean_cost: float
    min_apgd_accuracy: float
    max_attack_gap: float


@dataclass(frozen=True, kw_only=True)
class Inversion(ChapterSettings):
    """Chapter 3: eq. 5 from noise, from other images and out of distribution."""
    images: int
    steps: int
    step_size: float
    step_schedule: str
    noise_mean: float
    noise_std: float = 0.05
    min_recognised: float
    max_relative_error: float
    min_recognised_gap: Optional[float] = None
    gap_judge: Optional[str] = None
    """The judge of the recognised gap when it is reported but not asserted (``min_recognised_gap`` None)."""
    min_ssim: Optional[float] = None
    min_ssim_gap: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class FeatureVisualization(ChapterSettings):
    """Chapter 4: eq. 4 for single coordinates, and class pictures."""
    coordinates: int
    seeds: int = 4
    steps: int = 200
    step_size: float
    top: int
    regularised_steps: int
    classes: int = 10
    class_seeds: int
    class_eps: float
    class_steps: int
    class_step_size: float
    class_step_schedule: str
    min_recognised: float
    min_recognised_gap: Optional[float] = None

    @property
    def class_budget(self) -> dict[str, Any]:
        """The class pictures' solver settings, as :func:`~rrhelpers.class_pictures`' keyword arguments."""
        return dict(steps=self.class_steps, step_size=self.class_step_size, eps=self.class_eps,
                    step_schedule=self.class_step_schedule)


@dataclass(frozen=True, kw_only=True)
class FeatureManipulation(ChapterSettings):
    """Chapter 5: eq. 7, feature addition."""
    images: int = 8
    coordinates: int = 6
    steps: int
    step_size: float
    snapshot_every: int


@dataclass(frozen=True, kw_only=True)
class Interpolation(ChapterSettings):
    """Chapter 6: eq. 6 between test images."""
    sources: int = 3
    destinations: int
    frames: int = 8
    steps: int
    step_size: float
    min_monotone: float = 0.9
    min_following_gap: float = 0.0
    """How much less the robust frames must follow their seeds than the standard ones (seed-following, in units of
    the seeds' own distance)."""


@dataclass(frozen=True, kw_only=True)
class Sensitivity(ChapterSettings):
    """Chapter 7: eq. 8, accentuating the top-k weighted coordinates."""
    images: int
    k: int = 5
    eps: float
    steps: int = 60
    step_size: float
    claim_images: int
    min_top_wins: float = 0.75


@dataclass(frozen=True, kw_only=True)
class StyleTransfer(ChapterSettings):
    """Chapter 8: Gatys style transfer with a robust and a standard network, and layer robustness R(f)."""
    robust: str
    standard: str
    contents: tuple[str, ...]
    styles: tuple[str, ...]
    size: int
    style_weights: tuple[float, ...] = (1e2, 1e3, 1e4, 1e5)
    style_weight: float = 1e4
    steps: int
    content_stage: int
    rf_images: int
    rf_eps: float
    rf_steps: int


@dataclass(frozen=True, kw_only=True)
class FeedforwardInversion(ChapterSettings):
    """Chapter 9: generators trained to invert each classifier's logits."""
    epochs: int
    batch_size: int
    width: int
    feature_weight: float = 0.1
    adversarial_weight: float
    images: int = 12
    claim_images: int
    shift: int
    min_closer_share: Optional[float] = None
    min_robust_ssim: Optional[float] = None
    min_speedup: float = 100.0


@dataclass(frozen=True, kw_only=True)
class Synthesis(ChapterSettings):
    """Chapter 10: generation and inpainting with one robust classifier, judged by two others."""
    judges: tuple[str, ...]
    classes: int = 10
    draws: int = 3
    gaussian_size: int = 4
    eps: float
    steps: int = 60
    step_size: float
    inpaint_eps: float
    mask_size: int = 12
    known_weight: float = 1.0
    claim_draws: int
    min_recognised: float
    min_recognised_gap: float
