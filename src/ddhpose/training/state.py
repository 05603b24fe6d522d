"""Resumable training checkpoints (``last.pt``, ``best.pt``).

A training state is one ``torch.save`` archive holding only tensors and plain containers, so
it loads through :func:`ddhpose.safe_pickle.load_torch_file` without unpickling code::

    {'format': 'ddhpose-training-state', 'version': 1,
     'model': state dict, 'optimizer': AdamW state dict, 'scaler': GradScaler state or None,
     'progress': TrainingProgress.to_dict(): {'epoch', 'step' (finished steps of that epoch),
                  'global_step', 'lr', 'best_metric', 'best_epoch', 'history', 'sums',
                  'seed', 'world_size'},
     'config': ExperimentConfig.to_dict(),
     'rng': {'torch', 'cuda', 'numpy', 'python'}}

Training draws all its randomness from seeds derived from (seed, epoch, step, ...) (see
:func:`derive_seed`), so resuming needs no RNG state; the global states are still saved and
restored so code outside the training loop sees them continue as well.
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ddhpose.files import atomic_path
from ddhpose.model.checkpoint import TRAINING_STATE_FORMAT
from ddhpose.safe_pickle import UnsafeFileError, load_torch_file

FORMAT = TRAINING_STATE_FORMAT
VERSION = 1
_KEYS = ("model", "optimizer", "progress", "config", "rng")
_PROGRESS_KEYS = ("epoch", "step", "global_step", "lr", "best_metric", "best_epoch", "history")


@dataclass
class TrainingProgress:
    """Where a training run stands; a checkpoint stores it as the plain dict :meth:`to_dict`
    (primitives only, so ``torch.load(weights_only=True)`` reads it)."""

    epoch: int = 0  # finished epochs
    step: int = 0  # finished optimizer steps of the current epoch
    global_step: int = 0  # optimizer steps since the run began
    lr: float = 0.0  # the learning rate of the last step
    best_metric: float | None = None  # the best monitor MPJPE (mm) so far
    best_epoch: int = 0  # the (1-based) epoch that reached it; 0: none yet
    history: list[dict[str, float]] = field(default_factory=list)  # one record per finished epoch
    sums: list[float] = field(default_factory=lambda: [0.0] * 4)  # this epoch's [total, pos, len, dir] losses
    seed: int = 0  # train.seed of the run
    world_size: int = 1  # the processes that trained the run (its latest part)

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``progress`` entry (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingProgress:
        """Inverse of :meth:`to_dict`; a key a checkpoint lacks (``sums``, ``seed`` and
        ``world_size`` are optional) keeps its default, one it has in excess is ignored."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{k: data[k] for k in names if k in data})


def capture_rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU and CUDA, NumPy's legacy global, Python's) as tensors
    and plain containers."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": [int(version), [int(v) for v in internal], gauss],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`. CUDA states are restored when the device count matches."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_training_state(path: str | os.PathLike, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                        progress: TrainingProgress | Mapping[str, Any], config: dict[str, Any],
                        scaler: torch.amp.GradScaler | None = None) -> None:
    """Write a resumable checkpoint atomically (temporary file, then rename).

    Args:
        model: the unwrapped model (not the DDP / compiled wrapper), so keys carry no prefix.
        progress: a :class:`TrainingProgress`, or a dict of the counters listed in the module
            docstring (stored as it is).
        config: ``ExperimentConfig.to_dict()``.
    """
    progress = progress.to_dict() if isinstance(progress, TrainingProgress) else dict(progress)
    missing = [k for k in _PROGRESS_KEYS if k not in progress]
    if missing:
        raise ValueError(f"training state progress: missing {missing}")
    state = {
        "format": FORMAT, "version": VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "progress": progress, "config": config, "rng": capture_rng_state(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_training_state` (tensors load on the CPU).

    Raises:
        ValueError: a missing file, a file of another kind, or a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"training checkpoint {path} does not exist")
    hint = "inference .safetensors files and released .bin files cannot be resumed"
    try:
        state = load_torch_file(path)
    except UnsafeFileError as err:
        raise ValueError(f"not a ddhpose training checkpoint: {err}; {hint}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not a ddhpose training checkpoint (expected format {FORMAT!r}); {hint}")
    if state.get("version", 0) > VERSION:
        raise ValueError(f"{path}: format version {state['version']} is newer than this package's {VERSION}")
    missing = [k for k in _KEYS if k not in state] + [f"progress.{k}" for k in _PROGRESS_KEYS
                                                        if k not in state.get("progress", {})]
    if missing:
        raise ValueError(f"{path}: incomplete training checkpoint, missing {missing}")
    return state


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two flat config dicts, as 'key: saved -> current'."""
    def norm(v: Any) -> Any:
        return [norm(x) for x in v] if isinstance(v, (list, tuple)) else v

    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k, '<absent>')!r} -> {current.get(k, '<absent>')!r}"
            for k in keys if norm(saved.get(k)) != norm(current.get(k))]


# Keys a resume may change: bookkeeping, evaluation, and where the same files now live.
RESUMABLE_CHANGES = ("train.epochs", "train.checkpoint_every", "train.eval_every", "train.log_every",
                     "train.tensorboard", "train.num_workers", "train.compile", "train.batch_size",
                     "data.path_3d", "data.path_2d", "data.test_path")


def _flat(config: dict[str, Any]) -> dict[str, Any]:
    return {f"{section}.{k}": v for section, values in config.items() if isinstance(values, dict)
            for k, v in values.items()}


def check_resume_config(state: dict[str, Any], config: dict[str, Any], source: str | os.PathLike) -> None:
    """Refuse to resume a checkpoint under a config that changes its model or its training
    trajectory (anything but :data:`RESUMABLE_CHANGES` and the ``eval`` section); the global
    batch may change only at an epoch boundary.

    config: the current ``ExperimentConfig.to_dict()``.
    """
    saved = state["config"]
    own = f"-c {Path(source).parent / 'config.yaml'}"
    diff = config_differences(saved.get("model", {}), config.get("model", {}))
    if diff:
        raise ValueError(f"{source}: the checkpoint was trained with a different model config; "
                         f"differing keys: {'; '.join(diff)}; resume with the run's own config ({own})")
    old, new = _flat(saved), _flat(config)
    if any(k in saved for k in ("data", "train")):  # (a state may carry the model section only)
        keep = {k for k in set(old) | set(new) if k.startswith("eval.") or k in RESUMABLE_CHANGES}
        diff = config_differences({k: v for k, v in old.items() if k not in keep},
                                  {k: v for k, v in new.items() if k not in keep})
        if diff:
            raise ValueError(f"{source}: the run was trained with a different data / train config "
                             f"(differing keys: {'; '.join(diff)}); resume with the run's own config "
                             f"({own}) or start a new run in another folder")
    saved_batch = old.get("train.batch_size")
    if state["progress"]["step"] and saved_batch != new.get("train.batch_size"):
        raise ValueError(f"{source}: stopped mid-epoch with train.batch_size={saved_batch}; resume with the "
                         f"same global batch (got {new.get('train.batch_size')})")


def restore_training_state(state: dict[str, Any], *, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                           scaler: torch.amp.GradScaler | None = None) -> TrainingProgress:
    """Load weights, optimizer (and scaler) state and the RNG states; returns the progress."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and scaler.is_enabled() and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    restore_rng_state(state["rng"])
    return TrainingProgress.from_dict(state["progress"])
