"""The paper's representation problems as short calls to the one solver (eqs. 4-8 and the brittleness pairs).

Every function runs the model in eval mode, takes images in [0, 1] and returns a :class:`SolverResult` (or
tensors built from several), so the chapters and users share one implementation of each problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F

from ..networks.foreign import FOREIGN_PREFIXES
from ..networks.models import RobustModel, eval_mode, frozen
from .objectives import (ClippedCoordinate, Coordinate, CoordinateSum, Logit, RandomlyTransformed,
                         RepresentationDistance)
from .problems import solve
from .solver import Snapshots, SolverResult, memory_format_of
from ..validation import check_images


def noise_seeds(shape: Sequence[int], mean: float = 0.5, std: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Starting points 'Gaussian noise around gray': mean + std * N(0, 1), clamped to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return (mean + std * torch.randn(tuple(shape), generator=g)).clamp(0, 1)


@torch.no_grad()
def representations(model: RobustModel, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """R(x) for a batch of any size, in eval mode."""
    if getattr(model, "check_inputs", True):  # here, once: the forward passes check no values of batches on a GPU
        check_images(x)
    with eval_mode(model):
        return torch.cat([model.representation(x[i : i + batch_size].to(model.device))
                          for i in range(0, len(x), batch_size)])


def invert(model: RobustModel, targets: torch.Tensor, seeds: torch.Tensor, steps: int = 1000,
           step_size: float = 0.1, eps: Optional[float] = None, *, fake_relu: bool = True, **kwargs) -> SolverResult:
    """Eq. 5: from ``seeds``, minimise ||R(x) - R(target)||_2 (paper A.5: eps 1000, i.e. unconstrained).

    The objective is divided by ||R(target)||_2, which leaves each example's normalised steps unchanged, so that
    ``value`` and ``history`` read as the relative representation error (the convergence curve). ``fake_relu=False``
    for wrapped classifiers, whose last ReLU is not this package's (:func:`has_fake_relu`)."""
    goal = representations(model, targets)
    objective = RepresentationDistance(model, goal, relative=True, fake_relu=fake_relu)
    return solve(model, objective, seeds, constraint=eps, steps=steps, step_size=step_size, maximize=False,
                 **{"desc": "inversion", **kwargs})


def invert_together(model: RobustModel, problems: dict[str, tuple[torch.Tensor, torch.Tensor]], steps: int = 1000,
                    step_size: float = 0.1, eps: Optional[float] = None, **kwargs) -> dict[str, SolverResult]:
    """:func:`invert` for several ``{name: (targets, seeds)}`` problems in one solver run, split back into one result
    per problem, each with its own convergence curve. Every example takes its own normalised steps, so each result
    is what a separate run gives; one batch is cheaper because a small model's step costs little more for many
    images than for a few."""
    if "callback" in kwargs:
        raise ValueError("invert_together keeps each step's values itself; call invert for a callback")
    names = list(problems)
    for name in names:
        targets, seeds = problems[name]
        if targets.shape != seeds.shape:
            raise ValueError(f"problem {name!r}: targets {tuple(targets.shape)} and seeds {tuple(seeds.shape)} "
                             "must have the same shape (one seed per target)")
    values: list[torch.Tensor] = []
    joined = invert(model, torch.cat([problems[n][0] for n in names]), torch.cat([problems[n][1] for n in names]),
                    steps, step_size, eps, callback=lambda step, x, value: values.append(value), **kwargs)
    sizes = [len(problems[n][0]) for n in names]
    per_step = torch.stack(values)  # (evaluated iterates, examples)
    parts = zip(joined.x.split(sizes), joined.value.split(sizes), joined.start_value.split(sizes),
                per_step.split(sizes, dim=1))
    return {name: SolverResult(x, value, start_value, curves.mean(dim=1).tolist())
            for name, (x, value, start_value, curves) in zip(names, parts)}


