"""The MPI-INF-3DHP protocol as the official MATLAB scripts compute it, and the released export."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from ddhpose.data.mpi3dhp import load_3dhp_activities
from ddhpose.data.sequence import PoseSequence
from ddhpose.evaluation import protocol_3dhp as P
from ddhpose.evaluation.evaluate import evaluate, summarise
from ddhpose.evaluation.result import SequenceResult
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.skeleton import MPI_INF_3DHP

ROOT = 14
INTRINSICS = np.array([1.46, 1.46, -0.006, 0.018, 0, 0, 0, 0, 0], np.float32)


def test_the_official_joints_leave_out_pelvis_spine_and_head():
    assert P.PCK_JOINTS == tuple(range(14))
    left_out = [MPI_INF_3DHP.names[j] for j in range(17) if j not in P.PCK_JOINTS]
    assert left_out == ["pelvis", "spine", "head"]
    assert P.pck_joints(MPI_INF_3DHP) == P.PCK_JOINTS


def _errors() -> torch.Tensor:
    """(2, 17) per-joint errors in mm: the 14 official joints at 100 or 200, spine and head at
    160, the pelvis at 0."""
    err = torch.full((2, 17), 100.0, dtype=torch.float64)
    err[1, 7:14] = 200.0
    err[:, 14], err[:, 15:] = 0.0, 160.0
    return err


def test_scores_by_hand():
    s = P.scores(_errors())
    assert s["pck"] == pytest.approx((14 + 7) / 28 * 100)  # 75; with all 17 joints 23 / 34 = 67.6
    # AUC: 100 mm is below 10 of the 31 thresholds (105..150), 200 mm below none
    assert s["auc"] == pytest.approx(21 * 10 / 31 / 28 * 100)
    assert s["mpjpe"] == pytest.approx((21 * 100 + 7 * 200 + 4 * 160) / 34)  # all 17 joints, pelvis 0
    every = P.scores(_errors(), joints=None)
    assert every["pck"] == pytest.approx(23 / 34 * 100) and every["pck"] != pytest.approx(s["pck"])


def _result(name: str, errors_mm: list[float], valid: list[bool], spine_head_mm: float | None = None
            ) -> SequenceResult:
    """A sequence whose prediction is off by ``errors_mm[i]`` along x on every joint but the
    pelvis in frame i (spine and head by ``spine_head_mm`` if given)."""
    n = len(errors_mm)
    target = torch.zeros(n, 17, 3, dtype=torch.float64)
    pose = target.clone()
    pose[:, :, 0] = torch.tensor(errors_mm, dtype=torch.float64)[:, None] / 1000
    pose[:, ROOT] = 0
    if spine_head_mm is not None:
        pose[:, 15:, 0] = spine_head_mm / 1000
    frames = sum(valid)
    return SequenceResult(name, name, frames, {"mpjpe_p_agg": torch.zeros(1)}, torch.zeros(1), pose, target,
                          torch.tensor(valid), subject=name)


def test_sequence_rows_then_their_mean_differ_from_pooled_frames():
    ts1 = _result("TS1", [100.0, 100.0], [True, True], spine_head_mm=200.0)  # PCK 100: spine, head not counted
    ts2 = _result("TS2", [200.0] * 6 + [10.0, 10.0], [True] * 6 + [False, False])  # PCK 0; invalid frames good
    report = summarise([ts1, ts2], hypotheses=1, iterations=1, pck=True, pck_joints=P.PCK_JOINTS)
    pose = report.pose
    assert pose["TS1"]["pck"] == pytest.approx(100.0) and pose["TS2"]["pck"] == pytest.approx(0.0)
    assert pose["Average"]["pck"] == pytest.approx(50.0)  # per sequence, then over sequences (README)
    assert pose["All"]["pck"] == pytest.approx(2 / 8 * 100)  # frame-pooled, beside it
    assert pose["Average"]["auc"] == pytest.approx((10 / 31 * 100 + 0) / 2)
    ts1_mpjpe = (14 * 100 + 2 * 200) / 17  # all 17 joints: the pelvis with error 0, spine and head
    assert pose["TS1"]["mpjpe"] == pytest.approx(ts1_mpjpe)
    assert pose["Average"]["mpjpe"] == pytest.approx((ts1_mpjpe + 200 * 16 / 17) / 2)
    assert pose["All"]["mpjpe"] == pytest.approx((2 * ts1_mpjpe + 6 * 200 * 16 / 17) / 8)
    every = summarise([ts1, ts2], hypotheses=1, iterations=1, pck=True).pose  # all joints: what we no longer do
    assert every["TS1"]["pck"] == pytest.approx(15 / 17 * 100)
    assert "'Average' = the mean of the group rows" in report.definitions["pose table"]


def test_activity_table_pools_valid_frames_over_sequences():
    ts1 = _result("TS1", [100.0, 200.0, 10.0], [True, True, False])
    ts2 = _result("TS2", [200.0, 200.0], [True, True])
    labels = {"TS1": np.array([1, 2, 3]), "TS2": np.array([2, 2])}
    rows = P.activity_rows([ts1, ts2], labels)
    assert list(rows) == [*P.ACTIVITY_NAMES.values(), "All"]  # all seven, as mpii_evaluate_errors.m
    for empty in ("Sitting", "Reaching/Crouching", "On The Floor", "Sports", "Miscellaneous"):  # no valid frame
        assert rows[empty]["frames"] == 0 and all(np.isnan(rows[empty][k]) for k in ("mpjpe", "pck", "auc"))
    assert rows["Standing/Walking"]["pck"] == pytest.approx(100.0) and rows["Standing/Walking"]["frames"] == 1
    assert rows["Exercising"]["frames"] == 3 and rows["Exercising"]["pck"] == pytest.approx(0.0)
    assert rows["All"]["pck"] == pytest.approx(25.0) and rows["All"]["frames"] == 4
    with pytest.raises(ValueError, match="no entry for test sequence 'TS2'"):
        P.activity_rows([ts1, ts2], {"TS1": labels["TS1"]})
    with pytest.raises(ValueError, match="1 frames, the sequence has 2"):
        P.activity_rows([ts2], {"TS2": np.array([2])})


def test_activity_labels_from_an_npz_or_a_test_file(tmp_path):
    np.savez(tmp_path / "labels.npz", TS1=np.array([[1], [7]], np.uint8), TS5=np.array([3.0, 4.0]))
    labels = load_3dhp_activities(tmp_path / "labels.npz")
    assert {k: v.tolist() for k, v in labels.items()} == {"TS1": [1, 7], "TS5": [3, 4]}
    data = {"TS1": {"data_3d": 0, "activity_annotation": np.array([2, 2, 5])}, "TS2": {"data_3d": 0}}
    np.savez(tmp_path / "test.npz", data=np.array(data, dtype=object))
    assert {k: v.tolist() for k, v in load_3dhp_activities(tmp_path / "test.npz").items()} == {"TS1": [2, 2, 5]}
    np.savez(tmp_path / "released.npz", data=np.array({"TS1": {"valid": np.ones(3)}}, dtype=object))
    assert load_3dhp_activities(tmp_path / "released.npz") == {}
    np.savez(tmp_path / "bad.npz", TS1=np.array([1, 8]))
    with pytest.raises(ValueError, match=r"bad.npz: member 'TS1': activity labels must be integers 1-7, found \[8\]"):
        load_3dhp_activities(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", walking=np.array([1]))
    with pytest.raises(ValueError, match="other.npz: expected members named"):
        load_3dhp_activities(tmp_path / "other.npz")


def test_mat_export_reads_back_as_the_official_script_expects(tmp_path):
    io = pytest.importorskip("scipy.io")
    gen = torch.Generator().manual_seed(0)
    poses = {name: {agg: torch.randn(n, 2, 17, 3, generator=gen) for agg in P.MAT_AGGREGATIONS}
             for name, n in zip(P.TEST_SEQUENCES, (5, 4, 3, 3, 2, 3))}
    paths = P.write_inference_mats(tmp_path, poses)
    assert [p.name for p in paths] == [f"inference_data_{a}.mat" for a in ("P_Agg", "P_Best", "J_Best", "J_Agg")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    for path, agg in zip(paths, P.MAT_AGGREGATIONS):
        mat = io.loadmat(path)
        assert sorted(k for k in mat if not k.startswith("__")) == list(P.TEST_SEQUENCES)
        ts1 = mat["TS1"]
        assert ts1.shape == (3, 17, 5, 2) and ts1.dtype == np.float64  # (xyz, joint, frame, step)
        expected = poses["TS1"][agg].double().numpy() * 1000  # millimetres
        np.testing.assert_allclose(ts1[:, 4, 2, 1], expected[2, 1, 4], rtol=1e-12)
        np.testing.assert_allclose(ts1, expected.transpose(3, 2, 0, 1), rtol=1e-12)
    with pytest.raises(ValueError, match="named 'S1'"):
        P.write_inference_mats(tmp_path, {"S1": poses["TS1"]})
    partial = {k: v for k, v in poses.items() if k != "TS4"}
    with pytest.raises(ValueError, match=r"needs the whole MPI-INF-3DHP test set: .* missing \['TS4'\]"):
        P.write_inference_mats(tmp_path / "partial", partial)
    assert not (tmp_path / "partial").exists()


def test_mat_export_without_scipy_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)  # import scipy.io now fails
    with pytest.raises(ImportError, match=r"pip install 'ddhpose\[mat\]'"):
        P.write_inference_mats(tmp_path, {})


def test_aggregate_poses_match_their_definitions():
    gen = torch.Generator().manual_seed(1)
    samples = torch.randn(4, 2, 3, 5, 17, 3, generator=gen)  # n=4 windows, W=2, H=3, F=5
    target = torch.randn(4, 5, 17, 3, generator=gen)
    choice = torch.randint(0, 3, (4, 2, 1, 5, 17), generator=gen)
    out = P.aggregate_poses(samples, target, choice, p_best_windows=2)
    assert set(out) == set(P.MAT_AGGREGATIONS) and all(v.shape == (4, 2, 5, 17, 3) for v in out.values())
    assert torch.allclose(out["P_Agg"], samples.mean(2))
    err = (samples - target[:, None, None]).norm(dim=-1)  # (n, W, H, F, J)
    assert torch.allclose((out["J_Best"] - target[:, None]).norm(dim=-1), err.amin(2))
    for batch in (slice(0, 2), slice(2, 4)):  # one hypothesis per batch of 2 windows and step
        best = err[batch].mean((0, 3, 4)).argmin(-1)  # (W,)
        for w in range(2):
            assert torch.equal(out["P_Best"][batch, w], samples[batch, w, best[w]])
    assert torch.equal(out["J_Agg"][1, 0, 2, 5], samples[1, 0, choice[1, 0, 0, 2, 5], 2, 5])


def _sequence(n: int, name: str = "TS1") -> PoseSequence:
    rng = np.random.default_rng(n)
    poses = rng.uniform(-0.5, 0.5, (n, 17, 3))
    poses[:, ROOT] = 0
    traj = np.array([0.1, 0.0, 4.0]) + np.zeros((n, 1, 3))
    kp = rng.uniform(-0.5, 0.5, (n, 17, 2))
    valid = np.ones(n, bool)
    valid[1] = False
    return PoseSequence(keypoints_2d=kp, poses_3d=poses, trajectory=traj, intrinsics=INTRINSICS,
                        image_size=(2048, 2048), subject=name, action=name, camera="test", valid=valid, root=ROOT)


class Scripted(DDHPose):
    """Returns prepared samples window by window: (n, W, H, F, J, 3) in ``planned``."""

    planned: torch.Tensor

    def sample(self, x2d, hypotheses=1, iterations=1, flip=True, generator=None, noise=None):
        out, self.planned = self.planned[: x2d.shape[0]], self.planned[x2d.shape[0]:]
        return out.clone()


def test_evaluate_keeps_the_last_window_on_the_overlap_and_exports_it(tmp_path):
    io = pytest.importorskip("scipy.io")
    model = Scripted(ModelConfig(frames=4, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    seqs = [_sequence(7, name) for name in P.TEST_SEQUENCES]  # windows [0..3] and [3..6]: frame 3 is in both
    truth = torch.from_numpy(seqs[0].poses_3d).float()
    index = np.array([[0, 1, 2, 3], [3, 4, 5, 6]])
    offsets = torch.tensor([0.010, 0.020])  # window 0 off by 10 mm, window 1 by 20 mm (x)
    planned = truth[index][:, None, None].repeat(1, 1, 1, 1, 1, 1)  # (2, W=1, H=1, 4, 17, 3)
    planned[..., 0] += offsets.view(2, 1, 1, 1, 1)
    planned[..., ROOT, :] = 0
    model.planned = planned.repeat(6, 1, 1, 1, 1, 1)  # the same plan for each of the six sequences
    with pytest.raises(ValueError, match=r"missing \['TS2', 'TS3', 'TS4', 'TS5', 'TS6'\]"):
        evaluate(model, seqs[:1], progress=False, export_mat=tmp_path)  # refused before sampling
    report = evaluate(model, seqs, pck=True, progress=False, group_of=lambda s: s.subject, export_mat=tmp_path,
                      batch_size=1)
    mat = io.loadmat(tmp_path / "inference_data_J_Agg.mat")["TS1"]
    assert mat.shape == (3, 17, 7, 1)  # MATLAB drops the trailing W = 1
    dx = mat[0, 0, :, 0] - truth[:, 0, 0].double().numpy() * 1000
    np.testing.assert_allclose(dx, [10, 10, 10, 20, 20, 20, 20], atol=1e-3)  # frame 3 from the last window
    assert mat[:, ROOT].max() == 0
    assert report.pose["TS1"]["mpjpe"] == pytest.approx((10 * 2 + 20 * 4) / 6 * 16 / 17, rel=1e-4)  # frame 1 invalid
    assert "mat files" in report.provenance and "P-Best" in report.definitions
    assert "over 14 joints" in report.definitions["pose table"]  # the 3DHP skeleton's official joints


def test_evaluate_p_best_per_batch_or_per_sequence():
    model = Scripted(ModelConfig(frames=4, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    seq = _sequence(16)  # four windows, no overlap
    seq.valid[:] = True
    truth = torch.from_numpy(seq.poses_3d).float().view(4, 1, 1, 4, 17, 3)
    off = torch.tensor([[10.0, 30.0], [10.0, 30.0], [50.0, 20.0], [50.0, 20.0]]) / 1000  # (window, hypothesis)

    def plan():
        planned = truth.repeat(1, 1, 2, 1, 1, 1)
        planned[..., 0] += off.view(4, 1, 2, 1, 1)
        planned[..., ROOT, :] = 0
        return planned

    model.planned = plan()
    batch = evaluate(model, [seq], hypotheses=2, progress=False, p_best="batch", p_best_windows=2)
    model.planned = plan()
    whole = evaluate(model, [seq], hypotheses=2, progress=False, p_best="sequence")
    scale = 16 / 17  # the pelvis has no error
    assert batch.groups["TS1"]["mpjpe_p_best"][0] == pytest.approx((10 + 20) / 2 * scale, rel=1e-4)
    assert whole.groups["TS1"]["mpjpe_p_best"][0] == pytest.approx(min(30, 25) * scale, rel=1e-4)
    assert "per evaluation batch of 2" in batch.definitions["P-Best"]
    assert "per sequence" in whole.definitions["P-Best"]
    with pytest.raises(ValueError, match="p_best expected"):
        evaluate(model, [seq], progress=False, p_best="clip")


def _oracle(test_path, annot_dir=None, field="annot3", step_offsets_mm=(0.0,), frames=4):
    """A Scripted model whose samples are the ground truth of every window (annot3 of
    annot_data.mat, or the test file's data_3d without ``annot_dir``), moved along x on every
    joint but the pelvis by ``step_offsets_mm[w]`` at DDIM step w (H = 1)."""
    from ddhpose.data.mpi3dhp import load_3dhp_annotations, load_3dhp_test, with_ground_truth
    from ddhpose.data.windows import test_windows
    seqs = load_3dhp_test(test_path)
    if annot_dir is not None:
        annotations = load_3dhp_annotations(annot_dir)
        seqs = [with_ground_truth(s, annotations[s.subject], field) for s in seqs]
    y3d = torch.cat([test_windows(s, frames)[0]["y3d"] for s in seqs])  # (n, F, 17, 3)
    offsets = torch.tensor(step_offsets_mm) / 1000
    planned = y3d[:, None, None].repeat(1, len(offsets), 1, 1, 1, 1)
    planned[..., 0] += offsets.view(1, -1, 1, 1, 1) * (torch.arange(17) != ROOT)
    model = Scripted(ModelConfig(frames=frames, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    model.planned = planned
    return model


def test_evaluate_config_3dhp_tables_and_export(tmp_path):
    """The whole (synthetic) test set through the config path with the test set's folder: the
    sequence rows, their mean, the README's scene rows, all seven activities, the export."""
    io = pytest.importorskip("scipy.io")
    from mpi3dhp_files import make_test_set
    from ddhpose.evaluation.evaluate import evaluate_config, report_markdown
    test_path, annot_dir, anns = make_test_set(tmp_path)
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=4, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    overrides = [f"data.test_path={test_path}", "model.frames=4"]
    report = evaluate_config(model, "3dhp", overrides, export_mat=tmp_path / "mat", annot_dir=annot_dir,
                             progress=False)
    assert list(report.pose) == [*P.TEST_SEQUENCES, "Average", "All"]
    assert report.pose["Average"]["pck"] == pytest.approx(sum(report.pose[n]["pck"] for n in P.TEST_SEQUENCES) / 6)
    assert list(report.scenes) == [*P.SCENES, P.ALL_SCENES]
    outdoor = (report.pose["TS5"]["mpjpe"] * 276 + report.pose["TS6"]["mpjpe"] * 452) / 728
    assert report.scenes["Outdoor"]["mpjpe"] == pytest.approx(outdoor)
    assert list(report.activities) == [*P.ACTIVITY_NAMES.values(), "All"]
    valid = sum(int(a["valid"].sum()) for a in anns.values())
    assert report.activities["All"]["frames"] == valid == 35
    assert np.isnan(report.activities["Sports"]["mpjpe"]) and report.activities["Sports"]["frames"] == 0
    assert "per evaluation batch of 2" in report.definitions["P-Best"]  # main_3dhp.py's bs = 2
    assert report.provenance["ground truth"].startswith(f"annot3 of TSk/annot_data.mat in {annot_dir}")
    assert "TS4 annot3 = univ_annot3, TS5 univ_annot3, TS6 univ_annot3" in report.provenance["test file's data_3d"]
    text = report_markdown(report)
    assert "MPI-INF-3DHP activities" in text and "| Sports | 0 | nan |" in text and "| Outdoor | 728 |" in text
    for name, frames in (("TS1", 9), ("TS5", 8)):
        assert io.loadmat(tmp_path / "mat" / "inference_data_P_Best.mat")[name].shape == (3, 17, frames, 1)


def test_ground_truth_is_annot3_of_annot_data_and_said_in_the_report(tmp_path):
    """A model that predicts annot3 exactly scores 0 against annot_data.mat's annot3 on every
    sequence, although the test file holds univ_annot3 on TS5 / TS6; against univ_annot3, or the
    file's data_3d unchecked (with a warning), TS5 is off by the fields' distance."""
    from mpi3dhp_files import make_test_set
    from ddhpose.evaluation.evaluate import evaluate_config
    pytest.importorskip("scipy.io")
    test_path, annot_dir, anns = make_test_set(tmp_path)
    overrides = [f"data.test_path={test_path}", "model.frames=4"]
    official = evaluate_config(_oracle(test_path, annot_dir), "3dhp", overrides, annot_dir=annot_dir,
                               progress=False)
    assert all(official.pose[n]["mpjpe"] < 1e-3 for n in P.TEST_SEQUENCES)
    assert official.activities["All"]["pck"] == pytest.approx(100.0)  # labels from annot_data.mat
    univ = evaluate_config(_oracle(test_path, annot_dir), "3dhp", overrides, annot_dir=annot_dir,
                           ground_truth="univ_annot3", progress=False)
    ann = anns["TS5"]
    rel = [a - a[:, ROOT:ROOT + 1] for a in (ann["annot3"], ann["univ_annot3"])]
    distance = np.linalg.norm(rel[0] - rel[1], axis=-1)[ann["valid"]].mean()
    assert univ.pose["TS5"]["mpjpe"] == pytest.approx(distance, rel=1e-4) and distance > 8
    assert univ.pose["TS1"]["mpjpe"] < 1e-3 and "univ_annot3 of TSk/annot_data.mat" in univ.provenance["ground truth"]
    with pytest.warns(UserWarning, match="annot3 .* or univ_annot3"):
        unchecked = evaluate_config(_oracle(test_path, annot_dir), "3dhp", overrides, progress=False)
    assert unchecked.pose["TS5"]["mpjpe"] == pytest.approx(distance, rel=1e-4)
    assert unchecked.provenance["ground truth"].startswith(f"data_3d of {test_path} as it is, not checked")
    assert "not available" in unchecked.definitions["activity table"]
    with pytest.raises(ValueError, match="either with the annotations"):
        evaluate_config(_oracle(test_path, annot_dir), "3dhp", overrides, annot_dir=annot_dir,
                        activities=test_path, progress=False)


def test_the_official_script_scores_the_first_ddim_step_and_each_step_on_request(tmp_path):
    """With W = 2 the exported (3, 17, N, 2) array is read by the official script as step 1:
    the 3DHP tables score step 1 by default; step 2 (off by 10 mm) on request, and one table per
    step with ``per_step``, written as the authors' _t<k> files."""
    from mpi3dhp_files import make_test_set
    from ddhpose.evaluation.evaluate import evaluate_config, write_report
    pytest.importorskip("scipy.io")
    test_path, annot_dir, _ = make_test_set(tmp_path)
    overrides = [f"data.test_path={test_path}", "model.frames=4"]
    run = dict(iterations=2, annot_dir=annot_dir, progress=False)
    first = evaluate_config(_oracle(test_path, annot_dir, step_offsets_mm=(0.0, 10.0)), "3dhp", overrides, **run)
    assert first.pose_step == 1 and first.pose["All"]["mpjpe"] < 1e-3
    assert "DDIM step 1 of 2 (the first: the step the official 3DHP script scores" in first.definitions["pose table"]
    last = evaluate_config(_oracle(test_path, annot_dir, step_offsets_mm=(0.0, 10.0)), "3dhp", overrides,
                           pose_step="last", **run)
    assert last.pose_step == 2 and last.pose["All"]["mpjpe"] == pytest.approx(10 * 16 / 17, rel=1e-4)
    assert last.activities["All"]["mpjpe"] == pytest.approx(10 * 16 / 17, rel=1e-4)
    each = evaluate_config(_oracle(test_path, annot_dir, step_offsets_mm=(0.0, 10.0)), "3dhp", overrides,
                           per_step=True, **run)
    assert sorted(each.steps) == [1, 2]
    assert each.steps[1]["pose"]["TS3"]["mpjpe"] < 1e-3
    assert each.steps[2]["pose"]["TS3"]["mpjpe"] == pytest.approx(10 * 16 / 17, rel=1e-4)
    assert each.steps[2]["scenes"]["Outdoor"]["mpjpe"] == pytest.approx(10 * 16 / 17, rel=1e-4)
    names = [p.name for p in write_report(each, tmp_path / "out")]
    assert names[3:] == ["results_sequencewise_t1.csv", "results_activitywise_t1.csv",
                         "results_sequencewise_t2.csv", "results_activitywise_t2.csv"]
    rows = (tmp_path / "out" / "results_sequencewise_t2.csv").read_text().splitlines()
    assert rows[0] == "sequence,mpjpe,pck,auc" and rows[1].startswith("TS1,9.41")
    with pytest.raises(ValueError, match="W=2 DDIM steps"):
        evaluate_config(_oracle(test_path, annot_dir), "3dhp", overrides, pose_step=3, **run)


def test_pose_step_names():
    from ddhpose.evaluation.evaluate import resolve_pose_step
    assert resolve_pose_step(None, 5, "3dhp") == 0 and resolve_pose_step(None, 5, "h36m") == 4
    assert resolve_pose_step("last", 5, "3dhp") == 4 and resolve_pose_step("2", 5, "h36m") == 1
    with pytest.raises(ValueError, match="expected 'first', 'last' or a step number 1..5"):
        resolve_pose_step("middle", 5, "3dhp")


def test_a_truncated_or_partial_test_set_is_not_exported(tmp_path):
    """The official script indexes every frame of TS1..TS6: eval.max_frames and a test file
    without all six are refused before any sampling, naming why; nothing is written."""
    from mpi3dhp_files import make_test_set
    from ddhpose.evaluation.evaluate import evaluate_config
    pytest.importorskip("scipy.io")
    test_path, annot_dir, _ = make_test_set(tmp_path)

    class Refuses(DDHPose):
        def sample(self, *args, **kwargs):
            raise AssertionError("sampled before the export was checked")

    model = Refuses(ModelConfig(frames=4, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    overrides = [f"data.test_path={test_path}", "model.frames=4"]
    with pytest.raises(ValueError, match=r"eval.max_frames=5 keeps only the first frames .* indexes TSk\(:, :, j\)"):
        evaluate_config(model, "3dhp", [*overrides, "eval.max_frames=5"], export_mat=tmp_path / "mat",
                        annot_dir=annot_dir, progress=False)
    data = dict(np.load(test_path, allow_pickle=True)["data"].item())
    del data["TS6"]
    np.savez(tmp_path / "five.npz", data=np.array(data, dtype=object))
    with pytest.raises(ValueError, match=r"needs the whole MPI-INF-3DHP test set: .* missing \['TS6'\]"), \
            pytest.warns(UserWarning, match="not checked"):
        evaluate_config(model, "3dhp", [f"data.test_path={tmp_path / 'five.npz'}", "model.frames=4"],
                        export_mat=tmp_path / "mat", progress=False)
    assert not (tmp_path / "mat").exists()
    # max_frames longer than every sequence truncates nothing: exported
    report = evaluate_config(_oracle(test_path, annot_dir), "3dhp", [*overrides, "eval.max_frames=100"],
                             export_mat=tmp_path / "mat", annot_dir=annot_dir, progress=False)
    assert "truncated" not in report.provenance and (tmp_path / "mat" / "inference_data_J_Agg.mat").is_file()


def test_scene_rows_by_the_readme_weights():
    rows = {n: {"mpjpe": float(i), "pck": 10.0 * i, "auc": 1.0} for i, n in enumerate(P.TEST_SEQUENCES, 1)}
    scenes = P.scene_rows(rows)
    assert scenes["Studio with green screen"]["mpjpe"] == pytest.approx((1 * 603 + 2 * 540) / 1143)
    assert scenes["Studio without green screen"]["pck"] == pytest.approx((30 * 505 + 40 * 553) / 1058)
    assert scenes["Outdoor"]["frames"] == 728 and scenes["Outdoor"]["auc"] == pytest.approx(1.0)
    every = (603 * 1 + 540 * 2 + 505 * 3 + 553 * 4 + 276 * 5 + 452 * 6) / 2929
    assert scenes[P.ALL_SCENES]["mpjpe"] == pytest.approx(every)
    del rows["TS6"]
    assert list(P.scene_rows(rows)) == ["Studio with green screen", "Studio without green screen"]


def test_released_checkpoint_evaluates_through_the_cli(tmp_path, capsys):
    """The released 3DHP .bin (skeleton from its file name) through `ddhpose evaluate` with the
    official protocol, the test set's annot_data.mat, per-step tables and the MATLAB export; the
    same .bin copied to a neutral name (the test's name and folders say no dataset) is refused
    until --skeleton says which skeleton it holds."""
    io = pytest.importorskip("scipy.io")
    import shutil
    from pathlib import Path

    from mpi3dhp_files import make_test_set
    from ddhpose.cli import main
    released = Path(__file__).parent / "fixtures" / "official_3dhp_f27.bin"
    test, annot_dir, _ = make_test_set(tmp_path)
    args = ["evaluate", "--checkpoint", str(released), "-c", "3dhp", "-o", str(tmp_path / "eval"), "-H", "2",
            "-W", "2", "--export-mat", str(tmp_path / "mat"), "--annot-dir", str(annot_dir), "--per-step",
            f"data.test_path={test}", "model.frames=27"]
    assert main(args) == 0
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "TS1" in table and "TS5" in table and "Average" in table and "Outdoor" in table
    assert "- ground truth: annot3 of TSk/annot_data.mat" in table
    assert (tmp_path / "eval" / "results_activitywise_t2.csv").is_file()
    assert io.loadmat(tmp_path / "mat" / "inference_data_J_Agg.mat")["TS1"].shape == (3, 17, 9, 2)
    neutral = tmp_path / "best_epoch.bin"
    shutil.copy(released, neutral)
    args[2] = str(neutral)
    assert main(args) != 0
    assert "--skeleton h36m or --skeleton 3dhp" in capsys.readouterr().err
    assert main(args + ["--skeleton", "3dhp"]) == 0
    assert main(args + ["--skeleton", "3dhp", "--pose-step", "5"]) == 2
    assert "pose step 5: the sampler runs W=2 DDIM steps" in capsys.readouterr().err


# --- what the protocol promises, one rule at a time (mutation testing: tools/mutation.py) ---

def test_pck_counts_errors_strictly_below_150_mm_and_auc_steps_of_5_mm():
    """'error < threshold' (mpii_compute_3d_pck.m): 150 mm exactly is a miss; AUC is the mean
    over the 31 thresholds 0, 5, ..., 150, so an error of e mm hits the thresholds above e."""
    def at(mm: float, frames: int = 1) -> dict[str, float]:
        return P.scores(torch.full((frames, 17), mm, dtype=torch.float64))
    assert at(150.0)["pck"] == 0.0 and at(149.99)["pck"] == 100.0 and at(150.01)["pck"] == 0.0
    assert at(0.0)["auc"] == pytest.approx(30 / 31 * 100)  # 0 < 0 is false: every threshold but 0
    assert at(5.0)["auc"] == pytest.approx(29 / 31 * 100) and at(4.99)["auc"] == pytest.approx(30 / 31 * 100)
    assert at(145.0)["auc"] == pytest.approx(1 / 31 * 100) and at(150.0)["auc"] == 0.0
    s = at(40.0, frames=3)
    assert s == {"frames": 3.0, "mpjpe": pytest.approx(40.0), "pck": 100.0, "auc": pytest.approx(22 / 31 * 100)}
    for shape in ((17,), (2, 3, 17)):
        with pytest.raises(ValueError) as err:
            P.scores(torch.zeros(shape))
        assert str(err.value) == f"errors: expected (N, J) per-joint errors, got {shape}"


def test_scores_of_float32_errors_on_the_thresholds():
    """The thresholds are exact in float32 too: 5 mm is not below the 5 mm threshold."""
    s = P.scores(torch.full((1, 17), 5.0, dtype=torch.float32))
    assert s["auc"] == pytest.approx(29 / 31 * 100) and s["pck"] == 100.0


def test_activity_labels_keep_a_sequence_s_first_frames_and_name_what_is_missing():
    ts1 = _result("TS1", [100.0, 200.0], [True, True])
    rows = P.activity_rows([ts1], {"TS1": np.array([[3], [5], [1], [1]])})  # MATLAB's N x 1, longer than TS1
    assert rows["Sitting"]["pck"] == 100.0 and rows["Sitting"]["frames"] == 1
    assert rows["On The Floor"]["pck"] == 0.0 and rows["On The Floor"]["frames"] == 1
    assert rows["Standing/Walking"]["frames"] == 0
    spine = _result("TS1", [100.0], [True], spine_head_mm=200.0)  # spine and head off by 200 mm
    official = P.activity_rows([spine], {"TS1": np.array([1])})
    assert official["Standing/Walking"]["pck"] == 100.0 and official["All"]["pck"] == 100.0
    every = P.activity_rows([spine], {"TS1": np.array([1])}, joints=None)  # all 17 joints: 2 misses
    assert every["Standing/Walking"]["pck"] == pytest.approx(15 / 17 * 100)
    assert every["All"]["pck"] == pytest.approx(15 / 17 * 100)
    assert P.activity_rows([], {"TS1": np.array([1])}) == {}
    with pytest.raises(ValueError) as err:
        P.activity_rows([ts1], {"TS2": np.array([1, 1]), "TS3": np.array([1])})
    assert str(err.value) == "activity labels: no entry for test sequence 'TS1'; have ['TS2', 'TS3']"
    with pytest.raises(ValueError) as err:
        P.activity_rows([ts1], {"TS1": np.array([1])})
    assert str(err.value) == "activity labels of 'TS1': 1 frames, the sequence has 2"


def test_scene_rows_leave_out_a_scene_with_a_missing_sequence_only():
    rows = {n: {"frames": 1000.0 + i, "mpjpe": float(i), "pck": 10.0 * i} for i, n in enumerate(P.TEST_SEQUENCES, 1)}
    del rows["TS3"]
    scenes = P.scene_rows(rows)
    assert list(scenes) == ["Studio with green screen", "Outdoor"]  # the scene after the gap is still there
    assert scenes["Outdoor"] == {"mpjpe": pytest.approx((5 * 276 + 6 * 452) / 728),
                                 "pck": pytest.approx((50 * 276 + 60 * 452) / 728), "frames": 728.0}
    assert scenes["Studio with green screen"]["frames"] == 1143.0  # the README's counts, not the rows'
    assert P.scene_rows({}) == {}


def test_mat_export_refusals_say_what_is_wrong(tmp_path):
    P.check_mat_export(list(P.TEST_SEQUENCES))
    P.check_mat_export(list(reversed(P.TEST_SEQUENCES)), truncated_to=0)
    head = ("the .mat export needs the whole MPI-INF-3DHP test set: the official script "
            "(mpii_test_predictions_ori_py.m) reads the variables TS1, TS2, TS3, TS4, TS5, TS6 and every frame of "
            "each; ")
    with pytest.raises(ValueError) as err:
        P.check_mat_export([*P.TEST_SEQUENCES, "TS9", "S1"])
    assert str(err.value) == head + "unknown sequences ['S1', 'TS9']; evaluate all six sequences, or leave out --export-mat"
    with pytest.raises(ValueError) as err:
        P.check_mat_export(["TS2", "TS1", "TS6"])
    assert str(err.value) == head + "missing ['TS3', 'TS4', 'TS5']; evaluate all six sequences, or leave out --export-mat"
    with pytest.raises(ValueError) as err:
        P.check_mat_export(list(P.TEST_SEQUENCES), truncated_to=1)
    assert str(err.value) == (
        "the .mat export needs every frame: eval.max_frames=1 keeps only the first frames of each sequence, and "
        "the official script indexes TSk(:, :, j) up to the last valid frame of annot_data.mat (past the end of a "
        "truncated array); set eval.max_frames=0, or leave out --export-mat")


def test_mat_export_refuses_other_names_and_shapes_before_writing(tmp_path):
    pytest.importorskip("scipy.io")
    good = {agg: torch.zeros(2, 1, 17, 3) for agg in P.MAT_AGGREGATIONS}
    poses = {n: dict(good) for n in P.TEST_SEQUENCES}
    for name in ("TS7", "TS0", "ts1", "TS12", "XTS1", "TS1 "):
        with pytest.raises(ValueError) as err:
            P.write_inference_mats(tmp_path, {**poses, name: good})
        assert str(err.value) == ("the .mat export names variables after the MPI-INF-3DHP test sequences TS1..TS6; "
                                  f"got a sequence named {name!r}")
    for bad in (torch.zeros(2, 17, 3), torch.zeros(2, 1, 16, 3), torch.zeros(2, 1, 17, 2), torch.zeros(1, 2, 1, 17, 3)):
        poses["TS3"] = {**good, "J_Best": bad}
        with pytest.raises(ValueError) as err:
            P.write_inference_mats(tmp_path, poses)
        assert str(err.value) == f"TS3 J_Best: expected (N, W, 17, 3) poses, got {tuple(bad.shape)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inference_data_P_Agg.mat", "inference_data_P_Best.mat"]


def test_without_scipy_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError) as err:
        P.require_savemat()
    assert str(err.value) == ("writing the official MPI-INF-3DHP .mat files needs scipy; install it with "
                              "pip install 'ddhpose[mat]'")
    assert err.value.__cause__ is None and err.value.__suppress_context__


def _prepare(*args, **kwargs):
    """Stands for evaluate_config: the ground-truth warning names the line that called it."""
    return P.prepare_ground_truth(*args, **kwargs)


def test_prepare_ground_truth_without_the_test_set_s_folder_warns_at_the_caller(tmp_path):
    from mpi3dhp_files import make_test_set
    from ddhpose.data.mpi3dhp import load_3dhp_test
    pytest.importorskip("scipy.io")
    test_path, _, _ = make_test_set(tmp_path)
    seqs = load_3dhp_test(test_path)
    note = (f"data_3d of {test_path} as it is, not checked: preprocessed test files carry annot3 (what the released "
            "script scores against) or univ_annot3 under that name (8-20 mm apart on TS5 and TS6), and the file does "
            "not say which; give the test set's folder with --annot-dir to check it and to score against "
            "annot_data.mat")
    with pytest.warns(UserWarning) as caught:
        line = sys._getframe().f_lineno + 1
        out, labels, provenance = _prepare(tuple(seqs), str(test_path))
    assert [str(w.message) for w in caught] == [f"MPI-INF-3DHP ground truth: {note}"]
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampoline adds a frame between the two
        assert caught[0].filename == __file__ and caught[0].lineno == line
    assert out == seqs and isinstance(out, list) and labels is None and provenance == {"ground truth": note}
    with pytest.raises(ValueError) as err:
        P.prepare_ground_truth(seqs, str(test_path), field="annot2")
    assert str(err.value) == "ground truth must be one of ['annot3', 'univ_annot3'], got 'annot2'"


def test_prepare_ground_truth_from_annot_data_says_which_field_and_which_valid_frames(tmp_path):
    from mpi3dhp_files import make_test_set
    from ddhpose.data.mpi3dhp import load_3dhp_test
    pytest.importorskip("scipy.io")
    test_path, annot_dir, anns = make_test_set(tmp_path)
    seqs = load_3dhp_test(test_path)
    seqs[0].valid[:3] = False  # annot_data.mat's valid_frame is [1, 0, 1, ...]: frames 0 and 2 differ
    seqs[4].valid[5] = False
    out, labels, provenance = P.prepare_ground_truth(seqs, str(test_path), annot_dir)
    held = ("TS1 annot3 = univ_annot3, TS2 annot3 = univ_annot3, TS3 annot3 = univ_annot3, "
            "TS4 annot3 = univ_annot3, TS5 univ_annot3, TS6 univ_annot3")
    assert provenance == {
        "ground truth": f"annot3 of TSk/annot_data.mat in {annot_dir}, with its valid_frame (the field the released "
                        "script mpii_test_predictions_ori_py.m scores against)",
        "test file's data_3d": f"{test_path}: {held}",
        "valid frames": "annot_data.mat's valid_frame used; the test file's valid flags differ in TS1 (2 frames), "
                        "TS5 (1 frames)"}
    for seq, name in zip(out, P.TEST_SEQUENCES):
        ann = anns[name]
        assert seq.subject == name and np.array_equal(seq.valid, ann["valid"])
        rel = (ann["annot3"] - ann["annot3"][:, ROOT:ROOT + 1]) / 1000
        np.testing.assert_allclose(seq.poses_3d, rel, atol=1e-9)
    assert list(labels) == list(P.TEST_SEQUENCES) and np.array_equal(labels["TS2"], anns["TS2"]["activity"])
    univ, _, provenance = P.prepare_ground_truth(load_3dhp_test(test_path), str(test_path), annot_dir, "univ_annot3")
    assert provenance["ground truth"] == (f"univ_annot3 of TSk/annot_data.mat in {annot_dir}, with its valid_frame "
                                          "(the field of the test set's mpii_test_predictions.m)")
    assert "valid frames" not in provenance
    ann = anns["TS5"]
    np.testing.assert_allclose(univ[4].poses_3d, (ann["univ_annot3"] - ann["univ_annot3"][:, ROOT:ROOT + 1]) / 1000,
                               atol=1e-9)
    # one annot_data.mat without activity_annotation: no activity table rather than a partial one
    import scipy.io
    mat = scipy.io.loadmat(annot_dir / "TS4" / "annot_data.mat")
    scipy.io.savemat(annot_dir / "TS4" / "annot_data.mat",
                     {k: v for k, v in mat.items() if not k.startswith("__") and k != "activity_annotation"})
    _, labels, _ = P.prepare_ground_truth(load_3dhp_test(test_path), str(test_path), annot_dir)
    assert labels is None


def test_pck_joints_are_the_official_14_only_on_the_3dhp_skeleton():
    from ddhpose.skeleton import H36M
    assert P.pck_joints(H36M) is None  # another skeleton: every joint counts


def test_prepare_ground_truth_reads_only_the_sequences_given_and_names_a_foreign_data_3d(tmp_path):
    """Two sequences need only their two annot_data.mat; a sequence without valid flags takes
    annot_data.mat's without a 'valid frames' note; data_3d that is neither field is refused
    naming the test file."""
    import dataclasses
    from mpi3dhp_files import make_test_set
    from ddhpose.data.mpi3dhp import load_3dhp_test
    pytest.importorskip("scipy.io")
    test_path, annot_dir, anns = make_test_set(tmp_path, frames={"TS2": 6, "TS5": 8})
    seqs = load_3dhp_test(test_path)
    seqs[0] = dataclasses.replace(seqs[0], valid=None)
    out, labels, provenance = P.prepare_ground_truth(seqs, str(test_path), annot_dir)
    assert [s.subject for s in out] == ["TS2", "TS5"] and sorted(labels) == ["TS2", "TS5"]
    assert np.array_equal(out[0].valid, anns["TS2"]["valid"]) and "valid frames" not in provenance
    assert provenance["test file's data_3d"] == f"{test_path}: TS2 annot3 = univ_annot3, TS5 univ_annot3"
    seqs[1] = dataclasses.replace(seqs[1], poses_3d=seqs[1].poses_3d * 1.2)  # 20 % larger: neither field
    with pytest.raises(ValueError) as err:
        P.prepare_ground_truth(seqs, str(test_path), annot_dir)
    assert str(err.value).startswith(f"{test_path}: sequence 'TS5': data_3d is none of the 3D fields of ")
