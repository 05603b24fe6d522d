"""What the lifter does to sampled poses: hypotheses to one pose, one body per track, body size.

Aggregation (:func:`aggregate`): the H hypotheses of every frame become one pose;
:func:`pose_from_hypotheses` is the lifter's whole pose stage (aggregation, filter, one body) and
:func:`scale_to_height` its body-size stage.

One body per track:

A person's bones do not change length, yet a lifting model predicts every frame's lengths anew
(and a noisy detector makes them wobble). :func:`track_bone_lengths` takes one robust length per
bone for the whole track (the median over frames, left and right twins averaged) and
:func:`with_bone_lengths` recomposes every frame from its own predicted bone directions with
those lengths (forward kinematics through the skeleton's ``compose``), so the directions, and
hence the motion, are the model's and only the lengths are held fixed.
"""
from __future__ import annotations


import torch

from ddhpose.geometry import bone_lengths, compose, decompose
from ddhpose.lifting.options import Camera, LiftOptions
from ddhpose.lifting.temporal import smooth_in_time
from ddhpose.lifting.trajectory import fill_and_smooth, perspective_root
from ddhpose.metrics import reproject, select_by_reprojection
from ddhpose.skeleton import Skeleton


def track_bone_lengths(poses: torch.Tensor, skeleton: Skeleton, symmetric: bool = True) -> torch.Tensor:
    """One length per bone slot for a whole track.

    Args:
        poses: (..., F, J, 3) poses of one person (any leading axes, e.g. hypotheses, are pooled
            with the frames).
        symmetric: average each left bone with its right twin (the skeleton's mirror permutation).
    Returns:
        (J,) lengths in the poses' units, 0 in the root slot: the median over frames.
    """
    lengths = bone_lengths(poses, skeleton).reshape(-1, skeleton.num_joints)
    median = lengths.median(dim=0).values
    if symmetric:
        mirror = torch.tensor(skeleton.flip_permutation, device=median.device)
        median = (median + median[mirror]) / 2
    return median


def with_bone_lengths(poses: torch.Tensor, lengths: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Recompose root-relative poses (..., J, 3) with fixed bone lengths (J,), keeping every
    frame's bone directions. Returns (..., J, 3) with the root at the origin."""
    direction, _ = decompose(poses, skeleton)
    fixed = lengths.to(poses).reshape(skeleton.num_joints, 1).expand_as(direction[..., :1])
    return compose(direction, fixed, skeleton)


def standing_height(lengths: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """The height of a skeleton standing straight, from its bone lengths (..., J) -> (...).

    The leg (ankle up to the hip joint; the two legs averaged) plus the trunk and head (root up to
    the head, the longest chain to a joint named 'head...'): the head joint's height above the
    ankles. The hip bones (root to hip joints) lie across the body and are left out. Needs joint
    names with 'ankle' and 'head' (both dataset skeletons have them).
    """
    feet = [j for j, n in enumerate(skeleton.names) if "ankle" in n]
    heads = [j for j, n in enumerate(skeleton.names) if n.startswith("head")]
    if not feet or not heads:
        raise ValueError(f"skeleton {skeleton.name or ''}: a standing height needs joints named 'ankle' and "
                         f"'head', got names {list(skeleton.names)}")

    paths = torch.tensor(skeleton.bone_paths, dtype=lengths.dtype, device=lengths.device)  # (J, J) root -> j
    off_root = torch.tensor([p != skeleton.root for p in skeleton.parents], dtype=lengths.dtype,
                            device=lengths.device)  # bones not attached to the root (not the hips)
    leg = (lengths[..., None, :] * paths[feet] * off_root).sum(-1).mean(-1)
    return leg + (lengths[..., None, :] * paths[heads]).sum(-1).amax(-1)


def hypothesis_spread(hypotheses: torch.Tensor) -> torch.Tensor:
    """Per-joint RMS distance of the hypotheses to their mean. (H, ..., 3) -> (...); 0 for H = 1."""
    centred = hypotheses - hypotheses.mean(0, keepdim=True)
    return centred.square().sum(-1).mean(0).sqrt()


def aggregate(samples: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor, camera: Camera,
              aggregation: str) -> tuple[torch.Tensor, str]:
    """One pose per frame from the H hypotheses (the lifter's ``aggregation``).

    samples (H, N, J, 3) root-relative metres, keypoints (N, J, 2) pixels, weights (N, J) ->
    (pose (N, J, 3), the aggregation used): 'none' for H = 1, 'median', 'p_agg' (the mean; also
    J-Agg's fallback where no frame's root can be solved) or 'j_agg' (method section 7: per joint
    the hypothesis that reprojects closest to the 2D, every hypothesis placed on the root that
    :func:`ddhpose.lifting.trajectory.perspective_root` solves for their mean)."""
    mean = samples.mean(0)
    if samples.shape[0] == 1:
        return samples[0], "none"
    if aggregation == "median":
        return samples.median(0).values, "median"
    if aggregation == "p_agg":
        return mean, "p_agg"
    root = fill_and_smooth(perspective_root(mean, keypoints, camera.focal, camera.centre, weights), 0.0)
    if not torch.isfinite(root).all():
        return mean, "p_agg"
    intrinsics = samples.new_tensor([[camera.focal, camera.focal, *camera.centre, 0, 0, 0, 0, 0]])
    hyp = samples[None, None]  # (B=1, W=1, H, N, J, 3)
    reproj = reproject(hyp, root.to(samples)[None, :, None], intrinsics)
    return select_by_reprojection(hyp, reproj, keypoints.to(samples)[None])[0, 0], "j_agg"


def pose_from_hypotheses(samples: torch.Tensor, keypoints: torch.Tensor, weights: torch.Tensor, camera: Camera,
                         options: LiftOptions, skeleton: Skeleton
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, str]:
    """The lifter's pose stage: :func:`aggregate`, a Gaussian filter over time
    (:func:`ddhpose.lifting.temporal.smooth_in_time`) and, with ``bone_lengths='track'``, one body
    for the track (pose and hypotheses recomposed with :func:`track_bone_lengths`).

    samples (H, F, J, 3) -> (pose (F, J, 3), samples (H, F, J, 3), lengths (J,) or None, aggregation used).
    """
    pose, used = aggregate(samples, keypoints, weights, camera, options.aggregation)
    pose = smooth_in_time(pose, options.smooth)
    if options.bone_lengths != "track":
        return pose, samples, None, used
    lengths = track_bone_lengths(pose, skeleton)
    return with_bone_lengths(pose, lengths, skeleton), with_bone_lengths(samples, lengths, skeleton), lengths, used


def scale_to_height(pose: torch.Tensor, samples: torch.Tensor, root: torch.Tensor, lengths: torch.Tensor | None,
                    height: float, skeleton: Skeleton
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Pose, hypotheses, root trajectory and bone lengths scaled together (the 2D projection is
    unchanged) so that the track's :func:`standing_height` is ``height`` metres."""
    scale = height / float(standing_height(track_bone_lengths(pose, skeleton) if lengths is None else lengths,
                                           skeleton))
    return pose * scale, samples * scale, root * scale, None if lengths is None else lengths * scale
