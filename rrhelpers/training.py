"""Standard and adversarial training (eq. 3): SGD, step or cosine schedule, checkpoints, exact resume.

Adversarial training replaces each batch by PGD adversarial examples found with the package's solver (model in
eval mode while attacking, so each example's attack is independent of the rest of the batch). Every epoch draws
its shuffling, augmentation and random starts from generators seeded by (seed, epoch), so on a CPU a run resumed
from an end-of-epoch checkpoint gives the same weights as an uninterrupted one (on a GPU, nondeterministic cuDNN
kernels make the two differ slightly unless ``torch.use_deterministic_algorithms(True)`` is set).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .attacks import default_step_size, pgd_attack
from .checkpoints import CheckpointError, load_state, save_state
from .data import iterate_batches
from .evaluation import accuracy
from .models import RobustModel


@dataclass(frozen=True)
class AttackConfig:
    """The PGD adversary of adversarial training: radius, steps, step size (default 2.5 * eps / steps), norm."""

    eps: float
    steps: int = 7
    step_size: Optional[float] = None
    norm: str = "l2"

    @property
    def resolved_step_size(self) -> float:
        return default_step_size(self.eps, self.steps) if self.step_size is None else self.step_size


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so the cache key of a trained model).

    ``schedule='step'`` multiplies the learning rate by ``lr_decay`` at each epoch in ``milestones`` (the paper:
    0.1 at 30 and 60 of 110 epochs); ``schedule='cosine'`` anneals it to zero over ``epochs``.
    ``augment``: 'none', 'crop' (pad 2 and random-crop, shifts of up to 2 px) or 'crop_flip' (pad 4, crop, flip).
    """

    epochs: int = 15
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "step"
    milestones: tuple[int, ...] = ()
    lr_decay: float = 0.1
    augment: str = "none"
    adversary: Optional[AttackConfig] = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in ("step", "cosine"):
            raise ValueError(f"schedule must be 'step' or 'cosine'; got {self.schedule!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {sorted(AUGMENTATIONS)}; got {self.augment!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        d["milestones"] = tuple(d.get("milestones", ()))
        if d.get("adversary") is not None:
            d["adversary"] = AttackConfig(**d["adversary"])
        return cls(**d)

    def lr_at(self, epoch: int) -> float:
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))
        return self.lr * self.lr_decay ** sum(epoch >= m for m in self.milestones)


def _random_crop(x: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    padded = F.pad(x, (pad, pad, pad, pad))
    h, w = x.shape[-2:]
    offsets = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=generator)
    return torch.stack([padded[i, :, a : a + h, b : b + w] for i, (a, b) in enumerate(offsets.tolist())])


def _crop(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return _random_crop(x, generator, 2)


def _crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = _random_crop(x, generator, 4)
    flip = torch.rand(len(x), generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


AUGMENTATIONS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "none": lambda x, g: x,
    "crop": _crop,
    "crop_flip": _crop_flip,
}


@dataclass
class TrainResult:
    """Per-epoch records (loss, accuracies, learning rate, seconds) and the total training time."""

    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(h["seconds"] for h in self.history)


def _epoch_generator(seed: int, epoch: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator per (seed, epoch, stream): data order/augmentation and attack starts draw independent numbers."""
    return torch.Generator(device=device).manual_seed((seed * 100_003 + epoch) * 2 + stream)


def train(
    model: RobustModel,
    train_set: Dataset,
    config: TrainConfig,
    test_set: Optional[Dataset] = None,
    checkpoint: Optional[str | Path] = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Optional[Callable[[dict[str, float]], None]] = None,
    stop_after: Optional[int] = None,
) -> TrainResult:
    """Train ``model`` in place; standard training if ``config.adversary`` is None, else PGD adversarial training.

    ``checkpoint``: a path where the full training state is written atomically after every epoch; with ``resume``
    an existing state there (from the same config) is loaded and training continues after its last epoch.
    ``test_set``: clean test accuracy is recorded each epoch. ``on_epoch(record)`` is called after each epoch (live
    curves). ``stop_after``: stop after this many epochs of this call (to split a run; resume continues it).
    """
    device = model.device
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    result = TrainResult()
    start_epoch = 0
    if checkpoint is not None and resume and Path(checkpoint).exists():
        state = load_state(checkpoint)
        if state["config"] != config.to_dict():
            raise CheckpointError(
                f"{checkpoint} was written by a different training config ({state['config']}); "
                "pass resume=False to start afresh or use another checkpoint path"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        result.history = state["history"]
        start_epoch = state["epoch"]
    end_epoch = config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
    batches_per_epoch = math.ceil(len(train_set) / config.batch_size)
    bar = tqdm(
        total=(end_epoch - start_epoch) * batches_per_epoch,
        desc="adversarial training" if config.adversary else "standard training",
        disable=not progress,
    )
    augment = AUGMENTATIONS[config.augment]
    for epoch in range(start_epoch, end_epoch):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        generator = _epoch_generator(config.seed, epoch, stream=0)
        attack_generator = _epoch_generator(config.seed, epoch, stream=1, device=device)
        model.train()
        loss_sum = correct = seen = 0.0
        for x, y in iterate_batches(train_set, config.batch_size, shuffle=True, generator=generator):
            x = augment(x, generator).to(device)
            y = y.to(device)
            if config.adversary is not None:
                adv = config.adversary
                x = pgd_attack(model, x, y, adv.eps, adv.steps, adv.resolved_step_size, adv.norm, generator=attack_generator)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}", refresh=False)
        record = {
            "epoch": epoch + 1,
            "lr": config.lr_at(epoch),
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "seconds": time.perf_counter() - started,
        }
        if test_set is not None:
            record["test_accuracy"] = accuracy(model, test_set)
        result.history.append(record)
        if checkpoint is not None:
            state = {
                "config": config.to_dict(),
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": result.history,
            }
            save_state(state, checkpoint)
        if on_epoch is not None:
            on_epoch(record)
    bar.close()
    model.eval()
    return result
