"""pytest plugin: read the kernel's IOPub channel while nbval waits for a cell to finish.

nbval waits for a cell's reply on the shell channel and only then reads IOPub. A long cell that draws progress bars
publishes thousands of widget messages meanwhile; past ZeroMQ's high-water mark (1,000 queued messages per socket)
the kernel drops the rest, which can be the cell's last outputs (a figure) and its 'idle' status, and nbval then
fails the cell with "Timeout of 5 seconds exceeded waiting for output" (or loses an output silently). With
``-p tools.nbval_iopub`` the wait reads IOPub into a queue as messages arrive, and nbval's reads take from that queue
first, so nothing is dropped however long the cell runs.
"""

from __future__ import annotations

import time
from collections import deque
from queue import Empty

from nbval.kernel import RunningKernel

POLL_S = 0.05
"""How long one wait on the shell channel lasts before IOPub is read again."""

_receive = RunningKernel.get_message


def _pending(kernel: RunningKernel) -> deque:
    return kernel.__dict__.setdefault("_pending_iopub", deque())


def _read_ready_iopub(kernel: RunningKernel) -> None:
    """Queue every IOPub message that has arrived (jupyter_client's ``get_msgs`` would block: it polls forever)."""
    channel = kernel.kc.iopub_channel
    while True:
        try:
            _pending(kernel).append(channel.get_msg(timeout=0))
        except Empty:
            return


def get_message(self: RunningKernel, stream: str, timeout: float | None = None) -> dict:
    """nbval's read of one message, IOPub messages read during a wait first."""
    if stream == "iopub" and _pending(self):
        return _pending(self).popleft()
    return _receive(self, stream, timeout=timeout)


def await_reply(self: RunningKernel, msg_id: str, timeout: float | None = None) -> None:
    """nbval's wait for a cell's execute_reply, reading IOPub while it waits; raises ``queue.Empty`` after
    ``timeout`` seconds without the reply, as nbval's own does."""
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    while True:
        _read_ready_iopub(self)
        try:
            msg = self.kc.shell_channel.get_msg(timeout=POLL_S)
        except Empty:
            if deadline is not None and time.monotonic() > deadline:
                raise
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            _read_ready_iopub(self)
            if msg["content"]["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            return


def pytest_configure(config) -> None:
    RunningKernel.get_message = get_message
    RunningKernel.await_reply = await_reply
