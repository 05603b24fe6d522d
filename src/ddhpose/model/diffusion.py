"""Noise schedule, forward noising and the DDIM sampler (method sections 3 and 6).

The sampler holds no weights: it is given a ``denoise`` callable and the schedule.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import torch
from torch import nn


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol and Dhariwal's cosine schedule, float64 (T,) cumulative products of 1 - beta."""
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    abar = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    betas = torch.clip(1 - (abar[1:] / abar[:-1]), 0, 0.999)
    return torch.cumprod(1.0 - betas, dim=0)


class NoiseSchedule(nn.Module):
    """The cosine schedule in a (non-persistent) float64 buffer."""

    def __init__(self, timesteps: int = 1000) -> None:
        super().__init__()
        self.timesteps = timesteps
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(timesteps), persistent=False)

    def abar(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alphas_cumprod at t (B,), shaped (B, 1, ..., 1) to broadcast against ``like``."""
        a = self.alphas_cumprod.to(t.device)[t].to(like.dtype)
        return a.view(-1, *([1] * (like.ndim - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, schedule: NoiseSchedule,
             scale: float = 1.0, float64: bool = True) -> torch.Tensor:
    """Forward diffusion with the released clamp and scale (method section 3).

    x0, noise (B, ...); t (B,) ints in [0, T). Returns x_t / scale clamped to +-1.1, in x0's dtype.
    ``float64`` (released): the release multiplies by its float64 schedule buffers shaped
    (B, 1, ...), which promotes the sum, the clamp and the division to float64 before its
    ``.float()``; only ``x0 * scale`` is formed in x0's dtype. False: all in x0's dtype.
    """
    a = schedule.alphas_cumprod.to(t.device)[t]
    a = a.view(-1, *([1] * (x0.ndim - 1))).to(torch.float64 if float64 else x0.dtype)
    xt = a.sqrt() * (x0 * scale) + (1 - a).sqrt() * noise
    return (xt.clamp(-1.1 * scale, 1.1 * scale) / scale).to(x0.dtype)


def ddim_timesteps(timesteps: int, iterations: int) -> list[tuple[int, int]]:
    """(t, t_next) pairs: int(linspace(-1, T-1, W+1)), reversed; the last t_next is -1."""
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    # float32 linspace as the released code (and denoising-diffusion-pytorch) computes it
    times = torch.linspace(-1, timesteps - 1, steps=iterations + 1, dtype=torch.float32).tolist()
    times = list(reversed([int(x) for x in times]))
    return list(zip(times[:-1], times[1:]))


class NoiseSource:
    """Random draws for the sampler, in the order of method section 6.

    Either replays a recorded list of tensors or draws from ``generator`` (or the global RNG).
    """

    def __init__(self, noise: Sequence[torch.Tensor] | None = None, generator: torch.Generator | None = None) -> None:
        self._recorded: Iterator[torch.Tensor] | None = iter(noise) if noise is not None else None
        self.generator = generator

    def draw(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        if self._recorded is not None:
            try:
                z = next(self._recorded)
            except StopIteration:
                raise ValueError("the recorded noise list is shorter than the sampler needs") from None
            if tuple(z.shape) != tuple(shape):
                raise ValueError(f"recorded noise: expected shape {tuple(shape)}, got {tuple(z.shape)}")
            return z.to(device=like.device, dtype=like.dtype)
        gen_device = self.generator.device if self.generator is not None else like.device
        z = torch.randn(shape, generator=self.generator, device=gen_device, dtype=like.dtype)
        return z.to(like.device)


Denoise = Callable[[list[torch.Tensor], int], torch.Tensor]
ToStates = Callable[[torch.Tensor], list[torch.Tensor]]


class DDIMSampler:
    """DDIM (eta = 1) over bone directions and lengths, or over joint coordinates.

    The states are a list of tensors (direction and length, or the joint coordinates);
    ``denoise(states, t) -> pose`` runs the network (with flip averaging if wanted) and
    ``to_states(pose)`` turns a predicted pose back into clean states.

    Switches for the released implementation's behaviour (docs/implementation_notes.md):
      update: 'released' moves the state towards the direction and length of this step's
        output pose clamp(scale * pred) (unit directions, unclamped lengths), while epsilon is
        computed from clamp(scale * direction) and clamp(scale * length) of the prediction;
        'consistent' uses those clamped, scaled states for both. They differ only when the
        pose clamp is active or scale != 1.
      float64: the release's float64 scope. Its schedule buffers are float64: indexed by the
        (B,) step tensor they keep a dimension and promote epsilon to float64; indexed by a
        Python int (abar_t, abar_next, hence c and sigma) they are 0-dim tensors, which do not
        promote a float32 tensor. So in x_next = sqrt(abar_next) x0 + c eps + sigma z only
        c * eps is a float64 product; the other two are float32 products (the coefficient
        rounded to float32), the sum is float64, and the result is cast back into the
        float32 state. False: everything in the state's dtype.
    """

    def __init__(self, schedule: NoiseSchedule, *, scale: float = 1.0, eta: float = 1.0,
                 update: str = "released", float64: bool = True) -> None:
        if update not in ("released", "consistent"):
            raise ValueError(f"update must be 'released' or 'consistent', got {update!r}")
        self.schedule = schedule
        self.scale = scale
        self.eta = eta
        self.update = update
        self.float64 = float64

    def step_coefficients(self, t: int, t_next: int) -> tuple[float, float, float]:
        """(sqrt(abar_next), c, sigma) of one DDIM step; the step's comments follow DDIM eq. 12."""
        abar = self.schedule.alphas_cumprod
        a, a_next = abar[t], abar[t_next]
        sigma = self.eta * ((1 - a / a_next) * (1 - a_next) / (1 - a)).sqrt()
        c = (1 - a_next - sigma ** 2).sqrt()
        return float(a_next.sqrt()), float(c), float(sigma)

    def predict_noise(self, xt: torch.Tensor, x0: torch.Tensor, t: int) -> torch.Tensor:
        """eps = (sqrt(1 / abar_t) x_t - x0) / sqrt(1 / abar_t - 1), in the dtype of ``xt``; the
        coefficients are the release's buffers sqrt(1 / abar) and sqrt(1 / abar - 1)."""
        a = self.schedule.alphas_cumprod[t]
        return (xt * float((1 / a).sqrt()) - x0) / float((1 / a - 1).sqrt())

    def update_state(self, x0: torch.Tensor, eps: torch.Tensor, z: torch.Tensor, t: int, t_next: int
                     ) -> torch.Tensor:
        """DDIM eq. 12: x_next = sqrt(abar_next) x0 + sqrt(1 - abar_next - sigma^2) eps + sigma z.

        x0 and z in the state's dtype, eps as :meth:`predict_noise` gave it (float64 with the
        release's scope). The first and last products are formed in the state's dtype (the
        release's 0-dim float64 coefficients do not promote), c * eps in eps's dtype, and the
        sum in eps's dtype."""
        a_next, c, sigma = self.step_coefficients(t, t_next)
        return (a_next * x0).to(eps.dtype) + c * eps + (sigma * z).to(eps.dtype)

    @torch.no_grad()
    def sample(self, states: list[torch.Tensor], slots: torch.Tensor, iterations: int,
               denoise: Denoise, to_states: ToStates, noise: NoiseSource,
               eps_slots: torch.Tensor | None = None) -> torch.Tensor:
        """Run the reverse process (method section 6).

        Args:
            states: the starting noise, e.g. [direction (B,H,F,J,3), length (B,H,F,J,1)].
            slots: (S,) joint slots that are diffused; the others keep their start noise
                (the bone slots for disentangled diffusion, every slot for xyz).
            denoise: (clamped, unscaled states, t) -> predicted pose (B, H, F, J, 3).
            to_states: predicted pose -> its clean states, in the layout of ``states``.
            noise: the source of the per-step draws z, each (B, H, F, S, C).
            eps_slots: (S,) the slots of the noisy state that epsilon reads for each diffused
                slot (default ``slots``; the released 3DHP sampler reads slots 1..J-1).
        Returns:
            (B, W, H, F, J, 3): every step's pose, clamp(scale * prediction).
        """
        lim = 1.1 * self.scale
        eps_slots = slots if eps_slots is None else eps_slots
        outputs = []
        for t, t_next in ddim_timesteps(self.schedule.timesteps, iterations):
            inputs = [x.clamp(-lim, lim) / self.scale for x in states]
            pred = denoise(inputs, t)
            pose0 = (pred * self.scale).clamp(-lim, lim)
            outputs.append(pose0)
            if t_next < 0:
                break
            targets = to_states(pose0) if self.update == "released" else [None] * len(states)
            new_states = []
            for x, x0, target in zip(states, to_states(pred), targets):
                x0 = (x0 * self.scale).clamp(-lim, lim).index_select(-2, slots)
                target = x0 if target is None else target.index_select(-2, slots)
                xt = x.index_select(-2, eps_slots)  # as it is (not clamped)
                if self.float64:  # epsilon promoted by the (B, 1, ...) float64 buffers
                    xt, x0 = xt.double(), x0.double()
                eps = self.predict_noise(xt, x0, t)
                z = noise.draw(tuple(target.shape), x)
                new_states.append(x.index_copy(-2, slots, self.update_state(target, eps, z, t, t_next).to(x.dtype)))
            states = new_states
        return torch.stack(outputs, dim=1)
