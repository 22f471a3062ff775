"""Claim checks, the solver's step schedules, the margin objective, APGD as a second opinion, reseeded recipes."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks import zoo
from rrhelpers.book.claims import read_claims
from rrhelpers.learning.evaluation import correct_after_attack
from rrhelpers.optimization.solver import Unconstrained, optimize, step_size_at

from .conftest import LinearClassifier, tiny_model


def test_check_claim_prints_a_line_that_reads_back_and_fails_loudly(capsys):
    assert rr.check_claim("inversion.recognised", 0.9, at_least=0.85) is None  # a cell's last line shows nothing
    rr.check_claim("error", 0.04, at_most=0.05)
    with pytest.raises(AssertionError, match="claim gap failed: 0.1 is not >= 0.35 \\(standard should lose\\)"):
        rr.check_claim("gap", 0.1, at_least=0.35, why="standard should lose")
    claims = read_claims(capsys.readouterr().out)
    assert [(c.name, c.op, c.passed) for c in claims] == [
        ("inversion.recognised", ">=", True), ("error", "<=", True), ("gap", ">=", False)]
    assert math.isclose(claims[0].margin, 0.05) and math.isclose(claims[2].margin, -0.25)


def test_a_claim_the_profile_does_not_set_is_reported_and_not_read_back(capsys):
    rr.check_claim_where_set("gap", 0.12, at_least=None)
    rr.check_claim_where_set("ssim", 0.6, at_least=0.5)
    with pytest.raises(AssertionError, match="claim ssim_gap failed"):
        rr.check_claim_where_set("ssim_gap", 0.05, at_least=0.1)
    out = capsys.readouterr().out
    assert "claim gap: 0.12, not asserted by this profile" in out
    assert [(c.name, c.passed) for c in read_claims(out)] == [("ssim", True), ("ssim_gap", False)]


@pytest.mark.parametrize("kwargs", [{}, {"at_least": 1, "at_most": 2}])
def test_check_claim_takes_exactly_one_bound(kwargs):
    with pytest.raises(ValueError, match="exactly one"):
        rr.check_claim("x", 1.0, **kwargs)


def test_check_claim_refuses_nan_and_names_with_spaces():
    with pytest.raises(AssertionError, match="NaN"):
        rr.check_claim("x", float("nan"), at_least=0)
    with pytest.raises(ValueError, match="one word"):
        rr.check_claim("two words", 1.0, at_least=0)


def test_step_schedules():
    assert step_size_at(0.5, 7, 10, "constant") == 0.5
    assert step_size_at(1.0, 0, 100, "cosine") == 1.0
    assert math.isclose(step_size_at(1.0, 50, 100, "cosine"), 0.5)
    assert math.isclose(step_size_at(1.0, 75, 100, "linear"), 0.25)
    with pytest.raises(ValueError, match="step_schedule"):
        optimize(lambda x: x.flatten(1).sum(1), torch.rand(1, 1, 2, 2), Unconstrained(), 3, 0.1,
                 step_schedule="exponential")


def test_a_decaying_step_settles_where_a_constant_one_circles():
    """Minimising ||x - t|| with normalised steps: a constant step ends about a step away from t, a cosine-decayed
    one much closer."""
    target = torch.full((1, 1, 4, 4), 0.5)
    x0 = torch.zeros(1, 1, 4, 4)
    distance = lambda x: (x - target).flatten(1).norm(dim=1)  # noqa: E731
    ends = {schedule: distance(optimize(distance, x0, Unconstrained(), 60, 0.3, maximize=False,
                                        track_best=False, step_schedule=schedule).x).item()
            for schedule in ("constant", "cosine")}
    assert ends["cosine"] < 0.05 < ends["constant"]


def test_margin_is_positive_exactly_when_misclassified():
    model = LinearClassifier(torch.eye(3, 4), torch.zeros(3))
    x = torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.2, 0.7, 0.0, 0.0]]).view(2, 1, 2, 2)
    value = rr.Margin(model, torch.tensor([0, 0]))(x)
    assert torch.allclose(value, torch.tensor([0.1 - 0.9, 0.7 - 0.2]))


def test_apgd_robust_never_exceeds_clean_accuracy_and_checks_its_input():
    model = tiny_model().eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(12, 1, 8, 8, generator=g), torch.randint(0, 10, (12,), generator=g)
    clean = model.predict(x) == y
    robust = rr.apgd_robust(model, x, y, 0.5, steps=5, batch_size=5)
    assert robust.dtype == torch.bool and robust.shape == (12,)
    assert not (robust & ~clean).any()
    state = torch.random.get_rng_state()
    rr.apgd_robust(model, x, y, 0.5, steps=2, losses=("ce",))
    assert torch.equal(state, torch.random.get_rng_state()), "torchattacks' reseeding should not leak"
    with pytest.raises(ValueError, match="losses"):
        rr.apgd_robust(model, x, y, 0.5, losses=("cw",))
    with pytest.raises(ValueError, match="eps must be positive"):
        rr.apgd_robust(model, x, y, 0.0)


def test_reseeded_recipes_change_every_quick_key_and_nothing_else(monkeypatch):
    monkeypatch.setattr(zoo, "RECIPES", dict(zoo.RECIPES))
    before = {name: recipe.key() for name, recipe in zoo.RECIPES.items()}
    assert zoo.reseed_recipes(0) and {n: r.key() for n, r in zoo.RECIPES.items()} == before
    names = zoo.reseed_recipes(1)
    assert set(names) == {n for n in before if n.startswith("quick")}
    for name, recipe in zoo.RECIPES.items():
        assert (recipe.key() != before[name]) == (name in names)
    robust = zoo.RECIPES["quick-robust"]
    assert replace(robust, init_seed=robust.init_seed - 100,
                   train=replace(robust.train, seed=robust.train.seed - 100)).key() == before["quick-robust"]


def _random_digits(seed: int) -> rr.ImageDataset:
    g = torch.Generator().manual_seed(seed)
    return rr.ImageDataset(torch.rand(40, 1, 8, 8, generator=g), torch.randint(0, 10, (40,), generator=g),
                           [str(c) for c in range(10)])


def _record_attacks(monkeypatch) -> list[tuple[str, int]]:
    """Make the evaluation's PGD record (loss, batch size) of every call, in a list that this returns."""
    calls = []
    original = rr.learning.evaluation.pgd_attack

    def recording(model, x, *args, loss, **kwargs):
        calls.append((loss, len(x)))
        return original(model, x, *args, loss=loss, **kwargs)

    monkeypatch.setattr(rr.learning.evaluation, "pgd_attack", recording)
    return calls


