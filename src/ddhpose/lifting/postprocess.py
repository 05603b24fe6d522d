"""Track-level consistency of lifted poses: one body per track.

A person's bones do not change length, yet a lifting model predicts every frame's lengths anew
(and a noisy detector makes them wobble). :func:`track_bone_lengths` takes one robust length per
bone for the whole track (the median over frames, left and right twins averaged) and
:func:`with_bone_lengths` recomposes every frame from its own predicted bone directions with
those lengths (forward kinematics through the skeleton's ``compose``), so the directions, and
hence the motion, are the model's and only the lengths are held fixed.
"""
from __future__ import annotations

import math

import torch

from ddhpose.geometry import bone_lengths, compose, decompose
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
    names = skeleton.names
    feet = [j for j, n in enumerate(names) if "ankle" in n]
    heads = [j for j, n in enumerate(names) if n.startswith("head")]
    if not feet or not heads:
        raise ValueError(f"skeleton {skeleton.name or ''}: a standing height needs joints named 'ankle' and "
                         f"'head', got names {list(names)}")

    paths = torch.tensor(skeleton.bone_paths, dtype=lengths.dtype, device=lengths.device)  # (J, J) root -> j
    off_root = torch.tensor([p != skeleton.root for p in skeleton.parents], dtype=lengths.dtype,
                            device=lengths.device)  # bones not attached to the root (not the hips)
    leg = (lengths[..., None, :] * paths[feet] * off_root).sum(-1).mean(-1)
    return leg + (lengths[..., None, :] * paths[heads]).sum(-1).amax(-1)


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised Gaussian weights (2r + 1,) with r = ceil(3 sigma); [1] for sigma <= 0."""
    if sigma <= 0:
        return torch.ones(1, dtype=dtype)
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def smooth_in_time(poses: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian low-pass filter along the frame axis: (..., F, J, C) -> (..., F, J, C).

    ``sigma`` in frames (0: unchanged). The ends are padded by reflecting the motion about the
    first and last frame (x[-k] = 2 x[0] - x[k]), so a steady motion stays steady up to the
    last frame instead of being pulled towards a repeated edge value.
    """
    if sigma <= 0 or poses.shape[-3] < 2:
        return poses
    kernel = gaussian_kernel(sigma, poses.dtype).to(poses.device)
    r = min((len(kernel) - 1) // 2, poses.shape[-3] - 1)
    kernel = kernel[(len(kernel) - 1) // 2 - r:(len(kernel) - 1) // 2 + r + 1]
    kernel = kernel / kernel.sum()
    first, last = poses[..., :1, :, :], poses[..., -1:, :, :]
    head = 2 * first - poses[..., 1:r + 1, :, :].flip(-3)
    tail = 2 * last - poses[..., -r - 1:-1, :, :].flip(-3)
    padded = torch.cat([head, poses, tail], dim=-3)
    frames = poses.shape[-3]
    return sum(w * padded[..., i:i + frames, :, :] for i, w in enumerate(kernel.tolist()))
