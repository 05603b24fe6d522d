"""A person's joint and segment angles over time as one PNG: a panel per joint (both sides in one
panel, right red and left blue, as the render draws them), the angles to the floor last. An angle
missing in every frame says why in its panel instead of drawing nothing."""
from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ddhpose.export.angles import ANGLE_GROUPS
from ddhpose.lifting.options import DEFAULT_FPS
from ddhpose.lifting.result import LiftResult

_STYLE = {"right": ("#d62728", "-"), "left": ("#1f77b4", "-")}
_OTHER = ("#333333", "#ff7f0e", "#2ca02c", "#9467bd")


def _style(name: str, k: int) -> dict:
    side = name.split("_", 1)[0]
    if side in _STYLE:
        colour, _ = _STYLE[side]
        dashed = any(part in name for part in ("shank", "forearm"))
        return dict(color=colour, ls="--" if dashed else "-")
    return dict(color=_OTHER[k % len(_OTHER)], ls="-")


def angle_figure_png(result: LiftResult, dpi: int = 80) -> bytes:
    """The PNG bytes of ``result``'s angle panels over time (seconds of the video)."""
    times = result.times
    why = result.missing_angles
    fig = Figure(figsize=(15, 11))
    FigureCanvasAgg(fig)
    axes = fig.subplots(4, 3, sharex=True).ravel()
    for ax, (title, names) in zip(axes, ANGLE_GROUPS.items()):
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        drawn = 0
        for k, name in enumerate(names):
            values = result.angles[name]
            if np.isfinite(values).any():
                label = name.replace("_to_floor", "").replace("_", " ")
                ax.plot(times, values, lw=1.2, label=label, **_style(name, k))
                drawn += 1
        if drawn:
            ax.legend(fontsize=7, loc="best")
        else:
            reason = why.get(names[0], "not seen in any frame").replace(", which", ",\nwhich")
            ax.text(0.5, 0.5, f"missing:\n{reason}", transform=ax.transAxes, ha="center", va="center", fontsize=8,
                    color="#666666")
            ax.set_yticks([])
    for ax in axes[-3:]:
        ax.set_xlabel("time (s)")
    for ax in axes[::3]:
        ax.set_ylabel("degrees")
    rate = f"{result.fps:g} fps" if result.fps else f"an assumed {DEFAULT_FPS:g} fps"
    fig.suptitle(f"person {result.track_id}: joint angles and angles to the floor, degrees "
                 f"({result.num_frames} frames at {rate})", fontsize=12)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
