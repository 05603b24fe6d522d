"""How to lift: typed, torch-free options objects from the command line to the lifter.

The command line builds a :class:`LiftOptions` (how to lift) and a :class:`TrackingOptions` (which
detections are people) once from its arguments (its defaults are these), the pipelines pass them
down unchanged, and :meth:`ddhpose.lifting.lifter.Lifter.lift` and :mod:`ddhpose.lifting.tracking`
read them.
Each field is checked once, here, when the object is made. Every default a lift relies on that
the user may want to know (frame rate, focal length, filter width) is a constant of this module.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Optional

from ddhpose.lifting.camera_files import read_camera

#: How :meth:`Lifter.lift` turns hypotheses into one pose; the first is the default.
AGGREGATIONS = ("p_agg", "median", "j_agg")
#: Bone-length handling; the first is the default.
BONE_LENGTHS = ("track", "free")
#: The sampler's start state: the method's noise, or zeros (:meth:`ddhpose.model.ddhpose.DDHPose.sample`).
STARTS = ("noise", "zero")
#: Default temporal filter (Gaussian sigma, frames), chosen in docs/lift_quality.md.
DEFAULT_SMOOTHING = 2.0
#: Frame rate assumed for keypoints that do not state one (results, BVH and animations).
DEFAULT_FPS = 25.0
#: Default assumed focal length as a multiple of the image's longer side, the same whichever way the
#: camera is held: the lenses of the footage people film (phones' main cameras in video mode,
#: webcams, 58 degrees across the longer side). Calibrated cameras, focal / longer side: four
#: phones (Pose2Sim's demo, 1080 x 1920) 0.87-0.88, MPI-INF-3DHP outdoor 0.88 and studio 0.73,
#: Human3.6M 1.14 (docs/world_accuracy.md).
DEFAULT_FOCAL_RATIO = 0.9
#: A lift's ``focal_length_source`` where nothing gave the focal length.
ASSUMED_FOCAL = f"assumed: {DEFAULT_FOCAL_RATIO} x the image's longer side"
#: Focal lengths (pixels, as multiples of the image width) that are accepted: from a 170-degree
#: fisheye to a 1,000 mm lens on a phone sensor.
FOCAL_RATIO_RANGE = (0.05, 50.0)
#: How many people ``ddhpose video`` looks for per frame unless told (``TrackingOptions.max_people``).
VIDEO_MAX_PEOPLE = 4
#: The range of a person's height (metres) that is accepted.
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.5


@dataclass(frozen=True)
class LiftOptions:
    """Every setting of one lift (:meth:`ddhpose.lifting.lifter.Lifter.lift` documents each).

    Sampling: ``hypotheses`` H, ``iterations`` W, ``flip``, ``seed``, ``start``, ``stride`` (window
    step, default F // 2), ``batch_size`` (windows per sampler call). Keypoints:
    ``score_threshold`` (default: the layout's), ``repair_swaps`` (put back left and right where
    the detector exchanged them, :mod:`ddhpose.lifting.swaps`). The pose: ``aggregation``, ``bone_lengths``,
    ``smooth`` (sigma, frames), ``height`` (metres), ``fit_2d``. The camera: ``focal_length``
    (pixels; default :func:`default_focal`), ``principal_point`` (pixels; default the
    image centre) and ``focal_length_source`` (recorded); ``camera_file`` (an OpenCV YAML / JSON or
    Pose2Sim TOML calibration, :mod:`ddhpose.lifting.camera_files`; ``camera_name`` picks one of
    several) gives both, scaled to the frames; a focal length or principal point given as well
    overrides the file's. ``estimate_focal``: where neither gives a focal length, estimate it
    from the clip (:mod:`ddhpose.lifting.focal`), keeping the default where the clip cannot tell
    it (each person their own). Time: ``fps`` (default the input's, else
    :data:`DEFAULT_FPS`). The world: ``world``, ``foot_lock``.
    """

    hypotheses: int = 1
    iterations: int = 1
    flip: bool = True
    seed: int = 0
    start: str = "noise"
    stride: Optional[int] = None
    batch_size: int = 32
    score_threshold: Optional[float] = None
    repair_swaps: bool = True
    aggregation: str = "p_agg"
    bone_lengths: str = "track"
    smooth: float = DEFAULT_SMOOTHING
    height: Optional[float] = None
    fit_2d: bool = False
    focal_length: Optional[float] = None
    principal_point: Optional[tuple[float, float]] = None
    focal_length_source: Optional[str] = None
    camera_file: Optional[str] = None
    camera_name: Optional[str] = None
    estimate_focal: bool = False
    fps: Optional[float] = None
    world: bool = True
    foot_lock: bool = True

    def __post_init__(self) -> None:
        if not self.smooth >= 0:
            raise ValueError(f"smooth: expected a filter width >= 0 frames, got {self.smooth}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation: expected one of {list(AGGREGATIONS)}, got {self.aggregation!r}")
        if self.bone_lengths not in BONE_LENGTHS:
            raise ValueError(f"bone_lengths: expected one of {list(BONE_LENGTHS)}, got {self.bone_lengths!r}")
        if self.start not in STARTS:
            raise ValueError(f"start: expected one of {list(STARTS)}, got {self.start!r}")
        if self.height is not None and not MIN_HEIGHT <= self.height <= MAX_HEIGHT:
            raise ValueError(f"height: expected the person's height in metres ({MIN_HEIGHT}-{MAX_HEIGHT}), "
                             f"got {self.height}")
        if self.hypotheses < 1 or self.iterations < 1 or self.batch_size < 1:
            raise ValueError(f"hypotheses, iterations and batch_size must be >= 1, got {self.hypotheses}, "
                             f"{self.iterations} and {self.batch_size}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride: expected a window step >= 1 frame, got {self.stride}")
        if self.focal_length is not None and not self.focal_length > 0:
            raise ValueError(f"focal_length: expected a positive number of pixels, got {self.focal_length}")
        if self.principal_point is not None:
            point = tuple(float(v) for v in self.principal_point)
            if len(point) != 2:
                raise ValueError(f"principal_point: expected (cx, cy) pixels, got {self.principal_point}")
            object.__setattr__(self, "principal_point", point)
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps: expected a positive frame rate, got {self.fps}")
        if self.camera_file is not None:
            object.__setattr__(self, "camera_file", str(self.camera_file))
            read_camera(self.camera_file, self.camera_name)  # a bad file fails here, before any lifting
        elif self.camera_name is not None:
            raise ValueError(f"camera_name: {self.camera_name!r} names a camera of a camera file; give the file too "
                             "(--camera FILE / camera_file=)")

    def with_changes(self, **changes: Any) -> "LiftOptions":
        """A copy with some fields changed (unknown names are refused, naming them)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"LiftOptions has no option {', '.join(unknown)}")
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrackingOptions:
    """Which detections of a clip are people (:mod:`ddhpose.lifting.tracking` says how each is
    used): ``min_score`` of a detection; ``min_frames`` of a person; ``max_gap`` frames a person
    may be unseen; ``max_jump`` a fraction of the image width per frame; ``max_people`` per frame
    (None keeps everyone); ``min_motion`` a fraction of the person's size."""

    min_score: float = 0.3
    min_frames: int = 10
    max_gap: int = 30  # ByteTrack's track buffer: a second at 30 frames/s
    max_jump: float = 0.1
    max_people: int | None = None
    min_motion: float = 0.01

    def __post_init__(self) -> None:
        if self.min_frames < 1 or self.max_gap < 0 or not self.max_jump > 0:
            raise ValueError(f"tracking options: expected min_frames >= 1, max_gap >= 0 and max_jump > 0, got "
                             f"{self.min_frames}, {self.max_gap} and {self.max_jump}")
        if self.max_people is not None and self.max_people < 1:
            raise ValueError(f"tracking options: expected max_people >= 1 or None, got {self.max_people}")
        if not self.min_motion >= 0:
            raise ValueError(f"tracking options: expected min_motion >= 0, got {self.min_motion}")


