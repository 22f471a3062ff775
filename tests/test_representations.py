"""The paper's problems as solver calls, the profiles and plots (tiny models, seconds)."""

from __future__ import annotations

import dataclasses
import math

import matplotlib
import numpy as np
import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks.published import PUBLISHED
from rrhelpers.book import plots
from rrhelpers.optimization import representations as R
from rrhelpers.data import shifted_and_dimmed
from rrhelpers.learning.evaluation import bootstrap_mean_ci, knn_predict, nearest_distance

from .conftest import tiny_model

matplotlib.use("Agg")


class _PixelModel(torch.nn.Module):
    """R(x) = the pixels, so the representation-space interpolant of eq. 6 is the pixel blend itself."""

    device = torch.device("cpu")

    def representation(self, x, fake_relu=False):
        return x.flatten(1)


def test_interpolation_matches_the_representation_blend_from_any_seeds():
    a, b = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    torch.testing.assert_close(R.pixel_blend(a, b, 4)[1], torch.lerp(a, b, 0.25))
    far = R.pixel_blend(b, a, 4)  # the mirrored blend: every inner frame starts at the wrong mixture
    frames = R.interpolate(_PixelModel(), a, b, frames=4, steps=300, step_size=0.01, seeds=far)
    for k in range(5):
        torch.testing.assert_close(frames[k], torch.lerp(a, b, k / 4), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="seeds must be"):
        R.interpolate(_PixelModel(), a, b, frames=3, steps=1, seeds=far)


def test_path_progress_measures_position_and_distance_along_the_path():
    a, b = torch.zeros(3, 1, 2, 2), torch.ones(3, 1, 2, 2)  # R = pixels; the path has length 2
    frames = R.pixel_blend(a, b, 4).clone()
    progress, residual = R.path_progress(_PixelModel(), frames, a, b)
    torch.testing.assert_close(progress, torch.linspace(0, 1, 5).view(-1, 1).expand(5, 3))
    torch.testing.assert_close(residual, torch.zeros(5, 3))
    frames[2, 0] = 0.25  # pair 0's middle frame steps back to progress 0.25, on the path (distance 0.25 of it)
    frames[1, 1, 0, 0, 0] += 0.2  # pair 1's frame moves 0.2 off its target point: 0.1 of the path length
    progress, residual = R.path_progress(_PixelModel(), frames, a, b)
    assert progress[2, 0] == pytest.approx(0.25) and residual[2, 0] == pytest.approx(0.25)
    assert residual[1, 1] == pytest.approx(0.1) and progress[1, 1] == pytest.approx(0.25 + 0.2 / 4)


def test_interpolation_measures_tell_a_path_from_its_seeds():
    a, b = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)  # R = pixels: the interpolation is the blend itself
    a[1, 0, 0, 0] = 0.5
    exact = R.interpolation_measures(_PixelModel(), R.pixel_blend(a, b, 4), a, b, steps=300, step_size=0.01)
    assert exact.monotone == 1.0 and exact.residual == pytest.approx(0, abs=1e-6) and exact.from_blend == 0.0
    torch.testing.assert_close(exact.following, torch.zeros(2), atol=0.03, rtol=0)
    seeded = R.interpolation_measures(_PixelModel(), R.pixel_blend(b, a, 4), a, b, steps=300, step_size=0.01)
    assert seeded.monotone == 0.0  # the mirrored blend walks the path backwards and is what its seeds were
    torch.testing.assert_close(seeded.following, torch.ones(2), atol=0.03, rtol=0)
    assert seeded.summary().startswith("monotone progress in 0% of 2 pairs;")


def test_interpolation_frames_and_endpoints():
    model = tiny_model()
    a, b = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    frames = R.interpolate(model, a, b, frames=4, steps=3, step_size=0.01)
    assert frames.shape == (5, 2, 1, 8, 8)
    # the endpoints are seeded with the endpoints themselves, which match their own representation exactly
    torch.testing.assert_close(frames[0], a)
    torch.testing.assert_close(frames[-1], b)


