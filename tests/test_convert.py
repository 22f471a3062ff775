"""Foreign checkpoints (MadryLab robustness, torchvision) load into RobustModel with identical logits, and no
pickled code runs. The MadryLab files are built here from a copy of that library's CIFAR ResNet definition
(``robustness/cifar_models/resnet.py``) wrapped the way its ``AttackerModel`` + ``DataParallel`` save it."""

from __future__ import annotations

import argparse
import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rrhelpers as rr
from rrhelpers.networks import convert
from rrhelpers.networks.checkpoints import CheckpointError

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class MadryBasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class MadryCifarResNet(nn.Module):
    """MadryLab's CIFAR ResNet (basic blocks), with its width multiplier ``wm``."""

    def __init__(self, num_blocks=(2, 2, 2, 2), num_classes: int = 10, wm: float = 1.0):
        super().__init__()
        widths = [int(w * wm) for w in (64, 128, 256, 512)]
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        for i, (w, n) in enumerate(zip(widths, num_blocks)):
            setattr(self, f"layer{i + 1}", self._make_layer(w, n, 1 if i == 0 else 2))
        self.linear = nn.Linear(widths[-1], num_classes)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(MadryBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


def _randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random running statistics and affine parameters, so that eval-mode BN is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
            m.weight.data.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
    return model.eval()


def _madrylab_state(classifier: nn.Module, mean, std) -> dict[str, torch.Tensor]:
    """``DataParallel(AttackerModel(classifier)).state_dict()``: normaliser, model, attacker duplicate."""
    state = {"module.normalizer.new_mean": torch.tensor(mean).view(3, 1, 1),
             "module.normalizer.new_std": torch.tensor(std).view(3, 1, 1)}
    for k, v in classifier.state_dict().items():
        state[f"module.model.{k}"] = v
        state[f"module.attacker.model.{k}"] = v
    state["module.attacker.normalize.new_mean"] = state["module.normalizer.new_mean"]
    state["module.attacker.normalize.new_std"] = state["module.normalizer.new_std"]
    return state


def _assert_same_logits(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal to float32 rounding: the same weights and operations, but e.g. MadryLab's avg_pool2d(4) and our
    adaptive pooling may sum in another order."""
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def _reference_logits(classifier: nn.Module, x: torch.Tensor, mean, std) -> torch.Tensor:
    with torch.no_grad():
        return classifier((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))


@pytest.fixture(scope="module")
def madry_cifar():
    torch.manual_seed(0)
    return _randomise_batchnorm(MadryCifarResNet((1, 1, 1, 1), wm=0.25))


@pytest.mark.parametrize("pickler", ["torch", "dill"])
def test_madrylab_cifar_checkpoint_gives_identical_logits(tmp_path, madry_cifar, pickler):
    checkpoint = {"model": _madrylab_state(madry_cifar, CIFAR_MEAN, CIFAR_STD), "epoch": 150,
                  "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9}]}}
    path = tmp_path / "madry.pt"
    if pickler == "dill":
        dill = pytest.importorskip("dill")
        # what dill adds: the training arguments and a lambda schedule, neither loadable with weights_only
        checkpoint["args"] = argparse.Namespace(arch="resnet18", eps=0.5)
        checkpoint["schedule"] = {"lr_lambdas": [lambda epoch: 0.1 ** (epoch // 50)]}
        torch.save(checkpoint, path, pickle_module=dill)
        with pytest.raises(Exception):
            torch.load(path, weights_only=True)  # so the placeholders are really needed
    else:
        torch.save(checkpoint, path)
    model = rr.load_model(path)
    assert model.config["arch"] == "resnet" and model.config["arch_kwargs"]["layers"] == [1, 1, 1, 1]
    assert model.config["arch_kwargs"]["width"] == 16 and model.config["mean"] == pytest.approx(CIFAR_MEAN)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        _assert_same_logits(model(x), _reference_logits(madry_cifar, x, CIFAR_MEAN, CIFAR_STD))
    raw = convert.read_checkpoint(path)
    if pickler == "dill":
        assert isinstance(raw["args"], convert.Opaque) and "Namespace" in repr(raw["args"])


def test_madrylab_resnet18_is_recognised_by_name(tmp_path):
    torch.manual_seed(1)
    classifier = _randomise_batchnorm(MadryCifarResNet((2, 2, 2, 2)), seed=1)
    path = tmp_path / "resnet18.pt"
    torch.save({"state_dict": _madrylab_state(classifier, CIFAR_MEAN, CIFAR_STD)}, path)
    model = rr.load_model(path)
    assert model.config["arch"] == "resnet18_cifar"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        _assert_same_logits(model(x), _reference_logits(classifier, x, CIFAR_MEAN, CIFAR_STD))


@pytest.mark.parametrize("layout", ["torchvision", "madrylab"])
def test_imagenet_resnet50_from_torchvision_weights(tmp_path, layout):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(2)
    reference = _randomise_batchnorm(torchvision.models.resnet50(weights=None, num_classes=9), seed=2)
    mean, std = convert.IMAGENET_NORMALIZATION
    path = tmp_path / f"{layout}.pt"
    if layout == "torchvision":
        torch.save(reference.state_dict(), path)
        with pytest.raises(CheckpointError, match="no normaliser"):
            rr.load_model(path)
        model = convert.load_checkpoint(path, mean, std)
    else:
        torch.save({"model": _madrylab_state(reference, mean, std)}, path)
        model = rr.load_model(path)
    assert model.config["arch"] == "resnet50" and model.config["num_classes"] == 9
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        _assert_same_logits(model(x), _reference_logits(reference, x, mean, std))


def test_converter_writes_a_safetensors_model_with_the_same_logits(tmp_path, madry_cifar):
    source, target = tmp_path / "madry.pt", tmp_path / "out" / "model.safetensors"
    torch.save({"model": _madrylab_state(madry_cifar, CIFAR_MEAN, CIFAR_STD)}, source)
    assert convert.main([str(source), str(target)]) == 0
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        _assert_same_logits(rr.load_model(target)(x), _reference_logits(madry_cifar, x, CIFAR_MEAN, CIFAR_STD))
    assert convert.main([str(tmp_path / "missing.pt"), str(target)]) == 1


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickled_code_never_runs(tmp_path, madry_cifar):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _madrylab_state(madry_cifar, CIFAR_MEAN, CIFAR_STD), "payload": _Exploit(str(marker))}, path)
    raw = convert.read_checkpoint(path)
    assert not marker.exists()
    assert isinstance(raw["payload"], convert.Opaque) and "system" in repr(raw["payload"])
    rr.load_model(path)  # the weights still load
    assert not marker.exists()


def test_bad_files_give_clear_errors(tmp_path, madry_cifar):
    path = tmp_path / "cut.pt"
    torch.save({"model": _madrylab_state(madry_cifar, CIFAR_MEAN, CIFAR_STD)}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="could not be read"):
        rr.load_model(path)
    path = tmp_path / "no_weights.pt"
    torch.save({"epoch": 3, "model": "not a state dict"}, path)
    with pytest.raises(CheckpointError, match="no state dict"):
        rr.load_model(path)
    path = tmp_path / "vgg.pt"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3), "classifier.weight": torch.zeros(2, 3)}, path)
    with pytest.raises(CheckpointError, match="unexpected weight"):
        convert.load_checkpoint(path, *convert.IMAGENET_NORMALIZATION)
    state = _madrylab_state(madry_cifar, CIFAR_MEAN, CIFAR_STD)
    del state["module.model.layer2.0.bn1.running_var"]
    path = tmp_path / "incomplete.pt"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="missing"):
        rr.load_model(path)
