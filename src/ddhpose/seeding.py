"""Deterministic seeds derived from integers, so every random draw can be replayed."""
from __future__ import annotations

import numpy as np


def derive_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers (NumPy's SeedSequence); equal inputs, equal seed."""
    # a Python int before the shift: NumPy 1.x cannot shift a uint64 by a Python int
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, np.uint64)[0]) >> 1
