"""``ddhpose lift``: a keypoint file in, one result file per person out (and BVH on request)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from ddhpose.export.render import SUPPORTED_EXTENSIONS, render_result
from ddhpose.export.results import result_format
from ddhpose.export.writers import ExportOptions, planned_writes, write_all
from ddhpose.files import PartlyWritten
from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.keypoints import KeypointTrack
from ddhpose.lifting.lifter import DEFAULT_FPS, DEFAULT_SMOOTHING, Lifter, place_in_world
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.tracking import TrackingOptions


def lift_tracks(tracks: Sequence[KeypointTrack], lifter: Lifter, *, source: str, fps: float | None = None,
                tracking: TrackingOptions | None = None, world: bool = True, foot_lock: bool = True,
                progress: bool = False, **lift_kwargs: Any) -> list[LiftResult]:
    """Lift every person of one clip; with ``world`` the people share one world frame (one floor,
    their relative positions kept: :func:`ddhpose.lifting.lifter.place_in_world`).

    ``fps`` overrides the tracks' own rate (default: theirs, else :data:`DEFAULT_FPS`); ``source``
    (the user's file) and ``tracking`` are recorded in every result's provenance.
    """
    results = []
    for track in tracks:
        rate = float(fps or track.fps or DEFAULT_FPS)
        r = lifter.lift(track, fps=rate, world=False, progress=progress, **lift_kwargs)
        extra = dict(input=source, tracking=dataclasses.asdict(tracking or TrackingOptions()),
                     fps_source="given" if fps else "the input" if track.fps else "assumed")
        results.append(dataclasses.replace(r, provenance={**r.provenance, **extra, "world": world,
                                                          "foot_lock": foot_lock}))
    return place_in_world(results, foot_lock=foot_lock) if world and results else results


def lift_file(input_path: str | os.PathLike, output_path: str | os.PathLike, *, layout: str | None = None,
              image_size: Sequence[int] | None = None, hypotheses: int = 1, iterations: int = 1, bvh: bool = False,
              fps: float | None = None, lifter: Lifter | None = None, device: torch.device | str | None = None,
              flip: bool = True, seed: int = 0, focal_length: float | None = None, aggregation: str = "p_agg",
              bone_lengths: str = "track", smooth: float = DEFAULT_SMOOTHING,
              score_threshold: float | None = None, tracking: TrackingOptions | None = None,
              bvh_units: str = "cm", bvh_trajectory: bool = False, height: float | None = None,
              world: bool = True, foot_lock: bool = True, progress: bool = False, render: str | None = None,
              render_size: int | None = None, trc: bool = False, glb: bool = False, fit_2d: bool = False
              ) -> list[Path]:
    """Lift every person of a keypoint file (see :func:`ddhpose.lifting.inputs.read_keypoints`;
    ``tracking`` says which detections are people, :class:`ddhpose.lifting.tracking.TrackingOptions`).

    Writes one result per track to ``output_path`` (.npz or .json, :mod:`ddhpose.export.results`);
    with several tracks the names get a ``_track<id>`` suffix. ``bvh=True`` also writes a .bvh
    beside each result (:mod:`ddhpose.export.writers`: in the world frame when one was found,
    upright with the root moving over the floor; else in the camera frame, root-relative or with
    ``bvh_trajectory`` along the camera-frame trajectory; in ``bvh_units``, 'cm' or 'm'); ``trc``
    and ``glb`` likewise a .trc marker file (OpenSim) and a .glb skinned skeleton.
    ``fps`` (default: the file's, e.g. a ``ddhpose video`` detections file's, else
    :data:`DEFAULT_FPS`) is recorded in every result and used for the BVH. ``lifter`` None loads
    the bundled model (on ``device``). ``height`` (metres) scales every track to that standing
    height (see :meth:`Lifter.lift`); ``world``, ``foot_lock`` and ``fit_2d`` as there. ``render``: also an
    animation of every person (.gif / .mp4, ``render_size`` pixels high), written after the results.
    All or nothing: every track is lifted before anything is written, and the files are
    renamed into place only once all of them are written.

    Returns:
        the written paths, per track the result then (with ``bvh``) the .bvh, then the animations.
    Raises:
        PartlyWritten: interrupted (Ctrl-C) while rendering, after the results were written.
    """
    output_path = Path(output_path)
    result_format(output_path)  # a bad output name fails before the slow part
    check_render(render, render_size)
    options = ExportOptions(bvh=bvh, bvh_units=bvh_units, bvh_trajectory=bvh_trajectory, trc=trc, glb=glb)
    tracks = read_keypoints(input_path, layout, image_size=image_size, tracking=tracking)
    lifter = lifter or Lifter.from_pretrained(device=device)
    results = lift_tracks(tracks, lifter, source=str(input_path), fps=fps, tracking=tracking, world=world,
                          foot_lock=foot_lock, progress=progress, image_size=image_size, hypotheses=hypotheses,
                          iterations=iterations, flip=flip, seed=seed, focal_length=focal_length,
                          aggregation=aggregation, bone_lengths=bone_lengths, smooth=smooth,
                          score_threshold=score_threshold, height=height, fit_2d=fit_2d)
    written = write_all(planned_writes(results, output_path, options))
    return written + render_people(results, render, written, size=render_size or 384, progress=progress)


def check_render(render: str | None, size: int | None) -> None:
    """Refuse an animation name or size the render cannot write, before any slow work."""
    if render and Path(render).suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"{render}: unsupported animation extension {Path(render).suffix!r}; expected one of "
                         f"{', '.join(SUPPORTED_EXTENSIONS)}")
    if size is not None and size < 64:
        raise ValueError(f"render size: expected at least 64 pixels, got {size}")


def render_people(results: Sequence[LiftResult], render: str | None, written: list[Path], *, size: int,
                  frames: Callable[[np.ndarray], Iterator[np.ndarray]] | None = None,
                  progress: bool = False) -> list[Path]:
    """One animation of every person (:func:`ddhpose.export.render.render_result`: the world frame
    when they have one); ``frames(numbers)`` gives the video frames of those frame numbers to draw
    under the keypoints. Ctrl-C while rendering raises :class:`PartlyWritten` naming ``written``
    (the files already in place) and the animation."""
    if not render:
        return []
    timeline = np.unique(np.concatenate([r.frames for r in results]))
    try:
        return [render_result(list(results), render, size=size, progress=progress,
                              video_frames=None if frames is None else frames(timeline))]
    except KeyboardInterrupt:
        raise PartlyWritten(written, [str(render)]) from None
