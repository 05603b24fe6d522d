"""Motion in the world: which way is up, where the floor is, and where the person stands on it.

The lifter's poses and root trajectory are in the camera frame (x right, y down, z forward),
tilted with the camera. :func:`find_world_frame` estimates the gravity direction and the floor
from the motion itself, for a static camera:

1. the body's vertical axis in the frames where the person stands (both legs straight, trunk in
   line with them): the direction from the ankles' midpoint to the thorax, averaged (of the axes
   tried on standing mocap, the one closest to vertical: 1.4 degrees off on average on CMU and
   Bandai Namco clips, 1.8 spread frame to frame; ankles-to-head 1.7 and 2.7);
2. the floor plane through the feet where they rest on it (per frame the lower ankle, when it is
   slow): a plane fitted to those points, which constrains the tilt in every direction the feet
   travel (walking across the room); where they do not travel the body axis decides. Both are
   weighed in one eigen-problem: the plane's residual (points ~ :data:`CONTACT_NOISE` m) against
   the body axis as a prior (~ :data:`AXIS_PRIOR_DEG` degrees).

The world frame is the camera's view levelled: y up, x to the right of the view and z towards the
camera (right-handed; the OpenGL / glTF / BVH convention); the floor is y = 0 (the ankle joints'
lowest contact height minus the ankle's height above the sole, :data:`ANKLE_HEIGHT_RATIO` of the
leg), and the origin lies on the floor under the (first) person's pelvis in their first frame.
The person's facing is kept as the camera saw it.

A clip in which no floor can be found (the person never stands and the feet do not travel, the
legs out of view, under :data:`MIN_SECONDS` long) raises :class:`NoFloorError`, whose message
says why; a floor that drifts over the clip (a panning or tilting camera) is reported in
:attr:`WorldFrame.drift_deg`.

Foot contact (:func:`foot_contacts`) and foot locking (:func:`lock_feet`) work in this frame.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ddhpose.geometry import decompose
from ddhpose.lifting.temporal import smooth_in_time
from ddhpose.skeleton import H36M, Skeleton

#: Assumed spread (metres) of the ankle positions at contact around the floor plane.
CONTACT_NOISE = 0.015
#: Assumed error (degrees) of the body's vertical axis as an estimate of up (measured: the ankles-
#: to-head line of standing mocap leans 2-8 degrees from vertical, docs/world_accuracy.md).
AXIS_PRIOR_DEG = 6.0
#: The feet's rest points must spread this far (standard deviation, metres) along at least one
#: direction to constrain the floor (two feet side by side: about 0.1), and along both for the
#: floor alone to give up without the body axis.
FEET_APART, TRAVEL = 0.04, 0.1
#: Contacts are looked for within this height (metres) above the lowest level the ankles reach.
CONTACT_BAND = 0.1
#: A floor plane further than this (degrees) from the body's axis is not trusted.
MAX_DISAGREEMENT_DEG = 15.0
#: Up further than this (degrees) from the camera's own up (its -y axis) is not believed: a
#: camera rolled or pitched further than that is rare, a person lying down is not.
MAX_CAMERA_TILT_DEG = 60.0
CAMERA_UP = np.array([0.0, -1.0, 0.0])
#: The ankle joint's height above the sole as a fraction of the leg (hip to ankle): the lateral
#: malleolus is at about 3.9 % of the stature and the hip joint at about 53 % (Drillis & Contini).
ANKLE_HEIGHT_RATIO = 0.08
#: A clip shorter than this (seconds) is too short to find a floor from.
MIN_SECONDS = 1.0
#: Knee angle (degrees, 180 = straight) above which a leg counts as straight, and the largest
#: angle between trunk and legs of a standing frame.
STRAIGHT_KNEE_DEG, STANDING_BEND_DEG = 155.0, 20.0
#: A floor estimate whose thirds disagree by more than this (degrees) means the camera moved
#: (a static camera's thirds disagree by up to about 10 degrees on short clips of people who do
#: not stand still: each third's body axis comes from a few different poses).
DRIFT_WARNING_DEG = 12.0
#: The drift check compares thirds of at least this many seconds (shorter clips are not checked).
DRIFT_PART_SECONDS = 2.0
#: Foot contact: the ankle within this height (metres) of its resting height, moving slower than
#: this speed (metres / second).
CONTACT_HEIGHT, CONTACT_SPEED = 0.05, 0.5


class NoFloorError(ValueError):
    """No floor can be found from this motion; the message says why."""


@dataclass(frozen=True, eq=False)
class WorldFrame:
    """camera -> world: ``p_world = rotation @ p_camera + translation`` (metres).

    Attributes:
        rotation: (3, 3) rows: the world's x (right of the view), y (up) and z (towards the
            camera) in camera coordinates.
        translation: (3,).
        method: how up was found: 'floor plane and body axis', 'body axis while standing' or
            'floor plane'.
        standing_frames, contact_frames: how many frames each estimate used.
        axis_floor_deg: the angle between the body axis and the floor estimate (NaN when only one
            exists): how sure.
        drift_deg: the largest disagreement of up between parts of the clip (NaN when too short
            to split): a moving camera shows here.
        camera_pitch_deg, camera_roll_deg: the camera's tilt the frame implies (pitch > 0: looking
            down; roll > 0: turned clockwise, the horizon falls to the right).
        camera_height: the camera's height above the floor, metres.
    """

    rotation: np.ndarray
    translation: np.ndarray
    method: str
    standing_frames: int
    contact_frames: int
    axis_floor_deg: float
    drift_deg: float

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
        return {"rotation": self.rotation.round(6).tolist(), "translation": self.translation.round(6).tolist(),
                "method": self.method, "standing_frames": self.standing_frames,
                "contact_frames": self.contact_frames, "axis_floor_deg": _rounded(self.axis_floor_deg),
                "drift_deg": _rounded(self.drift_deg), "camera_pitch_deg": round(self.camera_pitch_deg, 2),
                "camera_roll_deg": round(self.camera_roll_deg, 2), "camera_height": round(self.camera_height, 4),
                "axes": "y up, x right of the camera's view, z towards the camera; floor y = 0; metres"}

    @classmethod
    def from_dict(cls, data: dict) -> "WorldFrame":
        nan = float("nan")
        return cls(np.asarray(data["rotation"], np.float64), np.asarray(data["translation"], np.float64),
                   str(data["method"]), int(data["standing_frames"]), int(data["contact_frames"]),
                   nan if data.get("axis_floor_deg") is None else float(data["axis_floor_deg"]),
                   nan if data.get("drift_deg") is None else float(data["drift_deg"]))


def _rounded(value: float) -> float | None:
    return None if not math.isfinite(value) else round(float(value), 3)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True).clip(1e-12)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((_unit(a) * _unit(b)).sum(-1), -1.0, 1.0)))


def _joints(skeleton: Skeleton) -> dict[str, int]:
    names = skeleton.names
    need = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "thorax")
    missing = [n for n in need if n not in names]
    if missing:
        raise ValueError(f"skeleton {skeleton.name!r}: the world frame needs joints named {list(need)}; "
                         f"missing {missing}")
    return {n: names.index(n) for n in need}


def leg_length(poses: np.ndarray, skeleton: Skeleton = H36M) -> float:
    """Median hip-to-ankle length along the bones over frames and both legs (metres)."""
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
        straight &= _angle_deg(hip[s] - knee[s], ankle[s] - knee[s]) > STRAIGHT_KNEE_DEG
    feet = (ankle["left"] + ankle["right"]) / 2
    hips = (hip["left"] + hip["right"]) / 2
    axis = _unit(poses[:, j["thorax"]] - feet)
    in_line = _angle_deg(hips - feet, poses[:, j["thorax"]] - hips) < STANDING_BEND_DEG
    return straight & in_line, axis


def _contact_points(absolute: np.ndarray, up: np.ndarray, fps: float, skeleton: Skeleton) -> np.ndarray:
    """Candidate floor contacts (N, 3): per frame the lower ankle, where it is slow and within
    :data:`CONTACT_BAND` of the lowest level the ankles reach (a foot on a chair or a step is not
    on the floor)."""
    j = _joints(skeleton)
    ankles = absolute[:, [j["left_ankle"], j["right_ankle"]]]  # (F, 2, 3)
    height = ankles @ up  # (F, 2)
    lower = height.argmin(1)
    speed = np.zeros_like(height)
    if len(ankles) > 1:
        step = np.linalg.norm(np.diff(ankles, axis=0), axis=-1) * fps
        speed[1:], speed[0] = step, step[0]
    rows = np.arange(len(ankles))
    low = height[rows, lower] < np.percentile(height[rows, lower], 10) + CONTACT_BAND
    return ankles[rows, lower][(speed[rows, lower] < CONTACT_SPEED) & low]


def _plane_with_prior(points: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
    """Unit normal minimising the points' squared distances to a plane plus the prior's cost;
    points further than 2.5 :data:`CONTACT_NOISE` from the fitted plane are dropped and it is
    fitted again (twice), so a foot resting on something else does not tilt the floor."""
    normal = prior
    kept = points
    for _ in range(3):
        centred = kept - kept.mean(0)
        scatter = centred.T @ centred
        if prior is not None:
            weight = len(kept) * CONTACT_NOISE ** 2 / math.sin(math.radians(AXIS_PRIOR_DEG)) ** 2
            scatter = scatter + weight * (np.eye(3) - np.outer(prior, prior))
        normal = np.linalg.eigh(scatter)[1][:, 0]
        normal = normal if prior is None or normal @ prior >= 0 else -normal
        residual = np.abs((points - np.median(points, 0)) @ normal)
        inliers = residual < 2.5 * CONTACT_NOISE
        if inliers.sum() < 10 or inliers.all():
            break
        kept = points[inliers]
    return normal


def _spread(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """The contact points' two in-plane extents (standard deviations, metres, ascending)."""
    if len(points) < 10:
        return np.zeros(2)
    flat = points - np.outer(points @ up, up)
    return np.sqrt(np.clip(np.linalg.eigvalsh(np.cov(flat.T))[1:], 0, None))


