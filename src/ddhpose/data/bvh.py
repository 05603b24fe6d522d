"""BVH motion files: reader, Euler-angle helpers and forward kinematics.

A BVH file has a HIERARCHY (``ROOT`` / ``JOINT`` / ``End Site`` blocks with an ``OFFSET`` and a
``CHANNELS`` line) and a MOTION section (``Frames:``, ``Frame Time:``, then one line of numbers
per frame). Conventions implemented here, the ones Blender and most tools share:

- rotation channels are Euler angles in degrees applied in the order they are listed, as
  intrinsic rotations: ``CHANNELS 3 Zrotation Xrotation Yrotation`` gives R = Rz @ Rx @ Ry;
- a joint's position channels *replace* the matching component of its ``OFFSET`` (the root's
  channels are its absolute position); a joint may have any subset of them;
- forward kinematics: G_j = G_parent @ R_j and p_j = p_parent + G_parent @ t_j, with t_j the
  (possibly animated) offset. ``End Site`` blocks become joints named ``<parent>_end`` with no
  channels.

Units and axes are whatever the file uses (often centimetres, y up); see
:mod:`ddhpose.data.retarget` for the conversion to metres, z up.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import roma
import torch

_AXES = "xyz"
_POSITION = {"xposition": 0, "yposition": 1, "zposition": 2}
_ROTATION = {"xrotation": 0, "yrotation": 1, "zrotation": 2}


@dataclass(frozen=True)
class BvhJoint:
    """One node of the hierarchy. ``channels`` are lower-case (e.g. 'zrotation')."""

    name: str
    parent: int
    offset: tuple[float, float, float]
    channels: tuple[str, ...]
    end_site: bool = False


@dataclass(frozen=True)
class BvhFile:
    """A parsed BVH file.

    Attributes:
        joints: the hierarchy, parents before children (file order), end sites included.
        frame_time: seconds per frame.
        motion: (N, C) float64 channel values, C = total number of channels, in file order.
    """

    joints: tuple[BvhJoint, ...]
    frame_time: float
    motion: np.ndarray

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(j.parent for j in self.joints)

    @property
    def fps(self) -> float:
        """1 / frame_time, snapped to a whole number within 1e-4 (files round 1/30 to 0.0333333)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 1e-4 * fps else fps

    @property
    def num_frames(self) -> int:
        return self.motion.shape[0]


@dataclass(frozen=True)
class SkeletonMotion:
    """A mocap clip after forward kinematics (BVH or ASF/AMC), in the file's units and axes.

    Attributes:
        names: (K,) joint names; parents: (K,) parent indices, -1 for the root.
        positions: (N, K, 3) float64 world joint positions.
        rotations: (N, K, 3, 3) float64 world orientation of each joint's frame (identity in
            the rest pose); a vector fixed to joint j's frame at rest moves to ``rotations[j] @ v``.
        rest_positions: (K, 3) joint positions of the rest pose.
        fps: frames per second.
        metres_per_unit: scale to metres when the format states it, else None.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    positions: torch.Tensor
    rotations: torch.Tensor
    rest_positions: torch.Tensor
    fps: float
    metres_per_unit: float | None = None

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no joint named {name!r}; joints are {list(self.names)}") from None


# ----------------------------------------------------------------------------------- rotations

def axis_rotations(angles: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """Rotations about coordinate axes. angles (..., n) radians; axes (n,) long in {0, 1, 2}.

    Returns (..., n, 3, 3) (``roma.rotvec_to_rotmat`` of axis x angle).
    """
    unit = torch.eye(3, dtype=angles.dtype, device=angles.device)[axes]  # (n, 3)
    return roma.rotvec_to_rotmat(angles[..., None] * unit)


def axis_indices(axes: str) -> list[int]:
    if not axes or any(a not in _AXES for a in axes.lower()):
        raise ValueError(f"rotation order must be letters from 'xyz', got {axes!r}")
    return [_AXES.index(a) for a in axes.lower()]


def euler_matrices(angles: torch.Tensor, axes: str, degrees: bool = True) -> torch.Tensor:
    """Intrinsic Euler angles to matrices: R = R_axes[0](a0) @ R_axes[1](a1) @ ... (roma).

    Args:
        angles: (..., n) with n = len(axes); axes: e.g. 'ZXY' (case-insensitive).
    Returns:
        (..., 3, 3). Extrinsic (fixed-axis) order 'XYZ' equals intrinsic 'ZYX' on reversed angles.
    """
    idx = axis_indices(axes)
    if angles.shape[-1] != len(idx):
        raise ValueError(f"expected (..., {len(idx)}) angles for order {axes!r}, got {tuple(angles.shape)}")
    return roma.euler_to_rotmat(axes.upper(), angles, degrees=degrees)


# ------------------------------------------------------------------------------------- parsing

class _Tokens:
    """Whitespace tokens with their line numbers, for error messages."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.items = [(tok, n + 1) for n, line in enumerate(lines) for tok in line.split()]
        self.pos, self.source = 0, source
        self.last_line = len(lines)

    def error(self, message: str, line: int | None = None) -> ValueError:
        return ValueError(f"{self.source}, line {line or self.line}: {message}")

    @property
    def line(self) -> int:
        return self.items[self.pos][1] if self.pos < len(self.items) else self.last_line

    def next(self, what: str) -> str:
        if self.pos >= len(self.items):
            raise self.error(f"file ends early: expected {what}")
        tok = self.items[self.pos][0]
        self.pos += 1
        return tok

    def rest_of_line(self, line: int) -> list[str]:
        out = []
        while self.pos < len(self.items) and self.items[self.pos][1] == line:
            out.append(self.items[self.pos][0])
            self.pos += 1
        return out

    def expect(self, word: str) -> None:
        line, tok = self.line, self.next(repr(word))
        if tok.upper() != word.upper():
            raise self.error(f"expected {word!r}, got {tok!r}", line)

    def number(self, what: str) -> float:
        line, tok = self.line, self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise self.error(f"expected a number for {what}, got {tok!r}", line) from None


