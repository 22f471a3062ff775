"""Chapters 4, 5 and 7: coordinate visualisations and their extreme images, class pictures, feature additions
and their iterates, eq. 8's accentuations, with their picker pages and live views."""

from __future__ import annotations

from typing import Mapping, Sequence

import ipywidgets
import torch

from ...networks.models import RobustModel
from ...optimization.representations import FeatureAdditions, accentuate, add_feature, extreme_images, input_gradient
from .. import plots, widgets
from .core import Panel, _largest_change


def coordinate_panel(seeds: torch.Tensor, visualized: torch.Tensor, coordinates: Sequence[int],
                     kinds: Sequence[str]) -> Panel:
    """Chapter 4's eq. 4 grid (:func:`~rrhelpers.optimization.representations.visualize_coordinates`, (coordinates,
    seeds, C, H, W)): a row of the seeds, then a row per coordinate, labelled with its index and kind."""
    return Panel([seeds, *visualized], ["seeds"] + [f"{i}: {k}" for i, k in zip(coordinates, kinds)], [])


def extremes_panel(visualized: torch.Tensor, features: torch.Tensor, images: torch.Tensor,
                   coordinates: Sequence[int], top: int) -> Panel:
    """Chapter 4's Figure 4: per coordinate, a row of its visualisation from the first seed, then the ``top``
    ``images`` that activate it most and the ``top`` that activate it least (``features``: their representations)."""
    return Panel([torch.cat([visualized[j, :1], *extreme_images(features, images, i, top)])
                  for j, i in enumerate(coordinates)], [str(i) for i in coordinates],
                 ["maximised"] + ["most"] * top + ["least"] * top)


def regularised_panel(visualized: Mapping[str, torch.Tensor], regularised: torch.Tensor,
                      coordinates: Sequence[int]) -> Panel:
    """Chapter 4's comparison, a column per coordinate: the standard model's plain visualisation from the first seed
    (``visualized[model]``, (coordinates, seeds, C, H, W)), its regularised one, and the robust model's plain one."""
    return Panel([visualized["standard"][:, 0], regularised, visualized["robust"][:, 0]],
                 ["standard,\nplain", "standard,\nregularised", "robust,\nplain"], [str(i) for i in coordinates])


def class_panel(pictures: Mapping[str, torch.Tensor], shown: torch.Tensor, class_names: Sequence[str]) -> Panel:
    """Chapter 4's class pictures (:func:`~rrhelpers.optimization.representations.class_pictures`, the ``shown``
    classes first): a row per model of its first picture of each, a column per class."""
    return Panel([images[: len(shown)] for images in pictures.values()], list(pictures),
                 [class_names[int(c)] for c in shown])


def coordinate_pages(visualized: Mapping[str, torch.Tensor], features: Mapping[str, torch.Tensor],
                     images: torch.Tensor, coordinates: Sequence[int], kinds: Sequence[str], top: int,
                     size: float = 1.3) -> dict[str, bytes]:
    """Chapter 4's picker: a PNG per coordinate with each model's visualisations from every seed
    (``visualized[model]``, (coordinates, seeds, C, H, W)) and the ``top`` test images that activate it most."""
    pages = {}
    for j, (i, kind) in enumerate(zip(coordinates, kinds)):
        rows = [grid[j] for grid in visualized.values()]
        rows += [extreme_images(features[name], images, i, top)[0] for name in visualized]
        labels = [f"{name}\nvisualisation" for name in visualized]
        labels += [f"{name}: most\nactivating" for name in visualized]
        title = f"coordinate {i} ({kind})"
        pages[title] = widgets.figure_png(Panel(rows, labels, []).figure(title, size))
    return pages


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


def additions_panel(additions: FeatureAdditions, name: str, coordinate_labels: Sequence[str]) -> Panel:
    """Chapter 5's additions by model ``name``: the sources, then a row per coordinate with it added to each source
    (labelled ``coordinate_labels``)."""
    return Panel([additions.sources, *additions.grid(name)], ["original", *coordinate_labels], [])


def iterates_panel(additions: FeatureAdditions, rows: Mapping[str, tuple[str, int]]) -> Panel:
    """Recorded iterates of eq. 7 (Appendix B.4.2), one row per ``{label: (model, addition)}``, one column per
    snapshot step: the feature growing until the coordinate is the largest."""
    steps = additions.snapshots[next(iter(rows.values()))[0]].steps
    return Panel([additions.snapshots[name].of(j) for name, j in rows.values()], list(rows),
                 [f"step {step}" for step in steps])


def addition_picker(additions: FeatureAdditions, coordinate_labels: Sequence[str],
                    source_labels: Sequence[str]) -> ipywidgets.VBox:
    """A picker over every (coordinate, source) of ``additions``: each model's iterates of that addition (precomputed
    small pages, so it works in the static book)."""
    pages = {}
    for c, coordinate in enumerate(coordinate_labels):
        for s, source in enumerate(source_labels):
            panel = iterates_panel(additions, {name: (name, additions.index(c, s)) for name in additions.added})
            fig = panel.figure(f"coordinate {coordinate} added to {source}", 0.95)
            # dozens of pages: keep them light
            pages[(coordinate, source)] = widgets.figure_png(fig, dpi=72, colors=64)
    return widgets.grid_picker(pages, ["coordinate", "image"])
