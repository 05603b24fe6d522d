"""The paper's evaluation protocols (method section 7) and their tables.

Human3.6M: every test sequence is cut into F-frame windows, sampled with H hypotheses and W
DDIM iterations (flip augmentation on), and scored with J-Best, P-Best, P-Agg and J-Agg at every
step; errors are averaged per action (frame-weighted), then over the actions. P-Best takes, per
evaluation batch of windows (released: ``-b 4``), the hypothesis with the smallest batch mean.
MPI-INF-3DHP: MPJPE, PCK@150 mm and AUC of the J-Agg pose on the valid frames of each test
sequence, then their mean over the sequences (:mod:`ddhpose.evaluation.protocol_3dhp`), the activity table
when labels are given, and optionally the released ``inference_data_*.mat`` files.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ddhpose import metrics
from ddhpose.data.sequence import PoseSequence, truncate
from ddhpose.data.windows import test_windows
from ddhpose.evaluation import protocol_3dhp
from ddhpose.evaluation.result import SequenceResult
from ddhpose.files import atomic_write_text
from ddhpose.model.ddhpose import DDHPose
from ddhpose.windowing import unwindow

KEYS = tuple(f"{m}_{a}" for m in ("mpjpe", "p_mpjpe") for a in metrics.AGGREGATIONS)
PBest = Literal["batch", "sequence"]
#: windows per evaluation batch in the released evaluation: main.py uses ``-b`` (README: 4),
#: main_3dhp.py's evaluate() a fixed ``bs = 2``
P_BEST_WINDOWS = {"h36m": 4, "3dhp": 2}


@torch.no_grad()
def sample_windows(model: DDHPose, windows: dict[str, torch.Tensor], *, hypotheses: int = 1, iterations: int = 1,
                   flip: bool = True, batch_size: int = 64, generator: torch.Generator | None = None
                   ) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    """Sample a sequence's test windows (:func:`~ddhpose.data.windows.test_windows`) in order,
    ``batch_size`` at a time: yields (the batch of windows on the model's device, its samples
    (B, W, H, F, J, 3)), one ``generator`` drawn through all of them."""
    device = next(model.parameters()).device
    for start in range(0, windows["x2d"].shape[0], batch_size):
        batch = {k: v[start:start + batch_size].to(device) for k, v in windows.items()}
        yield batch, model.sample(batch["x2d"], hypotheses=hypotheses, iterations=iterations, flip=flip,
                                  generator=generator)


@torch.no_grad()
def evaluate_sequence(model: DDHPose, seq: PoseSequence, *, hypotheses: int = 1, iterations: int = 1,
                      flip: bool = True, batch_size: int = 64, group: str | None = None,
                      generator: torch.Generator | None = None, p_best: PBest = "batch",
                      p_best_windows: int = 4, keep_aggregates: bool = False) -> SequenceResult:
    """Sample and score one sequence (all windows). Errors in metres per DDIM step.

    ``batch_size`` windows are sampled at a time; P-Best is reduced per ``p_best_windows``
    consecutive windows (``p_best="batch"``, released) or over the whole sequence
    (``"sequence"``). The per-frame pose keeps the last window's prediction on the overlap.
    ``keep_aggregates`` also returns the four exported poses of every step (memory: all samples).
    """
    if p_best not in ("batch", "sequence"):
        raise ValueError(f"p_best expected 'batch' or 'sequence', got {p_best!r}")
    windows, index = test_windows(seq, model.config.frames)
    sums: dict[str, torch.Tensor] = defaultdict(lambda: 0)
    p_best_parts: dict[str, list[torch.Tensor]] = defaultdict(list)
    chosen, kept, frame_counts = [], defaultdict(list), []
    for batch, samples in sample_windows(model, windows, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                         batch_size=batch_size, generator=generator):
        samples[..., seq.root, :] = 0
        reproj = metrics.reproject(samples, batch["traj"], batch["intrinsics"])
        choice = metrics.reprojection_choice(reproj, batch["x2d"])  # J-Agg, (B, W, 1, F, J)
        errors = metrics.clip_errors(samples, batch["y3d"], choice=choice, valid=batch["valid"])
        frames = batch["valid"].sum(-1)  # (B,) valid frames per window: F everywhere for Human3.6M
        frame_counts.append(frames.cpu())
        for key, value in errors.items():
            if key.endswith("_p_best"):
                p_best_parts[key].append(value.cpu())  # (B, W, H): reduced per batch below
            else:
                sums[key] = sums[key] + (value * frames.view(-1, *([1] * (value.ndim - 1)))).sum(0)
        chosen.append(metrics.gather_choice(samples[:, -1:], choice[:, -1:])[:, 0].cpu())
        if keep_aggregates:  # P-Best batches may span sampling batches: aggregated at the end
            for key, value in (("samples", samples), ("target", batch["y3d"]), ("choice", choice)):
                kept[key].append(value.cpu())
    # frame-weighted mean over the windows (all frames of every window: released behaviour)
    counts = torch.cat(frame_counts)
    weight = max(float(counts.sum()), 1.0)
    errors = {k: v / weight for k, v in sums.items()}
    windows_per_batch = p_best_windows if p_best == "batch" else None
    errors.update({k: metrics.p_best_by_batch(torch.cat(v), counts, windows_per_batch)
                   for k, v in p_best_parts.items()})
    pose = unwindow(torch.cat(chosen), index, seq.num_frames, keep="last")
    target = torch.from_numpy(seq.poses_3d)
    valid = torch.ones(seq.num_frames, dtype=torch.bool) if seq.valid is None else torch.from_numpy(seq.valid)
    levels = metrics.per_level_mpjpe(pose[valid], target[valid], model.skeleton)
    aggregates = None
    if keep_aggregates:
        per_window = protocol_3dhp.aggregate_poses(*(torch.cat(kept[k]) for k in ("samples", "target", "choice")),
                                                   windows_per_batch)
        aggregates = protocol_3dhp.sequence_poses(per_window, index, seq.num_frames)
    return SequenceResult(seq.name, group or seq.action, int(weight), {k: v.cpu() for k, v in errors.items()},
                          levels.cpu(), pose, target, valid, seq.subject, aggregates)


@dataclass
class Report:
    """Per-group (action or test sequence) tables of an evaluation."""

    hypotheses: int
    iterations: int
    groups: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # group -> key -> (W,) mm
    levels: dict[str, list[float]] = field(default_factory=dict)
    pose: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> metrics of the J-Agg pose, mm
    activities: dict[str, dict[str, float]] = field(default_factory=dict)  # 3DHP activity -> mpjpe, pck, auc
    definitions: dict[str, str] = field(default_factory=dict)  # how each table's figures are defined
    provenance: dict[str, Any] = field(default_factory=dict)  # checkpoint, config, overrides, test subset

    def to_dict(self) -> dict[str, Any]:
        return {"hypotheses": self.hypotheses, "iterations": self.iterations, "groups": self.groups,
                "levels": self.levels, "pose": self.pose, "activities": self.activities,
                "definitions": self.definitions, "provenance": self.provenance}


def pose_metrics(results: Sequence[SequenceResult], pck: bool = False,
                 pck_joints: Sequence[int] | None = None) -> dict[str, float]:
    """MPJPE, P-MPJPE, N-MPJPE and MPJVE (and PCK@150mm / AUC with ``pck``, over ``pck_joints``,
    default all) of the J-Agg pose at the last step, over the valid frames of ``results`` (each
    frame once, pooled), in mm."""
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
        out.update(pck=float(metrics.pck(pose, target, joints=pck_joints)),
                   auc=float(metrics.auc(pose, target, joints=pck_joints)))
    return out


def summarise(results: Sequence[SequenceResult], *, hypotheses: int, iterations: int,
              group_order: Sequence[str] | None = None, pck: bool = False,
              pck_joints: Sequence[int] | None = None,
              activities: Mapping[str, np.ndarray] | None = None) -> Report:
    """Frame-weighted mean per group, then the unweighted mean over groups ('Average'), in mm.

    The pose table has a row per group, 'Average' (the mean of the group rows: for 3DHP the
    mean over the test sequences, as the released README) and 'All' (every frame pooled).
    ``activities`` (subject -> per-frame labels 1-7) adds the official 3DHP activity table.
    """
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
        report.pose[g] = pose_metrics(rs, pck, pck_joints)
    keys = report.groups[names[0]].keys() if names else []
    report.groups["Average"] = {k: torch.tensor([report.groups[g][k] for g in names]).mean(0).tolist() for k in keys}
    if names:
        report.levels["Average"] = torch.tensor([report.levels[g] for g in names]).mean(0).tolist()
    if names:
        report.pose["Average"] = {k: sum(report.pose[g][k] for g in names) / len(names)
                                  for k in report.pose[names[0]] if all(k in report.pose[g] for g in names)}
        report.pose["All"] = pose_metrics(results, pck, pck_joints)
    joints = "all joints" if pck_joints is None else f"{len(pck_joints)} joints {list(pck_joints)}"
    report.definitions["pose table"] = (
        "the J-Agg pose at the last DDIM step, each frame once (the last window's prediction on the overlap "
        "of the last window, as main_3dhp.py); a row per group with its valid frames pooled; 'Average' = "
        "the mean of the group rows (3DHP: the mean over the test sequences, as the released README); "
        "'All' = every valid frame pooled" + (f"; PCK@150 mm and AUC (0..150 mm) over {joints}, MPJPE over "
                                               "all joints" if pck else ""))
    if activities is not None:
        report.activities = protocol_3dhp.activity_rows(results, activities, pck_joints)
        report.definitions["activity table"] = (
            f"the official 3DHP activity table: valid frames of every sequence pooled per activity label, "
            f"then 'All'; PCK/AUC over {joints}, MPJPE over all joints")
    return report


def evaluate(model: DDHPose, sequences: Sequence[PoseSequence], *, hypotheses: int = 1, iterations: int = 1,
             flip: bool = True, batch_size: int = 64, group_of=None, group_order: Sequence[str] | None = None,
             pck: bool = False, progress: bool = True, seed: int = 0, p_best: PBest = "batch",
             p_best_windows: int = 4, activities: Mapping[str, np.ndarray] | None = None,
             export_mat: str | Path | None = None) -> Report:
    """Evaluate ``model`` on ``sequences``; ``group_of(seq)`` names the table row of a sequence.

    P-Best per evaluation batch of ``p_best_windows`` windows (``p_best="batch"``, released) or
    per sequence. With ``pck``, PCK/AUC count the official 14 joints on the 3DHP skeleton.
    ``activities`` adds the 3DHP activity table; ``export_mat`` (a folder) writes the released
    ``inference_data_<aggregation>.mat`` files (3DHP test sequences TS1-TS6; needs scipy).
    """
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    results = []
    for seq in tqdm(sequences, desc="evaluate", unit="seq", disable=not progress):
        group = group_of(seq) if group_of else seq.action
        results.append(evaluate_sequence(model, seq, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                         batch_size=batch_size, group=group, generator=generator, p_best=p_best,
                                         p_best_windows=p_best_windows, keep_aggregates=export_mat is not None))
    report = summarise(results, hypotheses=hypotheses, iterations=iterations, group_order=group_order, pck=pck,
                       pck_joints=protocol_3dhp.pck_joints(model.skeleton) if pck else None, activities=activities)
    report.definitions["P-Best"] = (
        f"per evaluation batch of {p_best_windows} consecutive windows of a sequence (released): the hypothesis "
        "with the smallest mean error over the batch's valid frames, averaged over batches by frames"
        if p_best == "batch" else
        "per sequence: the hypothesis with the smallest mean error over all the sequence's windows")
    if export_mat is not None:
        poses = {r.subject: r.aggregates for r in results}
        paths = protocol_3dhp.write_inference_mats(export_mat, poses)
        report.provenance["mat files"] = ", ".join(str(p) for p in paths)
    return report


def report_markdown(report: Report) -> str:
    """One table per (metric, aggregation) with a column per DDIM step, plus levels and PCK."""
    out = io.StringIO()
    w = report.iterations
    out.write(f"Hypotheses H={report.hypotheses}, iterations W={w}; errors in mm.\n\n")
    for key, value in report.provenance.items():
        out.write(f"- {key}: {value}\n")
    if report.provenance:
        out.write("\n")
    if report.definitions:
        out.write("Definitions:\n\n" + "".join(f"- {k}: {v}\n" for k, v in report.definitions.items()) + "\n")
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
        out.write("\n")
    if report.activities:
        out.write("### MPI-INF-3DHP activities (J-Agg, last step; mm, PCK and AUC in %)\n\n"
                  "| activity | frames | MPJPE | PCK | AUC |\n|---|---|---|---|---|\n")
        for a, v in report.activities.items():
            out.write(f"| {a} | {v['frames']:.0f} | {v['mpjpe']:.1f} | {v['pck']:.1f} | {v['auc']:.1f} |\n")
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
    for a, v in report.activities.items():
        for key, value in v.items():
            writer.writerow([a, f"activity_{key}", report.iterations, f"{value:.4f}"])
    return out.getvalue()


def write_report(report: Report, out_dir: str | Path, stem: str = "results") -> list[Path]:
    """Write ``stem``.md, .csv and .json into ``out_dir`` (atomically)."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.json"]
    atomic_write_text(paths[0], report_markdown(report))
    atomic_write_text(paths[1], report_csv(report))
    atomic_write_text(paths[2], json.dumps(report.to_dict(), indent=2))
    return paths


