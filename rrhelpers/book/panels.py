"""Image panels that need computing first: run the solver for a few examples, then lay the results out in rows, as
one figure or as one picker page per example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import torch
from matplotlib import pyplot as plt

from ..networks.models import RobustModel
from ..optimization.representations import accentuate, frame_lambdas, input_gradient
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


def interpolation_strips(frames: Mapping[str, torch.Tensor],
                         pair_ids: Optional[Sequence[tuple[int, int]]] = None) -> Panel:
    """Interpolations (each kind (T + 1, pairs, C, H, W)) as strips: a row per pair in ``pair_ids`` (labelled with
    its test indices) and kind, a column per λ; without ``pair_ids``, the first pair's rows, labelled by kind."""
    rows, labels = [], []
    for p, pair in enumerate(pair_ids or [None]):
        for kind, path in frames.items():
            rows.append(path[:, p])
            labels.append(kind if pair is None else f"{pair[0]}→{pair[1]}\n{kind}")
    return Panel(rows, labels, [f"λ={lam:.2f}" for lam in frame_lambdas(len(rows[0]) - 1)])


def interpolation_pages(frames: Mapping[str, torch.Tensor], pair_ids: Sequence[tuple[int, int]],
                        size: float = 1.6) -> dict[tuple[str, str, str], bytes]:
    """Per pair in ``pair_ids`` and λ, a picker page with that frame of every kind of interpolation in ``frames``
    (each (T + 1, pairs, C, H, W)) side by side, keyed (source, destination, λ) for ``widgets.grid_picker``."""
    lambdas = frame_lambdas(len(next(iter(frames.values()))) - 1)
    pages = {}
    for p, (s, d) in enumerate(pair_ids):
        pair = Panel([path[:, p] for path in frames.values()], list(frames),
                     [f"test image {s} → test image {d}\nλ = {lam:.2f}" for lam in lambdas])
        for k, lam in enumerate(lambdas):
            pages[(f"test image {s}", f"test image {d}", f"{lam:.2f}")] = pair.page(k, size)
    return pages


def _largest_change(edited: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per pixel, the largest absolute change over the channels, (N, 1, H, W)."""
    return (edited - originals).abs().amax(1, keepdim=True)
