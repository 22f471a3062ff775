"""``python -m rrhelpers train``: standard or adversarial training from the command line, on one device or many.

One process::

    python -m rrhelpers train --dataset cifar10 --arch resnet18_cifar --eps 0.5 --epochs 150 --out runs/c10

Several GPUs (or several CPU processes with the gloo backend), data-parallel::

    torchrun --nproc_per_node 8 -m rrhelpers train --preset cifar10-l2-fast --out runs/fast

The run folder holds ``state.pt`` (the full training state, written atomically at the end of every epoch and every
``--checkpoint-every`` steps; running the same command again resumes from it), ``steps.csv`` and ``epochs.csv``
(logs), ``tensorboard/`` with ``--tensorboard``, and finally ``model.safetensors`` (loadable with
``rr.load_model(path)``), with the accuracies measured on the test set in its metadata.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist

from ..networks.checkpoints import save_model
from ..data import DATASETS, NORMALIZATION, SYNTHETIC_SHAPES, first, load_dataset, synthetic
from .evaluation import evaluate
from ..networks.models import RobustModel
from .training import AUGMENTATIONS, SCHEDULES, AttackConfig, EarlyStopping, Runtime, TrainConfig, train
from ..networks.zoo import RECIPES, Recipe

PRESETS: dict[str, dict[str, Any]] = {
    "cifar10-l2-fast": dict(
        dataset="cifar10", arch="resnet18_cifar", eps=0.5, attack_steps=5, epochs=40, batch_size=512, lr=0.4,
        schedule="cosine", augment="crop_flip", precision="bf16", channels_last=True, eval_eps=[0.0, 0.5]),
    "restricted-imagenet-l2-3.5": dict(
        dataset="restricted_imagenet", arch="resnet50", eps=3.5, attack_steps=7, attack_step_size=0.1, epochs=110,
        batch_size=128, lr=0.1, schedule="step", milestones=[30, 60], precision="bf16", channels_last=True,
        workers=8, eval_eps=[0.0, 3.5]),
    "imagenet-l2-3": dict(
        dataset="imagenet", arch="resnet50", eps=3.0, attack_steps=3, epochs=90, batch_size=256, lr=0.1,
        schedule="step", milestones=[30, 60], precision="bf16", channels_last=True, workers=8,
        eval_eps=[0.0, 3.0]),
}
"""Recipes with a time target. ``cifar10-l2-fast``: L2 eps 0.5 adversarial training of a CIFAR ResNet-18 with
PGD-5, 40 epochs at batch 512 (learning rate scaled linearly from 0.1 at 128, cosine), bf16 and channels_last:
7.6 M gradient passes over 32 px images, meant to reach the time-to-robustness target (88% clean, 68% PGD-20 at
eps 0.5) in under an hour on one H100. ``--dry-run`` measures a machine's throughput for it and projects the time:
9,239 images/s on one H200, 3.6 minutes for the whole run (``benchmarks/results/gpu-check-h200.log``); its accuracy
on CIFAR-10 has not been measured yet. ``restricted-imagenet-l2-3.5`` is the paper's Restricted
ImageNet model (Appendix A: ResNet-50, 110 epochs, lr 0.1 dropped 10x at 30 and 60, batch 128, L2 eps 3.5 with 7
steps of 0.1); ``imagenet-l2-3`` an ImageNet ResNet-50 at L2 eps 3 (PGD-3, 90 epochs; the images are augmented by
the folder's own random-resized-crop and flip). Every zoo recipe (``rr.RECIPES``, e.g. ``quick-robust``) is a preset
too: :func:`recipe_options`."""


def recipe_options(recipe: Recipe) -> dict[str, Any]:
    """A zoo recipe as the command line's defaults: the same data, architecture, initialisation seed, training and
    test radii, channels-last as the zoo trains (so ``--preset quick-robust`` trains what ``rr.load_model`` would)."""
    train = recipe.train
    options = dict(dataset=recipe.dataset, arch=recipe.arch, arch_kwargs=dict(recipe.arch_kwargs), epochs=train.epochs,
                   batch_size=train.batch_size, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay,
                   schedule=train.schedule, milestones=list(train.milestones), lr_decay=train.lr_decay,
                   augment=train.augment, seed=train.seed, init_seed=recipe.init_seed, eval_eps=list(recipe.eval_eps),
                   channels_last=True, eps=0.0)
    if train.adversary is not None:
        options.update(eps=train.adversary.eps, attack_steps=train.adversary.steps,
                       attack_step_size=train.adversary.step_size, norm=train.adversary.norm,
                       single_step_epochs=train.adversary.single_step_epochs)
    if train.early_stopping is not None:
        options.update(early_stopping=train.early_stopping.images, early_stopping_steps=train.early_stopping.steps,
                       early_stopping_collapse=train.early_stopping.collapse)
    return options


def preset_names() -> list[str]:
    """What ``--preset`` accepts: the recipes above and every zoo recipe."""
    return sorted({*PRESETS, *RECIPES})


def preset_options(name: str) -> dict[str, Any]:
    """The defaults that ``--preset name`` sets: a recipe above, or a zoo recipe's."""
    return PRESETS[name] if name in PRESETS else recipe_options(RECIPES[name])


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m rrhelpers train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=preset_names(),
                   help="start from a recipe (one above, or any zoo model's); explicit options override it")
    p.add_argument("--out", type=Path, required=True, help="run folder (state, logs, final model)")
    p.add_argument("--dataset", choices=sorted(DATASETS), default="mnist5k")
    p.add_argument("--data-root", default=None, help="where CIFAR-10 is (downloaded) or the ImageNet folder")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only (smoke tests)")
    p.add_argument("--arch", default="quick_resnet", help="rrhelpers architecture name")
    p.add_argument("--arch-kwargs", type=json.loads, default={}, help='JSON, e.g. \'{"width": 16}\'')
    p.add_argument("--eps", type=float, default=0.0, help="L2 radius of adversarial training; 0: standard training")
    p.add_argument("--attack-steps", type=int, default=7)
    p.add_argument("--attack-step-size", type=float, default=None, help="default: 2.5 * eps / steps")
    p.add_argument("--single-step-epochs", type=int, default=0,
                   help="the first epochs attack with one step instead of --attack-steps (cheaper early on)")
    p.add_argument("--norm", choices=["l2", "linf"], default="l2")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128, help="global batch (divided among processes)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--schedule", choices=SCHEDULES, default="step",
                   help="onecycle: linear up to --lr over the first 40%% of the run, then down to 0, every step")
    p.add_argument("--milestones", type=int, nargs="*", default=[])
    p.add_argument("--lr-decay", type=float, default=0.1, help="learning-rate factor at each milestone")
    p.add_argument("--augment", choices=sorted(AUGMENTATIONS), default="none")
    p.add_argument("--early-stopping", type=int, default=0, metavar="IMAGES",
                   help="hold out IMAGES training images; keep the weights with the best held-out PGD accuracy and "
                        "stop if it collapses (catastrophic overfitting); 0: off")
    p.add_argument("--early-stopping-steps", type=int, default=EarlyStopping.steps, help="PGD steps of that check")
    p.add_argument("--early-stopping-collapse", type=float, default=EarlyStopping.collapse,
                   help="stop when held-out robust accuracy falls this far below its best")
    p.add_argument("--seed", type=int, default=0, help="data order and augmentation (and initialisation by default)")
    p.add_argument("--init-seed", type=int, default=None, help="initialisation of the weights; default: --seed")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also write the state every N steps")
    p.add_argument("--log-every", type=int, default=50, help="write a steps.csv row every N steps")
    p.add_argument("--tensorboard", action="store_true", help="also log to OUT/tensorboard (needs tensorboard)")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes (folder datasets)")
    p.add_argument("--eval-eps", type=float, nargs="*", default=None, help="test-set eps values (default: 0, eps)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--dry-run", type=int, default=0, metavar="STEPS",
                   help="only time STEPS training steps and project the time of the whole run")
    p.add_argument("--synthetic", action="store_true",
                   help="with --dry-run: random images shaped like the dataset's instead of the data (cifar10 and the "
                        "ImageNets), so nothing is downloaded; the projection uses the real training-set size")
    p.add_argument("--no-progress", action="store_true")
    preset = _preset_in(argv if argv is not None else sys.argv[1:])
    if preset:
        p.set_defaults(**preset_options(preset))
    return p.parse_args(argv)


