"""Shared fixtures: tiny models and a private model cache for every test."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

import rrhelpers as rr


USER_CACHE = os.environ.get("RRHELPERS_CACHE")
"""The cache the test run was started with (the book build's), before each test swaps in a private one."""


@pytest.fixture
def user_cache(monkeypatch):
    """Use the cache the run was started with, e.g. to share the quick models with the book build."""
    if USER_CACHE:
        monkeypatch.setenv("RRHELPERS_CACHE", USER_CACHE)
    else:
        monkeypatch.delenv("RRHELPERS_CACHE")


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own empty zoo cache, so no test depends on (or pollutes) the user's cache."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RRHELPERS_CACHE", str(path))
    return path


def tiny_model(in_channels: int = 1, num_classes: int = 10, seed: int = 0, width: int = 4) -> rr.RobustModel:
    torch.manual_seed(seed)
    model = rr.RobustModel(
        "quick_resnet", num_classes, (0.5,) * in_channels, (0.25,) * in_channels,
        {"in_channels": in_channels, "width": width, "layers": (1, 1)},
    )
    return model.eval()


class LinearClassifier(nn.Module):
    """logits = W flatten(x) + b: the model with closed-form worst-case perturbations."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T + self.bias