@dataclass(frozen=True)
class Camera:
    """The pinhole camera a lift assumes: ``focal`` and ``centre`` (the principal point) in
    pixels; ``source`` says where the focal length came from (recorded in the result)."""

    focal: float
    centre: tuple[float, float]
    source: str


def default_focal(image_size: tuple[int, int]) -> float:
    """The focal length (pixels) assumed for frames of ``image_size`` (width, height) where nothing
    gives it: :data:`DEFAULT_FOCAL_RATIO` x the longer side."""
    return DEFAULT_FOCAL_RATIO * float(max(image_size))


def resolve_camera(options: LiftOptions, image_size: tuple[int, int]) -> Camera:
    """The camera of a lift of frames ``image_size`` (width, height) pixels: the given focal
    length, else the camera file's (scaled to the frames; the mean of fx and fy), else
    :func:`default_focal`, refused outside :data:`FOCAL_RATIO_RANGE` x width (a focal
    length in millimetres, or a typo); the given principal point, else the file's, else the
    image centre, refused outside the image (a typo, or pixels of another image size)."""
    width, height = image_size
    calibrated = None if options.camera_file is None else read_camera(options.camera_file, options.camera_name)
    calibrated = None if calibrated is None else calibrated.scaled_to(image_size)
    if options.focal_length is not None:
        focal, source = float(options.focal_length), options.focal_length_source or "given"
    elif calibrated is not None:
        focal, source = sum(calibrated.focal) / 2, f"camera file {calibrated.source}"
    else:
        focal, source = default_focal(image_size), ASSUMED_FOCAL
    if not FOCAL_RATIO_RANGE[0] * width <= focal <= FOCAL_RATIO_RANGE[1] * width:
        raise ValueError(f"focal_length: {focal:g} pixels is outside {FOCAL_RATIO_RANGE[0]:g}-{FOCAL_RATIO_RANGE[1]:g} "
                         f"x the image width ({width} px); a focal length is in pixels, e.g. about "
                         f"{default_focal(image_size):.0f} for a normal lens")
    if options.principal_point is not None:
        centre, given = options.principal_point, "principal_point"
    elif calibrated is not None:
        centre, given = calibrated.centre, f"camera file {calibrated.source}: principal point"
    else:
        centre, given = (width / 2, height / 2), ""
    if not (0 <= centre[0] <= width and 0 <= centre[1] <= height):
        raise ValueError(f"{given}: ({centre[0]:g}, {centre[1]:g}) pixels is outside the {width} x {height} "
                         f"image; a principal point is in pixels of the frames, about ({width / 2:g}, "
                         f"{height / 2:g}) for most cameras")
    return Camera(focal, (float(centre[0]), float(centre[1])), source)


def frame_rate(options: LiftOptions, input_fps: Optional[float]) -> tuple[float, str]:
    """(frames per second, where it came from): the option, else the input's, else :data:`DEFAULT_FPS`."""
    if options.fps:
        return float(options.fps), "given"
    if input_fps:
        return float(input_fps), "the input"
    return DEFAULT_FPS, "assumed"
