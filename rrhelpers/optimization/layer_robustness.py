"""Layer robustness R(f) from the Distill response on robust style transfer (chapter 8).

    R(f) = E_x1[ max_{||x' - x1||_2 <= eps} ||f(x') - f(x1)||_2 ] / E_{x1, x2}[ ||f(x1) - f(x2)||_2 ]

where f is a named intermediate layer (its activation flattened): how far an eps-ball can move the layer's output,
relative to how far apart the layer puts two different images. The inner maximisation is the package's one solver
(:func:`rrhelpers.optimization.problems.solve`, L2 ball, random start) on a :class:`LayerDistance` objective, so the
numerator is a lower bound of the true maximum (as for any PGD attack).
"""

from __future__ import annotations

import math
import numbers
import zlib
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .activations import Activations, LayerFeatures, stage_name
from ..networks.models import frozen
from .objectives import Objective
from .problems import default_step_size, solve
from ..validation import InputError, check_images

__all__ = ["LayerDistance", "LayerRobustness", "layer_robustness", "rf_difference", "rf_table"]


class LayerDistance(Objective):
    """||f(x) - target||_2 per example, f the flattened activation of layer ``layer`` of ``module``."""

    def __init__(self, module: nn.Module, layer: str, target: torch.Tensor):
        self.module, self.layer, self.target = module, layer, target.detach().flatten(1)

    def reads(self) -> list[tuple[nn.Module, str]]:
        return [(self.module, self.layer)]

    def value(self, activations: Activations) -> torch.Tensor:
        act = activations.layer(self.module, self.layer).flatten(1)
        return (act - self.target.to(act.device)).norm(dim=1)


@dataclass
class LayerRobustness:
    """R(f) for one layer: ``ratio`` = ``numerator`` / ``denominator``, with a ``confidence`` interval ``ci``.

    ``numerator_values`` (n_images,): per-image worst change found in the eps-ball; ``denominator_values``
    (n_pairs,): ||f(x1) - f(x2)|| for the image index pairs ``pairs`` (n_pairs, 2).
    """

    layer: str
    ratio: float
    numerator: float
    denominator: float
    n_images: int
    n_pairs: int
    ci: tuple[float, float]
    confidence: float
    eps: float
    numerator_values: torch.Tensor
    denominator_values: torch.Tensor
    pairs: torch.Tensor


def _bootstrap_ratios(
    num: dict[str, torch.Tensor],
    den: dict[str, torch.Tensor],
    pairs: torch.Tensor,
    n_images: int,
    n_boot: int,
    generator: torch.Generator,
) -> dict[str, torch.Tensor]:
    """Bootstrap replicates of numerator mean / denominator mean for every key, all keys on the same resampled
    images (so replicates of two keys can be compared pairwise); NaN where a replicate holds none of the pairs.
    Images are resampled with replacement; a pair's weight is the product of its two images' multiplicities."""
    ratios: dict[str, list[torch.Tensor]] = {key: [] for key in num}
    for start in range(0, n_boot, 100):  # blocks of replicates keep the (replicates, pairs) weights small
        block = min(100, n_boot - start)
        idx = torch.randint(n_images, (block, n_images), generator=generator)
        counts = torch.zeros(block, n_images, dtype=torch.float64)
        counts.scatter_add_(1, idx, torch.ones(block, n_images, dtype=torch.float64))
        pair_w = counts[:, pairs[:, 0]] * counts[:, pairs[:, 1]]  # (block, n_pairs)
        pair_total = pair_w.sum(dim=1)
        for key in num:
            n_b = counts @ num[key].double() / n_images
            d_b = (pair_w @ den[key].double()) / pair_total.clamp_min(1e-300)
            valid = (pair_total > 0) & (d_b > 0)  # few pairs: a replicate may contain none of them
            ratios[key].append((n_b / d_b).masked_fill(~valid, math.nan))
    return {key: torch.cat(chunks) for key, chunks in ratios.items()}


def _percentile_interval(replicates: torch.Tensor, confidence: float) -> tuple[float, float]:
    r = replicates[~torch.isnan(replicates)]
    if len(r) == 0:
        return (math.nan, math.nan)
    q = torch.quantile(r, torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2], dtype=torch.float64))
    return (float(q[0]), float(q[1]))


