import dataclasses

import numpy as np
import pytest
import torch

from ddhpose.data.mpi3dhp import load_3dhp_test, load_3dhp_train
from ddhpose.geometry import normalize_screen
from ddhpose.safe_pickle import UnsafeFileError

ROOT = 14


def _pose_mm(n: int, seed: int) -> np.ndarray:
    """(n, 17, 3) absolute camera-frame poses in millimetres, pelvis about 4 m in front."""
    rng = np.random.default_rng(seed)
    root = np.array([100.0, -200.0, 4000.0]) + np.arange(n)[:, None] * np.array([5.0, 0.0, 2.0])
    return (root[:, None] + rng.uniform(-800, 800, (1, 17, 3)) + rng.normal(0, 5, (n, 17, 3))).astype(np.float32)


def _pixels(n: int, seed: int, w: int, h: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform([0, 0], [w, h], (n, 17, 2)).astype(np.float32)


def _save(path, data):
    np.savez(path, data=np.array(data, dtype=object))
    return path


def test_train_file_metres_root_relative_and_2048_normalisation(tmp_path):
    data = {"S1 Seq1": [{0: {"data_3d": _pose_mm(10, 0), "data_2d": _pixels(10, 1, 2048, 2048)},
                         4: {"data_3d": _pose_mm(10, 2), "data_2d": _pixels(10, 3, 2048, 2048)}}],
            "S2 Seq2": [{8: {"data_3d": _pose_mm(7, 4), "data_2d": _pixels(7, 5, 2048, 2048)}}]}
    seqs = load_3dhp_train(_save(tmp_path / "data_train_3dhp.npz", data))
    assert [s.name for s in seqs] == ["S1/Seq1/0", "S1/Seq1/4", "S2/Seq2/8"]
    for seq, entry in zip(seqs, [data["S1 Seq1"][0][0], data["S1 Seq1"][0][4], data["S2 Seq2"][0][8]]):
        mm = entry["data_3d"].astype(np.float64)
        assert seq.root == ROOT and np.all(seq.poses_3d[:, ROOT] == 0)
        np.testing.assert_allclose(seq.trajectory[:, 0], mm[:, ROOT] / 1000, rtol=1e-6)
        np.testing.assert_allclose(seq.poses_3d, (mm - mm[:, ROOT:ROOT + 1]) / 1000, atol=1e-6)
        expected = normalize_screen(torch.from_numpy(entry["data_2d"]).double(), 2048, 2048)
        np.testing.assert_allclose(seq.keypoints_2d, expected.numpy(), atol=1e-6)
        assert seq.image_size == (2048, 2048) and seq.valid is None


def test_test_file_uses_per_sequence_resolution_and_valid_flags(tmp_path):
    data = {}
    for i, name in enumerate(["TS1", "TS5"]):
        w, h = (2048, 2048) if name == "TS1" else (1920, 1080)
        valid = np.ones(12, dtype=np.float32)
        valid[3:5] = 0
        data[name] = {"data_3d": _pose_mm(12, i), "data_2d": _pixels(12, 10 + i, w, h), "valid": valid}
    seqs = load_3dhp_test(_save(tmp_path / "data_test_3dhp.npz", data))
    assert [(s.subject, s.action, s.image_size) for s in seqs] == [("TS1", "TS1", (2048, 2048)),
                                                                   ("TS5", "TS5", (1920, 1080))]
    ts5 = seqs[1]
    expected = normalize_screen(torch.from_numpy(data["TS5"]["data_2d"]).double(), 1920, 1080)
    np.testing.assert_allclose(ts5.keypoints_2d, expected.numpy(), atol=1e-6)
    assert ts5.keypoints_2d[..., 1].max() <= 1080 / 1920 + 1e-6
    assert ts5.valid.dtype == bool and ts5.valid.tolist() == [True] * 3 + [False] * 2 + [True] * 7
    assert np.abs(np.linalg.norm(ts5.poses_3d, axis=-1)).max() < 2.0  # metres, not millimetres
    # the intrinsics are screen-normalised: the principal point lies near the image centre
    assert abs(ts5.intrinsics[2]) < 0.1 and abs(seqs[0].intrinsics[3]) < 0.1


def test_root_relative_file_gives_zero_trajectory(tmp_path):
    pose = _pose_mm(5, 0)
    pose -= pose[:, ROOT:ROOT + 1]
    seqs = load_3dhp_test(_save(tmp_path / "t.npz", {"TS2": {"data_3d": pose, "data_2d": _pixels(5, 0, 2048, 2048),
                                                           "valid": np.ones(5)}}))
    assert np.all(seqs[0].trajectory == 0)


def test_malformed_files_name_file_and_field(tmp_path):
    ok_2d = _pixels(6, 0, 2048, 2048)
    with pytest.raises(ValueError, match=r"a\.npz: missing member 'data'"):
        np.savez(tmp_path / "a.npz", other=np.zeros(3))
        load_3dhp_test(tmp_path / "a.npz")
    bad = {"TS1": {"data_3d": _pose_mm(6, 0)[:, :16], "data_2d": ok_2d, "valid": np.ones(6)}}
    with pytest.raises(ValueError, match=r"b\.npz: data\['TS1'\]\.data_3d: expected .*\(N, 17, 3\).*\(6, 16, 3\)"):
        load_3dhp_test(_save(tmp_path / "b.npz", bad))
    bad = {"TS1": {"data_3d": _pose_mm(6, 0), "data_2d": ok_2d}}
    with pytest.raises(ValueError, match=r"c\.npz: data\['TS1'\]: missing field 'valid'"):
        load_3dhp_test(_save(tmp_path / "c.npz", bad))
    bad = {"TS1": {"data_3d": _pose_mm(6, 0), "data_2d": ok_2d[:5], "valid": np.ones(6)}}
    with pytest.raises(ValueError, match=r"data_2d: expected .*\(6, 17, 2\)"):
        load_3dhp_test(_save(tmp_path / "d.npz", bad))
    bad = {"TS1": {"data_3d": _pose_mm(6, 0) / 1000, "data_2d": ok_2d, "valid": np.ones(6)}}
    with pytest.raises(ValueError, match="expected millimetres"):
        load_3dhp_test(_save(tmp_path / "e.npz", bad))
    pose = _pose_mm(6, 0)
    pose[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"f\.npz: data\['TS1'\].*'TS1'.*poses_3d .*first at frame 2"):
        load_3dhp_test(_save(tmp_path / "f.npz", {"TS1": {"data_3d": pose, "data_2d": ok_2d, "valid": np.ones(6)}}))
    with pytest.raises(ValueError, match="unknown test sequence 'TS9'"):
        load_3dhp_test(_save(tmp_path / "g.npz", {"TS9": {}}))
    with pytest.raises(ValueError, match=r"h\.npz: data\['S1 Seq1'\]: expected a one-element list"):
        load_3dhp_train(_save(tmp_path / "h.npz", {"S1 Seq1": {0: {}}}))


class _Hostile:
    def __reduce__(self):
        return (print, ("should never run",))


def test_hostile_pickle_is_refused(tmp_path, capsys):
    np.savez(tmp_path / "evil.npz", data=np.array({"TS1": _Hostile()}, dtype=object))
    with pytest.raises(UnsafeFileError):
        load_3dhp_test(tmp_path / "evil.npz")
    assert "should never run" not in capsys.readouterr().out


# ------------------------------------------------------------------ annot_data.mat (the official ground truth)

@pytest.mark.parametrize("v73", [False, True], ids=["matlab-v5", "matlab-v7.3"])
def test_annot_data_reads_as_the_official_script_indexes_it(tmp_path, v73):
    """annot3(:, j, 1, n) in MATLAB is joint j of frame n: here annot3[n, j]; a v7.3 file (HDF5,
    dimensions reversed on disk) reads the same."""
    pytest.importorskip("scipy.io")
    if v73:
        pytest.importorskip("h5py")
    from mpi3dhp_files import annotation, write_annot_data
    from ddhpose.data.mpi3dhp import load_annot_data
    ann = annotation("TS5", 6, seed=3)
    path = write_annot_data(tmp_path / "TS5" / "annot_data.mat", ann, v73=v73)
    loaded = load_annot_data(path)
    assert loaded.annot3.shape == loaded.univ_annot3.shape == (6, 17, 3) and loaded.num_frames == 6
    np.testing.assert_array_equal(loaded.annot3, ann["annot3"])
    np.testing.assert_array_equal(loaded.univ_annot3, ann["univ_annot3"])
    assert loaded.valid.tolist() == ann["valid"].tolist() and loaded.activity.tolist() == ann["activity"].tolist()
    if not v73:  # the MATLAB layout itself: 3 x 17 x 1 x N
        from scipy.io import loadmat
        raw = loadmat(path)["annot3"]
        assert raw.shape == (3, 17, 1, 6) and raw[2, 4, 0, 5] == loaded.annot3[5, 4, 2]


def test_annot_data_errors_name_the_file_and_field(tmp_path):
    io = pytest.importorskip("scipy.io")
    from ddhpose.data.mpi3dhp import load_3dhp_annotations, load_annot_data
    io.savemat(tmp_path / "a.mat", {"univ_annot3": np.zeros((3, 17, 1, 2)), "valid_frame": np.ones((2, 1))})
    with pytest.raises(ValueError, match=r"a.mat: missing field 'annot3'"):
        load_annot_data(tmp_path / "a.mat")
    io.savemat(tmp_path / "b.mat", {"annot3": np.zeros((3, 16, 1, 2)), "valid_frame": np.ones((2, 1))})
    with pytest.raises(ValueError, match=r"b.mat: field 'annot3': expected a numeric 3 x 17 x 1 x N array"):
        load_annot_data(tmp_path / "b.mat")
    io.savemat(tmp_path / "c.mat", {"annot3": np.zeros((3, 17, 1, 2)), "valid_frame": np.ones((3, 1))})
    with pytest.raises(ValueError, match=r"c.mat: field 'valid_frame': expected 2 values, one per frame"):
        load_annot_data(tmp_path / "c.mat")
    with pytest.raises(ValueError, match=r"TS2.annot_data.mat: missing; the official script reads"):
        (tmp_path / "TS1").mkdir()
        io.savemat(tmp_path / "TS1" / "annot_data.mat", {"annot3": np.zeros((3, 17, 1, 2)),
                                                         "valid_frame": np.ones((2, 1))})
        load_3dhp_annotations(tmp_path, ["TS1", "TS2"])


def test_which_field_a_test_file_holds_is_identified(tmp_path):
    """A preprocessed file stores annot3 or univ_annot3 as data_3d: compared with both fields of
    annot_data.mat, TS1-TS4 (where the two coincide) match both, TS5 / TS6 only univ_annot3
    (about 19 mm from annot3); a file matching neither, or of another length, is refused."""
    pytest.importorskip("scipy.io")
    from mpi3dhp_files import make_test_set
    from ddhpose.data.mpi3dhp import SequenceAnnotation, identify_ground_truth, load_3dhp_annotations, load_3dhp_test
    npz, annot_dir, anns = make_test_set(tmp_path)
    seqs = {s.subject: s for s in load_3dhp_test(npz)}
    annotations = load_3dhp_annotations(annot_dir)
    assert identify_ground_truth(seqs["TS1"], annotations["TS1"])[0] == "annot3 = univ_annot3"
    held, distances = identify_ground_truth(seqs["TS5"], annotations["TS5"])
    assert held == "univ_annot3" and distances["univ_annot3"] < 1e-3 and 8 < distances["annot3"] < 25
    only_annot3 = SequenceAnnotation("TS5.mat", anns["TS5"]["univ_annot3"], None, anns["TS5"]["valid"], None)
    assert identify_ground_truth(seqs["TS5"], only_annot3)[0] == "annot3"  # a file without univ_annot3
    shifted = dataclasses.replace(seqs["TS6"], poses_3d=seqs["TS6"].poses_3d + np.float32(0.002) * (
        np.arange(17) != ROOT)[None, :, None])
    with pytest.raises(ValueError, match=r"test.npz: sequence 'TS6': data_3d is none of the 3D fields of .*annot_data"
                                         r".mat \(it differs from annot3 by .* mm, univ_annot3 by 3.\d\d mm"):
        identify_ground_truth(shifted, annotations["TS6"], "test.npz")
    with pytest.raises(ValueError, match=r"sequence 'TS6' has 6 frames, .*TS1.annot_data.mat has 9"):
        identify_ground_truth(seqs["TS6"], annotations["TS1"])


def test_a_sequence_scored_against_a_field_of_annot_data(tmp_path):
    pytest.importorskip("scipy.io")
    from mpi3dhp_files import make_test_set
    from ddhpose.data.mpi3dhp import load_3dhp_annotations, load_3dhp_test, with_ground_truth
    npz, annot_dir, anns = make_test_set(tmp_path)
    seq = next(s for s in load_3dhp_test(npz) if s.subject == "TS5")  # the file holds univ_annot3
    ann = load_3dhp_annotations(annot_dir, ["TS5"])["TS5"]
    for field in ("annot3", "univ_annot3"):
        scored = with_ground_truth(seq, ann, field)
        mm = anns["TS5"][field]
        np.testing.assert_allclose(scored.poses_3d, (mm - mm[:, ROOT:ROOT + 1]) / 1000, atol=1e-6)
        np.testing.assert_allclose(scored.trajectory[:, 0], mm[:, ROOT] / 1000, rtol=1e-6)
        np.testing.assert_array_equal(scored.keypoints_2d, seq.keypoints_2d)  # the input is kept
        assert scored.valid.tolist() == anns["TS5"]["valid"].tolist()
    assert np.abs(with_ground_truth(seq, ann, "annot3").poses_3d - seq.poses_3d).max() > 0.01
    with pytest.raises(ValueError, match="ground truth must be one of"):
        with_ground_truth(seq, ann, "annot2")
