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
import dataclasses
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
    (B, W, H, F, J, 3)), one ``generator`` drawn through all of them. A model with ``lens_input``
    takes each window's focal length from its 'intrinsics'."""
    device = next(model.parameters()).device
    for start in range(0, windows["x2d"].shape[0], batch_size):
        batch = {k: v[start:start + batch_size].to(device) for k, v in windows.items()}
        lens = {"lens": batch["intrinsics"][:, 0]} if model.config.lens_input else {}
        yield batch, model.sample(batch["x2d"], hypotheses=hypotheses, iterations=iterations, flip=flip,
                                  generator=generator, **lens)


@torch.no_grad()
def evaluate_sequence(model: DDHPose, seq: PoseSequence, *, hypotheses: int = 1, iterations: int = 1,
                      flip: bool = True, batch_size: int = 64, group: str | None = None,
                      generator: torch.Generator | None = None, p_best: PBest = "batch",
                      p_best_windows: int = 4, keep_aggregates: bool = False, pose_step: int = -1,
                      keep_steps: bool = False) -> SequenceResult:
    """Sample and score one sequence (all windows). Errors in metres per DDIM step.

    ``batch_size`` windows are sampled at a time; P-Best is reduced per ``p_best_windows``
    consecutive windows (``p_best="batch"``, released) or over the whole sequence
    (``"sequence"``). The per-frame J-Agg pose (``result.pose``) is that of DDIM step
    ``pose_step`` (0-based, negative from the end; -1 the last, 0 the first, which the official
    3DHP script scores) and keeps the last window's prediction on the overlap; ``keep_steps``
    also keeps it for every step (``result.step_poses``). ``keep_aggregates`` also returns the
    four exported poses of every step (memory: all samples).
    """
    if p_best not in ("batch", "sequence"):
        raise ValueError(f"p_best expected 'batch' or 'sequence', got {p_best!r}")
    if not -iterations <= pose_step < iterations:
        raise ValueError(f"pose_step {pose_step} is not one of the {iterations} DDIM steps")
    pose_step %= iterations
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
        steps = slice(None) if keep_steps else slice(pose_step, pose_step + 1)
        chosen.append(metrics.gather_choice(samples[:, steps], choice[:, steps]).cpu())  # (B, W or 1, F, J, 3)
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
    per_step = unwindow(torch.cat(chosen).transpose(1, 2), index, seq.num_frames, keep="last")  # (N, W or 1, J, 3)
    pose = per_step[:, pose_step if keep_steps else 0]
    target = torch.from_numpy(seq.poses_3d)
    valid = torch.ones(seq.num_frames, dtype=torch.bool) if seq.valid is None else torch.from_numpy(seq.valid)
    levels = metrics.per_level_mpjpe(pose[valid], target[valid], model.skeleton)
    aggregates = None
    if keep_aggregates:
        per_window = protocol_3dhp.aggregate_poses(*(torch.cat(kept[k]) for k in ("samples", "target", "choice")),
                                                   windows_per_batch)
        aggregates = protocol_3dhp.sequence_poses(per_window, index, seq.num_frames)
    return SequenceResult(seq.name, group or seq.action, int(weight), {k: v.cpu() for k, v in errors.items()},
                          levels.cpu(), pose, target, valid, seq.subject, aggregates,
                          per_step if keep_steps else None)


