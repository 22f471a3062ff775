"""Clean and adversarial accuracy of a model on a dataset."""

from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .attacks import pgd_attack
from .data import iterate_batches
from .models import RobustModel, eval_mode


def accuracy(
    model: RobustModel,
    dataset: Dataset,
    eps: float = 0.0,
    norm: str = "l2",
    steps: int = 20,
    step_size: Optional[float] = None,
    batch_size: int = 256,
    limit: Optional[int] = None,
    progress: bool = False,
    seed: int = 0,
) -> float:
    """Fraction of the first ``limit`` examples (all if None) classified correctly after a PGD-``steps`` attack at
    ``eps`` (no attack when eps is 0)."""
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    correct = seen = 0
    total = len(dataset) if limit is None else min(limit, len(dataset))
    bar = tqdm(total=total, desc=f"accuracy eps={eps:g}", disable=not progress, leave=False)
    with eval_mode(model):
        for x, y in iterate_batches(dataset, batch_size):
            x, y = x[: total - seen].to(device), y[: total - seen].to(device)
            if eps > 0:
                x = pgd_attack(model, x, y, eps, steps, step_size, norm, generator=generator)
            with torch.no_grad():
                correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
            bar.update(len(y))
            if seen >= total:
                break
    bar.close()
    return correct / max(seen, 1)


def evaluate(
    model: RobustModel,
    dataset: Dataset,
    eps_values: Iterable[float],
    norm: str = "l2",
    steps: int = 20,
    limit: Optional[int] = None,
    progress: bool = False,
) -> dict[float, float]:
    """Accuracy at each eps in ``eps_values`` (0 = clean), PGD-``steps`` with step 2.5 * eps / steps."""
    return {
        float(eps): accuracy(model, dataset, eps, norm, steps, limit=limit, progress=progress) for eps in eps_values
    }


def knn_predict(reference: torch.Tensor, reference_labels: torch.Tensor, queries: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Majority label of the ``k`` nearest reference images in pixel space (L2): a model-free judge of what an
    image depicts, used to score inversions and visualisations by their content rather than by the model itself."""
    dist = torch.cdist(queries.flatten(1).float(), reference.flatten(1).float())
    nearest = reference_labels[dist.topk(k, largest=False).indices]
    return torch.mode(nearest, dim=1).values
