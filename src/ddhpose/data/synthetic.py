"""Synthetic training data: a parametric walking / arm-swinging Human3.6M skeleton.

Needs no files, so the tiny config and the tests train end to end anywhere.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ddhpose.data.sequence import PoseSequence
from ddhpose.data.virtual_camera import camera_for_sequence, make_training_pair
from ddhpose.skeleton import H36M

# Human3.6M rest pose for the synthetic set: offset of every joint from its parent in metres,
# body frame x = the person's right, y = forward, z = up (bone lengths close to subject S1's).
_REST_OFFSETS = torch.tensor([
    [0, 0, 0], [0.13, 0, 0], [0, 0, -0.45], [0, 0, -0.44], [-0.13, 0, 0], [0, 0, -0.45], [0, 0, -0.44],
    [0, 0.02, 0.23], [0, 0, 0.25], [0, 0.06, 0.11], [0, -0.02, 0.115],
    [-0.15, 0, 0], [0, 0, -0.28], [0, 0, -0.25], [0.15, 0, 0], [0, 0, -0.28], [0, 0, -0.25]], dtype=torch.float64)


def _rotation(angle: torch.Tensor, axis: str) -> torch.Tensor:
    """Rotations by ``angle`` (N,) about the x, y or z axis -> (N, 3, 3)."""
    c, s, o, z = angle.cos(), angle.sin(), torch.ones_like(angle), torch.zeros_like(angle)
    rows = {"x": [o, z, z, z, c, -s, z, s, c], "y": [c, z, s, z, o, z, -s, z, c], "z": [c, -s, z, s, c, z, z, z, o]}
    return torch.stack(rows[axis], -1).view(*angle.shape, 3, 3)


def synthetic_motion(num_frames: int, generator: torch.Generator, fps: float = 50.0) -> torch.Tensor:
    """A walking / arm-swinging Human3.6M skeleton with random gait parameters, turning slowly
    on the spot. Returns (N, 17, 3) float64 world positions in metres, z up."""
    def u(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand((), generator=generator, dtype=torch.float64)

    t = torch.arange(num_frames, dtype=torch.float64) / fps
    phase = 2 * math.pi * u(0.6, 1.2) * t + u(0, 2 * math.pi)
    s = phase.sin()
    leg, arm, knee, elbow, abduct = u(0.05, 0.6), u(0.1, 0.9), u(0.1, 0.8), u(0.1, 1.3), u(0.05, 0.5)
    local = torch.eye(3, dtype=torch.float64).repeat(num_frames, 17, 1, 1)  # joint -> its children's bones
    const = lambda value: value.expand(num_frames)  # noqa: E731
    local[:, 0] = _rotation(u(0, 2 * math.pi) + u(-0.4, 0.4) * t, "z") @ _rotation(const(u(-0.1, 0.3)), "x")
    local[:, 1], local[:, 4] = _rotation(leg * s, "x"), _rotation(-leg * s, "x")  # hips
    local[:, 2] = _rotation(-knee * (1 + (phase + 1.2).sin()) / 2, "x")  # knees bend backwards
    local[:, 5] = _rotation(-knee * (1 - (phase + 1.2).sin()) / 2, "x")
    local[:, 7] = _rotation(0.15 * s, "z")  # the torso twists against the pelvis
    local[:, 11] = _rotation(arm * s, "x") @ _rotation(const(abduct), "y")  # shoulders swing against the legs
    local[:, 14] = _rotation(-arm * s, "x") @ _rotation(const(-abduct), "y")
    local[:, 12], local[:, 15] = _rotation(elbow + 0.3 * arm * s, "x"), _rotation(elbow - 0.3 * arm * s, "x")
    root = torch.stack([u(-1, 1) + 0.3 * (0.2 * t).sin(), u(-1, 1) + 0.3 * (0.15 * t).cos(),
                        0.93 + 0.02 * (2 * phase).sin()], -1)
    rot: list[torch.Tensor] = [torch.empty(0)] * 17
    pos: list[torch.Tensor] = [torch.empty(0)] * 17
    for j in H36M.topological_order:  # 17 joints, vectorised over frames; data generation only
        parent = H36M.parents[j]
        pos[j] = root if parent < 0 else pos[parent] + rot[parent] @ _REST_OFFSETS[j]
        rot[j] = local[:, j] if parent < 0 else rot[parent] @ local[:, j]
    return torch.stack(pos, 1)


def synthetic_sequences(count: int, num_frames: int, seed: int) -> list[PoseSequence]:
    """``count`` synthetic Human3.6M-skeleton sequences (:func:`synthetic_motion`), each filmed
    by a random Human3.6M-like virtual camera; ground-truth 2D."""
    gen, rng = torch.Generator().manual_seed(seed), np.random.default_rng(seed)
    out = []
    for i in range(count):
        world = synthetic_motion(num_frames, gen)
        out.append(make_training_pair(world, camera_for_sequence(rng, world), subject="synthetic", action=f"walk{i}"))
    return out