@dataclass
class Report:
    """Per-group (action or test sequence) tables of an evaluation.

    ``pose_step`` (1-based) is the DDIM step whose J-Agg pose the pose, level, activity and
    scene tables score; ``steps`` holds those tables for every step when asked for
    (step -> {'pose', 'activities', 'scenes'}), as the authors' per-step files (``_t1`` ...).
    """

    hypotheses: int
    iterations: int
    groups: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # group -> key -> (W,) mm
    levels: dict[str, list[float]] = field(default_factory=dict)
    pose: dict[str, dict[str, float]] = field(default_factory=dict)  # group -> metrics of the J-Agg pose, mm
    activities: dict[str, dict[str, float]] = field(default_factory=dict)  # 3DHP activity -> mpjpe, pck, auc
    scenes: dict[str, dict[str, float]] = field(default_factory=dict)  # 3DHP README scene -> mpjpe, pck, auc
    definitions: dict[str, str] = field(default_factory=dict)  # how each table's figures are defined
    provenance: dict[str, Any] = field(default_factory=dict)  # checkpoint, config, overrides, test subset
    pose_step: int = 0  # 1-based; 0 until summarised
    steps: dict[int, dict[str, dict[str, dict[str, float]]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"hypotheses": self.hypotheses, "iterations": self.iterations, "groups": self.groups,
                "levels": self.levels, "pose_step": self.pose_step, "pose": self.pose,
                "activities": self.activities, "scenes": self.scenes,
                "steps": {str(k): v for k, v in self.steps.items()},
                "definitions": self.definitions, "provenance": self.provenance}


def pose_metrics(results: Sequence[SequenceResult], pck: bool = False,
                 pck_joints: Sequence[int] | None = None) -> dict[str, float]:
    """MPJPE, P-MPJPE, N-MPJPE and MPJVE (and PCK@150mm / AUC with ``pck``, over ``pck_joints``,
    default all) of the J-Agg pose (``result.pose``), over the valid frames of ``results``
    (each frame once, pooled), in mm."""
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


def _pose_rows(results: Sequence[SequenceResult], names: Sequence[str], pck: bool,
               pck_joints: Sequence[int] | None) -> dict[str, dict[str, float]]:
    """The pose table: a row per group, 'Average' (the mean of the rows) and 'All' (pooled)."""
    rows = {g: pose_metrics([r for r in results if r.group == g], pck, pck_joints) for g in names}
    if names:
        rows["Average"] = {k: sum(rows[g][k] for g in names) / len(names)
                           for k in rows[names[0]] if all(k in rows[g] for g in names)}
        rows["All"] = pose_metrics(results, pck, pck_joints)
    return rows


def _official_tables(results: Sequence[SequenceResult], names: Sequence[str], pck: bool,
                     pck_joints: Sequence[int] | None, activities: Mapping[str, np.ndarray] | None,
                     scenes: bool) -> dict[str, dict[str, dict[str, float]]]:
    """The pose table, the activity table (with labels) and the scene averages (3DHP) of the
    J-Agg pose each result carries."""
    pose = _pose_rows(results, names, pck, pck_joints)
    return {"pose": pose,
            "activities": protocol_3dhp.activity_rows(results, activities, pck_joints) if activities else {},
            "scenes": protocol_3dhp.scene_rows({g: pose[g] for g in names}) if scenes else {}}


def _at_step(results: Sequence[SequenceResult], step: int) -> list[SequenceResult]:
    return [dataclasses.replace(r, pose=r.step_poses[:, step]) for r in results]


def summarise(results: Sequence[SequenceResult], *, hypotheses: int, iterations: int,
              group_order: Sequence[str] | None = None, pck: bool = False,
              pck_joints: Sequence[int] | None = None,
              activities: Mapping[str, np.ndarray] | None = None, pose_step: int = -1,
              scenes: bool = False, per_step: bool = False) -> Report:
    """Frame-weighted mean per group, then the unweighted mean over groups ('Average'), in mm.

    The pose table (of the J-Agg pose the results carry, DDIM step ``pose_step``, 0-based or
    negative from the end) has a row per group, 'Average' (the mean of the group rows: for 3DHP
    the mean over the test sequences, as the released README) and 'All' (every frame pooled).
    ``activities`` (subject -> per-frame labels 1-7) adds the official 3DHP activity table,
    ``scenes`` the test set README's scene-wise averages, ``per_step`` those tables for every
    DDIM step (the results must carry ``step_poses``).
    """
    by_group: dict[str, list[SequenceResult]] = defaultdict(list)
    for r in results:
        by_group[r.group].append(r)
    names = [g for g in (group_order or sorted(by_group)) if g in by_group]
    step = pose_step % iterations
    report = Report(hypotheses, iterations, pose_step=step + 1)
    for g in names:
        rs = by_group[g]
        weight = sum(r.frames for r in rs)
        report.groups[g] = {k: (sum(r.errors[k] * r.frames for r in rs) / weight * 1000).tolist()
                            for k in rs[0].errors}
        report.levels[g] = (sum(r.levels * r.frames for r in rs) / weight * 1000).tolist()
    keys = report.groups[names[0]].keys() if names else []
    report.groups["Average"] = {k: torch.tensor([report.groups[g][k] for g in names]).mean(0).tolist() for k in keys}
    if names:
        report.levels["Average"] = torch.tensor([report.levels[g] for g in names]).mean(0).tolist()
    tables = _official_tables(results, names, pck, pck_joints, activities, scenes)
    report.pose, report.activities, report.scenes = tables["pose"], tables["activities"], tables["scenes"]
    if per_step:
        if any(r.step_poses is None for r in results):
            raise ValueError("per_step needs the J-Agg pose of every step (evaluate_sequence(keep_steps=True))")
        report.steps = {w + 1: _official_tables(_at_step(results, w), names, pck, pck_joints, activities, scenes)
                        for w in range(iterations)}
    joints = "all joints" if pck_joints is None else f"{len(pck_joints)} joints {list(pck_joints)}"
    which = (f"DDIM step {step + 1} of {iterations}" + (" (the first: the step the official 3DHP script scores, "
                                                         "TSk(:, :, j) of a (3, 17, N, W) array)" if step == 0 and
                                                        iterations > 1 else ""))
    report.definitions["pose table"] = (
        f"the J-Agg pose at {which}, each frame once (the last window's prediction on the overlap "
        "of the last window, as main_3dhp.py); a row per group with its valid frames pooled; 'Average' = "
        "the mean of the group rows (3DHP: the mean over the test sequences, as the released README); "
        "'All' = every valid frame pooled" + (f"; PCK@150 mm and AUC (0..150 mm) over {joints}, MPJPE over "
                                               "all joints" if pck else ""))
    if activities is not None:
        report.definitions["activity table"] = (
            f"the official 3DHP activity table ({which}): valid frames of every sequence pooled per activity "
            f"label, all seven labels (an activity without frames: NaN, as MATLAB's mean of nothing), then "
            f"'All'; PCK/AUC over {joints}, MPJPE over all joints")
    if scenes:
        report.definitions["scene table"] = (
            "the test set README's scene-wise averages of the sequence rows, weighted by its frame counts: "
            + "; ".join(f"{scene} = ({' + '.join(f'{n} x {w}' for n, w in weights.items())}) / "
                        f"{sum(weights.values())}" for scene, weights in protocol_3dhp.SCENES.items())
            + f"; '{protocol_3dhp.ALL_SCENES}' = all six with those weights; a scene is left out when one of "
            "its sequences was not evaluated")
    if per_step:
        report.definitions["per-step tables"] = ("the pose, activity and scene tables at every DDIM step, "
                                                 "as the authors' per-step result files (_t1 ...)")
    return report


def evaluate(model: DDHPose, sequences: Sequence[PoseSequence], *, hypotheses: int = 1, iterations: int = 1,
             flip: bool = True, batch_size: int = 64, group_of=None, group_order: Sequence[str] | None = None,
             pck: bool = False, progress: bool = True, seed: int = 0, p_best: PBest = "batch",
             p_best_windows: int = 4, activities: Mapping[str, np.ndarray] | None = None,
             export_mat: str | Path | None = None, pose_step: int = -1, scenes: bool = False,
             per_step: bool = False) -> Report:
    """Evaluate ``model`` on ``sequences``; ``group_of(seq)`` names the table row of a sequence.

    P-Best per evaluation batch of ``p_best_windows`` windows (``p_best="batch"``, released) or
    per sequence. With ``pck``, PCK/AUC count the official 14 joints on the 3DHP skeleton.
    ``pose_step`` (0-based, negative from the end) is the DDIM step whose J-Agg pose the pose,
    activity and scene tables score; ``per_step`` adds those tables for every step.
    ``activities`` adds the 3DHP activity table, ``scenes`` the README's scene averages;
    ``export_mat`` (a folder) writes the released ``inference_data_<aggregation>.mat`` files
    (all six 3DHP test sequences, every frame: :func:`protocol_3dhp.check_mat_export`; needs scipy).
    """
    if export_mat is not None:
        protocol_3dhp.check_mat_export([s.subject for s in sequences])
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    results = []
    for seq in tqdm(sequences, desc="evaluate", unit="seq", disable=not progress):
        group = group_of(seq) if group_of else seq.action
        results.append(evaluate_sequence(model, seq, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                         batch_size=batch_size, group=group, generator=generator, p_best=p_best,
                                         p_best_windows=p_best_windows, keep_aggregates=export_mat is not None,
                                         pose_step=pose_step, keep_steps=per_step))
    report = summarise(results, hypotheses=hypotheses, iterations=iterations, group_order=group_order, pck=pck,
                       pck_joints=protocol_3dhp.pck_joints(model.skeleton) if pck else None, activities=activities,
                       pose_step=pose_step, scenes=scenes, per_step=per_step)
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


def _pose_table(out: io.StringIO, rows: Mapping[str, Mapping[str, float]], label: str = "group") -> None:
    names = [k for k in ("frames", "mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc")
             if rows and all(k in v for v in rows.values())]
    out.write(f"| {label} | " + " | ".join(n.upper().replace("_", "-") for n in names) + " |\n|---|"
              + "---|" * len(names) + "\n")
    for g, v in rows.items():
        out.write(f"| {g} | " + " | ".join(f"{v[n]:.0f}" if n == "frames" else f"{v[n]:.1f}" for n in names) + " |\n")
    out.write("\n")


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
    step = f"step {report.pose_step} of {w}"
    if report.levels:
        n = len(next(iter(report.levels.values())))
        out.write(f"### MPJPE per hierarchy level (J-Agg, {step})\n\n| group | "
                  + " | ".join(f"level {i}" for i in range(n)) + " |\n|---|" + "---|" * n + "\n")
        for g, vals in report.levels.items():
            out.write(f"| {g} | " + " | ".join(f"{v:.1f}" for v in vals) + " |\n")
        out.write("\n")
    if report.pose:
        out.write(f"### The J-Agg pose at {step}, each frame once (mm; PCK and AUC in %)\n\n")
        _pose_table(out, {g: {k: x for k, x in v.items()} for g, v in report.pose.items()})
    if report.scenes:
        out.write(f"### MPI-INF-3DHP scenes (README weights; J-Agg, {step}; mm, PCK and AUC in %)\n\n")
        _pose_table(out, report.scenes, "scene")
    if report.activities:
        out.write(f"### MPI-INF-3DHP activities (J-Agg, {step}; mm, PCK and AUC in %)\n\n")
        _pose_table(out, report.activities, "activity")
    for k, tables in report.steps.items():
        out.write(f"### Step {k} of {w}: the J-Agg pose (mm; PCK and AUC in %)\n\n")
        _pose_table(out, tables["pose"])
        for name, label in (("scenes", "scene"), ("activities", "activity")):
            if tables[name]:
                _pose_table(out, tables[name], label)
    return out.getvalue()


def _official_csv(rows: Mapping[str, Mapping[str, float]], label: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    keys = [k for k in ("frames", "mpjpe", "pck", "auc") if rows and all(k in v for v in rows.values())]
    writer.writerow([label, *keys])
    for g, v in rows.items():
        writer.writerow([g, *(f"{v[k]:.4f}" for k in keys)])
    return out.getvalue()


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "metric", "step", "value_mm"])
    for g, entries in report.groups.items():
        for key, values in entries.items():
            for step, v in enumerate(values, 1):
                writer.writerow([g, key, step, f"{v:.4f}"])
    for prefix, table in (("pose", report.pose), ("scene", report.scenes), ("activity", report.activities)):
        for g, v in table.items():
            for key, value in v.items():
                writer.writerow([g, f"{prefix}_{key}", report.pose_step, f"{value:.4f}"])
    return out.getvalue()