def _parse_joint(tok: _Tokens, name: str, parent: int, joints: list[BvhJoint]) -> None:
    tok.expect("{")
    tok.expect("OFFSET")
    offset = tuple(tok.number(f"the OFFSET of {name!r}") for _ in range(3))
    channels: tuple[str, ...] = ()
    index = len(joints)
    joints.append(BvhJoint(name, parent, offset, channels))  # placeholder, parents come first
    line, word = tok.line, tok.next(f"CHANNELS, JOINT, End Site or '}}' in {name!r}")
    if word.upper() == "CHANNELS":
        listed = tok.rest_of_line(line)
        if not listed or not listed[0].isdigit():
            raise tok.error(f"CHANNELS of {name!r} must start with a count, got {listed[:1]}", line)
        channels = tuple(c.lower() for c in listed[1:])
        if len(channels) != int(listed[0]):
            raise tok.error(f"CHANNELS of {name!r} declares {listed[0]} channels but lists {len(channels)}", line)
        bad = [c for c in channels if c not in _POSITION and c not in _ROTATION]
        if bad or len(set(channels)) != len(channels):
            raise tok.error(f"joint {name!r}: unknown or repeated channels {list(channels)}", line)
        joints[index] = BvhJoint(name, parent, offset, channels)
        line, word = tok.line, tok.next(f"JOINT, End Site or '}}' in {name!r}")
    while word != "}":
        if word.upper() == "JOINT":
            _parse_joint(tok, tok.next("a joint name"), index, joints)
        elif word.upper() == "END":
            tok.expect("Site")
            tok.expect("{")
            tok.expect("OFFSET")
            end = tuple(tok.number(f"the End Site OFFSET of {name!r}") for _ in range(3))
            tok.expect("}")
            joints.append(BvhJoint(f"{name}_end", index, end, (), end_site=True))
        else:
            raise tok.error(f"expected JOINT, End Site or '}}' in {name!r}, got {word!r}", line)
        line, word = tok.line, tok.next(f"'}}' closing {name!r}")


def _parse_motion(lines: list[str], start: int, num_channels: int, source: str) -> tuple[float, np.ndarray]:
    header: dict[str, tuple[str, int]] = {}
    n = start
    while len(header) < 2:
        if n >= len(lines):
            raise ValueError(f"{source}, line {n}: file ends early: expected 'Frames:' and 'Frame Time:'")
        text = lines[n].strip()
        n += 1
        if not text:
            continue
        key, _, value = text.partition(":")
        key = " ".join(key.lower().split())
        if key not in ("frames", "frame time"):
            raise ValueError(f"{source}, line {n}: expected 'Frames:' or 'Frame Time:', got {text[:40]!r}")
        header[key] = (value.strip(), n)
    try:
        frames = int(header["frames"][0])
        frame_time = float(header["frame time"][0])
    except ValueError:
        raise ValueError(f"{source}, line {n}: bad 'Frames:' or 'Frame Time:' value") from None
    if frames < 0 or not frame_time > 0:
        raise ValueError(f"{source}, line {n}: expected Frames >= 0 and Frame Time > 0, got {frames}, {frame_time}")
    rows = [(k + 1, line) for k, line in enumerate(lines[n:], start=n) if line.strip()]
    if len(rows) < frames:
        last = rows[-1][0] if rows else n
        raise ValueError(f"{source}, line {last}: file is truncated: 'Frames: {frames}' but only "
                         f"{len(rows)} frame lines")
    if len(rows) > frames:
        raise ValueError(f"{source}, line {rows[frames][0]}: more frame lines than 'Frames: {frames}'")
    motion = np.empty((frames, num_channels), dtype=np.float64)
    for f, (line_no, line) in enumerate(rows):
        values = line.split()
        if len(values) != num_channels:
            raise ValueError(f"{source}, line {line_no}: frame {f} has {len(values)} values, the "
                             f"hierarchy declares {num_channels} channels")
        try:
            motion[f] = np.asarray(values, dtype=np.float64)
        except ValueError:
            raise ValueError(f"{source}, line {line_no}: frame {f} has a value that is not a number") from None
    return frame_time, motion


