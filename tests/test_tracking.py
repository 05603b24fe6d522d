"""Tracking: detections become people; false positives, posters and gaps do not make or join people,
and people who cross keep who they are."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.keypoints import COCO17
from ddhpose.lifting.tracking import (TrackingOptions, TrackSummary, assign, associate_tracks, describe_tracks,
                                      keep_tracks, limit_people, summarize_tracks, track_motion)
from helpers import STANDING_COCO


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
    ids = associate_tracks(frames, kps, [np.ones(17)] * 7, COCO17)
    assert ids == [0, 1, 1, 0, 0, 2, 1]


def test_associate_tracks_rejects_empty_detection():
    with pytest.raises(ValueError, match=r"detection 1 \(frame 4\) has no finite keypoint"):
        associate_tracks([3, 4], [_person(0, 0), np.full((17, 2), np.nan)], [np.ones(17)] * 2, COCO17)



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
    assert associate_tracks(frames, kps, [np.ones(17)] * 3, COCO17) == [0, 0, 0]
    assert associate_tracks(frames, kps, [np.ones(17)] * 3, COCO17, max_gap=10) == [0, 0, 1]
    far = [_person(100, 100), _person(180, 100)]  # 80 px in one frame, within the people's size
    assert associate_tracks([0, 1], far, [np.ones(17)] * 2, COCO17) == [0, 0]
    assert associate_tracks([0, 1], far, [np.ones(17)] * 2, COCO17, max_jump_px=50) == [0, 1]


def test_keep_tracks_rule():
    with pytest.warns(UserWarning):
        assert keep_tracks({0: 60, 1: 3}, 10, 60) == {0}
    assert keep_tracks({0: 4, 1: 3}, 10, 4) == {0, 1}  # a 4-frame clip: half of it is enough
    with pytest.raises(ValueError, match="min_frames >= 1"):
        TrackingOptions(min_frames=0)


# --- several people: crossings, occlusions, crowds, posters -------------------------------------

def _walker(frames, x0, speed, y, scale, seed):
    """(F, 17, 2) COCO keypoints of a person walking sideways at ``speed`` px/frame, ``scale``
    times the standing template's size, with 1.5 px of detector noise."""
    rng = np.random.default_rng(seed)
    f = np.arange(frames)[:, None, None]
    base = STANDING_COCO * scale + [x0, y]
    return base + [speed, 0] * f + rng.normal(0, 1.5, (frames, 17, 2))


def _crossing(hidden=range(0)):
    """A walks right, B (further from the camera, smaller) walks left, their pelvises on one
    image row: they cross at frame 30; B is hidden behind A in the frames ``hidden``. Returns
    frames, keypoints, truth ids."""
    a, b = _walker(60, 200, 8, 420, 1.0, 1), _walker(60, 680, -8, 420, 0.8, 2)
    frames, kps, truth = [], [], []
    for f in range(60):
        for who, track in ((0, a), (1, b)):
            if who == 1 and f in hidden:
                continue
            frames.append(f), kps.append(track[f]), truth.append(who)
    return frames, kps, truth


def _greedy_pelvis(frames, kps, gate=200.0):
    """The rule this tracker replaced: each track takes the nearest pelvis, closest pairs first."""
    hips = [COCO17.index("left_hip"), COCO17.index("right_hip")]
    ids, last = [], []
    for frame in sorted(set(frames)):
        now = [i for i, f in enumerate(frames) if f == frame]
        taken, got = set(), {}
        dist = {(t, i): np.linalg.norm(kps[last[t]][hips].mean(0) - kps[i][hips].mean(0))
                for t in range(len(last)) for i in now}
        for (t, i), d in sorted(dist.items(), key=lambda kv: kv[1]):
            if d <= gate and t not in taken and i not in got:
                taken.add(t), got.__setitem__(i, t)
        for i in now:
            if i not in got:
                got[i] = len(last)
                last.append(i)
            last[got[i]] = i
        ids += [got[i] for i in now]
    return ids


