"""OpenSim motion files (.mot, OpenSim's Storage format): a short header ending in ``endheader``,
then a tab-separated table of a ``time`` column (seconds) and one column per coordinate. Sports2D
writes its angles in this form and OpenSim's inverse kinematics its results; :func:`read_mot`
reads both.

A missing value is written ``nan``: OpenSim's ``TimeSeriesTable`` (its Python / MATLAB API, what
Pose2Sim and Sports2D use) reads it as NaN; the older ``Storage`` class behind the OpenSim GUI's
plots stops reading at the first one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np


def format_mot(times: np.ndarray, columns: Mapping[str, np.ndarray], name: str = "angles",
               in_degrees: bool = True) -> str:
    """The .mot text of ``columns`` (name -> (F,) values; NaN written ``nan``) at ``times`` (F,) seconds."""
    times = np.asarray(times, np.float64).reshape(-1)
    names = list(columns)
    if any(not n or any(c.isspace() for c in n) for n in names):
        raise ValueError(f"columns: names must be non-empty without white space, got {names}")
    values = np.stack([np.asarray(columns[n], np.float64).reshape(-1) for n in names], 1) if names else \
        np.zeros((len(times), 0))
    if values.shape[0] != len(times):
        raise ValueError(f"columns: expected {len(times)} values each (one per time), got {values.shape[0]}")
    if not np.isfinite(times).all() or (np.diff(times) <= 0).any():
        raise ValueError("times: expected finite, increasing seconds")
    lines = [name, "version=1", f"nRows={len(times)}", f"nColumns={len(names) + 1}",
             f"inDegrees={'yes' if in_degrees else 'no'}", "endheader", "\t".join(["time", *names])]
    for t, row in zip(times, values):
        lines.append("\t".join([f"{t:.6f}", *(f"{v:.6f}" if np.isfinite(v) else "nan" for v in row)]))
    return "\n".join(lines) + "\n"


def read_mot(path: str | os.PathLike) -> tuple[dict[str, str], np.ndarray, dict[str, np.ndarray]]:
    """Read a .mot / .sto file: (its header's ``key=value`` lines, times (F,), name -> (F,) float64).

    Raises:
        ValueError: no ``endheader`` line, no ``time`` column, or rows of the wrong length
            (the message names the file).
    """
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.strip().lower() == "endheader")
    except StopIteration:
        raise ValueError(f"{path}: not an OpenSim motion file (no 'endheader' line)") from None
    header = dict(line.split("=", 1) for line in lines[:end] if "=" in line)
    names = lines[end + 1].split("\t")
    if not names or names[0].strip().lower() != "time":
        raise ValueError(f"{path}: expected a 'time' column first after 'endheader', got {names[:1]}")
    rows = [line.split("\t") for line in lines[end + 2:] if line.strip()]
    bad = [i for i, row in enumerate(rows) if len(row) != len(names)]
    if bad:
        raise ValueError(f"{path}: row {bad[0] + 1} has {len(rows[bad[0]])} values, expected {len(names)}")
    table = np.array([[float(v) for v in row] for row in rows], np.float64).reshape(len(rows), len(names))
    return header, table[:, 0], {n.strip(): table[:, i] for i, n in enumerate(names) if i > 0}
