"""Lifting throughput of the bundled model on this machine: frames per second, end to end.

Times ``Lifter.lift`` (conversion, gap filling, windows, sampling with flip, blending,
aggregation) on the bundled demo clip tiled to ``--frames`` frames, for each (H, W) setting.
Reports the median of ``--repeats`` runs after one warm-up.

Usage: python benchmarks/lift_speed.py [--checkpoint PATH] [--threads 2] [--out docs/lift_speed]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ddhpose.files import atomic_write_text
from ddhpose.lifting.lifter import Lifter
from ddhpose.pipelines.demo import demo_sample_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--settings", nargs="+", default=["1x1", "5x5"], help="HxW pairs")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], help="any of fp32 bf16 int8")
    parser.add_argument("--out", default="docs/lift_speed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lifters = {p: Lifter.from_pretrained(args.checkpoint, device=args.device, precision=p) for p in args.precisions}
    with np.load(demo_sample_path(), allow_pickle=False) as data:
        clip, size = data["keypoints"], tuple(int(v) for v in data["image_size"])
    keypoints = np.concatenate([clip] * (args.frames // len(clip) + 1))[: args.frames]
    rows = {}
    for setting in args.settings:
        h, w = (int(v) for v in setting.split("x"))
        for lifter in lifters.values():  # warm-up
            lifter.lift(keypoints[:100], image_size=size, layout="h36m", hypotheses=h, iterations=w)
        times: dict[str, list[float]] = {p: [] for p in lifters}
        for _ in range(args.repeats):  # precisions interleaved, so load drift hits all alike
            for p, lifter in lifters.items():
                start = time.perf_counter()
                lifter.lift(keypoints, image_size=size, layout="h36m", hypotheses=h, iterations=w)
                times[p].append(time.perf_counter() - start)
        for p, t in times.items():
            median = statistics.median(t)
            rows[f"{setting} {p}"] = {"seconds": median, "fps": args.frames / median, "all_seconds": t}
            print(f"H={h} W={w} {p}: {args.frames / median:.0f} frames/s (median of {args.repeats}: {median:.2f} s)")
    cfg = next(iter(lifters.values())).model.config
    lines = [f"Lifting speed of the bundled model (F={cfg.frames}, C={cfg.channels}, depth {cfg.depth}) on "
             f"{args.device}, {args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
             f"{args.frames} frames, flip augmentation on, the defaults of `Lifter.lift` otherwise, median of "
             f"{args.repeats} runs (precisions interleaved).", "",
             "| hypotheses x iterations, precision | frames/s | seconds |", "|---|---|---|"]
    lines += [f"| {s} | {r['fps']:.0f} | {r['seconds']:.2f} |" for s, r in rows.items()]
    atomic_write_text(Path(args.out + ".md"), "\n".join(lines) + "\n")
    atomic_write_text(Path(args.out + ".json"), json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
