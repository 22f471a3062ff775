"""Published models: the MadryLab ``robustness`` checkpoints and torchvision's ImageNet weights, by name.

``load_published(name)`` downloads the original file into ``<cache>/published/`` (resumable, checksummed where a
checksum is known), reads it without running pickled code, converts it once to a safetensors :class:`RobustModel`
beside it and loads that from then on. Offline, put the original file where the error message says. Each entry
records where the file comes from and the accuracies its authors report, which the book compares against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import torch

from ..cache import cache_dir, made_once
from .checkpoints import load_model_file, save_model
from .convert import IMAGENET_NORMALIZATION, extract_state_dict, model_from_state_dict, read_checkpoint
from ..data import RESTRICTED_IMAGENET_RANGES
from .downloads import DownloadError, download, verify
from .wrapping import wrap_classifier
from .models import RobustModel

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ROBUSTNESS_README = "https://github.com/MadryLab/robustness (README, 'Pretrained models')"
REPRESENTATIONS_README = "https://github.com/MadryLab/robust_representations (README)"


@dataclass(frozen=True)
class Published:
    """A published model file: where it is, what it is, and what its authors report.

    ``reported`` maps the test eps (as written in the source, e.g. ``"0.5"`` or ``"8/255"``) to the reported
    accuracy in percent. ``sha256`` is the file's checksum (or a prefix of it) where the publisher gives one;
    without one, the checksum of the first download is stored in the converted model's metadata.
    """

    url: str
    dataset: str
    arch: str
    threat: str
    eps: float
    source: str
    reported: dict[str, float] = field(default_factory=dict)
    sha256: Optional[str] = None
    torchvision_weights: Optional[str] = None
    avg_pool: bool = False
    preset: Optional[str] = None

    def train_hint(self) -> str:
        """How to make a comparable model yourself, with ``python -m rrhelpers train``."""
        if self.preset is None:
            return ""
        standard = self.threat == "none" or self.eps == 0
        out = f"runs/{self.preset}" + ("-standard" if standard else "")
        return (f" Or train a comparable model: python -m rrhelpers train --preset {self.preset}"
                f"{' --eps 0' if standard else ''} --data-root <data> --out {out}, then "
                f"load_model('{out}/model.safetensors').")

    @property
    def filename(self) -> str:
        return Path(self.url.split("?")[0]).name

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "dataset": self.dataset, "arch": self.arch, "threat": self.threat, "eps": self.eps,
                "source": self.source, "reported_accuracy": self.reported, "sha256": self.sha256}


def _dropbox(key: str, filename: str) -> str:
    return f"https://www.dropbox.com/s/{key}/{filename}?dl=1"


def _cifar_l2(key: str, filename: str, eps: float, accuracies: tuple[float, ...]) -> Published:
    return Published(_dropbox(key, filename), "cifar10", "resnet50_cifar", "l2", eps, ROBUSTNESS_README,
                     dict(zip(("0", "0.25", "0.5", "1", "2"), accuracies)), preset="cifar10-l2-fast")


def _imagenet_linf(key: str, filename: str, eps: float, accuracies: tuple[float, ...]) -> Published:
    return Published(_dropbox(key, filename), "imagenet", "resnet50", "linf", eps, ROBUSTNESS_README,
                     dict(zip(("0", "4/255", "8/255", "16/255"), accuracies)))


def _torchvision(weights: str, url: str, arch: str, accuracy: float) -> Published:
    """torchvision's ``weights`` at ``url`` (written here, not asked of torchvision, so that importing the package does
    not import torchvision: seconds in every chapter's kernel; a test checks it against ``get_weight(weights).url``);
    the checksum prefix is in the file name."""
    prefix = re.search(r"-([a-f0-9]{8,})\.", url)
    return Published(url, "imagenet", arch, "none", 0.0, f"torchvision.models {weights}", {"0": accuracy},
                     sha256=prefix[1] if prefix else None, torchvision_weights=weights)


PUBLISHED: dict[str, Published] = {
    "madry-cifar10-l2-0": _cifar_l2("yhpp4yws7sgi6lj", "cifar_nat.pt", 0.0, (95.25, 8.66, 0.28, 0.00, 0.00)),
    "madry-cifar10-l2-0.25": _cifar_l2("2qsp7pt6t7uo71w", "cifar_l2_0_25.pt", 0.25,
                                       (92.77, 81.21, 62.30, 21.18, 0.58)),
    "madry-cifar10-l2-0.5": _cifar_l2("1zazwjfzee7c8i4", "cifar_l2_0_5.pt", 0.5, (90.83, 82.34, 70.17, 40.47, 5.23)),
    "madry-cifar10-l2-1": _cifar_l2("s2x7thisiqxz095", "cifar_l2_1_0.pt", 1.0, (81.62, 75.53, 68.63, 52.72, 18.59)),
    "madry-cifar10-linf-8": Published(_dropbox("c9qlt1lbdnu9tlo", "cifar_linf_8.pt"), "cifar10", "resnet50_cifar",
                                      "linf", 8 / 255, ROBUSTNESS_README,
                                      {"0": 87.03, "8/255": 53.49, "16/255": 18.13}),
    "madry-imagenet-l2-3": Published(_dropbox("knf4uimlqsi1yz8", "imagenet_l2_3_0.pt"), "imagenet", "resnet50", "l2",
                                     3.0, ROBUSTNESS_README,
                                     {"0": 57.90, "0.5": 54.42, "1": 50.67, "2": 43.04, "3": 35.16},
                                     preset="imagenet-l2-3"),
    "madry-imagenet-linf-4": _imagenet_linf("axfuary2w1cnyrg", "imagenet_linf_4.pt", 4 / 255,
                                            (62.42, 33.58, 13.13, 1.53)),
    "madry-imagenet-linf-8": _imagenet_linf("yxn15a9zklz3s8q", "imagenet_linf_8.pt", 8 / 255,
                                            (47.91, 33.06, 19.63, 5.00)),
    "madry-reps-cifar10-robust": Published("http://andrewilyas.com/CIFAR.pt", "cifar10", "resnet50_cifar", "l2", 0.5,
                                           REPRESENTATIONS_README),
    "madry-reps-restricted-imagenet-robust": Published("http://andrewilyas.com/RestrictedImageNet.pt",
                                                       "restricted_imagenet", "resnet50", "l2", 3.5,
                                                       REPRESENTATIONS_README, preset="restricted-imagenet-l2-3.5"),
    "madry-reps-restricted-imagenet-standard": Published(
        "https://robustmodels.s3.amazonaws.com/RestrictedImageNetNat.pt", "restricted_imagenet", "resnet50", "none",
        0.0, REPRESENTATIONS_README, preset="restricted-imagenet-l2-3.5"),
}
"""Published models by name. The MadryLab ``robustness`` files were pickled with dill (torch 1.1); MadryLab
publishes no checksums for any of its files."""


PUBLISHED["torchvision-resnet50"] = _torchvision("ResNet50_Weights.IMAGENET1K_V1",
                                                 "https://download.pytorch.org/models/resnet50-0676ba61.pth",
                                                 "resnet50", 76.13)
PUBLISHED["torchvision-vgg19"] = _torchvision("VGG19_Weights.IMAGENET1K_V1",
                                              "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                                              "torchvision:vgg19", 72.376)
PUBLISHED["torchvision-vgg19-avgpool"] = replace(  # Gatys et al.'s variant for style transfer: not evaluated
    PUBLISHED["torchvision-vgg19"], reported={}, avg_pool=True)


def original_path(name: str) -> Path:
    """Where the original file of a published model is (or will be) kept."""
    return cache_dir() / "published" / _entry(name).filename


def converted_path(name: str) -> Path:
    return cache_dir() / "published" / f"{name}.safetensors"


def _entry(name: str) -> Published:
    if name not in PUBLISHED:
        raise ValueError(f"unknown published model {name!r}; available: {sorted(PUBLISHED)}")
    return PUBLISHED[name]


def _find_original(name: str, fetch: bool, progress: bool) -> Path:
    """The original file: in the cache, in torch hub's cache (torchvision weights), or downloaded."""
    entry, path = _entry(name), original_path(name)
    hub = Path(torch.hub.get_dir()) / "checkpoints" / entry.filename
    if not path.exists() and entry.torchvision_weights and hub.exists():
        return hub
    if not path.exists() and not fetch:
        raise FileNotFoundError(f"published model {name!r} is not in the cache: download {entry.url} and put it at "
                                f"{path}, or call with download=True on a machine that is online." + entry.train_hint())
    try:
        return download(entry.url, path, entry.sha256, progress)
    except DownloadError as err:
        raise DownloadError(f"published model {name!r}: {err}{entry.train_hint()}") from err


