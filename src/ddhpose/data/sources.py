"""Turn a :class:`~ddhpose.experiment.DataConfig` into the train or test sequences.

- 'h36m': VideoPose3D files through the real cameras (2D file or ground-truth projection);
- '3dhp': the released MPI-INF-3DHP files;
- 'mocap': BVH / ASF-AMC clips (and optionally Human3.6M world motion from ``path_3d``), each
  filmed by ``cameras_per_clip`` random virtual cameras; Human3.6M motion is also seen through
  its 4 real cameras;
- 'synthetic': generated walking skeletons (no files).
"""
from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ddhpose.data.h36m import load_h36m, world_positions
from ddhpose.data.motion_pack import MotionPack, write_pack
from ddhpose.data.mpi3dhp import load_3dhp_test, load_3dhp_train
from ddhpose.data.retarget import load_mocap
from ddhpose.data.sequence import PoseSequence
from ddhpose.data.synthetic import synthetic_sequences
from ddhpose.data.virtual_camera import camera_for_sequence, make_training_pair
from ddhpose.experiment import DataConfig
from ddhpose.safe_pickle import load_npz
from ddhpose.seeding import SeedTag, derive_seed

# Long clips are cut into segments of at most this many seconds, each with its own cameras, so
# motion that covers a lot of ground stays in view.
_SEGMENT_SECONDS = 20.0


def virtual_camera_options(data: DataConfig) -> dict:
    """The keyword arguments of :func:`camera_for_sequence` that film a config's mocap."""
    if data.camera_wide:
        kwargs = dict(wide=True, focal=tuple(data.camera_focal), fill=tuple(data.camera_fill),
                      height=tuple(data.camera_height), roll=data.camera_roll, offcentre=data.camera_offcentre)
    else:
        kwargs = dict(distance=tuple(data.camera_distance), focal=tuple(data.camera_focal),
                      height=tuple(data.camera_height))
    return {**kwargs, "min_inside": 0.8}


def _virtual_views(world: np.ndarray | torch.Tensor, data: DataConfig, rng: np.random.Generator, subject: str,
                   action: str) -> list[PoseSequence]:
    kwargs = virtual_camera_options(data)
    length = max(1, int(_SEGMENT_SECONDS * data.mocap_fps))
    out = []
    for start in range(0, len(world), length):
        part = world[start:start + length]
        for _ in range(data.cameras_per_clip):
            camera = camera_for_sequence(rng, part, **kwargs)
            out.append(make_training_pair(part, camera, subject=subject, action=action))
    return out


def _matches(patterns: Sequence[str]) -> set[str]:
    return {os.path.normpath(f) for p in patterns for f in glob.glob(os.path.expanduser(p), recursive=True)}


def mocap_clips(patterns: Sequence[str], fps: float, exclude: Sequence[str] = ()) -> list[tuple[str, np.ndarray]]:
    """(path, (T, 17, 3) world metres at ``fps``) of every clip matching ``patterns`` (globs) but
    none of ``exclude``, in sorted path order."""
    files = sorted(_matches(patterns) - _matches(exclude))
    if patterns and not files:
        raise ValueError(f"data.mocap_*: no .bvh / .amc files match {list(patterns)}"
                         + (f" outside the test clips {list(exclude)}" if exclude else ""))
    return [(path, np.asarray(load_mocap(path, fps=fps), dtype=np.float32)) for path in files]


def film_clips(clips: Sequence[tuple[str, np.ndarray | torch.Tensor]], data: DataConfig, seed: int) -> list[PoseSequence]:
    """Each (path, world motion) clip filmed by ``cameras_per_clip`` virtual cameras per segment,
    named by the file's stem."""
    rng, out = np.random.default_rng(seed), []
    for path, world in clips:
        name = Path(path).stem
        out += _virtual_views(world, data, rng, subject=name, action=name)
    return out


def mocap_sequences(patterns: Sequence[str], data: DataConfig, seed: int,
                    exclude: Sequence[str] = ()) -> list[PoseSequence]:
    """Every clip matching ``patterns`` (globs) but none of ``exclude``, filmed by
    ``cameras_per_clip`` virtual cameras."""
    return film_clips(mocap_clips(patterns, data.mocap_fps, exclude), data, seed)


def h36m_positions(path_3d: str, subjects: Sequence[str]) -> dict:
    """{subject: {take: (T, 17 or 32, 3)}} of ``subjects`` from a VideoPose3D file's ``positions_3d``."""
    positions = load_npz(path_3d).get("positions_3d")
    if not isinstance(positions, dict):
        raise ValueError(f"{path_3d}: expected a 'positions_3d' dict (VideoPose3D layout)")
    for subject in subjects:
        if subject not in positions:
            raise ValueError(f"{path_3d}: no subject {subject!r}; the file has {sorted(positions)}")
    return {subject: positions[subject] for subject in subjects}


