"""People over time: which detections of a keypoint file are one person, and which are noise.

Detector output as users have it holds false positives (a poster, a reflection, a statue), gaps
(the person hidden for a moment) and several people who come, go and cross each other. The
rules, each one option of :class:`TrackingOptions`:

- a detection whose score (the detector's own per-detection score, else the mean of its
  keypoint scores) is below ``min_score`` is dropped;
- with ``max_people``, each frame keeps its ``max_people`` largest and surest detections
  (box diagonal times score), with a warning when more were seen;
- detections are chained frame to frame by an optimal assignment (:func:`assign`, the Hungarian
  method) between the tracks and the frame's detections. The cost of a pair is how far the
  detection's keypoints lie from where the track's constant-velocity motion puts them, in units
  of the person's size, plus how much the size changed, plus :data:`NEW_TRACK_COST` for a
  track seen fewer than :data:`CONFIRM_HITS` times (so a track born from a stray or doubled
  detection takes a person over only where it is clearly better); two people crossing each other keep
  their identities because each keeps its own motion, and a person hidden for a few frames
  coasts on it. A pair is allowed only if the track was seen at most ``max_gap`` frames before,
  its pelvis moved at most ``max_jump`` image widths per frame since (when the image size is
  known), and it lies within the larger of the two people's sizes of where the track was or was
  predicted to be, so two people never join across a gap. Where two tracks could swap detections
  at almost no cost (people overlapping with the same motion), the pair keeps its old motion
  and a warning names the frames, so an identity is never swapped silently;
- a track with fewer than ``min_frames`` detections is dropped (in clips shorter than twice
  that, one with fewer than half the clip's frames), so a short clip still lifts;
- a track whose keypoints hardly move (a poster, a statue, a person in a photograph: the
  median joint's spread below ``min_motion`` of the person's size) is dropped when a moving
  track remains.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ddhpose.lifting.keypoints import KeypointTrack, Layout
from ddhpose.lifting.options import TrackingOptions

# weight of the size change (|log size ratio|) against the keypoint distance in the pair cost
SIZE_WEIGHT = 1.0
# share of a new velocity measurement in the track's smoothed velocity
VELOCITY_SMOOTHING = 0.5
# a track with fewer detections is new and pays NEW_TRACK_COST (in person sizes) more per pair
CONFIRM_HITS = 3
NEW_TRACK_COST = 0.3
# two tracks whose detections could be swapped for at most this much more cost (in person sizes)
# are ambiguous: their velocities are kept and the frames are reported
AMBIGUITY_MARGIN = 0.05
#: A track whose skeleton changes shape less than this (:func:`track_shape_change`, a fraction of
#: its size) and does not move is not a body: a poster, a statue (docs/multi_person.md measures it)
MIN_SHAPE_CHANGE = 0.03
SHAPE_PERCENTILE = 75


class Detection(NamedTuple):
    """One person in one frame as a detector reported it: pixels (K, 2), scores (K,)."""

    frame: int
    track_id: Optional[int]
    keypoints: np.ndarray  # (K, 2)
    scores: np.ndarray  # (K,)
    score: Optional[float] = None  # the detector's per-detection score, if it gives one

    @property
    def confidence(self) -> float:
        """The detection's score, else the mean of its keypoint scores (NaN counts as 0)."""
        return float(self.score) if self.score is not None else float(np.nan_to_num(self.scores).mean())


def _layout(layout: Layout) -> Layout:
    """``layout`` itself, or a TypeError that says what to pass (these functions take the
    layout object, which the readers of :mod:`ddhpose.lifting.inputs` resolve once from a name or
    the keypoint count)."""
    if not isinstance(layout, Layout):
        raise TypeError(f"layout: expected a Layout (ddhpose.lifting.keypoints.get_layout({layout!r})), got "
                        f"{type(layout).__name__} {layout!r}")
    return layout


