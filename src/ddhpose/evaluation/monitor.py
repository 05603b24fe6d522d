"""The training monitor: a quick MPJPE (and velocity / acceleration error) on a few test
sequences after every epoch, sampled exactly as the evaluation samples them."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.distributed as dist

from ddhpose.data.sequence import PoseSequence, truncate
from ddhpose.data.windows import test_windows
from ddhpose.evaluation.evaluate import sample_windows
from ddhpose.experiment import EvalConfig
from ddhpose.metrics import joint_errors
from ddhpose.model.ddhpose import DDHPose
from ddhpose.seeding import SeedTag, derive_seed
from ddhpose.windowing import unwindow


def monitor_sequences(tests: Sequence[PoseSequence], config: EvalConfig) -> list[PoseSequence]:
    """The test sequences the training monitor runs on: ``max_sequences`` evenly spaced over the
    test set (so every source is represented), each cut to its first ``max_frames`` frames."""
    tests = list(tests)
    if 0 < config.max_sequences < len(tests):
        tests = [tests[i] for i in np.linspace(0, len(tests) - 1, config.max_sequences).round().astype(int)]
    return [truncate(s, config.max_frames) for s in tests] if config.max_frames > 0 else tests


@torch.no_grad()
def evaluate_mpjpe(model: DDHPose, sequences: Sequence, config: EvalConfig, seed: int = 0,
                   rank: int = 0, world_size: int = 1) -> dict[str, float]:
    """The training monitor, in mm over the valid frames of ``sequences`` of the mean hypothesis
    at the last DDIM iteration: 'mpjpe', 'mpjve' (velocity, mm/frame) and 'accel' (acceleration
    error, mm/frame^2; over frames whose neighbours are valid too). The windows are sampled as
    in evaluation (:func:`ddhpose.evaluation.evaluate.sample_windows`), with a generator per sequence
    seeded from (seed, its index); a frame two windows hold comes from the first. Each rank
    takes every world_size-th sequence; the sums are all-reduced."""
    device = next(model.parameters()).device
    total = torch.zeros(6, dtype=torch.float64, device=device)  # sums and counts of the three
    was_training = model.training
    model.eval()
    for i in range(rank, len(sequences), world_size):
        seq = sequences[i]
        windows, index = test_windows(seq, model.config.frames)
        gen = torch.Generator(device).manual_seed(derive_seed(seed, SeedTag.EVAL, i))
        preds = [samples[:, -1].mean(1) for _, samples in sample_windows(
            model, windows, hypotheses=config.hypotheses, iterations=config.iterations, flip=config.flip,
            batch_size=config.batch_size, generator=gen)]
        pose = unwindow(torch.cat(preds), index, seq.num_frames)
        pose = pose - pose[:, seq.root:seq.root + 1]
        truth = torch.from_numpy(seq.poses_3d).to(device)
        valid = torch.ones(len(pose), dtype=torch.bool, device=device) if seq.valid is None \
            else torch.from_numpy(seq.valid).to(device)
        for n in range(3):  # position, velocity, acceleration: n-th differences over time
            if len(pose) <= n:
                continue
            err = joint_errors(torch.diff(pose, n=n, dim=0), torch.diff(truth, n=n, dim=0)).mean(-1)
            ok = valid[n:].clone()
            for back in range(1, n + 1):
                ok &= valid[n - back:len(valid) - back]
            total[2 * n:2 * n + 2] += torch.stack([err[ok].sum().double(), ok.sum().double()])
    if world_size > 1:
        dist.all_reduce(total)
    model.train(was_training)
    return {name: float(total[2 * k] / total[2 * k + 1] * 1000) if total[2 * k + 1] > 0 else float("nan")
            for k, name in enumerate(("mpjpe", "mpjve", "accel"))}