def _up(absolute: np.ndarray, fps: float, skeleton: Skeleton) -> tuple[np.ndarray, str, int, int, float]:
    """(up in camera coordinates, method, standing frames, contact frames, axis-floor angle).

    The feet's rest points constrain the floor's tilt along every direction they spread in: two
    feet standing side by side already fix the tilt across them (the body's axis is least sure
    there: people stand on one leg, lean, turn the head), a walk fixes it along the path; the body
    axis fills in the directions the feet do not cover."""
    standing, axis = standing_frames(absolute, skeleton)
    # a straight body lying down looks like one standing: upright must also be within
    # MAX_CAMERA_TILT_DEG of the camera's own up (a camera turned further is taken as no floor)
    standing &= _angle_deg(axis, CAMERA_UP) < MAX_CAMERA_TILT_DEG
    body = _unit(np.median(axis[standing], axis=0)) if standing.sum() >= 3 else None
    guess = body if body is not None else CAMERA_UP
    contacts = _contact_points(absolute, guess, fps, skeleton)
    spread = _spread(contacts, guess)
    if body is None and spread[0] < TRAVEL:
        raise NoFloorError("the person never stands straight and their feet do not travel over the floor, so "
                           "neither the body's vertical axis nor the floor plane can be seen")
    if spread[1] < FEET_APART:
        return body, "body axis while standing", int(standing.sum()), 0, float("nan")
    plane = _plane_with_prior(contacts, body)
    if body is None:
        plane = plane if plane @ guess >= 0 else -plane
        if _angle_deg(plane, CAMERA_UP) > MAX_CAMERA_TILT_DEG:
            raise NoFloorError(f"the feet's plane is tilted more than {MAX_CAMERA_TILT_DEG:.0f} degrees from the "
                               "camera's up and the person never stands straight: no floor can be trusted")
        return plane, "floor plane", 0, len(contacts), float("nan")
    disagree = float(_angle_deg(plane, body))
    if disagree > MAX_DISAGREEMENT_DEG:  # the feet's plane is not a floor the body stands on
        return body, "body axis while standing (the feet's plane disagreed)", int(standing.sum()), 0, disagree
    return plane, "floor plane and body axis", int(standing.sum()), len(contacts), disagree


