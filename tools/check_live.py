"""Check the live experience: a chapter opened in JupyterLab, run by a kernel, redraws when a reader moves a control.

Usage, from the repository root (the quick models must be cached, e.g. by ``make book``)::

    python -m tools.check_live                                  # chapter 7 with small parameters
    python -m tools.check_live --chapter book/06_interpolation.py -p sources 1

How: the chapter (a jupytext ``.py`` notebook) is copied, with its parameters overridden, into a scratch folder that
JupyterLab serves on 127.0.0.1 (token-protected, workspace in the scratch folder). Headless Chromium opens it
through jupytext's JupyterLab extension, which shows the ``.py`` file as a notebook; the check then drives the page
over the Chrome DevTools protocol (a websocket, tornado's client): it waits for the kernel, runs every cell
(``notebook:run-all-cells``), waits for the first live view (``rrhelpers.book.widgets.live_view``, recognised by its
status line) to show its picture, types another value into its first control, and waits for the kernel to send a
different picture back. Each stage has a deadline; the whole check takes about a minute on 2 cores.

Exit status 0 if the picture changed, 1 if a stage failed (the message says which), 2 if Chromium or JupyterLab
is missing.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools.check_offline import find_chromium
from tools.nbval_runs import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
LIVE_NOTE = "computed live by the running kernel"
"""The status line of :func:`rrhelpers.book.widgets.live_view` (its default ``note``) once a picture is shown."""
SMALL_PARAMETERS = {"images": 2, "claim_images": 4}


class CheckFailed(RuntimeError):
    """A stage of the check did not complete; the message says which and what was seen."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_parameters(source: Path, parameters: dict[str, Any]) -> str:
    """The chapter's jupytext text with ``parameters`` assigned at the end of its cell tagged ``parameters``."""
    import jupytext

    notebook = jupytext.read(source)
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise CheckFailed(f"{source} has no cell tagged 'parameters'")
    cells[0].source += "".join(f"\n{name} = {value!r}" for name, value in parameters.items())
    return jupytext.writes(notebook, fmt="py:percent")