def rf_difference(lower: LayerRobustness, higher: LayerRobustness, *, n_boot: int = 1000, confidence: float = 0.95,
                  seed: int = 0) -> tuple[float, tuple[float, float]]:
    """``higher.ratio - lower.ratio`` with a paired percentile bootstrap interval: both R(f) measured on the same
    images and pairs (two models, same ``images`` and ``seed``), each replicate resamples those images once for
    both, so the interval is that of the difference, far narrower than two separate intervals side by side."""
    if lower.n_images != higher.n_images or not torch.equal(lower.pairs, higher.pairs):
        raise ValueError("rf_difference compares R(f) measured on the same images and pairs: call layer_robustness "
                         "with the same images and seed for both models")
    replicates = _bootstrap_ratios(
        {"lower": lower.numerator_values, "higher": higher.numerator_values},
        {"lower": lower.denominator_values, "higher": higher.denominator_values},
        lower.pairs, lower.n_images, n_boot, torch.Generator().manual_seed(seed))
    return higher.ratio - lower.ratio, _percentile_interval(replicates["higher"] - replicates["lower"], confidence)


def rf_table(rf: Mapping[str, Mapping[str, LayerRobustness]]) -> str:
    """``rf[network][layer]`` as printable columns: a row per layer, each network's R(f) with its interval."""
    networks, layers = list(rf), list(next(iter(rf.values())))
    confidence = rf[networks[0]][layers[0]].confidence

    def row(first: str, cells: list[str]) -> str:
        return " ".join([f"{first:10s}", *(f"{cell:26s}" for cell in cells[:-1]), cells[-1]])

    lines = [row("layer", [f"{network} R(f) [{confidence:.0%} CI]" for network in networks])]
    for layer in layers:
        results = [rf[network][layer] for network in networks]
        lines.append(row(stage_name(layer), [f"{r.ratio:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}]" for r in results]))
    return "\n".join(lines)


