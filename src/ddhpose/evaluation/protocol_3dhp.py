"""The MPI-INF-3DHP test protocol as the official MATLAB scripts compute it (method section 7).

The released DDHPose writes its test poses to ``inference_data_<aggregation>.mat``
(main_3dhp.py) and scores them with the test set's MATLAB utilities
(3dhp_test/test_util/mpii_test_predictions_ori_py.m -> mpii_evaluate_errors.m ->
mpii_compute_3d_pck.m, joints from mpii_get_pck_auc_joint_groups.m):

- per-joint errors of root-relative poses (the ground truth minus its pelvis, joint 14; the
  prediction's pelvis is 0) on the valid frames only;
- MPJPE: the mean over all 17 joints (the pelvis counts, with error 0);
- PCK@150 mm and AUC (the mean PCK over thresholds 0, 5, ..., 150 mm; 'error < threshold')
  over the 14 joints of the joint groups (head top, neck, shoulders, elbows, wrists, hips,
  knees, ankles): the pelvis (14), spine (15) and head (16) are left out;
- one row per test sequence, frames pooled within it; the released README averages the six
  sequence rows ('Average' in this package's tables; 'All' pools every frame instead);
- the test set README's scene-wise averages of the sequence rows, weighted by its frame counts:
  studio with green screen (TS1 x 603 + TS2 x 540) / 1143, without (TS3 x 505 + TS4 x 553) /
  1058, outdoor (TS5 x 276 + TS6 x 452) / 728, and all six with the same weights;
- one row per activity label 1-7 (frames pooled over all sequences; an activity without
  frames is a row of NaN, as MATLAB's mean over nothing) and 'All', when the per-frame labels
  (``activity_annotation`` of the test set's annot_data.mat) are given;
- the prediction of frame j is ``TSk(:, :, j)`` of the exported (3, 17, N, W) array, which
  MATLAB reads as the first of the W DDIM steps: the official figures are those of step 1.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import torch

from ddhpose import metrics
from ddhpose.data.mpi3dhp import (GROUND_TRUTH_FIELDS, identify_ground_truth, load_3dhp_annotations,
                                  with_ground_truth)
from ddhpose.data.sequence import PoseSequence
from ddhpose.evaluation.result import SequenceResult
from ddhpose.files import atomic_path
from ddhpose.skeleton import Skeleton
from ddhpose.windowing import unwindow

#: mpii_get_pck_auc_joint_groups.m (1-based there): Head [1], Neck [2], Shou [3,6], Elbow [4,7],
#: Wrist [5,8], Hip [9,12], Knee [10,13], Ankle [11,14]
JOINT_GROUPS = (("Head", (0,)), ("Neck", (1,)), ("Shou", (2, 5)), ("Elbow", (3, 6)), ("Wrist", (4, 7)),
                ("Hip", (8, 11)), ("Knee", (9, 12)), ("Ankle", (10, 13)))
PCK_JOINTS = tuple(sorted(j for _, group in JOINT_GROUPS for j in group))  # 0..13
#: mpii_get_activity_name.m
ACTIVITY_NAMES = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
                  5: "On The Floor", 6: "Sports", 7: "Miscellaneous"}
#: the released main_3dhp.py writes one file per aggregation: inference_data_<name>.mat
MAT_AGGREGATIONS = ("P_Agg", "P_Best", "J_Best", "J_Agg")
MAT_EXTRA = "mat"  # the pyproject extra that installs scipy
#: the test sequences the official script loops over (test_subject_id = [1, ..., 6])
TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
#: the test set README's scene-wise averages: sequence -> its weight (the README's frame counts)
SCENES = {"Studio with green screen": {"TS1": 603, "TS2": 540},
          "Studio without green screen": {"TS3": 505, "TS4": 553},
          "Outdoor": {"TS5": 276, "TS6": 452}}
ALL_SCENES = "All sequences (README weights)"


def pck_joints(skeleton: Skeleton) -> tuple[int, ...] | None:
    """The joints PCK and AUC count: the official 14 for the 3DHP skeleton, else None (all)."""
    return PCK_JOINTS if skeleton.name == "3dhp" else None


def scores(errors: torch.Tensor, joints: Sequence[int] | None = PCK_JOINTS) -> dict[str, float]:
    """Official figures of pooled per-joint errors (N, J) in mm: 'frames' N, 'mpjpe' over all J
    joints, 'pck' (150 mm) and 'auc' (0..150 mm) in percent over ``joints`` (None: all)."""
    if errors.ndim != 2:
        raise ValueError(f"errors: expected (N, J) per-joint errors, got {tuple(errors.shape)}")
    picked = errors if joints is None else errors[:, list(joints)]
    curve = metrics.pck_curve(picked, metrics.auc_thresholds(errors.dtype, errors.device))
    return {"frames": float(errors.shape[0]), "mpjpe": float(errors.mean()),
            "pck": float(metrics.pck_curve(picked, picked.new_tensor([150.0]))[0]), "auc": float(curve.mean())}


def _labels(activities: Mapping[str, np.ndarray], name: str, frames: int) -> torch.Tensor:
    if name not in activities:
        raise ValueError(f"activity labels: no entry for test sequence {name!r}; have {sorted(activities)}")
    labels = np.asarray(activities[name]).reshape(-1)
    if len(labels) < frames:
        raise ValueError(f"activity labels of {name!r}: {len(labels)} frames, the sequence has {frames}")
    return torch.from_numpy(labels[:frames].astype(np.int64))  # a truncated sequence keeps its first frames


def activity_rows(results: Sequence[SequenceResult], activities: Mapping[str, np.ndarray],
                  joints: Sequence[int] | None = PCK_JOINTS) -> dict[str, dict[str, float]]:
    """The official activity table of the J-Agg poses: one row per activity present (valid
    frames of every sequence pooled), then 'All'. Labels are looked up by sequence subject
    ('TS1'..'TS6'); values in mm and percent (:func:`scores`)."""
    errors, labels = [], []
    for r in results:
        errors.append(metrics.joint_errors(r.pose[r.valid], r.target[r.valid]).double() * 1000)
        labels.append(_labels(activities, r.subject, len(r.pose))[r.valid])
    if not errors:
        return {}
    err, lab = torch.cat(errors), torch.cat(labels)
    rows = {name: scores(err[lab == a], joints) for a, name in ACTIVITY_NAMES.items()}
    rows["All"] = scores(err, joints)
    return rows


def scene_rows(sequence_rows: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """The test set README's scene-wise averages of the per-sequence rows (:data:`SCENES`, the
    README's weights), then all six sequences with the same weights. A scene whose sequences
    are not all in ``sequence_rows`` is left out; so is the last row unless all six are there."""
    groups = dict(SCENES)
    groups[ALL_SCENES] = {k: v for weights in SCENES.values() for k, v in weights.items()}
    out = {}
    for scene, weights in groups.items():
        if not all(name in sequence_rows for name in weights):
            continue
        total = sum(weights.values())
        keys = [k for k in sequence_rows[next(iter(weights))] if k != "frames"]
        out[scene] = {k: sum(sequence_rows[n][k] * w for n, w in weights.items()) / total for k in keys}
        out[scene]["frames"] = float(total)
    return out


def check_mat_export(names: Sequence[str], truncated_to: int = 0) -> None:
    """Refuse a ``.mat`` export the official script would misread: it loops over TS1..TS6 and
    indexes ``TSk(:, :, j)`` for every valid frame j of each sequence's annot_data.mat, so a
    missing sequence is an undefined variable and a truncated one is indexed past its end."""
    missing = [n for n in TEST_SEQUENCES if n not in names]
    extra = sorted(set(names) - set(TEST_SEQUENCES))
    if missing or extra:
        raise ValueError(
            "the .mat export needs the whole MPI-INF-3DHP test set: the official script (mpii_test_predictions_"
            f"ori_py.m) reads the variables {', '.join(TEST_SEQUENCES)} and every frame of each; "
            + (f"missing {missing}" if missing else f"unknown sequences {extra}")
            + "; evaluate all six sequences, or leave out --export-mat")
    if truncated_to > 0:
        raise ValueError(
            f"the .mat export needs every frame: eval.max_frames={truncated_to} keeps only the first frames of each "
            "sequence, and the official script indexes TSk(:, :, j) up to the last valid frame of annot_data.mat "
            "(past the end of a truncated array); set eval.max_frames=0, or leave out --export-mat")


def aggregate_poses(samples: torch.Tensor, target: torch.Tensor, choice: torch.Tensor,
                    p_best_windows: int | None) -> dict[str, torch.Tensor]:
    """The four poses the released evaluation exports, from all windows of one sequence.

    samples (n, W, H, F, J, 3), target (n, F, J, 3), choice (n, W, 1, F, J) the J-Agg
    reprojection choice. P-Best picks per evaluation batch of ``p_best_windows`` windows (None:
    the sequence) the hypothesis with the smallest mean error over all the batch's frames and
    joints (main_3dhp.py does not mask invalid frames for this choice).
    Returns MAT_AGGREGATIONS -> (n, W, F, J, 3).
    """
    per_joint = metrics.joint_errors(samples, target[:, None, None].expand_as(samples))  # (n, W, H, F, J)
    best = metrics.p_best_choice(per_joint.mean((-2, -1)), torch.ones(len(samples)), p_best_windows)
    hyp = best[:, :, None, None, None].expand(-1, -1, 1, *samples.shape[3:5])
    return {"P_Agg": samples.mean(2), "P_Best": metrics.gather_choice(samples, hyp),
            "J_Best": metrics.gather_choice(samples, per_joint.argmin(2, keepdim=True)),
            "J_Agg": metrics.gather_choice(samples, choice)}


def sequence_poses(aggregates: Mapping[str, torch.Tensor], index: np.ndarray, num_frames: int
                   ) -> dict[str, torch.Tensor]:
    """Per-window poses (n, W, F, J, 3) back to frames (N, W, J, 3), the last window's prediction
    kept on its overlap (main_3dhp.py ``pose_post_process``)."""
    return {k: unwindow(v.transpose(1, 2), index, num_frames, keep="last") for k, v in aggregates.items()}


def require_savemat():
    """scipy.io.savemat, or an ImportError naming the extra that installs scipy."""
    try:
        from scipy.io import savemat
    except ImportError:
        raise ImportError("writing the official MPI-INF-3DHP .mat files needs scipy; install it with "
                          f"pip install 'ddhpose[{MAT_EXTRA}]'") from None
    return savemat


def write_inference_mats(out_dir: str | Path, poses: Mapping[str, Mapping[str, torch.Tensor]]) -> list[Path]:
    """Write the files the official MATLAB script reads, as main_3dhp.py does.

    Args:
        out_dir: folder; one ``inference_data_<aggregation>.mat`` per aggregation is written
            (atomically) into it.
        poses: test sequence name ('TS1'..'TS6', all six: :func:`check_mat_export`) -> aggregation
            (MAT_AGGREGATIONS) -> (N, W, 17, 3) root-relative poses in metres, every frame of the
            sequence (valid or not), W DDIM steps.
    Each file holds one variable per sequence, named as the sequence: float64 (3, 17, N, W) in
    millimetres, 3DHP joint order, pelvis (14) at 0. The released script indexes
    ``TSk(:, :, j)``, which MATLAB reads as frame j of the first step when W > 1.
    """
    savemat = require_savemat()
    for name in poses:
        if not re.fullmatch(r"TS[1-6]", name):
            raise ValueError(f"the .mat export names variables after the MPI-INF-3DHP test sequences "
                             f"TS1..TS6; got a sequence named {name!r}")
    check_mat_export(list(poses))
    paths = []
    for agg in MAT_AGGREGATIONS:
        arrays = {}
        for name, by_agg in poses.items():
            pose = by_agg[agg]
            if pose.ndim != 4 or tuple(pose.shape[-2:]) != (17, 3):
                raise ValueError(f"{name} {agg}: expected (N, W, 17, 3) poses, got {tuple(pose.shape)}")
            arrays[name] = np.ascontiguousarray(pose.detach().cpu().double().numpy().transpose(3, 2, 0, 1) * 1000)
        path = Path(out_dir) / f"inference_data_{agg}.mat"
        with atomic_path(path) as tmp:
            savemat(tmp, arrays, appendmat=False)
        paths.append(path)
    return paths


def prepare_ground_truth(sequences: Sequence[PoseSequence], test_path: str, annot_dir: str | Path | None = None,
                         field: str = "annot3") -> tuple[list[PoseSequence], dict[str, np.ndarray] | None,
                                                         dict[str, str]]:
    """The ground truth the test sequences are scored against, and what the report says of it.

    With ``annot_dir`` (the test set's folder, TS1..TS6/annot_data.mat, as the official script
    reads it): which field the test file's data_3d holds is checked for every sequence (refused
    when it is none of them), then each sequence is scored against ``field`` with the file's
    valid frames, and its activity labels are returned. Without: the test file is scored as it
    is, with a warning that annot3 and univ_annot3 cannot be told apart from the file alone.
    Returns (sequences, activity labels or None, provenance entries).
    """
    if field not in GROUND_TRUTH_FIELDS:
        raise ValueError(f"ground truth must be one of {list(GROUND_TRUTH_FIELDS)}, got {field!r}")
    if annot_dir is None:
        note = (f"data_3d of {test_path} as it is, not checked: preprocessed test files carry annot3 (what the "
                "released script scores against) or univ_annot3 under that name (8-20 mm apart on TS5 and TS6), "
                "and the file does not say which; give the test set's folder with --annot-dir to check it and to "
                "score against annot_data.mat")
        warnings.warn(f"MPI-INF-3DHP ground truth: {note}", stacklevel=3)
        return list(sequences), None, {"ground truth": note}
    annotations = load_3dhp_annotations(annot_dir, [s.subject for s in sequences])
    held, differing, out = {}, [], []
    for seq in sequences:
        annotation = annotations[seq.subject]
        held[seq.subject], _ = identify_ground_truth(seq, annotation, test_path)
        if seq.valid is not None and not np.array_equal(seq.valid, annotation.valid):
            differing.append(f"{seq.subject} ({int((seq.valid != annotation.valid).sum())} frames)")
        out.append(with_ground_truth(seq, annotation, field))
    labels = {k: a.activity for k, a in annotations.items() if a.activity is not None}
    provenance = {
        "ground truth": f"{field} of TSk/annot_data.mat in {annot_dir}, with its valid_frame"
                        + (" (the field the released script mpii_test_predictions_ori_py.m scores against)"
                           if field == "annot3" else " (the field of the test set's mpii_test_predictions.m)"),
        "test file's data_3d": f"{test_path}: " + ", ".join(f"{k} {v}" for k, v in held.items())}
    if differing:
        provenance["valid frames"] = ("annot_data.mat's valid_frame used; the test file's valid flags differ in "
                                      + ", ".join(differing))
    return out, (labels if len(labels) == len(annotations) else None), provenance
