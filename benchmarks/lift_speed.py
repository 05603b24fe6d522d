"""Lifting throughput of the bundled model on this machine: frames per second, end to end.

Times ``Lifter.lift`` (conversion, gap filling, windows, sampling with flip, blending,
aggregation) on the bundled demo clip tiled to ``--frames`` frames, for each (H, W) setting.
Reports the median of ``--repeats`` runs after one warm-up.

Usage: python benchmarks/lift_speed.py [--checkpoint PATH] [--threads 2] [--out docs/lift_speed]
``--smoke``: a tiny random model, 30 frames, one repeat, into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.pipelines.demo import demo_sample_path  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--settings", nargs="+", default=["1x1", "5x5"], help="HxW pairs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], help="any of fp32 bf16 int8")
    parser.add_argument("--out", default="docs/lift_speed")
    parser.add_argument("--world-off", action="store_true",
                        help="also time each setting without the world frame (world=False), interleaved")
    parser.add_argument("--focal-estimate", action="store_true",
                        help="also time each precision with the clip's focal estimate on (world on)")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    if args.smoke:
        tmp = smoke.folder("lift_speed")
        args.checkpoint, args.out = str(smoke.tiny_checkpoint(tmp)), str(tmp / "lift_speed")
        args.frames, args.repeats, args.settings = 30, 1, ["1x1", "2x2"]
    torch.set_num_threads(args.threads)
    lifters = {p: Lifter.from_pretrained(args.checkpoint, device=args.device, precision=p) for p in args.precisions}
    with np.load(demo_sample_path(), allow_pickle=False) as data:
        clip, size = data["keypoints"], tuple(int(v) for v in data["image_size"])
    keypoints = np.concatenate([clip] * (args.frames // len(clip) + 1))[: args.frames]
    rows = {}
    for setting in args.settings:
        h, w = (int(v) for v in setting.split("x"))
        for lifter in lifters.values():  # warm-up
            lifter.lift(keypoints[:min(100, args.frames)], image_size=size, layout="h36m", hypotheses=h, iterations=w)
        variants = ([(p, True, False) for p in lifters] + ([(p, False, False) for p in lifters] if args.world_off else [])
                    + ([(p, True, True) for p in lifters] if args.focal_estimate else []))
        times: dict[str, list[float]] = {_name(*v): [] for v in variants}
        for _ in range(args.repeats):  # precisions interleaved, so load drift hits all alike
            for p, world, estimate in variants:
                start = time.perf_counter()
                with warnings.catch_warnings():  # the estimate's fallback warning, once per run
                    warnings.simplefilter("ignore")
                    lifters[p].lift(keypoints, image_size=size, layout="h36m", hypotheses=h, iterations=w,
                                    world=world, fps=50.0, estimate_focal=estimate)
                times[_name(p, world, estimate)].append(time.perf_counter() - start)
        for p, t in times.items():
            median = statistics.median(t)
            rows[f"{setting} {p}"] = {"seconds": median, "fps": args.frames / median, "all_seconds": t}
            print(f"H={h} W={w} {p}: {args.frames / median:.0f} frames/s (median of {args.repeats}: {median:.2f} s)",
                  flush=True)
    cfg = next(iter(lifters.values())).model.config
    command = "python benchmarks/lift_speed.py " + " ".join(
        (["--smoke"] if args.smoke else [])
        + [f"--frames {args.frames}", f"--repeats {args.repeats}", "--settings " + " ".join(args.settings),
           "--precisions " + " ".join(args.precisions)] + (["--world-off"] if args.world_off else [])
        + (["--focal-estimate"] if args.focal_estimate else []))
    lines = [f"`{command}`", "",
             f"Lifting speed of {weights_label(args.checkpoint)} (F={cfg.frames}, C={cfg.channels}, depth {cfg.depth}) on "
             f"{args.device}, {args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
             f"{args.frames} frames, flip augmentation on, the defaults of `Lifter.lift` otherwise, median of "
             f"{args.repeats} runs (precisions interleaved); 'world' rows include the root trajectory, the "
             "world frame, foot contacts and foot locking (the default), 'world off' rows stop at the camera frame"
             + (", 'focal estimate' rows estimate the focal length from the clip (``estimate_focal``)"
                if args.focal_estimate else "") + ".", "",
             "| hypotheses x iterations, precision | frames/s | seconds |", "|---|---|---|"]
    lines += [f"| {s} | {r['fps']:.0f} | {r['seconds']:.2f} |" for s, r in rows.items()]
    write_section(Path(args.out + ".md"), "lift_speed", "\n".join(lines), title="# Lifting speed of the bundled model")
    atomic_write_text(Path(args.out + ".json"), json.dumps(rows, indent=2))


def _name(precision: str, world: bool, estimate: bool = False) -> str:
    return f"{precision}, {'world' if world else 'world off'}" + (", focal estimate" if estimate else "")


if __name__ == "__main__":
    main()
