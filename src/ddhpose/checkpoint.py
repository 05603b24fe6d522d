"""Checkpoints: the project's format (safetensors + config) and the released ``.bin`` files.

Own format: one ``.safetensors`` file whose metadata holds ``ddhpose_config`` (the
:class:`ModelConfig` as JSON) and ``format_version``. Released format (method section 10): a
``torch.save`` dict read with :func:`ddhpose.safe_pickle.load_torch_file`, never unpickling
anything but tensors, NumPy arrays and plain containers.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .config import ModelConfig
from .diffusion import cosine_alphas_cumprod
from .files import atomic_path
from .model.ddhpose import DDHPose
from .safe_pickle import UnsafeFileError, load_torch_file
from .training_state import FORMAT as TRAINING_STATE_FORMAT

FORMAT_VERSION = "1"
_RELEASED_PREFIX = "dir_bone_estimator."

# released name pattern -> own name (applied in order, first match wins)
_RENAMES = [
    (r"^Spatial_patch_to_embedding\.", "embed."),
    (r"^Spatial_pos_embed$", "spatial_pos"),
    (r"^Temporal_pos_embed$", "temporal_pos"),
    (r"^group$", "hierarchy"),
    (r"^time_mlp\.1\.", "time_embed.fc1."),
    (r"^time_mlp\.3\.", "time_embed.fc2."),
    (r"^STEblocks_0\.0\.", "spatial_blocks.0."),
    (r"^TTEblocks_0\.0\.", "temporal_blocks.0."),
    (r"^Spatial_norm\.", "spatial_norm."),
    (r"^Temporal_norm\.", "temporal_norm."),
    (r"^head_pose\.", "head."),
]


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the expected architecture."""


def _rename_released(key: str) -> str | None:
    m = re.match(r"^(STE|TTE)blocks\.(\d+)\.(.*)$", key)
    if m:
        kind = "spatial" if m.group(1) == "STE" else "temporal"
        if kind == "spatial" and m.group(3).startswith("attn.qkv_xc."):
            return None  # present in the released spatial blocks but never used
        return f"{kind}_blocks.{int(m.group(2)) + 1}.{m.group(3)}"
    for pattern, repl in _RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key)
    raise CheckpointError(f"unexpected parameter {_RELEASED_PREFIX}{key} in released checkpoint")


def _is_estimator_key(key: str) -> bool:
    return key.removeprefix("module.").startswith(_RELEASED_PREFIX)


def released_parameter_name(key: str) -> str | None:
    """The denoiser's own name of a released ``model_pos`` key of the estimator (the 'module.'
    prefix optional); None for the spatial blocks' unused qkv_xc."""
    if not _is_estimator_key(key):
        raise CheckpointError(f"{key} is not a parameter of the released estimator")
    return _rename_released(key.removeprefix("module.")[len(_RELEASED_PREFIX):])


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


def _build(config: ModelConfig, state: dict[str, torch.Tensor], source: str) -> DDHPose:
    model = DDHPose(config)
    missing, unexpected = model.denoiser.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{source}: architecture mismatch; missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


def load_released(path: str | os.PathLike, **overrides: Any) -> DDHPose:
    """Load an authors' ``.bin`` checkpoint. ``overrides`` set what shapes cannot tell
    (``heads`` (default 8), ``hrst`` (default on), ``skeleton``)."""
    return _from_released(load_torch_file(path), os.fspath(path), **overrides)


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


def _from_released(ckpt: Any, path: str, **overrides: Any) -> DDHPose:
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
    if "alphas_cumprod" in buffers:
        expected = cosine_alphas_cumprod(timesteps)
        if not torch.allclose(buffers["alphas_cumprod"].double(), expected, atol=1e-10):
            raise CheckpointError(f"{path}: its noise schedule is not the cosine schedule this package implements")
    return _build(config, state, os.fspath(path))


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


