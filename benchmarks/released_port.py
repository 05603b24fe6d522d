"""A port of the released DDHPose implementation, computing the way the authors' code does.

It exists only as the baseline of ``benchmarks/speed.py`` and is checked against
``ddhpose`` by ``tests/test_released_port.py``. It keeps, on purpose, what the released
(MixSTE / D3DP based) code does and the package does not:

- timm-style attention: ``attn = (q @ k^T) * scale; attn.softmax(-1); attn @ v`` everywhere;
- HRST as Algorithm 1 itself: a Python loop over the chains updating ``attn[:, :, p, c]`` in
  place, inside every hierarchical spatial block's forward;
- HRTT as ``q @ k^T + q @ kc^T`` (two products) before the softmax;
- child features stacked and averaged per joint in a Python loop, then *reshaped* (not
  rearranged) to the temporal token layout, as released;
- hypotheses folded into the batch (``b h f n c -> (b h) f n c``, the 2D input repeated);
- the flip test-time pass as a second, separate denoiser call;
- bones taken apart with Python loops over bones; forward noising one clip at a time;
- D3DP's ``ddim_sample`` step math on the (float64) schedule buffers.

Parameter and buffer names are the released ones, so a released ``model_pos`` state dict
(``module.`` prefix removed) loads with ``strict=True``. Only the skeleton facts (bones,
chains, children, levels, left/right) come from :mod:`ddhpose.skeleton`.
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.released import released_state_dict
from ddhpose.safe_pickle import load_torch_file
from ddhpose.skeleton import H36M, Skeleton


def cosine_beta_schedule(timesteps: int, s: float = 0.008) -> torch.Tensor:
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return torch.clip(1 - (alphas_cumprod[1:] / alphas_cumprod[:-1]), 0, 0.999)


class SinusoidalPosEmb(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, time: torch.Tensor) -> torch.Tensor:
        half_dim = self.dim // 2
        emb = math.log(10000) / (half_dim - 1)
        emb = torch.exp(torch.arange(half_dim, device=time.device) * -emb)
        emb = time[:, None] * emb[None, :]
        return torch.cat((emb.sin(), emb.cos()), dim=-1)


class DropPath(nn.Module):
    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep_prob = 1 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        random_tensor = (keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
        return x.div(keep_prob) * random_tensor


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Explicit-matrix attention; ``chains`` turns on the HRST loop, ``hrtt`` the child keys."""

    def __init__(self, dim: int, num_heads: int, chains: Sequence[Sequence[int]] | None = None,
                 hrtt: bool = False, with_xc: bool = False) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        if with_xc:  # every hierarchical block has it; only the temporal ones use it
            self.qkv_xc = nn.Linear(dim, dim, bias=True)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)
        self.chains = [list(c) for c in chains] if chains is not None else None
        self.hrtt = hrtt

    def forward(self, x: torch.Tensor, xc: torch.Tensor | None = None) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.hrtt:
            kc = self.qkv_xc(xc).reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)
            attn = (q @ k.transpose(-2, -1) + q @ kc.transpose(-2, -1)) * self.scale
        else:
            attn = (q @ k.transpose(-2, -1)) * self.scale
        if self.chains is not None:  # Algorithm 1, in place and sequential
            for chain in self.chains:
                for i in range(1, len(chain) - 1):
                    pp, p, c = chain[i - 1], chain[i], chain[i + 1]
                    attn[:, :, p, c] = (attn[:, :, p, c] + attn[:, :, pp, p]) / 2
                    attn[:, :, c, p] = (attn[:, :, c, p] + attn[:, :, pp, p]) / 2
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(x))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float, **attn_kwargs) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, **attn_kwargs)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, xc: torch.Tensor | None = None) -> torch.Tensor:
        if xc is not None:
            xc = self.norm1(xc)
        x = x + self.drop_path(self.attn(self.norm1(x), xc))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ReleasedDenoiser(nn.Module):
    """The released ``dir_bone_estimator``: (B, F, J, 2), (B[, H], F, J, 3), (B[, H], F, J, 1), (B,)."""

    def __init__(self, skeleton: Skeleton, frames: int, channels: int = 512, depth: int = 8,
                 heads: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1) -> None:
        super().__init__()
        self.sizes = dict(frames=frames, channels=channels, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                          drop_path=drop_path_rate)
        self.num_joints, self.levels = skeleton.num_joints, list(skeleton.levels)
        self.children_of = [list(c) for c in skeleton.children]
        c, n = channels, skeleton.num_joints
        self.Spatial_patch_to_embedding = nn.Linear(6, c)
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, n, c))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, frames, c))
        self.group = nn.Parameter(torch.zeros(1, max(self.levels) + 1, c))
        self.pos_drop = nn.Dropout(0.0)
        self.time_mlp = nn.Sequential(SinusoidalPosEmb(c), nn.Linear(c, c * 2), nn.GELU(), nn.Linear(c * 2, c))
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        self.STEblocks_0 = nn.ModuleList([Block(c, heads, mlp_ratio, dpr[0])])
        self.TTEblocks_0 = nn.ModuleList([Block(c, heads, mlp_ratio, dpr[0])])
        self.STEblocks = nn.ModuleList([Block(c, heads, mlp_ratio, dpr[i], chains=skeleton.chains, with_xc=True)
                                        for i in range(1, depth)])
        self.TTEblocks = nn.ModuleList([Block(c, heads, mlp_ratio, dpr[i], hrtt=True, with_xc=True)
                                        for i in range(1, depth)])
        self.Spatial_norm = nn.LayerNorm(c, eps=1e-6)
        self.Temporal_norm = nn.LayerNorm(c, eps=1e-6)
        self.head_pose = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, 3))
        nn.init.trunc_normal_(self.Spatial_pos_embed, std=0.02)
        nn.init.trunc_normal_(self.Temporal_pos_embed, std=0.02)

    def STE_forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        b, f, n, _ = x.shape
        x = rearrange(x, "b f n c -> (b f) n c")
        x = self.Spatial_patch_to_embedding(x)
        x += self.Spatial_pos_embed
        x += torch.cat([self.group[:, lvl:lvl + 1] for lvl in self.levels], dim=1)
        time_embed = self.time_mlp(t)[:, None, None, :].repeat(1, f, n, 1)
        x += rearrange(time_embed, "b f n c -> (b f) n c")
        x = self.pos_drop(x)
        x = self.Spatial_norm(self.STEblocks_0[0](x))
        return rearrange(x, "(b f) n c -> (b n) f c", f=f)

    def TTE_forward(self, x: torch.Tensor) -> torch.Tensor:
        x += self.Temporal_pos_embed[:, :x.shape[1]]
        x = self.pos_drop(x)
        return self.Temporal_norm(self.TTEblocks_0[0](x))

    def child_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, F, J, C) -> (B * J, F, C): per joint, the mean of itself and its children."""
        b, f, n, c = x.shape
        xc = []
        for j in range(n):
            group = [j] + self.children_of[j]
            xc.append(torch.stack([x[:, :, g] for g in group], dim=0).mean(0))
        return torch.stack(xc, dim=2).reshape(b * n, f, c)  # the released reshape

    def ST_forward(self, x: torch.Tensor, xc: torch.Tensor) -> torch.Tensor:
        b, f, n, c = x.shape
        for steblock, tteblock in zip(self.STEblocks, self.TTEblocks):
            x = rearrange(x, "b f n c -> (b f) n c")
            x = self.Spatial_norm(steblock(x))
            x = rearrange(x, "(b f) n c -> (b n) f c", f=f)
            x = self.Temporal_norm(tteblock(x, xc))
            x = rearrange(x, "(b n) f c -> b f n c", n=n)
        return x

    def forward(self, x_2d: torch.Tensor, x_dir: torch.Tensor, x_bone: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        hyp = x_dir.dim() == 5
        if hyp:
            h = x_dir.shape[1]
            x_2d = x_2d[:, None].repeat(1, h, 1, 1, 1)
            x = rearrange(torch.cat((x_2d, x_dir, x_bone), dim=-1), "b h f n c -> (b h) f n c")
            t = rearrange(t[:, None].repeat(1, h), "b h -> (b h)")
        else:
            x = torch.cat((x_2d, x_dir, x_bone), dim=-1)
        b, f, n, _ = x.shape
        x = self.STE_forward(x, t)
        x = self.TTE_forward(x)
        x = rearrange(x, "(b n) f c -> b f n c", n=n)
        xc = self.child_features(x)
        x = self.head_pose(self.ST_forward(x, xc)).view(b, f, n, -1)
        return rearrange(x, "(b h) f n c -> b h f n c", h=h) if hyp else x


def bone_dir_len(pose: torch.Tensor, bones: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., J, 3) -> directions (..., J-1, 3) and lengths (..., J-1, 1), one bone at a time."""
    vec = torch.stack([pose[..., c, :] - pose[..., p, :] for p, c in bones], dim=-2)
    length = torch.stack([torch.norm(vec[..., i, :], dim=-1) for i in range(len(bones))], dim=-1)[..., None]
    return vec / length, length


