"""Readers for 2D keypoints as common detectors write them; one :class:`KeypointTrack` per person.

Formats (``read_keypoints`` picks by extension and content):

- ``.json``, COCO results: ``[{'image_id'|'frame_id'|'frame', 'keypoints': [x, y, s] * K,
  'track_id'?}, ...]`` (MMPose, Detectron2, AlphaPose).
- ``.json``, MMPose frames: ``[{'frame_id', 'instances': [{'keypoints': [[x, y], ...],
  'keypoint_scores', 'track_id'?}]}]``, optionally inside ``{'meta_info', 'instance_info'}``.
- ``.json``, COCO dataset: ``{'images': [{'id', 'width', 'height'}], 'annotations': [...]}``.
- a folder of OpenPose ``*_keypoints.json`` files (``'people'`` -> ``'pose_keypoints_2d'``),
  or of MMPose per-image ``*.json`` predictions (a list of instances each).
- ``.json``, MediaPipe Pose: ``[{'landmarks': [{'x', 'y', 'z', 'visibility'}] * 33}, ...]``
  (also 'pose_landmarks', or protobuf's ``{'landmark': [...]}``; ``null`` for frames without a
  person), coordinates normalised to [0, 1] (the image size is needed to get pixels).
- ``.npy`` / ``.npz``: (F, K, 2|3|4) arrays; npz keys 'keypoints' or 'positions_2d', and
  optionally 'scores', 'image_size', 'layout', 'frames'. Pickled objects are refused.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from .keypoints import LAYOUTS, KeypointTrack, get_layout
from .tracking import TrackingOptions, associate_tracks, keep_tracks
from .safe_pickle import load_plain

__all__ = ["KeypointTrack", "LAYOUT_BY_COUNT", "read_keypoints"]

#: The layout a JSON file with K keypoints per person is read as.
LAYOUT_BY_COUNT = {17: "coco", 25: "openpose25", 33: "mediapipe33"}
_FRAME_KEYS = ("image_id", "frame_id", "frame", "frame_index")
_ID_KEYS = ("track_id", "person_id", "idx")
_MEDIAPIPE_KEYS = {"landmarks", "pose_landmarks", "landmark"}
_SIZE_KEYS = (("width", "height"), ("image_width", "image_height"), ("img_width", "img_height"))


class _Det(NamedTuple):
    frame: int
    track_id: Optional[int]
    keypoints: np.ndarray  # (K, 2)
    scores: np.ndarray  # (K,)
    score: Optional[float] = None  # the detector's per-detection score, if it gives one

    @property
    def confidence(self) -> float:
        """The detection's score, else the mean of its keypoint scores (NaN counts as 0)."""
        return float(self.score) if self.score is not None else float(np.nan_to_num(self.scores).mean())


def _score_of(item: dict) -> Optional[float]:
    value = next((item[k] for k in ("score", "bbox_score") if k in item), None)
    if isinstance(value, list) and len(value) == 1:  # MMPose writes bbox_score as [s]
        value = value[0]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_keypoints(path: str | os.PathLike, layout: str | None = None, *,
                   image_size: Sequence[int] | None = None,
                   tracking: TrackingOptions | None = None) -> list[KeypointTrack]:
    """Read a keypoint file (or an OpenPose folder) into one track per person, sorted by id.

    Args:
        layout: the keypoint layout; needed for 17-joint arrays (COCO or Human3.6M?), and
            otherwise detected from the joint count (17 in JSON: 'coco', 25: 'openpose25',
            33: 'mediapipe33').
        image_size: (width, height), used when the file does not say (needed for MediaPipe).
        tracking: how detections become people (:class:`ddhpose.tracking.TrackingOptions`):
            low-score detections and short tracks (false positives) are dropped, and tracks
            never join two people across a gap. Default: ``TrackingOptions()``.
    Returns:
        one :class:`KeypointTrack` per person; files with track ids keep them, files without are
        split into people by :func:`ddhpose.tracking.associate_tracks`.
    Raises:
        ValueError: unreadable, empty or malformed files, with the file and field named.
    """
    path = Path(path)
    src = str(path)
    size = None if image_size is None else _size(image_size, src, "image_size argument")
    if not path.exists():
        raise ValueError(f"{src}: no such file or folder")
    if path.is_dir():
        if any(path.glob("*_keypoints.json")):
            dets, file_size = _read_openpose(sorted(path.glob("*_keypoints.json")), src), None
        else:
            dets, file_size = _read_per_image(sorted(path.glob("*.json")), src), None
    elif path.name.endswith("_keypoints.json"):  # one OpenPose frame
        dets, file_size = _read_openpose([path], src), None
    elif path.suffix.lower() in (".npy", ".npz"):
        return [_read_array(path, layout, size)]
    elif path.suffix.lower() == ".json":
        data = _load_json(path)
        file_size = _size_in(data, src)
        dets = _parse_json(data, src, file_size or size)
    else:
        raise ValueError(f"{src}: unsupported keypoint file; expected .json, .npy, .npz or an OpenPose folder")
    if size and file_size and tuple(size) != tuple(file_size):
        raise ValueError(f"{src}: image_size argument {size} disagrees with the file's {file_size}")
    return _tracks(dets, layout, file_size or size, src, tracking or TrackingOptions())


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; expected keypoint JSON") from None
    if not text.strip():
        raise ValueError(f"{path}: empty file; expected keypoint JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON (truncated?): {err.msg} at line {err.lineno} "
                         f"column {err.colno}") from None


