"""Inference windows: cutting an N-frame sequence into the model's F-frame windows, and merging
per-window outputs back to one value per frame.

Two merge rules, one per use:

- :func:`unwindow` (evaluation, method section 7): consecutive non-overlapping windows from frame
  0, the last one being the last F frames (it may overlap its predecessor); each frame is taken
  from one window. Which window an overlapped frame comes from is a choice: the released
  MPI-INF-3DHP evaluation (main_3dhp.py ``pose_post_process``, whose poses the official MATLAB
  script scores) writes the windows in order and the last one over the overlap (``keep="last"``);
  the released renderers keep the earlier window (``keep="first"``).
- :func:`blend_windows` (the lifter): windows overlapping by half, blended with a Hann weight so
  window edges weigh less and no seam shows.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch


def window_index(num_frames: int, frames: int, stride: int) -> np.ndarray:
    """(n, F) frame indices of overlapping windows: starts 0, stride, 2 stride, ... and N - F last.

    A sequence shorter than F gives one window padded by repeating the last frame. The lifter
    uses stride F / 2 (blended overlaps); ``stride == F`` gives :func:`test_window_index`.
    """
    if num_frames < 1 or frames < 1 or not 1 <= stride <= frames:
        raise ValueError(f"expected num_frames >= 1, frames >= 1 and 1 <= stride <= frames, "
                         f"got {num_frames}, {frames} and {stride}")
    if num_frames <= frames:
        return np.minimum(np.arange(frames), num_frames - 1)[None]
    starts = list(range(0, num_frames - frames + 1, stride))
    if starts[-1] != num_frames - frames:
        starts.append(num_frames - frames)
    return np.asarray(starts)[:, None] + np.arange(frames)


def test_window_index(num_frames: int, frames: int) -> np.ndarray:
    """(n, F) frame indices of the test windows of an N-frame sequence (method section 7):
    consecutive F-frame windows, the last one ending at the last frame."""
    return window_index(num_frames, frames, frames)


def unwindow(values: np.ndarray | torch.Tensor, frame_index: np.ndarray, num_frames: int, *,
             keep: Literal["first", "last"] = "first") -> np.ndarray | torch.Tensor:
    """Per-window values (n, F, ...) back to (N, ...), each frame once.

    A frame held by two windows (the overlap of the last test window) comes from the first of
    them (``keep="first"``) or the last (``keep="last"``, the released 3DHP evaluation); within a
    window the first position holding it is used, so the padding of a short sequence is skipped.
    """
    if keep not in ("first", "last"):
        raise ValueError(f"keep expected 'first' or 'last', got {keep!r}")
    frame_index = np.asarray(frame_index)
    if tuple(values.shape[:2]) != frame_index.shape:
        raise ValueError(f"values expected ({frame_index.shape[0]}, {frame_index.shape[1]}, ...) to match "
                         f"frame_index, got {tuple(values.shape)}")
    n, f = frame_index.shape
    windows = np.arange(n)[::-1] if keep == "last" else np.arange(n)
    order = (windows[:, None] * f + np.arange(f)).reshape(-1)  # flat positions in order of preference
    frames_seen, pos = np.unique(frame_index.reshape(-1)[order], return_index=True)
    if not np.array_equal(frames_seen, np.arange(num_frames)):
        raise ValueError(f"frame_index must cover frames 0..{num_frames - 1} exactly")
    chosen = order[pos]
    flat = values.reshape(-1, *values.shape[2:])
    if isinstance(values, torch.Tensor):
        return flat[torch.from_numpy(chosen).to(values.device)]
    return flat[chosen]


def hann_weights(frames: int) -> torch.Tensor:
    """Blending weights (F,): sin^2(pi (i + 1/2) / F), positive everywhere, small at the edges.

    With stride F / 2 two overlapping windows' weights sum to exactly 1 (sin^2 + cos^2).
    """
    i = torch.arange(frames, dtype=torch.float64)
    return torch.sin(torch.pi * (i + 0.5) / frames).square()


def blend_windows(values: torch.Tensor, index: np.ndarray, num_frames: int,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted average of overlapping per-window values back to one value per frame.

    values (n, F, ...), index (n, F) from :func:`window_index`, weights (F,) (default
    :func:`hann_weights`) -> (N, ...). Padding (a frame repeated within a window) counts once.
    """
    n, f = index.shape
    if tuple(values.shape[:2]) != (n, f):
        raise ValueError(f"values: expected ({n}, {f}, ...) to match the window index, got {tuple(values.shape)}")
    if np.unique(index).tolist() != list(range(num_frames)):
        raise ValueError(f"index: expected to cover frames 0..{num_frames - 1} exactly")
    w = (hann_weights(f) if weights is None else weights).to(device=values.device, dtype=values.dtype)
    first = np.ones(index.shape, bool)
    first[:, 1:] = index[:, 1:] != index[:, :-1]  # repeated edge frames are padding
    w = w * torch.from_numpy(first).to(values.device)  # (n, F)
    flat_index = torch.from_numpy(index.reshape(-1)).to(values.device)
    extra = (1,) * (values.ndim - 2)
    total = values.new_zeros((num_frames, *values.shape[2:])).index_add_(
        0, flat_index, (values * w.view(n, f, *extra)).flatten(0, 1))
    norm = values.new_zeros(num_frames).index_add_(0, flat_index, w.reshape(-1))
    return total / norm.view(num_frames, *extra)


# these are library functions, not pytest tests
test_window_index.__test__ = False  # type: ignore[attr-defined]
