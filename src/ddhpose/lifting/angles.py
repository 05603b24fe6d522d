"""Joint and segment angles of a pose sequence, in degrees: what coaches, physiotherapists and gait
labs read (docs/angles.md gives every definition with its sign and its sources).

The conventions are those of Sports2D (the angle names, the segment pairs, flexion positive, a
straight limb 0) and of the ISB recommendations (Wu et al. 2002, 2005: a proximal segment frame
with X anterior, Y superior, Z to the right; flexion about Z first, then ab/adduction about the
floating X axis, then axial rotation), which OpenSim's models follow (``hip_flexion_r`` before
``hip_adduction_r``). With 17 joints a segment frame is built from the joints it has:

- the pelvis: Z from the left to the right hip, Y from the pelvis towards the spine (the lowest
  trunk segment the skeleton has) made perpendicular to Z, X = Y x Z;
- the thorax: Z from the left to the right shoulder, Y from the spine towards the thorax.

Joint angles (no world frame needed: a rotation of the whole body leaves them unchanged):

- ``{side}_hip_flexion`` / ``_adduction``: the thigh (hip -> knee) in the pelvis frame, flexion
  in its sagittal plane from straight down, then adduction out of it (towards the midline +);
- ``{side}_knee_flexion``, ``{side}_elbow_flexion``: 180 minus the angle at the joint (0 straight);
- ``{side}_ankle_dorsiflexion``: 90 minus the angle between the shank and the foot (ankle -> toe);
  needs a toe joint, which Human3.6M's 17 joints lack: missing there;
- ``{side}_shoulder_flexion`` / ``_abduction``: the upper arm (shoulder -> elbow) in the thorax
  frame, as the hip (abduction: away from the body +); flexion is undefined (missing) when the arm
  points more than :data:`GIMBAL_DEG` out of the sagittal plane;
- ``trunk_flexion`` / ``_lateral_bending`` / ``_rotation``: the thorax frame in the pelvis frame,
  Cardan angles in OpenSim's lumbar order (flexion about Z, bending about X: to the right +,
  rotation about Y: shoulders turned to the left +).

World angles (need the world frame: y up; missing without one):

- ``pelvis_tilt`` / ``_obliquity`` / ``_rotation``: the pelvis frame in the world, heading first
  (rotation about up from facing the camera, to the person's left +), then obliquity (the right
  hip higher +), then tilt (anterior +), the order Baker (2001) recommends for gait;
- ``{segment}_to_floor``: a segment's angle to the floor, from its first point to its second
  (Sports2D's pairs): 90 vertical with the second point on top, 0 level, negative when the second
  point is lower; the trunk (pelvis -> thorax), head (thorax -> head), thighs (knee -> hip), shanks
  (ankle -> knee), feet (ankle -> toe), arms (elbow -> shoulder), forearms (wrist -> elbow), the
  shoulders' and the hips' lines (left -> right).

Every angle is NaN where it is undefined: a joint it needs is not in the skeleton, was not seen
in that frame (``missing``), coincides with another, or the world frame is absent. Nothing is
filled in.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ddhpose.skeleton import H36M, Skeleton

SIDES = ("right", "left")
#: Shoulder (and hip) flexion is undefined where the limb points further than this (degrees) out
#: of the sagittal plane: there its projection on that plane is too short to have a direction.
GIMBAL_DEG = 70.0
_EPS = 1e-9


@dataclass(frozen=True)
class Angle:
    """One angle: its column name, the joints it needs, whether it needs the world frame, what it measures."""

    name: str
    joints: tuple[str, ...]
    world: bool
    meaning: str


def _side_angles(side: str) -> list[Angle]:  # pragma: no mutate block
    # (it runs only at import, before mutmut can switch a mutant on; the table it builds is checked
    # by tests/test_angles.py's test_every_angle_reads_only_the_joints_it_lists)
    s = side
    hip, knee, ankle, toe = f"{s}_hip", f"{s}_knee", f"{s}_ankle", f"{s}_toe"
    shoulder, elbow, wrist = f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist"
    pelvis = ("pelvis", "spine", "left_hip", "right_hip")
    thorax = ("spine", "thorax", "left_shoulder", "right_shoulder")
    return [
        Angle(f"{s}_hip_flexion", pelvis + (knee,), False, "thigh forward of the pelvis's down axis +"),
        Angle(f"{s}_hip_adduction", pelvis + (knee,), False, "thigh towards the midline +"),
        Angle(f"{s}_knee_flexion", (hip, knee, ankle), False, "0 straight, bent +"),
        Angle(f"{s}_ankle_dorsiflexion", (knee, ankle, toe), False, "0 foot square to the shank, toes up +"),
        Angle(f"{s}_shoulder_flexion", thorax + (elbow,), False, "upper arm forward of the thorax's down axis +"),
        Angle(f"{s}_shoulder_abduction", thorax + (elbow,), False, "upper arm away from the body +"),
        Angle(f"{s}_elbow_flexion", (shoulder, elbow, wrist), False, "0 straight, bent +"),
    ]


#: The lines whose angle to the floor is given: name -> (first point, second point).
SEGMENTS = {"trunk": ("pelvis", "thorax"), "head": ("thorax", "head"),
            **{f"{s}_{part}": (f"{s}_{a}", f"{s}_{b}") for s in SIDES
               for part, (a, b) in (("thigh", ("knee", "hip")), ("shank", ("ankle", "knee")), ("foot", ("ankle", "toe")),
                                    ("arm", ("elbow", "shoulder")), ("forearm", ("wrist", "elbow")))},
            "shoulders": ("left_shoulder", "right_shoulder"), "hips": ("left_hip", "right_hip")}

_PELVIS = ("pelvis", "spine", "left_hip", "right_hip")
_TRUNK = _PELVIS + ("thorax", "left_shoulder", "right_shoulder")

#: Every angle, in the order of the files' columns.
ANGLES: tuple[Angle, ...] = (
    Angle("pelvis_tilt", _PELVIS, True, "the pelvis's up axis leaning forward +"),
    Angle("pelvis_obliquity", _PELVIS, True, "the right hip higher than the left +"),
    Angle("pelvis_rotation", _PELVIS, True, "heading about up from facing the camera, to the left +"),
    Angle("trunk_flexion", _TRUNK, False, "thorax forward of the pelvis +"),
    Angle("trunk_lateral_bending", _TRUNK, False, "thorax leaning to the right of the pelvis +"),
    Angle("trunk_rotation", _TRUNK, False, "shoulders turned to the left of the hips +"),
    *_side_angles("right"), *_side_angles("left"),
    *(Angle(f"{name}_to_floor", pair, True, f"{pair[0]} -> {pair[1]} above the floor +, 90 vertical")
      for name, pair in SEGMENTS.items()),
)
ANGLE_NAMES: tuple[str, ...] = tuple(a.name for a in ANGLES)


def unavailable(skeleton: Skeleton = H36M, world: bool = True) -> dict[str, str]:
    """name -> why that angle is missing in every frame of a skeleton's poses (a joint it needs is
    not in the skeleton, or it needs the world frame and ``world`` is False)."""
    out = {}
    for a in ANGLES:
        lacking = [j for j in a.joints if j not in skeleton.names]
        if lacking:
            out[a.name] = f"needs the joint(s) {', '.join(lacking)}, which skeleton {skeleton.name!r} lacks"
        elif a.world and not world:
            out[a.name] = "needs the world frame (up and the floor), which this result lacks"
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors; NaN where the vector has no length."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > _EPS, v / np.where(n > _EPS, n, 1.0), np.nan)


def segment_frame(right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rows X (anterior), Y (superior), Z (right) of a segment frame from a left-to-right
    vector ``right`` (..., 3) and a roughly superior vector ``up`` (..., 3): Z along ``right``, Y
    the part of ``up`` perpendicular to it, X = Y x Z. NaN where they are parallel or zero."""
    z = _unit(right)
    y = _unit(up - np.sum(up * z, -1, keepdims=True) * z)
    return np.stack([np.cross(y, z), y, z], -2)


