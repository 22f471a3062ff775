"""Clean and adversarial accuracy of a model on a dataset."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..optimization.attacks import pgd_attack
from ..data import iterate_batches
from ..networks.models import RobustModel, eval_mode, frozen
from ..optimization.problems import default_step_size
from ..optimization.representations import frame_lambdas
from ..optimization.solver import SolverResult

APGD_LOSSES = ("ce", "dlr")


EVALUATION_LOSSES = ("margin", "ce")
"""The losses :func:`accuracy`'s attack can maximise; by default it runs both and keeps each example's worst case."""


def correct_after_attack(
    model: RobustModel,
    dataset: Dataset,
    eps: float = 0.0,
    norm: str = "l2",
    steps: int = 50,
    step_size: Optional[float] = None,
    batch_size: int = 256,
    limit: Optional[int] = None,
    progress: bool = False,
    seed: int = 0,
    *,
    loss: Union[str, Sequence[str]] = EVALUATION_LOSSES,
    step_schedule: str = "cosine",
    among: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Per example of the first ``limit`` (all if None), whether the model classifies it correctly after
    :func:`accuracy`'s attack at ``eps`` (no attack when eps is 0). ``loss``: one loss or several, run one after the
    other on the examples still standing (each example counts as robust only if it survives all of them). ``among``:
    a boolean mask of the examples to attack; the others count as wrong without being attacked (they already fell to
    an attack inside this one's ball).
    """
    losses = (loss,) if isinstance(loss, str) else tuple(loss)
    if not losses or set(losses) - set(EVALUATION_LOSSES):
        raise ValueError(f"loss must be one of {EVALUATION_LOSSES} or a non-empty sequence of them; got {loss!r}")
    if len(losses) > 1 and eps > 0:
        for one in losses:
            among = correct_after_attack(model, dataset, eps, norm, steps, step_size, batch_size, limit, progress,
                                         seed, loss=one, step_schedule=step_schedule, among=among)
        return among
    loss = losses[0]
    if step_size is None:
        step_size = default_step_size(eps, steps) if step_schedule == "constant" else 0.5 * eps
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    total = len(dataset) if limit is None else min(limit, len(dataset))
    if among is not None and len(among) != total:
        raise ValueError(f"among has {len(among)} entries for {total} examples")
    correct = torch.zeros(total, dtype=torch.bool)
    seen = 0
    bar = tqdm(total=total, desc=f"accuracy eps={eps:g}", disable=not progress, leave=False)
    with eval_mode(model):
        for x, y in iterate_batches(dataset, batch_size):
            x, y = x[: total - seen], y[: total - seen]
            chosen = torch.ones(len(y), dtype=torch.bool) if among is None else among[seen : seen + len(y)]
            if chosen.any():
                x, y = x[chosen].to(device), y[chosen].to(device)
                if eps > 0:
                    x = pgd_attack(model, x, y, eps, steps, step_size, norm, generator=generator, loss=loss,
                                   step_schedule=step_schedule)
                with torch.no_grad():
                    correct[seen : seen + len(chosen)][chosen] = (model(x).argmax(1) == y).cpu()
            seen += len(chosen)
            bar.update(len(chosen))
            if seen >= total:
                break
    bar.close()
    return correct[:seen]


def accuracy(model: RobustModel, dataset: Dataset, eps: float = 0.0, norm: str = "l2", steps: int = 50,
             step_size: Optional[float] = None, batch_size: int = 256, limit: Optional[int] = None,
             progress: bool = False, seed: int = 0, **attack: Any) -> float:
    """Fraction of the first ``limit`` examples (all if None) classified correctly after a PGD attack at ``eps`` (no
    attack when eps is 0).

    The default attack runs twice from a random start, 50 steps each with the step decaying on a cosine from
    0.5 * eps, first on the logit margin (which, unlike cross-entropy, does not saturate on confident examples), then
    on the cross-entropy for the examples the first left standing; an example is robust only if it survives both, as
    AutoAttack combines APGD-CE and APGD-DLR. On quick robust models of three seeds it is 1.3-2.0 points above
    APGD-CE + APGD-DLR (:func:`apgd_robust`, chapter 2's 300 digits at eps 1.5), where the margin alone was 2.7-3.3
    points above and PGD-20 on the cross-entropy 5-7. ``loss='ce', steps=20, step_schedule='constant'`` is the classic
    PGD-20 (step 2.5 * eps / steps).
    """
    correct = correct_after_attack(model, dataset, eps, norm, steps, step_size, batch_size, limit, progress, seed,
                                   **attack)
    return float(correct.float().mean()) if len(correct) else 0.0


