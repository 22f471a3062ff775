"""The chapters' panels (the rows they compute, the pages they render) and solver curves."""

from __future__ import annotations

import torch
from matplotlib import pyplot as plt

from rrhelpers.book import panels, plots

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
    pages = panel.column_pages(size=1.2)
    assert len(pages) == 3 and all(png.startswith(b"\x89PNG") for png in pages.values())
    assert all("\n" not in key for key in pages)


def test_change_panel_puts_each_models_edit_beside_its_change():
    originals = torch.zeros(2, 3, 4, 4)
    edited = {"robust": originals + 0.25, "standard": originals.clone()}
    panel = panels.change_panel(originals, edited, ["a", "b"])
    assert panel.row_labels == ["original", "robust", "robust:\n|change|", "standard", "standard:\n|change|"]
    assert panel.cmaps == ["gray", "gray", "magma", "gray", "magma"]
    assert panel.rows[2].shape == (2, 1, 4, 4) and torch.allclose(panel.rows[2], torch.full((2, 1, 4, 4), 0.25))
    assert float(panel.rows[4].abs().sum()) == 0.0


def test_solver_curves_draw_robust_solid_and_others_dashed():
    ax = plots.solver_curves({"from noise": {"robust": [1.0, 0.5, 0.1], "standard": [1.0, 0.6, 0.3]}}, "error")
    styles = {line.get_label(): line.get_linestyle() for line in ax.get_lines()}
    assert styles == {"robust, from noise": "-", "standard, from noise": "--"} and ax.get_yscale() == "log"
    plt.close(ax.figure)


def test_interpolation_strips_and_pages_lay_out_pairs_kinds_and_lambdas():
    frames = {"robust": torch.rand(3, 2, 1, 4, 4), "cross-fade": torch.rand(3, 2, 1, 4, 4)}
    strips = panels.interpolation_strips(frames, [(4, 7), (5, 8)])
    assert strips.row_labels == ["4→7\nrobust", "4→7\ncross-fade", "5→8\nrobust", "5→8\ncross-fade"]
    assert strips.column_labels == ["λ=0.00", "λ=0.50", "λ=1.00"]
    assert torch.equal(strips.rows[3], frames["cross-fade"][:, 1])
    assert panels.interpolation_strips(frames).row_labels == ["robust", "cross-fade"]
    pages = panels.interpolation_pages(frames, [(4, 7), (5, 8)], size=1.0)
    assert list(pages)[:4] == [("test image 4", "test image 7", lam) for lam in ("0.00", "0.50", "1.00")] + [
        ("test image 5", "test image 8", "0.00")]
    assert len(pages) == 6 and all(png.startswith(b"\x89PNG") for png in pages.values())
