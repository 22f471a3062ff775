"""The chapters' panels (the rows they compute, the pages they render) and solver curves."""

from __future__ import annotations

import torch
from matplotlib import pyplot as plt

import rrhelpers as rr
from rrhelpers.book import panels, plots
from rrhelpers.learning.inverter import FeedforwardInverter, Generator, Mistakes, classifier_condition

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


class _Echo:
    def reconstruct(self, classifier, images):
        return images * 0.5


def test_reconstruction_and_probe_panels_put_each_models_reconstruction_under_the_images():
    inverters, models = {"robust": _Echo(), "standard": _Echo()}, {"robust": None, "standard": None}
    x = torch.rand(2, 1, 4, 6)
    panel = panels.reconstruction_panel(inverters, models, x, ["a", "b"])
    assert panel.row_labels == ["original", "robust", "standard"] and torch.equal(panel.rows[2], x * 0.5)
    probes = panels.probe_panel(inverters, models, x[:1], 1)
    assert probes.row_labels[0] == "input" and probes.column_labels == ["shift -1 px", "unchanged", "shift +1 px",
                                                                        "half brightness"]
    assert torch.equal(probes.rows[0][3], x[0] * 0.5) and torch.equal(probes.rows[1][1], x[0] * 0.5)


def test_logit_edit_panel_decodes_scaled_and_moved_logits():
    torch.manual_seed(0)
    model = tiny_model()
    inverter = FeedforwardInverter(Generator(cond_dim=10, channels=1, size=8, width=4, noise_dim=2, embed_dim=4)).eval()
    reference = rr.ImageDataset(torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 0, 1, 2, 2]), [str(c) for c in range(3)])
    panel = panels.logit_edit_panel({"robust": inverter}, {"robust": model}, reference.images[:1], reference, 2,
                                    scales=(0.0, 1.0), fractions=(1.0, 0.0))
    assert panel.row_labels == ["robust\nscaled", "robust\ntowards"] and panel.column_labels == ["x0 / t=1", "x1 / t=0"]
    assert torch.allclose(panel.rows[0][1], panel.rows[1][1])  # x1 and t=0: both the image's own logits
    goal = classifier_condition(model, reference.images[4:]).mean(0, keepdim=True)
    assert torch.allclose(panel.rows[1][0], inverter(goal)[0])  # t=1: class 2's mean logits


def test_mistakes_panel_labels_true_and_predicted_and_show_draws_it(monkeypatch):
    mistakes = Mistakes(torch.rand(10, 1, 4, 4), torch.arange(10), torch.arange(10).flip(0), torch.rand(10, 1, 4, 4),
                        torch.zeros(10))
    panel = panels.mistakes_panel(mistakes, k=3)
    assert panel.column_labels == ["0 -> 9", "1 -> 8", "2 -> 7"] and [len(r) for r in panel.rows] == [3, 3]
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()._suptitle.get_text()))
    panel.show("mistakes")
    assert shown == ["mistakes"]
    plt.close("all")
