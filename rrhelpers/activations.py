"""Reading a network's intermediate activations by layer name, with forward hooks.

One reader (:class:`LayerFeatures`) serves every objective and measure that looks inside a network: style and content
losses (chapter 8), layer robustness, the feedforward inverters' conditions and the reproduction report. Names are
those of ``module.named_modules()``, so the same code reads a :class:`~rrhelpers.RobustModel`, a torchvision VGG or
any other ``nn.Module``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["LayerFeatures", "stage_layers"]


def _resolve(module: nn.Module, name: str) -> nn.Module:
    """The submodule whose output is reported as layer ``name``; a ModuleList stands for its last element.

    A ``ModuleList`` has no ``forward``, so a hook on it never fires; when its elements are applied in order (the
    residual stages of :mod:`rrhelpers.architectures`), the list's output is its last element's output.
    """
    target = dict(module.named_modules())[name]
    while isinstance(target, nn.ModuleList):
        if len(target) == 0:
            raise ValueError(f"layer {name!r} is an empty ModuleList and produces no activation")
        target = target[-1]
    if isinstance(target, nn.ModuleDict) or type(target).forward is nn.Module.forward:
        raise ValueError(
            f"layer {name!r} is a container without a forward ({type(target).__name__}) and produces no activation; "
            "name one of its submodules instead"
        )
    return target


class LayerFeatures:
    """Read named intermediate activations of ``module`` with forward hooks: ``features(x) -> {name: activation}``.

    Names are those of ``module.named_modules()`` (e.g. ``'backbone.stages.0'`` for the first residual stage of a
    :class:`~rrhelpers.RobustModel`; a ``ModuleList`` reports its last element's output). The whole forward pass
    runs. Remove the hooks with :meth:`close` or by using the object as a context manager.
    """

    def __init__(self, module: nn.Module, layers: Sequence[str]):
        if isinstance(layers, str):
            layers = [layers]
        self.layers = list(dict.fromkeys(layers))  # unique, in order
        if not self.layers:
            raise ValueError("LayerFeatures needs at least one layer name")
        available = dict(module.named_modules())
        unknown = [name for name in self.layers if name not in available]
        if unknown:
            names = [n for n in available if n]
            raise ValueError(
                f"unknown layer name(s) {unknown} for {type(module).__name__}; available layers: {', '.join(names)}"
            )
        self.module = module
        self._store: dict[str, torch.Tensor] = {}
        self._handles = [_resolve(module, name).register_forward_hook(self._hook(name)) for name in self.layers]

    def _hook(self, name: str):
        def hook(mod: nn.Module, inputs: object, output: object) -> None:
            self._store[name] = output  # type: ignore[assignment]

        return hook

    def __call__(self, x: torch.Tensor, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        """Run ``module(x, *args, **kwargs)`` and return the activations of the named layers, in order."""
        if not self._handles:
            raise RuntimeError("LayerFeatures was closed; create a new one")
        self._store = {}
        try:
            self.module(x, *args, **kwargs)
            missing = [name for name in self.layers if name not in self._store]
            if missing:
                raise RuntimeError(
                    f"layer(s) {missing} did not run in the forward pass of {type(self.module).__name__}"
                )
            out = {name: self._store[name] for name in self.layers}
        finally:
            self._store = {}
        for name, value in out.items():
            if not isinstance(value, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returned {type(value).__name__}, not a tensor; name a submodule instead"
                )
        return out

    def close(self) -> None:
        """Remove the hooks (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "LayerFeatures":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stage_layers(model: nn.Module) -> list[str]:
    """Names of the residual stages' outputs (post-ReLU) of a RobustModel / ResNet: the blog's style layers."""
    for prefix in ("backbone.", ""):
        stages = dict(model.named_modules()).get(prefix + "stages")
        if isinstance(stages, nn.ModuleList):
            return [f"{prefix}stages.{i}" for i in range(len(stages))]
    raise ValueError(f"{type(model).__name__} has no 'stages' (nor 'backbone.stages') ModuleList; name layers yourself")
