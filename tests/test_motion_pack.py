"""The motion pack: the same sequences as the source files, to the millimetre rounding."""
from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
import torch

from ddhpose.data import sources
from ddhpose.data.motion_pack import MotionPack, decode, encode, write_pack
from ddhpose.experiment import DataConfig


def _clip(path, fps):
    """A different walk per file (speed and sway from the name), (T, 17, 3) float32 metres."""
    k = zlib.crc32(str(path).encode()) % 97 / 97.0
    t = torch.linspace(0, 2, 60, dtype=torch.float64)[:, None, None]
    pose = torch.zeros(60, 17, 3, dtype=torch.float64)
    pose[..., 2] = torch.linspace(0.1, 1.7, 17, dtype=torch.float64)
    pose[..., 0] = torch.linspace(-0.2, 0.2, 17, dtype=torch.float64)
    pose[:, 0] = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    pose = pose + 0.05 * torch.sin(7 * t + 3 * k)
    pose = pose + t * torch.tensor([0.5 + k, 0.3 * k, 0.0], dtype=torch.float64)
    return (torch.round(pose * 1000) / 1000).float()  # whole millimetres: a pack holds them exactly


def test_codes_whole_millimetres_frame_to_frame():
    rng = np.random.default_rng(0)
    world = np.cumsum(rng.normal(0, 0.02, (50, 17, 3)), axis=0) + 3.0
    steps = encode(world)
    assert steps.dtype == np.int16
    np.testing.assert_array_equal(steps[0], np.round(world[0] * 1000))
    # decoding is the cumulative sum of integers: exact to the rounding, no drift over the clip
    assert np.abs(decode(steps) - world).max() <= 0.0005 + 4 * np.finfo(np.float32).eps
    far = world.copy()
    far[25:] += 40.0  # a 40 m step does not fit int16 millimetres
    assert encode(far).dtype == np.int32
    assert np.abs(decode(encode(far)) - far).max() <= 0.0005 + 64 * np.finfo(np.float32).eps
    with pytest.raises(ValueError, match="integer"):
        decode(world)


def test_pack_is_read_back_and_checked(tmp_path):
    path = tmp_path / "p.npz"
    world = np.zeros((4, 17, 3), np.float32)
    write_pack(path, [("mocap_train/a.bvh", world), ("h36m/S1/Walk", world + 1)], {"mocap_fps": 25.0, "subjects": ["S1"]})
    pack = MotionPack(path)
    assert list(pack.clips("mocap_train")) == ["a.bvh"] and list(pack.h36m(["S1"])["S1"]) == ["Walk"]
    np.testing.assert_allclose(pack.h36m(["S1"])["S1"]["Walk"], 1.0)
    with pytest.raises(ValueError, match=r"no Human3.6M motion of subjects \['S9'\]"):
        pack.h36m(["S1", "S9"])
    with pytest.raises(ValueError, match=r"made for data.mocap_fps=25.0, the config asks for 50.0"):
        pack.require("mocap_fps", 50.0)
    with pytest.raises(ValueError, match="outside the groups"):
        write_pack(tmp_path / "q.npz", [("other/a", world)], {})
    with pytest.raises(ValueError, match="repeated"):
        write_pack(tmp_path / "q.npz", [("mocap_test/a", world), ("mocap_test/a", world)], {})
    assert not (tmp_path / "q.npz").exists()  # nothing half-written
    np.savez(tmp_path / "r.npz", meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(ValueError, match="meta.format"):
        MotionPack(tmp_path / "r.npz")
    np.savez(tmp_path / "s.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a motion pack"):
        MotionPack(tmp_path / "s.npz")


def _h36m_file(path):
    rng = np.random.default_rng(1)
    template = rng.uniform(-0.4, 0.4, size=(17, 3))
    template[0] = 0

    def take(n, k):
        root = np.array([0.2, -0.3, 0.95]) + np.linspace(0, 0.5 + k, n)[:, None] * np.array([1.0, 0.5, 0.0])
        world = root[:, None] + template + 0.01 * rng.standard_normal((n, 17, 3))
        return (np.round(world * 1000) / 1000).astype(np.float32)

    positions = {"S1": {"Walking 1": take(40, 0.1), "Eating": take(30, 0.2)}, "S9": {"Posing": take(36, 0.3)}}
    np.savez(path, positions_3d=np.array(positions, dtype=object))
    return str(path)


def test_sequences_from_the_pack_are_those_from_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "load_mocap", _clip)
    for sub in ("salsa", "martial"):  # one stem in two folders: the pack keeps them apart
        (tmp_path / sub).mkdir()
        for name in ("01.bvh", "02.bvh", "03.bvh"):
            (tmp_path / sub / name).write_text("")
    data = DataConfig(dataset="mocap", mocap_train=[str(tmp_path / "*" / "*.bvh")],
                      mocap_test=[str(tmp_path / "salsa" / "03.bvh")], cameras_per_clip=2, mocap_fps=25,
                      camera_wide=True, camera_focal=(500.0, 3000.0), path_3d=_h36m_file(tmp_path / "h36m.npz"),
                      train_subjects=["S1"], test_subjects=["S9"])
    sources.write_motion_pack(data, tmp_path / "pack.npz")
    for split in ("train", "test"):
        files = sources.load_split(data, split, seed=3)
        packed = sources.load_split(DataConfig(**{**data.__dict__, "motion_pack": str(tmp_path / "pack.npz")}),
                                    split, seed=3)
        assert [(s.subject, s.action, s.camera) for s in packed] == [(s.subject, s.action, s.camera) for s in files]
        # train: 5 clips x 2 cameras + 2 takes x (4 real + 2 virtual); test: 1 clip x 2 + 1 take x 4 real
        assert len(files) == (10 + 12 if split == "train" else 2 + 4)
        for a, b in zip(files, packed):
            # the motion here is in whole millimetres, so the pack holds it exactly: what differs
            # would be the plumbing (order, names, cameras, seeds), not the rounding tested above
            for field in ("intrinsics", "poses_3d", "trajectory", "keypoints_2d"):
                np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-6, atol=1e-6, err_msg=field)
            assert a.image_size == b.image_size
    # a pack made for other clips is refused by name, before anything is filmed
    other = DataConfig(**{**data.__dict__, "motion_pack": str(tmp_path / "pack.npz"), "mocap_fps": 50})
    with pytest.raises(ValueError, match=r"pack.npz: made for data.mocap_train="):
        sources.load_split(DataConfig(**{**other.__dict__, "mocap_train": ["x/*.bvh"]}), "train")
    with pytest.raises(ValueError, match="data.mocap_fps=25"):
        sources.load_split(other, "train")
    with pytest.raises(ValueError, match="'mocap' config"):
        sources.write_motion_pack(DataConfig(dataset="synthetic"), tmp_path / "x.npz")
