"""Left and right exchanged by a 2D detector, found and put back before lifting.

Detectors label the two legs (or arms, or the whole body) the wrong way round for runs of frames,
most often seen from the side and when the limbs cross: lifted as they are, those frames become a
mirrored body (on a real side view, 515 mm against 88 mm on the frames around them). The labels
are repaired from the 2D alone, for the two limb groups together (the legs: hips, knees, ankles;
the arms: shoulders, elbows, wrists), each frame in one of four labellings (either group as
detected or exchanged):

- the labelling of each group's joints must continue the motion of the frames before it (a
  constant-velocity prediction from the two previous frames, in their own chosen labelling): at a
  crossing the positions alike, the velocities are not;
- the torso does not turn half round between hips and shoulders: where the hips' left-to-right
  vector and the shoulders' point opposite ways, one group is exchanged (a cost
  :data:`TORSO_WEIGHT` x minus their dot product, so it counts little where either looks short,
  seen from the side); this tells which side of a crossing is the wrong one, which motion alone
  cannot;
- each change of labelling costs :data:`SWITCH_COST` (runs, not flickering), one group or both
  at once alike (a whole-body exchange is one mistake of the detector), and every exchanged
  group and frame :data:`EXCHANGE_COST` (the detector is right most of the time);
- the cheapest labelling of the whole clip is found exactly by dynamic programming over the
  pairs (previous, current) of labellings (Viterbi, 16 states).

Costs are in units of the squared prediction error over the noise squared: :data:`MOTION_NOISE` x
the body's 2D size, or the median prediction error within :data:`LOCAL_FRAMES` frames where
larger (a jump moves faster than a walk), so they do not depend on the image's size or the
person's distance. A joint's motion cost is capped at :data:`OUTLIER_COST`: a move far beyond the
noise (a sharp stop, a detector's glitch) says only that the joint moved unpredictably, in either
labelling; uncapped, such moves on a real jumping-jack clip outweighed the real exchange and
exchanged the arms for 90 frames. Frames where a group is not seen keep their labels.

Real detectors often do not jump from one labelling to the other but slide the two sides through
each other over one to three frames (MediaPipe on the Sports2D demo: both wrists at one pixel):
the detected tracks then move smoothly from one limb to the other, and the constant-velocity
prediction through them found none of such exchanges (51-73 % of the exchanged frames repaired
where half the runs slide, against 97-100 % where none do; docs/world_accuracy.md). Runs of a few
frames where a pair is drawn much closer together than just before and just after
(:func:`collapsed`) are left out of the prediction, which reaches over them; they take
the labels of the frames around them, or where those differ the labelling nearer the line between.
"""
from __future__ import annotations

import warnings

import numpy as np

from ddhpose.skeleton import H36M

#: The limb groups whose labels a detector exchanges, by their left joints.
GROUPS = {"legs": ("left_hip", "left_knee", "left_ankle"), "arms": ("left_shoulder", "left_elbow", "left_wrist")}
#: The prediction's expected error per joint and frame as a fraction of the body's 2D size.
MOTION_NOISE = 0.02
#: ... or this many times the median prediction error within :data:`LOCAL_FRAMES` frames, where
#: larger (fast motion, noisy 2D).
RESIDUAL_SCALE, LOCAL_FRAMES = 1.0, 15
#: A joint's motion cost is at most this (squared noise units): a prediction off by far more than
#: the noise says only that the joint moved unpredictably, in either labelling.
OUTLIER_COST = 16.0
#: The cost of a change of labelling, and of each exchanged frame (units of squared noise).
SWITCH_COST, EXCHANGE_COST = 12.0, 1.0
#: A run of at most :data:`COLLAPSE_FRAMES` frames whose pair is drawn closer than this share of
#: its distance in the frames just before and after the run is a detector's slide (:func:`collapsed`).
COLLAPSE_RATIO, COLLAPSE_FRAMES = 0.65, 3
#: A prediction over left-out frames is less sure: its noise grows as the step's length over the
#: step before it (the velocity's reach) to this power.
REACH_NOISE = 0.5
#: The weight of minus the dot product of the hips' and the shoulders' 2D vectors (squared noise).
TORSO_WEIGHT = 0.3
#: The labellings: (legs exchanged, arms exchanged) for each of the four states.
_STATES = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])


def pairs(group: str) -> tuple[list[int], list[int]]:
    """The group's left joints and their right twins, in the Human3.6M order."""
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
    left, right = pairs(group)
    out = np.array(keypoints, copy=True)
    rows = np.flatnonzero(swap)
    out[np.ix_(rows, left)], out[np.ix_(rows, right)] = keypoints[np.ix_(rows, right)], keypoints[np.ix_(rows, left)]
    return out


