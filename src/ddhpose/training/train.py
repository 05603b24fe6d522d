"""Training: one process (CPU or one GPU) or ``torchrun`` DistributedDataParallel.

Every random draw of a step comes from seeds derived from (seed, epoch, step): the data order
(a per-epoch permutation of the global batches), the diffusion step t and noise (drawn for the
whole global batch, each rank keeping its slice, so N ranks match one process) and stochastic
depth. A run stopped at any point and resumed from its last checkpoint therefore ends with the
same weights as one never interrupted. Run folder: ``config.yaml``, ``last.pt`` / ``best.pt``
(resumable, :mod:`ddhpose.training.state`), ``last.safetensors`` / ``best.safetensors``
(inference), ``metrics.json`` and TensorBoard events in ``tb/``.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ddhpose.data.sources import load_split
from ddhpose.data.windows import TrainWindows
from ddhpose.evaluation.monitor import evaluate_mpjpe, monitor_sequences
from ddhpose.experiment import ExperimentConfig, load_config
from ddhpose.files import atomic_write_text
from ddhpose.model.checkpoint import load_checkpoint, save_checkpoint
from ddhpose.model.ddhpose import DDHPose
from ddhpose.seeding import SeedTag, derive_seed
from ddhpose.training.step import NonFiniteLossError, StepContext, train_step  # noqa: F401
from ddhpose.training.distributed import DistInfo, setup_distributed
from ddhpose.training.schedule import learning_rate
from ddhpose.training.state import (TrainingProgress, check_resume_config, load_training_state, restore_training_state,
                                    save_training_state)


class TrainingInterrupted(RuntimeError):
    """A stop was requested (SIGINT / SIGTERM or the step callback); ``last.pt`` holds the progress."""


# ---------------------------------------------------------------- training
def epoch_batches(num_items: int, batch_size: int, seed: int, epoch: int) -> torch.Tensor:
    """(steps, batch_size) item indices of one epoch: a permutation from (seed, epoch), padded
    by wrapping around so every global batch is full (as DistributedSampler pads)."""
    if num_items < 1:
        raise ValueError("the training set is empty")
    gen = torch.Generator().manual_seed(derive_seed(seed, SeedTag.ORDER, epoch))
    perm = torch.randperm(num_items, generator=gen)
    steps = math.ceil(num_items / batch_size)
    return perm.repeat(math.ceil(steps * batch_size / num_items))[: steps * batch_size].view(steps, batch_size)


def initial_model(config: ExperimentConfig) -> DDHPose:
    """The model a run starts from; the same on every rank (and every run) for one train.seed:
    a fresh initialisation, or the weights of ``train.init_from``, whose model must match but for
    its window length (``model.frames``): a longer or shorter window starts from the checkpoint's
    temporal position embedding resampled to it (:func:`resample_frames`); and a model with
    ``model.lens_input`` may start from one without it (its lens embedding at zero, so it starts
    from the checkpoint's outputs), and another ``model.lens_dropout`` from one with it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(config.train.seed, SeedTag.INIT))
        model = DDHPose(config.model)
    if config.train.init_from:
        source = load_checkpoint(config.train.init_from)
        mine, theirs = dataclasses.asdict(model.config), dataclasses.asdict(source.config)
        added = {"lens_input"} if mine["lens_input"] and not theirs["lens_input"] else set()
        differ = [f"model.{k}: {theirs[k]!r} there, {mine[k]!r} here" for k in mine if mine[k] != theirs[k]
                  and k not in ("frames", "lens_dropout") and k not in added]  # neither has weights of its own
        if differ:
            raise ValueError(f"train.init_from={config.train.init_from}: its model differs from this run's "
                             f"({'; '.join(differ)}); set the run's model to the checkpoint's")
        state = resample_frames(source.state_dict(), model.config.frames)
        state.update({k: v for k, v in model.state_dict().items() if "lens_embed" in k and k not in state})
        model.load_state_dict(state)
    return model


def resample_frames(state: dict[str, torch.Tensor], frames: int) -> dict[str, torch.Tensor]:
    """A model's weights for a window of ``frames``: the temporal position embedding (1, F, C)
    linearly resampled to (1, frames, C), its first and last positions kept at the ends (the
    window's edges stay edges); every other weight as it is, none of which depends on F."""
    out = dict(state)
    for key, value in state.items():
        if key.endswith("temporal_pos") and value.shape[1] != frames:
            resized = nn.functional.interpolate(value.float().transpose(1, 2), size=frames, mode="linear",
                                                align_corners=True)
            out[key] = resized.transpose(1, 2).to(value.dtype).contiguous()
    return out


@contextlib.contextmanager
def _stop_on_signals(flag: dict[str, bool]) -> Iterator[None]:
    """SIGINT / SIGTERM finish the current step, save ``last.pt`` and stop; a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _tensorboard(enabled: bool, log_dir: Path, purge_step: int) -> Any:
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        import importlib.util
        if importlib.util.find_spec("tensorboard") is None:
            print("tensorboard is not installed (pip install 'ddhpose[tensorboard]'); not logging scalars")
        else:  # installed but broken, e.g. beside a protobuf it does not support
            print(f"tensorboard is installed but cannot be imported ({err}); not logging scalars "
                  "(pip install 'ddhpose[tensorboard]' installs a version that works with the other extras)")
        return None
    return SummaryWriter(str(log_dir), purge_step=purge_step or None)


def _resolve_resume(resume: str | os.PathLike | None, out: Path) -> Path | None:
    if resume is None:
        return None
    if str(resume) == "auto":
        return out / "last.pt" if (out / "last.pt").is_file() else None
    return Path(resume)


def train(config: ExperimentConfig, out_dir: str | os.PathLike, resume: str | os.PathLike | None = None,
          device: str | torch.device | None = None, *,
          step_callback: Callable[[dict[str, Any]], bool | None] | None = None) -> dict[str, Any]:
    """Train (or resume) a model; returns the final metrics.

    Args:
        out_dir: the run folder (created).
        resume: a ``last.pt`` / ``best.pt`` to continue from, or 'auto' (``out_dir/last.pt`` if any).
        device: default ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
        step_callback: called after every optimizer step with {'epoch', 'step', 'global_step',
            'loss'}; returning True stops like SIGTERM does (save ``last.pt``, raise
            :class:`TrainingInterrupted`).
    Raises:
        NonFiniteLossError: the loss became NaN / inf (``last.pt`` left as it was).
        TrainingInterrupted: a requested stop, after saving ``last.pt``.
    """
    tc, out = config.train, Path(out_dir)
    info = setup_distributed(device)
    try:
        if tc.batch_size % info.world_size:
            raise ValueError(f"train.batch_size ({tc.batch_size}) must be divisible by the number of "
                             f"processes ({info.world_size}): it is the global batch split over them")
        if tc.amp == "fp16" and info.device.type != "cuda":
            raise ValueError(f"train.amp=fp16 needs CUDA (device is {info.device}); use bf16 or none")
        resume = _resolve_resume(resume, out)
        if resume is None and (out / "last.pt").is_file():
            raise ValueError(f"{out} already holds a training run (last.pt); continue it with --resume "
                             f"{out / 'last.pt'} (or --resume auto), or choose another --out")
        return _Run(config, out, info, step_callback).run(resume)
    finally:
        if info.owns_group and dist.is_initialized():
            with contextlib.suppress(RuntimeError):  # a failed rank must not hang the others here
                dist.barrier()  # no rank tears the group down while another still uses it
            dist.destroy_process_group()


class _Run:
    """State of one training run; see :func:`train`."""

    def __init__(self, config: ExperimentConfig, out: Path, info: DistInfo,
                 step_callback: Callable[[dict[str, Any]], bool | None] | None) -> None:
        self.config, self.out, self.info, self.callback = config, out, info, step_callback
        tc, dc = config.train, config.data
        self.model = initial_model(config).to(info.device)
        self.skeleton = self.model.skeleton
        self.dataset = TrainWindows(load_split(dc, "train", tc.seed), config.model.frames, self.skeleton,
                                    flip=dc.flip, random_offset=dc.random_offset, seed=tc.seed,
                                    bone_scale=dc.bone_scale, body_scale=dc.body_scale, oversample=dc.oversample,
                                    noise_2d=dc.noise_2d if dc.noise_2d.active else None)
        tests = load_split(dc, "test", tc.seed)
        self.tests = monitor_sequences(tests, config.eval)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=tc.lr, betas=tuple(tc.betas),
                                           weight_decay=tc.weight_decay)
        self.scaler = torch.amp.GradScaler(info.device.type, enabled=tc.amp == "fp16")
        step_module: nn.Module = self.model
        if tc.compile:
            step_module = torch.compile(step_module)
        if info.world_size > 1:
            ids = [info.device.index] if info.device.type == "cuda" else None
            step_module = DistributedDataParallel(step_module, device_ids=ids)
        self.step_module = step_module
        self.steps = self._epoch_steps()
        self.progress = TrainingProgress(lr=tc.lr, seed=tc.seed, world_size=info.world_size)
        self.stop = {"stop": False}

    # ------------------------------------------------------------------ checkpoints
    def _epoch_steps(self) -> int:
        """Optimiser steps in the current epoch (depends on the epoch's window count)."""
        tc = self.config.train
        steps = math.ceil(len(self.dataset) / tc.batch_size)
        return min(steps, tc.max_steps_per_epoch) if tc.max_steps_per_epoch > 0 else steps

    def _save(self, name: str) -> None:
        if self.info.main:
            save_training_state(self.out / f"{name}.pt", model=self.model, optimizer=self.optimizer,
                                progress=self.progress, config=self.config.to_dict(), scaler=self.scaler)
            meta = {"epoch": str(self.progress.epoch), "kind": name,
                    "best_mpjpe_mm": str(self.progress.best_metric), "train_config": json.dumps(
                        {k: v for k, v in self.config.to_dict().items() if k != "model"})}
            save_checkpoint(self.model, self.out / f"{name}.safetensors", extra_metadata=meta)

    def _resume(self, path: Path) -> None:
        state = load_training_state(path)
        check_resume_config(state, self.config.to_dict(), path)
        restored = restore_training_state(state, model=self.model, optimizer=self.optimizer, scaler=self.scaler)
        self.progress = dataclasses.replace(restored, seed=self.config.train.seed, world_size=self.info.world_size)
        if self.info.main:
            print(f"resumed from {path}: epoch {self.progress.epoch + 1}, step {self.progress.step}")

    # ------------------------------------------------------------------ loop
    def run(self, resume: Path | None) -> dict[str, Any]:
        tc = self.config.train
        if resume is not None:
            self._resume(resume)
            done = self.progress.epoch
            if done >= tc.epochs:
                raise ValueError(f"{resume}: the run has finished {done} epoch(s), so train.epochs={tc.epochs} "
                                 f"would train nothing; to go on, extend it (e.g. train.epochs={done + 10}) or resume "
                                 f"with the run's own config (-c {self.out / 'config.yaml'})")
        if self.info.main:
            self.out.mkdir(parents=True, exist_ok=True)
            if resume is None:  # the run folder's config stays the run's own: a resume never rewrites it
                self.config.save(self.out / "config.yaml")
        self.writer = _tensorboard(tc.tensorboard and self.info.main, self.out / "tb", self.progress.global_step)
        self.started, self.steps_done = time.perf_counter(), 0
        try:
            with _stop_on_signals(self.stop):
                while self.progress.epoch < tc.epochs:
                    self._epoch()
        finally:
            if self.writer is not None:
                self.writer.close()
        p = self.progress
        return {"epochs": p.epoch, "global_step": p.global_step, "loss": p.history[-1]["loss"] if p.history else None,
                "best_mpjpe": p.best_metric, "best_epoch": p.best_epoch, "history": p.history}

    def _epoch(self) -> None:
        tc, info, p = self.config.train, self.info, self.progress
        epoch, first = p.epoch, p.step
        self.dataset.set_epoch(epoch)
        self.steps = self._epoch_steps()  # random window offsets change the window count per epoch
        local = tc.batch_size // info.world_size
        batches = epoch_batches(len(self.dataset), tc.batch_size, tc.seed, epoch)[first:self.steps]
        batches = batches[:, info.rank * local:(info.rank + 1) * local].tolist()
        loader = DataLoader(self.dataset, batch_sampler=batches, num_workers=tc.num_workers,
                            pin_memory=info.device.type == "cuda")
        bar = tqdm(loader, total=self.steps, initial=first, disable=not info.main, dynamic_ncols=True,
                   desc=f"epoch {epoch + 1}/{tc.epochs}")
        for step, batch in enumerate(bar, start=first):
            self._set_lr(epoch, step)
            losses = self._step(batch, epoch, step)
            p.step, p.global_step = step + 1, p.global_step + 1
            p.sums = [s + float(v) for s, v in zip(p.sums, losses.tolist())]
            self._log(bar, losses, epoch, step)
            if self.callback is not None and self.callback(
                    dict(epoch=epoch, step=step, global_step=p.global_step, loss=float(losses[0]))):
                self.stop["stop"] = True
            if self._should_stop():
                self._save("last")
                raise TrainingInterrupted(
                    f"training stopped at epoch {epoch + 1}, step {step + 1}/{self.steps}; progress saved to "
                    f"{self.out / 'last.pt'} (resume with --resume {self.out / 'last.pt'})")
        bar.close()
        self._end_epoch(epoch)

    def _set_lr(self, epoch: int, step: int) -> None:
        tc = self.config.train
        lr = learning_rate(tc.schedule, tc.lr, epoch=epoch, step=step, steps_in_epoch=self.steps, epochs=tc.epochs,
                           global_step=self.progress.global_step, lr_decay=tc.lr_decay,
                           warmup_steps=tc.warmup_steps, min_lr_ratio=tc.min_lr_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.progress.lr = lr

    def _step(self, batch: dict[str, torch.Tensor], epoch: int, step: int) -> torch.Tensor:
        """One optimizer step (:func:`ddhpose.training.step.train_step`); returns the rank-averaged
        [total, pos, len, dir] losses."""
        ctx = StepContext(self.model, self.step_module, self.optimizer, self.scaler, self.info.device, self.info.rank,
                          self.info.world_size)
        return train_step(ctx, batch, self.config.train, epoch, step, where=(
            f"/{self.steps} (global step {self.progress.global_step + 1}); training stopped and the last good "
            f"checkpoint {self.out / 'last.pt'} was left untouched. Try a lower train.lr, train.grad_clip > 0 or "
            "train.amp=none, then resume from it."))

    def _should_stop(self) -> bool:
        flag = torch.tensor([float(self.stop["stop"])], device=self.info.device)
        if self.info.world_size > 1:  # every rank stops at the same step
            dist.all_reduce(flag)
        return bool(flag.item())

    def _log(self, bar: tqdm, losses: torch.Tensor, epoch: int, step: int) -> None:
        if not self.info.main:
            return
        tc, p = self.config.train, self.progress
        self.steps_done += 1
        elapsed = time.perf_counter() - self.started
        remaining = (tc.epochs - epoch - 1) * self.steps + self.steps - step - 1
        eta = datetime.timedelta(seconds=round(elapsed / self.steps_done * remaining))
        bar.set_postfix(loss=f"{float(losses[0]):.4f}", samples_s=f"{self.steps_done * tc.batch_size / elapsed:.1f}",
                        eta=str(eta), refresh=False)
        if self.writer is not None and p.global_step % tc.log_every == 0:
            for name, value in zip(("loss", "pos", "len", "dir"), losses.tolist()):
                self.writer.add_scalar(f"train/{name}", value, p.global_step)
            self.writer.add_scalar("train/lr", p.lr, p.global_step)

    def _end_epoch(self, epoch: int) -> None:
        tc, p = self.config.train, self.progress
        count = max(p.step, 1)
        record = {"epoch": epoch + 1, "lr": p.lr, "global_step": p.global_step,
                  **{k: s / count for k, s in zip(("loss", "pos", "len", "dir"), p.sums)}}
        last_epoch = epoch + 1 == tc.epochs
        improved = False
        if self.tests and ((epoch + 1) % tc.eval_every == 0 or last_epoch):
            monitor = evaluate_mpjpe(self.model, self.tests, self.config.eval, tc.seed,
                                     self.info.rank, self.info.world_size)
            record.update({f"{k}_mm": v for k, v in monitor.items()})
            best = p.best_metric
            improved = math.isfinite(record["mpjpe_mm"]) and (best is None or record["mpjpe_mm"] < best)
            if improved:
                p.best_metric, p.best_epoch = record["mpjpe_mm"], epoch + 1
        p.history = p.history + [record]
        p.epoch, p.step, p.sums = epoch + 1, 0, [0.0] * 4
        if improved:
            self._save("best")
        if (epoch + 1) % tc.checkpoint_every == 0 or last_epoch:
            self._save("last")
        if self.info.main:
            atomic_write_text(self.out / "metrics.json", json.dumps(p.history, indent=1))
            summary = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "global_step"))
            tqdm.write(f"epoch {epoch + 1}/{tc.epochs}: {summary}")
            if self.writer is not None:
                for key in ("loss", "mpjpe_mm", "mpjve_mm", "accel_mm"):
                    if key in record:
                        self.writer.add_scalar(f"epoch/{key}", record[key], epoch + 1)


def train_from_args(config_path_or_name: str, overrides: Sequence[str], out_dir: str | os.PathLike,
                    resume: str | None = None) -> dict[str, Any]:
    """What ``ddhpose train`` calls (also under ``torchrun``)."""
    return train(load_config(config_path_or_name, overrides), out_dir, resume=resume)