def test_top_weighted_coordinates_follow_eq_8():
    model = tiny_model(num_classes=2, width=1)  # a small R(x): 2 channels pooled to 2x2
    x = torch.rand(1, 1, 8, 8)
    rep = model.representation(x).detach()[0]
    d = rep.numel()
    with torch.no_grad():  # class 1 wins; its weights favour coordinates in a known order
        model.head.weight.copy_(torch.stack([torch.zeros(d), torch.arange(1.0, d + 1)]))
        model.head.bias.copy_(torch.tensor([-1e6, 1e6]))
    indices, classes = R.top_weighted_coordinates(model, x, k=2)
    assert classes.tolist() == [1]
    by_hand = sorted(range(d), key=lambda i: -float(rep[i]) * (i + 1))[:2]
    assert indices[0].tolist() == by_hand


def test_accentuation_raises_the_selected_coordinates_within_the_ball():
    model = tiny_model()
    x = (0.5 + 0.1 * torch.randn(3, 1, 8, 8)).clamp(0, 1)
    result = R.accentuate(model, x, k=3, steps=10, step_size=0.1, eps=0.5)
    assert (result.value >= result.start_value).all() and (result.value > result.start_value).any()
    assert ((result.x - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()


def test_accentuation_gains_compare_eq_8_with_random_coordinates_reproducibly():
    model = tiny_model()
    x = (0.5 + 0.1 * torch.randn(5, 1, 8, 8)).clamp(0, 1)
    top, random = R.accentuation_gains(model, x, k=2, steps=5, step_size=0.1, eps=0.5,
                                       generator=torch.Generator().manual_seed(3))
    assert top.shape == random.shape == (5,) and top.device.type == "cpu"
    again = R.accentuation_gains(model, x, k=2, steps=5, step_size=0.1, eps=0.5,
                                 generator=torch.Generator().manual_seed(3))
    assert torch.equal(top, again[0]) and torch.equal(random, again[1])
    with torch.no_grad():  # the gain is the predicted class's logit after accentuation minus before it
        predicted = model(x).argmax(1)
        accentuated = R.accentuate(model, x, 2, 5, 0.1, 0.5).x
        by_hand = (model(accentuated) - model(x)).gather(1, predicted[:, None])[:, 0]
    assert torch.allclose(top, by_hand, atol=1e-5)
    gains = R.AccentuationGains(torch.tensor([3.0, 1.0, 2.0, 0.0]), torch.tensor([1.0, 2.0, 0.0, 0.0]))
    assert gains.advantage == 0.75 and gains.top_wins == 0.5  # a tie is not a win
    assert str(gains) == "predicted-class logit gain, top-k +1.50 vs random +0.75; top larger for 50% of 4 images"


def test_matching_curve_stacks_one_matching_per_radius():
    model = tiny_model()
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    curve = R.matching_curve(model, a, b, [0.1, 1.0], steps=5)
    assert curve.shape == (2, 3) and curve.device.type == "cpu"
    assert torch.equal(curve[1], R.match_representation(model, a, b, 1.0, 5).value.cpu())


def test_class_pictures_start_every_model_from_the_same_dark_seeds():
    assert R.evenly_spaced_classes(10, 4).tolist() == [0, 3, 6, 9]
    assert R.evenly_spaced_classes(3, 10).tolist() == [0, 1, 2]
    models = {"robust": tiny_model(seed=1), "standard": tiny_model(seed=2)}
    classes = torch.tensor([0, 5, 9])
    pictures = R.class_pictures(models, classes, (1, 8, 8), generator=torch.Generator().manual_seed(4), steps=3,
                                step_size=0.1, eps=None)
    assert list(pictures) == ["robust", "standard"] and pictures["robust"].shape == (3, 1, 8, 8)
    dark = (0.05 * torch.rand((3, 1, 8, 8), generator=torch.Generator().manual_seed(4))).clamp(0, 1)
    for name, model in models.items():
        assert torch.allclose(pictures[name], R.visualize_class(model, dark, classes, 3, 0.1).x.cpu())


def test_recognised_shares_print_as_percentages_per_judge():
    judges = {"all": lambda images: torch.tensor([1, 2, 3, 4]), "half": lambda images: torch.tensor([1, 2, 0, 0])}
    shares = rr.recognised(judges, torch.zeros(4, 1, 2, 2), torch.tensor([1, 2, 3, 4]))
    assert rr.recognised_text(shares) == "all 100%, half 50%"


def test_coordinate_seeds_are_noise_gray_then_random_images():
    images = torch.rand(5, 1, 8, 8)
    seeds = R.coordinate_seeds(images, 4, generator=torch.Generator().manual_seed(1), seed=3)
    picked = torch.randperm(5, generator=torch.Generator().manual_seed(1))[:2]
    assert torch.equal(seeds[0], R.noise_seeds((1, 1, 8, 8), seed=3)[0]) and torch.equal(seeds[1], torch.full(
        (1, 8, 8), 0.5)) and torch.equal(seeds[2:], images[picked])
    assert len(R.coordinate_seeds(images, 1, generator=torch.Generator(), seed=3)) == 1


def test_visualize_coordinates_is_a_grid_of_every_coordinate_from_every_seed():
    model, seeds = tiny_model(), torch.rand(3, 1, 8, 8)
    grid = R.visualize_coordinates(model, seeds, [2, 5], steps=4, step_size=0.2)
    assert grid.shape == (2, 3, 1, 8, 8) and grid.device.type == "cpu"
    torch.testing.assert_close(grid[1], R.visualize(model, seeds, 5, 4, 0.2).x.cpu())


def test_visualize_jittered_is_seeded_and_raises_its_coordinates():
    model, seeds = tiny_model(), R.noise_seeds((2, 1, 8, 8))
    first, again = (R.visualize_jittered(model, seeds, [1, 3], steps=5, step_size=0.5, seed=2) for _ in range(2))
    assert torch.equal(first.x, again.x)
    assert not torch.equal(first.x, R.visualize_jittered(model, seeds, [1, 3], steps=5, step_size=0.5, seed=9).x)
    before, after = (R.representations(model, x)[[0, 1], [1, 3]] for x in (seeds, first.x))
    assert (after > before).all()


def test_match_representation_uses_relative_distance_and_radius():
    model = tiny_model()
    a, b = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    result = R.match_representation(model, a, b, eps=0.3, steps=5)
    assert ((result.x - a).flatten(1).norm(dim=1) <= 0.3 + 1e-5).all()
    goal = model.representation(b).detach()
    expected = (model.representation(result.x).detach() - goal).norm(dim=1) / goal.norm(dim=1)
    torch.testing.assert_close(result.value, expected)


def test_inversions_run_together_equal_separate_runs():
    """One batch for several problems, split back: each result and convergence curve is its separate run's."""
    model = tiny_model(seed=2)
    g = torch.Generator().manual_seed(0)
    problems = {"a": (torch.rand(3, 1, 28, 28, generator=g), torch.rand(3, 1, 28, 28, generator=g)),
                "b": (torch.rand(2, 1, 28, 28, generator=g), R.noise_seeds((2, 1, 28, 28), mean=0.1))}
    together = R.invert_together(model, problems, 12, 0.5, step_schedule="cosine")
    assert list(together) == ["a", "b"]
    for name, (targets, seeds) in problems.items():
        alone = R.invert(model, targets, seeds, 12, 0.5, step_schedule="cosine")
        assert torch.allclose(together[name].x, alone.x, atol=1e-4)
        assert torch.allclose(together[name].value, alone.value, atol=1e-4)
        assert np.allclose(together[name].history, alone.history, atol=1e-4) and len(alone.history) == 13
    with pytest.raises(ValueError, match="same shape"):
        R.invert_together(model, {"a": (problems["a"][0], problems["b"][1])}, 2, 0.5)


def test_input_gradient_matches_autograd():
    model = tiny_model()
    x, y = torch.rand(2, 1, 8, 8), torch.tensor([1, 2])
    xg = x.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(xg), y, reduction="sum").backward()
    torch.testing.assert_close(R.input_gradient(model, x, y), xg.grad)


def test_randomly_transformed_objective_feeds_valid_images_and_varies():
    seen = []

    def inner(x):
        seen.append(x)
        return x.flatten(1).sum(1)

    objective = rr.optimization.objectives.RandomlyTransformed(inner, generator=torch.Generator().manual_seed(0))
    x = torch.rand(2, 1, 8, 8)
    first, second = objective(x), objective(x)
    assert not torch.equal(first, second)  # a new random transformation per call
    for moved in seen:
        rr.check_images(moved)  # still images in [0, 1] of the same shape
        assert moved.shape == x.shape


def test_knn_predict():
    ref = torch.tensor([[0.0], [0.1], [1.0], [0.9], [0.95]]).view(5, 1, 1, 1)
    labels = torch.tensor([0, 0, 1, 1, 1])
    assert knn_predict(ref, labels, torch.tensor([[0.05], [0.97]]).view(2, 1, 1, 1), k=3).tolist() == [0, 1]


def test_ghosting_measures_distance_to_references_and_what_the_judge_names():
    reference = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)])
    on = reference[[0, 1, 1]].view(3, 1, 1, 2, 2)  # 3 frames of 1 pair, the inner one a reference image
    frames = {"blend": torch.full((3, 1, 1, 2, 2), 0.5), "sharp": on}
    judged = rr.ghosting(frames, reference, lambda x: (x.flatten(1).mean(1) > 0.75).long(), torch.tensor([1]),
                         torch.tensor([2]))
    assert judged.lambdas == [0.5] and judged.distance["blend"].tolist() == [[1.0]]
    assert judged.distance["sharp"].tolist() == [[0.0]] and judged.named == {"blend": 0.0, "sharp": 1.0}
    table = judged.summary("blend")
    assert table["sharp"]["frames closer to one than the blend's"] == 1.0
    assert math.isnan(table["blend"]["frames closer to one than the blend's"])


