"""2D keypoint detectors that run offline from a pip wheel, for ``ddhpose video``.

MediaPipe Pose (the ``video`` extra: ``pip install 'ddhpose[video]'``) is the one bundled path:
its 0.10.21 wheel ships the BlazePose person detector and the full landmark model (later
releases download them at run time, which fails offline). Each detector maps an RGB frame
(H, W, 3) uint8 to a list of people, each a :class:`Person` (a (K, 2) array of pixels and a (K,)
array of scores in the detector's own score semantics, which unpacks as that pair), and names
the keypoint layout; the layout holds the score threshold that fits those semantics
(:data:`ddhpose.lifting.keypoints.LAYOUTS`).

Two detectors of MediaPipe's own graphs, and what every detector shares (:class:`Person`, the
merging and refusal rules of poses). :func:`ddhpose.video.detect.get_detector` picks
:class:`MediaPipePose` for ``max_people=1`` and otherwise
:class:`ddhpose.video.people.PeopleDetector`, which runs the wheel's models itself:

- :class:`MediaPipePose`, one person: MediaPipe's own solution with its temporal tracking and
  smoothing; the fastest path.
- :class:`MediaPipeMultiPose`, several people (the default before issue 29, kept to compare
  with; docs/multi_person.md): the same two models through MediaPipe's Tasks
  ``PoseLandmarker``, whose model bundle is assembled in memory from the wheel's files
  (:func:`pose_task_bundle`). The person detector sees its input letterboxed to 224 x 224, so on
  a whole frame it misses people smaller than about a fifth of the frame's height; the detector
  therefore searches the frame and overlapping square tiles of it every ``search_every`` frames,
  and in between (and on search frames too) looks for each person found in the previous frame in
  a square crop around where they were. docs/multi_person.md has the measurements.
"""
from __future__ import annotations

import functools
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Protocol

import numpy as np

VIDEO_EXTRA = "pip install 'ddhpose[video]'"

# the Tasks pose graph's input normalisation, as MediaPipe's own pose graphs set it
# (pose_detection_cpu: pixels to [-1, 1]; pose_landmark_by_roi_cpu: pixels to [0, 1])
DETECTOR_NORMALISATION = (127.5, 127.5)  # mean, std
LANDMARK_NORMALISATION = (0.0, 255.0)
# a followed person is looked for in a square this many times their box's longer side ...
FOLLOW_CROP = 1.6
# ... and at least this many pixels wide (the detector needs some context around a small person)
MIN_CROP = 96
# MediaPipe's left and right hip (the order of ddhpose.lifting.keypoints.MEDIAPIPE33)
HIPS = (23, 24)
# the squares a search pass tiles the frame with, as fractions of its shorter side
SEARCH_SIDES = (1.0, 0.5)
# frames a person not found is still looked for where their motion takes them
FOLLOW_MISSES = 5
# two poses are one person when their boxes overlap this much (intersection over union) ...
SAME_BOX_IOU = 0.5
# ... or the smaller box lies this much inside the larger one (intersection over the smaller) ...
SAME_BOX_INSIDE = 0.6
# ... or half their keypoints lie this close, as a fraction of the larger box's diagonal
SAME_KEYPOINTS = 0.15
# a pose reaching this far (a fraction of its size) past a window edge inside the frame is cut off
CUT_MARGIN = 0.1


class DetectorUnavailableError(ImportError, ValueError):
    """The detector's package is not installed; the message says how to install it."""


@dataclass(frozen=True, eq=False)
class Person:
    """One detected person: keypoints (K, 2) in pixels, their scores (K,) and, from a detector
    that follows people, the tracker's id. Unpacks as ``keypoints, scores``; ``score`` and
    ``box`` are derived from them."""

    keypoints: np.ndarray
    scores: np.ndarray
    track_id: Optional[int] = None

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.keypoints, self.scores))

    @property
    def score(self) -> float:
        """The person's score: the mean of its keypoint scores."""
        return float(np.mean(self.scores))

    @property
    def box(self) -> np.ndarray:
        """(x0, y0, x1, y1) around the keypoints, in pixels."""
        return np.concatenate([self.keypoints.min(0), self.keypoints.max(0)])