def _centres(keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray], frames: Sequence[int],
             lay: Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pelvis (mid-hip, else the mean confident keypoint) (N, 2), size (N,) (the diagonal of the
    confident keypoints' box) and the confident-keypoint mask (N, K) of every detection."""
    hips = [lay.index(n) for n in ("left_hip", "right_hip")]
    centres, sizes = np.zeros((len(keypoints), 2)), np.zeros(len(keypoints))
    masks = np.zeros((len(keypoints), lay.num_joints), dtype=bool)
    for i, (kp, sc) in enumerate(zip(keypoints, scores)):
        finite = np.isfinite(kp).all(-1)
        if not finite.any():
            raise ValueError(f"keypoints: detection {i} (frame {frames[i]}) has no finite keypoint; "
                             "expected at least one")
        valid = finite & (sc > 0) if (finite & (sc > 0)).any() else finite
        centres[i] = kp[hips].mean(0) if valid[hips].all() else kp[valid].mean(0)
        sizes[i] = max(np.linalg.norm(np.ptp(kp[valid], axis=0)), 1.0)
        masks[i] = valid
    return centres, sizes, masks


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) pairs of least total cost, each row and column used at most once and
    no pair of infinite cost (the Hungarian method with potentials, O(n^2 m); what
    ``scipy.optimize.linear_sum_assignment`` gives, without needing SciPy).

    Args:
        cost: (R, C) pair costs; ``inf`` forbids a pair.
    Returns:
        the chosen pairs sorted by row; min(R, C) of them less the forbidden ones.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost: expected an (R, C) matrix, got shape {cost.shape}")
    if cost.size == 0:
        return []
    finite = np.isfinite(cost)
    if np.isnan(cost).any() or (cost == -np.inf).any() or (cost[finite] < 0).any():
        raise ValueError("cost: expected non-negative costs or inf, got NaN or a negative value")
    if not finite.any():
        return []
    # forbidden pairs cost more than any assignment of allowed ones, then are dropped
    big = (cost[finite].max() + 1.0) * (min(cost.shape) + 1)
    flip = cost.shape[0] > cost.shape[1]
    a = np.where(finite, cost, big).T if flip else np.where(finite, cost, big)
    n, m = a.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    match = np.zeros(m + 1, dtype=int)  # match[j]: the row (1-based) on column j, 0 for none
    for i in range(1, n + 1):
        match[0], j0 = i, 0
        slack, way, used = np.full(m + 1, np.inf), np.zeros(m + 1, dtype=int), np.zeros(m + 1, dtype=bool)
        while match[j0]:
            used[j0] = True
            i0 = match[j0]
            free = ~used[1:]
            cur = a[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < slack[1:])
            slack[1:][better], way[1:][better] = cur[better], j0
            j1 = 1 + int(np.argmin(np.where(free, slack[1:], np.inf)))
            delta = slack[j1]
            u[match[used]] += delta
            v[used] -= delta
            slack[1:][free] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            match[j0], j0 = match[j1], j1
    pairs = [(match[j] - 1, j - 1) for j in range(1, m + 1) if match[j]]
    pairs = [(c, r) if flip else (r, c) for r, c in pairs]
    return sorted((int(r), int(c)) for r, c in pairs if finite[r, c])


#: The segments whose lengths describe a skeleton's build (its appearance to the tracker): upper
#: arms, forearms, thighs, shins, both sides of the trunk, the shoulders and the hips.
SEGMENTS = tuple((f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
                 for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"),
                              ("shoulder", "hip"))) + (("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"))
#: weight of the build difference (mean |log| ratio of segment shares) in the pair cost
APPEARANCE_WEIGHT = 0.5
#: share of a new build measurement in the track's running build
APPEARANCE_SMOOTHING = 0.2


