"""A chapter's start in one call: its settings, the model pair it compares, the test set and a seeded generator;
chapter 3's inversion problems, for chapter 9 the pair's inverters and chapter 3's inversion from noise, and for
chapter 11 the folder of the stored benchmark results."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import torch

from ..data import ImageDataset, load_dataset, out_of_distribution, sample
from ..learning.inverter import FeedforwardInverter
from ..learning.inverter_training import InverterConfig, load_inverter
from ..networks.models import RobustModel
from ..optimization.representations import invert, noise_seeds
from ..optimization.solver import SolverResult
from .profiles import Profile, read_settings
from .settings import ChapterSettings, FeedforwardInversion, Inversion
from ..networks.zoo import load_model, trained_on


class ChapterKit(NamedTuple):
    """What every comparison chapter starts from; unpack it:
    ``cfg, P, models, test_set, g = rr.chapter_kit("inversion", globals())``."""

    settings: ChapterSettings
    """The profile's settings for the chapter with the parameters cell's overrides (:func:`read_settings`)."""
    profile: Profile
    models: dict[str, RobustModel]
    """``{"robust": ..., "standard": ...}`` (in ``order``), on the profile's device."""
    test_set: ImageDataset
    generator: torch.Generator
    """A CPU generator seeded with the chapter's ``seed``, for the chapter's own random choices."""


def chapter_kit(chapter: str, parameters: Mapping[str, Any], *,
                order: Sequence[str] = ("robust", "standard")) -> ChapterKit:
    """Settings read from the chapter's ``parameters`` cell (its ``globals()``; :func:`read_settings`), the profile's
    robust and standard models (trained on first use), its test set and a generator seeded with the settings'
    ``seed``. A chapter whose settings name their own pair (chapter 8's ``robust`` and ``standard``) gets that pair
    and the test set it was trained on."""
    settings = read_settings(chapter, parameters)
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


def chapter_inverters(settings: FeedforwardInversion) -> dict[str, FeedforwardInverter]:
    """Chapter 9's generators: an inverter of the settings' profile's robust and of its standard model (in that
    order), trained as the settings ask (:meth:`InverterConfig.from_settings`) on first use, then cached."""
    prof, config = settings.profile, InverterConfig.from_settings(settings)
    return {name: load_inverter(getattr(prof, name), config, device=prof.device) for name in ("robust", "standard")}


def invert_from_noise(model: RobustModel, targets: torch.Tensor, settings: Inversion, *, seed: int,
                      **kwargs) -> SolverResult:
    """:func:`~rrhelpers.optimization.representations.invert` as chapter 3 runs it from noise: noise seeds with the
    ``settings``' mean and spread (seeded by ``seed``), then its steps, step size and step schedule."""
    seeds = noise_seeds(targets.shape, mean=settings.noise_mean, std=settings.noise_std, seed=seed)
    return invert(model, targets, seeds, settings.steps, settings.step_size, step_schedule=settings.step_schedule,
                  **kwargs)


class InversionProblems(NamedTuple):
    """Chapter 3's problems by setting (``"from noise"``, ``"from images"``, ``"out of distribution"``): each one's
    ``(targets, seeds)`` for :func:`~rrhelpers.optimization.representations.invert_together`, and its targets'
    ``labels`` (None for the out-of-distribution pictures, which have no class)."""

    pairs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    labels: dict[str, Optional[torch.Tensor]]
    ood_names: list[str]


def inversion_problems(test_set: ImageDataset, settings: Inversion) -> InversionProblems:
    """``settings.images`` seeded random test targets, inverted from noise seeds and from as many other test images;
    and the bundled out-of-distribution pictures from noise (seeded by ``seed + 1``)."""
    x, y = sample(test_set, 2 * settings.images, seed=settings.seed)  # the targets, then the seed images
    targets, labels, others = x[: settings.images], y[: settings.images], x[settings.images:]
    ood, ood_names = out_of_distribution(targets.shape[1], targets.shape[-1])
    spread = dict(mean=settings.noise_mean, std=settings.noise_std)
    noise = noise_seeds(targets.shape, **spread, seed=settings.seed)
    ood_noise = noise_seeds(ood.shape, **spread, seed=settings.seed + 1)
    return InversionProblems({"from noise": (targets, noise), "from images": (targets, others),
                              "out of distribution": (ood, ood_noise)},
                             {"from noise": labels, "from images": labels, "out of distribution": None}, ood_names)


def benchmark_results(folder: Optional[str | Path] = None, *, start: Optional[Path] = None) -> Path:
    """Chapter 11's stored measurements: ``folder``, or else ``benchmarks/results`` in ``start`` (the working
    directory: the book's folder for a reader, a copy under ``_build/`` in the build) or the nearest parent that has
    one. Raises if it holds no ``speed-*.json``, so that an empty appendix fails the build."""
    here = (start or Path.cwd()).resolve()
    found = Path(folder) if folder else next((p / "benchmarks" / "results" for p in (here, *here.parents)
                                              if (p / "benchmarks" / "results").is_dir()), here)
    if not any(found.glob("speed-*.json")):
        raise FileNotFoundError(f"no speed-*.json in {found.resolve()}: pass results= (the folder benchmarks/speed.py "
                                "writes to), or run `make bench` to measure")
    return found