def match_representation(model: RobustModel, sources: torch.Tensor, targets: torch.Tensor, eps: float,
                         steps: int = 200, step_size: Optional[float] = None, *, fake_relu: bool = True,
                         **kwargs) -> SolverResult:
    """Brittleness pairs (eqs. 1-2): x1' within L2 distance ``eps`` of ``sources`` whose R is closest to
    R(targets); ``value`` is the relative distance ||R(x1') - R(x2)|| / ||R(x2)||."""
    goal = representations(model, targets)
    objective = RepresentationDistance(model, goal, relative=True, fake_relu=fake_relu)
    return solve(model, objective, sources, constraint=eps, steps=steps, step_size=step_size, maximize=False,
                 **{"desc": f"matching eps={eps:g}", **kwargs})


def matching_curve(model: RobustModel, sources: torch.Tensor, targets: torch.Tensor, radii: Sequence[float],
                   steps: int = 200, **kwargs) -> torch.Tensor:
    """The long version's Figure 5: for each radius, each pair's relative representation distance after
    :func:`match_representation` within it, (len(radii), pairs) on the CPU; a brittle representation falls fast."""
    return torch.stack([match_representation(model, sources, targets, r, steps, **kwargs).value.cpu() for r in radii])


def visualize(model: RobustModel, seeds: torch.Tensor, index: int | torch.Tensor, steps: int = 200,
              step_size: float = 0.1, eps: Optional[float] = None, **kwargs) -> SolverResult:
    """Eq. 4: maximise coordinate ``index`` of R(x) from ``seeds`` (paper A.4: eps 1000, 200 steps)."""
    return solve(model, Coordinate(model, index), seeds, constraint=eps, steps=steps, step_size=step_size,
                 maximize=True, **{"desc": "feature visualisation", **kwargs})


def coordinate_seeds(images: torch.Tensor, count: int, *, generator: torch.Generator, seed: int = 0) -> torch.Tensor:
    """``count`` seeds for :func:`visualize_coordinates`: noise around gray (:func:`noise_seeds` from ``seed``),
    plain gray, then random ``images`` drawn with ``generator``; a pattern that appears from all of them is the
    coordinate's, not the seed's."""
    shape = images.shape[1:]
    return torch.cat([noise_seeds((1, *shape), seed=seed), torch.full((1, *shape), 0.5),
                      images[torch.randperm(len(images), generator=generator)[: max(count - 2, 0)]]])[:count]


def visualize_coordinates(model: RobustModel, seeds: torch.Tensor, coordinates: Sequence[int], steps: int = 200,
                          step_size: float = 0.1, **kwargs) -> torch.Tensor:
    """:func:`visualize` of every coordinate from every seed, in one batch: (coordinates, seeds, C, H, W) on the
    CPU."""
    batch = seeds.repeat(len(coordinates), 1, 1, 1)
    index = torch.tensor(coordinates).repeat_interleave(len(seeds))
    return visualize(model, batch, index, steps, step_size, **kwargs).x.cpu().view(len(coordinates), *seeds.shape)


def visualize_jittered(model: RobustModel, seeds: torch.Tensor, index: int | Sequence[int] | torch.Tensor,
                       steps: int = 400, step_size: float = 0.1, *, seed: int = 0, **kwargs) -> SolverResult:
    """Eq. 4 with the transformation-robustness prior (:class:`RandomlyTransformed`, drawn from ``seed``),
    unconstrained, last iterate: the regularised visualisation a standard model needs for readable pictures."""
    objective = RandomlyTransformed(Coordinate(model, index), generator=torch.Generator().manual_seed(seed))
    return solve(model, objective, seeds, constraint=None, steps=steps, step_size=step_size, maximize=True,
                 track_best=False, **{"desc": "regularised visualisation", **kwargs})


