"""HSTDenoiser: the hierarchical spatial-temporal transformer of DDHPose (method section 4)."""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from ddhpose.geometry import compose
from ddhpose.model.blocks import Block, TimeEmbedding
from ddhpose.model.config import ModelConfig


def child_average_matrix(children: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """(J, J) matrix M with (M f)[j] = mean(f[j] and f[children(j)]), identity for leaves."""
    n = len(children)
    m = torch.zeros(n, n)
    for j, kids in enumerate(children):
        group = (j,) + tuple(kids)
        m[j, list(group)] = 1.0 / len(group)
    return m


def child_features(x: torch.Tensor, child_mean: torch.Tensor, layout: str = "released") -> torch.Tensor:
    """HRTT child features: every joint averaged with its children.

    x (B, J, F, C) layer-1 features, child_mean (J, J) -> (B * J, F, C).

    ``layout='aligned'`` gives token (b, j, f) the features of joint j's own children at frame
    f (the paper's intent). ``layout='released'`` (the default) reproduces the released code:

    The released code averages each joint with its children in a (B, F, J, C) tensor and
    then *reshapes* (not rearranges) it to the temporal blocks' (B * J, F, C) token layout.
    So the child keys of temporal token (b, j, f) come from flat position j * F + f of clip
    b's (F, J) grid: a fixed permutation of the child features within each clip. Released
    checkpoints were trained with it, and the reference outputs depend on it (an aligned
    layout changes the output by ~0.06 on the reference checkpoint).
    """
    b, j, f, c = x.shape
    if layout == "aligned":
        return torch.einsum("kj,bjfc->bkfc", child_mean, x).reshape(b * j, f, c)
    return torch.einsum("kj,bjfc->bfkc", child_mean, x).reshape(b * j, f, c)


class HSTDenoiser(nn.Module):
    """Predicts the clean 3D pose from 2D keypoints and noisy bones (or noisy joints).

    Call ``denoiser(x2d, noisy_dir, noisy_len, t)`` with x2d (B, F, J, 2), noisy_dir (B, F, J, 3),
    noisy_len (B, F, J, 1), t (B,) -> (B, F, J, 3). With a hypothesis axis, noisy_dir
    (B, H, F, J, 3) and noisy_len (B, H, F, J, 1) share x2d and t -> (B, H, F, J, 3).
    With ``config.diffusion == 'xyz'`` pass the noisy pose as ``noisy_dir`` and ``None``.
    With ``config.lens_input`` pass ``lens`` (B,): each clip's screen-normalised focal length
    (2 f / image width, > 0; NaN where none is given, for a model trained with ``lens_dropout``).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.skeleton = sk = config.get_skeleton()
        c, j = config.channels, sk.num_joints
        in_channels = 2 + 3 + (1 if config.diffusion == "disentangled" else 0)
        out_channels = 4 if config.disentangled_output else 3
        self.embed = nn.Linear(in_channels, c)
        self.spatial_pos = nn.Parameter(torch.zeros(1, j, c))
        self.temporal_pos = nn.Parameter(torch.zeros(1, config.frames, c))
        self.hierarchy = nn.Parameter(torch.zeros(1, sk.num_levels, c)) if config.hierarchy_embedding else None
        self.register_buffer("levels", torch.tensor(sk.levels), persistent=False)
        self.register_buffer("child_mean", child_average_matrix(sk.children), persistent=False)
        self.time_embed = TimeEmbedding(c)
        rates = torch.linspace(0, config.drop_path, config.depth).tolist()
        block = dict(dim=c, heads=config.heads, mlp_ratio=config.mlp_ratio)
        self.spatial_blocks = nn.ModuleList(
            [Block(**block, drop_path=rates[0])]
            + [Block(**block, drop_path=r, skeleton=sk if config.hrst else None,
                     hrst_once=config.hrst_updates == "triplet") for r in rates[1:]]
        )
        self.temporal_blocks = nn.ModuleList(
            [Block(**block, drop_path=rates[0])]
            + [Block(**block, drop_path=r, child_keys=config.hrtt) for r in rates[1:]]
        )
        self.spatial_norm = nn.LayerNorm(c, eps=1e-6)
        self.temporal_norm = nn.LayerNorm(c, eps=1e-6)
        self.head = nn.Sequential(nn.LayerNorm(c), nn.Linear(c, out_channels))
        if config.init == "trunc_normal":  # 'released': PyTorch's defaults, position embeddings zero
            nn.init.trunc_normal_(self.spatial_pos, std=0.02)
            nn.init.trunc_normal_(self.temporal_pos, std=0.02)
            self.apply(_init_weights)
        if config.lens_input:  # made last and zero: every other weight draws as without it
            self.lens_embed = nn.Linear(1, c)
            nn.init.zeros_(self.lens_embed.weight)
            nn.init.zeros_(self.lens_embed.bias)

    def _check(self, x2d: torch.Tensor, noisy_dir: torch.Tensor, noisy_len: torch.Tensor | None,
               t: torch.Tensor, lens: torch.Tensor | None) -> None:
        """Shape checks only: they cost no device sync. Finite values are checked once at the
        boundaries (DDHPose.sample, the data loaders, the training loss guard)."""
        j, cfg = self.skeleton.num_joints, self.config
        if x2d.ndim != 4 or x2d.shape[-2:] != (j, 2):
            raise ValueError(f"x2d: expected (B, F, {j}, 2), got {tuple(x2d.shape)}")
        b, f = x2d.shape[:2]
        if f > cfg.frames:
            raise ValueError(f"x2d has {f} frames; this model takes at most {cfg.frames}")
        lead = noisy_dir.shape[:-1]
        if noisy_dir.shape[-1] != 3 or lead[-2:] != (f, j) or lead[0] != b or noisy_dir.ndim not in (4, 5):
            raise ValueError(f"noisy_dir: expected (B, [H,] {f}, {j}, 3) with B={b}, got {tuple(noisy_dir.shape)}")
        if cfg.diffusion == "disentangled":
            if noisy_len is None or noisy_len.shape != lead + (1,):
                got = None if noisy_len is None else tuple(noisy_len.shape)
                raise ValueError(f"noisy_len: expected {tuple(lead) + (1,)}, got {got}")
        elif noisy_len is not None:
            raise ValueError("an xyz-diffusion model takes the noisy pose as noisy_dir and noisy_len=None")
        if t.shape != (b,):
            raise ValueError(f"t: expected ({b},) diffusion steps, got {tuple(t.shape)}")
        if cfg.lens_input and (lens is None or lens.shape != (b,)):
            got = None if lens is None else tuple(lens.shape)
            raise ValueError(f"lens: this model takes each clip's focal length, expected ({b},), got {got}")
        if not cfg.lens_input and lens is not None:
            raise ValueError("lens: this model was built without lens_input and takes no focal length")

    def forward(self, x2d: torch.Tensor, noisy_dir: torch.Tensor, noisy_len: torch.Tensor | None,
                t: torch.Tensor, lens: torch.Tensor | None = None) -> torch.Tensor:
        self._check(x2d, noisy_dir, noisy_len, t, lens)
        hyp = noisy_dir.ndim == 5
        if hyp:
            h = noisy_dir.shape[1]
            x2d = x2d.unsqueeze(1).expand(-1, h, -1, -1, -1)
            t = t.unsqueeze(1).expand(-1, h)
            lens = None if lens is None else lens.unsqueeze(1).expand(-1, h)
            flat = lambda x: None if x is None else x.flatten(0, 1)  # noqa: E731
            x2d, noisy_dir, noisy_len, t, lens = flat(x2d), flat(noisy_dir), flat(noisy_len), flat(t), flat(lens)
        parts = [x2d, noisy_dir] + ([noisy_len] if noisy_len is not None else [])
        pose = self.forward_features(torch.cat(parts, dim=-1).to(self.spatial_pos.dtype), t, lens)
        return pose.unflatten(0, (-1, h)) if hyp else pose

    def forward_features(self, x: torch.Tensor, t: torch.Tensor, lens: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, F, J, C_in), t (B,), lens (B,) screen-normalised focal lengths -> pose (B, F, J, 3).
        ``lens`` is required by a model with ``lens_input`` (:meth:`forward` checks it) and ignored
        by one without."""
        b, f, j, _ = x.shape
        x = self.embed(x) + self.spatial_pos
        if lens is not None and self.config.lens_input:  # the log in float32, then the weights' dtype
            known = ~lens.isnan()[:, None]  # NaN: no lens given, nothing added
            log_f = torch.where(known, lens.float()[:, None], 1.0).log().to(self.lens_embed.weight.dtype)
            x = x + (self.lens_embed(log_f) * known)[:, None, None, :]
        if self.hierarchy is not None:
            x = x + self.hierarchy[:, self.levels]
        x = x + self.time_embed(t)[:, None, None, :]
        xc = None
        for i, (spatial, temporal) in enumerate(zip(self.spatial_blocks, self.temporal_blocks)):
            x = self.spatial_norm(spatial(rearrange(x, "b f j c -> (b f) j c")))
            x = rearrange(x, "(b f) j c -> (b j) f c", f=f)
            if i == 0:
                x = x + self.temporal_pos[:, :f]
                x = self.temporal_norm(temporal(x))
                # child features from layer 1, reused by every hierarchical layer (HRTT)
                if self.config.hrtt:
                    xc = child_features(x.unflatten(0, (b, j)), self.child_mean.to(x.dtype), self.config.child_layout)
            else:
                x = self.temporal_norm(temporal(x, xc))
            x = rearrange(x, "(b j) f c -> b f j c", j=j)
        out = self.head(x)
        if self.config.disentangled_output:
            direction = torch.nn.functional.normalize(out[..., :3], dim=-1)
            return compose(direction, out[..., 3:], self.skeleton)
        return out


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
