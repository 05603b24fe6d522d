"""Joint and segment angles (ddhpose.lifting.angles): known poses give their angles with the signs
docs/angles.md states, joint angles do not depend on the frame the poses are in, and whatever
cannot be measured is missing, never filled in."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ddhpose.lifting.angles import (ANGLE_NAMES, ANGLES, SEGMENTS, angle_table, body_angles, cardan_yxz, cardan_zxy,
                                   flexion_adduction, included_flexion, segment_frame, unavailable)
from ddhpose.skeleton import H36M, Skeleton

from body_poses import ARM, FORWARD, J, RIGHT, UP, UPPER, result_of, rotation, standing, turn


def angles_of(*poses, world=True, **kw) -> dict[str, np.ndarray]:
    return body_angles(np.stack(poses), world=world, **kw)


def skeleton_without(*names: str, name: str = "lacking") -> Skeleton:
    """Human3.6M's skeleton with ``names`` renamed away (no_<joint>): the same tree lacking those joints."""
    renamed = tuple(f"no_{n}" if n in names else n for n in H36M.names)
    return Skeleton(H36M.parents, H36M.joints_left, H36M.joints_right, renamed, name)


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
    # the foot along the shank, up or down (rounding past +-1 for some lengths): +-90, not NaN
    rng = np.random.default_rng(8)
    lengths = rng.uniform(0.05, 0.3, (200, 1))
    folded = np.repeat(pose[None], 200, 0)
    folded[:, [2, 5]] = folded[:, [3, 6]] + rng.normal(0, 0.4, (200, 2, 3))  # shanks every way
    folded[:, 17] = folded[:, 3] + (folded[:, 2] - folded[:, 3]) * lengths  # the right foot along the shank
    folded[:, 18] = folded[:, 6] - (folded[:, 5] - folded[:, 6]) * lengths  # the left foot straight on from it
    extreme = body_angles(folded, toes, world=True)
    np.testing.assert_allclose(extreme["right_ankle_dorsiflexion"], 90.0, atol=1e-5)
    np.testing.assert_allclose(extreme["left_ankle_dorsiflexion"], -90.0, atol=1e-5)
    assert a["left_ankle_dorsiflexion"][0] == pytest.approx(0.0, abs=1e-6)
    assert a["left_foot_to_floor"][0] == pytest.approx(0.0, abs=1e-6)
    assert "right_ankle_dorsiflexion" not in unavailable(toes)


def test_single_precision_poses_are_measured_in_double():
    pose = (turn(standing(), ["right_ankle"], "right_knee", RIGHT, -37.0)
            + np.random.default_rng(9).normal(0, 0.02, (17, 3))).astype(np.float32)
    single, double = angles_of(pose), angles_of(pose.astype(np.float64))
    for name in ANGLE_NAMES:
        np.testing.assert_array_equal(single[name], double[name], err_msg=name)


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


def test_every_angle_reads_only_the_joints_it_lists():
    # the table of angles (which joints each needs) is what `missing` and `unavailable` go by: moving a
    # joint an angle does not list leaves it exactly as it was; moving a listed joint moves it, except
    # where an angle about the floating or the final axis reads only its frame's left-to-right line
    # (the frame's up joints then do not enter: obliquity, heading, ab/adduction, bending, rotation)
    rng = np.random.default_rng(3)
    pose = turn(standing(), ["right_ankle"], "right_knee", RIGHT, -30.0)
    pose = turn(pose, ["left_wrist"], "left_elbow", RIGHT, 40.0) + rng.normal(0, 0.02, (17, 3))
    base = angles_of(pose)
    out_of_plane = ("obliquity", "pelvis_rotation", "adduction", "abduction", "lateral_bending", "trunk_rotation")
    for j, joint in enumerate(H36M.names):
        moved = pose.copy()
        moved[j] += rng.normal(0, 0.03, 3)
        after = angles_of(moved)
        for a in ANGLES:
            if np.isnan(base[a.name][0]):
                assert "toe" in "".join(a.joints), a.name  # only the ankle's and the foot's, for want of a toe
                continue
            changed = not np.isclose(after[a.name][0], base[a.name][0], rtol=0, atol=1e-9)
            if joint not in a.joints:
                assert not changed, (a.name, joint)
            elif not changed:
                assert a.name.endswith(out_of_plane) and joint in ("pelvis", "spine", "thorax"), (a.name, joint)


