"""The detections file of ``ddhpose video`` (``OUT.detections.json``): every person its 2D
detector found in every frame, with the video's size and frame rate, so a video's people can be
lifted again without detecting them again (``ddhpose lift OUT.detections.json``)::

    {"format": "ddhpose-detections", "image_size": [w, h], "fps": 30.0, "num_frames": 90,
     "layout": "mediapipe33", "detector": "mediapipe", "score_threshold": 0.5, "video": {...},
     "frames": [{"frame": 0, "keypoints": [[x, y], ...], "keypoint_scores": [...],
                 "track_id"?: 1, "score"?: 0.97}, ...]}
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ddhpose.lifting.inputs.coco import coco_results
from ddhpose.lifting.inputs.fields import parse_size
from ddhpose.lifting.tracking import Detection
from ddhpose.lifting.keypoints import get_layout

DETECTIONS_FORMAT = "ddhpose-detections"


@dataclass(frozen=True, eq=False)
class Detections:
    """What a 2D detector found in a video: detections (pixels of the video's frames) with the
    facts needed to lift them (layout, image size, frame count and rate)."""

    detections: list[Detection]
    layout: str
    image_size: tuple[int, int]
    num_frames: int
    fps: Optional[float] = None
    detector: str = ""
    source: str = ""
    video: dict = field(default_factory=dict)

    @property
    def score_threshold(self) -> float:
        return get_layout(self.layout).score_threshold

    def to_json(self) -> dict[str, Any]:
        frames = []
        for d in self.detections:
            item = {"frame": int(d.frame), "keypoints": np.round(d.keypoints, 2).tolist(),
                    "keypoint_scores": np.round(d.scores, 4).tolist()}
            if d.track_id is not None:
                item["track_id"] = int(d.track_id)
            if d.score is not None:
                item["score"] = round(float(d.score), 4)
            frames.append(item)
        return {"format": DETECTIONS_FORMAT, "image_size": list(self.image_size), "fps": self.fps,
                "num_frames": self.num_frames, "layout": self.layout, "detector": self.detector,
                "score_threshold": self.score_threshold, "video": self.video, "frames": frames}

    @classmethod
    def from_json(cls, data: dict, src: str) -> "Detections":
        """Read the document :meth:`to_json` writes; errors name ``src`` and the field."""
        if not isinstance(data, dict) or data.get("format") != DETECTIONS_FORMAT:
            raise ValueError(f"{src}: expected a JSON object with \"format\": \"{DETECTIONS_FORMAT}\"")
        frames = data.get("frames")
        if not isinstance(frames, list):
            raise ValueError(f"{src}: 'frames' expected a list of detections")
        return cls(coco_results(frames, f"{src} 'frames'"), get_layout(str(data.get("layout"))).name,
                   parse_size(data.get("image_size"), src, "'image_size'"),
                   int(data.get("num_frames") or 1 + max((d["frame"] for d in frames), default=0)),
                   frame_rate(data, src), str(data.get("detector", "")), src, dict(data.get("video") or {}))


def frame_rate(data: Any, src: str) -> Optional[float]:
    """The 'fps' a keypoint document states (None if it states none); a stated rate must be > 0."""
    if not isinstance(data, dict) or data.get("fps") is None:
        return None
    value = data["fps"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{src}: 'fps' expected a positive frame rate, got {value!r}")
    return float(value)
