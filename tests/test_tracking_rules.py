"""Tracking rules one at a time, at their boundaries: what makes a pair allowed, what it costs,
when a track is confirmed, how its velocity is measured, which people and tracks are kept, and
what the warnings and errors name."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from ddhpose.lifting.keypoints import COCO17, make_track
from ddhpose.lifting.tracking import (Detection, TrackingOptions, assign, associate_tracks, describe_tracks,
                                      drop_static, keep_tracks, limit_people, summarize_tracks, track_motion,
                                      track_shape_change, tracks_of)
from helpers import STANDING_COCO

HIPS = [COCO17.index("left_hip"), COCO17.index("right_hip")]
LEGS = list(range(11, 17))  # COCO hips, knees, ankles
UPPER = list(range(11))
OPTIONS = TrackingOptions()


def _body(x, y=420.0, scale=1.0):
    """(17, 2) COCO keypoints of the standing template, its pelvis at (x, y), no noise."""
    return STANDING_COCO * scale + [x, y]


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


def _ones(kps):
    return [np.ones(17)] * len(kps)


# --- which pairs are allowed ---------------------------------------------------------------------

def test_a_pair_exactly_one_size_or_one_max_jump_away_is_allowed():
    # 17 keypoints on a point but the nose: a box of 30 x 40 px, size 50, the pelvis at (100, 100)
    kp = np.full((17, 2), 100.0)
    kp[0] = [130, 140]
    scores = _ones([kp, kp])
    assert associate_tracks([0, 1], [kp, kp + [30, 40]], scores, COCO17) == [0, 0]  # 50 px: within
    assert associate_tracks([0, 1], [kp, kp + [30, 41]], scores, COCO17) == [0, 1]  # past it
    assert associate_tracks([0, 1], [kp, kp + [30, 40]], scores, COCO17, max_jump_px=50) == [0, 0]
    assert associate_tracks([0, 1], [kp, kp + [30, 40]], scores, COCO17, max_jump_px=49.9) == [0, 1]


def test_max_gap_counts_the_frames_a_track_went_unseen():
    kps = [_body(300), _body(302)]
    assert associate_tracks([0, 3], kps, _ones(kps), COCO17, max_gap=2) == [0, 0]  # 2 frames unseen
    assert associate_tracks([0, 4], kps, _ones(kps), COCO17, max_gap=2) == [0, 1]  # 3
    assert associate_tracks([0, 1], kps, _ones(kps), COCO17, max_gap=0) == [0, 0]


def test_max_jump_limits_the_pelvis_not_the_arms():
    # a person raises both arms in one frame: the mean keypoint jumps 52 px, the pelvis not at all
    raised = _body(500)
    raised[[7, 8]] += [0, -160]  # elbows
    raised[[9, 10]] += [0, -285]  # wrists
    kps = [_body(500), raised, raised]
    assert associate_tracks([0, 1, 2], kps, _ones(kps), COCO17, max_jump_px=30) == [0, 0, 0]


def test_the_pelvis_is_the_mean_keypoint_only_where_the_hips_are_unseen():
    # a detector writes (0, 0) with score 0 for the hips it did not find: the pelvis is then the
    # mean of the keypoints it did find, and the walker stays one track
    kps, scores = [], []
    for f in range(20):
        kp, sc = _body(300 + 4 * f), np.ones(17)
        if 10 <= f < 13:
            kp[HIPS], sc[HIPS] = 0.0, 0.0
        kps.append(kp), scores.append(sc)
    assert associate_tracks(list(range(20)), kps, scores, COCO17) == [0] * 20


def test_a_partly_undetected_person_is_tracked_on_the_keypoints_found():
    kps = [_body(300 + 4 * f) for f in range(6)]
    kps[3] = kps[3].copy()
    kps[3][9] = np.nan  # a wrist not detected
    assert associate_tracks(list(range(6)), kps, _ones(kps), COCO17) == [0] * 6
    assert associate_tracks([], [], [], COCO17) == []


# --- what a pair costs ---------------------------------------------------------------------------

def _same_size_crossing_without_hips():
    """Two people of one size cross (as in test_tracking), their hips never detected."""
    a = [_body(200 + 16 * f) for f in range(60)]
    b = [_body(1176 - 16 * f) for f in range(60)]
    scores = np.ones(17)
    scores[HIPS] = 0.0
    frames = [f for f in range(60) for _ in (0, 1)]
    kps = [k for f in range(60) for k in (a[f], b[f])]
    return frames, kps, [scores] * len(kps), [0, 1] * 60


def test_without_hips_the_mean_keypoint_carries_the_motion_that_tells_people_apart():
    frames, kps, scores, truth = _same_size_crossing_without_hips()
    assert _quiet(associate_tracks, frames, kps, scores, COCO17) == truth


def test_people_at_one_spot_are_told_apart_by_their_keypoints():
    # two people walk side by side, one behind the other (one pelvis position), one raising the
    # left arm and one the right: every keypoint, not just the pelvis, is compared, so they keep
    # their identities however the detector lists them, and nothing is reported as ambiguous
    left_up, right_up = STANDING_COCO.copy(), STANDING_COCO.copy()
    left_up[[7, 9]] = [[60, -190], [70, -260]]
    right_up[[8, 10]] = [[-60, -190], [-70, -260]]
    rng = np.random.default_rng(20)
    frames, kps, truth = [], [], []
    for f in range(30):
        people = [(0, left_up), (1, right_up)][:: -1 if f % 3 == 1 else 1]
        for who, pose in people:
            frames.append(f), kps.append(pose + [300 + 5 * f, 420] + rng.normal(0, 1.5, (17, 2))), truth.append(who)
    assert _quiet(associate_tracks, frames, kps, _ones(kps), COCO17) == truth


def test_a_pair_without_keypoints_in_common_is_priced_by_the_pelvis():
    # a track seen by its legs only meets, one frame on, its legs 20 px on and, 150 px away,
    # another person's upper body only: the upper body shares no keypoint with the track and is
    # priced by its distance from the predicted pelvis, not as free
    legs, upper = np.zeros(17), np.zeros(17)
    legs[LEGS], upper[UPPER] = 1.0, 1.0
    ids = associate_tracks([0, 1, 1], [_body(300), _body(400), _body(320)], [legs, upper, legs], COCO17)
    assert ids == [0, 1, 0]


def _seen(x, joints):
    """The template at ``x`` with only ``joints`` detected: the others at (0, 0) with score 0, as
    detectors write them."""
    kp, sc = _body(x), np.zeros(17)
    sc[joints] = 1.0
    kp[sc == 0] = 0.0
    return kp, sc


def test_a_pair_is_priced_by_the_mean_distance_of_the_keypoints_both_saw():
    # the track saw the legs; one frame on its upper body and left hip are seen 10 px on, and
    # another person's legs 22 px on: the one keypoint in common (10 px) beats six at 22 px,
    # whatever the keypoints neither detection saw are set to
    (a, sa), (c, sc), (a2, sa2) = _seen(300, LEGS), _seen(322, LEGS), _seen(310, UPPER + [HIPS[0]])
    assert associate_tracks([0, 1, 1], [a, c, a2], [sa, sc, sa2], COCO17) == [0, 1, 0]
    # ... and one keypoint 60 px off is 60 px off: the legs 48 px on win over it
    (a2, sa2), (c, sc) = _seen(348, LEGS), _seen(360, UPPER + [HIPS[0]])
    assert associate_tracks([0, 1, 1], [a, c, a2], [sa, sc, sa2], COCO17) == [0, 1, 0]


def test_a_detection_without_keypoint_scores_is_tracked_by_its_keypoints():
    kps = [_body(300 + 4 * f) for f in range(5)]
    assert associate_tracks(list(range(5)), kps, [np.zeros(17)] * 5, COCO17) == [0] * 5


# --- confirmation and velocity -------------------------------------------------------------------

def _contested(sightings):
    """A walks right at 5 px/frame from frame 0; B appears 60 px ahead of A at frame 10 with the
    same motion and is seen ``sightings`` times with A; in the next frame one detection only, 35 px
    ahead of where A is expected, 25 px behind where B is. Returns frames, keypoints."""
    frames, kps = [], []
    for f in range(10 + sightings):
        frames.append(f), kps.append(_body(300 + 5 * f))
        if f >= 10:
            frames.append(f), kps.append(_body(360 + 5 * f))
    f = 10 + sightings
    frames.append(f), kps.append(_body(335 + 5 * f))
    return frames, kps


def test_a_track_seen_fewer_than_three_times_loses_a_close_call():
    frames, kps = _contested(2)
    assert associate_tracks(frames, kps, _ones(kps), COCO17)[-1] == 0  # the established track


def test_a_track_seen_three_times_competes_on_equal_terms():
    frames, kps = _contested(3)
    assert associate_tracks(frames, kps, _ones(kps), COCO17)[-1] == 1  # the nearer prediction


def test_a_hidden_runner_is_found_where_their_smoothed_velocity_puts_them():
    # a small (100 px) runner seen at frames 0-2 (20 then 40 px per frame: smoothed 30), hidden
    # for 24 frames, seen again 750 px on, exactly where 30 px per frame puts them; a person
    # standing far away is seen all along
    runner = {0: 100, 1: 120, 2: 160, 27: 910, 28: 940, 29: 970}
    frames, kps, truth = [], [], []
    for f in range(30):
        if f in runner:
            frames.append(f), kps.append(_body(runner[f], scale=0.28)), truth.append(0)
        frames.append(f), kps.append(_body(2000)), truth.append(1)
    assert associate_tracks(frames, kps, _ones(kps), COCO17) == truth


def test_people_who_stop_together_keep_the_motion_they_came_with():
    # two couples, far apart: in each, A comes from the left and B from the right, they stand on
    # one spot for 10 frames (their detections can be swapped at no cost: reported, and their
    # motion is not measured from them), then each walks on the way it came
    rng = np.random.default_rng(4)
    frames, kps, truth = [], [], []
    for f in range(40):
        for couple, y in ((0, 300.0), (2, 900.0)):
            xa = 200 + 10 * f if f < 10 else (300 if f < 20 else 300 + 10 * (f - 19))
            xb = 400 - 10 * f if f < 10 else (300 if f < 20 else 300 - 10 * (f - 19))
            for who, x in ((couple + 1, xb), (couple, xa)) if f >= 20 else ((couple, xa), (couple + 1, xb)):
                frames.append(f), kps.append(_body(x, y) + rng.normal(0, 1.5, (17, 2))), truth.append(who)
    with pytest.warns(UserWarning, match="overlapped with the same motion"):
        ids = associate_tracks(frames, kps, _ones(kps), COCO17)
    before, after = [i for i, f in enumerate(frames) if f < 10], [i for i, f in enumerate(frames) if f >= 20]
    assert [ids[i] for i in before] == [truth[i] for i in before]
    assert [ids[i] for i in after] == [truth[i] for i in after]


# --- what the ambiguity warning says -------------------------------------------------------------

def _together():
    """Two people of one size walk to one spot, stand there together, then leave the way they came."""
    a = [_body(100 + 10 * f) for f in range(20)] + [_body(300)] * 20
    b = [_body(500 - 10 * f) for f in range(20)] + [_body(300)] * 20
    return [f for f in range(40) for _ in (0, 1)], [k for f in range(40) for k in (a[f], b[f])]


def test_the_ambiguity_warning_names_the_frames_and_the_source():
    frames, kps = _together()
    with pytest.warns(UserWarning) as caught:
        associate_tracks(frames, kps, _ones(kps), COCO17)
    (warning,) = caught
    message = str(warning.message)
    found = re.fullmatch(r"keypoints: tracks 0 and 1 overlapped with the same motion in (\d+) frame\(s\) "
                         r"\((\d+)-(\d+)\) and could not be told apart there; check that their identities did "
                         r"not swap after frame (\d+)", message)
    assert found, message
    count, first, last, after = map(int, found.groups())
    assert count == last - first + 1 and after == last and 19 <= first <= last <= 39
    with pytest.warns(UserWarning, match=r"^clip\.json: tracks 0 and 1 overlapped"):
        associate_tracks(frames, kps, _ones(kps), COCO17, source="clip.json")


# --- the assignment ------------------------------------------------------------------------------

def test_assign_refuses_a_negative_cost():
    with pytest.raises(ValueError, match=r"^cost: expected non-negative costs or inf, got NaN or a negative value$"):
        assign(np.array([[1.0, -1.0]]))


# --- which people and tracks are kept ------------------------------------------------------------

def test_limit_people_warns_only_where_more_than_max_people_were_seen():
    frames = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5, 5, 5]
    kps = [_body(300 * (i % 3)) for i in range(len(frames))]
    conf = [0.9] * len(frames)
    with pytest.warns(UserWarning) as caught:
        keep = limit_people(frames, kps, _ones(kps), conf, COCO17, 2)
    (warning,) = caught
    assert str(warning.message).startswith("keypoints: 4 frame(s) (0-2, 5) had more than 2 people (up to 3); ")
    assert len(keep) == 2 * 4 + 2 + 1
    assert _quiet(limit_people, frames[9:12], kps[9:12], _ones(kps[9:12]), conf[9:12], COCO17, 2) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"detection 1 \(frame 7\) has no finite keypoint"):
        limit_people([7, 7], [_body(0), np.full((17, 2), np.nan)], _ones(kps[:2]), [0.9, 0.9], COCO17, 1)


def test_limit_people_measures_people_by_the_keypoints_found():
    # a small person whose detector wrote (0, 0) with score 0 for the legs is not taken for a big one
    small, big = _body(2000, 1000, scale=0.5), _body(300, scale=0.8)
    scores = np.ones(17)
    scores[LEGS[2:]] = 0.0
    small[LEGS[2:]] = 0.0
    with pytest.warns(UserWarning, match="had more than 1 people"):
        assert limit_people([0, 0], [small, big], [scores, np.ones(17)], [0.9, 0.9], COCO17, 1) == [1]


def _track(keypoints, track_id=0, scores=None):
    keypoints = np.asarray(keypoints, dtype=np.float64)
    scores = np.ones(keypoints.shape[:2]) if scores is None else scores
    return make_track(keypoints, scores, np.arange(len(keypoints)), track_id, "coco", None, "clip.json")


def test_a_layout_name_where_the_layout_object_is_expected_says_what_to_pass():
    kp = [np.zeros((17, 2))]
    with pytest.raises(TypeError, match=r"get_layout\('coco'\)"):
        associate_tracks([0], kp, [np.ones(17)], "coco")
    with pytest.raises(TypeError, match="expected a Layout"):
        limit_people([0], kp, [np.ones(17)], [0.9], "coco", 1)


def test_drop_static_boundaries():
    walker = _track([_body(100 + 6 * f) for f in range(20)], 0)
    seen_twice = _track([_body(800)] * 2, 1)  # a still detection seen in two frames is still
    with pytest.warns(UserWarning, match=r"dropped 1 still track\(s\) \(track 1: motion 0, shape change 0;"):
        assert drop_static([walker, seen_twice], 0.01, "clip.json", layout=COCO17) == [walker]
    assert _quiet(drop_static, [walker, seen_twice], 0.0, layout=COCO17) == [walker, seen_twice]  # 0 keeps everyone
    rng = np.random.default_rng(21)
    slight = _track([_body(500) + rng.normal(0, 2.0, (17, 2)) for _ in range(20)], 2)
    still = _track([_body(800)] * 20, 3)
    at = track_motion(slight.keypoints, slight.scores)  # exactly the threshold: kept
    with pytest.warns(UserWarning, match=r"dropped 1 still track\(s\) \(track 3: motion 0, shape change 0;"):
        assert drop_static([walker, slight, still], at, "clip.json", layout=COCO17) == [walker, slight]


def test_a_person_standing_still_whose_body_changes_shape_is_kept():
    walker = _track([_body(100 + 6 * f) for f in range(40)], 0)
    rng = np.random.default_rng(3)
    frames = [_body(800) + rng.normal(0, 0.3, (17, 2)) for _ in range(40)]
    still = _track(frames, 1)
    lifts = [f.copy() for f in frames]
    for f in lifts[20:35]:  # the right arm raised for half a second: elbow and wrist up by 40 px
        f[[8, 10], 1] -= 40
    gesture = _track(lifts, 2)
    motion, change = track_motion(gesture.keypoints, gesture.scores), track_shape_change(gesture.keypoints, gesture.scores)
    assert motion < 0.01 and change > 0.03  # hardly moves, but is a body
    assert track_shape_change(still.keypoints, still.scores) < 0.005
    with pytest.warns(UserWarning, match=r"dropped 1 still track\(s\) \(track 1: .*keep every track with --min-motion 0"):
        assert drop_static([walker, still, gesture], 0.01, "clip.json", layout=COCO17) == [walker, gesture]
    # size-free: the same body twice as large changes shape by the same fraction
    assert track_shape_change(gesture.keypoints * 2, gesture.scores) == pytest.approx(change, rel=1e-9)


def test_keep_tracks_in_a_short_clip_needs_half_of_it():
    with pytest.warns(UserWarning, match=r"^clip\.json: dropped 1 short track\(s\) of \[3\] frame\(s\) \(fewer than 4;"):
        assert keep_tracks({0: 4, 1: 3}, 10, 9, "clip.json") == {0}  # 9 frames: 4 are enough


# --- track_motion --------------------------------------------------------------------------------

def _walk(frames=10, speed=4.0):
    return np.stack([_body(100 + speed * f) for f in range(frames)])


def test_track_motion_of_one_frame_or_no_size_is_zero():
    assert track_motion(_walk(1), np.ones((1, 17))) == 0.0
    points = np.stack([np.full((17, 2), 10.0 * f) for f in range(5)])  # every keypoint on one point
    assert _quiet(track_motion, points, np.ones((5, 17))) == 0.0


def test_track_motion_counts_confident_joints_seen_at_least_twice():
    walk, scores = _walk(), np.ones((10, 17))
    moving = track_motion(walk, scores)
    assert moving == pytest.approx(4 * np.sqrt((10 ** 2 - 1) / 12) / np.linalg.norm(np.ptp(STANDING_COCO, 0)))
    garbage = walk.copy()
    garbage[:, 5:] = np.random.default_rng(22).uniform(0, 1000, (10, 12, 2))  # score 0: not counted
    zero = scores.copy()
    zero[:, 5:] = 0.0
    still = np.broadcast_to(walk[:1], walk.shape).copy()
    still[:, 5:] = garbage[:, 5:]
    assert _quiet(track_motion, still, zero) == 0.0
    holes = walk.copy()
    holes[3, 4] = np.nan  # one joint not detected in one frame, one never
    holes[:, 0] = np.nan
    assert _quiet(track_motion, holes, scores) == pytest.approx(moving, rel=0.02)
    sparse = np.zeros((10, 17))
    sparse[0, :9] = 1.0  # nine joints seen once: no spread to measure
    sparse[[0, 9], 9:] = 1.0  # eight seen twice, nine frames apart: 18 px from their mean
    size = np.median([np.linalg.norm(np.ptp(STANDING_COCO, 0)), np.linalg.norm(np.ptp(STANDING_COCO[9:], 0))])
    assert _quiet(track_motion, walk, sparse) == pytest.approx(18.0 / size)  # size: the median frame's


def test_track_motion_is_the_same_in_any_units():
    walk, scores = _walk(), np.ones((10, 17))
    assert track_motion(walk / 1000, scores) == pytest.approx(track_motion(walk, scores), rel=1e-9)


def test_track_motion_refuses_bad_shapes():
    for keypoints, scores in (((5, 17, 3), (5, 17)), ((5, 17, 1, 2), (5, 17)), ((5, 17, 2), (5, 16))):
        with pytest.raises(ValueError, match=r"expected keypoints \(F, K, 2\) and scores \(F, K\), got"):
            track_motion(np.zeros(keypoints), np.ones(scores))


# --- tracks_of: the whole path from detections -----------------------------------------------

def _det(frame, x, score=0.9, track_id=None, keypoints=None, scale=1.0):
    kp = _body(x, scale=scale) if keypoints is None else keypoints
    return Detection(frame, track_id, kp, np.ones(len(kp)), score)


def test_tracks_of_errors_name_the_source():
    with pytest.raises(ValueError, match=r"^clip\.json: no person detected in any frame; expected at least one"):
        tracks_of([], COCO17, None, "clip.json", OPTIONS)
    mixed = [_det(0, 100), Detection(1, None, np.zeros((25, 2)), np.ones(25), 0.9)]
    with pytest.raises(ValueError, match=r"^clip\.json: detections with 25 keypoints; layout 'coco' expects 17"):
        tracks_of(mixed, COCO17, None, "clip.json", OPTIONS)
    with pytest.raises(TypeError, match=r"expected a Layout \(ddhpose\.lifting\.keypoints\.get_layout\('coco'\)\)"):
        tracks_of([_det(0, 100)], "coco", None, "clip.json", OPTIONS)
    with pytest.raises(ValueError, match=r"^clip\.json: every detection's keypoints are NaN"):
        tracks_of([_det(0, 0, keypoints=np.full((17, 2), np.nan))], COCO17, None, "clip.json", OPTIONS)
    with pytest.raises(ValueError, match=r"^clip\.json: no detection scores at least 0\.3 \(the best: 0\.2\); "
                                         r"lower --min-score"):
        tracks_of([_det(0, 100, 0.2), _det(1, 100, 0.1)], COCO17, None, "clip.json", OPTIONS)


def test_tracks_of_keeps_a_detection_at_min_score_and_with_some_keypoints_missing():
    dets = [_det(f, 100 + 4 * f, 0.3 if f == 2 else 0.9) for f in range(4)]
    holes = dets[1].keypoints.copy()
    holes[[0, 9]] = np.nan
    dets[1] = dets[1]._replace(keypoints=holes)
    (track,) = tracks_of(dets, COCO17, (1000, 800), "clip.json", TrackingOptions(min_frames=1))
    assert track.frames.tolist() == [0, 1, 2, 3]
    assert track.image_size == (1000, 800) and track.source == "clip.json"
    assert summarize_tracks([track])[0].frames_seen == 4  # a frame with some keypoints is seen


def test_tracks_of_keeps_the_surer_of_two_detections_of_one_id_in_a_frame():
    def twice(first, second):
        a, b = _det(0, 100, track_id=5), _det(0, 300, track_id=5)
        a = a._replace(scores=np.full(17, first))
        b = b._replace(scores=np.full(17, second))
        (track,) = tracks_of([a, b], COCO17, None, "clip.json", TrackingOptions(min_frames=1))
        return track.keypoints[0, HIPS].mean(0)[0]

    assert twice(0.9, 0.5) == pytest.approx(100) and twice(0.5, 0.9) == pytest.approx(300)
    assert twice(0.7, 0.7) == pytest.approx(100)  # a tie keeps the first


def test_tracks_of_short_clip_rule_counts_the_clips_frames():
    # frames 100-108: a 9-frame clip, half of it is 4 frames
    dets = [_det(f, 4 * f - 300) for f in range(100, 109)]
    dets += [_det(f, 1200 - 4 * f) for f in (100, 101, 102, 103)]
    dets += [_det(f, 0, keypoints=_body(450, 100, scale=0.5)) for f in (104, 105, 106)]
    with pytest.warns(UserWarning, match=r"^clip\.json: dropped 1 short track\(s\) of \[3\] frame\(s\) \(fewer than 4"):
        tracks = tracks_of(dets, COCO17, None, "clip.json", OPTIONS)
    assert [t.num_frames for t in tracks] == [9, 4]


def test_tracks_of_limits_the_jump_to_a_share_of_the_image_width():
    # 150 px in one frame: more than a tenth of a 1000 px wide image, less than a tenth of its height
    dets = [_det(f, 300 + (150 if f >= 10 else 0) + 2 * f) for f in range(20)]
    split = tracks_of(dets, COCO17, (1000, 2000), "clip.json", OPTIONS)
    assert [t.num_frames for t in split] == [10, 10]
    assert len(tracks_of(dets, COCO17, None, "clip.json", OPTIONS)) == 1


def test_tracks_of_warnings_name_the_source():
    near = [_det(f, 150 + 3 * f) for f in range(20)]
    still = [_det(f, 800) for f in range(20)]
    far = [_det(f, 450 + f, scale=0.3) for f in range(20)]
    with pytest.warns(UserWarning) as caught:
        tracks_of(near + still + far, COCO17, None, "clip.json", TrackingOptions(max_people=2))
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("clip.json: 20 frame(s) (0-19) had more than 2 people")
    assert messages[1].startswith("clip.json: dropped 1 still track(s)")
    frames, kps = _together()
    dets = [Detection(f, None, k, np.ones(17), 0.9) for f, k in zip(frames, kps)]
    with pytest.warns(UserWarning, match=r"^clip\.json: tracks 0 and 1 overlapped"):
        tracks_of(dets, COCO17, None, "clip.json", OPTIONS)


# --- options and summaries -----------------------------------------------------------------------

def test_tracking_options_are_checked_one_by_one():
    TrackingOptions(max_gap=0), TrackingOptions(max_people=1), TrackingOptions(min_motion=0)
    for bad in (dict(min_frames=0), dict(max_gap=-1), dict(max_jump=0.0)):
        with pytest.raises(ValueError, match=r"^tracking options: expected min_frames >= 1, max_gap >= 0 and "
                                             r"max_jump > 0, got"):
            TrackingOptions(**bad)
    with pytest.raises(ValueError, match=r"^tracking options: expected max_people >= 1 or None, got 0$"):
        TrackingOptions(max_people=0)
    with pytest.raises(ValueError, match=r"^tracking options: expected min_motion >= 0, got -0\.1$"):
        TrackingOptions(min_motion=-0.1)


def test_describe_no_tracks():
    assert describe_tracks([]) == "0 people"


def test_a_person_who_leaves_and_comes_back_is_named_and_kept():
    first = [_det(f, 100 + 5 * f) for f in range(20)]
    back = [_det(f, 400 + 5 * f) for f in range(60, 80)]  # 40 frames later, elsewhere: past max_gap
    with pytest.warns(UserWarning, match=r"clip.json: person 1 appears at frame 60, 40 frames after person 0 was last "
                                         r"seen \(frame 19\), at a similar size: the same person coming back\? .*"
                                         r"--max-gap 41 would join them"):
        tracks = tracks_of(first + back, COCO17, None, "clip.json", TrackingOptions())
    assert [t.track_id for t in tracks] == [0, 1] and [t.num_frames for t in tracks] == [20, 20]
    small = [_det(f, 400 + 5 * f, scale=0.3) for f in range(60, 80)]  # someone else: a third of the size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(tracks_of(first + small, COCO17, None, "clip.json", TrackingOptions())) == 2


def test_several_people_coming_back_are_named_in_one_warning():
    dets = [_det(f, 100 + 5 * f) for f in range(20)] + [_det(f, 400 + 5 * f) for f in range(60, 80)]
    dets += [_det(f, 200 + 5 * f) for f in range(120, 140)]
    with pytest.warns(UserWarning) as caught:
        tracks_of(dets, COCO17, None, "clip.json", TrackingOptions())
    said = [str(w.message) for w in caught if "coming back" in str(w.message)]
    assert len(said) == 1 and said[0].startswith("clip.json: 2 people appear after someone of their size left")
    assert "person 1 at frame 60, 40 frames after person 0 (last seen at 19)" in said[0]
    assert "person 2 at frame 120, 40 frames after person 1 (last seen at 79)" in said[0]
    assert "--max-gap 41 would join them all" in said[0]


def test_people_are_numbered_from_0_and_an_input_s_own_ids_kept_beside():
    named = [_det(f, 100 + 5 * f, track_id=7) for f in range(12)] + [_det(f, 600, track_id=3) for f in range(5, 17)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracks = tracks_of(named, COCO17, None, "clip.json", TrackingOptions(min_motion=0))
        assert [(t.track_id, t.input_track_id, int(t.frames[0])) for t in tracks] == [(0, 7, 0), (1, 3, 5)]
        unnamed = [d._replace(track_id=None) for d in named]
        tracks = tracks_of(unnamed, COCO17, None, "clip.json", TrackingOptions(min_motion=0))
    assert [(t.track_id, t.input_track_id) for t in tracks] == [(0, None), (1, None)]
