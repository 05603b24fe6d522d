"""``ddhpose video``: a video file in, 3D out.

1. decode the video (imageio-ffmpeg) and detect 2D keypoints in every frame
   (:mod:`ddhpose.detectors`, MediaPipe Pose by default);
2. keep the detections as a keypoint file beside the result (``OUT.detections.json``, readable
   by ``ddhpose lift``, so a result can be re-lifted without detecting again);
3. lift every person with :func:`ddhpose.lift.lift_file` at the video's frame rate and image size;
4. optionally render the detections over the real frames beside the 3D.
Nothing is written unless every step succeeded; existing outputs are replaced atomically.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from .detectors import Detector, get_detector
from .files import atomic_path

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


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, size and (if known) frame count of a video file."""
    reader, meta = _open(Path(path))
    reader.close()
    return _info(Path(path), meta)


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


def write_detections(detections: dict, path: str | os.PathLike) -> Path:
    """Save detections (from :func:`detect_video`) atomically as JSON."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(detections), encoding="utf-8")
    return Path(path)


def lift_video(input_path: str | os.PathLike, output_path: str | os.PathLike, *, render: str | None = None,
               bvh: bool = False, detector: Detector | None = None, lifter: Any = None, fps: float | None = None,
               progress: bool = True, **lift_kwargs: Any) -> list[Path]:
    """Video file -> detections, 3D results (one per person), optional BVH and render.

    Writes ``OUTPUT`` (.npz or .json; ``_track<id>`` suffixes for several people), the
    detections as ``<OUTPUT stem>.detections.json``, with ``bvh`` a .bvh per result and with
    ``render`` an animation of the detections over the frames beside the 3D. ``fps`` overrides
    the video's frame rate; ``lift_kwargs`` go to :func:`ddhpose.lift.lift_file`.
    Returns the written paths.
    """
    from .lift import lift_file
    from .render import SUPPORTED_EXTENSIONS
    from .results import result_format
    output_path = Path(output_path)
    result_format(output_path)  # bad output names fail before the slow part
    if render and Path(render).suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"{render}: unsupported animation extension {Path(render).suffix!r}; expected one of "
                         f"{', '.join(SUPPORTED_EXTENSIONS)}")
    info, detections = detect_video(input_path, detector, progress=progress)
    rate = float(fps) if fps else info.fps
    detections["fps"] = rate
    det_path = output_path.with_name(output_path.stem + ".detections.json")
    with contextlib.ExitStack() as stack:  # the detections land only if the lift succeeds
        tmp = stack.enter_context(atomic_path(det_path))
        Path(tmp).write_text(json.dumps(detections), encoding="utf-8")
        lift_kwargs.setdefault("score_threshold", detections["score_threshold"])
        paths = lift_file(tmp, output_path, image_size=info.size, bvh=bvh, fps=rate, lifter=lifter,
                          layout=detections["layout"], **lift_kwargs)
    paths = [det_path] + paths
    if render:
        from .render import render_result
        results = [p for p in paths[1:] if p.suffix in (".npz", ".json")]
        target = Path(render)
        for path in results:
            suffix = path.stem[len(output_path.stem):] if len(results) > 1 else ""
            paths.append(render_result(path, target.with_name(target.stem + suffix + target.suffix),
                                       video=str(input_path), progress=progress))
    return paths


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
