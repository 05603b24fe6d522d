"""Exact resume: a run stopped at any point and resumed ends with the same weights (and loss
history) as one never interrupted."""
from __future__ import annotations

import os
import signal
import sys

import pytest
import torch

from ddhpose.experiment import load_config
from ddhpose.training.state import TrainingProgress, load_training_state, restore_training_state, save_training_state
from ddhpose.training.train import TrainingInterrupted, train

# stochastic depth, random window offsets and 2D noise on: every source of randomness is exercised
OVERRIDES = ["train.tensorboard=false", "data.synthetic_sequences=3", "data.synthetic_frames=40",
             "data.synthetic_test_sequences=1", "train.epochs=2", "train.max_steps_per_epoch=4",
             "train.batch_size=4", "model.drop_path=0.2", "data.random_offset=true", "data.noise_2d.sigma=0.003",
             "data.noise_2d.outlier_prob=0.05", "train.grad_clip=1.0"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    result = train(load_config("tiny", OVERRIDES), out, device="cpu")
    return result, load_training_state(out / "last.pt")


def _assert_same(state, expected):
    assert state["model"].keys() == expected["model"].keys()
    for key, value in expected["model"].items():
        assert torch.equal(state["model"][key], value), key
    for a, b in zip(state["optimizer"]["state"].values(), expected["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in ("exp_avg", "exp_avg_sq"))
    assert state["progress"]["history"] == expected["progress"]["history"]
    assert state["progress"]["global_step"] == expected["progress"]["global_step"] == 8


def _stop_at(global_step):
    return lambda info: info["global_step"] == global_step


def test_stop_mid_epoch_saves_progress_and_resumes_exactly(tmp_path, reference):
    config = load_config("tiny", OVERRIDES)
    with pytest.raises(TrainingInterrupted, match=r"epoch 1, step 3/4.*--resume"):
        train(config, tmp_path, device="cpu", step_callback=_stop_at(3))
    progress = load_training_state(tmp_path / "last.pt")["progress"]
    assert (progress["epoch"], progress["step"], progress["global_step"]) == (0, 3, 3)
    train(config, tmp_path, resume=tmp_path / "last.pt", device="cpu")
    _assert_same(load_training_state(tmp_path / "last.pt"), reference[1])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_after_the_last_step_of_an_epoch(tmp_path, reference):
    config = load_config("tiny", OVERRIDES)
    handler = signal.getsignal(signal.SIGTERM)

    def terminate(info):  # what a cluster scheduler or torchrun sends
        if info["global_step"] == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="epoch 1, step 4/4"):
        train(config, tmp_path, device="cpu", step_callback=terminate)
    assert signal.getsignal(signal.SIGTERM) is handler  # the caller's handler is back
    progress = load_training_state(tmp_path / "last.pt")["progress"]
    assert (progress["epoch"], progress["step"], progress["history"]) == (0, 4, [])
    train(config, tmp_path, resume="auto", device="cpu")
    _assert_same(load_training_state(tmp_path / "last.pt"), reference[1])


def test_hard_kill_resumes_from_the_epoch_checkpoint(tmp_path, reference):
    config = load_config("tiny", OVERRIDES)

    def kill(info):  # like SIGKILL: nothing is saved at this step
        if info["global_step"] == 6:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        train(config, tmp_path, device="cpu", step_callback=kill)
    assert load_training_state(tmp_path / "last.pt")["progress"]["epoch"] == 1
    result = train(config, tmp_path, resume=tmp_path / "last.pt", device="cpu")
    _assert_same(load_training_state(tmp_path / "last.pt"), reference[1])
    assert result["best_mpjpe"] == reference[0]["best_mpjpe"]


def test_extending_a_finished_run_matches_a_longer_run(tmp_path, reference):
    train(load_config("tiny", OVERRIDES + ["train.epochs=1"]), tmp_path, device="cpu")
    train(load_config("tiny", OVERRIDES), tmp_path, resume=tmp_path / "last.pt", device="cpu")
    _assert_same(load_training_state(tmp_path / "last.pt"), reference[1])


def test_resume_refuses_a_different_model_or_trajectory_and_a_new_run_refuses_an_old_folder(tmp_path, reference):
    config = load_config("tiny", OVERRIDES)
    with pytest.raises(TrainingInterrupted):
        train(config, tmp_path, device="cpu", step_callback=_stop_at(2))
    with pytest.raises(ValueError, match=r"different model config; differing keys: depth: 2 -> 3; hrst: True -> False"):
        train(load_config("tiny", OVERRIDES + ["model.depth=3", "model.hrst=false"]), tmp_path,
              resume=tmp_path / "last.pt", device="cpu")
    with pytest.raises(ValueError, match="stopped mid-epoch with train.batch_size=4"):
        train(load_config("tiny", OVERRIDES + ["train.batch_size=2"]), tmp_path, resume=tmp_path / "last.pt",
              device="cpu")
    with pytest.raises(ValueError, match=r"different data / train config \(differing keys: train.lr: 0.001 -> 0.002; "
                                         r"train.seed: 0 -> 3\)"):
        train(load_config("tiny", OVERRIDES + ["train.lr=2e-3", "train.seed=3", "eval.hypotheses=2"]), tmp_path,
              resume=tmp_path / "last.pt", device="cpu")
    with pytest.raises(ValueError, match="already holds a training run .* --resume"):
        train(config, tmp_path, device="cpu")  # would overwrite the run's checkpoints
    with pytest.raises(ValueError, match="does not exist"):
        train(config, tmp_path, resume=tmp_path / "nope.pt", device="cpu")
    with pytest.raises(ValueError, match="not a ddhpose training checkpoint"):
        train(config, tmp_path, resume=tmp_path / "last.safetensors", device="cpu")


def test_training_state_write_is_atomic(tmp_path, monkeypatch):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    progress = dict(epoch=1, step=0, global_step=5, lr=1e-4, best_metric=None, best_epoch=0, history=[])
    path = tmp_path / "last.pt"
    save_training_state(path, model=model, optimizer=opt, progress=progress, config={"model": {}})
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"PK half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_training_state(path, model=model, optimizer=opt, progress=dict(progress, epoch=2), config={"model": {}})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    state = load_training_state(path)
    assert state["progress"]["epoch"] == 1 and isinstance(state["rng"]["torch"], torch.Tensor)


def test_progress_round_trips_through_a_checkpoint_as_a_plain_dict(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.AdamW(model.parameters())
    progress = TrainingProgress(epoch=3, step=2, global_step=14, lr=5e-4, best_metric=81.5, best_epoch=2,
                                history=[{"epoch": 1, "lr": 1e-3, "global_step": 4, "loss": 0.5, "mpjpe_mm": 90.0}],
                                sums=[1.0, 0.5, 0.25, 0.25], seed=7, world_size=2)
    save_training_state(tmp_path / "last.pt", model=model, optimizer=opt, progress=progress, config={"model": {}})
    stored = torch.load(tmp_path / "last.pt", weights_only=True)["progress"]  # primitives only
    assert type(stored) is dict and stored == progress.to_dict()
    assert list(stored) == ["epoch", "step", "global_step", "lr", "best_metric", "best_epoch", "history", "sums",
                            "seed", "world_size"]  # the keys (and order) checkpoints always had
    state = load_training_state(tmp_path / "last.pt")
    assert restore_training_state(state, model=model, optimizer=opt) == progress
    # a progress dict as older checkpoints hold it (no sums / seed / world_size) keeps the defaults
    old = dict(epoch=1, step=0, global_step=5, lr=1e-4, best_metric=None, best_epoch=0, history=[])
    save_training_state(tmp_path / "old.pt", model=model, optimizer=opt, progress=old, config={"model": {}})
    assert torch.load(tmp_path / "old.pt", weights_only=True)["progress"] == old  # a dict is stored as it is
    restored = restore_training_state(load_training_state(tmp_path / "old.pt"), model=model, optimizer=opt)
    assert restored == TrainingProgress(epoch=1, global_step=5, lr=1e-4)
    assert restored.sums == [0.0] * 4


def test_cli_resume_keeps_the_run_config_and_refuses_to_do_nothing(tmp_path, capsys):
    """The reported case: a run with overrides, interrupted, resumed without repeating them."""
    from ddhpose.cli import main
    config = load_config("tiny", OVERRIDES)
    with pytest.raises(TrainingInterrupted):
        train(config, tmp_path, device="cpu", step_callback=_stop_at(3))
    saved = (tmp_path / "config.yaml").read_text()
    assert main(["train", "-c", "tiny", "-o", str(tmp_path), "--resume", str(tmp_path / "last.pt")]) == 2
    err = capsys.readouterr().err
    assert "trained with a different" in err and f"resume with the run's own config (-c {tmp_path / 'config.yaml'})" in err
    assert (tmp_path / "config.yaml").read_text() == saved  # the run's settings are not lost
    # the documented recovery finishes the run, and leaves config.yaml as it was
    assert main(["train", "-c", str(tmp_path / "config.yaml"), "-o", str(tmp_path), "--resume", "auto"]) == 0
    assert (tmp_path / "config.yaml").read_text() == saved
    assert load_training_state(tmp_path / "last.pt")["progress"]["epoch"] == 2
    # a finished run resumed with no epochs left is refused, not a silent success
    assert main(["train", "-c", str(tmp_path / "config.yaml"), "-o", str(tmp_path), "--resume", "auto",
                 "train.epochs=1"]) == 2
    assert "would train nothing" in capsys.readouterr().err
    assert (tmp_path / "config.yaml").read_text() == saved
