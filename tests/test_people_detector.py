"""The every-person detector (video/people.py): when it searches with the person detector, how it
follows people with one landmark pass each, and that identities come from the tracker, on
stand-in models (scripted people on a blank frame), then on the real clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddhpose.video.blazepose import Candidate, Pose, Roi, roi_from_points
from ddhpose.video import people
from ddhpose.video.people import FOLLOW_MISSES, QUARTER_TURNS, TURN_MISSES, PeopleDetector, tile_levels

CLIP = Path(__file__).parent / "fixtures" / "sports2d_demo_3s.mp4"


def _body(x: float, y: float, height: float = 200.0) -> np.ndarray:
    """(33, 2) MediaPipe-like landmarks of a standing person, hips at (x, y)."""
    kp = np.zeros((33, 2))
    kp[:, 0] = x + np.linspace(-0.12, 0.12, 33) * height
    kp[:, 1] = y + np.linspace(-0.6, 0.4, 33) * height
    kp[[23, 24]] = [[x - 0.05 * height, y], [x + 0.05 * height, y]]
    return kp


class Scripted:
    """Stand-in models: ``people(frame)`` -> hip positions; the detector finds each (when
    ``visible``), a landmark pass finds the person nearest the crop's centre within its side."""

    def __init__(self, people) -> None:
        self.people, self.frame = people, 0
        self.detect_calls, self.landmark_calls = [], 0

    def detect(self, rgb, window=None, threshold=0.5):
        self.detect_calls.append((self.frame, window))
        x0, y0, x1, y1 = window
        out = []
        for x, y in self.people(self.frame):
            if x0 <= x < x1 and y0 <= y < y1:
                kp = np.array([[x, y], [x, y - 100], [x, y - 60], [x, y - 90]])
                out.append(Candidate(np.array([x - 30, y - 120, x + 30, y + 80]), kp, 0.9,
                                     roi_from_points(kp[0], kp[1])))
        return out

    def landmarks(self, rgb, roi: Roi) -> Pose:
        self.landmark_calls += 1
        near = [p for p in self.people(self.frame) if np.linalg.norm(np.subtract(p, roi.centre)) < roi.side / 2]
        if not near:
            return Pose(_body(*roi.centre), np.zeros(33), 0.0, roi)
        x, y = min(near, key=lambda p: np.linalg.norm(np.subtract(p, roi.centre)))
        kp = _body(x, y)
        return Pose(kp, np.full(33, 0.9), 0.99, roi_from_points([x, y], [x, y - 100]))


def _run(models: Scripted, frames: int, **kw) -> list[list]:
    detector = PeopleDetector(4, models=models, **kw)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    out = []
    for f in range(frames):
        models.frame = f
        out.append(detector(rgb))
    return out


def test_people_are_found_by_the_detector_then_followed_by_one_landmark_pass_each():
    models = Scripted(lambda f: [(300 + 4 * f, 500), (900 - 4 * f, 450)])
    out = _run(models, 21, detect_every=10)
    searched = sorted({f for f, _ in models.detect_calls})
    assert searched == [0, 10, 20]  # the person detector runs every 10th frame only
    assert models.landmark_calls == 2 + 2 * 20  # the two found at frame 0, then one pass per person per frame
    assert all(len(people) == 2 for people in out)
    for f, people in enumerate(out):  # ids from the tracker, stable: 0 walks right, 1 walks left
        by_id = {p.track_id: p.keypoints[[23, 24]].mean(0)[0] for p in people}
        assert by_id == pytest.approx({0: 300 + 4 * f, 1: 900 - 4 * f})


def test_the_search_alternates_the_large_windows_and_turns_of_the_small_tiles():
    large, small = tile_levels(1280, 720)
    assert large[0] == (0, 0, 1280, 720) and len(large) == 4 and len(small) == 15
    models = Scripted(lambda f: [(640, 400)])
    _run(models, 41, detect_every=10)
    windows = {f: [w for g, w in models.detect_calls if g == f] for f in (0, 10, 20, 30, 40)}
    assert windows[0] == large  # the whole frame and the squares of its height
    assert windows[20] == large and windows[40] == large
    assert windows[10] == small[:3] and windows[30] == small[3:6]  # between them, the small tiles in turn


