"""What the evaluation keeps of one test sequence."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SequenceResult:
    """Errors of one sequence in metres: key -> (W,), with the frame count used as weight."""

    name: str
    group: str
    frames: int
    errors: dict[str, torch.Tensor]
    levels: torch.Tensor  # (levels,) MPJPE per hierarchy level of the aggregate pose
    pose: torch.Tensor  # (N, J, 3) the aggregate pose (J-Agg, at the scored DDIM step) per frame
    target: torch.Tensor  # (N, J, 3)
    valid: torch.Tensor  # (N,) bool
    subject: str = ""
    aggregates: dict[str, torch.Tensor] | None = None  # protocol_3dhp.MAT_AGGREGATIONS -> (N, W, J, 3)
    step_poses: torch.Tensor | None = None  # (N, W, J, 3) the J-Agg pose at every DDIM step
