"""Run chapters in batch with papermill, with parameters; write the executed notebooks to a folder.

Usage, from the repository root::

    python -m tools.run_chapters                                   # every chapter of _toc.yml, quick profile
    python -m tools.run_chapters 03_inversion -p profile cifar10 -p steps 100 --output out/
    python -m tools.run_chapters book/01_brittleness.py 02_robust_training -p profile quick
    python -m tools.run_chapters --list                            # the chapters it knows

Chapters are named by file stem (``03_inversion``) or path (``book/03_inversion.py``); with none, every chapter
listed in ``_toc.yml`` (or the file named by ``$RR_BOOK_TOC``) that is a notebook runs, in order. Each chapter (a jupytext percent ``.py`` or MyST ``.md``
notebook, or an ``.ipynb``) is converted to ``.ipynb`` with jupytext (its ``parameters`` cell tag is kept) into
``<output>/inputs/``, then papermill injects the parameters after the ``parameters`` cell and executes it, with
the chapter's folder (``book/``) as working directory, like the book build. The executed notebook is written to
``<output>/<stem>.ipynb`` (cells are saved as they finish, so a failed or interrupted run shows how far it got).

Parameters: ``-p NAME VALUE`` (repeatable; ``True``/``False``/``None``, integers and floats are converted, as in
papermill's own CLI), ``-r NAME VALUE`` for a raw string, ``-y YAML`` for a YAML mapping.

Every requested chapter runs even if one fails; the exit status is non-zero if any failed (or had no cell tagged
``parameters`` while parameters were given). After each chapter the claims it checked are printed with their margins
(:mod:`rrhelpers.book.claims`), and a summary with times at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
DEFAULT_OUTPUT = ROOT / "_build" / "run_chapters"
TOC = Path(os.environ.get("RR_BOOK_TOC", ROOT / "_toc.yml"))
"""The table of contents whose chapters run by default (and that tests/test_book.py checks); RR_BOOK_TOC
overrides it, e.g. to try the machinery on a few scratch chapters."""
NOTEBOOK_SUFFIXES = (".py", ".md", ".ipynb")


def toc_files(toc: Path = TOC) -> list[str]:
    """Every ``file:`` entry of the table of contents (root first), as written there (no suffix)."""
    import yaml

    data = yaml.safe_load(toc.read_text())
    files = [data["root"]] if data.get("root") else []

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) if isinstance(entry, dict) else []:
                walk(part.get("chapters"))

    walk(data.get("chapters"))
    for part in data.get("parts", []):
        walk(part.get("chapters"))
    return files


def resolve(entry: str, root: Path = ROOT) -> Path | None:
    """A TOC entry or a user's chapter name -> the notebook file, or None if there is none."""
    path = Path(entry)
    candidates = [root / path] if path.suffix in NOTEBOOK_SUFFIXES else []
    candidates += [root / (str(path) + s) for s in NOTEBOOK_SUFFIXES]
    candidates += [BOOK / (path.name + s) for s in NOTEBOOK_SUFFIXES] + [BOOK / path.name]
    for candidate in candidates:
        if candidate.is_file() and candidate.suffix in NOTEBOOK_SUFFIXES:
            return candidate
    return None


def is_notebook(path: Path) -> bool:
    """An .ipynb, or a jupytext .py/.md file whose header declares a kernel (MyST pages without code are not)."""
    if path.suffix == ".ipynb":
        return True
    import jupytext

    try:
        nb = jupytext.read(path)
    except Exception:
        return False
    return bool(nb.metadata.get("kernelspec")) and any(c.cell_type == "code" for c in nb.cells)


def book_chapters(toc: Path = TOC) -> list[Path]:
    """The notebook chapters of the book, in TOC order (missing files are reported by the caller)."""
    chapters = []
    for entry in toc_files(toc):
        path = resolve(entry)
        if path is None:
            raise SystemExit(f"run_chapters: {entry!r} is in _toc.yml but no such file exists")
        if is_notebook(path):
            chapters.append(path)
    return chapters