def test_nearest_distance_is_the_pixel_distance_to_the_closest_reference():
    ref = torch.tensor([[0.0, 0.0], [3.0, 4.0]]).view(2, 1, 1, 2)
    queries = torch.tensor([[0.0, 1.0], [3.0, 4.0], [6.0, 8.0]]).view(3, 1, 1, 2)
    assert nearest_distance(queries, ref).tolist() == [1.0, 0.0, 5.0]


def test_bootstrap_interval_of_a_mean():
    values = np.random.default_rng(0).normal(1.0, 0.5, 400)
    low, high = bootstrap_mean_ci(values, seed=3)
    assert low < values.mean() < high and 0.05 < high - low < 0.15  # about 2 x 1.96 x 0.5 / 20 = 0.098
    assert bootstrap_mean_ci(values, seed=3) == (low, high)  # seeded
    with pytest.raises(ValueError, match="1-d array of at least 2"):
        bootstrap_mean_ci(np.ones((3, 2)))


def test_profiles_and_overrides():
    cfg = rr.chapter_settings("quick", "inversion", steps=7, step_size=None)
    assert cfg.steps == 7 and cfg.step_size == rr.PROFILES["quick"].chapters["inversion"].step_size
    # typed and frozen: the profile's own settings are untouched, and a shared default is written once
    assert isinstance(cfg, rr.book.settings.Inversion) and cfg.profile is rr.PROFILES["quick"]
    assert rr.PROFILES["quick"].chapters["inversion"].steps == 1000 and cfg.noise_std == 0.05 and cfg.seed == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 8
    pictures = rr.chapter_settings("quick", "feature_visualization", class_steps=9).class_budget
    assert pictures == {"steps": 9, "step_size": 0.5, "eps": 10.0, "step_schedule": "cosine"}
    with pytest.raises(ValueError, match="unknown profile"):
        rr.chapter_settings("imagenet-xl", "inversion")
    with pytest.raises(ValueError, match="unknown settings"):
        rr.chapter_settings("quick", "inversion", stpes=7)
    known = set(rr.RECIPES) | set(PUBLISHED)
    for profile in rr.PROFILES.values():
        assert profile.standard in known and profile.robust in known
        style = profile.chapters["style_transfer"]
        assert style.robust in known and style.standard in known
        assert style.style_weight in style.style_weights
        if profile.name in ("quick", "cifar10"):
            assert set(profile.chapters) == set(rr.PROFILES["quick"].chapters), "these profiles cover every chapter"
        else:  # the ImageNet profiles: chapters 1-8, the paper's and the Distill article's
            assert set(rr.PROFILES["quick"].chapters) - set(profile.chapters) == {"feedforward_inversion", "synthesis"}
    with pytest.raises(ValueError, match=r"profiles that have: \['cifar10', 'quick'\]"):
        rr.chapter_settings("imagenet", "synthesis")
    with pytest.raises(ValueError, match="order must name 'robust' and 'standard' once each"):
        rr.chapter_kit("inversion", {"profile": "quick"}, order=("robust", "robust"))  # refused before any load