def find_world_frame(poses: np.ndarray, trajectory: np.ndarray, fps: float, skeleton: Skeleton = H36M, *,
                     missing: np.ndarray | None = None, origin: np.ndarray | None = None,
                     seconds: float | None = None) -> WorldFrame:
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
    Raises:
        NoFloorError: no floor can be found (see the module docstring); the message says why.
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
    j = _joints(skeleton)
    if missing is not None and np.asarray(missing)[:, [j["left_ankle"], j["right_ankle"]]].all(1).mean() > 0.5:
        raise NoFloorError("the feet were not seen in most frames (legs out of view): no floor to stand on")
    absolute = poses + trajectory[:, None]
    up, method, n_standing, n_contacts, disagreement = _up(absolute, fps, skeleton)
    forward = np.array([0.0, 0.0, 1.0])  # the camera's optical axis
    towards = -_unit(forward - (forward @ up) * up)
    right = np.cross(up, towards)
    rotation = np.stack([right, up, towards])
    contacts = _contact_points(absolute, up, fps, skeleton)
    heights = (contacts if len(contacts) else absolute[:, [j["left_ankle"], j["right_ankle"]]].reshape(-1, 3)) @ up
    floor = float(np.percentile(heights, 10)) - ANKLE_HEIGHT_RATIO * leg_length(poses, skeleton)
    centre = trajectory[0] if origin is None else np.asarray(origin, np.float64)
    translation = -(rotation @ centre)
    translation[1] = -floor
    return WorldFrame(rotation, translation, method, n_standing, n_contacts, disagreement,
                      _drift(absolute, fps, skeleton))


