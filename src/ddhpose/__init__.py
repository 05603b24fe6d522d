"""ddhpose: DDHPose 3D human pose estimation by disentangled diffusion 2D-to-3D lifting."""
from .checkpoint import convert, load_checkpoint, save_checkpoint
from .config import ModelConfig
from .lift import Lifter, lift_file
from .model.ddhpose import DDHPose
from .results import load_result, save_result
from .skeleton import H36M, MPI_INF_3DHP, Skeleton

__version__ = "0.1.0"
__all__ = ["DDHPose", "H36M", "Lifter", "MPI_INF_3DHP", "ModelConfig", "Skeleton", "convert", "lift_file",
           "load_checkpoint", "load_result", "save_checkpoint", "save_result"]
