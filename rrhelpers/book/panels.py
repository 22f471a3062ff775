"""Image panels that need computing first: run the solver for a few examples, then lay the results out in rows, as
one figure or as one picker page per example; chapter 8's style transfers as figures, a picker and a live view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Optional, Sequence

import ipywidgets
import torch
from matplotlib import pyplot as plt
from torch import nn

from ..data import PHOTO_NAMES, TEXTURE_NAMES, ImageDataset, shifted_and_dimmed
from ..learning.inverter import (FeedforwardInverter, Mistakes, classifier_condition, conditions_towards,
                                scaled_conditions)
from ..networks.models import RobustModel
from ..optimization.activations import stage_name
from ..optimization.layer_robustness import LayerRobustness
from ..optimization.representations import (FeatureAdditions, accentuate, add_feature, extreme_images, frame_lambdas,
                                             input_gradient)
from ..optimization.style import StyleSetup
from ..optimization.synthesis import ClassConditionalGaussian, generate_from_gaussian
from . import plots, widgets


@dataclass(frozen=True)
class Panel:
    """Rows of images (each (N, C, H, W) in [0, 1]), one column per example, with labels and a colour map per row."""

    rows: Sequence[torch.Tensor]
    row_labels: Sequence[str]
    column_labels: Sequence[str]
    cmaps: str | Sequence[str] = "gray"

    @classmethod
    def of(cls, cells: Mapping[tuple[Hashable, Hashable], torch.Tensor], *, row_labels: Sequence[str] | None = None,
           column_labels: Sequence[str] | None = None) -> Panel:
        """Images (1, C, H, W) keyed by (row, column), rows and columns in the order their keys first appear; the
        labels default to the keys."""
        rows, columns = list(dict.fromkeys(r for r, _ in cells)), list(dict.fromkeys(c for _, c in cells))
        return cls([torch.cat([cells[(r, c)] for c in columns]) for r in rows], row_labels or [str(r) for r in rows],
                   column_labels or [str(c) for c in columns])

    def figure(self, title: str | None = None, size: float = 1.45) -> plt.Figure:
        """The whole panel: a row per kind of image, a column per example."""
        return plots.image_grid(list(self.rows), list(self.row_labels), col_labels=list(self.column_labels),
                                title=title, size=size, cmap=self.cmaps)

    def show(self, title: str | None = None, size: float = 1.45) -> None:
        """:meth:`figure`, shown at once (so that each of a loop's figures appears where it is drawn)."""
        self.figure(title, size)
        plt.show()

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


def synthesis_panel(made: dict[str, torch.Tensor], classes: torch.Tensor, draws: Sequence[int],
                    class_names: Sequence[str]) -> Panel:
    """Chapter 10's generations (:func:`generate_from_gaussian`): the seed, then what each model made of it, one
    column per image, labelled with its class and draw."""
    kinds = list(made)
    return Panel([made[kind] for kind in kinds], kinds,
                 [f"class {class_names[int(c)]}, draw {d}" for c, d in zip(classes, draws)])


def synthesis_grid(made: dict[str, torch.Tensor], draws: int, class_names: Sequence[str]) -> Panel:
    """Chapter 10's generation figure from ``draws`` blocks of one image per class
    (:func:`generate_from_gaussian`): per draw, the row of seeds, then a row per model of what it made of them."""
    n = len(made["seed"]) // draws
    rows = [(f"seed {d + 1}" if kind == "seed" else kind, images[d * n : (d + 1) * n])
            for d in range(draws) for kind, images in made.items()]
    return Panel([images for _, images in rows], [label for label, _ in rows], list(class_names[:n]))


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


def change_panel(originals: torch.Tensor, edited: dict[str, torch.Tensor], column_labels: Sequence[str]) -> Panel:
    """The originals, then for each model its edited images and the change it made (the largest absolute change
    over channels per pixel, on a colour map: brighter is larger), one column per image."""
    rows, labels = [originals], ["original"]
    for name, images in edited.items():
        rows += [images, _largest_change(images, originals)]
        labels += [name, f"{name}:\n|change|"]
    return Panel(rows, labels, column_labels, ["gray"] + ["gray", "magma"] * len(edited))


def style_panel(setup: StyleSetup, transfers: Mapping[tuple[str, str, str], torch.Tensor], content: str) -> Panel:
    """Chapter 8's transfers of ``content`` ({(network, content, style): image}): a row of the style images, then a
    row per network of its transfers into each style, each row starting with the content image."""
    cells = {("style images", "content"): setup.contents[content],
             **{("style images", style): image for style, image in setup.styles.items()}}
    for (network, c, style), image in transfers.items():
        if c == content:
            cells.update({(network, "content"): setup.contents[content], (network, style): image})
    return Panel.of(cells)


def layer_panel(transfers: Mapping[tuple[str, str], torch.Tensor],
                rf: Mapping[str, Mapping[str, LayerRobustness]]) -> Panel:
    """Chapter 8's transfers with a single style layer, {(network, layer): image}: a row per network labelled with its
    layers' R(f) (``rf[network][layer]``), a column per style layer."""
    networks = list(dict.fromkeys(network for network, _ in transfers))
    layers = list(dict.fromkeys(layer for _, layer in transfers))
    rows = [f"{n}\nR(f) = " + ", ".join(f"{rf[n][layer].ratio:.2f}" for layer in layers) for n in networks]
    columns = [f"style from {stage_name(layer)} only" for layer in layers]
    return Panel.of(transfers, row_labels=rows, column_labels=columns)


def transfer_page(content: torch.Tensor, style: torch.Tensor, image: torch.Tensor, label: str) -> bytes:
    """One style transfer as a PNG: the content image, the style image and the result (labelled ``label``)."""
    return widgets.figure_png(plots.image_row({"content": content, "style": style, label: image}, size=2.2))


def transfer_picker(setup: StyleSetup, transfers: Mapping[tuple[str, str, str], torch.Tensor]) -> ipywidgets.VBox:
    """A picker over ``transfers`` {(network, content, style): image} by content, style and network (precomputed
    pages, so it works in the static book)."""
    pages = {(c, s, network): transfer_page(setup.contents[c], setup.styles[s], image, f"{network} network")
             for (network, c, s), image in transfers.items()}
    return widgets.grid_picker(pages, ["content", "style", "network"])


def transfer_view(setup: StyleSetup, models: Mapping[str, nn.Module], weights: Sequence[float], *, weight: float,
                  content: str, style: str) -> ipywidgets.VBox:
    """A live style transfer (running kernel): any bundled photograph or texture as content or style, any of
    ``models`` and of the style ``weights``, starting from ``content``, ``style``, the first model and ``weight``."""
    def render(content: str, style: str, network: str, weight: float) -> bytes:
        image = setup.transfer(models[network], content, style, weight).image
        return transfer_page(setup.image(content), setup.image(style), image, network)

    bundled = sorted(set(PHOTO_NAMES + TEXTURE_NAMES))
    return widgets.live_view({
        "content": ipywidgets.Dropdown(options=bundled, value=content, description="content"),
        "style": ipywidgets.Dropdown(options=bundled, value=style, description="style"),
        "network": ipywidgets.Dropdown(options=list(models), value=next(iter(models)), description="network"),
        "weight": ipywidgets.Dropdown(options=list(weights), value=weight, description="style weight"),
    }, render)


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