def visualize_class(model: RobustModel, seeds: torch.Tensor, classes: torch.Tensor, steps: int = 200,
                    step_size: float = 0.1, eps: Optional[float] = None, **kwargs) -> SolverResult:
    """Eq. 4 for a class: maximise the logit of ``classes`` (one per seed) from ``seeds`` (what the model thinks a
    class looks like; chapter 4's class pictures)."""
    return solve(model, Logit(model, classes), seeds, constraint=eps, steps=steps, step_size=step_size,
                 maximize=True, **{"desc": "class pictures", **kwargs})


def evenly_spaced_classes(n_classes: int, count: int) -> torch.Tensor:
    """``count`` class indices spread evenly over ``n_classes`` (every class if ``count`` >= ``n_classes``)."""
    return torch.linspace(0, n_classes - 1, min(count, n_classes)).round().long()


def class_pictures(models: dict[str, RobustModel], classes: torch.Tensor, shape: Sequence[int], *,
                   generator: torch.Generator, steps: int, step_size: float, eps: Optional[float],
                   step_schedule: str = "constant", **kwargs) -> dict[str, torch.Tensor]:
    """What each model draws for each of ``classes`` (:func:`visualize_class`), from the same dark seeds (faint
    uniform noise, drawn from ``generator``, like the digits' black background), on the CPU."""
    dark = (0.05 * torch.rand((len(classes), *shape), generator=generator)).clamp(0, 1)
    return {name: visualize_class(model, dark, classes, steps, step_size, eps=eps, step_schedule=step_schedule,
                                  **{"desc": name, **kwargs}).x.cpu() for name, model in models.items()}


def add_feature(model: RobustModel, images: torch.Tensor, index: int | torch.Tensor, steps: int = 200,
                step_size: float = 0.1, eps: Optional[float] = None, **kwargs) -> SolverResult:
    """Eq. 7: raise coordinate ``index`` until it is the largest one of R(x), then stop (last iterate)."""
    kwargs.setdefault("track_best", False)
    return solve(model, ClippedCoordinate(model, index), images, constraint=eps, steps=steps, step_size=step_size,
                 maximize=True, **{"desc": "feature addition", **kwargs})


class AdditionSuccess(NamedTuple):
    """Per addition, whether its coordinate became the largest one of R(x), and whether the coordinate was a chosen
    (class-indicative) one; it prints as a one-line summary."""

    largest: torch.Tensor
    chosen: torch.Tensor

    @property
    def share(self) -> float:
        """Share of the additions whose coordinate became the largest."""
        return self.largest.float().mean().item()

    def __str__(self) -> str:
        return (f"coordinate i became the largest in {self.share:.0%} of {len(self.largest)} additions "
                f"(chosen {self.largest[self.chosen].float().mean():.0%}, "
                f"random {self.largest[~self.chosen].float().mean():.0%})")


class AdditionDistances(NamedTuple):
    """For the additions that stopped, the L2 distances to their sources and to the unconstrained maximisers, beside
    the median norm of a reference image (how large such a change is); it prints as a one-line summary."""

    to_source: torch.Tensor
    to_maximiser: torch.Tensor
    reference_norm: float

    def __str__(self) -> str:
        return (f"moved {self.to_source.mean():.2f} (median {self.to_source.median():.2f}) from the source, "
                f"{self.to_maximiser.mean():.2f} from the maximiser (L2, means); a test digit's norm: "
                f"{self.reference_norm:.2f} (median)")


