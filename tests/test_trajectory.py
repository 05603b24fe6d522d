"""The root's camera position: the perspective solve against the 2D, and the weak-perspective one."""
import numpy as np
import torch
from helpers import standing_pose

from ddhpose.geometry import project
from ddhpose.lifting.trajectory import fill_and_smooth, perspective_root, weak_perspective_root


def test_weak_perspective_root_recovers_the_camera_position():
    pose, root, focal = standing_pose(), torch.tensor([0.4, -0.3, 5.0]), 2.3
    x2d = project(pose + root, torch.tensor([focal, focal, 0, 0, 0, 0, 0, 0, 0]))
    est = weak_perspective_root(pose, x2d, focal)
    np.testing.assert_allclose(est, root, rtol=0.05, atol=0.02)


def _pixels(points: torch.Tensor, focal: float, centre: tuple[float, float]) -> torch.Tensor:
    return points[..., :2] / points[..., 2:] * focal + torch.tensor(centre, dtype=points.dtype)


def test_perspective_root_recovers_the_position_exactly_where_weak_perspective_cannot():
    pose = standing_pose().double()
    roots = torch.tensor([[0.4, -0.3, 5.0], [-1.2, 0.5, 2.0], [0.0, 0.2, 1.3]], dtype=torch.float64)
    focal, centre = 1200.0, (960.0, 540.0)
    uv = _pixels(pose + roots[:, None], focal, centre)
    got = perspective_root(pose.expand(3, -1, -1), uv, focal, centre)
    torch.testing.assert_close(got, roots, atol=1e-9, rtol=0)
    weak = weak_perspective_root(pose.expand(3, -1, -1), (uv - torch.tensor(centre)) / focal, 1.0)
    assert (weak - roots).norm(dim=-1).min() > 0.005  # scaled orthography is off by about 1 cm even here
    # scores weigh the joints: one joint detected 80 px off barely moves the solve when its weight is low
    bad = uv.clone()
    bad[:, 13] += 80.0
    weights = torch.ones(3, 17, dtype=torch.float64)
    weights[:, 13] = 0.01
    assert (perspective_root(pose.expand(3, -1, -1), bad, focal, centre, weights) - roots).norm(dim=-1).max() < 0.01
    assert (perspective_root(pose.expand(3, -1, -1), bad, focal, centre) - roots).norm(dim=-1).max() > 0.02


def test_a_failed_solve_is_nan_and_is_filled_from_its_neighbours():
    pose = standing_pose().double()
    root = torch.tensor([0.1, 0.0, 3.0], dtype=torch.float64)
    uv = _pixels(pose + root, 1000.0, (500.0, 500.0))
    weights = torch.zeros(17, dtype=torch.float64)
    weights[0] = 1.0  # one joint: 2 equations for 3 unknowns
    assert torch.isnan(perspective_root(pose, uv, 1000.0, (500.0, 500.0), weights)).all()
    track = torch.tensor([[0.0, 0, 3], [float("nan")] * 3, [0.2, 0, 3.2], [0.3, 0, 3.3]], dtype=torch.float64)
    filled = fill_and_smooth(track, 0.0)
    torch.testing.assert_close(filled[1], torch.tensor([0.1, 0, 3.1], dtype=torch.float64))
    assert torch.isnan(fill_and_smooth(torch.full((4, 3), float("nan")), 1.0)).all()
