"""Plausibility checks at the lifter's boundary: keypoints outside the stated image size are an
error, an upside-down or lopsided body a warning about the layout; right input is not complained
about; a body seen from the side is not a wrong layout (foreshortening), and each warning's
advice is an option of the command."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.lifting.checks import (LIMB_BONES, OUTSIDE_LIMIT, TWIN_FRAMES, TWIN_PAIRS, TWIN_RATIO, LayoutWarning,
                                    check_keypoints)
from ddhpose.lifting.keypoints import to_h36m
from ddhpose.skeleton import H36M

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps

SIZE = (1000, 600)  # x may reach [-100, 1100], y [-60, 660]: exact in floats

# A front-facing Human3.6M body in pixels (y down) with axis-aligned bones: every left bone is
# as long as its right twin; the forearms are 50 px
BODY = np.array([[500, 300], [478, 300], [478, 390], [478, 480], [522, 300], [522, 390], [522, 480],
                 [500, 240], [500, 180], [500, 160], [500, 140], [536, 180], [536, 240], [536, 290],
                 [464, 180], [464, 240], [464, 290]], dtype=np.float64)
LEFT_WRIST, RIGHT_WRIST = H36M.names.index("left_wrist"), H36M.names.index("right_wrist")


def _check(kp, scores=None, size=SIZE, **kwargs):
    """check_keypoints on (F, 17, 2) pixels, returning the warnings it gave."""
    scores = np.ones(kp.shape[:2]) if scores is None else scores
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_keypoints(kp, scores, size, "coco", "track 3", **kwargs)
    return [str(w.message) for w in caught]


def _frames(n=10):
    return np.repeat(BODY[None], n, axis=0)


def test_a_plausible_body_inside_the_image_gives_no_complaint():
    assert _check(_frames()) == []
    assert _check(np.full((10, 17, 2), np.nan)) == []  # nothing detected: nothing to check
    assert _check(_frames(), np.zeros((10, 17))) == []  # nothing confident: nothing to check


@pytest.mark.parametrize("x, y, outside", [
    (-100, 300, False), (-100.5, 300, True), (1100, 300, False), (1100.5, 300, True),
    (500, -60, False), (500, -60.5, True), (500, 660, False), (500, 660.5, True)])
def test_keypoints_may_reach_10_percent_of_the_image_size_past_each_edge(x, y, outside):
    # width and height differ, so a bound taken from the wrong one shows
    kp = np.full((10, 17, 2), [x, y], dtype=np.float64)
    if outside:
        with pytest.raises(ValueError, match="outside the stated 1000x600 image"):
            _check(kp)
    else:
        assert _check(kp) == []


def test_a_few_keypoints_outside_are_tolerated_more_are_an_error():
    # the wrong image size is caught when part of the keypoints lie outside, not only all of them
    assert OUTSIDE_LIMIT == 0.1
    kp = _frames()
    kp[0] += [1000, 0]  # one frame of ten (10 %) reaches x = 1536
    assert _check(kp) == []
    kp[1, LEFT_WRIST] = [1500, 290]  # 18 of 170: over 10 %
    with pytest.raises(ValueError) as err:
        _check(kp)
    assert str(err.value) == ("track 3: 11% of the keypoints lie outside the stated 1000x600 image (they reach "
                              "x=1536, y=480 px); give the size of the frames the keypoints were detected in "
                              "(--image-size W H / image_size=(w, h))")
    kp[2:] += [1000, 0]  # most of them (154 of 170) outside, some inside: still an error
    with pytest.raises(ValueError, match=r"track 3: 91% of the keypoints lie outside"):
        _check(kp)


def test_only_confident_finite_keypoints_count():
    kp = _frames()
    kp[:3] += [1000, 0]  # 30 % outside ...
    scores = np.ones((10, 17))
    scores[:3] = 0.29  # ... below the score threshold: not counted
    assert _check(kp, scores) == []
    scores[:3] = 0.3  # at the threshold: counted
    with pytest.raises(ValueError, match="30% of the keypoints"):
        _check(kp, scores)
    scores[:3] = np.nan
    assert _check(kp, scores) == []
    with pytest.raises(ValueError, match="30% of the keypoints"):  # the caller's threshold
        _check(kp, np.where(np.isnan(scores), 0.2, scores), threshold=0.1)
    kp[3, LEFT_WRIST] = np.nan  # an undetected joint elsewhere leaves the others checked
    with pytest.raises(ValueError, match="30% of the keypoints"):
        _check(kp)
    kp[:3] = np.nan
    assert _check(kp) == []


def _upside_down(kp, frames):
    kp[frames, :, 1] = 600 - kp[frames, :, 1]
    return kp


def test_shoulders_below_the_hips_in_most_frames_warn_about_the_layout():
    (message,) = _check(_upside_down(_frames(), slice(0, 9)))  # 9 of 10 frames
    assert message == ("track 3: the shoulders are below the hips in 90% of the frames; the keypoints are "
                       "probably not in the 'coco' layout, unless the person is upside down")
    assert _check(_upside_down(_frames(), slice(0, 8))) == []  # 80 %: not most
    assert len(_check(_upside_down(_frames(3), slice(None)))) == 1  # 3 frames are enough ...
    assert _check(_upside_down(_frames(2), slice(None))) == []  # ... 2 are not
    kp = _upside_down(_frames(), slice(0, 9))
    kp[9, [H36M.names.index("left_shoulder"), H36M.names.index("right_shoulder")], 1] = 300  # level: not below
    (message,) = _check(kp)
    assert "below the hips in 90% of the frames" in message


def test_upside_down_counts_only_frames_with_shoulders_and_hips_seen():
    kp, scores = _upside_down(_frames(), slice(0, 8)), np.ones((10, 17))
    scores[8:, H36M.names.index("left_hip")] = 0.0  # the 2 upright frames lack a hip
    (message,) = _check(kp, scores)
    assert "below the hips in 100% of the frames" in message


def _limbs(forearm, shin, frames=10):
    """The body with its left forearm and left shin ``forearm`` and ``shin`` px long (their right
    twins stay 50 and 90 px)."""
    kp = _frames(frames)
    kp[:, LEFT_WRIST] = kp[:, LEFT_WRIST - 1] + [0, forearm]
    ankle = H36M.names.index("left_ankle")
    kp[:, ankle] = kp[:, ankle - 1] + [0, shin]
    return kp


def test_the_left_right_rule_and_the_bones_it_compares():
    assert (TWIN_PAIRS, TWIN_RATIO, TWIN_FRAMES) == (2, 3.0, 0.9)
    assert LIMB_BONES == ("left_knee", "left_ankle", "left_elbow", "left_wrist")


def test_two_limbs_over_three_times_their_twins_warn_about_the_layout():
    assert _check(_limbs(150, 270)) == []  # 3 times each: not over
    (message,) = _check(_limbs(155, 279))
    assert message == ("track 3: left and right limbs differ in length in most frames (left_ankle / right_ankle "
                       "3.1 times, left_wrist / right_wrist 3.1 times); the keypoints are probably not in the "
                       "'coco' layout")
    assert _check(_limbs(500, 90)) == []  # one limb alone is no wrong layout (an arm seen end-on is short)
    (message,) = _check(_limbs(10, 18))  # either side may be the long one
    assert "left_ankle / right_ankle 5.0 times, left_wrist / right_wrist 5.0 times" in message
    (message,) = _check(_limbs(0, 0))  # end-on in 2D: a zero-length bone counts as very different
    assert "left_ankle / right_ankle" in message
    # the rule is a ratio: the same at any scale (a tiny person, keypoints in other units)
    assert _check(_limbs(155, 279) * 0.01, size=(10, 6)) == _check(_limbs(155, 279))


def test_the_limbs_must_differ_in_nine_of_ten_frames_where_both_are_seen():
    kp = _limbs(200, 360)
    kp[:1] = _frames(1)  # 1 normal frame of 10: still 90 %
    assert len(_check(kp)) == 1
    kp[:2] = _frames(2)  # 2 of 10: a turning body, not a wrong layout
    assert _check(kp) == []
    scores = np.ones((10, 17))
    scores[:2, [LEFT_WRIST, H36M.names.index("left_ankle")]] = 0.1  # the normal frames unsure: not counted
    assert len(_check(kp, scores)) == 1
    scores[2:8, LEFT_WRIST] = 0.1  # the forearms seen together in 2 frames: too few to compare
    assert _check(kp, scores) == []
    scores[7, LEFT_WRIST] = 1.0  # 3 frames are enough
    assert len(_check(kp, scores)) == 1


def test_the_ninety_percent_is_the_interpolated_tenth_percentile_of_the_ratios():
    # 9 frames at 3.21 times, 1 at 1: the 10th percentile lies 0.9 of the way from 1 to 3.21, 2.99
    kp = _limbs(50 * 3.21, 90 * 3.21)
    kp[:1] = _frames(1)
    assert _check(kp) == []
    kp = _limbs(50 * 3.24, 90 * 3.24)  # 1 + 0.9 x 2.24 = 3.016: over
    kp[:1] = _frames(1)
    assert len(_check(kp)) == 1


def test_an_unseen_limb_does_not_end_the_comparison():
    # the knees (first of LIMB_BONES) never seen: the other limbs are still compared
    kp, scores = _frames(), np.ones((10, 17))
    kp[:, LEFT_WRIST - 1] = kp[:, LEFT_WRIST - 2] + [0, 240]  # the left upper arm 4 times its twin
    kp[:, LEFT_WRIST] = kp[:, LEFT_WRIST - 1] + [0, 200]  # and the forearm
    scores[:, [H36M.names.index("left_knee"), H36M.names.index("right_knee")]] = 0.0
    (message,) = _check(kp, scores)
    assert "left_elbow / right_elbow" in message and "left_wrist / right_wrist" in message


@pytest.mark.parametrize("pair", [("left_knee", "left_elbow"), ("left_ankle", "left_wrist"),
                                  ("left_knee", "left_ankle"), ("left_elbow", "left_wrist")])
def test_every_limb_bone_is_compared_with_its_twin(pair):
    kp = _frames()
    for name in pair:
        j = H36M.names.index(name)
        twin = H36M.flip_permutation[j]
        kp[:, j] = kp[:, H36M.parents[j]] + 4 * (kp[:, twin] - kp[:, H36M.parents[twin]]) * [-1, 1]
    (message,) = _check(kp)
    for name in pair:
        assert f"{name} / {name.replace('left', 'right')} 4.0 times" in message


def test_the_hips_and_shoulders_are_not_compared():
    # their width vanishes in a side view: a short hip or shoulder bone is foreshortening
    kp = _frames()
    for name in ("left_hip", "left_shoulder"):
        j = H36M.names.index(name)
        kp[:, j] = kp[:, H36M.parents[j]] + 0.1 * (kp[:, j] - kp[:, H36M.parents[j]])
    assert _check(kp) == []


def test_one_warning_names_the_first_implausibility():
    (message,) = _check(_upside_down(_limbs(10, 18), slice(None)))
    assert "shoulders are below the hips" in message


def _views(world: np.ndarray) -> list[np.ndarray]:
    """The walk's exact 2D from the side (across its path), from the front and from behind."""
    centre = world[:, 0].mean(0)
    path = world[-1, 0] - world[0, 0]
    path[2] = 0
    path /= np.linalg.norm(path)
    side = np.array([-path[1], path[0], 0.0])
    out = []
    for direction in (side, -side, path, -path):
        camera = look_at_camera(centre + 5.0 * direction + [0, 0, 0.3], centre, image_size=(1920, 1080), focal=1400.0)
        out.append(observe(world, camera)[1].numpy())
    return out


