"""Vendor the book's JavaScript (MathJax 3, RequireJS, the Jupyter widget HTML manager) for offline HTML.

By default Jupyter Book pages load MathJax, require.js and ``@jupyter-widgets/html-manager`` from CDNs. This
script fetches pinned versions of those npm packages from the npm registry with ``npm pack`` (the ordinary
client; it verifies each tarball against the registry's integrity hash and keeps it in npm's own cache) and
unpacks the files the pages need into ``book/_static/vendor/`` (git-ignored). ``_config.yml`` points Sphinx
(``mathjax_path``) and myst-nb (``nb_ipywidgets_js``) at these copies, so the built book needs no network.

Usage (from the repository root; ``python -m tools.build_book`` calls it)::

    python -m tools.vendor_js           # fetch if missing or if the pinned versions changed
    python -m tools.vendor_js --force   # fetch again

A stamp file records the versions; a second run with everything in place does nothing (no network). Needs
``npm`` (Node.js) on the PATH; with no npm and no vendored copy it fails with a clear message.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "book" / "_static" / "vendor"
STAMP = VENDOR / "vendor.json"

PACKAGES = {
    # npm package -> (version, [(path prefix or file inside the tarball, destination folder or file)])
    "mathjax": ("3.2.2", [("package/es5/", "mathjax/es5/"), ("package/LICENSE", "mathjax/LICENSE")]),
    "requirejs": ("2.3.8", [("package/require.js", "require.js")]),
    "@jupyter-widgets/html-manager": ("1.0.15", [("package/dist/", "html-manager/")]),
}
SKIP_SUFFIXES = (".map", "/embed.js", "/embed.js.LICENSE.txt", "/libembed-amd.js")  # source maps, unused bundles

# Files that the pages load; the build checks they exist.
REQUIRED = (
    "mathjax/es5/tex-mml-chtml.js",
    "mathjax/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
    "require.js",
    "html-manager/embed-amd.js",
)


def wanted() -> dict[str, str]:
    return {name: version for name, (version, _) in PACKAGES.items()}


def is_current(vendor: Path = VENDOR) -> bool:
    """True if the vendored files exist and were fetched for the pinned versions."""
    stamp = vendor / STAMP.name
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    return recorded == wanted() and all((vendor / f).is_file() for f in REQUIRED)


def npm_pack(spec: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "vendor_js: npm not found. Install Node.js and npm (Debian: apt-get install -y nodejs npm) "
            "so the book's MathJax and widget JavaScript can be fetched from the npm registry."
        )
    proc = subprocess.run(
        [npm, "pack", spec, "--json", "--silent", "--pack-destination", str(dest)],
        capture_output=True, text=True, cwd=dest,
    )
    if proc.returncode != 0:
        raise SystemExit(f"vendor_js: `npm pack {spec}` failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    start = proc.stdout.find("[")  # npm may print warnings before the JSON
    info = json.loads(proc.stdout[start:])
    return dest / info[0]["filename"]


def extract(tarball: Path, rules: list[tuple[str, str]], out: Path) -> int:
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or member.name.endswith(SKIP_SUFFIXES):
                continue
            name = PurePosixPath(member.name)
            if ".." in name.parts or name.is_absolute():
                raise SystemExit(f"vendor_js: unsafe path {member.name!r} in {tarball.name}")
            for prefix, dest in rules:
                if prefix.endswith("/") and member.name.startswith(prefix):
                    target = out / dest / member.name[len(prefix):]
                elif member.name == prefix:
                    target = out / dest
                else:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                count += 1
                break
    return count


def vendor(force: bool = False, vendor_dir: Path = VENDOR, quiet: bool = False) -> bool:
    """Fetch and unpack the pinned packages into ``vendor_dir`` unless already there. True if it fetched."""
    if not force and is_current(vendor_dir):
        if not quiet:
            print(f"vendor_js: up to date in {vendor_dir.relative_to(ROOT) if vendor_dir.is_relative_to(ROOT) else vendor_dir}")
        return False
    vendor_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vendor-js-") as tmp:
        tmp = Path(tmp)
        staging = tmp / "vendor"
        staging.mkdir()
        for name, (version, rules) in PACKAGES.items():
            tarball = npm_pack(f"{name}@{version}", tmp)
            n = extract(tarball, rules, staging)
            if not quiet:
                print(f"vendor_js: {name}@{version}: {n} files")
        (staging / STAMP.name).write_text(json.dumps(wanted(), indent=2) + "\n")
        missing = [f for f in REQUIRED if not (staging / f).is_file()]
        if missing:
            raise SystemExit(f"vendor_js: the packages lack {missing}")
        # swap in the new folder whole, so an interrupted run never leaves a half-filled vendor folder
        old = tmp / "old"
        if vendor_dir.exists():
            vendor_dir.rename(old)
        shutil.move(str(staging), str(vendor_dir))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.vendor_js", description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="fetch again even if up to date")
    args = parser.parse_args(argv)
    vendor(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
