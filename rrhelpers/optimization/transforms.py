"""Random transformations of image batches, differentiable, for objectives that ask for robustness to them.

Kept apart from the objectives, as lucent keeps its ``transform`` module:
:class:`~rrhelpers.optimization.objectives.RandomlyTransformed` evaluates any objective on :func:`random_affine` copies
(the jitter of regularised feature visualisation).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["random_affine"]


def random_affine(x: torch.Tensor, *, shift: float = 2.0, scale: tuple[float, float] = (0.9, 1.1),
                  degrees: float = 10.0, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W) shifted by up to ``shift`` pixels, scaled by a factor in ``scale`` and
    rotated by up to ``degrees``, one uniform draw per image; edges reflected, values clamped to [0, 1]."""
    b, _, h, w = x.shape
    # on the generator's device: a CPU one gives the same draws on every device, one on x's saves a copy per call
    device = x.device if generator is None else generator.device
    u = torch.rand(b, 4, generator=generator, device=device).to(x)
    angle = (2 * u[:, 0] - 1) * math.radians(degrees)
    s = scale[0] + (scale[1] - scale[0]) * u[:, 1]
    tx, ty = (2 * u[:, 2] - 1) * 2 * shift / w, (2 * u[:, 3] - 1) * 2 * shift / h
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False).clamp(0, 1)
