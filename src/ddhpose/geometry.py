"""Pure tensor geometry: bones <-> joints, flips, cameras (method sections 2 and 8).

Every function works on torch tensors with arbitrary leading dimensions; shapes are given in
the docstrings with ``...`` for those. Units are whatever the caller uses (metres by convention).
"""
from __future__ import annotations

from typing import Sequence

import torch

from ddhpose.skeleton import Skeleton

# Axis conventions, each a rotation whose rows are the new axes in the old coordinates
# (p_new = R @ p); every module that turns one convention into another takes them from here.
#: The camera frame (x right, y down, z forward) turned upright, facing the camera: (x, -y, -z).
CAMERA_TO_Y_UP = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))
#: y up (the lifter's world frame, BVH, glTF, OpenGL) to z up (Human3.6M, matplotlib's 3D): (x, -z, y).
Y_UP_TO_Z_UP = ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0), (0.0, 1.0, 0.0))

# Smallest bone length divided by; only ever matters for exactly zero-length bones.
_TINY = 1e-12


def _check_joints(x: torch.Tensor, skeleton: Skeleton, channels: int, what: str) -> None:
    if x.ndim < 2 or x.shape[-2] != skeleton.num_joints or x.shape[-1] != channels:
        raise ValueError(
            f"{what}: expected (..., {skeleton.num_joints}, {channels}), got {tuple(x.shape)}"
        )


def _parent_index(skeleton: Skeleton, device: torch.device) -> torch.Tensor:
    # the root points at itself so its "bone" is zero
    parents = [p if p >= 0 else j for j, p in enumerate(skeleton.parents)]
    return torch.tensor(parents, dtype=torch.long, device=device)


