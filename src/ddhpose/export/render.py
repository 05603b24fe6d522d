"""Animations of lifted poses: the 2D input next to the 3D result, as GIF or MP4.

One figure is built per clip and only the line data change from frame to frame; frames are
rendered off screen with Agg (no pyplot state) and streamed into an atomically written file.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d.art3d import Line3DCollection
from tqdm import tqdm

from ddhpose.export.options import ANIMATION_EXTENSIONS, ExportOptions
from ddhpose.export.results import load_result
from ddhpose.files import PartlyWritten, atomic_path
from ddhpose.geometry import CAMERA_TO_Y_UP, Y_UP_TO_Z_UP
from ddhpose.lifting.placement import support_boxes
from ddhpose.lifting.result import LiftResult
from ddhpose.skeleton import H36M, Skeleton


#: The height (pixels) of an animation of keypoints without a video unless asked otherwise.
DEFAULT_RENDER_SIZE = 384
#: The most an animation over a video is high by default (pixels): the video's own height up to this.
MAX_RENDER_HEIGHT = 720


def default_render_size(video_height: int | None = None) -> int:
    """An animation's frame height: without a video :data:`DEFAULT_RENDER_SIZE`; over a video
    its own height, at least that and at most :data:`MAX_RENDER_HEIGHT` pixels (even)."""
    if video_height is None:
        return DEFAULT_RENDER_SIZE
    size = min(max(int(video_height), DEFAULT_RENDER_SIZE), MAX_RENDER_HEIGHT)
    return size - size % 2


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

    A proper rotation (no mirroring), so left stays left and the person stands upright: the
    camera frame turned upright, then y up to z up (:data:`ddhpose.geometry.CAMERA_TO_Y_UP`,
    :data:`ddhpose.geometry.Y_UP_TO_Z_UP`).
    """
    return np.asarray(points) @ (np.asarray(Y_UP_TO_Z_UP) @ np.asarray(CAMERA_TO_Y_UP)).T


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


#: Seconds a keypoint the detector did not see (interpolated) is still drawn, hollow; a person
#: none of whose keypoints is drawn is not drawn at all (3D included).
BRIDGE_SECONDS = 0.25


def drawn_joints(missing: np.ndarray, max_bridge: int) -> np.ndarray:
    """(F, J) bool: the keypoints to draw of a person's (F, J) ``missing`` (interpolated) mask over
    consecutive frames: every seen one, and an interpolated one only inside a gap of at most
    ``max_bridge`` frames with the joint seen on both sides (not a long guess, not one held or
    extrapolated before the joint was first or after it was last seen)."""
    missing = np.asarray(missing, bool)
    drawn = ~missing
    frames = len(missing)
    for j in range(missing.shape[1]):
        edges = np.flatnonzero(np.diff(np.r_[0, missing[:, j].astype(np.int8), 0]))
        for start, stop in zip(edges[::2], edges[1::2]):  # runs of interpolated frames [start, stop)
            if start > 0 and stop < frames and stop - start <= max_bridge:
                drawn[start:stop, j] = True
    return drawn


@dataclass
class AnimatedPerson:
    """One person of an animation: frames (F,) of the clip's timeline, keypoints (F, J, 2)
    pixels, poses (F, J, 3) display coordinates (z up), optional hypotheses (F, H, J, 3), missing
    (F, J) bool, a trace (F, 3) of the pelvis on the floor (world view), a label, a colour
    (None: the left / right / centre colours), ``drawn`` (F, J) bool, the keypoints to draw
    (default: :func:`drawn_joints` of ``missing`` over :data:`BRIDGE_SECONDS`; the person is
    drawn in the frames where any is) and ``supports``, boxes (2, 3) of opposite display corners
    the person stood on off the floor (drawn throughout, in :data:`SUPPORT_COLOUR`)."""

    frames: np.ndarray
    keypoints: np.ndarray
    poses: np.ndarray
    missing: np.ndarray
    hypotheses: np.ndarray | None = None
    trace: np.ndarray | None = None
    label: str = ""
    colour: str | None = None
    drawn: np.ndarray | None = None
    supports: Sequence[np.ndarray] = ()


