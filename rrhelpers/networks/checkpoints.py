"""Saving and loading without pickle code execution, always written atomically.

Model files are safetensors with the model's config (architecture, normalisation, classes) and free-form metadata
as JSON in the header. Training states (weights, optimiser, scheduler, RNG, history) are ``torch.save`` files of
tensors and plain Python values, read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .models import RobustModel

FORMAT = "rrhelpers-model/1"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or of an unknown format; the message says which."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one step, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp)`` and move ``tmp`` to ``path`` only if it succeeded."""
    with atomic_path(path) as tmp:
        writer(tmp)


def save_model(model: RobustModel, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights + config (+ JSON-serialisable ``metadata``) to a safetensors file, atomically."""
    return write_safetensors(path, model.state_dict(), model.config, metadata)


def read_safetensors(path: str | Path, fmt: str = FORMAT) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(state dict, config, metadata) of an rrhelpers safetensors file of format ``fmt`` (a model by default)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        if path.suffix != ".safetensors":
            raise CheckpointError(
                f"{path} is not an rrhelpers safetensors checkpoint ({err}); read files of other libraries "
                "(MadryLab robustness, torchvision) with rrhelpers.networks.convert.load_checkpoint or rr.load_model"
            ) from err
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({err}); delete it and save or train it again"
        ) from err
    if header.get("format") != fmt:
        what = "an rrhelpers model" if fmt == FORMAT else f"a {fmt!r} file"
        raise CheckpointError(f"{path} is a safetensors file but not {what} (format {header.get('format')!r})")
    return state, json.loads(header["config"]), json.loads(header.get("metadata", "{}"))


def write_safetensors(path: str | Path, state: dict[str, torch.Tensor], config: dict[str, Any],
                      metadata: dict[str, Any] | None = None, fmt: str = FORMAT) -> Path:
    """Write tensors + JSON config + JSON metadata to a safetensors file of format ``fmt``, atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    header = {"format": fmt, "config": json.dumps(config), "metadata": json.dumps(metadata or {})}
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata=header))
    return Path(path)


def load_model_file(path: str | Path, device: str | torch.device = "cpu") -> tuple[RobustModel, dict[str, Any]]:
    """Rebuild a :class:`RobustModel` from a file written by :func:`save_model`; returns (model, metadata)."""
    state, config, metadata = read_safetensors(path)
    model = RobustModel.from_config(config)
    model.load_state_dict(state)
    return model.to(device).eval(), metadata


def save_state(state: dict[str, Any], path: str | Path) -> None:
    """Atomically ``torch.save`` a training state made of tensors and plain Python values."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict[str, Any]:
    """Read a training state with ``weights_only=True`` (no pickled code runs); clear error if it is damaged."""
    path = Path(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f"training state {path} does not exist") from err
    except (RuntimeError, EOFError, ValueError, OSError, pickle.UnpicklingError) as err:
        raise CheckpointError(f"training state {path} is truncated or corrupt ({err}); delete it to start afresh") from err


def resumable_state(path: Optional[str | Path], config: dict[str, Any], *, resume: bool,
                    what: str) -> Optional[dict[str, Any]]:
    """The training state at ``path`` to continue a ``what`` run from, or None (no path, no file, or ``resume``
    off). A state written by another config is refused: continuing it would splice two different runs."""
    if path is None or not resume or not Path(path).exists():
        return None
    state = load_state(path)
    if state["config"] != config:
        raise CheckpointError(f"{path} was written by a different {what} config ({state['config']}); pass "
                              "resume=False to start afresh or use another checkpoint path")
    return state


def epochs_to_run(start: int, epochs: int, stop_after: Optional[int]) -> range:
    """The epochs a call trains: from ``start`` (0, or where a resumed run stopped) to the end of the run, or only
    ``stop_after`` of them (to split a run into calls; resuming continues it)."""
    return range(start, epochs if stop_after is None else min(epochs, start + stop_after))
