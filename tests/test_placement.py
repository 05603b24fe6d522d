"""Several people of one static camera on one floor (lifting/placement.py): a person whose size
the lift misjudged stands too far and floats (or too near and sinks); their resting feet on the
floor say by how much, as far as up is sure."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.lifting import placement as P
from ddhpose.lifting.placement import MAX_FLOOR_SCALE, NO_ROOT, on_the_floor, place_in_world
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.world import ANKLE_HEIGHT_RATIO, leg_length
from ddhpose.skeleton import H36M

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps
FEET = [H36M.names.index("left_ankle"), H36M.names.index("right_ankle")]
SIZE, FOCAL = (1920, 1080), 1500.0


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    with np.load(WALK) as data:
        return data["world"].astype(np.float64)


def _camera():
    return look_at_camera((6.0, 0.0, 1.6), (0.0, 0.0, 0.9), image_size=SIZE, focal=FOCAL)


def _lifted(world_zup: np.ndarray, size: float = 1.0, track_id: int = 0) -> LiftResult:
    """What a perfect lift gives for a body filmed by :func:`_camera`, except its size: ``size``
    times as large and as far from the camera (the same 2D: what a misjudged body size does)."""
    cam, uv = (t.numpy() for t in observe(world_zup, _camera()))
    f = len(cam)
    poses = (cam - cam[:, :1]) * size
    return LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((f, 17)), keypoints_2d=uv,
                      missing=np.zeros((f, 17), bool), scores=np.ones((f, 17)), frames=np.arange(f),
                      image_size=SIZE, focal_length=FOCAL, root_trajectory=cam[:, 0] * size, fps=25.0,
                      track_id=track_id)


def _resting_heights(r: LiftResult) -> np.ndarray:
    """The ankles' heights above the floor less the ankle's own height, where a foot rests."""
    rest = ANKLE_HEIGHT_RATIO * leg_length(r.world_poses - r.world_poses[:, :1])
    return r.world_poses[:, FEET, 1][r.foot_contacts] - rest


def _place(results, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        placed = place_in_world(results, foot_lock=False, **kwargs)
    return placed, [str(w.message) for w in caught]


def _sure(frame, degrees=0.5):
    from dataclasses import replace
    return replace(frame, uncertainty_deg=degrees)


@pytest.fixture(scope="module")
def scene(walk):
    """Two people on one floor, 6 and 8.5 m from a camera 1.6 m high, and the frame found for them."""
    far = walk + [-2.5, 0.0, 0.0]
    placed, _ = _place([_lifted(walk), _lifted(far, track_id=1)])
    return walk, far, placed[0].world_frame


def test_people_sized_right_stay_as_they_are_on_one_floor(scene):
    walk, far, frame = scene
    placed, caught = _place([_lifted(walk), _lifted(far, track_id=1)])
    assert caught == []
    for r in placed:
        info = r.provenance["placement"]
        assert info["floor_scale"] == pytest.approx(1.0, abs=0.002) and info["resting_frames"] > 60
        assert abs(_resting_heights(r).mean()) < 0.03  # both on the frame's floor
        assert r.world_frame is placed[0].world_frame
    np.testing.assert_allclose(placed[1].world_poses[:, :, 0] - placed[0].world_poses[:, :, 0], 0.0, atol=0.05)
    np.testing.assert_allclose(placed[1].world_poses[:, :, 2] - placed[0].world_poses[:, :, 2], -2.5, atol=0.05)


def test_a_person_sized_wrong_is_pulled_onto_the_floor_as_far_as_up_is_sure(scene):
    walk, far, frame = scene
    people = [_lifted(walk), _lifted(far, 1.15, track_id=1)]  # 15 % too large: too far, sinking
    sure, sure_frame = on_the_floor(people, _sure(frame))
    unsure, _ = on_the_floor(people, _sure(frame, 3.0))
    size = [1.0 * sure[0].provenance["placement"]["floor_scale"], 1.15 * sure[1].provenance["placement"]["floor_scale"]]
    assert sure[0].provenance["placement"]["floor_scale"] > 1.01 and sure[1].provenance["placement"]["floor_scale"] < 0.99
    assert 1.0 < size[1] / size[0] < 1.10  # the error between them shrinks by more than a third
    unsure_size = 1.15 * unsure[1].provenance["placement"]["floor_scale"] / unsure[0].provenance["placement"]["floor_scale"]
    assert size[1] / size[0] < unsure_size < 1.15  # less sure of up: less trust in the floor
    # the nearer person's feet say more of the floor than the farther one's
    trust = [r.provenance["placement"]["floor_trust"] for r in sure]
    assert trust[0] > trust[1] > 0.2
    for r in unsure:
        assert r.provenance["placement"]["floor_trust"] < 0.2
    # before, the large person's resting feet were well below the others' floor
    assert sure[1].provenance["placement"]["feet_above_floor_m"] < -0.08
    # scaling is about the camera: the 2D stays, poses, hypotheses, roots and bones scale together
    s = sure[1].provenance["placement"]["floor_scale"]  # recorded to 4 decimals: 5e-5 of 1
    np.testing.assert_allclose(sure[1].root_trajectory, people[1].root_trajectory * s, rtol=6e-5)
    np.testing.assert_allclose(sure[1].hypotheses, people[1].hypotheses * s, rtol=6e-5, atol=1e-7)
    exact = sure[1].root_trajectory[0, 2] / people[1].root_trajectory[0, 2]  # the scale, unrounded
    np.testing.assert_allclose(sure[1].poses, people[1].poses * exact, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(sure[1].keypoints_2d, people[1].keypoints_2d)
    assert sure_frame.translation[1] != frame.translation[1]  # the one floor both were fitted to


def test_the_scales_balance_about_the_floor_the_people_agree_on(scene):
    # the camera's height is where the people's (trust- and frame-weighted) log scales sum to 0
    walk, far, frame = scene
    for sizes in ((1.0, 1.15), (0.9, 1.1), (1.1, 0.9)):
        out, _ = on_the_floor([_lifted(walk, sizes[0]), _lifted(far, sizes[1], 1)], _sure(frame))
        info = [r.provenance["placement"] for r in out]
        weights = [i["resting_frames"] * i["floor_trust"] for i in info]
        needed = [math.log(i["floor_scale"]) / i["floor_trust"] for i in info]
        assert abs(sum(w * n for w, n in zip(weights, needed))) / sum(weights) < 0.01


def test_a_person_far_off_the_floor_is_flagged_not_rescaled(scene):
    walk, far, frame = scene
    placed, caught = _place([_lifted(walk), _lifted(far, 1.6, track_id=1)])  # beyond MAX_FLOOR_SCALE
    assert 1.6 > MAX_FLOOR_SCALE
    info = placed[1].provenance["placement"]
    assert info["floor_scale"] == 1.0 and info["feet_above_floor_m"] < -0.5
    assert info["note"].startswith(f"the resting feet stay {abs(info['feet_above_floor_m']):.2f} m below the floor")
    assert caught == [f"track 1: {info['note']}"]
    assert "note" not in placed[0].provenance["placement"]


def test_a_person_who_steps_onto_a_platform_rests_on_it_and_is_said_to(walk):
    from dataclasses import replace
    from ddhpose.pipelines.summary import summary
    twice = np.concatenate([walk, walk])  # 2.9 s on the floor, then the same walk again ...
    raised = twice + (np.arange(len(twice)) >= len(walk))[:, None, None] * [0.0, 0.0, 1.0]  # ... on a 1 m platform
    people = [_lifted(twice + [-2.5, 0.0, 0.0]), replace(_lifted(raised, track_id=1), frames=np.arange(len(twice)) + 10)]
    placed, caught = _place(people)
    on_floor, on_platform = (r.provenance["placement"] for r in placed)
    assert "raised" not in on_floor and "note" not in on_floor
    [span] = on_platform["raised"]
    first, last = span["frames"]
    assert 10 + len(walk) <= first <= 10 + len(walk) + 12 and last >= 10 + len(twice) - 12  # video frame numbers
    assert span["height_m"] == pytest.approx(1.0, abs=0.05)
    # the feet rest on the platform too (and are locked there): as often as on the floor before
    contacts = placed[1].foot_contacts.any(1)
    assert contacts[len(walk):].mean() > 0.8 * contacts[:len(walk)].mean() > 0.4
    # the floor sized the person from the floor's contacts alone: a perfect lift stays as it is
    assert on_platform["floor_scale"] == pytest.approx(1.0, abs=0.01)
    note = (f"the feet rest {span['height_m']:.2f} m above the floor in frames {first}-{last} "
            "(on something: a box, a stair, a stage?)")
    assert on_platform["note"] == note and caught == [f"track 1: {note}"]
    assert note in summary(placed).splitlines()[-1]
    # what the person stood on, as a box to draw: from the floor to the support, under the resting feet
    [box] = P.support_boxes(placed[1])
    assert box[0, 1] == 0.0 and box[1, 1] == span["height_m"] and P.support_boxes(placed[0]) == []
    feet = placed[1].world_poses[len(walk):, FEET][placed[1].foot_contacts[len(walk):]]
    assert np.all(feet[:, [0, 2]] >= box[0, [0, 2]] + 0.19) and np.all(feet[:, [0, 2]] <= box[1, [0, 2]] - 0.19)
    below = replace(placed[1], provenance={"placement": {**on_platform, "raised": [{**span, "height_m": -0.4}]}})
    assert P.support_boxes(below) == []  # a person misplaced below the floor stood on nothing
    # locked, the feet stay on the platform (not pulled down to the floor) and on the floor before it
    with pytest.warns(UserWarning, match="above the floor"):
        locked = place_in_world(people, foot_lock=True)[1]
    rest = ANKLE_HEIGHT_RATIO * leg_length(locked.world_poses - locked.world_poses[:, :1])
    resting = np.where(locked.foot_contacts, locked.world_poses[:, FEET, 1] - rest, np.nan)
    assert np.nanmedian(resting[:len(walk)]) == pytest.approx(0.0, abs=0.01)
    assert np.nanmedian(resting[len(walk):]) == pytest.approx(span["height_m"], abs=0.02)


def test_without_resting_feet_a_person_is_placed_by_their_size(walk):
    glide = walk[:1] + (np.arange(len(walk))[:, None, None] / 25.0) * [0.0, -1.2, 0.0]  # a still pose moving 1.2 m/s
    placed, caught = _place([_lifted(walk), _lifted(glide + [-2.0, 0, 0], track_id=1)])
    info = placed[1].provenance["placement"]
    assert info == {"resting_frames": 0, "note": "no resting feet seen: placed by the body's size alone",
                    "floor_scale": 1.0}
    assert caught == [f"track 1: {info['note']}"]


def test_a_person_without_a_root_keeps_the_camera_frame_and_says_why(walk):
    from dataclasses import replace
    rootless = replace(_lifted(walk + [-2.0, 0, 0], track_id=1), root_trajectory=None)
    placed, _ = _place([_lifted(walk), rootless])
    assert placed[1].world_poses is None and placed[1].world_note == NO_ROOT
    assert placed[0].world_poses is not None
    alone, caught = _place([rootless])
    assert alone[0].world_note == NO_ROOT and caught == [f"no world frame: {NO_ROOT}; the results stay in the "
                                                         "camera frame"]


def test_the_floor_is_trusted_by_the_errors_of_size_and_tilt():
    drops = np.full(5, 1.5)  # the camera 1.5 m above the resting ankles
    size = P.SIZE_ERROR * 1.5
    assert P._trust(drops, 6.0, 2.0) == pytest.approx(size ** 2 / (size ** 2 + (6.0 * math.sin(math.radians(2))) ** 2))
    assert P._trust(drops, 6.0, 0.1) == P._trust(drops, 6.0, P.MIN_TILT_DEG)  # no surer than MIN_TILT_DEG
    assert P._trust(drops, 6.0, float("nan")) == pytest.approx(size ** 2 / (size ** 2 + 36.0))  # unknown: 90 degrees
    assert P._trust(drops[:2], 6.0, 1.0) == 0.0  # fewer than 3 resting frames: no floor to trust
    assert P._trust(drops, 3.0, 1.0) > P._trust(drops, 6.0, 1.0)  # the nearer, the more


# --- finding the frame for everyone ------------------------------------------------------------

def test_the_origin_lies_under_the_pelvis_of_whoever_is_seen_first(walk):
    later, first = _lifted(walk), _lifted(walk + [-2.0, 0.0, 0.0], track_id=1)
    from dataclasses import replace
    later = replace(later, frames=later.frames + 5)  # this one appears 5 frames after the other
    placed, _ = _place([later, first])
    np.testing.assert_allclose(placed[1].world_poses[0, 0, [0, 2]], 0.0, atol=1e-6)
    assert np.linalg.norm(placed[0].world_poses[0, 0, [0, 2]]) > 1.5


def test_a_clip_too_short_for_a_floor_is_measured_by_its_frames_not_its_people(walk):
    # two people of 20 frames at 25 fps: 0.8 s of video, though 40 frames of people
    placed, caught = _place([_lifted(walk[:20]), _lifted(walk[:20] + [-2.0, 0, 0], track_id=1)])
    note = "the clip is 0.80 s long; finding the floor needs at least 1 s of it"
    assert all(r.world_poses is None and r.world_note.startswith("the clip is 0.80 s long") for r in placed)
    assert caught == [f"no world frame: {placed[0].world_note}; the results stay in the camera frame"]
    assert placed[0].world_note[:len(note) - 8] == note[:-8]


def test_feet_unseen_in_most_frames_give_no_floor(walk):
    from dataclasses import replace
    r = _lifted(walk)
    missing = r.missing.copy()
    missing[:40, FEET] = True  # 40 of 72 frames: the legs out of view
    placed, caught = _place([replace(r, missing=missing)])
    assert placed[0].world_poses is None and "feet were not seen in most frames" in placed[0].world_note
    assert caught == [f"no world frame: {placed[0].world_note}; the results stay in the camera frame"]


def test_resting_feet_are_found_from_the_2d_where_the_lifted_depth_jitters(walk):
    # the lift's depth of each ankle jitters by 2 cm a frame (0.5 m/s in 3D): the 2D keeps still
    from dataclasses import replace
    r = _lifted(walk)
    noisy = r.poses.copy()
    noisy[:, FEET, 2] += np.random.default_rng(5).normal(0.0, 0.02, (len(noisy), 2))
    placed, _ = _place([replace(r, poses=noisy, hypotheses=noisy[None])])
    clean, _ = _place([r])
    assert placed[0].world_frame.contact_frames > 0.6 * clean[0].world_frame.contact_frames > 30
    assert placed[0].foot_contacts.any(1).mean() > 0.8 * clean[0].foot_contacts.any(1).mean() >= 0.8


def test_a_camera_that_turns_mid_clip_is_warned_about(walk):
    step = walk[-1, 0] - walk[0, 0] + (walk[1, 0] - walk[0, 0])
    long = np.concatenate([walk + k * step * [1.0, 1.0, 0.0] for k in range(3)])  # 8.6 s: thirds of 2.9 s
    steady, caught = _place([_lifted(long - long[:1, :1] * [1.0, 1.0, 0.0])])
    assert np.isfinite(steady[0].world_frame.drift_deg) and caught == []
    # the camera tilted by 20 degrees for the middle third: the floor's direction changes
    r = _lifted(long - long[:1, :1] * [1.0, 1.0, 0.0])
    a = math.radians(20.0)
    turn = np.array([[1.0, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    middle = slice(len(long) // 3, 2 * len(long) // 3)
    absolute = r.poses + r.root_trajectory[:, None]
    absolute[middle] = absolute[middle] @ turn.T
    from dataclasses import replace
    tilted = replace(r, poses=absolute - absolute[:, :1], hypotheses=(absolute - absolute[:, :1])[None],
                     root_trajectory=absolute[:, 0])
    placed, caught = _place([tilted])
    drift = placed[0].world_frame.drift_deg
    assert drift > P.DRIFT_WARNING_DEG
    assert f"the floor's direction changes by {drift:.0f} degrees over the clip: the camera probably moves (pans " \
           "or tilts), so the world trajectory is not reliable" in caught


# --- the helpers -------------------------------------------------------------------------------

def _still(frames=10, *, focal=1000.0, fps=50.0, depth=5.0, step=(0.0, 0.0)):
    """A person at ``depth`` m whose 2D moves ``step`` px a frame (every joint alike)."""
    f = frames
    poses = np.zeros((f, 17, 3))
    uv = np.full((f, 17, 2), 500.0) + np.arange(f)[:, None, None] * np.asarray(step)
    return LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((f, 17)), keypoints_2d=uv,
                      missing=np.zeros((f, 17), bool), scores=np.ones((f, 17)), frames=np.arange(f),
                      image_size=SIZE, focal_length=focal, root_trajectory=np.tile([0.0, 0.0, depth], (f, 1)),
                      fps=fps, bone_lengths=np.full(17, 0.3))


def test_the_ankles_speed_comes_from_the_2d_at_the_persons_depth():
    from dataclasses import replace
    # 10 px a frame at 5 m with a 1000 px focal length: 5 cm a frame, 2.5 m/s at 50 fps
    np.testing.assert_allclose(P._speed(_still(step=(6.0, 8.0))), 2.5)
    np.testing.assert_allclose(P._speed(_still()), 0.0)
    np.testing.assert_allclose(P._speed(_still(step=(6.0, 8.0), fps=None)), 2.5 * 25 / 50)  # DEFAULT_FPS
    np.testing.assert_allclose(P._speed(_still(step=(6.0, 8.0), focal=None)), 2.5 * 1000)  # no focal: 1 px
    r = _still(step=(6.0, 8.0))
    missing = r.missing.copy()
    missing[[2, 4], FEET[0]] = True  # the left ankle unseen at frames 2 and 4: frame 3 between them too
    speed = P._speed(replace(r, missing=missing))
    assert np.isnan(speed[[2, 3, 4], 0]).all() and np.isfinite(speed[[0, 1, 5, 6, 7, 8, 9], 0]).all()
    assert np.isfinite(speed[:, 1]).all()
    missing[[7], FEET[1]] = True  # one unseen frame alone: only that frame
    speed = P._speed(replace(r, missing=missing))
    assert np.isnan(speed[:, 1]).tolist() == [k == 7 for k in range(10)]


def test_scaling_a_person_scales_every_length_and_keeps_the_2d():
    r = _still()
    assert P._scaled(r, 1.0) is r
    big = P._scaled(r, 2.0)
    for name in ("poses", "hypotheses", "uncertainty", "root_trajectory", "bone_lengths"):
        np.testing.assert_array_equal(getattr(big, name), getattr(r, name) * 2.0, err_msg=name)
    np.testing.assert_array_equal(big.keypoints_2d, r.keypoints_2d)
    from dataclasses import replace
    assert P._scaled(replace(r, bone_lengths=None), 2.0).bone_lengths is None


def test_the_trust_needs_three_resting_frames_and_caps_the_tilt_at_a_right_angle():
    assert P._trust(np.full(3, 1.5), 6.0, 2.0) > 0.0
    assert P._trust(np.full(3, 1.5), 6.0, 120.0) == P._trust(np.full(3, 1.5), 6.0, 90.0)


def test_the_common_camera_height_solves_the_balance_or_falls_back():
    h = P._common_camera_height
    assert h([], 1.7) == 1.7
    assert h([(0.1, np.full(5, 0.5), 0.0)], 1.7) == 1.7  # nobody trusted
    # one person: the height at which their scale is 1, drop + rest
    assert h([(0.1, np.full(5, 0.5), 1.0)], 1.7) == pytest.approx(0.6, abs=1e-12)
    assert h([(0.1, np.full(5, 12.0), 1.0)], 1.0) == pytest.approx(12.1, abs=1e-9)  # up to 4 x + 10 m
    assert h([(0.1, np.full(5, 8.43), 1.0)], 1.0) == pytest.approx(8.53, abs=1e-9)
    assert h([(0.1, np.full(5, 14.5), 1.0)], 1.0) == 1.0  # beyond: no solution searched
    assert h([(0.1, np.full(1, 0.0006), 1.0)], 1.7) == 1.7  # below the lowest height searched
    assert h([(0.1, np.full(5, 0.0005), 1.0)], 1.7) == 1.7
    # two people: 10 frames of one at trust 1 against 5 of another at trust 0.5, drops 1 and 2
    people = [(0.0, np.full(10, 1.0), 1.0), (0.0, np.full(5, 2.0), 0.5)]
    height = h(people, 1.7)
    assert 10 * math.log(height / 1.0) + 2.5 * math.log(height / 2.0) == pytest.approx(0.0, abs=1e-9)


def test_what_the_placement_records(scene):
    walk, far, frame = scene
    small = on_the_floor([_lifted(walk), _lifted(far, 0.6, track_id=1)], _sure(frame))[0]  # 40 % too small
    info = small[1].provenance["placement"]
    assert info["feet_above_floor_m"] > 0.3 and info["floor_scale"] == 1.0
    assert info["note"] == (f"the resting feet stay {info['feet_above_floor_m']:.2f} m above the floor the others "
                            "stand on: on something (a box, a stair), or a body size the model misjudged; placed "
                            "by its size")
    for r in small:  # figures rounded as documented: mm, 3 and 4 decimals
        i = r.provenance["placement"]
        assert i["feet_above_floor_m"] == round(i["feet_above_floor_m"], 3)
        assert i["floor_trust"] == round(i["floor_trust"], 3) and i["floor_scale"] == round(i["floor_scale"], 4)
    assert small[0].provenance["placement"]["floor_scale"] != 1.0


def test_the_floor_sees_resting_feet_through_depth_jitter(scene):
    from dataclasses import replace
    walk, far, frame = scene
    r = _lifted(walk)
    noisy = r.poses.copy()
    noisy[:, FEET, 2] += np.random.default_rng(5).normal(0.0, 0.02, (len(noisy), 2))
    clean = on_the_floor([r], _sure(frame))[0][0].provenance["placement"]["resting_frames"]
    jittered = on_the_floor([replace(r, poses=noisy)], _sure(frame))[0][0].provenance["placement"]["resting_frames"]
    assert jittered >= 0.8 * clean > 50


def test_feet_seen_edge_on_do_not_size_anyone(walk):
    # a camera 25 cm above the floor: the rays to the resting feet 8 m away descend under 2 degrees
    camera = look_at_camera((8.0, 0.0, 0.25), (0.0, 0.0, 0.25), image_size=SIZE, focal=FOCAL)
    cam, uv = (t.numpy() for t in observe(walk, camera))
    f = len(cam)
    poses = cam - cam[:, :1]
    r = LiftResult(poses=poses, hypotheses=poses[None], uncertainty=np.zeros((f, 17)), keypoints_2d=uv,
                   missing=np.zeros((f, 17), bool), scores=np.ones((f, 17)), frames=np.arange(f), image_size=SIZE,
                   focal_length=FOCAL, root_trajectory=cam[:, 0], fps=25.0)
    placed, _ = _place([r])
    assert placed[0].provenance["placement"]["note"] == ("the resting feet are seen edge-on, level with the camera: "
                                                         "placed by the body's size alone")


def test_resting_only_off_the_floor_is_said_with_where_the_feet_rest(walk):
    """Placed by size because the floor seen clip-wide is not under the feet (the Sports2D demo's
    man on a box: on the floor for two frames at the end) yet resting 1.9 m up for most of the
    clip: the note says where the feet rest, and that the size placed them; a person flagged for
    standing off the floor the others share keeps that note."""
    from dataclasses import replace
    r = _lifted(walk)
    by_size = f"{P.NO_FEET}: {P.BY_SIZE}"
    r = replace(r, provenance={"placement": {"resting_frames": 2, "note": by_size}})
    said = P._with_raised(r, [(3, 40, 1.92)]).provenance["placement"]
    assert said["note"] == (f"the feet rest 1.92 m above the floor in frames {int(r.frames[3])}-{int(r.frames[40])} "
                            "(on something: a box, a stair, a stage?); placed by the body's size alone")
    assert said["raised"] == [{"frames": [int(r.frames[3]), int(r.frames[40])], "height_m": 1.92}]
    flagged = replace(r, provenance={"placement": {"note": "the resting feet stay 0.80 m above the floor ..."}})
    assert P._with_raised(flagged, [(3, 40, 1.92)]).provenance["placement"]["note"].startswith("the resting feet stay")


def test_feet_raised_by_what_a_misjudged_size_could_do_are_said_to_be_either(walk):
    """Feet resting 0.39 m above the floor, under a camera 2.15 m above a resting ankle on it: a
    person 22 % farther (and larger) would rest on the floor, a size error the model makes (two
    people on one platform, one of them judged too large, sink the floor under the other); 1.9 m
    up, under a camera 1.86 m above, no size can: they stand on something."""
    from dataclasses import replace
    assert P.size_could_explain(0.39, 2.15) == pytest.approx(2.15 / 1.76)
    assert P.size_could_explain(-0.3, 2.15) == pytest.approx(2.15 / 2.45)  # below: nearer and smaller
    assert P.size_could_explain(1.9, 1.86) is None  # above the camera: on something, whatever the size
    assert P.size_could_explain(0.6, 2.15) is None  # 1.39 x: beyond MAX_FLOOR_SCALE
    assert 2.15 / 1.55 > MAX_FLOOR_SCALE > 2.15 / 1.76
    assert P.size_could_explain(0.39, float("nan")) is None and P.size_could_explain(0.39, -1.0) is None
    r = _lifted(walk)
    r = replace(r, provenance={"placement": {"resting_frames": 40}})
    frames = f"{int(r.frames[3])}-{int(r.frames[40])}"
    either = P._with_raised(r, [(3, 40, 0.39)], 2.15).provenance["placement"]
    assert either["note"] == (f"the feet rest 0.39 m above the floor in frames {frames} (on something: a box, a "
                              "stair, a stage? or 22 % farther (and larger) than placed: a body size the model "
                              "misjudged, theirs or that of whoever the floor was found from)")
    assert either["raised"] == [{"frames": [int(r.frames[3]), int(r.frames[40])], "height_m": 0.39,
                                 "size_scale": round(2.15 / 1.76, 3)}]
    boxed = P._with_raised(r, [(3, 40, 1.9)], 1.86).provenance["placement"]
    assert boxed["note"].endswith("(on something: a box, a stair, a stage?)") and "size_scale" not in boxed["raised"][0]
    # below the floor: the others may stand on a platform (Pose2Sim's demo: a man on one, a bystander
    # on the ground behind), or this person is placed too near
    lower = P._with_raised(r, [(3, 40, -0.42)], 1.85).provenance["placement"]
    assert lower["note"] == (f"the feet rest 0.42 m below the floor in frames {frames} (lower than the floor found: "
                             "was it found on a stage or a platform? or 19 % nearer (and smaller) than placed: a "
                             "body size the model misjudged, theirs or that of whoever the floor was found from)")
    assert lower["raised"][0]["size_scale"] == round(1.85 / 2.27, 3)
    far_below = P._with_raised(r, [(3, 40, -1.5)], 1.85).provenance["placement"]["note"]
    assert far_below.endswith("(lower than the floor found: was it found on a stage or a platform?)")


def test_a_low_platform_is_said_to_be_one_or_a_size_with_the_scale_the_floor_asks(walk):
    """On a 0.3 m platform under a camera 1.6 m high, the resting feet are as high as a body
    misjudged by about a quarter would put them: the summary says both, and the scale recorded is
    the one that would bring them down to the floor: (H - rest) / (H - rest - h)."""
    from dataclasses import replace
    twice = np.concatenate([walk, walk])
    raised = twice + (np.arange(len(twice)) >= len(walk))[:, None, None] * [0.0, 0.0, 0.3]
    people = [_lifted(twice + [-2.5, 0.0, 0.0]), replace(_lifted(raised, track_id=1), frames=np.arange(len(twice)))]
    placed, caught = _place(people)
    [span] = placed[1].provenance["placement"]["raised"]
    assert span["height_m"] == pytest.approx(0.3, abs=0.03)
    frame = placed[1].world_frame
    drop = frame.camera_height - ANKLE_HEIGHT_RATIO * leg_length(placed[1].poses.astype(np.float64))
    assert span["size_scale"] == pytest.approx(drop / (drop - span["height_m"]), abs=0.02)
    assert 1.1 < span["size_scale"] < MAX_FLOOR_SCALE
    assert "farther (and larger) than placed" in placed[1].provenance["placement"]["note"]
    assert any("farther (and larger) than placed" in c for c in caught)
