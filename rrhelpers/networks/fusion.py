"""BatchNorm folded into the convolution before it, for as long as a model is frozen.

In eval mode a BatchNorm is an affine map per channel, so ``bn(conv(x))`` is one convolution with rescaled weights
and a bias. Attacks and representation objectives run the frozen model forward and backward to the input dozens to
thousands of times, so folding once per call saves every BatchNorm pass (forward and backward) in every step. On a
CPU the folded convolutions also run channels-last, which oneDNN convolves (and back-propagates through) without
reordering the activations each time, except where the output is only a few pixels wide, where oneDNN's default
(blocked) layout is faster. The result equals the unfolded model's up to float rounding.

Modules declare which of their children pair up in ``CONV_BN_PAIRS`` (names of a convolution and of the BatchNorm
applied directly to its output); only those are folded, so a model that declares nothing runs unchanged.
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

BLOCKED_AT_MOST_PX = 4
"""On a CPU, a folded convolution whose output is at most this many pixels wide runs in the default layout instead
of channels-last: on a 2-core AVX-512 Xeon, the 512-channel 4 px convolutions of a CIFAR ResNet-18 ran 1.3-1.7x
faster so (forward and input gradient), which made its PGD step 1-15% faster (median of ten runs about 9%); at 8 px
and wider the layouts were about even or channels-last won. ``benchmarks/layouts.py`` measures it on any machine."""


def conv_bn_pairs(root: nn.Module) -> Iterator[tuple[nn.Module, str, str]]:
    """(owner, convolution name, BatchNorm name) for every pair the modules under ``root`` declare."""
    for owner in root.modules():
        for conv_name, bn_name in getattr(owner, "CONV_BN_PAIRS", ()):
            yield owner, conv_name, bn_name


class folded_batchnorm:
    """Context manager: while inside, each declared (convolution, BatchNorm) pair of ``module`` is replaced by one
    convolution with the BatchNorm folded in, and the original modules are put back on exit.

    The module must be in eval mode (the fold uses the running statistics). Parameters are not mutated, so nothing
    that happens inside can change the model; hooks on the replaced convolutions and BatchNorms do not fire inside.
    ``channels_last`` (default: on a CPU) and ``blocked_at_most_px`` choose the layout (see ``FoldedConv2d``).
    """

    def __init__(self, module: nn.Module, channels_last: bool | None = None,
                 blocked_at_most_px: int = BLOCKED_AT_MOST_PX):
        self.module = module
        self.channels_last = channels_last
        self.blocked_at_most_px = blocked_at_most_px
        self.swapped: list[tuple[nn.Module, str, nn.Module, str, nn.Module]] = []

    def __enter__(self) -> nn.Module:
        if self.module.training:
            raise RuntimeError("folding BatchNorm needs the model in eval mode (call model.eval() or use frozen())")
        channels_last = self.channels_last
        for owner, conv_name, bn_name in list(conv_bn_pairs(self.module)):
            conv, bn = getattr(owner, conv_name), getattr(owner, bn_name)
            if type(conv) is not nn.Conv2d or type(bn) is not nn.BatchNorm2d or conv.padding_mode != "zeros":
                continue  # already folded (nested use) or not a plain pair
            if channels_last is None:
                channels_last = conv.weight.device.type == "cpu"
            self.swapped.append((owner, conv_name, conv, bn_name, bn))
            setattr(owner, conv_name, FoldedConv2d(conv, bn, channels_last, self.blocked_at_most_px))
            setattr(owner, bn_name, nn.Identity())
        return self.module

    def __exit__(self, *exc: object) -> None:
        for owner, conv_name, conv, bn_name, bn in reversed(self.swapped):
            setattr(owner, conv_name, conv)
            setattr(owner, bn_name, bn)
        self.swapped.clear()


class FoldedConv2d(nn.Module):
    """A convolution with a BatchNorm folded into its weight and bias. With ``channels_last`` it runs channels-last,
    except where its output is at most ``blocked_at_most_px`` wide, where it runs in the default layout; without, it
    runs in its input's layout, as the convolution it replaces would."""

    def __init__(self, conv: nn.Conv2d, bn: nn.BatchNorm2d, channels_last: bool = False,
                 blocked_at_most_px: int = BLOCKED_AT_MOST_PX):
        super().__init__()
        if conv.padding_mode != "zeros":
            raise ValueError(f"only zero-padded convolutions can be folded, got padding_mode={conv.padding_mode!r}")
        self.weight, self.bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                                      bn.weight, bn.bias)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.blocked_at_most_px = blocked_at_most_px
        self.weight_channels_last = (self.weight.detach().contiguous(memory_format=torch.channels_last)
                                     if channels_last else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if self.weight_channels_last is not None:
            if -(-x.shape[-1] // self.stride[-1]) <= self.blocked_at_most_px:
                x = x.contiguous()
            else:
                weight = self.weight_channels_last
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
