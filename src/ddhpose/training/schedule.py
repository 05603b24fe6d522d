"""Learning-rate schedules: a pure function of where training stands, so a resumed run follows
exactly the curve of one never interrupted.

- ``exponential`` (the released recipe): ``lr * lr_decay ** epoch``, constant within an epoch;
- ``cosine``: linear warm-up over ``warmup_steps``, then a half cosine from ``lr`` down to
  ``lr * min_lr_ratio`` at the end of the last epoch;
- ``constant``: linear warm-up, then ``lr``.
"""
from __future__ import annotations

import math

from ddhpose.experiment import SCHEDULES


def learning_rate(schedule: str, lr: float, *, epoch: int, step: int, steps_in_epoch: int, epochs: int,
                  global_step: int, lr_decay: float = 1.0, warmup_steps: int = 0,
                  min_lr_ratio: float = 0.0) -> float:
    """The learning rate of the optimizer step about to run.

    Args:
        epoch, step: the 0-based epoch and the 0-based step within it; steps_in_epoch: how
            many steps that epoch has; epochs: how many epochs the run has.
        global_step: optimizer steps already taken (the warm-up counts these).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {list(SCHEDULES)}, got {schedule!r}")
    if schedule == "exponential":
        base = lr * lr_decay ** epoch
    elif schedule == "constant":
        base = lr
    else:
        done = (epoch + step / max(steps_in_epoch, 1)) / max(epochs, 1)
        ratio = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(max(done, 0.0), 1.0)))
        base = lr * ratio
    if warmup_steps > 0 and global_step < warmup_steps:
        base *= (global_step + 1) / warmup_steps
    return base
