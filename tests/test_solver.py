"""The projected-gradient solver: invariants (hypothesis), known answers on linear models, objectives."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import rrhelpers as rr
from rrhelpers.optimization.solver import L2Ball, LinfBall, Snapshots, Unconstrained, optimize

from .conftest import LinearClassifier, tiny_model

TOL = 1e-5


def _nonlinear_objective(seed: int):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(16, 8, generator=g)
    w2 = torch.randn(8, generator=g)
    return lambda x: torch.tanh(x.flatten(1) @ w1) @ w2 + (x.flatten(1) ** 2).sum(1)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    norm=st.sampled_from(["l2", "linf"]),
    eps=st.floats(0.01, 3.0),
    step_size=st.floats(0.001, 2.0),
    steps=st.integers(0, 6),
    random_start=st.booleans(),
    maximize=st.booleans(),
)
def test_iterates_stay_in_image_range_and_ball(seed, norm, eps, step_size, steps, random_start, maximize):
    x0 = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    seen = []

    def record(step, x, value):
        seen.append(x.clone())

    constraint = rr.make_constraint(norm, eps)
    result = optimize(_nonlinear_objective(seed), x0, constraint, steps, step_size, maximize=maximize,
                      random_start=random_start, callback=record, generator=torch.Generator().manual_seed(seed))
    assert len(seen) == steps + 1
    for x in seen + [result.x]:
        assert x.min() >= 0 and x.max() <= 1
        delta = (x - x0).flatten(1)
        dist = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
        assert (dist <= eps * (1 + TOL) + TOL).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), step_size=st.floats(1e-3, 10.0), scale=st.floats(1e-3, 1e3))
def test_l2_step_has_the_step_size_as_norm(seed, step_size, scale):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 5, 5, generator=g)
    grad = torch.randn(4, 3, 5, 5, generator=g) * scale
    moved = L2Ball(1.0).step(x, grad, step_size) - x
    torch.testing.assert_close(moved.flatten(1).norm(dim=1), torch.full((4,), step_size), rtol=1e-4, atol=0)
    # the unconstrained set takes the same normalised step; Linf steps move every pixel by step_size
    torch.testing.assert_close(Unconstrained().step(x, grad, step_size), x + moved)
    assert torch.allclose((LinfBall(1.0).step(x, grad, step_size) - x).abs(), torch.tensor(step_size), rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(0, 8), maximize=st.booleans(), norm=st.sampled_from(["l2", "linf"]))
def test_best_iterate_is_never_worse_than_the_start(seed, steps, maximize, norm):
    x0 = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(seed))
    objective = _nonlinear_objective(seed)
    # a large step size makes individual steps overshoot, so the last iterate is often worse than the best
    values = []
    result = optimize(objective, x0, rr.make_constraint(norm, 1.0), steps, 1.5, maximize=maximize,
                      callback=lambda step, x, value: values.append(value.clone()))
    sign = 1 if maximize else -1
    assert (sign * result.value >= sign * result.start_value - TOL).all()
    torch.testing.assert_close(result.value, objective(result.x))
    torch.testing.assert_close(result.start_value, objective(x0))
    # per example, the best over all steps + 1 evaluated iterates, the last one included
    assert len(values) == steps + 1
    best = torch.stack(values).amax(0) if maximize else torch.stack(values).amin(0)
    torch.testing.assert_close(result.value, best)


def _two_class_linear(d: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return LinearClassifier(torch.randn(2, d, generator=g), torch.randn(2, generator=g))


@pytest.mark.parametrize("norm, dual", [("l2", 2), ("linf", 1)])
def test_attack_on_linear_model_reaches_closed_form_worst_case(norm, dual):
    """For two classes CE is increasing in the margin m(x) = (w_o - w_y) x + b_o - b_y, so the worst case in the
    eps-ball is m(x0) + eps * ||w_o - w_y||_* (dual norm) and the loss there is softplus of it."""
    model = _two_class_linear()
    x0 = torch.full((3, 1, 4, 4), 0.5)
    y = torch.tensor([0, 1, 0])
    eps = 0.1  # small enough that no pixel reaches 0 or 1, so clamping never binds
    w_diff = model.weight[1 - y] - model.weight[y]
    margin0 = (x0.flatten(1) * w_diff).sum(1) + model.bias[1 - y] - model.bias[y]
    worst = margin0 + eps * w_diff.norm(p=dual, dim=1)
    result = optimize(rr.CrossEntropy(model, y), x0, rr.make_constraint(norm, eps), 20, 2.5 * eps / 20)
    torch.testing.assert_close(result.value, F.softplus(worst), rtol=1e-5, atol=1e-6)
    expected_delta = eps * (w_diff / w_diff.norm(dim=1, keepdim=True) if norm == "l2" else w_diff.sign())
    torch.testing.assert_close((result.x - x0).flatten(1), expected_delta, rtol=1e-4, atol=1e-6)


def test_pgd_attack_with_random_start_converges_to_worst_case():
    model = _two_class_linear(seed=3)
    x0 = torch.full((4, 1, 4, 4), 0.5)
    y = torch.tensor([0, 1, 1, 0])
    x_adv = rr.pgd_attack(model, x0, y, eps=0.1, steps=100, step_size=0.01, generator=torch.Generator().manual_seed(0))
    w_diff = model.weight[1 - y] - model.weight[y]
    expected = 0.1 * w_diff / w_diff.norm(dim=1, keepdim=True)
    torch.testing.assert_close((x_adv - x0).flatten(1), expected, rtol=0, atol=2e-3)


def test_random_start_is_inside_the_ball_and_spread():
    x0 = torch.full((2000, 1, 2, 2), 0.5)
    start = L2Ball(0.4).random_start(x0, torch.Generator().manual_seed(0))
    radius = (start - x0).flatten(1).norm(dim=1)
    assert radius.max() <= 0.4 + 1e-6
    # uniform in a 4-d ball: P(r <= 0.4 * t) = t^4, so the median radius is 0.4 * 0.5 ** 0.25
    assert abs(radius.median().item() - 0.4 * 0.5**0.25) < 0.01


def test_unconstrained_inversion_matches_representation():
    model = tiny_model(seed=1)
    target = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    x0 = (0.5 + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    goal = model.representation(target).detach()
    result = optimize(rr.RepresentationDistance(model, goal, relative=True), x0, Unconstrained(), 200, 0.05,
                      maximize=False)
    assert (result.value < 0.5 * result.start_value).all()
    assert result.history[-1] < result.history[0]


class _PixelRepresentation:
    """R(x) = the pixels themselves: raising coordinate i above the others is always feasible."""

    def representation(self, x, fake_relu=False):
        return x.flatten(1)


def test_clipped_coordinate_stops_once_feature_dominates():
    x0 = 0.8 * torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    index = torch.tensor([0, 5, 9])
    frames = []
    result = optimize(rr.ClippedCoordinate(_PixelRepresentation(), index), x0, Unconstrained(), 100, 0.02,
                      track_best=False, callback=lambda step, x, value: frames.append(x.clone()), callback_every=10)
    rep = result.x.flatten(1)
    assert (rep.argmax(dim=1) == index).all()
    assert (result.value == 0).all()  # clipped: the objective is 0 once coordinate i is the largest
    assert torch.equal(frames[-2], frames[-1])  # and then the image stops changing
    others = torch.ones(16, dtype=torch.bool).expand(3, 16).scatter(1, index[:, None], False)
    assert torch.equal(rep[others], x0.flatten(1)[others])  # only feature i was raised
    # it stopped just past the previous maximum: no step further than needed
    assert ((rep.gather(1, index[:, None])[:, 0] - x0.flatten(1).amax(1)) <= 0.02).all()


def test_objectives_compose():
    model = tiny_model()
    x = torch.rand(4, 1, 8, 8)
    y = torch.randint(0, 10, (4,))
    ce, logit = rr.CrossEntropy(model, y), rr.Logit(model, y)
    torch.testing.assert_close((2 * ce - logit)(x), 2 * ce(x) - logit(x))
    torch.testing.assert_close((-ce)(x), -ce(x))
    idx = torch.tensor([[0, 3]] * 4)
    rep = model.representation(x)
    torch.testing.assert_close(rr.CoordinateSum(model, idx)(x), rep[:, 0] + rep[:, 3])
    torch.testing.assert_close(rr.Coordinate(model, 3)(x), rep[:, 3])


def test_objectives_move_what_they_hold_to_the_input_device_once():
    """Labels, indices and targets are moved on the first call and kept: a copy from the host at every solver step
    would make it wait for a GPU at every step. Meta tensors stand in for a GPU's."""
    model = tiny_model().to("meta")
    x = torch.empty(2, 1, 8, 8, device="meta")
    objectives = [
        rr.CrossEntropy(model, torch.tensor([1, 2])), rr.Margin(model, 3), rr.Logit(model, 3),
        rr.Coordinate(model, torch.tensor([0, 1])), rr.ClippedCoordinate(model, 0),
        rr.CoordinateSum(model, torch.tensor([[0, 1], [1, 2]]), torch.ones(2, 2)),
        rr.RepresentationDistance(model, torch.zeros(2, model.num_features)),
        rr.PixelDistance(torch.zeros(2, 1, 8, 8), torch.ones(2, 1, 8, 8)),
    ]
    for objective in objectives:
        assert objective(x).shape == (2,)
        held = [v for v in vars(objective).values() if isinstance(v, (int, torch.Tensor)) and not isinstance(v, bool)]
        assert held and all(isinstance(v, torch.Tensor) and v.device.type == "meta" for v in held), objective


