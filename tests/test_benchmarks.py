"""The time-to-robustness benchmark: the peer's loop sees the batches rrhelpers trains on, and a small run works."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import rrhelpers as rr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import time_to_robustness as ttr  # noqa: E402


def test_the_peer_loop_gets_the_batches_rrhelpers_trains_on(monkeypatch):
    """(a) and (b) must train on the same augmented images in the same order: record what rrhelpers attacks."""
    train = rr.load_dataset("photo_crops", "train")
    subset = rr.ImageDataset(*train.tensors(torch.arange(96)), train.classes)
    config = ttr.reference_recipe(ttr.WORKLOADS["photo32"], epochs=3, batch=32, seed=5)
    seen = []

    def recording_attack(model, x, y, *args, **kwargs):
        seen.append((x.detach().clone(), y.clone()))
        return x

    monkeypatch.setattr(rr.learning.training, "pgd_attack", recording_attack)
    rr.train(ttr.initial_model(ttr.WORKLOADS["photo32"], subset.classes, 0), subset,
             rr.TrainConfig(**{**config.to_dict(), "epochs": 2, "adversary": config.adversary}), progress=False)
    expected = [b for epoch in range(2) for b in ttr.augmented_batches(subset, config, epoch)]
    assert len(seen) == len(expected) == 6
    for (x, y), (ex, ey) in zip(seen, expected):
        assert torch.equal(y, ey) and torch.equal(x.contiguous(), ex)


def test_time_to_target_is_the_first_epoch_that_reaches_it():
    curve = [{"seconds": 10.0, "pgd20": 0.3}, {"seconds": 20.0, "pgd20": 0.5}, {"seconds": 30.0, "pgd20": 0.4}]
    assert ttr.time_to(curve, 0.45) == 20.0 and ttr.time_to(curve, 0.6) is None


def test_reference_recipe_needs_a_multiple_of_three_epochs():
    with pytest.raises(SystemExit, match="multiple of 3"):
        ttr.main(["--epochs", "4", "--loops", "b"])


@pytest.mark.slow
def test_a_small_run_of_our_two_loops(tmp_path):
    out = tmp_path / "ttr.json"
    results = ttr.main(["--workloads", "photo32", "--loops", "b", "c", "--epochs", "3", "--train-images", "128",
                        "--eval-images", "16", "--json", str(out)])
    rows = results["workloads"][0]["rows"]
    assert [row["loop"] for row in rows] == [ttr.OURS, ttr.FAST] and out.exists()
    assert [len(row["curve"]) for row in rows] == [3, rr.fast_adversarial_training(0.5).epochs]
    for row in rows:
        times = [p["seconds"] for p in row["curve"]]
        assert all(a < b for a, b in zip(times, times[1:])) and times[-1] == row["train_seconds"]
        assert all(0 <= p[k] <= 1 for p in row["curve"] for k in ("clean", "pgd20")) and 0 <= row["apgd_ce"] <= 1
    assert all(row["epoch_speedup_vs_a"] is None for row in rows)  # no loop (a) in this run
