"""The 2D-consistent refinement: toward the 2D, bone lengths and depth order kept, smooth, weighted."""
import numpy as np
import pytest
import torch

from ddhpose.data.synthetic import synthetic_motion
from ddhpose.geometry import bone_lengths, compose, decompose
from ddhpose.lifting.refine import refine_to_2d
from ddhpose.skeleton import H36M

FOCAL, CENTRE = 1000.0, (500.0, 500.0)


def _pixels(points: torch.Tensor) -> torch.Tensor:
    return points[..., :2] / points[..., 2:] * FOCAL + torch.tensor(CENTRE, dtype=points.dtype)


def _case(frames: int = 40, seed: int = 0):
    """A true motion, its exact pixels and a wrong guess of it: every bone direction turned by
    noise that is smooth in time (as a lifter's errors are), lengths kept; root at 4 m."""
    truth = synthetic_motion(frames, torch.Generator().manual_seed(seed)).double()
    truth = truth - truth[:, :1]
    root = torch.tensor([0.2, -0.1, 4.0], dtype=torch.float64).expand(frames, 3).clone()
    direction, length = decompose(truth, H36M)
    gen = torch.Generator().manual_seed(seed + 1)
    offset = 0.25 * torch.randn((1, 17, 3), generator=gen, dtype=torch.float64)
    turned = direction + offset + 0.02 * torch.randn(direction.shape, generator=gen, dtype=torch.float64)
    guess = compose(turned / turned.norm(dim=-1, keepdim=True), length, H36M)
    return truth, root, _pixels(truth + root[:, None]), guess


def _error(a, b) -> float:
    return float((a - b).norm(dim=-1).mean())


def test_refinement_moves_a_wrong_pose_toward_the_truth_and_onto_the_2d():
    truth, root, uv, guess = _case()
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    pose, new_root = refine_to_2d(guess, root + 0.1, uv, weights, FOCAL, CENTRE, H36M, sigma_2d=0.01)
    assert _error(pose, truth) < 0.7 * _error(guess, truth)
    before = (_pixels(guess + (root + 0.1)[:, None]) - uv).norm(dim=-1).mean()
    after = (_pixels(pose + new_root[:, None]) - uv).norm(dim=-1).mean()
    assert after < 0.3 * before
    torch.testing.assert_close(bone_lengths(pose, H36M), bone_lengths(guess, H36M))  # lengths kept, frame by frame
    assert pose.dtype == guess.dtype and new_root.shape == root.shape


def test_a_pose_that_already_reprojects_stays_where_it_is():
    truth, root, uv, _ = _case()
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    pose, new_root = refine_to_2d(truth, root, uv, weights, FOCAL, CENTRE, H36M, sigma_acc=0)
    assert _error(pose, truth) < 1e-4 and float((new_root - root).norm(dim=-1).max()) < 1e-4


def test_noisier_2d_moves_the_pose_less_and_weights_mute_a_joint():
    truth, root, uv, guess = _case()
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    trusted, _ = refine_to_2d(guess, root, uv, weights, FOCAL, CENTRE, H36M, sigma_2d=0.005)
    doubted, _ = refine_to_2d(guess, root, uv, weights, FOCAL, CENTRE, H36M, sigma_2d=0.1)
    assert _error(doubted, guess) < 0.5 * _error(trusted, guess)
    wrist = H36M.names.index("left_wrist")
    bad = uv.clone()
    bad[:, wrist] += 150.0  # a detection far off
    muted = weights.clone()
    muted[:, wrist] = 0.0
    ignored, _ = refine_to_2d(guess, root, bad, muted, FOCAL, CENTRE, H36M)
    followed, _ = refine_to_2d(guess, root, bad, weights, FOCAL, CENTRE, H36M)
    assert _error(ignored[:, wrist], truth[:, wrist]) < _error(followed[:, wrist], truth[:, wrist])


def test_depth_order_of_the_model_is_kept_against_the_mirror_solution():
    # a forearm pointing at the camera: its mirror (pointing away) reprojects the same, the fit
    # must not flip it even from a start that is only slightly off
    truth, root, uv, _ = _case(frames=10)
    elbow, wrist = H36M.names.index("left_elbow"), H36M.names.index("left_wrist")
    direction, length = decompose(truth, H36M)
    direction[:, wrist] = torch.tensor([0.0, 0.3, -1.0], dtype=torch.float64) / np.sqrt(1.09)
    truth = compose(direction, length, H36M)
    uv = _pixels(truth + root[:, None])
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    pose, _ = refine_to_2d(truth, root, uv + 3.0, weights, FOCAL, CENTRE, H36M, sigma_3d=1.0)
    assert bool(((pose[:, wrist, 2] - pose[:, elbow, 2]) < 0).all())


def test_the_temporal_term_smooths_a_jittering_fit():
    truth, root, uv, guess = _case(frames=60)
    gen = torch.Generator().manual_seed(5)
    noisy = uv + 4.0 * torch.randn(uv.shape, generator=gen, dtype=torch.float64)
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)

    def accel(p):
        return float((p[2:] - 2 * p[1:-1] + p[:-2]).norm(dim=-1).mean())

    rough, _ = refine_to_2d(guess, root, noisy, weights, FOCAL, CENTRE, H36M, sigma_acc=0)
    smooth, _ = refine_to_2d(guess, root, noisy, weights, FOCAL, CENTRE, H36M, sigma_acc=0.005)
    assert accel(smooth) < 0.6 * accel(rough)


def test_bad_shapes_and_a_root_behind_the_camera_are_refused():
    truth, root, uv, _ = _case(frames=5)
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    with pytest.raises(ValueError, match="keypoints"):
        refine_to_2d(truth, root, uv[:, :16], weights, FOCAL, CENTRE, H36M)
    with pytest.raises(ValueError, match="in front of the camera"):
        refine_to_2d(truth, root * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64), uv, weights, FOCAL, CENTRE,
                     H36M)
