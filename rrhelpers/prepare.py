"""Make every model a profile's chapters load, before they run: the zoo models (trained on first use) and the
feedforward inverters of chapter 9.

``make book`` calls :func:`prepare_profile` first, so the quick models are trained outside the chapters' kernels,
where a training epoch runs several times faster than inside a notebook kernel that reports each step to a front end
(tqdm's widget bars through the kernel, recorded by nbval), and each chapter's run only loads them. With ``jobs=2``
two models train at once, each in its own process with half of the cores.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from functools import partial
from typing import Any, Callable, Optional

import torch

from .inverter_training import InverterConfig, load_inverter
from .profiles import chapter_settings, get_profile
from .zoo import RECIPES, load_model

INVERTER_OF = "inverter of "


def profile_models(profile: str) -> list[str]:
    """The zoo models that ``profile``'s chapters load (compared pair, judges, style-transfer pair), in the order a
    reader meets them; published models and the pixel judge are not zoo models and are left out."""
    prof = get_profile(profile)
    names = [prof.standard, prof.robust, *prof.judges]
    for chapter, keys in (("synthesis", ("judges",)), ("style_transfer", ("standard", "robust"))):
        if chapter in prof.chapters:
            for key in keys:
                value = prof.chapters[chapter][key]
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
            tasks.append((INVERTER_OF + classifier, partial(load_inverter, classifier, config, device=prof.device)))
    return tasks


def prepare_profile(profile: str = "quick", *, jobs: int = 1, report: Callable[[str], None] = print) -> list[str]:
    """Load every zoo model and inverter that ``profile``'s chapters use, training what is not cached, ``jobs`` at a
    time; returns what was loaded, in :func:`profile_tasks`' order."""
    return prepare(profile_tasks(profile), jobs=jobs, report=report)


def prepare(tasks: list[tuple[str, Callable[..., Any]]], *, jobs: int = 1,
            report: Callable[[str], None] = print) -> list[str]:
    """Run ``(what, make)`` tasks (:func:`profile_tasks`), ``jobs`` at a time: each in a process of its own with an
    equal share of the cores and this process's recipes, ``make(progress=False)`` there; an inverter starts after
    its classifier. Reports each with the seconds it took; returns the ``what`` of every task."""
    if jobs <= 1:
        for what, make in tasks:
            report(f"prepare: {what} ...")
            report(f"prepare: {what} ready in {_timed(make):.0f} s")
        return [what for what, _ in tasks]
    pending, running, done = list(tasks), {}, set()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                             initargs=(threads, dict(RECIPES))) as pool:
        while pending or running:
            for what, make in [task for task in pending if _needs(task[0]) in done | {None}][: jobs - len(running)]:
                pending.remove((what, make))
                report(f"prepare: {what} ... (a worker with {threads} thread{'s' * (threads > 1)})")
                running[pool.submit(_timed, partial(make, progress=False))] = what
            if not running:
                raise RuntimeError(f"prepare: {[what for what, _ in pending]} wait for models that are not made")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                what = running.pop(future)
                report(f"prepare: {what} ready in {future.result():.0f} s")
                done.add(what)
    return [what for what, _ in tasks]


def _needs(what: str) -> Optional[str]:
    """The task that must finish before task ``what`` starts: an inverter's classifier."""
    return what.removeprefix(INVERTER_OF) if what.startswith(INVERTER_OF) else None


def _timed(make: Callable[[], Any]) -> float:
    started = time.perf_counter()
    make()
    return time.perf_counter() - started


def _start_worker(threads: int, recipes: dict) -> None:
    """A fresh worker process: its share of the cores, and the parent's recipes (reseeded ones included)."""
    torch.set_num_threads(threads)
    RECIPES.update(recipes)
