"""Training: loss falls, exact resume, schedules, and (slow) robustness of adversarial training."""

from __future__ import annotations

import pytest
import torch

import rrhelpers as rr

from .conftest import tiny_model


@pytest.fixture(scope="module")
def mnist_small():
    train = rr.load_dataset("mnist5k", "train")
    test = rr.load_dataset("mnist5k", "test")
    return (
        rr.ImageDataset(train.images[:512], train.labels[:512], train.classes),
        rr.ImageDataset(test.images[:200], test.labels[:200], test.classes),
    )


def test_loss_falls(mnist_small):
    train_set, test_set = mnist_small
    model = tiny_model(width=8)
    config = rr.TrainConfig(epochs=3, batch_size=64, lr=0.05, seed=1)
    history = rr.train(model, train_set, config, test_set, progress=False).history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.5
    assert not model.training


def test_channels_last_training_hands_the_model_back_in_the_default_layout(mnist_small):
    """Gradients follow the weights' layout; a model left channels-last breaks callers that ``.view`` them
    (torchattacks' L2 PGD). Width 16: 8-channel channels-last convolutions crash this CPU's torch."""
    train_set, _ = mnist_small
    model = tiny_model(width=16)
    config = rr.TrainConfig(epochs=1, batch_size=128, lr=0.05, seed=1)
    rr.train(model, train_set, config, progress=False, runtime=rr.learning.training.Runtime(channels_last=True))
    assert all(p.is_contiguous() for p in model.parameters())
    x = train_set.tensors(torch.arange(4))[0].requires_grad_(True)
    model(x).sum().backward()
    assert x.grad.is_contiguous()


