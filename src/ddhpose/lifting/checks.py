"""Plausibility checks on 2D keypoints at the lifter's boundary: wrong image sizes and wrong
layouts give 600-700 mm errors without them, silently.

- keypoints that reach far outside the stated image: the image size is not that of the frames
  the keypoints came from (an error naming ``--image-size``);
- shoulders below the hips in most frames, or left and right limbs of very different lengths: the
  layout is probably not the one stated (a warning naming ``--layout``: a person may really be
  upside down).
"""
from __future__ import annotations

import warnings

import numpy as np

from ddhpose.skeleton import H36M

#: Fraction of confident keypoints allowed outside the image by more than 10 % of its size.
OUTSIDE_LIMIT = 0.1


def check_keypoints(kp17: np.ndarray, scores: np.ndarray, image_size: tuple[int, int], layout: str,
                    where: str, threshold: float = 0.3) -> None:
    """Check Human3.6M-ordered pixels (F, 17, 2) with scores (F, 17) against the image size.

    Raises:
        ValueError: more than :data:`OUTSIDE_LIMIT` of the confident keypoints lie outside the
            image by over 10 % of its size.
    Warns:
        UserWarning: the body is upside down in most frames, or a limb is over 3 times its twin.
    """
    w, h = image_size
    ok = np.isfinite(kp17).all(-1) & (np.nan_to_num(scores) >= threshold)
    if not ok.any():
        return
    pts = kp17[ok]
    outside = (pts[:, 0] < -0.1 * w) | (pts[:, 0] > 1.1 * w) | (pts[:, 1] < -0.1 * h) | (pts[:, 1] > 1.1 * h)
    if outside.mean() > OUTSIDE_LIMIT:
        reach = np.nanmax(pts, axis=0)
        raise ValueError(f"{where}: {outside.mean():.0%} of the keypoints lie outside the stated {w}x{h} image "
                         f"(they reach x={reach[0]:.0f}, y={reach[1]:.0f} px); give the size of the frames the "
                         "keypoints were detected in (--image-size W H / image_size=(w, h))")
    shoulder_joints = list(H36M.joints(("left_shoulder", "right_shoulder"), "the upside-down check").values())
    hip_joints = list(H36M.joints(("left_hip", "right_hip"), "the upside-down check").values())
    shoulders, hips = kp17[:, shoulder_joints].mean(1), kp17[:, hip_joints].mean(1)
    both = ok[:, shoulder_joints + hip_joints].all(1)
    if both.sum() >= 3 and (shoulders[both, 1] > hips[both, 1]).mean() > 0.8:
        warnings.warn(f"{where}: the shoulders are below the hips in {(shoulders[both, 1] > hips[both, 1]).mean():.0%} "
                      f"of the frames; the keypoints are probably not in the {layout!r} layout (see --layout), "
                      "unless the person is upside down", stacklevel=3)
        return
    parents = np.maximum(np.asarray(H36M.parents), 0)
    lengths = np.where(ok & ok[:, parents], np.linalg.norm(kp17 - kp17[:, parents], axis=-1), np.nan)
    seen = np.isfinite(lengths).any(0)
    median = np.full(lengths.shape[1], np.nan)
    median[seen] = np.nanmedian(lengths[:, seen], axis=0)
    for a in H36M.joints_left:  # each left bone against its right twin (the skeleton's mirror)
        b = H36M.flip_permutation[a]
        la, lb = median[a], median[b]
        if np.isfinite(la) and np.isfinite(lb) and min(la, lb) > 0 and max(la, lb) / min(la, lb) > 3.0:
            warnings.warn(f"{where}: a left limb and its right twin differ {max(la, lb) / min(la, lb):.1f} times in "
                          f"length (joints {H36M.names[a]} / {H36M.names[b]}); the keypoints are probably not in the "
                          f"{layout!r} layout (see --layout)", stacklevel=3)
            return
