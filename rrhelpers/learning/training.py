"""Standard and adversarial training (eq. 3): SGD, step, cosine or one-cycle schedule, checkpoints, exact resume,
early stopping on held-out robust accuracy, and the package's fast recipe.

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

from ..optimization.attacks import pgd_attack
from ..networks.checkpoints import epochs_to_run, resumable_state, save_state
from ..data import index_batches
from .evaluation import accuracy
from ..networks.models import RobustModel, eval_mode
from ..optimization.problems import default_step_size


@dataclass(frozen=True)
class AttackConfig:
    """The PGD adversary of adversarial training: radius, steps, step size (default 2.5 * eps / steps), norm.

    ``single_step_epochs``: the first epochs attack with one step (of the default size, from a random start)
    instead of ``steps``, cheaper while the network is far from robust (attack steps that grow over training)."""

    eps: float
    steps: int = 7
    step_size: Optional[float] = None
    norm: str = "l2"
    single_step_epochs: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.single_step_epochs < 0:
            raise ValueError(f"AttackConfig needs steps >= 1 and single_step_epochs >= 0; got {self}")

    @property
    def resolved_step_size(self) -> float:
        return default_step_size(self.eps, self.steps) if self.step_size is None else self.step_size

    def at_epoch(self, epoch: int) -> "AttackConfig":
        """The adversary of 0-based ``epoch``: one step during the first ``single_step_epochs``, else this one."""
        if epoch < self.single_step_epochs:
            return AttackConfig(self.eps, steps=1, norm=self.norm)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not self.single_step_epochs:  # written only when set, so the recipes from before it keep their cache keys
            del d["single_step_epochs"]
        return d


@dataclass(frozen=True)
class EarlyStopping:
    """Early stopping on held-out robust accuracy, and the guard against catastrophic overfitting.

    ``images`` training images (a seeded random choice) are held out of training. After every epoch they are
    attacked with PGD-``steps`` at the adversary's radius (random start, step 2.5 * eps / steps); the weights with
    the best held-out robust accuracy so far are kept. If that accuracy falls more than ``collapse`` below the best
    (catastrophic overfitting: few-step training that stops defending against a many-step attack, Wong et al. 2020),
    training stops. Either way the run ends with the best weights.
    """

    images: int = 256
    steps: int = 10
    collapse: float = 0.2

    def __post_init__(self) -> None:
        if self.images < 1 or self.steps < 1 or not 0 < self.collapse <= 1:
            raise ValueError(f"EarlyStopping needs images >= 1, steps >= 1 and 0 < collapse <= 1; got {self}")


SCHEDULES = ("step", "cosine", "onecycle")
ONECYCLE_PEAK = 0.4
"""Share of a one-cycle run spent raising the learning rate (Wong et al.'s code peaks at 1/2, MadryLab's 'cyclic'
schedule at 4/15)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so the cache key of a trained model).

    ``schedule='step'`` multiplies the learning rate by ``lr_decay`` at each epoch in ``milestones`` (the paper:
    0.1 at 30 and 60 of 110 epochs); ``schedule='cosine'`` anneals it to zero over ``epochs`` (per epoch);
    ``schedule='onecycle'`` raises it linearly from 0 to ``lr`` over the first ``ONECYCLE_PEAK`` of the run and
    lowers it linearly to 0 by the end, updated every step (the cyclic rate of Wong, Rice and Kolter 2020).
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
    early_stopping: Optional[EarlyStopping] = None

    def __post_init__(self) -> None:
        if self.early_stopping is not None and self.adversary is None:
            raise ValueError("early_stopping watches held-out robust accuracy: it needs an adversary")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {sorted(AUGMENTATIONS)}; got {self.augment!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        if self.adversary is not None:
            d["adversary"] = self.adversary.to_dict()
        if self.early_stopping is None:  # written only when set, so the recipes from before it keep their cache keys
            del d["early_stopping"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        d["milestones"] = tuple(d.get("milestones", ()))
        if d.get("adversary") is not None:
            d["adversary"] = AttackConfig(**d["adversary"])
        if d.get("early_stopping") is not None:
            d["early_stopping"] = EarlyStopping(**d["early_stopping"])
        return cls(**d)

    def lr_at(self, epoch: float) -> float:
        """The learning rate at ``epoch`` (fractional: epoch + share of its batches done); 'step' and 'cosine'
        change it only between epochs."""
        if self.schedule == "onecycle":
            done = epoch / self.epochs
            return self.lr * (done / ONECYCLE_PEAK if done < ONECYCLE_PEAK else (1 - done) / (1 - ONECYCLE_PEAK))
        if self.schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * math.floor(epoch) / self.epochs))
        return self.lr * self.lr_decay ** sum(math.floor(epoch) >= m for m in self.milestones)


