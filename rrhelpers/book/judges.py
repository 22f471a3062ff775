"""Judges of what an image shows that know neither of the networks a chapter compares (its content checks).

At the quick and CIFAR-10 scales the judge is a 5-nearest-neighbour classifier on the raw pixels of the training
set. At ImageNet scale, where pixel neighbours say little, it is a third classifier (VGG-19 for the ResNet-50s the
chapters compare), its ImageNet classes mapped to the dataset's (Restricted ImageNet's 9 ranges of classes).
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple, Optional, Sequence

import torch

from ..data import RESTRICTED_IMAGENET_LABELS, load_dataset, sample
from ..learning.evaluation import inversion_measures, knn_predict
from .profiles import Profile
from ..networks.models import RobustModel
from ..networks.zoo import load_model
from ..optimization.solver import SolverResult

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


def generation_judges(models: Mapping[str, RobustModel], independent: Sequence[str], train_x: torch.Tensor,
                      train_y: torch.Tensor) -> dict[str, Judge]:
    """Chapter 10's judges of generated images: the compared ``models`` themselves (under their names), the two
    ``independent`` classifiers (standard then robust, as ``"indep. standard"`` and ``"indep. robust"``, on the
    models' device) and 5 nearest neighbours on the raw pixels of the whole training set (``"5-NN pixels"``)."""
    device = next(iter(models.values())).device
    return {**{name: m.predict for name, m in models.items()},
            **{f"indep. {kind}": load_model(name, device=device).predict
               for kind, name in zip(("standard", "robust"), independent, strict=True)},
            "5-NN pixels": lambda images: knn_predict(train_x, train_y, images)}


def recognised_share(judge: Judge, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The fraction of ``images`` that ``judge`` labels as ``labels``."""
    return (judge(images).cpu() == labels.cpu()).float().mean().item()


def recognised(judges: dict[str, Judge], images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """For each judge, the fraction of ``images`` it labels as ``labels``."""
    return {name: recognised_share(judge, images, labels) for name, judge in judges.items()}


def inversion_scores(results: Mapping[str, SolverResult], goals: torch.Tensor, labels: Optional[torch.Tensor] = None,
                     judges: Optional[dict[str, Judge]] = None) -> dict[str, dict[str, float]]:
    """Per model, how close its inversion came to ``goals`` (:func:`inversion_measures`) and, where the goals'
    ``labels`` are known, the share of the inversions each judge recognises as them."""
    return {name: {**inversion_measures(result, goals),
                   **(recognised(judges or {}, result.x.cpu(), labels) if labels is not None else {})}
            for name, result in results.items()}


class SourceKept(NamedTuple):
    """How often a judge still recognises the source's class in eq. 7's additions and in the unconstrained maximisers
    (eq. 4) of the same coordinates from the same sources; it prints as a one-line summary."""

    added: float
    maximiser: float

    @property
    def advantage(self) -> float:
        """Share kept by the additions minus that kept by the maximisers: above 0 if stopping at the clip helps."""
        return self.added - self.maximiser

    def __str__(self) -> str:
        return (f"the judge recognises the source in {self.added:.0%} of the additions and in "
                f"{self.maximiser:.0%} of the unconstrained maximisers")


def source_kept(judge: Judge, added: torch.Tensor, maximisers: torch.Tensor, labels: torch.Tensor) -> SourceKept:
    """Whether feature additions keep their source's content (chapter 5's claim): the share of ``added`` and of
    ``maximisers`` that ``judge`` labels as their sources' ``labels``."""
    return SourceKept(recognised_share(judge, added, labels), recognised_share(judge, maximisers, labels))


def recognised_text(shares: Mapping[str, float]) -> str:
    """:func:`recognised`'s shares as one printed phrase, ``"judge 96%, knn 74%"``."""
    return ", ".join(f"{judge} {share:.0%}" for judge, share in shares.items())