#: ``frames_of(numbers)``: the video frames (RGB) of those frame numbers, in order.
FrameSource = Callable[[np.ndarray], Iterator[np.ndarray]]

#: The colour of what someone stood on off the floor (:func:`ddhpose.lifting.placement.support_boxes`).
SUPPORT_COLOUR = "#9c8b6e"
PERSON_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _shade(colour: str, amount: float) -> str:
    """``colour`` mixed with white (amount > 0) or black (amount < 0)."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], float)
    target = 255.0 if amount > 0 else 0.0
    mixed = rgb + (target - rgb) * abs(amount)
    return "#" + "".join(f"{int(round(v)):02x}" for v in mixed)


def _person_colours(skeleton: Skeleton, colour: str | None) -> list[str]:
    """Bone colours: by side (left / right / centre), or one person's colour, its left side lighter."""
    if colour is None:
        return bone_colours(skeleton)
    left, right = set(skeleton.joints_left), set(skeleton.joints_right)
    return [_shade(colour, 0.45) if c in left else _shade(colour, -0.25) if c in right else colour
            for _, c in skeleton.bones]


class _Scene:
    """The two-panel figure of one clip; :meth:`frame` updates the line data and renders."""

    def __init__(self, skeleton: Skeleton, limits_2d: np.ndarray, limits_3d: np.ndarray, people: list[AnimatedPerson],
                 size: int, azimuth: float, elevation: float, video: bool = False, world: bool = False) -> None:
        # The figure is 4 inches high and the dpi follows `size`, so the pixel size is exact and
        # the drawing looks the same at every size; the 2D panel is as wide as the image's aspect.
        aspect = max(1.0, float((limits_2d[0, 1] - limits_2d[0, 0]) / (limits_2d[1, 1] - limits_2d[1, 0])))
        width = 4 * (1 + aspect)
        self.fig = Figure(figsize=(width, 4), dpi=size / 4)
        self.canvas = FigureCanvasAgg(self.fig)
        self.fig.subplots_adjust(left=0.03 * 8 / width, right=1 - 0.03 * 8 / width, bottom=0.03, top=0.92,
                                 wspace=0.08)
        grid = self.fig.add_gridspec(1, 2, width_ratios=(aspect, 1))
        self.bones = np.asarray(skeleton.bones, dtype=np.int64)  # (B, 2)
        self.people = people

        ax2 = self.fig.add_subplot(grid[0])
        ax2.set_title("2D input (hollow: interpolated)", fontsize=10)
        ax2.set_xlim(*limits_2d[0])
        ax2.set_ylim(limits_2d[1, 1], limits_2d[1, 0])  # image rows grow downwards
        ax2.set_aspect("equal", adjustable="box")
        ax2.set_facecolor("#f2f2f2")
        ax2.set_xticks([])
        ax2.set_yticks([])
        self.video = video  # the real frame goes under the keypoints, pasted into the panel's pixels
        self.counter = ax2.text(0.02, 0.02, "", transform=ax2.transAxes, fontsize=9, color="k", zorder=4,
                                bbox=dict(facecolor="white", alpha=0.7, edgecolor="none", pad=1.5))

        ax3 = self.fig.add_subplot(grid[1], projection="3d")
        ax3.set_title("3D, world frame (floor at 0)" if world else "3D (camera frame, root-relative)", fontsize=11)
        ax3.view_init(elev=elevation, azim=azimuth)
        ax3.set_xlim3d(*limits_3d[0])
        ax3.set_ylim3d(*limits_3d[1])
        ax3.set_zlim3d(*limits_3d[2])
        ax3.set_box_aspect((1, 1, 1), zoom=1.1)
        if len(people) == 1 and people[0].colour is None:
            ax3.legend(handles=[Line2D([], [], color=c, lw=2.5, label=n) for c, n in
                                ((LEFT_COLOUR, "left"), (RIGHT_COLOUR, "right"), (CENTRE_COLOUR, "centre"))],
                       loc="upper left", fontsize=7, framealpha=0.7)
        for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):  # metres, a few ticks
            axis.set_major_locator(MaxNLocator(3))
            axis.set_tick_params(labelsize=6, pad=-2)
        ax3.set_xlabel("x (m)", labelpad=-8, fontsize=7)
        ax3.set_ylabel("depth (m)", labelpad=-8, fontsize=7)
        ax3.set_zlabel("up (m)", labelpad=-8, fontsize=7)
        if world:  # the floor: a grid at height 0 every half metre
            lo, hi = limits_3d[:2, 0], limits_3d[:2, 1]
            ticks = [np.arange(np.ceil(lo[k] * 2) / 2, hi[k] + 1e-9, 0.5) for k in (0, 1)]
            lines = [[(x, lo[1], 0), (x, hi[1], 0)] for x in ticks[0]] + [[(lo[0], y, 0), (hi[0], y, 0)] for y in ticks[1]]
            ax3.add_collection3d(Line3DCollection(lines, colors="#bbbbbb", linewidths=0.6), autolim=False)
            edges = [edge for person in people for box in person.supports for edge in box_edges(box)]
            if edges:  # what someone stood on off the floor (a box, a stage): drawn once, with the floor
                ax3.add_collection3d(Line3DCollection(edges, colors=SUPPORT_COLOUR, linewidths=1.0), autolim=False)

        self.artists = []
        for person in people:
            colours = _person_colours(skeleton, person.colour)
            a = {"lines_2d": ax2.add_collection(LineCollection([], colors=colours, linewidths=2.5, zorder=2)),
                 "joints_2d": ax2.plot([], [], "o", color="k", markersize=2.5, zorder=3)[0],
                 "missing_2d": ax2.plot([], [], "o", markerfacecolor="white", markeredgecolor="k", markersize=4,
                                        zorder=3)[0],
                 "label": ax2.text(0, 0, "", fontsize=8, color="white", zorder=4, ha="center", va="bottom",
                                   bbox=dict(facecolor=person.colour or "#333333", alpha=0.8, edgecolor="none",
                                             pad=1.0)),
                 "hyp": None, "trace": None,
                 "lines_3d": ax3.add_collection3d(Line3DCollection([], colors=colours, linewidths=3.0), autolim=False)}
            if person.hypotheses is not None:
                a["hyp"] = ax3.add_collection3d(Line3DCollection(
                    [], colors=colours * person.hypotheses.shape[1], linewidths=0.8, alpha=0.3), autolim=False)
            if person.trace is not None:
                a["trace"] = ax3.plot([], [], [], "-", color=person.colour or CENTRE_COLOUR, lw=1.2, alpha=0.8)[0]
            self.artists.append(a)

        # Blitting: the axes, panes and grid are drawn once; each frame restores that
        # background and draws only the skeleton artists (about 10x faster than a full draw).
        self.ax2, self.ax3 = ax2, ax3
        for artist in [self.counter] + [v for a in self.artists for v in a.values()]:
            if artist is not None:
                artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        # the 2D panel's pixels in the canvas buffer (rows from the top), where a video frame goes
        box, rows = ax2.bbox, int(self.canvas.get_width_height()[1])
        self.panel = (rows - int(round(box.y1)), rows - int(round(box.y0)), int(round(box.x0)), int(round(box.x1)))

    def frame(self, frame_number: int, *, label: str = "", image: np.ndarray | None = None) -> np.ndarray:
        """Draw the clip's frame ``frame_number`` (every person present in it) with its label and
        video frame (h, w, 3) -> the rendered (h, w, 3) uint8."""
        self.canvas.restore_region(self.background)
        if self.video and image is not None:  # resized once and written straight into the pixels: matplotlib's
            top, bottom, left, right = self.panel  # image pipeline took 60 % of the render
            pixels = np.asarray(Image.fromarray(np.ascontiguousarray(image[..., :3])).resize(
                (right - left, bottom - top), Image.BILINEAR))
            np.asarray(self.canvas.buffer_rgba())[top:bottom, left:right, :3] = pixels
        layers = []
        for person, a in zip(self.people, self.artists):
            i = np.searchsorted(person.frames, frame_number)
            here = i < len(person.frames) and person.frames[i] == frame_number and bool(person.drawn[i].any())
            keypoints = person.keypoints[i] if here else np.zeros((0, 2))
            shown = person.drawn[i] if here else np.zeros(0, bool)
            gone = person.missing[i] & shown if here else np.zeros(0, bool)
            bones = self.bones[shown[self.bones].all(1)] if here else self.bones[:0]
            a["lines_2d"].set_segments(keypoints[bones] if here else [])
            a["joints_2d"].set_data(keypoints[shown & ~gone, 0], keypoints[shown & ~gone, 1])
            a["missing_2d"].set_data(keypoints[gone, 0], keypoints[gone, 1])
            a["label"].set_text(person.label if here and person.label else "")
            if here and person.label:
                a["label"].set_position((keypoints[shown, 0].mean(), keypoints[shown, 1].min()))
            for artist in ("lines_2d", "joints_2d", "missing_2d", "label"):
                self.ax2.draw_artist(a[artist])
            if a["hyp"] is not None:  # hypotheses first so the aggregate pose is drawn on top of them
                layers.append((a["hyp"], person.hypotheses[i][:, self.bones].reshape(-1, 2, 3) if here else []))
            layers.append((a["lines_3d"], person.poses[i][self.bones] if here else []))
            if a["trace"] is not None:
                past = person.trace[:i + 1] if here else person.trace[:0]
                a["trace"].set_data_3d(past[:, 0], past[:, 1], np.zeros(len(past)))
                self.ax3.draw_artist(a["trace"])  # a Line3D projects itself when drawn
        self.counter.set_text(label)
        self.ax2.draw_artist(self.counter)
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
                     frames_of: FrameSource | None = None) -> Path:
    """Write a side-by-side animation of one person: 2D input (left), 3D pose and hypotheses
    (right, camera frame, root-relative). :func:`render_people` draws several people, or the
    world frame.

    Args:
        keypoints_2d: (F, J, 2) pixels (give ``image_size``) or screen-normalised, y down.
        poses: (F, J, 3) metres, camera frame, root-relative; drawn bold.
        out_path: ``.gif`` (pillow) or ``.mp4`` (ffmpeg, libx264, yuv420p).
        hypotheses: optional (F, H, J, 3) or (H, F, J, 3), drawn thin and faint.
        image_size: (width, height) in pixels; the 2D panel then shows the whole image,
            otherwise it is fitted to the keypoints.
        azimuth, elevation: 3D view in degrees; azimuth -90 looks along the camera axis.
        size: frame height in pixels (rounded down to even); the 3D panel is square and the 2D
            panel as wide as the image's aspect (at least square).
        missing: optional (F, J) bool, keypoints that were interpolated (drawn hollow).
        frame_numbers: optional (F,) video frame indices for the frame counter (default 0..F-1).
        frames_of: optional ``frames_of(frame_numbers)`` -> the F video frames (RGB, image_size)
            drawn under the 2D keypoints (needs ``image_size``).

    Returns the written path. The file is written atomically: on error nothing is left.
    """
    joints = skeleton.num_joints
    keypoints_2d, poses = _as_array(keypoints_2d), _as_array(poses)
    _check(keypoints_2d, "keypoints_2d", (None, joints, 2), f"(F, {joints}, 2)")
    _check(poses, "poses", (None, joints, 3), f"(F, {joints}, 3)")
    frames = poses.shape[0]
    if keypoints_2d.shape[0] != frames:
        raise ValueError(f"keypoints_2d has {keypoints_2d.shape[0]} frames but poses has {frames}")
    if hypotheses is not None:
        hypotheses = camera_to_display(_frames_first(_as_array(hypotheses), frames, joints))
    missing = np.zeros(keypoints_2d.shape[:2], bool) if missing is None else np.asarray(missing, bool)
    if missing.shape != keypoints_2d.shape[:2]:
        raise ValueError(f"missing: expected {keypoints_2d.shape[:2]}, got {missing.shape}")
    numbers = np.arange(frames) if frame_numbers is None else np.asarray(frame_numbers).reshape(-1)
    if len(numbers) != frames:
        raise ValueError(f"frame_numbers: expected {frames} values, got {len(numbers)}")
    person = AnimatedPerson(numbers.astype(np.int64), keypoints_2d, camera_to_display(poses), missing, hypotheses)
    return render_people([person], out_path, skeleton=skeleton, image_size=image_size, fps=fps, azimuth=azimuth,
                         elevation=elevation, size=size, progress=progress, frames_of=frames_of)