def _switches(ids, truth):
    """Detections whose track holds another person than the track's first detection."""
    owner = {}
    return sum(owner.setdefault(t, w) != w for t, w in zip(ids, truth))


def test_identities_survive_a_crossing_with_an_occlusion():
    frames, kps, truth = _crossing(hidden=range(27, 35))  # B behind A for 8 frames
    ids = associate_tracks(frames, kps, [np.ones(17)] * len(kps), COCO17, max_gap=15)
    assert ids == truth
    assert _switches(_greedy_pelvis(frames, kps), truth) > 0  # the old rule swaps them here


def test_identities_survive_a_crossing_in_plain_view():
    frames, kps, truth = _crossing()
    assert associate_tracks(frames, kps, [np.ones(17)] * len(kps), COCO17, max_gap=15) == truth
    assert _switches(_greedy_pelvis(frames, kps), truth) > 0


def test_people_who_cannot_be_told_apart_are_reported():
    # two people of one size walk into the same spot, stand there together, then leave the way
    # they came: position and motion cannot tell who is who, and the tracker says so
    a = np.concatenate([_walker(20, 100, 10, 400, 1.0, 3)[:, :, :], _walker(20, 300, 0, 400, 1.0, 4)])
    b = np.concatenate([_walker(20, 500, -10, 400, 1.0, 5), _walker(20, 300, 0, 400, 1.0, 6)])
    frames = [f for f in range(40) for _ in (0, 1)]
    kps = [k for f in range(40) for k in (a[f], b[f])]
    with pytest.warns(UserWarning, match=r"tracks 0 and 1 overlapped with the same motion in \d+ frame\(s\) "
                                         r"\(2[0-9]-3[0-9].*check that their identities did not swap"):
        associate_tracks(frames, kps, [np.ones(17)] * len(kps), COCO17)


def test_max_people_keeps_the_largest_and_warns(tmp_path):
    near = _walker(40, 150, 3, 420, 1.0, 7)
    also_near = _walker(40, 700, -3, 420, 0.9, 8)
    far = _walker(40, 450, 1, 250, 0.3, 9)  # a small person in the background
    items = [{"image_id": f, "keypoints": np.c_[kp[f], np.full(17, 0.9)].reshape(-1).tolist()}
             for f in range(40) for kp in (near, far, also_near)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(items))
    assert len(read_keypoints(path, image_size=(1000, 800))) == 3
    with pytest.warns(UserWarning, match=r"40 frame\(s\) \(0-39\) had more than 2 people \(up to 3\); kept the 2 "
                                         r"largest.*--max-people"):
        tracks = read_keypoints(path, image_size=(1000, 800), tracking=TrackingOptions(max_people=2))
    assert len(tracks) == 2
    np.testing.assert_allclose(tracks[0].keypoints[0], near[0], atol=1e-3)
    np.testing.assert_allclose(tracks[1].keypoints[0], also_near[0], atol=1e-3)


def test_limit_people_ranks_by_size_and_score():
    small_sure, big_unsure, big_sure = _person(0, 0, 20), _person(300, 0, 60), _person(600, 0, 60)
    with pytest.warns(UserWarning, match=r"1 frame\(s\) \(0\) had more than 1 people \(up to 3\)"):
        keep = limit_people([0, 0, 0], [small_sure, big_unsure, big_sure], [np.ones(17)] * 3, [0.9, 0.2, 0.9],
                            COCO17, 1)
    assert keep == [2]
    assert limit_people([0, 0], [small_sure, big_sure], [np.ones(17)] * 2, [0.9, 0.9], COCO17, None) == [0, 1]


