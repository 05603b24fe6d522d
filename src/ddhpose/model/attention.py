"""Attention for the hierarchical denoiser: plain, HRST (spatial) and HRTT (temporal)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddhpose.skeleton import Skeleton


def _triplets(skeleton: Skeleton, once: bool) -> list[tuple[int, int, int]]:
    """(pp, p, c) of consecutive joints along every chain, in the order Algorithm 1 visits them;
    ``once`` drops the repeats of prefixes shared by several chains."""
    out = [(chain[k - 1], chain[k], chain[k + 1]) for chain in skeleton.chains for k in range(1, len(chain) - 1)]
    return list(dict.fromkeys(out)) if once else out


def hrst_map(skeleton: Skeleton, once: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Algorithm 1 of the paper as a fixed sparse linear map of the J x J attention logits.

    The released loop visits every chain and, for consecutive (pp, p, c), sets
    ``A[p,c] = (A[p,c] + A[pp,p]) / 2`` and ``A[c,p] = (A[c,p] + A[pp,p]) / 2`` in place, so
    later updates read earlier ones, and a prefix shared by several chains is updated once per
    chain; ``once`` updates every triplet once (the paper's Algorithm 1 read literally). Running
    that loop on symbolic coefficient vectors gives every updated entry as a weighted sum of
    original entries.

    Returns:
        dst (E,): flat indices (i * J + j) of the updated entries;
        src (E, S): flat indices of the original entries each one sums (padded with 0);
        weight (E, S): their weights (0 where padded).
    """
    n = skeleton.num_joints
    coeff = {}  # flat index -> {source flat index: weight}; absent = identity

    def get(i: int) -> dict[int, float]:
        return coeff.get(i, {i: 1.0})

    def mix(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
        out = {k: v / 2 for k, v in a.items()}
        for k, v in b.items():
            out[k] = out.get(k, 0.0) + v / 2
        return out

    for pp, p, c in _triplets(skeleton, once):
        upper = get(pp * n + p)
        coeff[p * n + c] = mix(get(p * n + c), upper)
        coeff[c * n + p] = mix(get(c * n + p), upper)
    dst = sorted(coeff)
    width = max((len(coeff[d]) for d in dst), default=1)
    src = torch.zeros(len(dst), width, dtype=torch.long)
    weight = torch.zeros(len(dst), width, dtype=torch.float64)
    for row, d in enumerate(dst):
        for col, (s, w) in enumerate(sorted(coeff[d].items())):
            src[row, col], weight[row, col] = s, w
    return torch.tensor(dst, dtype=torch.long), src, weight


def apply_hrst(logits: torch.Tensor, dst: torch.Tensor, src: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Apply the map of :func:`hrst_map` to logits (..., J, J) -> (..., J, J), without loops."""
    flat = logits.flatten(-2)
    mixed = (flat[..., src] * weight.to(flat.dtype)).sum(-1)
    return flat.index_copy(-1, dst, mixed).view_as(logits)


def hrst_naive(logits: torch.Tensor, skeleton: Skeleton, once: bool = False) -> torch.Tensor:
    """Reference loop of Algorithm 1 (for tests). logits (..., J, J) -> (..., J, J)."""
    a = logits.clone()
    for pp, p, c in _triplets(skeleton, once):
        a[..., p, c] = (a[..., p, c] + a[..., pp, p]) / 2
        a[..., c, p] = (a[..., c, p] + a[..., pp, p]) / 2
    return a


class Attention(nn.Module):
    """Multi-head self-attention over the second-to-last axis of (N, L, C).

    ``skeleton`` turns on HRST (logits remapped along the kinematic chains, L = J; each shared
    triplet once with ``hrst_once``); ``child_keys`` turns on HRTT (keys K + K_c with K_c from
    the child features).
    """

    def __init__(self, dim: int, heads: int, *, skeleton: Skeleton | None = None, child_keys: bool = False,
                 hrst_once: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.qkv_xc = nn.Linear(dim, dim, bias=True) if child_keys else None
        self.proj = nn.Linear(dim, dim)
        self.hrst = skeleton is not None
        if self.hrst:
            dst, src, weight = hrst_map(skeleton, hrst_once)
            self.register_buffer("hrst_dst", dst, persistent=False)
            self.register_buffer("hrst_src", src, persistent=False)
            self.register_buffer("hrst_weight", weight.float(), persistent=False)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.heads, -1).transpose(1, 2)  # (N, heads, L, d)

    def forward(self, x: torch.Tensor, xc: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, L, C); xc (N, L, C) normalised child features for HRTT. Returns (N, L, C)."""
        n, length, dim = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.qkv_xc is not None:
            if xc is None:
                raise ValueError("HRTT attention needs the child features xc")
            k = k + self.qkv_xc(xc)
        q, k, v = self._split(q), self._split(k), self._split(v)
        if self.hrst or x.device.type == "cpu":
            # explicit products: on CPUs the fused kernel is slower for these short sequences
            # (J = 17 joints, F <= 243 frames), and its bf16 backward several times slower
            logits = (q @ k.transpose(-2, -1)) * self.scale  # (N, heads, L, L)
            if self.hrst:
                logits = apply_hrst(logits, self.hrst_dst, self.hrst_src, self.hrst_weight)
            out = logits.softmax(dim=-1) @ v
        else:
            # HRTT: (Q K^T + Q K_c^T) / sqrt(d) = Q (K + K_c)^T / sqrt(d), so the fused kernel applies
            out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, length, dim))
