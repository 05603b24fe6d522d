"""One optimisation step: :func:`train_step`, made of its parts (draw the diffusion, compute the
losses, backpropagate, clip, update).

Functions over a model, an optimizer and a batch, so a single step can be checked against the
released training script (tests/test_reference_train_step.py) without a run around it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist
from torch import nn

from ddhpose.experiment import TrainConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.seeding import SeedTag, derive_seed
from ddhpose.skeleton import Skeleton
from ddhpose.training.losses import LossForm, LossUnits, pose_losses

#: 'plain': loss.backward(). 'released': loss.backward(loss.detach()) as the released main.py
#: does (line 439): the gradient of loss^2 / 2, i.e. the plain gradient times the loss.
GRADIENTS = ("plain", "released")


def draw(model: DDHPose, global_batch: int, y3d: torch.Tensor, generator: torch.Generator,
         rank: int = 0) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The forward process's draws for the whole (global) batch, then this rank's slice for its
    clips y3d (b, F, J, 3): t (b,) and one noise tensor per diffused state, each (b, F, J, C).
    Every rank draws the same global tensors, so a run's draws do not depend on world_size."""
    t, noise = model.draw_diffusion((global_batch, *y3d.shape[1:]), generator, y3d.device)
    b = y3d.shape[0]
    lo, hi = rank * b, (rank + 1) * b
    return t[lo:hi], [n[lo:hi] for n in noise]


def drop_lenses(lens: torch.Tensor, share: float, seed: int, epoch: int, step: int, global_batch: int,
                rank: int = 0) -> torch.Tensor:
    """This rank's focal lengths (b,) with a ``share`` of them NaN (no lens given), drawn for the
    global batch and sliced as the diffusion draws are: the same windows lose their lens on any
    number of ranks."""
    drop = torch.Generator().manual_seed(derive_seed(seed, SeedTag.LENS, epoch, step))
    lo = rank * len(lens)
    dropped = torch.rand(global_batch, generator=drop)[lo:lo + len(lens)] < share
    return lens.masked_fill(dropped.to(lens.device), float("nan"))


