"""Acclaim ASF skeletons and AMC motions (the CMU Graphics Lab Motion Capture Database format).

ASF: ``:units`` (``length``, ``angle deg|rad``), ``:root`` (``order`` of the root's AMC
channels, ``axis``, ``position``, ``orientation``), ``:bonedata`` (one ``begin`` / ``end`` block
per bone: ``name``, ``direction`` (unit vector, world axes at rest), ``length``,
``axis ax ay az ORDER`` (the bone's local frame), ``dof`` and ``limits``), ``:hierarchy``.
AMC: optional ``:FULLY-SPECIFIED`` / ``:DEGREES`` / ``:RADIANS``, then per frame a frame number
line followed by ``<bone> <values in dof order>`` lines.

Forward kinematics (the Acclaim definition, as in CMU's own tools): with C_b the rotation of
the bone's ``axis`` line and R_b the rotation of its AMC values, both composed about fixed axes
in the order listed (``dof rx ry rz`` gives R = Rz @ Ry @ Rx),
M_b = M_parent @ C_b @ R_b @ C_b^T and end_b = end_parent + length_b * M_b @ direction_b.
The root's world rotation is C_root @ R_root @ C_root^T and its position ``position`` + (TX, TY, TZ).

Units: CMU skeletons use ``length 0.45``, meaning file lengths are inches times 0.45, so
metres = value * (1 / 0.45) * 2.54 / 100 (generally ``0.0254 / length``). CMU data is y up and
captured at 120 fps (the files do not say; pass ``fps``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
import torch

from ddhpose.data.bvh import SkeletonMotion, axis_rotations, chain_transforms, euler_matrices

_ROT_DOFS = ("rx", "ry", "rz")
_ROOT_CHANNELS = ("tx", "ty", "tz", "rx", "ry", "rz")


@dataclass(frozen=True)
class AsfBone:
    """One bone: world-axis rest ``direction`` (3,), ``length``, ``axis`` angles (3,) with their
    order (e.g. 'xyz'), and AMC ``dof`` names in file order (subset of rx, ry, rz)."""

    name: str
    parent: int  # index into AsfSkeleton.bones, -1 for the root
    direction: tuple[float, float, float]
    length: float
    axis: tuple[float, float, float]
    axis_order: str
    dof: tuple[str, ...]


@dataclass(frozen=True)
class AsfSkeleton:
    """A parsed ASF file. ``bones[0]`` is the root (length 0); parents come before children.

    ``axis`` angles are stored in degrees; ``degrees`` says how the AMC values are given
    unless the AMC file states ``:DEGREES`` / ``:RADIANS`` itself.
    """

    bones: tuple[AsfBone, ...]
    root_order: tuple[str, ...]
    root_position: tuple[float, float, float]
    length_unit: float
    degrees: bool

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.bones)

    @property
    def metres_per_unit(self) -> float:
        """CMU convention: file units are inches times ``length_unit``."""
        return 0.0254 / self.length_unit


def _sections(lines: list[str]) -> dict[str, list[tuple[int, list[str]]]]:
    out: dict[str, list[tuple[int, list[str]]]] = {}
    current = None
    for n, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            words = line[1:].split()
            current = words[0].lower()
            out[current] = [(n, words[1:])] if len(words) > 1 else []
        elif current is not None:
            out[current].append((n, line.split()))
    return out


def _floats(words: list[str], count: int, what: str, where: str) -> tuple[float, ...]:
    try:
        values = tuple(float(w) for w in words[:count])
    except ValueError:
        values = ()
    if len(values) != count:
        raise ValueError(f"{where}: expected {count} numbers for {what}, got {words}")
    return values


def _parse_bone(block: list[tuple[int, list[str]]], source: str) -> tuple[dict, int]:
    fields: dict = {"dof": ()}
    for n, words in block:
        key, rest, where = words[0].lower(), words[1:], f"{source}, line {n}"
        if key == "name":
            fields["name"] = rest[0]
        elif key == "direction":
            fields["direction"] = _floats(rest, 3, "direction", where)
        elif key == "length":
            fields["length"] = _floats(rest, 1, "length", where)[0]
        elif key == "axis":
            fields["axis"] = _floats(rest, 3, "axis", where)
            fields["axis_order"] = rest[3].lower() if len(rest) > 3 else "xyz"
        elif key == "dof":
            dof = tuple(w.lower() for w in rest)
            if any(d not in _ROT_DOFS for d in dof):
                raise ValueError(f"{where}: only rotational dof rx, ry, rz are supported, got {rest}")
            fields["dof"] = dof
    missing = {"name", "direction", "length", "axis"} - fields.keys()
    if missing:
        raise ValueError(f"{source}, line {block[0][0]}: bone block without {sorted(missing)}")
    return fields, block[0][0]


def parse_asf(text: str, source: str = "<asf>") -> AsfSkeleton:
    """Parse an ASF skeleton. Raises ValueError naming the source and line on malformed input."""
    sec = _sections(text.splitlines())
    for key in ("root", "bonedata", "hierarchy"):
        if key not in sec:
            raise ValueError(f"{source}: missing ':{key}' section (file truncated?)")
    units = {w[0].lower(): w[1] for _, w in sec.get("units", []) if len(w) > 1}
    length_unit = float(units.get("length", 1.0))
    degrees = units.get("angle", "deg").lower().startswith("deg")
    root = {w[0].lower(): (n, w[1:]) for n, w in sec["root"]}
    order = tuple(w.lower() for w in root.get("order", (0, list(_ROOT_CHANNELS)))[1])
    if sorted(order) != sorted(set(order)) or any(c not in _ROOT_CHANNELS for c in order):
        raise ValueError(f"{source}: root order must be a subset of TX TY TZ RX RY RZ, got {order}")
    n_pos, pos_words = root.get("position", (0, ["0", "0", "0"]))
    position = _floats(pos_words, 3, "root position", f"{source}, line {n_pos}")

    bones: dict[str, dict] = {}
    block: list[tuple[int, list[str]]] | None = None
    for n, words in sec["bonedata"]:
        if words[0].lower() == "begin":
            block = []
        elif words[0].lower() == "end":
            if block is None:
                raise ValueError(f"{source}, line {n}: 'end' without 'begin'")
            fields, _ = _parse_bone(block, source)
            bones[fields["name"]] = fields
            block = None
        elif block is not None:
            block.append((n, words))
    if block is not None:
        raise ValueError(f"{source}: bone block not closed with 'end' (file truncated?)")

    parent_of: dict[str, str] = {}
    for n, words in sec["hierarchy"]:
        if words[0].lower() in ("begin", "end"):
            continue
        for child in words[1:]:
            if child not in bones:
                raise ValueError(f"{source}, line {n}: hierarchy names unknown bone {child!r}")
            parent_of[child] = words[0]
    order_names = ["root"]
    for name in order_names:  # grows while iterating: breadth first, parents before children
        order_names.extend(c for c in parent_of if parent_of[c] == name)
    unreached = set(bones) - set(order_names)
    if unreached:
        raise ValueError(f"{source}: bones not connected to the root in ':hierarchy': {sorted(unreached)}")
    def deg(angles: tuple[float, ...]) -> tuple[float, ...]:  # axis angles follow ':units angle'
        return angles if degrees else tuple(float(np.rad2deg(a)) for a in angles)

    orientation = _floats(root.get("orientation", (0, ["0", "0", "0"]))[1], 3, "root orientation", source)
    root_bone = AsfBone("root", -1, (0.0, 0.0, 0.0), 0.0, deg(orientation),
                        root.get("axis", (0, ["XYZ"]))[1][0].lower(), ())
    out = [root_bone] + [
        AsfBone(b, order_names.index(parent_of[b]), bones[b]["direction"], bones[b]["length"],
                deg(bones[b]["axis"]), bones[b]["axis_order"], bones[b]["dof"])
        for b in order_names[1:]
    ]
    return AsfSkeleton(tuple(out), order, position, length_unit, degrees)


def read_asf(path: str | os.PathLike) -> AsfSkeleton:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_asf(fh.read(), os.fspath(path))


def parse_amc(text: str, skeleton: AsfSkeleton, source: str = "<amc>") -> dict[str, np.ndarray]:
    """Parse AMC motion against its skeleton.

    Returns:
        bone name -> (N, len(dof)) float64 values in file order ('root': the ``order`` channels).
        Angles are converted to degrees if the file says ``:RADIANS``.
    Raises:
        ValueError: unknown bones, wrong value counts, a frame missing a bone (truncated file),
            naming the source and line.
    """
    dofs = {b.name: b.dof for b in skeleton.bones if b.dof}
    dofs["root"] = skeleton.root_order
    frames: list[dict[str, list[float]]] = []
    radians = not skeleton.degrees
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            radians = {":RADIANS": True, ":DEGREES": False}.get(line.upper(), radians)
            continue
        words = line.split()
        if len(words) == 1 and re.fullmatch(r"\d+", words[0]):
            frames.append({})
            continue
        if not frames:
            raise ValueError(f"{source}, line {n}: bone values before the first frame number")
        name, values = words[0], words[1:]
        if name not in dofs:
            raise ValueError(f"{source}, line {n}: bone {name!r} has no dof in the skeleton")
        if len(values) != len(dofs[name]):
            raise ValueError(f"{source}, line {n}: bone {name!r} expects {len(dofs[name])} values "
                             f"({' '.join(dofs[name])}), got {len(values)}")
        try:
            frames[-1][name] = [float(v) for v in values]
        except ValueError:
            raise ValueError(f"{source}, line {n}: bone {name!r} has a value that is not a number") from None
    for f, frame in enumerate(frames):
        missing = set(dofs) - frame.keys()
        if missing:
            raise ValueError(f"{source}: frame {f + 1} lacks bones {sorted(missing)} (file truncated?)")
    if not frames:
        raise ValueError(f"{source}: no frames")
    out = {name: np.array([fr[name] for fr in frames], dtype=np.float64).reshape(len(frames), len(dofs[name]))
           for name in dofs}
    if radians:
        for name, order in dofs.items():
            rot = [i for i, c in enumerate(order) if c in _ROT_DOFS]
            out[name][:, rot] = np.rad2deg(out[name][:, rot])
    return out


def read_amc(path: str | os.PathLike, skeleton: AsfSkeleton) -> dict[str, np.ndarray]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_amc(fh.read(), skeleton, os.fspath(path))


def _fixed_axis_rotation(angles: torch.Tensor, order: str) -> torch.Tensor:
    """Rotations about fixed axes applied in ``order`` (first listed first). (..., n) deg -> (..., 3, 3)."""
    return euler_matrices(angles.flip(-1), order[::-1])


def forward_kinematics(skeleton: AsfSkeleton, motion: dict[str, np.ndarray], fps: float = 120.0,
                       dtype: torch.dtype = torch.float64) -> SkeletonMotion:
    """Bone end points and orientations, in file units and axes (CMU: y up).

    Args:
        motion: from :func:`parse_amc`; bones without values keep their rest rotation.
    Returns:
        ``positions[:, 0]`` is the root; ``positions[:, b]`` is the far end of bone ``b``;
        ``rotations[:, b]`` is M_b.
    """
    bones, parents = skeleton.bones, tuple(b.parent for b in skeleton.bones)
    n, k = next(iter(motion.values())).shape[0], len(bones)
    frame = torch.stack([_fixed_axis_rotation(torch.tensor(b.axis, dtype=dtype), b.axis_order) for b in bones])
    # up to three rotation slots per bone, in the order the dof are listed (identity if unused)
    values, bone_idx, slot_idx, axis_idx = [], [], [], []
    for i, b in enumerate(bones):
        order = skeleton.root_order if i == 0 else b.dof
        data = motion.get(b.name, np.zeros((n, len(order))))
        cols = [c for c, name in enumerate(order) if name in _ROT_DOFS]
        values.extend(data[:, c] for c in cols)
        bone_idx += [i] * len(cols)
        slot_idx += list(range(len(cols)))
        axis_idx += [_ROT_DOFS.index(order[c]) for c in cols]
    slots = torch.eye(3, dtype=dtype).expand(n, k, 3, 3, 3).clone()
    if values:
        angles = torch.deg2rad(torch.as_tensor(np.stack(values, axis=1), dtype=dtype))
        slots[:, bone_idx, slot_idx] = axis_rotations(angles, torch.tensor(axis_idx))
    # fixed axes, first listed applied first: R = R_3 @ R_2 @ R_1
    local = slots[:, :, 2] @ slots[:, :, 1] @ slots[:, :, 0]
    local = frame @ local @ frame.transpose(-1, -2)
    rotations, _ = chain_transforms(local, torch.zeros(n, k, 3, dtype=dtype), parents)

    bone_vec = torch.tensor([b.direction for b in bones], dtype=dtype) * torch.tensor(
        [b.length for b in bones], dtype=dtype)[:, None]
    root_pos = torch.tensor(skeleton.root_position, dtype=dtype).expand(n, 3).clone()
    root_values = torch.as_tensor(motion["root"], dtype=dtype)
    for c, axis_i in (("tx", 0), ("ty", 1), ("tz", 2)):
        if c in skeleton.root_order:
            root_pos[:, axis_i] += root_values[:, skeleton.root_order.index(c)]
    # an ASF bone is turned by its own M_b (not its parent's): end_b = end_parent + M_b @ v_b
    vectors = (rotations @ bone_vec[None, :, :, None])[..., 0]
    vectors[:, 0] = root_pos
    ancestry = _ancestry(parents, dtype)
    positions = torch.einsum("jk,nkc->njc", ancestry, vectors)
    rest_vec = torch.cat((torch.tensor([skeleton.root_position], dtype=dtype), bone_vec[1:]))
    return SkeletonMotion(skeleton.names, parents, positions, rotations, ancestry @ rest_vec, fps,
                          skeleton.metres_per_unit)


def _ancestry(parents: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A[j, k] = 1 when k is j or one of its ancestors (root included). (K, K)."""
    a = torch.zeros(len(parents), len(parents), dtype=dtype)
    for j in range(len(parents)):
        k = j
        while k >= 0:
            a[j, k] = 1
            k = parents[k]
    return a


def load_asf_amc(asf_path: str | os.PathLike, amc_path: str | os.PathLike, fps: float = 120.0) -> SkeletonMotion:
    """Read an ASF/AMC pair and run forward kinematics (file units, y up; see module docstring)."""
    skeleton = read_asf(asf_path)
    return forward_kinematics(skeleton, read_amc(amc_path, skeleton), fps)
