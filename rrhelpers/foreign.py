"""Any torchvision or timm classifier as a :class:`~rrhelpers.RobustModel`, by naming its final linear layer.

R(x) is the input of that layer (the penultimate representation): the layer becomes the model's ``head`` and the
rest of the network, with the layer replaced by an identity, becomes the backbone. The architecture is recorded as
``"torchvision:<name>"`` or ``"timm:<name>"`` with the head's name, so saved models rebuild without the original
code. ``wrap_classifier`` checks that the wrapped logits equal the original network's on a probe batch, which
fails loudly when the named layer is not the last operation.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from .validation import InputError

FOREIGN_PREFIXES = ("torchvision:", "timm:")


class ForeignBackbone(nn.Module):
    """A foreign classifier with its final linear layer replaced by an identity: images -> R(x)."""

    def __init__(self, network: nn.Module, head: str):
        super().__init__()
        layer = _submodule(network, head)
        if not isinstance(layer, nn.Linear):
            raise ValueError(f"layer {head!r} is a {type(layer).__name__}, not the final nn.Linear; name the linear "
                             "layer that maps the representation to the logits")
        self.num_features = layer.in_features
        self.head_name = head
        _set_submodule(network, head, nn.Identity())
        self.network = network

    def forward(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        if fake_relu:
            raise ValueError("fake_relu needs rrhelpers' own ResNets (its last ReLU is inside this package's code); "
                             "for a wrapped classifier pass fake_relu=False to the objective")
        return torch.flatten(self.network(x), 1)


def _submodule(network: nn.Module, name: str) -> nn.Module:
    modules = dict(network.named_modules())
    if name not in modules or not name:
        linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        raise ValueError(f"{type(network).__name__} has no layer {name!r}; its linear layers are {linear}")
    return modules[name]


def _set_submodule(network: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = network.get_submodule(parent_name) if parent_name else network
    setattr(parent, child, module)


def build_network(arch: str, avg_pool: bool = False, **kwargs: Any) -> nn.Module:
    """An untrained ``torchvision:<name>`` or ``timm:<name>`` network; ``avg_pool`` swaps max- for average
    pooling (Gatys et al.'s VGG for style transfer). Other keyword arguments go to the library's constructor."""
    library, _, name = arch.partition(":")
    if library == "torchvision":
        from torchvision import models

        network = models.get_model(name, weights=None, **kwargs)
    elif library == "timm":
        try:
            import timm
        except ImportError as err:
            raise ImportError(f"{arch!r} needs timm: pip install timm") from err
        network = timm.create_model(name, pretrained=False, **kwargs)
    else:
        raise ValueError(f"unknown foreign architecture {arch!r}; use 'torchvision:<name>' or 'timm:<name>'")
    if avg_pool:
        _max_to_avg_pool(network)
    return network


def _max_to_avg_pool(network: nn.Module) -> None:
    for name, module in list(network.named_modules()):
        if isinstance(module, nn.MaxPool2d):
            _set_submodule(network, name, nn.AvgPool2d(module.kernel_size, module.stride, module.padding,
                                                       ceil_mode=module.ceil_mode))


def build_foreign_backbone(arch: str, head: str, in_channels: int = 3, avg_pool: bool = False,
                           network_kwargs: Optional[dict[str, Any]] = None) -> ForeignBackbone:
    """The backbone of a foreign architecture (what :func:`rrhelpers.architectures.build_backbone` dispatches to)."""
    if in_channels != 3:
        raise ValueError(f"foreign classifiers take 3-channel images; got in_channels={in_channels}")
    return ForeignBackbone(build_network(arch, avg_pool, **(network_kwargs or {})), head)


def default_head(network: nn.Module) -> str:
    """The name of a network's final linear layer: timm's ``get_classifier()``, else the last ``nn.Linear``."""
    modules = dict(network.named_modules())
    if hasattr(network, "get_classifier"):
        classifier = network.get_classifier()
        for name, module in modules.items():
            if module is classifier and isinstance(module, nn.Linear):
                return name
    linear = [name for name, module in modules.items() if isinstance(module, nn.Linear)]
    if not linear:
        raise ValueError(f"{type(network).__name__} has no nn.Linear layer; name its final layer with head=")
    return linear[-1]


def wrap_classifier(network: nn.Module, arch: str, mean: Sequence[float], std: Sequence[float],
                    head: Optional[str] = None, classes: Optional[Sequence[str]] = None, avg_pool: bool = False,
                    network_kwargs: Optional[dict[str, Any]] = None, probe_size: int = 64) -> "RobustModel":
    """A :class:`RobustModel` with ``network``'s weights: R(x) is the input of its final linear layer ``head``.

    ``arch`` names the architecture (``"torchvision:vgg19"``, ``"timm:resnet18"``) so that the model can be rebuilt
    from a saved file; ``network`` is its (pretrained) instance, taking images normalised with ``mean``/``std``.
    The original network is left unchanged; the model is on its device. The wrapped model's logits are checked
    against the original's (unless ``avg_pool`` swaps its max-pooling for average pooling, which changes them on
    purpose).
    """
    from .models import RobustModel

    head = head or default_head(network)
    layer = _submodule(network, head)
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"layer {head!r} is a {type(layer).__name__}, not the final nn.Linear of {arch}")
    arch_kwargs = {"head": head, "avg_pool": avg_pool, "network_kwargs": dict(network_kwargs or {})}
    model = RobustModel(arch, layer.out_features, mean, std, arch_kwargs, classes).to(layer.weight.device)
    body = {k: v for k, v in network.state_dict().items() if not k.startswith(head + ".")}
    try:
        model.backbone.network.load_state_dict(body)
    except RuntimeError as err:
        raise ValueError(f"the network's weights do not fit an untrained {arch} built with network_kwargs="
                         f"{network_kwargs or {}} ({str(err)[:300]}); pass the constructor arguments it was made "
                         "with as network_kwargs") from err
    model.head.load_state_dict(layer.state_dict())
    model.eval()
    if not avg_pool:  # average pooling changes the function on purpose
        _check_same_logits(model, network, len(mean), probe_size)
    return model


@torch.no_grad()
def _check_same_logits(model: nn.Module, original: nn.Module, channels: int, size: int) -> None:
    from .models import eval_mode

    probe = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(0)).to(model.device)
    try:
        with eval_mode(original):
            expected = original(model.normalizer(probe))
    except RuntimeError as err:
        raise InputError(f"the network does not run on a {size}x{size} probe image ({err}); pass probe_size=") from err
    not_last = (f"wrapping changed the logits: the layer {model.backbone.head_name!r} is not the network's last "
                "operation (name the final nn.Linear, whose input is the representation)")
    try:
        actual = model(probe)
    except RuntimeError as err:
        raise ValueError(not_last) from err
    if not torch.allclose(actual, expected, rtol=1e-4, atol=1e-5):
        raise ValueError(not_last)