def test_a_lost_person_is_looked_for_a_few_frames_then_searched_for():
    models = Scripted(lambda f: [(300, 500)] if f < 5 or f > 12 else [])
    out = _run(models, 16, detect_every=100)
    assert [len(p) for p in out] == [1] * 5 + [0] * 8 + [1] * 3
    searched = sorted({f for f, _ in models.detect_calls})
    assert searched[:2] == [0, 6] and 13 in searched  # the frame after the loss, and while nobody is followed
    passes = models.landmark_calls
    # a lost person costs at most FOLLOW_MISSES passes, and the other turns of their crop on the first
    assert passes <= 1 + 4 + FOLLOW_MISSES + TURN_MISSES * len(QUARTER_TURNS) + 1 + 3 + 1
    assert {p.track_id for people in out for p in people} == {0}  # back within max_gap: the same id


class Flipping(Scripted):
    """A person who turns upside down at frame 3 (a flip) and stays so: the landmark model finds
    them only in a crop turned within 45 degrees of their own turn, the person detector no longer
    at all (BlazePose's detector looks for an upright face)."""

    def detect(self, rgb, window=None, threshold=0.5):
        return super().detect(rgb, window, threshold) if self.frame < 3 else []

    def landmarks(self, rgb, roi: Roi) -> Pose:
        turn = 0.0 if self.frame < 3 else np.pi
        if abs((roi.rotation - turn + np.pi) % (2 * np.pi) - np.pi) > np.pi / 4:
            self.landmark_calls += 1
            return Pose(_body(*roi.centre), np.zeros(33), 0.0, roi)
        pose = super().landmarks(rgb, roi)
        if turn:  # upside down: the next crop from the landmarks points down
            x, y = pose.keypoints[[23, 24]].mean(0)
            pose = pose._replace(next_roi=roi_from_points([x, y], [x, y + 100]))
        return pose


def test_a_person_who_turns_upside_down_is_followed_through_the_turn(monkeypatch):
    out = _run(Flipping(lambda f: [(600 + 5 * f, 400)]), 10, detect_every=100)
    assert [len(p) for p in out] == [1] * 10
    assert {p.track_id for people in out for p in people} == {0}
    monkeypatch.setattr(people, "TURN_MISSES", 0)  # without the turned crops they are lost at the turn
    assert [len(p) for p in _run(Flipping(lambda f: [(600 + 5 * f, 400)]), 10, detect_every=100)] == [1] * 3 + [0] * 7


def test_two_crops_on_one_person_give_one_person():
    models = Scripted(lambda f: [(500, 400)])
    detector = PeopleDetector(4, models=models)
    rgb = np.zeros((720, 1280, 3), np.uint8)
    detector(rgb)
    detector._followed[7] = (Roi(np.array([510.0, 400.0]), 250.0, 0.0), 0)  # a second crop drifted onto them
    models.frame = 1
    assert len(detector(rgb)) == 1


def test_every_person_of_the_real_clip_with_the_real_models():
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")
    import imageio.v2 as iio
    reader = iio.get_reader(str(CLIP), "ffmpeg")
    frames = [np.asarray(f)[..., :3] for _, f in zip(range(30), reader)]
    reader.close()
    detector = PeopleDetector(4)
    out = [detector(f) for f in frames]
    rows: dict[int, list[float]] = {}
    for people in out:
        for p in people:
            rows.setdefault(p.track_id, []).append(p.keypoints[[23, 24], 1].mean() / 498)
    assert len(rows) == 2 and sorted(len(r) for r in rows.values()) == [30, 30]  # both, in every frame
    man, woman = sorted(rows.values(), key=np.median)
    assert max(man) < 0.35 and min(woman) > 0.6  # the man on the box, the woman on the grass: never swapped
    # one landmark pass per person per frame (and the first frame's), the detector on a few frames only
    assert detector.landmark_passes < 2.3 * 30 and detector.detector_passes < 30


def test_a_person_standing_behind_another_is_found_and_kept():
    # the one behind stands higher in the image, their hips inside the front person's box: the
    # detector's candidate is a second person (its hips far from the first's), and the two poses
    # are two people (their heads apart), not one detection
    models = Scripted(lambda f: [(600, 500), (610, 385)])
    out = _run(models, 5, detect_every=10)
    for people_ in out:
        hips = sorted(float(p.keypoints[[23, 24]].mean(0)[1]) for p in people_)
        assert hips == pytest.approx([385, 500])
    assert len({p.track_id for people_ in out for p in people_}) == 2
