"""Time to robustness: wall time until held-out robust accuracy first reaches a target, for three training loops.

(a) MadryLab ``robustness``' own epoch loop (``robustness.train._model_loop``) with its optimiser and schedule
    (``make_optimizer_and_schedule``) and its standard recipe: PGD-7 with random start, step 2.5 * eps / 7, SGD
    (lr 0.1, momentum 0.9, weight decay 5e-4), the learning rate divided by 10 at 1/3 and 2/3 of the run (its
    CIFAR-10 default, ``step_lr`` 50 of 150 epochs, scaled to the run's length);
(b) this package's loop (``rrhelpers.train``) with the same recipe;
(c) this package's fast recipe (``rrhelpers.fast_adversarial_training``): the adversary, learning-rate schedule and
    length of the ``quick-robust-fast`` zoo model, at the workload's radius.

Same architecture, initial weights, data (the same augmented batches in the same order for (a) and (b)), batch size
and machine, in one run; with ``--seeds`` the three loops run again from other initial weights, data orders and
evaluation samples, and the summary gives each loop's median time to the target (one seed's curve is noisy enough
to move the time to the target by an epoch either way). After every epoch the clock stops and the model is
evaluated on a seeded random sample of the test split: clean accuracy and PGD-20 (cross-entropy, step 2.5 * eps /
20, random start) at the training radius; at the end APGD-CE (torchattacks, 100 steps) on the same sample, the
attack the package did not write. Training time excludes evaluation; the evaluation time is reported separately.

Two workloads: the quick MNIST task at its training radius (L2 2.5) and a CIFAR-shaped one (the bundled colour photo
crops, 32 px, at L2 0.5). The peers are installed for benchmarks only (``make bench-peers``)::

    .venv/bin/python benchmarks/time_to_robustness.py --peers .bench-peers --json benchmarks/results/time-to-robustness-cpu.json

MadryLab ``robustness`` calls ``.cuda()`` unconditionally; without CUDA its loop runs with ``Tensor.cuda`` made a
no-op for the duration of its calls (as in ``speed.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator, Optional

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import MadryInterface, cuda_calls_stay_put, print_table, run_header, write_json  # noqa: E402

import rrhelpers as rr  # noqa: E402
from rrhelpers.data import NORMALIZATION  # noqa: E402
from rrhelpers.networks.models import seeded_cpu_rng  # noqa: E402
from rrhelpers.learning.training import AUGMENTATIONS, AttackConfig, TrainConfig, _epoch_generator  # noqa: E402


@dataclass(frozen=True)
class Workload:
    dataset: str
    eps: float
    augment: str
    target: float
    """PGD-20 accuracy at ``eps`` on the evaluation sample that counts as robust."""
    arch: str = "quick_resnet"
    arch_kwargs: dict[str, Any] = field(default_factory=dict)


WORKLOADS = {
    # targets fixed before the first run: MNIST 0.45 (the quick robust model keeps 0.56 under this PGD-20, the
    # standard one 0.00); photo crops 0.68 (standard training alone reaches 0.64 at eps 0.5 on these easy crops,
    # the quick photo robust model 0.73)
    "mnist": Workload("mnist5k", 2.5, "crop", 0.45, arch_kwargs={"in_channels": 1, "width": 32}),
    "photo32": Workload("photo_crops", 0.5, "crop_flip", 0.68, arch_kwargs={"in_channels": 3, "width": 32}),
}

MADRY = "(a) MadryLab robustness, PGD-7"
OURS = "(b) rrhelpers, PGD-7"
FAST = "(c) rrhelpers, fast recipe"


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), default=sorted(WORKLOADS))
    p.add_argument("--epochs", type=int, default=9, help="epochs of the reference recipe (a multiple of 3)")
    p.add_argument("--eval-images", type=int, default=500, help="seeded random test images evaluated per epoch")
    p.add_argument("--fast-epochs", type=int, default=None,
                   help="epochs of the fast recipe (c); default: rr.fast_adversarial_training's")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--train-images", type=int, default=None, help="train on a seeded random subset (smoke runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0],
                   help="one run of every loop per seed: initial weights, data order and evaluation sample")
    p.add_argument("--loops", nargs="+", choices=["a", "b", "c"], default=["a", "b", "c"])
    p.add_argument("--peers", type=Path, default=None, help="folder the peer libraries were installed into")
    p.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    return p.parse_args(argv)


def reference_recipe(work: Workload, epochs: int, batch: int, seed: int) -> TrainConfig:
    """MadryLab's standard recipe as a TrainConfig: PGD-7, step 2.5 eps / 7, lr 0.1 divided by 10 at 1/3 and 2/3."""
    return TrainConfig(epochs=epochs, batch_size=batch, lr=0.1, momentum=0.9, weight_decay=5e-4, schedule="step",
                       milestones=(epochs // 3, 2 * epochs // 3), augment=work.augment,
                       adversary=AttackConfig(work.eps, 7), seed=seed)


class Evaluator:
    """Clean and PGD-20 accuracy on a fixed seeded sample of the test split; it keeps its own time."""

    def __init__(self, work: Workload, images: int, seed: int):
        test = rr.load_dataset(work.dataset, "test")
        chosen = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:images]
        self.x, self.y = test.tensors(chosen)
        self.eps = work.eps
        self.seconds = 0.0

    def __call__(self, model: rr.RobustModel) -> dict[str, float]:
        started = time.perf_counter()
        with rr.eval_mode(model):
            adv = rr.pgd_attack(model, self.x, self.y, self.eps, 20, loss="ce",
                                generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                clean = (model(self.x).argmax(1) == self.y).float().mean().item()
                robust = (model(adv).argmax(1) == self.y).float().mean().item()
        self.seconds += time.perf_counter() - started
        return {"clean": clean, "pgd20": robust}

    def apgd_ce(self, model: rr.RobustModel) -> float:
        started = time.perf_counter()
        correct = rr.apgd_robust(model, self.x, self.y, self.eps, losses=("ce",))
        self.seconds += time.perf_counter() - started
        return correct.float().mean().item()


def initial_model(work: Workload, classes: list[str], seed: int) -> rr.RobustModel:
    mean, std = NORMALIZATION[work.dataset]
    with seeded_cpu_rng(seed):
        return rr.RobustModel(work.arch, len(classes), mean, std, work.arch_kwargs, classes)


def run_ours(model: rr.RobustModel, train_set: Any, config: TrainConfig, evaluate: Evaluator,
             bar: tqdm) -> list[dict[str, float]]:
    """``rrhelpers.train``; its per-epoch ``seconds`` stop before the evaluation that ``on_epoch`` runs."""
    curve: list[dict[str, float]] = []
    elapsed = [0.0]

    def on_epoch(record: dict[str, float]) -> None:
        elapsed[0] += record["seconds"]
        curve.append({"epoch": record["epoch"], "seconds": elapsed[0], **evaluate(model)})
        bar.update(1)

    rr.train(model, train_set, config, progress=False, on_epoch=on_epoch,
             runtime=rr.learning.training.Runtime(channels_last=True))
    return curve


def augmented_batches(train_set: Any, config: TrainConfig, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The batches ``rrhelpers.train`` draws in ``epoch`` (same order and augmentation), for the peer's loop."""
    generator = _epoch_generator(config.seed, epoch, stream=0)
    order = torch.randperm(len(train_set), generator=generator)
    augment = AUGMENTATIONS[config.augment]
    for idx in order.split(config.batch_size):
        x, y = train_set.tensors(idx)
        yield augment(x, generator), y


def run_madry(model: rr.RobustModel, train_set: Any, config: TrainConfig, evaluate: Evaluator, bar: tqdm,
              device: torch.device) -> list[dict[str, float]]:
    """MadryLab's ``_model_loop`` for each epoch, with its optimiser and StepLR schedule."""
    from robustness.attacker import AttackerModel
    from robustness.train import _model_loop, make_optimizer_and_schedule

    identity = SimpleNamespace(mean=torch.zeros(model.in_channels), std=torch.ones(model.in_channels))
    wrapped = AttackerModel(MadryInterface(model), identity).to(device)
    adv = config.adversary
    settings = SimpleNamespace(
        lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, mixed_precision=False,
        custom_lr_multiplier=None, step_lr=config.epochs // 3, step_lr_gamma=config.lr_decay,
        eps=adv.eps, constraint="2", attack_lr=adv.resolved_step_size, attack_steps=adv.steps, random_start=True,
        random_restarts=0, use_best=True, custom_eps_multiplier=None)
    optimizer, schedule = make_optimizer_and_schedule(settings, wrapped, None, None)
    curve: list[dict[str, float]] = []
    elapsed = 0.0
    for epoch in range(config.epochs):
        batches = list(augmented_batches(train_set, config, epoch))
        with cuda_calls_stay_put(device), open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
            started = time.perf_counter()
            _model_loop(settings, "train", [(x.to(device), y.to(device)) for x, y in batches], wrapped, optimizer,
                        epoch, True, None)
            schedule.step()
            elapsed += time.perf_counter() - started
        curve.append({"epoch": epoch + 1, "seconds": elapsed, **evaluate(model)})
        bar.update(1)
    model.eval()
    return curve


def time_to(curve: list[dict[str, float]], target: float) -> Optional[float]:
    """Training seconds at the end of the first epoch whose PGD-20 accuracy reaches ``target`` (None: never)."""
    return next((point["seconds"] for point in curve if point["pgd20"] >= target), None)


def median_or_none(values: list[Optional[float]]) -> Optional[float]:
    """The median, a run that never reached the target (None) counting as slower than every other; None if that is
    where the median falls."""
    ranked = sorted(values, key=lambda v: (v is None, v or 0.0))
    middle = ranked[(len(ranked) - 1) // 2: len(ranked) // 2 + 1]
    return None if any(v is None for v in middle) else statistics.mean(middle)


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per loop over the seeds: how many runs reached the target, the median time to it and that median's speed-up
    over loop (a)'s, the smallest per-seed speed-up, the median per-epoch speed-up and the mean final accuracies."""
    by_loop = {loop: [row for row in rows if row["loop"] == loop] for loop in dict.fromkeys(r["loop"] for r in rows)}
    madry = median_or_none([row["seconds_to_target"] for row in by_loop[MADRY]]) if MADRY in by_loop else None
    summary = []
    for loop, mine in by_loop.items():
        median = median_or_none([row["seconds_to_target"] for row in mine])
        per_seed = [row["speedup_to_target_vs_a"] for row in mine]
        epochs = [row["epoch_speedup_vs_a"] for row in mine if row["epoch_speedup_vs_a"] is not None]
        summary.append({"loop": loop, "seeds": len(mine),
                        "reached": sum(row["seconds_to_target"] is not None for row in mine),
                        "median_seconds_to_target": median,
                        "speedup_to_target_vs_a": madry / median if madry and median else None,
                        "smallest_speedup_vs_a": None if None in per_seed else min(per_seed),
                        "epoch_speedup_vs_a": statistics.median(epochs) if epochs else None,
                        "clean": statistics.mean(row["clean"] for row in mine),
                        "apgd_ce": statistics.mean(row["apgd_ce"] for row in mine)})
    return summary


def run_workload(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    work = WORKLOADS[name]
    train_set = rr.load_dataset(work.dataset, "train")
    if args.train_images:
        chosen = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
        train_set = rr.ImageDataset(*train_set.tensors(chosen[:args.train_images]), train_set.classes)
    runs = [run_seed(work, name, train_set, seed, args, device) for seed in args.seeds]
    rows = [row for rows, _ in runs for row in rows]
    return {"workload": {"name": name, "dataset": work.dataset, "eps": work.eps, "target_pgd20": work.target,
                         "arch": work.arch, "arch_kwargs": work.arch_kwargs, "train_images": len(train_set),
                         "eval_images": args.eval_images},
            "rows": rows, "summary": summarise(rows), "evaluation_seconds": sum(seconds for _, seconds in runs)}


def run_seed(work: Workload, name: str, train_set: Any, seed: int, args: argparse.Namespace,
             device: torch.device) -> tuple[list[dict[str, Any]], float]:
    """Every loop of ``args.loops`` once from ``seed``: their rows, and the seconds spent evaluating."""
    reference = reference_recipe(work, args.epochs, args.batch, seed)
    length = {} if args.fast_epochs is None else {"epochs": args.fast_epochs}
    fast = replace(rr.fast_adversarial_training(work.eps, augment=work.augment, **length), batch_size=args.batch,
                   seed=seed)
    loops: dict[str, tuple[TrainConfig, Callable]] = {}
    if "a" in args.loops:
        loops[MADRY] = (reference, lambda m, c, e, b: run_madry(m, train_set, c, e, b, device))
    if "b" in args.loops:
        loops[OURS] = (reference, lambda m, c, e, b: run_ours(m, train_set, c, e, b))
    if "c" in args.loops:
        loops[FAST] = (fast, lambda m, c, e, b: run_ours(m, train_set, c, e, b))
    evaluate = Evaluator(work, args.eval_images, seed)
    rows = []
    bar = tqdm(total=sum(c.epochs for c, _ in loops.values()), desc=f"time to robustness: {name}, seed {seed}")
    for loop, (config, run) in loops.items():
        model = initial_model(work, train_set.classes, seed).to(device)
        curve = run(model, config, evaluate, bar)
        rows.append({"workload": name, "seed": seed, "loop": loop, "recipe": config.to_dict(), "curve": curve,
                     "train_seconds": curve[-1]["seconds"], "clean": curve[-1]["clean"],
                     "pgd20": curve[-1]["pgd20"], "apgd_ce": evaluate.apgd_ce(model),
                     "seconds_to_target": time_to(curve, work.target)})
    bar.close()
    by_loop = {row["loop"]: row for row in rows}
    madry_time = by_loop.get(MADRY, {}).get("seconds_to_target")
    for row in rows:  # None where loop (a) did not run or a loop never reached the target
        reached = row["seconds_to_target"]
        row["speedup_to_target_vs_a"] = madry_time / reached if madry_time and reached else None
        row["epoch_speedup_vs_a"] = None
        if MADRY in by_loop:
            madry_epoch = by_loop[MADRY]["train_seconds"] / by_loop[MADRY]["recipe"]["epochs"]
            row["epoch_speedup_vs_a"] = madry_epoch / (row["train_seconds"] / row["recipe"]["epochs"])
    return rows, evaluate.seconds


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.epochs % 3:
        raise SystemExit(f"--epochs {args.epochs}: the reference schedule decays at 1/3 and 2/3; pass a multiple of 3")
    if "a" in args.loops:
        if args.peers is not None:
            if not args.peers.is_dir():
                raise SystemExit(f"--peers {args.peers} is not a folder; run `make bench-peers` first")
            sys.path.insert(0, str(args.peers.resolve()))
        try:
            import robustness.train  # noqa: F401
        except ImportError as err:
            raise SystemExit(f"loop (a) needs MadryLab robustness ({err}): run `make bench-peers` and pass "
                             "--peers .bench-peers, or leave it out with --loops b c")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    results = run_header(args, device)
    results["workloads"] = [run_workload(name, args, device) for name in args.workloads]
    for result in results["workloads"]:
        work = result["workload"]
        print(f"{work['name']}: {work['dataset']}, L2 eps {work['eps']}, target PGD-20 >= {work['target_pgd20']:.0%} "
              f"on {work['eval_images']} test images (evaluation {result['evaluation_seconds']:.0f} s, not counted)")
        print_table(result["rows"], ["seed", "loop", "train_seconds", "clean", "pgd20", "apgd_ce", "seconds_to_target",
                                     "speedup_to_target_vs_a", "epoch_speedup_vs_a"])
        if len(args.seeds) > 1:
            print_table(result["summary"], ["loop", "seeds", "reached", "median_seconds_to_target",
                                            "speedup_to_target_vs_a", "smallest_speedup_vs_a", "epoch_speedup_vs_a",
                                            "clean", "apgd_ce"])
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
