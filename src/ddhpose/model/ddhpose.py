"""DDHPose: the denoiser plus the disentangled diffusion around it."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ddhpose.geometry import decompose, flip_pose, flip_slots
from ddhpose.model.chunking import cpu_chunk
from ddhpose.model.config import ModelConfig
from ddhpose.model.denoiser import HSTDenoiser
from ddhpose.model.diffusion import DDIMSampler, NoiseSchedule, NoiseSource, q_sample


class DDHPose(nn.Module):
    """A 2D-to-3D lifting diffusion model.

    ``model.denoiser`` is the network; ``model.noisy_inputs`` is the forward process used in
    training; ``model.sample`` is the DDIM reverse process with hypotheses and flip averaging.
    """

    def __init__(self, config: ModelConfig, schedule: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.config = config
        self.skeleton = config.get_skeleton()
        self.denoiser = HSTDenoiser(config)
        self.schedule = NoiseSchedule(config.timesteps, schedule)  # a checkpoint's own tables, if it has them
        # joint slots the sampler diffuses: the bones, or every joint for xyz diffusion
        slots = self.skeleton.bone_slots if config.diffusion == "disentangled" else range(self.skeleton.num_joints)
        self.register_buffer("diffused_slots", torch.tensor(tuple(slots)), persistent=False)
        # the noisy-state slots epsilon reads for each diffused slot (config.eps_slots)
        released = self.disentangled and config.eps_slots == "released"
        eps_slots = range(1, self.skeleton.num_joints) if released else slots
        self.register_buffer("eps_slots", torch.tensor(tuple(eps_slots)), persistent=False)

    @property
    def disentangled(self) -> bool:
        return self.config.diffusion == "disentangled"

    def clean_states(self, pose: torch.Tensor) -> list[torch.Tensor]:
        """The diffused quantities of a pose: [direction, length] or [pose]. (..., J, 3)."""
        if self.disentangled:
            return list(decompose(pose, self.skeleton))
        return [pose]

    def noisy_inputs(self, y3d: torch.Tensor, t: torch.Tensor,
                     noise: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Forward diffusion of a clean pose y3d (B, F, J, 3) at steps t (B,) with the given
        noise (one tensor per state). Returns the denoiser's noisy inputs (float64 arithmetic as
        released unless ``config.ddim_float64`` is False)."""
        states = self.clean_states(y3d)
        if len(noise) != len(states):
            raise ValueError(f"expected {len(states)} noise tensors, got {len(noise)}")
        return [q_sample(x0, t, eps, self.schedule, self.config.scale, float64=self.config.ddim_float64)
                for x0, eps in zip(states, noise)]

    def draw_diffusion(self, shape: Sequence[int], generator: torch.Generator | None = None,
                       device: torch.device | None = None, dtype: torch.dtype = torch.float32
                       ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The forward process's draws for clips of shape (B, F, J, 3): t (B,), then one noise
        tensor per diffused state (direction, length), in that order, on ``device``.
        Drawn on the generator's device, so a CPU generator works with GPU data."""
        b, f, j, _ = shape
        where = generator.device if generator is not None else device
        t = torch.randint(0, self.config.timesteps, (b,), device=where, generator=generator)
        widths = [3, 1] if self.disentangled else [3]
        noise = [torch.randn((b, f, j, w), device=where, dtype=dtype, generator=generator) for w in widths]
        return t.to(device), [n.to(device) for n in noise]

    def forward(self, x2d: torch.Tensor, y3d: torch.Tensor, t: torch.Tensor | None = None,
                noise: Sequence[torch.Tensor] | None = None, *,
                generator: torch.Generator | None = None, lens: torch.Tensor | None = None) -> torch.Tensor:
        """One training prediction (B, F, J, 3): noise y3d at steps t with ``noise`` (drawn with
        :meth:`draw_diffusion` when not given; DDP ranks pass their slice of global draws) and
        denoise. ``lens`` (B,): the clips' screen-normalised focal lengths, for a model with
        ``lens_input`` (:class:`ddhpose.model.config.ModelConfig`)."""
        if (t is None) != (noise is None):
            raise ValueError("pass both t and noise, or neither (they are then drawn)")
        if t is None:
            t, noise = self.draw_diffusion(y3d.shape, generator, y3d.device, y3d.dtype)
        inputs = self.noisy_inputs(y3d, t, noise)
        extra = {} if lens is None else {"lens": lens}
        return self.denoiser(x2d, inputs[0], inputs[1] if len(inputs) > 1 else None, t, **extra)

    def _denoise_flip(self, x2d: torch.Tensor, flip: bool, chunk: int, lens: torch.Tensor | None = None):
        """Build the sampler's denoise callable: one pass over (input, flipped input), batched
        together and run in chunks of ``chunk`` clips (the whole batch when chunk < 1)."""
        sk = self.skeleton
        b = x2d.shape[0]
        x2d_in = torch.cat([x2d, flip_pose(x2d, sk)]) if flip else x2d
        lens_in = None if lens is None else (torch.cat([lens, lens]) if flip else lens)  # a mirror keeps the lens

        def denoise(states: list[torch.Tensor], t: int) -> torch.Tensor:
            if flip:
                flipped = [flip_pose(states[0], sk)] + [flip_slots(s, sk) for s in states[1:]]
                states = [torch.cat([s, f]) for s, f in zip(states, flipped)]
            size = chunk if chunk >= 1 else x2d_in.shape[0]
            parts = []
            for start in range(0, x2d_in.shape[0], size):
                part = [s[start:start + size] for s in states]
                tt = torch.full((part[0].shape[0],), t, device=x2d.device, dtype=torch.long)
                extra = {} if lens_in is None else {"lens": lens_in[start:start + size]}
                parts.append(self.denoiser(x2d_in[start:start + size], part[0], part[1] if len(part) > 1 else None, tt,
                                           **extra))
            pred = torch.cat(parts)
            if flip:
                pred = (pred[:b] + flip_pose(pred[b:], sk)) / 2
            return pred.float()

        return denoise

    @torch.no_grad()
    def sample(self, x2d: torch.Tensor, hypotheses: int = 1, iterations: int = 1, flip: bool = True,
               generator: torch.Generator | None = None, noise: Sequence[torch.Tensor] | None = None,
               chunk: int | None = None, start: str = "noise", lens: torch.Tensor | None = None) -> torch.Tensor:
        """Sample 3D poses for 2D keypoints x2d (B, F, J, 2) with DDIM (method section 6).

        Returns (B, W, H, F, J, 3): the pose after each of the W iterations for each of the H
        hypotheses (root slot as predicted; evaluation sets it to 0). ``noise`` replays a
        recorded list of draws: the start states ((B, H, F, J, 3) and (B, H, F, J, 1), or one
        (B, H, F, J, 3) for xyz diffusion), then per non-final step one tensor per state for
        the diffused slots ((B, H, F, J-1, C) for bones, (B, H, F, J, 3) for xyz).
        ``start='zero'`` starts from the noise distribution's mean instead of a draw (not the
        paper's sampler: a deterministic first step, measured in docs/lift_quality.md); the
        recorded ``noise`` then holds no start states. ``chunk``: clips per denoiser call (0: the
        whole batch); None leaves it to :func:`ddhpose.model.chunking.cpu_chunk` (chunks on a CPU, the
        whole batch elsewhere). Chunking changes the speed, not the poses. ``lens`` (B,): each
        clip's screen-normalised focal length (2 f / width), required by a model with ``lens_input``.
        """
        if start not in ("noise", "zero"):
            raise ValueError(f"start: expected 'noise' or 'zero', got {start!r}")
        if hypotheses < 1:
            raise ValueError(f"hypotheses must be >= 1, got {hypotheses}")
        j = self.skeleton.num_joints
        if x2d.ndim != 4 or x2d.shape[-2:] != (j, 2):
            raise ValueError(f"x2d: expected (B, F, {j}, 2), got {tuple(x2d.shape)}")
        if not torch.isfinite(x2d).all():
            raise ValueError("x2d contains NaN or inf")
        x2d = x2d.float()
        b, f = x2d.shape[:2]
        if self.config.lens_input and lens is None:
            raise ValueError(f"lens: this model reads focal lengths; pass lens ({b},): 2 f / width per clip")
        if not self.config.lens_input and lens is not None:
            raise ValueError("lens: this model takes no focal lengths; pass none")
        if lens is not None:
            lens = torch.as_tensor(lens, dtype=torch.float32, device=x2d.device).reshape(-1)
            usable = torch.isfinite(lens) & (lens > 0)
            if lens.shape != (b,) or not (usable | (lens.isnan() & (self.config.lens_dropout > 0))).all():
                raise ValueError(f"lens: expected {b} positive focal lengths (2 f / width; NaN for none where the "
                                 f"model was trained without lenses too), got {lens.tolist()}")
        source = NoiseSource(noise, generator)
        widths = [3, 1] if self.disentangled else [3]
        states = [source.draw((b, hypotheses, f, j, w), x2d) if start == "noise"
                  else x2d.new_zeros((b, hypotheses, f, j, w)) for w in widths]
        cfg = self.config
        sampler = DDIMSampler(self.schedule, scale=cfg.scale, update=cfg.ddim_update, float64=cfg.ddim_float64)
        if chunk is None:
            chunk = cpu_chunk(hypotheses, x2d.device)
        return sampler.sample(states, self.diffused_slots, iterations, self._denoise_flip(x2d, flip, chunk, lens),
                              self.clean_states, source, self.eps_slots)
