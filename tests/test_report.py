"""The perceptual alignment report (``python -m rrhelpers report``): its numbers on the book's quick pair, on a
wrapped timm network, its page offline in Chromium, and its refusals of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import rrhelpers as rr
from rrhelpers.book import report
from rrhelpers.book.report import QUICK, ROWS, alignment_report

from .conftest import tiny_model

ROOT = Path(__file__).resolve().parent.parent
TINY = replace(QUICK, images=8, apgd_steps=2, pairs=3, match_steps=2, rf_images=4, rf_steps=1, inversions=2,
               inversion_steps=2, class_seeds=1, class_steps=2, gradients=2)
"""Every row runs, nothing is measured well: for the shape of the output and the refusals."""
SMALL = replace(QUICK, images=40, apgd_steps=10, pairs=8, match_steps=25, rf_images=16, rf_steps=3, inversions=6,
                inversion_steps=150, class_seeds=3, class_steps=200, gradients=4)
"""Small enough for a test, large enough that the quick pair's difference shows on every row. The class pictures
take the profile's 200 steps: at 100 the robust ones are not finished, and one training of the quick pair scored
0.70 against 0.70 (at 200: 0.90 / 0.60 and, for another training, 0.80 / 0.60)."""


@pytest.fixture(scope="module")
def quick_pair_report(tmp_path_factory):
    """The report of the book's quick pair from the user's cache (trained there by ``make book``)."""
    import os

    from .conftest import USER_CACHE

    out = tmp_path_factory.mktemp("report") / "quick-pair"
    previous = os.environ.get("RRHELPERS_CACHE")
    if USER_CACHE:
        os.environ["RRHELPERS_CACHE"] = USER_CACHE
    else:
        os.environ.pop("RRHELPERS_CACHE", None)
    try:
        numbers = alignment_report(["quick-standard", "quick-robust"], dataset="mnist5k", out=out, settings=SMALL,
                                   progress=False)
    finally:
        if previous is None:
            os.environ.pop("RRHELPERS_CACHE", None)
        else:
            os.environ["RRHELPERS_CACHE"] = previous
    return out, numbers


@pytest.mark.slow
def test_the_robust_quick_model_scores_better_on_every_row(quick_pair_report):
    out, numbers = quick_pair_report
    assert json.loads((out / "report.json").read_text()) == json.loads(json.dumps(numbers))
    assert numbers["reference"] == ["quick-standard", "quick-robust"] and numbers["judge"] == "quick-judge-robust"
    robust, standard = (numbers["models"][name] for name in ("quick-robust", "quick-standard"))
    for rows in (robust, standard):
        assert set(rows) == set(ROWS)
        assert {"clean", "pgd20", "apgd", "curve"} <= set(rows["accuracy"])
        for key in ("clean", "pgd20", "apgd"):
            low, high = rows["accuracy"][key]["ci"]
            assert low <= rows["accuracy"][key]["mean"] <= high and rows["accuracy"][key]["n"] == SMALL.images
        assert set(rows["layer_robustness"]["stages"]) == {"stages.0", "stages.1", "stages.2"}
        assert {"recognised", "ssim", "median_relative_error"} <= set(rows["inversion"]["from_noise"])
        assert all(row_numbers["seconds"] > 0 for row_numbers in rows.values())
    for row, higher in report.HIGHER_IS_MORE_ALIGNED.items():
        r, s = robust[row]["score"], standard[row]["score"]
        assert (r > s) if higher else (r < s), f"{row}: robust {r} vs standard {s}"
    assert robust["gradients"]["energy_on_object"]["mean"] > standard["gradients"]["energy_on_object"]["mean"]
    assert numbers["summary"]["quick-robust"]["alignment_mean"] == pytest.approx(1.0)
    assert numbers["summary_lines"][1].startswith("quick-robust: APGD")
    for row in ROWS:
        assert (out / f"{row}.png").is_file()
    assert not list(out.parent.glob(".quick-pair.*")), "no staging folder is left behind"


@pytest.mark.slow
def test_the_report_page_opens_offline_with_every_figure(quick_pair_report):
    from tools import check_offline, nbval_runs

    if check_offline.find_chromium() is None:
        pytest.skip("Chromium is not installed: run `bash tools/setup_system.sh` (apt-get install -y chromium)")
    out, _ = quick_pair_report
    proc = subprocess.run([sys.executable, "-m", "tools.check_offline", "--html-dir", str(out), "--require", "image",
                           "index.html"], cwd=ROOT, env=nbval_runs.subprocess_env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"'image': {len(ROWS)}" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.slow
def test_a_wrapped_timm_network_is_reported_and_told_what_changes(tmp_path, monkeypatch):
    """On a stand-in Restricted ImageNet folder (wrapped classifiers take colour images), beside one of this
    package's networks."""
    timm = pytest.importorskip("timm")
    from .test_full_profiles import _stand_in_folder

    _stand_in_folder(tmp_path / "imagenet", per_class=2)
    monkeypatch.setenv("RRHELPERS_IMAGENET", str(tmp_path / "imagenet"))
    network = timm.create_model("test_resnet", pretrained=False, num_classes=9).eval()
    mean, std = rr.data.NORMALIZATION["imagenet"]
    model = rr.wrap_classifier(network, "timm:test_resnet", mean, std, network_kwargs={"num_classes": 9})
    numbers = alignment_report({"timm-test-resnet": model, "tiny": tiny_model(in_channels=3, num_classes=9)},
                               dataset="restricted_imagenet", out=tmp_path / "out", settings=TINY, judge="knn",
                               reference=False, progress=False)
    rows = numbers["models"]["timm-test-resnet"]
    assert "skipped" in rows["layer_robustness"] and "stages" in numbers["models"]["tiny"]["layer_robustness"]
    assert any("timm-test-resnet is a wrapped classifier" in note for note in numbers["notes"])
    assert "layer_robustness" not in numbers["summary"]["timm-test-resnet"]["scores"]
    assert numbers["reference"] is None and "alignment" not in numbers["summary"]["tiny"]
    page = (tmp_path / "out" / "index.html").read_text()
    assert "wrapped classifier" in page and "no residual stages" in page and "src=\"http" not in page


