"""Chapter 10: what each model makes of the same class-conditional seeds, as a figure, a picker and a live view."""

from __future__ import annotations

from typing import Sequence

import ipywidgets
import torch

from ...networks.models import RobustModel
from ...optimization.synthesis import ClassConditionalGaussian, generate_from_gaussian
from .. import widgets
from .core import Panel


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
