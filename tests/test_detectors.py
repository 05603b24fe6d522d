"""Video detectors: the single- and multi-person MediaPipe paths, their model bundle built from the
wheel, and the multi-person detector finding both people of the real clip. The MediaPipe tests
skip when the ``video`` extra is not installed (CI runs this file again after installing it)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ddhpose.lifting.keypoints import MEDIAPIPE33
from ddhpose.lifting.tracking import associate_tracks, keep_tracks
from ddhpose.video import detectors as D
from ddhpose.video.detect import get_detector

CLIP = Path(__file__).parent / "fixtures" / "sports2d_demo_3s.mp4"  # a man on a box, a woman walking
HIPS = [MEDIAPIPE33.index("left_hip"), MEDIAPIPE33.index("right_hip")]


def _frames(count: int) -> list[np.ndarray]:
    import imageio.v2 as iio
    reader = iio.get_reader(str(CLIP), "ffmpeg")
    try:
        return [np.asarray(reader.get_data(i))[..., :3] for i in range(count)]
    finally:
        reader.close()


def _standing(x: float, y: float, height: float) -> D.Person:
    kp = np.zeros((33, 2))
    kp[:, 0] = x + np.linspace(-0.15, 0.15, 33) * height
    kp[:, 1] = y + np.linspace(-0.5, 0.5, 33) * height
    return D.Person(kp, np.full(33, 0.9))


def test_a_person_unpacks_as_keypoints_and_scores():
    person = _standing(100, 200, 100)
    kp, scores = person
    assert kp.shape == (33, 2) and scores.shape == (33,)
    np.testing.assert_allclose(person.box, [85, 150, 115, 250])
    assert person.score == pytest.approx(0.9)


def test_one_person_seen_twice_is_merged_and_two_people_are_not():
    a = _standing(100, 200, 100)
    assert D.same_person(a, _standing(103, 198, 100))  # the same pose from two windows
    assert D.same_person(a, _standing(100, 180, 50))  # a second guess at part of the person, inside the box
    assert not D.same_person(a, _standing(190, 200, 100))  # side by side
    assert not D.same_person(a, _standing(140, 200, 100))  # overlapping a little
    behind = _standing(100, 222, 56)  # smaller, its box inside a's, but its head (keypoint 0) 40 px lower
    assert D._overlap(behind.box, a.box)[1] > D.SAME_BOX_INSIDE
    assert D.same_person(a, behind)  # by default: a guess at part of the person (the region search)
    assert not D.same_person(a, behind, head=0.25)  # a person further away, seen over the nearer one's body
    assert D.same_person(a, _standing(100, 180, 50), head=0.25)  # the part's head is the person's


def test_a_pose_cut_by_a_window_edge_inside_the_frame_is_refused():
    person = _standing(100, 200, 100)  # box x 85-115, y 150-250
    assert not D.cut_by(person, (0, 0, 400, 400), 400, 400)
    assert D.cut_by(person, (100, 0, 400, 400), 400, 400)  # the left half is outside the window
    assert not D.cut_by(person, (0, 0, 400, 240), 800, 240)  # cut by the frame's own edge: kept


def test_a_pose_whose_pelvis_is_outside_the_frame_is_refused():
    assert D.HIPS == tuple(HIPS)
    assert not D.pelvis_outside(_standing(100, 200, 100), 400, 400)
    assert D.pelvis_outside(_standing(-10, 200, 100), 400, 400)  # at the left edge, hips outside
    assert D.pelvis_outside(_standing(100, 420, 100), 400, 400)


@pytest.mark.parametrize("size", [(884, 498), (1768, 994), (498, 884), (320, 240)])
def test_search_windows_cover_the_frame_with_overlapping_squares(size):
    width, height = size
    windows = D.search_windows(width, height)
    assert windows[0] == (0, 0, width, height)
    short = min(width, height)
    for side in (short, short // 2):
        level = [w for w in windows[1:] if w[2] - w[0] == side]
        assert level and all(w[3] - w[1] == side for w in level)
        assert all(0 <= w[0] and 0 <= w[1] and w[2] <= width and w[3] <= height for w in level)
        covered = np.zeros((height, width), dtype=bool)
        for x0, y0, x1, y1 in level:
            covered[y0:y1, x0:x1] = True
        assert covered.all()
        xs = sorted({w[0] for w in level})
        assert all(b - a <= side * 2 / 3 + 1 for a, b in zip(xs, xs[1:]))  # neighbours overlap by a third


def test_get_detector_checks_its_arguments():
    with pytest.raises(ValueError, match="unknown detector 'openpose'"):
        get_detector("openpose")
    with pytest.raises(ValueError, match="max_people: expected at least 1, got 0"):
        get_detector(max_people=0)


def test_get_detector_picks_the_single_person_path_for_one_person():
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")
    from ddhpose.video.people import PeopleDetector

    single, multi = get_detector(max_people=1), get_detector(max_people=3, detect_every=5)
    try:
        assert isinstance(single, D.MediaPipePose) and isinstance(multi, PeopleDetector)
        assert multi.max_people == 3 and multi.detect_every == 5 and multi.layout == single.layout == "mediapipe33"
    finally:
        single.close(), multi.close()


def test_the_bundle_built_from_the_wheel_gives_mediapipe_s_own_landmarks():
    mp = pytest.importorskip("mediapipe")
    from mediapipe.tasks.python import BaseOptions, vision
    # the woman, alone in the right part of the first frame
    crop = np.ascontiguousarray(_frames(1)[0][150:, 450:])
    h, w = crop.shape[:2]
    options = vision.PoseLandmarkerOptions(base_options=BaseOptions(model_asset_buffer=D.pose_task_bundle()),
                                           running_mode=vision.RunningMode.IMAGE, num_poses=1)
    with vision.PoseLandmarker.create_from_options(options) as landmarker:
        (tasks,) = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop)).pose_landmarks
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        solution = pose.process(crop).pose_landmarks.landmark
    a = np.array([[m.x * w, m.y * h, m.visibility] for m in tasks])
    b = np.array([[m.x * w, m.y * h, m.visibility] for m in solution])
    # measured: 0.02 px median, 0.2 px mean and visibilities equal; with either model's input
    # normalisation wrong, 1.2-2 px median, 2.7 px mean and visibilities off by 0.04-0.13
    distance = np.linalg.norm(a[:, :2] - b[:, :2], axis=1)
    assert np.median(distance) < 0.5 and distance.mean() < 1.0
    np.testing.assert_allclose(a[:, 2], b[:, 2], atol=0.01)


def test_the_multi_person_detector_finds_both_people_of_the_real_clip():
    pytest.importorskip("mediapipe")
    frames = _frames(60)
    height = frames[0].shape[0]
    detector = D.MediaPipeMultiPose(max_people=4, search_every=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no frame should see more than 4 people
        people = [detector(rgb) for rgb in frames]
    detector.close()
    assert all(isinstance(p, D.Person) and p.keypoints.shape == (33, 2) for ps in people for p in ps)
    # the man stands on a box (hips in the upper part of the frame), the woman walks on the grass
    man = np.array([any(p.keypoints[HIPS, 1].mean() < 0.45 * height for p in ps) for ps in people])
    woman = np.array([any(p.keypoints[HIPS, 1].mean() > 0.5 * height for p in ps) for ps in people])
    assert man.mean() >= 0.7 and woman.mean() >= 0.95, (man.mean(), woman.mean())
    # tracked, they are two people who last the clip; whatever else was seen is short-lived
    frames_of = [i for i, ps in enumerate(people) for _ in ps]
    kps = [p.keypoints for ps in people for p in ps]
    ids = associate_tracks(frames_of, kps, [p.scores for ps in people for p in ps], MEDIAPIPE33,
                           max_gap=15, max_jump_px=0.1 * frames[0].shape[1])
    lengths = {t: ids.count(t) for t in set(ids)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kept = keep_tracks(lengths, 10, len(frames))
    assert len(kept) == 2
    rows = {t: np.mean([k[HIPS, 1].mean() for k, i in zip(kps, ids) if i == t]) for t in kept}
    assert sorted(rows.values())[0] < 0.45 * height < 0.5 * height < sorted(rows.values())[1]
    assert max(lengths[t] for t in kept) >= 57 and min(lengths[t] for t in kept) >= 40


def test_a_lost_person_is_looked_for_where_their_motion_takes_them():
    # the follow bookkeeping alone, without MediaPipe: a person moving 10 px per frame is missed
    # for two frames and found again 30 px on; their motion stays 10 px per frame
    multi = D.MediaPipeMultiPose.__new__(D.MediaPipeMultiPose)
    multi.max_people, multi._followed, multi._lost = 2, [], False
    walk = [_standing(100 + 10 * f, 200, 100) for f in range(6)]
    multi._update([walk[0]]), multi._update([walk[1]])
    np.testing.assert_allclose(multi._followed[0].motion, [10, 0])
    multi._update([]), multi._update([])
    assert multi._lost and multi._followed[0].misses == 2
    np.testing.assert_allclose(multi._followed[0].predicted, walk[4].box)  # where to look next
    multi._update([walk[4]])
    assert not multi._lost and multi._followed[0].misses == 0
    np.testing.assert_allclose(multi._followed[0].motion, [10, 0])
    for _ in range(D.FOLLOW_MISSES + 1):
        multi._update([])
    assert multi._followed == []  # given up after FOLLOW_MISSES frames
