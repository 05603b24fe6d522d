"""Accuracy of a lifting model the way users run it: pixels in, the Lifter's full path.

Test sets (from a config's data section, test split): Human3.6M S9/S11 through the real cameras
and held-out mocap clips through virtual cameras. Each is lifted from pixel keypoints with
``Lifter.lift`` (its defaults, the true focal length given; with ``--assumed-focal`` none, so the
lifter assumes its default, as for a user who does not know the lens) under conditions that
mimic real detectors:

- clean: the exact projection;
- noise: i.i.d. Gaussian pixel noise (sigma = 1 % of the person's 2D height per coordinate);
- jitter: noise plus slowly varying offsets (a random walk per joint), as trackers show;
- dropped: 10 % of the joints missing (score 0) in random runs of frames, then interpolated;
- occluded: a limb hidden as by an occluder (score 0): per 100 frames, one hand, forearm, foot,
  shank or head (``ddhpose.data.windows.occludable_limbs``) for 25 to 50 frames (1-2 s of the
  25 fps mocap, 0.5-1 s of Human3.6M's 50 fps), then filled;
- coco: keypoints re-expressed in the COCO-17 layout (nose, eyes and ears placed on the head,
  no pelvis, spine, thorax or head top) and converted back by ``ddhpose.lifting.keypoints.to_h36m``;
- offsets: where a detector puts each keypoint on the body against the joint centre, one offset
  per joint for the clip: N(0, :data:`OFFSET` x the person's 2D size (the longer side of the
  keypoints' box, ``ddhpose.data.windows.body_extent``) x the joint's weight of
  ``ddhpose.data.windows.DETECTOR_OFFSET_WEIGHTS``) per coordinate (hips and knees 40 mm of a
  1.7 m body, ankles a quarter of it);
- detector: offsets, jitter and occlusion together.

Usage: python benchmarks/wild_accuracy.py [--checkpoint PATH] [-c wild] [--out docs/wild_accuracy] [--assumed-focal]
Errors are MPJPE and P-MPJPE in mm against the root-relative camera-frame ground truth. A second
table splits the clean H=1 error of each test set: N-MPJPE (the prediction scaled to the truth,
what is left once the unobservable body size is removed), the body-size error (|predicted /
true - 1| of the summed bone lengths), MPJPE when the person's true height is given to the lifter
(``height=``, the standing height of the true bones) and MPJPE by the camera's field of view
(focal length over the image's longer side: wide < 0.8 <= normal < 1.4 <= narrow). A third
splits the same error by what the person is doing, frame by frame
(``ddhpose.data.motion_classes``: standing/walking, sitting, lying/on the floor, kicks/jumps,
reaching/crouching, from the true 3D and the camera's up direction); a fourth splits every
condition so.
``--smoke``: one stand-in sequence per set (benchmarks/smoke.py), 40 frames, a tiny random model,
H=1 and 2, into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.data.motion_classes import MOTION_CLASSES, motion_classes  # noqa: E402
from ddhpose.data.sources import load_split  # noqa: E402
from ddhpose.data.windows import body_extent, detector_offset_weights, occludable_limbs  # noqa: E402
from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.geometry import bone_lengths, image_coordinates  # noqa: E402
from ddhpose.lifting.keypoints import COCO17  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.postprocess import standing_height, track_bone_lengths  # noqa: E402
from ddhpose.metrics import joint_errors, mpjpe, n_mpjpe, p_joint_errors, p_mpjpe  # noqa: E402
from ddhpose.skeleton import H36M  # noqa: E402

CONDITIONS = ("clean", "noise", "jitter", "dropped", "occluded", "coco", "offsets", "detector")
#: the conditions added later draw from their own generator, so the others' draws stay as they were
LATER = ("offsets", "detector")
#: a detector's keypoint offset at the hips and knees, as a fraction of the person's 2D height:
#: 40 mm of a 1.7 m body (Needham et al. 2021: 30-50 mm), other joints by their weights
OFFSET = 0.024
FIELDS_OF_VIEW = (("wide", 0.0, 0.8), ("normal", 0.8, 1.4), ("narrow", 1.4, float("inf")))


def person_height(uv: np.ndarray) -> float:
    """Median over frames of the 2D bounding-box height (pixels). uv (F, J, 2)."""
    return float(np.median(uv[..., 1].max(-1) - uv[..., 1].min(-1)))


def to_coco(uv: np.ndarray) -> np.ndarray:
    """Approximate COCO-17 keypoints from Human3.6M-17 ones. (F, 17, 2) -> (F, 17, 2).

    nose = H36M neck/nose (9); eyes 30 % and ears 15 % of the way from the nose to the head
    top (10), spread sideways by 15 % (eyes) and 35 % (ears) of the shoulder half-width.
    """
    nose, top = uv[:, 9], uv[:, 10]
    side = (uv[:, 11] - uv[:, 14]) / 2  # towards the person's left
    coco = np.zeros((len(uv), 17, 2), uv.dtype)
    names = {n: i for i, n in enumerate(COCO17.names)}
    coco[:, names["nose"]] = nose
    for sign, prefix in ((1, "left"), (-1, "right")):
        coco[:, names[f"{prefix}_eye"]] = nose + 0.3 * (top - nose) + sign * 0.15 * side
        coco[:, names[f"{prefix}_ear"]] = nose + 0.15 * (top - nose) + sign * 0.35 * side
    for h36m, coco_name in ((11, "left_shoulder"), (12, "left_elbow"), (13, "left_wrist"), (14, "right_shoulder"),
                            (15, "right_elbow"), (16, "right_wrist"), (4, "left_hip"), (5, "left_knee"),
                            (6, "left_ankle"), (1, "right_hip"), (2, "right_knee"), (3, "right_ankle")):
        coco[:, names[coco_name]] = uv[:, h36m]
    return coco


def degrade(uv: np.ndarray, condition: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, str]:
    """(keypoints, scores, layout) of one condition. uv (F, 17, 2) pixels."""
    scores = np.ones(uv.shape[:2], np.float32)
    sigma = 0.01 * person_height(uv)
    if condition == "clean":
        return uv, scores, "h36m"
    if condition == "noise":
        return uv + rng.normal(0, sigma, uv.shape), scores, "h36m"
    if condition == "jitter":
        walk = np.cumsum(rng.normal(0, sigma / 4, uv.shape), axis=0)
        walk -= walk.mean(0)
        return uv + rng.normal(0, sigma, uv.shape) + np.clip(walk, -3 * sigma, 3 * sigma), scores, "h36m"
    if condition == "dropped":
        f, j = scores.shape
        for _ in range(int(0.1 * f * j / 5)):  # runs of 5 frames
            start, joint = rng.integers(0, max(1, f - 5)), rng.integers(0, j)
            scores[start:start + 5, joint] = 0
        return uv, scores, "h36m"
    if condition == "occluded":
        return uv, occlude(scores, rng), "h36m"
    if condition == "coco":
        return to_coco(uv), scores, "coco"
    if condition in ("offsets", "detector"):
        weights = detector_offset_weights(H36M).numpy()[:, None]
        size = float(body_extent(torch.from_numpy(uv)))  # the longer side of the box, as in training
        moved = uv + rng.normal(0, 1, uv.shape[1:]) * OFFSET * size * weights
        if condition == "offsets":
            return moved, scores, "h36m"
        jittered, _, _ = degrade(moved, "jitter", rng)
        return jittered, occlude(scores, rng), "h36m"
    raise ValueError(condition)


def occlude(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """In every 100 frames a hand, forearm, foot, shank or the head missing for 25-50 frames
    (score 0). scores (F, 17) -> a copy."""
    scores = scores.copy()
    limbs = occludable_limbs(H36M)
    for first in range(0, len(scores), 100):
        length = int(rng.integers(25, 51))
        start = first + int(rng.integers(0, max(1, 100 - length)))
        scores[start:start + length, list(limbs[rng.integers(len(limbs))])] = 0
    return scores


def body_size(poses: torch.Tensor, skeleton) -> float:
    """Mean over frames of the summed bone lengths (m). poses (F, J, 3)."""
    return float(bone_lengths(poses, skeleton).sum(-1).mean())


def clean_record(lifter: Lifter, pred: torch.Tensor, truth: torch.Tensor, keypoints: np.ndarray, fov: float,
                 **lift_kwargs) -> dict:
    """One sequence's clean error split by cause (see :func:`breakdown`); the lift is repeated
    with the true standing height given. pred, truth (F, J, 3) metres."""
    skeleton = lifter.model.skeleton
    height = float(standing_height(track_bone_lengths(truth, skeleton), skeleton))
    sized = torch.as_tensor(lifter.lift(keypoints, height=height, **lift_kwargs).poses, dtype=torch.float32)
    return {"frames": len(truth), "mpjpe": float(mpjpe(pred, truth)) * 1000,
            "mpjpe_given_height": float(mpjpe(sized, truth)) * 1000, "n_mpjpe": float(n_mpjpe(pred, truth)) * 1000,
            "p_mpjpe": float(p_mpjpe(pred, truth)) * 1000,
            "size_error": abs(body_size(pred, skeleton) / body_size(truth, skeleton) - 1) * 100, "fov": fov}


def breakdown(clips: list[dict]) -> dict:
    """The clean error split by what causes it; clips: per-sequence records of ``evaluate``."""
    frames = np.array([c["frames"] for c in clips], dtype=float)

    def mean(key, mask=None):
        m = np.ones(len(clips), bool) if mask is None else mask
        return float(np.average([c[key] for c in clips], weights=frames * m)) if m.any() else None

    fov = np.array([c["fov"] for c in clips])
    out = {"mpjpe": mean("mpjpe"), "n_mpjpe": mean("n_mpjpe"), "p_mpjpe": mean("p_mpjpe"),
           "size_error": mean("size_error"), "mpjpe_given_height": mean("mpjpe_given_height")}
    for name, lo, hi in FIELDS_OF_VIEW:
        mask = (fov >= lo) & (fov < hi)
        out[f"mpjpe_{name}"], out[f"clips_{name}"] = mean("mpjpe", mask), int(mask.sum())
    return out


def evaluate(lifter: Lifter, sequences, conditions, hypotheses: int, iterations: int, frames: int, seed: int,
             clips: list | None = None, assumed_focal: bool = False, **lift_kwargs):
    """Error totals per condition, each also per motion class (``by_motion``: name -> frames,
    mpjpe, p_mpjpe); the clean condition's per-sequence records go to ``clips``. The true focal
    length is given to the lifter, or with ``assumed_focal`` none (the lifter's default)."""
    rng, later = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    totals = {c: [0.0, 0.0, 0] for c in conditions}
    by_class = {c: {name: [0, 0.0, 0.0] for name in MOTION_CLASSES} for c in conditions}
    for seq in sequences:
        n = min(frames, seq.num_frames)
        w, h = seq.image_size
        uv = image_coordinates(torch.from_numpy(seq.keypoints_2d[:n]), w, h).numpy()
        truth = torch.from_numpy(seq.poses_3d[:n])
        focal = float(seq.intrinsics[0]) * w / 2
        classes = None if seq.up is None else motion_classes(
            seq.poses_3d[:n] + seq.trajectory[:n], seq.up, lifter.model.skeleton)
        for condition in conditions:
            keypoints, scores, layout = degrade(uv, condition, later if condition in LATER else rng)
            settings = dict(scores=scores, image_size=(w, h), layout=layout, hypotheses=hypotheses,
                            iterations=iterations, seed=seed, **lift_kwargs)
            if not assumed_focal:
                settings["focal_length"] = focal
            pred = torch.as_tensor(lifter.lift(keypoints, **settings).poses, dtype=torch.float32)
            totals[condition][0] += float(mpjpe(pred, truth)) * 1000 * n
            totals[condition][1] += float(p_mpjpe(pred, truth)) * 1000 * n
            totals[condition][2] += n
            if classes is not None:
                frame_mpjpe = joint_errors(pred, truth).mean(-1).numpy() * 1000
                frame_p = p_joint_errors(pred, truth).mean(-1).numpy() * 1000
                for k, name in enumerate(MOTION_CLASSES):
                    sums = by_class[condition][name]
                    sums[0] += int((classes == k).sum())
                    sums[1] += float(frame_mpjpe[classes == k].sum())
                    sums[2] += float(frame_p[classes == k].sum())
            if condition == "clean" and clips is not None:
                clips.append(clean_record(lifter, pred, truth, keypoints, focal / max(w, h), **settings))
    return {c: {"mpjpe": t[0] / t[2], "p_mpjpe": t[1] / t[2], "frames": t[2],
                "by_motion": {name: {"frames": k, "mpjpe": e / k if k else None, "p_mpjpe": p / k if k else None}
                              for name, (k, e, p) in by_class[c].items()}}
            for c, t in totals.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--sequences", type=int, default=24, help="sequences per test set (evenly spaced)")
    parser.add_argument("--frames", type=int, default=300, help="frames per sequence (from the start)")
    parser.add_argument("--hypotheses", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--out", default="docs/wild_accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--assumed-focal", action="store_true",
                        help="give the lifter no focal length (its default) instead of the true one")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    if args.assumed_focal and args.out == parser.get_default("out"):  # not over the true-focal tables
        args.out += "_assumed_focal"
    torch.manual_seed(args.seed)
    if args.smoke:
        tmp = smoke.folder("wild_accuracy")
        args.checkpoint, args.out = str(smoke.tiny_checkpoint(tmp)), str(tmp / "wild_accuracy")
        args.sequences, args.frames, args.hypotheses = 1, 40, [1, 2]
        cfg = load_config(args.config, smoke.config_overrides(tmp))
        tests = smoke.stand_in_split(cfg, cfg.train.seed)
    else:
        cfg = load_config(args.config)
        tests = load_split(cfg.data, "test", cfg.train.seed)
    lifter = Lifter.from_pretrained(args.checkpoint)
    sets = {"Human3.6M S9/S11 (real cameras)": [s for s in tests if s.subject in cfg.data.test_subjects],
            "held-out mocap clips (virtual cameras)": [s for s in tests if s.subject not in cfg.data.test_subjects]}
    report, splits, started = {}, {}, time.time()
    for name, seqs in sets.items():
        if not seqs:
            continue
        pick = [seqs[i] for i in np.linspace(0, len(seqs) - 1, min(args.sequences, len(seqs))).round().astype(int)]
        for h in args.hypotheses:
            conditions = CONDITIONS if h == args.hypotheses[0] else ("clean",)
            clips = [] if h == args.hypotheses[0] else None
            report[f"{name}, H={h}, W={h}"] = evaluate(lifter, pick, conditions, h, h, args.frames, args.seed, clips,
                                                       args.assumed_focal)
            if clips:
                splits[f"{name}, H={h}, W={h}"] = breakdown(clips)
            print(name, h, json.dumps(report[f"{name}, H={h}, W={h}"]), flush=True)
    lines = [f"Measured with `python benchmarks/wild_accuracy.py -c {args.config} --sequences {args.sequences} "
             f"--frames {args.frames} --hypotheses {' '.join(map(str, args.hypotheses))} --seed {args.seed}"
             f"{' --assumed-focal' if args.assumed_focal else ''}` ({time.time() - started:.0f} s; checkpoint {weights_label(args.checkpoint)}; "
             "the lifter's defaults: mean of the hypotheses, temporal filter sigma 2, constant bone lengths). "
             "MPJPE / P-MPJPE in mm.", "",
             "| test set | " + " | ".join(CONDITIONS) + " |", "|---|" + "---|" * len(CONDITIONS)]
    for key, values in report.items():
        cells = [f"{values[c]['mpjpe']:.1f} / {values[c]['p_mpjpe']:.1f}" if c in values else "" for c in CONDITIONS]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += ["", "Clean 2D, split by cause: N-MPJPE scales the prediction to the truth (body size cannot be "
              "seen in 2D); size error is |predicted / true - 1| of the summed bone lengths; 'height given': MPJPE "
              "with the person's true height passed to the lifter (`--height`); MPJPE by field of "
              "view (focal / longer image side: wide < 0.8, normal 0.8-1.4, narrow >= 1.4; clips in brackets).", "",
              "| test set | MPJPE | N-MPJPE | P-MPJPE | size error | height given | wide | normal | narrow |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, b in splits.items():
        fov = [f"{b[f'mpjpe_{n}']:.1f} ({b[f'clips_{n}']})" if b[f"clips_{n}"] else "-" for n, _, _ in FIELDS_OF_VIEW]
        lines.append(f"| {key} | {b['mpjpe']:.1f} | {b['n_mpjpe']:.1f} | {b['p_mpjpe']:.1f} | {b['size_error']:.1f} % | "
                     f"{b['mpjpe_given_height']:.1f} | "
                     + " | ".join(fov) + " |")
    lines += ["", "Clean 2D, split by what the person is doing in each frame (`ddhpose.data.motion_classes`: "
              "rules on the true 3D; the Human3.6M motion here keeps its root at one height, so it shows no "
              "jumps). MPJPE / P-MPJPE in mm (share of the set's frames).", "",
              "| test set | " + " | ".join(MOTION_CLASSES) + " |", "|---|" + "---|" * len(MOTION_CLASSES)]
    for key in splits:
        motion = report[key]["clean"]["by_motion"]
        total = sum(v["frames"] for v in motion.values()) or 1
        cells = [f"{v['mpjpe']:.1f} / {v['p_mpjpe']:.1f} ({100 * v['frames'] / total:.0f} %)" if v["frames"] else "-"
                 for v in motion.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines += ["", f"Every condition, split by what the person is doing (H={args.hypotheses[0]}): MPJPE / P-MPJPE "
              "in mm.", "",
              "| test set | condition | " + " | ".join(MOTION_CLASSES) + " |",
              "|---|---|" + "---|" * len(MOTION_CLASSES)]
    for key, values in report.items():
        if key not in splits:
            continue
        for condition in CONDITIONS:
            motion = values[condition]["by_motion"]
            cells = [f"{v['mpjpe']:.1f} / {v['p_mpjpe']:.1f}" if v["frames"] else "-" for v in motion.values()]
            lines.append(f"| {key.split(' (')[0]} | {condition} | " + " | ".join(cells) + " |")
    write_section(Path(args.out + ".md"), "wild_accuracy", "\n".join(lines),
                  title="# Accuracy of the bundled model under detector-like degradations")
    atomic_write_text(Path(args.out + ".json"), json.dumps({**report, "split by cause": splits}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
