"""Kinematic trees derived from a parent array (method section 1).

Nothing here is hard-coded per skeleton: levels, children, bones and root-to-leaf chains are
all computed from ``parents``; the two dataset skeletons are just data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Sequence


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree over ``J`` joints.

    Args:
        parents: parent index of every joint, ``-1`` for the root (exactly one).
        joints_left, joints_right: mirrored joint pairs, in matching order.
        names: optional joint names (for messages and exports).
    """

    parents: tuple[int, ...]
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]
    names: tuple[str, ...] = field(default=(), compare=False)
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parents", tuple(int(p) for p in self.parents))
        object.__setattr__(self, "joints_left", tuple(int(j) for j in self.joints_left))
        object.__setattr__(self, "joints_right", tuple(int(j) for j in self.joints_right))
        object.__setattr__(self, "names", tuple(self.names))
        n = len(self.parents)
        roots = [j for j, p in enumerate(self.parents) if p == -1]
        if len(roots) != 1:
            raise ValueError(f"a skeleton needs exactly one root (parent -1), got {len(roots)}")
        if any(not (-1 <= p < n) or p == j for j, p in enumerate(self.parents)):
            raise ValueError(f"parents must index joints 0..{n - 1}, got {self.parents}")
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError("joints_left and joints_right must pair up one to one")
        if self.names and len(self.names) != n:
            raise ValueError(f"expected {n} joint names, got {len(self.names)}")
        self.levels  # raises on cycles

    @property
    def num_joints(self) -> int:
        return len(self.parents)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    def index(self, name: str) -> int:
        """The index of the joint called ``name``; a ValueError names the skeleton and its joints."""
        return self.joints((name,), "this")[name]

    def joints(self, names: Sequence[str], purpose: str) -> dict[str, int]:
        """name -> index for every one of ``names``; a ValueError says ``purpose`` needs the
        missing ones (e.g. joints(("left_hip", "right_hip"), "the world frame"))."""
        missing = [n for n in names if n not in self.names]
        if missing:
            raise ValueError(f"skeleton {self.name!r}: {purpose} needs joints named {list(names)}; missing "
                             f"{missing} (its joints: {list(self.names) or 'unnamed'})")
        return {n: self.names.index(n) for n in names}

    @cached_property
    def children(self) -> tuple[tuple[int, ...], ...]:
        """``children[j]``: the children of joint ``j`` in ascending order."""
        kids: list[list[int]] = [[] for _ in self.parents]
        for j, p in enumerate(self.parents):
            if p >= 0:
                kids[p].append(j)
        return tuple(tuple(k) for k in kids)

    @cached_property
    def levels(self) -> tuple[int, ...]:
        """Depth of every joint in the tree (root 0)."""
        out = []
        for j in range(self.num_joints):
            depth, k = 0, j
            while self.parents[k] != -1:
                k = self.parents[k]
                depth += 1
                if depth > self.num_joints:
                    raise ValueError(f"parents {self.parents} contain a cycle")
            out.append(depth)
        return tuple(out)

    @property
    def num_levels(self) -> int:
        return max(self.levels) + 1

    @cached_property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) for every non-root joint, in ascending child order."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    @cached_property
    def bone_slots(self) -> tuple[int, ...]:
        """The joint slots that hold a bone (every joint except the root), ascending."""
        return tuple(j for _, j in self.bones)

    @cached_property
    def bone_paths(self) -> tuple[tuple[int, ...], ...]:
        """(J, J) 0/1 rows: bone_paths[j][k] = 1 when the bone in slot k lies on the path from the
        root to joint j, so joint j = sum_k bone_paths[j][k] * bone_k (forward kinematics)."""
        rows = []
        for j in range(self.num_joints):
            row, k = [0] * self.num_joints, j
            while self.parents[k] != -1:
                row[k], k = 1, self.parents[k]
            rows.append(tuple(row))
        return tuple(rows)

    @cached_property
    def topological_order(self) -> tuple[int, ...]:
        """Joints ordered parents-first (breadth first from the root)."""
        order, queue = [], [self.root]
        while queue:
            j = queue.pop(0)
            order.append(j)
            queue.extend(self.children[j])
        return tuple(order)

    @cached_property
    def chains(self) -> tuple[tuple[int, ...], ...]:
        """Every root-to-leaf path, depth-first from the root, children ascending."""
        out: list[tuple[int, ...]] = []

        def visit(j: int, path: tuple[int, ...]) -> None:
            path = path + (j,)
            if not self.children[j]:
                out.append(path)
            for c in self.children[j]:
                visit(c, path)

        visit(self.root, ())
        return tuple(out)

    @cached_property
    def flip_permutation(self) -> tuple[int, ...]:
        """Index map that swaps left and right joints (an involution)."""
        perm = list(range(self.num_joints))
        for a, b in zip(self.joints_left, self.joints_right):
            perm[a], perm[b] = b, a
        return tuple(perm)


H36M_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)

H36M = Skeleton(
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
    names=H36M_NAMES,
    name="h36m",
)

MPI_INF_3DHP_NAMES = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "pelvis", "spine", "head",
)

MPI_INF_3DHP = Skeleton(
    parents=(1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
    joints_left=(5, 6, 7, 11, 12, 13),
    joints_right=(2, 3, 4, 8, 9, 10),
    names=MPI_INF_3DHP_NAMES,
    name="3dhp",
)

#: ``h36m_pose = mpi_pose[..., MPI_INF_3DHP_TO_H36M, :]``
MPI_INF_3DHP_TO_H36M = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)

SKELETONS = {"h36m": H36M, "3dhp": MPI_INF_3DHP}


def get_skeleton(name: str) -> Skeleton:
    """Look a dataset skeleton up by name ('h36m' or '3dhp')."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; expected one of {sorted(SKELETONS)}") from None


def skeleton_from_parents(parents: Sequence[int], left: Sequence[int], right: Sequence[int]) -> Skeleton:
    """Build a custom skeleton (e.g. from a checkpoint's config)."""
    for name, sk in SKELETONS.items():
        if tuple(parents) == sk.parents and tuple(left) == sk.joints_left and tuple(right) == sk.joints_right:
            return sk
    return Skeleton(tuple(parents), tuple(left), tuple(right))
