"""One batched projected-gradient solver for every input-space problem in the book.

Attacks, inversion, feature visualisation, feature addition, interpolation and sensitivity differ only in the
per-example objective handed to :func:`optimize` and in the constraint set (an L2 ball, an Linf ball, or none).
Each step moves along the normalised gradient (L2-normalised for L2 balls and the unconstrained set, the sign for
Linf balls), projects back into the ball around the start ``x0`` and clamps to the image range [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from tqdm.auto import tqdm

from ..validation import check_images

Objective = Callable[[torch.Tensor], torch.Tensor]
"""A callable mapping a batch (B, C, H, W) to per-example values (B,)."""

_TINY = 1e-12


def _per_example_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each example, shaped (B, 1, 1, 1) for broadcasting."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def memory_format_of(t: torch.Tensor) -> torch.memory_format:
    """channels_last for a batch stored that way, else the default layout (what gradients are given back in)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _draw(sample: Callable[..., torch.Tensor], shape: tuple[int, ...], like: torch.Tensor,
          generator: Optional[torch.Generator]) -> torch.Tensor:
    """``sample(shape)`` (``torch.rand`` or ``torch.randn``) on ``generator``'s device, moved to ``like``'s device
    and dtype: torch draws only on a generator's own device, and a CPU generator gives the same start on any device."""
    device = like.device if generator is None else generator.device
    return sample(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def _l2_step(x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
    return x + step_size * grad / (_per_example_norm(grad) + _TINY)


class Constraint:
    """A feasible set around the start point ``x0``: how to step, project and draw a random start."""

    eps: float = math.inf

    def step(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        """Move ``x`` by ``step_size`` along the (normalised) ascent direction ``grad``."""
        raise NotImplementedError

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Nearest point of the set around ``x0`` (before clamping to [0, 1])."""
        raise NotImplementedError

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class L2Ball(Constraint):
    """{x : ||x - x0||_2 <= eps}; steps have L2 norm ``step_size``."""

    eps: float

    def __post_init__(self) -> None:
        if not self.eps >= 0:
            raise ValueError(f"L2Ball needs eps >= 0; got {self.eps}")

    def step(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        return _l2_step(x, grad, step_size)

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        delta = x - x0
        scale = (self.eps / (_per_example_norm(delta) + _TINY)).clamp(max=1.0)
        return x0 + delta * scale

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Uniform in the ball: a Gaussian direction and a radius eps * U^(1/d)."""
        direction = _draw(torch.randn, x0.shape, x0, generator)
        direction = direction / (_per_example_norm(direction) + _TINY)
        d = x0[0].numel()
        u = _draw(torch.rand, (x0.shape[0],) + (1,) * (x0.dim() - 1), x0, generator)
        return x0 + direction * self.eps * u.pow(1.0 / d)


@dataclass(frozen=True)
class LinfBall(Constraint):
    """{x : ||x - x0||_inf <= eps}; steps are ``step_size * sign(grad)``."""

    eps: float

    def __post_init__(self) -> None:
        if not self.eps >= 0:
            raise ValueError(f"LinfBall needs eps >= 0; got {self.eps}")

    def step(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        return x + step_size * grad.sign()

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return torch.max(torch.min(x, x0 + self.eps), x0 - self.eps)

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Uniform in the cube."""
        u = _draw(torch.rand, x0.shape, x0, generator)
        return x0 + (2 * u - 1) * self.eps


@dataclass(frozen=True)
class Unconstrained(Constraint):
    """Only the image range [0, 1]; L2-normalised steps (the paper's 'eps = 1000')."""

    eps: float = math.inf

    def step(self, x: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
        return _l2_step(x, grad, step_size)

    def project(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        return x

    def random_start(self, x0: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        raise ValueError("an unconstrained problem has no ball to draw a random start from; pass a noisy x0 instead")


def make_constraint(norm: str, eps: float) -> Constraint:
    """'l2' | 'linf' | 'none' and a radius -> a Constraint."""
    norm = norm.lower()
    if norm in ("l2", "2"):
        return L2Ball(eps)
    if norm in ("linf", "inf"):
        return LinfBall(eps)
    if norm in ("none", "unconstrained"):
        return Unconstrained()
    raise ValueError(f"unknown norm {norm!r}; use 'l2', 'linf' or 'none'")


STEP_SCHEDULES = ("constant", "cosine", "linear")


def step_size_at(step_size: float, step: int, steps: int, schedule: str = "constant") -> float:
    """The step size of step ``step`` of ``steps``: constant, or decayed to zero over the run ('cosine', 'linear').

    A fixed normalised step cannot settle closer than about one step to a minimiser of an unconstrained problem;
    a decaying one converges (inversion, visualisation, interpolation).
    """
    if schedule == "constant" or steps <= 1:
        return step_size
    progress = step / steps
    if schedule == "cosine":
        return step_size * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "linear":
        return step_size * (1 - progress)
    raise ValueError(f"step_schedule must be one of {STEP_SCHEDULES}; got {schedule!r}")


@dataclass
class SolverResult:
    """``x``: the returned iterate per example (best, or last if best tracking was off); ``value``: its objective
    (None if the last iterate was not evaluated); ``start_value``: the objective at the first iterate; ``history``:
    mean objective per evaluated iterate (for curves)."""

    x: torch.Tensor
    value: Optional[torch.Tensor]
    start_value: torch.Tensor
    history: list[float]


class Snapshots:
    """A solver callback that keeps the iterates it is called with, on the CPU, and their step numbers: pass it as
    ``callback`` (with ``callback_every=k``) to watch a solution form, as the paper's Appendix B.4.2 shows eq. 7's."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.iterates: list[torch.Tensor] = []

    def __call__(self, step: int, x: torch.Tensor, value: torch.Tensor) -> None:
        self.steps.append(step)
        self.iterates.append(x.detach().cpu())

    def of(self, j: int) -> torch.Tensor:
        """Example ``j``'s recorded iterates, (snapshots, C, H, W)."""
        if not self.iterates:
            raise ValueError("no iterates recorded: pass this object to the solver as callback=...")
        return torch.stack([x[j] for x in self.iterates])


def optimize(
    objective: Objective,
    x0: torch.Tensor,
    constraint: Constraint,
    steps: int,
    step_size: float,
    maximize: bool = True,
    step_schedule: str = "constant",
    random_start: bool = False,
    track_best: bool = True,
    evaluate_last: bool = True,
    callback: Optional[Callable[[int, torch.Tensor, torch.Tensor], None]] = None,
    callback_every: int = 1,
    progress: bool = False,
    desc: str = "solver",
    generator: Optional[torch.Generator] = None,
) -> SolverResult:
    """Projected (normalised) gradient ascent (``maximize=True``) or descent on a per-example objective.

    The first iterate is ``x0`` (or a uniform random point of the ball around it when ``random_start``), clamped to
    [0, 1]; every later iterate is projected into the ball around ``x0`` and clamped. With ``track_best`` the
    returned ``x`` is, per example, the iterate with the best objective among all ``steps + 1`` evaluated ones
    (never worse than the first iterate); otherwise the last iterate. ``evaluate_last=False`` (only without
    ``track_best``) returns the last iterate without evaluating the objective there, one forward pass fewer, as
    attacks that return their last iterate do; ``value`` is then None. ``step_schedule`` decays the step size over
    the run (:func:`step_size_at`). ``callback(step, x, value)`` is called on
    evaluated iterates 0, k, 2k, ... and on the last evaluated one, with ``k = callback_every``.
    """
    check_images(x0, name="x0")
    if steps < 0 or not step_size >= 0:
        raise ValueError(f"steps must be >= 0 and step_size >= 0; got steps={steps}, step_size={step_size}")
    if track_best and not evaluate_last:
        raise ValueError("track_best needs the last iterate evaluated; pass evaluate_last=True or track_best=False")
    if step_schedule not in STEP_SCHEDULES:
        raise ValueError(f"step_schedule must be one of {STEP_SCHEDULES}; got {step_schedule!r}")
    x0 = x0.detach()
    layout = memory_format_of(x0)  # a model may hand back gradients in another layout (e.g. folded, channels-last)
    sign = 1.0 if maximize else -1.0
    x = constraint.random_start(x0, generator) if random_start else x0.clone()
    x = x.clamp(0, 1)
    best_x, best_score = x.clone(), None
    start_value = None
    history: list[torch.Tensor] = []
    bar = tqdm(total=steps, desc=desc, disable=not progress, leave=False)
    last = steps if evaluate_last or steps == 0 else steps - 1  # the last iterate whose objective is computed
    for step in range(last + 1):
        x.requires_grad_(True)
        with torch.enable_grad():
            value = objective(x)
            if value.dim() != 1 or value.shape[0] != x.shape[0]:
                raise ValueError(f"objective must return one value per example, shape ({x.shape[0]},); got {tuple(value.shape)}")
            grad = None
            if step < steps:
                grad = torch.autograd.grad(value.sum(), x)[0].contiguous(memory_format=layout)
        x = x.detach()
        value = value.detach()
        if start_value is None:
            start_value = value.clone()
        score = sign * value
        if best_score is None:
            best_score = score.clone()
        elif track_best:
            better = score > best_score
            best_score = torch.where(better, score, best_score)
            best_x = torch.where(better.view(-1, *([1] * (x.dim() - 1))), x, best_x)
        history.append(value.mean())
        if callback is not None and (step % callback_every == 0 or step == last):
            callback(step, x, value)
        if grad is None:
            break
        x = constraint.step(x, sign * grad, step_size_at(step_size, step, steps, step_schedule))
        x = constraint.project(x, x0).clamp(0, 1)
        bar.update(1)
        if progress and step % 20 == 0:  # reading the value synchronises a GPU, so only now and then
            bar.set_postfix(value=f"{float(history[-1]):.4g}", refresh=False)
    bar.close()
    curve = torch.stack(history).tolist()
    if not track_best:
        return SolverResult(x, value if last == steps else None, start_value, curve)
    return SolverResult(best_x, sign * best_score, start_value, curve)
