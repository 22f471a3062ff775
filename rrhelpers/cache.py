"""Where rrhelpers keeps what it trains and downloads, and the one make-or-load rule: a missing file is made once,
under a lock, so two processes never make the same file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Callable, Iterator, Optional


def cache_dir() -> Path:
    """``$RRHELPERS_CACHE`` if set, else ``$XDG_CACHE_HOME/rrhelpers`` or ``~/.cache/rrhelpers`` (read at call time,
    never at import)."""
    if os.environ.get("RRHELPERS_CACHE"):
        return Path(os.environ["RRHELPERS_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rrhelpers"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def made_once(path: Path, make: Callable[[], None], *, refusal: Optional[str] = None) -> Path:
    """``path``, calling ``make()`` (which writes it) first if it does not exist, under a lock beside it so that
    concurrent callers make it once; ``refusal`` set means making is not allowed: a missing file raises
    FileNotFoundError with that message."""
    path = Path(path)
    if path.exists():
        return path
    if refusal is not None:
        raise FileNotFoundError(refusal)
    with file_lock(path.with_suffix(".lock")):
        if not path.exists():
            make()
    return path
