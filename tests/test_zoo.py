"""The zoo: cache keys, train-on-first-use, atomic cached files, and the quick models' robustness (slow)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import rrhelpers as rr
from rrhelpers.data import sample
from rrhelpers.networks import zoo

from .conftest import tiny_model


def _tiny_recipe(**train_changes):
    config = rr.TrainConfig(epochs=1, batch_size=256, lr=0.05, **train_changes)
    return zoo.Recipe(dataset="mnist5k", arch="quick_resnet", mean=(0.5,), std=(0.25,), train=config,
                      arch_kwargs={"in_channels": 1, "width": 4, "layers": [1]}, description="test")


def test_cache_key_follows_the_recipe():
    a, b = _tiny_recipe(), _tiny_recipe()
    assert a.key() == b.key()
    assert _tiny_recipe(lr_decay=0.5).key() != a.key()
    assert replace(a, init_seed=1).key() != a.key()
    assert replace(a, arch_kwargs={"in_channels": 1, "width": 8, "layers": [1]}).key() != a.key()


def test_zoo_model_is_trained_once_then_loaded(monkeypatch, private_cache):
    monkeypatch.setitem(zoo.RECIPES, "tiny", _tiny_recipe())
    model = rr.load_model("tiny", progress=False)
    assert model.metadata["name"] == "tiny" and 0 <= model.metadata["test_accuracy"]["0"] <= 1
    path = zoo.cached_path("tiny")
    assert path.parent.parent == private_cache and path.exists()
    assert not list(path.parent.glob("*.tmp")) and not list(path.parent.glob("*.state.pt"))

    def no_training(*args, **kwargs):
        raise AssertionError("a cached model must not be trained again")

    monkeypatch.setattr(zoo, "make_model", no_training)
    again = rr.load_model("tiny")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(model(x), again(x))


def test_uncached_model_without_training(monkeypatch):
    monkeypatch.setitem(zoo.RECIPES, "tiny", _tiny_recipe())
    with pytest.raises(FileNotFoundError, match="not cached"):
        rr.load_model("tiny", train_if_missing=False)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RRHELPERS_CACHE", str(tmp_path / "c"))
    assert zoo.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("RRHELPERS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert zoo.cache_dir() == tmp_path / "x" / "rrhelpers"


@pytest.mark.slow
def test_quick_models_show_robustness(user_cache):
    """The book's quick models, from the user's cache (trained there on first use): measured again here on the
    held-out split (a seeded sample of all classes), the robust model must keep far more accuracy under the
    evaluation attack at eps 1.5 and lose little clean accuracy."""
    test_set = rr.load_dataset("mnist5k", "test")
    subset = rr.ImageDataset(*sample(test_set, 300, seed=1), test_set.classes)
    acc = {name: rr.evaluate(rr.load_model(name), subset, [0.0, 1.5]) for name in ("quick-standard", "quick-robust")}
    print(acc)
    assert acc["quick-standard"][0.0] > 0.95 and acc["quick-robust"][0.0] > 0.95
    assert acc["quick-robust"][1.5] > acc["quick-standard"][1.5] + 0.4


def test_profile_models_are_the_zoo_models_the_chapters_load():
    from rrhelpers.book.prepare import profile_inverter_config, profile_models, profile_tasks

    quick = profile_models("quick")
    assert quick[:2] == ["quick-standard", "quick-robust"]
    # every quick recipe but the fast one, which only the time-to-robustness benchmark trains
    assert set(quick) == {n for n in zoo.RECIPES if n.startswith("quick")} - {"quick-robust-fast"}
    assert profile_models("imagenet") == [] and profile_inverter_config("imagenet") is None
    assert profile_inverter_config("quick").epochs == rr.chapter_settings("quick", "feedforward_inversion").epochs
    # what make book trains (and the benchmark times): every model, then an inverter per compared model
    assert [what for what, _ in profile_tasks("quick")] == quick + ["inverter of quick-standard",
                                                                    "inverter of quick-robust"]
    assert profile_tasks("imagenet") == []


def test_model_description_names_the_recipe_or_the_publisher():
    assert rr.model_description("quick-robust") == (f"quick-robust: {rr.RECIPES['quick-robust'].description}\n"
                                                    f"    {rr.RECIPES['quick-robust'].train}")
    entry = rr.PUBLISHED["madry-cifar10-l2-0.25"]
    assert rr.model_description("madry-cifar10-l2-0.25") == (
        f"madry-cifar10-l2-0.25: published by {entry.source}, {entry.arch}, {entry.threat} eps 0.25\n    {entry.url}")
    with pytest.raises(KeyError, match="neither a zoo model"):
        rr.model_description("no-such-model")


def test_chapter_kit_loads_the_pair_a_chapter_names_and_the_test_set_it_was_trained_on(monkeypatch):
    from rrhelpers.book import kit

    def fake_model(name: str, device: str) -> rr.RobustModel:
        model = tiny_model()
        model.metadata = {"name": name, "recipe": {"dataset": f"{name}-data"}}
        return model

    monkeypatch.setattr(kit, "load_model", fake_model)
    monkeypatch.setattr(kit, "load_dataset", lambda dataset, split: (dataset, split))
    quick = rr.get_profile("quick")
    style = kit.chapter_kit("style_transfer", {"profile": "quick", "steps": 3})
    assert style.settings.steps == 3
    assert {n: m.metadata["name"] for n, m in style.models.items()} == {"robust": style.settings.robust,
                                                                        "standard": style.settings.standard}
    assert style.settings.robust != quick.robust and style.test_set == (f"{style.settings.robust}-data", "test")
    other = kit.chapter_kit("sensitivity", {"profile": "quick"}, order=("standard", "robust"))
    assert {n: m.metadata["name"] for n, m in other.models.items()} == {"standard": quick.standard,
                                                                        "robust": quick.robust}
    assert list(other.models) == ["standard", "robust"] and other.test_set == (quick.dataset, "test")
