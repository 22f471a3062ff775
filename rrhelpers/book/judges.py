"""Judges of what an image shows that know neither of the networks a chapter compares (its content checks).

At the quick and CIFAR-10 scales the judge is a 5-nearest-neighbour classifier on the raw pixels of the training
set. At ImageNet scale, where pixel neighbours say little, it is a third classifier (VGG-19 for the ResNet-50s the
chapters compare), its ImageNet classes mapped to the dataset's (Restricted ImageNet's 9 ranges of classes).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..data import RESTRICTED_IMAGENET_LABELS, load_dataset, sample
from ..learning.evaluation import knn_predict
from .profiles import Profile
from ..networks.zoo import load_model

Judge = Callable[[torch.Tensor], torch.Tensor]
"""Images (B, C, H, W) in [0, 1] -> the labels (B,) of the dataset the judge was made for (-1: none of them)."""


def label_map(dataset: str, judge_classes: int, dataset_classes: int) -> torch.Tensor:
    """For each class of the judge, the dataset's label (-1 where the dataset has no such class)."""
    if judge_classes == dataset_classes:
        return torch.arange(judge_classes)
    if dataset == "restricted_imagenet" and judge_classes == 1000:
        mapping = torch.full((1000,), -1, dtype=torch.long)
        mapping[list(RESTRICTED_IMAGENET_LABELS)] = torch.tensor(list(RESTRICTED_IMAGENET_LABELS.values()))
        return mapping
    raise ValueError(f"a judge with {judge_classes} classes cannot label {dataset} ({dataset_classes} classes); "
                     "use a judge trained on the same classes, or an ImageNet classifier for Restricted ImageNet")


def content_judge(profile: Profile, name: str | None = None) -> Judge:
    """The profile's judge (or its judge ``name``): ``'knn'`` (5 nearest neighbours among at most ``profile.pool``
    training images, on raw pixels) or the name of a classifier that is neither ``profile.robust`` nor
    ``profile.standard``."""
    name = profile.judge if name is None else name
    if name not in profile.judges:
        raise ValueError(f"{name!r} is not one of profile {profile.name!r}'s judges {profile.judges}")
    if name == "knn":
        train_x, train_y = sample(load_dataset(profile.dataset, "train"), profile.pool)
        return lambda images: knn_predict(train_x, train_y, images.cpu())
    model = load_model(name, device=profile.device)
    to_labels = label_map(profile.dataset, model.head.out_features, len(load_dataset(profile.dataset, "test").classes))
    return lambda images: to_labels[model.predict(images.to(model.device)).cpu()]


def content_judges(profile: Profile) -> dict[str, Judge]:
    """Every judge of the profile by name, the asserted one (``profile.judge``) first."""
    return {name: content_judge(profile, name) for name in profile.judges}


def recognised(judges: dict[str, Judge], images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """For each judge, the fraction of ``images`` it labels as ``labels``."""
    return {name: (judge(images).cpu() == labels.cpu()).float().mean().item() for name, judge in judges.items()}


def recognised_text(shares: Mapping[str, float]) -> str:
    """:func:`recognised`'s shares as one printed phrase, ``"judge 96%, knn 74%"``."""
    return ", ".join(f"{judge} {share:.0%}" for judge, share in shares.items())
