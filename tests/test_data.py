"""Datasets: quick-profile data from installed packages, split hygiene, and errors for missing data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rrhelpers as rr
from rrhelpers.data import PHOTO_NAMES, crop_windows, load_photo, photo_tensor, restricted_imagenet


def test_mnist5k_splits_are_disjoint_and_balanced():
    train, test = rr.load_dataset("mnist5k", "train"), rr.load_dataset("mnist5k", "test")
    assert (len(train), len(test)) == (4000, 1000)
    assert train.image_shape == (1, 28, 28)
    assert torch.equal(test.labels.bincount(), torch.full((10,), 100))
    train_hashes = {bytes(img.numpy()) for img in train.images}
    assert not any(bytes(img.numpy()) in train_hashes for img in test.images)
    x, y = train.tensors([0, 1])
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1 and x.max() > 0.9


def test_photo_crop_windows_never_share_pixels():
    rng = np.random.default_rng(0)
    for name in PHOTO_NAMES:
        h, w = load_photo(name).shape[:2]
        _, train_left, window = crop_windows(h, w, "train", 500, rng)
        tops, test_left, _ = crop_windows(h, w, "test", 500, rng)
        assert (train_left + window).max() <= test_left.min()
        assert (test_left + window).max() <= w and (tops + window).max() <= h


def test_photo_crops_dataset():
    ds = rr.load_dataset("photo_crops", "test", per_class=3)
    assert len(ds) == 30 and ds.image_shape == (3, 32, 32) and ds.classes == list(PHOTO_NAMES)
    img = photo_tensor("astronaut", size=64)
    assert img.shape == (1, 3, 64, 64) and 0 <= img.min() and img.max() <= 1


def test_unknown_dataset_and_split():
    with pytest.raises(ValueError, match="unknown dataset"):
        rr.load_dataset("mnist60k")
    with pytest.raises(ValueError, match="split must be"):
        rr.load_dataset("mnist5k", "validation")


def test_missing_imagenet_folder_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RRHELPERS_IMAGENET", raising=False)
    with pytest.raises(rr.DatasetNotFoundError, match="RRHELPERS_IMAGENET"):
        rr.load_dataset("imagenet")
    with pytest.raises(rr.DatasetNotFoundError, match="does not exist"):
        rr.load_dataset("restricted_imagenet", root=tmp_path / "nowhere")
    with pytest.raises(rr.DatasetNotFoundError, match="train/ and val/"):
        rr.load_dataset("imagenet", "test", root=tmp_path)


def test_missing_cifar_without_download_says_how_to_get_it(tmp_path):
    with pytest.raises(rr.DatasetNotFoundError, match="cifar-10-batches-py"):
        rr.load_dataset("cifar10", root=tmp_path, download=False)


def _fake_imagenet(root, classes=1000):
    from PIL import Image

    for split in ("train", "val"):
        for c in range(classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            if c in (0, 30, 151, 268, 269, 319, 999):
                Image.fromarray(np.full((8, 8, 3), c % 256, np.uint8)).save(folder / "a.png")


def test_restricted_imagenet_maps_class_ranges(tmp_path):
    _fake_imagenet(tmp_path)
    ds = restricted_imagenet("test", root=tmp_path, size=8)
    # classes 30 (frog), 151 and 268 (dog, both range ends), 319 (insect); 0, 269, 999 are outside every range
    assert sorted(ds.targets) == sorted([2, 0, 0, 8])
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_restricted_imagenet_needs_all_class_folders(tmp_path):
    _fake_imagenet(tmp_path, classes=12)
    with pytest.raises(rr.DatasetNotFoundError, match="1000"):
        restricted_imagenet("train", root=tmp_path)


def test_crossed_pairs_pair_every_source_with_every_destination():
    images, labels = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10) % 3
    pairs = rr.crossed_pairs(images, labels, 2, 3, generator=torch.Generator().manual_seed(5))
    order = torch.randperm(10, generator=torch.Generator().manual_seed(5)).tolist()
    assert pairs.ids == [(s, d) for s in order[:2] for d in order[2:5]]
    assert pairs.start.flatten().tolist() == [float(s) for s, _ in pairs.ids]
    assert pairs.end.flatten().tolist() == [float(d) for _, d in pairs.ids]
    assert pairs.start_labels.tolist() == [s % 3 for s, _ in pairs.ids]
    assert pairs.end_labels.tolist() == [d % 3 for _, d in pairs.ids]
