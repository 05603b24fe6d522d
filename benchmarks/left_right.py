"""Left and right exchanged by a detector, injected into mocap 2D and repaired: measured.

The clips of ``world_accuracy.py`` (Human3.6M S9/S11 through its real cameras, held-out mocap
through the wild config's virtual cameras), exact 2D and with detector-like noise (Gaussian,
0.3 % of the image width), get runs of exchanged labels the way real detectors make them: runs of
3-30 frames, the legs in half of them, the whole body in 30 %, the arms in 20 %, starting where the
body is seen from the side or turns (a run's start drawn with weight (1 - the hips' 2D width / its
largest over the clip)^2), one run per 60 frames on average; with ``--slide P`` a share P of the
runs' edges slide over 1-3 frames instead of jumping (those frames count neither way). Measured
(``ddhpose.lifting.swaps``):

- repaired: of the frames (and groups) exchanged, the share put back; changed: of the clean
  frames, the share the repair exchanged;
- the lifted pose's error (MPJPE, mm, root-relative) on the exchanged frames: the clip without
  swaps, with them as detected (no repair), and repaired (the lifter's default).

Usage: python benchmarks/left_right.py [-c wild] [--sequences 16] [--frames 300] [--seed 0] [--slide 0.5]
(run from the repository root with the data linked at ./data); writes its section of
docs/world_accuracy.md (``--out``). ``--smoke``: the same code on stand-in data, into a temporary
folder.
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
import world_accuracy  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.swaps import GROUPS, exchanged, pairs, repair_swaps  # noqa: E402

#: How detectors exchange labels: group -> share of the runs ('body' is both groups).
KINDS = {"legs": 0.5, "body": 0.3, "arms": 0.2}
RUN_FRAMES = (3, 30)
FRAMES_PER_RUN = 60
NOISE = 0.003  # of the image width


def inject(uv: np.ndarray, rng: np.random.Generator, slide: float = 0.0
           ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(F, 17, 2) -> (the keypoints with runs of exchanged labels, {group: (F,) bool exchanged},
    {group: (F,) bool sliding}). With probability ``slide`` a run's edge is not a jump but a slide
    over the 1-3 frames just outside the run (the two sides moving linearly through each other,
    the way MediaPipe exchanges a pair); those frames count as neither exchanged nor clean (their
    labels are ambiguous). ``slide`` 0 draws exactly the runs of the benchmark without slides."""
    frames = len(uv)
    hips = np.linalg.norm(uv[:, 1] - uv[:, 4], axis=-1)
    weight = (1 - hips / max(hips.max(), 1e-9)) ** 2 + 1e-3
    truth = {g: np.zeros(frames, bool) for g in GROUPS}
    slides = []  # (group, frames, the fraction of the way each frame has slid)
    for _ in range(max(1, round(frames / FRAMES_PER_RUN))):
        length = int(rng.integers(RUN_FRAMES[0], RUN_FRAMES[1] + 1))
        if length >= frames:
            continue
        start = int(rng.choice(frames - length, p=weight[:frames - length] / weight[:frames - length].sum()))
        kind = rng.choice(list(KINDS), p=list(KINDS.values()))
        groups = GROUPS if kind == "body" else [kind]
        for g in groups:
            truth[g][start:start + length] ^= True
        if slide > 0:
            for edge, step in ((start, -1), (start + length - 1, 1)):  # before the run, after it
                if rng.random() < slide:
                    k = int(rng.integers(1, 4))
                    idx = edge + step * np.arange(1, k + 1)
                    keep = (idx >= 0) & (idx < frames)
                    share = 1 - np.arange(1, k + 1) / (k + 1)  # nearer the run: further through
                    slides += [(g, idx[keep], share[keep]) for g in groups]
    out = uv
    for g, flags in truth.items():  # each a copy: the slides below write into the last
        out = exchanged(out, flags, g)
    ambiguous = {g: np.zeros(frames, bool) for g in GROUPS}
    for g, idx, share in slides:
        left, right = pairs(g)
        a, b = out[np.ix_(idx, left)], out[np.ix_(idx, right)]
        w = share[:, None, None]
        out[np.ix_(idx, left)], out[np.ix_(idx, right)] = (1 - w) * a + w * b, (1 - w) * b + w * a
        ambiguous[g][idx] = True
    return out, truth, ambiguous


