"""Gatys-style neural style transfer for any network whose intermediate activations can be named (chapter 8).

The image is optimised so that the Gram matrices of its activations at the *style layers* match those of the style image
and its activation at the *content layer* matches that of the content image (Gatys et al., 2016). Layers are named as in
``module.named_modules()`` and read with forward hooks (:class:`~rrhelpers.optimization.activations.LayerFeatures`), so
the same code serves a :class:`~rrhelpers.RobustModel` (robust or standard weights), a torchvision VGG or any other
``nn.Module``. ``content_model`` lets the content loss use another network (the Distill response's "swap the content
network" experiment).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .activations import Activations, stage_layers
from ..networks.models import RobustModel, eval_mode, frozen, seeded_cpu_rng
from .objectives import Objective
from .smooth import minimize_smooth
from ..validation import InputError, check_images

__all__ = [
    "ContentLoss",
    "StyleLoss",
    "StyleResult",
    "content_loss",
    "gram_matrix",
    "relative_style_distance",
    "style_distance",
    "style_loss",
    "style_transfer",
    "untrained_judges",
]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices (B, C, C) of activations (B, C, H, W), divided by C*H*W so they do not depend on image size."""
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects activations of shape (B, C, H, W); got {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_loss(
    features: Mapping[str, torch.Tensor],
    target_grams: Mapping[str, torch.Tensor],
    weights: Optional[Mapping[str, float]] = None,
) -> torch.Tensor:
    """Per-example style loss (B,): sum over layers of weight * mean squared difference of Gram matrices.

    ``target_grams[name]`` is (1, C, C) (one style for the batch) or (B, C, C); ``weights`` default to 1 each.
    """
    total: Optional[torch.Tensor] = None
    for name, target in target_grams.items():
        if name not in features:
            raise KeyError(f"no activation for style layer {name!r}; got {sorted(features)}")
        gram = gram_matrix(features[name])
        if target.shape[-2:] != gram.shape[-2:]:
            raise ValueError(f"layer {name!r}: Gram target {tuple(target.shape)} does not match {tuple(gram.shape)}")
        term = ((gram - target) ** 2).flatten(1).mean(dim=1) * (1.0 if weights is None else float(weights[name]))
        total = term if total is None else total + term
    if total is None:
        raise ValueError("style_loss needs at least one style layer")
    return total


def style_distance(
    model: nn.Module, images: torch.Tensor, style: torch.Tensor, layers: Optional[Sequence[str]] = None
) -> torch.Tensor:
    """Per-image (B,) Gram-matrix distance of ``images`` to ``style`` under ``model``'s ``layers`` (default: its
    residual stages, each weighted 1/L): the style loss used as a measure, e.g. with a held-out judge network."""
    device = next(model.parameters()).device
    images, style = _as_batch(images, "images").to(device), _as_batch(style, "style").to(device)
    layers = stage_layers(model) if layers is None else list(layers)
    with torch.no_grad(), eval_mode(model):
        return StyleLoss.matching(model, style, {name: 1.0 / len(layers) for name in layers})(images)


def untrained_judges(model: RobustModel, count: int = 3, *, seed: int = 0) -> list[RobustModel]:
    """``count`` networks of ``model``'s architecture with random weights (initialisation seeds ``seed + 1000``,
    ``seed + 1001``, ...), on its device: judges of style that no training shaped, so they favour neither compared
    network (the Distill discussion's point that random networks transfer style too)."""
    judges = []
    for i in range(count):
        with seeded_cpu_rng(seed + 1000 + i):
            judges.append(RobustModel.from_config(model.config).to(model.device).eval())
    return judges


def relative_style_distance(judges: Sequence[nn.Module], image: torch.Tensor, content: torch.Tensor,
                            style: torch.Tensor) -> float:
    """The mean over ``judges`` of :func:`style_distance` (image, style) / (content, style): 1 for the content image
    itself, lower as ``image`` takes on ``style``'s Gram matrices."""
    ratios = [style_distance(j, image, style) / style_distance(j, content, style) for j in judges]
    return float(torch.stack(ratios).mean())


def high_frequency_share(images: torch.Tensor, cutoff: float = 0.5) -> torch.Tensor:
    """Per image (B,), the share of its spectral power (each channel's mean removed, channels summed) at spatial
    frequencies above ``cutoff`` times the Nyquist frequency: the fine checkerboards and high-frequency noise that the
    Distill discussion saw in a standard network's style transfers raise it."""
    if not 0 < cutoff < math.sqrt(2):
        raise ValueError(f"cutoff is a fraction of the Nyquist frequency in (0, sqrt 2); got {cutoff}")
    x = _as_batch(images, "images").float()
    power = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs().pow(2).sum(1)
    fy, fx = torch.fft.fftfreq(x.shape[-2], device=x.device), torch.fft.fftfreq(x.shape[-1], device=x.device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / 0.5  # 1 = Nyquist along an axis
    return (power * (radius > cutoff)).flatten(1).sum(1) / power.flatten(1).sum(1).clamp_min(1e-12)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-example content loss (B,): mean squared difference between activations and the content target."""
    if features.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"content activations {tuple(features.shape)} and target {tuple(target.shape)} differ; the content "
            "image and the optimised image must have the same size"
        )
    return ((features - target) ** 2).flatten(1).mean(dim=1)


class StyleLoss(Objective):
    """:func:`style_loss` of ``module``'s activations against the Gram matrices ``target_grams`` {layer: (1 or B, C,
    C)}, layers weighted by ``weights`` (default 1 each)."""

    def __init__(self, module: nn.Module, target_grams: Mapping[str, torch.Tensor],
                 weights: Optional[Mapping[str, float]] = None):
        self.module, self.target_grams, self.weights = module, dict(target_grams), weights

    @classmethod
    def matching(cls, module: nn.Module, style: torch.Tensor, weights: Mapping[str, float]) -> "StyleLoss":
        """The style loss towards the Gram matrices of ``style``'s activations at the layers of ``weights``."""
        with torch.no_grad():
            read = Activations(style, [(module, name) for name in weights])
            return cls(module, {name: gram_matrix(read.layer(module, name)) for name in weights}, weights)

    def reads(self) -> list[tuple[nn.Module, str]]:
        return [(self.module, name) for name in self.target_grams]

    def value(self, activations: Activations) -> torch.Tensor:
        features = {name: activations.layer(self.module, name) for name in self.target_grams}
        return style_loss(features, self.target_grams, self.weights).to(activations.x.device)


