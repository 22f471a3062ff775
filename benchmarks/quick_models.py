"""How long the quick profile's models take to make from scratch: the budget of a first ``make book``.

Trains every quick zoo model (the MNIST pair, the judges, the photo-crop pair) and the two feedforward inverters of
chapter 9 into an empty cache, one after the other, and prints per model the training time, the time of the
evaluation that follows it (PGD on the test split, stored in the model's metadata), the wall time and the test
accuracies; then the total. ``--seed`` retrains from other seeds (``rrhelpers.networks.zoo.reseed_recipes``)::

    python benchmarks/quick_models.py                       # into a fresh temporary cache, deleted afterwards
    python benchmarks/quick_models.py --cache /tmp/qm --json benchmarks/results/quick-models-cpu.json

Run it on an otherwise idle machine: two trainings at once on 2 cores slow each other several-fold.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from speed import print_table, write_json  # the sibling script


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=None,
                   help="cache folder to train into (must hold none of the models; default: a temporary folder)")
    p.add_argument("--seed", type=int, default=0, help="retrain the recipes from other seeds (0: the book's)")
    p.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    return p.parse_args(argv)


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    # imported here: the cache folder is read from the environment when a model is first looked up
    from rrhelpers.networks import zoo
    from rrhelpers.cache import cache_dir
    from rrhelpers.book.prepare import profile_tasks

    zoo.reseed_recipes(args.seed)
    tasks = profile_tasks("quick")  # what make book trains, in its order
    cache_before = sorted(p.name for p in cache_dir().rglob("*.safetensors"))
    if cache_before:
        raise SystemExit(f"{cache_dir()} already holds {cache_before}: pass an empty --cache folder")
    rows = []
    for what, make in tasks:
        started = time.perf_counter()
        made = make()
        wall = time.perf_counter() - started
        meta = made.metadata
        if "train_seconds" in meta:  # a zoo model
            train_s, accuracies = meta["train_seconds"], meta["test_accuracy"]
        else:  # an inverter: seconds per epoch
            train_s, accuracies = sum(h["seconds"] for h in meta["history"]), {}
        rows.append({"model": what, "train s": train_s, "eval s": wall - train_s, "wall s": wall,
                     **{f"acc eps {e}": a for e, a in accuracies.items()}})
    rows.append({"model": "total", **{k: sum(r[k] for r in rows) for k in ("train s", "eval s", "wall s")}})
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="quick-models-") as scratch:
        cache = args.cache or Path(scratch)
        os.environ["RRHELPERS_CACHE"] = str(cache)
        rows = measure(args)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    print(f"quick models from scratch, seed {args.seed}, {torch.get_num_threads()} threads:")
    print_table(rows, columns)
    results = {"machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                           "torch": torch.__version__},
               "date": time.strftime("%Y-%m-%d %H:%M"), "seed": args.seed, "models": rows}
    if args.json is not None:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
