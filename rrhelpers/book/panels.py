"""Image panels that need computing first: run the solver for a few examples, then lay the results out in rows, as
one figure or as one picker page per example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import ipywidgets
import torch
from matplotlib import pyplot as plt

from ..networks.models import RobustModel
from ..optimization.representations import accentuate, add_feature, input_gradient
from ..optimization.synthesis import ClassConditionalGaussian, generate_from_gaussian
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


def sensitivity_live(models: dict[str, RobustModel], images: torch.Tensor, labels: torch.Tensor,
                     class_names: Sequence[str], *, start: int, k: int, steps: int, step_size: float,
                     eps: float) -> ipywidgets.VBox:
    """Chapter 7's live view: pick any of ``images`` by index and any k, and :func:`sensitivity_panel` is recomputed
    for it (needs a running kernel; the static book shows the page for ``start`` and ``k``)."""

    def render(image: int, top: int) -> bytes:
        return sensitivity_panel(models, images[image : image + 1], labels[image : image + 1], [image], class_names,
                                 k=top, steps=steps, step_size=step_size, eps=eps).page(0)

    return widgets.live_view({
        "image": ipywidgets.BoundedIntText(value=start, min=0, max=len(images) - 1, description="test image"),
        "top": ipywidgets.BoundedIntText(value=k, min=1, max=models["robust"].num_features, description="k"),
    }, render)


def synthesis_panel(made: dict[str, torch.Tensor], classes: torch.Tensor, draws: Sequence[int],
                    class_names: Sequence[str]) -> Panel:
    """Chapter 10's generations (:func:`generate_from_gaussian`): the seed, then what each model made of it, one
    column per image, labelled with its class and draw."""
    kinds = list(made)
    return Panel([made[kind] for kind in kinds], kinds,
                 [f"class {class_names[int(c)]}, draw {d}" for c, d in zip(classes, draws)])


def synthesis_live(models: dict[str, RobustModel], gaussian: ClassConditionalGaussian, class_names: Sequence[str],
                   *, eps: float, steps: int, step_size: float) -> ipywidgets.VBox:
    """Chapter 10's live view: pick a class and a draw, and a new seed is drawn and generated from with each model
    (needs a running kernel)."""

    def render(klass: str, draw: int) -> bytes:
        wanted = torch.tensor([class_names.index(klass)])
        made = generate_from_gaussian(models, gaussian, wanted, seed=1000 + draw, eps=eps, steps=steps,
                                      step_size=step_size)
        return synthesis_panel(made, wanted, [draw], class_names).page(0, 1.8)

    return widgets.live_view({"klass": ipywidgets.Dropdown(options=list(class_names), description="class"),
                              "draw": ipywidgets.IntSlider(min=0, max=99, description="draw")}, render)


def addition_live(models: dict[str, RobustModel], images: torch.Tensor, *, start_coordinate: int, start_image: int,
                  steps: int, step_size: float) -> ipywidgets.VBox:
    """Chapter 5's live view: pick any coordinate and any of ``images`` by index, and eq. 7 adds the coordinate with
    each model (needs a running kernel; the static book shows the starting pair)."""

    def render(coordinate: int, image: int) -> bytes:
        x = images[image : image + 1]
        rows = [x] + [add_feature(m, x, coordinate, steps, step_size).x.cpu() for m in models.values()]
        return Panel(rows, ["original", *models], [f"coordinate {coordinate} added to test image {image}"]).page(0)

    features = next(iter(models.values())).num_features
    return widgets.live_view({
        "coordinate": ipywidgets.BoundedIntText(value=start_coordinate, min=0, max=features - 1,
                                                description="coordinate"),
        "image": ipywidgets.BoundedIntText(value=start_image, min=0, max=len(images) - 1, description="test image"),
    }, render)


def change_panel(originals: torch.Tensor, edited: dict[str, torch.Tensor], column_labels: Sequence[str]) -> Panel:
    """The originals, then for each model its edited images and the change it made (the largest absolute change
    over channels per pixel, on a colour map: brighter is larger), one column per image."""
    rows, labels = [originals], ["original"]
    for name, images in edited.items():
        rows += [images, _largest_change(images, originals)]
        labels += [name, f"{name}:\n|change|"]
    return Panel(rows, labels, column_labels, ["gray"] + ["gray", "magma"] * len(edited))


def _largest_change(edited: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Per pixel, the largest absolute change over the channels, (N, 1, H, W)."""
    return (edited - originals).abs().amax(1, keepdim=True)
