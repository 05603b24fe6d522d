"""``ddhpose video``: a video file in, 3D out (detections, one result per person, BVH, render)."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from ddhpose.export.render import SUPPORTED_EXTENSIONS, render_result
from ddhpose.export.results import load_result, result_format
from ddhpose.files import atomic_path
from ddhpose.pipelines.lift import lift_file
from ddhpose.video.decode import detect_video, overlay_frames
from ddhpose.video.detectors import Detector


def lift_video(input_path: str | os.PathLike, output_path: str | os.PathLike, *, render: str | None = None,
               bvh: bool = False, detector: Detector | None = None, lifter: Any = None, fps: float | None = None,
               progress: bool = True, **lift_kwargs: Any) -> list[Path]:
    """Video file -> detections, 3D results (one per person), optional BVH and render.

    Writes ``OUTPUT`` (.npz or .json; ``_track<id>`` suffixes for several people), the
    detections as ``<OUTPUT stem>.detections.json``, with ``bvh`` a .bvh per result and with
    ``render`` an animation of the detections over the frames beside the 3D. ``fps`` overrides
    the video's frame rate; ``lift_kwargs`` go to :func:`ddhpose.pipelines.lift.lift_file`.
    Returns the written paths.
    """
    output_path = Path(output_path)
    result_format(output_path)  # bad output names fail before the slow part
    if render and Path(render).suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise ValueError(f"{render}: unsupported animation extension {Path(render).suffix!r}; expected one of "
                         f"{', '.join(SUPPORTED_EXTENSIONS)}")
    info, detections = detect_video(input_path, detector, progress=progress)
    rate = float(fps) if fps else info.fps
    detections["fps"] = rate
    det_path = output_path.with_name(output_path.stem + ".detections.json")
    with contextlib.ExitStack() as stack:  # the detections land only if the lift succeeds
        tmp = stack.enter_context(atomic_path(det_path))
        Path(tmp).write_text(json.dumps(detections), encoding="utf-8")
        lift_kwargs.setdefault("score_threshold", detections["score_threshold"])
        paths = lift_file(tmp, output_path, image_size=info.size, bvh=bvh, fps=rate, lifter=lifter,
                          layout=detections["layout"], **lift_kwargs)
    paths = [det_path] + paths
    if render:
        results = [p for p in paths[1:] if p.suffix in (".npz", ".json")]
        target = Path(render)
        for path in results:
            suffix = path.stem[len(output_path.stem):] if len(results) > 1 else ""
            paths.append(render_result(path, target.with_name(target.stem + suffix + target.suffix),
                                       video_frames=overlay_frames(input_path, load_result(path).frames),
                                       progress=progress))
    return paths
