"""The model zoo: ``load_model(name_or_path)`` for named recipes (trained on first use, then cached) and files.

A recipe fixes dataset, architecture, normalisation, initialisation seed and training config. Its cache key is a
hash of all of them (plus ``RECIPE_VERSION``), so changing any part of a recipe trains a new model instead of
silently loading a stale one. The cache lives in ``$RRHELPERS_CACHE`` if set, else ``$XDG_CACHE_HOME/rrhelpers``
or ``~/.cache/rrhelpers``; files are written atomically, and a lock keeps two processes from training the same
model at once (the second waits and then loads the first one's result).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ..cache import cache_dir, made_once
from .checkpoints import load_model_file, save_model
from .convert import load_checkpoint
from ..data import NORMALIZATION, load_dataset
from ..learning.evaluation import evaluate
from .models import RobustModel, seeded_cpu_rng
from .published import PUBLISHED, load_published
from ..learning.training import AttackConfig, Runtime, TrainConfig, fast_adversarial_training, train

RECIPE_VERSION = 2
"""Bump when the training code changes in a way that changes results, to invalidate every cached model."""


@dataclass(frozen=True)
class Recipe:
    """How to make a zoo model from scratch."""

    dataset: str
    arch: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    train: TrainConfig
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_eps: tuple[float, ...] = (0.0,)
    init_seed: int = 0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "arch": self.arch,
            "arch_kwargs": self.arch_kwargs,
            "mean": list(self.mean),
            "std": list(self.std),
            "train": self.train.to_dict(),
            "eval_eps": list(self.eval_eps),
            "init_seed": self.init_seed,
            "recipe_version": RECIPE_VERSION,
        }

    def key(self) -> str:
        """A short hash of everything that determines the trained weights."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def build(self, classes: list[str]) -> RobustModel:
        """A freshly initialised model (seeded by ``init_seed``, without touching the caller's global RNG)."""
        with seeded_cpu_rng(self.init_seed):  # the weights are made on the CPU
            return RobustModel(self.arch, len(classes), self.mean, self.std, self.arch_kwargs, classes)


RECIPES: dict[str, Recipe] = {}


def _standard_and_robust(prefix: str, adversary: AttackConfig, what: str, train: TrainConfig, **fields: Any) -> None:
    """Register ``{prefix}-standard`` and ``{prefix}-robust`` (trained against ``adversary``), alike otherwise."""
    RECIPES[f"{prefix}-standard"] = Recipe(train=train, description=f"{what}, standard training", **fields)
    RECIPES[f"{prefix}-robust"] = Recipe(
        train=replace(train, adversary=adversary), **fields,
        description=f"{what}, L2 adversarial training at eps {adversary.eps:g} ({adversary.steps} steps)")


MNIST_MEAN, MNIST_STD = NORMALIZATION["mnist5k"]
# L2 radius 2.5 (Tsipras et al. 2019: large-radius L2-robust MNIST models turn targeted attacks into the target
# digit) with a 3-step adversary of steps 2.5 * eps / 3, 10 epochs: a stronger prior than eps 1.5 with 7 steps over
# 15 epochs, in a third of the time (measured in the README's quick-model table).
_standard_and_robust(
    "quick", AttackConfig(eps=2.5, steps=3), "MNIST-5k, small ResNet (512-d R(x))",
    TrainConfig(epochs=10, batch_size=128, lr=0.1, schedule="cosine", augment="crop"),
    dataset="mnist5k", arch="quick_resnet", mean=MNIST_MEAN, std=MNIST_STD,
    arch_kwargs={"in_channels": 1, "width": 32}, eval_eps=(0.0, 1.5, 2.5))

