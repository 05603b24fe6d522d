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
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ddhpose.lifting.keypoints import KeypointTrack, get_layout, layout_for, make_track
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


def _centres(keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray], frames: Sequence[int],
             layout: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pelvis (mid-hip, else the mean confident keypoint) (N, 2), size (N,) (the diagonal of the
    confident keypoints' box) and the confident-keypoint mask (N, K) of every detection."""
    lay = get_layout(layout)
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


def associate_tracks(frames: Sequence[int], keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                     layout: str, *, max_gap: int | None = None, max_jump_px: float | None = None,
                     source: str = "") -> list[int]:
    """A track id per detection (ids from 0 in order of first appearance), by the optimal
    assignment of the module docstring; warns, naming the frames, where two tracks could not be
    told apart.

    Args:
        frames: frame index of every detection; keypoints: (K, 2) each; scores: (K,) each.
        max_gap: frames a track may go unseen and still continue (None: no limit).
        max_jump_px: pixels the pelvis may move per frame of separation (None: only the size rule:
            within the larger of the two people's keypoint bounding-box diagonals of where the
            track was or was predicted to be).
    """
    centres, sizes, masks = _centres(keypoints, scores, frames, layout)
    kps = np.stack([np.nan_to_num(np.asarray(k, dtype=np.float64)) for k in keypoints]) if len(keypoints) else None
    by_frame: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_frame.setdefault(int(f), []).append(i)
    ids = [-1] * len(frames)
    last: list[int] = []  # per track: the index of its latest detection
    velocity: list[np.ndarray] = []  # per track: smoothed pelvis velocity, pixels per frame
    moving: list[bool] = []  # per track: whether its velocity was measured yet (zero until then)
    hits: list[int] = []  # per track: its detections so far
    ambiguous: dict[tuple[int, int], list[int]] = {}  # track pair -> frames where they could swap
    for frame in sorted(by_frame):
        now = by_frame[frame]
        if last:
            prev = np.array(last)
            gap = frame - np.array([int(frames[i]) for i in last])[:, None]  # (T, 1) >= 1
            shift = np.stack(velocity)[:, None] * gap[..., None]  # (T, 1, 2)
            dist = np.linalg.norm(centres[prev][:, None] - centres[now][None], axis=-1)  # (T, N)
            dist_pred = np.linalg.norm(centres[prev][:, None] + shift - centres[now][None], axis=-1)
            scale = np.maximum(sizes[prev][:, None], sizes[now][None])
            ok = np.minimum(dist, dist_pred) <= scale
            if max_gap is not None:
                ok &= gap <= max_gap + 1
            if max_jump_px is not None:
                ok &= dist <= max_jump_px * gap
            # keypoints where the track's motion puts them vs where they were detected
            both = masks[prev][:, None] & masks[now][None]  # (T, N, K)
            off = np.linalg.norm(kps[prev][:, None] + shift[..., None, :] - kps[now][None], axis=-1)
            per_joint = np.where(both, off, 0).sum(-1) / np.maximum(both.sum(-1), 1)
            per_joint = np.where(both.any(-1), per_joint, dist_pred)
            cost = per_joint / scale + SIZE_WEIGHT * np.abs(np.log(sizes[now][None] / sizes[prev][:, None]))
            # a track seen fewer than CONFIRM_HITS times pays NEW_TRACK_COST more: a track born
            # from a stray or doubled detection takes a person over only if clearly better
            cost += NEW_TRACK_COST * (np.array(hits) < CONFIRM_HITS)[:, None]
            cost[~ok] = np.inf
            pairs = assign(cost)
            unsure = set()
            for a, (t1, n1) in enumerate(pairs):
                for t2, n2 in pairs[a + 1:]:
                    if cost[t1, n2] + cost[t2, n1] <= cost[t1, n1] + cost[t2, n2] + AMBIGUITY_MARGIN:
                        ambiguous.setdefault((t1, t2), []).append(frame)
                        unsure |= {t1, t2}
            for t, n in pairs:
                step = (centres[now[n]] - centres[last[t]]) / gap[t, 0]
                if t not in unsure:
                    velocity[t] = step if not moving[t] else (
                        VELOCITY_SMOOTHING * step + (1 - VELOCITY_SMOOTHING) * velocity[t])
                    moving[t] = True
                ids[now[n]], last[t] = int(t), now[n]
                hits[t] += 1
        for i in now:
            if ids[i] < 0:
                ids[i] = len(last)
                last.append(i)
                velocity.append(np.zeros(2))
                moving.append(False)
                hits.append(1)
    for (t1, t2), seen in sorted(ambiguous.items()):
        warnings.warn(f"{source or 'keypoints'}: tracks {t1} and {t2} overlapped with the same motion in "
                      f"{len(seen)} frame(s) ({_ranges(seen)}) and could not be told apart there; check that "
                      f"their identities did not swap after frame {seen[-1]}", stacklevel=2)
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
                 confidences: Sequence[float], layout: str, max_people: int | None, source: str = "") -> list[int]:
    """The indices of the detections to keep (ascending): in each frame the ``max_people`` with
    the largest box diagonal times confidence; a warning says in how many frames more were seen."""
    if max_people is None:
        return list(range(len(frames)))
    _, sizes, _ = _centres(keypoints, scores, frames, layout)
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


