"""Hypotheses to one pose, and one body per track: constant, symmetric bone lengths with the
predicted directions kept."""
from __future__ import annotations

import pytest
import torch
from helpers import standing_pose

from ddhpose.geometry import bone_lengths, decompose, project
from ddhpose.lifting.options import Camera
from ddhpose.lifting.postprocess import (aggregate, hypothesis_spread, standing_height, track_bone_lengths,
                                        with_bone_lengths)
from ddhpose.metrics import bone_length_variation, left_right_asymmetry
from ddhpose.skeleton import H36M, MPI_INF_3DHP, Skeleton


def _wobbly(frames: int = 20, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    pose = torch.randn(frames, 17, 3, generator=gen, dtype=torch.float64) * 0.3
    pose[:, 0] = 0
    return pose


def test_track_lengths_are_medians_with_twins_averaged():
    poses = _wobbly()
    lengths = track_bone_lengths(poses, H36M)
    per_frame = bone_lengths(poses, H36M)
    median = per_frame.median(0).values
    mirror = list(H36M.flip_permutation)
    torch.testing.assert_close(lengths, (median + median[mirror]) / 2)
    assert lengths[0] == 0
    torch.testing.assert_close(track_bone_lengths(poses, H36M, symmetric=False), median)


def test_recomposed_poses_have_fixed_lengths_and_the_same_directions():
    poses = _wobbly()
    assert bone_length_variation(poses, H36M) > 0.1
    lengths = track_bone_lengths(poses, H36M)
    fixed = with_bone_lengths(poses, lengths, H36M)
    assert fixed.shape == poses.shape
    torch.testing.assert_close(bone_lengths(fixed, H36M), lengths.expand(20, 17))
    torch.testing.assert_close(decompose(fixed, H36M)[0], decompose(poses, H36M)[0])
    assert bone_length_variation(fixed, H36M) < 1e-9 and left_right_asymmetry(fixed, H36M) < 1e-9
    torch.testing.assert_close(fixed[:, 0], torch.zeros(20, 3, dtype=torch.float64))
    # hypotheses (a leading axis) take the same lengths
    hyp = with_bone_lengths(torch.stack([poses, poses.flip(0)]), lengths, H36M)
    torch.testing.assert_close(hyp[0], fixed)


def test_rigid_track_is_unchanged():
    pose = _wobbly(1).expand(6, 17, 3)
    lengths = track_bone_lengths(pose, H36M, symmetric=False)
    torch.testing.assert_close(with_bone_lengths(pose, lengths, H36M), pose)


def test_smoothing_keeps_steady_motion_and_removes_jitter():
    from ddhpose.lifting.temporal import gaussian_kernel, smooth_in_time
    t = torch.arange(40, dtype=torch.float64)[:, None, None]
    line = t * torch.tensor([0.01, -0.02, 0.005], dtype=torch.float64) + torch.zeros(40, 17, 3, dtype=torch.float64)
    torch.testing.assert_close(smooth_in_time(line, 2.0), line)  # a steady motion is kept to the last frame
    gen = torch.Generator().manual_seed(1)
    noisy = line + 0.01 * torch.randn(40, 17, 3, generator=gen, dtype=torch.float64)
    smooth = smooth_in_time(noisy, 2.0)
    assert (smooth - line).abs().mean() < 0.5 * (noisy - line).abs().mean()
    assert torch.diff(smooth, n=2, dim=0).norm(dim=-1).mean() < 0.2 * torch.diff(noisy, n=2, dim=0).norm(dim=-1).mean()
    assert smooth_in_time(noisy, 0) is noisy
    torch.testing.assert_close(gaussian_kernel(1.0).sum(), torch.tensor(1.0, dtype=torch.float64))
    assert len(gaussian_kernel(1.0)) == 7
    short = smooth_in_time(noisy[:3], 5.0)  # a kernel wider than the clip is cut to it
    assert short.shape == (3, 17, 3) and torch.isfinite(short).all()


def test_standing_height_is_leg_plus_trunk_and_head():
    lengths = torch.arange(17, dtype=torch.float64) / 10  # slot j: the bone ending at joint j
    # H36M: legs ankle-knee-hip (3+2 and 6+5 tenths, averaged), trunk spine-thorax-neck-head (7+8+9+10)
    expected = ((0.3 + 0.2) + (0.6 + 0.5)) / 2 + (0.7 + 0.8 + 0.9 + 1.0)
    torch.testing.assert_close(standing_height(lengths, H36M), torch.tensor(expected, dtype=torch.float64))
    # a straight standing pose: the height is the head's height above the ankles
    pose = torch.zeros(17, 3, dtype=torch.float64)
    for leg in ([1, 4], [2, 5], [3, 6]):  # hips, knees, ankles straight below each other
        pose[leg, 0] = torch.tensor([-0.1, 0.1], dtype=torch.float64)
    pose[[2, 5], 1], pose[[3, 6], 1] = -0.45, -0.9
    pose[7, 1], pose[8, 1], pose[9, 1], pose[10, 1] = 0.25, 0.5, 0.6, 0.75
    pose[[11, 14], 1] = 0.5
    pose[[11, 14], 0] = torch.tensor([0.2, -0.2], dtype=torch.float64)
    pose[[12, 15], 1], pose[[13, 16], 1] = 0.2, -0.05
    pose[[12, 15], 0] = pose[[13, 16], 0] = torch.tensor([0.2, -0.2], dtype=torch.float64)
    lengths = track_bone_lengths(pose[None], H36M)
    torch.testing.assert_close(standing_height(lengths, H36M), pose[10, 1] - pose[3, 1])
    # batched, and the 3DHP skeleton (head_top and head both reach the neck; the longer counts)
    assert standing_height(torch.ones(4, 17), H36M).shape == (4,)
    torch.testing.assert_close(standing_height(torch.ones(17), MPI_INF_3DHP), torch.tensor(5.0))


def test_standing_height_needs_named_feet_and_head():
    unnamed = Skeleton(parents=(-1, 0, 1), joints_left=(), joints_right=())
    with pytest.raises(ValueError, match="needs joints named 'ankle' and 'head'"):
        standing_height(torch.ones(3), unnamed)


def test_j_agg_picks_the_hypothesis_that_reprojects():
    pose, root = standing_pose().double(), torch.tensor([0.2, 0.1, 4.0], dtype=torch.float64)
    camera = Camera(focal=1150.0, centre=(520.0, 490.0), source="given")
    intrinsics = torch.tensor([camera.focal, camera.focal, *camera.centre, 0, 0, 0, 0, 0], dtype=torch.float64)
    keypoints = project(pose + root, intrinsics)[None].repeat(3, 1, 1)  # pixels
    weights = torch.ones(3, 17, dtype=torch.float64)
    wrong = pose.clone()
    wrong[[3, 13, 16]] += torch.tensor([0.3, -0.2, 0.0], dtype=torch.float64)  # wrong ankle and wrists, off in 2D
    samples = torch.stack([wrong, pose])[:, None].repeat(1, 3, 1, 1)  # (H=2, F=3, 17, 3)
    chosen, used = aggregate(samples, keypoints, weights, camera, "j_agg")
    assert used == "j_agg"
    torch.testing.assert_close(chosen, pose[None].repeat(3, 1, 1))
    mean, used = aggregate(samples, keypoints, weights, camera, "p_agg")
    assert used == "p_agg"
    torch.testing.assert_close(mean, samples.mean(0))
    flat, used = aggregate(samples, torch.full_like(keypoints, float("nan")), weights, camera, "j_agg")
    assert used == "p_agg"  # J-Agg falls back to the mean where no frame's root can be solved
    torch.testing.assert_close(flat, samples.mean(0))
    spread = hypothesis_spread(samples)
    assert spread.shape == (3, 17) and spread[:, 3].gt(0).all() and spread[:, 0].eq(0).all()
