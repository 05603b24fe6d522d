"""The focal length from the clip (ddhpose.lifting.focal): a known body (the CMU 02_01 walk of
tests/fixtures) filmed by a known pinhole camera, the estimator given its root-relative pose and
the 2D, with and without a lifter-like error on the pose."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ddhpose.lifting.focal import (CHI2, CORRELATION_SECONDS, GRID_PER_E, MAX_FRAMES, MAX_INTERVAL_RATIO, MIN_FRAMES,
                                   SEARCH_RATIOS, estimate_focal, relative_reprojection_error)

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


def inputs(joints: np.ndarray, focal: float, pose_error: float = 0.0, seed: int = 0):
    """The estimator's pose (root-relative, a lifter-like error of ``pose_error`` metres per joint
    and axis), 2D (filmed under ``focal``) and weights (all 1), as tensors."""
    pose = joints - joints[:, :1]
    pose = pose + np.random.default_rng(seed).normal(0, pose_error, pose.shape) * (np.arange(17) > 0)[:, None]
    uv = film(joints, focal)
    return torch.from_numpy(pose), torch.from_numpy(uv), torch.ones(uv.shape[:2])


def grid_spacing() -> float:
    """The search grid's step in log focal length (SEARCH_RATIOS, GRID_PER_E)."""
    span = math.log(SEARCH_RATIOS[1] / SEARCH_RATIOS[0])
    return span / max(2, round(span * GRID_PER_E))


def estimate(joints: np.ndarray, focal: float, pose_error: float = 0.0, seed: int = 0, fps: float = 25.0):
    return estimate_focal(*inputs(joints, focal, pose_error, seed), SIZE, CENTRE, fps)


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
    odd = torch.from_numpy(film(joints, 1234.5678))  # a focal length float32 cannot hold: solved in float64
    assert float(relative_reprojection_error(pose, odd, torch.ones(uv.shape[:2]), 1234.5678, CENTRE)[0].max()) < 1e-24


def test_bad_shapes_are_refused():
    for pose, keypoints in (((10, 17, 3), (10, 17, 3)), ((10, 17, 2), (10, 17, 2)), ((17, 3), (17, 2))):
        with pytest.raises(ValueError, match=r"expected pose \(F, J, 3\) and keypoints \(F, J, 2\)"):
            estimate_focal(torch.zeros(pose), torch.zeros(keypoints), torch.ones(keypoints[:-1]), SIZE, CENTRE, 25.0)


@pytest.mark.parametrize("frames, fps, pose_error, depth, ratio", [
    (72, 25.0, 0.01, 5.0, 1.35), (72, 100.0, 0.005, 5.0, 1.35), (216, 25.0, 0.01, 5.0, 1.35),
    (72, 25.0, 0.04, 12.0, 1.35),  # the interval reaches the search's long end
    (72, 25.0, 0.04, 12.0, 0.6)])  # ... and both ends
def test_the_interval_is_every_focal_length_fitting_within_the_chi2_limit(frames, fps, pose_error, depth, ratio):
    # the rule of the module's docstring, read back from the cost itself: the interval's ends fit within
    # min x (1 + CHI2 / n), n = the searched frames' span in units of CORRELATION_SECONDS; the grid's
    # next focal lengths beyond them do not; the clip tells f where the interval is narrow and inside
    joints = walk_in_camera(depth)
    joints = np.concatenate([joints, joints[::-1], joints])[:frames]  # over MAX_FRAMES: every other frame
    pose, uv, w = inputs(joints, ratio * SIZE[0], pose_error, seed=1)
    e = estimate_focal(pose, uv, w, SIZE, CENTRE, fps)
    step = math.ceil(frames / MAX_FRAMES)
    assert e.frames == len(range(0, frames, step))

    def cost(f: float) -> float:
        return float(relative_reprojection_error(pose[::step], uv[::step], w[::step], f, CENTRE)[0].mean())
    minimum = cost(e.focal)
    assert minimum <= min(cost(e.focal * 0.995), cost(e.focal * 1.005))
    limit = minimum * (1 + CHI2 / max(1.0, frames / (fps * CORRELATION_SECONDS)))
    low, high = e.interval
    assert cost(low) <= limit and cost(high) <= limit
    first = SEARCH_RATIOS[0] * SIZE[0]
    for end in (low, high):  # each end on the search's grid (or the estimate itself)
        steps = math.log(end / first) / grid_spacing()
        assert end == pytest.approx(e.focal, rel=1e-12) or steps == pytest.approx(round(steps), abs=1e-3)  # float32 grid
    beyond = math.exp(grid_spacing())
    at_start, at_stop = low < first * 1.0001, high > SEARCH_RATIOS[1] * SIZE[0] * 0.9999
    assert at_start or cost(low / beyond) > limit
    assert at_stop or cost(high * beyond) > limit
    assert e.identifiable is (not (at_start or at_stop) and high / low <= MAX_INTERVAL_RATIO)
    assert f"{low:.0f}-{high:.0f} px fitting as well; {e.frames} frames" in e.reason


