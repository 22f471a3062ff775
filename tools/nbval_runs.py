"""Execute each chapter once, under nbval, and keep the executed notebook in the book's execution cache.

``make book`` and the nbval tests share this: whichever runs a chapter first executes it with ``pytest
--nbval-lax`` (every cell must run without error; ``tools/nbval_record.py`` keeps the outputs and widget state,
``tools/nbval_iopub.py`` reads the kernel's output while a long cell runs so that none of it is dropped)
and stores the executed notebook in jupyter-cache, keyed by the hash of its code cells, exactly where
``jupyter-book build`` (``execute_notebooks: cache``) looks. The book then renders it without executing it again,
and the tests accept a cached run that nbval passed for the chapter's current code. Editing a chapter's code
changes its hash, so the next build or test executes it again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT_S = 1800
EXECUTED_BY = "nbval"
"""The mark a cached run carries in its data when nbval executed it (and passed)."""
_CACHE_LOCK = threading.Lock()  # chapters run side by side (build_book --jobs) share one cache: one access at a time


@dataclass
class NbvalRun:
    chapter: Path
    passed: bool
    seconds: float
    log: str
    cached: bool = False  # found in the cache: nbval had already passed this code


def read_chapter(source: Path):
    """The chapter as myst-nb reads it for the book (``nb_custom_formats`` in ``_config.yml``: jupytext's
    percent format for .py files), so that its cache hash is the one the book build computes."""
    import jupytext
    import nbformat

    if source.suffix == ".py":
        return jupytext.reads(source.read_text(encoding="utf8"), fmt="py:percent")
    if source.suffix == ".ipynb":
        return nbformat.read(source, as_version=4)
    raise ValueError(f"{source.name}: only .py (jupytext percent) and .ipynb chapters run under nbval; convert it "
                     "with `jupytext --to py:percent`")


def _cache(cache_dir: Path):
    from jupyter_cache import get_cache

    return get_cache(str(cache_dir))


def cached_run(source: Path, cache_dir: Path):
    """The cache record of an nbval run that passed on the chapter's current code, or None."""
    if not cache_dir.exists():
        return None
    try:
        record = _cache(cache_dir).match_cache_notebook(read_chapter(source))
    except KeyError:
        return None
    return record if record.data.get("executed_by") == EXECUTED_BY else None


def subprocess_env(threads: int | None = None) -> dict:
    """This environment with the interpreter's folder first on PATH, for the jupyter/pytest/Chromium tools that the
    build and the tests start (so they come from the same virtual environment). ``threads``: the CPU threads that
    torch may use in them (and in the kernels they start); None leaves torch's default, every core."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets a debugger warning on kernel start
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def runs_not_by_nbval(cache_dir: Path) -> list[str]:
    """The notebooks that something other than nbval executed into the cache: after a build, jupyter-book itself,
    which happens when the notebook it reads differs from the one nbval ran (say ``read_chapter`` and
    ``_config.yml``'s ``nb_custom_formats`` drifted apart), so a chapter would silently run twice."""
    if not cache_dir.exists():
        return []
    return sorted(record.uri for record in _cache(cache_dir).list_cache_records()
                  if record.data.get("executed_by") != EXECUTED_BY)


def run(source: Path, cache_dir: Path, work_dir: Path, *, reuse: bool = True, threads: int | None = None) -> NbvalRun:
    """Run ``source`` under ``pytest --nbval-lax`` (unless ``reuse`` and a passing run of this code is cached) and
    cache the executed notebook if every cell passed. ``threads``: torch's CPU threads in the chapter's kernel
    (None: every core). Several chapters may run at once (from threads), sharing ``cache_dir`` and ``work_dir``."""
    import nbformat
    from jupyter_cache.base import CacheBundleIn

    with _CACHE_LOCK:
        record = cached_run(source, cache_dir) if reuse else None
    if record is not None:
        return NbvalRun(source, True, float(record.data.get("execution_seconds", 0.0)),
                        f"nbval passed on this code at {record.created:%Y-%m-%d %H:%M} (cached)", cached=True)
    nb = read_chapter(source)
    work_dir.mkdir(parents=True, exist_ok=True)
    notebook = work_dir / (source.stem + ".ipynb")
    nbformat.write(nb, notebook)
    executed_dir = work_dir / "executed"
    executed = executed_dir / notebook.name
    executed.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env",
           f"--nbval-cell-timeout={CELL_TIMEOUT_S}", "-p", "tools.nbval_iopub",
           "-p", "tools.nbval_record", f"--nbval-record={executed_dir}",
           "-p", "no:cacheprovider", "-q", "-o", "addopts=", "--rootdir", str(ROOT), str(notebook)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=subprocess_env(threads), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or not executed.exists():
        return NbvalRun(source, False, seconds, log)
    with _CACHE_LOCK:
        _cache(cache_dir).cache_notebook_bundle(
            CacheBundleIn(nbformat.read(executed, as_version=4), str(source),
                          data={"execution_seconds": seconds, "executed_by": EXECUTED_BY}),
            check_validity=False, overwrite=True)
    return NbvalRun(source, True, seconds, log)