def bone_vectors(pose: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Child-minus-parent vectors in bone slots. (..., J, 3) -> (..., J, 3), root slot 0."""
    _check_joints(pose, skeleton, 3, "pose")
    return pose - pose.index_select(-2, _parent_index(skeleton, pose.device))


def decompose(pose: torch.Tensor, skeleton: Skeleton) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a pose into bone directions and lengths (method section 2).

    Args:
        pose: (..., J, 3) joint positions.
    Returns:
        direction (..., J, 3) unit vectors and length (..., J, 1), both zero in the root slot.
    """
    vec = bone_vectors(pose, skeleton)
    length = vec.norm(dim=-1, keepdim=True)
    direction = vec / length.clamp_min(_TINY)
    return direction, length


def compose(direction: torch.Tensor, length: torch.Tensor, skeleton: Skeleton,
            root: torch.Tensor | None = None) -> torch.Tensor:
    """Forward kinematics: y_c = y_p + l_c d_c, parents first.

    Args:
        direction: (..., J, 3); length: (..., J, 1); root: optional (..., 3) root position.
    Returns:
        pose (..., J, 3); the root is at ``root`` (default the origin).
    """
    _check_joints(direction, skeleton, 3, "direction")
    _check_joints(length, skeleton, 1, "length")
    bones = direction * length
    # every joint is the sum of the bones on its path from the root: one matmul
    ancestry = torch.tensor(skeleton.bone_paths, dtype=bones.dtype, device=bones.device)
    pose = torch.einsum("jk,...kc->...jc", ancestry, bones)
    if root is not None:
        pose = pose + root.unsqueeze(-2)
    return pose


def bone_lengths(pose: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """(..., J, 3) -> (..., J) bone lengths in slots, root 0."""
    return bone_vectors(pose, skeleton).norm(dim=-1)


def flip_pose(x: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Mirror poses (2D or 3D) or bone directions: negate x and swap left/right slots.

    (..., J, C) -> (..., J, C) for C in {2, 3}.
    """
    if x.shape[-2] != skeleton.num_joints:
        raise ValueError(f"expected (..., {skeleton.num_joints}, C), got {tuple(x.shape)}")
    perm = torch.tensor(skeleton.flip_permutation, device=x.device)
    sign = torch.ones(x.shape[-1], dtype=x.dtype, device=x.device)
    sign[0] = -1
    return x.index_select(-2, perm) * sign


def flip_slots(x: torch.Tensor, skeleton: Skeleton) -> torch.Tensor:
    """Swap left/right slots without negating anything (bone lengths). (..., J, C)."""
    if x.shape[-2] != skeleton.num_joints:
        raise ValueError(f"expected (..., {skeleton.num_joints}, C), got {tuple(x.shape)}")
    return x.index_select(-2, torch.tensor(skeleton.flip_permutation, device=x.device))


def world_to_camera(x: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """x_cam = R (x_world - T). x (..., 3); rotation (3, 3) world-to-camera; translation (3,) centre."""
    return (x - translation) @ rotation.transpose(-1, -2)


def camera_to_world(x: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`world_to_camera`. x (..., 3)."""
    return x @ rotation + translation


def project(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Project camera-frame points with VideoPose3D's distortion model (method section 8).

    Args:
        points: (..., 3) camera coordinates, z > 0.
        intrinsics: (..., 9) = [fx, fy, cx, cy, k1, k2, k3, p1, p2] (VideoPose3D tangential
            order), broadcastable against ``points[..., :1]``.
    Returns:
        (..., 2) image coordinates in the units of f and c.
    """
    if points.shape[-1] != 3 or intrinsics.shape[-1] != 9:
        raise ValueError(
            f"expected points (..., 3) and intrinsics (..., 9), got {tuple(points.shape)} "
            f"and {tuple(intrinsics.shape)}"
        )
    f, c, k, p = intrinsics[..., :2], intrinsics[..., 2:4], intrinsics[..., 4:7], intrinsics[..., 7:9]
    xx = torch.clamp(points[..., :2] / points[..., 2:], min=-1, max=1)
    r2 = (xx ** 2).sum(-1, keepdim=True)
    radial = 1 + (k * torch.cat((r2, r2 ** 2, r2 ** 3), dim=-1)).sum(-1, keepdim=True)
    tan = (p * xx).sum(-1, keepdim=True)
    return f * (xx * (radial + tan) + p * r2) + c


def normalize_screen(uv: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Pixels to [-1, 1] along x keeping the aspect ratio: u/w*2-1, v/w*2-h/w. (..., 2)."""
    if uv.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) pixel coordinates, got {tuple(uv.shape)}")
    offset = torch.tensor([1.0, height / width], dtype=uv.dtype, device=uv.device)
    return uv / width * 2 - offset


def image_coordinates(xy: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Inverse of :func:`normalize_screen`. (..., 2)."""
    offset = torch.tensor([1.0, height / width], dtype=xy.dtype, device=xy.device)
    return (xy + offset) * width / 2


def normalize_intrinsics(intrinsics: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """Pixel intrinsics (..., 9) to the screen-normalised ones used by J-Agg.

    f' = f / w * 2; c' normalised as a point; distortion unchanged.
    """
    out = intrinsics.clone()
    out[..., :2] = intrinsics[..., :2] / width * 2
    out[..., 2:4] = normalize_screen(intrinsics[..., 2:4], width, height)
    return out


def ray_coordinates(keypoints: torch.Tensor, focal: float, centre: Sequence[float] | torch.Tensor
                    ) -> torch.Tensor:
    """Pixels (..., 2) -> normalised image coordinates (u - c) / f (..., 2), float64: a camera ray's
    x / z and y / z for a pinhole camera of ``focal`` pixels and principal point ``centre``."""
    centre = torch.as_tensor(centre, dtype=torch.float64, device=keypoints.device)
    return (keypoints.double() - centre) / float(focal)


def interpolate_gaps(values: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Linear interpolation over time of (F, J, C) values where ``missing`` (F, J); gaps at the
    ends hold the nearest known value. Columns with no known value are left as they are."""
    frames, joints = missing.shape
    missing = missing & (~missing).any(0)  # a column never known stays as it is
    t = torch.arange(frames, device=values.device)[:, None].expand(frames, joints)
    prev = torch.where(missing, -1, t).cummax(0).values
    nxt = torch.where(missing, frames, t).flip(0).cummin(0).values.flip(0)
    prev = torch.where(prev < 0, nxt, prev)  # leading gap: hold the first known value
    nxt = torch.where(nxt >= frames, prev, nxt)  # trailing gap: hold the last one
    prev, nxt = prev.clamp(0, frames - 1), nxt.clamp(0, frames - 1)
    w = ((t - prev) / (nxt - prev).clamp_min(1)).to(values.dtype)[..., None]
    width = values.shape[-1]
    a = values.gather(0, prev[..., None].expand(-1, -1, width))
    b = values.gather(0, nxt[..., None].expand(-1, -1, width))
    return torch.where(missing[..., None], a + w * (b - a), values)


def carry_with_anchor(x: torch.Tensor, missing: torch.Tensor, anchor: int) -> torch.Tensor:
    """Fill the ``missing`` (F, J) entries of joints x (F, J, C) so they move with joint
    ``anchor``: each joint's offset from the anchor is interpolated over its gaps
    (:func:`interpolate_gaps`) and added to the anchor's track, which must itself be complete.
    Known entries are returned as they are."""
    track = x[:, anchor:anchor + 1]
    return torch.where(missing[..., None], track + interpolate_gaps(x - track, missing), x)