def losses(module: nn.Module, x2d: torch.Tensor, y3d: torch.Tensor, t: torch.Tensor,
           noise: Sequence[torch.Tensor], skeleton: Skeleton, *, form: LossForm = "released",
           w_len: float = 1.0, w_dir: float = 1.0, disentangle: bool = True,
           amp: str = "none", units: LossUnits = "m", lens: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The loss terms ('total', 'pos', 'len', 'dir') of one prediction. x2d (B, F, J, 2),
    y3d (B, F, J, 3) root-relative, in metres; ``module`` is the model (or its DDP / compiled
    wrapper); ``amp`` 'bf16' / 'fp16' runs the forward pass under autocast, the losses in
    float32; ``units`` 'mm' computes them on millimetres as the released 3DHP training does
    (:func:`~ddhpose.training.losses.pose_losses`); ``lens`` (B,) the clips' screen-normalised focal
    lengths, for a model with ``lens_input``."""
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    with torch.autocast(x2d.device.type, dtype=dtype, enabled=amp != "none"):
        pred = module(x2d, y3d, t, noise, lens=lens)
    return pose_losses(pred.float(), y3d, skeleton, form=form, w_len=w_len, w_dir=w_dir, disentangle=disentangle,
                       units=units)


def backward(total: torch.Tensor, gradient: str = "plain", seed: torch.Tensor | None = None,
             scaler: torch.amp.GradScaler | None = None) -> None:
    """Backpropagate ``total``; with gradient='released' the gradient is scaled by ``seed``
    (default: total itself; under DDP pass the loss averaged over the ranks, the released
    single-process loss of the whole batch)."""
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {list(GRADIENTS)}, got {gradient!r}")
    scaled = scaler.scale(total) if scaler is not None else total
    if gradient == "released":
        scaled.backward((total if seed is None else seed).detach().to(total.dtype))
    else:
        scaled.backward()


def clip_gradients(model: nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   max_norm: float) -> torch.Tensor:
    """Unscale and clip the gradients to ``max_norm``; returns their norm before clipping."""
    scaler.unscale_(optimizer)
    return nn.utils.clip_grad_norm_(model.parameters(), max_norm)


def update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> None:
    """The optimizer step (skipped by an fp16 scaler on overflow), then zeroed gradients."""
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


class NonFiniteLossError(RuntimeError):
    """The loss (or the gradient norm) became NaN or inf; nothing was updated."""


@dataclass(frozen=True)
class StepContext:
    """What a step needs besides the batch: the model (``module`` is what runs the forward pass:
    the model itself, or its DDP / compiled wrapper), the optimizer and scaler, the device and
    this process's place among ``world_size`` ranks."""

    model: DDHPose
    module: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    rank: int = 0
    world_size: int = 1


def train_step(ctx: StepContext, batch: dict[str, torch.Tensor], config: TrainConfig, epoch: int, step: int,
               where: str = "") -> torch.Tensor:
    """One optimizer step on ``batch`` ('x2d' (b, F, J, 2), 'y3d' (b, F, J, 3), and 'intrinsics' (b, 9)
    screen-normalised for a model with ``lens_input``): the diffusion draws
    and the stochastic depth seeded from (seed, epoch, step), the losses, the backward pass (as
    ``config.gradient`` says), clipping and the update. Returns the rank-averaged
    [total, pos, len, dir] losses on the CPU.

    Raises:
        NonFiniteLossError: a non-finite loss or gradient norm, before anything is updated
            (``where`` says what to do about it in the message).
    """
    x2d = batch["x2d"].to(ctx.device, non_blocking=True)
    y3d = batch["y3d"].to(ctx.device, non_blocking=True)
    lens = batch["intrinsics"][:, 0].to(ctx.device, non_blocking=True) if ctx.model.config.lens_input else None
    if lens is not None and ctx.model.config.lens_dropout > 0:  # some windows lift without a lens
        lens = drop_lenses(lens, ctx.model.config.lens_dropout, config.seed, epoch, step, config.batch_size, ctx.rank)
    gen = torch.Generator(ctx.device).manual_seed(derive_seed(config.seed, SeedTag.DIFFUSION, epoch, step))
    t, noise = draw(ctx.model, config.batch_size, y3d, gen, ctx.rank)  # this rank's slice
    cuda = [ctx.device] if ctx.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda, device_type="cuda"):  # stochastic depth, per step
        torch.manual_seed(derive_seed(config.seed, SeedTag.DEPTH, epoch, step, ctx.rank))
        terms = losses(ctx.module, x2d, y3d, t, noise, ctx.model.skeleton, form=config.loss_form, w_len=config.w_len,
                       w_dir=config.w_dir, disentangle=config.disentangle, amp=config.amp, units=config.loss_units,
                       lens=lens)
        averaged = torch.stack([terms[k].detach() for k in ("total", "pos", "len", "dir")])
        if ctx.world_size > 1:
            dist.all_reduce(averaged)
            averaged /= ctx.world_size
        if not torch.isfinite(averaged[0]):
            raise NonFiniteLossError(f"non-finite loss ({float(averaged[0])}) at epoch {epoch + 1}, step {step + 1}"
                                     f"{where}")
        backward(terms["total"], config.gradient, seed=averaged[0], scaler=ctx.scaler)
    if config.grad_clip > 0:
        norm = clip_gradients(ctx.model, ctx.optimizer, ctx.scaler, config.grad_clip)
        if not ctx.scaler.is_enabled() and not torch.isfinite(norm):  # fp16: the scaler skips the step itself
            raise NonFiniteLossError(f"non-finite gradient norm at epoch {epoch + 1}, step {step + 1}{where}")
    update(ctx.optimizer, ctx.scaler)
    return averaged.cpu()
