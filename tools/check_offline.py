"""Check the built book in headless Chromium with no network: math, figures and widgets must render.

Usage, from the repository root, after ``make book``::

    python -m tools.check_offline                         # every page of _build/html/book/
    python -m tools.check_offline book/03_inversion.html  # some pages (relative to the HTML folder)
    python -m tools.check_offline --screenshot shot.png book/03_inversion.html
    python -m tools.check_offline --html-dir _build/_page/03_inversion/html ...

How: the built HTML folder is served on 127.0.0.1 by a small server that adds a probe script at the top of each
page. Debian's Chromium (``apt-get install -y chromium``) loads each page headless with every other address sent
to a proxy on 127.0.0.1 that records the request and refuses it, and with host names resolving to nothing, so
the network is unusable and any attempt to use it is seen. After the page's JavaScript ran
(``--virtual-time-budget``) the DOM is dumped (``--dump-dom``) and checked:

- no request left the machine (the proxy saw none), and no resource (script, style, image, font) failed to load;
- math: every Sphinx math node holds a MathJax ``mjx-container`` and there is no MathJax error;
- figures: every ``<img>`` on the page is loaded (``complete`` with a non-zero ``naturalWidth``); ``figure``
  counts those in notebook outputs, ``image`` all of them (e.g. on a page that is not the book's, such as the
  alignment report of ``python -m rrhelpers report``);
- widgets: every embedded widget view was rendered by the widget manager into ``.jupyter-widgets`` elements
  with ``widget-*`` controls;
- pickers (``rrhelpers.book.widgets``, CSS class ``rr-picker``): choosing the last option of a picker's first dropdown
  shows another picture, i.e. the precomputed demos work without a kernel;
- across the pages checked there is at least one of each (math, an output figure, a widget, a picker that
  switched), unless relaxed
  with ``--require``;
- no uncaught JavaScript error.

Exit status 0 if every check passed, 1 if one failed, 2 if Chromium or the build is missing.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTML_DIR = ROOT / "_build" / "html"
FEATURES = ("math", "figure", "widget", "picker", "image")

# Chromium's own services (update checks, sign-in, network time): not requests of the page, so not counted
# against it; the flags below silence most of them, not all. No book page could load anything from these hosts.
BROWSER_SERVICE_HOSTS = (
    "update.googleapis.com", "accounts.google.com", "clients2.google.com", "clients1.google.com",
    "content-autofill.googleapis.com", "optimizationguide-pa.googleapis.com", "safebrowsing.googleapis.com",
    "clientservices.googleapis.com", "redirector.gvt1.com", "edgedl.me.gvt1.com", "www.google.com",
)

PROBE = """<script>/* injected by tools/check_offline.py */
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) { errors.push("failed to load " + (t.src || t.href)); }
    else { errors.push("js error: " + e.message + " at " + e.filename + ":" + e.lineno); }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  var origError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.map.call(arguments, String).join(" "));
    return origError.apply(console, arguments);
  };
  function report() {
    var images = Array.prototype.map.call(document.querySelectorAll("img"), function (img) {
      return {src: (img.currentSrc || img.src).slice(0, 200), ok: img.complete && img.naturalWidth > 0,
              width: img.naturalWidth, output: !!img.closest(".cell_output, .output")};
    });
    var resources = performance.getEntriesByType("resource").map(function (r) { return r.name; });
    var fonts = [];
    if (document.fonts) document.fonts.forEach(function (f) { if (f.status === "error") fonts.push(f.family); });
    var pre = document.getElementById("rr-offline-report");
    if (!pre) { pre = document.createElement("pre"); pre.id = "rr-offline-report"; pre.hidden = true;
                document.body.appendChild(pre); }
    pre.textContent = JSON.stringify({errors: errors, images: images, resources: resources, fonts: fonts,
                                      loaded: document.readyState, pickers: pickers});
  }
  // Pickers (rrhelpers.book.widgets, class rr-picker) must switch pictures in the browser: once they have rendered,
  // choose the last option of each picker's first dropdown and record the visible picture before and after.
  var pickers = null;
  function shown(box) {
    return Array.prototype.filter.call(box.querySelectorAll("img"), function (img) {
      return img.offsetParent !== null;
    }).map(function (img) { return img.src; }).join(" ");
  }
  function clickPickers(attempt) {
    var boxes = document.querySelectorAll(".rr-picker");
    var views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
    var ready = (boxes.length > 0 || views === 0) && Array.prototype.every.call(boxes, shown);
    if (!ready && attempt < 24) { setTimeout(function () { clickPickers(attempt + 1); }, 250); return; }
    var pending = Array.prototype.map.call(boxes, function (box) {
      var select = box.querySelector("select");
      var entry = {options: select ? select.options.length : 0, before: shown(box), after: null};
      if (select && select.options.length > 1) {
        select.selectedIndex = select.options.length - 1;
        select.dispatchEvent(new Event("change", {bubbles: true}));
      }
      return [box, entry];
    });
    setTimeout(function () {
      pickers = pending.map(function (p) { p[1].after = shown(p[0]); return p[1]; });
    }, 1000);
  }
  window.addEventListener("load", function () { report(); setInterval(report, 500); clickPickers(0); });
})();
</script>
"""


class PageServer(http.server.SimpleHTTPRequestHandler):
    """Serves the HTML folder, with the probe added at the top of each page's <head>."""

    def log_message(self, *args):  # quiet
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not path.endswith(".html") or not os.path.isfile(path):
            return super().send_head()
        body = Path(path).read_bytes()
        marker = b"<head>"
        i = body.find(marker)
        body = body[: i + len(marker)] + PROBE.encode() + body[i + len(marker):] if i >= 0 else PROBE.encode() + body
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return io.BytesIO(body)