def _degrees(x: np.ndarray) -> np.ndarray:
    return np.degrees(x)


def flexion_adduction(direction: np.ndarray, frame: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Flexion and adduction (degrees, (...,)) of a limb pointing along ``direction`` (..., 3) from
    its proximal joint, in the proximal ``frame`` (..., 3, 3): flexion about Z from straight down
    (towards X +), then adduction about the floating X axis (towards the midline +: -Z on the
    right, +Z on the left). Flexion is NaN beyond :data:`GIMBAL_DEG` out of the sagittal plane."""
    d = np.einsum("...ij,...j->...i", frame, _unit(direction))
    medial = -1.0 if side == "right" else 1.0
    sagittal = np.hypot(d[..., 0], d[..., 1])
    flexion = _degrees(np.arctan2(d[..., 0], -d[..., 1]))
    flexion = np.where(sagittal > np.cos(np.radians(GIMBAL_DEG)), flexion, np.nan)
    adduction = _degrees(np.arcsin(np.clip(medial * d[..., 2], -1.0, 1.0)))
    return flexion, adduction


def included_flexion(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """180 minus the angle at ``b`` between ``a`` and ``c`` (..., 3): 0 for a straight limb (degrees)."""
    u, v = _unit(a - b), _unit(c - b)
    return 180.0 - _degrees(np.arccos(np.clip(np.sum(u * v, -1), -1.0, 1.0)))


def cardan_zxy(relative: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles (a, b, c) in degrees of rotations (..., 3, 3) R = Rz(a) Rx(b) Ry(c) (columns: the
    distal frame's axes in the proximal one)."""
    r = relative
    b = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
    a = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
    c = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
    return _degrees(a), _degrees(b), _degrees(c)


def cardan_yxz(relative: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles (c, b, a) in degrees of rotations (..., 3, 3) R = Ry(c) Rx(b) Rz(a)."""
    r = relative
    b = np.arcsin(np.clip(-r[..., 1, 2], -1.0, 1.0))
    a = np.arctan2(r[..., 1, 0], r[..., 1, 1])
    c = np.arctan2(r[..., 0, 2], r[..., 2, 2])
    return _degrees(c), _degrees(b), _degrees(a)


#: The world frame's axes as a person frame facing the camera: X anterior = world +z (towards
#: the camera), Y = up (world +y), Z = right = world -x (the person's right is the image's left).
WORLD_PERSON_AXES = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])


def body_angles(positions: np.ndarray, skeleton: Skeleton = H36M, *, world: bool,
                missing: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """Every angle of :data:`ANGLES` over a pose sequence.

    Args:
        positions: (F, J, 3) joint positions in metres, any right-handed frame; with ``world``
            the world frame of :mod:`ddhpose.lifting.world` (y up, z towards the camera).
        skeleton: names the joints (angles whose joints it lacks are NaN).
        world: whether ``positions`` are in the world frame (pelvis and segment angles need it).
        missing: optional (F, J) bool, True where a joint was not seen: angles using it are NaN
            in that frame.
    Returns:
        name -> (F,) float64 degrees, NaN where undefined, in the order of :data:`ANGLE_NAMES`.
    """
    p = np.asarray(positions, np.float64)
    if p.ndim != 3 or p.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"positions: expected (F, {skeleton.num_joints}, 3) for skeleton {skeleton.name!r}, "
                         f"got {p.shape}")
    frames = len(p)
    if missing is not None:
        missing = np.asarray(missing, bool)
        if missing.shape != (frames, skeleton.num_joints):
            raise ValueError(f"missing: expected ({frames}, {skeleton.num_joints}), got {missing.shape}")
    index = {n: j for j, n in enumerate(skeleton.names)}
    # a joint the skeleton lacks is NaN, and so is every frame and angle built from it
    at = lambda name: p[:, index[name]] if name in index else np.full((frames, 3), np.nan)  # noqa: E731
    out: dict[str, np.ndarray] = {}

    pelvis = segment_frame(at("right_hip") - at("left_hip"), at("spine") - at("pelvis"))
    thorax = segment_frame(at("right_shoulder") - at("left_shoulder"), at("thorax") - at("spine"))
    if world:
        rotation, obliquity, tilt = cardan_yxz(WORLD_PERSON_AXES @ np.swapaxes(pelvis, -1, -2))
        out.update(pelvis_tilt=-tilt, pelvis_obliquity=-obliquity, pelvis_rotation=rotation)
    flexion, bending, turn = cardan_zxy(pelvis @ np.swapaxes(thorax, -1, -2))
    out.update(trunk_flexion=-flexion, trunk_lateral_bending=bending, trunk_rotation=turn)
    for s in SIDES:
        hip_flex, hip_add = flexion_adduction(at(f"{s}_knee") - at(f"{s}_hip"), pelvis, s)
        arm_flex, arm_add = flexion_adduction(at(f"{s}_elbow") - at(f"{s}_shoulder"), thorax, s)
        knee = included_flexion(at(f"{s}_hip"), at(f"{s}_knee"), at(f"{s}_ankle"))
        ankle = 90.0 - _degrees(np.arccos(np.clip(np.sum(_unit(at(f"{s}_knee") - at(f"{s}_ankle"))
                                                         * _unit(at(f"{s}_toe") - at(f"{s}_ankle")), -1), -1, 1)))
        elbow = included_flexion(at(f"{s}_shoulder"), at(f"{s}_elbow"), at(f"{s}_wrist"))
        out.update({f"{s}_hip_flexion": hip_flex, f"{s}_hip_adduction": hip_add, f"{s}_knee_flexion": knee,
                    f"{s}_ankle_dorsiflexion": ankle, f"{s}_shoulder_flexion": arm_flex,
                    f"{s}_shoulder_abduction": -arm_add, f"{s}_elbow_flexion": elbow})
    if world:
        for name, (a, b) in SEGMENTS.items():
            d = _unit(at(b) - at(a))
            out[f"{name}_to_floor"] = _degrees(np.arcsin(np.clip(d[:, 1], -1.0, 1.0)))
    result = {}
    for a in ANGLES:
        if (a.world and not world) or any(n not in index for n in a.joints):
            result[a.name] = np.full(frames, np.nan)
            continue
        value = out[a.name]
        if missing is not None:
            value = np.where(missing[:, [index[n] for n in a.joints]].any(1), np.nan, value)
        result[a.name] = np.asarray(value, np.float64).copy()
    return result


def angle_table(angles: dict[str, np.ndarray], names: Sequence[str] = ANGLE_NAMES) -> np.ndarray:
    """(F, N) float64 of ``names``' angles (the files' column order)."""
    return np.stack([np.asarray(angles[n], np.float64) for n in names], 1)
