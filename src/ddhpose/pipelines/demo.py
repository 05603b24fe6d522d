"""``ddhpose demo``: lift the bundled CMU-mocap 2D sample with the bundled model, no network."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddhpose.lifting.options import LiftOptions

if TYPE_CHECKING:
    import torch

DEMO_SAMPLE = "cmu_02_05_h36m17.npz"
#: The demo's number of hypotheses (its uncertainty is drawn in the animation).
DEMO_HYPOTHESES = 5


def demo_sample_path() -> Path:
    """The bundled 2D sample (H36M-17 keypoints in pixels; see assets/demo/README.md)."""
    return Path(str(resources.files("ddhpose") / "assets" / "demo" / DEMO_SAMPLE))


def run_demo(out_dir: str | os.PathLike = ".", options: LiftOptions | None = None, *, animation: bool = True,
             device: torch.device | str | None = None, checkpoint: str | os.PathLike | None = None,
             precision: str = "fp32", **settings: Any) -> list[Path]:
    """Lift the sample (``options``, default H = 5; ``settings``: shortcuts for its fields) at its
    own frame rate and camera, and write ``ddhpose_demo.npz``, ``.json`` and ``.gif`` into ``out_dir``.

    Returns the written paths. Prints the MPJPE against the sample's mocap ground truth.
    """
    import numpy as np  # here, so the command line's --help does not load torch
    import torch

    from ddhpose import metrics
    from ddhpose.export.results import save_result
    from ddhpose.lifting.inputs import read_keypoints
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.skeleton import H36M
    options = (options or LiftOptions(hypotheses=DEMO_HYPOTHESES)).with_changes(**settings)
    sample = demo_sample_path()
    track = read_keypoints(sample)[0]
    with np.load(sample, allow_pickle=False) as data:
        truth = torch.from_numpy(data["poses_3d"])
        focal = float(data["focal_length"])
    lifter = Lifter.from_pretrained(checkpoint, device=device, precision=precision)
    result = lifter.lift(track, options=options.with_changes(focal_length=focal, focal_length_source="the sample's"))
    out = Path(out_dir)
    paths = [out / "ddhpose_demo.npz", out / "ddhpose_demo.json"]
    for path in paths:
        save_result(result, path)
    pred = torch.as_tensor(result.poses)
    print(f"lifted {len(truth)} frames of {sample.name} (H={options.hypotheses}, W={options.iterations}, "
          f"{lifter.precision}, "
          f"{result.aggregation}, "
          f"{'constant' if result.bone_lengths is not None else 'per-frame'} bone lengths); against the mocap "
          f"ground truth: MPJPE {metrics.mpjpe(pred, truth) * 1000:.1f} mm, P-MPJPE "
          f"{metrics.p_mpjpe(pred, truth) * 1000:.1f} mm, acceleration error "
          f"{metrics.acceleration_error(pred, truth) * 1000:.1f} mm/frame^2 (the mocap's own acceleration: "
          f"{metrics.mean_acceleration(truth) * 1000:.1f}), bone-length variation "
          f"{metrics.bone_length_variation(pred, H36M) * 100:.1f} %")
    if animation:
        from ddhpose.export.render import render_result
        paths.append(render_result(paths[0], out / "ddhpose_demo.gif", fps=result.fps, progress=True))
    return paths
