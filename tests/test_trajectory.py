"""The root's camera position: the perspective solve against the 2D, and the weak-perspective one."""
import numpy as np
import pytest
import torch
from helpers import standing_pose

from ddhpose.geometry import project
from ddhpose.lifting.trajectory import (MIN_DEPTH, fill_and_smooth, joint_weights, perspective_root,
                                       weak_perspective_root)


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


def test_joint_weights_are_scores_at_least_005_and_a_tenth_where_filled_in():
    missing = np.array([[False, False, False, True, True, False]])
    scores = np.array([[0.9, 0.01, np.nan, 0.6, 1.7, 1.0]])
    weights = joint_weights(missing, scores)
    assert weights.dtype == torch.float64
    torch.testing.assert_close(weights, torch.tensor([[0.9, 0.05, 0.05, 0.06, 0.1, 1.0]], dtype=torch.float64))


def test_weak_perspective_root_is_exact_under_scaled_orthography():
    # x2d = s (pose_xy + T_xy) + centre with s = focal / T_z: the model it inverts, per frame
    pose = standing_pose().double().expand(2, -1, -1)
    roots = torch.tensor([[0.4, -0.3, 5.0], [-0.2, 0.1, 2.5]], dtype=torch.float64)
    focal, centre = 1.5, torch.tensor([0.1, -0.2], dtype=torch.float64)
    x2d = (focal / roots[:, None, 2:]) * (pose[..., :2] + roots[:, None, :2]) + centre
    torch.testing.assert_close(weak_perspective_root(pose, x2d, focal, centre), roots)


def test_perspective_root_needs_two_weighted_joints_in_front_of_the_camera():
    pose = standing_pose().double()
    root = torch.tensor([0.1, 0.0, 3.0], dtype=torch.float64)
    focal, centre = 1000.0, (500.0, 500.0)
    uv = _pixels(pose + root, focal, centre)
    two = torch.zeros(17, dtype=torch.float64)
    two[[3, 10]] = 1.0  # an ankle and the head: 4 equations for 3 unknowns
    torch.testing.assert_close(perspective_root(pose, uv, focal, centre, two), root)
    negative = -torch.ones(17, dtype=torch.float64)
    negative[[3, 10]] = 1.0  # a negative weight counts as 0
    torch.testing.assert_close(perspective_root(pose, uv, focal, centre, negative), root)
    # a joint nearer the camera than MIN_DEPTH: the solve is refused
    close = torch.tensor([0.0, 0.0, MIN_DEPTH + 0.05], dtype=torch.float64)
    near = _pixels(pose + close, focal, centre)  # a leg points 0.05 m towards the camera: z 0.1 + 0.05
    assert pose[:, 2].min() == pytest.approx(0.0) and torch.isfinite(perspective_root(pose, near, focal, centre)).all()
    tilted = pose.clone()
    tilted[13, 2] = -0.1  # a wrist 0.1 m towards the camera: 0.05 m in front of it
    assert torch.isnan(perspective_root(tilted, _pixels(tilted + close, focal, centre), focal, centre)).all()


def test_perspective_root_minimises_the_reprojection_error_in_pixels():
    # with noisy 2D, the solve is the least-squares fit of the reprojection itself, not of the
    # linear equations (which weigh far joints more)
    least_squares = pytest.importorskip("scipy.optimize").least_squares
    pose = standing_pose().double()
    pose[[3, 6], 2] = torch.tensor([0.6, -0.6], dtype=torch.float64)  # the feet far apart in depth
    root = torch.tensor([0.3, 0.2, 1.8], dtype=torch.float64)
    focal, centre = 1000.0, (500.0, 500.0)
    noisy = _pixels(pose + root, focal, centre) + 6.0 * torch.randn(17, 2, generator=torch.Generator().manual_seed(0),
                                                                    dtype=torch.float64)
    weights = torch.linspace(0.3, 1.0, 17, dtype=torch.float64)

    def residual(t):
        t = torch.as_tensor(t, dtype=torch.float64)
        return ((_pixels(pose + t, focal, centre) - noisy) * weights[:, None].sqrt()).reshape(-1).numpy()

    def cost(t):
        return float((residual(t) ** 2).sum())

    best = least_squares(residual, root.numpy(), xtol=1e-14, ftol=1e-14).x
    got = perspective_root(pose, noisy, focal, centre, weights).numpy()
    # one reweighting by the first solve's depths: within 1.5 mm of the optimum, its error within
    # 0.1 % of the least (the linear equations alone: 6.6 mm off, 2.5 % more error)
    assert np.abs(got - best).max() < 1.5e-3 and cost(got) < 1.001 * cost(best)


def test_fill_and_smooth_interpolates_holds_the_ends_and_keeps_a_steady_motion():
    t = torch.arange(8, dtype=torch.float64)[:, None]
    steady = torch.cat([0.1 * t, 0.0 * t, 3.0 + 0.05 * t], -1)
    holes = steady.clone()
    holes[[0, 3, 4, 7]] = float("nan")
    filled = fill_and_smooth(holes, 0.0)
    torch.testing.assert_close(filled[1:7], steady[1:7])
    torch.testing.assert_close(filled[0], steady[1])
    torch.testing.assert_close(filled[7], steady[6])
    ends = torch.full((5, 3), float("nan"), dtype=torch.float64)
    ends[[1, 2]] = steady[[1, 2]]  # two known frames: held before the first and after the last
    torch.testing.assert_close(fill_and_smooth(ends, 0.0), steady[[1, 1, 2, 2, 2]])
    torch.testing.assert_close(fill_and_smooth(steady, 2.0), steady)  # smoothing keeps a steady motion
    jitter = steady + 0.02 * torch.tensor([1.0, -1.0] * 4, dtype=torch.float64)[:, None]
    assert (fill_and_smooth(jitter, 1.5) - steady)[2:-2].abs().max() < 0.01  # the ends are kept
    one = torch.full((5, 3), float("nan"), dtype=torch.float64)
    one[2] = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(fill_and_smooth(one, 0.0), one[2].expand(5, 3))  # one known frame: held


def test_perspective_root_judges_each_frame_on_its_own():
    # a batch of four frames: one fine, one without weights, one with a single weighted joint and
    # one with a wrist closer to the camera than MIN_DEPTH: only the three bad frames are NaN
    pose = standing_pose().double().expand(4, -1, -1).clone()
    roots = torch.tensor([[0.1, 0.0, 3.0], [0.1, 0.0, 3.0], [0.1, 0.0, 3.0], [0.0, 0.0, MIN_DEPTH + 0.05]],
                         dtype=torch.float64)
    pose[3, 13, 2] = -0.1
    focal, centre = 1000.0, (500.0, 500.0)
    uv = _pixels(pose + roots[:, None], focal, centre)
    weights = torch.ones(4, 17, dtype=torch.float64)
    weights[1:3] = 0.0
    weights[2, 0] = 1.0
    got = perspective_root(pose, uv, focal, centre, weights)
    torch.testing.assert_close(got[0], roots[0])
    assert torch.isnan(got[1:]).all()
