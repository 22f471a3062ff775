"""Make every model a profile's chapters load, before they run: the zoo models (trained on first use) and the
feedforward inverters of chapter 9.

``make book`` calls :func:`prepare_profile` first, so the quick models are trained in the build's own process, where
a training epoch runs several times faster than inside a notebook kernel that reports each step to a front end
(tqdm's widget bars through the kernel, recorded by nbval), and each chapter's run only loads them.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Optional

from ..learning.inverter_training import InverterConfig, load_inverter
from .profiles import chapter_settings, get_profile
from ..networks.zoo import RECIPES, load_model


def profile_models(profile: str) -> list[str]:
    """The zoo models that ``profile``'s chapters load (compared pair, judges, style-transfer pair), in the order a
    reader meets them; published models and the pixel judge are not zoo models and are left out."""
    prof = get_profile(profile)
    names = [prof.standard, prof.robust, *prof.judges]
    for chapter, keys in (("synthesis", ("judges",)), ("style_transfer", ("standard", "robust"))):
        if chapter in prof.chapters:
            for key in keys:
                value = getattr(prof.chapters[chapter], key)
                names += list(value) if isinstance(value, (list, tuple)) else [value]
    return [name for name in dict.fromkeys(names) if name in RECIPES]


def profile_inverter_config(profile: str) -> Optional[InverterConfig]:
    """The inverter config of ``profile``'s chapter 9, or None if it has no such chapter."""
    if "feedforward_inversion" not in get_profile(profile).chapters:
        return None
    return InverterConfig.from_settings(chapter_settings(profile, "feedforward_inversion"))


def profile_tasks(profile: str = "quick") -> list[tuple[str, Callable[[], Any]]]:
    """``(what, make)`` for every zoo model and inverter that ``profile``'s chapters load, in the order a reader meets
    them: ``make()`` loads it, training it first if it is not cached (``what`` is the zoo name, or
    ``'inverter of NAME'``). One list for :func:`prepare_profile` and for the benchmark that times each item."""
    prof = get_profile(profile)
    tasks: list[tuple[str, Callable[[], Any]]] = [(name, partial(load_model, name, device=prof.device))
                                                    for name in profile_models(profile)]
    config = profile_inverter_config(profile)
    for classifier in (prof.standard, prof.robust) if config is not None else ():
        if classifier in RECIPES:
            tasks.append((f"inverter of {classifier}", partial(load_inverter, classifier, config, device=prof.device)))
    return tasks


def prepare_profile(profile: str = "quick", *, report: Callable[[str], None] = print) -> list[str]:
    """Load every zoo model and inverter that ``profile``'s chapters use, training what is not cached; reports each
    with the seconds it took and returns what was loaded."""
    made = []
    for what, make in profile_tasks(profile):
        report(f"prepare: {what} ...")
        started = time.perf_counter()
        make()
        report(f"prepare: {what} ready in {time.perf_counter() - started:.0f} s")
        made.append(what)
    return made
