"""Standard and adversarial training (eq. 3): SGD, step or cosine schedule, checkpoints, exact resume.

Adversarial training replaces each batch by PGD adversarial examples found with the package's solver (model in
eval mode while attacking, so each example's attack is independent of the rest of the batch). Every epoch draws
its shuffling, augmentation and random starts from generators seeded by (seed, epoch), so on a CPU a run resumed
from an end-of-epoch checkpoint gives the same weights as an uninterrupted one (on a GPU, nondeterministic cuDNN
kernels make the two differ slightly unless ``torch.use_deterministic_algorithms(True)`` is set).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from .attacks import default_step_size, pgd_attack
from .checkpoints import CheckpointError, load_state, save_state
from .data import index_batches
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


@dataclass(frozen=True)
class Runtime:
    """How a run executes, as opposed to what it computes (so not part of a zoo model's cache key).

    ``precision='bf16'`` runs forward passes (training and attack) under bfloat16 autocast; ``channels_last``
    stores images and weights NHWC (faster convolutions on GPUs and oneDNN CPUs); ``compile`` wraps the model in
    ``torch.compile``. ``checkpoint_every`` also writes the training state every that many optimiser steps (0:
    only at the end of each epoch); a run resumed from a mid-epoch state continues with the next batch. ``on_step``
    receives a record every ``log_every`` steps (the CLI writes them to CSV and TensorBoard). Under ``torchrun``
    (``torch.distributed`` initialised), each process trains on its shard of every batch in
    DistributedDataParallel with its own augmentation and attack-start streams, and only rank 0 writes
    checkpoints and calls the callbacks; a resumed multi-process run continues deterministically, but not
    bit-identically to an uninterrupted one (single-process runs resume exactly).
    """

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    checkpoint_every: int = 0
    log_every: int = 50
    on_step: Optional[Callable[[dict[str, float]], None]] = None

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16'; got {self.precision!r}")
        if self.checkpoint_every < 0 or self.log_every < 1:
            raise ValueError("checkpoint_every must be >= 0 and log_every >= 1")

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _epoch_generator(seed: int, epoch: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator per (seed, epoch, stream): data order/augmentation and attack starts draw independent numbers."""
    return torch.Generator(device=device).manual_seed((seed * 100_003 + epoch) * 2 + stream)


def _world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) unless torch.distributed is initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _shards(order: torch.Tensor, batch_size: int, start: int, rank: int, world: int) -> list[torch.Tensor]:
    """The epoch's batches from batch ``start`` on, in ``order``; each process gets every world-th image of a batch."""
    return [idx[rank::world] for idx in order.split(batch_size)[start:]]


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
    runtime: Runtime = Runtime(),
    num_workers: int = 0,
) -> TrainResult:
    """Train ``model`` in place; standard training if ``config.adversary`` is None, else PGD adversarial training.

    ``checkpoint``: a path where the full training state is written atomically after every epoch (and every
    ``runtime.checkpoint_every`` steps); with ``resume`` an existing state there (from the same config) is loaded
    and training continues where it stopped. ``test_set``: clean test accuracy is recorded each epoch.
    ``on_epoch(record)`` is called after each epoch (live curves). ``stop_after``: stop after this many epochs of
    this call (to split a run; resume continues it). ``runtime``: precision, memory format, compilation, step
    checkpoints and logs (:class:`Runtime`); several processes under ``torchrun`` train data-parallel.
    """
    device = model.device
    rank, world = _world()
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the {world} processes")
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    result = TrainResult()
    start_epoch = start_batch = step = 0
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
        start_epoch, start_batch, step = state["epoch"], state.get("batch", 0), state.get("step", 0)
    forward = model
    if world > 1:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if runtime.compile:
        forward = torch.compile(forward)
    end_epoch = config.epochs if stop_after is None else min(config.epochs, start_epoch + stop_after)
    batches_per_epoch = math.ceil(len(train_set) / config.batch_size)
    bar = tqdm(
        total=(end_epoch - start_epoch) * batches_per_epoch - start_batch,
        desc="adversarial training" if config.adversary else "standard training",
        disable=not progress or rank != 0,
    )
    augment = AUGMENTATIONS[config.augment]

    def save(epoch: int, batch: int) -> None:
        if checkpoint is not None and rank == 0:
            save_state({"config": config.to_dict(), "epoch": epoch, "batch": batch, "step": step,
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "history": result.history, "generators": generators}, checkpoint)

    for epoch in range(start_epoch, end_epoch):
        started = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = config.lr_at(epoch)
        generator = _epoch_generator(config.seed, epoch, stream=0)
        attack_generator = _epoch_generator(config.seed, epoch, stream=1, device=device)
        order = torch.randperm(len(train_set), generator=generator)  # the same on every process
        if world > 1:  # each process draws its own augmentations and attack starts (from the batch it starts at)
            offset = ((config.seed * 100_003 + epoch) * 1_000 + start_batch) * 4_096 + rank + 1
            generator.manual_seed(offset * 2)
            attack_generator.manual_seed(offset * 2 + 1)
        elif start_batch:  # resuming mid-epoch: continue the saved random streams exactly
            generator.set_state(state["generators"][0])
            attack_generator.set_state(state["generators"][1])
        model.train()
        loss_sum = correct = seen = 0.0
        window_started, window_images = time.perf_counter(), 0
        shards = _shards(order, config.batch_size, start_batch, rank, world)
        for b, (x, y) in enumerate(index_batches(train_set, shards, num_workers), start=start_batch):
            x = augment(x, generator).to(device)
            y = y.to(device)
            if runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast(device):
                if config.adversary is not None:
                    adv = config.adversary
                    x = pgd_attack(model, x, y, adv.eps, adv.steps, adv.resolved_step_size, adv.norm,
                                   generator=attack_generator)
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += float(loss.detach()) * len(y)
            correct += float((logits.argmax(1) == y).sum())
            seen += len(y)
            window_images += len(y) * world
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.3f}", refresh=False)
            if runtime.on_step is not None and rank == 0 and step % runtime.log_every == 0:
                now = time.perf_counter()
                runtime.on_step({"step": step, "epoch": epoch + b / batches_per_epoch, "lr": config.lr_at(epoch),
                                 "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                                 "images_per_s": window_images / (now - window_started)})
                window_started, window_images = now, 0
            generators = [generator.get_state(), attack_generator.get_state()]
            if runtime.checkpoint_every and step % runtime.checkpoint_every == 0 and b + 1 < batches_per_epoch:
                save(epoch, b + 1)
        start_batch = 0
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
        generators = []
        save(epoch + 1, 0)
        if on_epoch is not None and rank == 0:
            on_epoch(record)
    bar.close()
    model.eval()
    return result
