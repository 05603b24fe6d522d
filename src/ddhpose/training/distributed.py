"""torchrun's environment to a process group: rank, local rank, world size and device."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    owns_group: bool  # this call created the process group and destroys it at the end

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str | torch.device | None = None) -> DistInfo:
    """Read torchrun's RANK / LOCAL_RANK / WORLD_SIZE; join the process group (NCCL on CUDA,
    else gloo) when WORLD_SIZE > 1. Without them: one process on ``device`` (default CUDA if
    available)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistInfo(rank, local, world, device, owns)