def to_ipynb(source: Path, dest_dir: Path):
    """Convert a chapter to an .ipynb in ``dest_dir`` (cell tags kept); returns (path, notebook)."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / (source.stem + ".ipynb")
    nbformat.write(nb, dest)
    return dest, nb


def has_parameters_cell(nb) -> bool:
    return any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells if c.cell_type == "code")


def parse_parameters(args: argparse.Namespace) -> dict:
    from papermill.cli import _resolve_type

    params = {}
    if args.yaml:
        import yaml

        params.update(yaml.safe_load(args.yaml) or {})
    for name, value in args.parameters or []:
        params[name] = _resolve_type(value)
    for name, value in args.raw or []:
        params[name] = value
    return params


def outputs_text(notebook) -> str:
    """Everything a notebook's code cells printed (streams and text results)."""
    parts = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") == "error":
                parts.append(f"{out.get('ename')}: {out.get('evalue')}\n")
    return "".join(parts)


def run_chapter(source: Path, output: Path, params: dict, args: argparse.Namespace) -> tuple[bool, str]:
    import papermill as pm

    input_nb, nb = to_ipynb(source, output / "inputs")
    if not has_parameters_cell(nb):
        message = f"{source.name} has no code cell tagged 'parameters'"
        if params:
            return False, message
        print(f"run_chapters: warning: {message}", file=sys.stderr)
    out_nb = output / (source.stem + ".ipynb")
    try:
        pm.execute_notebook(
            str(input_nb), str(out_nb), parameters=params, kernel_name=args.kernel, cwd=str(source.parent),
            progress_bar=args.progress, log_output=args.log_output, request_save_on_cell_execute=True,
            execution_timeout=args.timeout,
        )
    except pm.PapermillExecutionError as err:
        return False, f"cell {err.exec_count}: {err.ename}: {err.evalue}"
    except Exception as err:  # kernel died, timeout, bad notebook ...
        if args.verbose:
            traceback.print_exc()
        return False, f"{type(err).__name__}: {err}"
    return True, str(out_nb)


def print_claims(executed: Path) -> None:
    """Print the claim lines (:mod:`rrhelpers.book.claims`) of an executed chapter, so a batch run's log holds every
    claim's value and margin."""
    import nbformat

    from rrhelpers.book.claims import read_claims

    if executed.exists():
        for claim in read_claims(outputs_text(nbformat.read(executed, as_version=4))):
            print(f"  {claim.line()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.run_chapters", description="Run chapters with papermill (see the module docstring).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("chapters", nargs="*", help="chapter names or paths (default: every chapter in _toc.yml)")
    parser.add_argument("-p", "--parameters", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter (values parsed as bool/None/int/float when they look like one)")
    parser.add_argument("-r", "--raw", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter kept as a string")
    parser.add_argument("-y", "--yaml", metavar="YAML", help="parameters as a YAML mapping")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT),
                        help=f"folder for the executed notebooks (default {DEFAULT_OUTPUT.relative_to(ROOT)})")
    parser.add_argument("-k", "--kernel", default=None, help="kernel name (default: the chapter's kernelspec)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per cell (default: none)")
    parser.add_argument("--log-output", action="store_true", help="stream the cells' output to the terminal")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="list the chapters and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print tracebacks of papermill errors")
    args = parser.parse_args(argv)

    if args.chapters:
        chapters = []
        for name in args.chapters:
            path = resolve(name)
            if path is None:
                parser.error(f"no chapter {name!r} (looked in the repo root and book/)")
            chapters.append(path)
    else:
        chapters = book_chapters()
    if args.list:
        for path in chapters:
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        return 0
    if not chapters:
        print("run_chapters: no chapters to run", file=sys.stderr)
        return 1

    params = parse_parameters(args)
    output = Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    # the chapters' kernelspec "python3" must start this environment's Python
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")

    results = []
    for path in chapters:
        print(f"run_chapters: {path.name} with {params or 'default parameters'}", flush=True)
        start = time.perf_counter()
        ok, detail = run_chapter(path, output, params, args)
        results.append((path, ok, time.perf_counter() - start, detail))
        print(f"run_chapters: {path.name}: {'ok' if ok else 'FAILED'} ({results[-1][2]:.1f} s) {detail}", flush=True)
        print_claims(output / (path.stem + ".ipynb"))

    failed = [r for r in results if not r[1]]
    print("\nsummary:")
    for path, ok, seconds, detail in results:
        print(f"  {'ok    ' if ok else 'FAILED'} {path.name:32} {seconds:8.1f} s  {detail}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed; executed notebooks in {output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
