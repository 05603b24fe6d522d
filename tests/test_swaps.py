"""Left and right exchanged by a detector: runs found from the 2D motion and put back, clean
frames left alone, the repaired frames in the result's provenance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.lifting.swaps import collapsed, exchanged, find_swaps, pairs, repair_swaps, runs

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps


def _view(along: bool) -> np.ndarray:
    """The walk's exact 2D from across its path (the legs cross every step) or from in front
    (along it: the hips and shoulders seen wide)."""
    with np.load(WALK) as data:
        world = data["world"].astype(np.float64)
    centre = world[:, 0].mean(0)
    path = world[-1, 0] - world[0, 0]
    path = np.array([path[0], path[1], 0.0]) / np.linalg.norm(path[:2])
    away = path if along else np.array([-path[1], path[0], 0.0])
    camera = look_at_camera(centre + 6.0 * away + [0, 0, 0.4], centre, image_size=(1920, 1080), focal=1500.0)
    return observe(world, camera)[1].numpy()


@pytest.fixture(scope="module")
def side_view() -> np.ndarray:
    """The walk's exact 2D seen from the side (across its path): the legs cross every step."""
    return _view(along=False)


def test_runs_of_exchanged_legs_arms_and_bodies_are_put_back(side_view):
    rng = np.random.default_rng(0)
    uv = side_view + rng.normal(0, 2.0, side_view.shape)  # detector-like noise, pixels
    legs, arms = np.zeros(len(uv), bool), np.zeros(len(uv), bool)
    legs[10:25] = True  # the legs for 15 frames
    arms[40:48] = True  # the arms for 8
    legs[60:64] = arms[60:64] = True  # the whole body for 4
    bad = exchanged(exchanged(uv, legs, "legs"), arms, "arms")
    fixed, found = repair_swaps(bad, np.ones(uv.shape[:2], bool))
    assert (found["legs"] == legs).mean() > 0.97 and (found["arms"] == arms).mean() > 0.97
    assert (np.abs(fixed - uv).max(axis=(1, 2)) > 1e-9).sum() <= 3  # at most a frame at a run's ends
    assert runs(found["arms"], np.arange(100, 100 + len(uv)))[0][0] in (139, 140, 141)


def test_the_torso_tells_which_side_of_a_change_is_wrong():
    """Arms exchanged from the clip's first frame to two thirds of it: the motion shows one
    change, not which side of it is wrong (leaving the longer side alone is cheaper); the
    shoulders pointing against the hips tell it."""
    uv = _view(along=True)
    arms = np.zeros(len(uv), bool)
    arms[:2 * len(uv) // 3] = True
    found = find_swaps(exchanged(uv, arms, "arms"), np.ones(uv.shape[:2], bool))
    assert (found["arms"] == arms).mean() > 0.98 and not found["legs"].any()
    assert found["arms"][:2].all()  # from the clip's first frames


def test_a_clean_clip_is_left_alone(side_view):
    rng = np.random.default_rng(1)
    uv = side_view + rng.normal(0, 2.0, side_view.shape)
    found = find_swaps(uv, np.ones(uv.shape[:2], bool))
    assert set(found) == {"legs", "arms"} and all(flags.sum() <= 1 for flags in found.values())


def test_the_lift_records_the_repaired_frames(side_view):
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.model.config import ModelConfig
    from ddhpose.model.ddhpose import DDHPose
    import torch
    torch.manual_seed(0)
    lifter = Lifter(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), "cpu")
    legs = np.zeros(len(side_view), bool)
    legs[20:32] = True
    bad = exchanged(side_view, legs, "legs")
    r = lifter.lift(bad, layout="h36m", image_size=(1920, 1080), world=False)
    assert r.provenance["left_right_repaired"] == {"legs": [[20, 31]]}
    np.testing.assert_allclose(r.keypoints_2d, side_view, atol=1e-3)
    kept = lifter.lift(bad, layout="h36m", image_size=(1920, 1080), world=False, repair_swaps=False)
    assert kept.provenance["left_right_repaired"] == {} and not np.allclose(kept.keypoints_2d, side_view)


def test_runs_at_the_clips_ends_are_put_back_to_the_first_and_last_frame(side_view):
    uv = side_view[:80]
    legs, arms = np.zeros(len(uv), bool), np.zeros(len(uv), bool)
    legs[-12:] = True  # to the last frame
    arms[:9] = True  # from the first
    found = find_swaps(exchanged(exchanged(uv, legs, "legs"), arms, "arms"), np.ones(uv.shape[:2], bool))
    assert np.array_equal(found["legs"], legs) and np.array_equal(found["arms"], arms)
    assert found["legs"].dtype == bool and found["arms"].dtype == bool