def _drift(absolute: np.ndarray, fps: float, skeleton: Skeleton) -> float:
    """The largest angle (degrees) between the up of the clip's thirds (NaN where a third is
    shorter than :data:`DRIFT_PART_SECONDS` or cannot tell): a camera that tilts moves the floor
    between them."""
    parts = np.array_split(np.arange(len(absolute)), 3)
    ups = []
    for part in parts:
        if len(part) < DRIFT_PART_SECONDS * fps:
            return float("nan")
        try:
            ups.append(_up(absolute[part], fps, skeleton)[0])
        except NoFloorError:
            return float("nan")
    return float(max(_angle_deg(a, b) for i, a in enumerate(ups) for b in ups[i + 1:]))


def foot_contacts(world: np.ndarray, fps: float, skeleton: Skeleton = H36M) -> np.ndarray:
    """Per frame whether the left and the right foot rest on the floor.

    world (F, J, 3) absolute joints in the world frame (y up, floor y = 0) -> (F, 2) bool
    (left, right): the ankle within :data:`CONTACT_HEIGHT` of its resting height (the lower
    ankle's 10th-percentile height over the clip, so a floor set a little off, or a skeleton
    whose ankle joint sits higher, does not matter) and slower than :data:`CONTACT_SPEED`;
    contacts and gaps of a single frame are removed.
    """
    j = _joints(skeleton)
    ankles = world[:, [j["left_ankle"], j["right_ankle"]]]  # (F, 2, 3)
    rest = float(np.percentile(ankles[..., 1].min(1), 10))  # the ankles' height when a foot is down
    low = ankles[..., 1] < rest + CONTACT_HEIGHT
    speed = np.zeros(ankles.shape[:2])
    if len(world) > 1:
        flat = np.linalg.norm(np.diff(ankles, axis=0), axis=-1) * fps
        speed[1:-1] = np.minimum(flat[:-1], flat[1:])  # a contact frame is slow on one side at least
        speed[0], speed[-1] = flat[0], flat[-1]
    contact = low & (speed < CONTACT_SPEED)
    return _close_single_frames(contact)


def _close_single_frames(flags: np.ndarray) -> np.ndarray:
    """Remove runs of one frame (of either value) along axis 0: (F, K) bool."""
    out = flags.copy()
    for value in (False, True):  # fill 1-frame gaps, then drop 1-frame contacts
        inner = (out[1:-1] == value) & (out[:-2] != value) & (out[2:] != value)
        out[1:-1][inner] = not value
    return out


def contact_segments(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) frame ranges (end exclusive) of the True runs of a (F,) bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def foot_sliding(world: np.ndarray, contacts: np.ndarray, skeleton: Skeleton = H36M) -> float:
    """Mean horizontal ankle displacement (metres per frame) between consecutive frames in which
    that foot is in contact; NaN without such frames."""
    j = _joints(skeleton)
    moves = []
    for k, name in enumerate(("left_ankle", "right_ankle")):
        both = contacts[1:, k] & contacts[:-1, k]
        step = np.diff(world[:, j[name]][:, [0, 2]], axis=0)
        moves.append(np.linalg.norm(step, axis=-1)[both])
    moves = np.concatenate(moves)
    return float(moves.mean()) if len(moves) else float("nan")


