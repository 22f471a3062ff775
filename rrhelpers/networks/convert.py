"""Checkpoints of other libraries (MadryLab ``robustness``, torchvision) read into :class:`RobustModel`.

No pickled code runs. Files are read with ``torch.load(weights_only=True)``; where they name other globals (files
pickled with dill, an ``argparse.Namespace`` of training arguments, a lambda learning-rate schedule), they are
read again by an unpickler that finds only the globals rebuilding tensors and containers and turns every other
one into an inert placeholder that records its name and arguments and executes nothing: tensors load, everything
else stays an :class:`Opaque` object. Weights are then renamed to this package's layout:

- MadryLab: ``{'model' | 'state_dict': DataParallel(AttackerModel).state_dict(), ...}`` with keys
  ``module.model.*`` (the classifier), ``module.attacker.model.*`` (a duplicate, ignored),
  ``module.normalizer.new_mean|new_std`` (the normalisation); CIFAR ResNets have ``shortcut`` and ``linear``,
  ImageNet ResNets ``downsample`` and ``fc``.
- torchvision ResNets (``conv1``, ``layer{i}``, ``fc``): ``layer{i+1}.{j}`` becomes ``backbone.stages.{i}.{j}``.

The architecture (stem, block type, stage depths, width, classes) is read off the weights. Command line::

    python -m rrhelpers convert madrylab_cifar_l2_0_5.pt cifar_l2_0_5.safetensors
"""

from __future__ import annotations

import argparse
import pickle
import re
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional, Sequence

import torch

from .checkpoints import CheckpointError, save_model
from ..data import NORMALIZATION
from .models import RobustModel

IMAGENET_NORMALIZATION = NORMALIZATION["imagenet"]
PREFIXES = ("module.model.", "model.", "module.")  # tried in order; DataParallel(AttackerModel), AttackerModel, DP


class Opaque:
    """A pickled object that is not a tensor: the global it named and the arguments it was built with, inert."""

    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "Opaque":
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> "Opaque":  # pickles may call what an earlier call returned
        return type(self)(*args)

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<not loaded: {self.global_name}>"


