"""Export Human3.6M-17 pose sequences as BVH animations (they open in Blender's BVH importer).

Axes: BVH is written y up, in centimetres (``units='m'`` for metres). Input poses are metres in one
of three frames: ``frame="yup"`` (the lifter's world frame, :mod:`ddhpose.lifting.world`: y up,
floor at y = 0) is written as it is; ``frame="world"`` (Human3.6M / :func:`ddhpose.data.retarget.load_mocap`:
z up) maps (x, y, z) -> (x, z, -y); ``frame="camera"`` (x right, y down, z forward) maps
(x, y, z) -> (x, -y, -z), so the subject stands upright facing the camera along +z.

Hierarchy: the skeleton's tree with offsets from the rest directions (a T-pose: y up, subject's
left +x, facing +z) times the sequence's median bone lengths. A joint with several children
(Human3.6M: pelvis, thorax) cannot point them all with one rotation, so each of its children
hangs from a zero-offset helper joint ``<parent>_to_<child>``; the parent's own rotation is
the frame of its first two non-parallel children (its twist), and each helper swings its
child's bone into place. A joint with one child takes the shortest-arc swing relative to its
parent's frame (no twist). Forward kinematics of the file therefore reproduces every bone
direction exactly, with the median lengths. Rotations are written as ZXY Euler angles,
unwrapped over time so they interpolate smoothly.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import roma
import torch

from ddhpose.data.bvh import axis_indices, forward_kinematics, read_bvh
from ddhpose.files import atomic_write_text
from ddhpose.geometry import decompose
from ddhpose.skeleton import H36M, Skeleton

_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
#: rest (T-pose) direction of the bone ending at each Human3.6M joint, BVH axes
H36M_REST_DIRECTIONS = (
    _UP, _RIGHT, _DOWN, _DOWN, _LEFT, _DOWN, _DOWN, _UP, _UP, _UP, _UP,
    _LEFT, _LEFT, _LEFT, _RIGHT, _RIGHT, _RIGHT,
)
_TO_BVH = {
    "world": torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
    "camera": torch.tensor([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    "yup": torch.eye(3),
}
_ORDER = "ZXY"
#: BVH length units and their size in metres^-1 (file value = metres x factor)
BVH_UNITS = {"cm": 100.0, "m": 1.0}
_END_SITE_FRACTION = 0.25  # end-site offset along the last bone, for display only


def _axes(frame: str) -> torch.Tensor:
    if frame not in _TO_BVH:
        raise ValueError(f"frame must be one of {sorted(_TO_BVH)}, got {frame!r}")
    return _TO_BVH[frame]


def matrix_to_euler(rot: torch.Tensor, axes: str, degrees: bool = True) -> torch.Tensor:
    """Inverse of :func:`euler_matrices` for three distinct axes (roma). (..., 3, 3) -> (..., 3).

    The middle angle is in [-90, 90] degrees.
    """
    idx = axis_indices(axes)
    if len(set(idx)) != 3 or rot.shape[-2:] != (3, 3):
        raise ValueError(f"expected 3 distinct axes and (..., 3, 3) matrices, got {axes!r}, {tuple(rot.shape)}")
    return roma.rotmat_to_euler(axes.upper(), rot, degrees=degrees)


def shortest_arc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The smallest rotation taking unit vectors a to b. (..., 3), (..., 3) -> (..., 3, 3).

    Opposite vectors get a half turn about an axis perpendicular to a.
    """
    a, b = torch.broadcast_tensors(a, b)
    w = 1.0 + (a * b).sum(-1, keepdim=True)
    xyz = torch.cross(a, b, dim=-1)
    # half turn fallback: any axis perpendicular to a
    helper = torch.where(a[..., :1].abs() < 0.9, torch.tensor([1.0, 0.0, 0.0], dtype=a.dtype),
                         torch.tensor([0.0, 1.0, 0.0], dtype=a.dtype))
    perp = torch.cross(a, helper, dim=-1)
    opposite = w < 1e-9
    quat = torch.where(opposite, torch.cat((torch.zeros_like(w), perp), -1), torch.cat((w, xyz), -1))
    quat = quat / quat.norm(dim=-1, keepdim=True)
    qw, qx, qy, qz = quat.unbind(-1)
    return torch.stack((
        1 - 2 * (qy * qy + qz * qz), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw),
        2 * (qx * qy + qz * qw), 1 - 2 * (qx * qx + qz * qz), 2 * (qy * qz - qx * qw),
        2 * (qx * qz - qy * qw), 2 * (qy * qz + qx * qw), 1 - 2 * (qx * qx + qy * qy),
    ), -1).reshape(*quat.shape[:-1], 3, 3)


