"""Camera calibration files: the intrinsics a lift can take from a file instead of guessing them.

:func:`read_camera` reads

- OpenCV's camera files, YAML (``cv::FileStorage``: ``%YAML:1.0`` and ``!!opencv-matrix`` nodes, as
  ``calibrateCamera`` samples write them) or JSON: a 3x3 camera matrix under ``camera_matrix``,
  ``K`` or ``cameraMatrix`` (a nested 3x3 list, 9 numbers, or an OpenCV matrix node
  ``{rows, cols, data}``), the image size as ``image_width`` / ``image_height`` or
  ``image_size`` / ``size`` [width, height], and optionally ``distortion_coefficients`` (or
  ``dist_coeffs``, ``D``);
- Pose2Sim's calibration TOML (``Calib*.toml``): one table per camera with ``name``, ``size``
  [width, height], ``matrix`` (3x3), ``distortions``; a file with several cameras needs the name
  of the one that filmed the clip;
- Qualisys' calibration (``*.qca.txt``, XML, what Pose2Sim's demos ship and convert): per
  ``camera`` (its ``serial`` the name) the ``fov_video`` window and the ``intrinsic`` focal
  lengths and centre in 1/64 pixel, as Pose2Sim reads them. A document type declaration (where
  entities are declared) is refused before parsing: no entity of an untrusted file is expanded.

Every malformed file is refused with a message naming the file, the field and what was expected.
The lens distortion is recorded, not applied: the lifter's camera is a pinhole.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

#: Where a camera matrix may be stored, in the order looked for.
MATRIX_KEYS = ("camera_matrix", "K", "cameraMatrix")
DISTORTION_KEYS = ("distortion_coefficients", "dist_coeffs", "distortions", "D")
#: Qualisys calibration files, by the end of their name.
QUALISYS_SUFFIXES = (".qca.txt", ".qca")
#: Qualisys stores the intrinsics in 1/64 pixel.
QUALISYS_SUBPIXELS = 64.0
#: Image sizes whose aspect ratios differ by more than this do not belong to one camera.
ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True)
class CameraFile:
    """The intrinsics of one calibrated camera.

    Attributes:
        focal: (fx, fy) pixels; centre: (cx, cy) pixels; size: (width, height) pixels of the
        images the calibration was made at; distortion: the file's distortion coefficients
        (recorded, not applied); source: the file (and the camera's name) for the result.
    """

    focal: tuple[float, float]
    centre: tuple[float, float]
    size: tuple[int, int]
    distortion: tuple[float, ...]
    source: str

    def scaled_to(self, image_size: tuple[int, int]) -> "CameraFile":
        """The same camera for frames of ``image_size`` (width, height): the intrinsics scale with
        the image (a video recorded below the calibration's resolution).

        Raises:
            ValueError: the aspect ratios differ (another camera, or the frames turned).
        """
        width, height = image_size
        if (width, height) == self.size:
            return self
        sx, sy = width / self.size[0], height / self.size[1]
        if abs(sx / sy - 1) > ASPECT_TOLERANCE:
            raise ValueError(f"{self.source}: calibrated for {self.size[0]}x{self.size[1]} images, the frames are "
                             f"{width}x{height} (another aspect ratio: another camera, or the video is turned)")
        return CameraFile((self.focal[0] * sx, self.focal[1] * sy), (self.centre[0] * sx, self.centre[1] * sy),
                          (width, height), self.distortion, self.source)


def read_camera(path: str | Path, name: Optional[str] = None) -> CameraFile:
    """The camera of an OpenCV YAML / JSON, Pose2Sim TOML or Qualisys file (by its suffix: .yaml /
    .yml / .json / .toml / .qca.txt). ``name``: which camera of a file holding several (Pose2Sim,
    Qualisys).

    Raises:
        ValueError: no such file, an unknown suffix, or a field missing or malformed (named).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such camera file")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file; expected an OpenCV YAML / JSON, a Pose2Sim TOML or a Qualisys "
                         "camera file") from None
    if suffix in (".yaml", ".yml"):
        data = _yaml(text, path)
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    elif suffix == ".toml":
        return _pose2sim(_toml(text, path), path, name)
    elif path.name.lower().endswith(QUALISYS_SUFFIXES):
        return _qualisys(text, path, name)
    else:
        raise ValueError(f"{path}: unknown camera file type {suffix!r}; expected .yaml / .yml / .json (OpenCV), "
                         ".toml (Pose2Sim) or .qca.txt (Qualisys)")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of fields (camera_matrix, image_width, ...), got "
                         f"{type(data).__name__}")
    if name is not None:
        raise ValueError(f"{path}: holds one camera; a camera name ({name!r}) is for Pose2Sim files with several")
    return _opencv(data, path)


