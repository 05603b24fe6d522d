"""ddhpose: DDHPose 3D human pose estimation by disentangled diffusion 2D-to-3D lifting.

The public API is imported on first use, so ``import ddhpose`` (and ``ddhpose --help``) does not
pay for torch until a model is needed.
"""
from __future__ import annotations

import importlib
from typing import Any

from ddhpose._version import __version__

#: public name -> the module that defines it
_API = {
    "DDHPose": "ddhpose.model.ddhpose", "ModelConfig": "ddhpose.model.config",
    "convert": "ddhpose.model.checkpoint", "load_checkpoint": "ddhpose.model.checkpoint",
    "save_checkpoint": "ddhpose.model.checkpoint",
    "Lifter": "ddhpose.lifting.lifter", "LiftResult": "ddhpose.lifting.result",
    "load_result": "ddhpose.export.results", "save_result": "ddhpose.export.results",
    "lift_file": "ddhpose.pipelines.lift", "lift_video": "ddhpose.pipelines.video",
    "H36M": "ddhpose.skeleton", "MPI_INF_3DHP": "ddhpose.skeleton", "Skeleton": "ddhpose.skeleton",
}
__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'ddhpose' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