class RefusingProxy(http.server.BaseHTTPRequestHandler):
    """Chromium's proxy: records every request it is sent (i.e. every network access) and refuses it."""

    requests: list[str] = []
    ignored: list[str] = []

    def log_message(self, *args):
        pass

    def _refuse(self):
        host = self.path.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0] if self.command != "CONNECT" \
            else self.path.rsplit(":", 1)[0]
        log = type(self).ignored if host in BROWSER_SERVICE_HOSTS else type(self).requests
        log.append(f"{self.command} {self.path}")
        self.send_response(403, "offline")
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = do_CONNECT = do_DELETE = _refuse


def serve(handler, directory: Path | None = None) -> tuple[http.server.ThreadingHTTPServer, int]:
    if directory is not None:
        handler = functools.partial(handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def find_chromium(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(chromium: str, proxy_port: int, profile: str, budget_ms: int) -> list[str]:
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
        "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,Translate,MediaRouter,"
        "AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        "--disable-client-side-phishing-detection", "--disable-domain-reliability", "--no-pings",
        "--metrics-recording-only", "--no-default-browser-check", "--safebrowsing-disable-auto-update",
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--virtual-time-budget={budget_ms}",
        "--run-all-compositor-stages-before-draw",
    ]


@dataclass
class PageResult:
    page: str
    problems: list[str] = field(default_factory=list)
    features: dict[str, int] = field(default_factory=dict)


def check_dom(page: str, dom: str, base_url: str) -> PageResult:
    """Check a dumped DOM; ``features`` counts the math nodes, output figures and widget views found."""
    from bs4 import BeautifulSoup

    result = PageResult(page)
    soup = BeautifulSoup(dom, "html.parser")
    report_node = soup.find(id="rr-offline-report")
    if report_node is None:
        result.problems.append("the probe never reported: the page did not finish loading")
        return result
    report = json.loads(report_node.get_text())

    for error in report["errors"]:
        result.problems.append(error)
    for family in report.get("fonts", []):
        result.problems.append(f"font failed to load: {family}")
    foreign = [r for r in report["resources"] if not r.startswith(base_url) and not r.startswith("data:")]
    for r in foreign:
        result.problems.append(f"loaded from outside the book: {r}")

    # math: each Sphinx math node must hold a MathJax container
    math_nodes = soup.select("span.math, div.math")
    unrendered = [m for m in math_nodes if m.find("mjx-container") is None]
    if unrendered:
        result.problems.append(f"{len(unrendered)}/{len(math_nodes)} math nodes not rendered by MathJax, "
                               f"e.g. {unrendered[0].get_text()[:80]!r}")
    if soup.find("mjx-merror") is not None:
        result.problems.append(f"MathJax error: {soup.find('mjx-merror').get_text()[:200]!r}")
    result.features["math"] = len(math_nodes) - len(unrendered)

    # figures: every image loaded
    bad = [i for i in report["images"] if not i["ok"]]
    for image in bad:
        result.problems.append(f"image not loaded: {image['src']}")
    result.features["figure"] = sum(1 for i in report["images"] if i["ok"] and i["output"])
    result.features["image"] = sum(1 for i in report["images"] if i["ok"])  # any page's pictures, outputs or not

    # widgets: every embedded view rendered into widget DOM
    views = soup.find_all("script", attrs={"type": "application/vnd.jupyter.widget-view+json"})
    rendered = 0
    for view in views:
        holder = view.parent
        box = holder.find(class_="jupyter-widgets") if holder is not None else None
        controls = box.select('[class*="widget-"]') if box is not None else []
        if box is not None and controls:
            rendered += 1
    if rendered < len(views):
        result.problems.append(f"{len(views) - rendered}/{len(views)} widget views not rendered")
    result.features["widget"] = rendered

    # pickers: choosing another option must show another picture (the jslinks work without a kernel)
    pickers = report.get("pickers")
    boxes = len(soup.select(".rr-picker"))
    if len(pickers or []) < boxes:
        result.problems.append(f"{boxes - len(pickers or [])}/{boxes} pickers were not clicked through: they "
                               "rendered too late (raise --budget-ms) or the page did not finish loading")
    switched = 0
    for n, picker in enumerate(pickers or []):
        if picker["options"] < 2:
            continue
        if not picker["before"] or picker["after"] == picker["before"]:
            result.problems.append(f"picker {n + 1} did not show another picture after choosing another option")
        else:
            switched += 1
    result.features["picker"] = switched
    return result


def default_pages(html_dir: Path) -> list[str]:
    pages = sorted(p.relative_to(html_dir).as_posix() for p in (html_dir / "book").glob("*.html"))
    return pages or ["index.html"]


def run(args: argparse.Namespace) -> int:
    html_dir = Path(args.html_dir).resolve()
    if not (html_dir / "index.html").is_file() and not args.pages:
        print(f"check_offline: no built book in {html_dir}; run `make book` first", file=sys.stderr)
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print("check_offline: Chromium not found; install it with `apt-get install -y chromium` "
              "(tools/setup_system.sh does)", file=sys.stderr)
        return 2
    pages = args.pages or default_pages(html_dir)
    for page in pages:
        if not (html_dir / page).is_file():
            print(f"check_offline: no page {page} in {html_dir}", file=sys.stderr)
            return 2

    site, site_port = serve(PageServer, html_dir)
    proxy, proxy_port = serve(RefusingProxy)
    base_url = f"http://127.0.0.1:{site_port}/"
    results = []
    try:
        for page in pages:
            url = base_url + page
            with tempfile.TemporaryDirectory(prefix="rr-chromium-") as profile:
                before = len(RefusingProxy.requests)
                cmd = chromium_args(chromium, proxy_port, profile, args.budget_ms) + ["--dump-dom", url]
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                result = check_dom(page, proc.stdout, base_url) if proc.returncode == 0 else PageResult(
                    page, [f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}"])
                for request in RefusingProxy.requests[before:]:
                    result.problems.append(f"network access attempted: {request}")
                results.append(result)
                if args.screenshot:
                    shot = Path(args.screenshot)
                    if len(pages) > 1:
                        shot = shot.with_name(f"{shot.stem}-{Path(page).stem}{shot.suffix}")
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    cmd = chromium_args(chromium, proxy_port, profile, args.budget_ms) + [
                        f"--window-size={args.window_size}", f"--screenshot={shot.resolve()}", url]
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
                    if proc.returncode != 0 or not shot.is_file():
                        result.problems.append(f"screenshot failed: {proc.stderr[-1000:]}")
                    else:
                        print(f"screenshot: {shot}")
    finally:
        site.shutdown()
        proxy.shutdown()

    failed = False
    totals = {f: 0 for f in FEATURES}
    for result in results:
        for f, n in result.features.items():
            totals[f] += n
        status = "FAIL" if result.problems else "ok"
        counts = ", ".join(f"{n} {f}" for f, n in result.features.items())
        print(f"{status:4} {result.page}: {counts}")
        for problem in result.problems:
            print(f"     - {problem}")
        failed |= bool(result.problems)
    required = [f for f in (args.require.split(",") if args.require else []) if f]
    for f in required:
        if totals.get(f, 0) == 0:
            print(f"FAIL no {f} rendered on any page checked")
            failed = True
    if RefusingProxy.ignored:
        hosts = sorted({r.split()[1].split("://")[-1].split("/")[0].split(":")[0] for r in RefusingProxy.ignored})
        print(f"(refused {len(RefusingProxy.ignored)} requests of Chromium's own services, not of the pages: "
              f"{', '.join(hosts)})")
    print(f"check_offline: {len(results)} page(s), totals {totals}: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_offline", description="Check the built book offline in headless Chromium.",
                                     epilog="See the module docstring for the checks.")
    parser.add_argument("pages", nargs="*", help="pages relative to the HTML folder (default: book/*.html)")
    parser.add_argument("--html-dir", default=str(HTML_DIR), help="the built HTML folder (default _build/html)")
    parser.add_argument("--screenshot", metavar="PNG", help="also save a screenshot (one per page if several)")
    parser.add_argument("--window-size", default="1280,2400", help="screenshot size, WIDTH,HEIGHT")
    parser.add_argument("--require", default=",".join(FEATURES),
                        help="features that must appear on at least one page: math,figure,widget,picker,image "
                             "(or '')")
    parser.add_argument("--chromium", help="the browser binary (default: chromium on the PATH)")
    parser.add_argument("--budget-ms", type=int, default=10000, help="virtual time for the page's scripts")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before giving up on Chromium")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
