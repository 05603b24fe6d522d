"""The training loop on the tiny synthetic config: it learns, writes its checkpoints atomically,
and the NaN guard stops without touching the last good checkpoint."""
from __future__ import annotations

import importlib.util
import json

import pytest
import torch

import ddhpose.training.step as train_step_module
import ddhpose.training.train as train_module
from ddhpose.data.sources import load_split
from ddhpose.data.synthetic import synthetic_sequences
from ddhpose.experiment import load_config
from ddhpose.geometry import bone_lengths, project
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.skeleton import H36M
from ddhpose.training.state import load_training_state
from ddhpose.training.train import NonFiniteLossError, epoch_batches, train

FAST = ["train.tensorboard=false", "data.synthetic_sequences=4", "data.synthetic_frames=60"]


def test_tiny_config_learns_and_writes_its_run_folder(tmp_path):
    config = load_config("tiny", ["train.tensorboard=false"])
    result = train(config, tmp_path, device="cpu")
    history = result["history"]
    assert [h["epoch"] for h in history] == [1, 2] and result["global_step"] == 48
    assert history[1]["loss"] < 0.8 * history[0]["loss"]
    assert history[1]["lr"] == pytest.approx(config.train.lr * config.train.lr_decay)
    assert all(0 < h["mpjpe_mm"] < 1000 for h in history)
    assert result["best_mpjpe"] == min(h["mpjpe_mm"] for h in history)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"config.yaml", "metrics.json", "last.pt", "best.pt", "last.safetensors", "best.safetensors"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind
    assert json.loads((tmp_path / "metrics.json").read_text()) == history
    state = load_training_state(tmp_path / "last.pt")
    assert (state["progress"]["epoch"], state["progress"]["step"]) == (2, 0)
    assert state["config"] == config.to_dict()
    exported = load_checkpoint(tmp_path / "last.safetensors")
    assert exported.config == config.model
    for key, value in exported.denoiser.state_dict().items():
        assert torch.equal(value, state["model"][f"denoiser.{key}"])
    assert load_config(tmp_path / "config.yaml") == config


def test_init_from_starts_from_a_checkpoints_weights_and_refuses_another_model(tmp_path):
    first = load_config("tiny", FAST + ["train.epochs=1"])
    train(first, tmp_path / "a", device="cpu")
    weights = tmp_path / "a" / "last.safetensors"
    tuned = train_module.initial_model(load_config("tiny", FAST + [f"train.init_from={weights}"]))
    trained = load_checkpoint(weights)
    assert all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), trained.state_dict().values()))
    fresh = train_module.initial_model(load_config("tiny", FAST))
    assert not all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    other = load_config("tiny", FAST + [f"train.init_from={weights}", "model.depth=1"])
    with pytest.raises(ValueError, match="model.depth: 2 there, 1 here"):
        train_module.initial_model(other)


def test_init_from_another_window_length_resamples_the_temporal_positions_only(tmp_path):
    first = load_config("tiny", FAST + ["train.epochs=1"])
    train(first, tmp_path / "a", device="cpu")
    weights = tmp_path / "a" / "last.safetensors"
    trained = load_checkpoint(weights).state_dict()
    frames = trained["denoiser.temporal_pos"].shape[1]
    longer = train_module.initial_model(load_config("tiny", FAST + [f"train.init_from={weights}",
                                                                    f"model.frames={2 * frames - 1}"]))
    state = longer.state_dict()
    pos, old = state["denoiser.temporal_pos"], trained["denoiser.temporal_pos"]
    assert pos.shape == (1, 2 * frames - 1, old.shape[2])
    # align_corners: every second position is an old one, those between the mean of their neighbours
    torch.testing.assert_close(pos[:, ::2], old, rtol=0, atol=1e-6)
    torch.testing.assert_close(pos[:, 1::2], (old[:, :-1] + old[:, 1:]) / 2, rtol=0, atol=1e-6)
    assert all(torch.equal(state[k], v) for k, v in trained.items() if k != "denoiser.temporal_pos")
    back = train_module.resample_frames(state, frames)
    torch.testing.assert_close(back["denoiser.temporal_pos"], old, rtol=0, atol=1e-6)


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = load_config("tiny", FAST + ["train.max_steps_per_epoch=3"])
    real, calls = train_step_module.pose_losses, {"n": 0}

    def poisoned(pred, target, skeleton, **kwargs):
        calls["n"] += 1
        out = real(pred, target, skeleton, **kwargs)
        if calls["n"] == 5:  # epoch 2, step 2
            out["total"] = out["total"] * float("nan")
        return out

    saved = {}

    def remember_last(info):  # the bytes of last.pt just before the poisoned step
        saved["bytes"] = (tmp_path / "last.pt").read_bytes() if (tmp_path / "last.pt").exists() else None

    monkeypatch.setattr(train_step_module, "pose_losses", poisoned)
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, step 2/3 .*global step 5.*last\.pt was left untouched"):
        train(config, tmp_path, device="cpu", step_callback=remember_last)
    assert saved["bytes"] is not None and (tmp_path / "last.pt").read_bytes() == saved["bytes"]
    state = load_training_state(tmp_path / "last.pt")
    assert (state["progress"]["epoch"], state["progress"]["step"]) == (1, 0)
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_guard_exits_non_zero_from_the_cli(tmp_path, monkeypatch, capsys):
    cli = pytest.importorskip("ddhpose.cli")
    real = train_step_module.pose_losses

    def poisoned(*args, **kwargs):
        out = real(*args, **kwargs)
        out["total"] = out["total"] + float("inf")
        return out

    monkeypatch.setattr(train_step_module, "pose_losses", poisoned)
    code = cli.main(["train", "-c", "tiny", "-o", str(tmp_path), *FAST, "train.max_steps_per_epoch=2"])
    assert code != 0
    assert "non-finite loss" in capsys.readouterr().err
    assert not (tmp_path / "last.pt").exists()


