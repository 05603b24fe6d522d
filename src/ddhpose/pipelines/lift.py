"""``ddhpose lift``: a keypoint file in, one result file per person out (and exports on request)."""
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from ddhpose.export.options import ExportOptions
from ddhpose.export.render import write_animation
from ddhpose.export.results import result_format
from ddhpose.export.writers import planned_writes, write_all
from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.keypoints import KeypointTrack
from ddhpose.lifting.lifter import Lifter
from ddhpose.lifting.options import LiftOptions, TrackingOptions
from ddhpose.lifting.placement import place_in_world
from ddhpose.lifting.result import LiftResult
from ddhpose.pipelines.summary import summary


def split_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keyword shortcuts of the pipelines: (the :class:`LiftOptions` ones, the
    :class:`ExportOptions` ones); a name that is neither is refused, naming it."""
    lift = {f.name for f in dataclasses.fields(LiftOptions)}
    export = {f.name for f in dataclasses.fields(ExportOptions)}
    unknown = sorted(set(settings) - lift - export)
    if unknown:
        raise TypeError(f"unknown lifting or export option(s): {', '.join(unknown)}")
    return ({k: v for k, v in settings.items() if k in lift}, {k: v for k, v in settings.items() if k in export})


def lift_tracks(tracks: Sequence[KeypointTrack], lifter: Lifter, options: LiftOptions | None = None, *,
                source: str, tracking: TrackingOptions | None = None, progress: bool = False) -> list[LiftResult]:
    """Lift every person of one clip; with ``options.world`` the people share one world frame (one
    floor, their relative positions kept: :func:`ddhpose.lifting.placement.place_in_world`).
    With ``options.estimate_focal`` each person gets their own estimate of the focal length
    (one shared by the clip's people spread a wrong one to all: docs/world_accuracy.md).
    ``source`` (the user's file) and ``tracking`` are recorded in every result's provenance."""
    options = options or LiftOptions()
    extra = dict(input=source, tracking=dataclasses.asdict(tracking or TrackingOptions()))
    results = [_lift_one(lifter, track, dataclasses.replace(options, world=False), extra, options.world, progress)
               for track in tracks]
    return place_in_world(results, foot_lock=options.foot_lock) if options.world and results else results


def _lift_one(lifter: Lifter, track: KeypointTrack, options: LiftOptions, extra: dict, world: bool,
              progress: bool) -> LiftResult:
    """One person of :func:`lift_tracks`, camera frame only, ``extra`` and where it came from in
    the provenance."""
    r = lifter.lift(track, options=options, progress=progress)
    given = {} if track.input_track_id is None else {"input_track_id": int(track.input_track_id)}
    return dataclasses.replace(r, provenance={**r.provenance, **extra, **given, "world": world})


def lift_file(input_path: str | os.PathLike, output_path: str | os.PathLike, options: LiftOptions | None = None, *,
              exports: ExportOptions | None = None, tracking: TrackingOptions | None = None,
              layout: str | None = None, image_size: Sequence[int] | None = None, lifter: Lifter | None = None,
              device: torch.device | str | None = None, progress: bool = False, **settings: Any) -> list[Path]:
    """Lift every person of a keypoint file (see :func:`ddhpose.lifting.inputs.read_keypoints`;
    ``tracking`` says which detections are people, :class:`ddhpose.lifting.options.TrackingOptions`).

    Writes one result per track to ``output_path`` (.npz or .json, :mod:`ddhpose.export.results`);
    with several tracks the names get a ``_track<id>`` suffix. ``exports``
    (:class:`ddhpose.export.options.ExportOptions`) asks for a .bvh, .trc and .glb beside each
    result (:mod:`ddhpose.export.writers`) and for an animation of every person, written after
    the results. ``options`` (:class:`ddhpose.lifting.options.LiftOptions`) says how to lift;
    ``settings`` are shortcuts for fields of either (``lift_file(a, b, hypotheses=5, bvh=True)``).
    The frame rate is the file's (e.g. a ``ddhpose video`` detections file's) unless
    ``options.fps`` says otherwise. ``lifter`` None loads the bundled model (on ``device``).
    All or nothing: every track is lifted before anything is written, and the files are
    renamed into place only once all of them are written.

    Returns:
        the written paths, per track the result then its exports, then the animation.
    Raises:
        PartlyWritten: interrupted (Ctrl-C) while rendering, after the results were written.
    """
    lift_changes, export_changes = split_settings(settings)
    options = (options or LiftOptions()).with_changes(**lift_changes)
    exports = dataclasses.replace(exports or ExportOptions(), **export_changes)
    output_path = Path(output_path)
    result_format(output_path)  # a bad output name fails before the slow part
    tracks = read_keypoints(input_path, layout, image_size=image_size, tracking=tracking)
    lifter = lifter or Lifter.from_pretrained(device=device)
    results = lift_tracks(tracks, lifter, options, source=str(input_path), tracking=tracking, progress=progress)
    written = write_all(planned_writes(results, output_path, exports))
    if progress:
        print(summary(results), file=sys.stderr)
    return written + write_animation(results, exports, written, progress=progress)