def test_segment_frames_are_orthonormal_right_handed_and_follow_the_left_to_right_line():
    rng = np.random.default_rng(5)
    right, up = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3))  # any batch shape, up not perpendicular
    frame = segment_frame(right, up)
    np.testing.assert_allclose(frame @ np.swapaxes(frame, -1, -2), np.broadcast_to(np.eye(3), frame.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(frame), 1.0, atol=1e-12)
    np.testing.assert_allclose(frame[..., 2, :], right / np.linalg.norm(right, axis=-1, keepdims=True), atol=1e-12)
    assert (np.sum(frame[..., 1, :] * up, -1) > 0).all()  # Y is up's part perpendicular to Z
    np.testing.assert_allclose(np.sum(frame[..., 0, :] * up, -1), 0.0, atol=1e-12)  # X: out of (up, right)
    assert np.isnan(segment_frame(np.zeros(3), up[0, 0])).all()  # no left-to-right line: no frame


def test_cardan_angles_come_back_from_their_rotations_even_at_the_gimbal():
    def rx(t):
        return rotation((1, 0, 0), t)

    def ry(t):
        return rotation((0, 1, 0), t)

    def rz(t):
        return rotation((0, 0, 1), t)
    rng = np.random.default_rng(6)
    for a, b, c in rng.uniform(-80, 80, (20, 3)):
        assert cardan_zxy(rz(a) @ rx(b) @ ry(c)) == pytest.approx((a, b, c), abs=1e-9)
        assert cardan_yxz(ry(c) @ rx(b) @ rz(a)) == pytest.approx((c, b, a), abs=1e-9)
    # the middle angle at +-90 degrees, between two segment frames (as body_angles forms it): rounding
    # may put the sine past 1 for some of them, which must still read 90, not NaN
    frames = segment_frame(rng.normal(size=(2, 100, 3)), rng.normal(size=(2, 100, 3)))
    for s in (1.0, -1.0):
        relative = frames @ np.swapaxes(rx(s * 90.0) @ frames, -1, -2)
        np.testing.assert_allclose(cardan_zxy(relative)[1], -s * 90.0, atol=1e-5)  # the relative turn is Rx(-s 90)
        np.testing.assert_allclose(cardan_yxz(np.swapaxes(relative, -1, -2))[1], s * 90.0, atol=1e-5)


def test_straight_and_folded_limbs_and_limbs_out_to_the_side_read_their_limits_not_nan():
    # unit vectors' dot products may round past +-1 for some directions: the angles must still read 0 / 180 / 90
    rng = np.random.default_rng(7)
    joint, along = rng.normal(size=(2, 2, 50, 3)), rng.normal(size=(2, 2, 50, 3))
    near, far = rng.uniform(0.2, 1.0, (2, 2, 2, 50, 1))
    straight = included_flexion(joint - along * near, joint, joint + along * far)
    folded = included_flexion(joint + along * near, joint, joint + along * far)
    np.testing.assert_allclose(straight, 0.0, atol=1e-5)
    np.testing.assert_allclose(folded, 180.0, atol=1e-5)
    frame = segment_frame(rng.normal(size=(200, 3)), rng.normal(size=(200, 3)))
    for side, sign in (("right", -1.0), ("left", 1.0)):  # the limb along the frame's Z: 90 degrees of ab/adduction
        for towards in (1.0, -1.0):  # to the midline, away from it
            flexion, adduction = flexion_adduction(frame[:, 2] * sign * towards, frame, side)
            np.testing.assert_allclose(adduction, 90.0 * towards, atol=1e-5)
            assert flexion.dtype == np.float64 and np.isnan(flexion).all()  # no sagittal direction left


def test_why_an_angle_is_missing_names_every_joint_lacking():
    why = unavailable(skeleton_without("spine", "thorax", name="renamed"))
    assert why["trunk_flexion"] == "needs the joint(s) spine, thorax, which skeleton 'renamed' lacks"
    assert why["pelvis_tilt"] == "needs the joint(s) spine, which skeleton 'renamed' lacks"
    assert unavailable(H36M, world=False)["pelvis_tilt"] == \
        "needs the world frame (up and the floor), which this result lacks"


def test_a_skeleton_lacking_joints_loses_only_the_angles_that_need_them():
    pose = turn(standing(), ARM, "right_shoulder", RIGHT, 30.0)
    a = body_angles(pose[None], skeleton_without("left_ankle", "right_ankle"), world=True)
    assert np.isnan(a["right_knee_flexion"]).all() and np.isnan(a["left_shank_to_floor"]).all()
    assert a["right_shoulder_flexion"][0] == pytest.approx(30.0, abs=1e-6)
    assert a["left_hip_flexion"][0] == pytest.approx(0.0, abs=1e-6)
    a = body_angles(pose[None], skeleton_without("pelvis"), world=True)  # the pelvis frame lost, the thorax's kept
    for name in ("pelvis_tilt", "right_hip_flexion", "trunk_flexion"):
        assert np.isnan(a[name]).all(), name
    assert a["right_shoulder_flexion"][0] == pytest.approx(30.0, abs=1e-6)
    assert a["right_elbow_flexion"][0] == pytest.approx(0.0, abs=1e-6)


def test_the_angle_table_is_float64_in_the_named_order():
    table = angle_table({"b": np.float32([1.5, 2.5]), "a": np.float32([3, 4])}, ["b", "a"])
    assert table.dtype == np.float64 and table.tolist() == [[1.5, 3.0], [2.5, 4.0]]
