"""ddhpose: DDHPose 3D human pose estimation by disentangled diffusion 2D-to-3D lifting."""
__version__ = "0.1.0"
