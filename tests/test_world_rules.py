"""The world frame's rules one at a time: which frames stand, which ankles rest, how each way of
finding up is chosen, the frame's dictionary, foot contacts from ankle heights and speeds, foot
locking's corrections, and the two-bone IK it uses."""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.geometry import Y_UP_TO_Z_UP
from ddhpose.lifting import feet as W
from ddhpose.lifting.feet import contact_segments, foot_contacts, foot_sliding, lock_feet
from ddhpose.lifting.world import (ANKLE_HEIGHT_RATIO, NoFloorError, WorldFrame, find_world_frame, standing_frames)
from ddhpose.skeleton import H36M, Skeleton
from helpers import standing_pose

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps
ZUP_TO_YUP = np.array(Y_UP_TO_Z_UP).T  # (x, y, z) -> (x, z, -y)
LEFT_ANKLE, RIGHT_ANKLE = H36M.names.index("left_ankle"), H36M.names.index("right_ankle")
UPPER = [H36M.names.index(n) for n in ("spine", "thorax", "neck", "head", "left_shoulder", "left_elbow",
                                       "left_wrist", "right_shoulder", "right_elbow", "right_wrist")]


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    with np.load(WALK) as data:
        return data["world"].astype(np.float64)


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args, **kwargs)


def _film(world_zup: np.ndarray, position=(4.0, 0.0, 1.2)):
    """Camera-frame joints of z-up world joints seen from ``position``, aimed at the pelvis's
    mean; and the camera's rotation (world -> camera)."""
    camera = look_at_camera(np.asarray(position, float), world_zup[:, 0].mean(0), image_size=(1920, 1080),
                            focal=1400.0)
    cam, _ = observe(world_zup, camera)
    return cam.numpy(), camera.rotation


def _find(cam, **kwargs):
    return find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0, **kwargs)


def _standing_still(frames=50, speed=0.0):
    """A straight standing body (z up), the right ankle 1 cm higher than the left, still or
    gliding along x at ``speed`` m/s (a statue on a trolley)."""
    pose = standing_pose().double().numpy() @ np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]).T  # y down -> z up
    pose = pose + [0.0, 0.0, 0.58]
    pose[RIGHT_ANKLE, 2] += 0.01
    t = np.arange(frames)[:, None, None] / 25.0
    return pose[None] + t * [speed, 0.0, 0.0]


def _tilt_trunk(world_zup, frames, degrees=40.0):
    """The upper body turned ``degrees`` about the x axis through the pelvis in ``frames``."""
    out = world_zup.copy()
    a = math.radians(degrees)
    turn = np.array([[1.0, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    pelvis = out[frames, :1]
    out[np.ix_(frames, UPPER)] = (out[np.ix_(frames, UPPER)] - pelvis) @ turn.T + pelvis
    return out


def _l_walk(walk):
    """The walk, then the same walk turned 90 degrees about z, starting one step past its end."""
    start = walk[:, :1, :2].mean(0)
    a = math.radians(90.0)
    turn = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])
    second = (walk - [*walk[0, 0, :2], 0]) @ turn.T + [*(walk[-1, 0, :2] + (walk[1, 0, :2] - walk[0, 0, :2])), 0]
    del start
    return np.concatenate([walk, second])


# --- which frames stand ------------------------------------------------------------------------

def test_straight_legs_under_an_upright_trunk_stand_and_a_bent_knee_or_trunk_does_not():
    rng = np.random.default_rng(30)
    poses = []
    for _ in range(40):  # straight bodies at random tilts and leg lengths, exactly collinear joints
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        pose = standing_pose().double().numpy() * rng.uniform(0.8, 1.3)
        poses.append(pose @ _rotation_to(axis).T)
    standing, axis = _quiet(standing_frames, np.stack(poses))
    assert standing.all()
    np.testing.assert_allclose(np.linalg.norm(axis, axis=-1), 1.0)
    bent = np.stack(poses[:3])
    knee = H36M.names.index("left_knee")
    thigh = bent[0, knee] - bent[0, knee - 1]
    across = np.cross(thigh, [1.0, 0, 0]) if abs(thigh[0]) < 0.9 * np.linalg.norm(thigh) else np.cross(thigh, [0, 1.0, 0])
    bent[0, knee] += 0.15 * across / np.linalg.norm(across)  # a bent left knee
    bent[1, H36M.names.index("right_knee")] += [0.2, 0.0, 0.1]  # a bent right knee
    bent[2, UPPER] = bent[2, 0] + (bent[2, UPPER] - bent[2, 0]) @ _rotation_to(np.array([0.0, 0.6, 0.8])).T
    assert not standing_frames(bent)[0].any()


def _rotation_to(direction):
    """A rotation taking the pose's up (camera frame: -y) to ``direction``."""
    up = np.array([0.0, -1.0, 0.0])
    v, c = np.cross(up, direction), float(up @ direction)
    if np.linalg.norm(v) < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1 + c)


