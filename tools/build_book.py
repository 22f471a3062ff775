"""Build the book: quick profile (the chapters' default parameters), offline, failing loudly.

Usage, from the repository root (``make book`` runs the first)::

    python -m tools.build_book                     # whole book -> _build/html/index.html
    python -m tools.build_book --clean             # drop the HTML and the execution cache first
    python -m tools.build_book --chapter 03_inversion   # one chapter alone -> _build/_page/03_inversion/_build/html
    python -m tools.build_book --toc other_toc.yml # another table of contents (e.g. a subset of chapters)

Steps: vendor MathJax, require.js and the widget manager from the npm registry if not already there
(``tools/vendor_js.py``, cached in ``book/_static/vendor/``); for the whole book, make the quick profile's
models if they are not cached (``rrhelpers.book.prepare``: trained in this process, several times faster than inside a
chapter's kernel); execute every chapter whose code changed since its last run under nbval
(``tools/nbval_runs.py``: the one execution per chapter, which the nbval tests reuse), two at a time where there are
two cores or more (``--jobs``), the longest first (``tools/chapter_seconds.json``, ``--record-seconds``), keeping
the executed notebooks in the build's jupyter-cache; stop with the failing cells if one did not pass; run
``jupyter-book build``, which finds every chapter in that cache and renders it without executing it again; exit
non-zero if Sphinx failed or if jupyter-book executed a chapter itself; then check that no built page loads a
script, stylesheet or font from the network.
Prints the time of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tools import nbval_runs, run_chapters, vendor_js

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
HTML = BUILD / "html"

# <script src=...>, <link href=...>, CSS url(...) pointing at the network (links in <a href> are fine).
REMOTE_RESOURCE = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//[^"'\s>]+"""
    r"""|<link\b(?=[^>]*\brel\s*=\s*["']?(?:stylesheet|preload|modulepreload|icon))[^>]*\bhref\s*=\s*["']?(?:https?:)?//[^"'\s>]+"""
    r"""|<img\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//[^"'\s>]+"""
    r"""|@import\s+url\(\s*["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def remote_resources(html_dir: Path) -> dict[str, list[str]]:
    """Pages (relative paths) that reference a network script, stylesheet, image or CSS import."""
    found = {}
    for page in sorted(html_dir.rglob("*.html")):
        if "_static" in page.relative_to(html_dir).parts:
            continue
        hits = REMOTE_RESOURCE.findall(page.read_text(errors="replace"))
        if hits:
            found[str(page.relative_to(html_dir))] = hits
    return found


def banner(message: str, ok: bool) -> None:
    line = "=" * 78
    stream = sys.stdout if ok else sys.stderr
    print(f"\n{line}\n{'OK' if ok else 'FAILED'}: {message}\n{line}", file=stream, flush=True)


def jupyter_book() -> list[str]:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise SystemExit("build_book: jupyter-book not found; run `make setup`")
    return [found]


def chapter_source(name: str) -> Path:
    """``03_inversion``, ``book/03_inversion.py`` or ``03_inversion.md`` -> the chapter file."""
    stem = Path(name).name
    candidates = [ROOT / name, ROOT / "book" / stem] + [ROOT / "book" / (Path(stem).stem + s) for s in (".py", ".md", ".ipynb")]
    for path in candidates:
        if path.is_file():
            return path
    raise SystemExit(f"build_book: no chapter {name!r} in book/")


def default_jobs() -> int:
    """Chapters executed side by side: two where there are at least two cores, each kernel with an equal share of
    them. On a 2-core machine two one-thread chapters finish about 1.18x sooner than two two-thread chapters in turn
    (plotting, image encoding and kernel start-up use one core; small-batch solver steps scale less than 2x). Model
    training scales almost 2x with the second thread, so the models are trained one at a time."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


