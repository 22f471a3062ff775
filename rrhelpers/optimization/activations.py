"""Reading what networks compute on a batch: logits, R(x) and intermediate activations by layer name.

:class:`Activations` is what every objective reads (:mod:`rrhelpers.optimization.objectives`): the quantities of one
batch of images, each computed once, so a sum of objectives on one network runs it once per solver step (lucent's
design). :class:`LayerFeatures` reads named layers with forward hooks; it serves those objectives (style and content
losses, layer robustness) and the measures that look inside a network (the feedforward inverters' conditions, the
reproduction report). Names are those of ``module.named_modules()``, so the same code reads a
:class:`~rrhelpers.RobustModel`, a torchvision VGG or any other ``nn.Module``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Sequence

import torch
from torch import nn

__all__ = ["Activations", "LayerFeatures", "stage_layers", "stage_name"]


def _resolve(module: nn.Module, name: str) -> nn.Module:
    """The submodule whose output is reported as layer ``name``; a ModuleList stands for its last element.

    A ``ModuleList`` has no ``forward``, so a hook on it never fires; when its elements are applied in order (the
    residual stages of :mod:`rrhelpers.networks.architectures`), the list's output is its last element's output.
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


def stage_name(layer: str) -> str:
    """A layer's name without a RobustModel's ``backbone.`` prefix, as tables and figures label a stage."""
    return layer.removeprefix("backbone.")


class Activations:
    """One batch of images ``x`` and what networks compute on it, each quantity computed at most once.

    ``reads``: the (network, layer name) pairs that the objectives evaluated on it will ask for; all named layers of
    one network are then read in a single forward pass. Values keep their graph to ``x``, so one backward pass
    differentiates a sum of objectives. Each tensor comes from the network's device.
    """

    def __init__(self, x: torch.Tensor, reads: Iterable[tuple[nn.Module, str]] = ()):
        self.x = x
        self._wanted: dict[int, list[str]] = {}
        for module, name in reads:
            self._wanted.setdefault(id(module), []).append(name)
        self._computed: dict[tuple, object] = {}
        self._layers: dict[int, dict[str, torch.Tensor]] = {}

    def _on(self, module: nn.Module) -> torch.Tensor:
        parameters = module.parameters() if isinstance(module, nn.Module) else iter(())
        return self.x.to(next(parameters, self.x).device)  # a network without parameters takes x where it is

    def _once(self, key: tuple, compute):
        if key not in self._computed:
            self._computed[key] = compute()
        return self._computed[key]

    def _both(self, model: nn.Module, fake_relu: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and R(x) of a RobustModel from one pass."""
        return self._once(("both", id(model), fake_relu),
                          lambda: model.forward_both(self._on(model), fake_relu=fake_relu))

    def logits(self, model: nn.Module) -> torch.Tensor:
        """The network's output (plain ReLUs)."""
        if hasattr(model, "forward_both"):
            return self._both(model, False)[0]
        return self._once(("logits", id(model)), lambda: model(self._on(model)))

    def representation(self, model: nn.Module, *, fake_relu: bool = True) -> torch.Tensor:
        """R(x) of a :class:`~rrhelpers.RobustModel`; ``fake_relu`` lets gradients reach coordinates that are zero."""
        if hasattr(model, "forward_both"):
            return self._both(model, fake_relu)[1]
        if not hasattr(model, "representation"):
            raise TypeError(f"{type(model).__name__} has no representation R(x): wrap it as a RobustModel")
        return self._once(("representation", id(model), fake_relu),
                          lambda: model.representation(self._on(model), fake_relu=fake_relu))

    def layer(self, module: nn.Module, name: str) -> torch.Tensor:
        """The activation of layer ``name``; with the other layers of ``module`` announced in ``reads``, one pass."""
        read = self._layers.setdefault(id(module), {})
        if name not in read:
            names = [n for n in self._wanted.get(id(module), []) if n not in read]
            with LayerFeatures(module, names + [name]) as features:
                read.update(features(self._on(module)))
        return read[name]
