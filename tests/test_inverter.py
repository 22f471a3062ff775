"""Feedforward inverter: shapes, losses that fall, exact resume, atomic files, the cache and clear errors."""

from __future__ import annotations

import pytest
import torch

import rrhelpers as rr
from rrhelpers.networks.checkpoints import CheckpointError
from rrhelpers.learning.inverter import (
    Discriminator,
    FeedforwardInverter,
    Generator,
    classifier_condition,
    conditions_towards,
    load_inverter_file,
    save_inverter,
    scaled_conditions,
    upsampling_layout,
)
from rrhelpers.learning.inverter_training import InverterConfig, inverter_path, load_inverter, train_inverter

from .conftest import tiny_model


@pytest.fixture(scope="module")
def digits():
    train = rr.load_dataset("mnist5k", "train")
    return rr.ImageDataset(train.images[:96], train.labels[:96], train.classes)


@pytest.mark.parametrize("size,layout", [(28, (7, 2)), (32, (4, 3)), (224, (7, 5)), (8, (4, 1)), (5, (5, 0))])
def test_upsampling_layout(size, layout):
    assert upsampling_layout(size) == layout


def test_upsampling_layout_rejects_tiny_images():
    with pytest.raises(ValueError, match="below"):
        upsampling_layout(3)


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_generator_and_discriminator_shapes(channels, size):
    gen = Generator(cond_dim=10, channels=channels, size=size, width=8, noise_dim=4)
    out = gen(torch.randn(3, 10), torch.randn(3, 4))
    assert out.shape == (3, channels, size, size)
    assert out.min() >= 0 and out.max() <= 1
    assert gen(torch.randn(3, 10)).shape == out.shape  # noise defaults to zeros
    disc = Discriminator(cond_dim=10, channels=channels, size=size, width=8)
    assert disc(out, torch.randn(3, 10)).shape == (3,)


def test_generator_rejects_wrong_condition():
    gen = Generator(cond_dim=10, channels=1, size=28, width=8)
    with pytest.raises(ValueError, match=r"\(B, 10\)"):
        gen(torch.randn(3, 12))


def test_condition_kinds():
    model = tiny_model()
    x = torch.rand(5, 1, 28, 28)
    assert torch.allclose(classifier_condition(model, x, "logits"), model(x))
    assert torch.allclose(classifier_condition(model, x, "representation"), model.representation(x))
    with pytest.raises(ValueError, match="condition"):
        classifier_condition(model, x, "pixels")


def test_config_validation():
    with pytest.raises(ValueError, match="condition"):
        InverterConfig(condition="labels")
    with pytest.raises(ValueError, match="batch_size"):
        InverterConfig(batch_size=1)
    with pytest.raises(ValueError, match="weights"):
        InverterConfig(feature_weight=-1)


@pytest.mark.parametrize("adversarial_weight, feature_weight", [(0.0, 0.1), (0.05, 0.1), (0.0, 0.0)])
def test_training_lowers_the_reconstruction_loss_and_leaves_the_classifier_alone(digits, adversarial_weight,
                                                                                 feature_weight):
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    config = InverterConfig(epochs=4, batch_size=32, lr=3e-3, width=8, adversarial_weight=adversarial_weight,
                            feature_weight=feature_weight)
    inverter = train_inverter(model, digits, config, progress=False)
    history = inverter.metadata["history"]
    assert len(history) == 4
    assert history[-1]["pixel"] < 0.8 * history[0]["pixel"]
    assert ("discriminator" in history[0]) == (adversarial_weight > 0)
    assert ("feature" in history[0]) == (feature_weight > 0)  # a weight of 0: the feature loss is not computed
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert [p.requires_grad for p in model.parameters()] == flags and not model.training
    x, _ = digits.tensors(torch.arange(4))
    assert inverter.reconstruct(model, x).shape == x.shape


