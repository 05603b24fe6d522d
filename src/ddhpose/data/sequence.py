"""The unit every loader returns and training/evaluation consume: one camera view of one take."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


def _as_float32(value: object) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(value, dtype=np.float32))


@dataclass
class PoseSequence:
    """Aligned 2D keypoints and 3D poses of one sequence seen by one camera.

    Attributes:
        keypoints_2d: (N, J, 2) float32, screen-normalised (``geometry.normalize_screen``).
        poses_3d: (N, J, 3) float32, camera frame, metres, root-relative (root joint exactly 0).
        trajectory: (N, 1, 3) float32, camera-frame root position in metres (J-Agg needs it);
            zeros when the source has no absolute positions.
        intrinsics: (9,) float32 screen-normalised [fx, fy, cx, cy, k1, k2, k3, p1, p2]
            (``geometry.normalize_intrinsics``).
        image_size: (width, height) in pixels of the frames the 2D came from.
        subject, action, camera: names, used in messages and for grouping results.
        valid: (N,) bool frames to evaluate on, or None when every frame counts.
        root: index of the root joint (0 for Human3.6M, 14 for MPI-INF-3DHP).
        up: (3,) float32 unit vector, the world's up direction in the camera frame, where the
            source knows it (Human3.6M's cameras, virtual cameras); None otherwise.

    Raises:
        ValueError: shapes that disagree, non-finite values (naming the first bad frame), a root
            joint that is not exactly zero.
    """

    keypoints_2d: np.ndarray
    poses_3d: np.ndarray
    trajectory: np.ndarray
    intrinsics: np.ndarray
    image_size: tuple[int, int]
    subject: str
    action: str
    camera: str
    valid: np.ndarray | None = None
    root: int = 0
    up: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.keypoints_2d = _as_float32(self.keypoints_2d)
        self.poses_3d = _as_float32(self.poses_3d)
        self.trajectory = _as_float32(self.trajectory)
        self.intrinsics = _as_float32(self.intrinsics)
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        self.subject, self.action, self.camera = str(self.subject), str(self.action), str(self.camera)
        if self.valid is not None:
            self.valid = np.ascontiguousarray(np.asarray(self.valid).astype(bool))
        if self.up is not None:
            self.up = _as_float32(self.up)
        self._check_shapes()
        self._check_finite()
        if np.any(self.poses_3d[:, self.root] != 0):
            raise ValueError(f"{self.name}: poses_3d must be root-relative (joint {self.root} exactly 0)")

    @property
    def name(self) -> str:
        """'subject/action/camera', for messages."""
        return f"{self.subject}/{self.action}/{self.camera}"

    @property
    def num_frames(self) -> int:
        return self.poses_3d.shape[0]

    @property
    def num_joints(self) -> int:
        return self.poses_3d.shape[1]

    def _check_shapes(self) -> None:
        k2, p3 = self.keypoints_2d.shape, self.poses_3d.shape
        if len(p3) != 3 or p3[-1] != 3:
            raise ValueError(f"{self.name}: poses_3d expected (N, J, 3), got {p3}")
        n, j = p3[0], p3[1]
        if k2 != (n, j, 2):
            raise ValueError(f"{self.name}: keypoints_2d expected ({n}, {j}, 2) to match poses_3d, got {k2}")
        if self.trajectory.shape != (n, 1, 3):
            raise ValueError(f"{self.name}: trajectory expected ({n}, 1, 3), got {self.trajectory.shape}")
        if self.intrinsics.shape != (9,):
            raise ValueError(f"{self.name}: intrinsics expected (9,), got {self.intrinsics.shape}")
        if self.valid is not None and self.valid.shape != (n,):
            raise ValueError(f"{self.name}: valid expected ({n},), got {self.valid.shape}")
        if n == 0:
            raise ValueError(f"{self.name}: the sequence has no frames")
        if not 0 <= self.root < j:
            raise ValueError(f"{self.name}: root {self.root} is not a joint index below {j}")
        if self.up is not None and (self.up.shape != (3,) or not abs(np.linalg.norm(self.up) - 1) < 1e-3):
            raise ValueError(f"{self.name}: up expected a (3,) unit vector, got {self.up!r}")
        if min(self.image_size) <= 0:
            raise ValueError(f"{self.name}: image_size must be positive, got {self.image_size}")

    def _check_finite(self) -> None:
        for field in ("keypoints_2d", "poses_3d", "trajectory"):
            value = getattr(self, field)
            bad = ~np.isfinite(value).reshape(value.shape[0], -1).all(axis=1)
            if bad.any():
                raise ValueError(
                    f"subject {self.subject!r}, action {self.action!r}, camera {self.camera!r}: "
                    f"{field} has non-finite values in {int(bad.sum())} frame(s), first at frame "
                    f"{int(np.argmax(bad))}"
                )
        if not np.isfinite(self.intrinsics).all():
            raise ValueError(f"{self.name}: intrinsics has non-finite values: {self.intrinsics}")


def truncate(seq: PoseSequence, frames: int) -> PoseSequence:
    """The first ``frames`` frames of a sequence."""
    return dataclasses.replace(seq, keypoints_2d=seq.keypoints_2d[:frames], poses_3d=seq.poses_3d[:frames],
                               trajectory=seq.trajectory[:frames],
                               valid=None if seq.valid is None else seq.valid[:frames])
