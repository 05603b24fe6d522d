"""Camera parameters in VideoPose3D's conventions (method section 8).

A camera file is JSON: subject -> list of dicts with ``id``, ``rotation`` (3x3 world-to-camera,
``x_cam = R (x_world - T)``), ``translation`` (the camera centre ``T``, metres),
``focal_length`` (2), ``center`` (2), ``radial_distortion`` (k1, k2, k3),
``tangential_distortion`` (p1, p2 in VideoPose3D order), ``res_w``, ``res_h`` (pixels).
The Human3.6M cameras ship with the package (``assets/h36m_cameras.json``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import torch

from ddhpose.geometry import normalize_intrinsics

_VECTOR_FIELDS = {"translation": 3, "focal_length": 2, "center": 2, "radial_distortion": 3,
                  "tangential_distortion": 2}


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    Attributes:
        id: the camera's name (Human3.6M serial number).
        rotation: (3, 3) float64 world-to-camera rotation R.
        translation: (3,) float64 camera centre T in world coordinates, metres.
        intrinsics: (9,) float64 pixel intrinsics [fx, fy, cx, cy, k1, k2, k3, p1, p2].
        width, height: image resolution in pixels.
    """

    id: str
    rotation: np.ndarray
    translation: np.ndarray
    intrinsics: np.ndarray
    width: int
    height: int

    def normalized_intrinsics(self) -> np.ndarray:
        """(9,) float32 screen-normalised intrinsics (``geometry.normalize_intrinsics``)."""
        out = normalize_intrinsics(torch.tensor(self.intrinsics), self.width, self.height)
        return out.numpy().astype(np.float32)


def _vector(entry: dict, key: str, size: int, where: str) -> np.ndarray:
    if key not in entry:
        raise ValueError(f"{where}: missing field {key!r}")
    try:
        value = np.asarray(entry[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{where}.{key}: expected {size} numbers, got {entry[key]!r:.80}") from None
    if value.shape != (size,) or not np.isfinite(value).all():
        raise ValueError(f"{where}.{key}: expected {size} finite numbers, got {entry[key]!r:.80}")
    return value


def _rotation(entry: dict, where: str) -> np.ndarray:
    if "rotation" not in entry:
        raise ValueError(f"{where}: missing field 'rotation'")
    try:
        rot = np.asarray(entry["rotation"], dtype=np.float64)
    except (TypeError, ValueError):
        rot = np.zeros(0)
    if rot.shape != (3, 3) or not np.isfinite(rot).all():
        raise ValueError(f"{where}.rotation: expected a 3x3 matrix of finite numbers, got shape {rot.shape}")
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
        raise ValueError(f"{where}.rotation: not a rotation matrix (R R^T != I or det(R) < 0)")
    return rot


def _resolution(entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or value != int(value):
        raise ValueError(f"{where}.{key}: expected a positive integer number of pixels, got {value!r}")
    return int(value)


def _parse_camera(entry: Any, where: str) -> Camera:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a camera object, got {type(entry).__name__}")
    if "id" not in entry:
        raise ValueError(f"{where}: missing field 'id'")
    rotation = _rotation(entry, where)
    vec = {key: _vector(entry, key, size, where) for key, size in _VECTOR_FIELDS.items()}
    if (vec["focal_length"] <= 0).any():
        raise ValueError(f"{where}.focal_length: expected positive values, got {vec['focal_length'].tolist()}")
    intrinsics = np.concatenate([vec["focal_length"], vec["center"], vec["radial_distortion"],
                                 vec["tangential_distortion"]])
    for arr in (rotation, vec["translation"], intrinsics):
        arr.flags.writeable = False
    return Camera(id=str(entry["id"]), rotation=rotation, translation=vec["translation"],
                  intrinsics=intrinsics, width=_resolution(entry, "res_w", where),
                  height=_resolution(entry, "res_h", where))


def parse_cameras(data: Any, source: str = "<cameras>") -> dict[str, list[Camera]]:
    """Validate a decoded camera file (subject -> list of camera dicts) into :class:`Camera` lists."""
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{source}: expected an object mapping subject -> list of cameras")
    out: dict[str, list[Camera]] = {}
    for subject, entries in data.items():
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{source}: {subject}: expected a non-empty list of cameras")
        out[str(subject)] = [_parse_camera(e, f"{source}: {subject}[{i}]") for i, e in enumerate(entries)]
    return out


def load_cameras_json(path: str | os.PathLike) -> dict[str, list[Camera]]:
    """Read a camera file of the format in the module docstring.

    Raises:
        ValueError: unreadable JSON or a missing/malformed field (the message names file and field).
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source}: not valid JSON ({err})") from None
    return parse_cameras(data, source)


@lru_cache(maxsize=1)
def _shipped() -> dict[str, tuple[Camera, ...]]:
    text = (resources.files("ddhpose") / "assets" / "h36m_cameras.json").read_text(encoding="utf-8")
    return {k: tuple(v) for k, v in parse_cameras(json.loads(text), "ddhpose/assets/h36m_cameras.json").items()}


def h36m_cameras() -> dict[str, list[Camera]]:
    """The Human3.6M cameras shipped with the package: subject ('S1'...) -> 4 cameras in
    VideoPose3D order (54138969, 55011271, 58860488, 60457274)."""
    return {subject: list(cams) for subject, cams in _shipped().items()}
