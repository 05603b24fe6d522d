"""Transformer block, MLP, stochastic depth and the diffusion-time embedding."""
from __future__ import annotations

import math

import torch
from torch import nn

from ddhpose.model.attention import Attention
from ddhpose.skeleton import Skeleton


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """x = x + DropPath(Attn(LN1(x), LN1(xc))); x = x + DropPath(MLP(LN2(x))). (N, L, C)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float, *,
                 skeleton: Skeleton | None = None, child_keys: bool = False, hrst_once: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, skeleton=skeleton, child_keys=child_keys, hrst_once=hrst_once)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, xc: torch.Tensor | None = None) -> torch.Tensor:
        xc = self.norm1(xc) if xc is not None and self.attn.qkv_xc is not None else None
        x = x + self.drop_path(self.attn(self.norm1(x), xc))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def parameter_dtype(module: nn.Module) -> torch.dtype:
    """The dtype a module computes in: its first floating-point parameter's (float32 when it has
    none, e.g. after int8 dynamic quantisation of its Linear layers)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Diffusion-step embedding. t (B,) -> (B, dim): [sin(t f_i), cos(t f_i)],
    f_i = exp(-i ln(10000) / (dim/2 - 1))."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, device=t.device) * -(math.log(10000) / (half - 1)))
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat((args.sin(), args.cos()), dim=-1)


class TimeEmbedding(nn.Module):
    """sinusoidal -> Linear(C, 2C) -> GELU -> Linear(2C, C). t (B,) -> (B, C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.fc1 = nn.Linear(dim, dim * 2)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(dim * 2, dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(sinusoidal_embedding(t, self.dim).to(parameter_dtype(self)))))