def test_a_looser_clip_or_a_faster_frame_rate_widens_the_interval():
    # the same 72 frames at 100 frames/s span a quarter of the time: fewer independent frames
    joints = walk_in_camera()
    slow = estimate(joints, 1.35 * SIZE[0], pose_error=0.005)
    fast = estimate(joints, 1.35 * SIZE[0], pose_error=0.005, fps=100.0)
    assert fast.interval[0] < slow.interval[0] and fast.interval[1] > slow.interval[1]
    assert slow.identifiable and not fast.identifiable


def test_the_estimate_is_refined_past_the_grid():
    # exact 2D: the golden-section search ends within a small fraction of the grid's 10 % step, the
    # truth anywhere between two grid points (above and below the nearest one)
    near = [SEARCH_RATIOS[0] * math.exp((round(math.log(r / SEARCH_RATIOS[0]) / grid_spacing()) + k) * grid_spacing())
            for r, k in ((0.6, 0.4), (1.35, -0.4), (3.0, 0.25), (0.8, -0.25))]
    # ... and between the search's first two grid points or its last two (the bracket at an end)
    near += [SEARCH_RATIOS[0] * math.exp(0.6 * grid_spacing()), SEARCH_RATIOS[1] * math.exp(-0.6 * grid_spacing())]
    for ratio in (0.6, 1.35, 3.0, *near):
        e = estimate(walk_in_camera(5.0 if ratio < 2 else 12.0), ratio * SIZE[0])
        assert e.focal == pytest.approx(ratio * SIZE[0], rel=1e-3)
        assert e.frames == 72
        truth = walk_in_camera(5.0 if ratio < 2 else 12.0)[:, 0, 2]
        assert e.depth_range == pytest.approx(float(np.quantile(truth, 0.95) - np.quantile(truth, 0.05)), rel=0.01)


@pytest.mark.parametrize("ratio", [SEARCH_RATIOS[0], SEARCH_RATIOS[1]])
def test_a_focal_length_at_the_search_end_is_found_but_not_told(ratio):
    # the minimum on the grid's first or last point: nothing beyond it was searched, so it is not used
    e = estimate(walk_in_camera(12.0), ratio * SIZE[0])
    assert e.focal == pytest.approx(ratio * SIZE[0], rel=1e-3)
    assert not e.identifiable


def test_undetected_frames_and_joints_without_weight_are_left_out():
    joints = walk_in_camera()
    pose, uv, w = inputs(joints, 0.6 * SIZE[0], 0.0)
    uv, w = uv.clone(), w.clone()
    undetected = torch.zeros(len(uv), dtype=torch.bool)
    undetected[10:20] = True
    uv[10:20] = 5000.0  # what an undetected frame holds: nothing that belongs to the body
    w[30:35, 3:] = 0.0  # three joints left: still solved
    w[40:45, 2:] = 0.0  # two joints left: too few for the search
    uv[40:45, 2:] = -3000.0
    w[50, 5], uv[50, 5] = -1.0, 7000.0  # a negative weight counts as none
    e = estimate_focal(pose, uv, w, SIZE, CENTRE, 25.0, undetected=undetected)
    assert e.frames == 72 - 10 - 5
    assert e.identifiable and e.focal == pytest.approx(0.6 * SIZE[0], rel=1e-3)