def _preset_in(argv: list[str]) -> Optional[str]:
    for i, arg in enumerate(argv):
        if arg == "--preset" and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--preset="):
            name = arg.split("=", 1)[1]
        else:
            continue
        return name if name in preset_names() else None
    return None


def configs(args: argparse.Namespace) -> tuple[TrainConfig, Runtime]:
    adversary = None
    if args.eps > 0:
        adversary = AttackConfig(eps=args.eps, steps=args.attack_steps, step_size=args.attack_step_size,
                                 norm=args.norm, single_step_epochs=args.single_step_epochs)
    early_stopping = None
    if args.early_stopping:
        if adversary is None:
            raise SystemExit("--early-stopping watches held-out robust accuracy: it needs adversarial training (--eps)")
        early_stopping = EarlyStopping(args.early_stopping, args.early_stopping_steps, args.early_stopping_collapse)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
                         weight_decay=args.weight_decay, schedule=args.schedule, milestones=tuple(args.milestones),
                         lr_decay=args.lr_decay, augment=args.augment, adversary=adversary, seed=args.seed,
                         early_stopping=early_stopping)
    runtime = Runtime(precision=args.precision, channels_last=args.channels_last, compile=args.compile,
                      checkpoint_every=args.checkpoint_every, log_every=args.log_every)
    return config, runtime


