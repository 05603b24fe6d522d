"""Test data made in the tests: keypoint tracks and detection files of a standing person."""
from __future__ import annotations

import json

import numpy as np

# a standing person facing the camera, COCO order, pixels around (0, 0), y down
STANDING_COCO = np.array([[0, -160], [8, -168], [-8, -168], [16, -164], [-16, -164], [36, -130], [-36, -130],
                           [42, -70], [-42, -70], [45, -15], [-45, -15], [22, 0], [-22, 0], [22, 90], [-22, 90],
                           [22, 180], [-22, 180]], dtype=np.float64)


def coco_person(frames: int, x: float, seed: int = 0) -> np.ndarray:
    """(F, 17, 3) COCO keypoints [x, y, score] of a person near ``x``, moving slightly."""
    rng = np.random.default_rng(seed)
    base = STANDING_COCO + [x, 400] + rng.uniform(-8, 8, (17, 2))
    t = np.arange(frames)[:, None, None]
    xy = base + 2.0 * t + rng.normal(0, 1, (frames, 17, 2))
    return np.concatenate([xy, np.full((frames, 17, 1), 0.9)], -1)


def write_coco(path, people: dict[int, np.ndarray]) -> str:
    items = [{"image_id": f, "category_id": 1, "track_id": tid, "keypoints": kp[f].reshape(-1).tolist()}
             for tid, kp in people.items() for f in range(len(kp))]
    path.write_text(json.dumps(items))
    return str(path)
