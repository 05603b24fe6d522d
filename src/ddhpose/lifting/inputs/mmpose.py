"""MMPose predictions: the inferencer's frame list and its per-image JSON folders."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ddhpose.lifting.inputs.fields import frame_index, instance, load_json, score_of, track_id
from ddhpose.lifting.tracking import Detection


def mmpose_frames(data: list, src: str) -> list[Detection]:
    """MMPose's inferencer output: [{'frame_id', 'instances': [{'keypoints', 'keypoint_scores',
    'bbox_score', 'track_id'?}]}]."""
    return [Detection(frame_index(f.get("frame_id", i), src, f"frame {i} 'frame_id'"), track_id(p),
                      *instance(p, src, f"frame {i} instance {n}"), score_of(p))
            for i, f in enumerate(data) for n, p in enumerate(as_list(f.get("instances"), src, i))]


def as_list(value: Any, src: str, frame: int) -> list:
    if value is not None and not isinstance(value, list):
        raise ValueError(f"{src}: frame {frame} 'instances' expected a list, got {type(value).__name__}")
    return value or []


def read_per_image(files: list[Path], where: str) -> list[Detection]:
    """MMPose's per-image predictions (``pred_out_dir``): one JSON list of instances per frame,
    ordered by the last number in each file name (else by name)."""
    if not files:
        raise ValueError(f"{where}: no OpenPose '*_keypoints.json' nor per-image '*.json' files in the folder")
    numbers = [re.findall(r"\d+", f.stem) for f in files]
    frames = [int(n[-1]) for n in numbers] if all(numbers) else list(range(len(files)))
    if len(set(frames)) != len(frames):
        frames = list(range(len(files)))
    dets = []
    for frame, file in sorted(zip(frames, files)):
        data = load_json(file)
        people = data.get("instances", data.get("instance_info")) if isinstance(data, dict) else data
        if not isinstance(people, list):
            raise ValueError(f"{file}: expected a list of instances with 'keypoints' (MMPose per-image predictions)")
        dets += [Detection(frame, track_id(p), *instance(p, str(file), f"instance {n}"), score_of(p))
                 for n, p in enumerate(people)]
    return dets
