"""Speed of this package's solver and adversarial training against torchattacks and MadryLab ``robustness``.

One run, one machine, one model, one batch: every library attacks the same images with the same L2 PGD settings
(no random start, so the results must agree), timed in interleaved repeats (the median is reported). Then one
epoch of adversarial training per library that has a training loop. On a GPU it also measures the fraction of the
GPU's bf16 dense peak reached by a PGD step of ResNet-50 at 224 px.

The peers are installed for the benchmark only, into a folder of their own (see ``benchmarks/README.md``)::

    python -m pip install --no-deps --target .bench-peers -r benchmarks/peers.txt
    python benchmarks/speed.py --peers .bench-peers --json benchmarks/results/speed-cpu.json

MadryLab ``robustness`` (last release 2020) calls ``.cuda()`` unconditionally (``attacker.py``: ``orig_input =
orig_input.cuda()``; ``train.py``: ``target.cuda(non_blocking=True)``), so on a machine without CUDA it cannot run
as published. There the benchmark runs it with ``Tensor.cuda`` made a no-op for the duration of its calls only,
and marks its rows so; nothing else in its code is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

import rrhelpers as rr
from rrhelpers.data import SYNTHETIC_SHAPES, first, iterate_batches, synthetic
from rrhelpers.networks.fusion import folded_batchnorm

BF16_DENSE_PEAK_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "A10": 125.0}
"""Vendor dense bf16 tensor-core peaks (no sparsity), matched against ``torch.cuda.get_device_name()``."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="resnet18_cifar", help="rrhelpers architecture (default: CIFAR ResNet-18)")
    p.add_argument("--model", default=None,
                   help="a trained zoo model on 32 px colour images (e.g. quick-photo-robust) instead of --arch")
    p.add_argument("--train-fast", type=int, default=0, metavar="EPOCHS",
                   help="first train --arch for EPOCHS epochs of the fast recipe (rr.fast_adversarial_training at "
                        "--eps) on the photo crops, so the attacks run on a robust model, not on random weights")
    p.add_argument("--batch", type=int, default=64, help="images per attack batch")
    p.add_argument("--steps", type=int, default=10, help="PGD steps")
    p.add_argument("--eps", type=float, default=0.5, help="L2 radius")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per library (median reported)")
    p.add_argument("--no-folded-peers", dest="folded_peers", action="store_false",
                   help="skip the rows that run the peers on the BatchNorm-folded model")
    p.add_argument("--train-images", type=int, default=256, help="images in the adversarial-training epoch (0: skip)")
    p.add_argument("--preset", default="cifar10-l2-fast",
                   help="training preset whose throughput is measured and projected (empty: skip)")
    p.add_argument("--preset-steps", type=int, default=2, help="timed steps of the preset (after one warm-up)")
    p.add_argument("--peers", type=Path, default=None, help="folder the peer libraries were installed into")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--gpu-peak", action="store_true", default=torch.cuda.is_available(),
                   help="measure the ResNet-50 224 px PGD step against the bf16 peak (needs CUDA)")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the bf16 dense peak of this GPU")
    p.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    return p.parse_args(argv)