def _from_training_state(ckpt: dict, path: str) -> DDHPose:
    """The model of a ``ddhpose train`` checkpoint (``last.pt`` / ``best.pt``)."""
    try:
        config = ModelConfig.from_dict(ckpt["config"]["model"])
        weights = ckpt["model"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: training checkpoint without a valid model config or weights ({err})") from None
    prefix = "denoiser."
    state = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    return _build(config, state, path)


def save_checkpoint(model: DDHPose, path: str | os.PathLike, extra_metadata: dict[str, str] | None = None) -> None:
    """Write weights + config to one ``.safetensors`` file, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.denoiser.state_dict().items()}
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
    return _build(config, load_file(os.fspath(path)), os.fspath(path))


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
            return _from_released(ckpt, os.fspath(path), **overrides)
        training_state = ckpt
    if overrides:
        raise CheckpointError(f"{path}: overrides {sorted(overrides)} apply to released checkpoints only")
    return load_own(path) if training_state is None else _from_training_state(training_state, os.fspath(path))


def convert_released(src: str | os.PathLike, dst: str | os.PathLike, **overrides: Any) -> DDHPose:
    """Convert a released ``.bin`` into the project's ``.safetensors`` format."""
    model = load_released(src, **overrides)
    save_checkpoint(model, dst)
    return model


def _released_buffers(timesteps: int) -> dict[str, torch.Tensor]:
    """The diffusion buffers a released checkpoint carries (standard DDPM quantities)."""
    abar = cosine_alphas_cumprod(timesteps)
    abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
    betas = 1 - abar / abar_prev
    posterior_variance = betas * (1 - abar_prev) / (1 - abar)
    return {
        "betas": betas, "alphas_cumprod": abar, "alphas_cumprod_prev": abar_prev,
        "sqrt_alphas_cumprod": abar.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - abar).sqrt(),
        "log_one_minus_alphas_cumprod": (1 - abar).log(), "sqrt_recip_alphas_cumprod": (1 / abar).sqrt(),
        "sqrt_recipm1_alphas_cumprod": (1 / abar - 1).sqrt(), "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": posterior_variance.clamp(min=1e-20).log(),
        "posterior_mean_coef1": betas * abar_prev.sqrt() / (1 - abar),
        "posterior_mean_coef2": (1 - abar_prev) * (1 - betas).sqrt() / (1 - abar),
    }


def _released_name(key: str) -> str:
    m = re.match(r"^(spatial|temporal)_blocks\.(\d+)\.(.*)$", key)
    if m:
        kind = "STE" if m.group(1) == "spatial" else "TTE"
        i = int(m.group(2))
        return f"{kind}blocks_0.0.{m.group(3)}" if i == 0 else f"{kind}blocks.{i - 1}.{m.group(3)}"
    back = {"embed.": "Spatial_patch_to_embedding.", "spatial_pos": "Spatial_pos_embed",
            "temporal_pos": "Temporal_pos_embed", "hierarchy": "group", "time_embed.fc1.": "time_mlp.1.",
            "time_embed.fc2.": "time_mlp.3.", "spatial_norm.": "Spatial_norm.",
            "temporal_norm.": "Temporal_norm.", "head.": "head_pose."}
    for own, released in back.items():
        if key == own or (own.endswith(".") and key.startswith(own)):
            return released + key[len(own):]
    raise CheckpointError(f"parameter {key} has no released counterpart")


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
    state = {}
    for key, value in _released_buffers(model.config.timesteps).items():
        state[f"module.{key}"] = value
    for key, value in model.denoiser.state_dict().items():
        state[f"module.{_RELEASED_PREFIX}{_released_name(key)}"] = value.detach().cpu().clone()
        m = re.match(r"^spatial_blocks\.(\d+)\.attn\.qkv\.weight$", key)
        if m and int(m.group(1)) > 0 and model.config.hrtt:
            c = model.config.channels
            prefix = f"module.{_RELEASED_PREFIX}STEblocks.{int(m.group(1)) - 1}.attn.qkv_xc"
            state[f"{prefix}.weight"], state[f"{prefix}.bias"] = torch.zeros(c, c), torch.zeros(c)
    random_state = np.random.RandomState(0).get_state()  # the released layout carries one; unused here
    with atomic_path(path) as tmp:
        torch.save({"epoch": 0, "lr": 0.0, "random_state": random_state, "optimizer": {}, "model_pos": state,
                    "skeleton": model.config.skeleton}, tmp)


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
