"""The training monitor: position, velocity and acceleration errors, sampled as the evaluation samples."""
from __future__ import annotations

import pytest
import torch

from ddhpose.data.sources import load_split
from ddhpose.experiment import load_config
from ddhpose.model.ddhpose import DDHPose


def test_monitor_reports_position_velocity_and_acceleration_errors_over_valid_frames():
    import numpy as np
    from torch import nn

    from ddhpose.data.sequence import PoseSequence
    from ddhpose.experiment import EvalConfig
    from ddhpose.evaluation.monitor import evaluate_mpjpe

    class Zero(nn.Module):  # predicts the zero pose: the errors are the truth's own magnitudes
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.config = type("C", (), {"frames": 4, "lens_input": False})()

        def sample(self, x2d, hypotheses, iterations, flip, generator):
            return torch.zeros(x2d.shape[0], 1, hypotheses, x2d.shape[1], 17, 3)

    rng = np.random.default_rng(0)
    truth = rng.normal(0, 0.2, (10, 17, 3)).astype(np.float32)
    truth[:, 0] = 0
    valid = np.ones(10, bool)
    valid[4] = False
    seq = PoseSequence(keypoints_2d=np.zeros((10, 17, 2)), poses_3d=truth, trajectory=np.zeros((10, 1, 3)),
                       intrinsics=np.ones(9), image_size=(100, 100), subject="s", action="a", camera="c", valid=valid)
    got = evaluate_mpjpe(Zero(), [seq], EvalConfig())
    t = torch.from_numpy(truth).double()
    norm = lambda x: x.norm(dim=-1).mean(-1)  # noqa: E731
    ok1 = torch.from_numpy(valid[1:] & valid[:-1])
    ok2 = torch.from_numpy(valid[2:] & valid[1:-1] & valid[:-2])
    assert got["mpjpe"] == pytest.approx(norm(t)[torch.from_numpy(valid)].mean().item() * 1000, rel=1e-5)
    assert got["mpjve"] == pytest.approx(norm(t.diff(dim=0))[ok1].mean().item() * 1000, rel=1e-5)
    assert got["accel"] == pytest.approx(norm(t.diff(n=2, dim=0))[ok2].mean().item() * 1000, rel=1e-5)


def test_monitor_samples_as_before_with_a_seed_per_sequence():
    """The monitor's numbers for a given model and seed: each sequence sampled in test windows with
    its own generator from (seed, EVAL, index), the mean hypothesis of the last iteration, the
    first window's frame on an overlap, root-relative (the loop the monitor had, written out)."""
    from ddhpose.data.windows import test_windows
    from ddhpose.windowing import unwindow
    from ddhpose.experiment import EvalConfig
    from ddhpose.metrics import joint_errors
    from ddhpose.seeding import SeedTag, derive_seed
    from ddhpose.evaluation.monitor import evaluate_mpjpe

    config = load_config("tiny", ["data.synthetic_test_sequences=3", "data.synthetic_frames=13"])
    torch.manual_seed(0)
    model = DDHPose(config.model).eval()
    sequences = load_split(config.data, "test", 0)
    eval_config = EvalConfig(hypotheses=2, iterations=2, batch_size=1)

    def naive(rank, world_size):
        total, count = 0.0, 0
        for i in range(rank, len(sequences), world_size):
            seq = sequences[i]
            windows, index = test_windows(seq, model.config.frames)
            gen = torch.Generator().manual_seed(derive_seed(3, SeedTag.EVAL, i))
            preds = [model.sample(x2d, 2, 2, True, gen)[:, -1].mean(1) for x2d in windows["x2d"].split(1)]
            pose = unwindow(torch.cat(preds), index, seq.num_frames)
            err = joint_errors(pose - pose[:, seq.root:seq.root + 1], torch.from_numpy(seq.poses_3d)).mean(-1)
            total, count = total + float(err.sum()), count + len(err)  # float32 sums per sequence, as the monitor
        return total / count * 1000

    assert evaluate_mpjpe(model, sequences, eval_config, seed=3)["mpjpe"] == pytest.approx(naive(0, 1), rel=1e-12)
    odd = evaluate_mpjpe(model, sequences, eval_config, seed=3, rank=1, world_size=1)  # sequences 1, 2
    assert odd["mpjpe"] == pytest.approx(naive(1, 1), rel=1e-12)
