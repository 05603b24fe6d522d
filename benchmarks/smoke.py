"""Tiny stand-ins for the benchmarks' ``--smoke`` mode.

``--smoke`` runs a script's own measuring code end to end on data and models small enough to
finish in seconds, and writes into a temporary folder (never into docs/): tests/test_benchmarks.py
runs every script that way, so a benchmark that no longer runs is found by the test suite, not by
the next person who needs its figures. Smoke figures measure nothing.

What stands in for what:

- the datasets of the ``wild`` config (Human3.6M motion under ./data, the held-out mocap): a
  Human3.6M motion file in the VideoPose3D layout written from ``ddhpose.data.synthetic``
  (subjects S9 and S11, one walk each, seen through the real Human3.6M cameras by the package's
  own loader), and one held-out mocap clip: the CMU 02_01 walk of tests/fixtures, filmed by the
  config's virtual cameras;
- the bundled model, where the weights do not matter to the code path: a tiny random model
  (F=9, C=32, depth 2).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
#: A held-out mocap clip (CMU 02_01, walking), Human3.6M-17 world joints, metres, z up, 25 fps.
WALK = FIXTURES / "cmu_02_01_walk_world.npz"
#: A real clip with two people (for the scripts that need the video extra).
CLIP = FIXTURES / "sports2d_demo_3s.mp4"
HELP = ("run the script's measuring code on tiny synthetic data and models in seconds, writing into a "
        "temporary folder (a check that the script runs, not a measurement)")
#: Config overrides of a tiny model (the test suite's size).
TINY_MODEL = ["model.frames=9", "model.channels=32", "model.depth=2", "model.heads=4"]


def folder(name: str) -> Path:
    """A fresh temporary folder for one smoke run's outputs and stand-in data."""
    return Path(tempfile.mkdtemp(prefix=f"ddhpose_smoke_{name}_"))


def tiny_checkpoint(where: Path, seed: int = 0) -> Path:
    """A tiny random model saved in the package's format; returns its path."""
    from ddhpose.model.checkpoint import save_checkpoint
    from ddhpose.model.config import ModelConfig
    from ddhpose.model.ddhpose import DDHPose
    path = Path(where) / "tiny.safetensors"
    if not path.exists():
        torch.manual_seed(seed)
        save_checkpoint(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), path)
    return path


def h36m_motion(where: Path, frames: int = 150, seed: int = 0) -> Path:
    """A Human3.6M motion file (VideoPose3D layout: ``positions_3d`` subject -> take -> (N, 17, 3)
    world metres, z up, 50 fps) with one synthetic walk for each test subject; returns its path."""
    from ddhpose.data.synthetic import synthetic_motion
    path = Path(where) / "data_3d_h36m_smoke.npz"
    if not path.exists():
        gen = torch.Generator().manual_seed(seed)
        positions = {subject: {"Walking 1": synthetic_motion(frames, gen).numpy().astype(np.float32)}
                     for subject in ("S9", "S11")}
        np.savez(path, positions_3d=np.array(positions, dtype=object))
    return path


def held_out_worlds() -> dict[str, np.ndarray]:
    """Name -> (F, 17, 3) world joints (metres, z up, 25 fps) of the stand-in held-out mocap."""
    with np.load(WALK, allow_pickle=False) as data:
        return {"cmu_02_01_walk": data["world"].astype(np.float64)}


def config_overrides(where: Path) -> list[str]:
    """Overrides of the ``wild`` config that point its data at the stand-ins (the Human3.6M file;
    no mocap files: :func:`stand_in_split` adds the held-out clip)."""
    return [f"data.path_3d={h36m_motion(where)}", "data.mocap_test=[]", "data.cameras_per_clip=1"]


def stand_in_split(cfg, seed: int = 0) -> list:
    """The stand-in of ``load_split(cfg.data, 'test', seed)`` for a config made with
    :func:`config_overrides`: the Human3.6M test subjects through the real cameras (the package's
    loader) and the held-out clip through one of the config's virtual cameras."""
    from ddhpose.data.sources import load_split, virtual_camera_options
    from ddhpose.data.virtual_camera import camera_for_sequence, make_training_pair
    rng = np.random.default_rng(seed)
    out = load_split(cfg.data, "test", seed)
    for name, world in held_out_worlds().items():
        camera = camera_for_sequence(rng, world, **virtual_camera_options(cfg.data))
        out.append(make_training_pair(world, camera, subject=name, action=name))
    return out


def has_video_extra() -> bool:
    """Whether MediaPipe (the video extra) is installed."""
    import importlib.util
    return importlib.util.find_spec("mediapipe") is not None
