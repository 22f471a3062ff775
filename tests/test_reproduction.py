"""The reproduction appendix's tables: published and measured accuracies, the pixel scaling of step sizes, and the
paper's settings beside a profile's."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

import rrhelpers as rr
from rrhelpers.book import reproduction
from rrhelpers.networks.published import PUBLISHED


def test_reported_accuracies_list_every_published_radius_and_sort_the_radii_by_size():
    reported = reproduction.reported_accuracies()
    assert len(reported) == sum(len(entry.reported) for entry in PUBLISHED.values())
    linf = reported[reported["model"] == "madry-cifar10-linf-8"]
    assert set(linf["trained at"]) == {"linf 8/255"} and list(linf["test eps"]) == ["0", "8/255", "16/255"]
    assert reproduction.accuracy_at(reported, "madry-cifar10-l2-0.5", "0.5") == 70.17
    table = reproduction.accuracy_table(reported, decimals=1)
    assert list(table.columns) == ["0", "4/255", "8/255", "16/255", "0.25", "0.5", "1", "2", "3"]
    assert table.loc[("madry-cifar10-linf-8", "cifar10", "linf 8/255"), "0.5"] == ""  # not tested there
    assert table.loc[("torchvision-vgg19", "imagenet", "none 0"), "0"] == 72.4


def test_measured_accuracies_read_the_zoo_metadata_once_per_model(monkeypatch):
    loaded = []

    def fake_load(name):
        loaded.append(name)
        adversary = {"eps": 2.5} if name == "robust" else None
        return SimpleNamespace(metadata={"recipe": {"dataset": "mnist5k", "train": {"adversary": adversary}},
                                         "test_accuracy": {"0": 0.9, "1.5": 0.5 if name == "robust" else 0.1}})

    monkeypatch.setattr(reproduction, "load_model", fake_load)
    measured = reproduction.measured_accuracies(["standard", "robust", "standard"])
    assert loaded == ["standard", "robust"]
    assert list(measured["trained at"]) == ["l2 0", "l2 0", "l2 2.5", "l2 2.5"]
    pairs = reproduction.clean_and_attacked(measured, standard="standard", robust="robust", eps="1.5")
    assert pairs == {"standard": (90.0, 10.0), "robust": (90.0, 50.0)}
    assert reproduction.attack_costs(pairs) == {"standard": 80.0, "robust": 40.0}
    table = reproduction.side_by_side({"book": pairs})
    assert list(table.index) == ["standard clean", "standard at eps", "robust clean", "robust at eps"]
    assert list(table["book"]) == [90.0, 10.0, 90.0, 50.0]


def test_step_scale_is_the_square_root_of_the_pixel_ratio():
    assert rr.pixel_values("mnist5k") == 784 and rr.pixel_values("restricted_imagenet") == 3 * 224 * 224
    assert rr.step_scale("mnist5k", "restricted_imagenet") == pytest.approx(math.sqrt(784 / 150528))
    assert rr.step_scale("cifar10", "cifar10") == 1.0
    with pytest.raises(ValueError, match="unknown dataset"):
        rr.pixel_values("svhn")


def test_constant_step_ratios_leave_out_the_decaying_steps():
    # quick: the inversion and class-picture steps decay on a cosine, the other four are constant 0.1 against 1
    assert reproduction.constant_step_ratios("quick", "restricted_imagenet") == pytest.approx([0.1] * 4)
    # cifar10 keeps every step constant: inversion 0.15, feature visualisation 0.15 and 0.25, then 0.15 three times
    assert reproduction.constant_step_ratios("cifar10", "restricted_imagenet") == pytest.approx(
        [0.15, 0.15, 0.25, 0.15, 0.15, 0.15])
    for profile in ("quick", "cifar10"):  # the profiles follow the pixel scaling, as the appendix asserts
        scale = rr.step_scale(rr.get_profile(profile).dataset, "restricted_imagenet")
        ratios = reproduction.constant_step_ratios(profile, "restricted_imagenet")
        assert all(scale / 1.6 <= r <= scale * 4.5 for r in ratios)


def test_settings_table_puts_the_paper_beside_the_profile():
    table = reproduction.settings_table("quick", "restricted_imagenet")
    assert list(table.columns) == ["chapter", "setting", "paper", "book (quick)"]
    assert len(table) == sum(map(len, reproduction.KNOBS.values())) + 1
    row = table[(table["chapter"] == "interpolation") & (table["setting"] == "steps")].iloc[0]
    assert (row["paper"], row["book (quick)"]) == (10_000, 500)
    assert table.iloc[-1].tolist() == ["adversarial training", "L2 eps", 3.5, 2.5]
