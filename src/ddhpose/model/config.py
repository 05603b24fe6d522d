"""Typed configuration of the model; saved inside every checkpoint and rebuilt from it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ddhpose.skeleton import Skeleton, get_skeleton, skeleton_from_parents


@dataclass
class ModelConfig:
    """Everything needed to rebuild a DDHPose model. Defaults are the paper's Human3.6M setting.

    The ablation switches reproduce the paper's Tables 4-6:
      ``diffusion='xyz'`` noises joint coordinates as D3DP does instead of bone lengths and
      directions; ``disentangled_output`` composes the pose from predicted lengths and
      directions; ``hierarchy_embedding``, ``hrst`` and ``hrtt`` switch the three parts of the
      hierarchical denoiser (all off = the MixSTE-style baseline). ``child_layout`` chooses
      how HRTT's child features meet the temporal tokens: 'released' (the authors' code, which
      reshapes instead of rearranging them; released checkpoints need it) or 'aligned' (each
      token sees its own joint's children, as the paper describes).

    Released behaviours (defaults) and their alternatives, docs/implementation_notes.md:
      ``hrst_updates``: 'chain' updates a triplet of a prefix shared by several chains once
      per chain (the release); 'triplet' once (the paper's Algorithm 1 read literally).
      ``init``: 'trunc_normal' (the project: Linear weights and position embeddings
      N(0, 0.02) truncated, LayerNorm 1 / 0) or 'released' (PyTorch's default Linear
      initialisation, position embeddings zero; the release never calls trunc_normal_).
      ``ddim_update``, ``ddim_float64``: see :class:`ddhpose.model.diffusion.DDIMSampler`.
      ``eps_slots``: 'released' pairs the bones, in order, with the noisy state's slots
      1..J-1 when computing epsilon (as the release's samplers do: right for Human3.6M, whose
      root is joint 0; off by one slot for MPI-INF-3DHP, whose root is joint 14); 'bones'
      pairs every bone with its own slot.

    Beyond the paper: ``lens_input`` gives the denoiser the camera's focal length (the log of
    the screen-normalised fx, 2 f / width, one value per clip) through a learnt embedding added
    to every token, so the 2D's perspective can be read against the lens that made it (a short
    lens close up, a long one far off). Its embedding starts at zero: a model fine-tuned from
    one without it starts from that model's outputs. Off by default (the paper's model).
    ``lens_dropout``: the share of training windows given no focal length (a lens of NaN: no
    embedding added), so the model also lifts without one; the lifter then gives it none where it
    only assumes the focal length. 0: every window has its lens.
    """

    skeleton: str = "h36m"
    parents: tuple[int, ...] = ()
    joints_left: tuple[int, ...] = ()
    joints_right: tuple[int, ...] = ()
    frames: int = 243
    channels: int = 512
    depth: int = 8
    heads: int = 8
    mlp_ratio: float = 2.0
    drop_path: float = 0.1
    timesteps: int = 1000
    scale: float = 1.0
    diffusion: str = "disentangled"
    disentangled_output: bool = False
    hierarchy_embedding: bool = True
    hrst: bool = True
    hrtt: bool = True
    child_layout: str = "released"
    hrst_updates: str = "chain"
    init: str = "trunc_normal"
    ddim_update: str = "released"
    ddim_float64: bool = True
    eps_slots: str = "released"
    lens_input: bool = False
    lens_dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.diffusion not in ("disentangled", "xyz"):
            raise ValueError(f"diffusion must be 'disentangled' or 'xyz', got {self.diffusion!r}")
        if self.child_layout not in ("released", "aligned"):
            raise ValueError(f"child_layout must be 'released' or 'aligned', got {self.child_layout!r}")
        for name, allowed in (("hrst_updates", ("chain", "triplet")), ("init", ("trunc_normal", "released")),
                              ("ddim_update", ("released", "consistent")), ("eps_slots", ("released", "bones"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        if self.channels % self.heads:
            raise ValueError(f"channels ({self.channels}) must be divisible by heads ({self.heads})")
        if self.channels % 2:
            raise ValueError(f"channels must be even for the sinusoidal time embedding, got {self.channels}")
        if not 0.0 <= self.lens_dropout < 1.0 or (self.lens_dropout and not self.lens_input):
            raise ValueError(f"lens_dropout must be in [0, 1) and needs lens_input, got {self.lens_dropout}")
        if self.depth < 1 or self.frames < 1 or self.timesteps < 1:
            raise ValueError("depth, frames and timesteps must be positive")
        self.parents = tuple(self.parents)
        self.joints_left = tuple(self.joints_left)
        self.joints_right = tuple(self.joints_right)
        self.get_skeleton()  # validates a custom skeleton early

    def get_skeleton(self) -> Skeleton:
        if self.parents:
            return skeleton_from_parents(self.parents, self.joints_left, self.joints_right)
        return get_skeleton(self.skeleton)

    @property
    def num_joints(self) -> int:
        return self.get_skeleton().num_joints

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config keys {unknown}; expected some of {sorted(known)}")
        return cls(**data)
