"""Which way is up, from camera-frame motion: every piece of evidence a clip offers, weighed.

Evidence (each used only where the clip shows it; :func:`estimate_up` says which it used):

- **the standing axis**: in frames where the person stands straight (both knees straight, trunk
  in line with the legs) the direction from the ankles' midpoint to the thorax (the median over
  those frames; standing mocap leans 1-8 degrees from vertical, ~ :data:`AXIS_PRIOR_DEG`);
- **balance**: a body at rest holds its centre of mass above its support, whatever the pose
  (squatting, reaching, twisting, bowing): the direction from the supporting foot (both ankles'
  midpoint when both are down) to the centre of mass (segment masses after Dempster), the median
  over the slow frames (~ :data:`BALANCE_PRIOR_DEG`);
- **the floor**: the plane through the feet where they rest (per frame the lower ankle, when it
  is still and well below the pelvis), which fixes the tilt in every direction the feet spread
  (points ~ :data:`CONTACT_NOISE` m);
- **the camera's usual pose**: footage is mostly filmed with the camera close to level: roll near
  0 (~ :data:`ROLL_PRIOR_DEG`) and a pitch within some tens of degrees (~ :data:`PITCH_PRIOR_DEG`).
  It decides alone only where the clip shows nothing else.

All of it is one eigen-problem: up minimises the floor's squared residuals plus each axis'
``sin^2`` of its angle from up over its assumed error, plus the camera's roll and pitch over
theirs. Its curvature gives the estimate's own uncertainty (degrees, the weaker direction):
the confidence a result records. An axis further than :data:`MAX_CAMERA_TILT_DEG` from the
camera's own up is not evidence of up (a straight body lying is not standing), and a floor that
disagrees with the other evidence by over :data:`MAX_DISAGREEMENT_DEG` (or that evidence's own
uncertainty, where larger: the camera's usual pose alone allows 45 degrees) is not the floor the
body stands on. Where the camera's pose is all the evidence before the feet (a body never
straight nor at rest: a jog), the resting feet are also looked for along the body's median axis:
along a level camera's up, seen from 40 degrees above, a crouch's feet do not drop far enough
below its pelvis to count as resting.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ddhpose.geometry import decompose
from ddhpose.skeleton import H36M, Skeleton

#: Assumed spread (metres) of the ankle positions at contact around the floor plane.
CONTACT_NOISE = 0.015
#: Assumed error (degrees) of the standing axis as an estimate of up.
AXIS_PRIOR_DEG = 6.0
#: Assumed error (degrees) of the balance axis (support to centre of mass) as an estimate of up:
#: on held-out mocap truth 2-15 degrees per clip (a moving body is not at rest).
BALANCE_PRIOR_DEG = 10.0
#: The camera's usual pose (degrees): roll around 0, pitch around 0, with these spreads.
ROLL_PRIOR_DEG, PITCH_PRIOR_DEG = 10.0, 45.0
#: The feet's rest points must spread this far (standard deviation, metres) along at least one
#: direction to say anything of the floor's tilt (two feet side by side: about 0.1).
FEET_APART = 0.04
#: A foot rests on the floor when its ankle is this far below the pelvis (a fraction of the leg;
#: a foot on a chair is not) and moves slower than :data:`CONTACT_SPEED` (metres / second).
REST_DROP, CONTACT_SPEED = 0.7, 0.5
#: A floor plane further than this (degrees) from the other evidence (or that evidence's own
#: uncertainty, where larger) is not trusted.
MAX_DISAGREEMENT_DEG = 15.0
#: Up further than this (degrees) from the camera's own up (its -y axis) is not believed from an
#: axis: a camera rolled or pitched further than that is rare, a person lying down is not.
MAX_CAMERA_TILT_DEG = 60.0
CAMERA_UP = np.array([0.0, -1.0, 0.0])
#: Knee angle (degrees, 180 = straight) above which a leg counts as straight, and the largest
#: angle between trunk and legs of a standing frame.
STRAIGHT_KNEE_DEG, STANDING_BEND_DEG = 155.0, 20.0
#: Body segments (joint, joint, mass fraction) whose midpoints weigh into the centre of mass
#: (Dempster's fractions; hands with the forearms, feet with the shanks).
SEGMENTS = (("pelvis", "thorax", 0.497), ("neck", "head", 0.081),
            ("left_shoulder", "left_elbow", 0.028), ("right_shoulder", "right_elbow", 0.028),
            ("left_elbow", "left_wrist", 0.022), ("right_elbow", "right_wrist", 0.022),
            ("left_hip", "left_knee", 0.1), ("right_hip", "right_knee", 0.1),
            ("left_knee", "left_ankle", 0.061), ("right_knee", "right_ankle", 0.061))
#: Evidence names, as results record them.
STANDING, BALANCE, FLOOR, CAMERA = "standing axis", "balance", "floor plane", "camera level"


@dataclass(frozen=True)
class UpEstimate:
    """Up in camera coordinates and what it rests on.

    Attributes:
        up: (3,) unit vector; evidence: the names of the evidence used (:data:`STANDING`,
        :data:`BALANCE`, :data:`FLOOR`, :data:`CAMERA`); standing_frames, balance_frames,
        contact_frames: how many frames each used; axis_floor_deg: the angle between the floor
        and the other evidence (NaN without a floor); uncertainty_deg: the estimate's own spread
        in its least certain direction.
    """

    up: np.ndarray
    evidence: tuple[str, ...]
    standing_frames: int
    balance_frames: int
    contact_frames: int
    axis_floor_deg: float
    uncertainty_deg: float


def unit(v: np.ndarray) -> np.ndarray:
    """Vectors (..., 3) scaled to length 1 (zero vectors stay near zero)."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (degrees) between vectors (..., 3)."""
    return np.degrees(np.arccos(np.clip((unit(a) * unit(b)).sum(-1), -1.0, 1.0)))


