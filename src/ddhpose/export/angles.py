"""A result's joint and segment angles (``LiftResult.angles``, :mod:`ddhpose.lifting.angles`) as
tables: CSV (every angle, an empty cell where missing) and an OpenSim .mot file (:mod:`ddhpose.export.mot`;
the angles that are missing in every frame left out).

Both share one clock with the TRC and the browser page: a frame's time is its video frame
number divided by the frame rate, so the people of one clip line up; degrees throughout.
"""
from __future__ import annotations

import numpy as np

from ddhpose.export.mot import format_mot
from ddhpose.lifting.angles import ANGLE_NAMES, angle_table
from ddhpose.lifting.result import LiftResult


#: The angles shown together (a panel of the PNG, a choice of the page's plot): title -> names, right side first.
ANGLE_GROUPS = {
    "pelvis (world)": ("pelvis_tilt", "pelvis_obliquity", "pelvis_rotation"),
    "trunk": ("trunk_flexion", "trunk_lateral_bending", "trunk_rotation"),
    "hip flexion": ("right_hip_flexion", "left_hip_flexion"),
    "hip adduction": ("right_hip_adduction", "left_hip_adduction"),
    "knee flexion": ("right_knee_flexion", "left_knee_flexion"),
    "ankle dorsiflexion": ("right_ankle_dorsiflexion", "left_ankle_dorsiflexion"),
    "shoulder flexion": ("right_shoulder_flexion", "left_shoulder_flexion"),
    "shoulder abduction": ("right_shoulder_abduction", "left_shoulder_abduction"),
    "elbow flexion": ("right_elbow_flexion", "left_elbow_flexion"),
    "trunk, head to the floor": ("trunk_to_floor", "head_to_floor", "shoulders_to_floor", "hips_to_floor"),
    "legs to the floor": ("right_thigh_to_floor", "left_thigh_to_floor", "right_shank_to_floor",
                          "left_shank_to_floor"),
    "arms to the floor": ("right_arm_to_floor", "left_arm_to_floor", "right_forearm_to_floor",
                          "left_forearm_to_floor"),
}


def format_angle_csv(result: LiftResult) -> str:
    """CSV: ``frame,time,<angle names>``, one row per frame (time in seconds, angles in degrees to
    three decimals, empty where missing)."""
    table = angle_table(result.angles)
    lines = [",".join(["frame", "time", *ANGLE_NAMES])]
    for frame, t, row in zip(result.frames, result.times, table):
        lines.append(",".join([str(int(frame)), f"{t:.6f}", *(f"{v:.3f}" if np.isfinite(v) else "" for v in row)]))
    return "\n".join(lines) + "\n"


def format_angle_mot(result: LiftResult) -> str:
    """The .mot text of the angles measured in at least one frame (degrees; ``nan`` where missing)."""
    measured = {n: v for n, v in result.angles.items() if np.isfinite(v).any()}
    return format_mot(result.times, measured, name=f"ddhpose angles, person {result.track_id}")
