"""Checkpoints: round trips, metadata, atomic writes and clear errors for damaged files."""

from __future__ import annotations

import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks.checkpoints import atomic_write, load_state, save_state

from .conftest import tiny_model


def test_model_round_trip_gives_identical_logits(tmp_path):
    model = tiny_model(in_channels=3, num_classes=4)
    with torch.no_grad():  # non-trivial BN statistics, so buffers must round-trip too
        model.backbone.bn1.running_mean.uniform_(-1, 1)
    path = rr.save_model(model, tmp_path / "m.safetensors", {"note": "hello", "acc": 0.5})
    loaded, meta = rr.load_model_file(path)
    x = torch.rand(3, 3, 16, 16)
    assert torch.equal(model(x), loaded(x))
    assert meta == {"note": "hello", "acc": 0.5}
    assert loaded.config == model.config
    assert rr.load_model(path).metadata == meta


def test_truncated_model_file_is_a_clear_error(tmp_path):
    path = rr.save_model(tiny_model(), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(rr.CheckpointError, match="truncated or corrupt"):
        rr.load_model_file(path)


def test_foreign_safetensors_file_is_rejected(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(rr.CheckpointError, match="not an rrhelpers model"):
        rr.load_model_file(tmp_path / "x.safetensors")


def test_missing_model_file(tmp_path):
    with pytest.raises(rr.CheckpointError, match="does not exist"):
        rr.load_model_file(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="neither a zoo model"):
        rr.load_model(tmp_path / "nope.safetensors")


def test_truncated_training_state_is_a_clear_error(tmp_path):
    path = tmp_path / "state.pt"
    save_state({"epoch": 1, "w": torch.ones(1000)}, path)
    assert load_state(path)["epoch"] == 1
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(rr.CheckpointError, match="truncated or corrupt"):
        load_state(path)


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def broken_writer(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken_writer)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
