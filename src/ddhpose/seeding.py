"""Deterministic seeds derived from integers, so every random draw can be replayed."""
from __future__ import annotations

import enum

import numpy as np


class SeedTag(enum.IntEnum):
    """What a derived seed is for: ``derive_seed(seed, SeedTag.X, ...)`` keeps the random streams
    of different purposes apart. The values enter every run's draws: never renumber them."""

    INIT = 0  # the model's initial weights (train.initial_model)
    ORDER = 1  # the data order of an epoch (train.epoch_batches)
    DIFFUSION = 2  # a training step's diffusion steps t and noise
    DEPTH = 3  # a training step's stochastic depth, per rank
    EVAL = 4  # the training monitor's sampling, per test sequence
    SYNTHETIC = 5  # the synthetic training / test sequences (data.sources)
    MOCAP = 6  # the virtual cameras of motion-capture clips (data.sources)
    LENS = 7  # which training windows are given no focal length (model.lens_dropout)


def derive_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers (NumPy's SeedSequence); equal inputs, equal seed."""
    # a Python int before the shift: NumPy 1.x cannot shift a uint64 by a Python int
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, np.uint64)[0]) >> 1
