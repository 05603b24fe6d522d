"""Every file a lift writes, in one place: per person a result (.npz / .json) and, on request,
a BVH (animation tools), a TRC (OpenSim, Pose2Sim: the markers of :mod:`ddhpose.export.opensim`), a
glTF binary (.glb: Blender, three.js, browser viewers) and the joint angles (``_angles.csv``,
``_angles.mot``, ``_angles.png``); then one browser page of every person (.html); all written or none.

Several people (ids 0..N-1) get ``_track<id>`` suffixes (``people.npz`` -> ``people_track0.npz``,
``people_track1.npz``, ...), and ``people.npz`` itself holds every person on one timeline with a
people axis (:mod:`ddhpose.export.people`). Motion
files use the world frame when the result has one (upright, y up, feet on the floor at y = 0,
the root moving over it; :mod:`ddhpose.lifting.world`), else the camera frame (turned upright:
y up, facing the camera).
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ddhpose.export.angle_plots import angle_figure_png
from ddhpose.export.angles import format_angle_csv, format_angle_mot
from ddhpose.export.bvh import export_bvh
from ddhpose.export.opensim import marker_names
from ddhpose.export.options import ExportOptions
from ddhpose.export.people import write_people
from ddhpose.export.gltf import glb_bytes, gltf_document
from ddhpose.export.trc import format_trc
from ddhpose.export.results import result_format, write_result
from ddhpose.export.viewer import FrameSource, page_html
from ddhpose.files import atomic_path
from ddhpose.geometry import CAMERA_TO_Y_UP
from ddhpose.lifting.result import LiftResult

#: A planned write: the target path and a function writing it to a given (temporary) path.
Write = tuple[Path, Callable[[Path], None]]


def person_path(output: Path, track_id: int, several: bool) -> Path:
    """The file of one person: ``output`` itself, or with a ``_track<id>`` suffix when several."""
    output = Path(output)
    return output.with_name(output.stem + (f"_track{track_id}" if several else "") + output.suffix)


def motion(result: LiftResult, options: ExportOptions) -> np.ndarray:
    """(F, J, 3) metres, y up, to animate: the world poses, else the camera frame turned upright
    (:data:`ddhpose.geometry.CAMERA_TO_Y_UP`: facing the camera along +z), root-relative unless
    ``bvh_trajectory``."""
    if result.world_poses is not None:
        return result.world_poses
    poses = result.poses
    if options.bvh_trajectory and result.root_trajectory is not None:
        poses = poses + result.root_trajectory[:, None]
    return np.asarray(poses, np.float64) @ np.asarray(CAMERA_TO_Y_UP).T


def planned_writes(results: Sequence[LiftResult], output: str | Path, options: ExportOptions = ExportOptions(),
                   frames_of: FrameSource | None = None) -> list[Write]:
    """The files of ``results`` (one person each) named after ``output`` (.npz or .json): with
    several people first ``output`` itself holding every person (the people file), then per
    person the result, then the exports ``options`` ask for; then the page (``output`` as .html,
    the video frames ``frames_of`` gives embedded when given)."""
    output = Path(output)
    fmt = result_format(output)
    targets = [person_path(output, r.track_id, len(results) > 1) for r in results]
    motions = [motion(r, options) for r in results]
    writes: list[Write] = []
    if len(results) > 1:
        files = [t.name for t in targets]
        writes.append((output, lambda tmp: write_people(results, tmp, fmt, files)))
    for r, target, poses in zip(results, targets, motions):
        writes.append((target, lambda tmp, r=r: write_result(r, tmp, fmt)))
        fps = r.frame_rate
        if options.bvh:
            writes.append((target.with_suffix(".bvh"), lambda tmp, p=poses, s=fps:
                           export_bvh(tmp, p, s, frame="yup", units=options.bvh_units)))
        if options.trc:
            writes.append((target.with_suffix(".trc"), lambda tmp, p=poses, s=fps, n=target.with_suffix(".trc").name, r=r:
                           Path(tmp).write_text(format_trc(p, s, marker_names(r.joint_names), n,
                                                           start_frame=int(r.frames[0])), encoding="utf-8")))
        if options.glb:
            writes.append((target.with_suffix(".glb"), lambda tmp, p=poses, s=fps, k=int(r.frames[0]):
                           Path(tmp).write_bytes(glb_bytes(*gltf_document(p, s, start_frame=k)))))
        if options.angles:
            angles = target.with_name(target.stem + "_angles")
            writes += [(angles.with_suffix(".csv"), lambda tmp, r=r: Path(tmp).write_text(format_angle_csv(r), encoding="utf-8")),
                       (angles.with_suffix(".mot"), lambda tmp, r=r: Path(tmp).write_text(format_angle_mot(r), encoding="utf-8")),
                       (angles.with_suffix(".png"), lambda tmp, r=r: Path(tmp).write_bytes(angle_figure_png(r)))]
    if options.html and results:
        writes.append((output.with_suffix(".html"), lambda tmp: Path(tmp).write_text(
            page_html(results, frames_of, title=output.stem), encoding="utf-8")))
    return writes


def write_all(writes: Sequence[Write]) -> list[Path]:
    """Write every planned file to a temporary name, then rename them all into place: on any error
    (or Ctrl-C) before the renames nothing is left, not even the files already finished."""
    with contextlib.ExitStack() as stack:
        for target, write in writes:
            write(stack.enter_context(atomic_path(target)))
    return [target for target, _ in writes]