def write_report(report: Report, out_dir: str | Path, stem: str = "results") -> list[Path]:
    """Write ``stem``.md, .csv and .json into ``out_dir`` (atomically); with per-step tables also
    ``stem``_sequencewise_t<k>.csv (the pose table and the scene rows) and, with activity
    labels, ``stem``_activitywise_t<k>.csv for every DDIM step k, as the authors' files."""
    out_dir = Path(out_dir)
    paths = [out_dir / f"{stem}.md", out_dir / f"{stem}.csv", out_dir / f"{stem}.json"]
    atomic_write_text(paths[0], report_markdown(report))
    atomic_write_text(paths[1], report_csv(report))
    atomic_write_text(paths[2], json.dumps(report.to_dict(), indent=2))
    for k, tables in report.steps.items():
        path = out_dir / f"{stem}_sequencewise_t{k}.csv"
        atomic_write_text(path, _official_csv({**tables["pose"], **tables["scenes"]}, "sequence"))
        paths.append(path)
        if tables["activities"]:
            path = out_dir / f"{stem}_activitywise_t{k}.csv"
            atomic_write_text(path, _official_csv(tables["activities"], "activity"))
            paths.append(path)
    return paths


def resolve_pose_step(pose_step: str | int | None, iterations: int, dataset: str) -> int:
    """'first', 'last' or a 1-based step number (None: 'first' for MPI-INF-3DHP, the step its
    official script scores, 'last' otherwise) -> the 0-based step."""
    if pose_step is None:
        pose_step = "first" if dataset == "3dhp" else "last"
    if pose_step in ("first", "last"):
        return 0 if pose_step == "first" else iterations - 1
    try:
        step = int(pose_step)
    except (TypeError, ValueError):
        raise ValueError(f"pose step: expected 'first', 'last' or a step number 1..{iterations}, "
                         f"got {pose_step!r}") from None
    if not 1 <= step <= iterations:
        raise ValueError(f"pose step {step}: the sampler runs W={iterations} DDIM steps (1..{iterations})")
    return step - 1


