"""The paper's evaluation protocols (method section 7) and their tables.

Human3.6M: every test sequence is cut into F-frame windows, sampled with H hypotheses and W
DDIM iterations (flip augmentation on), and scored with J-Best, P-Best, P-Agg and J-Agg at every
step; errors are averaged per action (frame-weighted), then over the actions. MPI-INF-3DHP:
PCK@150 mm, AUC and MPJPE of the aggregate pose on the valid frames of each test sequence.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from . import metrics
from .data.sequence import PoseSequence, truncate
from .data.windows import test_windows, unwindow
from .files import atomic_write_text
from .model.ddhpose import DDHPose

KEYS = tuple(f"{m}_{a}" for m in ("mpjpe", "p_mpjpe") for a in metrics.AGGREGATIONS)


@dataclass
class SequenceResult:
    """Errors of one sequence in metres: key -> (W,), with the frame count used as weight."""

    name: str
    group: str
    frames: int
    errors: dict[str, torch.Tensor]
    levels: torch.Tensor  # (levels,) MPJPE per hierarchy level of the aggregate pose
    pose: torch.Tensor  # (N, J, 3) the aggregate pose (J-Agg, last step) per frame
    target: torch.Tensor  # (N, J, 3)
    valid: torch.Tensor  # (N,) bool


@torch.no_grad()
def evaluate_sequence(model: DDHPose, seq: PoseSequence, *, hypotheses: int = 1, iterations: int = 1,
                      flip: bool = True, batch_size: int = 64, group: str | None = None,
                      generator: torch.Generator | None = None) -> SequenceResult:
    """Sample and score one sequence (all windows). Errors in metres per DDIM step."""
    device = next(model.parameters()).device
    windows, index = test_windows(seq, model.config.frames)
    sums: dict[str, torch.Tensor] = defaultdict(lambda: 0)
    chosen, weight = [], 0.0
    n = windows["x2d"].shape[0]
    for start in range(0, n, batch_size):
        batch = {k: v[start:start + batch_size].to(device) for k, v in windows.items()}
        samples = model.sample(batch["x2d"], hypotheses=hypotheses, iterations=iterations, flip=flip,
                               generator=generator)
        samples[..., seq.root, :] = 0
        reproj = metrics.reproject(samples, batch["traj"], batch["intrinsics"])
        choice = metrics.reprojection_choice(reproj, batch["x2d"])  # J-Agg, (B, W, 1, F, J)
        errors = metrics.clip_errors(samples, batch["y3d"], choice=choice, valid=batch["valid"])
        frames = batch["valid"].sum(-1)  # (B,) valid frames per window: F everywhere for Human3.6M
        weight += float(frames.sum())
        for key, value in errors.items():
            sums[key] = sums[key] + (value * frames.view(-1, *([1] * (value.ndim - 1)))).sum(0)
        chosen.append(metrics.gather_choice(samples[:, -1:], choice[:, -1:])[:, 0].cpu())
    # frame-weighted mean over the windows (all frames of every window: released behaviour)
    weight = max(weight, 1.0)
    errors = {k: (v / weight).amin(-1) if k.endswith("_p_best") else v / weight for k, v in sums.items()}
    pose = unwindow(torch.cat(chosen), index, seq.num_frames)
    target = torch.from_numpy(seq.poses_3d)
    valid = torch.ones(seq.num_frames, dtype=torch.bool) if seq.valid is None else torch.from_numpy(seq.valid)
    levels = metrics.per_level_mpjpe(pose[valid], target[valid], model.skeleton)
    return SequenceResult(seq.name, group or seq.action, int(weight), {k: v.cpu() for k, v in errors.items()},
                          levels.cpu(), pose, target, valid)


@dataclass
class Report:
    """Per-group (action or test sequence) tables of an evaluation."""

    hypotheses: int
    iterations: int
    groups: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # group -> key -> (W,) mm
    levels: dict[str, list[float]] = field(default_factory=dict)
    pose: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> metrics of the J-Agg pose, mm
    provenance: dict[str, Any] = field(default_factory=dict)  # checkpoint, config, overrides, test subset

    def to_dict(self) -> dict[str, Any]:
        return {"hypotheses": self.hypotheses, "iterations": self.iterations, "groups": self.groups,
                "levels": self.levels, "pose": self.pose, "provenance": self.provenance}


def pose_metrics(results: Sequence[SequenceResult], pck: bool = False) -> dict[str, float]:
    """MPJPE, P-MPJPE, N-MPJPE and MPJVE (and PCK@150mm / AUC with ``pck``) of the J-Agg pose at
    the last step, over the valid frames of ``results`` (each frame once), in mm."""
    pose = torch.cat([r.pose[r.valid] for r in results]) * 1000
    target = torch.cat([r.target[r.valid] for r in results]) * 1000
    out = {"mpjpe": float(metrics.mpjpe(pose, target)), "p_mpjpe": float(metrics.p_mpjpe(pose, target)),
           "n_mpjpe": float(metrics.n_mpjpe(pose, target))}
    moving = [r for r in results if len(r.pose) > 1]  # velocity over each sequence's consecutive frames
    if moving:
        weights = torch.tensor([len(r.pose) - 1 for r in moving], dtype=torch.float64)
        mpjve = torch.stack([metrics.mean_velocity_error(r.pose, r.target).double() for r in moving]) * 1000
        out["mpjve"] = float((mpjve * weights).sum() / weights.sum())
    if pck:
        out.update(pck=float(metrics.pck(pose, target)), auc=float(metrics.auc(pose, target)))
    return out


def summarise(results: Sequence[SequenceResult], *, hypotheses: int, iterations: int,
              group_order: Sequence[str] | None = None, pck: bool = False) -> Report:
    """Frame-weighted mean per group, then the unweighted mean over groups ('Average'), in mm."""
    by_group: dict[str, list[SequenceResult]] = defaultdict(list)
    for r in results:
        by_group[r.group].append(r)
    names = [g for g in (group_order or sorted(by_group)) if g in by_group]
    report = Report(hypotheses, iterations)
    for g in names:
        rs = by_group[g]
        weight = sum(r.frames for r in rs)
        report.groups[g] = {k: (sum(r.errors[k] * r.frames for r in rs) / weight * 1000).tolist()
                            for k in rs[0].errors}
        report.levels[g] = (sum(r.levels * r.frames for r in rs) / weight * 1000).tolist()
        report.pose[g] = pose_metrics(rs, pck)
    keys = report.groups[names[0]].keys() if names else []
    report.groups["Average"] = {k: torch.tensor([report.groups[g][k] for g in names]).mean(0).tolist() for k in keys}
    if names:
        report.levels["Average"] = torch.tensor([report.levels[g] for g in names]).mean(0).tolist()
    if names:
        report.pose["All"] = pose_metrics(results, pck)
    return report


def evaluate(model: DDHPose, sequences: Sequence[PoseSequence], *, hypotheses: int = 1, iterations: int = 1,
             flip: bool = True, batch_size: int = 64, group_of=None, group_order: Sequence[str] | None = None,
             pck: bool = False, progress: bool = True, seed: int = 0) -> Report:
    """Evaluate ``model`` on ``sequences``; ``group_of(seq)`` names the table row of a sequence."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    results = []
    for seq in tqdm(sequences, desc="evaluate", unit="seq", disable=not progress):
        group = group_of(seq) if group_of else seq.action
        results.append(evaluate_sequence(model, seq, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                         batch_size=batch_size, group=group, generator=generator))
    return summarise(results, hypotheses=hypotheses, iterations=iterations, group_order=group_order, pck=pck)


