"""pytest plugin: read the kernel's IOPub channel while nbval waits for a cell to finish.

nbval waits for a cell's reply on the shell channel and only then reads IOPub. A long cell that draws progress bars
publishes thousands of widget messages meanwhile; past ZeroMQ's high-water mark (1,000 queued messages per socket)
the kernel drops the rest, which can be the cell's last outputs (a figure) and its 'idle' status, and nbval then
fails the cell with "Timeout of 5 seconds exceeded waiting for output" (or loses an output silently). With
``-p tools.nbval_iopub`` the wait on the shell channel reads IOPub into a queue as messages arrive, and nbval's IOPub
reads take from that queue first, so nothing is dropped however long the cell runs.
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
    """nbval's read of one message. IOPub: the messages queued while waiting first. Shell (nbval waits there for a
    cell's reply): a wait in slices of ``POLL_S``, queueing IOPub between them; raises ``queue.Empty`` after
    ``timeout`` seconds, as nbval's own read does, so nbval's matching of the reply stays its own."""
    if stream == "iopub" and _pending(self):
        return _pending(self).popleft()
    if stream != "shell":
        return _receive(self, stream, timeout=timeout)
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    while True:
        _read_ready_iopub(self)
        try:
            return _receive(self, stream, timeout=POLL_S)
        except Empty:
            if deadline is not None and time.monotonic() > deadline:
                raise


def pytest_configure(config) -> None:
    RunningKernel.get_message = get_message
