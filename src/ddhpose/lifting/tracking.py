"""People over time: which detections of a keypoint file are one person, and which are noise.

Detector output as users have it holds false positives (a poster, a reflection, a statue), gaps
(the person hidden for a moment) and several people who come and go. The rules, each one
option of :class:`TrackingOptions`:

- a detection whose score (the detector's own per-detection score, else the mean of its
  keypoint scores) is below ``min_score`` is dropped;
- detections are chained frame to frame by their pelvis (greedy nearest neighbour): a detection
  continues a track only if the track was seen at most ``max_gap`` frames before and its pelvis
  moved at most ``max_jump`` image widths per frame since (and at most the larger of the two
  people's sizes when the image size is unknown), so two people never join across a gap;
- a track with fewer than ``min_frames`` detections is dropped (in clips shorter than twice
  that, one with fewer than half the clip's frames), so a short clip still lifts.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ddhpose.lifting.keypoints import get_layout


@dataclass(frozen=True)
class TrackingOptions:
    """See the module docstring. ``max_jump`` is a fraction of the image width per frame."""

    min_score: float = 0.3
    min_frames: int = 10
    max_gap: int = 15
    max_jump: float = 0.1

    def __post_init__(self) -> None:
        if self.min_frames < 1 or self.max_gap < 0 or not self.max_jump > 0:
            raise ValueError(f"tracking options: expected min_frames >= 1, max_gap >= 0 and max_jump > 0, got "
                             f"{self.min_frames}, {self.max_gap} and {self.max_jump}")


def _centres(keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray], frames: Sequence[int],
             layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis (mid-hip, else the mean confident keypoint) (N, 2) and size (N,) of every detection."""
    lay = get_layout(layout)
    hips = [lay.index(n) for n in ("left_hip", "right_hip")]
    centres, sizes = np.zeros((len(keypoints), 2)), np.zeros(len(keypoints))
    for i, (kp, sc) in enumerate(zip(keypoints, scores)):
        finite = np.isfinite(kp).all(-1)
        if not finite.any():
            raise ValueError(f"keypoints: detection {i} (frame {frames[i]}) has no finite keypoint; "
                             "expected at least one")
        valid = finite & (sc > 0) if (finite & (sc > 0)).any() else finite
        centres[i] = kp[hips].mean(0) if valid[hips].all() else kp[valid].mean(0)
        sizes[i] = np.linalg.norm(np.ptp(kp[valid], axis=0))
    return centres, sizes


def associate_tracks(frames: Sequence[int], keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray],
                     layout: str, *, max_gap: int | None = None, max_jump_px: float | None = None) -> list[int]:
    """A track id per detection (ids from 0 in order of first appearance).

    Args:
        frames: frame index of every detection; keypoints: (K, 2) each; scores: (K,) each.
        max_gap: frames a track may go unseen and still continue (None: no limit).
        max_jump_px: pixels the pelvis may move per frame of separation (None: only the size rule:
            at most the larger of the two people's keypoint bounding-box diagonals).
    """
    centres, sizes = _centres(keypoints, scores, frames, layout)
    by_frame: dict[int, list[int]] = {}
    for i, f in enumerate(frames):
        by_frame.setdefault(int(f), []).append(i)
    ids = [-1] * len(frames)
    last: list[int] = []  # per track: the index of its latest detection
    for frame in sorted(by_frame):
        now = by_frame[frame]
        if last:
            gap = frame - np.array([int(frames[i]) for i in last])[:, None]  # (T, 1) >= 1
            dist = np.linalg.norm(centres[last][:, None] - centres[now][None], axis=-1)
            ok = dist <= np.maximum(sizes[last][:, None], sizes[now][None])
            if max_gap is not None:
                ok &= gap <= max_gap + 1
            if max_jump_px is not None:
                ok &= dist <= max_jump_px * gap
            dist[~ok] = np.inf
            while np.isfinite(dist).any():
                t, n = np.unravel_index(np.argmin(dist), dist.shape)
                ids[now[n]], last[t] = int(t), now[n]
                dist[t, :], dist[:, n] = np.inf, np.inf
        for i in now:
            if ids[i] < 0:
                ids[i] = len(last)
                last.append(i)
    return ids


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
