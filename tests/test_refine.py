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


def _energy(v, r, p0, lengths, uv, weights, focal=FOCAL, centre=CENTRE, sigma_2d=0.02, sigma_3d=0.04, sigma_acc=0.01):
    """The module docstring's energy, written out again: 2D residual in metres at the root's
    depth (weights normalised to a mean of 1), distance from the model's pose, acceleration."""
    f, j = p0.shape[:2]
    x = (uv - torch.tensor(centre, dtype=torch.float64)) / focal
    w = weights / weights.sum() * f * j
    joints = compose(v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9), lengths, H36M)  # the root's slot is 0
    cam = joints + r[:, None]
    residual = (cam[..., :2] / cam[..., 2:] - x) * r[:, None, 2:]
    e = (w * residual.square().sum(-1)).sum() / sigma_2d ** 2 + (joints - p0).square().sum() / sigma_3d ** 2
    if sigma_acc > 0 and f >= 3:
        e = e + (cam[2:] - 2 * cam[1:-1] + cam[:-2]).square().sum() / sigma_acc ** 2
    return e / (f * j)


def _gradient(v, r, *args):
    v, r = v.clone().requires_grad_(True), r.clone().requires_grad_(True)
    _energy(v, r, *args).backward()
    tangent = v.grad - (v.grad * v).sum(-1, keepdim=True) * v / v.square().sum(-1, keepdim=True).clamp_min(1e-18)
    return float(torch.cat([tangent.flatten(), r.grad.flatten()]).detach().norm())


def test_the_refined_pose_is_the_minimum_of_the_stated_energy():
    # three frames (the acceleration term's least), the person 0.9 m from the camera, noisy 2D,
    # uneven weights, the root 5 cm off: at the result the energy's gradient vanishes (sigmas that
    # L-BFGS converges on in a few hundred steps)
    truth, root, uv, guess = _case(frames=3)
    root = root * torch.tensor([1.0, 1.0, 0.9 / 4.0], dtype=torch.float64)
    uv = _pixels(truth + root[:, None]) + 3.0 * torch.randn(uv.shape, generator=torch.Generator().manual_seed(7),
                                                             dtype=torch.float64)
    weights = torch.rand(uv.shape[:2], generator=torch.Generator().manual_seed(8), dtype=torch.float64) + 0.2
    start = root + torch.tensor([0.05, -0.03, 0.05], dtype=torch.float64)
    sigmas = dict(sigma_2d=0.1, sigma_3d=0.04, sigma_acc=0.05)
    pose, new_root = refine_to_2d(guess, start, uv, weights, FOCAL, CENTRE, H36M, steps=400, **sigmas)
    d0, lengths = decompose(guess, H36M)
    args = (guess, lengths, uv, weights, FOCAL, CENTRE, *sigmas.values())
    direction, _ = decompose(pose, H36M)
    assert _gradient(direction, new_root, *args) < 1e-3 * _gradient(d0, start, *args)
    assert float(_energy(direction, new_root, *args)) < float(_energy(d0, start, *args))


def test_defaults_weights_and_dtype():
    truth, root, uv, guess = _case(frames=4)
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    plain, plain_root = refine_to_2d(guess, root, uv, weights, FOCAL, CENTRE, H36M)
    spelled, spelled_root = refine_to_2d(guess, root, uv, weights, FOCAL, CENTRE, H36M, sigma_2d=0.02, sigma_3d=0.04,
                                         sigma_acc=0.01, steps=60)
    torch.testing.assert_close(plain, spelled)
    torch.testing.assert_close(plain_root, spelled_root)
    faint, faint_root = refine_to_2d(guess, root, uv, weights * 0.01, FOCAL, CENTRE, H36M)  # weights are relative
    torch.testing.assert_close(faint, plain)
    torch.testing.assert_close(faint_root, plain_root)
    single, single_root = refine_to_2d(guess.float(), root.float(), uv.float(), weights.float(), FOCAL, CENTRE, H36M)
    assert single.dtype == torch.float32 and single_root.dtype == torch.float32
    torch.testing.assert_close(single, plain.float(), atol=2e-3, rtol=0)  # float32 steps, same fit


def test_the_root_moves_onto_the_2d():
    truth, root, uv, _ = _case(frames=5)
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    _, new_root = refine_to_2d(truth, root + torch.tensor([0.08, 0.0, 0.0], dtype=torch.float64), uv, weights, FOCAL,
                               CENTRE, H36M, sigma_acc=0)
    assert float((new_root - root).norm(dim=-1).max()) < 0.005


def test_a_root_half_a_metre_away_is_in_front_and_one_at_the_camera_is_not():
    truth, root, uv, _ = _case(frames=3)
    near = root * torch.tensor([1.0, 1.0, 0.5 / 4.0], dtype=torch.float64)
    weights = torch.ones(uv.shape[:2], dtype=torch.float64)
    refine_to_2d(truth, near, _pixels(truth + near[:, None]), weights, FOCAL, CENTRE, H36M, steps=2)
    at = near.clone()
    at[1, 2] = 0.0
    with pytest.raises(ValueError, match="in front of the camera"):
        refine_to_2d(truth, at, uv, weights, FOCAL, CENTRE, H36M)
