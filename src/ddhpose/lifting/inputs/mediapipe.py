"""MediaPipe Pose landmarks: normalised to [0, 1], 33 per person, 'visibility' as the score."""
from __future__ import annotations

import numpy as np

from ddhpose.lifting.inputs.fields import FRAME_KEYS, frame_index, track_id
from ddhpose.lifting.tracking import Detection

MEDIAPIPE_KEYS = {"landmarks", "pose_landmarks", "landmark"}


def is_mediapipe(data: object) -> bool:
    """A JSON list of frames with MediaPipe landmarks (``null`` where no person was found)."""
    return isinstance(data, list) and any(isinstance(x, dict) and MEDIAPIPE_KEYS & x.keys() for x in data) \
        and all(x is None or isinstance(x, dict) for x in data)


def mediapipe_frames(frames: list, src: str, size: tuple[int, int] | None) -> list[Detection]:
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
            frame = frame_index(next((f[k] for k in FRAME_KEYS if k in f), i), src, f"frame {i} index")
            dets.append(Detection(frame, track_id(f) if len(people) == 1 else None, arr[:, :2] * size, arr[:, 2]))
    return dets
