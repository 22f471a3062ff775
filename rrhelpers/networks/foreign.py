"""Backbones from torchvision or timm classifiers, by naming their final linear layer.

R(x) is the input of that layer (the penultimate representation): the layer becomes the model's ``head`` and the
rest of the network, with the layer replaced by an identity, becomes the backbone. The architecture is recorded as
``"torchvision:<name>"`` or ``"timm:<name>"`` with the head's name, so saved models rebuild without the original
code. ``rrhelpers.networks.wrapping.wrap_classifier`` turns a trained network into a model with these backbones.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn


FOREIGN_PREFIXES = ("torchvision:", "timm:")


class ForeignBackbone(nn.Module):
    """A foreign classifier with its final linear layer replaced by an identity: images -> R(x)."""

    def __init__(self, network: nn.Module, head: str):
        super().__init__()
        layer = submodule(network, head)
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


def submodule(network: nn.Module, name: str) -> nn.Module:
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
    """The backbone of a foreign architecture (what :func:`rrhelpers.networks.architectures.build_backbone` dispatches
    to)."""
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
