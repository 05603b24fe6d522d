"""Result files: .npz / .json round trips, metadata, validation, no pickles, atomic writes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ddhpose.export import results
from ddhpose.export.results import LiftResult, load_result, save_result
from ddhpose.lifting.world import WorldFrame
from ddhpose.skeleton import H36M


def _result(frames: int = 5, hyps: int = 2, trajectory: bool = True) -> LiftResult:
    rng = np.random.default_rng(0)
    hyp = rng.normal(0, 0.3, (hyps, frames, 17, 3)).astype(np.float32)
    hyp[..., 0, :] = 0
    scores = rng.uniform(0, 1, (frames, 17)).astype(np.float32)
    scores[1, 3] = np.nan
    missing = np.zeros((frames, 17), bool)
    missing[2, 5] = True
    return LiftResult(
        poses=hyp.mean(0), hypotheses=hyp, uncertainty=rng.uniform(0, 0.1, (frames, 17)),
        keypoints_2d=rng.uniform(0, 1000, (frames, 17, 2)), missing=missing, scores=scores,
        frames=np.arange(10, 10 + frames), image_size=(1280, 720), track_id=4, aggregation="j_agg",
        focal_length=1472.0, root_trajectory=rng.normal(0, 1, (frames, 3)) if trajectory else None,
        bone_lengths=np.r_[0.0, rng.uniform(0.1, 0.5, 16)] if trajectory else None,  # the optional fields
        fps=30.0 if trajectory else None, provenance={"checkpoint": "m.safetensors", "smooth": 2.0} if trajectory else None,
        world_poses=rng.normal(0, 1, (frames, 17, 3)) if trajectory else None,
        foot_contacts=rng.uniform(0, 1, (frames, 2)) > 0.5 if trajectory else None,
        world_frame=_frame(rng) if trajectory else None,
        world_note="" if trajectory else "the clip is 0.2 s long")


def _frame(rng: np.random.Generator) -> WorldFrame:
    """A world frame with a rotation of full float64 precision (a file keeps every digit)."""
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return WorldFrame(q * np.sign(np.linalg.det(q)), rng.normal(0, 1, 3), "body axis while standing", 40, 0,
                      float("nan"), 3.25)


def _assert_same(a: LiftResult, b: LiftResult, atol: float = 0.0) -> None:
    for name in ("poses", "hypotheses", "uncertainty", "keypoints_2d", "scores"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)
    np.testing.assert_array_equal(a.missing, b.missing)
    np.testing.assert_array_equal(a.frames, b.frames)
    if a.root_trajectory is None:
        assert b.root_trajectory is None
    else:
        np.testing.assert_allclose(a.root_trajectory, b.root_trajectory, atol=atol)
    if a.bone_lengths is None:
        assert b.bone_lengths is None
    else:
        np.testing.assert_allclose(a.bone_lengths, b.bone_lengths, atol=atol)
    for name in ("world_poses", "foot_contacts"):
        if getattr(a, name) is None:
            assert getattr(b, name) is None, name
        else:
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=atol, err_msg=name)
    assert a.metadata == b.metadata
    if a.world_frame is not None:  # the transform itself, bit for bit
        np.testing.assert_array_equal(a.world_frame.rotation, b.world_frame.rotation)
        np.testing.assert_array_equal(a.world_frame.translation, b.world_frame.translation)
    assert (a.image_size, a.joint_names, a.parents) == (b.image_size, b.joint_names, b.parents)


@pytest.mark.parametrize("trajectory", [True, False])
def test_npz_round_trip_and_keys(tmp_path, trajectory):
    r = _result(trajectory=trajectory)
    path = save_result(r, tmp_path / "r.npz")
    _assert_same(r, load_result(path))
    with np.load(path, allow_pickle=False) as data:  # the keys render_result and users read
        assert data["poses"].shape == (5, 17, 3) and data["poses"].dtype == np.float32
        assert data["hypotheses"].shape == (2, 5, 17, 3)
        assert data["keypoints_2d"].shape == (5, 17, 2)
        assert data["image_size"].tolist() == [1280, 720]
        assert str(data["units"]) == "metres" and "root-relative" in str(data["coordinate_frame"])
        assert str(data["aggregation"]) == "j_agg" and int(data["track_id"]) == 4
        assert data["joint_names"].tolist() == list(H36M.names)
        assert data["parents"].tolist() == list(H36M.parents)
        assert ("root_trajectory" in data.files) == trajectory
        assert ("bone_lengths" in data.files) == trajectory
        assert ("world_poses" in data.files) == trajectory and ("foot_contacts" in data.files) == trajectory
        assert "y up" in str(data["world_coordinate_frame"])


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_files_written_under_the_earlier_pose_names_still_load(tmp_path, suffix):
    r = _result(trajectory=False)
    path = save_result(r, tmp_path / f"r{suffix}")
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            arrays = {("poses_3d" if k == "poses" else k): data[k] for k in data.files}
        np.savez(path, **arrays)
    else:
        path.write_text(path.read_text().replace('"pose": [', '"pose_3d": ['))
        assert '"pose_3d"' in path.read_text()
    _assert_same(r, load_result(path), atol=1e-6)


def test_json_round_trip_is_readable(tmp_path):
    r = _result()
    path = save_result(r, tmp_path / "r.json")
    text = path.read_text()
    assert text.index('"units": "metres"') < text.index('"frames"')  # metadata first
    doc = json.loads(text)
    assert doc["coordinate_frame"].startswith("camera frame") and doc["num_hypotheses"] == 2
    assert len(doc["frames"]) == 5 and doc["frames"][0]["frame"] == 10
    assert doc["frames"][1]["scores"][3] is None  # NaN is written as null
    assert len(doc["frames"][0]["hypotheses"]) == 2
    back = load_result(path)
    _assert_same(r, back, atol=1e-6)
    assert np.isnan(back.scores[1, 3])


def test_validation_names_the_field():
    good = _result()
    with pytest.raises(ValueError, match=r"LiftResult\.poses: expected \(5, 17, 3\)"):
        LiftResult(**{**good.__dict__, "poses": good.poses[:, :16]})
    with pytest.raises(ValueError, match=r"LiftResult\.hypotheses"):
        LiftResult(**{**good.__dict__, "hypotheses": good.hypotheses[:, :4]})
    with pytest.raises(ValueError, match="image_size"):
        LiftResult(**{**good.__dict__, "image_size": (0, 720)})


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported result extension '.txt'"):
        save_result(_result(), tmp_path / "r.txt")
    assert not any(tmp_path.iterdir())
    pickled = tmp_path / "p.npz"
    np.savez(pickled, poses_3d=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        load_result(pickled)
    partial = tmp_path / "partial.npz"
    np.savez(partial, poses_3d=np.zeros((2, 17, 3)))
    with pytest.raises(ValueError, match=r"missing keys \['frames'"):
        load_result(partial)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="ddhpose-lift-result"):
        load_result(bad_json)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "r.npz"

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(results.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_result(_result(), target)
    assert list(tmp_path.iterdir()) == []


def test_a_result_knows_its_frame_rate_times_skeleton_and_missing_angles():
    """The frame rate a result's files and plots use is its own, else the assumed default; its frames'
    times follow; angles that need the world frame are missing where the result has none."""
    from ddhpose.lifting.options import DEFAULT_FPS
    timed, plain = _result(), _result(trajectory=False)
    assert timed.frame_rate == 30.0 and plain.frame_rate == DEFAULT_FPS and DEFAULT_FPS != 30.0
    np.testing.assert_allclose(timed.times, np.arange(10, 15) / 30.0)
    np.testing.assert_allclose(plain.times, np.arange(10, 15) / DEFAULT_FPS)
    assert timed.skeleton.names == tuple(H36M.names) and list(timed.skeleton.parents) == list(H36M.parents)
    from ddhpose.lifting.angles import ANGLES
    toes = {a.name for a in ANGLES if set(a.joints) - set(H36M.names)}  # Human3.6M has no toes
    assert "left_ankle_dorsiflexion" in toes and set(timed.missing_angles) == toes
    assert set(plain.missing_angles) == toes | {a.name for a in ANGLES if a.world}
    assert "pelvis_tilt" in plain.missing_angles and "knee" not in "".join(plain.missing_angles)
