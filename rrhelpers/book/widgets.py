"""Widget builders that work live in JupyterLab and statically in the built HTML book.

The static book has no kernel. :func:`grid_picker` (and its one-axis form :func:`picker`) therefore shows
precomputed PNGs in nested ``ipywidgets.Stack`` s whose visible children are linked to the selectors with
``jslink``: the links run in the browser, so the embedded widget state alone lets a reader of the HTML click
through every precomputed combination. :func:`live_view` is the kernel-side companion: its controls take any value
and recompute the picture in Python (in the static book it shows the picture for its initial values).
"""

from __future__ import annotations

import html
import io
import itertools
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from PIL import Image

PICKER_CLASS = "rr-picker"  # CSS class of every picker box (tools/check_offline.py clicks through them)
_WIDE = widgets.Layout(width="420px")


def figure_png(fig: plt.Figure, dpi: int = 100, *, colors: int | None = 256) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it (so it is not also shown as a plain output).

    With ``colors`` (default 256) the PNG has a palette of at most that many colours (median cut, dithered): a
    third to a fifth of the bytes of full colour, which keeps pickers of dozens of precomputed pages light in the
    static book; ``colors=None`` keeps full colour."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    if colors is None:
        return buffer.getvalue()
    if not 2 <= colors <= 256:
        raise ValueError(f"colors must be between 2 and 256 (a PNG palette), or None for full colour; got {colors}")
    buffer.seek(0)
    paletted = Image.open(buffer).convert("RGB").quantize(colors=colors)
    out = io.BytesIO()
    paletted.save(out, format="png", optimize=True)
    return out.getvalue()


def _axis_labels(keys: Sequence[tuple[str, ...]], n_axes: int) -> list[list[str]]:
    labels: list[list[str]] = [[] for _ in range(n_axes)]
    for key in keys:
        for axis, label in enumerate(key):
            if label not in labels[axis]:
                labels[axis].append(label)
    return labels


def grid_picker(pages: Mapping[tuple[str, ...], bytes], axes: Sequence[str],
                sliders: Sequence[str] = ()) -> widgets.VBox:
    """One selector per axis (a dropdown, or a selection slider for the axes named in ``sliders``) over PNG pages
    keyed by one label per axis; every combination of labels must have a page. Switching happens in the browser."""
    axes = list(axes)
    if not pages:
        raise ValueError("grid_picker needs at least one page")
    if not axes or any(not isinstance(k, tuple) or len(k) != len(axes) for k in pages):
        raise ValueError(f"every page key must be a tuple of {len(axes)} labels, one per axis {axes}")
    unknown = set(sliders) - set(axes)
    if unknown:
        raise ValueError(f"sliders {sorted(unknown)} are not axes; axes are {axes}")
    labels = _axis_labels(list(pages), len(axes))
    missing = [combo for combo in itertools.product(*labels) if combo not in pages]
    if missing:
        raise ValueError(f"{len(missing)} combinations have no page, e.g. {missing[0]}: a picker needs every one")

    stacks: list[list[widgets.Stack]] = [[] for _ in axes]

    def build(level: int, prefix: tuple[str, ...]) -> widgets.Widget:
        if level == len(axes):
            return widgets.Image(value=pages[prefix], format="png")
        stack = widgets.Stack([build(level + 1, prefix + (label,)) for label in labels[level]], selected_index=0)
        stacks[level].append(stack)
        return stack

    root = build(0, ())
    selectors = []
    for level, name in enumerate(axes):
        cls = widgets.SelectionSlider if name in sliders else widgets.Dropdown
        selector = cls(options=labels[level], value=labels[level][0], description=name,
                       style={"description_width": "initial"}, layout=_WIDE)
        for stack in stacks[level]:
            widgets.jslink((selector, "index"), (stack, "selected_index"))
        selectors.append(selector)
    box = widgets.VBox([*selectors, root])
    box.add_class(PICKER_CLASS)
    return box


def picker(pages: Mapping[str, bytes], description: str = "show", slider: bool = False) -> widgets.VBox:
    """A dropdown (or a selection slider) over labelled PNG pages, switching pages in the browser."""
    if not pages:
        raise ValueError("picker needs at least one page")
    return grid_picker({(label,): png for label, png in pages.items()}, [description],
                       sliders=[description] if slider else ())


def live_view(controls: Mapping[str, widgets.ValueWidget], render: Callable[..., bytes],
              note: str = "computed live by the running kernel") -> widgets.VBox:
    """Controls whose values are passed by name to ``render(**values) -> PNG``; any change recomputes the picture.

    Needs a running kernel; the picture for the initial values is computed now, so the static book shows it. An
    error in ``render`` (e.g. an index out of range) is shown under the controls instead of being lost in a log.
    """
    if not controls:
        raise ValueError("live_view needs at least one control")
    image = widgets.Image(format="png")
    status = widgets.HTML()

    def update(_change: Any = None) -> None:
        values = {name: control.value for name, control in controls.items()}
        status.value = "<i>computing…</i>"
        try:
            image.value = render(**values)
        except Exception as error:  # shown to the reader, who can pick other values
            status.value = f"<b>could not compute</b>: {html.escape(f'{type(error).__name__}: {error}')}"
            return
        status.value = f"<i>{html.escape(note)}</i>"

    update()
    for control in controls.values():
        control.observe(update, names="value")
    return widgets.VBox([widgets.HBox(list(controls.values())), status, image])


def index_boxes(count: int, **values: int) -> dict[str, widgets.BoundedIntText]:
    """One integer box per keyword, for an index into ``count`` items (0 to count - 1), starting at the keyword's
    value and described by its name: the controls of a :func:`live_view` over test images."""
    return {name: widgets.BoundedIntText(value=value, min=0, max=count - 1, description=name)
            for name, value in values.items()}
