"""Joint and segment angles of the lifter against the same angles of the mocap truth, on held-out
clips (the wild config's test split: CMU, Bandai Namco, HDM05, CMU dance / martial arts, never
trained on) filmed by the virtual cameras benchmarks/world_accuracy.py uses.

Each clip is lifted with ``Lifter.lift`` (its defaults, H=1, the true intrinsics given) from the
exact projection ('clean') and with Gaussian pixel noise of 1 % of the person's 2D height
('noise', benchmarks/wild_accuracy.py's condition). The result's angles (``LiftResult.angles``:
the world poses where a floor was found, else the camera frame) are compared frame by frame with
``ddhpose.lifting.angles.body_angles`` of the truth, expressed in the frame ddhpose's world frame
stands for (the true camera's view levelled on the true up), so the angles to the floor and the
pelvis's heading are comparable too; the angles needing the world frame only in clips where one
was found. RMS error per angle in degrees over the frames where both are defined (left and right
pooled), beside the truth's own spread (its standard deviation) for scale.

``--ik N``: OpenSim inverse kinematics (``ddhpose.pipelines.ik``, needs the opensim extra) on N
of the lifted clips, its joint angles against the geometric angles of the same lifted motion:
their mean offset (the two definitions' frames differ) and the spread about it.

Usage: python benchmarks/angles_accuracy.py [-c wild] [--sequences 24] [--frames 500] [--ik 6]
(run from the repository root with the data linked at ./data); writes docs/angles.md's marked
sections and docs/angles.json. ``--smoke``: the same code on stand-in data (benchmarks/smoke.py)
into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402
from wild_accuracy import degrade  # noqa: E402
from world_accuracy import MIN_CLIP_SECONDS, mocap_clips  # noqa: E402

from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.export.results import save_result  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.angles import ANGLES, body_angles  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402

CONDITIONS = ("clean", "noise")
#: Rows of the table: label -> the angles pooled in it.
ROWS = {}
for a in ANGLES:
    ROWS.setdefault(a.name.replace("right_", "").replace("left_", ""), []).append(a.name)
#: The issue's targets (degrees RMS, clean 2D).
TARGETS = {"hip_flexion": 6.0, "knee_flexion": 6.0, "elbow_flexion": 8.0}


def levelled_truth(truth_cam: np.ndarray, world_to_cam: np.ndarray) -> np.ndarray:
    """The true joints (F, J, 3) in the frame ddhpose's world frame stands for: y the true up, z
    towards the camera (its optical axis levelled), x = y x z (to the right of the view)."""
    up = world_to_cam @ np.array([0.0, 0.0, 1.0])  # the z-up mocap world's up, in camera coordinates
    towards = -np.array([0.0, 0.0, 1.0])
    towards = towards - (towards @ up) * up
    towards /= np.linalg.norm(towards)
    axes = np.stack([np.cross(up, towards), up, towards])
    return truth_cam @ axes.T


def clip_errors(result, truth: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """name -> [sum of squared errors, frames, truth values' sum, sum of squares, sum of errors] over the frames
    where both angles are defined (world angles only where the result has a world frame)."""
    out = {}
    world = result.world_poses is not None
    for a in ANGLES:
        if a.world and not world:
            continue
        pred, true = result.angles[a.name], truth[a.name]
        err = pred - true
        if a.name == "pelvis_rotation":
            err = (err + 180.0) % 360.0 - 180.0
        ok = np.isfinite(err)
        out[a.name] = [float((err[ok] ** 2).sum()), int(ok.sum()), float(true[ok].sum()), float((true[ok] ** 2).sum()),
                       float(err[ok].sum())]
    return out


def pool(records: list[dict[str, list[float]]]) -> dict[str, dict]:
    """Per row of :data:`ROWS`: RMS error, frames, the truth's standard deviation, the mean error
    (lifted - truth: a bias the definitions or the model share over clips) in degrees."""
    rows = {}
    for label, names in ROWS.items():
        se = n = s = ss = b = 0.0
        for record in records:
            for name in names:
                if name in record:
                    e, k, t, tt, eb = record[name]
                    se, n, s, ss, b = se + e, n + k, s + t, ss + tt, b + eb
        rows[label] = {"frames": int(n), "rms": float(np.sqrt(se / n)) if n else None,
                       "truth_sd": float(np.sqrt(max(ss / n - (s / n) ** 2, 0.0))) if n else None,
                       "bias": float(b / n) if n else None}
    return rows


def measure(lifter: Lifter, clips: list, fps: float, condition: str, seed: int) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    records, results, worlds, mpjpe = [], [], 0, []
    for name, uv, size, intrinsics, truth_cam, rotation, _ in clips:
        keypoints, scores, layout = degrade(uv, condition, rng)
        r = lifter.lift(keypoints, scores=scores, layout=layout, image_size=size, fps=fps,
                        focal_length=float(intrinsics[0]), principal_point=tuple(map(float, intrinsics[2:4])))
        truth = body_angles(levelled_truth(truth_cam, rotation), world=True)
        records.append(clip_errors(r, truth))
        true_rel = truth_cam - truth_cam[:, :1]  # the lifter's own error (root-relative, camera frame)
        mpjpe.append(float(np.linalg.norm(r.poses - true_rel, axis=-1).mean() * 1000))
        results.append((name, r))
        worlds += r.world_poses is not None
    return {"clips": len(clips), "world_found": worlds, "rows": pool(records), "mpjpe_mm_per_clip": mpjpe,
            "mpjpe_mm": float(np.mean(mpjpe))}, results


def ik_rows(results: list, count: int) -> dict:
    """OpenSim's joint angles against the geometric ones of the same lifted motion, pooled over clips."""
    from ddhpose.pipelines.ik import inverse_kinematics
    pooled: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="ddhpose_angles_ik_") as tmp:
        for name, r in results[:count]:
            path = Path(tmp) / f"{Path(name).stem.replace(' ', '_')}.npz"
            save_result(r, path)
            ik = inverse_kinematics(path)
            for coordinate, row in ik.comparison.items():
                pooled.setdefault(coordinate, []).append(np.array([row["mean"], row["sd"], row["frames"],
                                                                   row["rms"]]))
    out = {}
    for coordinate, rows in pooled.items():
        a = np.stack(rows)
        w = a[:, 2] / a[:, 2].sum()
        mean = float((a[:, 0] * w).sum())
        within = float(np.sqrt((a[:, 1] ** 2 * w).sum()))  # spread about each clip's own offset
        out[coordinate] = {"clips": len(rows), "frames": int(a[:, 2].sum()), "mean_offset": mean,
                           "offset_spread_between_clips": float(a[:, 0].std()), "sd_within_clips": within,
                           "rms": float(np.sqrt((a[:, 3] ** 2 * w).sum()))}
    return out


