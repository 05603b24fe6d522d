"""The authors' released checkpoint format (``.bin``, method section 10), both ways.

A released file is a ``torch.save`` dict ('epoch', 'lr', 'random_state', 'optimizer',
'model_pos'); it is read with :func:`ddhpose.safe_pickle.load_torch_file`, never unpickling
anything but tensors, NumPy arrays and plain containers. Its parameter names map to the
denoiser's own names through one table (:data:`_NAMES`), read one way on import and the other
way on export.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddhpose.files import atomic_path
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.diffusion import SCHEDULE_TABLES
from ddhpose.model.errors import CheckpointError

_RELEASED_PREFIX = "dir_bone_estimator."
#: (released name, own name); a name ending in '.' is a prefix. The transformer blocks are named
#: by :func:`_block_name`: the released code keeps block 0 apart (``STEblocks_0.0``) and numbers
#: the others from 0 (``STEblocks.i`` is our block i + 1).
_NAMES = (
    ("Spatial_patch_to_embedding.", "embed."),
    ("Spatial_pos_embed", "spatial_pos"),
    ("Temporal_pos_embed", "temporal_pos"),
    ("group", "hierarchy"),
    ("time_mlp.1.", "time_embed.fc1."),
    ("time_mlp.3.", "time_embed.fc2."),
    ("Spatial_norm.", "spatial_norm."),
    ("Temporal_norm.", "temporal_norm."),
    ("head_pose.", "head."),
)
_KINDS = (("STE", "spatial"), ("TTE", "temporal"))


def _block_name(key: str, to_own: bool) -> str | None:
    """A transformer block's parameter renamed, or None if ``key`` is not a block parameter."""
    for released, own in _KINDS:
        if to_own:
            if key.startswith(f"{released}blocks_0.0."):
                return f"{own}_blocks.0." + key[len(f"{released}blocks_0.0."):]
            m = re.match(rf"^{released}blocks\.(\d+)\.(.*)$", key)
            if m:
                return f"{own}_blocks.{int(m.group(1)) + 1}.{m.group(2)}"
        else:
            m = re.match(rf"^{own}_blocks\.(\d+)\.(.*)$", key)
            if m:
                i = int(m.group(1))
                return f"{released}blocks_0.0.{m.group(2)}" if i == 0 else f"{released}blocks.{i - 1}.{m.group(2)}"
    return None


def rename(key: str, to_own: bool) -> str:
    """A parameter name in the other format (without 'module.' and the estimator prefix).

    Raises:
        CheckpointError: a name the table does not know.
    """
    block = _block_name(key, to_own)
    if block is not None:
        return block
    for released, own in _NAMES:
        source, target = (released, own) if to_own else (own, released)
        if key == source or (source.endswith(".") and key.startswith(source)):
            return target + key[len(source):]
    where = f"{_RELEASED_PREFIX}{key} in released checkpoint" if to_own else f"{key}: no released counterpart"
    raise CheckpointError(f"unexpected parameter {where}")


def _is_estimator_key(key: str) -> bool:
    return key.removeprefix("module.").startswith(_RELEASED_PREFIX)


def released_parameter_name(key: str) -> str | None:
    """The denoiser's own name of a released ``model_pos`` key of the estimator (the 'module.'
    prefix optional); None for the spatial blocks' unused qkv_xc."""
    if not _is_estimator_key(key):
        raise CheckpointError(f"{key} is not a parameter of the released estimator")
    name = key.removeprefix("module.")[len(_RELEASED_PREFIX):]
    if re.match(r"^STEblocks\.\d+\.attn\.qkv_xc\.", name):
        return None  # present in the released spatial blocks but never used
    return rename(name, to_own=True)


