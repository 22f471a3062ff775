"""Chapter 8: style transfers by network, content and style, as figures, a picker and a live view."""

from __future__ import annotations

from typing import Mapping, Sequence

import ipywidgets
import torch
from torch import nn

from ...data import PHOTO_NAMES, TEXTURE_NAMES
from ...optimization.activations import stage_name
from ...optimization.layer_robustness import LayerRobustness
from ...optimization.style import StyleSetup
from .. import plots, widgets
from .core import Panel


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
