"""Checkpoints: the project's format (safetensors + config), training states and released files.

Own format: one ``.safetensors`` file whose metadata holds ``ddhpose_config`` (the
:class:`ModelConfig` as JSON) and ``format_version``; besides the denoiser's weights it holds the
diffusion schedule's float64 tables under ``schedule.<name>`` (a converted released checkpoint
keeps the release's own bits; files without them compute the tables). :func:`load_checkpoint` also reads a
training state (``last.pt``, :mod:`ddhpose.training.state`) and a released ``.bin``
(:mod:`ddhpose.model.released`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ddhpose.files import atomic_path
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.errors import CheckpointError
from ddhpose.model.released import build_model, export_released, model_from_released
from ddhpose.safe_pickle import UnsafeFileError, load_torch_file

__all__ = ["CheckpointError", "TRAINING_STATE_FORMAT", "convert", "load_checkpoint", "read_metadata",
           "save_checkpoint"]

FORMAT_VERSION = "1"
_SCHEDULE = "schedule."  # the prefix of the schedule's tables in the own format
#: The ``format`` entry of a training state (``last.pt``), :mod:`ddhpose.training.state`.
TRAINING_STATE_FORMAT = "ddhpose-training-state"


def _from_training_state(ckpt: dict, path: str) -> DDHPose:
    """The model of a ``ddhpose train`` checkpoint (``last.pt`` / ``best.pt``)."""
    try:
        config = ModelConfig.from_dict(ckpt["config"]["model"])
        weights = ckpt["model"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: training checkpoint without a valid model config or weights ({err})") from None
    prefix = "denoiser."
    state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return build_model(config, state, path)


def save_checkpoint(model: DDHPose, path: str | os.PathLike, extra_metadata: dict[str, str] | None = None) -> None:
    """Write weights + config to one ``.safetensors`` file, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.denoiser.state_dict().items()}
    state.update({f"{_SCHEDULE}{k}": v.contiguous() for k, v in model.schedule.tables().items()})
    metadata = {"format_version": FORMAT_VERSION, "ddhpose_config": json.dumps(model.config.to_dict())}
    metadata.update(extra_metadata or {})
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from None


def load_own(path: str | os.PathLike) -> DDHPose:
    meta = read_metadata(path)
    if "ddhpose_config" not in meta:
        raise CheckpointError(f"{path}: safetensors file without a 'ddhpose_config' entry in its metadata")
    try:
        config = ModelConfig.from_dict(json.loads(meta["ddhpose_config"]))
    except (json.JSONDecodeError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: invalid 'ddhpose_config' metadata ({err})") from None
    weights = load_file(os.fspath(path))
    schedule = {k[len(_SCHEDULE):]: weights.pop(k) for k in list(weights) if k.startswith(_SCHEDULE)}
    return build_model(config, weights, os.fspath(path), schedule=schedule)


def load_checkpoint(path: str | os.PathLike, **overrides: Any) -> DDHPose:
    """Load a model from the project's ``.safetensors`` format, a training checkpoint
    (``last.pt``) or a released ``.bin``.

    The model is returned in eval mode on the CPU; move it with ``.to(device)``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        head = f.read(4)
    training_state = None
    if head[:2] == b"PK":  # a torch zip archive: a released .bin or a training last.pt
        try:
            ckpt = load_torch_file(path)
        except UnsafeFileError as err:
            raise CheckpointError(str(err)) from None
        if not (isinstance(ckpt, dict) and ckpt.get("format") == TRAINING_STATE_FORMAT):
            return model_from_released(ckpt, os.fspath(path), **overrides)
        training_state = ckpt
    if overrides:
        raise CheckpointError(f"{path}: overrides {sorted(overrides)} apply to released checkpoints only")
    return load_own(path) if training_state is None else _from_training_state(training_state, os.fspath(path))


def convert(src: str | os.PathLike, dst: str | os.PathLike, **overrides: Any) -> DDHPose:
    """Convert either way: released ``.bin`` -> ``.safetensors``, or own format -> released ``.bin``."""
    model = load_checkpoint(src, **overrides)
    if Path(dst).suffix == ".safetensors":
        save_checkpoint(model, dst)
    elif Path(dst).suffix in (".bin", ".pth", ".pt"):
        export_released(model, dst)
    else:
        raise CheckpointError(f"{dst}: choose the output format by extension: .safetensors or .bin")
    return model
