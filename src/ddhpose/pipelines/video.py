"""``ddhpose video``: a video file in, 3D out, decoding the video once.

1. decode every frame once and detect the people in it (:mod:`ddhpose.video.detect`), keeping
   the frames (small, compressed) when a render is wanted;
2. split the detections into people (:func:`ddhpose.lifting.inputs.tracks_from_detections`, the
   same tracks ``ddhpose lift`` makes of the detections file) and lift them at the video's frame
   rate and size, all in one world frame;
3. write the detections (``OUT.detections.json``, for re-lifting without the video), one result
   per person and the exports they ask for, all or nothing (:mod:`ddhpose.export.writers`);
4. render the detections over the kept frames beside the 3D; the browser page (``--html``)
   embeds some of the kept frames.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from ddhpose.export.options import ExportOptions
from ddhpose.export.render import MAX_RENDER_HEIGHT, write_animation
from ddhpose.export.results import result_format
from ddhpose.export.writers import Write, planned_writes, write_all
from ddhpose.lifting.inputs import tracks_from_detections
from ddhpose.lifting.lifter import Lifter
from ddhpose.lifting.options import VIDEO_MAX_PEOPLE, LiftOptions, TrackingOptions
from ddhpose.pipelines.lift import lift_tracks, split_settings
from ddhpose.pipelines.summary import summary
from ddhpose.video.decode import read_frames
from ddhpose.video.detect import DETECTION_WIDTH, DetectionFailed, detect_decoded, get_detector
from ddhpose.video.detectors import Detector
from ddhpose.video.frames import FrameStore


def lift_video(input_path: str | os.PathLike, output_path: str | os.PathLike, options: LiftOptions | None = None, *,
               exports: ExportOptions | None = None, tracking: TrackingOptions | None = None,
               detector: Detector | None = None, lifter: Lifter | None = None, progress: bool = True,
               **settings: Any) -> list[Path]:
    """Video file -> detections, 3D results (one per person), optional exports and render.

    Writes ``OUTPUT`` (.npz or .json; ``_track<id>`` suffixes for several people), the
    detections as ``<OUTPUT stem>.detections.json``, the exports ``exports`` asks for beside each
    result (:mod:`ddhpose.export.writers`) and its ``render``: one animation of every person's
    detections over the frames beside the 3D (``render_size`` pixels high; default
    :func:`ddhpose.export.render.default_render_size` of the video's height). ``options`` says how
    to lift (its ``fps`` overrides the video's frame rate; without a focal length the video's
    metadata gives one where it states its lens); ``settings`` are shortcuts for fields of
    ``options`` and ``exports``. Returns the written paths.

    Raises:
        PartlyWritten: interrupted (Ctrl-C) while rendering, after the results were written;
            it lists them.
    """
    lift_changes, export_changes = split_settings(settings)
    options = (options or LiftOptions()).with_changes(**lift_changes)
    exports = dataclasses.replace(exports or ExportOptions(), **export_changes)
    output_path = Path(output_path)
    result_format(output_path)  # bad output names fail before the slow part
    lifter = lifter or Lifter.from_pretrained()
    store = FrameStore(exports.render_size or MAX_RENDER_HEIGHT) if exports.render or exports.html else None
    det_path = output_path.with_name(output_path.stem + ".detections.json")
    try:
        info, frames = read_frames(input_path, max_width=DETECTION_WIDTH)
    except Exception:
        if detector is not None:  # a detector handed in is closed whatever happens, as detect_video does
            detector.close()
        raise
    if detector is None:
        tracking_ = tracking or TrackingOptions()
        detector = get_detector(max_people=tracking_.max_people or VIDEO_MAX_PEOPLE, max_gap=tracking_.max_gap,
                                max_jump=tracking_.max_jump, source=str(input_path))
    try:
        detections = detect_decoded(info, frames, detector, progress=progress,
                                    keep=None if store is None else store.add)
    except DetectionFailed as failed:  # keep what was found: `ddhpose lift` lifts it
        partial = failed.detections.to_json()
        write_all([(det_path, lambda tmp: Path(tmp).write_text(json.dumps(partial), encoding="utf-8"))])
        raise DetectionFailed(f"{failed}; the detections of those frames are kept in {det_path} (`ddhpose lift "
                              f"{det_path} -o {output_path.name}` lifts them)", failed.detections) from None
    if options.focal_length is None and options.camera_file is None and info.focal_length is not None:
        # the lens the file states (a calibration given, or a focal length, is surer)
        options = options.with_changes(focal_length=info.focal_length,
                                       focal_length_source="the video's metadata (35 mm equivalent)")
    tracks = tracks_from_detections(detections, tracking)
    results = lift_tracks(tracks, lifter, options, source=str(input_path), tracking=tracking, progress=progress)
    document = detections.to_json()
    writes: list[Write] = [(det_path, lambda tmp: Path(tmp).write_text(json.dumps(document), encoding="utf-8"))]
    written = write_all(writes + planned_writes(results, output_path, exports,
                                                None if store is None else store.frames))
    if progress:
        print(summary(results), file=sys.stderr)
    return written + write_animation(results, exports, written, video_height=info.size[1],
                                     frames_of=None if store is None else store.frames, progress=progress)