class DevTools:
    """A minimal Chrome DevTools protocol client for one page: send a command, evaluate JavaScript."""

    def __init__(self, connection: Any):
        self.connection = connection
        self.last_id = 0

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        sent = self.last_id
        await self.connection.write_message(json.dumps({"id": sent, "method": method, "params": params}))
        while True:
            message = await self.connection.read_message()
            if message is None:
                raise CheckFailed("Chromium closed the DevTools connection")
            reply = json.loads(message)
            if reply.get("id") == sent:
                if "error" in reply:
                    raise CheckFailed(f"{method}: {reply['error']}")
                return reply["result"]

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise CheckFailed(f"JavaScript error: {result['exceptionDetails'].get('exception', {}).get('description')}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, what: str, timeout: float) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.5)
        raise CheckFailed(f"timed out after {timeout:.0f} s waiting for {what}")


# JupyterLab's application object, once its document manager can open files.
APP_READY = "!!(window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open'))"

# Open ``path`` with jupytext's notebook view (the editor is JupyterLab's default for a .py file).
OPEN_AS_NOTEBOOK = """(async (path) => {
  await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Jupytext Notebook'});
  return true;
})"""

# The number of cells of the notebook panel in the main area, once its kernel is idle.
NOTEBOOK_READY = """(() => {
  for (const panel of window.jupyterapp.shell.widgets('main')) {
    if (!panel.content || !panel.content.widgets || !panel.sessionContext) continue;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (kernel && kernel.status === 'idle') return panel.content.widgets.length;
  }
  return false;
})()"""

# Run every cell of that notebook (the command acts on the current notebook, so make it current first).
RUN_ALL = """(() => {
  const app = window.jupyterapp;
  for (const panel of app.shell.widgets('main')) {
    if (!panel.content || !panel.content.widgets || !panel.sessionContext) continue;
    app.shell.activateById(panel.id);
    app.commands.execute('notebook:run-all-cells');
    return true;
  }
  return false;
})()"""

# The first live view's picture (its src) once its status line shows the note, else null.
LIVE_PICTURE = """(() => {
  for (const box of document.querySelectorAll('.jp-OutputArea .widget-vbox')) {
    const status = box.querySelector(':scope > .widget-html');
    const img = box.querySelector(':scope > img, :scope > .widget-image');
    if (status && img && status.textContent.includes(NOTE) && img.src) return img.src;
  }
  return null;
})()"""

# Type ``value`` into the first live view's first text control and commit it as a reader would (change event).
SET_FIRST_CONTROL = """((value) => {
  for (const box of document.querySelectorAll('.jp-OutputArea .widget-vbox')) {
    const status = box.querySelector(':scope > .widget-html');
    if (!status || !status.textContent.includes(NOTE)) continue;
    const input = box.querySelector('input, select');
    if (!input) return 'no control';
    input.value = String(value);
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new Event('change', {bubbles: true}));
    return input.tagName;
  }
  return 'no live view';
})"""


async def drive(devtools_url: str, lab_url: str, path: str, timeouts: dict[str, float],
                new_value: Any) -> dict[str, Any]:
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(devtools_url, max_message_size=256 * 2**20)
    page = DevTools(connection)
    started = time.monotonic()
    stages: dict[str, float] = {}
    await page.send("Page.navigate", url=lab_url)
    await page.wait_for(APP_READY, "JupyterLab to load", timeouts["open"])
    await page.evaluate(f"({OPEN_AS_NOTEBOOK})({json.dumps(path)})")
    cells = await page.wait_for(NOTEBOOK_READY, "JupyterLab to open the chapter as a notebook with an idle kernel",
                                timeouts["open"])
    stages["opened as a notebook, kernel idle"] = time.monotonic() - started
    if not await page.evaluate(RUN_ALL):
        raise CheckFailed("no notebook panel to run")
    picture_js = LIVE_PICTURE.replace("NOTE", json.dumps(LIVE_NOTE))
    first = await page.wait_for(picture_js, "the live view's first picture", timeouts["run"])
    stages["cells ran, live picture shown"] = time.monotonic() - started
    control = await page.evaluate(f"({SET_FIRST_CONTROL.replace('NOTE', json.dumps(LIVE_NOTE))})({json.dumps(new_value)})")
    if control.startswith("no "):
        raise CheckFailed(f"could not change a control: {control}")
    changed = f"(() => {{ const src = {picture_js}; return src && src !== {json.dumps(first)} ? src : null; }})()"
    await page.wait_for(changed, "the kernel to send another picture after the control changed", timeouts["redraw"])
    stages["control changed, picture redrawn"] = time.monotonic() - started
    connection.close()
    return {"cells": cells, "control": control, "stages": stages}


def start_chromium(chromium: str, profile: str) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with remote debugging; the websocket URL of its first page."""
    import urllib.request

    proc = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", f"--user-data-dir={profile}",
         "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/json/list").read())
            return proc, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        if proc.poll() is not None:
            break
    proc.kill()
    raise CheckFailed("Chromium did not open its DevTools port")


def start_jupyterlab(folder: Path, port: int, token: str, log: Any) -> subprocess.Popen:
    """JupyterLab serving ``folder`` on 127.0.0.1 (its log written to the open file ``log``)."""
    import urllib.request

    env = {**subprocess_env(), "JUPYTER_CONFIG_DIR": str(folder / ".jupyter-config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={folder}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={folder / '.workspaces'}", "--ServerApp.port_retries=0", "--allow-root"],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CheckFailed(f"JupyterLab exited: {Path(log.name).read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise CheckFailed("JupyterLab did not answer within 60 s")


def check(chapter: Path, parameters: dict[str, Any], new_value: Any, chromium: str,
          timeouts: dict[str, float]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rr-live-") as scratch:
        folder = Path(scratch)
        (folder / chapter.name).write_text(with_parameters(chapter, parameters))
        token, port = secrets.token_hex(16), free_port()
        log = open(folder / "jupyterlab.log", "w")
        lab = start_jupyterlab(folder, port, token, log)
        browser = None
        try:
            browser, devtools_url = start_chromium(chromium, str(folder / ".chromium"))
            lab_url = f"http://127.0.0.1:{port}/lab?token={token}&reset"
            return asyncio.run(drive(devtools_url, lab_url, chapter.name, timeouts, new_value))
        except CheckFailed as failure:
            raise CheckFailed(f"{failure}\n--- JupyterLab's log, last lines:\n"
                              f"{(folder / 'jupyterlab.log').read_text()[-3000:]}") from None
        finally:
            log.close()
            for proc in (browser, lab):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.check_live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", type=Path, default=ROOT / "book" / "07_sensitivity.py")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="a parameter for the run (Python literal); default: images 2, claim_images 4")
    parser.add_argument("--value", default="1", help="the value typed into the live view's first control")
    parser.add_argument("--chromium", help="the browser binary (default: chromium on the PATH)")
    parser.add_argument("--timeout", type=float, default=110, help="seconds for the whole check")
    args = parser.parse_args(argv)
    parameters = {k: ast.literal_eval(v) for k, v in args.parameter} if args.parameter else SMALL_PARAMETERS
    chromium = find_chromium(args.chromium)
    if chromium is None or shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        print("check_live: needs Chromium (apt-get install -y chromium) and JupyterLab (make setup)", file=sys.stderr)
        return 2
    timeouts = {"open": 0.4 * args.timeout, "run": 0.4 * args.timeout, "redraw": 0.2 * args.timeout}
    started = time.monotonic()
    try:
        result = check(args.chapter.resolve(), parameters, ast.literal_eval(args.value), chromium, timeouts)
    except CheckFailed as failure:
        print(f"check_live: FAILED after {time.monotonic() - started:.0f} s: {failure}")
        return 1
    for stage, seconds in result["stages"].items():
        print(f"check_live: {seconds:5.1f} s  {stage}")
    print(f"check_live: ok: {args.chapter.name} ({result['cells']} cells) redrew its live picture after its first "
          f"control ({result['control'].lower()}) changed, in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
