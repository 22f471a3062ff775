"""Which memory layout a folded convolution should run in on this CPU: the measurement behind
``rrhelpers.networks.fusion.BLOCKED_AT_MOST_PX``.

Two tables, timed in interleaved repeats (median reported): (1) one 3x3 convolution, forward and input gradient, in
the default (oneDNN blocked) layout and channels-last, at the shapes of a ResNet's stages; (2) one PGD step (forward
and input gradient) of whole BatchNorm-folded models, all channels-last against the rule that small outputs run
in the default layout::

    python benchmarks/layouts.py --json benchmarks/results/layouts-cpu.json
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

import rrhelpers as rr
from rrhelpers.networks.fusion import BLOCKED_AT_MOST_PX, folded_batchnorm
from speed import interleaved_medians, print_table, write_json  # the sibling script

STAGES = [(64, 32), (128, 16), (256, 8), (512, 4), (512, 7)]
"""(channels, width) of the convolutions timed alone: CIFAR ResNet stages, and ImageNet ResNet-50's last 3x3."""

MODELS = [("resnet18_cifar", 32, 64), ("resnet50_cifar", 32, 32), ("resnet50", 224, 8)]
"""(architecture, image size, batch) of the whole models timed."""


def medians(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each run, after one warm-up, in interleaved rounds."""
    for run in runs.values():
        run()

    def timed(run: Callable[[], Any]) -> Callable[[], float]:
        def seconds() -> float:
            started = time.perf_counter()
            run()
            return time.perf_counter() - started
        return seconds

    return interleaved_medians({name: timed(run) for name, run in runs.items()}, repeats)


def convolution_rows(batch: int, repeats: int) -> list[dict[str, Any]]:
    rows = []
    for channels, width in STAGES:
        runs: dict[str, Callable[[], Any]] = {}
        for layout, fmt in [("default", torch.contiguous_format), ("channels-last", torch.channels_last)]:
            x = torch.randn(batch, channels, width, width).contiguous(memory_format=fmt)
            w = torch.randn(channels, channels, 3, 3).contiguous(memory_format=fmt)
            grad_out = torch.randn_like(x)
            runs[f"forward {layout}"] = lambda x=x, w=w: F.conv2d(x, w, padding=1)
            runs[f"input gradient {layout}"] = lambda x=x, w=w, g=grad_out: torch.ops.aten.convolution_backward(
                g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False])
        t = medians(runs, repeats)
        rows.append({"channels": channels, "width": width, "batch": batch, **{f"{k} ms": v * 1e3 for k, v in t.items()},
                     "forward default speed-up": t["forward channels-last"] / t["forward default"],
                     "input gradient default speed-up": t["input gradient channels-last"] / t["input gradient default"]})
    return rows


def model_rows(repeats: int) -> list[dict[str, Any]]:
    rows = []
    for arch, size, batch in MODELS:
        torch.manual_seed(0)
        model = rr.RobustModel(arch, 10, (0.5,) * 3, (0.25,) * 3).eval().requires_grad_(False)
        x, y = torch.rand(batch, 3, size, size), torch.randint(0, 10, (batch,))

        def pgd_step(blocked_at_most_px: int) -> Callable[[], Any]:
            def run() -> Any:
                with folded_batchnorm(model, channels_last=True, blocked_at_most_px=blocked_at_most_px):
                    xx = x.clone().requires_grad_(True)
                    return torch.autograd.grad(F.cross_entropy(model(xx), y), xx)[0]
            return run

        t = medians({"all channels-last": pgd_step(0), "rule": pgd_step(BLOCKED_AT_MOST_PX)}, repeats)
        rows.append({"model": arch, "size": size, "batch": batch, "all channels-last ms": t["all channels-last"] * 1e3,
                     f"default at <= {BLOCKED_AT_MOST_PX} px ms": t["rule"] * 1e3,
                     "speed-up": t["all channels-last"] / t["rule"]})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64, help="images per convolution in the first table")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats (median reported)")
    p.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    args = p.parse_args(argv)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("One 3x3 convolution (ms), default (blocked) layout against channels-last:")
    convolutions = convolution_rows(args.batch, args.repeats)
    print_table(convolutions, list(convolutions[0]))
    print("One PGD step of the folded model (ms):")
    models = model_rows(args.repeats)
    print_table(models, list(models[0]))
    if args.json:
        machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                   "torch": torch.__version__}
        write_json(args.json, {"machine": machine, "date": time.strftime("%Y-%m-%d %H:%M"), "convolutions": convolutions,
                               "models": models})


if __name__ == "__main__":
    main()