def _placeholder(name: str) -> type:
    return type(f"Opaque[{name}]", (Opaque,), {"global_name": name})


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch", "Size"): torch.Size,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Finds only the globals that rebuild tensors and containers; every other global becomes an inert
    :class:`Opaque` placeholder, so nothing named in the file is imported or called (Python docs, "Restricting
    Globals")."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return _placeholder(f"{module}.{name}")


class _RestrictedPickle:
    """The ``pickle_module`` handed to ``torch.load`` (which subclasses its ``Unpickler`` to read storages)."""

    Unpickler = _RestrictedUnpickler

    @staticmethod
    def load(file: Any, **kwargs: Any) -> Any:
        return _RestrictedUnpickler(file, **kwargs).load()


def read_checkpoint(path: str | Path) -> Any:
    """The object in a ``torch.save`` file, loaded without running pickled code (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:  # globals beyond tensors (dill, Namespace, ...): placeholders for those
            return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, OSError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path} could not be read as a torch checkpoint without running pickled code ({type(err).__name__}: "
            f"{str(err)[:300]}). Only files of tensors plus inert Python objects can be read; re-save the weights "
            "alone with torch.save(model.state_dict(), path) where you trust the file."
        ) from err


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """The weights in a checkpoint object: its ``model`` or ``state_dict`` entry, or the object itself."""
    if isinstance(obj, dict):
        for key in ("model", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        kind = type(obj).__name__ if not isinstance(obj, dict) else f"dict with keys {list(obj)[:8]}"
        raise CheckpointError(f"no state dict found in the checkpoint (got {kind}); expected a dict of tensors "
                              "or a dict with a 'model' or 'state_dict' entry")
    return dict(obj)


def _normalization(state: dict[str, torch.Tensor]) -> Optional[tuple[list[float], list[float]]]:
    for mean_key, std_key in (("module.normalizer.new_mean", "module.normalizer.new_std"),
                              ("normalizer.new_mean", "normalizer.new_std"),
                              ("normalizer.mean", "normalizer.std")):
        if mean_key in state and std_key in state:
            return state[mean_key].flatten().tolist(), state[std_key].flatten().tolist()
    return None


def _classifier_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The classifier's own weights, without wrapper prefixes, attacker duplicates and normaliser buffers."""
    for prefix in PREFIXES:
        inner = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if "conv1.weight" in inner:
            return inner
    return state


_STAGE = re.compile(r"^layer(\d+)\.(\d+)\.(.*)$")


def to_package_keys(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ResNet's weights (torchvision or MadryLab names) to :class:`RobustModel`'s."""
    out = {}
    for key, value in weights.items():
        stage = _STAGE.match(key)
        if stage:
            i, j, rest = int(stage[1]) - 1, stage[2], stage[3]
            rest = re.sub(r"^shortcut\.", "downsample.", rest)
            out[f"backbone.stages.{i}.{j}.{rest}"] = value
        elif key.startswith(("conv1.", "bn1.")):
            out[f"backbone.{key}"] = value
        elif key.startswith(("fc.", "linear.")):
            out["head." + key.split(".", 1)[1]] = value
        elif key.startswith("normalizer."):
            continue
        else:
            raise CheckpointError(f"unexpected weight {key!r}: not a ResNet of torchvision's or MadryLab's layout")
    return out


def infer_resnet(weights: dict[str, torch.Tensor]) -> tuple[str, dict[str, Any], int]:
    """(architecture name, its arguments, number of classes) of package-layout ResNet weights."""
    try:
        stem_weight, head_weight = weights["backbone.conv1.weight"], weights["head.weight"]
    except KeyError as err:
        raise CheckpointError(f"not a ResNet checkpoint: no {err.args[0]!r} after renaming") from err
    depths: dict[int, set[int]] = {}
    for key in weights:
        m = re.match(r"backbone\.stages\.(\d+)\.(\d+)\.", key)
        if m:
            depths.setdefault(int(m[1]), set()).add(int(m[2]))
    layers = tuple(len(depths[i]) for i in sorted(depths))
    block = "bottleneck" if "backbone.stages.0.0.conv3.weight" in weights else "basic"
    width, in_channels, kernel = stem_weight.shape[0], stem_weight.shape[1], stem_weight.shape[-1]
    stem = "imagenet" if kernel == 7 else "cifar"
    named = {("basic", (2, 2, 2, 2), 64, "cifar"): "resnet18_cifar",
             ("bottleneck", (3, 4, 6, 3), 64, "cifar"): "resnet50_cifar",
             ("bottleneck", (3, 4, 6, 3), 64, "imagenet"): "resnet50"}.get((block, layers, width, stem))
    if named:
        return named, {"in_channels": in_channels}, head_weight.shape[0]
    kwargs = {"block": block, "layers": list(layers), "width": width, "in_channels": in_channels, "stem": stem}
    return "resnet", kwargs, head_weight.shape[0]


def model_from_state_dict(state: dict[str, torch.Tensor], mean: Optional[Sequence[float]] = None,
                          std: Optional[Sequence[float]] = None,
                          classes: Optional[Sequence[str]] = None) -> RobustModel:
    """A :class:`RobustModel` from a MadryLab or torchvision ResNet state dict; ``mean``/``std`` override the
    file's normaliser (needed where the file has none, e.g. torchvision: ImageNet's)."""
    found = _normalization(state)
    if mean is None or std is None:
        if found is None:
            raise CheckpointError("the checkpoint has no normaliser buffers (e.g. a torchvision file): say how its "
                                  "inputs were normalised with rr.networks.convert.load_checkpoint(path, mean, std), "
                                  f"e.g. ImageNet's {IMAGENET_NORMALIZATION}, or `python -m rrhelpers convert "
                                  "--imagenet-normalization SRC DST`")
        mean, std = found
    weights = to_package_keys(_classifier_weights(state))
    arch, arch_kwargs, num_classes = infer_resnet(weights)
    model = RobustModel(arch, num_classes, mean, std, arch_kwargs, classes)
    expected = {k for k in model.state_dict() if not k.startswith("normalizer.")}
    missing, unexpected = sorted(expected - set(weights)), sorted(set(weights) - expected)
    if missing or unexpected:
        raise CheckpointError(f"weights do not fit the inferred {arch} {arch_kwargs}: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
    model.load_state_dict({**weights, "normalizer.mean": model.normalizer.mean,
                           "normalizer.std": model.normalizer.std})
    return model.eval()


def load_checkpoint(path: str | Path, mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                    classes: Optional[Sequence[str]] = None) -> RobustModel:
    """A MadryLab ``robustness`` or torchvision ResNet checkpoint file as a :class:`RobustModel` in eval mode."""
    model = model_from_state_dict(extract_state_dict(read_checkpoint(path)), mean, std, classes)
    model.metadata = {"source": str(path)}
    return model


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rrhelpers convert",
                                     description="Convert a MadryLab robustness or torchvision ResNet checkpoint "
                                                 "to an rrhelpers safetensors model file (no pickled code runs).")
    parser.add_argument("source", help="the .pt / .ckpt file")
    parser.add_argument("target", help="the .safetensors file to write (atomically)")
    parser.add_argument("--imagenet-normalization", action="store_true",
                        help="use ImageNet's mean/std (for files without normaliser buffers, e.g. torchvision)")
    args = parser.parse_args(argv)
    mean, std = IMAGENET_NORMALIZATION if args.imagenet_normalization else (None, None)
    try:
        model = load_checkpoint(args.source, mean, std)
    except CheckpointError as err:
        print(f"convert: {err}", file=sys.stderr)
        return 1
    save_model(model, args.target, metadata={"converted_from": str(Path(args.source).resolve())})
    print(f"convert: {model.config['arch']} {model.config['arch_kwargs']} with {model.config['num_classes']} "
          f"classes -> {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