def layer_robustness(
    model: nn.Module,
    images: torch.Tensor,
    layers: Union[str, Sequence[str]],
    eps: float,
    steps: int,
    step_size: Optional[float] = None,
    pairs: Optional[int] = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = False,
    n_boot: int = 1000,
    confidence: float = 0.95,
) -> dict[str, LayerRobustness]:
    """R(f) for each named layer of ``model`` (names as in ``named_modules()``) on ``images`` (N >= 2, in [0, 1]).

    Numerator: for every image x1, ``steps`` of L2 projected gradient ascent on ||f(x') - f(x1)|| from a uniform
    random start in the eps-ball (the gradient at x' = x1 is undefined), best iterate kept; step size
    ``2.5 * eps / steps`` by default. Iterates are clamped to [0, 1] like every solver problem. Denominator:
    ``pairs`` (default 10 N; forward passes only, so cheap) random index pairs (i, j), i != j, drawn
    uniformly. Clean and pair activations of all layers come from one forward per batch; each layer has its own
    inner maximisation (its maximiser differs), so the cost is about len(layers) * steps forward-backward passes.
    ``2.5 * eps / steps`` is the usual PGD step; the maximum of a near-linear layer is found faster and more
    exactly with a step near ``eps`` (a power iteration), so pass ``step_size=eps`` when accuracy matters.

    The ``confidence`` interval is a percentile bootstrap over *images* (``n_boot`` replicates): numerator and
    denominator share the images, so each replicate resamples images with replacement, averages the numerator
    with their multiplicities and weighs each pair by the product of its two images' multiplicities (the
    bootstrap of a mean and a U-statistic on the same sample). This keeps their dependence, which the delta
    method with independent terms would ignore, and makes no normality assumption about a ratio. It slightly
    overstates the pair-to-pair noise (a pair's weight varies more than a resampled pair's), so it errs wide when
    ``pairs`` is small; with many pairs the image-level term dominates and that bias vanishes. It covers the
    sampling of images and pairs, not the optimisation gap of the inner maximisation. All randomness (pairs,
    random starts, bootstrap) derives from ``seed``, so results are reproducible for a given seed, batch size
    and device.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}")
    check_images(images, name="images")
    n = images.shape[0]
    if n < 2:
        raise InputError(f"layer_robustness needs at least 2 images (the denominator uses pairs); got {n}")
    channels = getattr(model, "in_channels", None)
    if isinstance(channels, int) and images.shape[1] != channels:
        raise InputError(f"images have {images.shape[1]} channel(s) but the model takes {channels}")
    layer_list = [layers] if isinstance(layers, str) else list(dict.fromkeys(layers))
    if not layer_list:
        raise ValueError("layers must name at least one layer")
    if not (isinstance(eps, numbers.Real) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0; got {eps!r}")
    if not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an int >= 1; got {steps!r}")
    step_size = default_step_size(eps, steps) if step_size is None else float(step_size)
    if not (math.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be > 0; got {step_size}")
    n_pairs = 10 * n if pairs is None else pairs
    if not isinstance(n_pairs, numbers.Integral) or n_pairs < 1:
        raise ValueError(f"pairs must be an int >= 1 or None; got {pairs!r}")
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1; got {batch_size!r}")
    if not isinstance(n_boot, numbers.Integral) or n_boot < 1:
        raise ValueError(f"n_boot must be an int >= 1; got {n_boot!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    eps, steps, n_pairs, batch_size, n_boot = float(eps), int(steps), int(n_pairs), int(batch_size), int(n_boot)

    try:
        device = next(model.parameters()).device
    except StopIteration:
        device = images.device
    cpu = torch.Generator().manual_seed(seed)
    first = torch.randint(n, (n_pairs,), generator=cpu)
    second = (first + torch.randint(1, n, (n_pairs,), generator=cpu)) % n  # uniform over j != i
    pair_idx = torch.stack([first, second], dim=1)
    boot_gen = torch.Generator().manual_seed(seed + 1)
    # one random-start stream per layer, seeded by its name, so a layer's result does not depend on the others
    starts = {
        layer: torch.Generator(device=device).manual_seed(seed * 1_000_003 + zlib.crc32(layer.encode()))
        for layer in layer_list
    }

    num: dict[str, list[torch.Tensor]] = {layer: [] for layer in layer_list}
    den: dict[str, list[torch.Tensor]] = {layer: [] for layer in layer_list}
    with frozen(model), LayerFeatures(model, layer_list) as feats:
        for lo in range(0, n, batch_size):
            x1 = images[lo : lo + batch_size].to(device)
            with torch.no_grad():
                clean = feats(x1)
            for layer in layer_list:
                result = solve(  # unfolded: the hooks read the model's own layers
                    model, LayerDistance(model, layer, clean[layer]), x1, constraint=eps, steps=steps,
                    step_size=step_size, maximize=True, fold_batchnorm=False, random_start=True, track_best=True,
                    generator=starts[layer], progress=progress, desc=f"R({layer}) images {lo}-{lo + len(x1)}",
                )
                num[layer].append(result.value.detach().cpu())
        half = max(1, batch_size // 2)
        with torch.no_grad():
            for lo in range(0, n_pairs, half):
                chunk = pair_idx[lo : lo + half]
                acts = feats(torch.cat([images[chunk[:, 0]], images[chunk[:, 1]]]).to(device))
                for layer in layer_list:
                    a, b = acts[layer].flatten(1).split(len(chunk))
                    den[layer].append((a - b).norm(dim=1).cpu())

    num_t = {layer: torch.cat(v) for layer, v in num.items()}
    den_t = {layer: torch.cat(v) for layer, v in den.items()}
    replicates = _bootstrap_ratios(num_t, den_t, pair_idx, n, n_boot, boot_gen)
    out = {}
    for layer in layer_list:
        numerator, denominator = float(num_t[layer].double().mean()), float(den_t[layer].double().mean())
        ratio = numerator / denominator if denominator > 0 else math.inf
        out[layer] = LayerRobustness(
            layer, ratio, numerator, denominator, n, n_pairs, _percentile_interval(replicates[layer], confidence),
            confidence, eps,
            num_t[layer], den_t[layer], pair_idx,
        )
    return out
