"""The second optimiser over images, beside the projected-gradient solver: L-BFGS or Adam on a smooth objective.

Projected normalised gradient steps (:func:`rrhelpers.optimization.solver.optimize`) suit the paper's problems: a
radius, a step rule, best-iterate tracking. Style transfer (chapter 8) is a smooth, unconstrained sum of losses that
quasi-Newton steps minimise in a few dozen iterations (Gatys et al.). :func:`minimize_smooth` serves it with the same
objectives (:mod:`rrhelpers.optimization.objectives`): the terms are summed, read from one
:class:`~rrhelpers.optimization.activations.Activations` per evaluation, and each term's batch mean is recorded.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal, Mapping, Optional

import torch
from tqdm.auto import tqdm

from .activations import Activations
from .objectives import Objective
from .parameterizations import ClampedPixels, SigmoidImage

__all__ = ["minimize_smooth"]

def minimize_smooth(terms: Mapping[str, Objective], x0: torch.Tensor, *, steps: int,
                    optimizer: Literal["lbfgs", "adam"] = "lbfgs", lr: Optional[float] = None,
                    progress: bool = False, desc: str = "minimise") -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Minimise the sum of the per-example ``terms`` over images from ``x0`` (B, C, H, W) in [0, 1].

    L-BFGS (strong-Wolfe line search, at most ``steps`` iterations and ``2 * steps`` evaluations, default ``lr`` 1)
    works on the images' logits (:class:`~rrhelpers.optimization.parameterizations.SigmoidImage`): unconstrained, so the
    line search and the curvature pairs stay exact. Adam (default ``lr`` 0.02) takes ``steps`` steps on the pixels,
    clamped to [0, 1] after each (:class:`~rrhelpers.optimization.parameterizations.ClampedPixels`). Returns the images
    and the history: per evaluation (L-BFGS's line search evaluates more than once per iteration), 'total' and each
    term's batch mean. Networks' ``.grad`` are untouched.
    """
    if not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an int >= 0; got {steps!r}")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"optimizer must be 'lbfgs' or 'adam'; got {optimizer!r}")
    if not terms:
        raise ValueError("minimize_smooth needs at least one term")
    if "total" in terms:
        raise ValueError("'total' names the sum in the history; give the term another name")
    steps = int(steps)
    lr = (1.0 if optimizer == "lbfgs" else 0.02) if lr is None else float(lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be > 0; got {lr}")
    lbfgs = optimizer == "lbfgs"
    parameterization = SigmoidImage() if lbfgs else ClampedPixels()
    param = parameterization.variables(x0).detach().requires_grad_(True)
    opt: torch.optim.Optimizer
    if lbfgs:
        opt = torch.optim.LBFGS([param], lr=lr, max_iter=steps, max_eval=2 * steps, history_size=50,
                                line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([param], lr=lr)
    reads = [pair for term in terms.values() for pair in term.reads()]
    history: dict[str, list[float]] = {"total": [], **{name: [] for name in terms}}
    bar = tqdm(total=steps, desc=f"{desc} ({optimizer})", disable=not progress, leave=False)

    def closure() -> torch.Tensor:
        with torch.enable_grad():
            activations = Activations(parameterization.image(param), reads)
            values = {name: term.value(activations) for name, term in terms.items()}
            total = sum(values.values()).sum()
            param.grad = torch.autograd.grad(total, param)[0]  # not .backward(): keep the networks' .grad untouched
        history["total"].append(float(total.detach()) / len(param))
        for name, value in values.items():
            history[name].append(float(value.detach().mean()))
        if lbfgs and steps:
            bar.n = min(steps, opt.state[param].get("n_iter", 0))
            bar.set_postfix(loss=f"{history['total'][-1]:.4g}", refresh=True)
        return total.detach()

    if lbfgs:
        if steps:
            opt.step(closure)  # runs up to `steps` iterations; stops early once converged
    else:
        for _ in range(steps):
            opt.step(closure)
            parameterization.after_step(param)
            bar.update()
    bar.close()
    return parameterization.image(param.detach()), history
