"""2D keypoints of every person in every frame of a video, in one decoding pass.

The path goes one way: :mod:`ddhpose.video.decode` gives the video's facts and its frames (scaled
down to :data:`DETECTION_WIDTH`), :func:`detect_decoded` runs the detector (:func:`get_detector`)
on each and returns the detections in the video's own pixels; :func:`detect_video` does both.
"""
from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from ddhpose.lifting.inputs import Detections
from ddhpose.lifting.options import TrackingOptions
from ddhpose.lifting.tracking import Detection
from ddhpose.video.decode import VideoInfo, read_frames
from ddhpose.video.detectors import Detector, MediaPipePose
from ddhpose.video.people import PeopleDetector

#: Frames wider than this are scaled down (by ffmpeg, while decoding) before detection: the
#: detectors work on a 256 px crop of the person, so more pixels only cost time. The
#: keypoints are scaled back to the video's own pixels.
DETECTION_WIDTH = 1280


class DetectionFailed(RuntimeError):
    """The detector failed part way through a video: ``detections`` holds what it found in the
    frames before (``frames`` of them), so nothing already computed is lost."""

    def __init__(self, message: str, detections: Detections) -> None:
        super().__init__(message)
        self.detections = detections


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


def detect_frames(frames: Iterable[np.ndarray], detector: Detector, *, size: tuple[int, int] | None = None,
                  total: int | None = None, progress: bool = True,
                  keep: Callable[[int, np.ndarray], None] | None = None,
                  found: list[Detection] | None = None) -> tuple[list[Detection], int]:
    """Run ``detector`` on every frame: (detections, frames seen). Keypoints are scaled from each
    frame's pixels to ``size`` (width, height; default: the frames' own); a detector that follows
    people gives their track ids. ``keep(index, rgb)`` is called with every frame (e.g. to keep
    it for the render). ``found`` (appended to) keeps what was found if the detector fails."""
    found = [] if found is None else found
    count = 0
    with native_logs_silenced():  # MediaPipe's graphs log as they start, on their first frames
        bar = tqdm(frames, total=total, desc="detecting people", unit="frame", disable=not progress,
                   dynamic_ncols=True)
        for i, rgb in enumerate(bar):
            factor = np.ones(2) if size is None else np.array([size[0] / rgb.shape[1], size[1] / rgb.shape[0]])
            for person in detector(rgb):
                kp, score = person
                # rounded as the detections file stores them, so re-lifting the file gives the same 3D
                found.append(Detection(i, getattr(person, "track_id", None),
                                       np.round(np.asarray(kp, np.float64) * factor, 2),
                                       np.round(np.asarray(score, np.float64), 4)))
            if keep is not None:
                keep(i, rgb)
            count += 1
        bar.close()
    return found, count


def detect_video(path: str | os.PathLike, detector: Detector | None = None, *, progress: bool = True,
                 max_width: int | None = DETECTION_WIDTH,
                 keep: Callable[[int, np.ndarray], None] | None = None) -> tuple[VideoInfo, Detections]:
    """Decode a video once and detect the people in every frame (default detector:
    :func:`get_detector`'s). Returns (the video's :class:`VideoInfo`, its :class:`Detections` in the
    video's pixels); see :func:`detect_decoded`.

    Raises:
        ValueError: unreadable video, or no frames.
        DetectionFailed: the detector failed part way; it holds the detections of the frames before.
    """
    try:
        info, frames = read_frames(path, max_width=max_width)
    except Exception:
        if detector is not None:
            detector.close()
        raise
    return info, detect_decoded(info, frames, detector or get_detector(source=str(path)), progress=progress, keep=keep)


def detect_decoded(info: VideoInfo, frames: Iterable[np.ndarray], detector: Detector, *, progress: bool = True,
                   keep: Callable[[int, np.ndarray], None] | None = None) -> Detections:
    """The people in every frame of a video being decoded (``info``, ``frames`` from
    :func:`ddhpose.video.decode.read_frames`), in the video's own pixels. ``keep(index, rgb)``
    receives every decoded frame (at the detection size). The detector is closed at the end.

    Raises:
        ValueError: no frames, or a frame could not be decoded before any was detected.
        DetectionFailed: the detector or the decoder failed part way; it holds the detections of
            the frames before.
    """
    found: list[Detection] = []
    done = 0  # frames whose detection finished
    facts = info.describe()

    def counted(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal done
        for rgb in frames:
            yield rgb
            done += 1

    try:
        found, count = detect_frames(counted(frames), detector, size=info.size, total=info.frames,
                                     progress=progress, keep=keep, found=found)
    except Exception as err:
        if done == 0:
            raise
        found = [d for d in found if d.frame < done]
        partial = Detections(found, detector.layout, info.size, done, info.fps, detector.name, info.path, facts)
        raise DetectionFailed(f"{info.path}: detection stopped after {done} of {info.frames} frames: "
                              f"{type(err).__name__}: {err}", partial) from err
    finally:
        detector.close()
    if count == 0:
        raise ValueError(f"{info.path}: the video has no frames")
    return Detections(found, detector.layout, info.size, count, info.fps, detector.name, info.path, facts)


def get_detector(name: str = "mediapipe", *, max_people: int = 1, detect_every: int = 10,
                 max_gap: int = TrackingOptions.max_gap, max_jump: float = TrackingOptions.max_jump, source: str = "") -> Detector:
    """A detector by name ('mediapipe'): :class:`MediaPipePose` for ``max_people=1`` (MediaPipe's
    single-person solution, the fastest path), else :class:`PeopleDetector` (BlazePose's person
    detector every ``detect_every`` frames, each person followed by one landmark pass on their
    crop, identities from the tracker with ``max_gap`` and ``max_jump``; ``source`` names the video in its warnings)."""
    if name != "mediapipe":
        raise ValueError(f"unknown detector {name!r}; available: ['mediapipe']")
    if max_people < 1:
        raise ValueError(f"max_people: expected at least 1, got {max_people}")
    if max_people == 1:
        return MediaPipePose()
    return PeopleDetector(max_people, detect_every=detect_every, max_gap=max_gap, max_jump=max_jump, source=source)
