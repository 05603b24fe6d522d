"""What the lifter returns for one person: :class:`LiftResult` (its files: :mod:`ddhpose.export.results`)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

import numpy as np

from ddhpose.lifting.angles import body_angles, unavailable
from ddhpose.lifting.options import DEFAULT_FPS
from ddhpose.lifting.world import WorldFrame
from ddhpose.skeleton import H36M, Skeleton

UNITS = "metres"
COORDINATE_FRAME = ("camera frame (x right, y down, z forward along the optical axis), root-relative: "
                    "the pelvis (joint 0) is at the origin")
WORLD_FRAME = ("world frame: y up, x to the right of the camera's view, z towards the camera; the floor is "
               "y = 0; absolute positions (the pelvis moves)")


@dataclass(frozen=True, eq=False)
class LiftResult:
    """3D poses lifted from one person's 2D keypoints.

    Attributes:
        poses: (F, J, 3) float32 metres, camera frame, root-relative: the aggregated pose.
        hypotheses: (H, F, J, 3) float32, every sampled hypothesis (root 0; not filtered over time).
        uncertainty: (F, J) float32 metres, RMS distance of the hypotheses to their mean.
        keypoints_2d: (F, J, 2) float32 pixels after layout conversion and gap filling.
        missing: (F, J) bool, True where a keypoint was interpolated.
        scores: (F, J) float32 detector scores in the Human3.6M order (NaN where unknown).
        frames: (F,) int64 video frame indices; image_size: (width, height) pixels.
        aggregation: how ``poses`` was made from the hypotheses: 'p_agg' (mean), 'j_agg', 'median'
            or 'none' (H=1).
        focal_length: the focal length in pixels used for J-Agg and the trajectory (given or
            assumed: the provenance's ``focal_length_source`` says which).
        root_trajectory: optional (F, 3) float32 metres, the pelvis position in the camera frame
            (a perspective solve of the pose against the 2D keypoints, :mod:`ddhpose.lifting.trajectory`).
        bone_lengths: optional (J,) float32 metres per bone slot (root 0) when the track's bone
            lengths were held constant (:mod:`ddhpose.lifting.postprocess`); None when every frame has its own.
        fps: optional frame rate of ``frames`` (from the video or given by the user).
        provenance: optional dict of how the result was made: ddhpose version, checkpoint,
            precision and every lifting setting (hypotheses, aggregation, filter, ...).
        world_poses: optional (F, J, 3) float32 metres, every joint's absolute position in the world
            frame (:data:`WORLD_FRAME`, :mod:`ddhpose.lifting.world`), feet locked where they rest if
            the lift asked for it.
        foot_contacts: optional (F, 2) bool, left and right foot on the floor.
        world_frame: optional :class:`ddhpose.lifting.world.WorldFrame`: the camera -> world
            transform, how it was found and how sure it is (the camera's pitch, roll and height;
            in files as :meth:`~ddhpose.lifting.world.WorldFrame.to_dict`).
        world_note: why there is no world frame, when there is none ('' otherwise).
        angles: (computed, not stored) name -> (F,) float64 degrees, the joint and segment angles
            of :mod:`ddhpose.lifting.angles` from the world poses, else from the camera-frame
            poses (without the world frame's ones); NaN where undefined or a joint was missing.
    """

    poses: np.ndarray
    hypotheses: np.ndarray
    uncertainty: np.ndarray
    keypoints_2d: np.ndarray
    missing: np.ndarray
    scores: np.ndarray
    frames: np.ndarray
    image_size: tuple[int, int]
    track_id: int = 0
    aggregation: str = "none"
    focal_length: Optional[float] = None
    root_trajectory: Optional[np.ndarray] = None
    bone_lengths: Optional[np.ndarray] = None
    fps: Optional[float] = None
    provenance: Optional[dict] = None
    joint_names: tuple[str, ...] = H36M.names
    parents: tuple[int, ...] = H36M.parents
    units: str = UNITS
    coordinate_frame: str = COORDINATE_FRAME
    world_poses: Optional[np.ndarray] = None
    foot_contacts: Optional[np.ndarray] = None
    world_frame: Optional[WorldFrame] = None
    world_note: str = ""

    def __post_init__(self) -> None:
        j = len(self.parents)
        fields: dict[str, Any] = dict(
            poses=np.asarray(self.poses, np.float32), hypotheses=np.asarray(self.hypotheses, np.float32),
            uncertainty=np.asarray(self.uncertainty, np.float32),
            keypoints_2d=np.asarray(self.keypoints_2d, np.float32), missing=np.asarray(self.missing, bool),
            scores=np.asarray(self.scores, np.float32), frames=np.asarray(self.frames, np.int64).reshape(-1),
            image_size=tuple(int(v) for v in np.asarray(self.image_size).reshape(-1)),
            track_id=int(self.track_id), joint_names=tuple(str(n) for n in self.joint_names),
            parents=tuple(int(p) for p in self.parents),
            focal_length=None if self.focal_length is None else float(self.focal_length),
            root_trajectory=None if self.root_trajectory is None else np.asarray(self.root_trajectory, np.float32),
            bone_lengths=None if self.bone_lengths is None else np.asarray(self.bone_lengths, np.float32),
            fps=None if self.fps is None else float(self.fps),
            provenance=None if self.provenance is None else dict(self.provenance),
            world_poses=None if self.world_poses is None else np.asarray(self.world_poses, np.float32),
            foot_contacts=None if self.foot_contacts is None else np.asarray(self.foot_contacts, bool),
            world_frame=self.world_frame,
            world_note=str(self.world_note),
        )
        f = len(fields["frames"])
        expected = {"poses": (f, j, 3), "uncertainty": (f, j), "keypoints_2d": (f, j, 2), "missing": (f, j),
                    "scores": (f, j)}
        if fields["root_trajectory"] is not None:
            expected["root_trajectory"] = (f, 3)
        if fields["bone_lengths"] is not None:
            expected["bone_lengths"] = (j,)
        if fields["world_poses"] is not None:
            expected["world_poses"] = (f, j, 3)
        if fields["foot_contacts"] is not None:
            expected["foot_contacts"] = (f, 2)
        for name, shape in expected.items():
            if fields[name].shape != shape:
                raise ValueError(f"LiftResult.{name}: expected {shape} (F={f} frames, J={j} joints), "
                                 f"got {fields[name].shape}")
        hyp = fields["hypotheses"]
        if hyp.ndim != 4 or hyp.shape[0] < 1 or hyp.shape[1:] != (f, j, 3):
            raise ValueError(f"LiftResult.hypotheses: expected (H, {f}, {j}, 3) with H >= 1, got {hyp.shape}")
        if fields["world_frame"] is not None and not isinstance(fields["world_frame"], WorldFrame):
            raise ValueError(f"LiftResult.world_frame: expected a WorldFrame, got {type(self.world_frame).__name__}")
        if fields["fps"] is not None and not fields["fps"] > 0:
            raise ValueError(f"LiftResult.fps: expected a positive frame rate, got {self.fps}")
        if len(fields["image_size"]) != 2 or min(fields["image_size"]) <= 0:
            raise ValueError(f"LiftResult.image_size: expected (width, height) > 0, got {self.image_size}")
        if len(fields["joint_names"]) != j:
            raise ValueError(f"LiftResult.joint_names: expected {j} names, got {len(fields['joint_names'])}")
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    @cached_property
    def skeleton(self) -> Skeleton:
        """The result's joints (``joint_names``, ``parents``) as a :class:`~ddhpose.skeleton.Skeleton`,
        named 'Human3.6M-17' where they are that skeleton's (what the lifter returns)."""
        h36m = tuple(self.joint_names) == tuple(H36M.names) and list(self.parents) == list(H36M.parents)
        return Skeleton(self.parents, (), (), self.joint_names, name="Human3.6M-17" if h36m else "result")

    @cached_property
    def angles(self) -> dict[str, np.ndarray]:
        world = self.world_poses is not None
        return body_angles(self.world_poses if world else self.poses, self.skeleton, world=world, missing=self.missing)

    @property
    def missing_angles(self) -> dict[str, str]:
        """Angle name -> why it is missing in every frame (:func:`ddhpose.lifting.angles.unavailable`)."""
        return unavailable(self.skeleton, world=self.world_poses is not None)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def frame_rate(self) -> float:
        """Frames per second: the result's ``fps``, else the assumed :data:`~ddhpose.lifting.options.DEFAULT_FPS`."""
        return float(self.fps or DEFAULT_FPS)

    @property
    def times(self) -> np.ndarray:
        """(F,) seconds of the result's frames: video frame number / :attr:`frame_rate`."""
        return self.frames / self.frame_rate

    @property
    def num_hypotheses(self) -> int:
        return self.hypotheses.shape[0]

    @property
    def metadata(self) -> dict[str, Any]:
        """Units, coordinate frames, aggregation, track id, focal length, fps, provenance, world frame."""
        return {"units": self.units, "coordinate_frame": self.coordinate_frame, "aggregation": self.aggregation,
                "track_id": self.track_id, "focal_length": self.focal_length, "fps": self.fps,
                "provenance": self.provenance, "world_coordinate_frame": WORLD_FRAME,
                "world_frame": None if self.world_frame is None else self.world_frame.to_dict(),
                "world_note": self.world_note}
