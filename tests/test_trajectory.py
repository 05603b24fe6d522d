"""The root's camera position: the perspective solve against the 2D, and the weak-perspective one."""
import numpy as np
import torch
from helpers import standing_pose

from ddhpose.geometry import project
from ddhpose.lifting.trajectory import weak_perspective_root


def test_weak_perspective_root_recovers_the_camera_position():
    pose, root, focal = standing_pose(), torch.tensor([0.4, -0.3, 5.0]), 2.3
    x2d = project(pose + root, torch.tensor([focal, focal, 0, 0, 0, 0, 0, 0, 0]))
    est = weak_perspective_root(pose, x2d, focal)
    np.testing.assert_allclose(est, root, rtol=0.05, atol=0.02)
