"""The panel itself: rows of images, one column per example, drawn as one figure, one picker page per example,
or a single figure shown at once; and the change an edit made, beside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

import torch
from matplotlib import pyplot as plt

from .. import plots, widgets


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
