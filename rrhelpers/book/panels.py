"""Image panels that need computing first: run the solver for a few examples, then lay the results out in rows, as
one figure or as one picker page per example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from matplotlib import pyplot as plt

from ..data import ImageDataset, shifted_and_dimmed
from ..learning.inverter import FeedforwardInverter, Mistakes, classifier_condition, conditions_towards, \
    scaled_conditions
from ..networks.models import RobustModel
from ..optimization.representations import accentuate, input_gradient
from . import plots, widgets


@dataclass(frozen=True)
class Panel:
    """Rows of images (each (N, C, H, W) in [0, 1]), one column per example, with labels and a colour map per row."""

    rows: Sequence[torch.Tensor]
    row_labels: Sequence[str]
    column_labels: Sequence[str]
    cmaps: str | Sequence[str] = "gray"

    def figure(self, title: str | None = None, size: float = 1.45) -> plt.Figure:
        """The whole panel: a row per kind of image, a column per example."""
        return plots.image_grid(list(self.rows), list(self.row_labels), col_labels=list(self.column_labels),
                                title=title, size=size, cmap=self.cmaps)

    def page(self, j: int, size: float = 1.6) -> bytes:
        """Example ``j`` alone as a PNG: its images side by side, titled with its label on one line."""
        channels = self.rows[0].shape[1]  # one-channel rows (|change|) are shown in every channel of a colour image
        fig = plots.image_grid([torch.stack([row[j].expand(channels, -1, -1) for row in self.rows])],
                               col_labels=[r.replace("\n", " ") for r in self.row_labels],
                               title=self.column_labels[j].replace("\n", ", "), size=size, cmap="gray")
        return widgets.figure_png(fig)

    def show(self, title: str | None = None, size: float = 1.45) -> None:
        """Draw the :meth:`figure` and show it now (in a notebook: in its place among the cell's outputs)."""
        self.figure(title, size)
        plt.show()

    def column_pages(self, size: float = 1.6) -> dict[str, bytes]:
        """One :meth:`page` per example, keyed by its label on one line (for ``widgets.picker``)."""
        return {label.replace("\n", ", "): self.page(j, size) for j, label in enumerate(self.column_labels)}


def sensitivity_panel(models: dict[str, RobustModel], images: torch.Tensor, labels: torch.Tensor,
                      indices: Sequence[int], class_names: Sequence[str], *, k: int, steps: int, step_size: float,
                      eps: float) -> Panel:
    """Chapter 7's comparison (eq. 8): per image, the robust model's accentuation of its top-``k`` coordinates for
    the class it predicts, the change (scaled to its maximum), the robust input gradient for that class, and the
    standard model's accentuation of its own top-``k``; columns labelled with the test index, the true class and
    both predictions."""
    pair = {name: models[name] for name in ("robust", "standard")}
    predicted = {name: m.predict(images).cpu() for name, m in pair.items()}
    accentuated = {name: accentuate(m, images, k, steps, step_size, eps).x.cpu() for name, m in pair.items()}
    gradient = plots.gradient_image(input_gradient(pair["robust"], images, predicted["robust"]).cpu())
    change = _largest_change(accentuated["robust"], images)
    change = change / change.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    columns = [f"{i}: {class_names[t]}\nrobust says {class_names[r]}\nstandard says {class_names[s]}"
               for i, t, r, s in zip(indices, labels.tolist(), predicted["robust"].tolist(),
                                     predicted["standard"].tolist())]
    return Panel([images, accentuated["robust"], change, gradient, accentuated["standard"]],
                 ["original", "robust:\naccentuated", "robust:\n|change|", "robust:\ninput gradient",
                  "standard:\naccentuated"], columns, ["gray", "gray", "magma", "RdBu_r", "gray"])


def change_panel(originals: torch.Tensor, edited: dict[str, torch.Tensor], column_labels: Sequence[str]) -> Panel:
    """The originals, then for each model its edited images and the change it made (the largest absolute change
    over channels per pixel, on a colour map: brighter is larger), one column per image."""
    rows, labels = [originals], ["original"]
    for name, images in edited.items():
        rows += [images, _largest_change(images, originals)]
        labels += [name, f"{name}:\n|change|"]
    return Panel(rows, labels, column_labels, ["gray"] + ["gray", "magma"] * len(edited))


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


def _largest_change(edited: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per pixel, the largest absolute change over the channels, (N, 1, H, W)."""
    return (edited - originals).abs().amax(1, keepdim=True)
