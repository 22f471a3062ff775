"""Training feedforward inverters (chapter 9): reconstruction losses, checkpoints, exact resume, and a cache.

The generator learns to reproduce the frozen classifier's inputs from its outputs with three losses, as in
Teterwak et al.: a pixel loss (mean squared error), a feature (perceptual) loss computed with the frozen
classifier itself (squared error of every residual stage's activations, each divided by the target's mean square
so that stages count alike), and optionally the hinge adversarial loss of a projection discriminator conditioned on
the same vector. Every epoch draws its data order and noise from generators seeded by (seed, epoch), so on a CPU
a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..optimization.activations import LayerFeatures, stage_layers
from ..networks.checkpoints import epochs_to_run, resumable_state, save_state
from ..data import iterate_batches, load_dataset
from .inverter import CONDITIONS, Discriminator, FeedforwardInverter, Generator, classifier_condition, \
    load_inverter_file, save_inverter
from ..networks.models import RobustModel, frozen, seeded_cpu_rng
from ..cache import cache_dir, made_once
from ..networks.zoo import RECIPES, load_model

STATISTICS_IMAGES = 4096
"""How many training images (the first ones) give the mean and spread used to standardise conditions."""

INVERTER_VERSION = 1
"""Bump when the training code changes results, to invalidate every cached inverter."""


@dataclass(frozen=True)
class InverterConfig:
    """Everything that determines a trained inverter (and so its cache key).

    ``condition``: 'logits' (the paper's main setting) or 'representation' (R(x)). Loss weights: ``pixel_weight``
    for the mean squared pixel error, ``feature_weight`` for the classifier-feature loss (0 neither computes nor
    records it), ``adversarial_weight`` for the generator's hinge loss (0 trains no discriminator). Adam with ``lr``
    and betas (0.5, 0.999) for both networks; the learning rate is annealed to zero with a cosine over ``epochs``.
    """

    condition: str = "logits"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-3
    width: int = 32
    noise_dim: int = 16
    embed_dim: int = 128
    pixel_weight: float = 1.0
    feature_weight: float = 0.1
    adversarial_weight: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}; got {self.condition!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2 (batch norm needs two examples)")
        if min(self.pixel_weight, self.feature_weight, self.adversarial_weight) < 0:
            raise ValueError("loss weights must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_settings(cls, settings: Any) -> "InverterConfig":
        """The inverter a profile's ``feedforward_inversion`` settings (:func:`rrhelpers.chapter_settings`) ask for:
        chapter 9 and ``benchmarks/quick_models.py`` train the same one."""
        return cls(epochs=settings.epochs, batch_size=settings.batch_size, width=settings.width,
                   feature_weight=settings.feature_weight, adversarial_weight=settings.adversarial_weight,
                   seed=settings.seed)

    def lr_at(self, epoch: int) -> float:
        return self.lr * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))


def feature_loss(got: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """Per-layer squared error of the classifier's activations, each over the target's mean square, summed."""
    return sum(((got[k] - t) ** 2).mean() / (t**2).mean().clamp_min(1e-8) for k, t in targets.items())


def _build(config: InverterConfig, conditions: torch.Tensor, shape: tuple[int, int, int],
           device: torch.device) -> tuple[Generator, Optional[Discriminator]]:
    """Generator (and discriminator if needed), seeded by ``config.seed``, with the conditions' statistics."""
    channels, size = shape[0], shape[-1]
    with seeded_cpu_rng(config.seed):  # built on the CPU, moved later
        generator = Generator(conditions.shape[1], channels, size, config.width, config.noise_dim, config.embed_dim)
        discriminator = (Discriminator(conditions.shape[1], channels, size, config.width)
                         if config.adversarial_weight > 0 else None)
    mean, std = conditions.mean(0), conditions.std(0).clamp_min(1e-6)
    for net in (generator, discriminator):
        if net is not None:
            net.cond_mean.copy_(mean)
            net.cond_std.copy_(std)
    return generator.to(device), discriminator.to(device) if discriminator is not None else None


def train_inverter(
    classifier: RobustModel,
    train_set: Dataset,
    config: InverterConfig = InverterConfig(),
    checkpoint: Optional[str | Path] = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Optional[Callable[[dict[str, float]], None]] = None,
    stop_after: Optional[int] = None,
) -> FeedforwardInverter:
    """Train a generator that inverts the frozen ``classifier`` on ``train_set``; returns it with its history.

    ``checkpoint``: the full training state (both networks, optimisers, history) is written there atomically
    after every epoch, and with ``resume`` an existing state from the same config is continued. ``stop_after``
    ends this call after that many epochs (resume continues the run). The classifier is left as it was.
    """
    device = classifier.device
    sample, _ = next(iterate_batches(train_set, STATISTICS_IMAGES))
    conditions = classifier_condition(classifier, sample, config.condition)
    generator, discriminator = _build(config, conditions.cpu(), tuple(sample.shape[1:]), device)
    generator.to(memory_format=torch.channels_last)  # oneDNN's faster convolutions: a step about 1.2x faster on a CPU
    betas = (0.5, 0.999)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas) if discriminator else None
    history: list[dict[str, float]] = []
    start = 0
    state = resumable_state(checkpoint, config.to_dict(), resume=resume, what="inverter")
    if state is not None:
        generator.load_state_dict(state["generator"])
        opt_g.load_state_dict(state["opt_g"])
        if discriminator is not None:
            discriminator.load_state_dict(state["discriminator"])
            opt_d.load_state_dict(state["opt_d"])
        history, start = state["history"], state["epoch"]
    epochs = epochs_to_run(start, config.epochs, stop_after)
    n = len(train_set)
    bar = tqdm(total=len(epochs) * -(-n // config.batch_size), desc=f"inverter ({config.condition})",
               disable=not progress)
    # the feature loss reads every residual stage; without it only the condition is read
    layers = stage_layers(classifier) if config.feature_weight > 0 else []
    condition_layer = "head" if config.condition == "logits" else "backbone"
    # BatchNorms folded: the hooks read whole stages and the head, which folding leaves in place
    with frozen(classifier, fold_batchnorm=True), LayerFeatures(classifier, layers + [condition_layer]) as read:
        for epoch in epochs:
            started = time.perf_counter()
            for opt in (opt_g, opt_d):
                for group in opt.param_groups if opt else ():
                    group["lr"] = config.lr_at(epoch)
            g = torch.Generator().manual_seed((config.seed * 100_003 + epoch) * 2)
            sums = {"pixel": 0.0, "feature": 0.0, "adversarial": 0.0, "discriminator": 0.0}
            generator.train()
            for x, _ in iterate_batches(train_set, config.batch_size, shuffle=True, generator=g):
                if len(x) < 2:
                    continue  # batch norm needs two examples
                x = x.to(device)
                z = torch.randn(len(x), config.noise_dim, generator=g).to(device)
                with torch.no_grad():
                    targets = read(x)
                c = targets.pop(condition_layer)
                fake = generator(c, z)
                losses = {"pixel": F.mse_loss(fake, x)}
                total = config.pixel_weight * losses["pixel"]
                if layers:
                    losses["feature"] = feature_loss(read(fake), targets)
                    total = total + config.feature_weight * losses["feature"]
                if discriminator is not None:
                    losses["adversarial"] = -discriminator(fake, c).mean()
                    total = total + config.adversarial_weight * losses["adversarial"]
                opt_g.zero_grad(set_to_none=True)
                total.backward()
                opt_g.step()
                if discriminator is not None:
                    d_loss = (F.relu(1 - discriminator(x, c)).mean()
                              + F.relu(1 + discriminator(fake.detach(), c)).mean())
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    opt_d.step()
                    losses["discriminator"] = d_loss
                for k, v in losses.items():
                    sums[k] += float(v.detach()) * len(x)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, pixel=f"{float(losses['pixel'].detach()):.4f}", refresh=False)
            record = {"epoch": epoch + 1, "lr": config.lr_at(epoch), "seconds": time.perf_counter() - started,
                      **{k: v / n for k, v in sums.items() if k in losses}}
            history.append(record)
            if checkpoint is not None:
                state = {"config": config.to_dict(), "epoch": epoch + 1, "generator": generator.state_dict(),
                         "opt_g": opt_g.state_dict(), "history": history}
                if discriminator is not None:
                    state.update(discriminator=discriminator.state_dict(), opt_d=opt_d.state_dict())
                save_state(state, checkpoint)
            if on_epoch is not None:
                on_epoch(record)
    bar.close()
    generator.eval()
    return FeedforwardInverter(generator, config.condition, {"config": config.to_dict(), "history": history})


