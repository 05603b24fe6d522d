"""Plan a training run to a wall-clock budget: measure the step time, then size the schedule.

A cosine schedule needs its step count up front; on a machine of unknown speed (a lent GPU,
a CPU probe of fixed minutes) the count comes from the config's own measured step time.
"""
from __future__ import annotations

import math
import tempfile
import time

import numpy as np
import torch

from ddhpose.experiment import ExperimentConfig

#: overrides that turn a config into its timing run: one long epoch, no monitor, no event files
TIMING_OVERRIDES = ["train.epochs=1", "train.max_steps_per_epoch=100000", "train.tensorboard=false",
                    "eval.max_sequences=0"]


def step_seconds(config: ExperimentConfig, seconds: float = 40.0, device: str | torch.device | None = None,
                 warmup: int = 5) -> float:
    """Median seconds per training step of ``config`` on ``device`` over about ``seconds`` after
    ``warmup`` steps (a throw-away run in a temporary folder; the data is loaded as training does)."""
    from ddhpose.training.train import TrainingInterrupted, train
    stamps: list[float] = []

    def callback(info: dict) -> bool:
        stamps.append(time.perf_counter())
        return len(stamps) > warmup and stamps[-1] - stamps[warmup] > seconds

    with tempfile.TemporaryDirectory() as out:
        try:
            train(config, out, device=device, step_callback=callback)
        except TrainingInterrupted:
            pass
    if len(stamps) < warmup + 2:
        raise ValueError(f"the timing run made only {len(stamps)} steps; give it more data or epochs")
    return float(np.median(np.diff(stamps[warmup:])))


def budget_steps(step_s: float, minutes: float) -> int:
    """The steps that fill ``minutes`` at ``step_s`` seconds each (at least 8)."""
    if step_s <= 0 or minutes <= 0:
        raise ValueError(f"a step budget needs step_s > 0 and minutes > 0; got {step_s}, {minutes}")
    return max(8, int(minutes * 60 / step_s))


def plan_epochs(step_s: float, minutes: float, evals: int) -> tuple[int, int]:
    """(epochs, steps per epoch) that fill ``minutes`` at ``step_s`` with ``evals`` monitor points
    (at least 8 steps in all)."""
    if evals < 1:
        raise ValueError(f"plan_epochs needs evals >= 1; got {evals}")
    return evals, math.ceil(budget_steps(step_s, minutes) / evals)