def test_too_few_frames_give_the_middle_of_the_search_and_say_so():
    e = estimate(walk_in_camera()[:MIN_FRAMES - 1], 1.35 * SIZE[0])
    assert e.focal == pytest.approx(SIZE[0])  # the geometric middle of 0.1-10 x width, width not height
    assert e.interval == pytest.approx((SEARCH_RATIOS[0] * SIZE[0], SEARCH_RATIOS[1] * SIZE[0]))
    assert (e.frames, e.depth_range, e.identifiable) == (MIN_FRAMES - 1, 0.0, False)
    assert f"{MIN_FRAMES - 1} frames seen, fewer than {MIN_FRAMES}" == e.reason
    enough = estimate(walk_in_camera()[:MIN_FRAMES], 1.35 * SIZE[0])
    assert enough.frames == MIN_FRAMES and enough.reason.startswith("best")


def test_a_body_behind_the_camera_under_every_focal_length_is_not_placed():
    joints = walk_in_camera()
    pose, uv, w = inputs(joints, 1000.0, 0.0)
    mirrored = 2 * torch.tensor(CENTRE, dtype=torch.float64) - uv  # the image turned half round
    e = estimate_focal(pose, mirrored, w, SIZE, CENTRE, 25.0)
    assert e.reason == "no focal length places the body in front of the camera"
    assert e.identifiable is False and e.focal == pytest.approx(SIZE[0])
    assert e.interval == pytest.approx((SEARCH_RATIOS[0] * SIZE[0], SEARCH_RATIOS[1] * SIZE[0]))
    assert (e.depth_range, e.frames) == (0.0, 72)


def test_a_body_so_close_that_joints_pass_the_camera_is_not_told():
    # at 1 m the walk's start brings joints nearer than the root solve allows: frames fail under every
    # focal length, and a cost over the frames left would favour the focal lengths that lose the most
    e = estimate(walk_in_camera(1.0), 0.6 * SIZE[0])
    assert not e.identifiable


def test_bad_frame_rates_are_refused():
    pose, uv, w = inputs(walk_in_camera(), 1000.0, 0.0)
    for fps in (0.0, -25.0, float("nan")):
        with pytest.raises(ValueError, match="fps: expected a positive frame rate"):
            estimate_focal(pose, uv, w, SIZE, CENTRE, fps)
    assert estimate_focal(pose, uv, w, SIZE, CENTRE, 0.5).frames == 72  # a time-lapse is a frame rate


def test_the_reprojection_error_is_relative_to_the_body_in_the_image():
    # the same view on a sensor k times finer (pixels and focal length x k about the centre) errs alike
    joints = walk_in_camera()
    pose, uv, w = inputs(joints, 1000.0, 0.02)
    c = torch.tensor(CENTRE, dtype=torch.float64)
    err, _ = relative_reprojection_error(pose, uv, w, 1300.0, CENTRE)
    finer, _ = relative_reprojection_error(pose, c + 3.0 * (uv - c), w, 3900.0, CENTRE)
    assert err.shape == (72,) and torch.allclose(err, finer, rtol=1e-9)
    many, depths = relative_reprojection_error(pose, uv, w, torch.tensor([1000.0, 1300.0]), CENTRE)
    assert many.shape == depths.shape == (2, 72) and torch.allclose(many[1], err)
    w2 = w.clone()
    w2[:, 7] = 0.0
    moved = uv.clone()
    moved[:, 7] += 400.0  # a joint without weight neither places the body nor counts in its error
    assert torch.allclose(relative_reprojection_error(pose, moved, w2, 1300.0, CENTRE)[0],
                          relative_reprojection_error(pose, uv, w2, 1300.0, CENTRE)[0], rtol=1e-9)


def test_the_estimate_is_recorded_as_plain_json():
    e = estimate(walk_in_camera(), 0.6 * SIZE[0])
    record = json.loads(json.dumps(e.to_dict()))
    assert record == {"focal": e.focal, "interval": list(e.interval), "identifiable": True,
                      "depth_range": e.depth_range, "frames": 72, "reason": e.reason}
