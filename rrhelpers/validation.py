"""Input checks shared by the public entry points: clear errors instead of silent nonsense."""

from __future__ import annotations

import torch


class InputError(ValueError):
    """Raised when an image batch is not what the models expect (shape, dtype or value range)."""


def check_images(x: torch.Tensor, channels: int | None = None, name: str = "images", *, sync: bool = True) -> None:
    """Check that ``x`` is a float batch (B, C, H, W) with finite values in [0, 1].

    Models normalise internally, so callers must pass raw pixels scaled to [0, 1]
    (e.g. ``torchvision.transforms.ToTensor()`` output), never 0-255 or mean/std-normalised tensors.
    With ``sync=False`` the range is checked only on the CPU, shape and dtype everywhere: reading it back from a GPU
    makes the host wait for the GPU, which hot loops (a forward pass per solver or training step) should not do.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name} must be a torch.Tensor of shape (B, C, H, W); got {type(x).__name__}.")
    if x.dim() != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.dim() == 3 else ""
        raise InputError(f"{name} must have shape (B, C, H, W); got shape {tuple(x.shape)}.{hint}")
    if channels is not None and x.shape[1] != channels:
        raise InputError(
            f"{name} must have {channels} channel(s) in dim 1; got shape {tuple(x.shape)}. "
            "Channels come first: permute (B, H, W, C) arrays with x.permute(0, 3, 1, 2)."
        )
    if not x.is_floating_point():
        raise InputError(f"{name} must be a floating-point tensor in [0, 1]; got dtype {x.dtype}. Use x.float() / 255.")
    if not sync and x.device.type != "cpu":
        return
    inside = ((x >= 0) & (x <= 1)).all()  # NaN compares false, so this also rejects NaN
    if not bool(inside):
        if bool(torch.isnan(x).any()):
            raise InputError(f"{name} contain NaN values; check the data pipeline or the optimisation that made them.")
        raise InputError(
            f"{name} must have values in [0, 1] (the model normalises internally); got range "
            f"[{x.min().item():.4g}, {x.max().item():.4g}]. Divide 0-255 images by 255 and do not mean/std-normalise."
        )