def test_epoch_batches_are_deterministic_full_permutations():
    a = epoch_batches(10, 4, seed=3, epoch=0)
    assert a.shape == (3, 4)
    assert set(a.flatten().tolist()) == set(range(10))
    assert torch.equal(a.flatten()[10:], a.flatten()[:2])  # padded by wrapping around
    assert torch.equal(a, epoch_batches(10, 4, seed=3, epoch=0))
    assert not torch.equal(a, epoch_batches(10, 4, seed=3, epoch=1))
    assert epoch_batches(3, 8, seed=0, epoch=0).shape == (1, 8)  # fewer items than one batch
    with pytest.raises(ValueError, match="empty"):
        epoch_batches(0, 4, 0, 0)


def test_given_draws_equal_the_model_forward_drawing_them():
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4, drop_path=0.0))
    x2d, y3d = torch.randn(3, 9, 17, 2), torch.randn(3, 9, 17, 3) * 0.3
    expected = model(x2d, y3d, generator=torch.Generator().manual_seed(7))
    t, noise = model.draw_diffusion(y3d.shape, torch.Generator().manual_seed(7), torch.device("cpu"))
    assert torch.equal(model(x2d, y3d, t, noise), expected)
    with pytest.raises(ValueError, match="both t and noise"):
        model(x2d, y3d, t)


def test_synthetic_sequences_are_rigid_projected_skeletons():
    seqs = synthetic_sequences(2, 50, seed=1)
    assert len(seqs) == 2 and seqs[0].poses_3d.shape == (50, 17, 3)
    assert not torch.equal(torch.from_numpy(seqs[0].poses_3d), torch.from_numpy(seqs[1].poses_3d))
    for seq in seqs:
        pose, traj = torch.from_numpy(seq.poses_3d), torch.from_numpy(seq.trajectory)
        lengths = bone_lengths(pose, H36M)
        assert torch.allclose(lengths, lengths[:1].expand_as(lengths), atol=1e-5)  # bones keep their length
        assert (traj[..., 2] > 2.5).all()  # in front of the camera
        reprojected = project(pose + traj, torch.from_numpy(seq.intrinsics))
        assert torch.allclose(reprojected, torch.from_numpy(seq.keypoints_2d), atol=1e-5)
        assert seq.valid.mean() >= 0.95  # the whole body is in the image in (almost) every frame
    again = synthetic_sequences(2, 50, seed=1)
    assert all((a.keypoints_2d == b.keypoints_2d).all() for a, b in zip(seqs, again))
    config = load_config("tiny")
    assert len(load_split(config.data, "test", 0)) == config.data.synthetic_test_sequences
    with pytest.raises(ValueError, match="split must be"):
        load_split(config.data, "val")


def test_bf16_autocast_on_cpu_and_fp16_refused(tmp_path):
    config = load_config("tiny", FAST + ["train.amp=bf16", "train.epochs=1", "train.max_steps_per_epoch=2"])
    result = train(config, tmp_path / "bf16", device="cpu")
    assert torch.isfinite(torch.tensor(result["loss"]))
    with pytest.raises(ValueError, match="fp16 needs CUDA"):
        train(load_config("tiny", FAST + ["train.amp=fp16"]), tmp_path / "fp16", device="cpu")


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard not installed")
def test_tensorboard_scalars_are_written(tmp_path):
    config = load_config("tiny", FAST[1:] + ["train.epochs=1", "train.max_steps_per_epoch=2", "train.log_every=1"])
    train(config, tmp_path, device="cpu")
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_random_offsets_set_each_epochs_step_count(tmp_path):
    import math

    from ddhpose.data.windows import TrainWindows
    from ddhpose.skeleton import H36M

    # seed 2: the later epochs have more windows than the first, which a fixed step count would cut
    overrides = FAST + ["data.random_offset=true", "train.epochs=4", "train.eval_every=10", "data.synthetic_frames=40",
                        "train.batch_size=1", "train.seed=2"]
    config = load_config("tiny", overrides)
    result = train(config, tmp_path, device="cpu")
    windows = TrainWindows(load_split(config.data, "train", config.train.seed), config.model.frames, H36M,
                           random_offset=True, seed=config.train.seed)
    expected = []
    for epoch in range(4):
        windows.set_epoch(epoch)
        expected.append(math.ceil(len(windows) / config.train.batch_size))
    assert max(expected[1:]) > expected[0]  # the offsets do grow the window count here
    steps = [h["global_step"] for h in result["history"]]
    assert [b - a for a, b in zip([0] + steps, steps)] == expected




def test_a_broken_tensorboard_is_named_as_broken_not_missing(tmp_path, monkeypatch, capsys):
    """Installed beside a protobuf it cannot use, tensorboard fails to import: the message says so
    (it used to say 'not installed'), and training goes on without it."""
    import builtins
    import importlib.util
    if importlib.util.find_spec("tensorboard") is None:
        pytest.skip("tensorboard is not installed")
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("cannot import name 'runtime_version' from 'google.protobuf'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    assert train_module._tensorboard(True, tmp_path / "tb", 0) is None
    out = capsys.readouterr().out
    assert "installed but cannot be imported" in out and "runtime_version" in out and "not installed" not in out