def _ramp(flags: np.ndarray, width: int) -> np.ndarray:
    """(F,) bool -> (F,) weights: 1 on the flagged frames, falling linearly to 0 over ``width``
    frames on either side."""
    weight = flags.astype(np.float64)
    for step in range(1, width + 1):
        value = 1.0 - step / (width + 1)
        weight[step:] = np.maximum(weight[step:], flags[:-step] * value)
        weight[:-step] = np.maximum(weight[:-step], flags[step:] * value)
    return weight


def _two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Knee and ankle (..., 3) placing the ankle at ``target`` (or as near as the leg reaches),
    thigh and shin lengths kept, the knee bending in its own plane."""
    thigh = np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    shin = np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
    reach = target - hip
    dist = np.linalg.norm(reach, axis=-1, keepdims=True)
    dist = np.clip(dist, np.abs(thigh - shin) + 1e-6, thigh + shin - 1e-6)
    along = _unit(reach)
    bend = (knee - hip) - ((knee - hip) * along).sum(-1, keepdims=True) * along
    fallback = np.broadcast_to(np.array([0.0, 0.0, 1.0]), bend.shape)  # straight leg: bend forward
    bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-9, bend, fallback)
    bend = _unit(bend - (bend * along).sum(-1, keepdims=True) * along)
    x = (thigh ** 2 - shin ** 2 + dist ** 2) / (2 * dist)
    r = np.sqrt(np.clip(thigh ** 2 - x ** 2, 0.0, None))
    return hip + x * along + r * bend, hip + dist * along


def lock_feet(world: np.ndarray, contacts: np.ndarray, skeleton: Skeleton = H36M, *, blend: int = 3
              ) -> np.ndarray:
    """Remove foot sliding: a foot in contact stays where it landed, on the floor.

    For every contact of a foot its target is the ankle's mean floor position over the contact,
    at the ankle's resting height. The whole body first moves by the mean correction of the feet
    in contact (the root trajectory is the least certain part, its depth above all; the shift is
    smoothed over time), then each leg in contact reaches its target by two-bone IK (thigh and
    shin lengths kept, the knee in its own plane). Corrections fade in and out over ``blend``
    frames around each contact, so nothing jumps.

    Args:
        world: (F, J, 3) absolute joints, world frame (y up, floor y = 0); contacts: (F, 2) bool
            (left, right) from :func:`foot_contacts`.
    Returns:
        (F, J, 3) with the same bone lengths.
    """
    j = _joints(skeleton)
    out = np.array(world, np.float64)
    rest = ANKLE_HEIGHT_RATIO * leg_length(out - out[:, :1], skeleton)
    sides = (("left", j["left_hip"], j["left_knee"], j["left_ankle"]),
             ("right", j["right_hip"], j["right_knee"], j["right_ankle"]))
    targets = np.zeros((len(out), 2, 3))
    weights = np.zeros((len(out), 2))
    for k, (_, _, _, ankle) in enumerate(sides):
        near = np.full(len(out), np.inf)  # per frame: frames to the contact whose spot is its target
        for start, end in contact_segments(contacts[:, k]):
            spot = out[start:end, ankle].mean(0)
            spot[1] = rest
            # the contact's frames and, around it, those nearer to it than to another contact
            frames = np.arange(max(0, start - blend), min(len(out), end + blend))
            away = np.maximum(start - frames, frames - (end - 1)).clip(0)
            nearer = away < near[frames]
            targets[frames[nearer], k], near[frames[nearer]] = spot, away[nearer]
        weights[:, k] = _ramp(contacts[:, k], blend)
    ankles = out[:, [sides[0][3], sides[1][3]]]
    error = (targets - ankles) * weights[..., None]  # (F, 2, 3)
    count = weights.sum(1, keepdims=True)
    shift = np.where(count > 0, error.sum(1) / np.maximum(count, 1e-9), 0.0)  # (F, 3)
    shift = smooth_in_time(torch.from_numpy(shift)[:, None], 1.0)[:, 0].numpy()
    out += shift[:, None]
    for k, (_, hip, knee, ankle) in enumerate(sides):
        w = weights[:, k:k + 1]
        goal = out[:, ankle] + w * (targets[:, k] - out[:, ankle])
        new_knee, new_ankle = _two_bone_ik(out[:, hip], out[:, knee], out[:, ankle], goal)
        active = w[:, 0] > 0
        out[active, knee], out[active, ankle] = new_knee[active], new_ankle[active]
    return out