def _motion_costs(keypoints: np.ndarray, seen: np.ndarray, group: str, size: float, times: np.ndarray
                  ) -> tuple[np.ndarray, float]:
    """The group's motion cost (F, 2, 2, 2) of frame t in labelling c after t-1 in b and t-2 in a
    (0 as detected, 1 exchanged; 0 for t < 2), and its median noise (pixels). ``times`` (F,): each
    frame's number: frames left out between two (:func:`collapsed`) are predicted over at the
    same velocity, with the noise grown by :data:`REACH_NOISE`."""
    left, right = pairs(group)
    joints = left + right
    steps = np.diff(times).astype(float)
    ratio = (steps[1:] / steps[:-1])[:, None, None]  # (F-2, 1, 1): frames t-1 -> t over t-2 -> t-1

    def predict(before: np.ndarray, last: np.ndarray) -> np.ndarray:  # constant velocity
        return last + (last - before) * ratio

    raw = np.where(seen[:, joints, None], keypoints[:, joints], np.nan)
    residual = np.linalg.norm(raw[2:] - predict(raw[:-2], raw[1:-1]), axis=-1)
    noise = np.full(len(keypoints), MOTION_NOISE * size)
    if np.isfinite(residual).any():  # the motion's own pace near each frame: fast moves predict worse
        local = _window_median(residual, LOCAL_FRAMES)
        noise[2:] = np.maximum(noise[2:], RESIDUAL_SCALE * np.nan_to_num(local))
    x = np.nan_to_num(keypoints[:, joints])  # (F, 2G, 2) pixels
    ok = seen[:, joints]
    flip = np.r_[len(left):len(joints), 0:len(left)]  # exchanged order
    views, seen2 = np.stack([x, x[:, flip]]), np.stack([ok, ok[:, flip]])  # (2, F, 2G, ...)
    pred = predict(views[:, None, :-2], views[None, :, 1:-1])  # (a, b, F-2, 2G, 2)
    mask = seen2[None, :, 1:-1] & seen2[:, None, :-2]  # (a, b, F-2, 2G)
    sure = noise[2:] * np.maximum(1.0, ratio[:, 0, 0]) ** REACH_NOISE  # (F-2,) pixels
    cost = np.zeros((len(x), 2, 2, 2))
    for c in range(2):
        err = ((views[c, 2:][None, None] - pred) ** 2).sum(-1) / sure[None, None, :, None] ** 2
        err = np.minimum(err, OUTLIER_COST) * (mask & seen2[c, 2:][None, None])
        cost[2:, :, :, c] = np.moveaxis(err.sum(-1), 2, 0)
    return cost, float(np.median(noise))


def collapsed(keypoints: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """{group: (F,) bool}: runs of 1 to :data:`COLLAPSE_FRAMES` frames where the group's left and
    right joints are drawn closer together than :data:`COLLAPSE_RATIO` x their distance in the
    frame just before the run and in the frame just after it: how a detector slides a pair through
    each other when it exchanges them. Their positions say nothing of which label is which, so the
    repair predicts over them. Limbs that pass each other (a turn, an arm swing) close in and part
    over more frames than that, and are kept."""
    frames = len(keypoints)
    out = {}
    for group in GROUPS:
        left, right = pairs(group)
        gap = np.linalg.norm(keypoints[:, left] - keypoints[:, right], axis=-1).sum(-1)
        gap = np.where(seen[:, left + right].all(-1), gap, np.nan)  # NaN compares False
        close = np.zeros(frames, bool)
        for length in range(1, COLLAPSE_FRAMES + 1):
            starts = np.arange(1, frames - length)
            bound = COLLAPSE_RATIO * np.minimum(gap[starts - 1], gap[starts + length])  # NaN where either is unseen
            inside = np.stack([gap[starts + k] for k in range(length)])  # (length, S)
            hit = (inside < bound).all(0)
            for k in range(length):
                close[starts[hit] + k] = True
        out[group] = close
    return out


def _window_median(residual: np.ndarray, half: int) -> np.ndarray:
    """(F,) median of the finite (F, J) residuals within ``half`` frames of each frame (NaN where none)."""
    frames = len(residual)
    padded = np.full((frames + 2 * half, residual.shape[1]), np.nan)
    padded[half:half + frames] = residual
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=0)  # (F, J, W)
    with warnings.catch_warnings():  # an all-NaN window (nothing seen) is NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(windows.reshape(frames, -1), axis=1)


def _torso_costs(keypoints: np.ndarray, seen: np.ndarray, noise: float) -> np.ndarray:
    """(F, 4): :data:`TORSO_WEIGHT` x minus the dot product (in squared noise units) of the hips'
    and the shoulders' left-to-right 2D vectors in each labelling, where positive."""
    j = H36M.joints(("left_hip", "right_hip", "left_shoulder", "right_shoulder"), "left/right repair")
    hips = keypoints[:, j["left_hip"]] - keypoints[:, j["right_hip"]]
    shoulders = keypoints[:, j["left_shoulder"]] - keypoints[:, j["right_shoulder"]]
    dot = np.where(seen[:, list(j.values())].all(-1), (hips * shoulders).sum(-1), 0.0) / noise ** 2
    sign = np.where(_STATES[:, 0] == _STATES[:, 1], 1.0, -1.0)  # exchanging one group turns its vector
    return TORSO_WEIGHT * np.maximum(0.0, -dot[:, None] * sign[None])