def segment_shares(keypoints: np.ndarray, masks: np.ndarray, lay: Layout) -> np.ndarray:
    """The build of each detection: every :data:`SEGMENTS` length as a share of the mean segment
    length (NaN where a segment's joints are not both confident). Keypoints (N, K, 2), masks
    (N, K) -> (N, S); scale-free, so near and far people of one build match."""
    pairs = np.array([(lay.index(a), lay.index(b)) for a, b in SEGMENTS if a in lay.names and b in lay.names],
                     dtype=int).reshape(-1, 2)
    if not len(pairs) or not len(keypoints):
        return np.full((len(keypoints), len(pairs)), np.nan)
    lengths = np.linalg.norm(keypoints[:, pairs[:, 0]] - keypoints[:, pairs[:, 1]], axis=-1)
    lengths = np.where(masks[:, pairs[:, 0]] & masks[:, pairs[:, 1]] & (lengths > 0), lengths, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return lengths / np.nanmean(lengths, axis=1, keepdims=True)


class Tracker:
    """Who is who, frame by frame: the one place that decides identity, for ``ddhpose lift`` on a
    keypoint file (:func:`associate_tracks`) and for the video detector's crop-following alike.

    :meth:`update` takes one frame's detections and returns a track id for each (ids from 0 in
    order of first appearance), by an optimal assignment (:func:`assign`) on the cost of the
    module docstring: the keypoints against where each track's constant-velocity motion puts
    them, the change of size and of the skeleton's build (:func:`segment_shares`), and
    :data:`NEW_TRACK_COST` for a track seen fewer than :data:`CONFIRM_HITS` times. Frames must
    come in increasing order. :meth:`warn_ambiguous` reports where two tracks could not be told
    apart.

    Args:
        layout: the keypoints' layout (:data:`ddhpose.lifting.keypoints.LAYOUTS`).
        max_gap: frames a track may go unseen and still continue (None: no limit).
        max_jump_px: pixels the pelvis may move per frame of separation (None: only the size rule).
        source: the file or video, for the warnings.
    """

    def __init__(self, layout: Layout, *, max_gap: int | None = None, max_jump_px: float | None = None,
                 source: str = "") -> None:
        self.layout, self.max_gap, self.max_jump_px, self.source = _layout(layout), max_gap, max_jump_px, source
        self.frame: list[int] = []  # per track: the frame of its latest detection
        self.centre: list[np.ndarray] = []  # per track: its latest pelvis (2,)
        self.size: list[float] = []  # per track: its latest size
        self.keypoints: list[np.ndarray] = []  # per track: its latest keypoints (K, 2), 0 where unknown
        self.mask: list[np.ndarray] = []  # per track: its latest confident keypoints (K,)
        self.build: list[np.ndarray] = []  # per track: running segment shares (S,)
        self.velocity: list[np.ndarray] = []  # per track: smoothed pelvis velocity, pixels per frame
        self.moving: list[bool] = []  # per track: whether its velocity was measured yet (zero until then)
        self.hits: list[int] = []  # per track: its detections so far
        self.ambiguous: dict[tuple[int, int], list[int]] = {}  # track pair -> frames where they could swap

    def predict(self, track: int, frame: int) -> np.ndarray:
        """Where ``track``'s keypoints (K, 2) are expected in ``frame`` (constant velocity)."""
        return self.keypoints[track] + self.velocity[track] * (frame - self.frame[track])

    def update(self, frame: int, keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray]) -> list[int]:
        """A track id for each of one frame's detections (keypoints (K, 2), scores (K,) each)."""
        if self.frame and frame <= max(self.frame):
            raise ValueError(f"frame: expected frames after {max(self.frame)}, got {frame}")
        if not len(keypoints):
            return []
        centres, sizes, masks = _centres(keypoints, scores, [frame] * len(keypoints), self.layout)
        kps = np.stack([np.nan_to_num(np.asarray(k, dtype=np.float64)) for k in keypoints])
        builds = segment_shares(kps, masks, self.layout)
        ids = [-1] * len(keypoints)
        if self.frame:
            gap = frame - np.array(self.frame)[:, None]  # (T, 1) >= 1
            shift = np.stack(self.velocity)[:, None] * gap[..., None]  # (T, 1, 2)
            before = np.stack(self.centre)
            dist = np.linalg.norm(before[:, None] - centres[None], axis=-1)  # (T, N)
            dist_pred = np.linalg.norm(before[:, None] + shift - centres[None], axis=-1)
            size_t = np.array(self.size)
            scale = np.maximum(size_t[:, None], sizes[None])
            ok = np.minimum(dist, dist_pred) <= scale
            if self.max_gap is not None:
                ok &= gap <= self.max_gap + 1
            if self.max_jump_px is not None:
                ok &= dist <= self.max_jump_px * gap
            # keypoints where the track's motion puts them vs where they were detected
            both = np.stack(self.mask)[:, None] & masks[None]  # (T, N, K)
            off = np.linalg.norm(np.stack(self.keypoints)[:, None] + shift[..., None, :] - kps[None], axis=-1)
            per_joint = np.where(both, off, 0).sum(-1) / np.maximum(both.sum(-1), 1)
            per_joint = np.where(both.any(-1), per_joint, dist_pred)
            cost = per_joint / scale + SIZE_WEIGHT * np.abs(np.log(sizes[None] / size_t[:, None]))
            cost += APPEARANCE_WEIGHT * _build_difference(np.stack(self.build), builds)
            # a track seen fewer than CONFIRM_HITS times pays NEW_TRACK_COST more: a track born
            # from a stray or doubled detection takes a person over only if clearly better
            cost += NEW_TRACK_COST * (np.array(self.hits) < CONFIRM_HITS)[:, None]
            cost[~ok] = np.inf
            pairs = assign(cost)
            unsure = set()
            for a, (t1, n1) in enumerate(pairs):
                for t2, n2 in pairs[a + 1:]:
                    if cost[t1, n2] + cost[t2, n1] <= cost[t1, n1] + cost[t2, n2] + AMBIGUITY_MARGIN:
                        self.ambiguous.setdefault((t1, t2), []).append(frame)
                        unsure |= {t1, t2}
            for t, n in pairs:
                step = (centres[n] - self.centre[t]) / gap[t, 0]
                if t not in unsure:
                    self.velocity[t] = step if not self.moving[t] else (
                        VELOCITY_SMOOTHING * step + (1 - VELOCITY_SMOOTHING) * self.velocity[t])
                    self.moving[t] = True
                self._set(t, frame, centres[n], sizes[n], kps[n], masks[n], builds[n])
                self.hits[t] += 1
                ids[n] = int(t)
        for n in range(len(ids)):
            if ids[n] < 0:
                ids[n] = len(self.frame)
                for column in (self.frame, self.centre, self.size, self.keypoints, self.mask, self.build):
                    column.append(None)
                self.velocity.append(np.zeros(2))
                self.moving.append(False)
                self.hits.append(1)
                self._set(ids[n], frame, centres[n], sizes[n], kps[n], masks[n], builds[n], fresh=True)
        return ids

    def _set(self, t: int, frame: int, centre: np.ndarray, size: float, kps: np.ndarray, mask: np.ndarray,
             build: np.ndarray, fresh: bool = False) -> None:
        self.frame[t], self.centre[t], self.size[t] = int(frame), centre, float(size)
        self.keypoints[t], self.mask[t] = kps, mask
        old = None if fresh else self.build[t]
        if old is None:
            self.build[t] = build
        else:  # a running mean where both are known, the known one elsewhere
            mixed = APPEARANCE_SMOOTHING * build + (1 - APPEARANCE_SMOOTHING) * old
            self.build[t] = np.where(np.isnan(build), old, np.where(np.isnan(old), build, mixed))

    def warn_ambiguous(self) -> None:
        """A warning per pair of tracks that overlapped with the same motion, naming the frames."""
        for (t1, t2), seen in sorted(self.ambiguous.items()):
            warnings.warn(f"{self.source or 'keypoints'}: tracks {t1} and {t2} overlapped with the same motion in "
                          f"{len(seen)} frame(s) ({_ranges(seen)}) and could not be told apart there; check that "
                          f"their identities did not swap after frame {seen[-1]}", stacklevel=3)


