"""Experiment configuration: typed dataclasses, YAML files and dotted command-line overrides.

A config file has up to four sections, ``model`` (:class:`ddhpose.model.config.ModelConfig`),
``data``, ``train`` and ``eval``, plus an optional ``base: NAME`` naming a file it extends::

    base: h36m
    model: {diffusion: xyz}

Every value is type-checked against the dataclass field it sets, and an unknown key is an error
that names the valid ones. Overrides such as ``train.epochs=3 model.hrst=false`` are parsed
as YAML scalars and checked the same way. A name without a path (``tiny``) is one of the
packaged files in ``ddhpose/configs``.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import yaml

from ddhpose.files import atomic_write_text
from ddhpose.model.config import ModelConfig

DATASETS = ("h36m", "3dhp", "mocap", "synthetic")
#: Learning-rate schedules (:func:`ddhpose.training.schedule.learning_rate`).
SCHEDULES = ("exponential", "cosine", "constant")


@dataclass(frozen=True)
class Noise2D:
    """2D augmentation mimicking detector error, in screen-normalised units (2 / image width).

    sigma: Gaussian jitter on every joint. outlier_prob / outlier_sigma: chance per joint and
    frame of an extra, larger Gaussian displacement. drop_prob: chance per joint and frame that a
    detection is lost and replaced by the mean of its temporal neighbours. drift: a slowly varying
    offset per joint, as trackers show: over a window, a constant N(0, drift) plus a linear ramp
    whose end-to-end change is N(0, drift). occlusion: chance per window that one limb (an end
    joint, alone or with its parent: a hand, a forearm, a foot, a shank, the head) is hidden for a
    run of 1 to F - 1 frames and filled as the lifter fills gaps (its offset from the root
    interpolated over time, :func:`ddhpose.data.windows.occlude_limb`). offset: where a detector's
    keypoints sit on the body against the joint centres (hips and knees 30-50 mm off, ankles
    1-15 mm, as Needham et al. 2021 measured for OpenPose, AlphaPose and DeepLabCut): a constant
    offset per joint over a window, N(0, offset x the person's 2D size x the joint's weight of
    :data:`ddhpose.data.windows.DETECTOR_OFFSET_WEIGHTS`) in each coordinate. All off by default
    (:attr:`active` is False).
    """

    sigma: float = 0.0
    outlier_prob: float = 0.0
    outlier_sigma: float = 0.05
    drop_prob: float = 0.0
    drift: float = 0.0
    occlusion: float = 0.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        for name in ("outlier_prob", "drop_prob", "occlusion"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"data.noise_2d.{name} is a chance, expected in [0, 1], got {getattr(self, name)}")
        if not self.offset >= 0:
            raise ValueError(f"data.noise_2d.offset is a fraction of the person's height, expected >= 0, got {self.offset}")

    @property
    def active(self) -> bool:
        return bool(self.sigma or self.outlier_prob or self.drop_prob or self.drift or self.occlusion or self.offset)


@dataclass
class DataConfig:
    """Where the training and test sequences come from.

    dataset: 'h36m' (``path_3d`` = VideoPose3D data_3d_h36m.npz, ``path_2d`` = a
        data_2d_h36m_<source>.npz or '' for ground-truth 2D), '3dhp' (``path_3d`` =
        data_train_3dhp.npz, ``test_path`` = data_test_3dhp.npz), 'mocap' (BVH / AMC globs seen
        through ``cameras_per_clip`` random virtual cameras) or 'synthetic' (walking skeletons
        generated in code; needs no files). Relative paths are relative to the working folder.
    camera_*: the virtual cameras of 'mocap' clips: ``camera_distance`` (m), ``camera_focal``
        (px) and ``camera_height`` (m) ranges around the subject, or with ``camera_wide`` any
        image format, focal length in ``camera_focal``, a distance that makes the subject fill
        ``camera_fill`` of the image, the subject up to ``camera_offcentre`` of the half-image
        off centre and up to ``camera_roll`` degrees of roll
        (:func:`ddhpose.data.virtual_camera.wide_camera`).
    bone_scale, body_scale: per-clip bone-length augmentation (0: off): every bone scaled by
        exp(N(0, bone_scale)) (left and right alike) and the whole body by exp(N(0, body_scale)),
        then the pose recomposed from its directions and re-projected
        (:func:`ddhpose.data.windows.scale_bones`).
    oversample: repeat-factor threshold for rare motion classes (0: off): windows holding a class
        seen on fewer than this fraction of the training frames are used up to
        sqrt(oversample / fraction) times per epoch (:func:`ddhpose.data.windows.repeat_factors`).
    motion_pack: a 'mocap' config's motion read from one compact file instead of its BVH / AMC
        globs and ``path_3d`` (:mod:`ddhpose.data.motion_pack`, made by ``tools/gpu_train.py pack``
        from the same config; a pack made for other globs, rate or subjects is refused).
    noise_2d: detector-like 2D augmentation, its own sub-section (:class:`Noise2D`; off by default),
        e.g. ``noise_2d: {sigma: 0.003, drift: 0.01}`` or ``data.noise_2d.sigma=0.003``.
    """

    dataset: str = "synthetic"
    path_3d: str = ""
    path_2d: str = ""
    test_path: str = ""
    train_subjects: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    test_subjects: list[str] = field(default_factory=lambda: ["S9", "S11"])
    actions: list[str] = field(default_factory=list)  # empty: every action
    test_cameras: list[int] = field(default_factory=list)  # Human3.6M camera indices to test on; empty: all 4
    mocap_train: list[str] = field(default_factory=list)
    mocap_test: list[str] = field(default_factory=list)
    mocap_fps: float = 50.0
    motion_pack: str = ""
    cameras_per_clip: int = 4
    camera_distance: tuple[float, float] = (3.5, 6.5)
    camera_focal: tuple[float, float] = (1100.0, 1190.0)
    camera_height: tuple[float, float] = (0.8, 2.0)
    camera_wide: bool = False
    camera_fill: tuple[float, float] = (0.3, 0.9)
    camera_roll: float = 10.0
    camera_offcentre: float = 0.6
    bone_scale: float = 0.0
    body_scale: float = 0.0
    oversample: float = 0.0
    synthetic_sequences: int = 8
    synthetic_test_sequences: int = 2
    synthetic_frames: int = 100
    flip: bool = True
    random_offset: bool = False
    noise_2d: Noise2D = field(default_factory=Noise2D)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"data.dataset must be one of {list(DATASETS)}, got {self.dataset!r}")
        for name in ("bone_scale", "body_scale", "oversample"):
            if getattr(self, name) < 0:
                raise ValueError(f"data.{name} expected >= 0 (0: off), got {getattr(self, name)}")


@dataclass
class TrainConfig:
    """Optimisation. ``batch_size`` is global (split over the DDP ranks); the learning rate
    follows ``schedule`` (:mod:`ddhpose.training.schedule`: 'exponential' = ``lr * lr_decay ** epoch``
    as released, 'cosine' = warm-up then cosine to ``lr * min_lr_ratio``, 'constant'), with a
    linear warm-up over ``warmup_steps``. 0 disables ``max_steps_per_epoch`` and ``grad_clip``.
    ``amp='bf16'`` with ``compile`` is the fastest CPU setting (benchmarks/train_speed.py).
    ``init_from``: a checkpoint (.safetensors, released .bin or training .pt) whose weights start
    the run instead of a fresh initialisation (fine-tuning: the optimiser and schedule start anew);
    its model must match ``model`` but for ``frames`` (the temporal position embedding is then
    resampled: :func:`ddhpose.training.train.resample_frames`). ``gradient``: 'plain' (loss.backward()) or 'released'
    (loss.backward(loss) as the released main.py: the gradient of loss^2 / 2,
    :mod:`ddhpose.training.step`). ``loss_units``: 'm' (the terms on metres, as the released
    Human3.6M training) or 'mm' (on millimetres, as the released MPI-INF-3DHP training: the
    pose term x1000, the squared length term x10^6, the direction term unchanged,
    :mod:`ddhpose.training.losses`)."""

    epochs: int = 400
    batch_size: int = 4
    lr: float = 1e-4
    lr_decay: float = 0.993
    schedule: str = "exponential"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    loss_form: str = "released"
    loss_units: str = "m"
    w_len: float = 1.0
    w_dir: float = 1.0
    disentangle: bool = True
    checkpoint_every: int = 1
    eval_every: int = 1
    seed: int = 0
    amp: str = "none"
    compile: bool = False
    num_workers: int = 0
    max_steps_per_epoch: int = 0
    grad_clip: float = 0.0
    log_every: int = 50
    tensorboard: bool = True
    init_from: str = ""
    gradient: str = "plain"

    def __post_init__(self) -> None:
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"train.amp must be 'none', 'bf16' or 'fp16', got {self.amp!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"train.schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}")
        if self.gradient not in ("plain", "released"):
            raise ValueError(f"train.gradient must be 'plain' or 'released', got {self.gradient!r}")
        if self.loss_form not in ("released", "l2"):
            raise ValueError(f"train.loss_form must be 'released' or 'l2', got {self.loss_form!r}")
        if self.loss_units not in ("m", "mm"):
            raise ValueError(f"train.loss_units must be 'm' or 'mm', got {self.loss_units!r}")
        for name in ("epochs", "batch_size", "checkpoint_every", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class EvalConfig:
    """The short evaluation run during training (MPJPE, MPJVE and acceleration error of the mean
    hypothesis at the last DDIM iteration). ``max_sequences`` > 0 monitors only that many test
    sequences, evenly spaced over the test set; ``max_frames`` > 0 keeps only the first frames
    of every test sequence, in the monitor and in ``ddhpose evaluate`` (a cheaper subset; the
    full protocol uses every frame)."""

    hypotheses: int = 1
    iterations: int = 1
    flip: bool = True
    batch_size: int = 64
    max_sequences: int = 0
    max_frames: int = 0


@dataclass
class ExperimentConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-friendly containers (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExperimentConfig":
        return _build(cls, _upgrade(data), "")

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


#: Keys of the data section before noise_2d was a sub-section (run folders and checkpoints keep
#: them): ``noise_2d_sigma`` -> ``noise_2d.sigma``, ...
_LEGACY_NOISE = {f"noise_2d_{name}": name for name in ("sigma", "outlier_prob", "outlier_sigma", "drop_prob", "drift")}


def _upgrade(data: Any) -> Any:
    """A raw config dict with the data section's flat ``noise_2d_*`` keys moved into ``noise_2d``."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        return data
    section = dict(data["data"])
    moved = {_LEGACY_NOISE[k]: section.pop(k) for k in list(section) if k in _LEGACY_NOISE}
    if moved:
        nested = section.get("noise_2d")
        section["noise_2d"] = {**(nested if isinstance(nested, dict) else {}), **moved}
    return {**data, "data": section}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