class Detector(Protocol):
    name: str
    layout: str

    def __call__(self, rgb: np.ndarray) -> list[Person]: ...

    def close(self) -> None: ...


def _import_mediapipe():
    try:
        import mediapipe as mp
    except ImportError as err:
        raise DetectorUnavailableError(
            f"the video detector needs MediaPipe, which is not installed ({err}); install it with: "
            f"{VIDEO_EXTRA}") from None
    return mp


def _check_frame(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB frame (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")


class MediaPipePose:
    """MediaPipe Pose (BlazePose full, one person per frame, its own temporal tracking).

    Scores are MediaPipe's landmark *visibility* (how likely the landmark is visible, not a
    heat-map confidence as COCO detectors give), so its layout's score threshold is MediaPipe's
    own (0.5).
    """

    name = "mediapipe"
    layout = "mediapipe33"

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        mp = _import_mediapipe()
        self._pose = mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=True,
                                            min_detection_confidence=min_detection_confidence,
                                            min_tracking_confidence=min_tracking_confidence)

    def __call__(self, rgb: np.ndarray) -> list[Person]:
        _check_frame(rgb)
        found = self._pose.process(np.ascontiguousarray(rgb)).pose_landmarks
        if found is None:
            return []
        h, w = rgb.shape[:2]
        marks = np.array([[m.x * w, m.y * h, m.visibility] for m in found.landmark], dtype=np.float64)
        return [Person(marks[:, :2], marks[:, 2])]

    def close(self) -> None:
        self._pose.close()


@functools.lru_cache(maxsize=1)
def pose_task_bundle() -> bytes:
    """The Tasks ``PoseLandmarker`` model bundle (a zip of ``pose_detector.tflite`` and
    ``pose_landmarks_detector.tflite``) built from the models the MediaPipe wheel ships, with
    the input-normalisation metadata the Tasks graph reads (the wheel's files have none)."""
    mp = _import_mediapipe()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    modules = Path(mp.__file__).parent / "modules"
    parts = {"pose_detector.tflite": (modules / "pose_detection" / "pose_detection.tflite", DETECTOR_NORMALISATION),
             "pose_landmarks_detector.tflite": (modules / "pose_landmark" / "pose_landmark_full.tflite",
                                                LANDMARK_NORMALISATION)}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as bundle:
        for name, (path, (mean, std)) in parts.items():
            if not path.is_file():
                raise DetectorUnavailableError(f"{path}: MediaPipe's pose model is missing; the video extra pins "
                                               f"the release that ships it: {VIDEO_EXTRA}")
            writer = metadata_writer.MetadataWriter.create(bytearray(path.read_bytes()))
            writer.add_general_info(name[:-7], "BlazePose from the MediaPipe wheel").add_image_input([mean], [std])
            model, _ = writer.populate()
            bundle.writestr(name, bytes(model))
    return out.getvalue()


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(intersection over union, intersection over the smaller box) of two (x0, y0, x1, y1) boxes."""
    inter = float(np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None)))
    areas = float(np.prod(a[2:] - a[:2])), float(np.prod(b[2:] - b[:2]))
    union = sum(areas) - inter
    return (inter / union if union > 0 else 0.0), (inter / min(areas) if min(areas) > 0 else 0.0)


def same_person(a: Person, b: Person, *, head: float | None = None) -> bool:
    """Two poses of one frame are one person: their boxes overlap, one box lies mostly inside the
    other (the detector's second guess at part of a person), or most of their keypoints coincide
    (the median keypoint distance, so two guesses of a raised arm still match). Two people who
    overlap that much in the image are one detection until they part; the tracker carries the
    hidden one across. With ``head`` (a fraction of the larger box's diagonal), a box inside the
    other whose head (keypoint 0) lies further than that from the other's is a second person
    (one standing behind another: :class:`ddhpose.video.people.PeopleDetector`, whose poses each
    come from a person of their own, not from a guess at part of one)."""
    iou, inside = _overlap(a.box, b.box)
    size = max(np.linalg.norm(a.box[2:] - a.box[:2]), np.linalg.norm(b.box[2:] - b.box[:2]), 1.0)
    heads_apart = head is not None and np.linalg.norm(a.keypoints[0] - b.keypoints[0]) >= head * size
    if iou > SAME_BOX_IOU or (inside > SAME_BOX_INSIDE and not heads_apart):
        return True
    return float(np.median(np.linalg.norm(a.keypoints - b.keypoints, axis=-1))) < SAME_KEYPOINTS * size


def cut_by(person: Person, window: tuple[int, int, int, int], width: int, height: int) -> bool:
    """The pose reaches past an edge of the window that lies inside the frame (by more than
    :data:`CUT_MARGIN` of its size): the detector saw part of a person, whom a larger window holds."""
    box, (x0, y0, x1, y1) = person.box, window
    margin = CUT_MARGIN * float(np.max(box[2:] - box[:2]))
    return bool((x0 > 0 and box[0] < x0 - margin) or (y0 > 0 and box[1] < y0 - margin)
                or (x1 < width and box[2] > x1 + margin) or (y1 < height and box[3] > y1 + margin))


def pelvis_outside(person: Person, width: int, height: int) -> bool:
    """The pose's pelvis (mid-hip) lies outside the frame: at the frame's edge the detector
    completes people it cannot see (and sees people in walls); such a pose is not kept."""
    x, y = person.keypoints[list(HIPS)].mean(0)
    return not (0 <= x < width and 0 <= y < height)


def search_windows(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the regions a search pass looks at: the whole frame, then overlapping
    squares of the shorter side, then of half of it (small people), each row and column of
    squares overlapping its neighbours by at least a third."""
    windows = [(0, 0, width, height)]
    short = min(width, height)
    for side in [int(short * f) for f in SEARCH_SIDES]:
        if side < MIN_CROP:
            break
        xs = _starts(width, side)
        ys = _starts(height, side)
        windows += [(x, y, x + side, y + side) for y in ys for x in xs if (x, y, x + side, y + side) not in windows]
    return windows


def _starts(length: int, side: int) -> list[int]:
    if side >= length:
        return [0]
    count = int(np.ceil((length - side) / (side * 2 / 3))) + 1
    return [int(round(s)) for s in np.linspace(0, length - side, count)]


class _Followed(NamedTuple):
    """A person the multi-person detector looks for in the next frame: their box when last found,
    its centre's motion per frame and the frames since they were last found."""

    box: np.ndarray
    motion: np.ndarray
    misses: int

    @property
    def seen(self) -> np.ndarray:
        """The box centre where the person was last found."""
        return (self.box[:2] + self.box[2:]) / 2

    @property
    def predicted(self) -> np.ndarray:
        """The box moved to where the person's motion takes it in the next frame."""
        return self.box + np.tile(self.motion * (self.misses + 1), 2)


class MediaPipeMultiPose:
    """Several people per frame: BlazePose (the wheel's models) through MediaPipe's Tasks
    ``PoseLandmarker`` on regions of the frame (see the module docstring).

    Args:
        max_people: the most people returned per frame (the largest and surest); a warning says
            the first time more were seen.
        search_every: frames between search passes over the whole frame and its tiles (1: every
            frame, the most thorough and slowest). A frame where a followed person was lost is
            searched too.
        min_detection_confidence: the person detector's threshold.
    Scores are landmark visibilities, as for :class:`MediaPipePose`.
    """

    name = "mediapipe-multi"
    layout = "mediapipe33"

    def __init__(self, max_people: int = 4, *, search_every: int = 10, min_detection_confidence: float = 0.5) -> None:
        if max_people < 1 or search_every < 1:
            raise ValueError(f"expected max_people >= 1 and search_every >= 1, got {max_people} and {search_every}")
        mp = _import_mediapipe()
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self.max_people, self.search_every = max_people, search_every
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=pose_task_bundle()), running_mode=vision.RunningMode.IMAGE,
            num_poses=max(2, max_people), min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_detection_confidence)
        self._landmarker = vision.PoseLandmarker.create_from_options(options)
        self._frame = 0
        self._followed: list[_Followed] = []  # the people of the previous frames, to look for again
        self._lost = False
        self._warned = False

    def _poses(self, rgb: np.ndarray, window: tuple[int, int, int, int]) -> list[Person]:
        """The poses found in one region of the frame, in the frame's pixels."""
        x0, y0, x1, y1 = window
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        h, w = crop.shape[:2]
        found = self._landmarker.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop))
        people = []
        for marks in found.pose_landmarks:
            a = np.array([[m.x * w + x0, m.y * h + y0, m.visibility] for m in marks], dtype=np.float64)
            people.append(Person(a[:, :2], a[:, 2]))
        return people

    def _follow_window(self, box: np.ndarray, width: int, height: int) -> tuple[int, ...]:
        """The square crop to look for a person whose box is expected at ``box``."""
        centre = (box[:2] + box[2:]) / 2
        side = max(FOLLOW_CROP * float(np.max(box[2:] - box[:2])), MIN_CROP)
        x0, y0 = np.floor(centre - side / 2).astype(int)
        x1, y1 = np.ceil(centre + side / 2).astype(int)
        return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)

    def __call__(self, rgb: np.ndarray) -> list[Person]:
        _check_frame(rgb)
        height, width = rgb.shape[:2]
        windows = [self._follow_window(f.predicted, width, height) for f in self._followed]
        windows = [w for w in windows if w[2] - w[0] >= 8 and w[3] - w[1] >= 8]
        if self._frame % self.search_every == 0 or self._lost or not self._followed:
            windows += search_windows(width, height)
        found: list[Person] = []
        for window in windows:
            found += [p for p in self._poses(rgb, window)
                      if not cut_by(p, window, width, height) and not pelvis_outside(p, width, height)]
        people: list[Person] = []  # one pose per person, the surest first
        for person in sorted(found, key=lambda p: -p.score):
            if not any(same_person(person, kept) for kept in people):
                people.append(person)
        if len(people) > self.max_people:
            if not self._warned:
                warnings.warn(f"frame {self._frame}: {len(people)} people seen, more than max_people="
                              f"{self.max_people}; keeping the largest and surest", stacklevel=2)
                self._warned = True
            people = sorted(people, key=lambda p: -p.score * float(np.linalg.norm(p.box[2:] - p.box[:2])))
            people = people[:self.max_people]
        self._update(people)
        self._frame += 1
        return people

    def _update(self, people: list[Person]) -> None:
        """Remember where each person is and how their box moves, for the next frame's crops; a
        person not found is looked for where their motion takes them for :data:`FOLLOW_MISSES`
        more frames."""
        followed, before = [], list(self._followed)
        for person in people:
            box, centre = person.box, (person.box[:2] + person.box[2:]) / 2
            near = [i for i, f in enumerate(before) if _overlap(f.predicted, box)[0] > 0]
            expected = [(f.predicted[:2] + f.predicted[2:]) / 2 for f in before]
            nearest = min(near, key=lambda i: float(np.linalg.norm(expected[i] - centre))) if near else None
            match = before.pop(nearest) if nearest is not None else None
            # per frame since the person was last found (not since where they were predicted)
            motion = (centre - match.seen) / (match.misses + 1) if match is not None else np.zeros(2)
            followed.append(_Followed(box, motion, 0))
        self._lost = bool(before)
        followed += [_Followed(f.box, f.motion, f.misses + 1) for f in before if f.misses < FOLLOW_MISSES]
        self._followed = followed[:self.max_people]

    def close(self) -> None:
        self._landmarker.close()
