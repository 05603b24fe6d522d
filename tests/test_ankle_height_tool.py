"""tools/ankle_height.py: the resting ankle's height over the leg, the figure behind
ddhpose.lifting.world.ANKLE_HEIGHT_RATIO, read from true world motion."""
from __future__ import annotations

import numpy as np
import pytest

from body_poses import standing
from ddhpose.geometry import Y_UP_TO_Z_UP
from scripts import load_script


@pytest.fixture(scope="module")
def tool():
    return load_script("tools/ankle_height.py")


def _z_up(yup: np.ndarray) -> np.ndarray:
    """(..., 3) y-up world points in the mocap's z-up world."""
    return yup @ np.asarray(Y_UP_TO_Z_UP).T


def test_a_person_standing_still_rests_at_their_ankles_height_over_the_leg(tool):
    yup = np.repeat(standing()[None], 50, axis=0)  # ankles 0.10 m above the floor, legs 0.90 m
    assert tool.resting_ratio(_z_up(yup), 25.0) == pytest.approx(0.10 / 0.90, rel=1e-9)


def test_a_clip_without_resting_feet_says_nothing(tool):
    yup = np.repeat(standing()[None], 50, axis=0)
    yup[:, :, 0] += np.arange(50)[:, None] * 0.2  # gliding at 5 m/s: no foot rests
    assert tool.resting_ratio(_z_up(yup), 25.0) is None


def test_the_data_sets_are_named_from_their_folders(tool):
    assert tool.dataset_of("data/bandai_bvh/dataset-1_walk_normal_001.bvh") == "Bandai Namco"
    assert tool.dataset_of("data/cmu_dance_martial/salsa/01.bvh") == "CMU dance / martial arts"
    assert tool.dataset_of("data/cmu_mocap/01/01_01.amc") == "CMU"
    assert tool.dataset_of("data/hdm05/HDM_bd_walk_001_120.amc") == "HDM05"
    assert tool.dataset_of("bandai_runs/cmu_mocap/02/02_01.amc") == "CMU"  # a folder's name, not a part of it
