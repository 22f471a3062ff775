"""pytest plugin: keep what nbval executes, so the book renders the notebooks nbval ran instead of running them again.

nbval executes every code cell of a notebook in a kernel and checks that none raises, but it keeps nothing of the
run. With ``-p tools.nbval_record --nbval-record DIR``, each notebook in which every cell passed is written to
``DIR/<name>.ipynb`` with the outputs nbval received and the widget state a notebook client would have stored
(``metadata.widgets``, from the kernel's comm messages, as ``nbclient`` builds it), so the static HTML still has
its widgets. A notebook with a failed cell is not written.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import IPyNbCell, IPyNbFile

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


class Recording:
    """What one notebook's run produced: each cell's outputs, the widget models and their binary buffers."""

    def __init__(self) -> None:
        self.outputs: dict[int, list] = {}
        self.failed = False
        self.widget_state: dict[str, dict] = {}
        self.widget_buffers: dict[str, dict[tuple, dict]] = {}

    def comm_message(self, msg: dict) -> None:
        """Fold a comm_open/comm_msg into the widget state (what nbclient's ``handle_comm_msg`` keeps)."""
        content = msg["content"]
        data = content.get("data", {})
        if "state" not in data:  # custom messages carry no state
            return
        comm_id = content["comm_id"]
        self.widget_state.setdefault(comm_id, {}).update(data["state"])
        for path, buffer in zip(data.get("buffer_paths") or [], msg.get("buffers") or []):
            self.widget_buffers.setdefault(comm_id, {})[tuple(path)] = {
                "data": base64.b64encode(bytes(buffer)).decode("ascii"), "encoding": "base64", "path": path}

    def widgets_metadata(self) -> dict:
        state = {}
        for model_id, values in self.widget_state.items():
            if "_model_name" not in values:
                continue
            entry = {"model_name": values["_model_name"], "model_module": values.get("_model_module"),
                     "model_module_version": values.get("_model_module_version"), "state": values}
            if self.widget_buffers.get(model_id):
                entry["buffers"] = list(self.widget_buffers[model_id].values())
            state[model_id] = entry
        return {WIDGET_STATE_MIME: {"state": state, "version_major": 2, "version_minor": 0}}

    def executed(self, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
        """A copy of ``nb`` with the recorded outputs (code cells in order) and, if any, the widget state."""
        nb = copy.deepcopy(nb)
        code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
        for number, cell in enumerate(code_cells):
            cell.outputs = [nbformat.from_dict(dict(out)) for out in self.outputs.get(number, [])]
            cell.execution_count = number + 1
            for out in cell.outputs:
                if out.output_type == "execute_result":
                    out.execution_count = number + 1
        if self.widget_state:
            nb.metadata["widgets"] = self.widgets_metadata()
        return nb


_recordings: dict[IPyNbFile, Recording] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--nbval-record", metavar="DIR", default=None,
                     help="write each notebook that passed nbval, with its outputs and widget state, to DIR")


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("nbval_record"):
        return
    receive = IPyNbFile.get_kernel_message

    def get_kernel_message(self: IPyNbFile, timeout=None, stream="iopub"):
        msg = receive(self, timeout=timeout, stream=stream)
        if msg["msg_type"] in ("comm_open", "comm_msg"):
            _recordings.setdefault(self, Recording()).comm_message(msg)
        return msg

    IPyNbFile.get_kernel_message = get_kernel_message


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if not isinstance(item, IPyNbCell) or not item.config.getoption("nbval_record"):
        return
    report = outcome.get_result()
    recording = _recordings.setdefault(item.parent, Recording())
    if report.failed or report.skipped:
        recording.failed = True
    if call.when == "call" and item.test_outputs is not None:
        recording.outputs[item.cell_num] = item.test_outputs


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = session.config.getoption("nbval_record")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for notebook_file, recording in _recordings.items():
        code_cells = sum(cell.cell_type == "code" for cell in getattr(notebook_file, "nb", {"cells": []})["cells"])
        if recording.failed or not code_cells or len(recording.outputs) != code_cells:
            continue  # a cell failed, was skipped or never ran
        destination = Path(folder) / Path(str(notebook_file.fspath)).name
        temporary = destination.with_suffix(".ipynb.part")
        nbformat.write(recording.executed(notebook_file.nb), temporary)
        temporary.replace(destination)  # never a half-written notebook under the final name
