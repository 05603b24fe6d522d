"""One file of every person of a clip: the people of a lift on one timeline, with a people axis
(``-o people.npz`` with several people writes it, beside ``people_track<id>.npz`` per person).

``.npz`` (``np.load(path, allow_pickle=False)``; nothing pickled):

- ``format`` "ddhpose-people"; ``person_ids`` (P,) int64, 0..P-1; ``person_files`` (P,) str: each
  person's own result file;
- ``frames`` (T,) int64: every frame from the first person's first to the last one's last;
- ``present`` (P, T) bool: the person's result covers the frame (seen or bridged by the lifter);
  ``seen`` (P, T) bool: the detector found them there (at least one keypoint not interpolated);
- ``poses`` (P, T, 17, 3) float32 metres (camera frame, root-relative), ``keypoints_2d``
  (P, T, 17, 2) float32 pixels, ``missing`` (P, T, 17) bool, ``uncertainty`` (P, T, 17) float32,
  and where every person has them ``root_trajectory`` (P, T, 3) and ``world_poses``
  (P, T, 17, 3) float32 metres (the shared world frame, ``world_frame`` JSON): NaN (False) where
  the person is not present;
- ``joint_names``, ``parents``, ``image_size``, ``fps``, ``units``, ``coordinate_frame``,
  ``world_coordinate_frame``.

``.json``: the same metadata, ``people`` (id, file, first and last frame) and one entry per
frame listing the people present (``id``, ``seen``, ``pose``, ``world_pose``, ``keypoints_2d``,
``missing``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ddhpose.lifting.result import WORLD_FRAME, LiftResult

PEOPLE_FORMAT = "ddhpose-people"
#: Per-frame arrays of a result that go onto the people axis, and their fill where absent.
_PER_FRAME = {"poses": np.nan, "keypoints_2d": np.nan, "uncertainty": np.nan, "missing": False,
              "root_trajectory": np.nan, "world_poses": np.nan}


def people_arrays(results: Sequence[LiftResult], files: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays of the people file of ``results`` (one per person, ids 0..P-1 in that order;
    ``files`` names each one's own result file)."""
    if not results:
        raise ValueError("results: expected at least one person")
    if len(files) != len(results):
        raise ValueError(f"files: expected one per person ({len(results)}), got {len(files)}")
    first = min(int(r.frames[0]) for r in results)
    last = max(int(r.frames[-1]) for r in results)
    frames = np.arange(first, last + 1, dtype=np.int64)
    out: dict[str, np.ndarray] = {
        "format": np.array(PEOPLE_FORMAT), "person_ids": np.array([r.track_id for r in results], np.int64),
        "person_files": np.array([str(f) for f in files]), "frames": frames,
        "present": np.zeros((len(results), len(frames)), bool), "seen": np.zeros((len(results), len(frames)), bool),
        "joint_names": np.array(results[0].joint_names), "parents": np.asarray(results[0].parents, np.int64),
        "image_size": np.asarray(results[0].image_size, np.int64), "units": np.array("metres"),
        "coordinate_frame": np.array("camera: x right, y down, z forward; root-relative"),
        "world_coordinate_frame": np.array(WORLD_FRAME)}
    if results[0].fps:
        out["fps"] = np.array(float(results[0].fps))
    for name, fill in _PER_FRAME.items():
        values = [getattr(r, name) for r in results]
        if any(v is None for v in values):
            continue
        stack = np.full((len(results), len(frames)) + values[0].shape[1:], fill,
                        dtype=bool if values[0].dtype == bool else np.float32)
        for k, (r, v) in enumerate(zip(results, values)):
            stack[k, r.frames - first] = v
        out[name] = stack
    for k, r in enumerate(results):
        out["present"][k, r.frames - first] = True
        out["seen"][k, r.frames - first] = ~np.asarray(r.missing).all(-1)
    frame = next((r.world_frame for r in results if r.world_frame is not None), None)
    if frame is not None and "world_poses" in out:
        out["world_frame"] = np.array(json.dumps(frame.to_dict()))
    return out


def write_people(results: Sequence[LiftResult], path: str | os.PathLike, fmt: str, files: Sequence[str]) -> None:
    """Write the people file of ``results`` to exactly ``path`` in ``fmt`` ('.npz' or '.json'), not
    atomically (callers pass a path from :func:`ddhpose.files.atomic_path`)."""
    arrays = people_arrays(results, files)
    if fmt == ".npz":
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)
        return
    if fmt != ".json":
        raise ValueError(f"{path}: unsupported people file format {fmt!r}; expected '.npz' or '.json'")
    def rounded(a: np.ndarray) -> list:
        return [None if not np.isfinite(v) else round(float(v), 5) for v in a.reshape(-1)]
    per_frame = []
    for t, f in enumerate(arrays["frames"]):
        here = []
        for k in np.flatnonzero(arrays["present"][:, t]):
            item = {"id": int(arrays["person_ids"][k]), "seen": bool(arrays["seen"][k, t]),
                    "pose": np.round(arrays["poses"][k, t], 5).tolist(),
                    "keypoints_2d": np.round(arrays["keypoints_2d"][k, t], 2).tolist(),
                    "missing": arrays["missing"][k, t].tolist()}
            if "world_poses" in arrays:
                item["world_pose"] = np.round(arrays["world_poses"][k, t], 5).tolist()
            if "root_trajectory" in arrays:
                item["root_trajectory"] = rounded(arrays["root_trajectory"][k, t])
            here.append(item)
        per_frame.append({"frame": int(f), "people": here})
    document = {
        "format": PEOPLE_FORMAT, "units": "metres", "fps": float(arrays["fps"]) if "fps" in arrays else None,
        "image_size": arrays["image_size"].tolist(), "joint_names": arrays["joint_names"].tolist(),
        "parents": arrays["parents"].tolist(), "coordinate_frame": str(arrays["coordinate_frame"]),
        "world_coordinate_frame": str(arrays["world_coordinate_frame"]),
        "world_frame": json.loads(str(arrays["world_frame"])) if "world_frame" in arrays else None,
        "people": [{"id": int(i), "file": str(p), "first_frame": int(arrays["frames"][row.argmax()]),
                    "last_frame": int(arrays["frames"][len(row) - 1 - row[::-1].argmax()])}
                   for i, p, row in zip(arrays["person_ids"], arrays["person_files"], arrays["present"])],
        "frames": per_frame}
    Path(path).write_text(json.dumps(document), encoding="utf-8")


def load_people(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a people file (.npz; a .json is read back into the same arrays)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data or str(data["format"]) != PEOPLE_FORMAT:
                raise ValueError(f"{path}: not a people file (expected 'format' = {PEOPLE_FORMAT!r})")
            return {k: data[k] for k in data.files}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != PEOPLE_FORMAT:
        raise ValueError(f"{path}: not a people file (expected \"format\": \"{PEOPLE_FORMAT}\")")
    ids = [p["id"] for p in doc["people"]]
    frames = np.array([f["frame"] for f in doc["frames"]], np.int64)
    joints = len(doc["joint_names"])
    present = np.zeros((len(ids), len(frames)), bool)
    poses = np.full((len(ids), len(frames), joints, 3), np.nan, np.float32)
    for t, entry in enumerate(doc["frames"]):
        for item in entry["people"]:
            k = ids.index(item["id"])
            present[k, t] = True
            poses[k, t] = item["pose"]
    return {"person_ids": np.array(ids, np.int64), "frames": frames, "present": present, "poses": poses,
            "person_files": np.array([p["file"] for p in doc["people"]])}
