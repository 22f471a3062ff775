"""The book machinery: table of contents, batch runs, every chapter under nbval, and the offline HTML in Chromium.

The slow tests run each chapter under ``pytest --nbval-lax`` (a subprocess per chapter, on a jupytext-converted
copy in ``_build/nbval/``; the quick profile, i.e. the default parameters) unless ``make book`` already did so
for the chapter's current code (``tools/nbval_runs.py``), and check the built book (``make book`` first) in
headless Chromium with no network (``tools/check_offline.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rrhelpers as rr
from tools import build_book, check_offline, nbval_runs, run_chapters, vendor_js

ROOT = Path(__file__).resolve().parent.parent
NBVAL_DIR = ROOT / "_build" / "nbval"
BOOK_CACHE = ROOT / "_build" / ".jupyter_cache"  # where `make book` keeps executed chapters


def _toc_chapters() -> list[str]:
    """The TOC's chapter entries (not the root page), as written in _toc.yml."""
    return run_chapters.toc_files()[1:]


def _tail(text: str, n: int = 8000) -> str:
    return text if len(text) <= n else "...\n" + text[-n:]


# ---------------------------------------------------------------------------------------------------- fast checks


@pytest.mark.parametrize("entry", _toc_chapters())
def test_toc_chapter_is_a_notebook_with_a_quick_parameters_cell(entry):
    import jupytext

    path = run_chapters.resolve(entry)
    assert path is not None, f"{entry} is listed in _toc.yml but no {entry}.py/.md/.ipynb exists"
    nb = jupytext.read(path)
    assert nb.metadata.get("kernelspec", {}).get("name"), f"{path.name}: no kernelspec in its header"
    tagged = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', want exactly one"
    assert re.search(r"""^profile\s*=\s*["']quick["']""", tagged[0].source, re.M), \
        f"{path.name}: the parameters cell must set profile = \"quick\" (the default profile)"


@pytest.mark.parametrize("entry", _toc_chapters())
def test_every_parameter_of_a_chapter_is_read(entry):
    """A parameter is one of the settings the chapter reads from its cell (``rr.chapter_kit(name, globals())`` or
    ``rr.read_settings``) or a name the chapter's code uses; a misspelt knob would silently change nothing."""
    import jupytext

    nb = jupytext.read(run_chapters.resolve(entry))
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = set(re.findall(r"^(\w+)\s*=", cell.source, re.M))
    rest = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and c is not cell)
    read = re.search(r"""(?:chapter_kit|read_settings)\(["'](\w+)["'], globals\(\)""", rest)
    settings = {f.name for f in dataclasses.fields(rr.get_profile("quick").chapters[read[1]])} if read else set()
    unread = {n for n in names - settings - {"profile"} if not re.search(rf"\b{n}\b", rest)}
    assert not unread, f"{entry}: parameters {sorted(unread)} are neither settings of the chapter nor used by it"


def test_config_points_at_files_the_build_provides():
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    static = ROOT / sphinx["html_static_path"][0]
    assert static == vendor_js.VENDOR.parent
    provided = {f"vendor/{f}" for f in vendor_js.REQUIRED}
    assert sphinx["mathjax_path"] in provided
    for js in sphinx["nb_ipywidgets_js"]:
        assert js in provided or (static / js).is_file(), f"nb_ipywidgets_js loads {js}, which nothing provides"
        assert not re.match(r"(https?:)?//", js)
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["raise_on_error"] is True and config["execute"]["allow_errors"] is False
    assert (ROOT / "_toc.yml").is_file() and (ROOT / "book" / "intro.md").is_file()


def test_network_resources_in_built_pages_are_found(tmp_path):
    (tmp_path / "ok.html").write_text(
        '<script src="_static/vendor/require.js"></script><a href="https://example.org">a link is fine</a>'
        '<script>const URL = "https://unpkg.com/x.js";</script>')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.html").write_text(
        '<script defer src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<link rel="stylesheet" href="//fonts.example.org/a.css">')
    found = build_book.remote_resources(tmp_path)
    assert list(found) == ["sub/bad.html"] and len(found["sub/bad.html"]) == 2


