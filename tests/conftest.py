"""Shared test set-up.

One intra-op thread, so tiny models are not slowed by thread contention on small shared CI
machines; and the released implementation's reference arrays (tests/fixtures) as the ``ref``
fixture.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.lifting.lifter import Lifter
from ddhpose.model.checkpoint import save_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose

torch.set_num_threads(1)

REFERENCE = Path(__file__).parent / "fixtures" / "official_h36m_f27.npz"


@pytest.fixture(scope="session")
def ref() -> dict[str, torch.Tensor]:
    """Every array the released code recorded (inputs, predictions, samples, metrics, losses)."""
    with np.load(REFERENCE) as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny random model (F = 9) saved in the package's format."""
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(model, path)
    return path


@pytest.fixture(scope="session")
def lifter(checkpoint):
    """A :class:`Lifter` of the tiny model on the CPU."""
    return Lifter.from_pretrained(checkpoint, device="cpu")