def _size(value: Any, src: str, field: str) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.shape != (2,) or not np.issubdtype(arr.dtype, np.number) or not (arr > 0).all():
        raise ValueError(f"{src}: {field} expected (width, height) > 0, got {value!r}")
    return int(arr[0]), int(arr[1])


def _size_in(data: Any, src: str) -> tuple[int, int] | None:
    """Image size from 'images' width/height, or 'image_size' / 'width'+'height' keys."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("images"), list):
        sizes = {(im.get("width"), im.get("height")) for im in data["images"] if isinstance(im, dict)}
        sizes.discard((None, None))
        if len(sizes) > 1:
            raise ValueError(f"{src}: 'images' have different width/height {sorted(sizes)}; "
                             "expected one size for a video")
        return _size(sizes.pop(), src, "'images' width/height") if sizes else None
    for holder, where in ((data, ""), (data.get("meta_info"), "'meta_info' ")):
        if not isinstance(holder, dict):
            continue
        if "image_size" in holder:
            return _size(holder["image_size"], src, f"{where}'image_size'")
        for w, h in _SIZE_KEYS:
            if w in holder and h in holder:
                return _size((holder[w], holder[h]), src, f"{where}'{w}'/'{h}'")
    return None


def _frame_index(value: Any, src: str, field: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    digits = re.findall(r"\d+", value) if isinstance(value, str) else []
    if not digits:  # AlphaPose writes image names such as '12.jpg'
        raise ValueError(f"{src}: {field} expected an integer frame index, got {value!r}")
    return int(digits[-1])


def _track_id(item: dict) -> int | None:
    for key in _ID_KEYS:
        value = item.get(key)
        if isinstance(value, list):  # OpenPose writes person_id as [-1]
            value = value[0] if len(value) == 1 else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return None


def _instance(item: Any, src: str, where: str, key: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (K, 2) and scores (K,) of one detected person, flat or nested."""
    if not isinstance(item, dict) or key not in item:
        raise ValueError(f"{src}: {where} expected a dict with '{key}', got {str(item)[:80]}")
    try:
        arr = np.asarray(item[key], dtype=np.float64)
        scores = item.get("keypoint_scores")
        scores = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"{src}: {where} '{key}' expected numbers, [x, y, s] * K or "
                         f"[[x, y], ...], got {str(item[key])[:80]}") from None
    if arr.ndim == 1 and arr.size % 3 == 0:
        arr = arr.reshape(-1, 3)
    if arr.ndim != 2 or arr.shape[1] not in (2, 3) or arr.shape[0] not in LAYOUT_BY_COUNT:
        raise ValueError(f"{src}: {where} '{key}' has shape {arr.shape}; expected [x, y, s] * K "
                         f"or [[x, y], ...] with K in {sorted(LAYOUT_BY_COUNT)}")
    if scores is None:
        scores = arr[:, 2] if arr.shape[1] == 3 else np.ones(len(arr))
    if scores.shape != (len(arr),):
        raise ValueError(f"{src}: {where} 'keypoint_scores' has {scores.size} values; expected {len(arr)}")
    return arr[:, :2], scores