def evaluate_config(model: DDHPose, config: str, overrides: Sequence[str] = (), *,
                    p_best_windows: int | None = None, activities: str | Path | None = None,
                    export_mat: str | Path | None = None, annot_dir: str | Path | None = None,
                    ground_truth: str = "annot3", pose_step: str | int | None = None,
                    **kwargs: Any) -> Report:
    """Evaluate on the test split a config names: per action for Human3.6M (the 15 actions in
    the paper's order), per test sequence with PCK/AUC for MPI-INF-3DHP, per clip otherwise.

    ``p_best_windows`` defaults to the released evaluation batch (:data:`P_BEST_WINDOWS`);
    ``pose_step`` ('first', 'last', or 1..W; default 'first' for MPI-INF-3DHP, the step its
    official script scores, else 'last') picks the DDIM step of the pose tables.
    MPI-INF-3DHP only: ``annot_dir`` (the test set's folder with TS1..TS6/annot_data.mat) scores
    against its ``ground_truth`` field ('annot3', the released script's, or 'univ_annot3') with
    its valid frames and activity labels, after checking which field the test file holds;
    without it the test file's data_3d is scored as it is and the report says it is unchecked.
    ``activities`` names a file of per-frame activity labels
    (:func:`~ddhpose.data.mpi3dhp.load_3dhp_activities`; default: the annotations, else the
    test file, if its entries carry them); ``export_mat`` a folder for the released
    ``inference_data_*.mat`` files (refused for a partial or truncated test set).
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
    if cfg.model.frames != model.config.frames or cfg.model.skeleton != model.config.skeleton:
        raise ValueError(f"checkpoint (F={model.config.frames}, {model.config.skeleton}) does not match config "
                         f"{config!r} (F={cfg.model.frames}, {cfg.model.skeleton})")
    mpi = cfg.data.dataset == "3dhp"
    if not mpi and (activities is not None or export_mat is not None or annot_dir is not None):
        raise ValueError(f"config {config!r}: annot_data.mat, activity labels and the .mat export are for "
                         f"MPI-INF-3DHP (data.dataset=3dhp), not {cfg.data.dataset!r}")
    provenance: dict[str, Any] = {}
    labels = None
    if mpi:
        sequences, labels, provenance = protocol_3dhp.prepare_ground_truth(
            sequences, cfg.data.test_path, annot_dir, ground_truth)
    truncated = cfg.eval.max_frames if any(s.num_frames > cfg.eval.max_frames > 0 for s in sequences) else 0
    if export_mat is not None:  # before the evaluation, not after it
        protocol_3dhp.check_mat_export([s.subject for s in sequences], truncated)
    if cfg.eval.max_frames > 0:
        sequences = [truncate(s, cfg.eval.max_frames) for s in sequences]
    kwargs["p_best_windows"] = p_best_windows or P_BEST_WINDOWS.get(cfg.data.dataset, 4)
    kwargs["pose_step"] = resolve_pose_step(pose_step, kwargs.get("iterations", 1), cfg.data.dataset)
    if cfg.data.dataset == "h36m":
        report = evaluate(model, sequences, group_of=lambda s: action_group(s.action), group_order=H36M_ACTIONS,
                          **kwargs)
    elif mpi:
        if activities is not None and annot_dir is not None:
            raise ValueError("give activity labels either with the annotations (--annot-dir) or --activities, "
                             "not both")
        label_file = activities or cfg.data.test_path
        if activities is not None or labels is None:
            labels = load_3dhp_activities(label_file) or None
        report = evaluate(model, sequences, group_of=lambda s: s.subject, pck=True, activities=labels,
                          export_mat=export_mat, scenes=True, **kwargs)
        if not labels:
            report.definitions["activity table"] = (f"not available: {label_file} carries no per-frame activity "
                                                    "labels (give the test set's folder with --annot-dir, or "
                                                    "--activities FILE)")
    else:
        report = evaluate(model, sequences, **kwargs)
    report.provenance.update(config=config, overrides=" ".join(overrides), sequences=len(sequences),
                             frames=sum(s.num_frames for s in sequences), flip=kwargs.get("flip", True))
    report.provenance.update(provenance or {"ground truth": _ground_truth_source(cfg.data)})
    if truncated:
        report.provenance["truncated"] = f"the first {truncated} frames of each sequence (eval.max_frames)"
    return report


def _ground_truth_source(data) -> str:
    if data.dataset == "h36m":
        return f"positions_3d of {data.path_3d} in the Human3.6M cameras"
    if data.dataset == "synthetic":
        return "the generated synthetic sequences"
    return f"the 3D clips of the config's data section ({data.dataset})"