def drop_static(tracks: Sequence[KeypointTrack], min_motion: float, source: str = "") -> list[KeypointTrack]:
    """The tracks that move (:func:`track_motion` at least ``min_motion``), keeping them all when
    none moves (one still person is still a person); a warning names each dropped track."""
    motion = [track_motion(t.keypoints, t.scores) if t.num_frames > 1 else np.inf for t in tracks]
    moving = [t for t, m in zip(tracks, motion) if m >= min_motion]
    if not moving or len(moving) == len(tracks):
        return list(tracks)
    dropped = [(t.track_id, m) for t, m in zip(tracks, motion) if m < min_motion]
    warnings.warn(f"{source}: dropped {len(dropped)} still track(s) "
                  f"({', '.join(f'track {i}: motion {m:.2g}' for i, m in dropped)}; less than {min_motion:g} of "
                  "the person's size: a poster, a statue, a reflection? change with --min-motion)", stacklevel=2)
    return moving


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


def tracks_of(dets: list[Detection], layout: str | None, size: tuple[int, int] | None, src: str,
              tracking: TrackingOptions) -> list[KeypointTrack]:
    """The people of a clip's detections, one :class:`KeypointTrack` each, sorted by id.

    Detections without a finite keypoint or scoring below ``tracking.min_score`` are dropped;
    detections that carry track ids keep them, the others are split into people by
    :func:`associate_tracks` (after :func:`limit_people`); an id seen twice in a frame keeps its
    surer detection; short and still tracks are dropped with warnings (:func:`keep_tracks`,
    :func:`drop_static`). ``layout`` None: from the keypoint count. Errors name ``src``.
    """
    if not dets:
        raise ValueError(f"{src}: no person detected in any frame; expected at least one detection")
    counts = {len(d.keypoints) for d in dets}
    if len(counts) > 1:
        raise ValueError(f"{src}: detections have different keypoint counts {sorted(counts)}; expected one")
    lay = get_layout(layout or layout_for(counts.pop(), src))
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
    if any(i is None for i in ids):  # no ids in the file: the largest people of each frame, tracked by motion
        keep = limit_people([d.frame for d in dets], [d.keypoints for d in dets], [d.scores for d in dets],
                            [d.confidence for d in dets], lay.name, tracking.max_people, src)
        dets = [dets[i] for i in keep]
        ids = associate_tracks([d.frame for d in dets], [d.keypoints for d in dets], [d.scores for d in dets],
                               lay.name, max_gap=tracking.max_gap,
                               max_jump_px=None if size is None else tracking.max_jump * size[0], source=src)
    people: dict[int, dict[int, Detection]] = {}
    for tid, d in zip(ids, dets):
        seen = people.setdefault(tid, {}).get(d.frame)
        # an id seen twice in one frame: keep the surer detection
        if seen is None or np.nan_to_num(d.scores).mean() > np.nan_to_num(seen.scores).mean():
            people[tid][d.frame] = d
    kept = keep_tracks({tid: len(per) for tid, per in people.items()}, tracking.min_frames, span, src)
    tracks = [make_track(np.stack([d.keypoints for d in per.values()]), np.stack([d.scores for d in per.values()]),
                         np.array(list(per)), tid, lay.name, size, src)
              for tid, per in sorted(people.items()) if tid in kept]
    return drop_static(tracks, tracking.min_motion, src)
