"""Do the chapters' claims survive retraining? Execute chapters with every quick model retrained from other seeds.

Usage, from the repository root::

    python -m tools.seed_sweep --seeds 0 1 2                      # every chapter, three sets of quick models
    python -m tools.seed_sweep --seeds 1 --chapters 03_inversion 04_feature_visualization

For each seed, each chapter runs (papermill, quick profile) after ``rrhelpers.networks.zoo.reseed_recipes(seed)``, so
every quick recipe (both pairs, the judges, and through them the inverters) is trained from other initialisation and
data-order seeds; seed 0 is the book's own models. Each seed's models are made first in the sweep's own process
(:func:`rrhelpers.book.prepare.prepare_profile`, as ``make book`` does: faster than inside a chapter's kernel), so the
chapters only load them. The claims each chapter prints (:mod:`rrhelpers.book.claims`) are
collected into a table of value and margin per seed, printed and written to ``<out>/claims.json``. Models are cached as
usual, so a second sweep over the same seeds only executes the chapters. Exit status 1 if any claim failed or any
chapter stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rrhelpers.book.claims import read_claims
from tools.run_chapters import book_chapters, outputs_text, resolve, to_ipynb

ROOT = Path(__file__).resolve().parent.parent


def prepare(seed: int) -> None:
    """Train (or find in the cache) every quick model and inverter of ``seed``, in this process."""
    from rrhelpers.book.prepare import prepare_profile
    from rrhelpers.networks import zoo

    book_recipes = dict(zoo.RECIPES)
    zoo.reseed_recipes(seed)
    try:
        prepare_profile("quick", report=lambda line: print(f"seed {seed} {line}", flush=True))
    finally:
        zoo.RECIPES.clear()
        zoo.RECIPES.update(book_recipes)


def run(source: Path, seed: int, out: Path) -> tuple[str, str]:
    """Execute one chapter with the recipes reseeded; returns (its printed output, error or '')."""
    import nbformat
    import papermill as pm

    folder = out / f"seed{seed}"
    path, nb = to_ipynb(source, folder / "inputs")
    reseed = (f"import rrhelpers.networks.zoo\n"
              f"print('recipes reseeded to {seed}:', rrhelpers.networks.zoo.reseed_recipes({seed}))")
    nb.cells.insert(0, nbformat.v4.new_code_cell(reseed))
    nbformat.write(nb, path)
    executed = folder / path.name
    error = ""
    try:
        pm.execute_notebook(str(path), str(executed), cwd=str(source.parent), progress_bar=False,
                            kernel_name="python3")
    except pm.PapermillExecutionError as err:
        error = f"cell {err.exec_count}: {err.ename}: {err.evalue}"
    return outputs_text(nbformat.read(executed, as_version=4)), error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.seed_sweep", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--chapters", nargs="*", help="chapter names (default: every chapter of the book)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "seed_sweep")
    args = parser.parse_args(argv)
    chapters = [resolve(c) for c in args.chapters] if args.chapters else book_chapters()
    missing = [c for c, path in zip(args.chapters or [], chapters) if path is None]
    if missing:
        parser.error(f"no such chapter: {missing}")
    table: dict[str, dict[str, dict]] = {}
    errors: dict[str, str] = {}
    failed = False
    for seed in args.seeds:
        prepare(seed)
        for source in chapters:
            start = time.perf_counter()
            text, error = run(source, seed, args.out)
            for claim in read_claims(text):
                table.setdefault(f"{source.stem}: {claim.name}", {})[str(seed)] = {
                    "value": claim.value, "op": claim.op, "threshold": claim.threshold, "margin": claim.margin}
                failed |= not claim.passed
            if error:
                errors[f"{source.stem} seed {seed}"] = error
                failed = True
            print(f"seed {seed} {source.stem}: {time.perf_counter() - start:.0f} s"
                  + (f", stopped at {error}" if error else ""), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "claims.json").write_text(json.dumps({"claims": table, "errors": errors}, indent=1))
    print("\n| claim | threshold | " + " | ".join(f"seed {s}" for s in args.seeds) + " | smallest margin |")
    print("|---|---|" + "---|" * (len(args.seeds) + 1))
    for name, by_seed in table.items():
        first = next(iter(by_seed.values()))
        cells = [f"{by_seed[str(s)]['value']:.3g}" if str(s) in by_seed else "-" for s in args.seeds]
        margin = min(v["margin"] for v in by_seed.values())
        print(f"| {name} | {first['op']} {first['threshold']:.3g} | " + " | ".join(cells) + f" | {margin:+.3g} |")
    for where, error in errors.items():
        print(f"stopped: {where}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
