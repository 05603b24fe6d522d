"""Plausibility checks on 2D keypoints at the lifter's boundary: wrong image sizes and wrong
layouts give 600-700 mm errors without them, silently.

- keypoints that reach far outside the stated image: the image size is not that of the frames
  the keypoints came from (an error naming ``--image-size``);
- shoulders below the hips in most frames, or left and right limbs of very different lengths: the
  layout is probably not the one stated (a :class:`LayoutWarning`: a person may really be upside
  down; ``ddhpose lift`` adds its ``--layout`` to it, ``ddhpose video``, whose detector fixes the
  layout, does not).

A bone seen end-on is short in 2D (foreshortening): a side view hides the shoulders' and hips'
width, an arm pointing at the camera hides the arm. So the left/right test compares only the
limbs' bones (upper arm, forearm, thigh, shin), frame by frame, and warns only when at least
:data:`TWIN_PAIRS` of them differ over :data:`TWIN_RATIO` times in :data:`TWIN_FRAMES` of the
frames: a wrong layout joins unrelated points everywhere, a body turning does not (on exact
Human3.6M 2D of its real cameras: none of 4,604 windows of 100 frames warns; the rule on the
median length of every twin warned on 492).
"""
from __future__ import annotations

import warnings

import numpy as np

from ddhpose.skeleton import H36M

#: Fraction of confident keypoints allowed outside the image by more than 10 % of its size.
OUTSIDE_LIMIT = 0.1
#: The left/right test: this many limb bones must differ from their twins over this ratio in this
#: fraction of the frames where both are seen.
TWIN_PAIRS, TWIN_RATIO, TWIN_FRAMES = 2, 3.0, 0.9
#: The limbs' bones (named by their child joint) the left/right test compares.
LIMB_BONES = ("left_knee", "left_ankle", "left_elbow", "left_wrist")


class LayoutWarning(UserWarning):
    """The keypoints do not look like a body in the stated layout."""


def check_keypoints(kp17: np.ndarray, scores: np.ndarray, image_size: tuple[int, int], layout: str,
                    where: str, threshold: float = 0.3) -> None:
    """Check Human3.6M-ordered pixels (F, 17, 2) with scores (F, 17) against the image size.

    Raises:
        ValueError: more than :data:`OUTSIDE_LIMIT` of the confident keypoints lie outside the
            image by over 10 % of its size.
    Warns:
        LayoutWarning: the body is upside down in most frames, or limbs differ from their twins
            (:func:`_limbs_unlike_their_twins`).
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
        warnings.warn(LayoutWarning(
            f"{where}: the shoulders are below the hips in {(shoulders[both, 1] > hips[both, 1]).mean():.0%} of the "
            f"frames; the keypoints are probably not in the {layout!r} layout, unless the person is upside down"),
            stacklevel=3)
        return
    differ = _limbs_unlike_their_twins(kp17, ok)
    if len(differ) >= TWIN_PAIRS:
        names = ", ".join(f"{H36M.names[a]} / {H36M.names[b]} {ratio:.1f} times" for a, b, ratio in differ)
        warnings.warn(LayoutWarning(
            f"{where}: left and right limbs differ in length in most frames ({names}); the keypoints are probably "
            f"not in the {layout!r} layout"), stacklevel=3)


def _limbs_unlike_their_twins(kp17: np.ndarray, ok: np.ndarray) -> list[tuple[int, int, float]]:
    """(left joint, right joint, typical ratio) of the limb bones (:data:`LIMB_BONES`) whose 2D
    length differs from their twin's over :data:`TWIN_RATIO` times in :data:`TWIN_FRAMES` of the
    frames where both bones are seen. kp17 (F, 17, 2) pixels; ok (F, 17) bool."""
    parents = np.maximum(np.asarray(H36M.parents), 0)
    lengths = np.linalg.norm(kp17 - kp17[:, parents], axis=-1)
    seen = ok & ok[:, parents]
    out = []
    for a in H36M.joints(LIMB_BONES, "the left/right check").values():
        b = H36M.flip_permutation[a]
        both = seen[:, a] & seen[:, b]
        if both.sum() < 3:
            continue
        la, lb = lengths[both, a], lengths[both, b]
        ratio = np.maximum(la, lb) / np.maximum(np.minimum(la, lb), 1e-9)
        typical = float(np.percentile(ratio, 100 * (1 - TWIN_FRAMES)))
        if typical > TWIN_RATIO:
            out.append((a, b, typical))
    return out
