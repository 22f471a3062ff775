"""Per-example objectives for :func:`rrhelpers.optimization.solver.optimize`: small objects that compose with + and *.

Each objective maps a batch of images (B, C, H, W) to one value per example (B,). The paper's problems are:

- attack (eq. 3 inner max): maximise :class:`CrossEntropy`;
- inversion (eq. 5) and interpolation (eq. 6): minimise :class:`RepresentationDistance` to a target R;
- feature visualisation (eq. 4): maximise :class:`Coordinate`;
- feature addition (eq. 7): maximise :class:`ClippedCoordinate`;
- sensitivity (eq. 8): maximise :class:`CoordinateSum` over the top-k weighted coordinates.

Objectives read what they need from :class:`~rrhelpers.optimization.activations.Activations`, computed once per batch: a
sum of objectives on one network runs it once per step. Representation objectives use the fake ReLU by default so that
gradients reach coordinates that are zero.
"""

from __future__ import annotations

from typing import Iterable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from .activations import Activations
from ..networks.models import RobustModel
from .transforms import random_affine

Index = Union[int, torch.Tensor]


class Objective:
    """Base class: subclasses implement ``value(activations) -> (B,)``, reading the batch's logits, R(x) or layers
    from :class:`~rrhelpers.optimization.activations.Activations`, and list in ``reads()`` the (network, layer) pairs
    they read by name. ``objective(x)`` evaluates a batch; ``a + b``, ``w * a`` and ``-a`` compose and share one
    reading."""

    def value(self, activations: Activations) -> torch.Tensor:
        raise NotImplementedError

    def reads(self) -> Iterable[tuple[nn.Module, str]]:
        """The (network, layer name) pairs this objective reads through ``Activations.layer``."""
        return ()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.value(Activations(x, self.reads()))

    def __add__(self, other: "Objective") -> "Objective":
        return _Sum(self, other)

    def __mul__(self, weight: float) -> "Objective":
        return _Scaled(self, float(weight))

    __rmul__ = __mul__

    def __neg__(self) -> "Objective":
        return _Scaled(self, -1.0)

    def __sub__(self, other: "Objective") -> "Objective":
        return _Sum(self, -other)


class _Sum(Objective):
    def __init__(self, a: Objective, b: Objective):
        self.a, self.b = a, b

    def value(self, activations: Activations) -> torch.Tensor:
        return self.a.value(activations) + self.b.value(activations)

    def reads(self) -> Iterable[tuple[nn.Module, str]]:
        return [*self.a.reads(), *self.b.reads()]


class _Scaled(Objective):
    def __init__(self, inner: Objective, weight: float):
        self.inner, self.weight = inner, weight

    def value(self, activations: Activations) -> torch.Tensor:
        return self.weight * self.inner.value(activations)

    def reads(self) -> Iterable[tuple[nn.Module, str]]:
        return self.inner.reads()


