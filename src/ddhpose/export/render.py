"""Animations of lifted poses: the 2D input next to the 3D result, as GIF or MP4.

One figure is built per clip and only the line data change from frame to frame; frames are
rendered off screen with Agg (no pyplot state) and streamed into an atomically written file.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d.art3d import Line3DCollection
from tqdm import tqdm

from ddhpose.export.results import load_result
from ddhpose.files import atomic_path
from ddhpose.lifting.result import LiftResult
from ddhpose.skeleton import H36M, Skeleton

SUPPORTED_EXTENSIONS = (".gif", ".mp4")

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = "#1f77b4", "#d62728", "#333333"


def _as_array(x) -> np.ndarray:
    """Torch tensors or array-likes to a float64 NumPy array (rendering is I/O, not model math)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _check(x: np.ndarray, name: str, shape: tuple[int | None, ...], expected: str) -> None:
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        raise ValueError(f"{name}: expected {expected}, got {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: expected finite values, found NaN or inf")


def _frames_first(hypotheses: np.ndarray, frames: int, joints: int) -> np.ndarray:
    """(F, H, J, 3) or (H, F, J, 3) -> (F, H, J, 3). When H == F the (H, F, ...) result-file
    layout is assumed."""
    _check(hypotheses, "hypotheses", (None, None, joints, 3), f"(F, H, {joints}, 3) or (H, F, {joints}, 3)")
    if hypotheses.shape[1] == frames:
        return hypotheses.transpose(1, 0, 2, 3)
    if hypotheses.shape[0] == frames:
        return hypotheses
    raise ValueError(f"hypotheses: expected {frames} frames on axis 0 or 1 (matching poses), "
                     f"got {tuple(hypotheses.shape)}")


