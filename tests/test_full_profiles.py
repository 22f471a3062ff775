"""The restricted_imagenet and imagenet profiles end to end on stand-ins built here: an ImageNet folder of 1000
class folders with a few tiny images, and small ResNets saved in each published model's own format (MadryLab
dill-free torch.save with DataParallel/attacker prefixes; torchvision's plain state dict) at the cache paths the
entries name. From the profile: data, both models (no download), chapter settings, the solver at those settings,
and the training preset's command on the folder."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
import torch
from torchvision.models.resnet import BasicBlock, ResNet

import rrhelpers as rr
from rrhelpers import published, train_cli
from rrhelpers.representations import invert, noise_seeds

from .test_convert import _madrylab_state, _randomise_batchnorm
from .test_data import _fake_imagenet


def _stand_in(name: str, num_classes: int, monkeypatch) -> torch.nn.Module:
    """A small torchvision-layout ResNet written where published model ``name``'s original file goes."""
    torch.manual_seed(len(name))
    network = _randomise_batchnorm(ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes))
    entry = published.PUBLISHED[name]
    path = published.original_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.torchvision_weights:
        torch.save(network.state_dict(), path)
    else:
        mean, std = rr.data.NORMALIZATION[entry.dataset]
        torch.save({"model": _madrylab_state(network, mean, std), "epoch": 110}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # the stand-in is another file than the published one: its own checksum, and a small ResNet, not a ResNet-50
    monkeypatch.setitem(published.PUBLISHED, name, replace(entry, arch="resnet",
                                                           sha256=digest if entry.sha256 else None))
    return network


@pytest.fixture
def imagenet_root(tmp_path, monkeypatch):
    _fake_imagenet(tmp_path / "imagenet")
    monkeypatch.setenv("RRHELPERS_IMAGENET", str(tmp_path / "imagenet"))
    monkeypatch.setenv("RRHELPERS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "imagenet"


@pytest.mark.parametrize("profile,num_classes", [("restricted_imagenet", 9), ("imagenet", 1000)])
def test_profile_end_to_end_on_stand_ins(imagenet_root, monkeypatch, profile, num_classes):
    P = rr.get_profile(profile)
    test_set = rr.load_dataset(P.dataset, "test", size=64)
    assert len(test_set.classes) == num_classes
    x, y = test_set.tensors(range(2))
    assert x.shape == (2, 3, 64, 64) and 0 <= x.min() and x.max() <= 1

    for name in (P.robust, P.standard):
        _stand_in(name, num_classes, monkeypatch)
    models = {role: rr.load_model(getattr(P, role), download=False, progress=False) for role in ("robust", "standard")}
    for model in models.values():
        assert len(model.classes) == num_classes and model.config["arch_kwargs"]["stem"] == "imagenet"
        assert model.metadata["published"]["dataset"] == P.dataset
    if profile == "restricted_imagenet":
        assert models["robust"].classes == test_set.classes == list(rr.data.RESTRICTED_IMAGENET_RANGES)
    expected_mean = rr.data.NORMALIZATION[P.dataset][0]
    assert models["robust"].config["mean"] == pytest.approx(expected_mean)

    cfg = rr.chapter_settings(profile, "inversion", steps=3)
    assert cfg.step_size == 1.0  # the paper's step at 224 px
    seeds = noise_seeds(x.shape, std=cfg.noise_std, seed=cfg.seed)
    result = invert(models["robust"], x, seeds, steps=cfg.steps, step_size=cfg.step_size)
    assert result.x.shape == x.shape and torch.isfinite(result.x).all()
    assert (result.value <= result.start_value).all()  # the representation distance did not grow
    adv = rr.pgd_attack(models["robust"], x, y, eps=P.train_eps, steps=2)
    assert ((adv - x).flatten(1).norm(dim=1) <= P.train_eps + 1e-4).all()


def test_training_preset_runs_on_the_folder(imagenet_root, tmp_path):
    """The preset (bf16 overridden: fp32 is faster on a CPU) on the folder, with a small ResNet. Width 16, not 8:
    with 8 channels, channels_last convolutions crash torch 2.14 on this CPU (double free)."""
    out = tmp_path / "run"
    code = train_cli.main(["--preset", "restricted-imagenet-l2-3.5", "--data-root", str(imagenet_root),
                           "--out", str(out), "--limit", "4", "--epochs", "1", "--batch-size", "2",
                           "--attack-steps", "1", "--arch", "resnet", "--workers", "0", "--precision", "fp32",
                           "--arch-kwargs", '{"layers": [1, 1, 1, 1], "width": 16, "stem": "imagenet"}',
                           "--no-progress"])
    assert code == 0
    model = rr.load_model(out / "model.safetensors")
    assert model.classes == list(rr.data.RESTRICTED_IMAGENET_RANGES)
    assert model.metadata["recipe"]["train"]["adversary"]["eps"] == 3.5
    assert set(model.metadata["test_accuracy"]) == {"0", "3.5"}
