"""NumPy keypoint arrays: .npy (F, K, 2|3) or .npz with 'keypoints' / 'positions_2d' and extras
('scores', 'image_size', 'layout', 'frames', 'fps')."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ddhpose.lifting.inputs.detections import frame_rate
from ddhpose.lifting.inputs.fields import parse_size
from ddhpose.lifting.keypoints import KeypointTrack, get_layout, layout_for, make_track
from ddhpose.safe_pickle import load_plain


def read_array(path: Path, layout: str | None, size: tuple[int, int] | None) -> KeypointTrack:
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
    fps = None
    if "fps" in members:
        if members["fps"].shape != () or not np.issubdtype(members["fps"].dtype, np.number):
            raise ValueError(f"{src}: 'fps' expected one positive number, got shape {members['fps'].shape} "
                             f"({members['fps'].dtype})")
        fps = frame_rate({"fps": members["fps"].item()}, src)
    if "layout" in extra:
        layout = layout or str(extra["layout"])
    if "image_size" in extra:
        file_size = parse_size(extra["image_size"], src, "'image_size'")
        if size and size != file_size:
            raise ValueError(f"{src}: image_size argument {size} disagrees with the file's {file_size}")
        size = file_size
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3, 4) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{src}: '{key}' has shape {arr.shape} ({arr.dtype}); expected numbers (F, K, 2|3|4)")
    if len(arr) == 0:
        raise ValueError(f"{src}: '{key}' has no frames; expected (F, K, 2|3|4) with F >= 1")
    count = arr.shape[1]
    lay = get_layout(layout or layout_for(count, src, ambiguous_17=True))
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
    track = make_track(kp, scores, frames, 0, lay.name, size, src)
    return replace(track, fps=fps) if fps else track