def _build_difference(tracks: np.ndarray, detections: np.ndarray) -> np.ndarray:
    """(T, N) mean |log ratio| of the segment shares known in both (0 where none is)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        diff = np.abs(np.log(tracks[:, None] / detections[None]))
        return np.nan_to_num(np.nanmean(diff, axis=-1), nan=0.0)


def associate_tracks(frames: Sequence[int], keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                     layout: Layout, *, max_gap: int | None = None, max_jump_px: float | None = None,
                     source: str = "") -> list[int]:
    """A track id per detection (ids from 0 in order of first appearance), by the
    :class:`Tracker` run over the frames in order; warns, naming the frames, where two tracks
    could not be told apart.

    Args:
        frames: frame index of every detection; keypoints: (K, 2) each; scores: (K,) each.
        layout: the keypoints' layout (:data:`ddhpose.lifting.keypoints.LAYOUTS`).
        max_gap: frames a track may go unseen and still continue (None: no limit).
        max_jump_px: pixels the pelvis may move per frame of separation (None: only the size rule:
            within the larger of the two people's keypoint bounding-box diagonals of where the
            track was or was predicted to be).
    """
    _centres(keypoints, scores, frames, _layout(layout))  # every detection checked first, errors naming it
    by_frame: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_frame.setdefault(int(f), []).append(i)
    tracker = Tracker(layout, max_gap=max_gap, max_jump_px=max_jump_px, source=source)
    ids = [-1] * len(frames)
    for frame in sorted(by_frame):
        now = by_frame[frame]
        for i, t in zip(now, tracker.update(frame, [keypoints[i] for i in now], [scores[i] for i in now])):
            ids[i] = t
    tracker.warn_ambiguous()
    return ids


def _ranges(frames: Sequence[int]) -> str:
    """'3-7, 12' for [3, 4, 5, 6, 7, 12]."""
    out, start = [], frames[0]
    for a, b in zip(frames, list(frames[1:]) + [None]):
        if b is None or b != a + 1:
            out.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ", ".join(out)


def limit_people(frames: Sequence[int], keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                 confidences: Sequence[float], layout: Layout, max_people: int | None, source: str = "") -> list[int]:
    """The indices of the detections to keep (ascending): in each frame the ``max_people`` with
    the largest box diagonal times confidence; a warning says in how many frames more were seen."""
    if max_people is None:
        return list(range(len(frames)))
    _, sizes, _ = _centres(keypoints, scores, frames, _layout(layout))
    rank = sizes * np.asarray(confidences, dtype=np.float64)
    by_frame: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_frame.setdefault(int(f), []).append(i)
    kept, crowded, most = [], [], 0
    for frame, idx in sorted(by_frame.items()):
        if len(idx) > max_people:
            crowded.append(frame)
            most = max(most, len(idx))
            idx = sorted(idx, key=lambda i: -rank[i])[:max_people]
        kept += idx
    if crowded:
        warnings.warn(f"{source or 'keypoints'}: {len(crowded)} frame(s) ({_ranges(crowded)}) had more than "
                      f"{max_people} people (up to {most}); kept the {max_people} largest and surest in each "
                      "(change with --max-people)", stacklevel=2)
    return sorted(kept)


def keep_tracks(lengths: dict[int, int], min_frames: int, clip_frames: int, source: str = "") -> set[int]:
    """The track ids to keep given each track's detection count: those with at least
    ``min_frames`` detections, or in a clip shorter than twice that, at least half the clip's
    ``clip_frames``. Dropped tracks are reported with a warning that names the option."""
    if not lengths:
        return set()
    need = max(1, min(min_frames, clip_frames // 2))
    kept = {t for t, n in lengths.items() if n >= need}
    dropped = sorted(set(lengths) - kept)
    if dropped:
        warnings.warn(f"{source}: dropped {len(dropped)} short track(s) of {sorted(lengths[t] for t in dropped)} "
                      f"frame(s) (fewer than {need}; false positives? change with --min-track-frames)",
                      stacklevel=3)
    return kept


def track_motion(keypoints: np.ndarray, scores: np.ndarray) -> float:
    """How much a track's keypoints move: the median over joints of each joint's spread (the
    root-mean-square distance from its mean position) over the track's frames, divided by the
    person's median size (keypoint box diagonal). Keypoints (F, K, 2) with NaN where unknown,
    scores (F, K) (0 where unknown). 0 for a single frame."""
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 or scores.shape != keypoints.shape[:2]:
        raise ValueError(f"expected keypoints (F, K, 2) and scores (F, K), got {keypoints.shape} and {scores.shape}")
    valid = np.isfinite(keypoints).all(-1) & (scores > 0)
    kp = np.where(valid[..., None], keypoints, np.nan)
    with warnings.catch_warnings():  # joints never seen are all-NaN slices: left out below
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.sqrt(np.nanmean(((kp - np.nanmean(kp, axis=0)) ** 2).sum(-1), axis=0))  # (K,)
        size = np.nanmedian(np.linalg.norm(np.nanmax(kp, axis=1) - np.nanmin(kp, axis=1), axis=-1))
    joints = spread[np.isfinite(spread) & (valid.sum(0) >= 2)]
    if not joints.size or not size > 0:
        return 0.0
    return float(np.median(joints) / size)


def track_shape_change(keypoints: np.ndarray, scores: np.ndarray, percentile: float = SHAPE_PERCENTILE,
                       threshold: float = 0.0) -> float:
    """How much a track's skeleton changes shape: each frame's confident keypoints centred on
    their median and divided by the frame's size (keypoint box diagonal), the largest distance
    of a joint from its median over the track; the ``percentile`` of that over frames (an arm
    raised in a few frames counts; a single bad detection does not). Shapes as
    :func:`track_motion`; only keypoints scoring above ``threshold`` count (the layout's own:
    a joint the detector guesses at wanders on a poster too). 0 for a single frame."""
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 or scores.shape != keypoints.shape[:2]:
        raise ValueError(f"expected keypoints (F, K, 2) and scores (F, K), got {keypoints.shape} and {scores.shape}")
    valid = np.isfinite(keypoints).all(-1) & (scores > threshold)
    kp = np.where(valid[..., None], keypoints, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        size = np.linalg.norm(np.nanmax(kp, axis=1) - np.nanmin(kp, axis=1), axis=-1)  # (F,)
        shape = (kp - np.nanmedian(kp, axis=1, keepdims=True)) / np.where(size > 0, size, np.nan)[:, None, None]
        off = np.linalg.norm(shape - np.nanmedian(shape, axis=0), axis=-1)  # (F, K)
        off = np.where(valid.sum(0) >= 2, off, np.nan)
        per_frame = np.nanmax(off, axis=1)
    per_frame = per_frame[np.isfinite(per_frame)]
    return float(np.percentile(per_frame, percentile)) if len(per_frame) > 1 else 0.0


def drop_static(tracks: Sequence[KeypointTrack], min_motion: float, source: str = "",
                min_shape_change: float = MIN_SHAPE_CHANGE, *, layout: Layout) -> list[KeypointTrack]:
    """The tracks that are people: those that move (:func:`track_motion` at least
    ``min_motion``) or whose skeleton changes shape (:func:`track_shape_change` at least
    ``min_shape_change``): a person standing still still breathes, turns the head, shifts the
    arms, where a poster or a statue holds one shape. Only a track that does neither is dropped,
    and only beside a track that moves (one still person is still a person); a warning names
    each dropped track and how to keep it. ``min_motion`` 0 keeps every track. ``layout``: the
    tracks' own, whose score threshold says which keypoints count for the shape."""
    if min_motion <= 0:
        return list(tracks)
    motion = [track_motion(t.keypoints, t.scores) if t.num_frames > 1 else np.inf for t in tracks]
    threshold = _layout(layout).score_threshold
    shape = [track_shape_change(t.keypoints, t.scores, threshold=threshold)
             if t.num_frames > 1 else np.inf for t in tracks]
    still = [m < min_motion and c < min_shape_change for m, c in zip(motion, shape)]
    moving = [t for t, s in zip(tracks, still) if not s]
    if not moving or len(moving) == len(tracks):
        return list(tracks)
    dropped = [(t.track_id, m, c) for t, m, c, s in zip(tracks, motion, shape, still) if s]
    warnings.warn(f"{source}: dropped {len(dropped)} still track(s) "
                  f"({', '.join(f'track {i}: motion {m:.2g}, shape change {c:.2g}' for i, m, c in dropped)}; "
                  "it neither "
                  f"moved {min_motion:g} of its size nor changed shape {min_shape_change:g}: a poster, a statue, a "
                  "reflection? keep every track with --min-motion 0)", stacklevel=2)
    return moving


