"""2D keypoint detectors that run offline from a pip wheel, for ``ddhpose video``.

MediaPipe Pose (the ``video`` extra: ``pip install 'ddhpose[video]'``) is the one bundled path:
its 0.10.21 wheel ships the pose landmark model (later releases download it at run time, which
fails offline). Each detector maps an RGB frame (H, W, 3) uint8 to a list of people, each a
(K, 2) array of pixels and a (K,) array of scores in the detector's own score semantics, and
names the keypoint layout and the score threshold that fits those semantics.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

VIDEO_EXTRA = "pip install 'ddhpose[video]'"


class DetectorUnavailableError(ImportError, ValueError):
    """The detector's package is not installed; the message says how to install it."""


class Detector(Protocol):
    name: str
    layout: str
    score_threshold: float

    def __call__(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]: ...

    def close(self) -> None: ...


class MediaPipePose:
    """MediaPipe Pose (BlazePose full, one person per frame, its own temporal tracking).

    Scores are MediaPipe's landmark *visibility* (how likely the landmark is visible, not a
    heat-map confidence as COCO detectors give), so the threshold below is MediaPipe's own.
    """

    name = "mediapipe"
    layout = "mediapipe33"
    score_threshold = 0.5

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        try:
            import mediapipe as mp
        except ImportError as err:
            raise DetectorUnavailableError(
                f"the video detector needs MediaPipe, which is not installed ({err}); install it with: "
                f"{VIDEO_EXTRA}") from None
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                            min_detection_confidence=min_detection_confidence,
                                            min_tracking_confidence=min_tracking_confidence)

    def __call__(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an RGB frame (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        found = self._pose.process(np.ascontiguousarray(rgb)).pose_landmarks
        if found is None:
            return []
        h, w = rgb.shape[:2]
        marks = np.array([[m.x * w, m.y * h, m.visibility] for m in found.landmark], dtype=np.float64)
        return [(marks[:, :2], marks[:, 2])]

    def close(self) -> None:
        self._pose.close()


def get_detector(name: str = "mediapipe") -> Detector:
    """A detector by name ('mediapipe')."""
    if name == "mediapipe":
        return MediaPipePose()
    raise ValueError(f"unknown detector {name!r}; available: ['mediapipe']")
