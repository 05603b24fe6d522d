"""Choose a training recipe by measurement: short probes of the same wall-clock budget each.

Every probe trains the ``wild`` config with its own overrides for ``--minutes`` of this machine
(the step count comes from the probe's own measured step time, so every probe gets the same
minutes, not the same steps), on the training data of the config, with a cosine (or the
probe's own) schedule spread over exactly those steps. Then its last weights are measured on
the held-out sets the bundled model is judged on: Human3.6M S9/S11 through the real cameras and
the held-out mocap clips through virtual cameras, lifted from pixels by ``Lifter.lift`` (H=1,
W=1, exact 2D), ``--sequences`` evenly spaced sequences of ``--frames`` frames each.

Usage (data linked into ./data, run folders outside the repository):
    python benchmarks/recipe_probe.py --runs ../runs/probes --minutes 8 --out docs/recipe.md
    python benchmarks/recipe_probe.py --only base,lr2e-3      # a subset of PROBES

Results: a Markdown table (the section between the markers is replaced) and a .json beside it;
the monitor curves of every probe are plotted into ``<out>_curves.png``.

``--smoke``: the 'base' probe at a tiny size on synthetic training data for about a second of
steps, measured on stand-in held-out sets (benchmarks/smoke.py), everything in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import save_figure, write_section  # noqa: E402
from wild_accuracy import evaluate  # noqa: E402

from ddhpose.data.sources import load_split  # noqa: E402
from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.training.plan import TIMING_OVERRIDES, budget_steps, step_seconds  # noqa: E402
from ddhpose.training.train import train  # noqa: E402

# name -> overrides of the wild config. 'base' is the starting point; each other probe changes
# one thing (or one coupled pair, e.g. frames with batch at equal frames per step).
SMALL = ["model.channels=96", "model.depth=4"]
PROBES: dict[str, list[str]] = {
    "exp-decay (old recipe)": SMALL + ["train.schedule=exponential", "train.lr=4e-4", "train.warmup_steps=0"],
    "base": SMALL,
    "lr 2e-3": SMALL + ["train.lr=2e-3"],
    "batch 64": SMALL + ["train.batch_size=64"],
    "C128 d6": ["model.channels=128", "model.depth=6"],
    "C192 d8": ["model.channels=192", "model.depth=8"],
    "F81 batch 12": SMALL + ["model.frames=81", "train.batch_size=12"],
    "no bone/camera aug": SMALL + ["data.bone_scale=0", "data.body_scale=0"],
}
#: --smoke: appended to every probe's overrides (a tiny model on a few synthetic walks).
SMOKE_OVERRIDES = smoke.TINY_MODEL + ["data.dataset=synthetic", "data.synthetic_sequences=4",
                                      "data.synthetic_test_sequences=1", "data.synthetic_frames=60",
                                      "train.batch_size=4"]


def planned_steps(folder: Path, extra: list[str], minutes: float, timing_seconds: float = 40.0) -> tuple[float, int]:
    """(seconds per step, steps) of a probe: measured once and kept in ``folder/probe.json``.

    A resumed probe reuses its plan, so its schedule and step count stay those it started
    with (a probe folder from before the plan file existed takes its steps from its own
    ``config.yaml`` and the step time they imply).
    """
    plan_file = folder / "probe.json"
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
        return plan["step_s"], plan["steps"]
    if (folder / "last.pt").exists():
        saved = load_config(folder / "config.yaml").train
        steps = saved.epochs * saved.max_steps_per_epoch
        return minutes * 60 / steps, steps
    probe_cfg = load_config("wild", extra + TIMING_OVERRIDES)
    probe_cfg.data.mocap_test = []  # timing only: no test data loaded
    seconds = step_seconds(probe_cfg, timing_seconds, device="cpu")
    steps = budget_steps(seconds, minutes)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(plan_file, json.dumps({"step_s": seconds, "steps": steps, "minutes": minutes}))
    return seconds, steps


def run_probe(name: str, extra: list[str], args: argparse.Namespace, tests: dict) -> dict:
    folder = Path(args.runs) / name.replace(" ", "_").replace("/", "-").replace("(", "").replace(")", "")
    extra = extra + args.base_overrides
    seconds, steps = planned_steps(folder, extra, args.minutes, args.timing_seconds)
    per_epoch = math.ceil(steps / args.evals)
    overrides = extra + [f"train.epochs={args.evals}", f"train.max_steps_per_epoch={per_epoch}",
                         "train.eval_every=1", "train.checkpoint_every=1", "train.tensorboard=false",
                         f"eval.max_sequences={args.monitor_sequences}", f"eval.max_frames={args.frames}"]
    if "train.warmup_steps=0" not in extra:
        overrides.append(f"train.warmup_steps={min(300, per_epoch * args.evals // 10)}")
    config = load_config("wild", overrides)
    started = time.perf_counter()
    result = train(config, folder, device="cpu") if not (folder / "last.pt").exists() else \
        train(config, folder, resume=folder / "last.pt", device="cpu")
    minutes = (time.perf_counter() - started) / 60
    lifter = Lifter.from_pretrained(folder / "last.safetensors", device="cpu")
    # the model alone: no temporal filter, the model's own bone lengths (what the lifter adds is
    # measured in docs/lift_quality.md)
    held = {set_name: evaluate(lifter, seqs, ("clean",), 1, 1, args.frames, 0, smooth=0, bone_lengths="free")["clean"]
            for set_name, seqs in tests.items()}
    row = {"name": name, "overrides": extra, "step_s": seconds, "steps": per_epoch * args.evals,
           "train_minutes": minutes, "history": result["history"], "held_out": held}
    print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        hist = row["history"]
        minutes = [h["global_step"] * row["step_s"] / 60 for h in hist]
        axes[0].plot(minutes, [h["loss"] for h in hist], marker="o", label=row["name"])
        axes[1].plot(minutes, [h.get("mpjpe_mm", float("nan")) for h in hist], marker="o", label=row["name"])
    axes[0].set(xlabel="training minutes", ylabel="training loss (epoch mean)", yscale="log")
    axes[1].set(xlabel="training minutes", ylabel="monitor MPJPE (mm)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=None, help="folder for the probes' run folders (outside the repository)")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--evals", type=int, default=4, help="monitor evaluations per probe")
    ap.add_argument("--monitor-sequences", type=int, default=16)
    ap.add_argument("--sequences", type=int, default=16, help="held-out sequences per test set")
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--only", default="", help="comma-separated probe names (default: all)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--rerun", action="store_true",
                    help="measure the --only probes again even where --out's .json already has them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = ap.parse_args(argv)
    args.base_overrides, args.timing_seconds = [], 40.0
    if args.smoke:
        tmp = smoke.folder("recipe_probe")
        args.runs, args.out, args.only, args.rerun = str(tmp / "runs"), tmp / "recipe.md", "base", False
        args.minutes, args.evals, args.monitor_sequences, args.sequences, args.frames = 0.02, 2, 1, 1, 40
        args.base_overrides, args.timing_seconds = SMOKE_OVERRIDES, 1.0
        cfg = load_config("wild", smoke.config_overrides(tmp))
        all_tests = smoke.stand_in_split(cfg, cfg.train.seed)
    elif args.runs is None:
        ap.error("--runs is required (a folder outside the repository)")
    else:
        cfg = load_config("wild")
        all_tests = load_split(cfg.data, "test", cfg.train.seed)
    torch.set_num_threads(args.threads)
    tests = {}
    for set_name, keep in (("Human3.6M S9/S11", lambda s: s.subject in cfg.data.test_subjects),
                           ("held-out mocap", lambda s: s.subject not in cfg.data.test_subjects)):
        seqs = [s for s in all_tests if keep(s)]
        pick = np.linspace(0, len(seqs) - 1, min(args.sequences, len(seqs))).round().astype(int)
        tests[set_name] = [seqs[i] for i in pick]
    names = [n for n in args.only.split(",") if n] or list(PROBES)
    rows = []
    json_path = args.out.with_suffix(".json") if args.out else None
    if json_path and json_path.exists():  # finished probes are kept; --rerun measures them again
        rows = [r for r in json.loads(json_path.read_text()) if not (args.rerun and r["name"] in names)]
    for name in names:
        if any(r["name"] == name for r in rows):
            continue
        rows.append(run_probe(name, PROBES[name], args, tests))
        if json_path:
            atomic_write_text(json_path, json.dumps(rows, indent=1))
    lines = [f"Probes of {args.minutes:g} minutes each ({args.threads} threads, nothing else running); held-out MPJPE / "
             f"P-MPJPE in mm, H=1, W=1, exact 2D, {args.sequences} sequences x {args.frames} frames per set.", "",
             "| probe | overrides | ms/step | steps | Human3.6M S9/S11 | held-out mocap | last monitor MPJPE |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: list(PROBES).index(r["name"]) if r["name"] in PROBES else 99):
        h, m = r["held_out"]["Human3.6M S9/S11"], r["held_out"]["held-out mocap"]
        mon = r["history"][-1].get("mpjpe_mm", float("nan"))
        lines.append(f"| {r['name']} | `{' '.join(r['overrides'])}` | {r['step_s'] * 1000:.0f} | {r['steps']} | "
                     f"{h['mpjpe']:.1f} / {h['p_mpjpe']:.1f} | {m['mpjpe']:.1f} / {m['p_mpjpe']:.1f} | {mon:.1f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        write_section(args.out, "recipe_probe", table)
        plot(rows, args.out.with_name(args.out.stem + "_curves.png"))


if __name__ == "__main__":
    main()
