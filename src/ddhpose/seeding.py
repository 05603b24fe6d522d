"""Deterministic seeds derived from integers, so every random draw can be replayed."""
from __future__ import annotations

import numpy as np


def derive_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from integers (NumPy's SeedSequence); equal inputs, equal seed."""
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1, np.uint64)[0] >> 1)