def test_solver_rejects_bad_arguments():
    x0 = torch.rand(2, 1, 4, 4)
    with pytest.raises(ValueError, match="one value per example"):
        optimize(lambda x: x.sum(), x0, L2Ball(1.0), 1, 0.1)
    with pytest.raises(ValueError, match="eps >= 0"):
        L2Ball(-1.0)
    with pytest.raises(ValueError, match="unknown norm"):
        rr.make_constraint("l3", 1.0)
    with pytest.raises(rr.InputError, match=r"\[0, 1\]"):
        optimize(lambda x: x.flatten(1).sum(1), x0 * 255, L2Ball(1.0), 1, 0.1)
    with pytest.raises(ValueError, match="random start"):
        optimize(lambda x: x.flatten(1).sum(1), x0, Unconstrained(), 1, 0.1, random_start=True)
    assert math.isinf(Unconstrained().eps)


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_last_iterate_without_evaluating_it(steps):
    """evaluate_last=False: the same last iterate, one objective evaluation fewer, and no value to report."""
    x0 = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    calls = []
    objective = _nonlinear_objective(3)

    def counted(x):
        calls.append(1)
        return objective(x)

    evaluated = optimize(counted, x0, L2Ball(0.5), steps, 0.2, track_best=False)
    n_evaluated = len(calls)
    skipped = optimize(counted, x0, L2Ball(0.5), steps, 0.2, track_best=False, evaluate_last=False)
    assert torch.equal(skipped.x, evaluated.x)
    assert len(calls) - n_evaluated == n_evaluated - (1 if steps else 0)
    assert (skipped.value is None) == (steps > 0)
    with pytest.raises(ValueError, match="evaluate_last=True or track_best=False"):
        optimize(counted, x0, L2Ball(0.5), steps, 0.2, evaluate_last=False)