def evaluate_config(model: DDHPose, config: str, overrides: Sequence[str] = (), *,
                    p_best_windows: int | None = None, activities: str | Path | None = None,
                    export_mat: str | Path | None = None, **kwargs: Any) -> Report:
    """Evaluate on the test split a config names: per action for Human3.6M (the 15 actions in
    the paper's order), per test sequence with PCK/AUC for MPI-INF-3DHP, per clip otherwise.

    ``p_best_windows`` defaults to the released evaluation batch (:data:`P_BEST_WINDOWS`).
    MPI-INF-3DHP only: ``activities`` names a file of per-frame activity labels
    (:func:`~ddhpose.data.mpi3dhp.load_3dhp_activities`; default: the test file, if its entries
    carry them); ``export_mat`` a folder for the released ``inference_data_*.mat`` files.
    Other keywords go to :func:`evaluate`.
    """
    from ddhpose.data.h36m import H36M_ACTIONS, action_group
    from ddhpose.data.mpi3dhp import load_3dhp_activities
    from ddhpose.data.sources import load_split
    from ddhpose.experiment import load_config
    cfg = load_config(config, overrides)
    sequences = load_split(cfg.data, "test", cfg.train.seed)
    if not sequences:
        raise ValueError(f"config {config!r} names no test sequences (data.test_subjects / data.test_path)")
    if cfg.eval.max_frames > 0:
        sequences = [truncate(s, cfg.eval.max_frames) for s in sequences]
    if cfg.model.frames != model.config.frames or cfg.model.skeleton != model.config.skeleton:
        raise ValueError(f"checkpoint (F={model.config.frames}, {model.config.skeleton}) does not match config "
                         f"{config!r} (F={cfg.model.frames}, {cfg.model.skeleton})")
    if cfg.data.dataset != "3dhp" and (activities is not None or export_mat is not None):
        raise ValueError(f"config {config!r}: activity labels and the .mat export are for MPI-INF-3DHP "
                         f"(data.dataset=3dhp), not {cfg.data.dataset!r}")
    kwargs["p_best_windows"] = p_best_windows or P_BEST_WINDOWS.get(cfg.data.dataset, 4)
    if cfg.data.dataset == "h36m":
        report = evaluate(model, sequences, group_of=lambda s: action_group(s.action), group_order=H36M_ACTIONS,
                          **kwargs)
    elif cfg.data.dataset == "3dhp":
        label_file = activities or cfg.data.test_path
        labels = load_3dhp_activities(label_file)
        report = evaluate(model, sequences, group_of=lambda s: s.subject, pck=True, activities=labels or None,
                          export_mat=export_mat, **kwargs)
        if not labels:
            report.definitions["activity table"] = (f"not available: {label_file} carries no per-frame activity "
                                                    "labels (give them with --activities FILE)")
    else:
        report = evaluate(model, sequences, **kwargs)
    report.provenance.update(config=config, overrides=" ".join(overrides), sequences=len(sequences),
                             frames=sum(s.num_frames for s in sequences), flip=kwargs.get("flip", True))
    return report