class ContentLoss(Objective):
    """:func:`content_loss` of ``module``'s activation at ``layer`` against ``target``."""

    def __init__(self, module: nn.Module, layer: str, target: torch.Tensor):
        self.module, self.layer, self.target = module, layer, target.detach()

    def reads(self) -> list[tuple[nn.Module, str]]:
        return [(self.module, self.layer)]

    def value(self, activations: Activations) -> torch.Tensor:
        return content_loss(activations.layer(self.module, self.layer), self.target).to(activations.x.device)


@dataclass
class StyleResult:
    """``image``: the result in [0, 1] (same dims as ``content``); ``style_loss``, ``content_loss``: unweighted
    per-example (B,) losses of that image; ``history``: batch-mean 'total', 'style' and 'content' losses (weighted)
    at every loss evaluation (L-BFGS's line search evaluates more than once per iteration) and at the end."""

    image: torch.Tensor
    style_loss: torch.Tensor
    content_loss: torch.Tensor
    history: dict[str, list[float]] = field(default_factory=dict)


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        x = x.unsqueeze(0)
    check_images(x, name=name)
    return x


def _device(module: nn.Module) -> torch.device:
    try:
        return next(module.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def style_transfer(
    model: nn.Module,
    content: torch.Tensor,
    style: torch.Tensor,
    style_layers: Union[Sequence[str], Mapping[str, float]],
    content_layer: str,
    *,
    style_weight: float,
    content_weight: float = 1.0,
    steps: int,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    lr: Optional[float] = None,
    init: Literal["content", "noise"] = "content",
    seed: int = 0,
    progress: bool = False,
    content_model: Optional[nn.Module] = None,
) -> StyleResult:
    """Minimise ``style_weight * style_loss + content_weight * content_loss`` over the image (Gatys et al.).

    ``content`` (B, C, H, W) or (C, H, W) and ``style`` (1 or B images, any size) are in [0, 1]. A list of style layers
    weighs each 1/L; a mapping gives the weights. The two losses are objectives (:class:`StyleLoss`,
    :class:`ContentLoss`) read from one forward pass per evaluation, minimised by
    :func:`~rrhelpers.optimization.smooth.minimize_smooth` (``optimizer`` 'lbfgs' on the image's logits, at most
    ``steps`` iterations, or 'adam' on its pixels, ``steps`` steps; ``lr`` as there). ``init='noise'`` starts from
    uniform noise drawn with ``seed``. ``content_model`` (default ``model``) computes the content loss. Models run in
    eval mode, restored afterwards; their parameters' ``.grad`` are left untouched.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module; got {type(model).__name__}")
    if content_model is not None and not isinstance(content_model, nn.Module):
        raise TypeError(f"content_model must be an nn.Module or None; got {type(content_model).__name__}")
    squeeze = isinstance(content, torch.Tensor) and content.dim() == 3
    content = _as_batch(content, "content")
    style = _as_batch(style, "style")
    channels = getattr(model, "in_channels", None)
    if isinstance(channels, int) and content.shape[1] != channels:
        raise InputError(f"content has {content.shape[1]} channel(s) but the model takes {channels}")
    if style.shape[1] != content.shape[1]:
        raise InputError(f"style has {style.shape[1]} channel(s) but content has {content.shape[1]}")
    if style.shape[0] not in (1, content.shape[0]):
        raise InputError(f"style must hold 1 image or one per content image ({content.shape[0]}); got {style.shape[0]}")
    if isinstance(style_layers, str):
        style_layers = [style_layers]
    if isinstance(style_layers, Mapping):
        weights = {str(k): float(v) for k, v in style_layers.items()}
    else:
        weights = {str(k): 1.0 / len(style_layers) for k in style_layers} if len(style_layers) else {}
    if not weights:
        raise ValueError("style_layers must name at least one layer")
    if not all(math.isfinite(w) and w >= 0 for w in weights.values()):
        raise ValueError(f"style layer weights must be finite and >= 0; got {weights}")
    if not all(math.isfinite(w) and w >= 0 for w in (style_weight, content_weight)):
        raise ValueError(
            f"style_weight and content_weight must be finite and >= 0; got {style_weight}, {content_weight}"
        )
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise'; got {init!r}")
    device = _device(model)
    cmodel = model if content_model is None else content_model
    content, style = content.to(device), style.to(device)
    with contextlib.ExitStack() as stack:
        stack.enter_context(frozen(model))
        if content_model is not None:
            stack.enter_context(frozen(content_model))
        with torch.no_grad():
            style_term = StyleLoss.matching(model, style, weights)
            content_term = ContentLoss(cmodel, content_layer, Activations(content).layer(cmodel, content_layer))
        if init == "content":
            start = content.clone()
        else:
            start = torch.rand(content.shape, generator=torch.Generator().manual_seed(seed)).to(device, content.dtype)
        x, history = minimize_smooth({"style": style_weight * style_term, "content": content_weight * content_term},
                                     start, steps=steps, optimizer=optimizer, lr=lr, progress=progress,
                                     desc="style transfer")
        with torch.no_grad():
            final = Activations(x, [*style_term.reads(), *content_term.reads()])
            s_final, c_final = style_term.value(final), content_term.value(final)
        history["total"].append(float((style_weight * s_final + content_weight * c_final).mean()))
        history["style"].append(style_weight * float(s_final.mean()))
        history["content"].append(content_weight * float(c_final.mean()))
    image = x.detach()
    return StyleResult(image[0] if squeeze else image, s_final.detach(), c_final.detach(), history)