def _parse_json(data: Any, src: str, size: tuple[int, int] | None) -> list[_Det]:
    if isinstance(data, dict):
        if "annotations" in data:
            return _coco_dataset(data, src)
        if "people" in data:
            return _openpose_frame(data, 0, src)
        for key in ("instance_info", "frames"):
            if key in data:
                return _parse_json(data[key], f"{src} '{key}'", size)
    elif isinstance(data, list) and any(isinstance(x, dict) and _MEDIAPIPE_KEYS & x.keys() for x in data) \
            and all(x is None or isinstance(x, dict) for x in data):  # MediaPipe, null without a person
        return _mediapipe(data, src, size)
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        if "instances" in data[0]:
            return [_Det(_frame_index(f.get("frame_id", i), src, f"frame {i} 'frame_id'"), _track_id(p),
                         *_instance(p, src, f"frame {i} instance {n}"), _score_of(p))
                    for i, f in enumerate(data) for n, p in enumerate(_as_list(f.get("instances"), src, i))]
        if "keypoints" in data[0]:
            return [_Det(_frame_index(next((p[k] for k in _FRAME_KEYS if k in p), 0), src, f"instance {n} frame"),
                         _track_id(p), *_instance(p, src, f"instance {n}"), _score_of(p)) for n, p in enumerate(data)]
    elif isinstance(data, list) and not data:
        raise ValueError(f"{src}: the JSON list is empty; expected at least one detection")
    raise ValueError(f"{src}: unrecognised keypoint JSON (top level {type(data).__name__}); expected COCO "
                     "results [{'image_id', 'keypoints'}], MMPose [{'frame_id', 'instances'}], a COCO "
                     "dict with 'annotations', OpenPose {'people'} or MediaPipe [{'landmarks'}]")


def _as_list(value: Any, src: str, frame: int) -> list:
    if value is not None and not isinstance(value, list):
        raise ValueError(f"{src}: frame {frame} 'instances' expected a list, got {type(value).__name__}")
    return value or []


def _coco_dataset(data: dict, src: str) -> list[_Det]:
    frame_of = {im.get("id"): im.get("frame_id", im.get("id")) for im in data.get("images") or []
                if isinstance(im, dict)}
    dets = []
    for n, ann in enumerate(data["annotations"] or []):
        where = f"'annotations'[{n}]"
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise ValueError(f"{src}: {where} expected a dict with 'image_id' and 'keypoints'")
        kp, sc = _instance(ann, src, where)
        if np.isin(sc, (0, 1, 2)).all():  # visibility flags of annotations, not scores
            sc = (sc > 0).astype(np.float64)
            kp = np.where(sc[:, None] > 0, kp, np.nan)
        frame = _frame_index(frame_of.get(ann["image_id"], ann["image_id"]), src, f"{where} 'image_id'")
        dets.append(_Det(frame, _track_id(ann), kp, sc))
    return dets


def _openpose_frame(data: Any, frame: int, src: str) -> list[_Det]:
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise ValueError(f"{src}: expected an OpenPose dict with a 'people' list")
    dets = []
    for n, person in enumerate(people):
        kp, sc = _instance(person, src, f"'people'[{n}]", "pose_keypoints_2d")
        kp = np.where(sc[:, None] > 0, kp, np.nan)  # OpenPose writes 0, 0, 0 for undetected joints
        dets.append(_Det(frame, _track_id(person), kp, sc))
    return dets


def _read_openpose(files: list[Path], where: str) -> list[_Det]:
    """OpenPose frames, ordered by the frame number in each '*_keypoints.json' name."""
    if not files:
        raise ValueError(f"{where}: no OpenPose '*_keypoints.json' files in the folder")
    numbers = [re.search(r"(\d+)_keypoints\.json$", f.name) for f in files]
    frames = [int(m.group(1)) for m in numbers] if all(numbers) else list(range(len(files)))
    if len(set(frames)) != len(frames):
        raise ValueError(f"{where}: several '*_keypoints.json' files share a frame number")
    order = np.argsort(frames, kind="stable")
    return [d for i in order for d in _openpose_frame(_load_json(files[i]), frames[i], str(files[i]))]


