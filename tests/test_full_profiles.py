"""The restricted_imagenet and imagenet profiles end to end on stand-ins built here: an ImageNet folder of 1000
class folders with a few tiny images, and small ResNets saved in each published model's own format (MadryLab
dill-free torch.save with DataParallel/attacker prefixes; torchvision's plain state dict) at the cache paths the
entries name. From the profile: data, both models (no download), chapter settings, the solver at those settings,
and the training preset's command on the folder."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest
import torch
from torchvision.models.resnet import BasicBlock, ResNet

import rrhelpers as rr
from rrhelpers.networks import published
from rrhelpers.learning import train_cli
from rrhelpers.networks.checkpoints import save_model
from rrhelpers.data import sample
from rrhelpers.learning.evaluation import knn_predict
from rrhelpers.book.judges import content_judge, label_map
from rrhelpers.optimization.representations import invert, noise_seeds
from rrhelpers.networks.zoo import trained_on

from .test_convert import _madrylab_state, _randomise_batchnorm
from .test_data import _fake_imagenet


def _stand_in(name: str, num_classes: int, monkeypatch) -> torch.nn.Module:
    """A small torchvision-layout ResNet written where published model ``name``'s original file goes."""
    torch.manual_seed(len(name))
    network = _randomise_batchnorm(ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes))
    entry = published.PUBLISHED[name]
    path = published.original_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.torchvision_weights:
        torch.save(network.state_dict(), path)
    else:
        mean, std = rr.data.NORMALIZATION[entry.dataset]
        torch.save({"model": _madrylab_state(network, mean, std), "epoch": 110}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # the stand-in is another file than the published one: its own checksum, and a small ResNet, not a ResNet-50
    monkeypatch.setitem(published.PUBLISHED, name, replace(entry, arch="resnet",
                                                           sha256=digest if entry.sha256 else None))
    return network


@pytest.fixture
def imagenet_root(tmp_path, monkeypatch):
    _fake_imagenet(tmp_path / "imagenet")
    monkeypatch.setenv("RRHELPERS_IMAGENET", str(tmp_path / "imagenet"))
    monkeypatch.setenv("RRHELPERS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "imagenet"


@pytest.mark.parametrize("profile,num_classes", [("restricted_imagenet", 9), ("imagenet", 1000)])
def test_profile_end_to_end_on_stand_ins(imagenet_root, monkeypatch, profile, num_classes):
    P = rr.get_profile(profile)
    test_set = rr.load_dataset(P.dataset, "test", size=64)
    assert len(test_set.classes) == num_classes
    x, y = test_set.tensors(range(2))
    assert x.shape == (2, 3, 64, 64) and 0 <= x.min() and x.max() <= 1

    for name in (P.robust, P.standard):
        _stand_in(name, num_classes, monkeypatch)
    models = {role: rr.load_model(getattr(P, role), download=False, progress=False) for role in ("robust", "standard")}
    for model in models.values():
        assert len(model.classes) == num_classes and model.config["arch_kwargs"]["stem"] == "imagenet"
        assert model.metadata["published"]["dataset"] == P.dataset
    if profile == "restricted_imagenet":
        assert models["robust"].classes == test_set.classes == list(rr.data.RESTRICTED_IMAGENET_RANGES)
    expected_mean = rr.data.NORMALIZATION[P.dataset][0]
    assert models["robust"].config["mean"] == pytest.approx(expected_mean)

    cfg = rr.chapter_settings(profile, "inversion", steps=3)
    assert cfg.step_size == 1.0  # the paper's step at 224 px
    seeds = noise_seeds(x.shape, mean=cfg.noise_mean, std=cfg.noise_std, seed=cfg.seed)
    result = invert(models["robust"], x, seeds, steps=cfg.steps, step_size=cfg.step_size)
    assert result.x.shape == x.shape and torch.isfinite(result.x).all()
    assert (result.value <= result.start_value).all()  # the representation distance did not grow
    adv = rr.pgd_attack(models["robust"], x, y, eps=P.train_eps, steps=2)
    assert ((adv - x).flatten(1).norm(dim=1) <= P.train_eps + 1e-4).all()


def test_training_preset_runs_on_the_folder(imagenet_root, tmp_path):
    """The preset (bf16 overridden: fp32 is faster on a CPU) on the folder, with a small ResNet. Width 16, not 8:
    with 8 channels, channels_last convolutions crash torch 2.14 on this CPU (double free)."""
    out = tmp_path / "run"
    code = train_cli.main(["--preset", "restricted-imagenet-l2-3.5", "--data-root", str(imagenet_root),
                           "--out", str(out), "--limit", "4", "--epochs", "1", "--batch-size", "2",
                           "--attack-steps", "1", "--arch", "resnet", "--workers", "0", "--precision", "fp32",
                           "--arch-kwargs", '{"layers": [1, 1, 1, 1], "width": 16, "stem": "imagenet"}',
                           "--no-progress"])
    assert code == 0
    model = rr.load_model(out / "model.safetensors")
    assert model.classes == list(rr.data.RESTRICTED_IMAGENET_RANGES)
    assert model.metadata["recipe"]["train"]["adversary"]["eps"] == 3.5
    assert set(model.metadata["test_accuracy"]) == {"0", "3.5"}


def test_pools_labels_and_a_third_classifier_as_judge_on_the_folder(imagenet_root, tmp_path):
    """What the chapters use to look over an ImageNet split: labels without decoding, a seeded pool, and a judge
    that is a 1000-class classifier whose ImageNet predictions become Restricted ImageNet labels."""
    test_set = rr.load_dataset("restricted_imagenet", "test", size=16)
    assert test_set.labels.tolist() == test_set.targets
    _, y = sample(test_set, 3, seed=1)
    order = torch.randperm(len(test_set), generator=torch.Generator().manual_seed(1))[:3]
    assert torch.equal(y, test_set.labels[order])
    assert len(sample(test_set, None)[1]) == len(sample(test_set, 10_000)[1]) == len(test_set)
    with pytest.raises(ValueError, match="positive"):
        sample(test_set, 0)

    torch.manual_seed(0)
    judge_model = rr.RobustModel("resnet", 1000, (0.5,) * 3, (0.25,) * 3,
                                 arch_kwargs={"layers": [1], "width": 8, "stem": "imagenet"})
    path = tmp_path / "judge.safetensors"
    images = sample(test_set, None)[0]
    profile = replace(rr.get_profile("restricted_imagenet"), judge=str(path))
    for imagenet_class, expected in ((151, 0), (300, 8), (999, -1)):  # a dog, an insect, outside every range
        with torch.no_grad():
            judge_model.head.bias.zero_()[imagenet_class] = 1e4
        save_model(judge_model, path)
        assert (content_judge(profile)(images) == expected).all()

    with pytest.raises(ValueError, match="one of the models it compares"):
        replace(profile, judge=profile.robust)
    with pytest.raises(ValueError, match="cannot label"):
        label_map("cifar10", 1000, 10)


def test_the_dataset_a_model_was_trained_on(imagenet_root, monkeypatch):
    _stand_in("madry-reps-restricted-imagenet-robust", 9, monkeypatch)
    model = rr.load_model("madry-reps-restricted-imagenet-robust", download=False, progress=False)
    assert trained_on(model) == "restricted_imagenet"
    model.metadata = {"recipe": {"dataset": "mnist5k"}}
    assert trained_on(model) == "mnist5k"
    model.metadata = {}
    with pytest.raises(ValueError, match="names no dataset"):
        trained_on(model)


def test_the_pixel_judge_is_nearest_neighbours_in_the_training_pool():
    quick = rr.get_profile("quick")
    train_set = rr.load_dataset(quick.dataset, "train")
    queries = train_set.tensors(range(0, 4000, 400))[0].flip(-1)
    for profile in (quick, replace(quick, pool=100)):
        train_x, train_y = sample(train_set, profile.pool)
        assert len(train_x) == (profile.pool or len(train_set))
        assert torch.equal(content_judge(profile, "knn")(queries), knn_predict(train_x, train_y, queries))
    with pytest.raises(ValueError, match="not one of"):
        content_judge(quick, "quick-standard")


CHAPTER_SMOKE_SETTINGS = {  # the smallest settings under which every cell of the chapter still runs
    "01_brittleness": dict(pairs=4, steps=2, shown=2, radii=[1.0, 5.0]),
    "02_robust_training": dict(eval_images=8, steps=2, apgd_steps=2, gradient_images=2, eval_eps=[0.0, 3.0]),
    "03_inversion": dict(images=2, steps=2),
    "04_feature_visualization": dict(coordinates=2, seeds=3, steps=2, top=2, regularised_steps=2, classes=3,
                                     class_seeds=1, class_steps=2),
    "05_feature_manipulation": dict(images=2, coordinates=2, steps=4, snapshot_every=2),
    "06_interpolation": dict(sources=1, destinations=1, frames=2, steps=2),
    "07_sensitivity": dict(images=2, steps=2, claim_images=4),
    "08_style_transfer": dict(size=64, steps=2, style_weights=[1e2, 1e4], rf_images=4, rf_steps=2,
                              contents=["chelsea"], styles=["brick"]),
}


def _stand_in_folder(root, per_class: int = 4) -> None:
    """1000 class folders; ``per_class`` random 40 px images in one class of each Restricted ImageNet range and in
    two classes outside them."""
    from PIL import Image

    rng = np.random.default_rng(0)
    picked = {lo for lo, _ in rr.data.RESTRICTED_IMAGENET_RANGES.values()} | {0, 999}
    for split in ("train", "val"):
        for c in range(1000):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for i in range(per_class if c in picked else 0):
                Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["restricted_imagenet", "imagenet"])
def test_chapters_run_on_the_imagenet_profiles_up_to_their_claim_checks(tmp_path, monkeypatch, profile):
    """Chapters 1-8 executed (papermill, a fresh kernel) with an ImageNet profile on a stand-in folder, stand-in
    published models and a stand-in judge. Random stand-ins cannot make the paper's claims, so a chapter may fail
    only in its last cell, the claim check, and only with an AssertionError; every other cell must run."""
    _stand_in_folder(tmp_path / "imagenet")
    monkeypatch.setenv("RRHELPERS_IMAGENET", str(tmp_path / "imagenet"))
    monkeypatch.setenv("RRHELPERS_CACHE", str(tmp_path / "cache"))  # the kernel inherits both
    P = rr.get_profile(profile)
    num_classes = len(rr.load_dataset(P.dataset, "test").classes)
    for name, classes in ((P.robust, num_classes), (P.standard, num_classes), (P.judge, 1000)):
        _stand_in(name, classes, monkeypatch)
        rr.load_model(name, download=False, progress=False)  # converted into the cache, where the kernel finds it
    # two chapters at a time with one CPU thread each, as `make book` runs the book: kernel start-up and imports use
    # one core, and the last chapter, the longest, starts first: both profiles took 105 s against 157 s one after
    # another with two threads on 2 cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(lambda item: _run_until_claim(*item, profile, tmp_path),
                                        reversed(CHAPTER_SMOKE_SETTINGS.items())) if f]
    assert not failures, "\n".join(failures)


def _run_until_claim(chapter: str, settings: dict, profile: str, tmp_path) -> str | None:
    """Execute ``chapter`` with ``settings``; None if every cell ran, or only the claim check (the last code cell)
    failed with an AssertionError; otherwise what failed."""
    import nbformat
    import papermill as pm

    from tools import run_chapters

    source = run_chapters.resolve(chapter)
    notebook, _ = run_chapters.to_ipynb(source, tmp_path / "inputs")
    executed = tmp_path / f"{chapter}.ipynb"
    try:
        pm.execute_notebook(str(notebook), str(executed), parameters={"profile": profile, **settings},
                            cwd=str(source.parent), progress_bar=False, request_save_on_cell_execute=True)
    except pm.PapermillExecutionError as err:
        code = [c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"]
        failed = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.outputs)]
        if err.ename != "AssertionError" or failed != [len(code) - 1]:
            return f"{chapter} ({profile}) failed before its claim check: {err.ename}: {err.evalue}"
    return None