# the same network and radius in the package's fast recipe (2-step adversary, 1 step in the first 2 epochs,
# one-cycle rate, 5 epochs): what benchmarks/time_to_robustness.py measures against MadryLab's PGD-7 loop; no
# chapter loads it
RECIPES["quick-robust-fast"] = replace(
    RECIPES["quick-robust"], train=fast_adversarial_training(2.5, augment="crop"),
    description="MNIST-5k, small ResNet (512-d R(x)), the fast recipe: L2 eps 2.5, 2 steps (1 in the first 2 "
                "epochs), one-cycle, 5 epochs")

PHOTO_MEAN, PHOTO_STD = NORMALIZATION["photo_crops"]
_standard_and_robust(
    "quick-photo", AttackConfig(eps=1.0, steps=3), "colour photo crops (10 photographs, 32 px), small ResNet",
    TrainConfig(epochs=10, batch_size=128, lr=0.1, schedule="cosine", augment="crop_flip"),
    dataset="photo_crops", arch="quick_resnet", mean=PHOTO_MEAN, std=PHOTO_STD,
    arch_kwargs={"in_channels": 3, "width": 32}, eval_eps=(0.0, 0.5))

_standard_and_robust(
    "quick-judge", AttackConfig(eps=1.5, steps=3), "MNIST-5k judge: a narrower, globally pooled ResNet, other seeds",
    TrainConfig(epochs=8, batch_size=128, lr=0.1, schedule="cosine", augment="crop", seed=1),
    dataset="mnist5k", arch="quick_resnet", mean=MNIST_MEAN, std=MNIST_STD,
    arch_kwargs={"in_channels": 1, "width": 16, "pool": 1}, init_seed=1, eval_eps=(0.0, 1.5))

CIFAR_MEAN, CIFAR_STD = NORMALIZATION["cifar10"]
_standard_and_robust(
    "cifar10", AttackConfig(eps=0.5, steps=7), "CIFAR-10 ResNet-18, 150 epochs (a GPU job)",
    TrainConfig(epochs=150, batch_size=128, lr=0.1, milestones=(50, 100), augment="crop_flip"),
    dataset="cifar10", arch="resnet18_cifar", mean=CIFAR_MEAN, std=CIFAR_STD, eval_eps=(0.0, 0.25, 0.5, 1.0))
_standard_and_robust(
    "cifar10-judge", AttackConfig(eps=0.5, steps=7), "CIFAR-10 judge: ResNet-18, other seeds",
    replace(RECIPES["cifar10-standard"].train, seed=1),
    dataset="cifar10", arch="resnet18_cifar", mean=CIFAR_MEAN, std=CIFAR_STD, init_seed=1, eval_eps=(0.0, 0.5))


def reseed_recipes(seed: int, prefix: str = "quick") -> list[str]:
    """Replace every recipe named ``prefix...`` by the same recipe trained from other seeds (initialisation and
    training streams shifted by ``100 * seed``; seed 0 leaves them as they are) and return the names replaced.

    For checking that the chapters' claims survive retraining (``tools/seed_sweep.py`` calls it before a chapter
    runs): a claim that holds for one set of weights only is not a claim.
    """
    names = [name for name in RECIPES if name.startswith(prefix)]
    for name in names:
        recipe = RECIPES[name]
        RECIPES[name] = replace(recipe, init_seed=recipe.init_seed + 100 * seed,
                                train=replace(recipe.train, seed=recipe.train.seed + 100 * seed))
    return names


def cached_path(name: str, recipe: Optional[Recipe] = None) -> Path:
    recipe = recipe or RECIPES[name]
    return cache_dir() / "models" / f"{name}-{recipe.key()}.safetensors"


