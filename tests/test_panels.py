"""The chapters' panels (the rows they compute, the pages they render) and solver curves."""

from __future__ import annotations

import pytest
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


def test_sensitivity_live_redraws_the_picked_image_and_k():
    models = {"robust": tiny_model().eval(), "standard": tiny_model().eval()}
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([1, 2, 3, 4])
    view = panels.sensitivity_live(models, x, y, [str(c) for c in range(10)], start=2, k=2, steps=2, step_size=0.1,
                                   eps=0.5)
    image_control, top_control = view.children[0].children
    image = view.children[2]
    assert image_control.value == 2 and top_control.value == 2 and bytes(image.value).startswith(b"\x89PNG")
    first = bytes(image.value)
    image_control.value = 0
    assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != first
    assert top_control.max == models["robust"].num_features and image_control.max == 3


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


def test_robustness_curves_take_numeric_or_string_radii_and_mark_one():
    ax = plots.robustness_curves({"robust": {0.0: 0.9, 1.5: 0.8}, "standard": {"0": 0.95, "1.5": 0.1}},
                                 marked_eps=1.0)
    lines = ax.get_lines()
    assert [list(line.get_xdata()) for line in lines[:2]] == [[0.0, 1.5], [0.0, 1.5]]
    assert list(lines[1].get_ydata()) == [0.95, 0.1] and list(lines[2].get_xdata()) == [1.0, 1.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["robust", "standard", "training eps"]
    plt.close(ax.figure)


def test_percent_table_shows_shares_as_percentages():
    import pandas as pd

    html = plots.percent_table(pd.DataFrame({"clean": {"robust": 0.9667}}), "accuracy").to_html()
    assert "96.7%" in html and "accuracy" in html


def test_training_curves_give_each_runs_minutes_and_name_runs_without_records():
    history = [{"epoch": 1, "train_loss": 1.0, "seconds": 30.0}, {"epoch": 2, "train_loss": 0.5, "seconds": 60.0}]
    ax = plots.training_curves({"robust": history, "published": []})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["robust: train loss (1.5 min)", "published: no training record"]
    plt.close(ax.figure)


def test_curve_with_band_marks_one_x():
    import numpy as np

    ax = plots.curve_with_band([1.0, 2.0], {"robust": np.ones((2, 3))}, "r", "d", marked_x=1.5)
    assert list(ax.get_lines()[-1].get_xdata()) == [1.5, 1.5]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["robust", "robust training eps"]
    plt.close(ax.figure)


def test_synthesis_panel_and_live_view_show_the_seed_and_each_models_image():
    from rrhelpers.optimization.synthesis import ClassConditionalGaussian

    images, labels = torch.rand(20, 1, 8, 8), torch.arange(20) % 2
    made = {"seed": images[:2], "robust": images[2:4], "standard": images[4:6]}
    panel = panels.synthesis_panel(made, torch.tensor([0, 1]), [1, 2], ["zero", "one"])
    assert panel.row_labels == ["seed", "robust", "standard"] and panel.rows[1] is made["robust"]
    assert panel.column_labels == ["class zero, draw 1", "class one, draw 2"]
    grid = panels.synthesis_grid({"seed": images[:4], "robust": images[4:8]}, 2, ["zero", "one", "two"])
    assert grid.row_labels == ["seed 1", "robust", "seed 2", "robust"] and grid.column_labels == ["zero", "one"]
    assert torch.equal(grid.rows[2], images[2:4]) and torch.equal(grid.rows[3], images[6:8])
    models = {"robust": tiny_model(seed=1), "standard": tiny_model(seed=2)}
    view = panels.synthesis_live(models, ClassConditionalGaussian(images, labels, size=4), ["zero", "one"], eps=0.5,
                                 steps=2, step_size=0.1)
    klass, draw = view.children[0].children
    first = bytes(view.children[2].value)
    assert first.startswith(b"\x89PNG") and list(klass.options) == ["zero", "one"]
    draw.value = 5
    assert bytes(view.children[2].value) != first and "could not" not in view.children[1].value


def test_addition_live_adds_the_picked_coordinate_to_the_picked_image():
    models = {"robust": tiny_model(seed=1), "standard": tiny_model(seed=2)}
    view = panels.addition_live(models, torch.rand(3, 1, 8, 8), start_coordinate=1, start_image=2, steps=2,
                                step_size=0.1)
    coordinate, image = view.children[0].children
    assert (coordinate.value, image.value, coordinate.max, image.max) == (1, 2, models["robust"].num_features - 1, 2)
    first = bytes(view.children[2].value)
    coordinate.value = 0
    assert first.startswith(b"\x89PNG") and bytes(view.children[2].value) != first


def test_panel_of_lays_out_keyed_images_in_the_order_of_their_keys():
    cells = {(row, column): torch.full((1, 3, 2, 2), 0.1 * i + 0.01 * j)
             for i, row in enumerate(["b", "a"]) for j, column in enumerate([2, 1, 3])}
    panel = panels.Panel.of(cells)
    assert panel.row_labels == ["b", "a"] and panel.column_labels == ["2", "1", "3"]
    assert panel.rows[1].shape == (3, 3, 2, 2) and float(panel.rows[1][2, 0, 0, 0]) == pytest.approx(0.12)
    assert panels.Panel.of(cells, row_labels=["B", "A"]).row_labels == ["B", "A"]


def test_style_panels_put_content_styles_and_each_networks_transfers_in_rows():
    from rrhelpers.optimization.layer_robustness import layer_robustness
    from rrhelpers.optimization.style import StyleSetup

    model = tiny_model(in_channels=3)
    setup = StyleSetup.for_photos(model, ["chelsea", "astronaut"], ["brick"], size=8, content_stage=0, steps=1)
    transfers = {(n, c, s): torch.full((1, 3, 8, 8), v) for v, n in ((0.2, "robust"), (0.8, "standard"))
                 for c, s in setup.pairs}
    panel = panels.style_panel(setup, transfers, "astronaut")
    assert panel.row_labels == ["style images", "robust", "standard"] and panel.column_labels == ["content", "brick"]
    assert torch.equal(panel.rows[0], torch.cat([setup.contents["astronaut"], setup.styles["brick"]]))
    assert torch.equal(panel.rows[2][1], transfers[("standard", "astronaut", "brick")][0])
    rf = {n: layer_robustness(m, torch.rand(3, 3, 8, 8), setup.layers, 0.1, 1) for n, m in (("robust", model),
                                                                                          ("standard", model))}
    single = {(n, layer): torch.rand(1, 3, 8, 8) for n in rf for layer in setup.layers}
    layered = panels.layer_panel(single, rf)
    ratios = ", ".join(f"{r.ratio:.2f}" for r in rf["robust"].values())
    assert layered.row_labels[0] == f"robust\nR(f) = {ratios}"
    assert layered.column_labels == ["style from stages.0 only", "style from stages.1 only"]
    picker = panels.transfer_picker(setup, transfers)
    assert [selector.description for selector in picker.children[:3]] == ["content", "style", "network"]
    assert picker.children[2].options == ("robust", "standard")
    live = panels.transfer_view(setup, {"robust": model}, [1.0, 10.0], weight=10.0, content="chelsea",
                                style="grass")
    assert [control.value for control in live.children[0].children] == ["chelsea", "grass", "robust", 10.0]
    assert bytes(live.children[2].value).startswith(b"\x89PNG")


def test_rf_bars_and_annotated_curves_draw_one_series_per_network():
    from rrhelpers.optimization.layer_robustness import layer_robustness

    model = tiny_model(in_channels=3)
    rf = layer_robustness(model, torch.rand(3, 3, 8, 8), ["backbone.stages.0", "backbone.stages.1"], 0.1, 1)
    ax = plots.rf_bars({"robust": rf, "standard": rf}, "R(f)")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stages.0", "stages.1"] and len(ax.patches) == 4
    plt.close(ax.figure)
    ax = plots.annotated_curves({"robust": [(0.0, 1.0), (0.1, 0.5)], "standard": [(0.0, 1.0), (0.2, 0.4)]},
                                ["1", "10"], xlabel="moved", ylabel="distance")
    assert [line.get_label() for line in ax.get_lines()] == ["robust", "standard"]
    assert [t.get_text() for t in ax.texts] == ["1", "10", "1", "10"] and ax.texts[3].xy == (0.2, 0.4)
    plt.close(ax.figure)
    fig = plots.image_row({"a": torch.zeros(1, 3, 4, 4), "b": torch.ones(1, 3, 4, 4)})
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    plt.close(fig)


def test_addition_panels_show_sources_iterates_and_a_picker_page_per_pair():
    models = {"robust": tiny_model().eval(), "standard": tiny_model(seed=1).eval()}
    sources = torch.rand(2, 1, 8, 8)
    additions = rr.add_features(models, sources, [1, 3, 4], steps=4, step_size=0.1, snapshot_every=2)
    panel = panels.additions_panel(additions, "standard", ["a", "b", "c"])
    assert panel.row_labels == ["original", "a", "b", "c"] and torch.equal(panel.rows[0], sources)
    assert torch.equal(panel.rows[2], additions.added["standard"][2:4])
    iterates = panels.iterates_panel(additions, {"first": ("robust", 0), "last": ("standard", 5)})
    assert iterates.row_labels == ["first", "last"] and iterates.column_labels == ["step 0", "step 2", "step 4"]
    assert torch.equal(iterates.rows[1][-1], additions.added["standard"][5])
    picker = panels.addition_picker(additions, ["a", "b", "c"], ["p", "q"])
    coordinate, image = picker.children[:2]
    assert coordinate.options == ("a", "b", "c") and image.options == ("p", "q")
    pages = picker.children[2].children[2].children  # coordinate c, then one image per source
    assert len(pages) == 2 and all(bytes(page.value).startswith(b"\x89PNG") for page in pages)


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


def test_coordinate_panels_lay_out_seeds_extremes_and_the_regularised_comparison():
    seeds, grid = torch.rand(3, 1, 8, 8), torch.rand(2, 3, 1, 8, 8)  # 2 coordinates from 3 seeds
    panel = panels.coordinate_panel(seeds, grid, [4, 7], ["chosen", "random"])
    assert torch.equal(panel.rows[0], seeds) and torch.equal(panel.rows[2], grid[1])
    assert panel.row_labels == ["seeds", "4: chosen", "7: random"]
    images = torch.arange(5.0).view(5, 1, 1, 1).expand(5, 1, 8, 8) / 5
    features = torch.tensor([[0.0, 1.0], [4.0, 0.0], [2.0, 2.0], [3.0, 4.0], [1.0, 3.0]])
    extremes = panels.extremes_panel(grid, features, images, [0, 1], 2)
    assert torch.equal(extremes.rows[1][0], grid[1, 0]) and extremes.column_labels[1:] == ["most"] * 2 + ["least"] * 2
    assert extremes.rows[1][1:, 0, 0, 0].tolist() == pytest.approx([0.6, 0.8, 0.0, 0.2])  # coordinate 1: 3, 4 / 0, 1
    regularised = torch.rand(2, 1, 8, 8)
    comparison = panels.regularised_panel({"robust": grid, "standard": grid.flip(0)}, regularised, [4, 7])
    assert torch.equal(comparison.rows[0], grid[[1, 0], 0]) and torch.equal(comparison.rows[2], grid[:, 0])
    assert comparison.column_labels == ["4", "7"]
    pages = panels.coordinate_pages({"robust": grid, "standard": grid}, {"robust": features, "standard": features},
                                    images, [0, 1], ["a", "b"], 2)
    assert list(pages) == ["coordinate 0 (a)", "coordinate 1 (b)"]
    assert all(png.startswith(b"\x89PNG") for png in pages.values())
    plt.close("all")


def test_class_panel_shows_each_models_first_picture_per_class_and_show_draws_it(monkeypatch):
    pictures = {"robust": torch.rand(6, 1, 8, 8), "standard": torch.rand(6, 1, 8, 8)}
    panel = panels.class_panel(pictures, torch.tensor([0, 2, 5]), [str(c) for c in range(10)])
    assert panel.row_labels == ["robust", "standard"] and panel.column_labels == ["0", "2", "5"]
    assert torch.equal(panel.rows[1], pictures["standard"][:3])
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()._suptitle.get_text()))
    panel.show("title", 1.0)
    assert shown == ["title"]
    plt.close("all")
