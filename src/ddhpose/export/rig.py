"""The animation rig both motion exports use (BVH, glTF): a skeleton's joints as a node tree with
rest offsets, and every frame's local joint rotations that reproduce the poses' bone directions.

The rest pose is a T-pose (y up, the subject's left +x, facing +z) with the sequence's median
bone lengths. A joint with several children (Human3.6M: pelvis, thorax) cannot point them all
with one rotation, so each of its children hangs from a zero-offset helper node
``<parent>_to_<child>``; the parent's own rotation is the frame of its first two non-parallel
children (its twist), and each helper swings its child's bone into place. A joint with one child
takes the shortest-arc swing relative to its parent's frame (no twist). Forward kinematics of
the rig therefore reproduces every bone direction exactly, with the median lengths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ddhpose.geometry import decompose
from ddhpose.skeleton import H36M, Skeleton

_LEFT, _RIGHT, _UP, _DOWN = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0)
#: rest (T-pose) direction of the bone ending at each Human3.6M joint, BVH axes
H36M_REST_DIRECTIONS = (
    _UP, _RIGHT, _DOWN, _DOWN, _LEFT, _DOWN, _DOWN, _UP, _UP, _UP, _UP,
    _LEFT, _LEFT, _LEFT, _RIGHT, _RIGHT, _RIGHT,
)
_END_SITE_FRACTION = 0.25  # end-site offset along the last bone, for display only


@dataclass(frozen=True, eq=False)
class Rig:
    """A node tree (depth first: a parent before its children) and its animation.

    Attributes:
        names: node names; parents: each node's parent node (-1: the root); joints: the
            skeleton joint a node is (None: a helper node).
        offsets: (N, 3) rest offset from the parent node (the root's: its median position).
        rotations: (F, N, 3, 3) every node's rotation relative to its parent.
        root_positions: (F, 3) the root's position.
        end_sites: leaf node -> (3,) end-site offset, along its last bone.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    joints: tuple[int | None, ...]
    offsets: np.ndarray
    rotations: np.ndarray
    root_positions: np.ndarray
    end_sites: dict

    def children(self, node: int) -> list[int]:
        return [n for n, p in enumerate(self.parents) if p == node]


def build_rig(poses: torch.Tensor | np.ndarray, skeleton: Skeleton = H36M,
              rest_directions: Sequence[Sequence[float]] | None = None) -> Rig:
    """The rig animating ``poses`` (F, J, 3), given in the rig's own axes and units (y up).

    ``rest_directions`` (J, 3): rest direction of the bone ending at each joint; defaults to a
    T-pose for Human3.6M, required for other skeletons.
    """
    if rest_directions is None:
        if skeleton != H36M:
            raise ValueError("rest_directions are required for skeletons other than Human3.6M")
        rest_directions = H36M_REST_DIRECTIONS
    x = torch.as_tensor(np.asarray(poses), dtype=torch.float64)
    if x.ndim != 3 or x.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(f"poses: expected (N, {skeleton.num_joints}, 3), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("poses contain non-finite values")
    direction, length = decompose(x, skeleton)
    lengths = length[..., 0].median(0).values  # (J,)
    rest = torch.tensor(rest_directions, dtype=x.dtype)
    if rest.shape != (skeleton.num_joints, 3):
        raise ValueError(f"rest_directions: expected ({skeleton.num_joints}, 3), got {tuple(rest.shape)}")
    rest = rest / rest.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    joint_rot, helper_rot = solve_rotations(direction, skeleton, rest)
    names = skeleton.names or tuple(f"joint{j}" for j in range(skeleton.num_joints))
    nodes: list[tuple[str, int, int | None, torch.Tensor, torch.Tensor]] = []
    end_sites = {}

    def add(name: str, parent: int, joint: int | None, offset: torch.Tensor, local: torch.Tensor) -> int:
        nodes.append((name, parent, joint, offset, local))
        return len(nodes) - 1

    def visit(j: int, parent: int, parent_rot: torch.Tensor, offset: torch.Tensor) -> None:
        node = add(names[j], parent, j, offset, parent_rot.transpose(-1, -2) @ joint_rot[:, j])
        kids = skeleton.children[j]
        for c in kids:
            child_offset = rest[c] * lengths[c]
            if len(kids) > 1:  # helper node at zero offset, carrying the swing of c's bone
                helper = add(f"{names[j]}_to_{names[c]}", node, None, torch.zeros(3, dtype=x.dtype),
                             joint_rot[:, j].transpose(-1, -2) @ helper_rot[:, c])
                visit(c, helper, helper_rot[:, c], child_offset)
            else:
                visit(c, node, joint_rot[:, j], child_offset)
        if not kids:
            end_sites[node] = (rest[j] * lengths[j] * _END_SITE_FRACTION).numpy()

    visit(skeleton.root, -1, torch.eye(3, dtype=x.dtype), x[:, skeleton.root].median(0).values)
    return Rig(tuple(n[0] for n in nodes), tuple(n[1] for n in nodes), tuple(n[2] for n in nodes),
               torch.stack([n[3] for n in nodes]).numpy(), torch.stack([n[4] for n in nodes], 1).numpy(),
               x[:, skeleton.root].numpy(), end_sites)


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