def _joints(skeleton: Skeleton) -> dict[str, int]:
    names = {n for seg in SEGMENTS for n in seg[:2]} | {"left_ankle", "right_ankle"}
    return skeleton.joints(tuple(sorted(names)), "up")


def leg_length(poses: np.ndarray, skeleton: Skeleton = H36M) -> float:
    """Median hip-to-ankle length along the bones over frames and both legs (metres)."""
    import torch
    j = _joints(skeleton)
    _, length = decompose(torch.from_numpy(np.asarray(poses, np.float64)), skeleton)
    length = length[..., 0].numpy()  # (F, J)
    legs = [length[:, j[f"{side}_knee"]] + length[:, j[f"{side}_ankle"]] for side in ("left", "right")]
    return float(np.median(np.concatenate(legs)))


def standing_frames(poses: np.ndarray, skeleton: Skeleton = H36M) -> tuple[np.ndarray, np.ndarray]:
    """Frames in which the person stands straight, and the body's axis in each frame.

    poses (F, J, 3) in any frame -> (standing (F,) bool, axis (F, 3) unit vectors from the
    ankles' midpoint to the thorax)."""
    j = _joints(skeleton)
    hip = {s: poses[:, j[f"{s}_hip"]] for s in ("left", "right")}
    knee = {s: poses[:, j[f"{s}_knee"]] for s in ("left", "right")}
    ankle = {s: poses[:, j[f"{s}_ankle"]] for s in ("left", "right")}
    straight = np.ones(len(poses), bool)
    for s in ("left", "right"):
        straight &= angle_deg(hip[s] - knee[s], ankle[s] - knee[s]) > STRAIGHT_KNEE_DEG
    feet = (ankle["left"] + ankle["right"]) / 2
    hips = (hip["left"] + hip["right"]) / 2
    axis = unit(poses[:, j["thorax"]] - feet)
    in_line = angle_deg(hips - feet, poses[:, j["thorax"]] - hips) < STANDING_BEND_DEG
    return straight & in_line, axis


def centre_of_mass(poses: np.ndarray, skeleton: Skeleton = H36M) -> np.ndarray:
    """(F, J, 3) -> (F, 3): the mass-weighted midpoint of the body's segments (:data:`SEGMENTS`)."""
    j = _joints(skeleton)
    mass = np.array([m for _, _, m in SEGMENTS])
    mids = np.stack([(poses[:, j[a]] + poses[:, j[b]]) / 2 for a, b, _ in SEGMENTS], 1)  # (F, S, 3)
    return (mids * (mass / mass.sum())[:, None]).sum(1)


def frame_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """(F, ..., 3) -> (F, ...) metres / second between neighbouring frames (a frame's slower side)."""
    speed = np.zeros(points.shape[:-1])
    if len(points) > 1:
        step = np.linalg.norm(np.diff(points, axis=0), axis=-1) * fps
        speed[1:-1] = np.minimum(step[:-1], step[1:])
        speed[0], speed[-1] = step[0], step[-1]
    return speed


