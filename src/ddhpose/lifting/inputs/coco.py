"""COCO keypoints: detector results (a list of detections) and datasets ('annotations')."""
from __future__ import annotations

import numpy as np

from ddhpose.lifting.inputs.fields import FRAME_KEYS, frame_index, instance, score_of, track_id
from ddhpose.lifting.tracking import Detection


def coco_results(data: list, src: str) -> list[Detection]:
    """COCO results: a list of detections, each {'image_id'|'frame_id'|'frame', 'keypoints',
    'score'?, 'track_id'?} (MMPose, Detectron2, AlphaPose, rtmlib)."""
    return [Detection(frame_index(next((p[k] for k in FRAME_KEYS if k in p), 0), src, f"instance {n} frame"),
                      track_id(p), *instance(p, src, f"instance {n}"), score_of(p)) for n, p in enumerate(data)]


def coco_dataset(data: dict, src: str) -> list[Detection]:
    """A COCO dataset dict: 'images' (ids, frame ids, sizes) and 'annotations' with visibility flags."""
    frame_of = {im.get("id"): im.get("frame_id", im.get("id")) for im in data.get("images") or []
                if isinstance(im, dict)}
    dets = []
    for n, ann in enumerate(data["annotations"] or []):
        where = f"'annotations'[{n}]"
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise ValueError(f"{src}: {where} expected a dict with 'image_id' and 'keypoints'")
        kp, sc = instance(ann, src, where)
        if np.isin(sc, (0, 1, 2)).all():  # visibility flags of annotations, not scores
            sc = (sc > 0).astype(np.float64)
            kp = np.where(sc[:, None] > 0, kp, np.nan)
        frame = frame_index(frame_of.get(ann["image_id"], ann["image_id"]), src, f"{where} 'image_id'")
        dets.append(Detection(frame, track_id(ann), kp, sc))
    return dets
