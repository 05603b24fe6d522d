"""Motion classes from hand-built poses (z up, metres, Human3.6M-17 order) whose class is known."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from ddhpose.data.motion_classes import KICK_JUMP, LYING, REACH_CROUCH, SITTING, STANDING, motion_classes
from ddhpose.skeleton import H36M

UP = np.array([0.0, 0.0, 1.0])


def standing() -> np.ndarray:
    """(17, 3) an upright person facing -y, arms down."""
    j = {"pelvis": (0, 0, 0.90), "right_hip": (-0.12, 0, 0.90), "right_knee": (-0.12, 0, 0.47),
         "right_ankle": (-0.12, 0, 0.05), "left_hip": (0.12, 0, 0.90), "left_knee": (0.12, 0, 0.47),
         "left_ankle": (0.12, 0, 0.05), "spine": (0, 0, 1.12), "thorax": (0, 0, 1.35), "neck": (0, -0.05, 1.50),
         "head": (0, 0, 1.68), "left_shoulder": (0.18, 0, 1.38), "left_elbow": (0.2, 0, 1.10),
         "left_wrist": (0.2, 0, 0.85), "right_shoulder": (-0.18, 0, 1.38), "right_elbow": (-0.2, 0, 1.10),
         "right_wrist": (-0.2, 0, 0.85)}
    return np.array([j[n] for n in H36M.names], dtype=np.float64)


def moved(pose: np.ndarray, **joints) -> np.ndarray:
    out = pose.copy()
    for name, xyz in joints.items():
        out[H36M.names.index(name)] = xyz
    return out


def sitting() -> np.ndarray:
    """Pelvis at chair height, thighs horizontal forward (-y), shins vertical, torso upright."""
    p = standing()
    p[:, 2] -= 0.43  # the upper body comes down with the pelvis
    return moved(p, right_knee=(-0.12, -0.43, 0.47), left_knee=(0.12, -0.43, 0.47),
                 right_ankle=(-0.12, -0.43, 0.05), left_ankle=(0.12, -0.43, 0.05))


def lying() -> np.ndarray:
    """The standing pose turned onto its back: every joint near the floor."""
    p = standing() @ Rotation.from_euler("x", 90, degrees=True).as_matrix().T
    return p - [0, 0, p[:, 2].min() - 0.05]


def kicking() -> np.ndarray:
    """Right leg straight forward at hip height, the left leg standing."""
    return moved(standing(), right_knee=(-0.12, -0.43, 0.90), right_ankle=(-0.12, -0.85, 0.92))


def crouching() -> np.ndarray:
    """A deep squat: pelvis low, knees high and forward, torso leaning forward."""
    p = moved(standing(), pelvis=(0, 0.1, 0.30), right_hip=(-0.12, 0.1, 0.30), left_hip=(0.12, 0.1, 0.30),
              right_knee=(-0.15, -0.3, 0.45), left_knee=(0.15, -0.3, 0.45))
    upper = [H36M.names.index(n) for n in H36M.names[7:]]
    p[upper] += [0, -0.25, -0.55]
    return p


def reaching_up() -> np.ndarray:
    return moved(standing(), right_elbow=(-0.2, 0, 1.65), right_wrist=(-0.2, 0, 1.92))


def classify(*poses: np.ndarray, up=UP) -> list[int]:
    return motion_classes(np.stack(poses), up, H36M).tolist()


def test_each_built_pose_gets_its_class():
    base = [standing()] * 20  # enough standing frames to set the floor
    got = classify(*base, sitting(), lying(), kicking(), crouching(), reaching_up())
    assert got[:20] == [STANDING] * 20
    assert got[20:] == [SITTING, LYING, KICK_JUMP, REACH_CROUCH, REACH_CROUCH]


def test_a_jump_needs_the_floor_of_the_sequence():
    jump = standing() + [0, 0, 0.30]
    assert classify(*[standing()] * 20, jump)[-1] == KICK_JUMP
    small_hop = standing() + [0, 0, 0.05]
    assert classify(*[standing()] * 20, small_hop)[-1] == STANDING


def test_bending_the_torso_forward_is_reaching():
    p = standing()
    upper = [H36M.names.index(n) for n in H36M.names[7:]]
    pelvis = p[0]
    rot = Rotation.from_euler("x", -50, degrees=True).as_matrix()  # forward, towards -y
    p[upper] = (p[upper] - pelvis) @ rot.T + pelvis
    assert classify(*[standing()] * 20, p)[-1] == REACH_CROUCH


def test_classes_do_not_depend_on_the_frame_only_on_up():
    poses = np.stack([standing()] * 20 + [sitting(), lying(), kicking(), crouching(), reaching_up()])
    rot = Rotation.from_euler("xyz", [100, -30, 45], degrees=True).as_matrix()  # a camera's view
    turned = poses @ rot.T + [0.3, -0.2, 4.0]
    assert motion_classes(turned, rot @ UP, H36M).tolist() == motion_classes(poses, UP, H36M).tolist()
    # the wrong up direction changes the answer: the rule reads heights along ``up``
    assert motion_classes(turned, UP, H36M).tolist() != motion_classes(poses, UP, H36M).tolist()


def test_virtual_camera_sequences_carry_up():
    from ddhpose.data.virtual_camera import camera_for_sequence, make_training_pair
    world = np.stack([standing()] * 20 + [sitting(), lying(), crouching()])
    world = world - world[:1, :1] * [1, 1, 0]
    camera = camera_for_sequence(np.random.default_rng(0), world, min_inside=0.0)
    seq = make_training_pair(world, camera)
    seen = motion_classes(seq.poses_3d + seq.trajectory, seq.up, H36M)
    assert seen.tolist() == motion_classes(world, UP, H36M).tolist()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"poses: expected \(F, 17, 3\)"):
        motion_classes(np.zeros((4, 16, 3)), UP, H36M)
    from ddhpose.skeleton import MPI_INF_3DHP
    with pytest.raises(ValueError, match=r"skeleton '3dhp': classing motion needs joints named .* missing"):
        motion_classes(np.zeros((4, MPI_INF_3DHP.num_joints, 3)), UP, MPI_INF_3DHP)
