"""Figures the chapters share: labelled image grids, curves with confidence bands, R(f) bars, training histories."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from pandas.io.formats.style import Styler

from ..optimization.activations import stage_name
from ..optimization.layer_robustness import LayerRobustness


def to_numpy_image(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) tensor in [0, 1] -> (H, W) or (H, W, 3) array for imshow."""
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


def image_grid(
    rows: Sequence[torch.Tensor] | torch.Tensor,
    row_labels: Optional[Sequence[str]] = None,
    col_labels: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    size: float = 1.3,
    cmap: str | Sequence[str] = "gray",
    captions: Optional[Mapping[int, Sequence[str]]] = None,
) -> plt.Figure:
    """A grid with one row per batch in ``rows`` (each (N, C, H, W) in [0, 1]) and optional labels; ``cmap``
    (one, or one per row) colours single-channel images; ``captions`` maps a row index to a text under each of
    that row's images (e.g. a measured value)."""
    rows = list(rows)
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    cmaps = [cmap] * n_rows if isinstance(cmap, str) else list(cmap)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(size * n_cols + (1.2 if row_labels else 0), size * n_rows),
                             squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                ax.imshow(to_numpy_image(row[j]), cmap=cmaps[i], vmin=0, vmax=1)
            if i == 0 and col_labels is not None and j < len(col_labels):
                ax.set_title(col_labels[j], fontsize=8)
            if captions is not None and i in captions and j < len(captions[i]):
                ax.set_xlabel(captions[i][j], fontsize=8)
        if row_labels is not None:
            axes[i][0].set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97 if title else 1))
    return fig


def image_row(images: Mapping[str, torch.Tensor], size: float = 1.3) -> plt.Figure:
    """Labelled images (1, C, H, W) side by side in one row, each titled with its key."""
    return image_grid([torch.cat(list(images.values()))], col_labels=list(images), size=size)


def mean_ci(samples: np.ndarray, confidence: float = 0.95, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the Student-t confidence interval along ``axis``."""
    samples = np.asarray(samples, dtype=float)
    n = samples.shape[axis]
    mean = samples.mean(axis=axis)
    sem = samples.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    from scipy import stats  # here: importing scipy.stats takes most of a second

    return mean, sem * stats.t.ppf(0.5 + confidence / 2, max(n - 1, 1))


def number_table(rows: Mapping[str, Mapping[str, float]], caption: str, number_format: str = "{:.2f}") -> Styler:
    """A styled pandas table (for ``display``) with a row per key of ``rows`` and a column per measure in it,
    the numbers in ``number_format`` and missing ones (NaN) blank."""
    return pd.DataFrame(rows).T.style.format(number_format, na_rep="").set_caption(caption)


def curve_with_band(
    x: Sequence[float],
    samples: Mapping[str, np.ndarray],
    xlabel: str,
    ylabel: str,
    title: Optional[str] = None,
    confidence: float = 0.95,
    ax: Optional[plt.Axes] = None,
    *,
    marked_x: Optional[float] = None,
    marked_label: str = "robust training eps",
) -> plt.Axes:
    """One line per entry of ``samples`` (each (len(x), n) samples): the mean with a ``confidence`` band; one
    ``x`` (e.g. a training radius) can be marked with a dotted line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, values in samples.items():
        mean, half = mean_ci(values, confidence)
        ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, mean - half, mean + half, alpha=0.25)
    if marked_x is not None:
        ax.axvline(marked_x, color="gray", ls=":", label=marked_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def solver_curves(runs: Mapping[str, Mapping[str, Sequence[float]]], ylabel: str, title: Optional[str] = None,
                  ax: Optional[plt.Axes] = None) -> plt.Axes:
    """The objective per step of solver runs, ``runs[setting][model]`` (a :class:`SolverResult`'s ``history``), on a
    log scale: one colour per line, solid for the robust model, dashed for the others."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for setting, by_model in runs.items():
        for model, history in by_model.items():
            ax.plot(history, label=f"{model}, {setting}", linestyle="-" if model == "robust" else "--")
    ax.set(yscale="log", xlabel="step", ylabel=ylabel, title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return ax


def grouped_bars(
    groups: Sequence[str],
    values: Mapping[str, Sequence[float]],
    intervals: Optional[Mapping[str, Sequence[tuple[float, float]]]] = None,
    ylabel: str = "",
    title: Optional[str] = None,
    ax: Optional[plt.Axes] = None,
) -> plt.Axes:
    """One group of bars per entry of ``groups``, one bar per series in ``values``, with optional (low, high)
    ``intervals`` drawn as error bars (e.g. confidence intervals)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1.4 + 1.1 * len(groups), 3.5))
    width = 0.8 / max(len(values), 1)
    positions = np.arange(len(groups))
    for k, (label, heights) in enumerate(values.items()):
        heights = np.asarray(heights, dtype=float)
        err = None
        if intervals is not None and label in intervals:
            bounds = np.asarray(intervals[label], dtype=float)
            err = np.stack([heights - bounds[:, 0], bounds[:, 1] - heights])
        ax.bar(positions + (k - (len(values) - 1) / 2) * width, heights, width, yerr=err, capsize=3, label=label)
    ax.set_xticks(positions, groups)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return ax