@dataclass(frozen=True)
class FeatureAdditions:
    """Eq. 7 for every (source, coordinate) pair with each model (:func:`add_features`), on the CPU: addition
    ``j = c * len(sources) + s`` adds ``coordinates[c]`` to ``sources[s]``."""

    sources: torch.Tensor
    coordinates: list[int]
    added: dict[str, torch.Tensor]
    """The last iterates, one per addition, per model."""
    snapshots: dict[str, Snapshots]
    largest: dict[str, torch.Tensor]
    """Per model and addition, whether the coordinate became the largest one of R(x) (eq. 7's clip was reached)."""

    def per_addition(self, values: torch.Tensor) -> torch.Tensor:
        """A value per source (the sources themselves, their labels) repeated for every addition, in batch order."""
        return values.repeat(len(self.coordinates), *[1] * (values.dim() - 1))

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The source images and the coordinates of all additions, in order: the solver's batch."""
        return self.per_addition(self.sources), torch.tensor(self.coordinates).repeat_interleave(len(self.sources))

    def index(self, coordinate: int, source: int) -> int:
        """The addition of the ``coordinate``-th coordinate to the ``source``-th source."""
        return coordinate * len(self.sources) + source

    def grid(self, name: str) -> torch.Tensor:
        """Model ``name``'s additions as (coordinates, sources, C, H, W)."""
        return self.added[name].view(len(self.coordinates), *self.sources.shape)

    def success(self, name: str, chosen: Sequence[bool]) -> AdditionSuccess:
        """How often model ``name``'s coordinate became the largest, with ``chosen`` marking each coordinate as
        chosen (class-indicative) or random."""
        return AdditionSuccess(self.largest[name], torch.tensor(list(chosen)).repeat_interleave(len(self.sources)))

    def distances(self, name: str, maximisers: torch.Tensor, reference: torch.Tensor) -> AdditionDistances:
        """How far model ``name``'s additions that stopped moved from their sources and lie from the unconstrained
        ``maximisers`` of the same coordinates (:func:`visualize`), against the median norm of ``reference``."""
        stopped, added = self.largest[name], self.added[name]
        return AdditionDistances((added - self.batch[0]).flatten(1).norm(dim=1)[stopped],
                                 (added - maximisers).flatten(1).norm(dim=1)[stopped],
                                 reference.flatten(1).norm(dim=1).median().item())


def add_features(models: Mapping[str, RobustModel], sources: torch.Tensor, coordinates: Sequence[int], *, steps: int,
                 step_size: float, snapshot_every: int, **kwargs) -> FeatureAdditions:
    """Chapter 5's batch: every coordinate added to every source with each model (:func:`add_feature`, one solver
    run per model), the iterates recorded every ``snapshot_every`` steps and whether each coordinate became the
    largest."""
    additions = FeatureAdditions(sources.cpu(), list(coordinates), {}, {name: Snapshots() for name in models}, {})
    images, indices = additions.batch
    for name, model in models.items():
        added = add_feature(model, images, indices, steps, step_size, callback=additions.snapshots[name],
                            callback_every=snapshot_every, **kwargs).x.cpu()
        additions.added[name] = added
        additions.largest[name] = representations(model, added).argmax(1).cpu() == indices
    return additions


def pixel_blend(start: torch.Tensor, end: torch.Tensor, frames: int = 8) -> torch.Tensor:
    """Image-space interpolation (1 - t) start + t end, t = 0, 1/T, ..., 1: (T + 1, B, C, H, W), the cross-fade."""
    t = torch.linspace(0, 1, frames + 1, device=start.device).view(-1, 1, 1, 1, 1)
    return torch.lerp(start[None], end[None], t.to(start.dtype))


def frame_lambdas(frames: int) -> list[float]:
    """The λ of eq. 6's T + 1 frames, T = ``frames``: 0, 1/T, ..., 1 (the frame axis of :func:`pixel_blend` and
    :func:`interpolate`)."""
    return [k / frames for k in range(frames + 1)]


