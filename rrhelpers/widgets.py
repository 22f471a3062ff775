"""Widget builders that work live in JupyterLab and statically in the built HTML book.

The static book has no kernel, so a picker shows precomputed PNGs in an ``ipywidgets.Stack`` whose visible child
is linked to the selector with ``jslink``: the link runs in the browser, so the embedded widget state alone is
enough for a reader of the HTML to click through the results.
"""

from __future__ import annotations

import io
from typing import Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt


def figure_png(fig: plt.Figure, dpi: int = 100) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so it is not also shown as a plain output)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def picker(pages: Mapping[str, bytes], description: str = "show", slider: bool = False) -> widgets.VBox:
    """A dropdown (or a selection slider) over labelled PNG pages, switching pages in the browser."""
    labels = list(pages)
    if not labels:
        raise ValueError("picker needs at least one page")
    selector_cls = widgets.SelectionSlider if slider else widgets.Dropdown
    selector = selector_cls(options=labels, value=labels[0], description=description,
                            style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))
    stack = widgets.Stack([widgets.Image(value=png, format="png") for png in pages.values()], selected_index=0)
    widgets.jslink((selector, "index"), (stack, "selected_index"))
    return widgets.VBox([selector, stack])
