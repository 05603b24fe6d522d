"""Every person of a video, frame by frame: BlazePose's person detector finds people, one
landmark pass per person follows them, and the tracker says who is who.

- **find**: every ``detect_every`` frames (and the frame after someone was lost) the person
  detector alone (:class:`ddhpose.video.blazepose.BlazePoseModels`) looks at the whole frame and
  at tiles of it: the whole frame and squares of its shorter side every other pass, and, for
  people too small for those, squares of half of it, :data:`SMALL_TILES_PER_PASS` of them in
  turn on the passes between. A person
  found where nobody is followed gets a landmark pass on the detector's crop;
- **follow**: on every frame each followed person gets one landmark pass on the crop their
  previous landmarks give (MediaPipe's own tracking between detections); a crop whose pass finds
  no pose (presence below :data:`ddhpose.video.blazepose.PRESENCE`) is tried at the other
  quarter turns (:data:`QUARTER_TURNS`: a flip or a fall outturns the last frame's crop, and the
  person detector, which looks for an upright face, does not find them upside down), then again
  for :data:`FOLLOW_MISSES` frames, moved along the person's motion;
- **who is who**: a frame's poses (two crops that found one person merged,
  :func:`ddhpose.video.detectors.same_person`) go to one :class:`ddhpose.lifting.tracking.Tracker`,
  the same rules ``ddhpose lift`` applies to a detections file; the ids it gives are the crops'
  keys and each :class:`ddhpose.video.detectors.Person`'s ``track_id``.

docs/multi_person.md compares it with the region search of
:class:`ddhpose.video.detectors.MediaPipeMultiPose`.
"""
from __future__ import annotations

import warnings

import numpy as np

from ddhpose.lifting.keypoints import MEDIAPIPE33
from ddhpose.lifting.options import TrackingOptions
from ddhpose.lifting.tracking import Tracker
from ddhpose.video.blazepose import BlazePoseModels, Candidate, Pose, PRESENCE, Roi
from ddhpose.video.detectors import Person, _check_frame, pelvis_outside, same_person, search_windows

#: Two poses, one's box inside the other's, are two people where their heads lie further apart than
#: this fraction of the larger box's diagonal (:func:`ddhpose.video.detectors.same_person`).
SAME_HEAD = 0.25
#: MediaPipe's left and right hip.
MEDIAPIPE_HIPS = (MEDIAPIPE33.index("left_hip"), MEDIAPIPE33.index("right_hip"))
#: Frames a followed person whose crop found nobody is still looked for.
FOLLOW_MISSES = 3
#: A followed person whose crop finds no pose is looked for in the crop turned by a quarter, half
#: and three-quarter turn, while they have been missed for fewer than this many frames (the
#: landmark model needs a crop turned about upright; a flip outturns the last frame's crop).
TURN_MISSES = 1
#: The turns (radians) a lost person's crop is tried at, besides its own.
QUARTER_TURNS = (np.pi / 2, np.pi, -np.pi / 2)
#: Squares of half the frame's shorter side searched per pass, in turn (all of them every
#: ``len(tiles) / SMALL_TILES_PER_PASS`` passes).
SMALL_TILES_PER_PASS = 3
#: A detector candidate whose hips' centre lies within this fraction of a found person's box
#: diagonal from that person's hips is that person (a person behind another gets their own pass).
SAME_CANDIDATE_HIPS = 0.2


def tile_levels(width: int, height: int) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int, int]]]:
    """(the whole frame and the squares of its shorter side, the squares of half of it): the
    windows of :func:`ddhpose.video.detectors.search_windows`, split by size."""
    windows = search_windows(width, height)
    short = min(width, height)
    large = [w for w in windows if w[2] - w[0] >= short or w == (0, 0, width, height)]
    return large, [w for w in windows if w not in large]


def _found(candidate: Candidate, pose: Pose) -> bool:
    """The detector's candidate is a person already found: their hips' centres coincide."""
    box = Person(pose.keypoints, pose.scores).box
    hips = pose.keypoints[list(MEDIAPIPE_HIPS)].mean(0)
    return bool(np.linalg.norm(candidate.keypoints[0] - hips) < SAME_CANDIDATE_HIPS * np.linalg.norm(box[2:] - box[:2]))