def returning_people(tracks: Sequence[KeypointTrack], max_gap: int) -> list[tuple[int, int]]:
    """(earlier id, later id) pairs where a person may have left and come back: the later track
    starts more than ``max_gap`` frames after the earlier one's last frame (so the tracker kept
    them apart), no other track is between, and both are of a size (median keypoint box
    diagonal within a factor 1.5). Each later track is paired at most once, with the latest such."""
    def size(t: KeypointTrack) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return float(np.nanmedian(np.linalg.norm(np.nanmax(t.keypoints, 1) - np.nanmin(t.keypoints, 1), axis=-1)))
    pairs, used = [], set()
    for later in sorted(tracks, key=lambda t: int(t.frames[0])):
        start = int(later.frames[0])
        gone = [t for t in tracks if t.track_id not in used and int(t.frames[-1]) + max_gap < start
                and abs(np.log(max(size(t), 1e-9) / max(size(later), 1e-9))) < np.log(1.5)]
        if gone:
            earlier = max(gone, key=lambda t: int(t.frames[-1]))
            used.add(earlier.track_id)
            pairs.append((earlier.track_id, later.track_id))
    return pairs


@dataclass(frozen=True)
class TrackSummary:
    """One person of a clip: track id, first and last frame, and how many frames had a detection."""

    track_id: int
    first_frame: int
    last_frame: int
    frames_seen: int

    def __str__(self) -> str:
        span = self.last_frame - self.first_frame + 1
        return (f"person {self.track_id}: frames {self.first_frame}-{self.last_frame} "
                f"(seen in {self.frames_seen} of {span})")