def h36m_virtual_sequences(path_3d: str, subjects: Sequence[str], data: DataConfig, seed: int,
                           positions: dict | None = None) -> list[PoseSequence]:
    """Human3.6M world motion of ``subjects`` filmed by random virtual cameras (downsampled to
    ``data.mocap_fps`` from 50 fps by taking every n-th frame); ``positions`` instead of reading
    ``path_3d`` (which then only names the source)."""
    positions = h36m_positions(path_3d, subjects) if positions is None else positions
    step = max(1, round(50 / data.mocap_fps))
    rng, out = np.random.default_rng(seed), []
    for subject in subjects:
        for action, value in sorted(positions[subject].items()):
            world = world_positions(value, f"{path_3d}:{subject}/{action}")[::step]
            out += _virtual_views(world, data, rng, subject=subject, action=action)
    return out


def _mocap_split(data: DataConfig, train: bool, seed: int) -> list[PoseSequence]:
    """The 'mocap' dataset's train or test sequences, from the files or ``data.motion_pack``."""
    pack = None
    if data.motion_pack:
        pack = MotionPack(data.motion_pack)
        for name in ("mocap_train", "mocap_test", "mocap_fps"):
            pack.require(name, getattr(data, name))
        clips = sorted(pack.clips("mocap_train" if train else "mocap_test").items())
    else:  # a clip matched by a test pattern is never trained on, whatever the train patterns say
        clips = mocap_clips(data.mocap_train if train else data.mocap_test, data.mocap_fps,
                            exclude=data.mocap_test if train else ())
    out = film_clips(clips, data, derive_seed(seed, SeedTag.MOCAP, int(train)))
    if data.path_3d:
        subjects = data.train_subjects if train else data.test_subjects
        positions = None if pack is None else pack.h36m(subjects)
        out += load_h36m(data.path_3d, subjects=subjects, positions=positions)
        if train:  # held-out subjects are measured through the real cameras only
            out += h36m_virtual_sequences(data.path_3d, subjects, data, derive_seed(seed, SeedTag.MOCAP, 2),
                                          positions=positions)
    return out


def write_motion_pack(data: DataConfig, path: str | os.PathLike) -> int:
    """Pack the motion a 'mocap' config trains and monitors on (:mod:`ddhpose.data.motion_pack`):
    its train and test clips and the Human3.6M motion of its train and test subjects. Returns
    the file's size in bytes."""
    if data.dataset != "mocap":
        raise ValueError(f"a motion pack holds a 'mocap' config's motion; data.dataset is {data.dataset!r}")
    clips = [(f"mocap_train/{p}", w) for p, w in mocap_clips(data.mocap_train, data.mocap_fps, data.mocap_test)]
    clips += [(f"mocap_test/{p}", w) for p, w in mocap_clips(data.mocap_test, data.mocap_fps)]
    subjects = list(dict.fromkeys(data.train_subjects + data.test_subjects)) if data.path_3d else []
    if subjects:
        for s, takes in h36m_positions(data.path_3d, subjects).items():
            clips += [(f"h36m/{s}/{take}", world_positions(v, f"{data.path_3d}:{s}/{take}"))
                      for take, v in takes.items()]  # file order, as load_h36m reads it
    meta = {"mocap_train": list(data.mocap_train), "mocap_test": list(data.mocap_test),
            "mocap_fps": data.mocap_fps, "subjects": subjects}
    return write_pack(path, clips, meta)


def load_split(data: DataConfig, split: str, seed: int = 0) -> list[PoseSequence]:
    """The 'train' or 'test' sequences a :class:`DataConfig` names (test may be empty)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    train = split == "train"
    if data.dataset == "synthetic":
        count = data.synthetic_sequences if train else data.synthetic_test_sequences
        return synthetic_sequences(count, data.synthetic_frames, derive_seed(seed, SeedTag.SYNTHETIC, int(train)))
    if data.dataset == "mocap":
        return _mocap_split(data, train, seed)
    if not data.path_3d:
        raise ValueError(f"data.path_3d must name the {data.dataset} training file")
    if data.dataset == "h36m":
        return load_h36m(data.path_3d, data.path_2d or None, actions=data.actions or None,
                         subjects=data.train_subjects if train else data.test_subjects,
                         cameras=None if train or not data.test_cameras else data.test_cameras)
    if train:
        return load_3dhp_train(data.path_3d)
    return load_3dhp_test(data.test_path) if data.test_path else []
