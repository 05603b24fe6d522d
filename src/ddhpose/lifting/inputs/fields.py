"""What every keypoint format shares: one detection, and the readers of its fields."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ddhpose.lifting.keypoints import LAYOUT_BY_COUNT

FRAME_KEYS = ("image_id", "frame_id", "frame", "frame_index")
ID_KEYS = ("track_id", "person_id", "idx")
SIZE_KEYS = (("width", "height"), ("image_width", "image_height"), ("img_width", "img_height"))


def score_of(item: dict) -> Optional[float]:
    value = next((item[k] for k in ("score", "bbox_score") if k in item), None)
    if isinstance(value, list) and len(value) == 1:  # MMPose writes bbox_score as [s]
        value = value[0]
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def load_json(path: Path) -> Any:
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


def parse_size(value: Any, src: str, field: str) -> tuple[int, int]:
    arr = np.asarray(value).reshape(-1)
    if arr.shape != (2,) or not np.issubdtype(arr.dtype, np.number) or not (arr > 0).all():
        raise ValueError(f"{src}: {field} expected (width, height) > 0, got {value!r}")
    return int(arr[0]), int(arr[1])


def size_in(data: Any, src: str) -> tuple[int, int] | None:
    """Image size from 'images' width/height, or 'image_size' / 'width'+'height' keys."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("images"), list):
        sizes = {(im.get("width"), im.get("height")) for im in data["images"] if isinstance(im, dict)}
        sizes.discard((None, None))
        if len(sizes) > 1:
            raise ValueError(f"{src}: 'images' have different width/height {sorted(sizes)}; "
                             "expected one size for a video")
        return parse_size(sizes.pop(), src, "'images' width/height") if sizes else None
    for holder, where in ((data, ""), (data.get("meta_info"), "'meta_info' ")):
        if not isinstance(holder, dict):
            continue
        if "image_size" in holder:
            return parse_size(holder["image_size"], src, f"{where}'image_size'")
        for w, h in SIZE_KEYS:
            if w in holder and h in holder:
                return parse_size((holder[w], holder[h]), src, f"{where}'{w}'/'{h}'")
    return None


def frame_index(value: Any, src: str, field: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    digits = re.findall(r"\d+", value) if isinstance(value, str) else []
    if not digits:  # AlphaPose writes image names such as '12.jpg'
        raise ValueError(f"{src}: {field} expected an integer frame index, got {value!r}")
    return int(digits[-1])


def track_id(item: dict) -> int | None:
    for key in ID_KEYS:
        value = item.get(key)
        if isinstance(value, list):  # OpenPose writes person_id as [-1]
            value = value[0] if len(value) == 1 else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return None


def instance(item: Any, src: str, where: str, key: str = "keypoints") -> tuple[np.ndarray, np.ndarray]:
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