class RunLogs:
    """Rows to ``steps.csv`` / ``epochs.csv`` (appended, so a resumed run continues them) and TensorBoard."""

    def __init__(self, folder: Path, tensorboard: bool):
        self.folder = folder
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise SystemExit(f"--tensorboard needs the tensorboard package ({err}); "
                                 "pip install tensorboard, or leave the flag out (the CSV logs are always written)")
            self.writer = SummaryWriter(str(folder / "tensorboard"))

    def _write(self, kind: str, x_key: str, record: dict[str, float]) -> None:
        path = self.folder / f"{kind}s.csv"
        new = not path.exists()
        with open(path, "a", newline="") as fh:
            out = csv.DictWriter(fh, fieldnames=list(record))
            if new:
                out.writeheader()
            out.writerow(record)
        if self.writer is not None:
            for key, value in record.items():
                if key != x_key:
                    self.writer.add_scalar(f"{kind}/{key}", value, record[x_key])
            self.writer.flush()

    def step(self, record: dict[str, float]) -> None:
        self._write("step", "step", record)

    def epoch(self, record: dict[str, float]) -> None:
        self._write("epoch", "epoch", record)


def _setup_distributed(device: Optional[str]) -> torch.device:
    """Join the process group if started by torchrun; the device of this process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _datasets(args: argparse.Namespace, rank: int) -> tuple[Any, Any]:
    if args.synthetic:
        if not args.dry_run:
            raise SystemExit("--synthetic only times a run (--dry-run STEPS): a model trained on random images is "
                             "worth nothing")
        if args.dataset not in SYNTHETIC_SHAPES:
            raise SystemExit(f"--synthetic imitates {sorted(SYNTHETIC_SHAPES)}; --dataset {args.dataset} ships with "
                             "the package or needs its folder")
        images = (args.dry_run + 1) * args.batch_size
        return synthetic(args.dataset, images, args.seed), None
    kwargs = {"root": args.data_root} if args.data_root and args.dataset not in ("mnist5k", "photo_crops") else {}
    if rank != 0 and dist.is_initialized():
        dist.barrier()  # rank 0 downloads first
    train_set, test_set = load_dataset(args.dataset, "train", **kwargs), load_dataset(args.dataset, "test", **kwargs)
    if rank == 0 and dist.is_initialized():
        dist.barrier()
    return (first(train_set, args.limit) if args.limit else train_set), test_set


def dry_run(model: RobustModel, train_set: Any, config: TrainConfig, runtime: Runtime, steps: int,
            run_images: Optional[int] = None) -> dict[str, float]:
    """Time ``steps`` training steps (after one warm-up step) and project the whole run (``config.epochs`` over
    ``run_images``, default all of ``train_set``) from the throughput. Each step reads its loss, so the timing
    includes the device's work."""
    subset = first(train_set, steps * config.batch_size)
    one_epoch = dataclasses.replace(config, epochs=1)
    train(model, first(train_set, config.batch_size), one_epoch, progress=False, runtime=runtime)
    started = time.perf_counter()
    train(model, subset, one_epoch, progress=False, runtime=runtime)
    per_s = len(subset) / (time.perf_counter() - started)
    images = (run_images or len(train_set)) * config.epochs
    return {"images_per_s": per_s, "projected_hours": images / per_s / 3600, "images": images}