def summarize_tracks(tracks: Sequence[KeypointTrack]) -> list[TrackSummary]:
    """A :class:`TrackSummary` per track, in the tracks' order."""
    return [TrackSummary(int(t.track_id), int(t.frames[0]), int(t.frames[-1]),
                         int(np.isfinite(t.keypoints).all(-1).any(-1).sum())) for t in tracks]


def describe_tracks(tracks: Sequence[KeypointTrack]) -> str:
    """'2 people: person 0: frames 0-89 (seen in 90 of 90); person 1: ...' for the end of a run."""
    summaries = summarize_tracks(tracks)
    count = f"{len(summaries)} {'person' if len(summaries) == 1 else 'people'}"
    return count + ("" if not summaries else ": " + "; ".join(str(s) for s in summaries))


def tracks_of(dets: list[Detection], layout: Layout | None, size: tuple[int, int] | None, src: str,
              tracking: TrackingOptions) -> list[KeypointTrack]:
    """The people of a clip's detections, one :class:`KeypointTrack` each, sorted by id.

    Detections without a finite keypoint or scoring below ``tracking.min_score`` are dropped;
    detections that carry track ids keep them, the others are split into people by
    :func:`associate_tracks` (after :func:`limit_people`); an id seen twice in a frame keeps its
    surer detection; short and still tracks are dropped with warnings (:func:`keep_tracks`,
    :func:`drop_static`). Every detection has ``layout``'s keypoints (None only where there is no
    detection, which is refused). Errors name ``src``.
    """
    if not dets:
        raise ValueError(f"{src}: no person detected in any frame; expected at least one detection")
    lay = _layout(layout)
    counts = sorted({len(d.keypoints) for d in dets} - {lay.num_joints})
    if counts:
        raise ValueError(f"{src}: detections with {', '.join(map(str, counts))} keypoints; layout {lay.name!r} "
                         f"expects {lay.num_joints}")
    dets = [d for d in dets if np.isfinite(d.keypoints).all(-1).any()]
    if not dets:
        raise ValueError(f"{src}: every detection's keypoints are NaN; expected detected keypoints")
    sure = [d for d in dets if d.confidence >= tracking.min_score]
    if not sure:
        raise ValueError(f"{src}: no detection scores at least {tracking.min_score} (the best: "
                         f"{max(d.confidence for d in dets):.3g}); lower --min-score if these are people")
    span = max(d.frame for d in dets) - min(d.frame for d in dets) + 1
    dets = sure
    ids = [d.track_id for d in dets]
    given = not any(i is None for i in ids)  # the input named its people
    if any(i is None for i in ids):  # no ids in the file: the largest people of each frame, tracked by motion
        keep = limit_people([d.frame for d in dets], [d.keypoints for d in dets], [d.scores for d in dets],
                            [d.confidence for d in dets], lay, tracking.max_people, src)
        dets = [dets[i] for i in keep]
        ids = associate_tracks([d.frame for d in dets], [d.keypoints for d in dets], [d.scores for d in dets],
                               lay, max_gap=tracking.max_gap,
                               max_jump_px=None if size is None else tracking.max_jump * size[0], source=src)
    people: dict[int, dict[int, Detection]] = {}
    for tid, d in zip(ids, dets):
        seen = people.setdefault(tid, {}).get(d.frame)
        # an id seen twice in one frame: keep the surer detection
        if seen is None or np.nan_to_num(d.scores).mean() > np.nan_to_num(seen.scores).mean():
            people[tid][d.frame] = d
    kept = keep_tracks({tid: len(per) for tid, per in people.items()}, tracking.min_frames, span, src)
    tracks = []
    for tid, per in sorted(people.items()):
        if tid in kept:  # checked above what keypoints.make_track checks; frames ascending, as it sorts them
            frames = sorted(per)
            tracks.append(KeypointTrack(np.stack([per[f].keypoints for f in frames]).astype(np.float32),
                                        np.stack([per[f].scores for f in frames]).astype(np.float32),
                                        np.array(frames, np.int64), int(tid), lay.name, size, src))
    tracks = drop_static(tracks, tracking.min_motion, src, layout=lay)
    # the people are numbered 0..N-1 in order of first appearance; the ids an input gave are kept
    # beside (input_track_id, in each result's provenance)
    tracks = sorted(tracks, key=lambda t: (int(t.frames[0]), t.track_id))
    tracks = [replace(t, track_id=k, input_track_id=t.track_id if given else None) for k, t in enumerate(tracks)]
    by_id = {t.track_id: t for t in tracks}
    back = [(a, b, int(by_id[a].frames[-1]), int(by_id[b].frames[0]))
            for a, b in returning_people(tracks, tracking.max_gap)]
    if len(back) == 1:
        a, b, last, first = back[0]
        warnings.warn(f"{src}: person {b} appears at frame {first}, {first - last - 1} frames after person {a} was "
                      f"last seen (frame {last}), at a similar size: the same person coming back? They are kept as two "
                      f"people, each with their own results (--max-gap {first - last} would join them)", stacklevel=2)
    elif back:
        listed = "; ".join(f"person {b} at frame {first}, {first - last - 1} frames after person {a} (last seen at "
                           f"{last})" for a, b, last, first in back)
        warnings.warn(f"{src}: {len(back)} people appear after someone of their size left more than --max-gap "
                      f"{tracking.max_gap} frames before: {listed}; the same people coming back? They are kept apart, "
                      f"each with their own results (--max-gap {max(f - la for _, _, la, f in back)} would join them "
                      "all)", stacklevel=2)
    return tracks