def interpolate(model: RobustModel, start: torch.Tensor, end: torch.Tensor, frames: int = 8, steps: int = 500,
                step_size: float = 0.1, eps: Optional[float] = None, seeds: Optional[torch.Tensor] = None,
                **kwargs) -> torch.Tensor:
    """Eq. 6 with T = ``frames``: images whose R matches (1 - t) R(start) + t R(end), t = 0, 1/T, ..., 1.

    ``start`` and ``end`` are (B, C, H, W); returns (T + 1, B, C, H, W). Each frame is seeded by the image-space
    blend of the endpoints (as in the paper's appendix) unless ``seeds`` (T + 1, B, C, H, W) are given; all frames
    are solved in one batch.
    """
    if start.shape != end.shape or start.dim() != 4:
        raise ValueError(f"start and end must be (B, C, H, W) of one shape; got {tuple(start.shape)} and "
                         f"{tuple(end.shape)}")
    seeds = pixel_blend(start, end, frames) if seeds is None else seeds
    if seeds.shape != (frames + 1, *start.shape):
        raise ValueError(f"seeds must be (frames + 1, *start.shape) = {(frames + 1, *start.shape)}; "
                         f"got {tuple(seeds.shape)}")
    t = torch.linspace(0, 1, frames + 1).view(-1, 1, 1)
    r0, r1 = representations(model, start), representations(model, end)
    goals = torch.lerp(r0[None], r1[None], t.to(r0)).flatten(0, 1)
    result = solve(model, RepresentationDistance(model, goals), seeds.flatten(0, 1), constraint=eps, steps=steps,
                   step_size=step_size, maximize=False, **{"desc": "interpolation", **kwargs})
    return result.x.view(frames + 1, *start.shape)


