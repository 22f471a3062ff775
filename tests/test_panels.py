"""Chapter 7's panel: the rows it computes and the pages it renders."""

from __future__ import annotations

import torch

from rrhelpers.book import panels

from .conftest import tiny_model


def test_sensitivity_panel_has_a_row_per_kind_and_a_page_per_image():
    models = {"robust": tiny_model().eval(), "standard": tiny_model().eval()}
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([1, 2, 3])
    panel = panels.sensitivity_panel(models, x, y, [7, 8, 9], [str(c) for c in range(10)], k=2, steps=3,
                                     step_size=0.1, eps=0.5)
    assert len(panel.rows) == len(panel.row_labels) == len(panel.cmaps) == 5
    assert all(row.shape[0] == 3 for row in panel.rows) and torch.equal(panel.rows[0], x)
    change = panel.rows[2]
    assert change.shape == (3, 1, 8, 8) and float(change.amax()) <= 1 + 1e-6
    assert [label.split(":")[0] for label in panel.column_labels] == ["7", "8", "9"]
    pages = panel.column_pages(size=0.5)
    assert len(pages) == 3 and all(png.startswith(b"\x89PNG") for png in pages.values())
    assert all("\n" not in key for key in pages)
