"""The files of a :class:`~ddhpose.lifting.result.LiftResult`: ``.npz`` and ``.json``.

Both files hold the same thing under the names of :class:`LiftResult`'s attributes. ``.npz``
(read with ``np.load(path, allow_pickle=False)``; nothing in it is pickled, strings are NumPy
unicode arrays):

- ``poses`` (F, 17, 3) float32 metres, camera frame, root-relative (joint 0 is 0);
- ``hypotheses`` (H, F, 17, 3) float32; ``uncertainty`` (F, 17) float32 metres;
- ``keypoints_2d`` (F, 17, 2) float32 pixels, the Human3.6M-order input after gap filling;
- ``missing`` (F, 17) bool (interpolated keypoints); ``scores`` (F, 17) float32;
- ``frames`` (F,) int64 video frame indices; ``image_size`` (2,) int64 (width, height);
- ``joint_names`` (17,) str; ``parents`` (17,) int64;
- ``units``, ``coordinate_frame``, ``world_coordinate_frame``, ``aggregation``, ``world_note``
  (0-d str); ``track_id`` (0-d int64);
- optionally ``focal_length`` (0-d float64, pixels), ``root_trajectory`` (F, 3) float32 metres
  (the camera-frame pelvis position), ``bone_lengths`` (17,) float32 metres (the track's constant
  bone lengths, when held fixed), ``fps`` (0-d float64, the frame rate of ``frames``),
  ``world_poses`` (F, 17, 3) float32 metres (absolute, world frame: y up, floor y = 0),
  ``foot_contacts`` (F, 2) bool (left, right), and ``provenance`` / ``world_frame`` (0-d str,
  JSON: how the result was made; the camera -> world transform and how it was found);
- ``angle_names`` (N,) str and ``angles`` (F, N) float32 degrees, NaN where missing: the joint and
  segment angles (:mod:`ddhpose.lifting.angles`), for other readers: :func:`load_result` computes
  them again from the poses (``LiftResult.angles``), so files written before them still load.

``.json`` starts with the same metadata (and ``angle_names``) and then lists one entry per frame
(``frame``, ``pose``, ``uncertainty``, ``keypoints_2d``, ``missing``, ``scores``, ``hypotheses``,
``angles`` and, when known, ``root_trajectory``, ``world_pose`` and ``foot_contact``); unknown
scores and missing angles are ``null``.
Files written before the names matched the attributes (``poses_3d`` / ``pose_3d``) still load.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ddhpose.files import atomic_path
from ddhpose.lifting.angles import ANGLE_NAMES, angle_table
from ddhpose.lifting.result import WORLD_FRAME, LiftResult
from ddhpose.lifting.world import WorldFrame
from ddhpose.safe_pickle import load_plain
from ddhpose.skeleton import H36M

FORMATS = (".npz", ".json")
JSON_FORMAT = "ddhpose-lift-result"
_ARRAYS = ("poses", "hypotheses", "uncertainty", "keypoints_2d", "missing", "scores", "frames", "image_size")


def result_format(path: str | os.PathLike) -> str:
    """The file format of ``path`` from its extension: '.npz' or '.json'."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported result extension {suffix!r}; expected one of {', '.join(FORMATS)}")
    return suffix


def save_result(result: LiftResult, path: str | os.PathLike) -> Path:
    """Write ``result`` to ``path`` (.npz or .json by extension), atomically. Returns the path."""
    fmt = result_format(path)
    with atomic_path(path) as tmp:
        write_result(result, tmp, fmt)
    return Path(path)


