"""Pose errors and hypothesis aggregations, in torch only (method section 7).

Single-pose metrics keep VideoPose3D's names (``mpjpe``, ``p_mpjpe``, ``n_mpjpe``,
``mean_velocity_error``) and work on ``(..., J, 3)`` tensors; the ``*_joint_errors`` forms
return the unreduced ``(..., J)`` distances for per-joint or per-action tables.

Hypothesis aggregations take the sampler's output ``(B, W, H, F, J, 3)`` (W DDIM steps,
H hypotheses) and return one value per step, reproducing the released D3DP/DDHPose code:

- J-Best: per joint of every frame, the smallest error over hypotheses. For P-MPJPE every
  hypothesis is aligned on its own first.
- P-Best: the hypothesis with the smallest error averaged over the whole evaluated batch
  (the minimum over H is taken after the batch mean, not per clip); :func:`p_best_by_batch`
  groups a sequence's windows into the released evaluation batches (``-b 4``) or takes the
  whole sequence as one batch.
- P-Agg: the error of the mean hypothesis.
- J-Agg: per joint of every frame, the hypothesis whose reprojection is closest to the input
  2D keypoint; for P-MPJPE every hypothesis is aligned on its own and the selected joints'
  aligned errors are averaged (this, not aligning the assembled pose, matches the reference).
"""
from __future__ import annotations

from typing import Callable, Literal, Sequence

import torch

from ddhpose.geometry import bone_lengths, project
from ddhpose.skeleton import Skeleton

ErrorFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Metric = Literal["mpjpe", "p_mpjpe"]
AGGREGATIONS = ("j_best", "p_best", "p_agg", "j_agg")