def path_progress(model: RobustModel, frames: torch.Tensor, start: torch.Tensor,
                  end: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where interpolation ``frames`` (T + 1, B, C, H, W) lie on the straight path from R(start) to R(end).

    Returns (progress, residual), both (T + 1, B): the projection of R(frame) - R(start) on R(end) - R(start) as a
    fraction of the path (0 at start, 1 at end), and the distance of R(frame) from its target point
    (1 - t) R(start) + t R(end), also as a fraction of the path length.
    """
    steps = frames.shape[0]
    reps = representations(model, frames.flatten(0, 1)).view(steps, frames.shape[1], -1)
    r0, r1 = representations(model, start), representations(model, end)
    path = r1 - r0
    length2 = (path * path).sum(-1).clamp_min(1e-12)
    progress = ((reps - r0) * path).sum(-1) / length2
    t = torch.linspace(0, 1, steps, device=reps.device).view(-1, 1, 1)
    residual = (reps - torch.lerp(r0[None], r1[None], t)).norm(dim=-1) / length2.sqrt()
    return progress.cpu(), residual.cpu()


@dataclass(frozen=True)
class InterpolationMeasures:
    """How interpolation frames (eq. 6) of B pairs walk the representation path, and how much of them the seeds
    made (:func:`interpolation_measures`)."""

    monotone: float
    """The share of pairs whose frames move forward along the path (:func:`path_progress`), never back by more
    than the tolerance."""
    residual: float
    """The mean distance of the inner frames' R from their target points, as a fraction of the path length."""
    following: torch.Tensor
    """Per pair (B,), seed-following: how far the frames solved from the mirrored cross-fade are from the frames,
    relative to how far the two seeds are apart (0: the representation alone decides the image)."""
    from_blend: float
    """The mean pixel distance of the inner frames from the cross-fade (not a measure of ghosting)."""

    def summary(self) -> str:
        """The measures in one line, as chapter 6 prints them."""
        return (f"monotone progress in {self.monotone:.0%} of {len(self.following)} pairs; distance of the inner "
                f"frames from their target points {self.residual:.3f} of the path; seed-following "
                f"{self.following.mean():.3f} (per pair {[round(v, 2) for v in self.following.tolist()]}); pixel "
                f"distance from the cross-fade {self.from_blend:.2f} (not a measure of ghosting, printed only)")


def interpolation_measures(model: RobustModel, frames: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                           steps: int = 500, step_size: float = 0.1, *, tolerance: float = 0.02,
                           **kwargs) -> InterpolationMeasures:
    """Chapter 6's checks of ``model``'s interpolation ``frames`` (T + 1, B, C, H, W) from ``start`` to ``end``:
    every frame is solved again from the mirrored cross-fade (``steps``, ``step_size`` and ``kwargs`` as for
    :func:`interpolate`) to see how much of it its seed decided; the middle frame, whose two seeds coincide, is
    left out of that. Progress may step back by ``tolerance`` (a fraction of the path) and still count as forward."""
    count = frames.shape[0] - 1
    blend, mirrored = pixel_blend(start, end, count), pixel_blend(end, start, count)
    inner = [k for k in range(1, count) if 2 * k != count]
    again = interpolate(model, start, end, count, steps, step_size, seeds=mirrored, **kwargs).cpu()
    seed_gap = (blend - mirrored).flatten(2).norm(dim=-1)[inner]
    following = ((frames - again).flatten(2).norm(dim=-1)[inner] / seed_gap).mean(0)
    progress, residual = path_progress(model, frames, start, end)
    return InterpolationMeasures(
        monotone=((progress[1:] - progress[:-1]) >= -tolerance).all(0).float().mean().item(),
        residual=residual[1:-1].mean().item(), following=following,
        from_blend=(frames - blend).flatten(2).norm(dim=-1)[1:-1].mean().item())


def top_weighted_coordinates(model: RobustModel, x: torch.Tensor, k: int,
                             classes: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 8: the k coordinates i with the largest R(x)_i * W_ic for class c (default: the predicted class).
    Returns (indices (B, k), classes (B,))."""
    rep = representations(model, x)
    with torch.no_grad():
        classes = model.head(rep).argmax(1) if classes is None else classes.to(rep.device)
        contribution = rep * model.head.weight[classes]
    return contribution.topk(k, dim=1).indices, classes


class AccentuationGains(NamedTuple):
    """Per image, the predicted class's logit gain from accentuating eq. 8's top-k coordinates and from accentuating
    k random ones with the same budget (on the CPU); it prints as a one-line summary."""

    top: torch.Tensor
    random: torch.Tensor

    @property
    def advantage(self) -> float:
        """Mean gain of the top-k coordinates minus that of the random ones: above 0 if eq. 8 picks what decides."""
        return (self.top.mean() - self.random.mean()).item()

    @property
    def top_wins(self) -> float:
        """Share of images whose top-k gain is larger than their random gain."""
        return (self.top > self.random).float().mean().item()

    def __str__(self) -> str:
        return (f"predicted-class logit gain, top-k {self.top.mean():+.2f} vs random {self.random.mean():+.2f}; "
                f"top larger for {self.top_wins:.0%} of {len(self.top)} images")


def accentuation_gains(model: RobustModel, images: torch.Tensor, k: int = 5, steps: int = 60, step_size: float = 1.0,
                       eps: float = 40.0, *, generator: Optional[torch.Generator] = None) -> AccentuationGains:
    """How much accentuating eq. 8's top-k coordinates (:func:`accentuate`) raises each image's predicted-class
    logit, against accentuating k coordinates drawn at random (per image, from ``generator``) with the same budget:
    if eq. 8 picks the coordinates that carry the decision, the first gain is the larger one."""
    _, predicted = top_weighted_coordinates(model, images, k)
    random_coordinates = torch.stack([torch.randperm(model.num_features, generator=generator)[:k] for _ in images])
    accentuated = accentuate(model, images, k, steps, step_size, eps).x
    randomised = solve(model, CoordinateSum(model, random_coordinates), images, constraint=eps, steps=steps,
                       step_size=step_size, maximize=True).x
    logit = Logit(model, predicted)
    with torch.no_grad(), eval_mode(model):
        before = logit(images).cpu()
        return AccentuationGains(logit(accentuated).cpu() - before, logit(randomised).cpu() - before)


def extreme_images(features: torch.Tensor, images: torch.Tensor, index: int,
                   count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` of ``images`` with the largest value of coordinate ``index`` of ``features`` (their
    representations, (N, d)), most first, and the ``count`` with the smallest: what a coordinate responds to
    (the paper's Figure 4)."""
    order = features[:, index].argsort(descending=True)
    return images[order[:count]], images[order[-count:]]


def top_image_alignment(seeds: torch.Tensor, visualizations: torch.Tensor, coordinates: Sequence[int],
                        features: torch.Tensor, images: torch.Tensor, count: int) -> torch.Tensor:
    """For :func:`visualize_coordinates`' grid (coordinates, seeds, C, H, W), the cosine between each change the
    solver made (visualisation - seed) and the direction from the mean of ``images`` to the mean of the coordinate's
    top ``count`` images (:func:`extreme_images`), (coordinates, seeds): whether the picture drew what the
    coordinate responds to."""
    mean_image = images.mean(0).flatten()
    change = (visualizations - seeds).flatten(0, 1).flatten(1)
    direction = torch.stack([extreme_images(features, images, int(i), count)[0].mean(0).flatten() - mean_image
                             for i in coordinates])
    cosines = F.cosine_similarity(change, direction.repeat_interleave(len(seeds), 0), dim=1)
    return cosines.view(len(coordinates), len(seeds))


def choose_coordinates(model: RobustModel, count: int, generator: torch.Generator,
                       class_names: Sequence[str]) -> tuple[list[int], list[str]]:
    """Coordinates of R(x) to show (chapters 4 and 5): the first ``count // 2`` are *chosen*, for classes 0, 1, ...
    the coordinate with the largest weight in ``model``'s final linear layer; the rest are drawn at random from
    ``generator`` among the others. Returns the indices and a label for each."""
    head = model.head.weight.detach().cpu()
    n_chosen = count // 2
    chosen = [int(head[c].argmax()) for c in range(n_chosen)]
    others = [int(i) for i in torch.randperm(head.shape[1], generator=generator) if int(i) not in chosen]
    kinds = [f"chosen (class {class_names[c]})" for c in range(n_chosen)] + ["random"] * (count - n_chosen)
    return chosen + others[: count - n_chosen], kinds


def accentuate(model: RobustModel, images: torch.Tensor, k: int = 5, steps: int = 60, step_size: float = 1.0,
               eps: float = 40.0, classes: Optional[torch.Tensor] = None, **kwargs) -> SolverResult:
    """Sensitivity (eq. 8, paper A.6: eps 40, 60 steps, step 1): accentuate the top-k weighted coordinates of the
    predicted class by maximising their sum (feature addition of several coordinates at once, without eq. 7's
    clipping) inside an L2 ball around each image."""
    indices, _ = top_weighted_coordinates(model, images, k, classes)
    return solve(model, CoordinateSum(model, indices), images, constraint=eps, steps=steps, step_size=step_size,
                 maximize=True, **{"desc": "sensitivity", **kwargs})


def input_gradient(model: RobustModel, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Raw gradient of the cross-entropy loss with respect to the input pixels (App. B.5 saliency)."""
    with frozen(model, fold_batchnorm=True):
        x = x.detach().to(model.device).requires_grad_(True)
        loss = F.cross_entropy(model(x), labels.to(model.device), reduction="sum")
        return torch.autograd.grad(loss, x)[0].contiguous(memory_format=memory_format_of(x))


def has_fake_relu(model: RobustModel) -> bool:
    """Whether ``model``'s backbone can pass gradients through its last ReLU (``fake_relu=True``, MadryLab's trick
    for problems on R(x)): this package's own networks can, wrapped torchvision / timm classifiers cannot."""
    return not model.config["arch"].startswith(FOREIGN_PREFIXES)


def object_energy_share(grad: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per image, the fraction of sum(grad^2) on pixels within one pixel of the object, for images on a uniform
    background (the object: pixels more than 0.1 from the top-left pixel's colour)."""
    background = images[..., :1, :1]
    mask = ((images - background).abs().amax(1, keepdim=True) > 0.1).float()
    mask = F.max_pool2d(mask, 3, 1, 1)
    energy = grad.pow(2).sum(1, keepdim=True)
    return (energy * mask).flatten(1).sum(1) / energy.flatten(1).sum(1)