def camera_to_display(points: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) to a z-up display frame: (x, z, -y). (..., 3).

    A proper rotation (no mirroring), so left stays left and the person stands upright.
    """
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def bone_colours(skeleton: Skeleton) -> list[str]:
    """One colour per ``skeleton.bones`` entry, chosen by the side of the child joint."""
    left, right = set(skeleton.joints_left), set(skeleton.joints_right)
    return [LEFT_COLOUR if c in left else RIGHT_COLOUR if c in right else CENTRE_COLOUR
            for _, c in skeleton.bones]


def _cube_limits(points: np.ndarray) -> np.ndarray:
    """Equal-extent (3, 2) axis limits holding every point of (..., 3), with a margin."""
    flat = points.reshape(-1, 3)
    lo, hi = flat.min(0), flat.max(0)
    radius = max(float((hi - lo).max()) / 2 * 1.1, 0.1)
    centre = (lo + hi) / 2
    return np.stack([centre - radius, centre + radius], axis=1)


def _square_limits(points: np.ndarray) -> np.ndarray:
    """Equal-extent (2, 2) limits holding every point of (..., 2), with a margin."""
    flat = points.reshape(-1, 2)
    lo, hi = flat.min(0), flat.max(0)
    radius = max(float((hi - lo).max()) / 2 * 1.15, 1e-3)
    centre = (lo + hi) / 2
    return np.stack([centre - radius, centre + radius], axis=1)


class _Scene:
    """The two-panel figure of one clip; :meth:`frame` updates the line data and renders."""

    def __init__(self, skeleton: Skeleton, limits_2d: np.ndarray, limits_3d: np.ndarray,
                 hypotheses: int, size: int, azimuth: float, elevation: float, video: bool = False) -> None:
        # Figure inches are fixed and the dpi follows `size`, so the pixel size is exact and
        # the drawing looks the same at every size.
        self.fig = Figure(figsize=(8, 4), dpi=size / 4)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.03, right=0.97, bottom=0.03, top=0.92, wspace=0.08)
        self.bones = np.asarray(skeleton.bones, dtype=np.int64)  # (B, 2)
        colours = bone_colours(skeleton)

        ax2 = self.fig.add_subplot(1, 2, 1)
        ax2.set_title("2D input (hollow: interpolated)", fontsize=10)
        ax2.set_xlim(*limits_2d[0])
        ax2.set_ylim(limits_2d[1, 1], limits_2d[1, 0])  # image rows grow downwards
        ax2.set_aspect("equal", adjustable="box")
        ax2.set_facecolor("#f2f2f2")
        ax2.set_xticks([])
        ax2.set_yticks([])
        self.image = None
        if video:  # the real frame under the keypoints, replaced every frame
            self.image = ax2.imshow(np.zeros((2, 2, 3), np.uint8), extent=(0, limits_2d[0, 1], limits_2d[1, 1], 0),
                                    interpolation="bilinear", zorder=0)
        self.lines_2d = ax2.add_collection(LineCollection([], colors=colours, linewidths=2.5, zorder=2))
        (self.joints_2d,) = ax2.plot([], [], "o", color="k", markersize=2.5, zorder=3)
        (self.missing_2d,) = ax2.plot([], [], "o", markerfacecolor="white", markeredgecolor="k", markersize=4,
                                      zorder=3)
        self.counter = ax2.text(0.02, 0.02, "", transform=ax2.transAxes, fontsize=9, color="k", zorder=4,
                                bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1.5))

        ax3 = self.fig.add_subplot(1, 2, 2, projection="3d")
        ax3.set_title("3D (camera frame, root-relative)", fontsize=11)
        ax3.view_init(elev=elevation, azim=azimuth)
        ax3.set_xlim3d(*limits_3d[0])
        ax3.set_ylim3d(*limits_3d[1])
        ax3.set_zlim3d(*limits_3d[2])
        ax3.set_box_aspect((1, 1, 1), zoom=1.1)
        ax3.legend(handles=[Line2D([], [], color=c, lw=2.5, label=n) for c, n in
                            ((LEFT_COLOUR, "left"), (RIGHT_COLOUR, "right"), (CENTRE_COLOUR, "centre"))],
                   loc="upper left", fontsize=7, framealpha=0.7)
        for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):  # metres, a few ticks
            axis.set_major_locator(MaxNLocator(3))
            axis.set_tick_params(labelsize=6, pad=-2)
        ax3.set_xlabel("x (m)", labelpad=-8, fontsize=7)
        ax3.set_ylabel("depth (m)", labelpad=-8, fontsize=7)
        ax3.set_zlabel("up (m)", labelpad=-8, fontsize=7)
        self.lines_hyp = None
        if hypotheses:
            self.lines_hyp = ax3.add_collection3d(Line3DCollection(
                [], colors=colours * hypotheses, linewidths=0.8, alpha=0.3), autolim=False)
        self.lines_3d = ax3.add_collection3d(
            Line3DCollection([], colors=colours, linewidths=3.0), autolim=False)

        # Blitting: the axes, panes and grid are drawn once; each frame restores that
        # background and draws only the skeleton artists (about 10x faster than a full draw).
        self.ax2, self.ax3 = ax2, ax3
        for artist in (self.image, self.lines_2d, self.joints_2d, self.missing_2d, self.counter, self.lines_hyp,
                       self.lines_3d):
            if artist is not None:
                artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def frame(self, keypoints: np.ndarray, pose: np.ndarray, hypotheses: np.ndarray | None, *,
              missing: np.ndarray | None = None, label: str = "", image: np.ndarray | None = None) -> np.ndarray:
        """keypoints (J, 2), pose (J, 3) and hypotheses (H, J, 3) display frame, missing (J,)
        bool, the frame label and the video frame (h, w, 3) -> (h, w, 3) uint8."""
        self.canvas.restore_region(self.background)
        if self.image is not None and image is not None:
            self.image.set_data(image)
            self.ax2.draw_artist(self.image)
        gone = np.zeros(len(keypoints), bool) if missing is None else missing
        self.lines_2d.set_segments(keypoints[self.bones])
        self.joints_2d.set_data(keypoints[~gone, 0], keypoints[~gone, 1])
        self.missing_2d.set_data(keypoints[gone, 0], keypoints[gone, 1])
        self.counter.set_text(label)
        for artist in (self.lines_2d, self.joints_2d, self.missing_2d, self.counter):
            self.ax2.draw_artist(artist)
        # Hypotheses first so the aggregate pose is drawn on top of them.
        layers = [(self.lines_3d, pose[self.bones])]
        if self.lines_hyp is not None and hypotheses is not None:
            layers.insert(0, (self.lines_hyp, hypotheses[:, self.bones].reshape(-1, 2, 3)))
        for artist, segments in layers:
            artist.set_segments(segments)
            artist.do_3d_projection()  # what Axes3D.draw would do, with the view fixed at setup
            self.ax3.draw_artist(artist)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


@contextlib.contextmanager
def _open_writer(path: Path, extension: str, fps: float) -> Iterator[Callable[[np.ndarray], None]]:
    """Yield ``append(frame)`` for (h, w, 3) uint8 frames, writing a GIF or an MP4 to ``path``."""
    if extension == ".gif":
        import imageio.v3 as iio

        with iio.imopen(path, "w", plugin="pillow", extension=".gif") as file:
            # GIF stores delays in 10 ms steps, so e.g. 30 fps plays at about 33 fps.
            yield lambda frame: file.write(frame, is_batch=False, duration=1000 / fps, loop=0)
        return
    import imageio_ffmpeg

    writer = None
    try:
        def append(frame: np.ndarray) -> None:
            nonlocal writer
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(path), (frame.shape[1], frame.shape[0]), fps=fps, codec="libx264",
                    pix_fmt_out="yuv420p", quality=7, macro_block_size=2)
                writer.send(None)
            writer.send(np.ascontiguousarray(frame))

        yield append
    finally:
        if writer is not None:
            writer.close()


def render_animation(keypoints_2d, poses, out_path: str | os.PathLike, *, skeleton: Skeleton = H36M,
                     hypotheses=None, image_size: tuple[float, float] | None = None,
                     fps: float = 25, azimuth: float = -70.0, elevation: float = 15.0,
                     size: int = 384, progress: bool = True, missing=None, frame_numbers=None,
                     video_frames: Iterator[np.ndarray] | None = None) -> Path:
    """Write a side-by-side animation: 2D input (left), 3D pose and hypotheses (right).

    Args:
        keypoints_2d: (F, J, 2) pixels (give ``image_size``) or screen-normalised, y down.
        poses: (F, J, 3) metres, camera frame, root-relative; drawn bold.
        out_path: ``.gif`` (pillow) or ``.mp4`` (ffmpeg, libx264, yuv420p).
        hypotheses: optional (F, H, J, 3) or (H, F, J, 3), drawn thin and faint.
        image_size: (width, height) in pixels; the 2D panel then shows the whole image,
            otherwise it is fitted to the keypoints.
        azimuth, elevation: 3D view in degrees; azimuth -90 looks along the camera axis.
        size: frame height in pixels (rounded down to even); the frame is twice as wide.
        missing: optional (F, J) bool, keypoints that were interpolated (drawn hollow).
        frame_numbers: optional (F,) video frame indices for the frame counter (default 0..F-1).
        video_frames: optional iterator of the F video frames (RGB, image_size) drawn under the
            2D keypoints (needs ``image_size``).

    Returns the written path. The file is written atomically: on error nothing is left.
    """
    out_path = Path(out_path)
    extension = out_path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"{out_path.name}: unsupported extension {extension!r}; "
                         f"expected one of {', '.join(SUPPORTED_EXTENSIONS)}")
    joints = skeleton.num_joints
    keypoints_2d, poses = _as_array(keypoints_2d), _as_array(poses)
    _check(keypoints_2d, "keypoints_2d", (None, joints, 2), f"(F, {joints}, 2)")
    _check(poses, "poses", (None, joints, 3), f"(F, {joints}, 3)")
    frames = poses.shape[0]
    if keypoints_2d.shape[0] != frames:
        raise ValueError(f"keypoints_2d has {keypoints_2d.shape[0]} frames but poses has {frames}")
    if hypotheses is not None:
        hypotheses = _frames_first(_as_array(hypotheses), frames, joints)
    if not fps > 0:
        raise ValueError(f"fps: expected a positive number, got {fps}")
    if not size >= 64:
        raise ValueError(f"size: expected at least 64 pixels, got {size}")
    if image_size is None:
        limits_2d = _square_limits(keypoints_2d)
    else:
        wh = np.asarray(image_size, dtype=np.float64).reshape(-1)
        if wh.shape != (2,) or not (np.isfinite(wh).all() and (wh > 0).all()):
            raise ValueError(f"image_size: expected positive (width, height), got {image_size}")
        limits_2d = np.array([[0.0, wh[0]], [0.0, wh[1]]])

    poses_d = camera_to_display(poses)
    hyp_d = None if hypotheses is None else camera_to_display(hypotheses)
    limits_3d = _cube_limits(poses_d if hyp_d is None else np.concatenate([poses_d[:, None], hyp_d], 1))
    if video_frames is not None and image_size is None:
        raise ValueError("video_frames: drawing over the video needs image_size")
    missing = np.zeros(keypoints_2d.shape[:2], bool) if missing is None else np.asarray(missing, bool)
    if missing.shape != keypoints_2d.shape[:2]:
        raise ValueError(f"missing: expected {keypoints_2d.shape[:2]}, got {missing.shape}")
    numbers = np.arange(frames) if frame_numbers is None else np.asarray(frame_numbers).reshape(-1)
    if len(numbers) != frames:
        raise ValueError(f"frame_numbers: expected {frames} values, got {len(numbers)}")
    scene = _Scene(skeleton, limits_2d, limits_3d, 0 if hyp_d is None else hyp_d.shape[1],
                   size - size % 2, azimuth, elevation, video=video_frames is not None)
    images = iter(video_frames) if video_frames is not None else None
    with atomic_path(out_path) as tmp, _open_writer(tmp, extension, fps) as append:
        for f in tqdm(range(frames), desc=f"render {out_path.name}", unit="frame", disable=not progress):
            image = next(images, None) if images is not None else None
            append(scene.frame(keypoints_2d[f], poses_d[f], None if hyp_d is None else hyp_d[f],
                               missing=missing[f], label=f"frame {int(numbers[f])}  {numbers[f] / fps:.2f} s",
                               image=image))
    return out_path


def render_result(result: LiftResult | str | os.PathLike, out_path: str | os.PathLike, **kw) -> Path:
    """Render a lift result (a :class:`LiftResult` or its file, .npz or .json,
    :mod:`ddhpose.export.results`): its 2D keypoints (pixels, interpolated ones hollow),
    aggregate pose, hypotheses, frame numbers and image size; ``video_frames`` (an iterator of the
    result's frames, e.g. :func:`ddhpose.video.decode.overlay_frames`) draws the keypoints over
    them. ``kw`` goes to :func:`render_animation` and overrides what the result says (e.g.
    ``image_size``)."""
    if not isinstance(result, LiftResult):
        result = load_result(result)
    kw.setdefault("image_size", tuple(int(v) for v in np.asarray(result.image_size).reshape(-1)))
    kw.setdefault("hypotheses", result.hypotheses)
    kw.setdefault("fps", result.fps or 25.0)
    kw.setdefault("missing", result.missing)
    kw.setdefault("frame_numbers", result.frames)
    return render_animation(result.keypoints_2d, result.poses, out_path, **kw)