def test_resume_gives_identical_weights(digits, tmp_path):
    model = tiny_model()
    config = InverterConfig(epochs=3, batch_size=32, width=8, adversarial_weight=0.05, seed=2)
    straight = train_inverter(model, digits, config, progress=False)
    state = tmp_path / "inverter.state.pt"
    train_inverter(model, digits, config, state, progress=False, stop_after=1)
    resumed = train_inverter(model, digits, config, state, progress=False)
    assert [h["epoch"] for h in resumed.metadata["history"]] == [1, 2, 3]
    for (name, a), b in zip(straight.generator.state_dict().items(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b), name


def test_resume_refuses_a_different_config(digits, tmp_path):
    model = tiny_model()
    state = tmp_path / "inverter.state.pt"
    train_inverter(model, digits, InverterConfig(epochs=2, batch_size=32, width=8), state, progress=False,
                   stop_after=1)
    with pytest.raises(CheckpointError, match="different inverter config"):
        train_inverter(model, digits, InverterConfig(epochs=2, batch_size=32, width=8, lr=1e-3), state,
                       progress=False)


def test_save_and_load_round_trip(tmp_path):
    gen = Generator(cond_dim=10, channels=3, size=32, width=8, noise_dim=4, embed_dim=16)
    gen.cond_mean.fill_(2.0)
    inverter = FeedforwardInverter(gen, "representation", {"note": "x"}).eval()
    path = save_inverter(inverter, tmp_path / "inv.safetensors")
    loaded = load_inverter_file(path)
    c = torch.randn(4, 10)
    assert torch.equal(inverter(c), loaded(c))
    assert loaded.condition == "representation" and loaded.metadata == {"note": "x"}
    assert [p.name for p in tmp_path.iterdir()] == ["inv.safetensors"]  # no temporary files left behind


def test_load_rejects_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_inverter_file(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_inverter_file(bad)


def test_cache_key_depends_on_classifier_and_config():
    a = inverter_path("quick-robust", InverterConfig())
    assert a == inverter_path("quick-robust", InverterConfig())
    assert a != inverter_path("quick-standard", InverterConfig())
    assert a != inverter_path("quick-robust", InverterConfig(epochs=3))


def test_load_inverter_errors(private_cache):
    with pytest.raises(ValueError, match="not a zoo model"):
        load_inverter("my-model")
    with pytest.raises(FileNotFoundError, match="not cached"):
        load_inverter("quick-robust", train_if_missing=False)


def test_a_model_file_is_not_an_inverter(tmp_path):
    path = rr.save_model(tiny_model(), tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a 'rrhelpers-inverter/1' file"):
        load_inverter_file(path)


class _Echo:
    """An inverter that reconstructs every image exactly: what it keeps is what the probes changed."""

    def reconstruct(self, classifier, images):
        return images


def test_what_survives_reads_position_and_brightness_off_the_reconstructions():
    x = torch.zeros(2, 1, 6, 12)
    x[:, :, 2:4, 5:7] = 1.0
    kept = rr.what_survives(_Echo(), tiny_model(), x, 2)
    assert kept == pytest.approx({"moves left": -2.0, "moves right": 2.0, "brightness": 0.5})


def test_reconstructed_mistakes_keep_only_the_misclassified_images():
    model = tiny_model()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    predicted = model.predict(x).cpu()
    labels = predicted.clone()
    labels[[1, 4]] = (predicted[[1, 4]] + 1) % 10
    mistakes = rr.reconstructed_mistakes(_Echo(), model, x, labels, lambda images: model.predict(images).cpu())
    assert torch.equal(mistakes.images, x[[1, 4]]) and mistakes.labels.tolist() == labels[[1, 4]].tolist()
    assert mistakes.predicted.tolist() == predicted[[1, 4]].tolist()
    assert mistakes.read_as_predicted == 1.0 and mistakes.read_as_true == 0.0  # an exact echo shows what it saw


def test_logit_edits_scale_and_move_towards_a_goal():
    logits, goal = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 2.0]])
    assert scaled_conditions(logits, (0.0, 2.0)).tolist() == [[0.0, 0.0], [2.0, -4.0]]
    assert conditions_towards(logits, goal, (0.0, 0.5, 1.0)).tolist() == [[1.0, -2.0], [2.0, 0.0], [3.0, 2.0]]


def test_training_summary_reads_the_history():
    history = [{"epoch": 1, "seconds": 10.4, "pixel": 0.5}, {"epoch": 2, "seconds": 20.0, "pixel": 0.03216}]
    inverter = FeedforwardInverter(Generator(cond_dim=10, channels=1, size=8, width=4), metadata={"history": history})
    assert inverter.training_summary() == "trained 2 epochs in 30 s; final pixel loss 0.0322"


def test_chapter_inverters_load_the_profiles_pair_with_the_chapters_config(monkeypatch):
    loaded = []
    monkeypatch.setattr("rrhelpers.book.kit.load_inverter",
                        lambda name, config, device: loaded.append((name, config, device)) or name)
    cfg = rr.chapter_settings("quick", "feedforward_inversion", epochs=2)
    assert rr.chapter_inverters(cfg) == {"robust": cfg.profile.robust, "standard": cfg.profile.standard}
    assert all(config == InverterConfig.from_settings(cfg) and config.epochs == 2 for _, config, _ in loaded)
