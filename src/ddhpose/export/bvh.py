"""Export Human3.6M-17 pose sequences as BVH animations (they open in Blender's BVH importer).

Axes: BVH is written y up, in centimetres (``units='m'`` for metres). Input poses are metres in one
of three frames: ``frame="yup"`` (the lifter's world frame, :mod:`ddhpose.lifting.world`: y up,
floor at y = 0) is written as it is; ``frame="world"`` (Human3.6M / :func:`ddhpose.data.retarget.load_mocap`:
z up) maps (x, y, z) -> (x, z, -y); ``frame="camera"`` (x right, y down, z forward) maps
(x, y, z) -> (x, -y, -z), so the subject stands upright facing the camera along +z.

Hierarchy: the rig of :mod:`ddhpose.export.rig` (a T-pose with the sequence's median bone
lengths, helper joints ``<parent>_to_<child>`` under joints with several children), so forward
kinematics of the file reproduces every bone direction exactly. Rotations are written as ZXY
Euler angles, unwrapped over time so they interpolate smoothly.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import roma
import torch

from ddhpose.data.bvh import axis_indices, forward_kinematics, read_bvh
from ddhpose.export.rig import build_rig
from ddhpose.files import atomic_write_text
from ddhpose.export.options import BVH_UNITS
from ddhpose.geometry import CAMERA_TO_Y_UP, Y_UP_TO_Z_UP
from ddhpose.lifting.options import DEFAULT_FPS
from ddhpose.skeleton import H36M, Skeleton

#: The poses' frame -> BVH's y-up frame: a z-up world, the camera frame, or already y up.
_TO_BVH = {
    "world": torch.tensor(Y_UP_TO_Z_UP).T,
    "camera": torch.tensor(CAMERA_TO_Y_UP),
    "yup": torch.eye(3),
}
_ORDER = "ZXY"
#: BVH length units and their size in metres^-1 (file value = metres x factor)


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


def _unwrap(angles: np.ndarray) -> np.ndarray:
    return np.unwrap(angles, period=360.0, axis=0)


def format_pose_bvh(poses: torch.Tensor | np.ndarray, fps: float = DEFAULT_FPS, *, frame: str = "world",
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
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    x = torch.as_tensor(np.asarray(poses), dtype=torch.float64)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"poses: expected (N, {skeleton.num_joints}, 3), got {tuple(x.shape)}")
    rig = build_rig(x @ _axes(frame).to(x).T * BVH_UNITS[units], skeleton, rest_directions)  # BVH axes, units
    header, columns = ["HIERARCHY"], []
    rot_channels = " ".join(f"{a}rotation" for a in _ORDER)

    def write(node: int, depth: int) -> None:
        pad = "  " * depth
        root = rig.parents[node] < 0
        offset = rig.offsets[node]
        header.append(f"{pad}{'ROOT' if root else 'JOINT'} {rig.names[node]}")
        header.append(f"{pad}{{")
        header.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        header.append(f"{pad}  CHANNELS {6 if root else 3} " + ("Xposition Yposition Zposition " if root else "")
                      + rot_channels)
        if root:
            columns.append(rig.root_positions)
        columns.append(_unwrap(matrix_to_euler(torch.from_numpy(rig.rotations[:, node]), _ORDER).numpy()))
        for child in rig.children(node):
            write(child, depth + 1)
        if node in rig.end_sites:
            end = rig.end_sites[node]
            header.extend([f"{pad}  End Site", f"{pad}  {{",
                           f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}", f"{pad}  }}"])
        header.append(f"{pad}}}")

    write(0, 0)
    motion = np.concatenate(columns, axis=1)
    lines = header + ["MOTION", f"Frames: {len(motion)}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in motion]
    return "\n".join(lines) + "\n"


def export_bvh(path: str | os.PathLike, poses: torch.Tensor | np.ndarray, fps: float = DEFAULT_FPS, *,
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