def inverter_path(classifier: str, config: InverterConfig) -> Path:
    """Cache file of the inverter of zoo model ``classifier`` trained with ``config``."""
    blob = json.dumps({"classifier": RECIPES[classifier].key(), "config": config.to_dict(),
                       "version": INVERTER_VERSION}, sort_keys=True).encode()
    return cache_dir() / "inverters" / f"{classifier}-{hashlib.sha256(blob).hexdigest()[:16]}.safetensors"


def load_inverter(classifier: str, config: InverterConfig = InverterConfig(), device: str | torch.device = "cpu",
                  train_if_missing: bool = True, progress: bool = True,
                  on_epoch: Optional[Callable[[dict[str, float]], None]] = None) -> FeedforwardInverter:
    """The inverter of zoo classifier ``classifier``: trained on its training set on first use, then cached.

    Training resumes from its per-epoch state if interrupted; the finished inverter is written atomically and a
    lock keeps two processes from training the same one.
    """
    if classifier not in RECIPES:
        raise ValueError(f"{classifier!r} is not a zoo model; choose one of {sorted(RECIPES)}, or train an inverter "
                         "for your own classifier with train_inverter(...)")
    path = inverter_path(classifier, config)

    def make() -> None:
        model = load_model(classifier, device=device, progress=progress)
        train_set = load_dataset(RECIPES[classifier].dataset, "train")
        state_path = path.with_suffix(".state.pt")
        inverter = train_inverter(model, train_set, config, state_path, progress=progress, on_epoch=on_epoch)
        inverter.metadata["classifier"] = classifier
        save_inverter(inverter, path)
        state_path.unlink(missing_ok=True)

    made_once(path, make, refusal=None if train_if_missing else
              f"the inverter of {classifier!r} is not cached at {path}; call with train_if_missing=True")
    return load_inverter_file(path, device)
