"""OpenPose BODY_25: one '*_keypoints.json' per frame ({'people': [{'pose_keypoints_2d'}]})."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ddhpose.lifting.inputs.fields import instance, load_json, track_id
from ddhpose.lifting.tracking import Detection


def openpose_frame(data: Any, frame: int, src: str) -> list[Detection]:
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise ValueError(f"{src}: expected an OpenPose dict with a 'people' list")
    dets = []
    for n, person in enumerate(people):
        kp, sc = instance(person, src, f"'people'[{n}]", "pose_keypoints_2d")
        kp = np.where(sc[:, None] > 0, kp, np.nan)  # OpenPose writes 0, 0, 0 for undetected joints
        dets.append(Detection(frame, track_id(person), kp, sc))
    return dets


def read_openpose(files: list[Path], where: str) -> list[Detection]:
    """OpenPose frames, ordered by the frame number in each '*_keypoints.json' name."""
    if not files:
        raise ValueError(f"{where}: no OpenPose '*_keypoints.json' files in the folder")
    numbers = [re.search(r"(\d+)_keypoints\.json$", f.name) for f in files]
    frames = [int(m.group(1)) for m in numbers] if all(numbers) else list(range(len(files)))
    if len(set(frames)) != len(frames):
        raise ValueError(f"{where}: several '*_keypoints.json' files share a frame number")
    order = np.argsort(frames, kind="stable")
    return [d for i in order for d in openpose_frame(load_json(files[i]), frames[i], str(files[i]))]
