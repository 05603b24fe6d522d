"""Video in: what a file holds (its frames' real timing) and its decoded RGB frames.

Both come from the ffmpeg that imageio-ffmpeg ships. :func:`probe` reads the container's header
and the presentation time of every frame of the first video stream (a demux pass with ``-c copy``:
no decoding, so it costs a fraction of a second even for long clips); the frame rate is the
median interval of those timestamps and the frame count is what the stream holds, so a clip
joined from parts or recorded at a variable rate keeps its real frames. The length a file
promises is its video stream's: a container whose audio outlasts the video is not cut short. :func:`read_frames`
decodes every frame once, as stored (``-fps_mode passthrough``: no frame is duplicated or
dropped to fit a constant rate), rotated upright as the file says, optionally scaled down.
"""
from __future__ import annotations

import logging
import os
import re
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

#: A stream whose frame intervals differ from their median by more than this fraction has a
#: variable frame rate.
VFR_TOLERANCE = 0.1
#: Decoded frames may fall short of what the container promises by this many frames (rounding of
#: its duration, a trailing audio stream) before the file counts as cut short.
TRUNCATION_SLACK = 2


@dataclass(frozen=True, eq=False)
class VideoInfo:
    """A video file as :func:`probe` sees it.

    Attributes:
        path: the file.
        size: (width, height) of the decoded (upright) frames in pixels.
        fps: frames per second: 1 / the median interval of the frame timestamps (the stream's
            stated rate when it has fewer than two frames).
        frames: the frames the video stream holds.
        duration: seconds the file promises for its video stream (None when it does not say): the
            container's duration, or the video stream's own end where the audio outlasts it; for
            a truncation check.
        variable_fps: the intervals between frames vary (by more than :data:`VFR_TOLERANCE`).
        timestamps: (frames,) presentation time of every frame in seconds, from the first.
        rotation: degrees the frames are turned to stand upright (the file's display matrix).
        focal_length: pixels, where the file states its lens (a 35 mm-equivalent focal length tag,
            as phones write them), else None.
    """

    path: str
    size: tuple[int, int]
    fps: float
    frames: int
    duration: float | None = None
    variable_fps: bool = False
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rotation: int = 0
    focal_length: float | None = None

    @property
    def expected_frames(self) -> int | None:
        """Frames the container's duration promises at this frame rate (None if unknown)."""
        return None if self.duration is None else int(round(self.duration * self.fps))

    def describe(self) -> dict:
        """The facts a result records about its video (JSON-ready)."""
        return {"path": self.path, "size": list(self.size), "fps": self.fps, "frames": self.frames,
                "variable_fps": self.variable_fps, "duration": self.duration, "rotation": self.rotation,
                "focal_length": self.focal_length}


def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def _first_line(text: str, pattern: str) -> str:
    found = [line.strip() for line in text.splitlines() if re.search(pattern, line)]
    return found[-1] if found else (text.strip().splitlines() or ["unknown error"])[-1]


def _parse_header(text: str, path: str) -> tuple[tuple[int, int], float | None, float | None, int]:
    """(size, stated fps, duration, rotation) from ffmpeg's description of its input."""
    video = next((line for line in text.splitlines() if re.search(r"Stream #\S+.*: Video:", line)), None)
    if video is None:
        raise ValueError(f"{path}: not a readable video ({_first_line(text, r'(?i)invalid|error|not found')})")
    size = re.search(r"[, ](\d{2,5})x(\d{2,5})[, \[]", video + " ")
    if size is None:
        raise ValueError(f"{path}: the video stream states no frame size ({video})")
    rate = re.search(r"([\d.]+) (?:fps|tbr)", video)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    seconds = None if duration is None else (int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]))
    turn = re.search(r"rotation of (-?[\d.]+) degrees", text)
    rotation = int(round(float(turn[1]))) % 360 if turn else 0
    w, h = int(size[1]), int(size[2])
    if rotation in (90, 270):  # ffmpeg turns the frames upright when it decodes them
        w, h = h, w
    return (w, h), float(rate[1]) if rate else None, seconds or None, rotation


def _packets(framecrc: str, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """(presentation times (N,), durations (N,)) in seconds of one stream's packets, in file
    order, from ffmpeg's framecrc listing (columns: stream, dts, pts, duration, size, hash)."""
    base = re.search(rf"#tb {stream}: (\d+)/(\d+)", framecrc)
    num, den = (int(base[1]), int(base[2])) if base else (1, 1)
    rows = [(int(parts[2]), int(parts[3]) if parts[3].isdigit() else 0)
            for line in framecrc.splitlines() if line and not line.startswith("#")
            if len(parts := [p.strip() for p in line.split(",")]) >= 4 and parts[0] == str(stream)
            and parts[2].lstrip("-").isdigit()]
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 2) * num / den
    return values[:, 0], values[:, 1]


def _timestamps(framecrc: str) -> np.ndarray:
    """Presentation times (N,) of the video stream (stream 0) in seconds from its first frame."""
    times = np.sort(_packets(framecrc, 0)[0])
    return times - times[0] if len(times) else times


def _stream_ends(framecrc: str) -> list[float]:
    """When each stream of the listing ends (seconds from the earliest packet of any stream: its
    last packet's time plus duration), the video (stream 0) first."""
    streams = sorted({int(m) for m in re.findall(r"^#tb (\d+):", framecrc, re.M)})
    packets = [p for p in (_packets(framecrc, s) for s in streams) if len(p[0])]
    if not packets:
        return []
    start = min(float(pts.min()) for pts, _ in packets)
    return [float((pts + dur).max()) - start for pts, dur in packets]