def released_loss(pred: torch.Tensor, target: torch.Tensor, bones: Sequence[tuple[int, int]]) -> torch.Tensor:
    """MPJPE + squared frame-mean bone-length error + squared direction error. (B, F, J, 3)."""
    loss_pos = torch.mean(torch.norm(pred - target, dim=-1))
    dir_p, len_p = bone_dir_len(pred, bones)
    dir_t, len_t = bone_dir_len(target, bones)
    loss_len = torch.mean((len_t.mean(1) - len_p.mean(1)) ** 2)
    loss_dir = torch.mean(torch.sum((dir_t - dir_p) ** 2, dim=-1))
    return loss_pos + loss_len + loss_dir


class ReleasedDDHPose(nn.Module):
    """The released diffusion wrapper: schedule buffers + ``dir_bone_estimator``."""

    def __init__(self, skeleton: Skeleton = H36M, frames: int = 243, timesteps: int = 1000,
                 scale: float = 1.0, **denoiser_kwargs) -> None:
        super().__init__()
        self.num_timesteps, self.scale, self.eta = timesteps, scale, 1.0
        self.skeleton = skeleton
        self.bones = list(skeleton.bones)
        self.slots = [c for _, c in self.bones]
        self.joints_left, self.joints_right = list(skeleton.joints_left), list(skeleton.joints_right)
        self.dir_bone_estimator = ReleasedDenoiser(skeleton, frames, **denoiser_kwargs)
        betas = cosine_beta_schedule(timesteps)
        alphas = 1.0 - betas
        ac = torch.cumprod(alphas, dim=0)
        ac_prev = F.pad(ac[:-1], (1, 0), value=1.0)
        post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
        for name, val in [
            ("betas", betas), ("alphas_cumprod", ac), ("alphas_cumprod_prev", ac_prev),
            ("sqrt_alphas_cumprod", ac.sqrt()), ("sqrt_one_minus_alphas_cumprod", (1.0 - ac).sqrt()),
            ("log_one_minus_alphas_cumprod", (1.0 - ac).log()), ("sqrt_recip_alphas_cumprod", (1.0 / ac).sqrt()),
            ("sqrt_recipm1_alphas_cumprod", (1.0 / ac - 1).sqrt()), ("posterior_variance", post_var),
            ("posterior_log_variance_clipped", post_var.clamp(min=1e-20).log()),
            ("posterior_mean_coef1", betas * ac_prev.sqrt() / (1.0 - ac)),
            ("posterior_mean_coef2", (1.0 - ac_prev) * alphas.sqrt() / (1.0 - ac)),
        ]:
            self.register_buffer(name, val)  # float64, as in the released checkpoints

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x = self.sqrt_alphas_cumprod[t] * (x_start * self.scale) + self.sqrt_one_minus_alphas_cumprod[t] * noise
        return torch.clamp(x, min=-1.1 * self.scale, max=1.1 * self.scale) / self.scale

    def training_prediction(self, inputs_2d: torch.Tensor, inputs_3d: torch.Tensor,
                            t: torch.Tensor | None = None, noise_dir: torch.Tensor | None = None,
                            noise_bone: torch.Tensor | None = None) -> torch.Tensor:
        """Noise each clip's bones (one t per clip, drawn unless given) and denoise. (B, F, J, 3)."""
        b = inputs_3d.shape[0]
        vec = [inputs_3d[:, :, c] - inputs_3d[:, :, p] for p, c in self.bones]
        length = [torch.norm(v, dim=-1, keepdim=True) for v in vec]
        direction = torch.zeros_like(inputs_3d)
        bone = torch.zeros_like(inputs_3d[..., :1])
        for (_, c), v, ln in zip(self.bones, vec, length):
            direction[:, :, c], bone[:, :, c] = v / ln, ln
        if t is None:
            t = torch.randint(0, self.num_timesteps, (b,), device=inputs_3d.device)
        noise_dir = torch.randn_like(direction) if noise_dir is None else noise_dir
        noise_bone = torch.randn_like(bone) if noise_bone is None else noise_bone
        x_dir = torch.stack([self.q_sample(direction[i], t[i], noise_dir[i]) for i in range(b)])
        x_bone = torch.stack([self.q_sample(bone[i], t[i], noise_bone[i]) for i in range(b)])
        return self.dir_bone_estimator(inputs_2d, x_dir, x_bone, t)

    def flip(self, x: torch.Tensor, negate: bool) -> torch.Tensor:
        x = x.clone()
        if negate:
            x[..., 0] *= -1
        x[..., self.joints_left + self.joints_right, :] = x[..., self.joints_right + self.joints_left, :]
        return x

    def predict_noise_from_start(self, x_t: torch.Tensor, t: int, x0: torch.Tensor) -> torch.Tensor:
        return (self.sqrt_recip_alphas_cumprod[t] * x_t - x0) / self.sqrt_recipm1_alphas_cumprod[t]

    def model_predictions(self, inputs_2d, inputs_2d_flip, img_dir, img_bone, t, flip):
        lim = 1.1 * self.scale
        x_dir = torch.clamp(img_dir, min=-lim, max=lim) / self.scale
        x_bone = torch.clamp(img_bone, min=-lim, max=lim) / self.scale
        pred_pose = self.dir_bone_estimator(inputs_2d, x_dir, x_bone, t).float()
        if flip:  # a second, separate pass on the mirrored input
            pred_flip = self.dir_bone_estimator(inputs_2d_flip, self.flip(x_dir, True), self.flip(x_bone, False), t)
            pred_pose = (pred_pose + self.flip(pred_flip.float(), True)) / 2
        x_start = torch.clamp(pred_pose * self.scale, min=-lim, max=lim)
        pred_dir, pred_bone = bone_dir_len(pred_pose, self.bones)
        x_start_dir = torch.clamp(pred_dir * self.scale, min=-lim, max=lim)
        x_start_bone = torch.clamp(pred_bone * self.scale, min=-lim, max=lim)
        noise_dir = self.predict_noise_from_start(img_dir[:, :, :, self.slots], t[0], x_start_dir)
        noise_bone = self.predict_noise_from_start(img_bone[:, :, :, self.slots], t[0], x_start_bone)
        return x_start, x_start_dir, x_start_bone, noise_dir, noise_bone

    @torch.no_grad()
    def ddim_sample(self, inputs_2d: torch.Tensor, hypotheses: int, iterations: int, flip: bool = True,
                    noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """D3DP's DDIM loop over bone directions and lengths. -> (B, W, H, F, J, 3)."""
        b, f, n, _ = inputs_2d.shape
        draws = iter(noise) if noise is not None else None

        def randn(*shape: int) -> torch.Tensor:
            if draws is not None:
                return next(draws).to(inputs_2d.device, torch.float32).clone()
            return torch.randn(shape, device=inputs_2d.device)

        inputs_2d_flip = self.flip(inputs_2d, True)
        times = torch.linspace(-1, self.num_timesteps - 1, steps=iterations + 1)
        times = list(reversed(times.int().tolist()))
        img_dir, img_bone = randn(b, hypotheses, f, n, 3), randn(b, hypotheses, f, n, 1)
        preds_all = []
        for time, time_next in zip(times[:-1], times[1:]):
            time_cond = torch.full((b,), time, dtype=torch.long, device=inputs_2d.device)
            x_start, x_start_dir, x_start_bone, noise_dir, noise_bone = self.model_predictions(
                inputs_2d, inputs_2d_flip, img_dir, img_bone, time_cond, flip)
            preds_all.append(x_start)
            x_start_dir, x_start_bone = bone_dir_len(x_start, self.bones)  # the update moves towards x_start's bones
            if time_next < 0:
                continue
            alpha, alpha_next = self.alphas_cumprod[time], self.alphas_cumprod[time_next]
            sigma = self.eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
            c = (1 - alpha_next - sigma ** 2).sqrt()
            z_dir, z_bone = randn(b, hypotheses, f, n - 1, 3), randn(b, hypotheses, f, n - 1, 1)
            img_dir[:, :, :, self.slots] = x_start_dir * alpha_next.sqrt() + c * noise_dir + sigma * z_dir
            img_bone[:, :, :, self.slots] = x_start_bone * alpha_next.sqrt() + c * noise_bone + sigma * z_bone
        return torch.stack(preds_all, dim=1)


def load_released_port(path: str | os.PathLike, heads: int = 8) -> ReleasedDDHPose:
    """A released ``.bin`` checkpoint (read without unpickling code) in the port, eval mode."""
    state = {k.removeprefix("module."): v for k, v in load_torch_file(path)["model_pos"].items()}
    _, frames, channels = state["dir_bone_estimator.Temporal_pos_embed"].shape
    depth = 1 + len({k.split(".")[2] for k in state if k.startswith("dir_bone_estimator.STEblocks.")})
    port = ReleasedDDHPose(H36M, frames, timesteps=len(state["betas"]), channels=channels, depth=depth, heads=heads)
    port.load_state_dict(state, strict=True)
    return port.eval()


def to_ddhpose(port: ReleasedDDHPose) -> DDHPose:
    """The package's model with the port's weights (renamed as a released checkpoint is)."""
    sizes = port.dir_bone_estimator.sizes
    sk = port.skeleton
    config = ModelConfig(parents=sk.parents, joints_left=sk.joints_left, joints_right=sk.joints_right,
                         timesteps=port.num_timesteps, scale=port.scale, **sizes)
    own, _ = released_state_dict({f"module.{k}": v for k, v in port.state_dict().items()})
    model = DDHPose(config)
    model.denoiser.load_state_dict(own, strict=True)
    return model.train(port.training)