#: typing.Union, and the X | Y type of Python >= 3.10
_UNIONS = (typing.Union, getattr(types, "UnionType", typing.Union))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type annotation ``tp``; returns the value converted."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in _UNIONS:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(errors[0] if errors else f"{where}: expected {tp}, got {value!r}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin is list and isinstance(value, str):
        value = [value]  # a single path or name where a list is expected
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ValueError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        items = [_coerce(v, args[0], f"{where}[{i}]") if args else v for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads '1e-4' as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ValueError(f"{where}: unsupported field type {tp}")


def _build(cls: type, data: Any, where: str) -> Any:
    """Construct dataclass ``cls`` from a dict, type-checking every field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping of {cls.__name__} fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown key(s) {unknown}; valid keys are {names}")
    values = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}" if where else str(err)) from None


def available_configs() -> list[str]:
    """Names of the packaged configs."""
    root = resources.files("ddhpose") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_yaml(path_or_name: str | Path) -> tuple[dict[str, Any], str, Path | None]:
    """(data, source name for messages, folder of a user file or None for a packaged one)."""
    text_path = str(path_or_name)
    if Path(text_path).suffix in (".yaml", ".yml") or "/" in text_path or "\\" in text_path:
        path = Path(text_path)
        if not path.is_file():
            raise ValueError(f"config file {path} does not exist")
        text, source, folder = path.read_text(encoding="utf-8"), str(path), path.parent
    else:
        resource = resources.files("ddhpose") / "configs" / f"{text_path}.yaml"
        if not resource.is_file():
            raise ValueError(f"no packaged config named {text_path!r}; available: {available_configs()} "
                             "(or give a path to a .yaml file)")
        text, source, folder = resource.read_text(encoding="utf-8"), f"configs/{text_path}.yaml", None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{source}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping with sections model/data/train/eval")
    return data, source, folder


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _load_raw(path_or_name: str | Path, seen: tuple[str, ...] = ()) -> tuple[dict[str, Any], str]:
    data, source, folder = _read_yaml(path_or_name)
    if source in seen:
        raise ValueError(f"{source}: 'base' chain loops through {list(seen)}")
    base = data.pop("base", None)
    if base is not None:
        if isinstance(base, str) and folder is not None:  # relative to the file that names it
            sibling = folder / (base if Path(base).suffix in (".yaml", ".yml") else f"{base}.yaml")
            base = str(sibling) if sibling.is_file() else base
        data = _merge(_load_raw(base, seen + (source,))[0], data)
    sections = [f.name for f in dataclasses.fields(ExperimentConfig)]
    unknown = sorted(set(data) - set(sections))
    if unknown:
        raise ValueError(f"{source}: unknown section(s) {unknown}; valid sections are {sections + ['base']}")
    return data, source


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Set ``section.key=value`` (or ``section.subsection.key=value``) items, values parsed as
    YAML, in a raw config dict."""
    out = _upgrade(_merge({}, data))
    hints = typing.get_type_hints(ExperimentConfig)
    sections = list(hints)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if len(parts) == 2 and parts[0] == "data" and parts[1] in _LEGACY_NOISE:  # the flat name of before
            parts = ["data", "noise_2d", _LEGACY_NOISE[parts[1]]]
        if not sep or len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"override {item!r}: expected SECTION.KEY=VALUE, e.g. train.epochs=3")
        if parts[0] not in sections:
            raise ValueError(f"override {item!r}: unknown section {parts[0]!r}; valid sections are {list(sections)}")
        holder, target = hints[parts[0]], out
        for depth, name in enumerate(parts[1:], start=1):
            names = [f.name for f in dataclasses.fields(holder)]
            if name not in names:
                where = ".".join(parts[:depth])
                raise ValueError(f"override {item!r}: unknown key {name!r} in {where}; valid keys are {names}")
            parent = parts[depth - 1]
            if not isinstance(target.get(parent), dict):
                target[parent] = {}
            target = target[parent]
            field_type = typing.get_type_hints(holder)[name]
            if depth < len(parts) - 1:
                if not dataclasses.is_dataclass(field_type):
                    raise ValueError(f"override {item!r}: {'.'.join(parts[:depth + 1])} has no keys of its own")
                holder = field_type
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: value is not valid YAML ({err})") from None
        target[parts[-1]] = value
    return out


def load_config(path_or_name: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML config (a path, or a packaged name like 'tiny') and apply dotted overrides."""
    data, source = _load_raw(path_or_name)
    data = apply_overrides(data, overrides)
    try:
        return ExperimentConfig.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{source}{' with overrides' if overrides else ''}: {err}") from None