def render_people(people: list[AnimatedPerson], out_path: str | os.PathLike, *, skeleton: Skeleton = H36M,
                  image_size: tuple[float, float] | None = None, fps: float = 25, azimuth: float = -70.0,
                  elevation: float = 15.0, size: int = 384, progress: bool = True,
                  frames_of: FrameSource | None = None, world: bool = False) -> Path:
    """Write one animation of several people (:class:`AnimatedPerson`, poses already in display
    coordinates) over the union of their frames; ``world``: the 3D panel shows the world frame
    with the floor grid and each pelvis's trace. ``frames_of(numbers)`` yields the video frame of
    each of those frame numbers (the union, ascending), drawn under the keypoints. Other
    arguments as :func:`render_animation`."""
    out_path = Path(out_path)
    extension = out_path.suffix.lower()
    if extension not in ANIMATION_EXTENSIONS:
        raise ValueError(f"{out_path.name}: unsupported extension {extension!r}; "
                         f"expected one of {', '.join(ANIMATION_EXTENSIONS)}")
    if not people:
        raise ValueError("people: expected at least one person to draw")
    if not fps > 0:
        raise ValueError(f"fps: expected a positive number, got {fps}")
    if not size >= 64:
        raise ValueError(f"size: expected at least 64 pixels, got {size}")
    for person in people:
        if not np.isfinite(person.poses).all():
            raise ValueError("poses: expected finite values, found NaN or inf")
        if person.drawn is None:
            person.drawn = drawn_joints(person.missing, max(1, int(round(BRIDGE_SECONDS * fps))))
        if person.drawn.shape != person.missing.shape:
            raise ValueError(f"drawn: expected {person.missing.shape}, got {person.drawn.shape}")
    if image_size is None:
        limits_2d = _square_limits(np.concatenate([p.keypoints.reshape(-1, 2) for p in people]))
    else:
        wh = np.asarray(image_size, dtype=np.float64).reshape(-1)
        if wh.shape != (2,) or not (np.isfinite(wh).all() and (wh > 0).all()):
            raise ValueError(f"image_size: expected positive (width, height), got {image_size}")
        limits_2d = np.array([[0.0, wh[0]], [0.0, wh[1]]])
    if frames_of is not None and image_size is None:
        raise ValueError("frames_of: drawing over the video needs image_size")
    points = [p.poses.reshape(-1, 3) for p in people] + [p.hypotheses.reshape(-1, 3) for p in people
                                                          if p.hypotheses is not None]
    limits_3d = _cube_limits(np.concatenate(points))
    if world:
        limits_3d[2] = [0.0, limits_3d[2, 1] - limits_3d[2, 0]]  # the floor at the bottom
    timeline = np.unique(np.concatenate([p.frames for p in people]))
    scene = _Scene(skeleton, limits_2d, limits_3d, people, size - size % 2, azimuth, elevation,
                   video=frames_of is not None, world=world)
    images = iter(frames_of(timeline)) if frames_of is not None else None
    with atomic_path(out_path) as tmp, _open_writer(tmp, extension, fps) as append:
        for number in tqdm(timeline, desc=f"render {out_path.name}", unit="frame", disable=not progress):
            image = next(images, None) if images is not None else None
            append(scene.frame(int(number), label=f"frame {int(number)}  {number / fps:.2f} s", image=image))
    return out_path


