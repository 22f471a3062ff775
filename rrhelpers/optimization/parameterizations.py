"""How an optimiser's variables become images in [0, 1] (lucent's ``param``): for the smooth optimiser
(:func:`rrhelpers.optimization.smooth.minimize_smooth`). The projected-gradient solver works on the pixels themselves
and keeps them in range by projection (:mod:`rrhelpers.optimization.solver`)."""

from __future__ import annotations

import torch

__all__ = ["ClampedPixels", "ImageParameterization", "SigmoidImage"]


class ImageParameterization:
    """Variables ``p`` for images ``x``: ``variables(x)`` starts them, ``image(p)`` reads the image (differentiably),
    ``after_step(p)`` repairs them in place after an optimiser step."""

    def variables(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def image(self, p: torch.Tensor) -> torch.Tensor:
        return p

    def after_step(self, p: torch.Tensor) -> None:
        """Nothing to repair by default."""


class SigmoidImage(ImageParameterization):
    """x = sigmoid(p): every value of p is an image in (0, 1), so the problem is unconstrained and a line search and
    L-BFGS's curvature pairs stay exact. Starts from logit(clamp(x, margin, 1 - margin)), since pure black or white
    has no finite logit."""

    def __init__(self, margin: float = 1e-3):
        self.margin = margin

    def variables(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logit(x.clamp(self.margin, 1 - self.margin))

    def image(self, p: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(p)


class ClampedPixels(ImageParameterization):
    """The pixels themselves, clamped to [0, 1] after each step (for Adam and other first-order steps)."""

    def variables(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @torch.no_grad()
    def after_step(self, p: torch.Tensor) -> None:
        p.clamp_(0, 1)