def test_left_and_right_in_one_place_are_not_flickered():
    """A still body whose left and right limbs coincide in the image: every labelling moves the
    same, so only the cost of exchanging and of changing decides: nothing is changed."""
    uv = _view(along=False)[:1].repeat(40, 0)
    for group in ("legs", "arms"):
        left, right = pairs(group)
        uv[:, left] = uv[:, right] = (uv[:, left] + uv[:, right]) / 2
    found = find_swaps(uv, np.ones(uv.shape[:2], bool))
    assert not found["legs"].any() and not found["arms"].any()


def test_too_little_to_judge_changes_nothing(side_view):
    seen = np.ones(side_view.shape[:2], bool)
    for found, frames in ((find_swaps(side_view[:2], seen[:2]), 2),  # under three frames
                          (find_swaps(side_view[:30], np.zeros((30, 17), bool)), 30)):  # nothing seen
        assert set(found) == {"legs", "arms"}
        assert all(f.dtype == bool and f.shape == (frames,) and not f.any() for f in found.values())


def test_unseen_joints_are_no_evidence(side_view):
    """The left leg undetected (its keypoints at the image's corner) for 10 frames of a clean clip:
    their positions are not motion, so nothing is exchanged."""
    uv, seen = side_view.copy(), np.ones(side_view.shape[:2], bool)
    left_leg = pairs("legs")[0]
    uv[30:40, left_leg], seen[30:40, left_leg] = 0.0, False
    found = find_swaps(uv, seen)
    assert not found["legs"].any() and not found["arms"].any()


def test_body_size_is_the_neck_to_ankles_height():
    from ddhpose.lifting.swaps import body_size
    from ddhpose.skeleton import H36M
    j = H36M.joints(("neck", "left_ankle", "right_ankle"), "test")
    kp = np.full((3, 17, 2), 50.0)
    kp[:, j["neck"]] = [100.0, 20.0]
    kp[:, j["left_ankle"]], kp[:, j["right_ankle"]] = [80.0, 220.0], [120.0, 220.0]
    kp[2, j["neck"]] = np.nan  # a frame without the neck does not count
    assert body_size(kp) == pytest.approx(200.0)
    assert np.isnan(body_size(np.full((2, 17, 2), np.nan)))


def test_runs_name_the_first_and_last_frame_of_each():
    flags = np.array([1, 1, 0, 0, 1, 0, 1], bool)
    assert runs(flags) == [[0, 1], [4, 4], [6, 6]]
    assert runs(flags, np.arange(10, 17)) == [[10, 11], [14, 14], [16, 16]]




def test_a_real_mediapipe_exchange_is_put_back_and_fast_motion_is_not_one():
    """MediaPipe 0.10 on the Sports2D demo (the man, 169 frames at 30 fps, 1768 x 994), doing
    jumping jacks with his back to the camera: MediaPipe labels him as if he faced it, except at
    frame 67 (the arms) and 68-72 (the whole body), then slides back (frame 73: both wrists at
    one pixel). The repair makes those frames agree with the rest of the clip (which side is
    his left is not told by the body's 2D alone). The jumps move the wrists up to 30 px a frame
    with sharp stops, far more than the noise: as plain squared errors those moves outweighed
    the exchange, and the repair exchanged the arms of frames 67-157 (this test failed)."""
    with np.load(Path(__file__).parent / "fixtures" / "sports2d_demo_mediapipe_man.npz") as data:
        found = find_swaps(data["keypoints"].astype(np.float64), data["seen"])
    arms = runs(found["arms"])
    assert [r for r in arms if r[1] >= 60 and r[0] <= 80] in ([[67, 72]], [[67, 73]]), arms
    assert sum(b - a + 1 for a, b in arms if b < 60 or a > 80) <= 1, arms  # at most a glitch frame elsewhere
    assert found["legs"][70:73].all()  # hips, knees and ankles exchanged too


def _slid(uv: np.ndarray, first: int, last: int, group: str) -> np.ndarray:
    """The group exchanged over frames first..last, sliding in over the two frames before and out
    over the two after (a third and two thirds of the way), as MediaPipe exchanges a pair."""
    flags = np.zeros(len(uv), bool)
    flags[first:last + 1] = True
    out = exchanged(uv, flags, group)
    left, right = pairs(group)
    for frame, share in ((first - 2, 1 / 3), (first - 1, 2 / 3), (last + 1, 2 / 3), (last + 2, 1 / 3)):
        a, b = out[frame, left].copy(), out[frame, right].copy()
        out[frame, left], out[frame, right] = (1 - share) * a + share * b, (1 - share) * b + share * a
    return out


@pytest.mark.parametrize("along, group, first, last", [(False, "legs", 20, 31), (False, "legs", 60, 65),
                                                       (True, "arms", 40, 51), (True, "arms", 8, 15)])