def _on(value: Union[int, torch.Tensor], device: torch.device, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``value`` as a tensor on ``device``. Objectives keep the result: they run at every solver step, and a copy
    from the host each time would make the host wait for a GPU at every step."""
    return torch.as_tensor(value, device=device, dtype=dtype)


def _per_example(index: torch.Tensor, batch: int) -> torch.Tensor:
    return index.expand(batch) if index.dim() == 0 else index


class CrossEntropy(Objective):
    """Cross-entropy of the model's logits against ``labels`` (maximise: untargeted attack; minimise: targeted)."""

    def __init__(self, model: RobustModel, labels: Index):
        self.model, self.labels = model, labels

    def value(self, activations: Activations) -> torch.Tensor:
        logits = activations.logits(self.model)
        self.labels = _on(self.labels, logits.device, torch.long)
        return F.cross_entropy(logits, _per_example(self.labels, len(logits)), reduction="none")


class Margin(Objective):
    """The largest other logit minus the logit of ``labels`` (Carlini & Wagner's margin): positive once an example
    is misclassified. Unlike cross-entropy it does not saturate on confidently classified examples, so attacks that
    maximise it are not misled by a vanishing softmax gradient."""

    def __init__(self, model: RobustModel, labels: Index):
        self.model, self.labels = model, labels

    def value(self, activations: Activations) -> torch.Tensor:
        logits = activations.logits(self.model)
        self.labels = _on(self.labels, logits.device, torch.long)
        labels = _per_example(self.labels, len(logits))
        true = logits.gather(1, labels[:, None])[:, 0]
        others = logits.scatter(1, labels[:, None], float("-inf"))
        return others.amax(1) - true


class Logit(Objective):
    """The logit of class ``classes`` (one int, or one per example)."""

    def __init__(self, model: RobustModel, classes: Index):
        self.model, self.classes = model, classes

    def value(self, activations: Activations) -> torch.Tensor:
        logits = activations.logits(self.model)
        self.classes = _on(self.classes, logits.device, torch.long)
        return logits.gather(1, _per_example(self.classes, len(logits))[:, None])[:, 0]


class RepresentationDistance(Objective):
    """||R(x) - target||_2 (divided by ||target||_2 if ``relative``): minimise it for eqs. 5 and 6."""

    def __init__(self, model: RobustModel, target: torch.Tensor, relative: bool = False, fake_relu: bool = True):
        self.model, self.target = model, target.detach()
        self.relative, self.fake_relu = relative, fake_relu

    def value(self, activations: Activations) -> torch.Tensor:
        rep = activations.representation(self.model, fake_relu=self.fake_relu)
        self.target = _on(self.target, rep.device)
        dist = (rep - self.target).norm(dim=1)
        return dist / self.target.norm(dim=1).clamp_min(1e-12) if self.relative else dist


class Coordinate(Objective):
    """R(x)_i for coordinate ``index`` (one int, or one per example): maximise it for eq. 4."""

    def __init__(self, model: RobustModel, index: Index, fake_relu: bool = True):
        self.model, self.index, self.fake_relu = model, index, fake_relu

    def value(self, activations: Activations) -> torch.Tensor:
        rep = activations.representation(self.model, fake_relu=self.fake_relu)
        self.index = _on(self.index, rep.device, torch.long)
        return rep.gather(1, _per_example(self.index, len(rep))[:, None])[:, 0]


class ClippedCoordinate(Objective):
    """Eq. 7: R(x)_i while it is below the largest other coordinate, 0 once it is the largest.

    Maximising it raises feature i until it dominates the representation and then stops (zero gradient), so
    run it with ``track_best=False`` and the last iterate is the image with the feature just added.
    """

    def __init__(self, model: RobustModel, index: Index, fake_relu: bool = True):
        self.model, self.index, self.fake_relu = model, index, fake_relu

    def value(self, activations: Activations) -> torch.Tensor:
        rep = activations.representation(self.model, fake_relu=self.fake_relu)
        self.index = _on(self.index, rep.device, torch.long)
        idx = _per_example(self.index, len(rep))[:, None]
        value = rep.gather(1, idx)[:, 0]
        others = rep.scatter(1, idx, float("-inf")).amax(dim=1)
        return torch.where(value < others, value, torch.zeros_like(value))


class CoordinateSum(Objective):
    """Weighted sum of chosen coordinates per example, ``indices`` (B, k), ``weights`` (B, k) or None (all ones)."""

    def __init__(
        self, model: RobustModel, indices: torch.Tensor, weights: Optional[torch.Tensor] = None, fake_relu: bool = True
    ):
        self.model, self.indices, self.weights, self.fake_relu = model, indices, weights, fake_relu

    def value(self, activations: Activations) -> torch.Tensor:
        rep = activations.representation(self.model, fake_relu=self.fake_relu)
        self.indices = _on(self.indices, rep.device)
        if self.weights is not None:
            self.weights = _on(self.weights, rep.device)
        picked = rep.gather(1, self.indices)
        return (picked if self.weights is None else picked * self.weights).sum(dim=1)


class PixelDistance(Objective):
    """Squared L2 distance to ``target`` over the pixels where ``mask`` is 1 (all pixels if None)."""

    def __init__(self, target: torch.Tensor, mask: Optional[torch.Tensor] = None):
        self.target, self.mask = target.detach(), mask

    def value(self, activations: Activations) -> torch.Tensor:
        x = activations.x
        self.target = _on(self.target, x.device)
        diff = (x - self.target) ** 2
        if self.mask is not None:
            self.mask = _on(self.mask, x.device)
            diff = diff * self.mask
        return diff.flatten(1).sum(dim=1)


class RandomlyTransformed(Objective):
    """``inner`` evaluated on a randomly shifted, scaled and rotated copy of x
    (:func:`~rrhelpers.optimization.transforms.random_affine`, a new draw per call).

    This is the transformation-robustness prior of regularised feature visualisation (Olah et al., 2017) that
    standard models need for readable pictures; it is *not* model-faithful, which is the paper's point. Being
    stochastic, optimise it with ``track_best=False``.
    """

    def __init__(self, inner: Objective, shift: float = 2.0, scale: tuple[float, float] = (0.9, 1.1),
                 degrees: float = 10.0, generator: Optional[torch.Generator] = None):
        self.inner, self.shift, self.scale, self.degrees = inner, shift, scale, degrees
        self.generator = generator

    def value(self, activations: Activations) -> torch.Tensor:
        return self.inner(random_affine(activations.x, shift=self.shift, scale=self.scale, degrees=self.degrees,
                                        generator=self.generator))