def test_read_settings_takes_the_parameters_cells_knobs_and_nothing_else():
    cell = {"profile": "quick", "steps": 7, "step_size": None, "plt": object(), "stpes": 9}
    settings = rr.read_settings("inversion", cell)
    assert settings.steps == 7 and settings.profile.name == "quick"
    assert settings.step_size == rr.chapter_settings("quick", "inversion").step_size  # None: the profile's
    assert settings == rr.chapter_settings("quick", "inversion", steps=7)  # other names are not settings
    with pytest.raises(ValueError, match="must set profile"):
        rr.read_settings("inversion", {"steps": 7})
    with pytest.raises(ValueError, match="profiles that have"):
        rr.read_settings("synthesis", {"profile": "imagenet"})


def test_mean_ci_matches_student_t():
    samples = np.array([[1.0, 2.0, 3.0, 4.0]])
    mean, half = plots.mean_ci(samples)
    assert mean[0] == 2.5 and half[0] == pytest.approx(3.182446 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-5)


def test_grouped_bars_draws_one_bar_per_series_and_group_with_intervals():
    ax = plots.grouped_bars(["a", "b", "c"], {"robust": [1.0, 2.0, 3.0], "standard": [2.0, 3.0, 4.0]},
                            {"robust": [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)]}, ylabel="R(f)")
    bars = [p for p in ax.patches]
    assert len(bars) == 6 and sorted(b.get_height() for b in bars) == [1, 2, 2, 3, 3, 4]
    bar_containers = [c for c in ax.containers if type(c).__name__ == "BarContainer"]
    assert len(bar_containers) == 2 and bar_containers[0].errorbar is not None and bar_containers[1].errorbar is None
    with pytest.raises(ValueError):
        plots.grouped_bars(["a"], {"x": [1.0]}, {"x": [(0.0, 1.0), (0.0, 2.0)]})