def test_attack_returns_the_last_iterate_on_request():
    model = tiny_model()
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    last = rr.pgd_attack(model, x, y, eps=0.5, steps=4, random_start=False, use_best=False)
    with rr.networks.models.frozen(model):
        step = rr.optimization.problems.default_step_size(0.5, 4)
        expected = optimize(rr.CrossEntropy(model, y), x, L2Ball(0.5), 4, step, track_best=False).x
    torch.testing.assert_close(last, expected, rtol=1e-4, atol=1e-5)


def test_solve_poses_a_problem_on_a_frozen_model():
    """rr.solve: a radius becomes an L2 ball with the default step 2.5 eps / steps, the model is frozen only while it
    runs, a Constraint is kept as given, and an unconstrained problem must name its step."""
    model = tiny_model()
    model.train()
    x, y = torch.rand(4, 1, 8, 8), torch.randint(0, 10, (4,))
    result = rr.solve(model, rr.CrossEntropy(model, y), x, constraint=0.5, steps=4, maximize=True)
    assert model.training and all(p.requires_grad for p in model.parameters())
    with rr.networks.models.frozen(model):
        expected = optimize(rr.CrossEntropy(model, y), x, L2Ball(0.5), 4, 2.5 * 0.5 / 4)
    torch.testing.assert_close(result.x, expected.x, rtol=1e-4, atol=1e-5)
    linf = rr.solve(model, rr.CrossEntropy(model, y), x, constraint=LinfBall(0.1), steps=3, maximize=True)
    assert (linf.x - x).abs().max() <= 0.1 + TOL
    with pytest.raises(ValueError, match="pass step_size"):
        rr.solve(model, rr.CrossEntropy(model, y), x, constraint=None, steps=3, maximize=True)
    with pytest.raises(TypeError):
        rr.solve(model, rr.CrossEntropy(model, y), x, 0.5, 4, True)  # keyword-only: no bare radius or boolean