def balance_axes(absolute: np.ndarray, fps: float, up: np.ndarray, skeleton: Skeleton = H36M
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(at rest (F,) bool, axis (F, 3)): per frame the direction from the support (both ankles'
    midpoint when they are at one height within 0.1 m along ``up``, else the lower) to the centre
    of mass, and whether the centre of mass is slow (under 0.3 m/s) there."""
    j = _joints(skeleton)
    ankles = absolute[:, [j["left_ankle"], j["right_ankle"]]]
    height = ankles @ up
    rows = np.arange(len(ankles))
    both = np.abs(height[:, 0] - height[:, 1]) < 0.1
    support = np.where(both[:, None], ankles.mean(1), ankles[rows, height.argmin(1)])
    com = centre_of_mass(absolute, skeleton)
    return frame_speed(com, fps) < 0.3, unit(com - support)


def contact_points(absolute: np.ndarray, up: np.ndarray, fps: float, skeleton: Skeleton = H36M,
                   ankle_speed: np.ndarray | None = None) -> np.ndarray:
    """Candidate floor contacts (N, 3): per frame the lower ankle along ``up``, where it lies more
    than :data:`REST_DROP` of the leg below the pelvis and moves slower than :data:`CONTACT_SPEED`.
    ``ankle_speed`` (F, 2) m/s (left, right), e.g. from the 2D, else the 3D motion's."""
    lower, resting = _lower_ankles(absolute, up, fps, skeleton, ankle_speed)
    return lower[resting]


def _lower_ankles(absolute: np.ndarray, up: np.ndarray, fps: float, skeleton: Skeleton,
                  ankle_speed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(the lower ankle per frame (F, 3), whether it rests (F,) bool): :func:`contact_points`."""
    j = _joints(skeleton)
    ankles = absolute[:, [j["left_ankle"], j["right_ankle"]]]  # (F, 2, 3)
    height = ankles @ up
    rows = np.arange(len(ankles))
    lower = height.argmin(1)
    speed = frame_speed(ankles, fps) if ankle_speed is None else np.nan_to_num(ankle_speed, nan=np.inf)
    drop = absolute[:, j["pelvis"]] @ up - height[rows, lower]
    rest = (drop > REST_DROP * leg_length(absolute - absolute[:, j["pelvis"]][:, None], skeleton))
    return ankles[rows, lower], (speed[rows, lower] < CONTACT_SPEED) & rest


def spread(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The contact points' two in-plane extents (standard deviations, metres, ascending)."""
    if len(points) < 10:
        return np.zeros(2)
    flat = points - np.outer(points @ up, up)
    return np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(flat.T))[1:], 0, None))


def _axis_term(axis: np.ndarray, prior_deg: float) -> np.ndarray:
    """(3, 3): the cost sin^2(angle(up, axis)) / sin^2(prior) as a quadratic form in up."""
    return (np.eye(3) - np.outer(axis, axis)) / math.sin(math.radians(prior_deg)) ** 2


def _camera_term() -> np.ndarray:
    """(3, 3): the camera's roll (up's x) and pitch (up's z) over their usual spreads."""
    return np.diag([1 / math.sin(math.radians(ROLL_PRIOR_DEG)) ** 2, 0.0,
                    1 / math.sin(math.radians(PITCH_PRIOR_DEG)) ** 2])


def _solve(cost: np.ndarray, towards: np.ndarray) -> tuple[np.ndarray, float]:
    """(the unit vector minimising the quadratic cost, on the side of ``towards``; its
    uncertainty in degrees along its least certain direction)."""
    values, vectors = np.linalg.eigh(cost)
    up = vectors[:, 0] if vectors[:, 0] @ towards >= 0 else -vectors[:, 0]
    gap = max(values[1] - values[0], 1e-9)
    return up, float(np.degrees(np.arcsin(min(1.0, 1 / math.sqrt(gap)))))


def _centred(points: np.ndarray, groups: np.ndarray, centre) -> np.ndarray:
    """Points (N, 3) less their own group's ``centre`` (np.mean or np.median over axis 0)."""
    out = np.empty_like(points)
    for g in np.unique(groups):
        out[groups == g] = points[groups == g] - centre(points[groups == g], 0)
    return out