def test_evaluate_attacks_each_radius_on_the_survivors_of_the_smaller_one(monkeypatch):
    model, data = tiny_model().eval(), _random_digits(1)
    calls = _record_attacks(monkeypatch)
    result = rr.evaluate(model, data, [1.0, 0.0, 0.3], steps=3, limit=30, loss="margin")
    assert list(result) == [1.0, 0.0, 0.3] and result[0.0] >= result[0.3] >= result[1.0]
    clean = (model.predict(data.images[:30]) == data.labels[:30]).sum()
    attacked = [size for _, size in calls]
    assert attacked[0] == clean and sum(attacked[1:]) == round(result[0.3] * 30)
    assert result[0.0] == rr.accuracy(model, data, limit=30)


def test_the_default_attack_runs_the_cross_entropy_on_what_the_margin_left_standing(monkeypatch):
    model, data = tiny_model().eval(), _random_digits(2)
    calls = _record_attacks(monkeypatch)
    both = correct_after_attack(model, data, 0.02, steps=3)
    calls_both, calls[:] = list(calls), []
    margin = correct_after_attack(model, data, 0.02, steps=3, loss="margin")
    assert [loss for loss, _ in calls_both] == ["margin", "ce"]
    assert calls_both[1][1] == margin.sum() and not (both & ~margin).any()
    with pytest.raises(ValueError, match="loss must be one of"):
        correct_after_attack(model, data, 0.5, loss=("margin", "dlr"))
    with pytest.raises(ValueError, match="loss must be one of"):
        correct_after_attack(model, data, 0.5, loss=())


def test_shuffled_by_correctness_partitions_the_images_in_a_seeded_order():
    model = tiny_model().eval()
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(30, 1, 8, 8, generator=g), torch.randint(0, 10, (30,), generator=g)
    wrong, right = rr.shuffled_by_correctness(model, x, y, generator=torch.Generator().manual_seed(0))
    predicted = model.predict(x)
    assert sorted(wrong.tolist() + right.tolist()) == list(range(30))
    assert (predicted[wrong] != y[wrong]).all() and (predicted[right] == y[right]).all()
    again = rr.shuffled_by_correctness(model, x, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(wrong, again[0]) and torch.equal(right, again[1])


def test_source_kept_compares_what_the_judge_recognises_in_additions_and_maximisers():
    judge = lambda images: images.flatten(1)[:, 0].round().long()  # noqa: E731 - reads the label off the first pixel
    labels = torch.tensor([1, 0, 1, 1])
    added = torch.tensor([1.0, 0.0, 1.0, 0.0]).view(-1, 1, 1, 1)
    maximisers = torch.tensor([0.0, 0.0, 0.0, 1.0]).view(-1, 1, 1, 1)
    assert rr.recognised({"j": judge}, added, labels) == {"j": 0.75}
    kept = rr.source_kept(judge, added, maximisers, labels)
    assert (kept.added, kept.maximiser, kept.advantage) == (0.75, 0.5, 0.25)
    assert str(kept) == ("the judge recognises the source in 75% of the additions and in 50% of the unconstrained "
                         "maximisers")


def test_inversion_scores_add_the_judges_shares_where_labels_are_known():
    from rrhelpers.optimization.solver import SolverResult

    goals = torch.rand(4, 1, 8, 8)
    result = SolverResult(x=goals.clone(), value=torch.tensor([0.1, 0.2, 0.3, 0.4]), start_value=torch.ones(4),
                          history=[])
    labels = torch.tensor([1, 1, 2, 2])
    judges = {"always one": lambda images: torch.ones(len(images), dtype=torch.long)}
    scores = rr.inversion_scores({"robust": result}, goals, labels, judges)
    assert scores["robust"]["always one"] == 0.5 and scores["robust"]["pixel"] == 0.0
    assert abs(scores["robust"]["error"] - 0.25) < 1e-6 and abs(scores["robust"]["ssim"] - 1.0) < 1e-4
    assert set(rr.inversion_scores({"robust": result}, goals)["robust"]) == {"pixel", "ssim", "error", "median error"}


def test_benchmark_results_are_found_above_the_working_folder_and_an_empty_one_is_refused(tmp_path):
    results = tmp_path / "benchmarks" / "results"
    results.mkdir(parents=True)
    (results / "speed-cpu.json").write_text("{}")
    inner = tmp_path / "_build" / "nbval"
    inner.mkdir(parents=True)
    assert rr.benchmark_results(start=inner) == results.resolve()
    assert rr.benchmark_results(results) == results
    with pytest.raises(FileNotFoundError, match="no speed-\\*.json in .*make bench"):
        rr.benchmark_results(tmp_path / "_build")
