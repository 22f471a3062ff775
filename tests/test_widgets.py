"""Pickers switch precomputed pages in the browser (embedded jslinks); live views recompute in the kernel."""

from __future__ import annotations

import ipywidgets
import pytest
import torch
from ipywidgets.embed import embed_data

from rrhelpers.book import plots, widgets


def _png(value: float) -> bytes:
    return widgets.figure_png(plots.image_grid([torch.full((1, 1, 4, 4), value)]))


def _links(box: ipywidgets.Widget) -> set[tuple[str, str, str, str]]:
    """(source id, source trait, target id, target trait) of every link in the embedded (static) widget state."""
    state = embed_data(views=[box])["manager_state"]["state"]
    return {(m["state"]["source"][0].removeprefix("IPY_MODEL_"), m["state"]["source"][1],
             m["state"]["target"][0].removeprefix("IPY_MODEL_"), m["state"]["target"][1])
            for m in state.values() if m["model_name"] == "LinkModel"}


def test_picker_links_selector_and_pages_in_the_browser():
    png = _png(0.3)
    assert png.startswith(b"\x89PNG")
    box = widgets.picker({"one": png, "two": _png(0.7)}, slider=True)
    selector, stack = box.children
    assert isinstance(selector, ipywidgets.SelectionSlider) and isinstance(stack, ipywidgets.Stack)
    assert widgets.PICKER_CLASS in box._dom_classes
    # the static book only has the embedded widget state: it must contain a browser-side link selector -> stack
    assert (selector.model_id, "index", stack.model_id, "selected_index") in _links(box)
    with pytest.raises(ValueError, match="at least one"):
        widgets.picker({})


def test_grid_picker_nests_one_stack_level_per_axis_and_links_each():
    pages = {(a, b): _png(0.1 * i + 0.05 * j) for i, a in enumerate(["x", "y", "z"]) for j, b in enumerate(["0", "1"])}
    box = widgets.grid_picker(pages, ["image", "step"], sliders=["step"])
    first, second, root = box.children
    assert isinstance(first, ipywidgets.Dropdown) and isinstance(second, ipywidgets.SelectionSlider)
    assert list(first.options) == ["x", "y", "z"] and list(second.options) == ["0", "1"]
    inner = root.children
    assert len(inner) == 3 and all(len(s.children) == 2 for s in inner)
    # the page shown for (i, j) is pages[(label_i, label_j)]
    assert inner[2].children[1].value == pages[("z", "1")] and inner[0].children[0].value == pages[("x", "0")]
    links = _links(box)
    assert (first.model_id, "index", root.model_id, "selected_index") in links
    for stack in inner:  # the second selector drives every inner stack
        assert (second.model_id, "index", stack.model_id, "selected_index") in links


def test_grid_picker_rejects_incomplete_or_malformed_grids():
    png = _png(0.5)
    with pytest.raises(ValueError, match="no page"):
        widgets.grid_picker({("a", "0"): png, ("b", "1"): png}, ["image", "step"])
    with pytest.raises(ValueError, match="tuple of 2 labels"):
        widgets.grid_picker({("a",): png}, ["image", "step"])
    with pytest.raises(ValueError, match="not axes"):
        widgets.grid_picker({("a",): png}, ["image"], sliders=["lambda"])


def test_live_view_recomputes_on_change_and_reports_errors():
    calls = []

    def render(index: int, scale: float) -> bytes:
        calls.append((index, scale))
        if index > 5:
            raise IndexError(f"index {index} is out of range 0..5")
        return _png(index / 10 * scale)

    index, scale = ipywidgets.IntText(value=1), ipywidgets.FloatSlider(value=1.0)
    box = widgets.live_view({"index": index, "scale": scale}, render)
    _, status, image = box.children
    assert calls == [(1, 1.0)] and image.value == _png(0.1)   # computed up front: the static book shows it
    index.value = 3
    assert calls[-1] == (3, 1.0) and image.value == _png(0.3) and "kernel" in status.value
    index.value = 9
    assert "could not compute" in status.value and "out of range" in status.value
    assert image.value == _png(0.3)  # the last good picture stays
    with pytest.raises(ValueError, match="at least one control"):
        widgets.live_view({}, render)


def test_figure_png_is_paletted_unless_asked_for_full_colour():
    import io

    from PIL import Image

    def figure():
        return plots.image_grid([torch.rand((3, 3, 16, 16), generator=torch.Generator().manual_seed(0))])

    paletted, full = widgets.figure_png(figure()), widgets.figure_png(figure(), colors=None)
    assert Image.open(io.BytesIO(paletted)).mode == "P" and Image.open(io.BytesIO(full)).mode == "RGBA"
    assert len(paletted) < len(full)
    assert len(Image.open(io.BytesIO(widgets.figure_png(figure(), colors=8))).getcolors()) <= 8
    with pytest.raises(ValueError, match="between 2 and 256"):
        widgets.figure_png(figure(), colors=1)


def test_index_boxes_bound_each_index_to_the_items():
    boxes = widgets.index_boxes(10, source=3, destination=9)
    assert list(boxes) == ["source", "destination"]
    assert [(b.value, b.min, b.max, b.description) for b in boxes.values()] == [(3, 0, 9, "source"),
                                                                                 (9, 0, 9, "destination")]