def fast_adversarial_training(eps: float, *, augment: str = "none", epochs: int = 5, steps: int = 2,
                              single_step_epochs: int = 2, lr: float = 0.2, batch_size: int = 128, seed: int = 0,
                              early_stopping: Optional[EarlyStopping] = None) -> TrainConfig:
    """The package's fast L2 adversarial-training recipe: a 2-step adversary from a random start (step
    2.5 * eps / 2), one step in the first 2 epochs, a one-cycle learning rate peaking at 0.2, 5 epochs (the ideas of
    Wong, Rice and Kolter 2020, "Fast is better than free", with L2 balls; ``benchmarks/time_to_robustness.py``
    measures it against MadryLab's PGD-7 loop). A single-step adversary throughout trained the quick MNIST network
    25% faster but kept 12% of 500 test digits under APGD-CE at eps 2.5, against 22% with two steps; one step in
    the first 2 of 5 epochs costs nothing under APGD-CE (MNIST 21.4% against 21.8%, photo crops 70.8% against
    67.8%) and saves about a tenth of the training time."""
    adversary = AttackConfig(eps=eps, steps=steps, single_step_epochs=single_step_epochs)
    return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, schedule="onecycle", augment=augment,
                       adversary=adversary, seed=seed, early_stopping=early_stopping)


