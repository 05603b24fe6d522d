"""``lift_file`` (``ddhpose lift``): one result per person, BVH beside it, all or nothing."""
import json

import numpy as np
import pytest
import torch
from helpers import coco_person, write_coco

from ddhpose.export.results import load_result
from ddhpose.export import writers as writers_module
from ddhpose.pipelines.lift import lift_file

SIZE = (1000, 800)


def test_lift_file_two_people(lifter, tmp_path):
    src = write_coco(tmp_path / "dets.json", {7: coco_person(11, 700, 1), 3: coco_person(11, 200, 2)})
    paths = lift_file(src, tmp_path / "out" / "poses.npz", image_size=SIZE, hypotheses=2, lifter=lifter)
    # every person in poses.npz, then one file each: the file's ids 3 and 7 are people 0 and 1
    assert [p.name for p in paths] == ["poses.npz", "poses_track0.npz", "poses_track1.npz"]
    for path, tid, given in zip(paths[1:], (0, 1), (3, 7)):
        r = load_result(path)
        assert r.track_id == tid and r.provenance["input_track_id"] == given and r.poses.shape == (11, 17, 3) and r.hypotheses.shape == (2, 11, 17, 3)
        assert np.isfinite(r.poses).all() and np.all(r.poses[:, 0] == 0)
        with np.load(path, allow_pickle=False) as data:
            assert str(data["units"]) == "metres" and data["image_size"].tolist() == list(SIZE)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["poses.npz", "poses_track0.npz", "poses_track1.npz"]


def test_lift_file_h36m_npy_to_json(lifter, tmp_path):
    from ddhpose.lifting.keypoints import to_h36m
    src = tmp_path / "kp.npy"
    coco = coco_person(14, 500)
    np.save(src, to_h36m(coco[..., :2], coco[..., 2], "coco")[0].astype(np.float32))
    (path,) = lift_file(src, tmp_path / "kp.json", layout="h36m", image_size=SIZE, lifter=lifter)
    assert path.name == "kp.json" and json.loads(path.read_text())["units"] == "metres"
    r = load_result(path)
    np.testing.assert_allclose(r.keypoints_2d, np.load(src), rtol=1e-6)  # h36m: no conversion
    assert r.poses.shape == (14, 17, 3)


def test_lift_file_errors_leave_no_output(lifter, tmp_path):
    out = tmp_path / "out"
    src = write_coco(tmp_path / "d.json", {1: coco_person(5, 300)})
    with pytest.raises(ValueError, match="image_size: unknown"):
        lift_file(src, out / "r.npz", lifter=lifter)
    dead = coco_person(5, 700)
    dead[..., 2] = 0.0  # every keypoint below the score threshold: a false positive, dropped
    src = write_coco(tmp_path / "dead.json", {1: coco_person(5, 300), 2: dead})
    (path,) = lift_file(src, tmp_path / "one.npz", image_size=SIZE, lifter=lifter)
    assert load_result(path).track_id == 0 and load_result(path).provenance["input_track_id"] == 1
    with pytest.raises(ValueError, match=r"no detection scores at least 0.3 \(the best: 0\)"):
        lift_file(write_coco(tmp_path / "dead2.json", {2: dead}), out / "r.npz", image_size=SIZE, lifter=lifter)
    pickled = tmp_path / "p.npz"
    np.savez(pickled, keypoints=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        lift_file(pickled, out / "r.npz", layout="h36m", image_size=SIZE, lifter=lifter)
    with pytest.raises(ValueError, match="unsupported result extension"):
        lift_file(src, out / "r.csv", image_size=SIZE, lifter=lifter)
    assert not out.exists() or list(out.iterdir()) == []


def test_lift_file_writer_failure_mid_way_leaves_nothing(lifter, tmp_path, monkeypatch):
    src = write_coco(tmp_path / "d.json", {1: coco_person(5, 300), 2: coco_person(5, 700)})
    written = []
    real_write = writers_module.write_result

    def flaky(result, path, fmt):
        if written:
            path.write_bytes(b"half")
            raise OSError("disk full")
        real_write(result, path, fmt)
        written.append(path)

    monkeypatch.setattr(writers_module, "write_result", flaky)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        lift_file(src, out / "r.npz", image_size=SIZE, lifter=lifter)
    assert written and list(out.iterdir()) == []  # the first track's finished file is gone too


def test_lift_file_writes_bvh_beside_the_result(lifter, tmp_path):
    from ddhpose.export.bvh import read_pose_bvh
    from ddhpose.geometry import decompose
    from ddhpose.skeleton import H36M
    src = write_coco(tmp_path / "d.json", {5: coco_person(8, 400)})
    paths = lift_file(src, tmp_path / "walk.json", image_size=SIZE, bvh=True, fps=30, lifter=lifter)
    assert [p.name for p in paths] == ["walk.json", "walk.bvh"]
    assert "Frame Time: 0.03333333" in paths[1].read_text()
    back = read_pose_bvh(paths[1], frame="camera")  # root-relative, median bone lengths
    poses = torch.from_numpy(load_result(paths[0]).poses).double()
    assert back.shape == (8, 17, 3) and back[:, 0].abs().max() < 1e-5
    torch.testing.assert_close(decompose(back.double(), H36M)[0], decompose(poses, H36M)[0], atol=1e-3, rtol=0)
    # metres and a moving root on request: the root follows the result's estimated trajectory
    paths = lift_file(src, tmp_path / "walk_m.json", image_size=SIZE, bvh=True, fps=30, lifter=lifter,
                      bvh_units="m", bvh_trajectory=True)
    result = load_result(paths[0])
    back = read_pose_bvh(paths[1], frame="camera", units="m")
    np.testing.assert_allclose(back[:, 0].numpy(), result.root_trajectory, atol=1e-4)


def test_results_record_how_they_were_made(lifter, checkpoint, tmp_path):
    src = write_coco(tmp_path / "d.json", {5: coco_person(12, 400)})
    (path,) = lift_file(src, tmp_path / "r.npz", image_size=SIZE, lifter=lifter, fps=30, focal_length=900.0,
                        hypotheses=2, smooth=1.5)
    r = load_result(path)
    p = r.provenance
    assert p["checkpoint"] == str(checkpoint) and p["precision"] == "fp32" and p["hypotheses"] == 2
    assert (p["smooth"], p["aggregation"], p["bone_lengths"], p["focal_length"]) == (1.5, "p_agg", "track", 900.0)
    assert p["input"] == src and p["tracking"]["min_frames"] == 10 and r.fps == 30 and r.focal_length == 900