def test_resume_after_interruption_gives_identical_weights(mnist_small, tmp_path):
    train_set, _ = mnist_small
    subset = rr.ImageDataset(train_set.images[:128], train_set.labels[:128], train_set.classes)
    config = rr.TrainConfig(epochs=3, batch_size=32, lr=0.05, augment="crop_flip", seed=3,
                            adversary=rr.AttackConfig(eps=1.0, steps=2))
    straight = tiny_model(seed=7)
    rr.train(straight, subset, config, progress=False)

    interrupted = tiny_model(seed=7)
    ckpt = tmp_path / "run.pt"
    first = rr.train(interrupted, subset, config, checkpoint=ckpt, progress=False, stop_after=1)
    assert len(first.history) == 1
    resumed_model = tiny_model(seed=99)  # a fresh process would start from other weights; resume must fix that
    resumed = rr.train(resumed_model, subset, config, checkpoint=ckpt, progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for (name, a), b in zip(straight.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_refuses_a_different_config(mnist_small, tmp_path):
    train_set, _ = mnist_small
    subset = rr.ImageDataset(train_set.images[:64], train_set.labels[:64], train_set.classes)
    ckpt = tmp_path / "run.pt"
    rr.train(tiny_model(), subset, rr.TrainConfig(epochs=1, batch_size=32), checkpoint=ckpt, progress=False)
    with pytest.raises(rr.CheckpointError, match="different training config"):
        rr.train(tiny_model(), subset, rr.TrainConfig(epochs=1, batch_size=16), checkpoint=ckpt, progress=False)


def test_learning_rate_schedules():
    step = rr.TrainConfig(epochs=110, lr=0.1, milestones=(30, 60))
    assert [round(step.lr_at(e), 6) for e in (0, 29, 30, 59, 60, 109)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    cosine = rr.TrainConfig(epochs=10, lr=0.1, schedule="cosine")
    assert cosine.lr_at(0) == pytest.approx(0.1) and cosine.lr_at(5) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="augment"):
        rr.TrainConfig(augment="mixup")
    assert rr.TrainConfig.from_dict(step.to_dict()) == step
    # step and cosine change only between epochs, whatever share of an epoch is done
    assert step.lr_at(29.9) == step.lr_at(29) and cosine.lr_at(4.5) == cosine.lr_at(4)
    onecycle = rr.TrainConfig(epochs=5, lr=0.2, schedule="onecycle")
    rates = [onecycle.lr_at(e / 10) for e in range(51)]
    assert rates[0] == 0 and rates[20] == pytest.approx(0.2) and rates[50] == pytest.approx(0)
    assert all(a < b for a, b in zip(rates[:20], rates[1:21])) and all(a > b for a, b in zip(rates[20:], rates[21:]))


def test_config_fields_added_later_keep_old_cache_keys():
    """A config without early stopping is written as before it existed, so the zoo's cache keys do not change."""
    plain = rr.TrainConfig(adversary=rr.AttackConfig(eps=1.0))
    assert "early_stopping" not in plain.to_dict()
    watched = rr.fast_adversarial_training(2.5, early_stopping=rr.EarlyStopping(images=64))
    assert rr.TrainConfig.from_dict(watched.to_dict()) == watched
    with pytest.raises(ValueError, match="needs an adversary"):
        rr.TrainConfig(early_stopping=rr.EarlyStopping())
    with pytest.raises(ValueError, match="collapse"):
        rr.EarlyStopping(collapse=0)
    assert "single_step_epochs" not in plain.to_dict()["adversary"]
    ramped = rr.fast_adversarial_training(2.5, single_step_epochs=2)
    assert ramped.to_dict()["adversary"]["single_step_epochs"] == 2
    assert rr.TrainConfig.from_dict(ramped.to_dict()) == ramped


def test_single_step_epochs_attack_once_then_with_every_step(mnist_small, monkeypatch):
    """The first ``single_step_epochs`` epochs attack with one step of the default size, the rest with ``steps``."""
    from rrhelpers.learning import training

    adversary = rr.AttackConfig(eps=1.0, steps=3, step_size=0.5, single_step_epochs=2)
    assert adversary.at_epoch(0) == rr.AttackConfig(eps=1.0, steps=1) and adversary.at_epoch(2) is adversary
    with pytest.raises(ValueError, match="single_step_epochs >= 0"):
        rr.AttackConfig(eps=1.0, single_step_epochs=-1)
    calls = []
    real = training.pgd_attack

    def counted(model, x, y, eps, steps, step_size, *args, **kwargs):
        calls.append((steps, step_size))
        return real(model, x, y, eps, steps, step_size, *args, **kwargs)

    monkeypatch.setattr(training, "pgd_attack", counted)
    train_set, _ = mnist_small
    subset = rr.ImageDataset(train_set.images[:64], train_set.labels[:64], train_set.classes)
    rr.train(tiny_model(width=8), subset, rr.TrainConfig(epochs=3, batch_size=64, adversary=adversary), progress=False)
    assert calls == [(1, 2.5), (1, 2.5), (3, 0.5)]


def test_early_stopping_keeps_the_best_weights_and_stops_on_collapse(mnist_small, monkeypatch):
    from rrhelpers.learning.training import _HeldOutWatch

    train_set, _ = mnist_small
    held_out = iter([0.50, 0.70, 0.60, 0.45, 0.9])  # epoch 4 falls 0.25 below the best (epoch 2): a collapse
    monkeypatch.setattr(_HeldOutWatch, "measure", lambda self, model: next(held_out))
    config = rr.TrainConfig(epochs=5, batch_size=64, lr=0.05, adversary=rr.AttackConfig(eps=1.0, steps=1),
                            early_stopping=rr.EarlyStopping(images=64, collapse=0.2))
    snapshots = []
    model = tiny_model(width=8)
    history = rr.train(model, train_set, config, progress=False,
                       on_epoch=lambda r: snapshots.append({k: v.clone() for k, v in model.state_dict().items()})).history
    assert [h["held_out_robust_accuracy"] for h in history] == [0.50, 0.70, 0.60, 0.45]
    assert history[-1]["stopped"] == 1.0 and "stopped" not in history[-2]
    best = snapshots[1]
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())  # ends with epoch 2's weights


def test_early_stopping_holds_images_out_and_resumes_exactly(mnist_small, tmp_path):
    from rrhelpers.learning.training import _HeldOutWatch

    train_set, _ = mnist_small
    subset = rr.ImageDataset(train_set.images[:160], train_set.labels[:160], train_set.classes)
    rule = rr.EarlyStopping(images=32, steps=2)
    adversary = rr.AttackConfig(eps=1.0, steps=1)
    watch = _HeldOutWatch(rule, adversary, subset, seed=3)
    assert len(watch.held) == 32 and len(watch.kept) == 128
    assert set(watch.held.tolist()).isdisjoint(watch.kept.tolist())
    with pytest.raises(ValueError, match="hold out fewer"):
        _HeldOutWatch(rr.EarlyStopping(images=160), adversary, subset, seed=3)
    config = rr.TrainConfig(epochs=3, batch_size=32, lr=0.05, adversary=adversary, early_stopping=rule, seed=3)
    straight = tiny_model(seed=7)
    history = rr.train(straight, subset, config, progress=False).history
    assert all(0 <= h["held_out_robust_accuracy"] <= 1 for h in history)
    resumed = tiny_model(seed=7)
    rr.train(resumed, subset, config, checkpoint=tmp_path / "run.pt", progress=False, stop_after=1)
    rr.train(tiny_model(seed=99), subset, config, checkpoint=tmp_path / "run.pt", progress=False)
    finished = tiny_model(seed=99)
    rr.train(finished, subset, config, checkpoint=tmp_path / "run.pt", progress=False)  # a finished run: no epochs
    for (name, a), b in zip(straight.state_dict().items(), finished.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_short_adversarial_training_beats_standard_under_pgd():
    """A few epochs on MNIST-5k: the robust model keeps its accuracy under an L2 PGD-10 attack at eps 1.5, the
    standard one loses most of it."""
    train_set, test_set = rr.load_dataset("mnist5k", "train"), rr.load_dataset("mnist5k", "test")
    eval_set = rr.ImageDataset(test_set.images[:300], test_set.labels[:300], test_set.classes)
    results = {}
    for name, adversary in [("standard", None), ("robust", rr.AttackConfig(eps=1.5, steps=3))]:
        model = tiny_model(width=8)
        config = rr.TrainConfig(epochs=3, batch_size=64, lr=0.05, schedule="cosine", adversary=adversary)
        rr.train(model, train_set, config, progress=False)
        results[name] = rr.evaluate(model, eval_set, [0.0, 1.5], steps=10)
    print(results)
    assert results["robust"][1.5] > results["standard"][1.5] + 0.25
    assert results["robust"][0.0] > 0.7


def test_random_crop_takes_each_image_from_its_own_window():
    """The batched crop (one gather, on the images' device) cuts every image at its own offset inside the padding."""
    from rrhelpers.learning.training import AUGMENTATIONS

    x = torch.rand(16, 3, 8, 8)
    crops = AUGMENTATIONS["crop"](x, torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    windows = [[padded[i, :, a : a + 8, b : b + 8] for a in range(5) for b in range(5)] for i in range(len(x))]
    assert all(any(torch.equal(crop, w) for w in windows[i]) for i, crop in enumerate(crops))
    assert not all(torch.equal(crop, x[i]) for i, crop in enumerate(crops))  # not every offset is the centre
    again = AUGMENTATIONS["crop"](x.to(memory_format=torch.channels_last), torch.Generator().manual_seed(5))
    assert torch.equal(again, crops)