@contextlib.contextmanager
def cuda_calls_stay_put(device: torch.device) -> Iterator[str]:
    """Make ``Tensor.cuda()`` a no-op while a peer that hard-codes it runs on a machine without CUDA."""
    if device.type == "cuda":
        yield ""
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield " (Tensor.cuda() made a no-op: the library hard-codes CUDA)"
    finally:
        torch.Tensor.cuda = original  # type: ignore[method-assign]


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def attackers(model: rr.RobustModel, args: argparse.Namespace,
              device: torch.device) -> dict[str, tuple[Callable, str]]:
    """name -> (attack(x, y) -> adversarial x, which iterate it returns: "best" or "last"), all L2 PGD with the same
    eps, step size and steps, no random start. rrhelpers runs both ways, so that each peer is compared with the
    same work: torchattacks returns the last iterate, MadryLab (``use_best=True``) the best one, which costs a
    forward pass of the last iterate."""
    step = 2.5 * args.eps / args.steps

    def ours(use_best: bool) -> Callable:
        return lambda x, y: rr.pgd_attack(model, x, y, args.eps, args.steps, step, random_start=False,
                                          use_best=use_best)

    out: dict[str, tuple[Callable, str]] = {"rrhelpers": (ours(True), "best"),
                                            "rrhelpers, use_best=False": (ours(False), "last")}
    try:
        import torchattacks

        pgd = torchattacks.PGDL2(model, eps=args.eps, alpha=step, steps=args.steps, random_start=False)
        out[f"torchattacks {torchattacks.__version__}"] = (lambda x, y: pgd(x, y), "last")
    except ImportError as err:
        print(f"torchattacks not available ({err}); install the peers (see benchmarks/README.md)", file=sys.stderr)
    try:
        from robustness.attacker import Attacker

        # rrhelpers models normalise inside, so MadryLab's own normaliser gets mean 0 and std 1
        identity = SimpleNamespace(mean=torch.zeros(model.in_channels), std=torch.ones(model.in_channels))
        attacker = Attacker(model, identity).to(device)

        def madry(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with cuda_calls_stay_put(device), rr.eval_mode(model):
                return attacker(x, y, constraint="2", eps=args.eps, step_size=step, iterations=args.steps,
                                random_start=False, use_best=True, do_tqdm=False)

        out["MadryLab robustness"] = (madry, "best")
    except ImportError as err:
        print(f"robustness not available ({err}); install the peers (see benchmarks/README.md)", file=sys.stderr)
    if args.folded_peers:  # where the speed-up comes from: the peers' loops on the model rrhelpers attacks
        for name in [n for n in out if not n.startswith("rrhelpers")]:
            attack, returns = out[name]
            out[f"{name}, folded model"] = (on_folded_model(model, attack), returns)
    return out


def on_folded_model(model: rr.RobustModel, attack: Callable) -> Callable:
    """``attack`` run while ``model``'s BatchNorms are folded into its convolutions, as rrhelpers' attacks run, but
    with the weights in the default layout: torchattacks ``.view``s the input gradient, which channels-last weights
    would hand back channels-last (rrhelpers' solver gives gradients back in the input's layout)."""
    def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with rr.eval_mode(model), folded_batchnorm(model, channels_last=False):
            return attack(x, y)
    return run


def interleaved_medians(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median seconds per name; each run times itself, and the runs alternate in ``repeats`` rounds so that drifts
    of the machine hit every library alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(run())
    return {name: statistics.median(ts) for name, ts in times.items()}


def time_attacks(model: rr.RobustModel, x: torch.Tensor, y: torch.Tensor, args: argparse.Namespace,
                 device: torch.device) -> list[dict[str, Any]]:
    losses: dict[str, float] = {}

    def timed(name: str, attack: Callable) -> Callable[[], float]:
        def run() -> float:
            synchronise(device)
            started = time.perf_counter()
            adv = attack(x, y)
            synchronise(device)
            seconds = time.perf_counter() - started
            with torch.no_grad(), rr.eval_mode(model):
                losses[name] = F.cross_entropy(model(adv), y).item()
            distance = (adv - x).flatten(1).norm(dim=1).max().item()
            if distance > args.eps * 1.001:
                raise RuntimeError(f"{name} left the eps ball: {distance:.4f} > {args.eps}")
            return seconds
        return run

    runs = attackers(model, args, device)
    for attack, _ in runs.values():  # warm-up (allocations, kernel selection)
        attack(x[:8], y[:8])
    medians = interleaved_medians({name: timed(name, attack) for name, (attack, _) in runs.items()}, args.repeats)
    ours = {returns: medians[name] for name, (_, returns) in runs.items() if name.startswith("rrhelpers")}
    return [{"benchmark": f"L2 PGD-{args.steps}, batch {len(x)}", "library": name, "returns": returns,
             "seconds": medians[name], "image_steps_per_s": len(x) * args.steps / medians[name],
             "rrhelpers_speedup": medians[name] / ours[returns], "final_loss": losses[name]}
            for name, (_, returns) in runs.items()]


def train_epoch_ours(model: rr.RobustModel, data: rr.ImageDataset, args: argparse.Namespace) -> float:
    config = rr.TrainConfig(epochs=1, batch_size=args.batch, lr=0.01, adversary=rr.AttackConfig(args.eps, args.steps))
    started = time.perf_counter()
    rr.train(model, data, config, progress=False)
    return time.perf_counter() - started


class MadryInterface(torch.nn.Module):
    """The call signature MadryLab's AttackerModel uses for its model: ``model(x, with_latent, fake_relu, no_relu)``."""

    def __init__(self, model: rr.RobustModel):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, with_latent: bool = False, fake_relu: bool = False,
                no_relu: bool = False) -> torch.Tensor:
        if with_latent or no_relu:
            raise NotImplementedError("the benchmark only needs logits")
        return self.model(x, fake_relu=fake_relu)


def train_epoch_madry(model: rr.RobustModel, data: rr.ImageDataset, args: argparse.Namespace,
                      device: torch.device) -> float:
    from robustness.attacker import AttackerModel
    from robustness.train import _model_loop

    identity = SimpleNamespace(mean=torch.zeros(model.in_channels), std=torch.ones(model.in_channels))
    wrapped = AttackerModel(MadryInterface(model), identity).to(device)
    loader = [(x.to(device), y.to(device)) for x, y in iterate_batches(data, args.batch, shuffle=True,
                                                                       generator=torch.Generator().manual_seed(0))]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    settings = SimpleNamespace(eps=args.eps, constraint="2", attack_lr=2.5 * args.eps / args.steps,
                               attack_steps=args.steps, random_start=True, random_restarts=0, use_best=True,
                               custom_eps_multiplier=None, mixed_precision=False)
    with cuda_calls_stay_put(device), open(os.devnull, "w") as quiet, contextlib.redirect_stderr(quiet):
        started = time.perf_counter()
        _model_loop(settings, "train", loader, wrapped, opt, 0, True, None)
        synchronise(device)
        return time.perf_counter() - started


def time_training(model: rr.RobustModel, data: rr.ImageDataset, args: argparse.Namespace,
                  device: torch.device) -> list[dict[str, Any]]:
    """One epoch per library from the same weights, in ``args.repeats`` interleaved rounds (median reported)."""
    loops: dict[str, Callable[[], float]] = {"rrhelpers": lambda: train_epoch_ours(copy.deepcopy(model), data, args)}
    try:
        import robustness.train  # noqa: F401  (the peer's loop is only timed where it imports)

        loops["MadryLab robustness"] = lambda: train_epoch_madry(copy.deepcopy(model), data, args, device)
    except ImportError as err:
        print(f"robustness not available for training ({err})", file=sys.stderr)
    medians = interleaved_medians(loops, args.repeats)
    return [{"benchmark": f"adversarial training, PGD-{args.steps}, {len(data)} images, batch {args.batch}",
             "library": name, "seconds": seconds, "images_per_s": len(data) / seconds,
             "rrhelpers_speedup": seconds / medians["rrhelpers"]} for name, seconds in medians.items()]


def preset_projection(name: str, steps: int, device: torch.device) -> dict[str, Any]:
    """Throughput of a training preset (its model, batch, attack, precision and memory format) on stand-in images of
    the dataset's shape, and the time the whole run would take at that rate."""
    from rrhelpers.learning.train_cli import configs, dry_run, initial_model, parse_args, preset_options

    args = parse_args(["--preset", name, "--out", os.devnull])
    config, runtime = configs(args)
    data = synthetic(args.dataset, config.batch_size * (steps + 1))
    train_images = SYNTHETIC_SHAPES[args.dataset][2]
    model = initial_model(args, data.classes).to(device)
    projected = dry_run(model, data, config, runtime, steps, run_images=train_images)
    return {"benchmark": f"preset {name}", "device": str(device), "batch": config.batch_size,
            "attack_steps": config.adversary.steps if config.adversary else 0, "precision": runtime.precision,
            "images_per_s": projected["images_per_s"], "epochs": config.epochs, "train_images": train_images,
            "projected_hours": projected["projected_hours"], "preset": preset_options(name)}


def pgd_step_flops(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """FLOPs of one PGD step: the forward pass and the backward pass to the input (counted by PyTorch)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = x.clone().requires_grad_(True)
    # frozen: the gradient to the input only, as in an attack; backward(), not autograd.grad(), because the
    # counter's module hooks refuse autograd.grad on torch 2.11
    with rr.networks.models.frozen(model), FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def gpu_peak_fraction(args: argparse.Namespace, device: torch.device, batch: int = 128,
                      steps: int = 20) -> dict[str, Any]:
    """ResNet-50 at 224 px, bf16 autocast, channels_last: achieved FLOP/s of the PGD step over the dense bf16 peak."""
    name = torch.cuda.get_device_name(device)
    peak = args.peak_tflops or next((v for k, v in BF16_DENSE_PEAK_TFLOPS.items() if k in name), None)
    if peak is None:
        raise SystemExit(f"unknown bf16 peak for {name!r}; pass --peak-tflops")
    model = rr.RobustModel("resnet50", 1000, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)).to(device).eval()
    model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 3, 224, 224, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    flops = pgd_step_flops(model, x, y)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        rr.pgd_attack(model, x, y, 3.0, 3, random_start=False, use_best=False)  # warm-up
        synchronise(device)
        started = time.perf_counter()
        rr.pgd_attack(model, x, y, 3.0, steps, random_start=False, use_best=False)  # steps gradient passes, no more
        synchronise(device)
    seconds = (time.perf_counter() - started) / steps
    achieved = flops / seconds / 1e12
    return {"benchmark": f"ResNet-50 224 px PGD step, batch {batch}, bf16", "device": name,
            "tflops_per_step": flops / 1e12, "seconds_per_step": seconds, "achieved_tflops": achieved,
            "peak_tflops": peak, "fraction_of_peak": achieved / peak}


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    print()


def run_header(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """What a result file says about its run: the machine, the settings and the date."""
    return {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
                    or platform.machine(), "threads": torch.get_num_threads()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Write ``results`` to ``path`` whole or not at all (through a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.peers is not None:
        if not args.peers.is_dir():
            raise SystemExit(f"--peers {args.peers} is not a folder; install the peers first (benchmarks/README.md)")
        sys.path.insert(0, str(args.peers.resolve()))
    device = torch.device(args.device)
    torch.manual_seed(0)
    data = rr.load_dataset("photo_crops", "test")
    if args.model:
        model = rr.load_model(args.model, device=device)
        args.arch = f"{args.model} ({model.config['arch']})"
    else:
        model = rr.RobustModel(args.arch, len(data.classes), (0.5,) * 3, (0.25,) * 3).to(device).eval()
        if args.train_fast:
            recipe = rr.fast_adversarial_training(args.eps, augment="crop_flip", epochs=args.train_fast)
            started = time.perf_counter()
            rr.train(model, rr.load_dataset("photo_crops", "train"), recipe, runtime=rr.learning.training.Runtime(
                channels_last=True))
            args.arch = f"{args.arch}, fast recipe {args.train_fast} epochs ({time.perf_counter() - started:.0f} s)"
    x, y = rr.data.sample(data, args.batch, seed=0)  # seeded: the test split is grouped by class
    x, y = x.to(device), y.to(device)
    results = run_header(args, device)
    results["attack"] = time_attacks(model, x, y, args, device)
    print_table(results["attack"], ["benchmark", "library", "returns", "seconds", "image_steps_per_s",
                                    "rrhelpers_speedup", "final_loss"])
    if args.train_images:
        train_data = first(data, args.train_images)
        results["training"] = time_training(model, train_data, args, device)
        print_table(results["training"], ["benchmark", "library", "seconds", "images_per_s", "rrhelpers_speedup"])
    if args.preset:
        results["preset"] = preset_projection(args.preset, args.preset_steps, device)
        print_table([results["preset"]], ["benchmark", "device", "batch", "precision", "images_per_s", "epochs",
                                          "projected_hours"])
    if args.gpu_peak:
        results["gpu_peak"] = gpu_peak_fraction(args, device)
        print_table([results["gpu_peak"]], ["benchmark", "device", "achieved_tflops", "peak_tflops",
                                            "fraction_of_peak"])
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
