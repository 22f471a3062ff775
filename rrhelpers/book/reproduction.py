"""The paper against the book (its reproduction appendix): the published models' reported accuracies beside the
book's measured ones, and the paper's optimisation settings beside a profile's.

Accuracy tables are long frames, one row per (model, test eps), with the columns ``model``, ``dataset``,
``trained at``, ``test eps`` (as written in the source: ``"0.5"``, ``"8/255"``) and ``accuracy %``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator, Mapping, Sequence

import pandas as pd

from ..networks.published import PUBLISHED, Published
from ..networks.zoo import load_model
from .profiles import chapter_settings, get_profile

__all__ = ["KNOBS", "accuracy_at", "accuracy_table", "attack_costs", "clean_and_attacked", "constant_step_ratios",
           "measured_accuracies", "radius_label", "reported_accuracies", "settings_table", "side_by_side"]

KNOBS: dict[str, tuple[str, ...]] = {
    "inversion": ("steps", "step_size", "step_schedule"),
    "feature_visualization": ("steps", "step_size", "class_eps", "class_steps", "class_step_size",
                              "class_step_schedule"),
    "feature_manipulation": ("steps", "step_size"), "interpolation": ("steps", "step_size"),
    "sensitivity": ("eps", "steps", "step_size"), "robust_training": ("eval_eps",),
}
"""The optimisation settings each chapter takes from its profile, the ones the paper's Appendix A gives."""


def radius_label(threat: str, eps: float) -> str:
    """A training radius as the sources write it: ``linf 8/255``, ``l2 0.5``."""
    return f"{threat} {eps * 255:.0f}/255" if threat == "linf" else f"{threat} {eps:g}"


def reported_accuracies(published: Mapping[str, Published] = PUBLISHED) -> pd.DataFrame:
    """The accuracies (percent) that the published models' authors report, one row per test radius."""
    return pd.DataFrame([{"model": name, "dataset": entry.dataset, "trained at": radius_label(entry.threat, entry.eps),
                          "test eps": eps, "accuracy %": acc}
                         for name, entry in published.items() for eps, acc in entry.reported.items()])


def measured_accuracies(names: Sequence[str]) -> pd.DataFrame:
    """The test accuracies (percent) that the zoo measured when it made each model (its metadata), without training
    or measuring anything; a name given twice is listed once."""
    rows = []
    for name in dict.fromkeys(names):
        meta = load_model(name).metadata
        recipe = meta["recipe"]
        adversary = recipe["train"].get("adversary") or {}
        rows += [{"model": name, "dataset": recipe["dataset"], "trained at": f"l2 {adversary.get('eps', 0):g}",
                  "test eps": eps, "accuracy %": 100 * acc} for eps, acc in meta["test_accuracy"].items()]
    return pd.DataFrame(rows)


def accuracy_table(frame: pd.DataFrame, *, decimals: int) -> pd.DataFrame:
    """Models as rows, test radii as columns in increasing order, rounded, blank where a radius was not tested."""
    table = frame.pivot_table(index=["model", "dataset", "trained at"], columns="test eps", values="accuracy %",
                              sort=False)
    table = table[sorted(table.columns, key=lambda eps: float(Fraction(eps)))]
    return table.round(decimals).astype(object).fillna("")


def accuracy_at(frame: pd.DataFrame, model: str, eps: str) -> float:
    """One model's accuracy (percent) at test radius ``eps`` (as written in the frame)."""
    return float(frame[(frame["model"] == model) & (frame["test eps"] == eps)]["accuracy %"].iloc[0])


def clean_and_attacked(frame: pd.DataFrame, *, standard: str, robust: str, eps: str) -> dict[str, tuple[float, float]]:
    """``{"standard": (clean, at eps), "robust": (clean, at eps)}``: a model pair's accuracies (percent)."""
    return {role: (accuracy_at(frame, name, "0"), accuracy_at(frame, name, eps))
            for role, name in (("standard", standard), ("robust", robust))}


def attack_costs(pairs: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """How many points of accuracy the attack costs each model of :func:`clean_and_attacked`."""
    return {role: clean - attacked for role, (clean, attacked) in pairs.items()}


def side_by_side(columns: Mapping[str, Mapping[str, tuple[float, float]]]) -> pd.DataFrame:
    """Pairs of :func:`clean_and_attacked` as columns, one row per model and accuracy (``robust at eps`` ...)."""
    return pd.DataFrame({label: {f"{role} {kind}": accuracies[i] for role, accuracies in pairs.items()
                                 for i, kind in enumerate(("clean", "at eps"))} for label, pairs in columns.items()})


def _knobs(profile: str, paper: str) -> Iterator[tuple[str, str, Any, Any, Any]]:
    """(chapter, setting, the paper's value, the profile's value, the profile's chapter settings) for ``KNOBS``."""
    for chapter, names in KNOBS.items():
        ours, theirs = chapter_settings(profile, chapter), chapter_settings(paper, chapter)
        for knob in names:
            yield chapter, knob, getattr(theirs, knob), getattr(ours, knob), ours


def settings_table(profile: str, paper: str) -> pd.DataFrame:
    """The settings of ``KNOBS`` and the adversarial training radius, the ``paper`` profile's beside ``profile``'s."""
    book = f"book ({profile})"
    rows = [{"chapter": chapter, "setting": knob, "paper": theirs, book: ours}
            for chapter, knob, theirs, ours, _ in _knobs(profile, paper)]
    rows.append({"chapter": "adversarial training", "setting": "L2 eps", "paper": get_profile(paper).train_eps,
                 book: get_profile(profile).train_eps})
    return pd.DataFrame(rows)


def constant_step_ratios(profile: str, paper: str) -> list[float]:
    """``profile``'s step sizes over the ``paper``'s, for the step sizes of ``KNOBS`` that ``profile`` keeps
    constant: the pixel scaling (:func:`rrhelpers.book.profiles.step_scale`) is about those; a decaying step starts
    larger."""
    return [ours / theirs for _, knob, theirs, ours, settings in _knobs(profile, paper) if knob.endswith("step_size")
            and getattr(settings, knob.replace("step_size", "step_schedule"), "constant") == "constant"]