def _read_per_image(files: list[Path], where: str) -> list[_Det]:
    """MMPose's per-image predictions (``pred_out_dir``): one JSON list of instances per frame,
    ordered by the last number in each file name (else by name)."""
    if not files:
        raise ValueError(f"{where}: no OpenPose '*_keypoints.json' nor per-image '*.json' files in the folder")
    numbers = [re.findall(r"\d+", f.stem) for f in files]
    frames = [int(n[-1]) for n in numbers] if all(numbers) else list(range(len(files)))
    if len(set(frames)) != len(frames):
        frames = list(range(len(files)))
    dets = []
    for frame, file in sorted(zip(frames, files)):
        data = _load_json(file)
        people = data.get("instances", data.get("instance_info")) if isinstance(data, dict) else data
        if not isinstance(people, list):
            raise ValueError(f"{file}: expected a list of instances with 'keypoints' (MMPose per-image predictions)")
        dets += [_Det(frame, _track_id(p), *_instance(p, str(file), f"instance {n}"), _score_of(p))
                 for n, p in enumerate(people)]
    return dets


def _mediapipe(frames: list, src: str, size: tuple[int, int] | None) -> list[_Det]:
    if size is None:
        raise ValueError(f"{src}: MediaPipe landmarks are normalised to [0, 1]; the file has no image "
                         "size, pass image_size=(width, height) to read_keypoints")
    dets = []
    for i, f in enumerate(frames):
        marks = next((f[k] for k in ("landmarks", "pose_landmarks", "landmark") if k in f), None) \
            if isinstance(f, dict) else None
        if isinstance(marks, dict):  # protobuf MessageToDict: {'landmark': [...]}
            marks = marks.get("landmark")
        if marks is not None and not isinstance(marks, list):
            raise ValueError(f"{src}: frame {i} 'landmarks' expected a list, got {type(marks).__name__}")
        people = [marks] if marks and isinstance(marks[0], dict) else (marks or [])
        for n, person in enumerate(people):
            where = f"frame {i} 'landmarks'" + (f"[{n}]" if len(people) > 1 else "")
            try:
                arr = np.array([[m["x"], m["y"], m.get("visibility", m.get("presence", 1.0))] for m in person],
                               dtype=np.float64)
            except (TypeError, KeyError, ValueError):
                raise ValueError(f"{src}: {where} expected a list of {{'x', 'y', 'visibility'}} dicts") from None
            if arr.shape[0] != 33:
                raise ValueError(f"{src}: {where} has {arr.shape[0]} landmarks; expected 33 (MediaPipe Pose)")
            frame = _frame_index(next((f[k] for k in _FRAME_KEYS if k in f), i), src, f"frame {i} index")
            dets.append(_Det(frame, _track_id(f) if len(people) == 1 else None, arr[:, :2] * size, arr[:, 2]))
    return dets