def test_choose_coordinates_takes_the_class_indicative_half_then_distinct_random_ones():
    from rrhelpers.optimization.representations import choose_coordinates

    model = tiny_model()
    coords, kinds = choose_coordinates(model, 5, torch.Generator().manual_seed(0), [str(c) for c in range(10)])
    head = model.head.weight.detach()
    assert coords[:2] == [int(head[0].argmax()), int(head[1].argmax())]
    assert kinds == ["chosen (class 0)", "chosen (class 1)", "random", "random", "random"]
    assert len(set(coords)) == 5 and all(0 <= c < head.shape[1] for c in coords)
    again, _ = choose_coordinates(model, 5, torch.Generator().manual_seed(0), [str(c) for c in range(10)])
    assert again == coords


def test_a_shifted_image_moves_its_horizontal_centre_by_the_shift():
    x = torch.zeros(2, 1, 6, 10)
    x[0, 0, 2, 3] = x[1, 0, 4, 6] = 1.0
    assert rr.horizontal_centre(x).tolist() == [3.0, 6.0]
    for dx in (-2, 0, 3):
        moved = rr.shift_horizontally(x, dx)
        assert moved.shape == x.shape and torch.allclose(rr.horizontal_centre(moved), torch.tensor([3.0, 6.0]) + dx)
    assert rr.shift_horizontally(x, 4)[1].sum() == 0  # pushed out of the frame, black filling in


def test_loss_curves_draw_one_panel_per_loss():
    histories = {"a": [{"epoch": 1, "pixel": 1.0, "feature": 2.0}, {"epoch": 2, "pixel": 0.5, "feature": 1.0}]}
    fig = plots.loss_curves(histories, ("pixel", "feature"))
    assert [ax.get_ylabel() for ax in fig.axes] == ["pixel loss", "feature loss"]
    assert [line.get_ydata().tolist() for line in fig.axes[1].lines] == [[2.0, 1.0]]
    matplotlib.pyplot.close(fig)


def test_number_table_formats_numbers_and_leaves_missing_ones_blank():
    styled = plots.number_table({"a": {"x": 0.125, "y": float("nan")}, "b": {"x": 2.0, "y": 1.0}}, "two rows")
    assert list(styled.data.index) == ["a", "b"] and list(styled.data.columns) == ["x", "y"]
    html = styled.to_html()
    assert "two rows" in html and "0.12" in html and "2.00" in html and "nan" not in html.lower()


def test_extreme_images_and_their_alignment_with_a_visualisation():
    images = torch.arange(6.0).view(6, 1, 1, 1).expand(6, 1, 2, 2).clone() / 10
    features = torch.tensor([[0.0, 5.0], [1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0], [5.0, 0.0]])
    most, least = R.extreme_images(features, images, 0, 2)
    assert most[:, 0, 0, 0].tolist() == pytest.approx([0.5, 0.4]) and least[:, 0, 0, 0].tolist() == pytest.approx(
        [0.1, 0.0])
    seeds = torch.zeros(2, 1, 2, 2)
    towards = images[4:].mean(0, keepdim=True) - images.mean(0, keepdim=True)  # coordinate 0's direction
    grid = torch.stack([torch.cat([towards, -towards]), torch.cat([-towards, towards])])  # (coordinates, seeds, ...)
    cosines = R.top_image_alignment(seeds, grid, [0, 1], features, images, 2)  # coordinate 1's direction: -towards
    assert cosines.shape == (2, 2) and cosines.flatten().tolist() == pytest.approx([1.0, -1.0, 1.0, -1.0], abs=1e-6)