def test_bad_input_is_refused_and_nothing_is_left_behind(tmp_path, monkeypatch):
    models = {"tiny": tiny_model()}
    common = dict(dataset="mnist5k", settings=TINY, judge="knn", reference=False, progress=False)
    with pytest.raises(FileNotFoundError, match="neither a zoo model nor an existing file"):
        alignment_report(["no-such-model"], out=tmp_path / "a", **common)
    with pytest.raises(rr.InputError, match="3-channel images but dataset 'mnist5k' has 1"):
        alignment_report({"rgb": tiny_model(in_channels=3)}, out=tmp_path / "a", **common)
    with pytest.raises(rr.InputError, match="5 classes but dataset 'mnist5k' has 10"):
        alignment_report({"five": tiny_model(num_classes=5)}, out=tmp_path / "a", **common)
    with pytest.raises(ValueError, match="eps must be a positive radius"):
        alignment_report(models, out=tmp_path / "a", eps=0.0, **common)
    with pytest.raises(ValueError, match="no profile runs on dataset 'photo_crops'"):
        alignment_report(models, out=tmp_path / "a", **{**common, "dataset": "photo_crops"})
    with pytest.raises(ValueError, match="the judge 'knn' is one of the compared models"):
        alignment_report({"knn": tiny_model()}, out=tmp_path / "a", **common)
    with pytest.raises(ValueError, match="the judge 'quick-robust' is one of the compared models"):
        alignment_report(models, out=tmp_path / "a", **{**common, "judge": "quick-robust", "reference": True})
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="--force"):
        alignment_report(models, out=full, **common)

    def broken(model, context):
        raise RuntimeError("interrupted")

    monkeypatch.setitem(report.MEASURES, "inversion", broken)
    with pytest.raises(RuntimeError, match="interrupted"):
        alignment_report(models, out=full, force=True, **common)
    assert (full / "mine.txt").read_text() == "keep", "a failed run leaves the old folder as it was"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"], "and no partial folder"
    monkeypatch.undo()
    alignment_report(models, out=full, force=True, **common)
    assert sorted(p.name for p in full.iterdir()) == sorted(["index.html", "report.json"] +
                                                            [f"{row}.png" for row in ROWS])


def test_the_command_line_says_what_was_wrong(tmp_path, capsys):
    assert report.main(["no-such-model", "--dataset", "mnist5k", "--out", str(tmp_path / "o"), "--judge",
                        "knn", "--no-reference", "--quick"]) == 2
    assert "neither a zoo model nor an existing file" in capsys.readouterr().err
    assert report.main(["quick-robust", "--dataset", "mnist5k", "--out", str(tmp_path / "o"), "--eps", "-1"]) == 2
    assert "eps must be a positive radius" in capsys.readouterr().err
    from rrhelpers.__main__ import COMMANDS

    assert COMMANDS["report"] == "rrhelpers.book.report"


def test_the_measures_the_report_shares_with_the_chapters():
    import torch

    from rrhelpers.data import random_pairs
    from rrhelpers.learning.evaluation import ssim
    from rrhelpers.optimization.representations import has_fake_relu, object_energy_share

    test_set = rr.load_dataset("mnist5k", "test")
    sources, targets = random_pairs(test_set, 20, seed=3)
    assert len(sources) == len(targets) == 20
    label_of = {bytes(x.numpy().tobytes()): int(y) for x, y in zip(*test_set.tensors())}
    assert all(label_of[bytes(s.numpy().tobytes())] != label_of[bytes(t.numpy().tobytes())]
               for s, t in zip(sources, targets))
    assert torch.allclose(ssim(sources, sources), torch.ones(20))
    assert (ssim(sources, targets) < 0.9).all()
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(sources, targets[:3])
    on_object = torch.zeros(1, 1, 8, 8)
    on_object[..., 2:6, 2:6] = 1.0
    assert object_energy_share(on_object, on_object).item() == 1.0
    assert object_energy_share(1.0 - on_object, on_object).item() == pytest.approx(20 / 48)  # dilated 6x6 - 4x4
    assert has_fake_relu(tiny_model())


def test_scores_table_has_the_measures_as_rows_and_the_models_as_columns():
    numbers = {"summary": {"a": {"scores": {"accuracy": 0.1, "inversion": 0.3}, "alignment_mean": 0.0},
                           "b": {"scores": {"accuracy": 0.8}}}}
    table = report.scores_table(numbers)
    assert list(table.columns) == ["a", "b"] and list(table.index) == ["accuracy", "inversion"]
    assert table.loc["inversion", "a"] == 0.3 and table.loc["accuracy", "b"] == 0.8