# --- how up is found ---------------------------------------------------------------------------

def test_a_person_standing_still_gives_up_by_the_standing_axis_and_balance():
    world = _standing_still()
    cam, rotation = _film(world, (3.0, 1.0, 2.5))  # looking down at them, 31 degrees
    frame = _quiet(_find, cam)
    # the camera's usual level pose (pitch spread 45 degrees) pulls up a little from the body's
    # axis (6 degrees): tan(31) sin^2(6) / sin^2(45) ~ 0.013 rad, less as balance agrees with the axis
    assert _angle(frame.up, rotation @ [0.0, 0.0, 1.0]) < 0.75
    assert frame.method == "standing axis, balance, camera level"
    assert frame.evidence == ("standing axis", "balance", "camera level") and frame.floor_evidence == "resting feet"
    assert (frame.standing_frames, frame.contact_frames) == (50, 0) and math.isnan(frame.axis_floor_deg)
    assert 1.0 < frame.uncertainty_deg < 10.0
    placed = frame.apply(cam)
    # the lower (left) ankle stands at the ankle's height above the floor; the origin under the pelvis
    np.testing.assert_allclose(placed[:, LEFT_ANKLE, 1], ANKLE_HEIGHT_RATIO * 0.495, atol=1e-9)  # legs 0.5 and 0.49 m
    np.testing.assert_allclose(placed[0, 0, [0, 2]], 0.0, atol=1e-9)
    # the camera 2.9 m from the pelvis: 0.4 degrees of tilt move its height by up to 2 cm
    assert frame.camera_height == pytest.approx(2.5 - (0.08 - ANKLE_HEIGHT_RATIO * 0.495), abs=0.025)
    assert frame.camera_pitch_deg == pytest.approx(31.0, abs=1.0)


def test_feet_faster_than_a_step_are_no_floor_contacts():
    # the same body gliding at 1 m/s: no ankle rests, the floor lies under the ankles' heights
    cam, rotation = _film(_standing_still(speed=1.0))
    frame = _quiet(_find, cam)
    assert frame.method == "standing axis, camera level" and frame.contact_frames == 0  # gliding: no balance either
    assert frame.floor_evidence == "lowest ankles"
    assert _angle(frame.up, rotation @ [0.0, 0.0, 1.0]) < 0.5
    placed = frame.apply(cam)
    # legs 0.5 and 0.49 m; over the 2 m glided, 0.25 degrees of tilt move the ankle by under 1 cm
    np.testing.assert_allclose(placed[:, LEFT_ANKLE, 1], ANKLE_HEIGHT_RATIO * 0.495, atol=0.01)


def test_without_standing_frames_the_floor_plane_of_feet_that_travel_gives_up(walk):
    # bent forward all along, the walk turns a corner: the feet's rest points span the floor
    bent = _tilt_trunk(_l_walk(walk), np.arange(2 * len(walk)))
    cam, rotation = _film(bent, (5.0, 2.0, 1.4))
    frame = _find(cam)
    assert frame.method == "floor plane, camera level" and frame.standing_frames == 0 and frame.contact_frames > 40
    assert 0.0 < frame.axis_floor_deg < 15.0  # the floor against the camera's level pose, within MAX_DISAGREEMENT_DEG
    assert _angle(frame.up, rotation @ [0.0, 0.0, 1.0]) < 1.0 and frame.uncertainty_deg < 3.0
    # three upright frames are enough for a body axis; the floor plane is then weighed with it
    upright = _tilt_trunk(_l_walk(walk), np.setdiff1d(np.arange(2 * len(walk)), [27, 28, 29]))
    cam, _ = _film(upright, (5.0, 2.0, 1.4))
    both = _find(cam)
    assert both.method == "floor plane, standing axis, camera level" and both.standing_frames == 3
    # along a straight line the feet fix the tilt along the path only: across it the camera's
    # level pose decides, and the frame says it is unsure
    cam, rotation = _film(_tilt_trunk(walk, np.arange(len(walk))))
    line = _find(cam)
    assert line.method == "floor plane, camera level" and line.uncertainty_deg > 10.0
    assert _angle(line.up, rotation @ [0.0, 0.0, 1.0]) < 3.0