def test_a_still_poster_is_dropped_beside_a_moving_person(tmp_path):
    walker = _walker(60, 100, 4, 420, 1.0, 10)
    rng = np.random.default_rng(11)
    poster = STANDING_COCO * 0.8 + [800, 350] + rng.normal(0, 0.2, (60, 17, 2))  # detector noise only
    items = [{"image_id": f, "keypoints": np.c_[kp[f], np.full(17, 0.9)].reshape(-1).tolist()}
             for f in range(60) for kp in (walker, poster)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(items))
    with pytest.warns(UserWarning, match=r"dropped 1 still track\(s\) \(track 1: motion .*--min-motion"):
        (track,) = read_keypoints(path, image_size=(1000, 800))
    np.testing.assert_allclose(track.keypoints[0], walker[0], atol=1e-3)
    assert len(read_keypoints(path, image_size=(1000, 800), tracking=TrackingOptions(min_motion=0))) == 2
    # alone, a still person is kept: a person standing still is still a person
    path.write_text(json.dumps([i for i in items if i["keypoints"][0] > 500]))
    (alone,) = read_keypoints(path, image_size=(1000, 800))
    assert alone.num_frames == 60


def test_track_motion_scales_with_the_person():
    walker = _walker(30, 100, 4, 420, 1.0, 12)
    scores = np.ones((30, 17))
    assert track_motion(walker, scores) == pytest.approx(track_motion(walker * 2, scores), rel=1e-6)
    still = np.broadcast_to(walker[:1], walker.shape)
    assert track_motion(still, scores) == pytest.approx(0.0, abs=1e-12)
    # walking 4 px/frame for 30 frames: each joint spreads 4 * sqrt((30^2 - 1) / 12) px around its mean
    size = np.linalg.norm(np.ptp(STANDING_COCO, axis=0))
    assert track_motion(walker, scores) == pytest.approx(4 * np.sqrt((30 ** 2 - 1) / 12) / size, rel=0.05)


def test_summaries_say_who_was_seen_when(tmp_path):
    walker = _walker(60, 100, 4, 420, 1.0, 13)
    late = _walker(60, 800, -4, 420, 1.0, 14)
    items = [{"image_id": f, "keypoints": np.c_[walker[f], np.full(17, 0.9)].reshape(-1).tolist()}
             for f in range(60) if not 20 <= f < 25]
    items += [{"image_id": f, "keypoints": np.c_[late[f], np.full(17, 0.9)].reshape(-1).tolist()}
              for f in range(30, 60)]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(items))
    tracks = read_keypoints(path, image_size=(1000, 800))
    assert summarize_tracks(tracks) == [TrackSummary(0, 0, 59, 55), TrackSummary(1, 30, 59, 30)]
    assert describe_tracks(tracks) == ("2 people: person 0: frames 0-59 (seen in 55 of 60); "
                                       "person 1: frames 30-59 (seen in 30 of 30)")
    assert describe_tracks(tracks[:1]).startswith("1 person: person 0")


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (2, 5), (5, 2), (6, 6)])
def test_assign_matches_brute_force_and_scipy(shape):
    linear_sum_assignment = pytest.importorskip("scipy.optimize").linear_sum_assignment
    from itertools import permutations
    rng = np.random.default_rng(sum(shape))
    for trial in range(30):
        cost = rng.uniform(0, 10, shape)
        if trial % 3 == 0:
            cost[rng.random(shape) < 0.3] = np.inf
        pairs = assign(cost)
        total = sum(cost[r, c] for r, c in pairs)
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
        allowed = [(r, c) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]
        assert len(pairs) == len(allowed) and total == pytest.approx(sum(cost[r, c] for r, c in allowed))
        if max(shape) <= 5:  # every way to pair the rows with columns
            n, m = shape
            best = min((-len(ok), sum(cost[p] for p in ok)) for perm in permutations(range(max(n, m)), min(n, m))
                       for ok in [[(r, c) if n <= m else (c, r) for r, c in enumerate(perm)
                                   if np.isfinite(cost[(r, c) if n <= m else (c, r)])]])
            assert (-len(pairs), total) == pytest.approx(best)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})