def report_markdown(report: Report) -> str:
    """One table per (metric, aggregation) with a column per DDIM step, plus levels and PCK."""
    out = io.StringIO()
    w = report.iterations
    out.write(f"Hypotheses H={report.hypotheses}, iterations W={w}; errors in mm.\n\n")
    for key, value in report.provenance.items():
        out.write(f"- {key}: {value}\n")
    if report.provenance:
        out.write("\n")
    groups = list(report.groups)
    for key in KEYS:
        if not groups or key not in report.groups[groups[0]]:
            continue
        out.write(f"### {key}\n\n| group | " + " | ".join(f"step {i + 1}" for i in range(w)) + " |\n")
        out.write("|---|" + "---|" * w + "\n")
        for g in groups:
            out.write(f"| {g} | " + " | ".join(f"{v:.1f}" for v in report.groups[g][key]) + " |\n")
        out.write("\n")
    if report.levels:
        n = len(next(iter(report.levels.values())))
        out.write("### MPJPE per hierarchy level (J-Agg, last step)\n\n| group | "
                  + " | ".join(f"level {i}" for i in range(n)) + " |\n|---|" + "---|" * n + "\n")
        for g, vals in report.levels.items():
            out.write(f"| {g} | " + " | ".join(f"{v:.1f}" for v in vals) + " |\n")
        out.write("\n")
    if report.pose:
        names = [k for k in ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc") if k in report.pose["All"]]
        out.write("### The J-Agg pose at the last step, each frame once (mm; PCK and AUC in %)\n\n| group | "
                  + " | ".join(n.upper().replace("_", "-") for n in names) + " |\n|---|" + "---|" * len(names) + "\n")
        for g, v in report.pose.items():
            out.write(f"| {g} | " + " | ".join(f"{v[n]:.1f}" for n in names) + " |\n")
    return out.getvalue()


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "metric", "step", "value_mm"])
    for g, entries in report.groups.items():
        for key, values in entries.items():
            for step, v in enumerate(values, 1):
                writer.writerow([g, key, step, f"{v:.4f}"])
    for g, v in report.pose.items():
        for key, value in v.items():
            writer.writerow([g, f"pose_{key}", report.iterations, f"{value:.4f}"])
    return out.getvalue()