def test_inversion_measures_report_distance_similarity_and_error():
    goals = torch.rand(3, 1, 8, 8)
    exact = rr.SolverResult(x=goals.clone(), value=torch.tensor([0.1, 0.2, 0.6]), start_value=torch.ones(3),
                            history=[])
    measures = rr.inversion_measures(exact, goals)
    assert measures["pixel"] == 0 and measures["ssim"] == pytest.approx(1.0)
    assert measures["error"] == pytest.approx(0.3) and measures["median error"] == pytest.approx(0.2)
    shifted = rr.SolverResult(x=(goals + 0.1).clamp(0, 1), value=torch.zeros(3), start_value=torch.ones(3),
                              history=[])
    assert rr.inversion_measures(shifted, goals)["pixel"] > 0


def test_add_features_adds_every_coordinate_to_every_source_with_each_model():
    models = {"robust": tiny_model(), "standard": tiny_model(seed=1)}
    sources = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    additions = R.add_features(models, sources, [2, 5], steps=5, step_size=0.2, snapshot_every=2)
    images, indices = additions.batch
    assert indices.tolist() == [2, 2, 2, 5, 5, 5] and torch.equal(images[4], sources[1]) and additions.index(1, 1) == 4
    for name, model in models.items():
        alone = R.add_feature(model, sources[1:2], 5, 5, 0.2).x.cpu()[0]
        assert torch.allclose(additions.grid(name)[1, 1], alone, atol=1e-5)
        assert additions.snapshots[name].steps == [0, 2, 4, 5]
        assert torch.equal(additions.snapshots[name].of(4)[-1], additions.added[name][4])
        assert torch.equal(additions.largest[name],
                           R.representations(model, additions.added[name]).argmax(1).cpu() == indices)


def test_feature_additions_summarise_success_by_kind_and_distances_of_those_that_stopped():
    sources = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 0.25)])
    steps = torch.tensor([0.5, 1.0, 1.5, 2.0]).view(-1, 1, 1, 1)  # addition j moves by (j + 1) in L2
    added = sources.repeat(2, 1, 1, 1) + steps
    additions = R.FeatureAdditions(sources, [7, 9], {"m": added}, {}, {"m": torch.tensor([True, True, False, True])})
    assert additions.per_addition(torch.tensor([3, 4])).tolist() == [3, 4, 3, 4]
    success = additions.success("m", [True, False])
    assert success.chosen.tolist() == [True, True, False, False] and success.share == 0.75
    assert str(success) == "coordinate i became the largest in 75% of 4 additions (chosen 100%, random 50%)"
    distances = additions.distances("m", added - torch.tensor([1.0, 0, 0, 0]).view(-1, 1, 1, 1), torch.ones(3, 1, 2, 2))
    assert distances.to_source.tolist() == [1.0, 2.0, 4.0] and distances.to_maximiser.tolist() == [2.0, 0.0, 0.0]
    assert str(distances) == ("moved 2.33 (median 2.00) from the source, 0.67 from the maximiser (L2, means); "
                              "a test digit's norm: 2.00 (median)")


def test_shifted_and_dimmed_probes():
    x = torch.rand(2, 1, 4, 6)
    probes = shifted_and_dimmed(x, 2)
    assert list(probes) == ["shift -2 px", "unchanged", "shift +2 px", "half brightness"]
    assert torch.equal(probes["shift +2 px"], rr.shift_horizontally(x, 2)) and torch.equal(probes["unchanged"], x)
    assert torch.equal(probes["shift -2 px"], rr.shift_horizontally(x, -2)) and torch.equal(probes["half brightness"],
                                                                                            x * 0.5)


def test_loss_curves_leave_out_a_loss_that_was_not_recorded():
    histories = {"a": [{"epoch": 1, "pixel": 1.0}], "b": [{"epoch": 1, "pixel": 2.0, "feature": 1.0}]}
    fig = plots.loss_curves(histories, ("pixel", "feature"))
    assert [ax.get_ylabel() for ax in fig.axes] == ["pixel loss"]
    matplotlib.pyplot.close(fig)


