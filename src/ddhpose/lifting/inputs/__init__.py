"""Readers for 2D keypoints as common detectors write them; one :class:`KeypointTrack` per person.

One module per format (``coco``, ``mmpose``, ``openpose``, ``mediapipe``, ``arrays``; a new
detector's format is one new module plus a line in :func:`_parse_json` or :func:`read_keypoints`),
the shared field readers in ``fields``; which detections are one person is
:func:`ddhpose.lifting.tracking.tracks_of`.

Formats (``read_keypoints`` picks by extension and content):

- ``.json``, COCO results: ``[{'image_id'|'frame_id'|'frame', 'keypoints': [x, y, s] * K,
  'track_id'?}, ...]`` (MMPose, Detectron2, AlphaPose).
- ``.json``, MMPose frames: ``[{'frame_id', 'instances': [{'keypoints': [[x, y], ...],
  'keypoint_scores', 'track_id'?}]}]``, optionally inside ``{'meta_info', 'instance_info'}``.
- ``.json``, COCO dataset: ``{'images': [{'id', 'width', 'height'}], 'annotations': [...]}``.
- ``.json``, ddhpose detections (what ``ddhpose video`` writes): ``{'image_size', 'fps',
  'frames': [{'frame', 'keypoints', 'keypoint_scores'}]}``.
- a folder of OpenPose ``*_keypoints.json`` files (``'people'`` -> ``'pose_keypoints_2d'``),
  or of MMPose per-image ``*.json`` predictions (a list of instances each).
- ``.json``, MediaPipe Pose: ``[{'landmarks': [{'x', 'y', 'z', 'visibility'}] * 33}, ...]``
  (also 'pose_landmarks', or protobuf's ``{'landmark': [...]}``; ``null`` for frames without a
  person), coordinates normalised to [0, 1] (the image size is needed to get pixels).
- ``.npy`` / ``.npz``: (F, K, 2|3|4) arrays; npz keys 'keypoints' or 'positions_2d', and
  optionally 'scores', 'image_size', 'layout', 'frames'. Pickled objects are refused.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from ddhpose.lifting.inputs.arrays import read_array
from ddhpose.lifting.inputs.coco import coco_dataset, coco_results
from ddhpose.lifting.inputs.detections import DETECTIONS_FORMAT, Detections, frame_rate
from ddhpose.lifting.inputs.fields import load_json, parse_size, size_in
from ddhpose.lifting.inputs.mediapipe import is_mediapipe, mediapipe_frames
from ddhpose.lifting.inputs.mmpose import mmpose_frames, read_per_image
from ddhpose.lifting.inputs.openpose import openpose_frame, read_openpose
from ddhpose.lifting.keypoints import LAYOUT_BY_COUNT, KeypointTrack, Layout, get_layout, layout_for
from ddhpose.lifting.tracking import Detection, TrackingOptions, tracks_of

__all__ = ["Detections", "KeypointTrack", "LAYOUT_BY_COUNT", "read_keypoints", "tracks_from_detections"]


def read_keypoints(path: str | os.PathLike, layout: str | None = None, *,
                   image_size: Sequence[int] | None = None,
                   tracking: TrackingOptions | None = None) -> list[KeypointTrack]:
    """Read a keypoint file (or an OpenPose folder) into one track per person, sorted by id.

    Args:
        layout: the keypoint layout; needed for 17-joint arrays (COCO or Human3.6M?), and
            otherwise detected from the joint count (17 in JSON: 'coco', 25: 'openpose25',
            33: 'mediapipe33').
        image_size: (width, height), used when the file does not say (needed for MediaPipe).
        tracking: how detections become people (:class:`ddhpose.lifting.tracking.TrackingOptions`):
            low-score detections and short tracks (false positives) are dropped, and tracks
            never join two people across a gap. Default: ``TrackingOptions()``.
    Returns:
        one :class:`KeypointTrack` per person; files with track ids keep them, files without are
        split into people by :func:`ddhpose.lifting.tracking.associate_tracks`.
    Raises:
        ValueError: unreadable, empty or malformed files, with the file and field named.
    """
    path = Path(path)
    src = str(path)
    size = None if image_size is None else parse_size(image_size, src, "image_size argument")
    if not path.exists():
        raise ValueError(f"{src}: no such file or folder")
    fps = None  # the frame rate, where the file states one
    if path.is_dir():
        if any(path.glob("*_keypoints.json")):
            dets, file_size = read_openpose(sorted(path.glob("*_keypoints.json")), src), None
        else:
            dets, file_size = read_per_image(sorted(path.glob("*.json")), src), None
    elif path.name.endswith("_keypoints.json"):  # one OpenPose frame
        dets, file_size = read_openpose([path], src), None
    elif path.suffix.lower() in (".npy", ".npz"):
        return [read_array(path, layout, size)]
    elif path.suffix.lower() == ".json":
        data = load_json(path)
        if isinstance(data, dict) and data.get("format") == DETECTIONS_FORMAT:  # what ddhpose video writes
            return _read_detections(Detections.from_json(data, src), layout, size, tracking)
        file_size = size_in(data, src)
        fps = frame_rate(data, src)
        dets = _parse_json(data, src, file_size or size)
    else:
        raise ValueError(f"{src}: unsupported keypoint file; expected .json, .npy, .npz or an OpenPose folder")
    if size and file_size and tuple(size) != tuple(file_size):
        raise ValueError(f"{src}: image_size argument {size} disagrees with the file's {file_size}")
    tracks = tracks_of(dets, layout_of(dets, layout, src), file_size or size, src, tracking or TrackingOptions())
    return [replace(t, fps=fps) for t in tracks] if fps else tracks


def layout_of(dets: Sequence[Detection], layout: str | Layout | None, src: str) -> Layout | None:
    """The layout of a file's detections: ``layout`` when given, else the one of their keypoint
    count (:func:`ddhpose.lifting.keypoints.layout_for`); None for a file without detections
    (which :func:`~ddhpose.lifting.tracking.tracks_of` refuses). Errors name ``src``."""
    counts = sorted({len(d.keypoints) for d in dets})
    if len(counts) > 1:
        raise ValueError(f"{src}: detections have different keypoint counts {counts}; expected one")
    if layout is not None:
        return get_layout(layout)
    return get_layout(layout_for(counts[0], src)) if counts else None


def _read_detections(detections: Detections, layout: str | None, size: tuple[int, int] | None,
                     tracking: TrackingOptions | None) -> list[KeypointTrack]:
    """The tracks of a detections file, its own layout, size and rate checked against what was asked."""
    src = detections.source
    if layout is not None and get_layout(layout).name != detections.layout:
        raise ValueError(f"{src}: layout {layout!r} disagrees with the file's {detections.layout!r}")
    if size and tuple(size) != tuple(detections.image_size):
        raise ValueError(f"{src}: image_size argument {size} disagrees with the file's {detections.image_size}")
    return tracks_from_detections(detections, tracking)


def tracks_from_detections(detections: Detections, tracking: TrackingOptions | None = None) -> list[KeypointTrack]:
    """The people of a video's :class:`Detections` (what ``ddhpose video`` detected), one track
    each, with the video's image size and frame rate: the same tracks as reading its detections
    file with :func:`read_keypoints`."""
    if not detections.detections:
        raise ValueError(f"{detections.source}: no person was detected in any of its {detections.num_frames} frames "
                         f"(detector {detections.detector or 'unknown'}); nothing was written")
    tracks = tracks_of(list(detections.detections), get_layout(detections.layout), detections.image_size,
                       detections.source, tracking or TrackingOptions())
    return [replace(t, fps=detections.fps) for t in tracks] if detections.fps else tracks


def _parse_json(data: Any, src: str, size: tuple[int, int] | None) -> list[Detection]:
    if isinstance(data, dict):
        if "annotations" in data:
            return coco_dataset(data, src)
        if "people" in data:
            return openpose_frame(data, 0, src)
        for key in ("instance_info", "frames"):
            if key in data:
                return _parse_json(data[key], f"{src} '{key}'", size)
    elif is_mediapipe(data):
        return mediapipe_frames(data, src, size)
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        if "instances" in data[0]:
            return mmpose_frames(data, src)
        if "keypoints" in data[0]:
            return coco_results(data, src)
    elif isinstance(data, list) and not data:
        raise ValueError(f"{src}: the JSON list is empty; expected at least one detection")
    raise ValueError(f"{src}: unrecognised keypoint JSON (top level {type(data).__name__}); expected COCO "
                     "results [{'image_id', 'keypoints'}], MMPose [{'frame_id', 'instances'}], a COCO "
                     "dict with 'annotations', OpenPose {'people'} or MediaPipe [{'landmarks'}]")