def rf_bars(rf: Mapping[str, Mapping[str, LayerRobustness]], title: Optional[str] = None) -> plt.Axes:
    """R(f) of ``rf[network][layer]``: a group of bars per layer, a bar per network, with its confidence interval."""
    layers = list(next(iter(rf.values())))
    return grouped_bars([stage_name(layer) for layer in layers],
                        {network: [by_layer[layer].ratio for layer in layers] for network, by_layer in rf.items()},
                        {network: [by_layer[layer].ci for layer in layers] for network, by_layer in rf.items()},
                        ylabel="R(f)", title=title)


def annotated_curves(points: Mapping[str, Sequence[tuple[float, float]]], annotations: Sequence[str], *, xlabel: str,
                     ylabel: str, title: Optional[str] = None) -> plt.Axes:
    """A line per entry of ``points`` through its (x, y) points, each point annotated with the matching entry of
    ``annotations`` (e.g. the setting that produced it)."""
    _, ax = plt.subplots(figsize=(5, 3.5))
    for label, xy in points.items():
        ax.plot([x for x, _ in xy], [y for _, y in xy], "o-", label=label)
        for text, point in zip(annotations, xy):
            ax.annotate(text, point, fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "")
    ax.legend()
    return ax


def training_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], ax: Optional[plt.Axes] = None) -> plt.Axes:
    """Training loss and clean test accuracy per epoch for each named run, with its training time in the legend (a
    run without records, e.g. a published model's, is named there as such)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    twin = ax.twinx()
    for (label, history), color in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        epochs = [h["epoch"] for h in history]
        minutes = sum(h.get("seconds", 0.0) for h in history) / 60
        ax.plot(epochs, [h["train_loss"] for h in history], color=color,
                label=f"{label}: train loss ({minutes:.1f} min)" if history else f"{label}: no training record")
        if history and all("test_accuracy" in h for h in history):
            twin.plot(epochs, [h["test_accuracy"] for h in history], color=color, ls="--",
                      label=f"{label}: test accuracy")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    twin.set_ylabel("clean test accuracy")
    lines = ax.get_legend_handles_labels()
    twin_lines = twin.get_legend_handles_labels()
    ax.legend(lines[0] + twin_lines[0], lines[1] + twin_lines[1], fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    return ax


def robustness_curves(curves: Mapping[str, Mapping[float | str, float]], *, marked_eps: Optional[float] = None,
                      marked_label: str = "training eps", ylabel: str = "accuracy",
                      ax: Optional[plt.Axes] = None) -> plt.Axes:
    """Accuracy against the attack's L2 radius, a curve per model (``curves[model][radius]``, radii as numbers or
    their strings), with one radius marked by a dotted line (e.g. the one the robust model was trained at)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, curve in curves.items():
        ax.plot([float(r) for r in curve], list(curve.values()), marker="o", label=label)
    if marked_eps is not None:
        ax.axvline(marked_eps, color="gray", ls=":", label=marked_label)
    ax.set(xlabel="L2 radius of the attack", ylabel=ylabel, ylim=(0, 1.02))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def percent_table(shares: pd.DataFrame, caption: str) -> Styler:
    """Shares in [0, 1] shown as percentages with one decimal, under a caption (for ``display`` in a notebook)."""
    return (100 * shares).round(1).style.format("{:.1f}%").set_caption(caption)


def loss_curves(histories: Mapping[str, Sequence[Mapping[str, float]]], keys: Sequence[str]) -> plt.Figure:
    """One panel per loss in ``keys`` (log scale), a curve per named run: ``histories[name]`` is a list of per-epoch
    records with ``'epoch'`` and those keys (e.g. an inverter's ``metadata['history']``); keys that some run did
    not record (a loss at weight 0) are left out."""
    keys = [key for key in keys if all(key in history[0] for history in histories.values())]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3), squeeze=False)
    for name, history in histories.items():
        for ax, key in zip(axes[0], keys):
            ax.plot([h["epoch"] for h in history], [h[key] for h in history], marker="o", label=name)
            ax.set(xlabel="epoch", ylabel=f"{key} loss", yscale="log")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def gradient_image(grad: torch.Tensor) -> torch.Tensor:
    """Map signed gradients (B, C, H, W) to [0, 1] for display: 0.5 + g / (2 max|g|) per image."""
    scale = grad.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return 0.5 + 0.5 * grad / scale


class LiveHistory:
    """An ``on_epoch`` callback that redraws the training curves in place in a notebook as epochs finish."""

    def __init__(self, label: str):
        from IPython.display import display

        self.label, self.history = label, []
        self.handle = display(display_id=True)

    def __call__(self, record: Mapping[str, float]) -> None:
        self.history.append(dict(record))
        ax = training_curves({self.label: self.history})
        self.handle.update(ax.figure)
        plt.close(ax.figure)
