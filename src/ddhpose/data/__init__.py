"""Datasets: Human3.6M and MPI-INF-3DHP loaders, cameras, training and test windows."""
from .cameras import Camera, h36m_cameras, load_cameras_json
from .h36m import H36M_ACTIONS, H36M_TEST_SUBJECTS, H36M_TRAIN_SUBJECTS, action_group, load_h36m
from .mpi3dhp import load_3dhp_test, load_3dhp_train
from .sequence import PoseSequence
from .windows import Noise2D, TrainWindows, test_windows, training_windows, unwindow

__all__ = [
    "Camera", "h36m_cameras", "load_cameras_json",
    "H36M_ACTIONS", "H36M_TEST_SUBJECTS", "H36M_TRAIN_SUBJECTS", "action_group", "load_h36m",
    "load_3dhp_test", "load_3dhp_train", "PoseSequence",
    "Noise2D", "TrainWindows", "test_windows", "training_windows", "unwindow",
]
