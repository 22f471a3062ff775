"""The training command line: logs, final model, presets, mid-epoch resume, bf16/channels_last, and DDP on CPU."""

from __future__ import annotations

import csv
import dataclasses
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rrhelpers as rr
from rrhelpers.learning import train_cli
from rrhelpers.learning.training import Runtime

from .conftest import tiny_model

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--dataset", "mnist5k", "--limit", "128", "--arch", "quick_resnet",
        "--arch-kwargs", '{"width": 4, "layers": [1]}', "--batch-size", "32", "--no-progress", "--eval-eps", "0"]


def rows(path: Path) -> list[dict[str, str]]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_cli_trains_logs_and_writes_a_loadable_model(tmp_path, capsys):
    out = tmp_path / "run"
    code = train_cli.main(TINY + ["--out", str(out), "--epochs", "2", "--eps", "1.0", "--attack-steps", "2",
                                  "--log-every", "1", "--checkpoint-every", "3"])
    assert code == 0
    assert len(rows(out / "steps.csv")) == 8 and len(rows(out / "epochs.csv")) == 2
    assert float(rows(out / "steps.csv")[-1]["images_per_s"]) > 0
    model = rr.load_model(out / "model.safetensors")
    assert model.metadata["recipe"]["train"]["adversary"]["eps"] == 1.0
    assert model.metadata["runtime"]["world_size"] == 1
    assert 0 <= model.metadata["test_accuracy"]["0"] <= 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"]
    assert not list(out.glob("*.tmp"))


def test_rerunning_a_finished_run_resumes_instead_of_retraining(tmp_path):
    out = tmp_path / "run"
    args = TINY + ["--out", str(out), "--epochs", "1"]
    train_cli.main(args)
    first = rr.load_model(out / "model.safetensors")
    train_cli.main(args)  # the state says the run is complete: no step is taken again
    assert len(rows(out / "epochs.csv")) == 1
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(first(x), rr.load_model(out / "model.safetensors")(x))


def test_preset_sets_defaults_that_options_override(tmp_path):
    args = train_cli.parse_args(["--preset", "cifar10-l2-fast", "--out", str(tmp_path), "--epochs", "3"])
    assert args.dataset == "cifar10" and args.eps == 0.5 and args.precision == "bf16" and args.channels_last
    assert args.epochs == 3
    config, runtime = train_cli.configs(args)
    assert config.adversary.steps == 5 and runtime.precision == "bf16"


@pytest.mark.parametrize("name", ["quick-robust", "quick-judge-standard", "cifar10-robust", "quick-robust-fast"])
def test_every_zoo_recipe_is_a_preset(tmp_path, name):
    recipe = rr.RECIPES[name]
    args = train_cli.parse_args(["--preset", name, "--out", str(tmp_path)])
    config, runtime = train_cli.configs(args)
    assert config == recipe.train and runtime.channels_last
    assert (args.dataset, args.arch, args.arch_kwargs) == (recipe.dataset, recipe.arch, recipe.arch_kwargs)
    assert args.init_seed == recipe.init_seed and args.eval_eps == list(recipe.eval_eps)
    assert train_cli.configs(train_cli.parse_args(["--preset", name, "--out", str(tmp_path), "--eps", "0"]))[0] \
        == dataclasses.replace(recipe.train, adversary=None)  # options still override


def test_fast_recipe_and_early_stopping_from_the_command_line(tmp_path):
    args = train_cli.parse_args(["--preset", "quick-robust-fast", "--out", str(tmp_path), "--early-stopping", "256"])
    config, _ = train_cli.configs(args)
    assert config.schedule == "onecycle" and config.adversary.steps == 2 and config.epochs == 5
    assert config.early_stopping == rr.EarlyStopping(images=256)
    with pytest.raises(SystemExit, match="needs adversarial training"):
        train_cli.configs(train_cli.parse_args(TINY + ["--out", str(tmp_path), "--early-stopping", "64"]))


def test_a_zoo_preset_starts_from_the_zoo_models_initial_weights(tmp_path):
    classes = [str(c) for c in range(10)]
    for name in ("quick-robust", "quick-judge-robust"):  # init seeds 0 and 1
        args = train_cli.parse_args(["--preset", name, "--out", str(tmp_path)])
        expected = rr.RECIPES[name].build(classes).state_dict()
        actual = train_cli.initial_model(args, classes).state_dict()
        assert all(torch.equal(expected[k], actual[k]) for k in expected)
    seeded = train_cli.initial_model(train_cli.parse_args(TINY + ["--out", str(tmp_path), "--seed", "1"]), classes)
    other = train_cli.initial_model(train_cli.parse_args(TINY + ["--out", str(tmp_path), "--seed", "1",
                                                                 "--init-seed", "2"]), classes)
    assert not torch.equal(seeded.head.weight, other.head.weight)


