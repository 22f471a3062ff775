"""Image synthesis with a single robust classifier (Santurkar et al., 2019), as objectives for the one solver.

- Generation: seeds drawn from a class-conditional Gaussian fitted to downsampled training images, then the
  class's cross-entropy is minimised (targeted, L2 ball around the seed).
- Inpainting: the class's cross-entropy plus a penalty for changing the known pixels, L2 ball around the
  corrupted image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..networks.models import RobustModel
from .objectives import CrossEntropy, PixelDistance
from .problems import solve
from .solver import SolverResult


class ClassConditionalGaussian:
    """One multivariate Gaussian per class over training images downsampled to ``size`` x ``size``.

    Samples are upsampled (bilinear) to the training resolution and clamped to [0, 1]: coarse, class-typical
    layouts and colours with no detail, which the classifier then has to supply. ``shrinkage`` adds that multiple
    of the mean variance to the diagonal so that covariances estimated from few images stay positive definite.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, size: int = 7, shrinkage: float = 0.01):
        if images.dim() != 4 or len(images) != len(labels):
            raise ValueError(f"need images (N, C, H, W) with one label each; got {tuple(images.shape)} and "
                             f"{len(labels)} labels")
        self.shape, self.size = tuple(images.shape[1:]), size
        small = F.interpolate(images.float(), size=(size, size), mode="area").flatten(1).double()
        self.classes = sorted(int(c) for c in labels.unique())
        means, factors = [], []
        for c in self.classes:
            x = small[labels == c]
            if len(x) < 2:
                raise ValueError(f"class {c} has {len(x)} training image(s); a Gaussian needs at least 2")
            cov = torch.cov(x.T)
            cov += shrinkage * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype, device=cov.device)
            means.append(x.mean(0))
            factors.append(torch.linalg.cholesky(cov))
        self.means, self.factors = torch.stack(means), torch.stack(factors)

    def sample(self, classes: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """One seed image per entry of ``classes`` (class indices), at the training resolution, in [0, 1]."""
        classes = torch.as_tensor(classes, dtype=torch.long)
        unknown = sorted(set(classes.tolist()) - set(self.classes))
        if unknown:
            raise ValueError(f"no Gaussian was fitted for class(es) {unknown}; fitted: {self.classes}")
        rows = torch.tensor([self.classes.index(int(c)) for c in classes])
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(len(classes), self.means.shape[1], generator=g, dtype=torch.float64)
        z = z.to(self.means.device)
        flat = self.means[rows] + (self.factors[rows] @ z[:, :, None])[:, :, 0]
        small = flat.float().view(len(classes), self.shape[0], self.size, self.size)
        return F.interpolate(small, size=self.shape[1:], mode="bilinear", align_corners=False).clamp(0, 1)


def generate(model: RobustModel, classes: torch.Tensor, seeds: torch.Tensor, eps: float, steps: int = 60,
             step_size: float = 1.0, **kwargs) -> SolverResult:
    """Minimise the cross-entropy of ``classes`` within an L2 ball of radius ``eps`` around ``seeds``
    (Santurkar et al.: eps 40, 60 steps of 1 on 224 px ImageNet images)."""
    return solve(model, CrossEntropy(model, classes.to(model.device)), seeds, constraint=eps, steps=steps,
                 step_size=step_size, maximize=False, **{"desc": "generation", **kwargs})


def generate_from_gaussian(models: dict[str, RobustModel], gaussian: ClassConditionalGaussian, classes: torch.Tensor,
                           *, seed: int, eps: float, steps: int = 60,
                           step_size: float = 1.0) -> dict[str, torch.Tensor]:
    """Seeds for ``classes`` drawn from ``gaussian``, and what each model makes of the same seeds with
    :func:`generate` (on the CPU): ``{"seed": ..., name: ...}``, the chapter's comparison of priors."""
    seeds = gaussian.sample(classes, seed=seed)
    made = {name: generate(model, classes, seeds, eps, steps, step_size, progress=False).x.cpu()
            for name, model in models.items()}
    return {"seed": seeds, **made}


def inpaint(model: RobustModel, corrupted: torch.Tensor, known: torch.Tensor, classes: torch.Tensor, eps: float,
            steps: int = 60, step_size: float = 1.0, known_weight: float = 10.0, **kwargs) -> SolverResult:
    """Fill in the pixels where ``known`` is 0: minimise the cross-entropy of ``classes`` plus ``known_weight``
    times the squared change of the known pixels, within an L2 ball of radius ``eps`` around ``corrupted``."""
    if known.shape[-2:] != corrupted.shape[-2:]:
        raise ValueError(f"mask {tuple(known.shape)} does not match the images {tuple(corrupted.shape)}")
    objective = CrossEntropy(model, classes.to(model.device)) + known_weight * PixelDistance(corrupted, known)
    return solve(model, objective, corrupted, constraint=eps, steps=steps, step_size=step_size,
                 maximize=False, **{"desc": "inpainting", **kwargs})


def square_masks(images: torch.Tensor, size: int, seed: int = 0, centre: bool = False) -> torch.Tensor:
    """Masks (B, 1, H, W) that are 0 on one ``size`` x ``size`` square per image (the missing region) and 1
    elsewhere; the square is centred if ``centre``, else placed uniformly at random (seeded)."""
    b, _, h, w = images.shape
    if not 0 < size <= min(h, w):
        raise ValueError(f"square size must be in 1..{min(h, w)}; got {size}")
    masks = torch.ones(b, 1, h, w)
    g = torch.Generator().manual_seed(seed)
    for i in range(b):
        if centre:
            top, left = (h - size) // 2, (w - size) // 2
        else:
            top = int(torch.randint(0, h - size + 1, (1,), generator=g))
            left = int(torch.randint(0, w - size + 1, (1,), generator=g))
        masks[i, :, top : top + size, left : left + size] = 0
    return masks