def make_model(name: str, recipe: Recipe, progress: bool = True,
               on_epoch: Optional[Callable[[dict[str, float]], None]] = None,
               device: str | torch.device = "cpu") -> Path:
    """Train a recipe on ``device`` (resuming an interrupted run from its state file), evaluate it and cache it
    atomically."""
    path = cached_path(name, recipe)
    train_set = load_dataset(recipe.dataset, "train")
    test_set = load_dataset(recipe.dataset, "test")
    model = recipe.build(train_set.classes).to(device)
    state_path = path.with_suffix(".state.pt")
    # channels-last: oneDNN's and cuDNN's faster convolutions (a training step of the quick ResNet about 1.2x
    # faster on a 2-core CPU); how a run executes is not part of the recipe, and the weights are saved contiguous
    result = train(model, train_set, recipe.train, test_set, checkpoint=state_path, progress=progress,
                   on_epoch=on_epoch, runtime=Runtime(channels_last=True))
    # the classic PGD-20 (cross-entropy, step 2.5 eps / 20): cheap enough to run on the whole test split while
    # training; chapter 2 reports the stronger default attack and APGD beside it
    accuracies = evaluate(model, test_set, recipe.eval_eps, steps=20, loss="ce", step_schedule="constant",
                          progress=progress)
    metadata = {
        "name": name,
        "recipe": recipe.to_dict(),
        "description": recipe.description,
        "history": result.history,
        "train_seconds": result.seconds,
        "test_accuracy": {f"{eps:g}": acc for eps, acc in accuracies.items()},
    }
    save_model(model, path, metadata)
    state_path.unlink(missing_ok=True)
    return path


def load_model(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    train_if_missing: bool = True,
    progress: bool = True,
    on_epoch: Optional[Callable[[dict[str, float]], None]] = None,
    download: bool = True,
) -> RobustModel:
    """A :class:`RobustModel` in eval mode from a zoo name (``RECIPES``), a published model (``PUBLISHED``) or a
    checkpoint file path.

    Zoo models are trained on first use (minutes on a CPU for the quick ones) and cached; the model's
    ``metadata`` attribute holds its recipe, training history and measured test accuracies. ``on_epoch`` receives
    each epoch's record while a model is being trained (for live curves). Published models are downloaded on first
    use (``download=False`` refuses and says where to put the file) and converted once.
    """
    name = str(name_or_path)
    if name in PUBLISHED:
        return load_published(name, device, download, progress)
    if name in RECIPES:
        path = cached_path(name)
        made_once(path, lambda: make_model(name, RECIPES[name], progress, on_epoch, device),
                  refusal=None if train_if_missing else
                  f"zoo model {name!r} is not cached at {path}; call with train_if_missing=True")
    else:
        path = Path(name).expanduser()
        if not path.exists():
            raise FileNotFoundError(
                f"{name!r} is neither a zoo model nor an existing file. Zoo models: {sorted(RECIPES)}; published "
                f"models: {sorted(PUBLISHED)}; or pass the path of a checkpoint: rrhelpers' .safetensors, or a "
                "MadryLab robustness / torchvision ResNet .pt file."
            )
    if path.suffix != ".safetensors":
        model = load_checkpoint(path)  # MadryLab robustness / torchvision files, read without pickled code
        return model.to(device)
    model, metadata = load_model_file(path, device)
    model.metadata = metadata
    return model


def model_description(name: str) -> str:
    """How a zoo or published model is made, for a reader: its description and training recipe, or who published
    it, with its architecture, threat model and address."""
    if name in RECIPES:
        return f"{name}: {RECIPES[name].description}\n    {RECIPES[name].train}"
    if name in PUBLISHED:
        entry = PUBLISHED[name]
        return f"{name}: published by {entry.source}, {entry.arch}, {entry.threat} eps {entry.eps:g}\n    {entry.url}"
    raise KeyError(f"{name!r} is neither a zoo model ({sorted(RECIPES)}) nor a published one ({sorted(PUBLISHED)})")


def trained_on(model: RobustModel) -> str:
    """The dataset a zoo or published model was trained on (from its metadata)."""
    metadata = getattr(model, "metadata", None) or {}
    for record in (metadata.get("recipe"), metadata.get("published")):
        if isinstance(record, dict) and "dataset" in record:
            return record["dataset"]
    raise ValueError("this model's metadata names no dataset: only zoo and published models (rr.load_model by name) "
                     "record what they were trained on")