def _angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def test_find_world_frame_checks_its_arguments(walk):
    cam, _ = _film(walk)
    pose, root = cam - cam[:, :1], cam[:, 0]
    with pytest.raises(ValueError, match=r"^poses \(F, 17, 3\) and trajectory \(F, 3\) expected, got \(72, 16, 3\) "
                                         r"and \(72, 3\)$"):
        find_world_frame(pose[:, :16], root, 25.0)
    with pytest.raises(ValueError, match="expected"):
        find_world_frame(pose, root[:, :2], 25.0)
    with pytest.raises(ValueError, match="expected"):
        find_world_frame(pose[0], root, 25.0)
    # the clip's length: its frames over fps, or as given (several people's frames concatenated)
    with pytest.raises(NoFloorError, match=r"the clip is 0\.50 s long"):
        find_world_frame(pose, root, 25.0, seconds=0.5)
    assert find_world_frame(pose[:25], root[:25], 25.0, seconds=1.0).method  # exactly 1 s is enough
    # the feet unseen in half the frames is still a floor; in more than half it is not
    missing = np.zeros(pose.shape[:2], bool)
    missing[:36, [LEFT_ANKLE, RIGHT_ANKLE]] = True
    find_world_frame(pose, root, 25.0, missing=missing)
    missing[36] = True
    with pytest.raises(NoFloorError, match="feet were not seen in most frames"):
        find_world_frame(pose, root, 25.0, missing=missing)
    one_foot = np.zeros(pose.shape[:2], bool)
    one_foot[:, LEFT_ANKLE] = True  # one foot seen all along
    find_world_frame(pose, root, 25.0, missing=one_foot)


def test_the_origin_lies_under_the_point_given_and_z_is_the_view_levelled(walk):
    cam, _ = _film(walk, (5.0, 1.0, 2.5))
    frame = _find(cam, origin=cam[10, 0])
    placed = frame.apply(cam)
    np.testing.assert_allclose(placed[10, 0, [0, 2]], 0.0, atol=1e-9)
    forward = np.array([0.0, 0.0, 1.0])
    level = forward - (forward @ frame.up) * frame.up
    np.testing.assert_allclose(frame.rotation[2], -level / np.linalg.norm(level), atol=1e-12)


def test_a_skeleton_with_its_joints_in_another_order_finds_the_same_frame(walk):
    order = np.random.default_rng(31).permutation(17)
    order = np.concatenate([[0], order[order != 0]])  # the root stays first: the trajectory is its position
    inverse = np.argsort(order)
    shuffled = Skeleton(tuple(int(inverse[H36M.parents[j]]) if H36M.parents[j] >= 0 else -1 for j in order),
                        tuple(int(inverse[j]) for j in H36M.joints_left),
                        tuple(int(inverse[j]) for j in H36M.joints_right), tuple(H36M.names[j] for j in order),
                        name="h36m shuffled")
    cam, _ = _film(walk)
    frame, again = _find(cam), _find(cam[:, order], skeleton=shuffled)
    np.testing.assert_allclose(again.rotation, frame.rotation, atol=1e-9)
    np.testing.assert_allclose(again.translation, frame.translation, atol=1e-9)
    world = walk @ ZUP_TO_YUP.T
    contacts = foot_contacts(world, 25.0)
    np.testing.assert_array_equal(foot_contacts(world[:, order], 25.0, shuffled), contacts)
    np.testing.assert_allclose(lock_feet(world[:, order], contacts, shuffled), lock_feet(world, contacts)[:, order],
                               atol=1e-9)
    nameless = Skeleton(H36M.parents, H36M.joints_left, H36M.joints_right, name="bare")
    with pytest.raises(ValueError, match=r"^skeleton 'bare': the world frame needs joints named \['left_ankle', "
                                         r"'right_ankle'\]; missing \['left_ankle',"):
        find_world_frame(walk - walk[:, :1], walk[:, 0], 25.0, nameless)