CHAPTER_SECONDS = ROOT / "tools" / "chapter_seconds.json"
"""Each chapter's execution time in a two-at-a-time build on 2 cores, as recorded by ``--record-seconds``: the
longest chapters start first, so that no long one runs alone at the end (as pytest-split orders tests by a
committed durations file). A stale or missing entry changes only the order."""


def longest_first(chapters: list[Path], seconds: dict[str, float]) -> list[Path]:
    """``chapters`` by recorded seconds, longest first; chapters without a record first of all, in their order
    (a new chapter may be long)."""
    return sorted(chapters, key=lambda c: -seconds.get(c.relative_to(ROOT).as_posix(), float("inf")))


def execute_chapters(toc: Path, cache_dir: Path, *, jobs: int = 1, record: bool = False) -> bool:
    """Run each notebook chapter of ``toc`` under nbval unless a passing run of its code is cached, ``jobs`` at a
    time (each kernel with an equal share of the cores), longest first (:data:`CHAPTER_SECONDS`); print one line per
    chapter as it ends and the failing cells of any that did not pass. ``record``: write the seconds of the chapters
    that ran and passed into :data:`CHAPTER_SECONDS`. True if all passed."""
    chapters = run_chapters.book_chapters(toc)
    seconds = json.loads(CHAPTER_SECONDS.read_text()) if CHAPTER_SECONDS.exists() else {}
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    failed = []

    def one(chapter: Path) -> nbval_runs.NbvalRun:
        return nbval_runs.run(chapter, cache_dir, BUILD / "nbval", threads=threads)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        number = {chapter: n for n, chapter in enumerate(chapters, 1)}  # the table of contents' numbering
        runs = {pool.submit(one, chapter): number[chapter] for chapter in longest_first(chapters, seconds)}
        for future in as_completed(runs):
            result = future.result()
            state = "cached" if result.cached else ("passed" if result.passed else "FAILED")
            print(f"build_book: [{runs[future]}/{len(chapters)}] {result.chapter.relative_to(ROOT)}: {state} "
                  f"({result.seconds:.0f} s{' when it ran' if result.cached else ''})", flush=True)
            if not result.passed:
                failed.append(result)
            elif record and not result.cached:
                seconds[result.chapter.relative_to(ROOT).as_posix()] = round(result.seconds)
    if record:
        CHAPTER_SECONDS.write_text(json.dumps(dict(sorted(seconds.items())), indent=1) + "\n")
    for result in failed:
        print(f"--- nbval on {result.chapter.relative_to(ROOT)} ---\n{result.log[-6000:]}", file=sys.stderr)
    return not failed


