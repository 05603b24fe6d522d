"""Noise schedule, forward noising and the DDIM sampler (method sections 3 and 6).

The sampler holds no weights: it is given a ``denoise`` callable and the schedule.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import torch
from torch import nn


#: The schedule's float64 tables, named and ordered as the buffers of a released checkpoint.
SCHEDULE_TABLES = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                   "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                   "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                   "posterior_mean_coef1", "posterior_mean_coef2")


def cosine_betas(timesteps: int, s: float = 0.008) -> list[float]:
    """Nichol and Dhariwal's cosine schedule: (T,) beta_t = clip(1 - abar(t+1) / abar(t), 0, 0.999).

    In Python floats: IEEE-754 basic operations and the C library's ``cos``, which give the same
    bits on every x86-64 CPU. torch's float64 ``cos``, ``sqrt`` and ``log`` on large tensors go
    through MKL's vector math, whose last bit depends on the CPU's vendor (docs/testing.md).
    """
    cos = [math.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) for x in range(timesteps + 1)]
    abar = [c * c for c in cos]
    abar = [a / abar[0] for a in abar]
    return [min(max(1 - abar[i + 1] / abar[i], 0.0), 0.999) for i in range(timesteps)]


def schedule_tables(timesteps: int) -> dict[str, torch.Tensor]:
    """The released implementation's diffusion buffers (:data:`SCHEDULE_TABLES`), float64 (T,),
    computed in its order (alphas_cumprod = cumprod(1 - beta), then the DDPM quantities) with
    correctly rounded square roots and the C library's ``log``: the same bits on every CPU."""
    betas = cosine_betas(timesteps)
    abar, prod = [], 1.0
    for b in betas:
        prod *= 1.0 - b
        abar.append(prod)
    prev = [1.0] + abar[:-1]
    post = [b * (1.0 - p) / (1.0 - a) for b, p, a in zip(betas, prev, abar)]
    columns = {
        "betas": betas, "alphas_cumprod": abar, "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": [math.sqrt(a) for a in abar],
        "sqrt_one_minus_alphas_cumprod": [math.sqrt(1.0 - a) for a in abar],
        "log_one_minus_alphas_cumprod": [math.log(1.0 - a) for a in abar],
        "sqrt_recip_alphas_cumprod": [math.sqrt(1.0 / a) for a in abar],
        "sqrt_recipm1_alphas_cumprod": [math.sqrt(1.0 / a - 1) for a in abar],
        "posterior_variance": post,
        "posterior_log_variance_clipped": [math.log(max(v, 1e-20)) for v in post],
        "posterior_mean_coef1": [b * math.sqrt(p) / (1.0 - a) for b, p, a in zip(betas, prev, abar)],
        "posterior_mean_coef2": [(1.0 - p) * math.sqrt(1.0 - b) / (1.0 - a) for b, p, a in zip(betas, prev, abar)],
    }
    return {name: torch.tensor(columns[name], dtype=torch.float64) for name in SCHEDULE_TABLES}


def cosine_alphas_cumprod(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol and Dhariwal's cosine schedule, float64 (T,) cumulative products of 1 - beta."""
    if s != 0.008:
        raise ValueError("the released schedule has s = 0.008")
    return schedule_tables(timesteps)["alphas_cumprod"]


class NoiseSchedule(nn.Module):
    """The cosine schedule's float64 tables (:data:`SCHEDULE_TABLES`) in non-persistent buffers.

    ``tables`` replaces the computed ones: a released checkpoint carries the tables its training
    machine computed, and the release samples with those (they differ from :func:`schedule_tables`
    by an ulp here and there), so a model loaded from one keeps them.
    """

    def __init__(self, timesteps: int = 1000, tables: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.timesteps = timesteps
        computed = schedule_tables(timesteps)
        for name in SCHEDULE_TABLES:
            value = computed[name] if tables is None or name not in tables else tables[name]
            if tuple(value.shape) != (timesteps,):
                raise ValueError(f"schedule table {name!r}: expected shape ({timesteps},), got {tuple(value.shape)}")
            if not torch.allclose(value.double(), computed[name], rtol=1e-9, atol=1e-12):
                raise ValueError(f"schedule table {name!r} is not the cosine schedule this package implements")
            self.register_buffer(name, value.detach().to(torch.float64).cpu().clone(), persistent=False)

    def tables(self) -> dict[str, torch.Tensor]:
        """The tables by name, float64 on the CPU (what a released checkpoint stores)."""
        return {name: getattr(self, name).detach().cpu() for name in SCHEDULE_TABLES}

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
    shape, dtype = (-1, *([1] * (x0.ndim - 1))), torch.float64 if float64 else x0.dtype
    root_a = schedule.sqrt_alphas_cumprod.to(t.device)[t].view(shape).to(dtype)
    root_1ma = schedule.sqrt_one_minus_alphas_cumprod.to(t.device)[t].view(shape).to(dtype)
    xt = root_a * (x0 * scale) + root_1ma * noise
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
        a, a_next = float(abar[t]), float(abar[t_next])
        sigma = self.eta * math.sqrt((1 - a / a_next) * (1 - a_next) / (1 - a))
        return math.sqrt(a_next), math.sqrt(1 - a_next - sigma * sigma), sigma

    def predict_noise(self, xt: torch.Tensor, x0: torch.Tensor, t: int) -> torch.Tensor:
        """eps = (sqrt(1 / abar_t) x_t - x0) / sqrt(1 / abar_t - 1), in the dtype of ``xt``; the
        coefficients are the release's buffers sqrt(1 / abar) and sqrt(1 / abar - 1)."""
        recip, recipm1 = self.schedule.sqrt_recip_alphas_cumprod[t], self.schedule.sqrt_recipm1_alphas_cumprod[t]
        return (xt * float(recip) - x0) / float(recipm1)

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
