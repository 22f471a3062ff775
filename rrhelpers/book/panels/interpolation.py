"""Chapter 6: interpolation strips (robust, cross-fade, standard) and their picker pages."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch

from ...optimization.representations import frame_lambdas
from .core import Panel


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
