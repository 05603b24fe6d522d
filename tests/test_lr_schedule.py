"""Learning-rate schedules: the released exponential decay, cosine and constant with warm-up,
and a cosine run that resumes exactly."""
from __future__ import annotations

import math

import pytest
import torch

from ddhpose.experiment import load_config
from ddhpose.training.schedule import learning_rate
from ddhpose.training.state import load_training_state
from ddhpose.training.train import TrainingInterrupted, train


def _lr(schedule, epoch, step, **kw):
    args = dict(steps_in_epoch=10, epochs=4, global_step=epoch * 10 + step, lr_decay=0.5)
    args.update(kw)
    return learning_rate(schedule, 1e-3, epoch=epoch, step=step, **args)


def test_exponential_is_the_released_per_epoch_decay():
    assert [_lr("exponential", e, 3) for e in range(3)] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert _lr("exponential", 1, 0) == _lr("exponential", 1, 9)  # constant within an epoch


def test_cosine_starts_at_lr_and_ends_at_the_floor():
    assert _lr("cosine", 0, 0, min_lr_ratio=0.1) == pytest.approx(1e-3)
    assert _lr("cosine", 2, 0, min_lr_ratio=0.1) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))  # half way
    assert _lr("cosine", 3, 10, min_lr_ratio=0.1) == pytest.approx(1e-4)  # after the last step
    values = [_lr("cosine", e, s) for e in range(4) for s in range(10)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_warmup_is_linear_in_global_steps_then_the_schedule():
    warm = [learning_rate("constant", 1e-3, epoch=0, step=s, steps_in_epoch=100, epochs=1, global_step=s,
                          warmup_steps=4) for s in range(6)]
    assert warm == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    cos = learning_rate("cosine", 1e-3, epoch=0, step=1, steps_in_epoch=10, epochs=1, global_step=1, warmup_steps=4)
    assert cos == pytest.approx(0.5 * 1e-3 * 0.5 * (1 + math.cos(math.pi * 0.1)))


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate("linear", 1e-3, epoch=0, step=0, steps_in_epoch=1, epochs=1, global_step=0)
    with pytest.raises(ValueError, match="train.schedule must be one of"):
        load_config("tiny", ["train.schedule=linear"])


OVERRIDES = ["train.tensorboard=false", "data.synthetic_sequences=3", "data.synthetic_frames=40",
             "data.synthetic_test_sequences=1", "train.epochs=2", "train.max_steps_per_epoch=4",
             "train.batch_size=4", "train.schedule=cosine", "train.warmup_steps=3", "train.min_lr_ratio=0.05"]


def test_cosine_run_sets_the_lr_per_step_and_resumes_exactly(tmp_path):
    config = load_config("tiny", OVERRIDES)
    seen = []
    train(config, tmp_path / "a", device="cpu", step_callback=lambda info: seen.append(info["global_step"]))
    full = load_training_state(tmp_path / "a" / "last.pt")
    lrs = [h["lr"] for h in full["progress"]["history"]]
    assert lrs[-1] == pytest.approx(learning_rate("cosine", 1e-3, epoch=1, step=3, steps_in_epoch=4, epochs=2,
                                                  global_step=7, warmup_steps=3, min_lr_ratio=0.05))
    with pytest.raises(TrainingInterrupted):
        train(config, tmp_path / "b", device="cpu", step_callback=lambda info: info["global_step"] == 2)
    train(config, tmp_path / "b", resume=tmp_path / "b" / "last.pt", device="cpu")
    resumed = load_training_state(tmp_path / "b" / "last.pt")
    for key, value in full["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    assert resumed["progress"]["history"] == full["progress"]["history"]
