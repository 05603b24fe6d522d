"""Filters over time for per-frame values (..., F, J, C): the lifter's smoothing of poses and
trajectories."""
from __future__ import annotations

import math

import torch


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised Gaussian weights (2r + 1,) with r = ceil(3 sigma); [1] for sigma <= 0."""
    if sigma <= 0:
        return torch.ones(1, dtype=dtype)
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def smooth_in_time(poses: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian low-pass filter along the frame axis: (..., F, J, C) -> (..., F, J, C).

    ``sigma`` in frames (0: unchanged). The ends are padded by reflecting the motion about the
    first and last frame (x[-k] = 2 x[0] - x[k]), so a steady motion stays steady up to the
    last frame instead of being pulled towards a repeated edge value.
    """
    if sigma <= 0 or poses.shape[-3] < 2:
        return poses
    kernel = gaussian_kernel(sigma, poses.dtype).to(poses.device)
    r = min((len(kernel) - 1) // 2, poses.shape[-3] - 1)
    kernel = kernel[(len(kernel) - 1) // 2 - r:(len(kernel) - 1) // 2 + r + 1]
    kernel = kernel / kernel.sum()
    first, last = poses[..., :1, :, :], poses[..., -1:, :, :]
    head = 2 * first - poses[..., 1:r + 1, :, :].flip(-3)
    tail = 2 * last - poses[..., -r - 1:-1, :, :].flip(-3)
    padded = torch.cat([head, poses, tail], dim=-3)
    frames = poses.shape[-3]
    return sum(w * padded[..., i:i + frames, :, :] for i, w in enumerate(kernel.tolist()))
