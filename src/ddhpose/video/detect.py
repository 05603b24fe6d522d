"""2D keypoints of every person in every frame of a video, in one decoding pass."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ddhpose.lifting.inputs import Detections
from ddhpose.lifting.tracking import Detection
from ddhpose.video.decode import VideoInfo, frames_of, probe
from ddhpose.video.detectors import Detector, get_detector

#: Frames wider than this are scaled down (by ffmpeg, while decoding) before detection: the
#: detectors work on a 256 px crop of the person, so more pixels only cost time. The
#: keypoints are scaled back to the video's own pixels.
DETECTION_WIDTH = 1280


@contextlib.contextmanager
def native_logs_silenced() -> Iterator[None]:
    """Silence what C++ libraries print straight to the process's stderr (MediaPipe's and TFLite's
    start-up lines: GPU not available, XNNPACK delegate, feedback tensors): nothing a user can act
    on. Python keeps its own stderr (progress bars, warnings) on a copy of the real one; both are
    restored on leaving."""
    sys.stderr.flush()
    saved, python_stderr = os.dup(2), sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
                           errors="replace")
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def detection_size(info: VideoInfo, max_width: int | None = DETECTION_WIDTH) -> tuple[int, int]:
    """The (width, height) frames are decoded at for detection: the video's, or scaled down to
    ``max_width`` (even sizes, aspect kept)."""
    w, h = info.size
    if max_width is None or w <= max_width:
        return w, h
    return max_width - max_width % 2, max(2, int(round(h * max_width / w / 2)) * 2)


def detect_frames(frames: Iterable[np.ndarray], detector: Detector, *, scale: tuple[float, float] = (1.0, 1.0),
                  total: int | None = None, progress: bool = True,
                  keep: Callable[[int, np.ndarray], None] | None = None) -> tuple[list[Detection], int]:
    """Run ``detector`` on every frame: (detections in pixels times ``scale``, frames seen).
    ``keep(index, rgb)`` is called with every frame (e.g. to keep it for the render)."""
    found: list[Detection] = []
    count = 0
    factor = np.asarray(scale, np.float64)
    with native_logs_silenced():  # MediaPipe's graphs log as they start, on their first frames
        bar = tqdm(frames, total=total, desc="detecting people", unit="frame", disable=not progress,
                   dynamic_ncols=True)
        for i, rgb in enumerate(bar):
            people = detector(rgb)
            for kp, score in people:
                # rounded as the detections file stores them, so re-lifting the file gives the same 3D
                found.append(Detection(i, None, np.round(np.asarray(kp, np.float64) * factor, 2),
                                       np.round(np.asarray(score, np.float64), 4)))
            if keep is not None:
                keep(i, rgb)
            count += 1
        bar.close()
    return found, count


def detect_video(path: str | os.PathLike, detector: Detector | None = None, *, progress: bool = True,
                 max_width: int | None = DETECTION_WIDTH,
                 keep: Callable[[int, np.ndarray], None] | None = None) -> tuple[VideoInfo, Detections]:
    """Decode a video once and detect the people in every frame.

    Returns (the video's :class:`VideoInfo`, its :class:`Detections` in the video's pixels).
    ``keep(index, rgb)`` receives every decoded frame (at the detection size).

    Raises:
        ValueError: unreadable video, or no frames.
    """
    detector = detector or get_detector()
    try:
        info = probe(path)
        size = detection_size(info, max_width)
        frames = frames_of(info, size)
        scale = (info.size[0] / size[0], info.size[1] / size[1])
        found, count = detect_frames(frames, detector, scale=scale, total=info.frames, progress=progress, keep=keep)
    finally:
        detector.close()
    if count == 0:
        raise ValueError(f"{path}: the video has no frames")
    return info, Detections(found, detector.layout, info.size, count, info.fps, detector.name, str(path),
                            info.describe())
