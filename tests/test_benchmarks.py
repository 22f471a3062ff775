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


def test_the_summary_takes_each_loops_median_over_seeds_a_run_that_never_reached_counting_as_slowest():
    assert ttr.median_or_none([30.0, None, 10.0]) == 30.0 and ttr.median_or_none([None, None, 5.0]) is None
    assert ttr.median_or_none([10.0, 20.0]) == 15.0

    def row(seed, loop, reached, speedup, epoch_speedup):
        return {"seed": seed, "loop": loop, "seconds_to_target": reached, "speedup_to_target_vs_a": speedup,
                "epoch_speedup_vs_a": epoch_speedup, "clean": 0.9, "apgd_ce": 0.6}

    rows = [row(0, ttr.MADRY, 120.0, 1.0, 1.0), row(0, ttr.OURS, 60.0, 2.0, 1.5),
            row(1, ttr.MADRY, 90.0, 1.0, 1.0), row(1, ttr.OURS, None, None, 1.7),
            row(2, ttr.MADRY, 150.0, 1.0, 1.0), row(2, ttr.OURS, 100.0, 1.5, 1.6)]
    madry, ours = ttr.summarise(rows)
    assert (madry["loop"], madry["median_seconds_to_target"], madry["speedup_to_target_vs_a"]) == (ttr.MADRY, 120, 1)
    assert ours["reached"] == 2 and ours["median_seconds_to_target"] == 100.0
    assert ours["speedup_to_target_vs_a"] == 1.2 and ours["smallest_speedup_vs_a"] is None
    assert ours["epoch_speedup_vs_a"] == 1.6 and ours["apgd_ce"] == 0.6


def test_reference_recipe_needs_a_multiple_of_three_epochs():
    with pytest.raises(SystemExit, match="multiple of 3"):
        ttr.main(["--epochs", "4", "--loops", "b"])


@pytest.mark.slow
def test_a_small_run_of_our_two_loops(tmp_path):
    out = tmp_path / "ttr.json"
    results = ttr.main(["--workloads", "photo32", "--loops", "b", "c", "--epochs", "3", "--train-images", "128",
                        "--eval-images", "16", "--seeds", "0", "1", "--json", str(out)])
    rows, summary = results["workloads"][0]["rows"], results["workloads"][0]["summary"]
    assert [(row["seed"], row["loop"]) for row in rows] == [(0, ttr.OURS), (0, ttr.FAST), (1, ttr.OURS),
                                                           (1, ttr.FAST)] and out.exists()
    assert [(item["loop"], item["seeds"]) for item in summary] == [(ttr.OURS, 2), (ttr.FAST, 2)]
    assert [len(row["curve"]) for row in rows] == [3, rr.fast_adversarial_training(0.5).epochs] * 2
    for row in rows:
        times = [p["seconds"] for p in row["curve"]]
        assert all(a < b for a, b in zip(times, times[1:])) and times[-1] == row["train_seconds"]
        assert all(0 <= p[k] <= 1 for p in row["curve"] for k in ("clean", "pgd20")) and 0 <= row["apgd_ce"] <= 1
    assert all(row["epoch_speedup_vs_a"] is None for row in rows)  # no loop (a) in this run
