"""Training losses: pose error plus the bone length / direction disentanglement terms
(method section 5).

Released form (default, what released checkpoints were trained with)::

    L = MPJPE(pred, y)
        + w_len * mean_{..., bone} (mean_f l(y) - mean_f l(pred))^2
        + w_dir * mean_{..., f, bone} sum_xyz (d(y) - d(pred))^2

Paper form (``form="l2"``, eqs. 8-10): the same differences under an L2 norm instead of a
square: for lengths the norm of the vector of frame-averaged bone-length differences of a clip,
for directions the norm of each bone's xyz difference.

Units (``units``): the released Human3.6M training (main.py) computes the terms on metres. The
released MPI-INF-3DHP training (main_3dhp.py) feeds the model millimetres (the model divides
its input by 1000 and multiplies its output by 1000) and computes the same terms on
millimetres: the pose term is then 1000 times, the (released, squared) length term 10^6 times
the metre value, and the direction term (unit vectors) is unchanged, so the terms are weighed
against each other differently. ``units="mm"`` reproduces that.
"""
from __future__ import annotations

from typing import Literal

import torch

from ddhpose.geometry import decompose
from ddhpose.metrics import mpjpe
from ddhpose.skeleton import Skeleton

LossForm = Literal["released", "l2"]
LossUnits = Literal["m", "mm"]
#: what a pose in metres is multiplied by before the loss terms
UNIT_FACTORS = {"m": 1.0, "mm": 1000.0}


def _check(pred: torch.Tensor, target: torch.Tensor, skeleton: Skeleton) -> None:
    j = skeleton.num_joints
    if pred.shape != target.shape:
        raise ValueError(f"pred and target: expected equal shapes, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.ndim < 3 or pred.shape[-2:] != (j, 3):
        raise ValueError(f"pred: expected (..., F, {j}, 3) for skeleton {skeleton.name!r}, got {tuple(pred.shape)}")


def _bones(pose: torch.Tensor, skeleton: Skeleton) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., F, J, 3) -> directions (..., F, J-1, 3) and lengths (..., F, J-1) of the bone slots."""
    direction, length = decompose(pose, skeleton)
    slots = torch.tensor(skeleton.bone_slots, device=pose.device)
    return direction.index_select(-2, slots), length.squeeze(-1).index_select(-1, slots)


def length_loss(pred: torch.Tensor, target: torch.Tensor, skeleton: Skeleton,
                form: LossForm = "released") -> torch.Tensor:
    """Bone-length consistency of frame-averaged lengths. (..., F, J, 3) x2 -> scalar."""
    _check(pred, target, skeleton)
    diff = _bones(target, skeleton)[1].mean(-2) - _bones(pred, skeleton)[1].mean(-2)  # (..., J-1)
    if form == "released":
        return diff.square().mean()
    if form == "l2":
        return diff.norm(dim=-1).mean()
    raise ValueError(f"unknown loss form {form!r}; expected 'released' or 'l2'")


def direction_loss(pred: torch.Tensor, target: torch.Tensor, skeleton: Skeleton,
                   form: LossForm = "released") -> torch.Tensor:
    """Bone-direction error per frame. (..., F, J, 3) x2 -> scalar."""
    _check(pred, target, skeleton)
    diff = _bones(target, skeleton)[0] - _bones(pred, skeleton)[0]  # (..., F, J-1, 3)
    if form == "released":
        return diff.square().sum(-1).mean()
    if form == "l2":
        return diff.norm(dim=-1).mean()
    raise ValueError(f"unknown loss form {form!r}; expected 'released' or 'l2'")


def pose_losses(pred: torch.Tensor, target: torch.Tensor, skeleton: Skeleton, *,
                form: LossForm = "released", w_len: float = 1.0, w_dir: float = 1.0,
                disentangle: bool = True, units: LossUnits = "m") -> dict[str, torch.Tensor]:
    """The training loss and its terms.

    Args:
        pred, target: (..., F, J, 3) predicted and ground-truth poses in metres
            (J = skeleton.num_joints).
        form: 'released' (squared differences) or 'l2' (the paper's L2 norms).
        w_len, w_dir: weights of the length and direction terms.
        disentangle: False drops both bone terms from 'total' (the "pose loss only" ablation);
            they are still reported, detached, for logging.
        units: 'm' (released Human3.6M) or 'mm' (released MPI-INF-3DHP: both poses multiplied
            by 1000 first, so every term is in millimetres, the squared length term in mm^2).
    Returns:
        {'pos', 'len', 'dir', 'total'}: scalars, in ``units``.
    """
    _check(pred, target, skeleton)
    if units not in UNIT_FACTORS:
        raise ValueError(f"unknown loss units {units!r}; expected one of {list(UNIT_FACTORS)}")
    if units != "m":
        pred, target = pred * UNIT_FACTORS[units], target * UNIT_FACTORS[units]
    pos = mpjpe(pred, target)
    length = length_loss(pred, target, skeleton, form)
    direction = direction_loss(pred, target, skeleton, form)
    if not disentangle:
        length, direction = length.detach(), direction.detach()
        return {"pos": pos, "len": length, "dir": direction, "total": pos}
    return {"pos": pos, "len": length, "dir": direction, "total": pos + w_len * length + w_dir * direction}