def _floor(contacts: np.ndarray, groups: np.ndarray, cost: np.ndarray, towards: np.ndarray
           ) -> tuple[np.ndarray, float]:
    """Up from the contact points' plane plus the other evidence's cost. Each person's points
    (``groups``) are centred on their own: the people share the floor's direction, and how high
    each one's feet are is left to their size (:mod:`ddhpose.lifting.placement`), which the
    lift cannot see; across people heights would tilt the floor by their size errors. Points
    further than 2.5 :data:`CONTACT_NOISE` from the plane are dropped and it is fitted again
    (twice), so a foot resting on something else does not tilt the floor."""
    kept = np.ones(len(contacts), bool)
    for _ in range(3):
        centred = _centred(contacts[kept], groups[kept], np.mean)
        up, uncertainty = _solve(cost + centred.T @ centred / (kept.sum() * CONTACT_NOISE ** 2), towards)
        inliers = np.abs(_centred(contacts, groups, np.median) @ up) < 2.5 * CONTACT_NOISE
        if inliers.sum() < 10 or inliers.all():
            break
        kept = inliers
    return up, uncertainty


def estimate_up(absolute: np.ndarray, fps: float, skeleton: Skeleton = H36M,
                ankle_speed: np.ndarray | None = None, people: np.ndarray | None = None) -> UpEstimate:
    """Up in camera coordinates from absolute camera-frame joints (F, J, 3) (several people's
    frames may be concatenated: ``people`` (F,) says whose each frame is); ``ankle_speed`` (F, 2)
    m/s of the ankles where known better than from the 3D (the 2D's). See the module docstring."""
    people = np.zeros(len(absolute), int) if people is None else np.asarray(people)
    standing, axis = standing_frames(absolute, skeleton)
    standing &= angle_deg(axis, CAMERA_UP) < MAX_CAMERA_TILT_DEG
    cost, evidence = _camera_term(), [CAMERA]
    guess = CAMERA_UP
    if standing.sum() >= 3:
        guess = unit(np.median(axis[standing], axis=0))
        cost, evidence = cost + _axis_term(guess, AXIS_PRIOR_DEG), [STANDING, *evidence]
    resting = np.zeros(len(absolute), bool)
    guess = _solve(cost, guess)[0]  # up by the evidence so far
    for _ in range(2):  # the support depends on up: once from the first guess, once from its result
        at_rest, balance = balance_axes(absolute, fps, guess, skeleton)
        resting = at_rest & (angle_deg(balance, CAMERA_UP) < MAX_CAMERA_TILT_DEG)
        if resting.sum() < 3:
            break
        with_balance = cost + _axis_term(unit(np.median(balance[resting], axis=0)), BALANCE_PRIOR_DEG)
        guess = _solve(with_balance, guess)[0]
    if resting.sum() >= 3:
        cost, evidence = with_balance, [*evidence[:-1], BALANCE, CAMERA]
    up, uncertainty = _solve(cost, guess)
    searched = up  # the direction the resting feet were looked for along
    lower, resting_feet = _lower_ankles(absolute, up, fps, skeleton, ankle_speed)
    body = unit(np.median(axis, axis=0)) if evidence == [CAMERA] else None
    if body is not None and angle_deg(body, CAMERA_UP) < MAX_CAMERA_TILT_DEG:
        # nothing but the camera's usual pose so far (a body never straight nor at rest, a jog):
        # the feet are looked for along the body's median axis too, where more of them rest
        along_body = _lower_ankles(absolute, body, fps, skeleton, ankle_speed)
        if along_body[1].sum() > resting_feet.sum():
            (lower, resting_feet), searched = along_body, body
    contacts, groups = lower[resting_feet], people[resting_feet]
    disagree = float("nan")
    if spread(_centred(contacts, groups, np.mean) if len(contacts) else contacts, searched)[1] >= FEET_APART:
        plane, plane_uncertainty = _floor(contacts, groups, cost, up)
        disagree = float(angle_deg(plane, up))
        if disagree <= max(MAX_DISAGREEMENT_DEG, uncertainty):  # the camera prior alone allows more
            up, uncertainty, evidence = plane, plane_uncertainty, [FLOOR, *evidence]
    return UpEstimate(up, tuple(evidence), int(standing.sum()) if STANDING in evidence else 0,
                      int(resting.sum()) if BALANCE in evidence else 0,
                      len(contacts) if FLOOR in evidence else 0, disagree, uncertainty)
