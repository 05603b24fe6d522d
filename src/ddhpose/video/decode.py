"""Video frames in (imageio-ffmpeg), 2D keypoints out: decoding and per-frame detection."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from ddhpose.video.detectors import Detector, get_detector

DETECTIONS_FORMAT = "ddhpose-detections"


@dataclass(frozen=True)
class VideoInfo:
    """fps (frames per second), size (width, height) in pixels, frames (a count, or None when the
    container does not say)."""

    fps: float
    size: tuple[int, int]
    frames: int | None


def _open(path: Path) -> Any:
    import imageio.v2 as iio
    if not path.is_file():
        raise ValueError(f"{path}: no such video file")
    try:
        reader = iio.get_reader(str(path), "ffmpeg")
        meta = reader.get_meta_data()
    except Exception as err:  # imageio raises OSError, RuntimeError or its own errors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a readable video ({first})") from None
    return reader, meta


def _info(path: Path, meta: dict) -> VideoInfo:
    fps, size = meta.get("fps"), meta.get("size")
    if not fps or not size or min(size) <= 0:
        raise ValueError(f"{path}: the video has no frame rate or frame size (fps={fps}, size={size})")
    count = meta.get("nframes")
    return VideoInfo(float(fps), (int(size[0]), int(size[1])),
                     int(count) if isinstance(count, (int, float)) and np.isfinite(count) else None)


def read_frames(path: str | os.PathLike) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """(info, an iterator of RGB frames (H, W, 3) uint8). A frame that cannot be decoded ends
    the iterator with a ValueError that names the file and the frame."""
    path = Path(path)
    reader, meta = _open(path)
    info = _info(path, meta)

    def frames() -> Iterator[np.ndarray]:
        index = 0
        try:
            while True:
                try:
                    frame = reader.get_next_data()
                except IndexError:  # the end of the stream
                    break
                except Exception as err:
                    raise ValueError(f"{path}: frame {index} cannot be decoded ({type(err).__name__}: "
                                     f"{str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None
                yield np.asarray(frame)[..., :3]
                index += 1
        finally:
            reader.close()

    return info, frames()


def detect_video(path: str | os.PathLike, detector: Detector | None = None, *,
                 progress: bool = True) -> tuple[VideoInfo, dict]:
    """Detect 2D keypoints in every frame. Returns (info, detections) where detections is the
    JSON document :func:`write_detections` saves: image size, fps, the layout, the detector, its
    score threshold and a 'frames' list of detections ({'frame', 'keypoints' [[x, y], ...] in
    pixels, 'keypoint_scores'}), the form ``ddhpose lift`` reads.

    Raises:
        ValueError: unreadable video, no frames, or no person in any frame.
    """
    info, frames = read_frames(path)
    detector = detector or get_detector()
    people: list[dict] = []
    count = 0
    try:
        for i, rgb in enumerate(tqdm(frames, total=info.frames, desc="detecting 2D keypoints", unit="frame",
                                     disable=not progress)):
            for kp, score in detector(rgb):
                people.append({"frame": i, "keypoints": np.round(kp, 2).tolist(),
                               "keypoint_scores": np.round(score, 4).tolist()})
            count += 1
    finally:
        detector.close()
    if count == 0:
        raise ValueError(f"{path}: the video has no frames")
    if not people:
        raise ValueError(f"{path}: no person was detected in any of its {count} frames")
    return VideoInfo(info.fps, info.size, count), {
        "format": DETECTIONS_FORMAT, "image_size": list(info.size), "fps": info.fps, "num_frames": count,
        "layout": detector.layout, "detector": detector.name, "score_threshold": detector.score_threshold,
        "frames": people}


def overlay_frames(path: str | os.PathLike, frame_indices: Sequence[int]) -> Iterator[np.ndarray]:
    """The RGB frames of ``frame_indices`` (ascending), for drawing detections over the video."""
    wanted = iter(sorted(set(int(i) for i in frame_indices)))
    target = next(wanted, None)
    _, frames = read_frames(path)
    for i, rgb in enumerate(frames):
        if target is None:
            break
        if i == target:
            yield rgb
            target = next(wanted, None)