def evaluate(
    model: RobustModel,
    dataset: Dataset,
    eps_values: Iterable[float],
    norm: str = "l2",
    steps: int = 50,
    limit: Optional[int] = None,
    progress: bool = False,
    **attack: Any,
) -> dict[float, float]:
    """Accuracy at each eps in ``eps_values`` (0 = clean) under :func:`accuracy`'s attack (keyword arguments such as
    ``loss`` and ``step_schedule`` go to it).

    The radii are attacked from the smallest up, each only on the examples that survived the one before: an
    adversarial example inside a smaller ball is one inside every larger ball, so this is exact, never weaker than
    attacking each radius afresh, makes the curve monotone, and skips most of the work on a standard model."""
    survivors = None
    results: dict[float, float] = {}
    for eps in sorted({float(e) for e in eps_values}):
        survivors = correct_after_attack(model, dataset, eps, norm, steps, limit=limit, progress=progress,
                                         among=survivors, **attack)
        results[eps] = float(survivors.float().mean()) if len(survivors) else 0.0
    return {float(eps): results[float(eps)] for eps in eps_values}


@torch.no_grad()
def apgd_robust(
    model: RobustModel,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    *,
    steps: int = 100,
    losses: Iterable[str] = APGD_LOSSES,
    norm: str = "l2",
    batch_size: int = 250,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """Per example, whether the model still classifies it correctly under APGD (Croce & Hein 2020) with every loss
    in ``losses``, as AutoAttack runs APGD-CE and APGD-DLR: the worst case over them.

    The attack is torchattacks' implementation, not this package's solver, so it checks :func:`accuracy` against an
    optimistic attack (an attack that a package writes itself can share that package's blind spots). torchattacks
    reseeds the global generator, so it runs inside a forked one.
    """
    try:
        import torchattacks
    except ImportError as error:  # pragma: no cover - torchattacks is a book and test dependency
        raise ImportError("apgd_robust needs torchattacks: pip install --no-deps torchattacks==3.5.1 "
                          "(make setup installs it)") from error
    losses = tuple(losses)
    if not losses or set(losses) - set(APGD_LOSSES):
        raise ValueError(f"losses must be a non-empty subset of {APGD_LOSSES}; got {losses}")
    if norm.lower() not in ("l2", "linf"):
        raise ValueError(f"norm must be 'l2' or 'linf'; got {norm!r}")
    if not eps > 0:
        raise ValueError(f"eps must be positive; got {eps}")
    device = model.device
    robust = torch.zeros(len(x), dtype=torch.bool)
    bar = tqdm(total=len(x) * len(losses), desc=f"APGD {'+'.join(losses)} eps={eps:g}", disable=not progress,
               leave=False)
    with frozen(model, fold_batchnorm=True), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for start in range(0, len(x), batch_size):
            xb = x[start : start + batch_size].to(device)
            yb = labels[start : start + batch_size].to(device)
            alive = model(xb).argmax(1) == yb
            for loss in losses:
                attack = torchattacks.APGD(model, norm="L2" if norm.lower() == "l2" else "Linf", eps=eps,
                                           steps=steps, loss=loss, seed=seed)
                if alive.any():
                    with torch.enable_grad():
                        adv = attack(xb[alive], yb[alive])
                    alive[alive.clone()] = model(adv).argmax(1) == yb[alive]
                bar.update(len(xb))
            robust[start : start + len(xb)] = alive.cpu()
    bar.close()
    return robust


@torch.no_grad()
def shuffled_by_correctness(model: RobustModel, images: torch.Tensor, labels: torch.Tensor, *,
                            generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The indices of the ``images`` that ``model`` misclassifies and of those it classifies correctly, each in a
    random order drawn from ``generator`` (the wrong ones first): take the first few of each for a seeded sample of
    mistakes and successes."""
    predicted = model.predict(images).cpu()
    wrong, right = (predicted != labels).nonzero()[:, 0], (predicted == labels).nonzero()[:, 0]
    return (wrong[torch.randperm(len(wrong), generator=generator)],
            right[torch.randperm(len(right), generator=generator)])


def ssim(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Per image, the structural similarity (SSIM, scikit-image's, data range 1) of ``images`` to ``references``
    (both (N, C, H, W) in [0, 1]): how alike they look in local structure, where pixel distances reward blur."""
    from skimage.metrics import structural_similarity

    if images.shape != references.shape:
        raise ValueError(f"images {tuple(images.shape)} and references {tuple(references.shape)} differ in shape")
    pairs = zip(images.detach().cpu().float(), references.detach().cpu().float())
    return torch.tensor([structural_similarity(a.permute(1, 2, 0).numpy(), b.permute(1, 2, 0).numpy(), data_range=1.0,
                                               channel_axis=2) for a, b in pairs])


def inversion_measures(result: SolverResult, goals: torch.Tensor) -> dict[str, float]:
    """How close an inversion (eq. 5's :class:`SolverResult`, its value the relative representation error) came to
    its ``goals``: the mean pixel distance and SSIM to them, and the mean and median error."""
    x = result.x.cpu()
    return {"pixel": (x - goals).flatten(1).norm(dim=1).mean().item(), "ssim": ssim(x, goals).mean().item(),
            "error": result.value.mean().item(), "median error": result.value.median().item()}


def reconstruction_quality(reconstructions: torch.Tensor, originals: torch.Tensor, labels: torch.Tensor,
                           judge: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, np.ndarray]:
    """Per image, how close ``reconstructions`` came to their ``originals``: the mean squared pixel error
    (``'mse'``), SSIM (``'ssim'``) and whether ``judge`` reads the original's label in it (``'read_back'``, 1 or
    0)."""
    return {"mse": ((reconstructions - originals) ** 2).flatten(1).mean(1).numpy(),
            "ssim": ssim(reconstructions, originals).numpy(),
            "read_back": (judge(reconstructions).cpu() == labels).float().numpy()}


def masked_rms_error(images: torch.Tensor, references: torch.Tensor, known: torch.Tensor) -> float:
    """Root mean squared error of ``images`` against ``references`` over the pixels where ``known`` (1 = known,
    broadcast over channels) is 0: how well an inpainting restored what was missing."""
    hole = 1 - known
    return (((images - references) * hole) ** 2).sum().div(hole.expand_as(images).sum()).sqrt().item()


def bootstrap_mean_ci(values: np.ndarray, *, seed: int = 0, resamples: int = 2000,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampled with replacement, ``resamples`` times, from
    a generator seeded with ``seed``): for a per-image difference whose distribution is not known to be normal."""
    values = np.asarray(values)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"values must be a 1-d array of at least 2 numbers; got shape {values.shape}")
    means = np.random.default_rng(seed).choice(values, (resamples, len(values))).mean(1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedDifference:
    """Per-item differences ``a - b`` in short: their mean with a bootstrap interval, and the share of items where
    ``a`` is the larger."""

    mean: float
    low: float
    high: float
    share: float
    confidence: float = 0.95

    def summary(self, spec: str) -> str:
        """``mean [95% CI low, high]``, each number formatted with ``spec`` (e.g. ``'.4f'``)."""
        return f"{self.mean:{spec}} [{self.confidence:.0%} CI {self.low:{spec}}, {self.high:{spec}}]"


def paired_difference(a: np.ndarray, b: np.ndarray, *, seed: int = 0, confidence: float = 0.95) -> PairedDifference:
    """Compare two measures of the same items (e.g. two models' errors per image) by their differences ``a - b``,
    with :func:`bootstrap_mean_ci`'s interval of the mean difference."""
    difference = np.asarray(a) - np.asarray(b)
    low, high = bootstrap_mean_ci(difference, seed=seed, confidence=confidence)
    return PairedDifference(float(difference.mean()), low, high, float((difference > 0).mean()), confidence)


class Timed(NamedTuple):
    """What a timed run returned (on the CPU) and the wall-clock seconds it took per image."""

    output: torch.Tensor
    seconds_per_image: float


def timed_per_image(run: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, *, warm_up: int = 0) -> Timed:
    """``run(images)``, timed after an untimed warm-up run on the first ``warm_up`` images; the clock stops once the
    output is on the CPU, which waits for a GPU to finish."""
    if warm_up:
        run(images[:warm_up])
    started = time.perf_counter()
    out = run(images).cpu()
    return Timed(out, (time.perf_counter() - started) / len(images))


def nearest_distance(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per image, the pixel (L2) distance to the nearest ``reference`` image, on the CPU: a model-free measure of how
    far an image is from every real one (a superimposition of two digits is far from all of them)."""
    return _pixel_distances(images, reference).min(1).values.cpu()


@dataclass(frozen=True)
class Ghosting:
    """Whether interpolation frames look like single images, by measures that know no network (:func:`ghosting`):
    a superimposition of two digits lies far from every real one, and a judge names neither of them."""

    lambdas: list[float]
    """The λ of the inner frames (0 < λ < 1)."""
    distance: dict[str, torch.Tensor]
    """Per kind of frames, each inner frame's pixel (L2) distance to the nearest reference image, (T - 1, pairs)."""
    named: dict[str, float]
    """Per kind, the share of inner frames the judge labels as the source's or the destination's class."""

    def summary(self, baseline: str) -> dict[str, dict[str, float]]:
        """Per kind, the mean distance, the share of its frames nearer to a reference image than ``baseline``'s frame
        of the same pair and λ (NaN for ``baseline`` itself) and the named share: chapter 6's table."""
        return {kind: {"nearest training digit (mean L2)": d.mean().item(),
                       f"frames closer to one than the {baseline}'s": float("nan") if kind == baseline
                       else (d < self.distance[baseline]).float().mean().item(),
                       "judge names the source or the destination": self.named[kind]}
                for kind, d in self.distance.items()}


def ghosting(frames: Mapping[str, torch.Tensor], reference: torch.Tensor,
             judge: Callable[[torch.Tensor], torch.Tensor], start_labels: torch.Tensor,
             end_labels: torch.Tensor) -> Ghosting:
    """:class:`Ghosting` of the inner frames of each kind of interpolation in ``frames`` (each (T + 1, pairs, C, H,
    W)): their distances to the nearest ``reference`` image and whether ``judge`` (images -> labels) names either
    endpoint's label."""
    count = len(next(iter(frames.values()))) - 1
    distance, named = {}, {}
    for kind, path in frames.items():
        inner = path[1:-1]
        distance[kind] = nearest_distance(inner.flatten(0, 1), reference).view(inner.shape[:2])
        labels = judge(inner.flatten(0, 1)).view(inner.shape[:2])
        named[kind] = ((labels == start_labels) | (labels == end_labels)).float().mean().item()
    return Ghosting(frame_lambdas(count)[1:-1], distance, named)


def horizontal_centre(images: torch.Tensor) -> torch.Tensor:
    """Each image's (B, C, H, W) centre of brightness along x, in pixels from the left: where its content sits."""
    columns = torch.arange(images.shape[-1], dtype=images.dtype)
    mass = images.sum(dim=(1, 2))
    return (mass * columns).sum(1) / mass.sum(1).clamp_min(1e-8)


def knn_predict(reference: torch.Tensor, reference_labels: torch.Tensor, queries: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Majority label of the ``k`` nearest reference images in pixel space (L2): a model-free judge of what an
    image depicts, used to score inversions and visualisations by their content rather than by the model itself.
    The queries are moved to the reference's device, where the labels are returned."""
    nearest = reference_labels[_pixel_distances(queries, reference).topk(k, largest=False).indices]
    return torch.mode(nearest, dim=1).values


def _pixel_distances(queries: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """(Q, R) L2 distances between flattened images, on the reference's device."""
    return torch.cdist(queries.to(reference.device).flatten(1).float(), reference.flatten(1).float())