def test_chapters_start_longest_first_by_their_recorded_seconds():
    chapters = run_chapters.book_chapters()
    seconds = json.loads(build_book.CHAPTER_SECONDS.read_text())
    assert set(seconds) == {c.relative_to(ROOT).as_posix() for c in chapters}, \
        "tools/chapter_seconds.json names every chapter: run python -m tools.build_book --clean --record-seconds"
    order = build_book.longest_first(chapters, seconds)
    assert sorted(order) == sorted(chapters)
    recorded = [seconds[c.relative_to(ROOT).as_posix()] for c in order]
    assert recorded == sorted(recorded, reverse=True)
    new = ROOT / "book" / "99_new.py"  # not recorded yet: first, it may be long
    assert build_book.longest_first([chapters[0], new], seconds) == [new, chapters[0]]


CHAPTER = '''\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A test chapter

# %% tags=["parameters"]
profile = "quick"
steps = 1

# %%
assert profile in ("quick", "cifar10"), profile
print(f"ran {profile} {steps * 2}")
{extra}
'''


def test_run_chapters_injects_parameters_and_reports_failures(tmp_path, capsys):
    import nbformat

    good = tmp_path / "good.py"
    good.write_text(CHAPTER.replace("{extra}", ""))
    bad = tmp_path / "bad.py"
    bad.write_text(CHAPTER.replace("{extra}", "\n# %%\nraise ValueError('boom')\n"))
    out = tmp_path / "out"

    assert run_chapters.main([str(good), "-p", "profile", "cifar10", "-p", "steps", "21", "-o", str(out),
                              "--no-progress"]) == 0
    nb = nbformat.read(out / "good.ipynb", as_version=4)
    assert "parameters" in nb.cells[1].metadata.tags          # the tag survived jupytext -> ipynb
    assert "injected-parameters" in nb.cells[2].metadata.tags
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "ran cifar10 42" in printed

    assert run_chapters.main([str(good), str(bad), "-o", str(out), "--no-progress"]) == 1
    summary = capsys.readouterr().out
    assert "1 passed, 1 failed" in summary and "ValueError: boom" in summary


WIDGET_CHAPTER = CHAPTER.replace("{extra}", """
# %%
import matplotlib.pyplot as plt
from rrhelpers.book import widgets
fig, ax = plt.subplots()
ax.plot([0, 1])
widgets.picker({"a": widgets.figure_png(fig), "b": b"not shown"})
""")


