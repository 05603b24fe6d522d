"""The focal length from the clip (ddhpose.lifting.focal): a known body (the CMU 02_01 walk of
tests/fixtures) filmed by a known pinhole camera, the estimator given its root-relative pose and
the 2D, with and without a lifter-like error on the pose."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddhpose.lifting.focal import estimate_focal, relative_reprojection_error

WALK = "tests/fixtures/cmu_02_01_walk_world.npz"
SIZE = (1920, 1080)
CENTRE = (SIZE[0] / 2, SIZE[1] / 2)


def walk_in_camera(depth: float = 5.0) -> np.ndarray:
    """(72, 17, 3) camera-frame joints of the walk towards a level camera ``depth`` metres from
    its start (3.3 m walked in depth: from about 6.7 to 3.4 m at depth 5)."""
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)
    return np.stack([w[..., 0] - 0.3, -(w[..., 2] - 1.2), w[..., 1] + depth], -1)


def film(joints: np.ndarray, focal: float) -> np.ndarray:
    return focal * joints[..., :2] / joints[..., 2:] + np.array(CENTRE)


def estimate(joints: np.ndarray, focal: float, pose_error: float = 0.0, seed: int = 0):
    pose = joints - joints[:, :1]
    pose = pose + np.random.default_rng(seed).normal(0, pose_error, pose.shape) * (np.arange(17) > 0)[:, None]
    uv = film(joints, focal)
    return estimate_focal(torch.from_numpy(pose), torch.from_numpy(uv), torch.ones(uv.shape[:2]), SIZE, CENTRE, 25.0)


@pytest.mark.parametrize("ratio", [0.6, 1.35, 3.0])
def test_the_focal_length_of_a_body_moving_in_depth_is_recovered(ratio):
    joints = walk_in_camera(5.0 if ratio < 2 else 12.0)
    e = estimate(joints, ratio * SIZE[0])
    assert e.identifiable, e.reason
    assert e.focal == pytest.approx(ratio * SIZE[0], rel=0.01)
    assert e.interval[0] <= e.focal <= e.interval[1] and e.interval[1] / e.interval[0] < 1.1
    assert e.depth_range > 2.5  # the walk's 3.3 m, less the 5-95 % trim


def test_a_lifter_like_pose_error_moves_the_estimate_little_where_the_body_moves_in_depth():
    e = estimate(walk_in_camera(), 0.6 * SIZE[0], pose_error=0.02)
    assert e.focal == pytest.approx(0.6 * SIZE[0], rel=0.1)
    assert e.interval[0] <= 0.6 * SIZE[0] <= e.interval[1]


def test_a_far_body_under_a_long_lens_cannot_tell_it():
    joints = walk_in_camera()
    still = joints - joints[:, :1] + joints[:1, :1] + np.array([0.0, 0.0, 15.0])  # walking on the spot, 20 m away
    e = estimate(still, 3.0 * SIZE[0], pose_error=0.02)
    assert not e.identifiable, e.reason
    assert e.interval[0] <= 3.0 * SIZE[0] <= e.interval[1]  # the truth among what fits as well
    assert e.interval[1] / e.interval[0] > 2 and "fitting as well" in e.reason


def test_too_few_frames_cannot_tell_it():
    e = estimate(walk_in_camera()[:5], 1.35 * SIZE[0])
    assert not e.identifiable and "fewer than" in e.reason


def test_the_reprojection_error_is_zero_under_the_true_focal_length_only():
    joints = walk_in_camera()
    pose, uv = torch.from_numpy(joints - joints[:, :1]), torch.from_numpy(film(joints, 1000.0))
    right, depth = relative_reprojection_error(pose, uv, torch.ones(uv.shape[:2]), 1000.0, CENTRE)
    wrong, _ = relative_reprojection_error(pose, uv, torch.ones(uv.shape[:2]), 1300.0, CENTRE)
    assert float(right.max()) < 1e-12 and bool((wrong > 1e-6).all())
    assert torch.allclose(depth, torch.from_numpy(joints[:, 0, 2]))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"expected pose \(F, J, 3\) and keypoints \(F, J, 2\)"):
        estimate_focal(torch.zeros(10, 17, 3), torch.zeros(10, 17, 3), torch.ones(10, 17), SIZE, CENTRE, 25.0)