def find_swaps(keypoints: np.ndarray, seen: np.ndarray) -> dict[str, np.ndarray]:
    """{group: (F,) bool, the frames whose group labels are exchanged}: keypoints (F, 17, 2)
    pixels in the Human3.6M order, seen (F, 17) bool (detected, not filled in). See the module
    docstring."""
    frames = len(keypoints)
    size = body_size(np.where(seen[..., None], keypoints, np.nan))
    if frames < 3 or not np.isfinite(size) or size <= 0:
        return {group: np.zeros(frames, bool) for group in GROUPS}
    kept = np.flatnonzero(~np.any(list(collapsed(keypoints, seen).values()), axis=0))
    if len(kept) < 3:
        return {group: np.zeros(frames, bool) for group in GROUPS}
    found = _STATES[_viterbi(keypoints[kept], seen[kept], size, kept)].astype(bool)  # (K, 2)
    return {group: _fill_left_out(keypoints, kept, found[:, k], group) for k, group in enumerate(GROUPS)}


def _fill_left_out(keypoints: np.ndarray, kept: np.ndarray, swap: np.ndarray, group: str) -> np.ndarray:
    """(F,) bool: the kept frames' labels ``swap`` (K,) and the left-out frames': those of the kept
    frames around them where these agree (a change and a change back within a few frames is
    improbable); where they differ, the labelling nearer the straight line between the two (each
    in its own labelling), which is the one whose left-to-right vectors point along the line's;
    before the first kept frame or after the last, the nearest one's."""
    frames = len(keypoints)
    out = np.zeros(frames, bool)
    out[kept] = swap
    out[:kept[0]], out[kept[-1] + 1:] = swap[0], swap[-1]
    after = np.searchsorted(kept, np.arange(frames))
    inside = (after > 0) & (after < len(kept)) & ~np.isin(np.arange(frames), kept)
    out[inside] = swap[after[inside] - 1]
    gaps = np.flatnonzero(inside)
    gaps = gaps[swap[after[gaps] - 1] != swap[after[gaps]]]  # the change falls in the gap
    if len(gaps) == 0:
        return out
    left, right = pairs(group)
    across = exchanged(keypoints, out, group)  # the kept frames in their labelling
    across = across[:, right] - across[:, left]  # (F, 3, 2) each pair's left-to-right vector
    a, b = kept[after[gaps] - 1], kept[after[gaps]]
    share = ((gaps - a) / (b - a))[:, None, None]
    line = (1 - share) * across[a] + share * across[b]
    detected = keypoints[gaps][:, right] - keypoints[gaps][:, left]
    out[gaps] = np.nansum(detected * line, axis=(1, 2)) < 0  # nearer the line exchanged
    return out


def _viterbi(keypoints: np.ndarray, seen: np.ndarray, size: float, times: np.ndarray) -> np.ndarray:
    """(F,) the cheapest labelling (an index into :data:`_STATES`) of each frame."""
    frames = len(keypoints)
    costs, noises = zip(*(_motion_costs(keypoints, seen, group, size, times) for group in GROUPS))
    a, b, c = np.meshgrid(*[np.arange(len(_STATES))] * 3, indexing="ij")
    motion = sum(cost[:, _STATES[a, k], _STATES[b, k], _STATES[c, k]] for k, cost in enumerate(costs))  # (F, 4, 4, 4)
    unary = _torso_costs(keypoints, seen, float(np.sqrt(noises[0] * noises[1]))) \
        + EXCHANGE_COST * _STATES.sum(1)[None]  # (F, 4)
    switch = SWITCH_COST * (_STATES[:, None] != _STATES[None]).any(-1)  # (4, 4): one mistake, one or both groups
    best = unary[0][:, None] + unary[1][None, :] + switch  # (label t-1, label t) for t = 1
    back = np.zeros((frames, len(_STATES), len(_STATES)), np.int8)
    for t in range(2, frames):
        total = best[:, :, None] + motion[t] + unary[t][None, None] + switch[None]  # (a, b, c)
        back[t] = total.argmin(0)  # the best t-2 labelling for each (b, c)
        best = total.min(0)
    labels = np.zeros(frames, np.int64)
    labels[-2], labels[-1] = np.unravel_index(best.argmin(), best.shape)
    for t in range(frames - 1, 1, -1):
        labels[t - 2] = back[t, labels[t - 1], labels[t]]
    return labels


def repair_swaps(keypoints: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Human3.6M-ordered pixels (F, 17, 2) and seen (F, 17) bool -> (the keypoints with each
    group's exchanged runs put back, {group: (F,) bool frames repaired})."""
    out = np.asarray(keypoints, np.float64)
    found = find_swaps(out, seen)
    for group, swap in found.items():
        if swap.any():
            out = exchanged(out, swap, group)
    return out, found


def runs(flags: np.ndarray, frames: np.ndarray | None = None) -> list[list[int]]:
    """[first, last] frame numbers (inclusive) of the True runs of (F,) flags."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    numbers = np.arange(len(flags)) if frames is None else np.asarray(frames)
    return [[int(numbers[a]), int(numbers[b])] for a, b in zip(starts, ends)]