@pytest.mark.slow  # starts processes (a kernel, or two DDP workers): seconds each
def test_one_nbval_run_serves_the_book_and_the_tests(tmp_path):
    """nbval's run is kept with its outputs and widget state, under the hash the book build looks up."""
    import jupyter_cache
    from jupyter_cache.base import CacheBundleIn

    chapter, cache = tmp_path / "chapter.py", tmp_path / "cache"
    chapter.write_text(WIDGET_CHAPTER)
    first = nbval_runs.run(chapter, cache, tmp_path / "work")
    assert first.passed and not first.cached, _tail(first.log)
    again = nbval_runs.run(chapter, cache, tmp_path / "work")
    assert again.passed and again.cached  # the second caller does not execute it again

    _, merged = jupyter_cache.get_cache(str(cache)).merge_match_into_notebook(nbval_runs.read_chapter(chapter))
    printed = "".join(o.get("text", "") for c in merged.cells for o in c.get("outputs", []))
    assert "ran quick 2" in printed
    state = merged.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    images = [m for m in state.values() if m["model_name"] == "ImageModel"]
    assert len(images) == 2 and all(m.get("buffers") for m in images)  # the PNGs travel as widget buffers
    views = [o.data["application/vnd.jupyter.widget-view+json"]["model_id"] for c in merged.cells
             for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views and all(v in state for v in views)
    assert nbval_runs.runs_not_by_nbval(cache) == []
    other = tmp_path / "other.py"  # a notebook that jupyter-book would have executed itself is reported
    other.write_text(WIDGET_CHAPTER.replace("ran quick", "ran other"))
    jupyter_cache.get_cache(str(cache)).cache_notebook_bundle(
        CacheBundleIn(nbval_runs.read_chapter(other), str(other), data={"execution_seconds": 1.0}),
        check_validity=False, overwrite=True)
    assert nbval_runs.runs_not_by_nbval(cache) == [str(other)]

    chapter.write_text(WIDGET_CHAPTER + "\n# %%\nraise ValueError('boom')\n")  # new code: runs again, fails
    failed = nbval_runs.run(chapter, cache, tmp_path / "work")
    assert not failed.passed and not failed.cached and "boom" in failed.log
    assert nbval_runs.cached_run(chapter, cache) is None  # a failed run is never cached


FLOOD_CHAPTER = CHAPTER.replace("{extra}", """
# %%
import time
from IPython.display import display
for _ in range(2500):  # as many messages as a long cell's progress bars send, past ZeroMQ's high-water mark
    display("x" * 20000)
time.sleep(0.5)
print("last output")
""")


@pytest.mark.slow
def test_a_cell_that_floods_the_output_channel_loses_nothing(tmp_path):
    """Messages a kernel publishes while nbval waits for the cell's reply are read as they come
    (``tools/nbval_iopub.py``): without it ZeroMQ drops them past 1,000 queued, the cell's 'idle' status among
    them, and nbval fails the cell after 5 s ("Timeout of 5 seconds exceeded waiting for output")."""
    import nbformat

    chapter = tmp_path / "flood.py"
    chapter.write_text(FLOOD_CHAPTER)
    result = nbval_runs.run(chapter, tmp_path / "cache", tmp_path / "work")
    assert result.passed, _tail(result.log)
    last_cell = nbformat.read(tmp_path / "work" / "executed" / "flood.ipynb", as_version=4).cells[-1]
    assert len(last_cell.outputs) == 2501 and last_cell.outputs[-1].text == "last output\n"


# ----------------------------------------------------------------------------------------------------- slow checks


@pytest.mark.slow
@pytest.mark.parametrize("entry", _toc_chapters())
def test_chapter_passes_nbval(entry, user_cache):
    """The chapter (quick profile) passes ``pytest --nbval-lax``: every cell runs without error. One execution
    serves the book and this test (``tools/nbval_runs.py``): if ``make book`` already ran this chapter's current
    code under nbval and it passed, that run is reused; otherwise it runs here and the book will reuse it."""
    source = run_chapters.resolve(entry)
    assert source is not None, f"{entry} is listed in _toc.yml but does not exist"
    result = nbval_runs.run(source, BOOK_CACHE, NBVAL_DIR)
    assert result.passed, f"nbval failed on {source.relative_to(ROOT)}:\n" + _tail(result.log)
    assert result.cached or re.search(r"\d+ passed", result.log), _tail(result.log)


@pytest.mark.slow
def test_built_book_renders_offline_in_chromium():
    """The built HTML in headless Chromium with no network: math, figures and widgets render."""
    html = ROOT / "_build" / "html"
    if not (html / "index.html").is_file():
        pytest.skip("the book is not built: run `make book` (python -m tools.build_book) before this test")
    if check_offline.find_chromium() is None:
        pytest.skip("Chromium is not installed: run `bash tools/setup_system.sh` (apt-get install -y chromium)")
    proc = subprocess.run([sys.executable, "-m", "tools.check_offline", "--html-dir", str(html)],
                          cwd=ROOT, env=nbval_runs.subprocess_env(), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, _tail(proc.stdout + proc.stderr)
    assert "passed" in proc.stdout.splitlines()[-1]


@pytest.mark.slow
def test_live_view_redraws_in_jupyterlab(user_cache):
    """A reader's session: JupyterLab opens chapter 7 through jupytext, a kernel runs it with small parameters, and
    typing another value into its live view's control makes the kernel send a new picture (``tools/check_live.py``,
    headless Chromium driven over the DevTools protocol)."""
    from rrhelpers.networks import zoo

    if check_offline.find_chromium() is None:
        pytest.skip("Chromium is not installed: run `bash tools/setup_system.sh` (apt-get install -y chromium)")
    if not all(zoo.cached_path(name).exists() for name in ("quick-standard", "quick-robust")):
        pytest.skip("the quick models are not cached yet: run `make book` first (the check is timed)")
    proc = subprocess.run([sys.executable, "-m", "tools.check_live", "--timeout", "110"], cwd=ROOT,
                          env=nbval_runs.subprocess_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, _tail(proc.stdout + proc.stderr)
    assert "redrew its live picture" in proc.stdout


def test_book_tools_are_installed():
    """The slow chapter tests need nbval, the build needs jupyter-book: fail fast (and cheaply) if missing."""
    import nbval  # noqa: F401
    import papermill  # noqa: F401

    assert shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) is not None