def box_edges(box: np.ndarray) -> list[np.ndarray]:
    """The 12 edges ((2, 3) each) of the axis-aligned box with opposite corners ``box`` (2, 3)."""
    lo, hi = np.min(box, 0), np.max(box, 0)
    corners = np.array([[(lo, hi)[i >> k & 1][k] for k in range(3)] for i in range(8)])
    return [corners[[i, i | 1 << k]] for i in range(8) for k in range(3) if not i >> k & 1]


def world_to_display(points: np.ndarray) -> np.ndarray:
    """World frame (x right, y up, z towards the camera) to the z-up display frame: (x, -z, y)."""
    return np.asarray(points) @ np.asarray(Y_UP_TO_Z_UP).T


def people_of(results: Sequence[LiftResult], world: bool | None = None) -> tuple[list[AnimatedPerson], bool]:
    """The :class:`AnimatedPerson` of every result and whether they are drawn in the world frame (by
    default: when every result has one). One person keeps the left / right colours and the
    hypotheses; several get a colour and a label each."""
    world = all(r.world_poses is not None for r in results) if world is None else world
    several = len(results) > 1
    people = []
    for k, r in enumerate(results):
        supports = []
        if world:
            poses = world_to_display(r.world_poses)
            trace, hypotheses = poses[:, 0], None
            supports = [world_to_display(box) for box in support_boxes(r)]
        else:
            poses, trace = camera_to_display(r.poses), None
            hypotheses = None if several else camera_to_display(r.hypotheses.transpose(1, 0, 2, 3))
        people.append(AnimatedPerson(r.frames, r.keypoints_2d, poses, r.missing, hypotheses, trace,
                                     label=f"id {r.track_id}" if several else "",
                                     colour=PERSON_COLOURS[k % len(PERSON_COLOURS)] if several else None,
                                     supports=supports))
    return people, world


