"""Mocap joints to the Human3.6M 17-joint skeleton, in metres with z up.

Every Human3.6M joint is a weighted blend of source joints (a table per source skeleton, below),
so one matrix product retargets a whole clip. Two virtual source points stand in for joints a
mocap skeleton lacks: ``NOSE`` (Human3.6M's 'neck/nose' joint, in front of the skull base) and
``HEAD_TOP``. They are placed in the head's own frame from the skull base: Human3.6M (S1) has
the nose 9 cm above and 7 cm in front of the thorax and the head top 18.5 cm above it, for a
pelvis-thorax distance of 48.75 cm; the offsets below are those numbers measured from the skull
base, scaled by the source's own (median) pelvis-thorax distance. The head frame's
left axis is calibrated per clip as the mean body left (hips and shoulders) seen from the head.

Source axes are y up (BVH, CMU ASF); the output is z up through (x, y, z) -> (x, -z, y), a
proper rotation, so left and right stay where they were.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ddhpose.data.asf_amc import load_asf_amc
from ddhpose.data.bvh import SkeletonMotion, forward_kinematics, read_bvh
from ddhpose.geometry import Y_UP_TO_Z_UP
from ddhpose.skeleton import H36M_NAMES

NOSE, HEAD_TOP = "<nose>", "<head_top>"

_H36M_TRUNK = 0.4875  # Human3.6M S1 pelvis-thorax distance, metres
# (up, forward) offsets from the skull base at Human3.6M's size, metres
_NOSE_OFFSET = (0.02, 0.07)
_TOP_OFFSET = (0.11, 0.01)
_J = {name: j for j, name in enumerate(H36M_NAMES)}
_Y_UP_TO_Z_UP = torch.tensor(Y_UP_TO_Z_UP)


@dataclass(frozen=True)
class HeadModel:
    """Where the head lives in a source skeleton.

    Attributes:
        rotation: joint whose orientation turns the head.
        base: joint at the skull base (top of the neck).
        axis: (from, to) joints whose rest-pose direction is the head's up axis in its frame.
        top: joint at the top of the head if the skeleton has one, else None (estimated).
    """

    rotation: str
    base: str
    axis: tuple[str, str]
    top: str | None = None


@dataclass(frozen=True)
class RetargetMap:
    """Human3.6M joint name -> {source joint: weight} (weights sum to 1), plus the head model.

    Only 'neck' and 'head' may use the virtual points ``NOSE`` and ``HEAD_TOP``: the others
    define the trunk and the body's forward direction those points are placed with.
    """

    name: str
    joints: dict[str, dict[str, float]]
    head: HeadModel
    sources: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if tuple(self.joints) != H36M_NAMES:
            raise ValueError(f"{self.name}: joints must list the 17 Human3.6M names in order {H36M_NAMES}")
        for joint, blend in self.joints.items():
            if abs(sum(blend.values()) - 1) > 1e-6:
                raise ValueError(f"{self.name}: weights of {joint!r} must sum to 1, got {blend}")
            if joint not in ("neck", "head") and {NOSE, HEAD_TOP} & blend.keys():
                raise ValueError(f"{self.name}: only 'neck' and 'head' may use {NOSE} or {HEAD_TOP}")
        names = {s for blend in self.joints.values() for s in blend} - {NOSE, HEAD_TOP}
        head = {self.head.rotation, self.head.base, *self.head.axis} | ({self.head.top} - {None})
        object.__setattr__(self, "sources", tuple(sorted(names | head)))

    def matches(self, names: tuple[str, ...] | list[str]) -> bool:
        return set(self.sources) <= set(names)


def _limbs(r_hip: str, r_knee: str, r_ankle: str, l_hip: str, l_knee: str, l_ankle: str,
           l_shoulder: str, l_elbow: str, l_wrist: str, r_shoulder: str, r_elbow: str, r_wrist: str,
           thorax: str, top: str) -> dict[str, dict[str, float]]:
    """The common table: pelvis = mid-hips (as in Human3.6M), spine = mid pelvis-thorax."""
    one = lambda name: {name: 1.0}  # noqa: E731
    return {
        "pelvis": {l_hip: 0.5, r_hip: 0.5},
        "right_hip": one(r_hip), "right_knee": one(r_knee), "right_ankle": one(r_ankle),
        "left_hip": one(l_hip), "left_knee": one(l_knee), "left_ankle": one(l_ankle),
        "spine": {l_hip: 0.25, r_hip: 0.25, thorax: 0.5},
        "thorax": one(thorax), "neck": one(NOSE), "head": one(top),
        "left_shoulder": one(l_shoulder), "left_elbow": one(l_elbow), "left_wrist": one(l_wrist),
        "right_shoulder": one(r_shoulder), "right_elbow": one(r_elbow), "right_wrist": one(r_wrist),
    }


#: CMU ASF/AMC: joints are bone *end* points. Hips = ends of l/rhipjoint, knee = femur end,
#: ankle = tibia end, shoulder = clavicle end, elbow = humerus end, wrist = lwrist end (CMU
#: splits the forearm into radius and a twisting "wrist" segment),
#: thorax = lowerneck end (base of the skull is the upperneck end), head top = head end.
CMU_ASF = RetargetMap("cmu_asf", _limbs(
    "rhipjoint", "rfemur", "rtibia", "lhipjoint", "lfemur", "ltibia",
    "lclavicle", "lhumerus", "lwrist", "rclavicle", "rhumerus", "rwrist",
    thorax="lowerneck", top="head"),
    HeadModel(rotation="head", base="upperneck", axis=("upperneck", "head"), top="head"))

#: Bandai Namco Research Motion Dataset BVH (21 joints): UpperLeg/LowerLeg/Foot = hip/knee/
#: ankle, UpperArm/LowerArm/Hand = shoulder/elbow/wrist, thorax = Neck, skull base = Head; its
#: head end site has zero length, so the head top is estimated.
BANDAI_BVH = RetargetMap("bandai_bvh", _limbs(
    "UpperLeg_R", "LowerLeg_R", "Foot_R", "UpperLeg_L", "LowerLeg_L", "Foot_L",
    "UpperArm_L", "LowerArm_L", "Hand_L", "UpperArm_R", "LowerArm_R", "Hand_R",
    thorax="Neck", top=HEAD_TOP),
    HeadModel(rotation="Head", base="Head", axis=("Neck", "Head")))

#: CMU mocap as converted to BVH with a 43-joint skeleton (salsa, martial arts, Indian dance):
#: a joint's position is its origin, so rThigh/rShin/rFoot = hip/knee/ankle and
#: rShldr/rForeArm/rHand = shoulder/elbow/wrist; thorax = neck (the base of the neck), skull
#: base = head; the head end sits at the eyes, so the head top is estimated.
CMU_BVH43 = RetargetMap("cmu_bvh43", _limbs(
    "rThigh", "rShin", "rFoot", "lThigh", "lShin", "lFoot",
    "lShldr", "lForeArm", "lHand", "rShldr", "rForeArm", "rHand",
    thorax="neck", top=HEAD_TOP),
    HeadModel(rotation="head", base="head", axis=("neck", "head")))

RETARGET_MAPS = (CMU_ASF, BANDAI_BVH, CMU_BVH43)


def find_map(names: tuple[str, ...] | list[str]) -> RetargetMap:
    """The first known map whose source joints all appear in ``names``."""
    for mapping in RETARGET_MAPS:
        if mapping.matches(names):
            return mapping
    raise ValueError(f"no retarget map fits joints {list(names)}; known maps: "
                     f"{[m.name for m in RETARGET_MAPS]} (pass mapping=RetargetMap(...))")


def y_up_to_z_up(x: torch.Tensor) -> torch.Tensor:
    """(..., 3) y-up points to z-up: (x, y, z) -> (x, -z, y)."""
    return x @ _Y_UP_TO_Z_UP.to(x).T


def _blend_matrix(mapping: RetargetMap, names: list[str], dtype: torch.dtype) -> torch.Tensor:
    w = torch.zeros(len(H36M_NAMES), len(names), dtype=dtype)
    for j, blend in enumerate(mapping.joints.values()):
        for src, weight in blend.items():
            w[j, names.index(src)] += weight
    return w


def _head_points(motion: SkeletonMotion, mapping: RetargetMap, trunk: torch.Tensor,
                 body_left: torch.Tensor) -> torch.Tensor:
    """Nose and head-top estimates, (N, 2, 3), in the source's units and axes.

    The head frame's up axis comes from the rest pose; its left axis is the body's left seen
    from the head, averaged over the clip (nodding turns about that axis, so it does not bias
    it); forward = left x up.
    """
    head = mapping.head
    rot = motion.rotations[:, motion.index(head.rotation)]  # (N, 3, 3)
    rest = motion.rest_positions
    up = rest[motion.index(head.axis[1])] - rest[motion.index(head.axis[0])]
    up = up / up.norm()
    left = (rot.transpose(-1, -2) @ body_left[..., None])[..., 0].mean(0)
    left = left - (left @ up) * up
    fwd = torch.linalg.cross(left, up)
    fwd = fwd / fwd.norm().clamp_min(1e-12)
    offsets = torch.tensor([_NOSE_OFFSET, _TOP_OFFSET], dtype=rot.dtype) / _H36M_TRUNK  # (2, 2)
    local = offsets[:, :1] * up + offsets[:, 1:] * fwd  # (2, 3)
    base = motion.positions[:, motion.index(head.base)]
    return base[:, None] + trunk * torch.einsum("nij,kj->nki", rot, local)


def _guess_metres_per_unit(motion: SkeletonMotion, w: torch.Tensor) -> float:
    """Pick cm, inch, mm or m so that the rest-pose leg (hip-knee-ankle) is closest to 0.85 m.

    ``w``: (17, K) blend weights over the real source joints.
    """
    rest = w @ motion.rest_positions
    hip, knee, ankle = rest[_J["right_hip"]], rest[_J["right_knee"]], rest[_J["right_ankle"]]
    leg = (hip - knee).norm() + (knee - ankle).norm()
    units = torch.tensor([1.0, 0.01, 0.0254, 0.001], dtype=leg.dtype)
    return float(units[(torch.log(leg * units / 0.85)).abs().argmin()])


def retarget(motion: SkeletonMotion, mapping: RetargetMap | None = None, *,
             metres_per_unit: float | None = None, up: str = "y") -> torch.Tensor:
    """Human3.6M-17 world joints from a forward-kinematics result.

    Args:
        motion: from :func:`ddhpose.data.bvh.forward_kinematics` or the ASF/AMC reader.
        mapping: the source's table; found from the joint names if None.
        metres_per_unit: overrides the file's unit (BVH files do not state one; then it is
            guessed from the leg length among m, cm, inch, mm).
        up: the source's up axis, 'y' (BVH, CMU) or 'z'.
    Returns:
        (N, 17, 3) metres, z up, in ``motion.positions``'s dtype.
    """
    if up not in ("y", "z"):
        raise ValueError(f"up must be 'y' or 'z', got {up!r}")
    mapping = mapping or find_map(motion.names)
    missing = set(mapping.sources) - set(motion.names)
    if missing:
        raise ValueError(f"retarget map {mapping.name!r} needs joints {sorted(missing)} not in the motion")
    names = list(motion.names) + [NOSE, HEAD_TOP]
    w = _blend_matrix(mapping, names, motion.positions.dtype)
    k = len(motion.names)
    real = torch.einsum("jk,nkc->njc", w[:, :k], motion.positions)
    # hips and shoulders never use the virtual points (RetargetMap checks)
    left = (real[:, _J["left_hip"]] - real[:, _J["right_hip"]]
            + real[:, _J["left_shoulder"]] - real[:, _J["right_shoulder"]])
    left = left / left.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    trunk = (real[:, _J["thorax"]] - real[:, _J["pelvis"]]).norm(dim=-1).median()
    head = _head_points(motion, mapping, trunk, left)
    out = real + torch.einsum("jk,nkc->njc", w[:, k:], head)
    scale = metres_per_unit or motion.metres_per_unit or _guess_metres_per_unit(motion, w[:, :k])
    out = out * scale
    return y_up_to_z_up(out) if up == "y" else out


def resample(positions: torch.Tensor, src_fps: float, dst_fps: float) -> torch.Tensor:
    """Linear interpolation in time. (N, ...) at ``src_fps`` -> (M, ...) at ``dst_fps``.

    Frame 0 is kept; M = floor((N - 1) * dst / src) + 1, so the output never extrapolates.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"frame rates must be positive, got {src_fps} and {dst_fps}")
    n = positions.shape[0]
    if n < 2:
        return positions.clone()
    m = int((n - 1) * dst_fps / src_fps + 1e-6) + 1
    t = torch.arange(m, dtype=torch.float64, device=positions.device) * (src_fps / dst_fps)
    i0 = t.floor().long().clamp(max=n - 2)
    w = (t - i0).to(positions.dtype).reshape(-1, *([1] * (positions.ndim - 1)))
    return positions[i0] * (1 - w) + positions[i0 + 1] * w


