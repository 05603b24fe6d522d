"""Joint and segment angles (ddhpose.lifting.angles): known poses give their angles with the signs
docs/angles.md states, joint angles do not depend on the frame the poses are in, and whatever
cannot be measured is missing, never filled in."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ddhpose.lifting.angles import ANGLE_NAMES, ANGLES, SEGMENTS, body_angles, unavailable
from ddhpose.skeleton import H36M, Skeleton

from body_poses import ARM, FORWARD, J, RIGHT, UP, UPPER, result_of, rotation, standing, turn


def angles_of(*poses, world=True, **kw) -> dict[str, np.ndarray]:
    return body_angles(np.stack(poses), world=world, **kw)


def test_standing_upright_is_zero_and_segments_are_vertical():
    a = angles_of(standing())
    for name in ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation", "trunk_flexion", "trunk_lateral_bending",
                 "trunk_rotation", "right_hip_flexion", "left_hip_adduction", "right_knee_flexion",
                 "left_shoulder_flexion", "right_shoulder_abduction", "left_elbow_flexion"):
        assert a[name][0] == pytest.approx(0.0, abs=1e-9), name
    for name in ("trunk", "head", "right_thigh", "left_shank", "right_arm", "left_forearm"):
        assert a[f"{name}_to_floor"][0] == pytest.approx(90.0, abs=1e-6), name
    assert a["shoulders_to_floor"][0] == pytest.approx(0.0) and a["hips_to_floor"][0] == pytest.approx(0.0)
    assert list(a) == list(ANGLE_NAMES)


@pytest.mark.parametrize("degrees", [30.0, -15.0, 100.0])
def test_hip_flexion_is_the_thigh_swung_forward(degrees):
    # swinging the right leg forward about the hips' line: +flexion, no adduction, straight knee
    pose = turn(standing(), ["right_knee", "right_ankle"], "right_hip", RIGHT, degrees)
    a = angles_of(pose)
    assert a["right_hip_flexion"][0] == pytest.approx(degrees, abs=1e-6)
    assert a["right_hip_adduction"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["right_knee_flexion"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["left_hip_flexion"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["right_thigh_to_floor"][0] == pytest.approx(90.0 - abs(degrees), abs=1e-6)


@pytest.mark.parametrize("side, sign", [("right", 1.0), ("left", -1.0)])
def test_adduction_is_towards_the_midline_on_both_sides(side, sign):
    # rotating a leg about the forward axis by +20 degrees swings its foot to +x: medial for the right leg
    pose = turn(standing(), [f"{side}_knee", f"{side}_ankle"], f"{side}_hip", FORWARD, 20.0)
    a = angles_of(pose)
    assert a[f"{side}_hip_adduction"][0] == pytest.approx(20.0 * sign, abs=1e-6)
    assert a[f"{side}_hip_flexion"][0] == pytest.approx(0.0, abs=1e-6)


def test_knee_and_elbow_flexion_are_the_bend_at_the_joint():
    pose = turn(standing(), ["right_ankle"], "right_knee", RIGHT, -60.0)  # shank back: the knee bends
    pose = turn(pose, ["left_wrist"], "left_elbow", RIGHT, 90.0)  # forearm forward
    a = angles_of(pose)
    assert a["right_knee_flexion"][0] == pytest.approx(60.0, abs=1e-6)
    assert a["left_elbow_flexion"][0] == pytest.approx(90.0, abs=1e-6)
    assert a["left_forearm_to_floor"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["right_shank_to_floor"][0] == pytest.approx(30.0, abs=1e-6)


def test_shoulder_flexion_and_abduction_and_the_gimbal_where_flexion_is_undefined():
    forward = turn(standing(), ARM, "right_shoulder", RIGHT, 45.0)
    sideways = turn(standing(), ARM, "right_shoulder", FORWARD, -50.0)  # the right arm out to -x
    level = turn(standing(), ARM, "right_shoulder", FORWARD, -85.0)
    a = angles_of(forward, sideways, level)
    assert a["right_shoulder_flexion"][:2] == pytest.approx([45.0, 0.0], abs=1e-6)
    assert a["right_shoulder_abduction"][:3] == pytest.approx([0.0, 50.0, 85.0], abs=1e-6)
    assert np.isnan(a["right_shoulder_flexion"][2])  # the arm out to the side: no sagittal direction


def test_trunk_angles_are_the_thorax_in_the_pelvis():
    upper = ["thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
             "right_elbow", "right_wrist"]
    # (axis, turn, expected): up turned about the right axis goes backwards, about forward to the right
    cases = {"trunk_flexion": (RIGHT, -25.0, 25.0), "trunk_lateral_bending": (FORWARD, 15.0, 15.0),
             "trunk_rotation": (UP, 30.0, 30.0)}
    for name, (axis, degrees, expected) in cases.items():
        a = angles_of(turn(standing(), upper, "spine", axis, degrees))
        for other in cases:
            assert a[other][0] == pytest.approx(expected if other == name else 0.0, abs=1e-6), (name, other)
    lean = angles_of(turn(standing(), UPPER, "pelvis", RIGHT, -30.0))  # the whole trunk leans forward
    assert lean["trunk_flexion"][0] == pytest.approx(0.0, abs=1e-6)  # the pelvis's up axis leans with it
    assert lean["pelvis_tilt"][0] == pytest.approx(30.0, abs=1e-6)
    assert lean["trunk_to_floor"][0] == pytest.approx(60.0, abs=1e-6)


def test_pelvis_angles_are_the_pelvis_in_the_world():
    body = list(H36M.names)
    left = angles_of(turn(standing(), body, "pelvis", UP, 40.0))  # the person turns to their left
    assert left["pelvis_rotation"][0] == pytest.approx(40.0, abs=1e-6)
    assert left["pelvis_tilt"][0] == pytest.approx(0.0, abs=1e-6)
    tilted = turn(standing(), body, "pelvis", RIGHT, -20.0)  # forward
    a = angles_of(turn(tilted, body, "pelvis", UP, 120.0))  # tilt then heading: tilt is read after heading
    assert a["pelvis_tilt"][0] == pytest.approx(20.0, abs=1e-6)
    assert a["pelvis_rotation"][0] == pytest.approx(120.0, abs=1e-6)
    hitched = angles_of(turn(standing(), body, "pelvis", FORWARD, -10.0))  # the right hip (-x) goes up
    assert hitched["pelvis_obliquity"][0] == pytest.approx(10.0, abs=1e-6)
    assert hitched["hips_to_floor"][0] == pytest.approx(10.0, abs=1e-6)


def test_joint_angles_do_not_depend_on_the_frame_and_world_angles_need_one():
    rng = np.random.default_rng(0)
    poses = np.stack([turn(turn(standing(), ["right_ankle"], "right_knee", RIGHT, -k), ARM, "right_shoulder",
                           RIGHT, k) for k in (10.0, 40.0, 70.0)])
    poses = poses + rng.normal(0, 0.02, poses.shape)
    world = body_angles(poses, world=True)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))  # a proper rotation: the camera frame
    camera = body_angles(poses @ q.T + [0.3, -1.0, 4.0], world=False)
    for a in ANGLES:
        if a.world:
            assert np.isnan(camera[a.name]).all(), a.name
        else:
            np.testing.assert_allclose(camera[a.name], world[a.name], atol=1e-6, err_msg=a.name)


def test_missing_joints_make_their_angles_missing_in_those_frames():
    poses = np.stack([standing()] * 4)
    missing = np.zeros((4, 17), bool)
    missing[2, J["right_knee"]] = True
    a = body_angles(poses, world=True, missing=missing)
    for name in ("right_knee_flexion", "right_hip_flexion", "right_hip_adduction", "right_thigh_to_floor",
                 "right_shank_to_floor"):
        assert np.isnan(a[name][2]) and not np.isnan(a[name][[0, 1, 3]]).any(), name
    assert not np.isnan(a["left_knee_flexion"]).any() and not np.isnan(a["right_elbow_flexion"]).any()


def test_the_ankle_needs_a_toe_joint_and_says_so():
    a = angles_of(standing())
    assert np.isnan(a["right_ankle_dorsiflexion"]).all() and np.isnan(a["left_foot_to_floor"]).all()
    why = unavailable(H36M)
    assert set(why) == {"right_ankle_dorsiflexion", "left_ankle_dorsiflexion", "right_foot_to_floor",
                        "left_foot_to_floor"}
    assert "right_toe" in why["right_ankle_dorsiflexion"]
    assert "world frame" in unavailable(H36M, world=False)["pelvis_tilt"]
    # a skeleton with toes: the foot square to the shank is 0, toes raised 20 degrees is +20
    names = H36M.names + ("right_toe", "left_toe")
    toes = Skeleton(H36M.parents + (3, 6), H36M.joints_left + (18,), H36M.joints_right + (17,), names, "with toes")
    pose = np.concatenate([standing(), [[-0.12, 0.1, 0.15], [0.12, 0.1, 0.15]]])
    pose[17] = pose[3] + (pose[17] - pose[3]) @ rotation(RIGHT, 20.0).T  # toes up
    a = body_angles(pose[None], toes, world=True)
    assert a["right_ankle_dorsiflexion"][0] == pytest.approx(20.0, abs=1e-6)
    assert a["left_ankle_dorsiflexion"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["left_foot_to_floor"][0] == pytest.approx(0.0, abs=1e-6)
    assert "right_ankle_dorsiflexion" not in unavailable(toes)


def test_bad_shapes_are_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"positions: expected \(F, 17, 3\)"):
        body_angles(np.zeros((3, 16, 3)), world=False)
    with pytest.raises(ValueError, match=r"missing: expected \(3, 17\)"):
        body_angles(np.zeros((3, 17, 3)), world=False, missing=np.zeros((3, 16), bool))


def test_segments_are_the_sports2d_pairs():
    assert SEGMENTS["right_shank"] == ("right_ankle", "right_knee") and SEGMENTS["trunk"] == ("pelvis", "thorax")


def test_a_result_has_its_angles_from_the_world_poses_else_the_camera_frame():
    world = np.stack([turn(standing(), ["right_ankle"], "right_knee", RIGHT, -k) for k in (0.0, 30.0)])
    with_world = result_of(world)
    assert with_world.angles["right_knee_flexion"] == pytest.approx([0.0, 30.0], abs=1e-5)
    assert with_world.angles["trunk_to_floor"] == pytest.approx([90.0, 90.0], abs=1e-4)
    without = dataclasses.replace(with_world, world_poses=None)
    assert without.angles["right_knee_flexion"] == pytest.approx([0.0, 30.0], abs=1e-5)
    assert np.isnan(without.angles["trunk_to_floor"]).all()
