"""Motion in the world: which way is up, where the floor is, and where the person stands on it.

The lifter's poses and root trajectory are in the camera frame (x right, y down, z forward),
tilted with the camera. :func:`find_world_frame` finds the gravity direction from every piece
of evidence the motion offers (:mod:`ddhpose.lifting.gravity`: the standing body's axis, the
body's balance over its feet, the plane of the resting feet, and the camera's usual level pose
where nothing else speaks) and the floor under the resting feet, for a static camera.

The world frame is the camera's view levelled: y up, x to the right of the view and z towards the
camera (right-handed; the OpenGL / glTF / BVH convention); the floor is y = 0 (the ankle joints'
lowest contact height minus the ankle joint's resting height above it, :data:`ANKLE_HEIGHT_RATIO` of the
leg), and the origin lies on the floor under the (first) person's pelvis in their first frame.
The person's facing is kept as the camera saw it. Every clip gets one, with the evidence it rests
on and its uncertainty (:class:`WorldFrame`), except where there is nothing to stand on: a clip
under :data:`MIN_SECONDS` long, the legs out of view, or no position in the camera frame
(:class:`NoFloorError`, whose message says why). A floor that drifts over the clip (a panning or
tilting camera) is reported in :attr:`WorldFrame.drift_deg`.

Foot contact and foot locking work in this frame (:mod:`ddhpose.lifting.feet`); placing the people
of a clip in it is :mod:`ddhpose.lifting.placement`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ddhpose.lifting.gravity import (CONTACT_SPEED, FLOOR, STANDING, angle_deg, contact_points, estimate_up,
                                     leg_length, standing_frames, unit)
from ddhpose.skeleton import H36M, Skeleton

__all__ = ["ANKLE_HEIGHT_RATIO", "CONTACT_HEIGHT", "CONTACT_SPEED", "NoFloorError", "WorldFrame", "find_world_frame",
           "leg_length", "standing_frames", "unit"]

#: The ankle joint's resting height above the floor as a fraction of the leg (hip to ankle), as the
#: lifter's skeleton places it: Human3.6M's training subjects, median over their takes of the
#: resting ankles' height on the lowest support (`python tools/ankle_height.py`: 0.108; the other
#: training sets 0.09-0.15, all of them 0.139; the held-out clips 0.085-0.149). The anatomical
#: malleolus, at 3.9 % of the stature against the hip's 53 % (Drillis & Contini: 0.08), lies
#: below the joint the mocap fits.
ANKLE_HEIGHT_RATIO = 0.11
#: A clip shorter than this (seconds) is too short to find a floor from.
MIN_SECONDS = 1.0
#: A floor estimate whose thirds disagree by more than this (degrees) means the camera moved
#: (a static camera's thirds disagree by up to about 10 degrees on short clips of people who do
#: not stand still: each third's body axis comes from a few different poses).
DRIFT_WARNING_DEG = 12.0
#: The drift check compares thirds of at least this many seconds (shorter clips are not checked).
DRIFT_PART_SECONDS = 2.0
#: Foot contact: the ankle within this height (metres) of its resting height (and slower than
#: :data:`ddhpose.lifting.gravity.CONTACT_SPEED`).
CONTACT_HEIGHT = 0.05


class NoFloorError(ValueError):
    """No floor can be found from this motion; the message says why."""


@dataclass(frozen=True, eq=False)
class WorldFrame:
    """camera -> world: ``p_world = rotation @ p_camera + translation`` (metres).

    Attributes:
        rotation: (3, 3) rows: the world's x (right of the view), y (up) and z (towards the
            camera) in camera coordinates.
        translation: (3,).
        method: the evidence up rests on, in words (``evidence`` joined).
        standing_frames, contact_frames: how many frames the standing axis and the floor used.
        axis_floor_deg: the angle between the floor's plane and the other evidence (NaN without
            a floor).
        drift_deg: the largest disagreement of up between parts of the clip (NaN when too short
            to split): a moving camera shows here.
        camera_pitch_deg, camera_roll_deg: the camera's tilt the frame implies (pitch > 0: looking
            down; roll > 0: turned clockwise, the horizon falls to the right).
        camera_height: the camera's height above the floor, metres.
        evidence: what up rests on (:mod:`ddhpose.lifting.gravity`: 'floor plane', 'standing
            axis', 'balance', 'camera level'); floor_evidence: what the floor's height rests on
            ('resting feet' or 'lowest ankles').
        uncertainty_deg: the estimate's own spread (degrees) in its least certain direction: the
            confidence (a few degrees from a floor or a standing body; tens from the camera's
            usual pose alone).
    """

    rotation: np.ndarray
    translation: np.ndarray
    method: str
    standing_frames: int
    contact_frames: int
    axis_floor_deg: float
    drift_deg: float
    evidence: tuple[str, ...] = ()
    floor_evidence: str = "resting feet"
    uncertainty_deg: float = float("nan")

    @property
    def up(self) -> np.ndarray:
        """Up in camera coordinates (3,)."""
        return self.rotation[1]

    @property
    def camera_pitch_deg(self) -> float:
        forward = np.array([0.0, 0.0, 1.0])
        return float(np.degrees(np.arcsin(np.clip(-forward @ self.up, -1, 1))))

    @property
    def camera_roll_deg(self) -> float:
        return float(np.degrees(np.arctan2(-self.up[0], -self.up[1])))

    @property
    def camera_height(self) -> float:
        return float(self.translation[1])

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) -> world frame (..., 3)."""
        return np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def to_dict(self) -> dict:
        """JSON-ready: the transform, how it was found and how sure it is."""
        return {"rotation": self.rotation.tolist(), "translation": self.translation.tolist(),
                "method": self.method, "standing_frames": self.standing_frames,
                "contact_frames": self.contact_frames, "axis_floor_deg": _rounded(self.axis_floor_deg),
                "drift_deg": _rounded(self.drift_deg), "camera_pitch_deg": round(self.camera_pitch_deg, 2),
                "camera_roll_deg": round(self.camera_roll_deg, 2), "camera_height": round(self.camera_height, 4),
                "evidence": list(self.evidence), "floor_evidence": self.floor_evidence,
                "uncertainty_deg": _rounded(self.uncertainty_deg),
                "axes": "y up, x right of the camera's view, z towards the camera; floor y = 0; metres"}

    @classmethod
    def from_dict(cls, data: dict) -> "WorldFrame":
        nan = float("nan")
        return cls(np.asarray(data["rotation"], np.float64), np.asarray(data["translation"], np.float64),
                   str(data["method"]), int(data["standing_frames"]), int(data["contact_frames"]),
                   nan if data.get("axis_floor_deg") is None else float(data["axis_floor_deg"]),
                   nan if data.get("drift_deg") is None else float(data["drift_deg"]),
                   tuple(data.get("evidence", ())), str(data.get("floor_evidence", "resting feet")),
                   nan if data.get("uncertainty_deg") is None else float(data["uncertainty_deg"]))


def _rounded(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 3)


def find_world_frame(poses: np.ndarray, trajectory: np.ndarray, fps: float, skeleton: Skeleton = H36M, *,
                     missing: np.ndarray | None = None, origin: np.ndarray | None = None,
                     seconds: float | None = None, ankle_speed: np.ndarray | None = None,
                     people: np.ndarray | None = None) -> WorldFrame:
    """Estimate up, the floor and the world frame of one person (or several, concatenated) from
    camera-frame motion.

    Args:
        poses: (F, J, 3) root-relative poses, camera frame, metres; trajectory: (F, 3) the root's
            camera position; fps: frames per second (for speeds and the clip's length).
        missing: optional (F, J) bool, keypoints that were never seen (interpolated): a clip whose
            ankles were mostly not seen has no floor to find.
        origin: the camera-frame point the world's origin lies under (default: the first root).
        seconds: the clip's length (default: the frames' count / fps; several people's frames
            concatenated are longer than their clip).
        ankle_speed: optional (F, 2) m/s of the left and right ankle, where known better than from
            the 3D (from the 2D keypoints: the depth's jitter does not move them).
        people: optional (F,) int, whose each frame is when several people are concatenated: they
            share the floor's direction, not its height (their sizes are placed on it later).
    Raises:
        NoFloorError: nothing to stand on (see the module docstring); the message says why.
    """
    poses, trajectory = np.asarray(poses, np.float64), np.asarray(trajectory, np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (skeleton.num_joints, 3) or trajectory.shape != (len(poses), 3):
        raise ValueError(f"poses (F, {skeleton.num_joints}, 3) and trajectory (F, 3) expected, got "
                         f"{poses.shape} and {trajectory.shape}")
    if not np.isfinite(trajectory).all():
        raise NoFloorError("the person's position in the camera frame is unknown in some frames")
    seconds = len(poses) / fps if seconds is None else seconds
    if seconds < MIN_SECONDS:
        raise NoFloorError(f"the clip is {seconds:.2f} s long; finding the floor needs at least "
                           f"{MIN_SECONDS:.0f} s of motion")
    feet = list(skeleton.joints(("left_ankle", "right_ankle"), "the world frame").values())
    if missing is not None and np.asarray(missing)[:, feet].all(1).mean() > 0.5:
        raise NoFloorError("the feet were not seen in most frames (legs out of view): no floor to stand on")
    absolute = poses + trajectory[:, None]
    found = estimate_up(absolute, fps, skeleton, ankle_speed, people)
    up = found.up
    forward = np.array([0.0, 0.0, 1.0])  # the camera's optical axis
    towards = -unit(forward - (forward @ up) * up)
    right = np.cross(up, towards)
    rotation = np.stack([right, up, towards])
    contacts = contact_points(absolute, up, fps, skeleton, ankle_speed)
    resting = len(contacts) >= 3
    heights = (contacts if resting else absolute[:, feet].reshape(-1, 3)) @ up
    floor = float(np.percentile(heights, 10)) - ANKLE_HEIGHT_RATIO * leg_length(poses, skeleton)
    centre = trajectory[0] if origin is None else np.asarray(origin, np.float64)
    translation = -(rotation @ centre)
    translation[1] = -floor
    return WorldFrame(rotation, translation, ", ".join(found.evidence), found.standing_frames, found.contact_frames,
                      found.axis_floor_deg, _drift(absolute, fps, skeleton, ankle_speed, people), found.evidence,
                      "resting feet" if resting else "lowest ankles", found.uncertainty_deg)


def _drift(absolute: np.ndarray, fps: float, skeleton: Skeleton, ankle_speed: np.ndarray | None,
           people: np.ndarray | None) -> float:
    """The largest angle (degrees) between the up of the clip's thirds (NaN where a third is
    shorter than :data:`DRIFT_PART_SECONDS` or has neither a floor nor a standing body to tell
    by): a camera that tilts moves the floor between them."""
    parts = np.array_split(np.arange(len(absolute)), 3)
    ups = []
    for part in parts:
        if len(part) < DRIFT_PART_SECONDS * fps:
            return float("nan")
        found = estimate_up(absolute[part], fps, skeleton, None if ankle_speed is None else ankle_speed[part],
                            None if people is None else np.asarray(people)[part])
        if not {FLOOR, STANDING} & set(found.evidence):
            return float("nan")
        ups.append(found.up)
    return float(max(angle_deg(a, b) for i, a in enumerate(ups) for b in ups[i + 1:]))
