"""Wrap a torchvision or timm classifier, weights included, as a :class:`~rrhelpers.RobustModel`.

Above both ``foreign`` (which builds the untrained backbones that ``architectures`` needs) and ``models``, so the
three import one another in one direction only.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
from torch import nn

from .foreign import default_head, submodule
from .models import RobustModel, eval_mode
from ..validation import InputError


def wrap_classifier(network: nn.Module, arch: str, mean: Sequence[float], std: Sequence[float],
                    head: Optional[str] = None, classes: Optional[Sequence[str]] = None, avg_pool: bool = False,
                    network_kwargs: Optional[dict[str, Any]] = None, probe_size: int = 64) -> RobustModel:
    """A :class:`RobustModel` with ``network``'s weights: R(x) is the input of its final linear layer ``head``.

    ``arch`` names the architecture (``"torchvision:vgg19"``, ``"timm:resnet18"``) so that the model can be rebuilt
    from a saved file; ``network`` is its (pretrained) instance, taking images normalised with ``mean``/``std``.
    The original network is left unchanged; the model is on its device. The wrapped model's logits are checked
    against the original's (unless ``avg_pool`` swaps its max-pooling for average pooling, which changes them on
    purpose).
    """
    head = head or default_head(network)
    layer = submodule(network, head)
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