def write_report(report: Report, out_dir: str | Path, stem: str = "results") -> list[Path]:
    """Write ``stem``.md, .csv and .json into ``out_dir`` (atomically)."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.json"]
    atomic_write_text(paths[0], report_markdown(report))
    atomic_write_text(paths[1], report_csv(report))
    atomic_write_text(paths[2], json.dumps(report.to_dict(), indent=2))
    return paths


def evaluate_config(model: DDHPose, config: str, overrides: Sequence[str] = (), **kwargs: Any) -> Report:
    """Evaluate on the test split a config names: per action for Human3.6M (the 15 actions in
    the paper's order), per test sequence with PCK/AUC for MPI-INF-3DHP, per clip otherwise."""
    from .data.h36m import H36M_ACTIONS, action_group
    from .data.sources import load_split
    from .train_config import load_config
    cfg = load_config(config, overrides)
    sequences = load_split(cfg.data, "test", cfg.train.seed)
    if not sequences:
        raise ValueError(f"config {config!r} names no test sequences (data.test_subjects / data.test_path)")
    if cfg.eval.max_frames > 0:
        sequences = [truncate(s, cfg.eval.max_frames) for s in sequences]
    if cfg.model.frames != model.config.frames or cfg.model.skeleton != model.config.skeleton:
        raise ValueError(f"checkpoint (F={model.config.frames}, {model.config.skeleton}) does not match config "
                         f"{config!r} (F={cfg.model.frames}, {cfg.model.skeleton})")
    if cfg.data.dataset == "h36m":
        report = evaluate(model, sequences, group_of=lambda s: action_group(s.action), group_order=H36M_ACTIONS,
                          **kwargs)
    elif cfg.data.dataset == "3dhp":
        report = evaluate(model, sequences, group_of=lambda s: s.subject, pck=True, **kwargs)
    else:
        report = evaluate(model, sequences, **kwargs)
    report.provenance.update(config=config, overrides=" ".join(overrides), sequences=len(sequences),
                             frames=sum(s.num_frames for s in sequences), flip=kwargs.get("flip", True))
    return report
