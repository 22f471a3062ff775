"""RobustModel: a classifier on [0, 1] images that exposes its representation R(x) and final linear layer."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .architectures import build_backbone
from .fusion import folded_batchnorm
from ..validation import check_images


class Normalize(nn.Module):
    """Per-channel (x - mean) / std inside the model, so that every caller works in pixel space [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean and std need one value per channel; got {len(mean)} and {len(std)}")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class RobustModel(nn.Module):
    """Normaliser + backbone (images -> R(x)) + linear head (R(x) -> logits).

    ``model(x)`` returns logits, ``model.representation(x)`` returns R(x), ``model.head`` is the final linear layer W.
    ``fake_relu=True`` makes the backbone's last ReLU pass gradients through zeros. Inputs are checked (shape, [0, 1],
    NaN) unless ``check_inputs`` is False; the range only for CPU tensors, since reading it back from a GPU would
    synchronise every forward pass (each solver and training step): :meth:`predict`,
    :func:`~rrhelpers.optimization.representations.representations` and :func:`~rrhelpers.optimization.solver.optimize`
    check the range of their whole input once per call instead. ``config`` records how to rebuild the model
    (architecture, its arguments, normalisation, class names), which checkpoints store beside the weights.
    """

    def __init__(
        self,
        arch: str,
        num_classes: int,
        mean: Sequence[float],
        std: Sequence[float],
        arch_kwargs: dict[str, Any] | None = None,
        classes: Sequence[str] | None = None,
    ):
        super().__init__()
        arch_kwargs = dict(arch_kwargs or {})
        arch_kwargs.setdefault("in_channels", len(mean))
        self.normalizer = Normalize(mean, std)
        self.backbone = build_backbone(arch, **arch_kwargs)
        self.head = nn.Linear(self.backbone.num_features, num_classes)
        if classes is not None and len(classes) != num_classes:
            raise ValueError(f"got {len(classes)} class names for {num_classes} classes")
        self.classes = list(classes) if classes is not None else [str(i) for i in range(num_classes)]
        self.config = {
            "arch": arch,
            "arch_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in arch_kwargs.items()},
            "num_classes": num_classes,
            "mean": list(map(float, mean)),
            "std": list(map(float, std)),
            "classes": self.classes,
        }
        self.check_inputs = True

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RobustModel":
        return cls(
            config["arch"],
            config["num_classes"],
            config["mean"],
            config["std"],
            config.get("arch_kwargs"),
            config.get("classes"),
        )

    @property
    def in_channels(self) -> int:
        return self.normalizer.mean.shape[1]

    @property
    def num_features(self) -> int:
        """Dimension of R(x)."""
        return self.backbone.num_features

    def forward_both(self, x: torch.Tensor, fake_relu: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and R(x) from one forward pass."""
        if self.check_inputs:
            check_images(x, self.in_channels, sync=False)
        rep = self.backbone(self.normalizer(x), fake_relu=fake_relu)
        return self.head(rep), rep

    def forward(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        return self.forward_both(x, fake_relu)[0]

    def representation(self, x: torch.Tensor, fake_relu: bool = False) -> torch.Tensor:
        """R(x): the penultimate layer, the input of ``head``."""
        return self.forward_both(x, fake_relu)[1]

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predicted class indices, in eval mode and batches (the model's mode is restored afterwards)."""
        if self.check_inputs:  # here, once: the forward passes check no values of batches on a GPU
            check_images(x, self.in_channels)
        with eval_mode(self):
            return torch.cat([self(x[i : i + batch_size].to(self.device)).argmax(1)
                              for i in range(0, len(x), batch_size)])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


@contextlib.contextmanager
def seeded_cpu_rng(seed: int) -> Iterator[None]:
    """Within the block, the CPU random stream starts from ``seed``; the caller's stream is restored afterwards.

    For initialising networks reproducibly (on the CPU; move them afterwards). Seeds ``torch.default_generator``
    only: ``torch.manual_seed`` would also reseed the caller's CUDA generators, which ``fork_rng(devices=[])`` does not
    restore."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        yield


class eval_mode:
    """Context manager: put a module in eval mode and restore its previous mode afterwards."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __enter__(self) -> nn.Module:
        self.was_training = self.module.training
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        self.module.train(self.was_training)


class frozen(eval_mode):
    """Context manager: eval mode and no parameter gradients (both restored afterwards).

    For optimising inputs (attacks, inversions, style transfer, training a generator against a fixed classifier):
    autograd then neither computes nor keeps anything for the weights, which saves time and memory. With
    ``fold_batchnorm`` the BatchNorms are also folded into their convolutions while inside (see
    :mod:`rrhelpers.networks.fusion`): faster, the same function up to float rounding, but hooks on convolution and
    BatchNorm layers do not fire, so callers that read layers through hooks leave it off.
    """

    def __init__(self, module: nn.Module, fold_batchnorm: bool = False):
        super().__init__(module)
        self.folding = folded_batchnorm(module) if fold_batchnorm else None

    def __enter__(self) -> nn.Module:
        self.flags = [p.requires_grad for p in self.module.parameters()]
        self.module.requires_grad_(False)
        super().__enter__()
        if self.folding is not None:
            self.folding.__enter__()
        return self.module

    def __exit__(self, *exc: object) -> None:
        if self.folding is not None:
            self.folding.__exit__(*exc)
        super().__exit__(*exc)
        for p, flag in zip(self.module.parameters(), self.flags):
            p.requires_grad_(flag)
