"""The focal length from the clip (``ddhpose.lifting.focal``), measured where the truth is known:
the lifter given no focal length, against the same lift with the default assumption.

Test sets (never trained on), the clips of benchmarks/world_accuracy.py:

- held-out mocap clips (CMU, Bandai Namco, HDM05) through the wild config's virtual cameras (focal
  500-3,000 px on image formats from 480 to 3,840 px wide: 0.17-4.5 x the width);
- Human3.6M S9/S11 motion through its 4 real cameras (1.15 x the width, longer than the default).

Per set: how many clips told their focal length, the estimate's error (all clips, and the ones that
told it), the root error mean with the default assumption and with the estimate (mm), and the
depth error (|root depth - true depth| / true depth, mean over frames) on the clips whose pelvis
moves at least :data:`DEEP` metres in depth.

Usage: python benchmarks/focal_estimate.py [-c wild] [--sequences 16] [--frames 300]
(run from the repository root with the data linked at ./data); ``--smoke``: the same code on
stand-in data (benchmarks/smoke.py) into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402
from world_accuracy import h36m_clips, mocap_clips  # noqa: E402

from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402

#: Clips whose true pelvis depth spans at least this (metres, max - min) get the depth error.
DEEP = 1.0


def measure(lifter: Lifter, uv: np.ndarray, size: tuple[int, int], intrinsics: np.ndarray, truth: np.ndarray,
            fps: float) -> dict:
    """One clip lifted with no focal length given, with the estimate and with the default."""
    out = {"frames": len(uv), "image_size": [int(size[0]), int(size[1])], "true_ratio": float(intrinsics[0]) / size[0],
           "depth_span": float(np.ptp(truth[:, 0, 2]))}
    for label, estimate in (("default", False), ("estimated", True)):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the fallback's warning, counted below instead
            r = lifter.lift(uv, layout="h36m", image_size=size, fps=fps, world=False, estimate_focal=estimate)
        out[f"seconds_{label}"] = time.perf_counter() - started
        root = r.root_trajectory
        out[f"root_{label}"] = float(np.linalg.norm(root - truth[:, 0], axis=-1).mean()) * 1000
        out[f"depth_{label}"] = float(np.mean(np.abs(root[:, 2] - truth[:, 0, 2]) / truth[:, 0, 2])) * 100
        if estimate:
            e = r.provenance["focal_estimate"]
            out["identifiable"] = bool(e["identifiable"])
            out["estimate_ratio"] = e["focal"] / size[0]
            out["used_ratio"] = r.focal_length / size[0]
            out["interval_ratio"] = [v / size[0] for v in e["interval"]]
    out["estimate_error"] = abs(out["estimate_ratio"] / out["true_ratio"] - 1) * 100
    out["used_error"] = abs(out["used_ratio"] / out["true_ratio"] - 1) * 100
    return out


def summarise(records: list[dict]) -> dict:
    told = [r for r in records if r["identifiable"]]
    deep = [r for r in records if r["depth_span"] >= DEEP]

    def mean(rows, key):
        return float(np.mean([r[key] for r in rows])) if rows else None

    return {"clips": len(records), "told": len(told), "deep": len(deep), "deep_told": sum(r["identifiable"] for r in deep),
            "estimate_error_all": float(np.median([r["estimate_error"] for r in records])),
            "estimate_error_told": float(np.median([r["estimate_error"] for r in told])) if told else None,
            "used_error": float(np.median([r["used_error"] for r in records])),
            "root_default": mean(records, "root_default"), "root_estimated": mean(records, "root_estimated"),
            "depth_default_deep": mean(deep, "depth_default"), "depth_estimated_deep": mean(deep, "depth_estimated"),
            "extra_seconds_per_frame": float(np.sum([r["seconds_estimated"] - r["seconds_default"] for r in records])
                                             / np.sum([r["frames"] for r in records]))}


def markdown(rows: dict[str, dict], args, command: str, seconds: float) -> str:
    def cell(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)
    lines = [f"Measured with `{command}` ({seconds:.0f} s; {weights_label(args.checkpoint)}, the lifter's "
             "defaults, H=1, exact 2D, no focal length given).", "",
             "| test set | clips that told their focal length | focal error median, every estimate / the ones used / "
             "the focal used (%) | root error mean, default -> estimated (mm) | clips moving >= 1 m in depth "
             "(told) | their depth error, default -> estimated (%) |", "|---|---|---|---|---|---|"]
    for key, v in rows.items():
        lines.append(f"| {key} | {v['told']} of {v['clips']} | {cell(v['estimate_error_all'])} / "
                     f"{cell(v['estimate_error_told'])} / {cell(v['used_error'])} | {cell(v['root_default'], '{:.0f}')} -> "
                     f"{cell(v['root_estimated'], '{:.0f}')} | {v['deep']} ({v['deep_told']}) | "
                     f"{cell(v['depth_default_deep'])} -> {cell(v['depth_estimated_deep'])} |")
    cost = np.mean([v["extra_seconds_per_frame"] for v in rows.values()]) * 1000
    lines += ["", f"The estimate costs about {cost:.1f} ms per frame of a clip (the lift with it against the lift "
              "without, same clips; CPU)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--out", default="docs/world_accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    overrides, worlds = [], None
    if args.smoke:
        tmp = smoke.folder("focal_estimate")
        overrides, worlds = smoke.config_overrides(tmp), smoke.held_out_worlds()
        args.sequences, args.frames, args.out = 2, 100, str(tmp / "world_accuracy")
    cfg = load_config(args.config, overrides)
    started = time.time()
    lifter = Lifter.from_pretrained(args.checkpoint)
    rows, per_clip = {}, {}
    for label, clips, fps in (("held-out mocap", list(mocap_clips(cfg, args.sequences, args.frames, args.seed, worlds)),
                               cfg.data.mocap_fps),
                              ("Human3.6M S9/S11, real cameras", list(h36m_clips(cfg, args.sequences, args.frames)), 50.0)):
        records = [measure(lifter, uv, size, intr, truth, fps) for _, uv, size, intr, truth, _, _ in clips]
        rows[label] = summarise(records)
        per_clip[label] = [{"clip": c[0], **r} for c, r in zip(clips, records)]
        print(label, json.dumps(rows[label]), flush=True)
    command = f"python benchmarks/focal_estimate.py -c {args.config} --sequences {args.sequences} --frames {args.frames}"
    out_md = Path(args.out + ".md")
    write_section(out_md, "focal_estimate", markdown(rows, args, command, time.time() - started),
                  title="# Motion in the world")
    atomic_write_text(out_md.with_name("focal_estimate.json"),
                      json.dumps({"summary": rows, "per_clip": per_clip}, indent=2))
    print(out_md.read_text())


if __name__ == "__main__":
    main()