def _random_crop(x: torch.Tensor, generator: torch.Generator, pad: int) -> torch.Tensor:
    """Pad by ``pad`` and crop back to size at a random offset per image: one gather on ``x``'s device (the offsets
    come from the CPU generator, so the crops are the same wherever ``x`` lives)."""
    padded = F.pad(x, (pad, pad, pad, pad))
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(x.device)
    rows = (offsets[:, 0, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (offsets[:, 1, None] + torch.arange(w, device=x.device))[:, None, None, :]
    images = torch.arange(n, device=x.device)[:, None, None, None]
    return padded[images, torch.arange(c, device=x.device)[None, :, None, None], rows, cols]


def _crop(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return _random_crop(x, generator, 2)


def _crop_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = _random_crop(x, generator, 4)
    flip = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
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


class _HeldOutWatch:
    """:class:`EarlyStopping`'s bookkeeping: which images are held out, the best held-out robust accuracy so far
    and its weights (part of the training state, so a resumed run keeps them)."""

    def __init__(self, rule: EarlyStopping, adversary: AttackConfig, train_set: Dataset, seed: int):
        if rule.images >= len(train_set):
            raise ValueError(f"early_stopping holds out {rule.images} images of a training set of {len(train_set)}; "
                             "hold out fewer")
        chosen = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(seed * 100_003 + 99_991))
        self.held, self.kept = chosen[: rule.images], chosen[rule.images :].sort().values
        self.rule, self.adversary, self.train_set, self.seed = rule, adversary, train_set, seed
        self.best_accuracy, self.best_weights = -1.0, None

    def measure(self, model: RobustModel) -> float:
        """Accuracy on the held-out images under PGD at the adversary's radius (a fixed random start)."""
        x, y = next(index_batches(self.train_set, [self.held]))
        y = y.to(model.device)
        adv = pgd_attack(model, x, y, self.adversary.eps, self.rule.steps, norm=self.adversary.norm,
                         generator=torch.Generator(device=model.device).manual_seed(self.seed))
        with torch.no_grad(), eval_mode(model):
            return float((model(adv).argmax(1) == y).float().mean())

    def check(self, model: RobustModel) -> tuple[float, bool]:
        """Held-out robust accuracy now, and whether it collapsed below the best; keeps the best weights."""
        accuracy = self.measure(model)
        if accuracy > self.best_accuracy:
            self.best_accuracy = accuracy
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return accuracy, accuracy < self.best_accuracy - self.rule.collapse

    def state(self) -> dict[str, Any]:
        return {"best_accuracy": self.best_accuracy, "best_weights": self.best_weights}

    def load(self, state: dict[str, Any]) -> None:
        self.best_accuracy, self.best_weights = state["best_accuracy"], state["best_weights"]


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
    watch = None
    if config.early_stopping is not None:
        watch = _HeldOutWatch(config.early_stopping, config.adversary, train_set, config.seed)
    start_epoch = start_batch = step = 0
    state = resumable_state(checkpoint, config.to_dict(), resume=resume, what="training")
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        result.history = state["history"]
        start_epoch, start_batch, step = state["epoch"], state.get("batch", 0), state.get("step", 0)
        if watch is not None:
            watch.load(state["watch"])
        if state.get("stopped"):  # an early-stopped run is finished
            start_epoch = config.epochs
    forward = model
    if world > 1:
        forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if runtime.compile:
        forward = torch.compile(forward)
    epochs = epochs_to_run(start_epoch, config.epochs, stop_after)
    trained_on = watch.kept if watch is not None else None  # None: every image of train_set
    batches_per_epoch = math.ceil(len(train_set if trained_on is None else trained_on) / config.batch_size)
    bar = tqdm(
        total=len(epochs) * batches_per_epoch - start_batch,
        desc="adversarial training" if config.adversary else "standard training",
        disable=not progress or rank != 0,
    )
    augment = AUGMENTATIONS[config.augment]

    def save(epoch: int, batch: int, stopped: bool = False) -> None:
        if checkpoint is not None and rank == 0:
            save_state({"config": config.to_dict(), "epoch": epoch, "batch": batch, "step": step,
                        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "history": result.history, "generators": generators, "stopped": stopped,
                        "watch": watch.state() if watch is not None else None}, checkpoint)

    for epoch in epochs:
        started = time.perf_counter()
        generator = _epoch_generator(config.seed, epoch, stream=0)
        attack_generator = _epoch_generator(config.seed, epoch, stream=1, device=device)
        adversary = config.adversary.at_epoch(epoch) if config.adversary is not None else None
        if trained_on is None:
            order = torch.randperm(len(train_set), generator=generator)  # the same on every process
        else:
            order = trained_on[torch.randperm(len(trained_on), generator=generator)]
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
            for group in optimizer.param_groups:
                group["lr"] = config.lr_at(epoch + b / batches_per_epoch)
            x = augment(x.to(device), generator)
            y = y.to(device)
            if runtime.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast(device):
                if adversary is not None:
                    x = pgd_attack(model, x, y, adversary.eps, adversary.steps, adversary.resolved_step_size,
                                   adversary.norm, generator=attack_generator)
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
        collapsed = False
        if watch is not None:  # part of the recipe's cost, so inside the epoch's seconds
            held_out_accuracy, collapsed = watch.check(model)
        record = {
            "epoch": epoch + 1,
            "lr": config.lr_at(epoch),
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            "seconds": time.perf_counter() - started,
        }
        if watch is not None:
            record["held_out_robust_accuracy"] = held_out_accuracy
            if collapsed:
                record["stopped"] = 1.0  # held-out robust accuracy collapsed: catastrophic overfitting
                model.load_state_dict(watch.best_weights)
        if test_set is not None:
            record["test_accuracy"] = accuracy(model, test_set)
        result.history.append(record)
        generators = []
        save(epoch + 1, 0, stopped=collapsed)
        if on_epoch is not None and rank == 0:
            on_epoch(record)
        if collapsed:
            break
    bar.close()
    if watch is not None and watch.best_weights is not None:
        model.load_state_dict(watch.best_weights)  # the run ends with its best held-out robust accuracy
    if runtime.channels_last:  # hand the model back in the default layout, so its callers' gradients are too
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return result
