"""Adversarial examples: the solver maximising cross-entropy inside a norm ball."""

from __future__ import annotations

from typing import Optional

import torch

from ..networks.models import RobustModel
from .objectives import CrossEntropy, Margin
from .problems import solve
from .solver import make_constraint


def pgd_attack(
    model: RobustModel,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int = 20,
    step_size: Optional[float] = None,
    norm: str = "l2",
    random_start: bool = True,
    targeted: bool = False,
    use_best: bool = True,
    progress: bool = False,
    generator: Optional[torch.Generator] = None,
    *,
    loss: str = "ce",
    step_schedule: str = "constant",
) -> torch.Tensor:
    """PGD adversarial examples within ``eps`` of ``x`` (untargeted: raise the loss of ``labels``; targeted: lower
    the loss of the target ``labels``). Runs with the model in eval mode and returns the best iterate per example, or
    with ``use_best=False`` the last one (as torchattacks does), which saves the forward pass that evaluates it.
    ``loss='margin'`` maximises the logit margin instead of the cross-entropy (untargeted only). The examples are
    on the model's device (``x`` is moved there)."""
    if loss not in ("ce", "margin") or (loss == "margin" and targeted):
        raise ValueError(f"loss must be 'ce' or, untargeted, 'margin'; got {loss!r} (targeted={targeted})")
    objective = (Margin if loss == "margin" else CrossEntropy)(model, labels)
    return solve(model, objective, x, constraint=make_constraint(norm, eps), steps=steps, step_size=step_size,
                 maximize=not targeted, step_schedule=step_schedule, random_start=random_start, track_best=use_best,
                 evaluate_last=use_best, progress=progress, desc=f"PGD-{steps} {norm} eps={eps:g}",
                 generator=generator).x