def build(args: argparse.Namespace) -> int:
    vendor_js.vendor(quiet=False)
    env = nbval_runs.subprocess_env()

    toc, out_base, what = args.toc, args.path_output, "book"
    if args.chapter:
        # a one-page book with the same configuration (jupyter-book's own single-page mode would load every
        # .js file under book/_static, MathJax's hundred components included, on the page)
        source = chapter_source(args.chapter)
        out_base = BUILD / "_page" / source.stem
        out_base.mkdir(parents=True, exist_ok=True)
        toc = out_base / "_toc.yml"
        toc.write_text(f"format: jb-book\nroot: {source.relative_to(ROOT).with_suffix('').as_posix()}\n")
        what = f"chapter {source.relative_to(ROOT)}"
    cmd = jupyter_book() + ["build", str(ROOT), "--builder", "html"]
    if toc:
        cmd += ["--toc", str(Path(toc).resolve())]
    if out_base:
        cmd += ["--path-output", str(Path(out_base).resolve())]
    html_dir = (Path(out_base).resolve() if out_base else ROOT) / "_build" / "html"
    if args.warnings_as_errors:
        cmd += ["-W", "--keep-going"]
    if args.all:
        cmd += ["--all"]

    if args.clean:
        base = html_dir.parent
        for sub in ("html", ".doctrees", ".jupyter_cache", "jupyter_execute"):
            shutil.rmtree(base / sub, ignore_errors=True)
        print(f"build_book: removed {base.relative_to(ROOT) if base.is_relative_to(ROOT) else base}/"
              "{html,.doctrees,.jupyter_cache,jupyter_execute}")

    start = time.perf_counter()
    if not args.chapter:  # one chapter's run makes only what it loads, in its kernel
        from rrhelpers.book.prepare import prepare_profile

        prepare_profile("quick")  # the chapters' default profile: its models, trained here if not cached
        print(f"build_book: quick models ready in {time.perf_counter() - start:.1f} s", flush=True)
    if not execute_chapters(Path(toc).resolve() if toc else run_chapters.TOC, html_dir.parent / ".jupyter_cache",
                            jobs=args.jobs, record=args.record_seconds):
        banner(f"{what}: a chapter failed under nbval after {time.perf_counter() - start:.1f} s; its failing cells "
               "are above", ok=False)
        return 1
    executed = time.perf_counter() - start
    print(f"build_book: chapters executed (or found in the cache) in {executed:.1f} s", flush=True)
    print("build_book: " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - start

    if proc.returncode != 0:
        reports = sorted((html_dir / "reports").rglob("*.err.log")) if (html_dir / "reports").exists() else []
        for report in reports:
            print(f"--- {report.relative_to(ROOT)} ---\n{report.read_text()[-4000:]}", file=sys.stderr)
        banner(f"{what} build failed (exit {proc.returncode}) after {elapsed:.1f} s; look above for the failing "
               "chapter and cell", ok=False)
        return proc.returncode or 1

    twice = nbval_runs.runs_not_by_nbval(html_dir.parent / ".jupyter_cache")
    if twice:
        banner(f"jupyter-book executed {twice} itself instead of rendering nbval's run: the notebook it reads "
               "differs from tools/nbval_runs.read_chapter's (see _config.yml's nb_custom_formats)", ok=False)
        return 3

    remote = remote_resources(html_dir)
    if remote:
        for page, hits in remote.items():
            print(f"  {page}: {hits[:3]}", file=sys.stderr)
        banner(f"{len(remote)} built page(s) load resources from the network (see above): the HTML is not "
               "self-contained", ok=False)
        return 2

    index = html_dir / "index.html"
    banner(f"{what} built in {elapsed:.1f} s -> {index.relative_to(ROOT) if index.is_relative_to(ROOT) else index}",
           ok=True)
    print(f"build time: {elapsed:.1f} s (executing chapters {executed:.1f} s, rendering {elapsed - executed:.1f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.build_book", description="Build the book (quick profile, offline).", epilog="See the module docstring for details.")
    parser.add_argument("--clean", action="store_true", help="remove the built HTML and the execution cache first")
    parser.add_argument("--chapter", metavar="NAME", help="build one chapter alone (e.g. 03_inversion)")
    parser.add_argument("--toc", metavar="PATH", help="use this table of contents instead of _toc.yml")
    parser.add_argument("--path-output", metavar="DIR", help="write _build/ under DIR instead of the repo root")
    parser.add_argument("--jobs", type=int, default=default_jobs(), metavar="N",
                        help="chapters executed N at a time, each with 1/N of the cores (default: 2 where there "
                             "are 2 or more cores)")
    parser.add_argument("--record-seconds", action="store_true",
                        help="write each executed chapter's seconds into tools/chapter_seconds.json, which orders "
                             "the chapters longest first (record from a clean two-at-a-time build)")
    parser.add_argument("--all", action="store_true", help="rewrite every page (Sphinx -a), not just changed ones")
    parser.add_argument("-W", "--warnings-as-errors", action="store_true",
                        help="also fail on Sphinx warnings (broken references etc.)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be 1 or more (chapters executed at a time); got {args.jobs}")
    return build(args)


if __name__ == "__main__":
    sys.exit(main())