def parse_bvh(text: str, source: str = "<bvh>") -> BvhFile:
    """Parse the text of a BVH file. ``source`` names the file in error messages.

    Raises:
        ValueError: malformed hierarchy, truncated motion or wrong channel counts, with the
            source name and line number.
    """
    lines = text.splitlines()
    motion_at = next((n for n, line in enumerate(lines) if line.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise ValueError(f"{source}, line {len(lines)}: no MOTION section (file truncated?)")
    tok = _Tokens(lines[:motion_at], source)
    tok.expect("HIERARCHY")
    tok.expect("ROOT")
    joints: list[BvhJoint] = []
    _parse_joint(tok, tok.next("the root name"), -1, joints)
    if tok.pos < len(tok.items):
        raise tok.error(f"unexpected {tok.items[tok.pos][0]!r} after the root joint (one ROOT supported)")
    num_channels = sum(len(j.channels) for j in joints)
    frame_time, motion = _parse_motion(lines, motion_at + 1, num_channels, source)
    return BvhFile(tuple(joints), frame_time, motion)


def read_bvh(path: str | os.PathLike) -> BvhFile:
    """Read a BVH file (see :func:`parse_bvh`)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_bvh(fh.read(), source=os.fspath(path))


# ---------------------------------------------------------------------------- forward kinematics

def _levels(parents: tuple[int, ...]) -> list[list[int]]:
    depth: list[int] = []
    for p in parents:  # parents come before children
        depth.append(0 if p < 0 else depth[p] + 1)
    return [[j for j, d in enumerate(depth) if d == level] for level in range(max(depth) + 1)]


def chain_transforms(local_rot: torch.Tensor, local_trans: torch.Tensor, parents: tuple[int, ...]
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Compose local transforms down a tree, one tree level at a time.

    Args:
        local_rot: (N, K, 3, 3); local_trans: (N, K, 3); parents listed before children.
    Returns:
        world rotations (N, K, 3, 3) and positions (N, K, 3) with
        G_j = G_p @ R_j, p_j = p_p + G_p @ t_j (the root: G = R, p = t).
    """
    rot, pos = local_rot.clone(), local_trans.clone()
    for level in _levels(parents)[1:]:
        idx = torch.tensor(level, device=rot.device)
        par = torch.tensor([parents[j] for j in level], device=rot.device)
        rot[:, idx] = rot[:, par] @ local_rot[:, idx]
        pos[:, idx] = pos[:, par] + (rot[:, par] @ local_trans[:, idx, :, None])[..., 0]
    return rot, pos


def forward_kinematics(bvh: BvhFile, dtype: torch.dtype = torch.float64) -> SkeletonMotion:
    """World positions and orientations of every joint (end sites included), in file units."""
    names, parents = bvh.names, bvh.parents
    n, k = bvh.num_frames, len(bvh.joints)
    motion = torch.as_tensor(bvh.motion, dtype=dtype)
    offsets = torch.tensor([j.offset for j in bvh.joints], dtype=dtype)
    pos_j, pos_c, pos_col, rot_j, rot_slot, rot_axis, rot_col = [], [], [], [], [], [], []
    col = 0
    for j, joint in enumerate(bvh.joints):
        slot = 0
        for ch in joint.channels:
            if ch in _POSITION:
                pos_j.append(j), pos_c.append(_POSITION[ch]), pos_col.append(col)
            else:
                rot_j.append(j), rot_slot.append(slot), rot_axis.append(_ROTATION[ch]), rot_col.append(col)
                slot += 1
            col += 1
    trans = offsets.expand(n, k, 3).clone()
    trans[:, pos_j, pos_c] = motion[:, pos_col]
    # every joint gets 3 rotation slots (identity where unused), multiplied in channel order
    slots = torch.eye(3, dtype=dtype).expand(n, k, 3, 3, 3).clone()
    elementary = axis_rotations(torch.deg2rad(motion[:, rot_col]), torch.tensor(rot_axis, dtype=torch.long))
    slots[:, rot_j, rot_slot] = elementary
    local = slots[:, :, 0] @ slots[:, :, 1] @ slots[:, :, 2]
    rotations, positions = chain_transforms(local, trans, parents)
    zero = torch.eye(3, dtype=dtype).expand(1, k, 3, 3)
    _, rest = chain_transforms(zero, offsets[None], parents)
    return SkeletonMotion(names, parents, positions, rotations, rest[0], bvh.fps)