def render_result(result: LiftResult | Sequence[LiftResult] | str | os.PathLike, out_path: str | os.PathLike,
                  *, world: bool | None = None, **kw) -> Path:
    """Render lift results (a :class:`LiftResult`, several people's, or a result file, .npz or
    .json, :mod:`ddhpose.export.results`): their 2D keypoints (pixels, interpolated ones hollow)
    and 3D poses, in the world frame when every result has one (``world=False``: the camera
    frame, root-relative, with the hypotheses of a single person). ``frames_of(numbers)`` (the
    video frames of those frame numbers, e.g. a :class:`ddhpose.video.frames.FrameStore`'s
    ``frames``) draws the keypoints over them. ``kw`` goes to :func:`render_people` and overrides what the
    results say (``image_size``, ``fps``)."""
    if isinstance(result, (str, os.PathLike)):
        result = load_result(result)
    return render_results([result] if isinstance(result, LiftResult) else list(result), out_path, world=world, **kw)


def render_results(results: Sequence[LiftResult], out_path: str | os.PathLike, *, world: bool | None = None,
                   **kw) -> Path:
    """:func:`render_result` of results already read (one person or several)."""
    people, world = people_of(results, world)
    kw.setdefault("image_size", tuple(int(v) for v in np.asarray(results[0].image_size).reshape(-1)))
    kw.setdefault("fps", results[0].frame_rate)
    return render_people(people, out_path, world=world, **kw)


def write_animation(results: Sequence[LiftResult], exports: ExportOptions, written: list[Path], *,
                    video_height: int | None = None, frames_of: FrameSource | None = None,
                    progress: bool = False) -> list[Path]:
    """The animation ``exports.render`` asks for, of every person (:func:`render_results`: the world
    frame when they have one; ``exports.render_size`` pixels high, else
    :func:`default_render_size` of ``video_height``); ``frames_of(numbers)`` gives the video frames
    to draw under the keypoints. Ctrl-C while rendering raises :class:`PartlyWritten` naming
    ``written`` (the files already in place) and the animation."""
    if not exports.render:
        return []
    try:
        return [render_results(list(results), exports.render, progress=progress, frames_of=frames_of,
                               size=exports.render_size or default_render_size(video_height))]
    except KeyboardInterrupt:
        raise PartlyWritten(written, [str(exports.render)]) from None
