"""Known body poses for the angle, export and viewer tests: a person standing upright in the world
frame (y up, metres, facing the camera), and joints turned about a joint by a known angle."""
from __future__ import annotations

import numpy as np

from ddhpose.lifting.result import LiftResult
from ddhpose.skeleton import H36M

J = {n: j for j, n in enumerate(H36M.names)}


def standing() -> np.ndarray:
    """(17, 3) a person standing upright in the world frame (y up, metres), facing the camera (+z):
    their right is -x, arms hanging."""
    p = {"pelvis": (0, 1.0, 0), "spine": (0, 1.25, 0), "thorax": (0, 1.5, 0), "neck": (0, 1.6, 0.08),
         "head": (0, 1.72, 0)}
    for side, x in (("right", -1), ("left", 1)):
        p.update({f"{side}_hip": (0.12 * x, 1.0, 0), f"{side}_knee": (0.12 * x, 0.55, 0),
                  f"{side}_ankle": (0.12 * x, 0.1, 0), f"{side}_shoulder": (0.18 * x, 1.45, 0),
                  f"{side}_elbow": (0.18 * x, 1.15, 0), f"{side}_wrist": (0.18 * x, 0.9, 0)})
    return np.array([p[n] for n in H36M.names], np.float64)


def rotation(axis, degrees: float) -> np.ndarray:
    """(3, 3) rotation by ``degrees`` about ``axis`` (right-hand rule)."""
    a = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    t = np.radians(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * k @ k


def turn(pose: np.ndarray, joints, about: str, axis, degrees: float) -> np.ndarray:
    """``pose`` with ``joints`` rotated about the point of joint ``about``."""
    out = pose.copy()
    idx = [J[n] for n in joints]
    out[idx] = (pose[idx] - pose[J[about]]) @ rotation(axis, degrees).T + pose[J[about]]
    return out


RIGHT, FORWARD, UP = np.array([-1.0, 0, 0]), np.array([0, 0, 1.0]), np.array([0, 1.0, 0])
UPPER = ["spine", "thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
         "right_elbow", "right_wrist"]
ARM = ["right_elbow", "right_wrist"]


def result_of(world: np.ndarray, *, start: int = 0, fps: float = 25.0, track_id: int = 0,
              missing: np.ndarray | None = None, image_size=(640, 480)) -> LiftResult:
    """A LiftResult whose world poses are ``world`` (F, 17, 3) and whose camera-frame poses are
    the same motion root-relative, turned to the camera frame (y down, z away)."""
    f = len(world)
    camera = (world - world[:, :1]) * [1.0, -1.0, -1.0]
    return LiftResult(poses=camera, hypotheses=camera[None], uncertainty=np.zeros((f, 17)),
                      keypoints_2d=np.zeros((f, 17, 2)), missing=np.zeros((f, 17), bool) if missing is None else missing,
                      scores=np.ones((f, 17)), frames=np.arange(f) + start, image_size=image_size, fps=fps,
                      world_poses=world, track_id=track_id)