def mpjpe(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame (F,) mm."""
    return np.linalg.norm(a - b, axis=-1).mean(-1) * 1000


def measure(lifter: Lifter | None, clips: list, fps: float, noise: bool, rng: np.random.Generator,
            slide: float = 0.0) -> dict:
    """The repair's shares over the clips, and with a lifter the error on the exchanged frames
    (``slide``: see :func:`inject`)."""
    swapped_total = repaired = clean_total = changed = 0
    errors = {"without swaps": [], "as detected": [], "repaired": []}
    for _, uv, size, intr, truth, _, _ in clips:
        uv = uv + (rng.normal(0, NOISE * size[0], uv.shape) if noise else 0)
        bad, flags, ambiguous = inject(uv, rng, slide)
        seen = np.ones(uv.shape[:2], bool)
        _, found = repair_swaps(bad, seen)
        for g in GROUPS:
            swapped_total += int(flags[g].sum())
            repaired += int((flags[g] & found[g]).sum())
            clean = ~flags[g] & ~ambiguous[g]
            clean_total += int(clean.sum())
            changed += int((clean & found[g]).sum())
        hit = np.any(list(flags.values()), axis=0)
        if lifter is None or not hit.any():
            continue
        true_rel = truth - truth[:, :1]
        known = {"focal_length": float(intr[0]), "principal_point": tuple(map(float, intr[2:4]))}
        for label, keypoints, repair in (("without swaps", uv, True), ("as detected", bad, False),
                                         ("repaired", bad, True)):
            r = lifter.lift(keypoints, layout="h36m", image_size=size, fps=fps, world=False, repair_swaps=repair,
                            **known)
            errors[label].append(mpjpe(r.poses, true_rel)[hit])
    out = {"swapped_frames": swapped_total, "repaired": 100 * repaired / max(swapped_total, 1),
           "clean_frames": clean_total, "changed": 100 * changed / max(clean_total, 1)}
    for label, values in errors.items():
        out[f"mpjpe {label}"] = float(np.concatenate(values).mean()) if values else None
    return out


def markdown(rows: dict, command: str, seconds: float, checkpoint, slide: float = 0.0) -> str:
    def cell(v, fmt="{:.1f}"):
        return "-" if v is None else fmt.format(v)
    lines = [f"Measured with `{command}` ({seconds:.0f} s; {weights_label(checkpoint)}, the lifter's defaults, H=1; "
             f"runs of {RUN_FRAMES[0]}-{RUN_FRAMES[1]} exchanged frames, one per {FRAMES_PER_RUN} frames"
             + (f"; {slide:.0%} of their edges sliding over 1-3 frames, counted neither way" if slide else "")
             + ").", "",
             "| test set, 2D | exchanged frames (group x frame) | repaired (%) | clean frames changed (%) | "
             "MPJPE on the exchanged frames: without swaps / as detected / repaired (mm) |", "|---|---|---|---|---|"]
    for label, v in rows.items():
        lines.append(f"| {label} | {v['swapped_frames']} | {cell(v['repaired'])} | {cell(v['changed'], '{:.2f}')} "
                     f"| {cell(v['mpjpe without swaps'])} / {cell(v['mpjpe as detected'])} / "
                     f"{cell(v['mpjpe repaired'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/world_accuracy")
    parser.add_argument("--repair-only", type=int, nargs="+", metavar="SEED",
                        help="measure the repair alone (no lifting) with these seeds of the injected runs")
    parser.add_argument("--slide", type=float, default=0.0, metavar="P",
                        help="the share of run edges that slide over 1-3 frames instead of jumping")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    overrides, worlds = [], None
    if args.smoke:
        tmp = smoke.folder("left_right")
        overrides, worlds = smoke.config_overrides(tmp), smoke.held_out_worlds()
        args.sequences, args.frames, args.out = 2, 100, str(tmp / "world_accuracy")
    cfg = load_config(args.config, overrides)
    started = time.time()
    torch.manual_seed(args.seed)
    sets = {"Human3.6M S9/S11": (list(world_accuracy.h36m_clips(cfg, args.sequences, args.frames)), 50.0),
            "held-out mocap": (list(world_accuracy.mocap_clips(cfg, args.sequences, args.frames, args.seed, worlds)),
                               float(cfg.data.mocap_fps))}
    if args.repair_only:
        return repair_only(sets, args, started)
    lifter = Lifter.from_pretrained(args.checkpoint)
    rows = {}
    for name, (clips, fps) in sets.items():
        for noise in (False, True):
            label = f"{name}, {'detector-like noise' if noise else 'exact'}"
            rows[label] = measure(lifter, clips, fps, noise, np.random.default_rng(args.seed), args.slide)
            print(label, json.dumps(rows[label]), flush=True)
    command = (f"python benchmarks/left_right.py -c {args.config} --sequences {args.sequences} "
               f"--frames {args.frames}" + _slid(args)[0])
    save(args.out, "left_right" + _slid(args)[1],
         markdown(rows, command, time.time() - started, args.checkpoint, args.slide),
         "left and right" + _slid(args)[2], rows)


def _slid(args: argparse.Namespace) -> tuple[str, str, str]:
    """With ``--slide``: the command's flag, the document section's suffix, the JSON key's suffix."""
    if not args.slide:
        return "", "", ""
    return f" --slide {args.slide:g}", "_slide", f", slide {args.slide}"


def save(out: str, section: str, text: str, key: str, rows: dict) -> None:
    """Write ``text`` into its section of OUT.md and ``rows`` under ``key`` of OUT.json."""
    out_md, out_json = Path(out + ".md"), Path(out + ".json")
    write_section(out_md, section, text, title="# Motion in the world")
    saved = json.loads(out_json.read_text()) if out_json.exists() else {}
    saved[key] = rows
    atomic_write_text(out_json, json.dumps(saved, indent=2))
    print(text)


def repair_only(sets: dict, args: argparse.Namespace, started: float) -> None:
    """The repair's shares alone, for several seeds of the injected runs: a larger sample than the
    lifted table's, at no lifting cost (its own section of the document)."""
    rows = {}
    for name, (clips, fps) in sets.items():
        for noise in (False, True):
            label = f"{name}, {'detector-like noise' if noise else 'exact'}"
            rows[label] = {seed: measure(None, clips, fps, noise, np.random.default_rng(seed), args.slide)
                           for seed in args.repair_only}
            print(label, json.dumps(rows[label]), flush=True)
    seeds = " ".join(map(str, args.repair_only))
    lines = [f"Measured with `python benchmarks/left_right.py -c {args.config} --sequences {args.sequences} "
             f"--frames {args.frames} --repair-only {seeds}{_slid(args)[0]}` ({time.time() - started:.0f} s; "
             f"the 2D repair alone, no lifting; {len(sets['held-out mocap'][0])} held-out mocap clips and "
             f"{len(sets['Human3.6M S9/S11'][0])} Human3.6M clips). Repaired / clean frames changed (%), per seed "
             "of the injected runs.", "",
             "| test set, 2D | " + " | ".join(f"seed {s}" for s in args.repair_only) + " |",
             "|---|" + "---|" * len(args.repair_only)]
    for label, by_seed in rows.items():
        lines.append(f"| {label} | " + " | ".join(f"{v['repaired']:.1f} / {v['changed']:.2f} (of {v['swapped_frames']})"
                                                for v in by_seed.values()) + " |")
    slid = " Run edges sliding over 1-3 frames: {:.0%} (those frames counted neither way).".format(args.slide)
    if args.slide:
        lines[0] += slid
    save(args.out, "left_right_repair" + _slid(args)[1], "\n".join(lines),
         "left and right, repair alone" + _slid(args)[2],
         {label: {str(k): v for k, v in r.items()} for label, r in rows.items()})


if __name__ == "__main__":
    main()