def _count_forwards(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_a_sum_of_objectives_reads_the_network_once_and_equals_its_parts():
    """Objectives read one Activations per evaluation: a sum on one network runs it once (per ReLU kind), and its
    value and gradient are those of the parts evaluated alone."""
    model = tiny_model()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    parts = [rr.CrossEntropy(model, torch.tensor([0, 1, 2])), rr.Margin(model, 3), 0.5 * rr.Logit(model, 4)]
    total = parts[0] + parts[1] - parts[2]
    calls = _count_forwards(model.backbone)
    value = total(x)
    assert calls[0] == 1
    separate = parts[0](x) + parts[1](x) - parts[2](x)
    assert calls[0] == 4
    torch.testing.assert_close(value, separate)
    torch.testing.assert_close(torch.autograd.grad(value.sum(), x)[0], torch.autograd.grad(separate.sum(), x)[0])
    representation = rr.Coordinate(model, 0) + rr.RepresentationDistance(model, torch.zeros(1, model.num_features))
    calls[0] = 0
    representation(x)
    assert calls[0] == 1  # both read R(x) with the fake ReLU: one pass
    (representation + parts[0])(x)
    assert calls[0] == 3  # logits need the plain ReLU: a second pass


def test_layer_objectives_read_every_announced_layer_in_one_pass():
    from rrhelpers.optimization.layer_robustness import LayerDistance
    from rrhelpers.optimization.style import ContentLoss, StyleLoss, gram_matrix

    model = tiny_model(in_channels=3)
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    layers = rr.optimization.activations.stage_layers(model)
    with torch.no_grad(), rr.optimization.activations.LayerFeatures(model, layers) as read:
        acts = read(x.flip(0))
    style = StyleLoss(model, {name: gram_matrix(acts[name]) for name in layers})
    combined = style + ContentLoss(model, layers[0], acts[layers[0]]) + LayerDistance(model, layers[1], acts[layers[1]])
    calls = _count_forwards(model.backbone)
    value = combined(x)
    assert calls[0] == 1 and value.shape == (2,) and (value > 0).all()
    assert all(len(m._forward_hooks) == 0 for m in model.modules() if m is not model.backbone)


def test_snapshots_keep_every_kth_iterate_of_each_example():
    target = torch.full((2, 1, 3, 3), 0.8)
    recorder = Snapshots()
    with pytest.raises(ValueError, match="no iterates"):
        recorder.of(0)
    optimize(lambda x: -(x - target).flatten(1).norm(dim=1), torch.zeros(2, 1, 3, 3), Unconstrained(), steps=10,
             step_size=0.1, callback=recorder, callback_every=4)
    assert recorder.steps == [0, 4, 8, 10]
    trajectory = recorder.of(1)
    assert trajectory.shape == (4, 1, 3, 3) and trajectory.device.type == "cpu"
    assert torch.equal(trajectory[0], torch.zeros(1, 3, 3)) and trajectory[-1].mean() > trajectory[1].mean()
