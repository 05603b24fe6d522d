"""Tracking: detections become people; false positives and gaps do not make or join people."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.keypoints import COCO17
from ddhpose.lifting.tracking import TrackingOptions, associate_tracks, keep_tracks


def _person(x, y, scale=50.0):
    kp = np.array([x, y]) + np.random.default_rng(0).uniform(-scale, scale, size=(17, 2))
    hips = [COCO17.index("left_hip"), COCO17.index("right_hip")]
    kp[hips] = [[x - 10, y], [x + 10, y]]
    return kp


def test_associate_tracks_follows_people_and_starts_new_ones():
    # frame 0: A at 100, B at 500; frame 1: listed B first; frame 2: a third person far away
    frames = [0, 0, 1, 1, 2, 2, 2]
    kps = [_person(100, 100), _person(500, 100), _person(510, 105), _person(105, 100),
           _person(110, 100), _person(2000, 2000), _person(515, 110)]
    ids = associate_tracks(frames, kps, [np.ones(17)] * 7, "coco")
    assert ids == [0, 1, 1, 0, 0, 2, 1]


def test_associate_tracks_rejects_empty_detection():
    with pytest.raises(ValueError, match=r"detection 1 \(frame 4\) has no finite keypoint"):
        associate_tracks([3, 4], [_person(0, 0), np.full((17, 2), np.nan)], [np.ones(17)] * 2, "coco")



def _results(people: list[tuple[int, float, float, float]]) -> list[dict]:
    """COCO results: (frame, x, y, score) per detection, one walking-sized person each."""
    out = []
    for frame, x, y, score in people:
        kp = _person(x, y, 40.0)
        out.append({"image_id": frame, "keypoints": np.c_[kp, np.full(17, 0.9)].reshape(-1).tolist(),
                    "score": score})
    return out


def test_false_positives_never_abort_nor_become_people(tmp_path):
    person = [(f, 300 + 2 * f, 400, 0.95) for f in range(60)]
    noise = [(10, 900, 100, 0.05)]  # one low-score detection
    noise += [(f, 50 + 100 * (f % 7), 50, 0.6) for f in (5, 17, 29, 41, 53)]  # medium scores, one frame each
    path = tmp_path / "d.json"
    path.write_text(json.dumps(_results(person + noise)))
    with pytest.warns(UserWarning, match=r"dropped 5 short track\(s\).*--min-track-frames"):
        tracks = read_keypoints(path, image_size=(1000, 800))
    assert len(tracks) == 1 and tracks[0].num_frames == 60
    loose = read_keypoints(path, image_size=(1000, 800), tracking=TrackingOptions(min_frames=1, min_score=0.0))
    assert len(loose) == 7


def test_two_people_are_not_joined_across_a_gap(tmp_path):
    leaving = [(f, 300 - 6 * f, 400, 0.9) for f in range(50)]  # walks out on the left by frame 49
    entering = [(f, 990 - 6 * (f - 100), 400, 0.9) for f in range(100, 150)]  # comes in on the right
    path = tmp_path / "d.json"
    path.write_text(json.dumps(_results(leaving + entering)))
    tracks = read_keypoints(path, image_size=(1000, 800))
    assert [t.frames[[0, -1]].tolist() for t in tracks] == [[0, 49], [100, 149]]
    # a short occlusion of one walking person is bridged
    hidden = [d for d in leaving if not 20 <= d[0] < 26]
    path.write_text(json.dumps(_results(hidden)))
    (track,) = read_keypoints(path, image_size=(1000, 800))
    assert track.num_frames == 44 and track.contiguous().num_frames == 50


def test_jump_and_gap_limits():
    frames = [0, 1, 30]
    kps = [_person(100, 100), _person(110, 100), _person(120, 100)]
    assert associate_tracks(frames, kps, [np.ones(17)] * 3, "coco") == [0, 0, 0]
    assert associate_tracks(frames, kps, [np.ones(17)] * 3, "coco", max_gap=10) == [0, 0, 1]
    far = [_person(100, 100), _person(180, 100)]  # 80 px in one frame, within the people's size
    assert associate_tracks([0, 1], far, [np.ones(17)] * 2, "coco") == [0, 0]
    assert associate_tracks([0, 1], far, [np.ones(17)] * 2, "coco", max_jump_px=50) == [0, 1]


def test_keep_tracks_rule():
    with pytest.warns(UserWarning):
        assert keep_tracks({0: 60, 1: 3}, 10, 60) == {0}
    assert keep_tracks({0: 4, 1: 3}, 10, 4) == {0, 1}  # a 4-frame clip: half of it is enough
    with pytest.raises(ValueError, match="min_frames >= 1"):
        TrackingOptions(min_frames=0)
