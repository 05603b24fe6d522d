"""Training throughput on this machine: frames/s of real training steps, per precision and compile mode.

Every mode runs ``ddhpose.training.train.train`` itself (data loading, forward noising, denoiser, loss,
backward, AdamW) on synthetic walking skeletons, so nothing outside the real loop is timed.
Each mode runs in a fresh subprocess (its own compile caches and allocator), rounds alternate
the order of the modes, and the table gives the median step time over rounds and steps.

Modes: ``fp32`` (eager, float32: the reference), ``bf16`` (eager, bf16 autocast), ``fp32+compile``
and ``bf16+compile`` (torch.compile of the training module). ``--baseline-rev REV`` adds
``fp32@REV``: the same steps run by the package as it was at git revision REV (exported with
``git archive`` into a temporary folder and imported from there, its own defaults: float32,
eager), so a speed-up can be measured side by side against older code. With ``--curve-steps N`` the
fastest mode and fp32 also train N steps from the same seed and their loss curves are compared
(mean loss over the last quarter), so a speed-up is kept only at an equal loss curve.

Usage:
    python benchmarks/train_speed.py --out docs/train_speed.md          # the bundled model's size
    python benchmarks/train_speed.py --channels 128 --depth 6 --frames 81 --batch 8
    python benchmarks/train_speed.py --baseline-rev 779437b --modes fp32,bf16   # against older code
    python benchmarks/train_speed.py --smoke     # fp32 and bf16, a tiny model, 2 steps, into a temporary folder
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {"fp32": ("none", False), "bf16": ("bf16", False), "fp32+compile": ("none", True),
         "bf16+compile": ("bf16", True)}
#: --smoke: the size and data of each child (the test suite's tiny model on a few short walks).
SMOKE = dict(frames=9, channels=32, depth=2, batch=4, steps=2, warmup=1, rounds=1, modes="fp32,bf16", threads=1)


def overrides(args: argparse.Namespace, mode: str, steps: int) -> list[str]:
    amp, compile_ = MODES[mode.split("@")[0]]
    sequences, frames = (8, 60) if args.smoke else (64, 400)
    return [f"model.frames={args.frames}", f"model.channels={args.channels}", f"model.depth={args.depth}",
            "model.drop_path=0.0", "data.dataset=synthetic", f"data.synthetic_sequences={sequences}",
            f"data.synthetic_frames={frames}", "data.synthetic_test_sequences=0", "data.noise_2d.sigma=0.003",
            f"train.batch_size={args.batch}", f"train.amp={amp}", f"train.compile={str(compile_).lower()}",
            "train.epochs=1", f"train.max_steps_per_epoch={steps}", "train.tensorboard=false",
            "train.lr=4e-4", "train.schedule=constant"]


def probe(args: argparse.Namespace) -> None:
    """Child process: train ``--steps`` steps in ``--mode`` and print one JSON line."""
    import torch

    from ddhpose.experiment import load_config
    from ddhpose.training.train import train

    torch.set_num_threads(args.threads)
    defaults = load_config("tiny")  # an older revision may lack some settings (e.g. train.schedule)
    known = [o for o in overrides(args, args.mode, args.steps)
             if hasattr(getattr(defaults, o.split(".")[0]), o.split("=")[0].split(".")[1])]
    config = load_config("tiny", known)
    stamps, losses = [], []

    def callback(info: dict) -> None:
        stamps.append(time.perf_counter())
        losses.append(info["loss"])

    with tempfile.TemporaryDirectory() as out:
        train(config, out, device="cpu", step_callback=callback)
    steps = [b - a for a, b in zip(stamps[:-1], stamps[1:])][args.warmup:]
    print(json.dumps({"mode": args.mode, "step_s": steps, "losses": losses}))


def export_revision(rev: str, folder: str) -> str:
    """The package's sources at git revision ``rev`` under ``folder``; returns the import path."""
    root = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    # a later fix older revisions need with NumPy 1.x (uint64 >> int fails there); no effect on speed
    seeding = Path(folder) / "src" / "ddhpose" / "seeding.py"
    seeding.write_text(seeding.read_text().replace("np.uint64)[0] >> 1)", "np.uint64)[0]) >> 1"))
    return str(Path(folder) / "src")