def _check_pair(pred: torch.Tensor, target: torch.Tensor, what: str = "pred") -> None:
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(
            f"{what} and target: expected equal shapes (..., J, 3), got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )


# ---------------------------------------------------------------- single-pose metrics

def joint_errors(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Euclidean distance per joint. (..., J, 3), (..., J, 3) -> (..., J)."""
    _check_pair(pred, target)
    return (pred - target).norm(dim=-1)


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint position error (protocol 1). (..., J, 3) x2 -> scalar."""
    return joint_errors(pred, target).mean()


def procrustes_align(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Similarity-align every pose of ``pred`` onto ``target`` (VideoPose3D's p_mpjpe).

    Per pose: rotation (reflections removed), uniform scale and translation minimising the
    squared error, found by a batched SVD. (..., J, 3) x2 -> aligned pred (..., J, 3).
    """
    _check_pair(pred, target)
    dtype = pred.dtype
    if dtype not in (torch.float32, torch.float64):  # SVD needs full precision
        pred, target = pred.float(), target.float()
    tiny = torch.finfo(pred.dtype).tiny
    mu_x, mu_y = target.mean(-2, keepdim=True), pred.mean(-2, keepdim=True)
    x0, y0 = target - mu_x, pred - mu_y
    norm_x = x0.square().sum((-2, -1), keepdim=True).sqrt().clamp_min(tiny)
    norm_y = y0.square().sum((-2, -1), keepdim=True).sqrt().clamp_min(tiny)
    x0, y0 = x0 / norm_x, y0 / norm_y
    u, s, vt = torch.linalg.svd(x0.transpose(-1, -2) @ y0)
    v, ut = vt.transpose(-1, -2), u.transpose(-1, -2)
    # Flip the last singular direction where V U^T is a reflection.
    sign = torch.sign(torch.linalg.det(v @ ut)).unsqueeze(-1)  # (..., 1)
    v = torch.cat((v[..., :-1], v[..., -1:] * sign.unsqueeze(-1)), dim=-1)
    s = torch.cat((s[..., :-1], s[..., -1:] * sign), dim=-1)
    rot = v @ ut
    scale = s.sum(-1)[..., None, None] * norm_x / norm_y
    shift = mu_x - scale * (mu_y @ rot)
    return (scale * (pred @ rot) + shift).to(dtype)


def p_joint_errors(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-joint error after Procrustes alignment. (..., J, 3) x2 -> (..., J)."""
    return joint_errors(procrustes_align(pred, target), target)


def p_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Procrustes-aligned MPJPE (protocol 2). (..., J, 3) x2 -> scalar."""
    return p_joint_errors(pred, target).mean()


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE after the least-squares uniform scale of each pose. (..., J, 3) x2 -> scalar."""
    _check_pair(pred, target)
    scale = (target * pred).sum((-2, -1), keepdim=True) / pred.square().sum((-2, -1), keepdim=True)
    return mpjpe(scale * pred, target)


def mean_velocity_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJVE: MPJPE of the frame-to-frame differences. (..., F, J, 3) x2, F >= 2 -> scalar."""
    _check_pair(pred, target)
    if pred.ndim < 3 or pred.shape[-3] < 2:
        raise ValueError(f"mean_velocity_error: expected (..., F>=2, J, 3), got {tuple(pred.shape)}")
    return mpjpe(torch.diff(pred, dim=-3), torch.diff(target, dim=-3))


def acceleration_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint acceleration error (HMR / VIBE's 'Accel'): MPJPE of the second differences
    x[t+1] - 2 x[t] + x[t-1]. (..., F, J, 3) x2, F >= 3 -> scalar, in the input's units per
    frame squared."""
    _check_pair(pred, target)
    if pred.ndim < 3 or pred.shape[-3] < 3:
        raise ValueError(f"acceleration_error: expected (..., F>=3, J, 3), got {tuple(pred.shape)}")
    return mpjpe(torch.diff(pred, n=2, dim=-3), torch.diff(target, n=2, dim=-3))


def bone_length_variation(poses: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """How elastic the bones of one track are: the median over bones of std / mean of each bone's
    length over frames. (F, J, 3) -> scalar (0 for rigid bones)."""
    lengths = bone_lengths(poses, skeleton)[..., skeleton.bone_slots]
    return (lengths.std(0) / lengths.mean(0).clamp_min(1e-12)).median()


def left_right_asymmetry(poses: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """How much left and right limbs differ: the median over left/right bone pairs of
    |mean left length - mean right length| / their average. (F, J, 3) -> scalar."""
    lengths = bone_lengths(poses, skeleton).reshape(-1, skeleton.num_joints).mean(0)
    left = torch.tensor(skeleton.joints_left, device=poses.device)
    right = torch.tensor(skeleton.flip_permutation, device=poses.device)[left]
    return ((lengths[left] - lengths[right]).abs() / ((lengths[left] + lengths[right]) / 2)).median()


def mean_acceleration(poses: torch.Tensor) -> torch.Tensor:
    """Mean per-joint acceleration magnitude |x[t+1] - 2 x[t] + x[t-1]|, in the input's units per
    frame squared. (F, J, 3), F >= 3 -> scalar. Jitter shows as a large value."""
    if poses.ndim < 3 or poses.shape[-3] < 3:
        raise ValueError(f"mean_acceleration: expected (..., F>=3, J, 3), got {tuple(poses.shape)}")
    return torch.diff(poses, n=2, dim=-3).norm(dim=-1).mean()


def per_joint_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MPJPE of every joint over all poses. (..., J, 3) x2 -> (J,)."""
    return joint_errors(pred, target).reshape(-1, pred.shape[-2]).mean(0)


def per_level_mpjpe(pred: torch.Tensor, target: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """MPJPE of the joints at every tree depth. (..., J, 3) x2 -> (skeleton.num_levels,)."""
    if pred.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"per_level_mpjpe: expected (..., {skeleton.num_joints}, 3), got {tuple(pred.shape)}")
    per_joint = per_joint_mpjpe(pred, target)
    levels = torch.tensor(skeleton.levels, device=pred.device)
    sums = per_joint.new_zeros(skeleton.num_levels).index_add(0, levels, per_joint)
    counts = torch.bincount(levels, minlength=skeleton.num_levels).to(per_joint.dtype)
    return sums / counts


def pck_curve(errors: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Percentage of errors strictly below each threshold. errors (...), thresholds (T,) -> (T,)."""
    hits = errors.reshape(1, -1) < thresholds.to(errors).reshape(-1, 1)
    return hits.to(errors.dtype).mean(-1) * 100


def auc_thresholds(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The MPI-INF-3DHP AUC thresholds 0, 5, ..., 150 (mm). -> (31,)."""
    return torch.linspace(0, 150, 31, dtype=dtype, device=device)


def pck(pred: torch.Tensor, target: torch.Tensor, threshold: float = 150.0,
        joints: Sequence[int] | None = None) -> torch.Tensor:
    """3DPCK in percent: joints with error < ``threshold`` (same unit as the poses, mm).

    (..., J, 3) x2 -> scalar; ``joints`` restricts the evaluated joints.
    """
    errors = _select(joint_errors(pred, target), joints)
    return pck_curve(errors, errors.new_tensor([threshold]))[0]


def auc(pred: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor | None = None,
        joints: Sequence[int] | None = None) -> torch.Tensor:
    """Area under the PCK curve in percent: the mean PCK over ``thresholds`` (default
    0, 5, ..., 150 mm). (..., J, 3) x2 -> scalar."""
    errors = _select(joint_errors(pred, target), joints)
    if thresholds is None:
        thresholds = auc_thresholds(errors.dtype, errors.device)
    return pck_curve(errors, thresholds).mean()


def _select(errors: torch.Tensor, joints: Sequence[int] | None) -> torch.Tensor:
    if joints is None:
        return errors
    return errors.index_select(-1, torch.as_tensor(list(joints), device=errors.device))


# ------------------------------------------------------------- hypothesis aggregation

_ERROR_FNS: dict[str, ErrorFn] = {"mpjpe": joint_errors, "p_mpjpe": p_joint_errors}


def _check_samples(samples: torch.Tensor, target: torch.Tensor) -> None:
    if samples.ndim != 6 or samples.shape[-1] != 3:
        raise ValueError(f"samples: expected (B, W, H, F, J, 3), got {tuple(samples.shape)}")
    b, _, _, f, j, _ = samples.shape
    if tuple(target.shape) != (b, f, j, 3):
        raise ValueError(f"target: expected (B, F, J, 3) = {(b, f, j, 3)}, got {tuple(target.shape)}")


def _error_fn(metric: str) -> ErrorFn:
    try:
        return _ERROR_FNS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(_ERROR_FNS)}") from None


def _against(samples: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Broadcast a (B, F, J, C) target to the sample layout (B, W, H, F, J, C) without copying."""
    return target[:, None, None].expand(*samples.shape[:-1], target.shape[-1])


def reproject(samples: torch.Tensor, traj: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """Project root-relative hypotheses placed on the root trajectory (J-Agg).

    Args:
        samples: (B, W, H, F, J, 3) root-relative poses.
        traj: (B, F, 1, 3) root trajectory in camera coordinates.
        camera: (B or 1, 9) normalised intrinsics [f, c, k, p] (geometry.normalize_intrinsics).
    Returns:
        (B, W, H, F, J, 2) screen-normalised 2D points.
    """
    b, _, _, f = samples.shape[:4]
    if tuple(traj.shape) != (b, f, 1, 3):
        raise ValueError(f"traj: expected (B, F, 1, 3) = {(b, f, 1, 3)}, got {tuple(traj.shape)}")
    if camera.ndim != 2 or camera.shape[-1] != 9 or camera.shape[0] not in (1, b):
        raise ValueError(f"camera: expected ({b} or 1, 9) intrinsics, got {tuple(camera.shape)}")
    return project(samples + traj[:, None, None], camera[:, None, None, None, None, :])


def reprojection_choice(reproj: torch.Tensor, x2d: torch.Tensor) -> torch.Tensor:
    """Index of the hypothesis whose reprojection is closest to ``x2d``, per joint of every frame.

    reproj (B, W, H, F, J, 2), x2d (B, F, J, 2) -> (B, W, 1, F, J) int64 (first minimum on ties).
    """
    if reproj.ndim != 6 or reproj.shape[-1] != 2 or tuple(x2d.shape) != (reproj.shape[0], *reproj.shape[3:]):
        raise ValueError(
            f"expected reproj (B, W, H, F, J, 2) and x2d (B, F, J, 2), "
            f"got {tuple(reproj.shape)} and {tuple(x2d.shape)}"
        )
    return (reproj - _against(reproj, x2d)).norm(dim=-1).argmin(dim=2, keepdim=True)


def select_by_reprojection(samples: torch.Tensor, reproj: torch.Tensor, x2d: torch.Tensor) -> torch.Tensor:
    """The J-Agg pose: per joint of every frame, the hypothesis closest to ``x2d`` in 2D.

    samples (B, W, H, F, J, 3), reproj (B, W, H, F, J, 2), x2d (B, F, J, 2) -> (B, W, F, J, 3).
    """
    if reproj.shape != samples.shape[:-1] + (2,):
        raise ValueError(f"reproj: expected {tuple(samples.shape[:-1]) + (2,)}, got {tuple(reproj.shape)}")
    return gather_choice(samples, reprojection_choice(reproj, x2d))


def gather_choice(samples: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Assemble poses joint by joint from the chosen hypotheses.

    samples (B, W, H, F, J, 3), choice (B, W, 1, F, J) (:func:`reprojection_choice`) -> (B, W, F, J, 3).
    """
    return samples.gather(2, choice.unsqueeze(-1).expand(-1, -1, -1, -1, -1, 3)).squeeze(2)


def _frame_mean(errors: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """(B, ..., F, J) -> (B, ...): mean over joints, then over the valid frames (B, F) (all if None)."""
    per_frame = errors.mean(-1)
    if valid is None:
        return per_frame.mean(-1)
    v = valid.to(per_frame.dtype).view(valid.shape[0], *([1] * (per_frame.ndim - 2)), valid.shape[-1])
    return (per_frame * v).sum(-1) / v.sum(-1).clamp_min(1)


def clip_errors(samples: torch.Tensor, target: torch.Tensor, *, x2d: torch.Tensor | None = None,
                camera: torch.Tensor | None = None, traj: torch.Tensor | None = None,
                metrics: Sequence[Metric] = ("mpjpe", "p_mpjpe"),
                valid: torch.Tensor | None = None, choice: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-clip errors of every aggregation, for averaging over any grouping (e.g. actions).

    samples (B, W, H, F, J, 3) root-relative, target (B, F, J, 3). J-Agg needs x2d (B, F, J, 2),
    camera (B or 1, 9) and traj (B, F, 1, 3), or their :func:`reprojection_choice` as ``choice``
    (B, W, 1, F, J); without them its keys are left out. ``valid`` (B, F) restricts the averages
    to the valid frames (MPI-INF-3DHP).
    Returns keys '{metric}_{aggregation}': (B, W) errors averaged over frames and joints, except
    '{metric}_p_best', which is (B, W, H): average it over the group, then take the min over H
    (:func:`reduce_clip_errors`).
    """
    _check_samples(samples, target)
    full_target = _against(samples, target)
    if choice is None and x2d is not None and camera is not None and traj is not None:
        choice = reprojection_choice(reproject(samples, traj, camera), x2d)
    elif choice is not None and tuple(choice.shape) != (*samples.shape[:2], 1, *samples.shape[3:5]):
        raise ValueError(f"choice: expected (B, W, 1, F, J) = {(*samples.shape[:2], 1, *samples.shape[3:5])}, "
                         f"got {tuple(choice.shape)}")
    out: dict[str, torch.Tensor] = {}
    for metric in metrics:
        err = _error_fn(metric)
        per_hyp = err(samples, full_target)  # (B, W, H, F, J); P-MPJPE aligns each hypothesis
        out[f"{metric}_j_best"] = _frame_mean(per_hyp.amin(dim=2), valid)
        out[f"{metric}_p_best"] = _frame_mean(per_hyp, valid)
        out[f"{metric}_p_agg"] = _frame_mean(err(samples.mean(2), full_target[:, :, 0]), valid)
        if choice is not None:
            # Released behaviour: gather the selected joints' errors of the separately aligned
            # hypotheses (not: align the pose assembled from the selected joints).
            out[f"{metric}_j_agg"] = _frame_mean(per_hyp.gather(2, choice).squeeze(2), valid)
    return out


def reduce_clip_errors(errors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Mean over clips of :func:`clip_errors`; P-Best takes the min over H after it. -> (W,) each."""
    return {k: v.mean(0).amin(-1) if k.endswith("_p_best") else v.mean(0) for k, v in errors.items()}


def _batch_means(errors: torch.Tensor, weights: torch.Tensor, windows: int | None
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted mean of (n, W, H) per-window errors over batches of ``windows`` consecutive
    windows (None: one batch). -> batch of every window (n,), means (b, W, H), weights (b,)."""
    if errors.ndim != 3 or tuple(weights.shape) != errors.shape[:1]:
        raise ValueError(f"expected errors (n, W, H) and weights (n,), got {tuple(errors.shape)} "
                         f"and {tuple(weights.shape)}")
    if windows is not None and windows < 1:
        raise ValueError(f"windows per batch expected >= 1 or None, got {windows}")
    n = errors.shape[0]
    batch = torch.arange(n, device=errors.device) // (windows or max(n, 1))
    count = int(batch[-1]) + 1 if n else 0
    w = weights.to(device=errors.device, dtype=errors.dtype)
    sums = errors.new_zeros((count, *errors.shape[1:])).index_add(0, batch, errors * w[:, None, None])
    total = w.new_zeros(count).index_add(0, batch, w)
    return batch, sums / total.clamp_min(torch.finfo(w.dtype).tiny)[:, None, None], total


def p_best_by_batch(errors: torch.Tensor, weights: torch.Tensor, windows: int | None) -> torch.Tensor:
    """P-Best of one sequence whose windows are evaluated in batches (released behaviour).

    Args:
        errors: (n, W, H) mean error of every hypothesis per window (:func:`clip_errors`'
            '*_p_best').
        weights: (n,) frames behind each window's mean (its valid frames).
        windows: windows per evaluation batch, consecutive from the first (the released code's
            ``-b``, README: 4); None takes the whole sequence as one batch.
    Returns:
        (W,): per batch the minimum over H of its frame-weighted mean error, then the mean of
        these minima weighted by the batches' frames (0 when no frame has weight).
    """
    _, means, total = _batch_means(errors, weights, windows)
    return (means.amin(-1) * total[:, None]).sum(0) / total.sum().clamp_min(torch.finfo(total.dtype).tiny)


def p_best_choice(errors: torch.Tensor, weights: torch.Tensor, windows: int | None) -> torch.Tensor:
    """The hypothesis P-Best picks for every window: the one with the smallest mean error over
    the window's batch. Shapes as :func:`p_best_by_batch` -> (n, W) int64 (first on ties)."""
    batch, means, _ = _batch_means(errors, weights, windows)
    return means.argmin(-1)[batch]


def aggregate_errors(samples: torch.Tensor, target: torch.Tensor, *, x2d: torch.Tensor | None = None,
                     camera: torch.Tensor | None = None, traj: torch.Tensor | None = None,
                     metrics: Sequence[Metric] = ("mpjpe", "p_mpjpe")) -> dict[str, torch.Tensor]:
    """Every aggregation of a batch, one value per DDIM step (released behaviour).

    Shapes as :func:`clip_errors`. Returns '{metric}_{j_best,p_best,p_agg,j_agg}' -> (W,);
    the J-Agg keys need x2d, camera and traj.
    """
    return reduce_clip_errors(clip_errors(samples, target, x2d=x2d, camera=camera, traj=traj, metrics=metrics))


def j_best(samples: torch.Tensor, target: torch.Tensor, metric: Metric = "mpjpe") -> torch.Tensor:
    """J-Best error per step. samples (B, W, H, F, J, 3), target (B, F, J, 3) -> (W,)."""
    return aggregate_errors(samples, target, metrics=(metric,))[f"{metric}_j_best"]


def p_best(samples: torch.Tensor, target: torch.Tensor, metric: Metric = "mpjpe") -> torch.Tensor:
    """P-Best error per step (min over H of the batch mean). Shapes as :func:`j_best` -> (W,)."""
    return aggregate_errors(samples, target, metrics=(metric,))[f"{metric}_p_best"]


def p_agg(samples: torch.Tensor, target: torch.Tensor, metric: Metric = "mpjpe") -> torch.Tensor:
    """P-Agg error per step (mean hypothesis). Shapes as :func:`j_best` -> (W,)."""
    return aggregate_errors(samples, target, metrics=(metric,))[f"{metric}_p_agg"]


def j_agg(samples: torch.Tensor, target: torch.Tensor, x2d: torch.Tensor, camera: torch.Tensor,
          traj: torch.Tensor, metric: Metric = "mpjpe") -> torch.Tensor:
    """J-Agg error per step (reprojection-selected joints). Shapes as :func:`clip_errors` -> (W,)."""
    return aggregate_errors(samples, target, x2d=x2d, camera=camera, traj=traj, metrics=(metric,))[f"{metric}_j_agg"]