def _frame(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Orthonormal frame (columns) from a primary and a secondary direction. (..., 3) -> (..., 3, 3)."""
    e1 = u / u.norm(dim=-1, keepdim=True)
    e3 = torch.cross(e1, v, dim=-1)
    e3 = e3 / e3.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.stack((e1, torch.cross(e3, e1, dim=-1), e3), dim=-1)


def _frame_children(children: tuple[int, ...], rest: torch.Tensor) -> tuple[int, int]:
    first = children[0]
    for c in children[1:]:
        if torch.cross(rest[first], rest[c], dim=-1).norm() > 1e-3:
            return first, c
    raise ValueError(f"children {children} have parallel rest directions; no frame for their parent")


def solve_rotations(direction: torch.Tensor, skeleton: Skeleton, rest: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """World rotations of every joint and of the helper of every multi-child joint's child.

    Args:
        direction: (N, J, 3) target bone directions in bone slots (BVH axes).
        rest: (J, 3) rest directions in bone slots.
    Returns:
        joint rotations (N, J, 3, 3) and helper rotations (N, J, 3, 3), the latter in the
        child's slot (identity where the child has no helper).
    """
    n, j = direction.shape[:2]
    eye = torch.eye(3, dtype=direction.dtype).expand(n, 3, 3)
    joint = [eye] * j
    helper = [eye] * j
    for p in skeleton.topological_order:
        kids = skeleton.children[p]
        frame_parent = joint[skeleton.parents[p]] if skeleton.parents[p] >= 0 else eye
        if p != skeleton.root:  # joint p's bone arrives through its helper, if any
            frame_parent = helper[p] if _has_helper(skeleton, p) else frame_parent
        if not kids:
            joint[p] = frame_parent  # leaf: continue the last bone
        elif len(kids) == 1:
            c = kids[0]
            local_target = (frame_parent.transpose(-1, -2) @ direction[:, c, :, None])[..., 0]
            joint[p] = frame_parent @ shortest_arc(rest[c], local_target)
        else:
            a, b = _frame_children(kids, rest)
            rest_frame = _frame(rest[a], rest[b])
            joint[p] = _frame(direction[:, a], direction[:, b]) @ rest_frame.T
            # where the two children happen to be parallel, fall back to a swing of the first
            parallel = torch.linalg.cross(direction[:, a], direction[:, b]).norm(dim=-1) < 1e-6
            if parallel.any():
                local_target = (frame_parent.transpose(-1, -2) @ direction[:, a, :, None])[..., 0]
                swing = frame_parent @ shortest_arc(rest[a], local_target)
                joint[p] = torch.where(parallel[:, None, None], swing, joint[p])
            for c in kids:
                local_target = (joint[p].transpose(-1, -2) @ direction[:, c, :, None])[..., 0]
                helper[c] = joint[p] @ shortest_arc(rest[c], local_target)
    return torch.stack(joint, 1), torch.stack(helper, 1)


def _has_helper(skeleton: Skeleton, j: int) -> bool:
    p = skeleton.parents[j]
    return p >= 0 and len(skeleton.children[p]) > 1


def _unwrap(angles: np.ndarray) -> np.ndarray:
    return np.unwrap(angles, period=360.0, axis=0)


def format_pose_bvh(poses: torch.Tensor | np.ndarray, fps: float = 50.0, *, frame: str = "world",
                    skeleton: Skeleton = H36M, rest_directions: Sequence[Sequence[float]] | None = None,
                    units: str = "cm") -> str:
    """The BVH text for poses (N, J, 3) in metres (see the module docstring for axes).

    ``rest_directions`` (J, 3): rest direction of the bone ending at each joint (BVH axes);
    defaults to a T-pose for Human3.6M, required for other skeletons. ``units``: the file's
    length unit, 'cm' (the usual for mocap BVH) or 'm'. The root's position channels carry the
    poses' root positions: pass poses with a trajectory added for a moving root.
    """
    if units not in BVH_UNITS:
        raise ValueError(f"units must be one of {sorted(BVH_UNITS)}, got {units!r}")
    if rest_directions is None:
        if skeleton != H36M:
            raise ValueError("rest_directions are required for skeletons other than Human3.6M")
        rest_directions = H36M_REST_DIRECTIONS
    x = torch.as_tensor(np.asarray(poses), dtype=torch.float64)
    if x.ndim != 3 or x.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses: expected (N, {skeleton.num_joints}, 3), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("poses contain non-finite values")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    x = x @ _axes(frame).to(x).T * BVH_UNITS[units]  # BVH axes and units
    direction, length = decompose(x, skeleton)
    lengths = length[..., 0].median(0).values  # (J,)
    rest = torch.tensor(rest_directions, dtype=x.dtype)
    if rest.shape != (skeleton.num_joints, 3):
        raise ValueError(f"rest_directions: expected ({skeleton.num_joints}, 3), got {tuple(rest.shape)}")
    rest = rest / rest.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    joint_rot, helper_rot = solve_rotations(direction, skeleton, rest)

    names = skeleton.names or tuple(f"joint{j}" for j in range(skeleton.num_joints))
    header, columns = ["HIERARCHY"], []

    def write(j: int, parent_rot: torch.Tensor, depth: int, offset: torch.Tensor) -> None:
        pad = "  " * depth
        root = depth == 0
        header.append(f"{pad}{'ROOT' if root else 'JOINT'} {names[j]}")
        header.append(f"{pad}{{")
        header.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        rot_channels = " ".join(f"{a}rotation" for a in _ORDER)
        header.append(f"{pad}  CHANNELS {6 if root else 3} " + ("Xposition Yposition Zposition " if root else "") + rot_channels)
        if root:
            columns.append(x[:, j].numpy())
        local = parent_rot.transpose(-1, -2) @ joint_rot[:, j]
        columns.append(_unwrap(matrix_to_euler(local, _ORDER).numpy()))
        kids = skeleton.children[j]
        for c in kids:
            child_offset = rest[c] * lengths[c]
            if len(kids) > 1:  # helper joint at zero offset, carrying the swing of c's bone
                header.append(f"{pad}  JOINT {names[j]}_to_{names[c]}")
                header.append(f"{pad}  {{")
                header.append(f"{pad}    OFFSET 0.000000 0.000000 0.000000")
                header.append(f"{pad}    CHANNELS 3 {rot_channels}")
                helper_local = joint_rot[:, j].transpose(-1, -2) @ helper_rot[:, c]
                columns.append(_unwrap(matrix_to_euler(helper_local, _ORDER).numpy()))
                write(c, helper_rot[:, c], depth + 2, child_offset)
                header.append(f"{pad}  }}")
            else:
                write(c, joint_rot[:, j], depth + 1, child_offset)
        if not kids:
            end = rest[j] * lengths[j] * _END_SITE_FRACTION
            header.extend([f"{pad}  End Site", f"{pad}  {{",
                           f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}", f"{pad}  }}"])
        header.append(f"{pad}}}")

    root_offset = x[:, skeleton.root].median(0).values
    write(skeleton.root, torch.eye(3, dtype=x.dtype), 0, root_offset)
    motion = np.concatenate(columns, axis=1)
    lines = header + ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    return "\n".join(lines) + "\n"


def export_bvh(path: str | os.PathLike, poses: torch.Tensor | np.ndarray, fps: float = 50.0, *,
               frame: str = "world", skeleton: Skeleton = H36M,
               rest_directions: Sequence[Sequence[float]] | None = None, units: str = "cm") -> None:
    """Write poses (N, J, 3) metres as a BVH file (atomically). See :func:`format_pose_bvh`."""
    text = format_pose_bvh(poses, fps, frame=frame, skeleton=skeleton, rest_directions=rest_directions, units=units)
    atomic_write_text(path, text)


def read_pose_bvh(path: str | os.PathLike, *, frame: str = "world", skeleton: Skeleton = H36M,
                  units: str = "cm") -> torch.Tensor:
    """Read a BVH written by :func:`export_bvh` back as (N, J, 3) metres in ``frame``."""
    motion = forward_kinematics(read_bvh(path))
    idx = [motion.index(name) for name in skeleton.names]
    return motion.positions[:, idx] / BVH_UNITS[units] @ _axes(frame).to(motion.positions)
