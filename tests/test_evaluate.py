"""The evaluation protocol: per-group tables, frame weighting, report files."""
import json

import pytest
import torch

from ddhpose.data.synthetic import synthetic_sequences
from ddhpose.evaluation.evaluate import evaluate, evaluate_config, evaluate_sequence, summarise, write_report
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)).eval()


@pytest.fixture(scope="module")
def sequences():
    return synthetic_sequences(3, 25, seed=3)


def test_sequence_errors_have_one_value_per_step(model, sequences):
    result = evaluate_sequence(model, sequences[0], hypotheses=2, iterations=3, batch_size=2)
    assert set(result.errors) == {f"{m}_{a}" for m in ("mpjpe", "p_mpjpe") for a in ("j_best", "p_best", "p_agg", "j_agg")}
    for value in result.errors.values():
        assert value.shape == (3,) and torch.isfinite(value).all()
    # J-Best can never be worse than P-Best or the J-Agg choice
    assert (result.errors["mpjpe_j_best"] <= result.errors["mpjpe_p_best"] + 1e-6).all()
    assert (result.errors["mpjpe_j_best"] <= result.errors["mpjpe_j_agg"] + 1e-6).all()
    assert result.pose.shape == (25, 17, 3) and result.levels.shape == (6,)


def test_summary_weights_frames_within_groups_and_averages_groups(model, sequences):
    results = [evaluate_sequence(model, s, batch_size=4) for s in sequences]
    results[0].group = results[1].group = "A"
    results[2].group = "B"
    report = summarise(results, hypotheses=1, iterations=1)
    a = sum(r.errors["mpjpe_p_agg"] * r.frames for r in results[:2]) / sum(r.frames for r in results[:2])
    assert report.groups["A"]["mpjpe_p_agg"][0] == pytest.approx(float(a) * 1000, rel=1e-5)
    avg = (report.groups["A"]["mpjpe_p_agg"][0] + report.groups["B"]["mpjpe_p_agg"][0]) / 2
    assert report.groups["Average"]["mpjpe_p_agg"][0] == pytest.approx(avg, rel=1e-6)


def test_perfect_prediction_scores_zero(sequences):
    class Oracle(DDHPose):
        truth = None

        def sample(self, x2d, hypotheses=1, iterations=1, flip=True, generator=None, noise=None):
            pose = self.truth[: x2d.shape[0]]
            return pose[:, None, None].expand(-1, iterations, hypotheses, -1, -1, -1).clone()

    oracle = Oracle(ModelConfig(frames=25, channels=32, depth=1, heads=4)).eval()
    seq = sequences[0]
    oracle.truth = torch.from_numpy(seq.poses_3d)[None]
    result = evaluate_sequence(oracle, seq, hypotheses=2, iterations=2)
    for key, value in result.errors.items():
        assert float(value.abs().max()) < 1e-6, key


def test_report_files_with_pck(sequences, tmp_path):
    """A prediction off by 102 mm (first sequence) or 203 mm (the others) along x on every joint
    but the root: PCK@150 (all joints on this skeleton, 'error < 150') is 100 % and 1/17 (the
    root), AUC counts 10 of the 31 thresholds for 102 mm and 30 for the root's 0 mm, MPJPE
    averages in the root's 0; the tables and files carry exactly those values."""
    class Offset(DDHPose):
        def sample(self, x2d, hypotheses=1, iterations=1, flip=True, generator=None, noise=None):
            pose, self.planned = self.planned[: x2d.shape[0]], self.planned[x2d.shape[0]:]
            return pose[:, None, None].expand(-1, iterations, hypotheses, -1, -1, -1).clone()

    model = Offset(ModelConfig(frames=25, channels=32, depth=1, heads=4)).eval()
    off = torch.tensor([0.102, 0.203, 0.203]).view(3, 1, 1) * (torch.arange(17) != 0).view(1, -1, 1).float()
    model.planned = torch.stack([torch.from_numpy(s.poses_3d) for s in sequences]) + off.unsqueeze(1) * \
        torch.tensor([1.0, 0.0, 0.0])
    report = evaluate(model, sequences, pck=True, progress=False, group_of=lambda s: s.action)
    paths = write_report(report, tmp_path)
    assert [p.name for p in paths] == ["results.md", "results.csv", "results.json"]
    data = json.loads(paths[2].read_text())
    assert set(data["groups"]) == {s.action for s in sequences} | {"Average"}
    first, every = data["pose"][sequences[0].action], data["pose"]["All"]
    assert first["pck"] == pytest.approx(100.0) and first["mpjpe"] == pytest.approx(102 * 16 / 17, rel=1e-5)
    assert every["pck"] == pytest.approx((17 + 1 + 1) / 51 * 100)
    assert every["auc"] == pytest.approx((16 * 10 + 3 * 30) / (51 * 31) * 100)
    assert every["mpjpe"] == pytest.approx((102 + 203 + 203) / 3 * 16 / 17, rel=1e-5)
    assert set(every) == {"mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc"}
    assert every["mpjve"] == pytest.approx(0.0, abs=1e-3)  # a constant offset moves nothing
    assert "PCK" in paths[0].read_text() and "MPJVE" in paths[0].read_text() and "mpjpe_j_agg" in paths[1].read_text()
    assert f"{sequences[0].action},pose_pck,1,100.0000" in paths[1].read_text()


def test_truncate_keeps_the_first_frames(sequences):
    from ddhpose.data.sequence import truncate
    short = truncate(sequences[0], 10)
    assert short.num_frames == 10 and (short.poses_3d == sequences[0].poses_3d[:10]).all()
    assert short.name == sequences[0].name


def test_evaluate_config_p_best_switch_and_3dhp_only_options(model, tmp_path):
    released = evaluate_config(model, "tiny", progress=False)
    assert "per evaluation batch of 4 consecutive windows" in released.definitions["P-Best"]
    per_sequence = evaluate_config(model, "tiny", p_best="sequence", progress=False)
    assert "per sequence" in per_sequence.definitions["P-Best"]
    with pytest.raises(ValueError, match="for MPI-INF-3DHP"):
        evaluate_config(model, "tiny", export_mat=tmp_path)