class PeopleDetector:
    """Several people per frame with their track ids (see the module docstring).

    Args:
        max_people: the most people kept per frame (the largest and surest); a warning says the
            first time more were seen.
        detect_every: frames between passes of the person detector (1: every frame).
        max_gap: frames the tracker lets a person go unseen and keep their id; max_jump: the
            most a person moves per frame, in frame widths (``TrackingOptions``' rules).
        threads: TFLite threads per model.
        source: the video, for the tracker's warnings.
    Scores are landmark visibilities, as MediaPipe's.
    """

    name = "blazepose"
    layout = MEDIAPIPE33.name

    def __init__(self, max_people: int = 4, *, detect_every: int = 10, max_gap: int = TrackingOptions.max_gap,
                 max_jump: float = TrackingOptions.max_jump,
                 threads: int = 2, source: str = "", models: BlazePoseModels | None = None) -> None:
        if max_people < 1 or detect_every < 1:
            raise ValueError(f"expected max_people >= 1 and detect_every >= 1, got {max_people} and {detect_every}")
        self.max_people, self.detect_every = max_people, detect_every
        self._models = models or BlazePoseModels(threads)
        self._tracker = Tracker(MEDIAPIPE33, max_gap=max_gap, source=source)
        self._max_jump = max_jump
        self._followed: dict[int, tuple[Roi, int]] = {}  # track id -> (crop for the next frame, misses)
        self._frame = 0
        self._lost = False
        self._small_turn = 0
        self._passes = 0
        self._warned = False
        self.landmark_passes = 0  # counters, for the benchmarks
        self.detector_passes = 0

    def _pose(self, rgb: np.ndarray, roi: Roi) -> Pose | None:
        self.landmark_passes += 1
        pose = self._models.landmarks(rgb, roi)
        height, width = rgb.shape[:2]
        if pose.presence < PRESENCE or pelvis_outside(Person(pose.keypoints, pose.scores), width, height):
            return None
        return pose

    def _turned(self, rgb: np.ndarray, roi: Roi) -> Pose | None:
        """The surest pose of ``roi`` turned by each other quarter turn: a person rotating fast (a
        flip, a cartwheel, a fall) outturns the crop their last landmarks gave."""
        poses = [self._pose(rgb, Roi(roi.centre, roi.side, roi.rotation + turn)) for turn in QUARTER_TURNS]
        return max((p for p in poses if p is not None), key=lambda p: p.presence, default=None)

    def _windows(self, width: int, height: int, *, large_only: bool) -> list[tuple[int, int, int, int]]:
        """The windows of this pass: the whole frame and the squares of its shorter side, or
        (every other pass) the next :data:`SMALL_TILES_PER_PASS` squares of half of it."""
        large, small = tile_levels(width, height)
        self._passes += 1
        if not small or large_only or self._passes % 2:
            return large
        turn = [small[(self._small_turn + k) % len(small)] for k in range(min(SMALL_TILES_PER_PASS, len(small)))]
        self._small_turn = (self._small_turn + len(turn)) % len(small)
        return turn

    def __call__(self, rgb: np.ndarray) -> list[Person]:
        _check_frame(rgb)
        height, width = rgb.shape[:2]
        self._tracker.max_jump_px = self._max_jump * width
        found: list[tuple[Pose, int | None]] = []  # (pose, the id whose crop found it)
        for tid, (roi, misses) in self._followed.items():
            pose = self._pose(rgb, roi)
            if pose is None and misses < TURN_MISSES:
                pose = self._turned(rgb, roi)
            if pose is not None:
                found.append((pose, tid))
        searching = self._frame % self.detect_every == 0 or self._lost or not self._followed
        if searching:
            candidates: list[Candidate] = []
            for window in self._windows(width, height, large_only=self._lost or not self._followed):
                self.detector_passes += 1
                candidates += self._models.detect(rgb, window)
            for c in sorted(candidates, key=lambda c: -c.score):
                if any(_found(c, p) for p, _ in found):
                    continue
                pose = self._pose(rgb, c.roi)
                if pose is not None:
                    found.append((pose, None))
        people = self._merge(found)
        ids = self._tracker.update(self._frame, [p.keypoints for p, _ in people], [p.scores for p, _ in people])
        self._follow(people, ids)
        self._frame += 1
        return [Person(p.keypoints, p.scores, tid) for (p, _), tid in zip(people, ids)]

    def _merge(self, found: list[tuple[Pose, int | None]]) -> list[tuple[Pose, int | None]]:
        """One pose per person (the surest of those that coincide), at most ``max_people``."""
        kept: list[tuple[Pose, int | None]] = []
        for pose, tid in sorted(found, key=lambda f: -float(np.mean(f[0].scores))):
            person = Person(pose.keypoints, pose.scores)
            if not any(same_person(person, Person(k.keypoints, k.scores), head=SAME_HEAD) for k, _ in kept):
                kept.append((pose, tid))
        if len(kept) > self.max_people:
            if not self._warned:
                warnings.warn(f"frame {self._frame}: {len(kept)} people seen, more than max_people={self.max_people}; "
                              "keeping the largest and surest", stacklevel=3)
                self._warned = True
            rank = [float(np.mean(p.scores)) * float(np.linalg.norm(np.ptp(p.keypoints, axis=0))) for p, _ in kept]
            kept = [kept[i] for i in np.argsort(rank)[::-1][:self.max_people]]
        return kept

    def _follow(self, people: list[tuple[Pose, int | None]], ids: list[int]) -> None:
        """The crops of the next frame: each person's from their landmarks; a followed person not
        found keeps their crop, moved by the tracker's motion, for :data:`FOLLOW_MISSES` frames."""
        followed = {tid: (pose.next_roi, 0) for (pose, _), tid in zip(people, ids)}
        lost = False
        for tid, (roi, misses) in self._followed.items():
            if tid in followed:
                continue
            lost = lost or misses == 0  # search the next frame once, right after a loss
            if misses < FOLLOW_MISSES and len(followed) < self.max_people:
                step = self._tracker.velocity[tid] if tid < len(self._tracker.velocity) else np.zeros(2)
                followed[tid] = (Roi(roi.centre + step, roi.side, roi.rotation), misses + 1)
        self._followed, self._lost = followed, lost

    def close(self) -> None:
        """Nothing to release (the interpreters go with the object); the tracker's warnings are
        given here, at the end of the video."""
        self._tracker.warn_ambiguous()