def write_result(result: LiftResult, path: str | os.PathLike, fmt: str) -> None:
    """Write ``result`` to exactly ``path`` in format ``fmt`` ('.npz' or '.json'), not atomically:
    callers pass a path from :func:`ddhpose.files.atomic_path` (as :func:`save_result` does)."""
    if fmt == ".npz":
        with open(path, "wb") as fh:
            np.savez(fh, **_npz_arrays(result))
    elif fmt == ".json":
        Path(path).write_text(_json_text(result), encoding="utf-8")
    else:
        raise ValueError(f"{path}: unsupported result format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _npz_arrays(r: LiftResult) -> dict[str, np.ndarray]:
    arrays = {"poses": r.poses, "hypotheses": r.hypotheses, "uncertainty": r.uncertainty,
              "keypoints_2d": r.keypoints_2d, "missing": r.missing, "scores": r.scores, "frames": r.frames,
              "image_size": np.asarray(r.image_size, np.int64), "joint_names": np.asarray(r.joint_names, np.str_),
              "parents": np.asarray(r.parents, np.int64), "units": np.asarray(r.units, np.str_),
              "coordinate_frame": np.asarray(r.coordinate_frame, np.str_),
              "aggregation": np.asarray(r.aggregation, np.str_), "track_id": np.asarray(r.track_id, np.int64),
              "world_coordinate_frame": np.asarray(WORLD_FRAME, np.str_), "world_note": np.asarray(r.world_note, np.str_),
              "angle_names": np.asarray(ANGLE_NAMES, np.str_), "angles": angle_table(r.angles).astype(np.float32)}
    if r.focal_length is not None:
        arrays["focal_length"] = np.asarray(r.focal_length, np.float64)
    if r.root_trajectory is not None:
        arrays["root_trajectory"] = r.root_trajectory
    if r.bone_lengths is not None:
        arrays["bone_lengths"] = r.bone_lengths
    if r.fps is not None:
        arrays["fps"] = np.asarray(r.fps, np.float64)
    if r.provenance is not None:
        arrays["provenance"] = np.asarray(json.dumps(r.provenance), np.str_)
    if r.world_poses is not None:
        arrays["world_poses"] = r.world_poses
    if r.foot_contacts is not None:
        arrays["foot_contacts"] = r.foot_contacts
    if r.world_frame is not None:
        arrays["world_frame"] = np.asarray(json.dumps(r.world_frame.to_dict()), np.str_)
    return arrays


def _tolist(a: np.ndarray, decimals: int = 6) -> list:
    """Rounded nested lists with NaN / inf as None (JSON has no NaN)."""
    a = np.asarray(a)
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    a = np.round(a.astype(np.float64), decimals)
    return np.where(np.isfinite(a), a, None).tolist()


def _json_text(r: LiftResult) -> str:
    header = {"format": JSON_FORMAT, **r.metadata, "image_size": list(r.image_size), "num_frames": r.num_frames,
              "num_hypotheses": r.num_hypotheses, "joint_names": list(r.joint_names), "parents": list(r.parents),
              "angle_names": list(ANGLE_NAMES), "angle_units": "degrees"}
    if r.bone_lengths is not None:
        header["bone_lengths"] = _tolist(r.bone_lengths)
    hyp = r.hypotheses.transpose(1, 0, 2, 3)  # (F, H, J, 3)
    angles = angle_table(r.angles)
    frames = []
    for i in range(r.num_frames):
        frame = {"frame": int(r.frames[i]), "pose": _tolist(r.poses[i]), "uncertainty": _tolist(r.uncertainty[i]),
                 "keypoints_2d": _tolist(r.keypoints_2d[i]), "missing": _tolist(r.missing[i]),
                 "scores": _tolist(r.scores[i]), "hypotheses": _tolist(hyp[i]), "angles": _tolist(angles[i], 3)}
        if r.root_trajectory is not None:
            frame["root_trajectory"] = _tolist(r.root_trajectory[i])
        if r.world_poses is not None:
            frame["world_pose"] = _tolist(r.world_poses[i])
        if r.foot_contacts is not None:
            frame["foot_contact"] = _tolist(r.foot_contacts[i])
        frames.append(frame)
    # metadata indented for reading, then one line per frame
    head = json.dumps(header, indent=2)[:-2]
    body = ",\n    ".join(json.dumps(fr) for fr in frames)
    return f'{head},\n  "frames": [\n    {body}\n  ]\n}}\n'


def load_result(path: str | os.PathLike) -> LiftResult:
    """Read a result file written by :func:`save_result` (.npz or .json).

    Raises:
        ValueError: unknown extension, unreadable or pickled file, or missing / malformed fields
            (the message names the file and the field).
    """
    fmt = result_format(path)
    try:
        return _load_npz(Path(path)) if fmt == ".npz" else _load_json(Path(path))
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, ValueError) and str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a valid lift result ({type(err).__name__}: {err})") from None


