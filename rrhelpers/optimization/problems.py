"""One entry point for input-space problems on a model: :func:`solve`.

It freezes the model (eval mode, no weight gradients, BatchNorms folded: :mod:`rrhelpers.networks.fusion`), moves the
start to the model's device, turns a radius into a constraint, applies the default step rule and runs the one solver,
:func:`rrhelpers.optimization.solver.optimize`. Attacks, the paper's representation problems, synthesis and layer
robustness all pose their problems through it.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

import torch
from torch import nn

from ..networks.models import frozen
from .objectives import Objective
from .solver import Constraint, L2Ball, SolverResult, Unconstrained, optimize


def default_step_size(eps: float, steps: int) -> float:
    """The usual PGD step: 2.5 * eps / steps (Madry et al.), so the iterate can cross the ball and come back."""
    return 2.5 * eps / max(steps, 1)


def as_constraint(constraint: Union[float, Constraint, None]) -> Constraint:
    """A radius is an L2 ball (None or inf: unconstrained, the paper's 'eps = 1000'); a Constraint is kept."""
    if isinstance(constraint, Constraint):
        return constraint
    if constraint is None or math.isinf(constraint):
        return Unconstrained()
    return L2Ball(float(constraint))


def solve(model: nn.Module, objective: Objective, x0: torch.Tensor, *, constraint: Union[float, Constraint, None],
          steps: int, maximize: bool, step_size: Optional[float] = None, fold_batchnorm: bool = True,
          desc: str = "solver", **options: Any) -> SolverResult:
    """Maximise (or minimise) ``objective`` over inputs near ``x0`` with ``model`` frozen.

    ``constraint``: a radius (an L2 ball; None or inf for none) or a :class:`~rrhelpers.optimization.solver.Constraint`.
    ``step_size`` defaults to 2.5 * eps / steps (:func:`default_step_size`); an unconstrained problem has no
    radius to scale it by and must give one. ``fold_batchnorm=False`` for objectives that read layers through hooks
    (folding replaces the convolutions and BatchNorms they hook). Other keyword arguments go to
    :func:`~rrhelpers.optimization.solver.optimize` (``step_schedule``, ``random_start``, ``track_best``, ``callback``,
    ``progress``, ``generator``, ...).
    """
    constraint = as_constraint(constraint)
    if step_size is None:
        if math.isinf(constraint.eps):
            raise ValueError("an unconstrained problem has no radius to derive a step size from; pass step_size")
        step_size = default_step_size(constraint.eps, steps)
    x0 = x0.to(next(model.parameters(), x0).device)  # a model without parameters takes x0 where it is
    with frozen(model, fold_batchnorm=fold_batchnorm):
        return optimize(objective, x0, constraint, steps, step_size, maximize=maximize, desc=desc, **options)
