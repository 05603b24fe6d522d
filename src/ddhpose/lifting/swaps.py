"""Left and right exchanged by a 2D detector, found and put back before lifting.

Detectors label the two legs (or arms, or the whole body) the wrong way round for runs of frames,
most often seen from the side and when the limbs cross: lifted as they are, those frames become a
mirrored body (on a real side view, 515 mm against 88 mm on the frames around them). The labels
are repaired from the 2D alone, per limb group (the legs: hips, knees, ankles; the arms:
shoulders, elbows, wrists; the whole body: both):

- each frame's labelling is either as detected or exchanged; the labelling of the group's joints
  must continue the motion of the frames before it (a constant-velocity prediction from the two
  previous frames, in their own chosen labelling): at a crossing the positions alike, the
  velocities are not;
- exchanging costs :data:`SWITCH_COST` per change (runs, not flickering), and every exchanged frame
  :data:`EXCHANGE_COST` (the detector is right most of the time);
- the cheapest labelling of the whole clip is found exactly by dynamic programming over the
  pairs (previous, current) of labels (Viterbi).

Costs are in units of the squared prediction error over (:data:`MOTION_NOISE` x the body's 2D
size)^2, so they do not depend on the image's size or the person's distance. Frames where the
group is not seen keep their labels.
"""
from __future__ import annotations

import numpy as np

from ddhpose.skeleton import H36M

#: The limb groups whose labels a detector exchanges, by their left joints.
GROUPS = {"legs": ("left_hip", "left_knee", "left_ankle"), "arms": ("left_shoulder", "left_elbow", "left_wrist")}
#: The prediction's expected error per joint and frame as a fraction of the body's 2D size.
MOTION_NOISE = 0.02
#: ... or this many times the clip's median prediction error, where larger (fast motion, noisy 2D).
RESIDUAL_SCALE = 1.0
#: The cost of a change of labelling, and of each exchanged frame (units of squared noise).
SWITCH_COST, EXCHANGE_COST = 12.0, 1.0


def _pairs(group: str) -> tuple[list[int], list[int]]:
    left = list(H36M.joints(GROUPS[group], "left/right repair").values())
    return left, [H36M.flip_permutation[j] for j in left]


def body_size(keypoints: np.ndarray) -> float:
    """The body's 2D size in pixels: the median over frames of the neck-to-ankles height."""
    j = H36M.joints(("neck", "left_ankle", "right_ankle"), "left/right repair")
    feet = (keypoints[:, j["left_ankle"]] + keypoints[:, j["right_ankle"]]) / 2
    size = np.linalg.norm(keypoints[:, j["neck"]] - feet, axis=-1)
    size = size[np.isfinite(size)]
    return float(np.median(size)) if len(size) else float("nan")


def exchanged(keypoints: np.ndarray, swap: np.ndarray, group: str) -> np.ndarray:
    """(F, 17, C) with the group's left and right joints exchanged where ``swap`` (F,) is True."""
    left, right = _pairs(group)
    out = np.array(keypoints, copy=True)
    rows = np.flatnonzero(swap)
    out[np.ix_(rows, left)], out[np.ix_(rows, right)] = keypoints[np.ix_(rows, right)], keypoints[np.ix_(rows, left)]
    return out


def find_swaps(keypoints: np.ndarray, seen: np.ndarray, group: str) -> np.ndarray:
    """The frames (F,) bool whose ``group`` labels are exchanged: keypoints (F, 17, 2) pixels,
    seen (F, 17) bool (detected, not filled in). See the module docstring."""
    left, right = _pairs(group)
    joints = left + right
    size = body_size(np.where(seen[..., None], keypoints, np.nan))
    if len(keypoints) < 3 or not np.isfinite(size) or size <= 0:
        return np.zeros(len(keypoints), bool)
    raw = np.where(seen[:, joints, None], keypoints[:, joints], np.nan)
    residual = np.linalg.norm(raw[2:] - 2 * raw[1:-1] + raw[:-2], axis=-1)  # as detected, swaps included
    typical = np.nanmedian(residual) if np.isfinite(residual).any() else 0.0
    noise = max(MOTION_NOISE * size, RESIDUAL_SCALE * float(typical))
    x = np.nan_to_num(keypoints[:, joints] / noise)  # (F, 2G, 2) in noise units
    ok = seen[:, joints]
    flip = np.r_[len(left):len(joints), 0:len(left)]  # exchanged order
    views = np.stack([x, x[:, flip]])  # (2, F, 2G, 2): labels as detected, exchanged
    seen2 = np.stack([ok, ok[:, flip]])
    frames = len(x)
    # cost[a, b, c]: frame t in labelling c after t-1 in b and t-2 in a
    best = np.zeros((2, 2))  # (label t-1, label t) for t = 1
    best += EXCHANGE_COST * (np.arange(2)[:, None] + np.arange(2)[None, :])
    best += SWITCH_COST * (np.arange(2)[:, None] != np.arange(2)[None, :])
    back = np.zeros((frames, 2, 2), np.int8)
    for t in range(2, frames):
        pred = 2 * views[:, t - 1][None] - views[:, t - 2][:, None]  # (a, b, 2G, 2): from t-2 in a, t-1 in b
        mask = seen2[:, t - 1][None] & seen2[:, t - 2][:, None]  # (a, b, 2G)
        cost = np.empty((2, 2, 2))
        for c in range(2):
            err = ((views[c, t][None, None] - pred) ** 2).sum(-1) * (mask & seen2[c, t][None, None])
            cost[:, :, c] = err.sum(-1)
        total = best[:, :, None] + cost + EXCHANGE_COST * np.arange(2)[None, None, :] \
            + SWITCH_COST * (np.arange(2)[None, :, None] != np.arange(2)[None, None, :])
        back[t] = total.argmin(0)  # the best t-2 label for each (b, c)
        best = total.min(0)
    labels = np.zeros(frames, np.int8)
    labels[-2], labels[-1] = np.unravel_index(best.argmin(), best.shape)
    for t in range(frames - 1, 1, -1):
        labels[t - 2] = back[t, labels[t - 1], labels[t]]
    return labels.astype(bool)


def repair_swaps(keypoints: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Human3.6M-ordered pixels (F, 17, 2) and seen (F, 17) bool -> (the keypoints with each
    group's exchanged runs put back, {group: (F,) bool frames repaired})."""
    out, found = np.asarray(keypoints, np.float64), {}
    for group in GROUPS:
        swap = find_swaps(out, seen, group)
        found[group] = swap
        if swap.any():
            out = exchanged(out, swap, group)
    return out, found


def runs(flags: np.ndarray, frames: np.ndarray | None = None) -> list[list[int]]:
    """[first, last] frame numbers (inclusive) of the True runs of (F,) flags."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    numbers = np.arange(len(flags)) if frames is None else np.asarray(frames)
    return [[int(numbers[a]), int(numbers[b])] for a, b in zip(starts, ends)]