def test_a_body_seen_from_the_side_is_not_a_wrong_layout():
    with np.load(WALK) as data:
        world = data["world"].astype(np.float64)
    # one arm held out towards the camera the whole time: that forearm is a point in 2D
    for uv in _views(world):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_keypoints(uv, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "side")
        end_on = uv.copy()
        end_on[:, 13] = end_on[:, 12]  # left wrist on the left elbow: the forearm seen end-on
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_keypoints(end_on, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "end-on")


def test_wrong_layouts_warn_without_naming_an_option():
    with np.load(WALK) as data:
        uv = _views(data["world"].astype(np.float64))[2]
    as_coco = to_h36m(uv, np.ones(uv.shape[:2]), "coco")[0]  # Human3.6M order read as COCO
    with pytest.warns(LayoutWarning, match=r"probably not in the 'coco' layout") as caught:
        check_keypoints(as_coco, np.ones(uv.shape[:2]), (1920, 1080), "coco", "t")
    assert "--" not in str(caught[0].message)
    scrambled = uv.copy()  # two right limbs end-on in every frame: the right knee on the hip, the wrist on the elbow
    scrambled[:, 2] = uv[:, 1] + [0, 3.0]
    scrambled[:, 16] = uv[:, 15] + [2.0, 0]
    with pytest.warns(LayoutWarning, match=r"left and right limbs differ in length"):
        check_keypoints(scrambled, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "t")


def test_the_lift_command_names_its_layout_option(tmp_path, capsys):
    from ddhpose.cli import main
    with np.load(WALK) as data:
        uv = _views(data["world"].astype(np.float64))[2]
    src = tmp_path / "kp.npy"
    np.save(src, to_h36m(uv, np.ones(uv.shape[:2]), "coco")[0][:30])
    assert main(["lift", str(src), "--layout", "coco", "--image-size", "1920", "1080", "--no-world",
                 "-o", str(tmp_path / "r.npz")]) == 0
    err = capsys.readouterr().err
    assert "probably not in the 'coco' layout (see --layout)" in err