def find_asf(amc_path: str | os.PathLike) -> Path:
    """The skeleton of an AMC file: the .asf beside it named by the longest '_'-separated
    prefix of its name (CMU 01_01.amc -> 01.asf, HDM05 HDM_bd_squat1Reps_001_120.amc ->
    HDM_bd.asf), or the only .asf in its folder."""
    amc = Path(amc_path)
    parts = amc.stem.split("_")
    # the longest '_'-separated prefix that names an .asf: 01_01 -> 01, HDM_bd_squat_001 -> HDM_bd
    for n in range(len(parts) - 1, 0, -1):
        guess = amc.with_name("_".join(parts[:n]) + ".asf")
        if guess.is_file():
            return guess
    found = sorted(amc.parent.glob("*.asf"))
    if len(found) == 1:
        return found[0]
    raise ValueError(f"{amc}: cannot find its ASF skeleton (no '<prefix>.asf' named like {amc.name} and "
                     f"{len(found)} .asf files beside it); pass asf=...")


def load_mocap(path: str | os.PathLike, fps: float = 50.0, *, asf: str | os.PathLike | None = None,
               source_fps: float | None = None, metres_per_unit: float | None = None) -> torch.Tensor:
    """Read a .bvh or .amc clip as Human3.6M-17 world joints.

    Args:
        path: a .bvh file, or an .amc file (its .asf is found beside it unless ``asf`` is given).
        fps: output frame rate (Human3.6M: 50).
        source_fps: the clip's frame rate; BVH files state it, AMC defaults to CMU's 120.
        metres_per_unit: unit override (see :func:`retarget`).
    Returns:
        (N, 17, 3) float32 metres, world, z up.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        motion = forward_kinematics(read_bvh(path))
    elif suffix == ".amc":
        motion = load_asf_amc(asf or find_asf(path), path, fps=source_fps or 120.0)
    else:
        raise ValueError(f"{path}: expected a .bvh or .amc file, got {suffix!r}")
    if motion.positions.shape[0] == 0:
        raise ValueError(f"{path}: the clip has no frames")
    bad = ~torch.isfinite(motion.positions).flatten(1).all(1)
    if bad.any():
        raise ValueError(f"{path}: non-finite joint positions (NaN or inf channel values) in {int(bad.sum())} "
                         f"frame(s), first at frame {int(bad.float().argmax())}")
    try:
        poses = retarget(motion, metres_per_unit=metres_per_unit)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return resample(poses, source_fps or motion.fps, fps).float()
