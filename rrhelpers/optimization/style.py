"""Gatys-style neural style transfer for any network whose intermediate activations can be named (chapter 8).

The image is optimised so that the Gram matrices of its activations at the *style layers* match those of the style image
and its activation at the *content layer* matches that of the content image (Gatys et al., 2016). Layers are named as in
``module.named_modules()`` and read with forward hooks (:class:`~rrhelpers.optimization.activations.LayerFeatures`), so
the same code serves a :class:`~rrhelpers.RobustModel` (robust or standard weights), a torchvision VGG or any other
``nn.Module``. ``content_model`` lets the content loss use another network (the Distill response's "swap the content
network" experiment). :class:`StyleSetup` holds the settings a comparison of networks shares; the measures of results
(held-out judges' style distances, high-frequency shares) judge them without either compared network.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from .activations import Activations, stage_layers, stage_name
from ..data import photo_tensor
from ..networks.models import RobustModel, eval_mode, frozen, seeded_cpu_rng
from .objectives import Objective
from .smooth import minimize_smooth
from ..validation import InputError, check_images

__all__ = [
    "ContentLoss",
    "StyleLoss",
    "StyleResult",
    "StyleSetup",
    "content_loss",
    "gram_matrix",
    "held_out_summary",
    "high_frequency_share",
    "high_frequency_table",
    "relative_style_distance",
    "relative_style_distances",
    "style_distance",
    "style_loss",
    "style_trade_off",
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


def relative_style_distances(judges: Sequence[nn.Module], images: Mapping[str, torch.Tensor],
                             transfers: Mapping[tuple[str, str, str], torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per network, the :func:`relative_style_distance` of each of its ``transfers`` {(network, content, style):
    image}, in their order; the content and style images are looked up by name in ``images``."""
    distances: dict[str, list[float]] = {}
    for (network, content, style), image in transfers.items():
        distances.setdefault(network, []).append(relative_style_distance(judges, image, images[content],
                                                                         images[style]))
    return {network: torch.tensor(values) for network, values in distances.items()}


def held_out_summary(distances: Mapping[str, torch.Tensor], pairs: Sequence[tuple[str, str]]) -> str:
    """:func:`relative_style_distances` of the robust and the standard network over the (content, style) ``pairs``,
    in words: each one's mean and per-pair distance, and which came closer to the styles on average and how often."""
    lines = []
    for network, values in distances.items():
        per_pair = ", ".join(f"{c}/{s} {v:.3f}" for (c, s), v in zip(pairs, values.tolist()))
        lines.append(f"{network:8s}: held-out style distance {values.mean():.3f} (per pair: {per_pair})")
    robust, standard = distances["robust"], distances["standard"]
    better = "robust" if robust.mean() < standard.mean() else "standard"
    lines.append(f"verdict: the {better} network's results are closer to the styles on average "
                 f"(robust closer in {int((robust < standard).sum())} of {len(pairs)} pairs)")
    return "\n".join(lines)


def style_trade_off(judges: Sequence[nn.Module], images: Sequence[torch.Tensor], content: torch.Tensor,
                    style: torch.Tensor) -> list[tuple[float, float]]:
    """For each of ``images`` (transfers of ``content`` into ``style``, e.g. at growing style weights): its RMS pixel
    change from the content and its :func:`relative_style_distance`, how much style it bought with how much change."""
    return [(float((image - content).pow(2).mean().sqrt()), relative_style_distance(judges, image, content, style))
            for image in images]


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


def high_frequency_table(images: Mapping[str, torch.Tensor], transfers: Mapping[tuple[str, str, str], torch.Tensor],
                         *, cutoff: float = 0.5) -> list[dict[str, Union[str, float]]]:
    """One row per (content, style) pair of ``transfers`` {(network, content, style): image}: the
    :func:`high_frequency_share` of the content, of the style and of each network's transfer, and each network's
    excess (its share minus the larger source's: what the optimisation added that neither image had)."""
    def share(image: torch.Tensor) -> float:
        return float(high_frequency_share(image, cutoff))

    networks = list(dict.fromkeys(network for network, _, _ in transfers))
    rows = []
    for content, style in dict.fromkeys((content, style) for _, content, style in transfers):
        sources = {"content share": share(images[content]), "style share": share(images[style])}
        shares = {network: share(transfers[(network, content, style)]) for network in networks}
        rows.append({"content": content, "style": style, **sources, **{f"{n} share": v for n, v in shares.items()},
                     **{f"{n} excess": v - max(sources.values()) for n, v in shares.items()}})
    return rows


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


@dataclass(frozen=True)
class StyleSetup:
    """What every compared network transfers with, so that only the network differs: the style layers, the content
    layer, the L-BFGS ``steps``, and the content and style images by name (other bundled ones load at ``size``)."""

    layers: tuple[str, ...]
    content_layer: str
    steps: int
    size: int
    device: torch.device
    contents: dict[str, torch.Tensor]
    styles: dict[str, torch.Tensor]

    @classmethod
    def for_photos(cls, model: nn.Module, contents: Sequence[str], styles: Sequence[str], *, size: int,
                   content_stage: int, steps: int) -> StyleSetup:
        """Bundled photographs or textures at ``size`` px on ``model``'s device; every residual stage of ``model`` a
        style layer (as in the Distill discussion), stage ``content_stage`` the content layer."""
        layers, device = tuple(stage_layers(model)), _device(model)
        return cls(layers, layers[content_stage], steps, size, device,
                   {n: photo_tensor(n, size).to(device) for n in contents},
                   {n: photo_tensor(n, size).to(device) for n in styles})

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every (content, style) pair, contents first."""
        return [(content, style) for content in self.contents for style in self.styles]

    @property
    def images(self) -> dict[str, torch.Tensor]:
        """The content and style images by name."""
        return {**self.contents, **self.styles}

    def image(self, name: str) -> torch.Tensor:
        """A content or style image, or any other bundled photograph or texture at the same size and device."""
        known = self.images
        return known[name] if name in known else photo_tensor(name, self.size).to(self.device)

    def describe(self) -> str:
        """The style and content layers, in one line."""
        style_layers = [stage_name(layer) for layer in self.layers]
        return f"style layers: {style_layers} | content layer: {stage_name(self.content_layer)}"

    def transfer(self, model: nn.Module, content: str, style: str, weight: float, *,
                 style_layers: Optional[Sequence[str]] = None,
                 content_model: Optional[nn.Module] = None) -> StyleResult:
        """:func:`style_transfer` of the named images at style weight ``weight`` with these settings; ``style_layers``
        (default: all of them) and ``content_model`` as there."""
        return style_transfer(model, self.image(content), self.image(style), style_layers or list(self.layers),
                              self.content_layer, style_weight=weight, steps=self.steps, content_model=content_model)

    def transfer_pairs(self, models: Mapping[str, nn.Module],
                       weight: float) -> dict[tuple[str, str, str], torch.Tensor]:
        """Every network's transfer of every content into every style at ``weight``: {(network, content, style):
        image}."""
        return {(name, c, s): self.transfer(model, c, s, weight).image for name, model in models.items()
                for c, s in self.pairs}
