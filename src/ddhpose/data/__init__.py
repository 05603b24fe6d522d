"""Datasets: Human3.6M and MPI-INF-3DHP loaders, cameras, training and test windows."""
from ddhpose.data.cameras import Camera, h36m_cameras, load_cameras_json
from ddhpose.data.h36m import H36M_ACTIONS, H36M_TEST_SUBJECTS, H36M_TRAIN_SUBJECTS, action_group, load_h36m
from ddhpose.data.mpi3dhp import load_3dhp_test, load_3dhp_train
from ddhpose.data.sequence import PoseSequence
from ddhpose.data.windows import Noise2D, TrainWindows, test_windows, training_windows

__all__ = [
    "Camera", "h36m_cameras", "load_cameras_json",
    "H36M_ACTIONS", "H36M_TEST_SUBJECTS", "H36M_TRAIN_SUBJECTS", "action_group", "load_h36m",
    "load_3dhp_test", "load_3dhp_train", "PoseSequence",
    "Noise2D", "TrainWindows", "test_windows", "training_windows",
]