def test_an_exchange_that_slides_in_and_out_is_put_back(along, group, first, last):
    """Sliding over two frames, the detected joints move smoothly from one side to the other: the
    constant-velocity prediction through the slide found none of these four exchanges. The
    slide's frames are left out of the prediction (:func:`collapsed`), and the labels on either
    side of it disagree; the slide's own frames may go either way."""
    uv = _view(along) + np.random.default_rng(1).normal(0, 2.0, (72, 17, 2))
    seen = np.ones(uv.shape[:2], bool)
    bad = _slid(uv, first, last, group)
    found = find_swaps(bad, seen)
    run, = runs(found[group])
    assert first - 2 <= run[0] <= first and last <= run[1] <= last + 2, run
    other = "arms" if group == "legs" else "legs"
    assert not found[other].any()
    assert collapsed(bad, seen)[group][[first - 1, last + 1]].all()


def test_limbs_held_together_are_not_a_slide(side_view):
    """Legs that cross as the walk goes by, a pair drawn close for ten frames (arms by the sides,
    seen from the side): how the limbs are, not a detector's slide; those frames are kept. Two
    frames, between frames where the arms are apart: a slide."""
    seen = np.ones(side_view.shape[:2], bool)
    assert not collapsed(side_view, seen)["legs"].any()  # legs crossing every step close in over several frames
    uv = side_view.copy()
    left, right = pairs("arms")
    uv[30:40, left] = uv[30:40, right] + 1.0  # the arms together for 10 frames
    assert not collapsed(uv, seen)["arms"][30:40].any()
    uv[30:38] = side_view[30:38]  # ... and for 2 frames: a slide's length
    assert collapsed(uv, seen)["arms"][38:40].all()


def test_left_out_frames_take_the_labels_around_them_or_the_nearer_line():
    """Frames left out of the prediction: where the kept frames on both sides agree, their
    labelling; where they differ (the change falls in the gap), each frame the labelling whose
    positions lie nearer the straight line between the two kept frames (each in its own
    labelling); before the first kept frame and after the last, the nearest one's."""
    from ddhpose.lifting.swaps import _fill_left_out
    frames = 16
    t = np.arange(frames, dtype=float)
    uv = np.zeros((frames, 17, 2))
    left, right = pairs("legs")
    uv[:, left] = np.stack([600 + 10 * t + 0.3 * t ** 2, np.full(frames, 400.0)], -1)[:, None] \
        + np.arange(3)[:, None] * [0, 50]
    uv[:, right] = uv[:, left] + [100.0, 0.0]
    truth = np.zeros(frames, bool)
    truth[2:10] = truth[14:] = True
    bad = exchanged(uv, truth, "legs")
    kept = np.array([1, 3, 7, 8, 11, 13, 14])  # 0 before them, 15 after; 2, 9-10 where the labels change
    np.testing.assert_array_equal(_fill_left_out(bad, kept, truth[kept], "legs"), truth)
    agree = _fill_left_out(bad, kept[[0, 4, 5]], np.zeros(3, bool), "legs")
    assert not agree.any()  # both sides as detected: the gap too, whatever it holds
    ends = _fill_left_out(bad, np.array([1, 11, 14]), truth[[1, 11, 14]], "legs")
    assert ends[15] and not ends[0]  # after the last kept frame its labelling, before the first the first's
    one = np.delete(np.arange(frames), [0, 2])  # one frame where the labels change
    np.testing.assert_array_equal(_fill_left_out(bad, one, truth[one], "legs")[1:], truth[1:])


def _pinched(uv: np.ndarray, frames, group: str = "arms") -> np.ndarray:
    """The group's left and right joints drawn together (half a pixel apart) in ``frames``."""
    out = uv.copy()
    left, right = pairs(group)
    middle = (out[frames][:, left] + out[frames][:, right]) / 2
    out[np.ix_(frames, left)], out[np.ix_(frames, right)] = middle, middle + 0.5
    return out


@pytest.mark.parametrize("frames, expected", [([30], [30]), ([1], [1]), ([30, 31, 32], [30, 31, 32]),
                                              ([0], []), ([30, 31, 32, 33], [])])
def test_which_pinched_frames_are_a_slide(frames, expected):
    """A slide is 1 to 3 frames between frames where the pair is apart: one frame, the clip's
    second, three; not the clip's first (no frame before it to compare with), nor four."""
    uv = _view(along=True)
    seen = np.ones(uv.shape[:2], bool)
    found = collapsed(_pinched(uv, frames), seen)
    assert found["arms"].dtype == bool and np.flatnonzero(found["arms"]).tolist() == expected
    seen[50, pairs("arms")[0][0]] = False  # a shoulder unseen elsewhere changes nothing here
    assert np.flatnonzero(collapsed(_pinched(uv, frames), seen)["arms"]).tolist() == expected


def test_a_clip_that_is_mostly_slide_is_left_as_detected():
    """Four frames, the middle two a slide: too few kept frames to predict anything."""
    uv = _pinched(_view(along=True)[:4], [1, 2])
    found = find_swaps(uv, np.ones(uv.shape[:2], bool))
    assert {g: (v.dtype, v.tolist()) for g, v in found.items()} == {g: (bool, [False] * 4) for g in ("legs", "arms")}
