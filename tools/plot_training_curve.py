"""Plot a run's training curve (loss terms per epoch, test MPJPE where evaluated) from metrics.json.

Usage: python tools/plot_training_curve.py RUN_DIR [RUN_DIR ...] -o docs/curve.png
Several runs are drawn on the same axes (e.g. DDHPose beside an ablation).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ddhpose.files import atomic_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run in args.runs:
        records = json.loads((Path(run) / "metrics.json").read_text())
        steps = [r["global_step"] for r in records]
        label = Path(run).name
        ax_loss.plot(steps, [r["loss"] for r in records], label=f"{label}: total")
        ax_loss.plot(steps, [r["pos"] for r in records], "--", label=f"{label}: MPJPE term")
        evaluated = [r for r in records if "mpjpe_mm" in r]
        ax_err.plot([r["global_step"] for r in evaluated], [r["mpjpe_mm"] for r in evaluated], "o-", label=label)
    ax_loss.set(xlabel="step", ylabel="training loss", yscale="log")
    ax_err.set(xlabel="step", ylabel="test MPJPE (mm, H=1 W=1)")
    ax_loss.legend(fontsize=7)
    ax_err.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(args.output) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(args.output).suffix.lstrip("."))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
