"""Track-level consistency of lifted poses: one body per track.

A person's bones do not change length, yet a lifting model predicts every frame's lengths anew
(and a noisy detector makes them wobble). :func:`track_bone_lengths` takes one robust length per
bone for the whole track (the median over frames, left and right twins averaged) and
:func:`with_bone_lengths` recomposes every frame from its own predicted bone directions with
those lengths (forward kinematics through the skeleton's ``compose``), so the directions, and
hence the motion, are the model's and only the lengths are held fixed.
"""
from __future__ import annotations

import torch

from .geometry import bone_lengths, compose, decompose
from .skeleton import Skeleton


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
