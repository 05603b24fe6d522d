"""Where the person is: the root's camera position from a root-relative pose and its 2D keypoints.

The model predicts poses relative to the pelvis; the 2D keypoints say where the body is in the
image. Under a pinhole camera (focal length ``f`` pixels, principal point ``c``) a joint at
``P + T`` (pose plus root position) projects to ``u = f (P + T)_xy / (P + T)_z + c``. For a given
pose this is linear in ``T``: with ``x = (u - c) / f``,

    T_x - x_x T_z = x_x P_z - P_x,    T_y - x_y T_z = x_y P_z - P_y,

two equations per joint, three unknowns (the translation-only PnP of the field, e.g. the
``camera_to_world`` root of VideoPose3D's in-the-wild demos). :func:`perspective_root` solves
them by least squares weighted by the detection scores, then once more with every equation
divided by its joint's depth, so what is minimised is the reprojection error itself. The
trajectory is as metric as the pose: a pose scaled by ``s`` gives ``s T``. :func:`solve_root`
is the lifter's stage: the solve per frame, failed frames bridged, smoothed over time.
:func:`weak_perspective_root` is the older scaled-orthographic estimate, kept only as a comparison
in the benchmarks (docs/world_accuracy.md).
"""
from __future__ import annotations

import torch

from ddhpose.geometry import ray_coordinates, interpolate_gaps
from ddhpose.lifting.options import Camera
from ddhpose.lifting.temporal import smooth_in_time

#: Depths below this (metres) are behind or inside the camera: the solve failed there.
MIN_DEPTH = 0.1


def joint_weights(missing: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Per-joint weights (F, J) float64 of the 2D for the fits against it (the root solve, the
    2D refinement): the detection score, at least 0.05, and a tenth of it where the joint was
    missing and filled in. missing (F, J) bool; scores (F, J), NaN counted as 0."""
    missing, scores = torch.as_tensor(missing), torch.as_tensor(scores)
    return torch.where(missing, 0.1, 1.0).double() * torch.nan_to_num(scores.double(), nan=0.0).clip(0.05, 1)


def weak_perspective_root(pose: torch.Tensor, x2d: torch.Tensor, focal: float,
                          centre: torch.Tensor | None = None) -> torch.Tensor:
    """Estimate the root's camera position from a root-relative pose and its 2D keypoints.

    Weak perspective: x2d ~ s (pose_xy + T_xy) + centre with s = focal / T_z. The scale is the
    ratio of the 2D and 3D spreads, s = ||x2d - mean|| / ||pose_xy - mean||, then
    T_z = focal / s and T_xy = mean(x2d - centre - s pose_xy) / s (least squares given s).

    Args:
        pose: (..., J, 3) root-relative; x2d: (..., J, 2) in the units of ``focal`` and ``centre``
            (e.g. screen-normalised); centre: (2,) principal point (default 0).
    Returns:
        (..., 3) root position; non-finite where a spread is zero.
    """
    u = x2d - (0 if centre is None else centre)
    p = pose[..., :2]
    spread_2d = (u - u.mean(-2, keepdim=True)).flatten(-2).norm(dim=-1)
    spread_3d = (p - p.mean(-2, keepdim=True)).flatten(-2).norm(dim=-1)
    s = (spread_2d / spread_3d)[..., None]
    xy = (u - s[..., None] * p).mean(-2) / s
    return torch.cat([xy, focal / s], dim=-1)


def _solve(pose: torch.Tensor, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted least squares of the linear projection equations. pose (..., J, 3), x (..., J, 2)
    normalised image coordinates, weights (..., J) -> T (..., 3)."""
    ones, zeros = torch.ones_like(x[..., 0]), torch.zeros_like(x[..., 0])
    rows_x = torch.stack([ones, zeros, -x[..., 0]], -1)  # (..., J, 3)
    rows_y = torch.stack([zeros, ones, -x[..., 1]], -1)
    a = torch.cat([rows_x, rows_y], -2)  # (..., 2J, 3)
    b = torch.cat([x[..., 0] * pose[..., 2] - pose[..., 0], x[..., 1] * pose[..., 2] - pose[..., 1]], -1)
    w = torch.cat([weights, weights], -1)  # (..., 2J)
    normal = (a * w[..., None]).transpose(-1, -2) @ a  # (..., 3, 3)
    rhs = ((a * w[..., None]) * b[..., None]).sum(-2)  # (..., 3)
    return torch.linalg.solve(normal, rhs)


def perspective_root(pose: torch.Tensor, keypoints: torch.Tensor, focal: float,
                     centre: tuple[float, float] | torch.Tensor, weights: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """The root's camera position under a full pinhole model, per frame.

    Args:
        pose: (..., J, 3) root-relative, metres, camera frame (x right, y down, z forward).
        keypoints: (..., J, 2) pixels of the same joints; focal: pixels; centre: (2,) principal
            point in pixels.
        weights: (..., J) per-joint weights (detection scores; 0 drops a joint), default 1.
    Returns:
        (..., 3) metres; NaN where fewer than 2 joints have weight or the solve puts the body
        behind the camera.
    """
    pose = pose.double()
    x = ray_coordinates(keypoints, focal, centre)
    w = torch.ones_like(x[..., 0]) if weights is None else weights.double().clamp_min(0)
    usable = (w > 0).sum(-1) >= 2
    w = torch.where(usable[..., None], w, torch.ones_like(w))
    root = _solve(pose, x, w)
    depth = (pose[..., 2] + root[..., None, 2]).clamp_min(MIN_DEPTH)  # (..., J)
    root = _solve(pose, x, w / depth.square())  # every equation in image units: the reprojection error
    bad = ~usable | ~torch.isfinite(root).all(-1) | ((pose[..., 2] + root[..., None, 2]).amin(-1) < MIN_DEPTH)
    return torch.where(bad[..., None], torch.full_like(root, float("nan")), root)


def fill_and_smooth(trajectory: torch.Tensor, sigma: float) -> torch.Tensor:
    """(F, 3) with NaN rows where a frame's solve failed -> (F, 3): failed frames interpolated
    linearly over time (held at the ends; :func:`ddhpose.geometry.interpolate_gaps`), then a
    Gaussian filter of ``sigma`` frames over time against the frame-to-frame jitter of the
    depth. All NaN stays all NaN."""
    failed = ~torch.isfinite(trajectory).all(-1)
    if failed.all():
        return trajectory
    filled = interpolate_gaps(trajectory[:, None], failed[:, None])
    return smooth_in_time(filled, sigma)[:, 0]


def solve_root(pose: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor, camera: Camera,
               sigma: float, undetected: torch.Tensor | None = None) -> torch.Tensor:
    """The lifter's root stage: :func:`perspective_root` per frame, then :func:`fill_and_smooth`.

    pose (F, J, 3) root-relative metres; keypoints (F, J, 2) pixels; weights (F, J); undetected
    (F,) bool, frames where the person was not seen at all: their keypoints are only interpolated
    and their pose a guess, so they are bridged from the frames around them instead of solved (a
    solve there dives). -> (F, 3) metres, float64 (NaN throughout when no frame could be solved)."""
    root = perspective_root(pose, keypoints, camera.focal, camera.centre, weights)
    if undetected is not None and not bool(undetected.all()):
        root = torch.where(undetected[:, None], torch.full_like(root, float("nan")), root)
    return fill_and_smooth(root, sigma)