def _video_duration(container: float | None, framecrc: str, fps: float) -> float | None:
    """The length the file promises for its video: the container's duration, unless another stream
    (the audio) ends there and the video stream's own packets end before it: then the video's end.
    A file cut short ends every stream early, so its container still promises more."""
    ends = _stream_ends(framecrc)
    if container is None or len(ends) < 2:
        return container
    video, others = ends[0], max(ends[1:])
    if others > video and abs(others - container) < 2.0 / fps:
        pts, dur = _packets(framecrc, 0)
        return float((pts + dur).max() - pts.min())  # the video stream's own length
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, frame timing and frame count without decoding it.

    Raises:
        ValueError: no such file, not a video, or a video stream without frames.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such video file")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:v:0", "-map", "0:a?", "-c", "copy",
           "-f", "framecrc", "-"]
    run = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    size, stated_fps, duration, rotation = _parse_header(run.stderr, str(path))
    times = _timestamps(run.stdout)
    if len(times) == 0:
        raise ValueError(f"{path}: not a readable video (its video stream holds no frames: "
                         f"{_first_line(run.stderr, r'(?i)invalid|error|partial|not found')})")
    steps = np.diff(times)
    steps = steps[steps > 0]
    if len(steps):
        median = float(np.median(steps))
        fps = 1.0 / median
        if stated_fps and abs(fps - stated_fps) < 1e-3 * stated_fps:
            fps = stated_fps  # the same rate, without the timestamps' rounding
        variable = bool((np.abs(steps - median) > VFR_TOLERANCE * median).any())
    elif stated_fps:
        fps, variable = stated_fps, False
    else:
        raise ValueError(f"{path}: the video states no frame rate and holds a single frame")
    duration = _video_duration(duration, run.stdout, fps)
    return VideoInfo(str(path), size, fps, len(times), duration, variable, times, rotation,
                     _focal_length(run.stderr, size))


#: The diagonal of a 35 mm film frame (36 x 24 mm), for 35 mm-equivalent focal lengths.
FILM_DIAGONAL_MM = 43.27


def _focal_length(header: str, size: tuple[int, int]) -> float | None:
    """Pixels from a 35 mm-equivalent focal length tag of the file's metadata (e.g. QuickTime's
    ``com.apple.quicktime.camera.focal_length.35mm_equivalent``), else None."""
    tag = re.search(r"focal[\w.]*35\w*\s*:\s*([\d.]+)", header, re.I)
    if tag is None or not float(tag[1]) > 0:
        return None
    return float(tag[1]) * float(np.hypot(*size)) / FILM_DIAGONAL_MM


def scaled_size(size: tuple[int, int], max_width: int | None) -> tuple[int, int]:
    """``size`` (width, height), or scaled down to ``max_width`` (even sizes, aspect kept)."""
    w, h = size
    if max_width is None or w <= max_width:
        return w, h
    return max_width - max_width % 2, max(2, int(round(h * max_width / w / 2)) * 2)


def read_frames(path: str | os.PathLike, size: tuple[int, int] | None = None, *, max_width: int | None = None
                ) -> tuple[VideoInfo, Iterator[np.ndarray]]:
    """(info, an iterator of RGB frames (h, w, 3) uint8): every frame of the first video stream once,
    upright, at ``size`` (width, height; default: the video's own, scaled down to ``max_width``
    when given: :func:`scaled_size`). See :func:`frames_of`."""
    info = probe(path)
    return info, frames_of(info, size or scaled_size(info.size, max_width))


def frames_of(info: VideoInfo, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The frames of a probed video, decoded when iterated.

    A frame that cannot be decoded ends the iterator with a ValueError naming the file and the
    frame. A file that ends before the frames its container promises warns, naming both counts.
    """
    width, height = info.size if size is None else (int(size[0]), int(size[1]))
    if width <= 0 or height <= 0:
        raise ValueError(f"size: expected positive (width, height), got {size}")
    scale = [] if (width, height) == info.size else ["-vf", f"scale={width}:{height}:flags=area"]
    return _frames(info, width, height, scale)


def _frames(info: VideoInfo, width: int, height: int, scale: list[str]) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    stream = imageio_ffmpeg.read_frames(info.path, pix_fmt="rgb24", input_params=["-nostdin"],
                                        output_params=["-map", "0:v:0", "-fps_mode", "passthrough", *scale])
    index = 0
    try:
        quiet = logging.getLogger("imageio_ffmpeg")  # it warns that the frames are scaled: they are on purpose
        level, quiet.level = quiet.level, logging.ERROR
        try:
            next(stream)  # the header, already read by probe
        finally:
            quiet.setLevel(level)
        for raw in stream:
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
            index += 1
    except RuntimeError as err:
        detail = next((line for line in str(err).splitlines()[1:] if line.strip()), "")
        raise ValueError(f"{info.path}: frame {index} cannot be decoded ({detail.strip()})") from None
    finally:
        stream.close()
    expected = max(info.frames, info.expected_frames or 0)
    if index < expected - TRUNCATION_SLACK:
        warnings.warn(f"{info.path}: the file ends early: {index} frames decoded, its container promises "
                      f"{expected} ({info.duration or info.frames / info.fps:.2f} s); it may be cut short "
                      "(an unfinished download or copy)", stacklevel=2)


def overlay_frames(path: str | os.PathLike, frame_indices: Sequence[int],
                   size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """The RGB frames of ``frame_indices`` (ascending), for drawing detections over the video."""
    wanted = iter(sorted(set(int(i) for i in frame_indices)))
    target = next(wanted, None)
    _, frames = read_frames(path, size)
    for i, rgb in enumerate(frames):
        if target is None:
            break
        if i == target:
            yield rgb
            target = next(wanted, None)