def _classes(dataset: str) -> list[str]:
    if dataset == "cifar10":
        return list(CIFAR10_CLASSES)
    if dataset == "restricted_imagenet":
        return list(RESTRICTED_IMAGENET_RANGES)
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def convert_original(name: str, path: str | Path) -> RobustModel:
    """The published model ``name`` from its original file (no pickled code runs)."""
    entry = _entry(name)
    state = extract_state_dict(read_checkpoint(path))
    classes = _classes(entry.dataset)
    if entry.arch.startswith("torchvision:"):
        from torchvision.models import get_model

        network = get_model(entry.arch.split(":", 1)[1], weights=None)
        network.load_state_dict(state)
        return wrap_classifier(network, entry.arch, *IMAGENET_NORMALIZATION, classes=classes,
                               avg_pool=entry.avg_pool)
    mean, std = IMAGENET_NORMALIZATION if entry.torchvision_weights else (None, None)
    model = model_from_state_dict(state, mean, std, classes)
    if model.config["arch"] != entry.arch:
        raise ValueError(f"{path} holds a {model.config['arch']}, but {name!r} is a {entry.arch}: wrong file?")
    return model


def load_published(name: str, device: str | torch.device = "cpu", fetch: bool = True,
                   progress: bool = True) -> RobustModel:
    """A published model in eval mode; fetched (unless ``fetch`` is False) and converted on first use (see the
    module docstring).

    ``model.metadata`` holds the entry (source address, threat model, eps, reported accuracies) and the SHA-256
    of the original file it was converted from.
    """
    converted = converted_path(name)

    def convert() -> None:
        original = _find_original(name, fetch, progress)
        model = convert_original(name, original)
        metadata = {"name": name, "published": _entry(name).to_dict(),
                    "original_sha256": verify(original, _entry(name).sha256)}
        save_model(model, converted, metadata)

    made_once(converted, convert)
    model, metadata = load_model_file(converted, device)
    model.metadata = metadata
    return model.eval()