def released_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a released ``model_pos`` into (denoiser state in own names, diffusion buffers)."""
    denoiser, buffers = {}, {}
    for key, value in state.items():
        if not _is_estimator_key(key):
            buffers[key.removeprefix("module.")] = value
        elif (new := released_parameter_name(key)) is not None:
            denoiser[new] = value
    return denoiser, buffers


def config_from_state(state: dict[str, torch.Tensor], timesteps: int = 1000, **overrides: Any) -> ModelConfig:
    """Read F, J, C, depth and the ablation switches from tensor shapes (own names)."""
    try:
        _, joints, channels = state["spatial_pos"].shape
        frames = state["temporal_pos"].shape[1]
        in_channels = state["embed.weight"].shape[1]
        out_channels = state["head.1.weight"].shape[0]
        hidden = state["spatial_blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as err:
        raise CheckpointError(f"not a DDHPose denoiser: missing parameter {err}") from None
    depth = 1 + len({k.split(".")[1] for k in state if k.startswith("spatial_blocks.")} - {"0"})
    if in_channels not in (5, 6) or out_channels not in (3, 4):
        raise CheckpointError(f"input/output widths {in_channels}/{out_channels} are not DDHPose's (6 or 5 / 3 or 4)")
    values: dict[str, Any] = dict(
        frames=frames, channels=channels, depth=depth, mlp_ratio=hidden / channels, timesteps=timesteps,
        diffusion="disentangled" if in_channels == 6 else "xyz", disentangled_output=out_channels == 4,
        hierarchy_embedding="hierarchy" in state,
        hrtt=depth > 1 and "temporal_blocks.1.attn.qkv_xc.weight" in state,
    )
    if joints != 17 and "skeleton" not in overrides and "parents" not in overrides:
        raise CheckpointError(f"checkpoint has {joints} joints; pass skeleton=... or parents=... for it")
    values.update(overrides)
    config = ModelConfig(**values)
    if config.num_joints != joints:
        raise CheckpointError(f"checkpoint has {joints} joints but skeleton {config.skeleton!r} has {config.num_joints}")
    return config


# Words in a released checkpoint's path that name its dataset (the files themselves cannot tell:
# the Human3.6M and MPI-INF-3DHP models have the same parameters and shapes).
_DATASET_WORDS = {"h36m": "h36m", "human36m": "h36m", "3dhp": "3dhp", "mpi": "3dhp", "mpiinf3dhp": "3dhp"}


def released_skeleton(path: str | os.PathLike) -> str | None:
    """The skeleton ('h36m' or '3dhp') a released checkpoint's path names, e.g.
    ``checkpoint/3dhp/best_epoch.bin`` or ``ddhpose_h36m.bin``: the file name, else the nearest
    folder that names exactly one of them; None when none does."""
    for part in reversed(Path(path).parts):
        words = [w for w in re.split(r"[^a-z0-9]+", part.lower()) if w]
        found = {v for k, v in _DATASET_WORDS.items() for w in words if w == k or (len(k) > 3 and k in w)}
        if len(found) == 1:
            return found.pop()
        if found:
            return None
    return None


def model_from_released(ckpt: Any, path: str, **overrides: Any) -> DDHPose:
    """The model of a released checkpoint dict read from ``path`` (named in errors)."""
    if not isinstance(ckpt, dict) or "model_pos" not in ckpt:
        raise CheckpointError(f"{path}: expected a dict with 'model_pos' (a released DDHPose checkpoint) "
                              "or a ddhpose training checkpoint (last.pt)")
    if overrides.get("skeleton") is None and not overrides.get("parents"):
        overrides.pop("skeleton", None)
        named = ckpt.get("skeleton")
        skeleton = named if named in ("h36m", "3dhp") else released_skeleton(path)
        if skeleton is None:
            raise CheckpointError(f"{path}: a released checkpoint does not say which 17-joint skeleton it was trained "
                                  "with (Human3.6M and MPI-INF-3DHP models have the same shapes) and its path names "
                                  "neither; pass --skeleton h36m or --skeleton 3dhp (skeleton=... in Python)")
        overrides["skeleton"] = skeleton
    state, buffers = released_state_dict(ckpt["model_pos"])
    timesteps = len(buffers["betas"]) if "betas" in buffers else 1000
    config = config_from_state(state, timesteps=timesteps, **overrides)
    tables = {k: v for k, v in buffers.items() if k in SCHEDULE_TABLES}
    return build_model(config, state, os.fspath(path), schedule=tables)


def released_optimizer_state(ckpt: dict, model: DDHPose) -> dict[str, Any]:
    """A released ``.bin``'s AdamW state, re-indexed for ``torch.optim.AdamW(model.parameters())``
    (what the released main.py --resume restores). The released optimizer indexes the
    estimator's parameters in the order of ``model_pos``; the spatial blocks' unused qkv_xc
    have no counterpart here (they never get a gradient there)."""
    try:
        optim, names = ckpt["optimizer"], [k for k in ckpt["model_pos"] if _is_estimator_key(k)]
        groups, state = optim["param_groups"], optim["state"]
    except (KeyError, TypeError):
        raise CheckpointError("released checkpoint without an AdamW 'optimizer' state") from None
    if len(groups) != 1 or len(groups[0]["params"]) != len(names):
        raise CheckpointError(f"released optimizer holds {sum(len(g['params']) for g in groups)} parameters in "
                              f"{len(groups)} group(s), expected one group of {len(names)}")
    index = {f"denoiser.{own}": i for i, name in enumerate(names)
             if (own := released_parameter_name(name)) is not None}
    ours = [n for n, _ in model.named_parameters()]
    if set(ours) != set(index):
        raise CheckpointError(f"released optimizer does not fit this model: {sorted(set(ours) ^ set(index))[:5]}")
    mapped = {k: v for k, v in groups[0].items() if k != "params"}
    return {"state": {j: state[index[n]] for j, n in enumerate(ours) if index[n] in state},
            "param_groups": [{**mapped, "params": list(range(len(ours)))}]}


def export_released(model: DDHPose, path: str | os.PathLike) -> None:
    """Write the released ``.bin`` layout (method section 10) so the authors' code can load it.

    The unused ``qkv_xc`` of the hierarchical spatial blocks is written as zeros; epoch 0, a
    fixed RandomState and an empty optimizer state mark it as an export, not a training snapshot.
    A 'skeleton' entry (a dataset skeleton's name; the released code ignores it) lets the file
    say which 17-joint skeleton it holds.
    """
    if model.config.parents or model.config.skeleton not in ("h36m", "3dhp"):
        raise CheckpointError("the released .bin layout holds the Human3.6M or MPI-INF-3DHP skeleton only, "
                              f"not {model.config.skeleton!r} / a custom parent list")
    if model.config.lens_input:
        raise CheckpointError("the released .bin layout has no lens input (model.lens_input): the authors' code "
                              "could not run this model")
    state = {}
    for key, value in model.schedule.tables().items():  # the release's own, if loaded from a .bin
        state[f"module.{key}"] = value
    for key, value in model.denoiser.state_dict().items():
        state[f"module.{_RELEASED_PREFIX}{rename(key, to_own=False)}"] = value.detach().cpu().clone()
        m = re.match(r"^spatial_blocks\.(\d+)\.attn\.qkv\.weight$", key)
        if m and int(m.group(1)) > 0 and model.config.hrtt:
            c = model.config.channels
            prefix = f"module.{_RELEASED_PREFIX}STEblocks.{int(m.group(1)) - 1}.attn.qkv_xc"
            state[f"{prefix}.weight"], state[f"{prefix}.bias"] = torch.zeros(c, c), torch.zeros(c)
    random_state = np.random.RandomState(0).get_state()  # the released layout carries one; unused here
    with atomic_path(path) as tmp:
        torch.save({"epoch": 0, "lr": 0.0, "random_state": random_state, "optimizer": {}, "model_pos": state,
                    "skeleton": model.config.skeleton}, tmp)


def build_model(config: ModelConfig, state: dict[str, torch.Tensor], source: str,
                schedule: dict[str, torch.Tensor] | None = None) -> DDHPose:
    """A model of ``config`` holding ``state`` (the denoiser's own names), in eval mode;
    ``schedule``: the diffusion tables a checkpoint carries (:class:`NoiseSchedule`)."""
    try:
        model = DDHPose(config, schedule=schedule)
    except ValueError as err:
        raise CheckpointError(f"{source}: {err}") from None
    missing, unexpected = model.denoiser.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{source}: architecture mismatch; missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()