def _yaml(text: str, path: Path) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML with OpenCV's matrix nodes (``!!opencv-matrix``) read as plain mappings."""

    def matrix(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        return loader.construct_mapping(node, deep=True)

    for tag in ("tag:yaml.org,2002:opencv-matrix", "!opencv-matrix"):
        Loader.add_constructor(tag, matrix)
    lines = text.splitlines()
    if lines and lines[0].startswith("%YAML:"):  # OpenCV's header, which YAML 1.1 parsers refuse
        lines = lines[1:]
        if lines and lines[0].strip() == "---":
            lines = lines[1:]
    try:
        return yaml.load("\n".join(lines), Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None


def _toml(text: str, path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None


def _numbers(value: Any, count: int, path: Path, field: str) -> list[float]:
    """``count`` finite numbers from a flat or nested list, or an OpenCV matrix node."""
    try:
        numbers = [float(v) for v in _flat(value)]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{path}: field {field!r}: expected {count} finite numbers, got {value!r}")
    return numbers


def _intrinsics(matrix: Any, size: Any, distortion: Any, path: Path, field: str, source: str) -> CameraFile:
    k = _numbers(matrix, 9, path, field)
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if not (fx > 0 and fy > 0) or k[1] != 0 or k[3] != 0 or k[6:] != [0.0, 0.0, 1.0]:
        raise ValueError(f"{path}: field {field!r}: expected a camera matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] "
                         f"with fx, fy > 0, got {k}")
    w, h = _numbers(size, 2, path, "image size")
    if not (w >= 1 and h >= 1 and w == int(w) and h == int(h)):
        raise ValueError(f"{path}: image size: expected whole pixels (width, height) >= 1, got {[w, h]}")
    dist = () if distortion is None else tuple(_numbers(distortion, len(_flat(distortion)), path, "distortions"))
    return CameraFile((fx, fy), (cx, cy), (int(w), int(h)), dist, source)


def _flat(value: Any) -> list:
    """The items of a flat or nested list, or of an OpenCV matrix node's data, in order."""
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in _flat(item)]
    return [value]


def _opencv(data: dict, path: Path) -> CameraFile:
    field = next((k for k in MATRIX_KEYS if k in data), None)
    if field is None:
        raise ValueError(f"{path}: no camera matrix: expected a field {' / '.join(MATRIX_KEYS)} (3x3), found fields "
                         f"{sorted(data)}")
    if "image_width" in data or "image_height" in data:
        size = [data.get("image_width"), data.get("image_height")]
    else:
        size = next((data[k] for k in ("image_size", "size", "imageSize") if k in data), None)
    if size is None:
        raise ValueError(f"{path}: no image size: expected image_width and image_height (or image_size "
                         "[width, height]): the calibration's pixels depend on it")
    distortion = next((data[k] for k in DISTORTION_KEYS if k in data), None)
    return _intrinsics(data[field], size, distortion, path, field, str(path))


def _pose2sim(data: dict, path: Path, name: Optional[str]) -> CameraFile:
    cameras = {key: value for key, value in data.items() if isinstance(value, dict) and "matrix" in value}
    if not cameras:
        raise ValueError(f"{path}: no camera: expected Pose2Sim tables with a 'matrix' field ([cam_01] ...), found "
                         f"{sorted(data)}")
    key = _pick({str(value.get("name", key)): key for key, value in cameras.items()}, path, name)
    table = cameras[key]
    if "size" not in table:
        raise ValueError(f"{path}: [{key}] has no field 'size' ([width, height] pixels)")
    return _intrinsics(table["matrix"], table["size"], table.get("distortions"), path, f"[{key}] matrix",
                       f"{path} ({table.get('name', key)})")


def _pick(names: dict[str, str], path: Path, name: Optional[str]) -> str:
    """The key of the camera called ``name`` among ``names`` (name -> key; a key is a name too), or
    of the only one."""
    if name is None:
        if len(names) > 1:
            raise ValueError(f"{path}: holds {len(names)} cameras ({', '.join(names)}); say which filmed the clip "
                             "(--camera-name / camera_name)")
        return next(iter(names.values()))
    if name in names:
        return names[name]
    if name in names.values():
        return name
    raise ValueError(f"{path}: no camera named {name!r}; it holds {', '.join(names)}")


def _qualisys(text: str, path: Path, name: Optional[str]) -> CameraFile:
    import xml.etree.ElementTree as ET
    if "<!DOCTYPE" in text:  # where XML declares entities; outside it they are a parse error
        raise ValueError(f"{path}: a document type declaration; a Qualisys calibration has none (refused unparsed: "
                         "no entity of an untrusted file is expanded)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError(f"{path}: not valid XML ({err})") from None
    cameras = {str(c.get("serial")): c for c in root.findall("cameras/camera")}
    if not cameras:
        raise ValueError(f"{path}: no camera: expected <calibration><cameras><camera serial=...> elements")
    key = _pick({k: k for k in cameras}, path, name)
    camera = cameras[key]
    fov, intrinsic = camera.find("fov_video"), camera.find("intrinsic")
    if fov is None or intrinsic is None:
        raise ValueError(f"{path}: camera {key!r}: expected <fov_video> and <intrinsic> elements")

    def numbers(element, fields: tuple[str, ...]) -> list[float]:
        return _numbers([element.get(f) for f in fields], len(fields), path,
                        f"camera {key!r} <{element.tag}> {' / '.join(fields)}")
    left, top, right, bottom = numbers(fov, ("left", "top", "right", "bottom"))
    fu, fv, cu, cv = (v / QUALISYS_SUBPIXELS for v in numbers(
        intrinsic, ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV")))
    distortion = [intrinsic.get(f) for f in ("radialDistortion1", "radialDistortion2", "radialDistortion3",
                                             "tangentalDistortion1", "tangentalDistortion2")]
    return _intrinsics([[fu, 0, cu - left], [0, fv, cv - top], [0, 0, 1]], [right - left + 1, bottom - top + 1],
                       None if None in distortion else distortion, path, f"camera {key!r} intrinsic",
                       f"{path} ({key})")
