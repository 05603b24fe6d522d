"""What the person is doing, frame by frame, from true 3D and the up direction: the classes the
per-class error tables and the sampler's oversampling are keyed by.

The rules use the pelvis height above the frame's lowest ankle (Human3.6M-17 has no toes) as a
fraction of its standing height (thigh + shin), the torso's tilt from vertical, the thighs'
angle and, for jumps only, the ankles' height above the sequence's floor (the ankles at their
lowest over the sequence). They hold for motion whose root never moves vertically too (the
Human3.6M motion here), except that such motion shows no jumps. In order of precedence:

- lying / on the floor: pelvis below 40 % of its standing height with the knees near the floor
  (a quarter of the standing pelvis height: legs along the floor or crossed), or torso tilted
  more than 60° with the pelvis below 60 %;
- kicks / jumps: both ankles more than 15 cm above the floor with the pelvis above 80 % (legs
  extended), or an ankle above the other knee while that other leg stands straight;
- sitting: pelvis between 35 and 80 %, torso within 45° of vertical, both thighs within 35° of
  horizontal (a chair cannot be seen: a half squat with an upright torso counts as sitting);
- reaching / crouching: pelvis below 80 % (bent knees, deep squats), torso tilted more than
  30° (bending, leaning), or a wrist above the nose;
- standing / walking: everything else.
"""
from __future__ import annotations

import numpy as np

from ddhpose.skeleton import Skeleton

MOTION_CLASSES = ("standing/walking", "sitting", "lying/on the floor", "kicks/jumps", "reaching/crouching")
STANDING, SITTING, LYING, KICK_JUMP, REACH_CROUCH = range(len(MOTION_CLASSES))

_NEED = ("pelvis", "thorax", "neck", "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee",
         "right_ankle", "left_wrist", "right_wrist")


def _angle_from(vectors: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Degrees between each vector (..., 3) and ``up`` (3,)."""
    cos = (vectors @ up) / np.maximum(np.linalg.norm(vectors, axis=-1), 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def motion_classes(poses: np.ndarray, up: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """The motion class of every frame (indices into :data:`MOTION_CLASSES`).

    Args:
        poses: (F, J, 3) metres with the root's motion kept (not root-relative: heights are
            taken above the sequence's own floor), in any frame whose up direction is ``up``,
            e.g. a PoseSequence's ``poses_3d + trajectory``.
        up: (3,) the world's up direction in the poses' frame.
        skeleton: names the joints (needs the Human3.6M names of :data:`_NEED`).
    Returns:
        (F,) int64.
    Raises:
        ValueError: a skeleton without the needed joint names, or poses that are not (F, J, 3).
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses: expected (F, {skeleton.num_joints}, 3), got {poses.shape}")
    j = skeleton.joints(_NEED, "classing motion")
    up = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    height = poses @ up  # (F, J)
    ankles = height[:, [j["left_ankle"], j["right_ankle"]]]
    floor = np.percentile(ankles.min(1), 2)
    legs = np.stack([np.linalg.norm(poses[:, j[f"{s}_hip"]] - poses[:, j[f"{s}_knee"]], axis=-1)
                     + np.linalg.norm(poses[:, j[f"{s}_knee"]] - poses[:, j[f"{s}_ankle"]], axis=-1)
                     for s in ("left", "right")], -1)  # (F, 2)
    standing_pelvis = float(np.median(legs.mean(1)))
    pelvis = (height[:, j["pelvis"]] - ankles.min(1)) / standing_pelvis
    tilt = _angle_from(poses[:, j["thorax"]] - poses[:, j["pelvis"]], up)
    thighs = np.stack([_angle_from(poses[:, j[f"{s}_knee"]] - poses[:, j[f"{s}_hip"]], up)
                       for s in ("left", "right")], -1)
    hips = height[:, [j["left_hip"], j["right_hip"]]]
    straight = (hips - ankles) > 0.85 * legs  # (F, 2) a leg standing straight
    knees = height[:, [j["left_knee"], j["right_knee"]]]
    # an ankle above the other knee while the other leg stands straight (index 1 - side)
    high_leg = ((ankles > knees[:, ::-1]) & straight[:, ::-1]).any(1)
    airborne = (ankles.min(1) - floor > 0.15) & (pelvis > 0.8)
    wrist_up = height[:, [j["left_wrist"], j["right_wrist"]]].max(1) > height[:, j["neck"]]
    knees_low = knees.max(1) - ankles.min(1) < 0.25 * standing_pelvis  # legs along the floor

    out = np.full(len(poses), STANDING, dtype=np.int64)
    reach = (pelvis < 0.8) | (tilt > 30) | wrist_up
    sitting = (pelvis > 0.35) & (pelvis < 0.8) & (tilt < 45) & (np.abs(thighs - 90) < 35).all(1)
    lying = ((pelvis < 0.4) & knees_low) | ((tilt > 60) & (pelvis < 0.6))
    for mask, label in ((reach, REACH_CROUCH), (sitting, SITTING), (airborne | high_leg, KICK_JUMP), (lying, LYING)):
        out[mask] = label
    return out