def initial_model(args: argparse.Namespace, classes: list[str]) -> RobustModel:
    """The untrained ``--arch`` with the dataset's normalisation, its weights drawn after seeding the global
    generator with ``--init-seed`` (default ``--seed``), as the zoo does with a recipe's ``init_seed``."""
    mean, std = NORMALIZATION[args.dataset]
    torch.manual_seed(args.seed if args.init_seed is None else args.init_seed)
    return RobustModel(args.arch, len(classes), mean, std, args.arch_kwargs, classes)


def main(argv: Optional[list[str]] = None, on_step: Optional[Callable[[dict[str, float]], None]] = None) -> int:
    args = parse_args(argv)
    device = _setup_distributed(args.device)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    config, runtime = configs(args)
    train_set, test_set = _datasets(args, rank)
    model = initial_model(args, train_set.classes).to(device)
    if args.dry_run:
        run_images = SYNTHETIC_SHAPES[args.dataset][2] if args.synthetic else None
        result = dry_run(model, train_set, config, runtime, args.dry_run, run_images)
        if rank == 0:
            print(f"{result['images_per_s']:.1f} images/s on {world} x {device.type}: the whole run "
                  f"({config.epochs} epochs x {result['images'] // config.epochs} images) would take "
                  f"{result['projected_hours']:.2f} h")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    logs = RunLogs(args.out, args.tensorboard) if rank == 0 else None
    if logs is not None:
        def log_step(record: dict[str, float]) -> None:
            logs.step(record)
            if on_step is not None:
                on_step(record)

        runtime = dataclasses.replace(runtime, on_step=log_step)
    started = time.perf_counter()
    result = train(model, train_set, config, checkpoint=args.out / "state.pt", progress=not args.no_progress,
                   on_epoch=logs.epoch if logs else None, runtime=runtime, num_workers=args.workers)
    if rank == 0:
        eval_eps = args.eval_eps if args.eval_eps is not None else sorted({0.0, args.eps})
        accuracies = evaluate(model, test_set, eval_eps, progress=not args.no_progress)
        metadata = {"recipe": {"dataset": args.dataset, "arch": args.arch, "arch_kwargs": args.arch_kwargs,
                               "train": config.to_dict()},
                    "runtime": {"precision": args.precision, "channels_last": args.channels_last,
                                "compile": args.compile, "world_size": world, "device": str(device)},
                    "history": result.history, "train_seconds": result.seconds,
                    "wall_seconds": time.perf_counter() - started,
                    "test_accuracy": {f"{eps:g}": acc for eps, acc in accuracies.items()}}
        save_model(model, args.out / "model.safetensors", metadata)
        print(json.dumps({"model": str(args.out / "model.safetensors"), "test_accuracy": metadata["test_accuracy"],
                          "train_seconds": round(result.seconds, 1)}))
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