def test_tensorboard_without_the_package_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(SystemExit, match="pip install tensorboard"):
        train_cli.RunLogs(tmp_path, tensorboard=True)


def test_dry_run_projects_the_time(tmp_path, capsys):
    assert train_cli.main(TINY + ["--out", str(tmp_path / "x"), "--epochs", "10", "--dry-run", "2"]) == 0
    assert "images/s" in capsys.readouterr().out and not (tmp_path / "x").exists()


def test_synthetic_dry_run_needs_no_data_and_projects_the_real_size(tmp_path, capsys):
    code = train_cli.main(["--dataset", "cifar10", "--synthetic", "--dry-run", "1", "--arch", "quick_resnet",
                           "--arch-kwargs", '{"in_channels": 3, "width": 4, "layers": [1]}', "--batch-size", "8",
                           "--epochs", "2", "--no-progress", "--out", str(tmp_path / "x")])
    assert code == 0
    assert "(2 epochs x 50000 images)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--dry-run"):
        train_cli.main(["--dataset", "cifar10", "--synthetic", "--out", str(tmp_path / "y")])
    with pytest.raises(SystemExit, match="imitates"):
        train_cli.main(TINY + ["--synthetic", "--dry-run", "1", "--out", str(tmp_path / "z")])


@pytest.fixture(scope="module")
def digits():
    train = rr.load_dataset("mnist5k", "train")
    return rr.ImageDataset(train.images[:160], train.labels[:160], train.classes)


def test_mid_epoch_resume_gives_identical_weights(digits, tmp_path):
    digits = rr.ImageDataset(digits.images[:96], digits.labels[:96], digits.classes)
    config = rr.TrainConfig(epochs=2, batch_size=32, lr=0.05, augment="crop_flip", seed=4,
                            adversary=rr.AttackConfig(eps=1.0, steps=2))
    straight = tiny_model(seed=3)
    rr.train(straight, digits, config, progress=False)

    class Interrupted(Exception):
        pass

    def stop_at_step_5(record):
        if record["step"] == 5:
            raise Interrupted

    state = tmp_path / "state.pt"
    interrupted = tiny_model(seed=3)
    with pytest.raises(Interrupted):
        rr.train(interrupted, digits, config, checkpoint=state, progress=False,
                 runtime=Runtime(checkpoint_every=2, log_every=1, on_step=stop_at_step_5))
    saved = rr.networks.checkpoints.load_state(state)
    assert (saved["epoch"], saved["batch"], saved["step"]) == (1, 1, 4)  # 3 batches per epoch: step 4 = epoch 2, batch 1
    resumed = tiny_model(seed=99)
    rr.train(resumed, digits, config, checkpoint=state, progress=False)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_bf16_and_channels_last_train_on_cpu(digits):
    model = tiny_model()
    config = rr.TrainConfig(epochs=2, batch_size=32, lr=0.05, adversary=rr.AttackConfig(eps=1.0, steps=2))
    history = rr.train(model, digits, config, progress=False,
                       runtime=Runtime(precision="bf16", channels_last=True)).history
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in history)
    assert model(torch.rand(2, 1, 28, 28)).dtype == torch.float32


def test_runtime_validation():
    with pytest.raises(ValueError, match="precision"):
        Runtime(precision="fp16")
    with pytest.raises(ValueError, match="checkpoint_every"):
        Runtime(checkpoint_every=-1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # starts processes (a kernel, or two DDP workers): seconds each
def test_ddp_with_two_gloo_processes_on_cpu(tmp_path, private_cache):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "rrhelpers", "train", *TINY, "--out", str(out),
               "--epochs", "2", "--eps", "1.0", "--attack-steps", "1", "--log-every", "1", "--device", "cpu"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    model = rr.load_model(out / "model.safetensors")
    assert model.metadata["runtime"]["world_size"] == 2
    assert len(rows(out / "steps.csv")) == 8  # 4 global batches of 32 (16 per process) per epoch, logged once
    history = model.metadata["history"]
    assert len(history) == 2 and history[1]["train_loss"] < history[0]["train_loss"] * 1.5