def test_assign_refuses_bad_costs():
    assert assign(np.zeros((0, 3))) == [] and assign(np.full((2, 2), np.inf)) == []
    with pytest.raises(ValueError, match="expected an \\(R, C\\) matrix"):
        assign(np.zeros(3))
    with pytest.raises(ValueError, match="NaN or a negative"):
        assign(np.array([[1.0, np.nan]]))


def test_a_doubled_detection_does_not_take_over_the_person(monkeypatch):
    # as at the edge of the real demo video: one detection lands 80 px off (the track's motion
    # goes wrong), the next frame is missed, then the person is found twice, the second pose
    # where the wrong motion expects them; afterwards they are found once per frame again. Their
    # track goes on; one of the two poses of that frame becomes a 1-frame track.
    walker = _walker(40, 600, -8, 420, 1.0, 15)
    frames, kps = [], []
    for f in range(40):
        if f == 21:
            continue
        frames.append(f), kps.append(walker[f] + ([-80, 0] if f == 20 else [0, 0]))
        if f == 22:
            frames.append(f), kps.append(walker[f] + [-90, 0])
    scores = [np.ones(17)] * len(kps)
    ids = associate_tracks(frames, kps, scores, COCO17, max_gap=15)
    assert ids.count(0) == 39 and ids.count(1) == 1
    monkeypatch.setattr("ddhpose.lifting.tracking.NEW_TRACK_COST", 0.0)  # new tracks on equal terms
    split = associate_tracks(frames, kps, scores, COCO17, max_gap=15)
    assert split.count(0) < 39  # the double's track takes the person over


def test_a_new_track_keeps_its_person_when_an_established_one_is_missed_beside_it():
    # B walks just behind A (smaller, further away) and is hidden behind A until frame 30, comes
    # out as a new track; at frame 32 A is missed: B's detection stays B's, A is not handed B
    a = _walker(50, 300, 6, 420, 1.0, 16)
    b = _walker(50, 330, 6, 400, 0.75, 17)
    frames, kps, truth = [], [], []
    for f in range(50):
        if f != 32:
            frames.append(f), kps.append(a[f]), truth.append(0)
        if f >= 30:
            frames.append(f), kps.append(b[f]), truth.append(1)
    ids = associate_tracks(frames, kps, [np.ones(17)] * len(kps), COCO17, max_gap=15)
    assert ids == truth



def _same_size_crossing(hidden=range(0)):
    """A walks right, B walks left, both of one size on one image row, 16 px apart at frame 30
    and swapped sides at 31: only their motion tells them apart (the size term cannot). B is
    hidden in the frames ``hidden``. Returns frames, keypoints, truth ids."""
    a, b = _walker(60, 200, 16, 420, 1.0, 18), _walker(60, 1176, -16, 420, 1.0, 19)
    frames, kps, truth = [], [], []
    for f in range(60):
        for who, track in ((0, a), (1, b)):
            if not (who == 1 and f in hidden):
                frames.append(f), kps.append(track[f]), truth.append(who)
    return frames, kps, truth


def _tracked_without_warnings(frames, kps):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor is the crossing reported as ambiguous
        return associate_tracks(frames, kps, [np.ones(17)] * len(kps), COCO17, max_gap=15)


def test_people_of_one_size_crossing_keep_their_identities_by_their_motion():
    # at frame 31 each detection lies where the *other* person was at 30: position alone swaps
    # them, the constant-velocity prediction does not
    frames, kps, truth = _same_size_crossing()
    assert _tracked_without_warnings(frames, kps) == truth
    assert _switches(_greedy_pelvis(frames, kps), truth) > 0  # the nearest-pelvis rule swaps them


def test_a_hidden_person_of_one_size_is_found_where_their_motion_puts_them():
    # B is hidden while they cross and comes out at frame 34 far (144 px) from where it was last
    # seen, while A is 32 px from there: the least-cost pairing by position alone swaps them;
    # B's track coasting on its velocity meets B
    frames, kps, truth = _same_size_crossing(hidden=range(26, 34))
    assert _tracked_without_warnings(frames, kps) == truth