def _load_npz(path: Path) -> LiftResult:
    arrays = load_plain(path, "lift-result arrays")
    if "poses_3d" in arrays and "poses" not in arrays:  # the name before 0.2
        arrays["poses"] = arrays.pop("poses_3d")
    missing = sorted(set(_ARRAYS) - set(arrays))
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; has {sorted(arrays)}")
    text = {k: str(arrays[k]) for k in ("units", "coordinate_frame", "aggregation") if k in arrays}
    return LiftResult(
        poses=arrays["poses"], hypotheses=arrays["hypotheses"], uncertainty=arrays["uncertainty"],
        keypoints_2d=arrays["keypoints_2d"], missing=arrays["missing"], scores=arrays["scores"],
        frames=arrays["frames"], image_size=tuple(arrays["image_size"].tolist()),
        track_id=int(arrays.get("track_id", 0)), focal_length=float(arrays["focal_length"])
        if "focal_length" in arrays else None, root_trajectory=arrays.get("root_trajectory"),
        bone_lengths=arrays.get("bone_lengths"), fps=float(arrays["fps"]) if "fps" in arrays else None,
        provenance=json.loads(str(arrays["provenance"])) if "provenance" in arrays else None,
        joint_names=tuple(arrays.get("joint_names", np.asarray(H36M.names)).tolist()),
        parents=tuple(arrays.get("parents", np.asarray(H36M.parents)).tolist()),
        world_poses=arrays.get("world_poses"), foot_contacts=arrays.get("foot_contacts"),
        world_frame=WorldFrame.from_dict(json.loads(str(arrays["world_frame"]))) if "world_frame" in arrays else None,
        world_note=str(arrays.get("world_note", "")), **text)


def _load_json(path: Path) -> LiftResult:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise ValueError(f"{path}: expected a JSON object with \"format\": \"{JSON_FORMAT}\"")
    frames = doc["frames"]
    if not isinstance(frames, list) or not frames:
        raise ValueError(f"{path}: 'frames' expected a non-empty list of per-frame entries")

    def column(key: str, dtype: Any) -> np.ndarray:
        return np.asarray([fr[key] for fr in frames], dtype=dtype)

    def optional(key: str, dtype: Any) -> np.ndarray | None:
        return column(key, dtype) if key in frames[0] else None

    return LiftResult(
        poses=column("pose" if "pose" in frames[0] else "pose_3d", np.float32),
        hypotheses=column("hypotheses", np.float32).transpose(1, 0, 2, 3),
        uncertainty=column("uncertainty", np.float32), keypoints_2d=column("keypoints_2d", np.float32),
        missing=column("missing", bool), scores=column("scores", np.float32), frames=column("frame", np.int64),
        image_size=tuple(doc["image_size"]), track_id=doc.get("track_id", 0), aggregation=doc["aggregation"],
        focal_length=doc.get("focal_length"), root_trajectory=optional("root_trajectory", np.float32),
        world_poses=optional("world_pose", np.float32), foot_contacts=optional("foot_contact", bool),
        world_frame=None if doc.get("world_frame") is None else WorldFrame.from_dict(doc["world_frame"]),
        world_note=doc.get("world_note", ""), joint_names=tuple(doc["joint_names"]),
        bone_lengths=None if doc.get("bone_lengths") is None else np.asarray(doc["bone_lengths"], np.float32),
        fps=doc.get("fps"), provenance=doc.get("provenance"),
        parents=tuple(doc["parents"]), units=doc["units"], coordinate_frame=doc["coordinate_frame"])