def test_drift_compares_thirds_of_at_least_two_seconds(walk):
    step = walk[-1, 0] - walk[0, 0]
    long = np.concatenate([walk + k * (step + (walk[1, 0] - walk[0, 0])) * [0, 1, 0] for k in range(3)])
    cam, _ = _film(long, (6.0, -3.0, 1.2))
    assert math.isnan(_find(cam[:149]).drift_deg)  # a third of 49 frames: under 2 s
    assert _find(cam[:150]).drift_deg < 5.0
    # the camera bumped for the middle third only: the thirds next to each other disagree
    bumped = cam.copy()
    a = math.radians(20.0)
    turn = np.array([[1.0, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    middle = slice(len(cam) // 3, 2 * len(cam) // 3)
    bumped[middle] = bumped[middle] @ turn.T
    assert _find(bumped).drift_deg > 12.0


# --- the frame as a dictionary ------------------------------------------------------------------

def test_the_frame_dictionary_keeps_the_transform_whole_and_reads_back():
    a = math.radians(12.3456)
    rotation = np.array([[1.0, 0, 0], [0, -math.cos(a), -math.sin(a)], [0, math.sin(a), -math.cos(a)]])  # pitched down
    frame = WorldFrame(rotation, np.array([0.123456789, 1.23456789, -2.3456789]), "floor plane", 7, 11, 1.23456,
                       float("nan"))
    data = frame.to_dict()
    assert data == {"rotation": rotation.tolist(), "translation": [0.123456789, 1.23456789, -2.3456789],
                    "method": "floor plane", "standing_frames": 7, "contact_frames": 11, "axis_floor_deg": 1.235,
                    "drift_deg": None, "camera_pitch_deg": round(frame.camera_pitch_deg, 2),
                    "camera_roll_deg": round(frame.camera_roll_deg, 2), "camera_height": 1.2346,
                    "evidence": [], "floor_evidence": "resting feet", "uncertainty_deg": None,
                    "axes": "y up, x right of the camera's view, z towards the camera; floor y = 0; metres"}
    assert data["camera_pitch_deg"] == pytest.approx(12.35) and data["camera_roll_deg"] == 0.0
    again = WorldFrame.from_dict(json.loads(json.dumps(data)))
    assert (again.method, again.standing_frames, again.contact_frames) == ("floor plane", 7, 11)
    assert again.axis_floor_deg == 1.235 and math.isnan(again.drift_deg)
    np.testing.assert_array_equal(again.translation, frame.translation)
    np.testing.assert_array_equal(again.rotation, rotation)  # the transform reads back exactly
    other = WorldFrame.from_dict({**data, "axis_floor_deg": None, "drift_deg": 4.5})
    assert math.isnan(other.axis_floor_deg) and other.drift_deg == 4.5
    assert WorldFrame(rotation, np.zeros(3), "floor plane", 0, 0, -2.0004, 3.0).to_dict()["axis_floor_deg"] == -2.0
    sure = WorldFrame(rotation, np.zeros(3), "floor plane, camera level", 0, 9, 1.0, 1.0,
                      ("floor plane", "camera level"), "lowest ankles", 2.34567)
    data = json.loads(json.dumps(sure.to_dict()))
    assert (data["evidence"], data["floor_evidence"], data["uncertainty_deg"]) == (
        ["floor plane", "camera level"], "lowest ankles", 2.346)
    again = WorldFrame.from_dict(data)
    assert (again.evidence, again.floor_evidence, again.uncertainty_deg) == (
        ("floor plane", "camera level"), "lowest ankles", 2.346)
    b = math.radians(3.4567)  # a camera rolled clockwise: the horizon falls to the right
    rolled = np.array([[math.cos(b), -math.sin(b), 0], [-math.sin(b), -math.cos(b), 0], [0, 0, -1.0]])
    assert WorldFrame(rolled, np.zeros(3), "floor plane", 0, 0, 1.0, 1.0).to_dict()["camera_roll_deg"] == 3.46


# --- foot contacts from ankle heights and speeds ------------------------------------------------

def _ankles(left_height, left_x=None, right_height=None):
    """World joints (F, 17, 3), y up, of which only the ankles matter: the left at the heights
    and x positions given, the right resting on the floor (y = 0) unless given."""
    left_height = np.asarray(left_height, float)
    world = np.zeros((len(left_height), 17, 3))
    world[:, LEFT_ANKLE, 1] = left_height
    world[:, LEFT_ANKLE, 0] = 0.0 if left_x is None else left_x
    world[:, RIGHT_ANKLE, 0] = 0.3
    world[:, RIGHT_ANKLE, 1] = 0.0 if right_height is None else right_height
    return world


def test_a_foot_rests_below_the_contact_height_and_slower_than_the_contact_speed():
    fps = 1.0  # metres per frame are metres per second
    low = [0.0] * 6 + [0.05] * 6 + [0.0] * 6  # 0.05 m is not within 0.05 m of rest
    assert foot_contacts(_ankles(low), fps)[:, 0].tolist() == [True] * 6 + [False] * 6 + [True] * 6
    assert foot_contacts(_ankles([0.0] * 6 + [0.049] * 6), fps)[:, 0].all()
    slide = np.concatenate([np.zeros(6), 0.5 * np.arange(1, 7), 3.0 + np.zeros(6)])  # 0.5 m/s: not resting
    # (the last sliding frame is slow on one side: the foot has come to rest)
    assert foot_contacts(_ankles(np.zeros(18), slide), fps)[:, 0].tolist() == [True] * 6 + [False] * 5 + [True] * 7
    creep = np.concatenate([np.zeros(6), 0.49 * np.arange(1, 7), 2.94 + np.zeros(6)])
    assert foot_contacts(_ankles(np.zeros(18), creep), fps)[:, 0].all()


def test_contacts_and_gaps_of_one_frame_are_removed():
    fps = 1.0
    gap = [0.0] * 4 + [0.06] + [0.0] * 4  # lifted in one frame (moving slowly at 1 fps)
    assert foot_contacts(_ankles(gap), fps)[:, 0].all()
    two = [0.0] * 4 + [0.06, 0.06] + [0.0] * 4
    assert foot_contacts(_ankles(two), fps)[:, 0].tolist() == [True] * 4 + [False] * 2 + [True] * 4
    touch = [0.06] * 4 + [0.0] + [0.06] * 4  # down in one frame only
    assert not foot_contacts(_ankles(touch), fps)[:, 0].any()
    both = [0.06] * 3 + [0.0, 0.0] + [0.06] * 3
    assert foot_contacts(_ankles(both), fps)[:, 0].tolist() == [False] * 3 + [True] * 2 + [False] * 3


def test_the_first_and_last_frames_are_judged_by_their_one_neighbour():
    x = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0])  # a fast first and last step, still between
    contacts = foot_contacts(_ankles(np.zeros(8), x), 1.0)[:, 0]
    assert contacts.tolist() == [False] + [True] * 6 + [False]
    assert foot_contacts(_ankles(np.zeros(2), [0.0, 1.0]), 1.0)[:, 0].tolist() == [False, False]
    assert foot_contacts(_ankles(np.zeros(1)), 1.0)[:, 0].tolist() == [True]


def test_the_resting_height_is_the_lower_ankles_10th_percentile():
    # 3 of 30 frames with the ankles 0.2 m through the floor (a glitch) do not set the rest height
    heights = np.zeros(30)
    heights[[3, 13, 23]] = -0.2
    low = _ankles(heights, right_height=np.where(heights < 0, -0.2, 0.0))
    low[:, LEFT_ANKLE, 1] += np.where(np.arange(30) % 2, 0.04, 0.0)  # within 5 cm of 0 when rest is 0
    contacts = foot_contacts(low, 1.0)
    assert contacts[1:-1:2][:, 0][1:-1].all()


def test_contact_segments_and_sliding():
    assert contact_segments(np.array([False, True, True, False, True])) == [(1, 3), (4, 5)]
    assert contact_segments(np.array([True, True])) == [(0, 2)]
    assert contact_segments(np.array([False, False])) == []
    world = _ankles(np.zeros(4), [0.0, 0.1, 0.3, 0.3])
    contacts = np.array([[True, True], [True, True], [True, True], [False, True]])
    assert foot_sliding(world, contacts) == pytest.approx((0.1 + 0.2) / (2 + 3))  # the right foot does not move
    assert math.isnan(_quiet(foot_sliding, world, np.zeros((4, 2), bool)))


# --- foot locking ------------------------------------------------------------------------------

def test_locking_a_standing_persons_drift_holds_them_still_and_leaves_the_rest():
    # a person stands for 40 frames but their root drifts 1 cm per frame (depth jitter): both feet
    # are in contact, the body is moved back by the mean correction of the two feet
    still = _standing_still(60) @ ZUP_TO_YUP.T  # y up
    drift = np.zeros((60, 1, 3))
    drift[:40, 0, 0] = 0.01 * (np.arange(40) - 19.5)
    contacts = np.zeros((60, 2), bool)
    contacts[:40] = True
    locked = lock_feet(still + drift, contacts)
    pelvis = locked[5:35, 0, 0]
    assert np.ptp(pelvis) < 0.02  # held (the drift alone spans 0.3 m) ...
    assert abs(pelvis.mean() - still[0, 0, 0]) < 0.01  # ... where the feet stood
    np.testing.assert_allclose(locked[50:], still[50:], atol=1e-9)  # far from any contact: untouched
    np.testing.assert_allclose(lock_feet(still + drift, contacts, blend=3), locked)


def test_corrections_fade_over_blend_frames():
    assert W._ramp(np.array([0, 0, 0, 0, 1, 1, 0, 0, 0, 0], bool), 3).tolist() == [
        0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    assert W._ramp(np.array([1, 0, 0, 0, 0, 0, 0, 1], bool), 2).tolist() == pytest.approx(
        [1.0, 2 / 3, 1 / 3, 0.0, 0.0, 1 / 3, 2 / 3, 1.0])


# --- two-bone IK ------------------------------------------------------------------------------

def _legs():
    hip = np.array([[0.0, 1.0, 0.0], [0.2, 1.0, 0.0], [0.0, 1.0, 0.0]])
    knee = np.array([[0.0, 0.55, 0.1], [0.25, 0.55, -0.05], [0.0, 0.55, 0.0]])  # the last leg straight
    ankle = np.array([[0.0, 0.15, 0.0], [0.2, 0.1, 0.05], [0.0, 0.05, 0.0]])
    return hip, knee, ankle


def test_two_bone_ik_reaches_the_target_with_the_bones_kept_and_the_knee_in_its_plane():
    hip, knee, ankle = _legs()
    target = ankle + [[0.05, 0.08, 0.02], [-0.03, 0.1, 0.0], [0.0, 0.1, 0.0]]
    new_knee, new_ankle = W._two_bone_ik(hip, knee, ankle, target)
    np.testing.assert_allclose(new_ankle, target, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), np.linalg.norm(knee - hip, axis=-1))
    np.testing.assert_allclose(np.linalg.norm(new_ankle - new_knee, axis=-1), np.linalg.norm(ankle - knee, axis=-1))
    for k in range(2):  # the knee stays in the plane of hip, knee and target, on the side it bent to
        normal = np.cross(knee[k] - hip[k], target[k] - hip[k])
        assert abs((new_knee[k] - hip[k]) @ normal) < 1e-12
        along = (target[k] - hip[k]) / np.linalg.norm(target[k] - hip[k])
        side = lambda p: (p - hip[k]) - ((p - hip[k]) @ along) * along  # noqa: E731
        assert side(new_knee[k]) @ side(knee[k]) > 0
    # a straight leg bends towards +z (towards the camera), whichever way it points
    assert new_knee[2, 2] > 0 and abs(new_knee[2, 0]) < 1e-12
    tilted = np.array([[0.0, 1.0, 0.0]]), np.array([[0.1, 0.55, 0.0]]), np.array([[0.2, 0.1, 0.0]])
    bent_knee, _ = W._two_bone_ik(*tilted, np.array([[0.18, 0.19, 0.0]]))  # pulled up along the leg
    along = np.array([0.2, -0.9, 0.0]) / np.linalg.norm([0.2, -0.9, 0.0])
    expect = np.array([0.0, 0.0, 1.0]) - along[2] * along
    offset = bent_knee[0] - tilted[0][0] - ((bent_knee[0] - tilted[0][0]) @ along) * along
    np.testing.assert_allclose(offset / np.linalg.norm(offset), expect / np.linalg.norm(expect), atol=1e-9)


def test_two_bone_ik_keeps_each_legs_own_plane_in_a_batch():
    # a leg bent sideways reaching straight down, and a straight leg leaning towards the camera
    # (which bends towards +z, levelled across it): each keeps to its own plane
    hip = np.array([[0.0, 1.0, 0.0], [0.5, 1.0, 0.0]])
    knee = np.array([[0.12, 0.55, 0.0], [0.5, 0.55, 0.15]])
    ankle = np.array([[0.0, 0.1, 0.0], [0.5, 0.1, 0.3]])
    target = np.stack([[0.0, 0.2, 0.0], hip[1] + (ankle[1] - hip[1]) * 8 / 9])  # the straight leg pulled up along itself
    new_knee, new_ankle = W._two_bone_ik(hip, knee, ankle, target)
    np.testing.assert_allclose(new_ankle, target, atol=1e-12)
    assert abs(new_knee[0, 2]) < 1e-12 and new_knee[0, 0] > 0.1  # still bent sideways, in x
    along = (target[1] - hip[1]) / np.linalg.norm(target[1] - hip[1])
    offset = new_knee[1] - hip[1] - ((new_knee[1] - hip[1]) @ along) * along
    expect = np.array([0.0, 0.0, 1.0]) - along[2] * along
    np.testing.assert_allclose(offset / np.linalg.norm(offset), expect / np.linalg.norm(expect), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), np.linalg.norm(knee - hip, axis=-1))


def test_two_bone_ik_goes_as_near_as_the_leg_reaches():
    hip, knee, ankle = _legs()
    thigh, shin = np.linalg.norm(knee - hip, axis=-1), np.linalg.norm(ankle - knee, axis=-1)
    far = hip + [[0.0, -2.0, 0.0]] * 3
    new_knee, new_ankle = W._two_bone_ik(hip, knee, ankle, far)
    np.testing.assert_allclose(np.linalg.norm(new_ankle - hip, axis=-1), thigh + shin - 1e-6, atol=1e-9)
    np.testing.assert_allclose(new_ankle[:, [0, 2]], hip[:, [0, 2]], atol=1e-9)  # straight towards it
    near = hip + [[0.0, -0.001, 0.0]] * 3
    new_knee, new_ankle = W._two_bone_ik(hip, knee, ankle, near)
    np.testing.assert_allclose(np.linalg.norm(new_ankle - hip, axis=-1), np.abs(thigh - shin) + 1e-6, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(new_knee - hip, axis=-1), thigh, atol=1e-6)


# --- clips built in the camera frame, whose up (-y) and floor are known by construction ---

def _upright() -> np.ndarray:
    """A body standing upright (y up), every segment's midpoint over its ankles' midpoint: the
    standing axis, balance and the resting feet all say up exactly."""
    from body_poses import standing
    pose = standing()
    pose[H36M.names.index("neck"), 2] = 0.0
    return pose


def _squat() -> np.ndarray:
    """The knees 0.25 m forward: bent to about 120 degrees, no standing frame."""
    pose = _upright()
    pose[[H36M.names.index("left_knee"), H36M.names.index("right_knee")], 2] += 0.25
    return pose


def _at(pose, spots, frames):
    """``pose`` (world, y up) standing still at each of ``spots`` for 5 frames in turn, ``frames``
    frames in all, seen by a level camera 4 m away (camera frame: y down, z away)."""
    spot = np.asarray(spots, float)[(np.arange(frames) // 5) % len(spots)]
    return (pose[None] + spot[:, None]) * [1.0, -1.0, -1.0] + [0.0, 0.0, 4.0]


def _frame_of(cam, **kwargs):
    return find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0, **kwargs)


SPOTS = [(-0.6, 0, -0.5), (0.0, 0, 0.5), (0.6, 0, -0.5), (0.0, 0, -0.2), (0.3, 0, 0.3)]


def test_the_ankle_speed_given_decides_rest_for_up_the_floor_and_the_drift():
    cam = _at(_squat(), SPOTS, 150)  # thirds of 2 s, each with the feet resting at 5 spots apart
    seen = _frame_of(cam)
    assert seen.evidence[0] == "floor plane" and seen.floor_evidence == "resting feet"
    assert seen.contact_frames == 150 and seen.drift_deg < 1e-6  # one floor, thirds agree exactly
    # the 2D says the feet never rest: no floor, no standing body: up from balance and the camera,
    # the floor's height from the lowest ankles, and no third to tell drift by
    fast = _frame_of(cam, ankle_speed=np.full((150, 2), 2.0))
    assert fast.evidence == ("balance", "camera level") and fast.contact_frames == 0
    assert fast.floor_evidence == "lowest ankles" and math.isnan(fast.drift_deg)


def test_people_share_the_floors_direction_also_in_each_third_of_the_drift():
    # A's feet rest along x left of the camera, B's across it to the right, 0.3 m higher (a size
    # misjudged): centred each on their own, their floor is level; the middle third holds both
    a = _at(_upright(), [(-2.0, 0, 0), (-1.6, 0, 0), (-1.2, 0, 0), (-1.6, 0, 0.4), (-1.6, 0, -0.4)], 225)
    b = _at(_upright(), [(1.5, 0.3, -0.4), (1.5, 0.3, 0.0), (1.5, 0.3, 0.4), (1.9, 0.3, 0.0), (1.1, 0.3, 0.0)], 225)
    cam = np.concatenate([a, b])
    frame = _frame_of(cam, people=np.r_[np.zeros(225, int), np.ones(225, int)], seconds=9.0)
    assert "floor plane" in frame.evidence
    assert _angle(frame.up, [0.0, -1.0, 0.0]) < 1e-6 and frame.drift_deg < 1e-6


def test_the_floor_lies_the_ankles_height_under_the_10th_percentile_of_the_resting_or_lowest_ankles():
    lift = np.linspace(0.0, 0.29, 30)  # the body bobs up and down: the ankles' heights spread
    cam = _at(_upright(), [(0, 0, 0)], 30) + lift[:, None, None] * [0.0, -1.0, 0.0]
    ankles = [H36M.names.index("left_ankle"), H36M.names.index("right_ankle")]
    ankle = ANKLE_HEIGHT_RATIO * 0.9  # the leg: hip 1.0 -> knee 0.55 -> ankle 0.1
    for slow, evidence in ((2, "lowest ankles"), (3, "resting feet")):
        speed = np.full((30, 2), 2.0)
        speed[[0, 10, 20][:slow]] = 0.0  # these frames' feet rest (three make a floor)
        frame = _frame_of(cam, ankle_speed=speed)
        assert frame.floor_evidence == evidence
        heights = frame.apply(cam[:, ankles])[..., 1]
        used = heights.ravel() if slow < 3 else heights[[0, 10, 20]].min(1)
        assert np.percentile(used, 10) == pytest.approx(ankle, abs=1e-9)


def test_no_position_or_no_feet_say_why_there_is_no_floor():
    cam = _at(_upright(), [(0, 0, 0)], 30)
    trajectory = cam[:, 0].copy()
    trajectory[3] = np.nan
    with pytest.raises(NoFloorError, match=r"^the person's position in the camera frame is unknown in some frames$"):
        find_world_frame(cam - cam[:, :1], trajectory, 25.0)
    missing = np.zeros((30, 17), bool)
    missing[:16, [LEFT_ANKLE, RIGHT_ANKLE]] = True
    with pytest.raises(NoFloorError, match=r"^the feet were not seen in most frames \(legs out of view\): "
                                           r"no floor to stand on$"):
        _frame_of(cam, missing=missing)


def test_a_frame_recorded_before_evidence_and_floor_evidence_were_kept_reads_back_with_their_defaults():
    frame = _frame_of(_at(_upright(), SPOTS, 30))
    data = frame.to_dict()
    for key in ("evidence", "floor_evidence", "uncertainty_deg"):
        del data[key]
    old = WorldFrame.from_dict(data)
    assert old.evidence == () and old.floor_evidence == "resting feet" and math.isnan(old.uncertainty_deg)
    np.testing.assert_array_equal(old.rotation, frame.rotation)