def test_reconstruction_quality_per_image():
    originals = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.8
    labels = torch.tensor([1, 2, 3])
    exact = rr.reconstruction_quality(originals.clone(), originals, labels, lambda images: labels)
    assert exact["mse"].tolist() == [0, 0, 0] and exact["ssim"] == pytest.approx(1.0)
    off = rr.reconstruction_quality(originals + 0.1, originals, labels, lambda images: torch.tensor([1, 0, 3]))
    assert off["mse"] == pytest.approx(0.01) and (off["ssim"] < 1).all() and off["read_back"].tolist() == [1, 0, 1]


def test_paired_difference_summarises_per_item_differences():
    compared = rr.paired_difference(np.array([3.0, 1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0, 1.0]), seed=1)
    assert compared.mean == 1.5 and compared.share == 0.75  # differences 2, 0, 1, 3: three of four positive
    assert (compared.low, compared.high) == bootstrap_mean_ci(np.array([2.0, 0.0, 1.0, 3.0]), seed=1)
    assert compared.summary(".2f") == f"1.50 [95% CI {compared.low:.2f}, {compared.high:.2f}]"


def test_timed_per_image_warms_up_untimed_and_returns_the_output_on_the_cpu():
    calls = []
    timed = rr.timed_per_image(lambda x: calls.append(len(x)) or x * 2, torch.ones(20, 1, 2, 2), warm_up=8)
    assert calls == [8, 20] and torch.equal(timed.output, torch.full((20, 1, 2, 2), 2.0))
    assert 0 <= timed.seconds_per_image < 1


def test_invert_from_noise_is_chapter_3s_inversion():
    model, targets = tiny_model(), torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    settings = rr.chapter_settings("quick", "inversion", steps=4)
    seeds = R.noise_seeds(targets.shape, mean=settings.noise_mean, std=settings.noise_std, seed=3)
    by_hand = R.invert(model, targets, seeds, 4, settings.step_size, step_schedule=settings.step_schedule)
    assert torch.equal(rr.invert_from_noise(model, targets, settings, seed=3).x, by_hand.x)


def test_inversion_problems_are_seeded_targets_with_noise_other_images_and_outside_pictures():
    g = torch.Generator().manual_seed(0)
    data = rr.ImageDataset(torch.rand(20, 1, 8, 8, generator=g), torch.arange(20) % 10, [str(c) for c in range(10)])
    settings = rr.chapter_settings("quick", "inversion", images=4, seed=5)
    problems = rr.inversion_problems(data, settings)
    assert list(problems.pairs) == ["from noise", "from images", "out of distribution"]
    x, y = rr.sample(data, 8, seed=5)
    (targets, noise), (same_targets, others), (ood, ood_noise) = problems.pairs.values()
    assert torch.equal(targets, x[:4]) and torch.equal(same_targets, x[:4]) and torch.equal(others, x[4:])
    assert torch.equal(problems.labels["from images"], y[:4]) and problems.labels["out of distribution"] is None
    assert torch.equal(noise, R.noise_seeds((4, 1, 8, 8), mean=settings.noise_mean, std=settings.noise_std, seed=5))
    assert ood.shape[1:] == (1, 8, 8) and ood_noise.shape == ood.shape and len(problems.ood_names) == len(ood)
    assert not torch.equal(ood_noise[:1], noise[:1])  # seeded apart


def test_generation_judges_are_the_models_two_independent_classifiers_and_pixel_neighbours(monkeypatch):
    from rrhelpers.book import judges

    loaded = []
    monkeypatch.setattr(judges, "load_model", lambda name, device: loaded.append(name) or tiny_model())
    models = {"robust": tiny_model(), "standard": tiny_model()}
    train_x, train_y = torch.rand(12, 1, 8, 8), torch.arange(12) % 10
    made = rr.generation_judges(models, ("judge-s", "judge-r"), train_x, train_y)
    assert list(made) == ["robust", "standard", "indep. standard", "indep. robust", "5-NN pixels"]
    assert loaded == ["judge-s", "judge-r"]
    assert torch.equal(made["5-NN pixels"](train_x[:3]), knn_predict(train_x, train_y, train_x[:3]))
    with pytest.raises(ValueError):
        rr.generation_judges(models, ("only-one",), train_x, train_y)
