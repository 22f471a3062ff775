"""Downloads into the cache: resumable (HTTP range requests), checksummed, atomic, with a clear offline error.

A file is fetched into ``<target>.part``; an interrupted download continues from where it stopped, and only a
complete file whose SHA-256 matches is moved to ``<target>`` (one rename, so no reader ever sees half a file).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from tqdm.auto import tqdm

CHUNK = 1 << 20


class DownloadError(OSError):
    """A file could not be fetched (no network, server error); the message says where to put it by hand."""


class ChecksumError(OSError):
    """A downloaded or hand-placed file does not have the SHA-256 it should have."""


def sha256_of(path: str | Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, sha256: Optional[str]) -> str:
    """The file's SHA-256, after checking it against ``sha256`` where one is given (a prefix of at least 8 hex
    digits is enough: torchvision names its weight files by one)."""
    actual = sha256_of(path)
    if sha256 and len(sha256) < 8:
        raise ValueError(f"a checksum needs at least 8 hex digits of SHA-256; got {sha256!r}")
    if sha256 and not actual.startswith(sha256.lower()):
        raise ChecksumError(f"{path} has SHA-256 {actual}, expected {sha256}: the file is corrupt or is another "
                            "file. Delete it and download it again.")
    return actual


def download(url: str, target: str | Path, sha256: Optional[str] = None, progress: bool = True,
             timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``target`` unless it is already there; resume a partial download; verify ``sha256``.

    Raises :class:`DownloadError` (with the path to copy the file to) when the server cannot be reached, and
    :class:`ChecksumError` (after deleting the bad download) when the bytes are not the expected ones.
    """
    target = Path(target)
    if target.exists():
        verify(target, sha256)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = done > 0 and response.status == 206
            if not resumed:
                done = 0  # the server ignored the range: start again
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with open(part, "ab" if resumed else "wb") as fh, tqdm(
                total=total, initial=done, unit="B", unit_scale=True, desc=target.name, disable=not progress
            ) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    fh.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        if err.code == 416 and done:  # the range starts at the end: the partial file is already complete
            pass
        else:
            raise DownloadError(_by_hand(url, target, f"HTTP {err.code} {err.reason}")) from err
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise DownloadError(_by_hand(url, target, str(getattr(err, "reason", err)))) from err
    try:
        verify(part, sha256)
    except ChecksumError:
        part.unlink()
        raise
    os.replace(part, target)
    return target


def _by_hand(url: str, target: Path, reason: str) -> str:
    return (f"could not download {url} ({reason}). If this machine is offline, download the file on one that is "
            f"online and copy it to {target}; it will then be used without a download.")
