"""A compact file of the world motion a 'mocap' config trains and monitors on.

Reading a config's mocap means parsing hundreds of BVH / ASF-AMC files and retargeting each to
the 17 joints, and its Human3.6M motion sits in a 74 MB file: neither travels to a machine that
gets only the working tree (a lent GPU machine takes 64 MiB in all). A pack holds the same motion
already retargeted and resampled, as whole millimetres coded frame to frame, compressed: about a
fifth of the size, read in seconds. ``data.motion_pack`` points a config at it
(:func:`ddhpose.data.sources.load_split`); the sequences filmed from it are those of the source
files (the same clips, names, order and camera draws) with every coordinate within 0.5 mm; a
virtual camera placed from the motion moves with it by as little (docs/training.md has the
measured differences).

Layout (an ``.npz`` of plain arrays, read with :func:`ddhpose.safe_pickle.load_npz`):

- ``mocap_train/<clip>``, ``mocap_test/<clip>``: (T, 17, 3) at ``mocap_fps``, in the order of the
  config's sorted file list;
- ``h36m/<subject>/<take>``: (T, 17, 3) Human3.6M world motion at its own 50 fps;
- ``meta``: a JSON string: format, the patterns, rate and subjects the pack was made from
  (a config that asks for other motion is refused).

Each clip is coded as int16 (int32 where a step does not fit): frame 0 in millimetres, then each
frame's difference from the one before; decoding is the cumulative sum, exact to the rounding.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ddhpose.files import atomic_path
from ddhpose.safe_pickle import load_npz

FORMAT = "ddhpose-motion-pack/1"
_GROUPS = ("mocap_train", "mocap_test", "h36m")


def encode(world: np.ndarray) -> np.ndarray:
    """(T, J, 3) metres -> (T, J, 3) integer millimetre steps (frame 0 absolute)."""
    mm = np.round(np.asarray(world, dtype=np.float64) * 1000.0).astype(np.int64)
    steps = np.concatenate([mm[:1], np.diff(mm, axis=0)], axis=0)
    small = np.abs(steps).max(initial=0) <= np.iinfo(np.int16).max
    return steps.astype(np.int16 if small else np.int32)


def decode(steps: np.ndarray, where: str = "pack") -> np.ndarray:
    """The inverse of :func:`encode`: (T, J, 3) float32 metres."""
    arr = np.asarray(steps)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype.kind != "i":
        raise ValueError(f"{where}: expected integer (T, J, 3) millimetre steps, got {arr.dtype} {arr.shape}")
    return (np.cumsum(arr.astype(np.int64), axis=0) / 1000.0).astype(np.float32)


def write_pack(path: str | os.PathLike, clips: Iterable[tuple[str, np.ndarray]], meta: dict[str, Any]) -> int:
    """Write ``(name, (T, J, 3) metres)`` clips, names '<group>/...', atomically. Returns bytes."""
    arrays = {"meta": np.array(json.dumps({"format": FORMAT, **meta}))}
    for name, world in clips:
        if name.split("/")[0] not in _GROUPS or name in arrays:
            raise ValueError(f"motion pack: clip name {name!r} is repeated or outside the groups {_GROUPS}")
        arrays[name] = encode(world)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return Path(path).stat().st_size


class MotionPack:
    """A pack read back: ``meta`` and ``clips(group)`` -> {name: (T, J, 3) metres}."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        raw = load_npz(self.path)
        try:
            self.meta = json.loads(str(raw.pop("meta")))
        except (KeyError, ValueError):
            raise ValueError(f"{self.path}: not a motion pack (no readable 'meta' member)") from None
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{self.path}: meta.format expected {FORMAT!r}, got {self.meta.get('format')!r}")
        self._raw = raw

    def clips(self, group: str) -> dict[str, np.ndarray]:
        """The clips of ``group`` ('mocap_train', 'mocap_test' or 'h36m/<subject>'), decoded,
        keyed by the rest of their name, in the pack's order."""
        prefix = group + "/"
        return {k[len(prefix):]: decode(v, f"{self.path}:{k}") for k, v in self._raw.items() if k.startswith(prefix)}

    def h36m(self, subjects: Iterable[str]) -> dict[str, dict[str, np.ndarray]]:
        """{subject: {take: (T, J, 3)}} of the Human3.6M motion of ``subjects``."""
        out = {s: self.clips(f"h36m/{s}") for s in subjects}
        missing = [s for s, takes in out.items() if not takes]
        if missing:
            raise ValueError(f"{self.path}: no Human3.6M motion of subjects {missing}; "
                             f"it holds {self.meta.get('subjects')}")
        return out

    def require(self, field: str, wanted: Any) -> None:
        """Refuse a config whose ``field`` differs from the one the pack was made from."""
        have = self.meta.get(field)
        if have != wanted:
            raise ValueError(f"{self.path}: made for data.{field}={have!r}, the config asks for {wanted!r}; "
                             "make the pack again from this config (tools/gpu_train.py pack)")