def _cell(v, fmt="{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def markdown(report: dict, command: str) -> str:
    lines = [f"Measured with `{command}` ({report['seconds']:.0f} s; {report['weights']}, the lifter's defaults, "
             f"H=1, the true intrinsics given; {report['clean']['clips']} held-out clips of at least "
             f"{MIN_CLIP_SECONDS:g} s, up to {report['frames']} frames at {report['fps']:g} fps; a world frame "
             f"found in {report['clean']['world_found']} (clean) and {report['noise']['world_found']} (noise) of "
             "them: the angles to the floor and the pelvis's are measured in those). The lifter's own error on these "
             f"clips: MPJPE {report['clean']['mpjpe_mm']:.0f} mm (clean), {report['noise']['mpjpe_mm']:.0f} mm (noise), "
             f"mean over clips; per clip {min(report['clean']['mpjpe_mm_per_clip']):.0f} to "
             f"{max(report['clean']['mpjpe_mm_per_clip']):.0f} mm (clean).", "",
             "| angle | RMS error, clean 2D (deg) | RMS error, 1 % pixel noise (deg) | the truth's spread, SD (deg) | "
             "mean error, lifted - truth, clean (deg) | frames (clean) | target |", "|---|---|---|---|---|---|---|"]
    for label in ROWS:
        clean, noise = report["clean"]["rows"][label], report["noise"]["rows"][label]
        if not clean["frames"]:
            continue
        target = TARGETS.get(label)
        verdict = "" if target is None else f"<= {target:g}: {'met' if clean['rms'] <= target else 'not met'}"
        lines.append(f"| {label} | {_cell(clean['rms'])} | {_cell(noise['rms'])} | {_cell(clean['truth_sd'])} | "
                     f"{_cell(clean['bias'], '{:+.1f}')} | {clean['frames']} | {verdict} |")
    never = [label for label in ROWS if not report["clean"]["rows"][label]["frames"]]
    if never:
        lines += ["", f"Not measured (missing in every frame of Human3.6M's 17 joints: no toe joint): {', '.join(never)}."]
    return "\n".join(lines)


def ik_markdown(rows: dict, command: str) -> str:
    lines = [f"Measured with `{command}` (OpenSim {rows.get('_opensim', '?')}; the lifted motion of the first "
             f"clips of the table above, clean 2D).", "",
             "| OpenSim coordinate | ddhpose angle | clips | mean offset, model - ddhpose (deg) | offset's spread "
             "between clips (deg) | spread about the offset within a clip, SD (deg) | RMS difference (deg) |",
             "|---|---|---|---|---|---|---|"]
    from ddhpose.pipelines.ik import COMPARED
    for coordinate, v in rows.items():
        if coordinate.startswith("_"):
            continue
        lines.append(f"| {coordinate} | {COMPARED[coordinate][0]} | {v['clips']} | {v['mean_offset']:.1f} | "
                     f"{v['offset_spread_between_clips']:.1f} | {v['sd_within_clips']:.1f} | {v['rms']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--sequences", type=int, default=24)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--ik", type=int, default=0, metavar="N",
                        help="also run OpenSim inverse kinematics on N clips (needs the opensim extra)")
    parser.add_argument("--out", default="docs/angles")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    overrides, worlds = [], None
    command = (f"python benchmarks/angles_accuracy.py -c {args.config} --sequences {args.sequences} "
               f"--frames {args.frames}")
    if args.smoke:  # the bundled weights (a random model finds no floor) on the stand-in walk
        tmp = smoke.folder("angles_accuracy")
        overrides, worlds = smoke.config_overrides(tmp), smoke.held_out_worlds()
        args.sequences, args.frames, args.seed, args.out = 1, 100, 2, str(tmp / "angles")
    cfg = load_config(args.config, overrides)
    started = time.time()
    clips = list(mocap_clips(cfg, args.sequences, args.frames, args.seed, worlds))
    lifter = Lifter.from_pretrained(args.checkpoint)
    report = {"weights": weights_label(args.checkpoint), "fps": cfg.data.mocap_fps, "frames": args.frames}
    results = None
    for k, condition in enumerate(CONDITIONS):
        report[condition], lifted = measure(lifter, clips, cfg.data.mocap_fps, condition, args.seed + k)
        results = results or lifted
        print(condition, json.dumps(report[condition]["rows"]), flush=True)
    report["seconds"] = time.time() - started
    out_md, out_json = Path(args.out + ".md"), Path(args.out + ".json")
    write_section(out_md, "angles_accuracy", markdown(report, command), title="# Joint and segment angles")
    if args.ik:
        import opensim
        report["ik"] = {**ik_rows(results, args.ik), "_opensim": opensim.__version__}
        write_section(out_md, "angles_accuracy ik", ik_markdown(report["ik"], command + f" --ik {args.ik}"),
                      title="# Joint and segment angles")
    elif out_json.exists() and "ik" in json.loads(out_json.read_text()):
        report["ik"] = json.loads(out_json.read_text())["ik"]  # the last IK run's figures stay with its section
    atomic_write_text(out_json, json.dumps(report, indent=2))
    print(out_md.read_text())


if __name__ == "__main__":
    main()
