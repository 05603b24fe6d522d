"""Feet in the world frame: when a foot rests on the floor, and keeping it there.

:func:`foot_contacts` flags the frames where each foot rests (low and slow); :func:`lock_feet`
removes the sliding a lifted motion shows during those contacts; :func:`foot_sliding` measures
it. All work on absolute joints in the world frame of :mod:`ddhpose.lifting.world` (y up, floor
y = 0, metres).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ddhpose.lifting.gravity import frame_speed
from ddhpose.lifting.temporal import smooth_in_time
from ddhpose.lifting.world import ANKLE_HEIGHT_RATIO, CONTACT_HEIGHT, CONTACT_SPEED, leg_length, unit
from ddhpose.skeleton import H36M, Skeleton

#: The joints the feet's functions need.
LEG_JOINTS = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
#: A foot rests near the lowest its owner's ankles go within this many seconds before or after
#: (so a person standing on a box rests on the box, and a floor found a little off over a long
#: clip does not lose the contacts of one part of it).
SUPPORT_SECONDS = 1.0
#: A support this far (metres) above or below the floor, for at least :data:`RAISED_SECONDS`, is
#: reported (on something, or a person the floor could not place): a jump lasts under a second,
#: and the floor's own error at the feet is a few centimetres to a decimetre or two.
RAISED_HEIGHT, RAISED_SECONDS = 0.25, 1.0


def _joints(skeleton: Skeleton) -> dict[str, int]:
    return skeleton.joints(LEG_JOINTS, "foot contact")


def ankle_speed(keypoints: np.ndarray, depth: np.ndarray, focal: float, fps: float,
                skeleton: Skeleton = H36M) -> np.ndarray:
    """The ankles' speed seen in the image: keypoints (F, J, 2) pixels, depth (F, J) metres along
    the optical axis, focal in pixels -> (F, 2) m/s (left, right) across the line of sight (a
    frame's slower side). A planted foot stands still in the image whatever the depth's jitter,
    which moves a lifted 3D ankle by several centimetres a frame."""
    j = _joints(skeleton)
    feet = [j["left_ankle"], j["right_ankle"]]
    metres = np.asarray(keypoints, np.float64)[:, feet] / focal * np.asarray(depth, np.float64)[:, feet, None]
    flat = np.concatenate([metres, np.zeros(metres.shape[:-1] + (1,))], -1)
    return frame_speed(flat, fps)


def foot_contacts(world: np.ndarray, fps: float, skeleton: Skeleton = H36M,
                  speed: np.ndarray | None = None, window: float | None = SUPPORT_SECONDS) -> np.ndarray:
    """Per frame whether the left and the right foot rest on what the person stands on.

    world (F, J, 3) absolute joints in the world frame (y up, floor y = 0) -> (F, 2) bool
    (left, right): the ankle within :data:`CONTACT_HEIGHT` of its resting height and slower than
    :data:`CONTACT_SPEED` (its speed in the 3D, or ``speed`` (F, 2) m/s where given:
    :func:`ankle_speed`); contacts and gaps of a single frame are removed. The resting height is
    what the person stands on near the frame (:func:`support_height`, ``window`` seconds), or the
    lower ankle's 10th-percentile height over the whole clip with ``window=None`` (the lowest
    support only); a floor set a little off, or a skeleton whose ankle joint sits higher, does
    not matter.
    """
    j = _joints(skeleton)
    ankles = world[:, [j["left_ankle"], j["right_ankle"]]]  # (F, 2, 3)
    if window is None:
        rest = np.full(len(ankles), np.percentile(ankles[..., 1].min(1), 10))
    else:
        rest = support_height(ankles[..., 1], fps, window)
    low = ankles[..., 1] < rest[:, None] + CONTACT_HEIGHT
    speed = frame_speed(ankles, fps) if speed is None else np.nan_to_num(speed, nan=np.inf)
    contact = low & (speed < CONTACT_SPEED)
    return _close_single_frames(contact)


def support_height(heights: np.ndarray, fps: float, window: float = SUPPORT_SECONDS) -> np.ndarray:
    """(F, 2) ankle heights (metres) -> (F,) the height a foot rests at near each frame: the higher
    of the lower ankle's 10th-percentile heights over the ``window`` seconds up to the frame and
    from it on, so a step onto a box is a support from that step on and a hop is never one."""
    low = np.asarray(heights, np.float64).min(1)
    half = max(1, int(round(window * fps)))
    if not np.isfinite(low).all():  # unseen ankles: the slower percentile that skips them
        padded = np.concatenate([np.full(half, np.nan), low, np.full(half, np.nan)])
        windows = np.lib.stride_tricks.sliding_window_view(padded, half + 1)  # (F + half, half + 1)
        with warnings.catch_warnings():  # a window with nothing finite is NaN (no contact), not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.fmax(np.nanpercentile(windows[:len(low)], 10, axis=1), np.nanpercentile(windows[half:], 10, axis=1))
    frames = len(low)
    before, after = np.empty(frames), np.empty(frames)
    if frames > half:  # whole windows at once; the ones cut short by the clip's ends one by one
        whole = np.percentile(np.lib.stride_tricks.sliding_window_view(low, half + 1), 10, axis=1)
        before[half:], after[:frames - half] = whole, whole
    for t in range(min(half, frames)):
        before[t] = np.percentile(low[:t + 1], 10)
    for t in range(max(frames - half, 0), frames):
        after[t] = np.percentile(low[t:], 10)
    return np.maximum(before, after)


def raised_spans(world: np.ndarray, contacts: np.ndarray, fps: float, skeleton: Skeleton = H36M
                 ) -> list[tuple[int, int, float]]:
    """Where a person rests on something other than the floor: world (F, J, 3) (y up, floor y = 0)
    and contacts (F, 2) from :func:`foot_contacts` -> [(first, last, height)]: frame indices
    (inclusive) of each stretch of at least :data:`RAISED_SECONDS` whose resting feet stand more
    than :data:`RAISED_HEIGHT` above (height > 0) or below (< 0) the floor, and their median height
    (metres, the sole's: the ankle's own height above it taken off). Frames without a contact
    (steps, jumps) belong to the stretch around them."""
    j = _joints(skeleton)
    ankles = world[:, [j["left_ankle"], j["right_ankle"]], 1]
    sole = ANKLE_HEIGHT_RATIO * leg_length(world - world[:, :1], skeleton)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a contact: NaN
        level = np.nanmean(np.where(contacts, ankles, np.nan), axis=1) - sole  # (F,)
    rested = np.flatnonzero(np.isfinite(level))
    side = np.sign(level[rested]) * (np.abs(level[rested]) > RAISED_HEIGHT)  # +1 above, -1 below, 0 on it
    spans = []
    for start, end in _runs(side):
        first, last = int(rested[start]), int(rested[end - 1])
        if side[start] != 0 and last - first + 1 >= RAISED_SECONDS * fps:
            spans.append((first, last, float(np.median(level[rested[start:end]]))))
    return spans


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index ranges (end exclusive) of the runs of equal values of a (N,) array."""
    if not len(values):
        return []
    cuts = np.flatnonzero(values[1:] != values[:-1]) + 1
    return list(zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(values)].tolist()))


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
    along = unit(reach)
    bend = (knee - hip) - ((knee - hip) * along).sum(-1, keepdims=True) * along
    fallback = np.broadcast_to(np.array([0.0, 0.0, 1.0]), bend.shape)  # straight leg: bend forward
    bend = np.where(np.linalg.norm(bend, axis=-1, keepdims=True) > 1e-9, bend, fallback)
    bend = unit(bend - (bend * along).sum(-1, keepdims=True) * along)
    x = (thigh ** 2 - shin ** 2 + dist ** 2) / (2 * dist)
    r = np.sqrt(np.clip(thigh ** 2 - x ** 2, 0.0, None))
    return hip + x * along + r * bend, hip + dist * along


def lock_feet(world: np.ndarray, contacts: np.ndarray, skeleton: Skeleton = H36M, *, blend: int = 3
              ) -> np.ndarray:
    """Remove foot sliding: a foot in contact stays where it landed, on the floor (or on what it
    rests on).

    For every contact of a foot its target is the ankle's mean floor position over the contact,
    at the ankle's resting height above the floor, or at its own mean height where that is more
    than :data:`RAISED_HEIGHT` above the floor (it rests on something: :func:`raised_spans`; a
    foot under the floor is misplaced and comes up onto it). The
    whole body first moves by the mean correction of the feet in contact (the root trajectory is
    the least certain part, its depth above all; the shift is smoothed over time), then each leg
    in contact reaches its target by two-bone IK (thigh and shin lengths kept, the knee in its
    own plane). Corrections fade in and out over ``blend`` frames around each contact, so nothing
    jumps.

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
            if spot[1] - rest <= RAISED_HEIGHT:  # on the floor, or under it (misplaced): on it; on a box: on the box
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
