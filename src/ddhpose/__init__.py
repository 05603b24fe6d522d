"""ddhpose: DDHPose 3D human pose estimation by disentangled diffusion 2D-to-3D lifting."""
from ddhpose._version import __version__
from ddhpose.export.results import load_result, save_result
from ddhpose.lifting.lifter import Lifter
from ddhpose.model.checkpoint import convert, load_checkpoint, save_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.pipelines.lift import lift_file
from ddhpose.skeleton import H36M, MPI_INF_3DHP, Skeleton

__all__ = ["DDHPose", "H36M", "Lifter", "MPI_INF_3DHP", "ModelConfig", "Skeleton", "convert", "lift_file",
           "load_checkpoint", "load_result", "save_checkpoint", "save_result"]
