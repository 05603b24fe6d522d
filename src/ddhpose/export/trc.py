"""TRC marker files (OpenSim, Pose2Sim, Sports2D): every joint as a marker, metres, y up.

The layout is the one Pose2Sim writes and OpenSim reads: five tab-separated header lines
(``PathFileType``, the rate / count names, their values with units ``m``, the marker names each
followed by two empty cells, the ``X1 Y1 Z1 ...`` coordinate names), then one row per frame:
frame number (from 1), time in seconds, and x y z of every marker. A clip's frames that start
later in a video (``start_frame``) keep the video's clock: frame ``k`` is at ``k / fps`` seconds,
as Pose2Sim writes it and as the .mot / CSV angle files and the browser page count.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ddhpose.files import atomic_path
from ddhpose.skeleton import H36M


def format_trc(positions: np.ndarray, fps: float, names: Sequence[str] = H36M.names, file_name: str = "motion.trc",
               *, start_frame: int = 0) -> str:
    """The TRC text of ``positions`` (F, J, 3), metres in the world frame (y up), whose first row
    is video frame ``start_frame`` (0-based; its Frame# is ``start_frame + 1``)."""
    positions = np.asarray(positions, np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(names), 3):
        raise ValueError(f"positions: expected (F, {len(names)}, 3), got {positions.shape}")
    if not np.isfinite(positions).all():
        raise ValueError("positions contain non-finite values")
    if not fps > 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    if start_frame < 0:
        raise ValueError(f"start_frame: expected a video frame index >= 0, got {start_frame}")
    frames, markers = positions.shape[:2]
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{file_name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             "\t".join(map(str, [f"{fps:g}", f"{fps:g}", frames, markers, "m", f"{fps:g}", start_frame + 1, frames])),
             "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
             "\t\t" + "\t".join(f"X{i + 1}\tY{i + 1}\tZ{i + 1}" for i in range(markers))]
    flat = positions.reshape(frames, -1)
    for f in range(frames):
        k = start_frame + f
        lines.append(f"{k + 1}\t{k / fps:.6f}\t" + "\t".join(f"{v:.6f}" for v in flat[f]))
    return "\n".join(lines) + "\n"


def export_trc(path: str | os.PathLike, positions: np.ndarray, fps: float, names: Sequence[str] = H36M.names) -> None:
    """Write :func:`format_trc` to ``path`` (atomically; the header names the file)."""
    text = format_trc(positions, fps, names, Path(path).name)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
