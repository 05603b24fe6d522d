"""The MPI-INF-3DHP protocol as the official MATLAB scripts compute it, and the released export."""
from __future__ import annotations

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
    assert list(rows) == ["Standing/Walking", "Exercising", "All"]  # 'Sitting' was an invalid frame only
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
             for name, n in (("TS1", 5), ("TS6", 3))}
    paths = P.write_inference_mats(tmp_path, poses)
    assert [p.name for p in paths] == [f"inference_data_{a}.mat" for a in ("P_Agg", "P_Best", "J_Best", "J_Agg")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left
    for path, agg in zip(paths, P.MAT_AGGREGATIONS):
        mat = io.loadmat(path)
        assert sorted(k for k in mat if not k.startswith("__")) == ["TS1", "TS6"]
        ts1 = mat["TS1"]
        assert ts1.shape == (3, 17, 5, 2) and ts1.dtype == np.float64  # (xyz, joint, frame, step)
        expected = poses["TS1"][agg].double().numpy() * 1000  # millimetres
        np.testing.assert_allclose(ts1[:, 4, 2, 1], expected[2, 1, 4], rtol=1e-12)
        np.testing.assert_allclose(ts1, expected.transpose(3, 2, 0, 1), rtol=1e-12)
    with pytest.raises(ValueError, match="named 'S1'"):
        P.write_inference_mats(tmp_path, {"S1": poses["TS1"]})


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
    seq = _sequence(7)  # windows [0..3] and [3..6]: frame 3 is in both
    truth = torch.from_numpy(seq.poses_3d).float()
    index = np.array([[0, 1, 2, 3], [3, 4, 5, 6]])
    offsets = torch.tensor([0.010, 0.020])  # window 0 off by 10 mm, window 1 by 20 mm (x)
    planned = truth[index][:, None, None].repeat(1, 1, 1, 1, 1, 1)  # (2, W=1, H=1, 4, 17, 3)
    planned[..., 0] += offsets.view(2, 1, 1, 1, 1)
    planned[..., ROOT, :] = 0
    model.planned = planned
    report = evaluate(model, [seq], pck=True, progress=False, group_of=lambda s: s.subject, export_mat=tmp_path,
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


def _test_file(path, labels: bool):
    """A data_test_3dhp.npz in the released layout (millimetres, pixels), 9 and 6 frames."""
    rng = np.random.default_rng(0)
    data = {}
    for name, n, (w, h) in (("TS1", 9, (2048, 2048)), ("TS5", 6, (1920, 1080))):
        pose = np.array([0.0, 0.0, 4000.0]) + rng.uniform(-800, 800, (n, 17, 3))
        entry = {"data_3d": pose.astype(np.float32), "data_2d": rng.uniform(0, [w, h], (n, 17, 2)).astype(np.float32),
                 "valid": np.ones(n, np.float32)}
        if labels:
            entry["activity_annotation"] = np.arange(n) % 2 + 1
        data[name] = entry
    np.savez(path, data=np.array(data, dtype=object))
    return path


def test_evaluate_config_3dhp_tables_and_export(tmp_path):
    io = pytest.importorskip("scipy.io")
    from ddhpose.evaluation.evaluate import evaluate_config, report_markdown
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=4, channels=16, depth=1, heads=2, skeleton="3dhp")).eval()
    overrides = [f"data.test_path={_test_file(tmp_path / 'test.npz', labels=True)}", "model.frames=4"]
    report = evaluate_config(model, "3dhp", overrides, export_mat=tmp_path / "mat", progress=False)
    assert list(report.pose) == ["TS1", "TS5", "Average", "All"]
    assert report.pose["Average"]["pck"] == pytest.approx((report.pose["TS1"]["pck"] + report.pose["TS5"]["pck"]) / 2)
    assert list(report.activities) == ["Standing/Walking", "Exercising", "All"]
    assert report.activities["All"]["frames"] == 15
    assert "per evaluation batch of 2" in report.definitions["P-Best"]  # main_3dhp.py's bs = 2
    assert "MPI-INF-3DHP activities" in report_markdown(report)
    assert io.loadmat(tmp_path / "mat" / "inference_data_P_Best.mat")["TS5"].shape == (3, 17, 6, 1)
    unlabelled = evaluate_config(model, "3dhp", [f"data.test_path={_test_file(tmp_path / 'plain.npz', False)}",
                                                 "model.frames=4"], progress=False)
    assert unlabelled.activities == {} and "not available" in unlabelled.definitions["activity table"]


def test_released_checkpoint_evaluates_through_the_cli(tmp_path, capsys):
    """The released 3DHP .bin (skeleton from its file name) through `ddhpose evaluate` with the
    official protocol and the MATLAB export; the same .bin copied to a neutral name (the test's
    name and folders say no dataset) is refused until --skeleton says which skeleton it holds."""
    io = pytest.importorskip("scipy.io")
    import shutil
    from pathlib import Path

    from ddhpose.cli import main
    released = Path(__file__).parent / "fixtures" / "official_3dhp_f27.bin"
    test = _test_file(tmp_path / "test.npz", labels=True)
    args = ["evaluate", "--checkpoint", str(released), "-c", "3dhp", "-o", str(tmp_path / "eval"), "-H", "2",
            "--export-mat", str(tmp_path / "mat"), f"data.test_path={test}", "model.frames=27"]
    assert main(args) == 0
    table = (tmp_path / "eval" / "results.md").read_text()
    assert "TS1" in table and "TS5" in table and "Average" in table
    assert io.loadmat(tmp_path / "mat" / "inference_data_J_Agg.mat")["TS1"].shape == (3, 17, 9, 1)
    neutral = tmp_path / "best_epoch.bin"
    shutil.copy(released, neutral)
    args[2] = str(neutral)
    assert main(args) != 0
    assert "--skeleton h36m or --skeleton 3dhp" in capsys.readouterr().err
    assert main(args + ["--skeleton", "3dhp"]) == 0