def _read_array(path: Path, layout: str | None, size: tuple[int, int] | None) -> KeypointTrack:
    src = str(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{src}: empty file; expected a NumPy (F, K, 2|3) keypoint array")
    members = load_plain(path, "numeric keypoint arrays (F, K, 2|3)")
    if "array" in members and len(members) == 1:
        members = {"keypoints": members["array"]}
    key = next((k for k in ("keypoints", "positions_2d") if k in members), None)
    if key is None:
        raise ValueError(f"{src}: no 'keypoints' or 'positions_2d' array; found {sorted(members)}")
    arr = members[key]
    extra = {k: members[k] for k in ("scores", "image_size", "layout", "frames") if k in members}
    if "layout" in extra:
        layout = layout or str(extra["layout"])
    if "image_size" in extra:
        file_size = _size(extra["image_size"], src, "'image_size'")
        if size and size != file_size:
            raise ValueError(f"{src}: image_size argument {size} disagrees with the file's {file_size}")
        size = file_size
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3, 4) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{src}: '{key}' has shape {arr.shape} ({arr.dtype}); expected numbers (F, K, 2|3|4)")
    if len(arr) == 0:
        raise ValueError(f"{src}: '{key}' has no frames; expected (F, K, 2|3|4) with F >= 1")
    count = arr.shape[1]
    if layout is None and count == 17:
        raise ValueError(f"{src}: 17 joints is ambiguous between COCO and Human3.6M order; pass layout='coco' "
                         "or layout='h36m'")
    lay = get_layout(layout or _layout_for(count, src))
    if arr.shape[-1] == 4 and lay.name != "mediapipe33":
        raise ValueError(f"{src}: 4 channels (x, y, z, visibility) are MediaPipe's; expected (F, K, 2|3)")
    kp = arr[..., :2].astype(np.float64)
    scores = extra.get("scores", arr[..., -1] if arr.shape[-1] > 2 else np.isfinite(kp).all(-1))
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != arr.shape[:2]:
        raise ValueError(f"{src}: 'scores' has shape {scores.shape}; expected {arr.shape[:2]}")
    if lay.name == "mediapipe33" and np.nanmax(np.abs(kp), initial=0.0) <= 2.0:  # normalised landmarks
        if size is None:
            raise ValueError(f"{src}: MediaPipe landmarks are normalised to [0, 1]; pass "
                             "image_size=(width, height) to read_keypoints")
        kp = kp * size
    frames = np.asarray(extra.get("frames", np.arange(len(arr))), dtype=np.int64)
    if frames.shape != (len(arr),):
        raise ValueError(f"{src}: 'frames' has shape {frames.shape}; expected ({len(arr)},)")
    return _make_track(kp, scores, frames, 0, lay.name, size, src)


def _layout_for(count: int, src: str) -> str:
    if count not in LAYOUT_BY_COUNT:
        raise ValueError(f"{src}: {count} keypoints per person; expected one of {sorted(LAYOUT_BY_COUNT)} "
                         f"({', '.join(LAYOUT_BY_COUNT.values())})")
    return LAYOUT_BY_COUNT[count]


def _make_track(kp: np.ndarray, scores: np.ndarray, frames: np.ndarray, track_id: int, layout: str,
                size: tuple[int, int] | None, src: str) -> KeypointTrack:
    if not np.isfinite(kp).any():
        raise ValueError(f"{src}: keypoints of track {track_id} are all NaN; expected detected keypoints")
    if kp.shape[1] != LAYOUTS[layout].num_joints:
        raise ValueError(f"{src}: keypoints have {kp.shape[1]} joints; layout {layout!r} expects "
                         f"{LAYOUTS[layout].num_joints}")
    order = np.argsort(frames, kind="stable")
    return KeypointTrack(kp[order].astype(np.float32), scores[order].astype(np.float32),
                         frames[order].astype(np.int64), int(track_id), layout, size, src)


def _tracks(dets: list[_Det], layout: str | None, size: tuple[int, int] | None, src: str,
            tracking: TrackingOptions) -> list[KeypointTrack]:
    if not dets:
        raise ValueError(f"{src}: no person detected in any frame; expected at least one detection")
    counts = {len(d.keypoints) for d in dets}
    if len(counts) > 1:
        raise ValueError(f"{src}: detections have different keypoint counts {sorted(counts)}; expected one")
    lay = get_layout(layout or _layout_for(counts.pop(), src))
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
    if any(i is None for i in ids):  # no ids in the file: track by position
        ids = associate_tracks([d.frame for d in dets], [d.keypoints for d in dets], [d.scores for d in dets],
                               lay.name, max_gap=tracking.max_gap,
                               max_jump_px=None if size is None else tracking.max_jump * size[0])
    people: dict[int, dict[int, _Det]] = {}
    for tid, d in zip(ids, dets):
        seen = people.setdefault(tid, {}).get(d.frame)
        # an id seen twice in one frame: keep the surer detection
        if seen is None or np.nan_to_num(d.scores).mean() > np.nan_to_num(seen.scores).mean():
            people[tid][d.frame] = d
    kept = keep_tracks({tid: len(per) for tid, per in people.items()}, tracking.min_frames, span, src)
    return [_make_track(np.stack([d.keypoints for d in per.values()]), np.stack([d.scores for d in per.values()]),
                        np.array(list(per)), tid, lay.name, size, src)
            for tid, per in sorted(people.items()) if tid in kept]
