"""Which model size wins at which training budget, and what each size costs when lifting.

Reads the equal-time probes of ``recipe_probe.py`` at each budget (``--budgets`` json files, e.g.
docs/recipe.json for 8 minutes and docs/scaling.json for 30), plots held-out MPJPE against the
budget for every size they share (``<out>_budgets.png``) and times ``Lifter.lift`` for each size
(random weights: the speed does not depend on them) at H=1, W=1, flip on, in ``--precision``,
end to end, on ``--frames`` frames of the demo clip, sizes interleaved, median of ``--repeats``.

Usage: python benchmarks/scaling.py --budgets docs/recipe.json docs/scaling.json --out docs/scaling
``--smoke``: those two files as they are, every size timed once on 30 frames in fp32, into a
temporary folder.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import save_figure, write_section  # noqa: E402

from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.model.ddhpose import DDHPose  # noqa: E402
from ddhpose.pipelines.demo import demo_sample_path  # noqa: E402

SIZES = {"base": [], "C128 d6": ["model.channels=128", "model.depth=6"],
         "C192 d8": ["model.channels=192", "model.depth=8"], "F81 batch 12": ["model.frames=81"]}
SETS = ("Human3.6M S9/S11", "held-out mocap")


def budget_minutes(rows: list[dict]) -> float:
    """The budget of one probe file: its probes' planned minutes (step time x steps)."""
    return float(np.median([r["step_s"] * r["steps"] / 60 for r in rows]))


def lift_speed(names: list[str], frames: int, repeats: int, precision: str) -> dict[str, dict]:
    with np.load(demo_sample_path(), allow_pickle=False) as data:
        clip, size = data["keypoints"], tuple(int(v) for v in data["image_size"])
    keypoints = np.concatenate([clip] * (frames // len(clip) + 1))[:frames]
    lifters = {}
    for name in names:
        config = load_config("wild", SIZES[name]).model
        model = DDHPose(config).eval()
        lifters[name] = (Lifter(model, device="cpu", precision=precision),
                         sum(p.numel() for p in model.parameters()))
    for lifter, _ in lifters.values():  # warm-up
        lifter.lift(keypoints[:min(100, frames)], image_size=size, layout="h36m", world=False)
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for name, (lifter, _) in lifters.items():
            start = time.perf_counter()
            lifter.lift(keypoints, image_size=size, layout="h36m", fps=50.0)
            times[name].append(time.perf_counter() - start)
    return {n: {"frames_per_s": frames / statistics.median(t), "parameters": lifters[n][1]} for n, t in times.items()}


def plot(budgets: list[tuple[float, dict]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, set_name in zip(axes, SETS):
        for name in SIZES:
            points = [(m, rows[name]["held_out"][set_name]["mpjpe"]) for m, rows in budgets if name in rows]
            if points:  # a size probed at one budget is one marker
                ax.plot(*zip(*points), marker="o", label=name)
        ax.set(xlabel="training minutes (2 CPU cores)", ylabel="held-out MPJPE (mm)", title=set_name, xscale="log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", nargs="+", type=Path, default=None, help="recipe_probe .json files")
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="docs/scaling")
    ap.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = ap.parse_args(argv)
    if args.smoke:
        args.budgets = [smoke.ROOT / "docs" / "recipe.json", smoke.ROOT / "docs" / "scaling.json"]
        args.frames, args.repeats, args.precision = 30, 1, "fp32"
        args.out = str(smoke.folder("scaling") / "scaling")
    elif not args.budgets:
        ap.error("--budgets is required")
    torch.set_num_threads(args.threads)
    budgets = sorted((budget_minutes(rows), {r["name"]: r for r in rows})
                     for rows in (json.loads(p.read_text()) for p in args.budgets))
    names = [n for n in SIZES if any(n in rows for _, rows in budgets)]
    speed = lift_speed(names, args.frames, args.repeats, args.precision)
    plot(budgets, Path(args.out + "_budgets.png"))
    header = " | ".join(f"{m:.0f} min: {s}" for m, _ in budgets for s in ("H36M", "mocap"))
    lines = [f"Held-out MPJPE (mm) after equal training minutes, and lifting speed (`python benchmarks/scaling.py "
             f"--budgets {' '.join(map(str, args.budgets))}`; {args.precision}, H=1, {args.threads} threads, "
             f"{args.frames} frames, median of {args.repeats}).", "",
             f"| size | parameters | lift frames/s | {header} |", "|---|---|---|" + "---|" * (2 * len(budgets))]
    for name in names:
        cells = [f"{rows[name]['held_out'][s]['mpjpe']:.1f}" if name in rows else "-" for _, rows in budgets for s in SETS]
        lines.append(f"| {name} | {speed[name]['parameters'] / 1e6:.2f} M | {speed[name]['frames_per_s']:.0f} | "
                     + " | ".join(cells) + " |")
    write_section(Path(args.out + ".md"), "scaling", "\n".join(lines), title="# Model size against training budget")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
