"""Chapter 9: feedforward reconstructions, what survives a shift or dimming, edited logits, and mistakes."""

from __future__ import annotations

from typing import Sequence

import torch

from ...data import ImageDataset, shifted_and_dimmed
from ...learning.inverter import (FeedforwardInverter, Mistakes, classifier_condition, conditions_towards,
                                  scaled_conditions)
from ...networks.models import RobustModel
from .core import Panel


def reconstruction_panel(inverters: dict[str, FeedforwardInverter], models: dict[str, RobustModel],
                         images: torch.Tensor, column_labels: Sequence[str], *, first_row: str = "original") -> Panel:
    """The ``images``, then a row per model of its inverter's reconstructions of them, one column per image."""
    rows = [images] + [inverters[name].reconstruct(model, images).cpu() for name, model in models.items()]
    return Panel(rows, [first_row, *models], column_labels)


def probe_panel(inverters: dict[str, FeedforwardInverter], models: dict[str, RobustModel], image: torch.Tensor,
                shift: int) -> Panel:
    """One image (1, C, H, W) moved ``shift`` pixels left, unchanged, moved right and at half brightness
    (:func:`~rrhelpers.data.shifted_and_dimmed`), over each model's reconstructions of them."""
    probes = shifted_and_dimmed(image, shift)
    return reconstruction_panel(inverters, models, torch.cat(list(probes.values())), list(probes), first_row="input")


def logit_edit_panel(inverters: dict[str, FeedforwardInverter], models: dict[str, RobustModel], source: torch.Tensor,
                     reference: ImageDataset, goal: int, *, scales: Sequence[float] = (0.0, 0.5, 1.0, 2.0, 4.0),
                     fractions: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> Panel:
    """Per model, its inverter's decoding of the logits of ``source`` (one image) scaled by each of ``scales``, and
    moved each of ``fractions`` of the way to its mean logits of class ``goal``'s images in ``reference``; a column
    per (scale, fraction)."""
    goal_images, _ = reference.tensors((reference.labels == goal).nonzero()[:, 0])
    rows, labels = [], []
    for name, model in models.items():
        logits = classifier_condition(model, source)
        goal_logits = classifier_condition(model, goal_images).mean(0, keepdim=True)
        rows += [inverters[name](scaled_conditions(logits, scales)).cpu(),
                 inverters[name](conditions_towards(logits, goal_logits, fractions)).cpu()]
        labels += [f"{name}\nscaled", f"{name}\ntowards"]
    return Panel(rows, labels, [f"x{s:g} / t={t:g}" for s, t in zip(scales, fractions)])


def mistakes_panel(mistakes: Mistakes, k: int = 8) -> Panel:
    """The first ``k`` misclassified images over their reconstructions, labelled ``true -> predicted``."""
    return Panel([mistakes.images[:k], mistakes.reconstructions[:k]], ["original", "reconstruction"],
                 [f"{t} -> {p}" for t, p in zip(mistakes.labels[:k].tolist(), mistakes.predicted[:k].tolist())])
