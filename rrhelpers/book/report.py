"""How perceptually aligned is a classifier? The book's measures of it, side by side, on one self-contained page.

``python -m rrhelpers report MODEL [MODEL ...] --dataset NAME --out DIR`` (or :func:`alignment_report`) measures,
for every model, with the settings of the dataset's profile (step sizes, radii, judge) and 95% confidence
intervals: robust accuracy (clean, PGD-20, APGD-CE + APGD-DLR, and the accuracy-vs-eps curve), brittleness
(chapter 1), layer robustness R(f) (chapter 8), inversions from noise and from other images (chapter 3), class
visualisations (chapter 4) and raw input gradients (chapter 2); then it places each score on the scale of the
profile's own standard (0) and robust (1) models, measured in the same way. It writes ``DIR/index.html`` (figures
embedded, no network), the figures as PNG and the numbers as ``report.json``, into a temporary folder renamed to
``DIR`` at the end, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..optimization.activations import stage_layers, stage_name
from ..data import ImageDataset, load_dataset, random_pairs, sample
from ..learning.evaluation import apgd_robust, evaluate, ssim
from .judges import content_judge
from ..optimization.layer_robustness import layer_robustness
from ..networks.models import RobustModel, eval_mode
from .plots import gradient_image, grouped_bars, image_grid, mean_ci, robustness_curves
from .profiles import PROFILES, Profile
from ..optimization.representations import (class_pictures, evenly_spaced_classes, has_fake_relu, input_gradient,
                                             invert, matching_curve, noise_seeds, object_energy_share)
from ..validation import InputError
from ..networks.zoo import load_model

__all__ = ["ReportSettings", "QUICK", "FULL", "alignment_report", "scores_table", "main"]


@dataclass(frozen=True)
class ReportSettings:
    """How many images and solver steps each row uses; step sizes, radii and the judge come from the profile."""

    images: int = 300
    """test images attacked for the accuracy row"""
    pgd_steps: int = 20
    apgd_steps: int = 100
    pairs: int = 24
    """brittleness pairs per radius"""
    match_steps: int = 100
    rf_images: int = 128
    rf_steps: int = 10
    inversions: int = 16
    """targets inverted from noise and from other test images"""
    inversion_steps: int = 1000
    class_seeds: int = 3
    """class pictures per class (at most ten classes, evenly spaced)"""
    class_steps: int = 200
    gradients: int = 8
    seed: int = 0


FULL = ReportSettings()
QUICK = ReportSettings(images=100, apgd_steps=50, pairs=12, match_steps=50, rf_images=32, rf_steps=5, inversions=8,
                       inversion_steps=300, class_seeds=1, class_steps=100, gradients=6)
"""Under 3 minutes on 2 CPU cores for the quick pair (the README gives the measured time)."""

ROWS = ("accuracy", "brittleness", "layer_robustness", "inversion", "class_visualization", "gradients")
HIGHER_IS_MORE_ALIGNED = {"accuracy": True, "brittleness": True, "layer_robustness": False, "inversion": True,
                          "class_visualization": True}
SCORE_MEANING = {
    "accuracy": "APGD accuracy at eps",
    "brittleness": "mean relative distance to the target representation over the radii (higher: less brittle)",
    "layer_robustness": "mean R(f) over the residual stages (lower: more robust layers)",
    "inversion": "SSIM of the inversions from noise to their targets",
    "class_visualization": "share of class pictures the judge recognises",
}


def profile_for(dataset: str) -> Profile:
    """The profile whose chapters run on ``dataset``: its settings and its reference models."""
    for profile in PROFILES.values():
        if profile.dataset == dataset:
            return profile
    raise ValueError(f"no profile runs on dataset {dataset!r}; the report knows "
                     f"{sorted(p.dataset for p in PROFILES.values())}")


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion ``successes / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_with_ci(values: torch.Tensor | np.ndarray) -> dict[str, Any]:
    """Mean and 95% Student-t interval of per-example values."""
    values = np.asarray(torch.as_tensor(values).float().cpu(), dtype=float)
    mean, half = mean_ci(values)
    return {"mean": float(mean), "ci": [float(mean - half), float(mean + half)], "n": int(len(values))}


def proportion_with_ci(share: float, n: int) -> dict[str, Any]:
    """A proportion of ``n`` with its 95% Wilson interval."""
    return {"mean": float(share), "ci": list(wilson(share * n, n)), "n": int(n)}


def share_with_ci(hits: torch.Tensor) -> dict[str, Any]:
    """The share of true ``hits`` with its 95% Wilson interval."""
    hits = torch.as_tensor(hits).float().cpu()
    return proportion_with_ci(float(hits.mean()), len(hits))


@dataclass
class _Context:
    profile: Profile
    settings: ReportSettings
    eps: float
    test_set: Any
    judge_name: str
    judge: Callable[[torch.Tensor], torch.Tensor]
    progress: bool


def _check_fits(name: str, model: RobustModel, test_set: Any, dataset: str) -> None:
    classes = model.head.out_features
    if classes != len(test_set.classes):
        raise InputError(f"model {name!r} has {classes} classes but dataset {dataset!r} has {len(test_set.classes)}; "
                         "report it on the dataset it was trained for (--dataset)")
    x, _ = test_set.tensors([0])
    if x.shape[1] != model.in_channels:
        raise InputError(f"model {name!r} takes {model.in_channels}-channel images but dataset {dataset!r} has "
                         f"{x.shape[1]} channels; report it on the dataset it was trained for (--dataset)")
    try:
        with eval_mode(model), torch.no_grad():
            model(x.to(model.device))
    except RuntimeError as err:
        raise InputError(f"model {name!r} does not run on dataset {dataset!r}'s {tuple(x.shape[1:])} images "
                         f"({str(err)[:200]}); report it on the dataset it was trained for") from err


def _accuracy_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    x, y = sample(c.test_set, c.settings.images, seed=c.settings.seed)
    subset = ImageDataset(x, y, c.test_set.classes)
    radii = sorted({0.0, c.eps / 2, c.eps, 1.5 * c.eps, 2 * c.eps})
    curve = evaluate(model, subset, radii, steps=c.settings.pgd_steps, loss="ce", step_schedule="constant")
    apgd = apgd_robust(model, x, y, c.eps, steps=c.settings.apgd_steps, seed=c.settings.seed)
    out = {"clean": proportion_with_ci(curve[0.0], len(y)),
           f"pgd{c.settings.pgd_steps}": proportion_with_ci(curve[c.eps], len(y)),
           "apgd": share_with_ci(apgd), "curve": {f"{r:g}": a for r, a in curve.items()}}
    out["score"] = out["apgd"]["mean"]
    return out


def _brittleness_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    radii = list(c.profile.chapters["brittleness"].radii)
    sources, targets = random_pairs(c.test_set, c.settings.pairs, c.settings.seed)
    distances = matching_curve(model, sources, targets, radii, c.settings.match_steps, fake_relu=has_fake_relu(model))
    curve = {f"{r:g}": mean_with_ci(d) for r, d in zip(radii, distances)}
    return {"curve": curve, "score": float(np.mean([v["mean"] for v in curve.values()]))}


def _layer_robustness_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    try:
        layers = stage_layers(model)
    except ValueError as err:
        return {"skipped": f"no residual stages to measure ({err})"}
    x, _ = sample(c.test_set, c.settings.rf_images, seed=c.settings.seed + 1)
    rf = layer_robustness(model, x, layers, c.eps, c.settings.rf_steps, step_size=c.eps, seed=c.settings.seed)
    stages = {stage_name(layer): {"mean": r.ratio, "ci": list(r.ci), "n": r.n_images} for layer, r in rf.items()}
    return {"stages": stages, "score": float(np.mean([r.ratio for r in rf.values()]))}


def _inversion_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    cfg = c.profile.chapters["inversion"]
    n = c.settings.inversions
    x, y = sample(c.test_set, 2 * n, seed=c.settings.seed + 2)
    targets, labels, others = x[:n], y[:n], x[n:]
    noise = noise_seeds(targets.shape, mean=cfg.noise_mean, std=cfg.noise_std, seed=c.settings.seed)
    out: dict[str, Any] = {"images": {"targets": targets}}
    for start, seeds in (("from_noise", noise), ("from_images", others)):
        result = invert(model, targets, seeds, c.settings.inversion_steps, cfg.step_size,
                        step_schedule=cfg.step_schedule, fake_relu=has_fake_relu(model),
                        desc=f"inversion {start.replace('_', ' ')}")
        inverted = result.x.cpu()
        out["images"][start] = inverted
        out[start] = {"recognised": share_with_ci(c.judge(inverted) == labels), "ssim": mean_with_ci(
            ssim(inverted, targets)), "median_relative_error": float(result.value.median())}
    out["score"] = out["from_noise"]["ssim"]["mean"]
    return out


def _class_visualization_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    cfg = c.profile.chapters["feature_visualization"]
    shown = evenly_spaced_classes(len(c.test_set.classes), 10)
    wanted = shown.repeat(c.settings.class_seeds)
    pictures = class_pictures({"model": model}, wanted, c.test_set.tensors([0])[0].shape[1:],
                              generator=torch.Generator().manual_seed(c.settings.seed), steps=c.settings.class_steps,
                              step_size=cfg.class_step_size, eps=cfg.class_eps,
                              step_schedule=cfg.class_step_schedule, desc="class pictures")["model"]
    recognised = share_with_ci(c.judge(pictures) == wanted)
    return {"recognised": recognised, "classes": [c.test_set.classes[int(i)] for i in shown],
            "images": {"pictures": pictures[: len(shown)]}, "score": recognised["mean"]}


def _gradients_row(model: RobustModel, c: _Context) -> dict[str, Any]:
    x, y = sample(c.test_set, c.settings.gradients, seed=c.settings.seed + 3)
    grad = input_gradient(model, x, y).cpu()
    out: dict[str, Any] = {"images": {"inputs": x, "gradients": grad}}
    if c.profile.chapters["robust_training"].uniform_background:
        out["energy_on_object"] = mean_with_ci(object_energy_share(grad, x))
    return out


MEASURES: dict[str, Callable[[RobustModel, _Context], dict[str, Any]]] = {
    "accuracy": _accuracy_row, "brittleness": _brittleness_row, "layer_robustness": _layer_robustness_row,
    "inversion": _inversion_row, "class_visualization": _class_visualization_row, "gradients": _gradients_row,
}


def _measure_all(models: dict[str, RobustModel], c: _Context) -> dict[str, dict[str, Any]]:
    """Every row for every model, timed, under one progress bar (the solvers' own bars stay off)."""
    results: dict[str, dict[str, Any]] = {name: {} for name in models}
    with tqdm(total=len(models) * len(ROWS), desc="report", disable=not c.progress) as bar:
        for name, model in models.items():
            for row in ROWS:
                bar.set_postfix_str(f"{name}: {row.replace('_', ' ')}")
                started = time.perf_counter()
                results[name][row] = MEASURES[row](model, c)
                results[name][row]["seconds"] = time.perf_counter() - started
                bar.update(1)
    return results


def _alignment(score: float, standard: float, robust: float, higher_is_better: bool) -> Optional[float]:
    """Where ``score`` lies on the reference scale: 0 at the standard model, 1 at the robust one."""
    if not higher_is_better:
        score, standard, robust = -score, -standard, -robust
    return None if robust <= standard else (score - standard) / (robust - standard)


def _summaries(results: dict[str, dict], reference: Optional[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    summary = {}
    for name, rows in results.items():
        scores = {row: rows[row]["score"] for row in HIGHER_IS_MORE_ALIGNED if "score" in rows[row]}
        entry: dict[str, Any] = {"scores": scores}
        if reference:
            standard, robust = (results[r] for r in reference)
            positions = {row: _alignment(s, standard[row]["score"], robust[row]["score"], HIGHER_IS_MORE_ALIGNED[row])
                         for row, s in scores.items() if "score" in standard[row] and "score" in robust[row]}
            known = [p for p in positions.values() if p is not None]
            entry["alignment"] = positions
            entry["alignment_mean"] = float(np.mean(known)) if known else None
        summary[name] = entry
    return summary


def summary_line(name: str, entry: dict[str, Any], reference: Optional[tuple[str, str]]) -> str:
    """One line a reader can quote."""
    scores = entry["scores"]
    parts = [f"APGD {scores['accuracy']:.1%}" if "accuracy" in scores else "",
             f"inversion SSIM {scores['inversion']:.2f}" if "inversion" in scores else "",
             f"class pictures recognised {scores['class_visualization']:.0%}" if "class_visualization" in scores
             else ""]
    line = f"{name}: " + ", ".join(p for p in parts if p)
    if reference and entry.get("alignment_mean") is not None:
        line += (f"; alignment {entry['alignment_mean']:.2f} on the scale 0 = {reference[0]}, 1 = {reference[1]} "
                 f"(mean over {sum(p is not None for p in entry['alignment'].values())} measures)")
    return line


def scores_table(numbers: Mapping[str, Any]) -> pd.DataFrame:
    """The scores of what :func:`alignment_report` returns: the measures as rows, the models as columns."""
    return pd.DataFrame({name: entry["scores"] for name, entry in numbers["summary"].items()})


def _figures(results: dict[str, dict], c: _Context, folder: Path) -> dict[str, Path]:
    """One PNG per row, the models side by side."""
    names = list(results)
    paths = {}

    def save(fig, row: str) -> None:
        paths[row] = folder / f"{row}.png"
        fig.savefig(paths[row], dpi=80, bbox_inches="tight")
        plt.close(fig)

    ax = robustness_curves({name: results[name]["accuracy"]["curve"] for name in names}, marked_eps=c.eps,
                           marked_label=f"eps {c.eps:g}", ylabel=f"accuracy (PGD-{c.settings.pgd_steps})")
    save(ax.figure, "accuracy")

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name in names:
        curve = results[name]["brittleness"]["curve"]
        r = [float(k) for k in curve]
        mean = np.array([v["mean"] for v in curve.values()])
        low, high = (np.array([v["ci"][i] for v in curve.values()]) for i in (0, 1))
        ax.plot(r, mean, marker="o", label=name)
        ax.fill_between(r, low, high, alpha=0.2)
    ax.set(xlabel="L2 radius r", ylabel="relative distance to target R")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, "brittleness")

    measured = [n for n in names if "stages" in results[n]["layer_robustness"]]
    if measured:
        stages = list(results[measured[0]]["layer_robustness"]["stages"])
        common = [s for s in stages if all(s in results[n]["layer_robustness"]["stages"] for n in measured)]
        ax = grouped_bars(common, {n: [results[n]["layer_robustness"]["stages"][s]["mean"] for s in common]
                                   for n in measured},
                          {n: [tuple(results[n]["layer_robustness"]["stages"][s]["ci"]) for s in common]
                           for n in measured}, ylabel="R(f)")
        save(ax.figure, "layer_robustness")

    shown = min(8, c.settings.inversions)
    inv = {n: results[n]["inversion"]["images"] for n in names}
    first = inv[names[0]]
    rows, labels = [first["targets"][:shown]], ["target"]
    for start in ("from_noise", "from_images"):
        for n in names:
            rows.append(inv[n][start][:shown])
            labels.append(f"{n}\n{start.replace('_', ' ')}")
    save(image_grid(rows, labels, size=1.1), "inversion")

    pictures = [results[n]["class_visualization"]["images"]["pictures"] for n in names]
    save(image_grid(pictures, names, col_labels=results[names[0]]["class_visualization"]["classes"], size=1.1),
         "class_visualization")

    grads = results[names[0]]["gradients"]["images"]
    rows = [grads["inputs"]] + [gradient_image(results[n]["gradients"]["images"]["gradients"]) for n in names]
    save(image_grid(rows, ["image"] + names, cmap=["gray"] + ["coolwarm"] * len(names), size=1.1), "gradients")
    return paths


def _numbers(value: Any) -> Any:
    """The JSON view of a row: tensors (images) left out, numbers kept."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items() if k != "images"}
    if isinstance(value, (list, tuple)):
        return [_numbers(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _cell(value: dict[str, Any], percent: bool) -> str:
    fmt = (lambda v: f"{100 * v:.1f}%") if percent else (lambda v: f"{v:.3f}")
    return f"{fmt(value['mean'])} <small>[{fmt(value['ci'][0])}, {fmt(value['ci'][1])}]</small>"


def _row_table(row: str, results: dict[str, dict], c: _Context) -> list[tuple[str, list[str]]]:
    """(measure, one cell per model) lines of a row's table."""
    names = list(results)
    get = {n: results[n][row] for n in names}
    lines: list[tuple[str, list[str]]] = []
    if row == "accuracy":
        for key, label in (("clean", "clean"), (f"pgd{c.settings.pgd_steps}", f"PGD-{c.settings.pgd_steps} at "
                                                f"eps {c.eps:g}"),
                           ("apgd", f"APGD-CE + APGD-DLR ({c.settings.apgd_steps} steps) at eps {c.eps:g}")):
            lines.append((label, [_cell(get[n][key], True) for n in names]))
    elif row == "brittleness":
        for r in get[names[0]]["curve"]:
            lines.append((f"relative distance at r = {r}", [_cell(get[n]["curve"][r], False) for n in names]))
    elif row == "layer_robustness":
        stages = next((list(v["stages"]) for v in get.values() if "stages" in v), [])
        for s in stages:
            lines.append((f"R(f), {s}", [_cell(get[n]["stages"][s], False) if "stages" in get[n] else
                                         html.escape(get[n]["skipped"]) for n in names]))
    elif row == "inversion":
        for start in ("from_noise", "from_images"):
            what = start.replace("_", " ")
            lines.append((f"{what}: recognised by {c.judge_name}", [_cell(get[n][start]["recognised"], True)
                                                                     for n in names]))
            lines.append((f"{what}: SSIM to the target", [_cell(get[n][start]["ssim"], False) for n in names]))
            lines.append((f"{what}: median relative error", [f"{get[n][start]['median_relative_error']:.3f}"
                                                              for n in names]))
    elif row == "class_visualization":
        lines.append((f"recognised by {c.judge_name}", [_cell(get[n]["recognised"], True) for n in names]))
    elif row == "gradients" and all("energy_on_object" in get[n] for n in names):
        lines.append(("gradient energy on the object", [_cell(get[n]["energy_on_object"], False) for n in names]))
    lines.append(("seconds", [f"{get[n]['seconds']:.0f}" for n in names]))
    return lines


TITLES = {
    "accuracy": "1. Robust accuracy (chapter 2)",
    "brittleness": "2. Brittleness: how close R(x') gets to another image's R within radius r (chapter 1)",
    "layer_robustness": "3. Layer robustness R(f) of every residual stage, within eps (chapter 8)",
    "inversion": "4. Inverting representations from noise and from other images (chapter 3)",
    "class_visualization": "5. Class visualisations (chapter 4)",
    "gradients": "6. Raw input gradients (chapter 2)",
}


def _page(results: dict[str, dict], summary: dict[str, dict], lines: list[str], notes: list[str],
          figures: dict[str, Path], c: _Context) -> str:
    names = list(results)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = [f"<h1>Perceptual alignment report</h1><p>dataset <b>{html.escape(c.profile.dataset)}</b>, eps "
            f"{c.eps:g}, settings of profile <b>{c.profile.name}</b>, judge <b>{html.escape(c.judge_name)}</b>, "
            f"seed {c.settings.seed}. Brackets: 95% confidence intervals.</p>",
            "<h2>Summary</h2><ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>"]
    if notes:
        body.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    for row in ROWS:
        table = "".join(f"<tr><td>{html.escape(label)}</td>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
                        for label, cells in _row_table(row, results, c))
        body.append(f"<h2>{html.escape(TITLES[row])}</h2><table><tr><th></th>{head}</tr>{table}</table>")
        if row in SCORE_MEANING:
            body.append(f"<p><small>score: {html.escape(SCORE_MEANING[row])}</small></p>")
        if row in figures:
            data = base64.b64encode(figures[row].read_bytes()).decode()
            body.append(f'<img alt="{row}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "td:first-child{text-align:left}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Perceptual alignment report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def _prepare_output(out: Path, force: bool) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise FileExistsError(f"{out} exists and is not an empty folder; choose another --out, or pass --force "
                              "(force=True) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report is an ordinary folder
    return staging


def _finish_output(staging: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    else:
        staging.rename(out)


def alignment_report(
    models: Sequence[str | Path] | Mapping[str, RobustModel | str | Path],
    *,
    dataset: str,
    out: str | Path,
    eps: Optional[float] = None,
    settings: ReportSettings = FULL,
    judge: Optional[str] = None,
    reference: bool = True,
    force: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure every model on ``dataset`` and write the report to ``out`` (see the module docstring); returns what
    ``report.json`` holds.

    ``models``: names or paths for :func:`rrhelpers.load_model`, or a mapping of display names to models (e.g.
    from :func:`rrhelpers.wrap_classifier`). ``eps``: the attack radius of the accuracy row (default: the profile's
    ``check_eps``). ``judge``: who says what an image shows (default: the profile's judge; ``'knn'`` for pixel
    nearest neighbours). ``reference``: also measure the profile's standard and robust models (only if cached or
    quick to train) and place every score on their scale.
    """
    profile = profile_for(dataset)
    eps = float(profile.chapters["robust_training"].check_eps if eps is None else eps)
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive radius; got {eps}")
    named = dict(models) if isinstance(models, Mapping) else {str(m): m for m in models}
    if not named:
        raise ValueError("name at least one model to report on")
    judge_name = judge or profile.judge
    compared = {*named, *(str(m) for m in named.values()), *((profile.standard, profile.robust) if reference else ())}
    if judge_name in compared:
        raise ValueError(f"the judge {judge_name!r} is one of the compared models (reported or reference); a judge "
                         "must know none of them (pass judge='knn' / --judge knn, or another classifier)")
    loaded = {n: m if isinstance(m, RobustModel) else load_model(m, device=profile.device, progress=progress)
              for n, m in named.items()}
    test_set = load_dataset(dataset, "test")
    for n, m in loaded.items():
        _check_fits(n, m, test_set, dataset)
    notes = []
    ref_names: Optional[tuple[str, str]] = None
    if reference:
        try:
            for ref in (profile.standard, profile.robust):
                if ref not in loaded:
                    loaded[ref] = load_model(ref, device=profile.device, train_if_missing=profile.name == "quick",
                                             download=False, progress=progress)
            ref_names = (profile.standard, profile.robust)
        except FileNotFoundError as err:
            notes.append(f"the reference models are not available here ({str(err)[:160]}), so no alignment scale")
    for n, m in loaded.items():
        if not has_fake_relu(m):
            notes.append(f"{n} is a wrapped classifier: rows 2 and 4 differentiate through its last ReLU as it is "
                         "(MadryLab's fake ReLU, which passes gradients where R(x) is zero, needs this package's "
                         "own networks), so these problems may stall on coordinates of R(x) that are zero; row 3 "
                         "needs named residual stages")
    if judge_name == "knn" or judge_name in profile.judges:
        judge_fn = content_judge(replace(profile, judge=judge_name, other_judges=()))
    else:
        judge_fn = _classifier_judge(judge_name, profile, test_set)
    c = _Context(profile, settings, eps, test_set, judge_name, judge_fn, progress)

    staging = _prepare_output(Path(out), force)
    try:
        started = time.perf_counter()
        results = _measure_all(loaded, c)
        summary = _summaries(results, ref_names)
        lines = [summary_line(n, summary[n], ref_names) for n in results]
        figures = _figures(results, c, staging)
        numbers = {"dataset": dataset, "profile": profile.name, "eps": eps, "judge": judge_name,
                   "settings": asdict(settings), "reference": list(ref_names) if ref_names else None,
                   "models": _numbers(results), "summary": summary, "summary_lines": lines, "notes": notes,
                   "seconds": time.perf_counter() - started}
        (staging / "report.json").write_text(json.dumps(numbers, indent=1))
        (staging / "index.html").write_text(_page(results, summary, lines, notes, figures, c))
        _finish_output(staging, Path(out))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return numbers


def _classifier_judge(name: str, profile: Profile, test_set: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """A judge given by the caller: a classifier of the dataset's classes (zoo name or file)."""
    model = load_model(name, device=profile.device)
    if model.head.out_features != len(test_set.classes):
        raise InputError(f"judge {name!r} has {model.head.out_features} classes, the dataset {len(test_set.classes)}")
    return lambda images: model.predict(images.to(model.device)).cpu()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rrhelpers report", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="zoo names, published names or checkpoint files")
    parser.add_argument("--dataset", required=True, help="the dataset the models classify (mnist5k, cifar10, ...)")
    parser.add_argument("--out", required=True, type=Path, help="folder to write index.html, PNGs and report.json")
    parser.add_argument("--eps", type=float, help="attack radius of the accuracy row (default: the profile's)")
    parser.add_argument("--images", type=int, help="test images of the accuracy row")
    parser.add_argument("--quick", action="store_true", help="fewer images and steps (under 3 min for the quick pair)")
    parser.add_argument("--judge", help="'knn' or a classifier of the dataset's classes (default: the profile's)")
    parser.add_argument("--no-reference", action="store_true", help="do not measure the profile's own pair")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    args = parser.parse_args(argv)
    settings = replace(QUICK if args.quick else FULL, seed=args.seed)
    if args.images is not None:
        if args.images < 2:
            parser.error(f"--images must be at least 2; got {args.images}")
        settings = replace(settings, images=args.images)
    try:
        numbers = alignment_report(args.models, dataset=args.dataset, out=args.out, eps=args.eps, settings=settings,
                                   judge=args.judge, reference=not args.no_reference, force=args.force)
    except (ValueError, FileExistsError, FileNotFoundError, InputError) as err:
        print(f"report: {err}", file=sys.stderr)
        return 2
    print("\n".join(numbers["summary_lines"] + numbers["notes"]))
    print(f"report: wrote {args.out / 'index.html'} in {numbers['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
