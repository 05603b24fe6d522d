"""What users see: accuracy and temporal stability of ``Lifter.lift`` under its settings.

For every setting (hypotheses, aggregation, temporal filter, bone lengths, sampler start) the
same clips are lifted from pixels and measured against their 3D ground truth:

- the demo clip (held-out CMU 02_05, bundled, 50 fps, 1.5 px jitter);
- Human3.6M S9/S11 through the real cameras (50 fps) and the held-out mocap clips through
  virtual cameras (25 fps), ``--sequences`` evenly spaced sequences of ``--frames`` frames,
  exact 2D (needs the data of the ``wild`` config under ./data; skipped without it);
- optionally real detector output without ground truth (``--real FILE --real-size W H``):
  only the plausibility figures.

Figures: MPJPE and P-MPJPE (mm), acceleration error (mm/frame^2, against the ground truth's
second differences), bone-length variation (median over bones of std/mean over frames, %) and
left/right asymmetry (median over bone pairs, %), each averaged over sequences.

Usage: python benchmarks/lift_quality.py [--checkpoint PATH] [--out docs/lift_quality.md]
``--smoke``: three settings, a tiny random model and stand-in held-out sets (benchmarks/smoke.py),
into a temporary folder.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose import metrics as M  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.geometry import image_coordinates  # noqa: E402
from ddhpose.lifting.inputs import read_keypoints  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.pipelines.demo import demo_sample_path  # noqa: E402
from ddhpose.skeleton import H36M  # noqa: E402

# name -> Lifter.lift keyword arguments
SETTINGS: dict[str, dict] = {
    "H=1, raw (no filter, free bones)": dict(hypotheses=1, smooth=0, bone_lengths="free"),
    "H=5, J-Agg, raw": dict(hypotheses=5, aggregation="j_agg", smooth=0, bone_lengths="free"),
    "H=5, P-Agg, raw": dict(hypotheses=5, smooth=0, bone_lengths="free"),
    "H=1, track bones only": dict(hypotheses=1, smooth=0),
    "H=1, filter only (sigma 2)": dict(hypotheses=1, bone_lengths="free"),
    "H=1, defaults (filter 2 + track bones)": dict(hypotheses=1),
    "H=1, defaults, filter 1": dict(hypotheses=1, smooth=1.0),
    "H=1, defaults, filter 3": dict(hypotheses=1, smooth=3.0),
    "H=1, defaults, zero start": dict(hypotheses=1, start="zero"),
    "H=1, raw, zero start": dict(hypotheses=1, smooth=0, bone_lengths="free", start="zero"),
    "H=5, defaults (P-Agg + filter 2 + track bones)": dict(hypotheses=5),
}


def measure(pred: np.ndarray, truth: np.ndarray | None) -> dict[str, float]:
    p = torch.as_tensor(pred, dtype=torch.float64)
    out = {"bone_cv": float(M.bone_length_variation(p, H36M)) * 100,
           "asymmetry": float(M.left_right_asymmetry(p, H36M)) * 100,
           "accel": float(M.mean_acceleration(p)) * 1000}
    if truth is not None:
        t = torch.as_tensor(truth, dtype=torch.float64)
        out.update(mpjpe=float(M.mpjpe(p, t)) * 1000, p_mpjpe=float(M.p_mpjpe(p, t)) * 1000,
                   accel_err=float(M.acceleration_error(p, t)) * 1000, gt_accel=float(M.mean_acceleration(t)) * 1000)
    return out


#: The settings of a smoke run: H=1 raw and with the defaults, and J-Agg.
SMOKE_SETTINGS = ("H=1, raw (no filter, free bones)", "H=5, J-Agg, raw", "H=1, defaults (filter 2 + track bones)")


def clips(args: argparse.Namespace, smoke_folder: Path | None = None) -> dict[str, list[tuple]]:
    """Set name -> [(keypoints (F, 17, 2) px, layout, image size, focal px, truth or None)]; the
    held-out sets from the stand-in data in ``smoke_folder`` when given."""
    sample = demo_sample_path()
    track = read_keypoints(sample)[0]
    with np.load(sample, allow_pickle=False) as data:
        truth = data["poses_3d"]
        if smoke_folder is not None:  # its first --frames frames
            track = dataclasses.replace(track, keypoints=track.keypoints[:args.frames],
                                        scores=track.scores[:args.frames], frames=track.frames[:args.frames])
            truth = truth[track.frames]
        demo = [(track, None, None, float(data["focal_length"]), truth)]
    sets = {"demo clip (CMU 02_05, 50 fps)": demo}
    try:
        from ddhpose.data.sources import load_split
        from ddhpose.experiment import load_config
        if smoke_folder is not None:
            cfg = load_config("wild", smoke.config_overrides(smoke_folder))
            tests = smoke.stand_in_split(cfg, cfg.train.seed)
        else:
            cfg = load_config("wild")
            tests = load_split(cfg.data, "test", cfg.train.seed)
    except (OSError, ValueError) as err:
        print(f"held-out sets skipped: {err}", file=sys.stderr)
        tests = []
    for name, keep in (("Human3.6M S9/S11 (50 fps)", lambda s: s.subject in ("S9", "S11")),
                       ("held-out mocap (25 fps)", lambda s: s.subject not in ("S9", "S11"))):
        seqs = [s for s in tests if keep(s)]
        if not seqs or args.sequences < 1:
            continue
        pick = np.linspace(0, len(seqs) - 1, min(args.sequences, len(seqs))).round().astype(int)
        rows = []
        for i in pick:
            s, n = seqs[i], min(args.frames, seqs[i].num_frames)
            w, h = s.image_size
            uv = image_coordinates(torch.from_numpy(s.keypoints_2d[:n]), w, h).numpy()
            rows.append((uv, "h36m", (w, h), float(s.intrinsics[0]) * w / 2, s.poses_3d[:n]))
        sets[name] = rows
    if args.real:
        for track in read_keypoints(args.real, image_size=args.real_size):
            sets.setdefault(f"real detections ({Path(args.real).name})", []).append(
                (track, None, args.real_size, None, None))
    return sets


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None, help="default: the bundled model")
    ap.add_argument("--sequences", type=int, default=8)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--real", default=None, help="a keypoint file of real detections (no ground truth)")
    ap.add_argument("--real-size", type=int, nargs=2, default=None, metavar=("W", "H"))
    ap.add_argument("--only", default="", help="setting names separated by ;")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = ap.parse_args(argv)
    tmp = None
    if args.smoke:
        tmp = smoke.folder("lift_quality")
        args.checkpoint, args.out = str(smoke.tiny_checkpoint(tmp)), tmp / "lift_quality.md"
        args.sequences, args.frames, args.only = 1, 40, ";".join(SMOKE_SETTINGS)
    torch.manual_seed(0)
    lifter = Lifter.from_pretrained(args.checkpoint, device="cpu")
    sets = clips(args, tmp)
    names = [n for n in args.only.split(";") if n] or list(SETTINGS)
    report: dict[str, dict[str, dict[str, float]]] = {}
    started = time.time()
    for set_name, rows in sets.items():
        for name in names:
            figures = []
            for keypoints, layout, size, focal, truth in rows:
                r = lifter.lift(keypoints, layout=layout, image_size=size, focal_length=focal, **SETTINGS[name])
                figures.append(measure(r.poses, truth))
            report.setdefault(set_name, {})[name] = {k: float(np.mean([f[k] for f in figures])) for k in figures[0]}
            print(set_name, "|", name, json.dumps({k: round(v, 2) for k, v in report[set_name][name].items()}),
                  flush=True)
    command = "python benchmarks/lift_quality.py" + (" --smoke" if args.smoke else "") + (f" --real {Path(args.real).name}" if args.real else "") + \
        (f" --real-size {args.real_size[0]} {args.real_size[1]}" if args.real_size else "")
    lines = [f"Measured with `{command}` ({time.time() - started:.0f} s; checkpoint "
             f"{weights_label(args.checkpoint)}). Per set: MPJPE / P-MPJPE (mm), acceleration error (mm/frame^2; the "
             "ground truth's own mean acceleration in brackets), bone-length variation and left/right asymmetry (%).",
             ""]
    for set_name, rows in report.items():
        lines += [f"**{set_name}**", "", "| setting | MPJPE / P-MPJPE | accel. error | bone variation | L/R asymmetry |",
                  "|---|---|---|---|---|"]
        for name, f in rows.items():
            acc = f"{f['accel_err']:.2f} ({f['gt_accel']:.2f})" if "accel_err" in f else f"accel {f['accel']:.2f}"
            err = f"{f['mpjpe']:.1f} / {f['p_mpjpe']:.1f}" if "mpjpe" in f else "-"
            lines.append(f"| {name} | {err} | {acc} | {f['bone_cv']:.1f} | {f['asymmetry']:.1f} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_section(args.out, "lift_quality", text)
        atomic_write_text(args.out.with_suffix(".json"), json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