def run_child(args: argparse.Namespace, mode: str, steps: int, warmup: int) -> dict:
    cmd = [sys.executable, __file__, "--probe", "--mode", mode, "--steps", str(steps), "--warmup", str(warmup),
           "--threads", str(args.threads), "--frames", str(args.frames), "--channels", str(args.channels),
           "--depth", str(args.depth), "--batch", str(args.batch)] + (["--smoke-data"] if args.smoke else [])
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    if "@" in mode:  # the older revision's package first on the path; the probe code stays this file's
        env["PYTHONPATH"] = os.pathsep.join([args.baseline_src, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=27)
    ap.add_argument("--channels", type=int, default=96)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30, help="timed steps per mode and round")
    ap.add_argument("--warmup", type=int, default=5, help="untimed first steps (compilation happens here)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--curve-steps", type=int, default=0, help="also compare loss curves over this many steps")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to write (and .json beside it)")
    ap.add_argument("--baseline-rev", default=None, help="also time fp32 steps of the package at this git revision")
    ap.add_argument("--smoke", action="store_true", help="run fp32 and bf16 for 2 steps of a tiny model on a few "
                    "synthetic walks, into a temporary folder (a check that the script runs, not a measurement)")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--smoke-data", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        args.smoke = args.smoke_data
        return probe(args)
    if args.smoke:
        vars(args).update(SMOKE, baseline_rev=None, curve_steps=0)
        args.out = Path(tempfile.mkdtemp(prefix="ddhpose_smoke_train_speed_")) / "train_speed.md"
    with tempfile.TemporaryDirectory() as folder:
        args.baseline_src = export_revision(args.baseline_rev, folder) if args.baseline_rev else ""
        measure(args)


def measure(args: argparse.Namespace) -> None:
    modes = args.modes.split(",") + ([f"fp32@{args.baseline_rev}"] if args.baseline_rev else [])
    times: dict[str, list[float]] = {m: [] for m in modes}
    for r in range(args.rounds):
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            res = run_child(args, mode, args.steps + args.warmup + 1, args.warmup)
            times[mode] += res["step_s"]
            print(f"round {r + 1} {mode}: median {statistics.median(res['step_s']) * 1000:.0f} ms/step", flush=True)
    frames = args.batch * args.frames
    base = statistics.median(times[modes[0]])
    old = statistics.median(times[modes[-1]]) if args.baseline_rev else None
    rows = {m: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "steps": len(t),
                "frames_per_s": frames / statistics.median(t), "speedup": base / statistics.median(t),
                "speedup_vs_rev": old / statistics.median(t) if old else None}
            for m, t in times.items()}
    curve = None
    if args.curve_steps:
        best = min(rows, key=lambda m: rows[m]["median_s"])
        curves = {m: run_child(args, m, args.curve_steps, 0)["losses"] for m in dict.fromkeys([modes[0], best])}
        q = max(1, args.curve_steps // 4)
        curve = {m: {"first": statistics.mean(c[:q]), "last_quarter": statistics.mean(c[-q:]), "losses": c}
                 for m, c in curves.items()}
    import torch
    lines = [f"Run {time.strftime('%Y-%m-%dT%H:%M:%S')}, torch {torch.__version__}, {args.threads} threads, "
             f"CPU capability {torch.backends.cpu.get_cpu_capability()}, load average "
             f"{[round(v, 2) for v in os.getloadavg()]} at the end.",
             f"Model F={args.frames}, C={args.channels}, depth {args.depth}; batch {args.batch} clips "
             f"({frames} frames per step); {args.rounds} rounds x {args.steps} timed steps per mode.", "",
             f"| mode | median ms/step (min-max) | frames/s | speed-up vs {modes[0]} |"
             + (f" speed-up vs fp32@{args.baseline_rev} |" if old else ""), "|---|---|---|---|" + ("---|" if old else "")]
    for m, r in rows.items():
        lines.append(f"| {m} | {r['median_s'] * 1000:.0f} ({r['min_s'] * 1000:.0f}-{r['max_s'] * 1000:.0f}) | "
                     f"{r['frames_per_s']:.0f} | {r['speedup']:.2f}x |" + (f" {r['speedup_vs_rev']:.2f}x |" if old else ""))
    if curve:
        lines += ["", f"Loss curves over {args.curve_steps} steps from one seed (mean of the first and last quarter):",
                  "", "| mode | first quarter | last quarter |", "|---|---|---|"]
        lines += [f"| {m} | {c['first']:.4f} | {c['last_quarter']:.4f} |" for m, c in curve.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from doc_section import write_section

        from ddhpose.files import atomic_write_text
        write_section(args.out, "train_speed", text, title="# Training throughput")
        settings = {k: str(v) for k, v in vars(args).items() if k != "baseline_src"}  # a temporary folder
        atomic_write_text(args.out.with_suffix(".json"), json.dumps({"args": settings, "rows": rows,
                                                                      "curve": curve}, indent=1))


if __name__ == "__main__":
    main()
