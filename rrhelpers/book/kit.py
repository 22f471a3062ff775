"""A chapter's start in one call: its settings, the model pair it compares, the test set and a seeded generator."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import torch

from ..data import ImageDataset, load_dataset
from ..networks.models import RobustModel
from .profiles import Profile, chapter_settings
from .settings import ChapterSettings
from ..networks.zoo import load_model, trained_on


class ChapterKit(NamedTuple):
    """What every comparison chapter starts from; unpack it: ``cfg, P, models, test_set, g = rr.chapter_kit(...)``."""

    settings: ChapterSettings
    """The profile's settings for the chapter with the parameters cell's overrides (:func:`chapter_settings`)."""
    profile: Profile
    models: dict[str, RobustModel]
    """``{"robust": ..., "standard": ...}`` (in ``order``), on the profile's device."""
    test_set: ImageDataset
    generator: torch.Generator
    """A CPU generator seeded with the chapter's ``seed``, for the chapter's own random choices."""


def chapter_kit(profile: str, chapter: str, *, order: Sequence[str] = ("robust", "standard"),
                **overrides: Any) -> ChapterKit:
    """Settings, the profile's robust and standard models (trained on first use), its test set and a generator seeded
    with the settings' ``seed``; ``overrides`` are the parameters cell's values (None: the profile's). A chapter whose
    settings name their own pair (chapter 8's ``robust`` and ``standard``) gets that pair and the test set it was
    trained on."""
    settings = chapter_settings(profile, chapter, **overrides)
    prof = settings.profile
    own = hasattr(settings, "robust")
    pair = settings if own else prof
    names = {"robust": pair.robust, "standard": pair.standard}
    if sorted(order) != sorted(names):
        raise ValueError(f"order must name 'robust' and 'standard' once each; got {tuple(order)}")
    models = {name: load_model(names[name], device=prof.device) for name in order}
    dataset = trained_on(models["robust"]) if own else prof.dataset
    return ChapterKit(settings, prof, models, load_dataset(dataset, "test"),
                      torch.Generator().manual_seed(settings.seed))
