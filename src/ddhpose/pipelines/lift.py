"""``ddhpose lift``: a keypoint file in, one result file per person out (and BVH / animations)."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Callable, Sequence

import torch

from ddhpose.export.bvh import export_bvh
from ddhpose.export.results import result_format, write_result
from ddhpose.files import atomic_path
from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.keypoints import DEFAULT_SCORE_THRESHOLD
from ddhpose.lifting.lifter import DEFAULT_FPS, DEFAULT_SMOOTHING, Lifter
from ddhpose.lifting.tracking import TrackingOptions


def lift_file(input_path: str | os.PathLike, output_path: str | os.PathLike, *, layout: str | None = None,
              image_size: Sequence[int] | None = None, hypotheses: int = 1, iterations: int = 1, bvh: bool = False,
              fps: float | None = None, lifter: Lifter | None = None, device: torch.device | str | None = None,
              flip: bool = True, seed: int = 0, focal_length: float | None = None, aggregation: str = "p_agg",
              bone_lengths: str = "track", smooth: float = DEFAULT_SMOOTHING,
              score_threshold: float = DEFAULT_SCORE_THRESHOLD, tracking: TrackingOptions | None = None,
              bvh_units: str = "cm", bvh_trajectory: bool = False, height: float | None = None) -> list[Path]:
    """Lift every person of a keypoint file (see :func:`ddhpose.lifting.inputs.read_keypoints`;
    ``tracking`` says which detections are people, :class:`ddhpose.lifting.tracking.TrackingOptions`).

    Writes one result per track to ``output_path`` (.npz or .json, :mod:`ddhpose.export.results`);
    with several tracks the names get a ``_track<id>`` suffix. ``bvh=True`` also writes a .bvh
    beside each result (:func:`ddhpose.export.bvh.export_bvh`; in ``bvh_units``, 'cm' or 'm';
    root-relative, or with ``bvh_trajectory`` the root moving along the estimated camera-frame
    trajectory). ``fps`` (default :data:`DEFAULT_FPS`) is recorded in every result and used for
    the BVH. ``lifter`` None loads the bundled model (on ``device``). ``height`` (metres) scales
    every track to that standing height (see :meth:`Lifter.lift`).
    All or nothing: every track is lifted before anything is written, and the files are
    renamed into place only once all of them are written.

    Returns:
        the written paths, per track the result then (with ``bvh``) the .bvh.
    """
    output_path = Path(output_path)
    fmt = result_format(output_path)
    export_bvh_file = export_bvh if bvh else None
    tracks = read_keypoints(input_path, layout, image_size=image_size, tracking=tracking)
    lifter = lifter or Lifter.from_pretrained(device=device)
    fps = DEFAULT_FPS if fps is None else float(fps)
    results = []
    for t in tracks:
        r = lifter.lift(t, image_size=image_size, hypotheses=hypotheses, iterations=iterations, flip=flip, seed=seed,
                        focal_length=focal_length, aggregation=aggregation, bone_lengths=bone_lengths, smooth=smooth,
                        score_threshold=score_threshold, height=height)
        source = dict(input=str(input_path), tracking=dataclasses.asdict(tracking or TrackingOptions()))
        results.append(dataclasses.replace(r, fps=fps, provenance={**r.provenance, **source}))
    writes: list[tuple[Path, Callable[[Path], None]]] = []
    for r in results:
        target = output_path.with_name(output_path.stem + (f"_track{r.track_id}" if len(results) > 1 else "")
                                       + output_path.suffix)
        writes.append((target, lambda tmp, r=r: write_result(r, tmp, fmt)))
        if export_bvh_file is not None:
            kwargs = {"frame": "camera", "fps": fps, "units": bvh_units}
            moving = bvh_trajectory and r.root_trajectory is not None
            poses = r.poses + r.root_trajectory[:, None] if moving else r.poses
            writes.append((target.with_suffix(".bvh"), lambda tmp, p=poses: export_bvh_file(tmp, p, **kwargs)))
    with contextlib.ExitStack() as stack:  # on any error every temporary file is removed
        for target, write in writes:
            write(stack.enter_context(atomic_path(target)))
    return [target for target, _ in writes]
