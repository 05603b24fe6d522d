"""Plausibility checks at the lifter's boundary: keypoints outside the stated image size are an
error, an upside-down or lopsided body a warning about the layout; right input is not complained
about."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ddhpose.lifting.checks import OUTSIDE_LIMIT, check_keypoints
from ddhpose.skeleton import H36M

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
                       "probably not in the 'coco' layout (see --layout), unless the person is upside down")
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


def _forearms(left, right, frames=10):
    kp = _frames(frames)
    kp[:, LEFT_WRIST] = kp[:, LEFT_WRIST - 1] + [0, left]
    kp[:, RIGHT_WRIST] = kp[:, RIGHT_WRIST - 1] + [0, right]
    return kp


def test_a_limb_over_three_times_its_twin_warns_about_the_layout():
    assert _check(_forearms(30, 10)) == []  # 3 times: not over
    (message,) = _check(_forearms(31, 10))
    assert message == ("track 3: a left limb and its right twin differ 3.1 times in length (joints left_wrist / "
                       "right_wrist); the keypoints are probably not in the 'coco' layout (see --layout)")
    (message,) = _check(_forearms(10, 40))  # either side may be the long one
    assert "differ 4.0 times" in message
    assert _check(_forearms(0, 40)) == []  # a zero-length bone (wrist on the elbow) is no measure
    # the rule is a ratio: the same at any scale (a tiny person, keypoints in other units)
    assert len(_check(_forearms(31, 10) * 0.01, size=(10, 6))) == 1
    assert _check(_forearms(31, 10) * 0.01, size=(10, 6)) == _check(_forearms(31, 10))


def test_limb_lengths_are_medians_over_frames_of_confident_bones():
    kp = _forearms(50, 50)
    kp[:4, LEFT_WRIST, 1] += 150  # 4 of 10 frames with a long left forearm: the median is 50
    assert _check(kp) == []
    kp[4, LEFT_WRIST, 1] += 150  # half of them: the median is 125, 2.5 times the right one
    assert _check(kp) == []
    kp[5, LEFT_WRIST, 1] += 150  # most of them: 200 against 50
    assert "differ 4.0 times" in _check(kp)[0]
    scores = np.ones((10, 17))
    scores[:6, LEFT_WRIST] = 0.1  # the long frames unsure: the bone is measured in the others
    assert _check(kp, scores) == []
    scores[:6, LEFT_WRIST - 1] = 0.1
    scores[:, LEFT_WRIST] = 0.1  # the left wrist never sure: nothing to compare it with
    assert _check(kp, scores) == []
    scores[:, LEFT_WRIST] = 1.0
    scores[:6, LEFT_WRIST] = 0.1
    scores[6:, LEFT_WRIST - 1] = 0.1  # wrist and elbow never sure together: no bone measured
    assert _check(kp, scores) == []


def test_every_left_bone_is_compared_with_its_twin():
    # each left joint's bone to its parent against the mirrored right joint's, the hips' included
    left = [H36M.names[j] for j in H36M.joints_left]
    assert left == ["left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow", "left_wrist"]
    for j in H36M.joints_left:
        twin = H36M.flip_permutation[j]
        parent = H36M.parents[j]
        kp = _frames()
        kp[:, j] = kp[:, parent] + 4 * (kp[:, twin] - kp[:, H36M.parents[twin]]) * [-1, 1]
        (message,) = _check(kp)
        assert f"differ 4.0 times in length (joints {H36M.names[j]} / {H36M.names[twin]})" in message


def test_one_warning_names_the_first_implausibility():
    kp = _forearms(10, 100)
    kp[:, LEFT_WRIST - 1] = kp[:, LEFT_WRIST - 2] + [0, 300]  # the left upper arm too
    (message,) = _check(kp)
    assert "left_elbow / right_elbow" in message
    (message,) = _check(_upside_down(kp, slice(None)))
    assert "shoulders are below the hips" in message
