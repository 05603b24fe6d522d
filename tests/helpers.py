"""Shared test helpers: keypoint tracks and detection files of a standing person, a standing pose, and
model variants with one switch changed."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import torch

from ddhpose.geometry import compose
from ddhpose.model.ddhpose import DDHPose
from ddhpose.skeleton import H36M

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


def standing_pose() -> torch.Tensor:
    """A standing root-relative pose (17, 3) in metres, camera frame (y down)."""
    direction = torch.zeros(17, 3)
    direction[:, 1] = 1.0  # legs down
    direction[[7, 8, 9, 10, 11, 14], 1] = -1.0  # spine and head up
    direction[[1, 4], :] = torch.tensor([[-1.0, 0, 0], [1.0, 0, 0]])  # hips sideways
    direction[[11, 14], :] = torch.tensor([[1.0, 0, 0.2], [-1.0, 0, 0.2]])
    length = torch.full((17, 1), 0.25)
    length[0] = 0
    return compose(direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-9), length, H36M)


def variant_of(model, **switch):
    """A model built from ``model``'s config with ``switch`` applied and ``model``'s weights; a
    switched-off part's own parameters (qkv_xc of HRTT, the hierarchy embedding) are left out."""
    variant = DDHPose(dataclasses.replace(model.config, **switch)).eval()
    result = variant.load_state_dict(model.state_dict(), strict=False)
    assert not result.missing_keys, result.missing_keys
    assert all(".qkv_xc." in k or k.endswith(".hierarchy") for k in result.unexpected_keys), result.unexpected_keys
    return variant
