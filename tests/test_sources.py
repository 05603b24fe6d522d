"""Which clips a 'mocap' config trains and tests on: a test clip is never trained on."""
from __future__ import annotations

import pytest
import torch

from ddhpose.data import sources
from ddhpose.experiment import DataConfig


def _walk(path, fps):
    t = torch.linspace(0, 1, 30, dtype=torch.float64)[:, None, None]
    pose = torch.zeros(30, 17, 3, dtype=torch.float64)
    pose[..., 2] = torch.linspace(0.1, 1.7, 17, dtype=torch.float64)  # a standing column of joints
    pose[..., 0] = torch.linspace(-0.2, 0.2, 17, dtype=torch.float64)
    pose[:, 0] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    return (pose + t * torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)).float()


def test_test_clips_are_excluded_from_training(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "load_mocap", _walk)
    for name in ("walk_normal_001.bvh", "walk_tired_001.bvh", "run_normal_002.bvh", "run_sad_001.bvh"):
        (tmp_path / name).write_text("")
    data = DataConfig(dataset="mocap", mocap_train=[str(tmp_path / "*_[!n]*_0*.bvh")],  # also matches *_normal_*
                      mocap_test=[str(tmp_path / "*_normal_*.bvh")], cameras_per_clip=1, mocap_fps=30)
    train = {s.subject for s in sources.load_split(data, "train")}
    test = {s.subject for s in sources.load_split(data, "test")}
    assert train == {"walk_tired_001", "run_sad_001"}
    assert test == {"walk_normal_001", "run_normal_002"}
    data.mocap_train = [str(tmp_path / "*_normal_*.bvh")]
    with pytest.raises(ValueError, match="outside the test clips"):  # only test clips left to train on
        sources.load_split(data, "train")


def test_wide_cameras_from_the_config(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "load_mocap", _walk)
    (tmp_path / "a.bvh").write_text("")
    data = DataConfig(dataset="mocap", mocap_train=[str(tmp_path / "a.bvh")], cameras_per_clip=8, mocap_fps=30,
                      camera_wide=True, camera_focal=(500.0, 3000.0))
    seqs = sources.load_split(data, "train")
    assert len(seqs) == 8
    assert len({s.image_size for s in seqs}) > 2
    focal_px = [s.intrinsics[0] * s.image_size[0] / 2 for s in seqs]
    assert min(focal_px) >= 500 - 1e-3 and max(focal_px) <= 3000 + 1e-3
