"""What a lift writes besides its results: one typed, torch-free options object (the command
line builds it once from its arguments; its defaults are these)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

#: BVH length units and their number per metre.
BVH_UNITS = {"cm": 100.0, "m": 1.0}
#: Animation file types the render writes.
ANIMATION_EXTENSIONS = (".gif", ".mp4")
#: The smallest animation height (pixels) the render draws.
MIN_RENDER_SIZE = 64


@dataclass(frozen=True)
class ExportOptions:
    """What :func:`ddhpose.export.writers.planned_writes` writes beside each person's result, and
    the animation of every person.

    bvh: a .bvh animation, in ``bvh_units`` ('cm' or 'm'); trc: a .trc marker file (metres);
    glb: a .glb skinned skeleton. Motion files use the result's world frame when it has one, else
    the camera frame turned upright, root-relative or, with ``bvh_trajectory``, moving along the
    camera-frame trajectory. angles: the joint and segment angles as CSV, OpenSim .mot and a PNG
    of their plots. html: one self-contained browser page of every person (the 3D on the floor,
    the video frames or the 2D, the angle plots). render: an animation file (.gif / .mp4) of every
    person; render_size: its height in pixels (default: the command's).
    """

    bvh: bool = False
    bvh_units: str = "cm"
    bvh_trajectory: bool = False
    trc: bool = False
    glb: bool = False
    angles: bool = False
    html: bool = False
    render: Optional[str] = None
    render_size: Optional[int] = None

    def __post_init__(self) -> None:
        if self.bvh_units not in BVH_UNITS:
            raise ValueError(f"bvh_units: expected one of {sorted(BVH_UNITS)}, got {self.bvh_units!r}")
        if self.render and Path(self.render).suffix.lower() not in ANIMATION_EXTENSIONS:
            raise ValueError(f"{self.render}: unsupported animation extension {Path(self.render).suffix!r}; expected "
                             f"one of {', '.join(ANIMATION_EXTENSIONS)}")
        if self.render_size is not None and self.render_size < MIN_RENDER_SIZE:
            raise ValueError(f"render size: expected at least {MIN_RENDER_SIZE} pixels, got {self.render_size}")
