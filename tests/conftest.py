"""Shared test set-up.

One intra-op thread, so tiny models are not slowed by thread contention on small shared CI
machines; and the released implementation's reference arrays (tests/fixtures) as the ``ref``
fixture.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REFERENCE = Path(__file__).parent / "fixtures" / "official_h36m_f27.npz"


@pytest.fixture(scope="session")
def ref() -> dict[str, torch.Tensor]:
    """Every array the released code recorded (inputs, predictions, samples, metrics, losses)."""
    with np.load(REFERENCE) as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}
