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
