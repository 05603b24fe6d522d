"""MPI-INF-3DHP in the layout the released DDHPose code (and P-STMO, MixSTE) reads.

- ``data_train_3dhp.npz``: member ``data``, a pickled dict ``'S1 Seq1' -> [ {camera -> {'data_3d':
  (N, 17, 3) mm, 'data_2d': (N, 17, 2) px}} ]`` (a one-element list holding the per-camera dict).
- ``data_test_3dhp.npz``: member ``data``, a pickled dict ``'TS1'..'TS6' -> {'data_3d': (N, 17, 3)
  mm ('annot3'), 'data_2d': (N, 17, 2) px, 'valid': (N,)}``.

Neither file carries the per-frame activity labels of the official activity table (the test
set's ``annot_data.mat``, field ``activity_annotation``); :func:`load_3dhp_activities` reads them
from a test file whose entries have that field, or from an ``.npz`` with one array per sequence.

Ground truth. The test set's ``TSk/annot_data.mat`` holds two 3D fields: ``annot3`` (camera
frame, millimetres), which the released DDHPose script (``mpii_test_predictions_ori_py.m``)
scores against, and ``univ_annot3`` (scaled to the height of Human3.6M's universal skeleton),
which the test set's own ``mpii_test_predictions.m`` uses. Preprocessed ``data_test_3dhp.npz``
files in circulation store either one under the same name ``data_3d``, and nothing in the file
says which. :func:`load_3dhp_annotations` reads ``annot_data.mat`` directly (scipy for MATLAB
v5 files, h5py for v7.3), :func:`identify_ground_truth` tells which field a test file holds by
comparing it with both, and :func:`with_ground_truth` scores a sequence against a chosen field.

Joints stay in the 3DHP order (:data:`ddhpose.skeleton.MPI_INF_3DHP`, root = pelvis, joint 14).
Units: the files hold millimetres; every returned array is in **metres** (divided by 1000).
2D is screen-normalised by 2048x2048 (training cameras and TS1-TS4) or 1920x1080 (TS5, TS6), as
in the released code.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ddhpose.data.sequence import PoseSequence
from ddhpose.geometry import normalize_intrinsics, normalize_screen
from ddhpose.safe_pickle import load_npz
from ddhpose.skeleton import MPI_INF_3DHP

MM_TO_M = 1e-3
TRAIN_IMAGE_SIZE = (2048, 2048)
TEST_IMAGE_SIZES = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048),
                    "TS4": (2048, 2048), "TS5": (1920, 1080), "TS6": (1920, 1080)}

# Nominal pinhole intrinsics in pixels [fx, fy, cx, cy, k1, k2, k3, p1, p2] as the released
# evaluation builds them for J-Agg (main_3dhp.py: focal length and centre offset in mm, scaled by
# width / sensor width and height / sensor height; f_y = f_x, the test set's pixel aspect not
# applied); no distortion. The files carry no calibration, and only J-Agg uses intrinsics.
# Training cameras are each calibrated differently; the studio value is used for all of them
# unless the caller passes its own.
STUDIO_INTRINSICS = (1500.172, 1500.172, 1017.387, 1043.032, 0.0, 0.0, 0.0, 0.0, 0.0)
OUTDOOR_INTRINSICS = (1683.983, 1683.983, 939.858, 560.141, 0.0, 0.0, 0.0, 0.0, 0.0)


def _nominal_intrinsics(size: tuple[int, int]) -> tuple[float, ...]:
    return OUTDOOR_INTRINSICS if size == (1920, 1080) else STUDIO_INTRINSICS


def _data_member(path: str | os.PathLike) -> tuple[dict, str]:
    source = os.fspath(path)
    data = load_npz(source)
    if "data" not in data:
        raise ValueError(f"{source}: missing member 'data'; the file has {sorted(data)}")
    if not isinstance(data["data"], dict) or not data["data"]:
        raise ValueError(f"{source}: member 'data' expected a non-empty pickled dict, got "
                         f"{type(data['data']).__name__}")
    return data["data"], source


def _field(entry: Any, key: str, where: str) -> np.ndarray:
    if not isinstance(entry, Mapping) or key not in entry:
        have = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
        raise ValueError(f"{where}: missing field {key!r} (found {have})")
    return np.asarray(entry[key])


def _check_array(arr: np.ndarray, channels: int, frames: int | None, where: str) -> None:
    n = "N" if frames is None else frames
    if arr.ndim != 3 or arr.shape[1:] != (17, channels) or arr.dtype.kind not in "fi" or (
            frames is not None and arr.shape[0] != frames):
        raise ValueError(f"{where}: expected a numeric ({n}, 17, {channels}) array, got {arr.dtype} {arr.shape}")


def _sequence(entry: Any, size: tuple[int, int], intrinsics_px: Any, subject: str, action: str,
              camera: str, where: str, with_valid: bool) -> PoseSequence:
    data_3d = _field(entry, "data_3d", where)
    _check_array(data_3d, 3, None, f"{where}.data_3d")
    data_2d = _field(entry, "data_2d", where)
    _check_array(data_2d, 2, len(data_3d), f"{where}.data_2d")
    valid = None
    if with_valid:
        valid = _field(entry, "valid", where)
        if valid.size != len(data_3d) or valid.dtype.kind not in "bif":
            raise ValueError(f"{where}.valid: expected ({len(data_3d)},) frame flags, got "
                             f"{valid.dtype} {valid.shape}")
        valid = valid.reshape(-1)
    scale = np.nanmax(np.abs(data_3d)) if np.isfinite(data_3d).any() else np.nan
    if scale < 10:  # a human in millimetres spans hundreds of units
        raise ValueError(f"{where}.data_3d: values span at most {scale:.3g}; expected millimetres")
    pos = data_3d.astype(np.float64) * MM_TO_M
    root = pos[:, MPI_INF_3DHP.root:MPI_INF_3DHP.root + 1]
    w, h = size
    intr = torch.tensor(np.asarray(intrinsics_px, dtype=np.float64))
    try:
        return PoseSequence(
            keypoints_2d=normalize_screen(torch.from_numpy(data_2d.astype(np.float64)), w, h).numpy(),
            poses_3d=pos - root, trajectory=root,
            intrinsics=normalize_intrinsics(intr, w, h).numpy(), image_size=size,
            subject=subject, action=action, camera=camera, valid=valid, root=MPI_INF_3DHP.root)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def load_3dhp_train(path: str | os.PathLike,
                    intrinsics: Mapping[str, Any] | None = None) -> list[PoseSequence]:
    """Load ``data_train_3dhp.npz``: one sequence per (take, camera).

    Args:
        path: the file.
        intrinsics: optional camera name -> (9,) pixel intrinsics; default :data:`STUDIO_INTRINSICS`.
    Returns:
        PoseSequences with subject 'S1', action 'Seq1', camera the file's camera key as a string;
        poses in metres, root-relative (pelvis, joint 14); 2D normalised by 2048x2048;
        trajectory = the file's pelvis position in metres (camera coordinates when the file is
        absolute, as the released files are; zeros if the file is already root-relative);
        valid None.
    """
    data, source = _data_member(path)
    out = []
    for seq_name, value in data.items():
        where = f"{source}: data[{seq_name!r}]"
        if not isinstance(value, (list, tuple)) or len(value) != 1 or not isinstance(value[0], Mapping):
            raise ValueError(f"{where}: expected a one-element list holding a dict camera -> arrays, "
                             f"got {type(value).__name__}")
        subject, _, action = str(seq_name).partition(" ")
        for cam, entry in value[0].items():
            intr = (intrinsics or {}).get(str(cam), STUDIO_INTRINSICS)
            out.append(_sequence(entry, TRAIN_IMAGE_SIZE, intr, subject, action or subject, str(cam),
                                 f"{where}[0][{cam!r}]", with_valid=False))
    return out


def load_3dhp_test(path: str | os.PathLike,
                   intrinsics: Mapping[str, Any] | None = None) -> list[PoseSequence]:
    """Load ``data_test_3dhp.npz``: one sequence per test sequence TS1-TS6.

    Args:
        path: the file.
        intrinsics: optional sequence name -> (9,) pixel intrinsics; default the nominal studio
            (TS1-TS4) or outdoor (TS5, TS6) values.
    Returns:
        PoseSequences with subject = action = 'TS1'..'TS6', camera 'test'; 'annot3' poses in
        metres, root-relative (pelvis, joint 14); trajectory = the file's pelvis position in
        metres (zeros if the file is root-relative); ``valid`` from the file.
    """
    data, source = _data_member(path)
    out = []
    for seq_name, entry in data.items():
        seq_name = str(seq_name)
        if seq_name not in TEST_IMAGE_SIZES:
            raise ValueError(f"{source}: unknown test sequence {seq_name!r}; expected {sorted(TEST_IMAGE_SIZES)}")
        size = TEST_IMAGE_SIZES[seq_name]
        intr = (intrinsics or {}).get(seq_name, _nominal_intrinsics(size))
        out.append(_sequence(entry, size, intr, seq_name, seq_name, "test",
                             f"{source}: data[{seq_name!r}]", with_valid=True))
    return out


ACTIVITY_FIELDS = ("activity_annotation", "activity")


def _activity_array(value: Any, where: str) -> np.ndarray:
    labels = np.asarray(value)
    if labels.dtype.kind not in "iuf" or labels.size == 0 or labels.size != max(labels.shape, default=0):
        raise ValueError(f"{where}: expected (N,) activity labels 1-7, got {labels.dtype} {labels.shape}")
    labels = labels.reshape(-1)
    if not np.all(np.isin(labels, np.arange(1, 8))):
        bad = sorted(set(labels[~np.isin(labels, np.arange(1, 8))].tolist()))[:5]
        raise ValueError(f"{where}: activity labels must be integers 1-7, found {bad}")
    return labels.astype(np.int64)


def load_3dhp_activities(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Per-frame activity labels of the test sequences, for the official activity table.

    Args:
        path: either an ``.npz`` with one member per sequence ('TS1' -> (N,) labels, e.g. the
            ``activity_annotation`` of each TSk/annot_data.mat), or a test file in the released
            layout whose entries carry an 'activity_annotation' (or 'activity') field.
    Returns:
        sequence name -> (N,) int64 labels 1-7 over all frames (valid or not); {} for a test
        file whose entries carry no labels (the released data_test_3dhp.npz).
    """
    source = os.fspath(path)
    members = load_npz(source)
    if "data" not in members:
        unknown = sorted(set(members) - set(TEST_IMAGE_SIZES))
        if unknown or not members:
            raise ValueError(f"{source}: expected members named {sorted(TEST_IMAGE_SIZES)} (activity labels) or "
                             f"a test file with member 'data'; found {sorted(members)}")
        return {k: _activity_array(v, f"{source}: member {k!r}") for k, v in members.items()}
    data = members["data"]
    if not isinstance(data, dict):
        raise ValueError(f"{source}: member 'data' expected a pickled dict, got {type(data).__name__}")
    out = {}
    for name, entry in data.items():
        field = next((f for f in ACTIVITY_FIELDS if isinstance(entry, Mapping) and f in entry), None)
        if field is not None:
            out[str(name)] = _activity_array(entry[field], f"{source}: data[{name!r}].{field}")
    return out


#: the 3D fields of a test sequence's annot_data.mat (see the module docstring); the first is
#: the one the released DDHPose evaluation scores against
GROUND_TRUTH_FIELDS = ("annot3", "univ_annot3")
#: a test file's data_3d counts as a field of annot_data.mat when their root-relative poses lie
#: within this mean per-joint distance (mm); float32 storage of millimetre camera coordinates
#: rounds by less than 1e-3 mm, while the two fields differ by 8-20 mm on TS5 and TS6
SAME_FIELD_MM = 0.1


@dataclass
class SequenceAnnotation:
    """One test sequence's annot_data.mat: poses (N, 17, 3) in millimetres, camera frame, 3DHP
    joint order; ``valid`` (N,) bool; ``activity`` (N,) int64 labels 1-7 or None."""

    source: str
    annot3: np.ndarray
    univ_annot3: np.ndarray | None
    valid: np.ndarray
    activity: np.ndarray | None

    @property
    def num_frames(self) -> int:
        return len(self.valid)


def _read_mat(path: str) -> dict[str, np.ndarray]:
    """Every variable of a MATLAB file, in MATLAB's dimension order (v5 through scipy; v7.3, an
    HDF5 file, through h5py, whose reversed dimension order is undone here)."""
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(f"{path}: reading annot_data.mat needs scipy; install it with "
                          "pip install 'ddhpose[mat]'") from None
    try:
        return {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    except NotImplementedError:  # scipy: 'Please use HDF reader for matlab v7.3 files'
        pass
    except (ValueError, OSError, TypeError) as err:
        raise ValueError(f"{path}: not a readable MATLAB file ({err})") from None
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{path} is a MATLAB v7.3 (HDF5) file: reading it needs h5py; install it with "
                          "pip install 'ddhpose[mat]'") from None
    with h5py.File(path, "r") as f:
        return {k: np.asarray(v[()]).transpose() for k, v in f.items() if isinstance(v, h5py.Dataset)}


def _poses_mm(value: Any, where: str) -> np.ndarray:
    """MATLAB 3 x 17 x 1 x N (or 3 x 17 x N) -> (N, 17, 3) float64."""
    arr = np.asarray(value)
    if arr.ndim == 2:
        arr = arr[..., None]  # a single frame: MATLAB drops the trailing dimensions
    if arr.ndim not in (3, 4) or arr.shape[:2] != (3, 17) or (arr.ndim == 4 and arr.shape[2] != 1) \
            or arr.dtype.kind not in "fi":
        raise ValueError(f"{where}: expected a numeric 3 x 17 x 1 x N array (MATLAB order), got {arr.dtype} "
                         f"{arr.shape}")
    return np.ascontiguousarray(arr.reshape(3, 17, -1).transpose(2, 1, 0), dtype=np.float64)


def _frame_vector(value: Any, frames: int, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size != frames or arr.size != max(arr.shape, default=0) or arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: expected {frames} values, one per frame, got {arr.dtype} {arr.shape}")
    return arr.reshape(-1)


def load_annot_data(path: str | os.PathLike) -> SequenceAnnotation:
    """Read one test sequence's ``annot_data.mat`` as the official script does.

    Fields: ``annot3`` (required), ``univ_annot3``, ``valid_frame`` (required),
    ``activity_annotation``; each 3D field 3 x 17 x 1 x N in millimetres.
    """
    source = os.fspath(path)
    mat = _read_mat(source)
    for field in ("annot3", "valid_frame"):
        if field not in mat:
            raise ValueError(f"{source}: missing field {field!r}; the file has {sorted(mat)}")
    annot3 = _poses_mm(mat["annot3"], f"{source}: field 'annot3'")
    n = len(annot3)
    univ = _poses_mm(mat["univ_annot3"], f"{source}: field 'univ_annot3'") if "univ_annot3" in mat else None
    if univ is not None and len(univ) != n:
        raise ValueError(f"{source}: field 'univ_annot3' has {len(univ)} frames, 'annot3' {n}")
    valid = _frame_vector(mat["valid_frame"], n, f"{source}: field 'valid_frame'") != 0
    activity = None
    if "activity_annotation" in mat:
        activity = _activity_array(_frame_vector(mat["activity_annotation"], n, f"{source}: field "
                                                 "'activity_annotation'"), f"{source}: field 'activity_annotation'")
    return SequenceAnnotation(source, annot3, univ, valid, activity)


def load_3dhp_annotations(annot_dir: str | os.PathLike, names=tuple(TEST_IMAGE_SIZES)) -> dict[str, SequenceAnnotation]:
    """``annot_dir/TSk/annot_data.mat`` of every test sequence in ``names`` (the folder layout of
    the test set, which the official script reads)."""
    root = Path(annot_dir)
    if not root.is_dir():
        raise ValueError(f"--annot-dir {root}: not a folder (expected the test set's folder with TS1..TS6/"
                         "annot_data.mat)")
    out = {}
    for name in names:
        path = root / name / "annot_data.mat"
        if not path.is_file():
            raise ValueError(f"{path}: missing; the official script reads annot_data.mat of every test sequence "
                             f"({', '.join(names)})")
        out[name] = load_annot_data(path)
    return out


def _root_relative_mm(poses: np.ndarray) -> np.ndarray:
    return poses - poses[:, MPI_INF_3DHP.root:MPI_INF_3DHP.root + 1]


def identify_ground_truth(seq: PoseSequence, annotation: SequenceAnnotation, source: str = "the test file"
                          ) -> tuple[str, dict[str, float]]:
    """Which field of annot_data.mat a test file's sequence holds.

    Compares the sequence's root-relative poses with those of every field present, as the mean
    per-joint distance in mm. Returns (the field within :data:`SAME_FIELD_MM`, or
    'annot3 = univ_annot3' where the two fields coincide, the distances).
    Raises ValueError when the frame counts differ or no field is that close.
    """
    where = f"{source}: sequence {seq.subject!r}"
    if seq.num_frames != annotation.num_frames:
        raise ValueError(f"{where} has {seq.num_frames} frames, {annotation.source} has {annotation.num_frames}")
    ours = seq.poses_3d.astype(np.float64) * 1000
    distances = {}
    for field in GROUND_TRUTH_FIELDS:
        value = getattr(annotation, field)
        if value is not None:
            distances[field] = float(np.linalg.norm(ours - _root_relative_mm(value), axis=-1).mean())
    close = [f for f, d in distances.items() if d <= SAME_FIELD_MM]
    if not close:
        found = ", ".join(f"{f} by {d:.2f} mm" for f, d in distances.items())
        raise ValueError(f"{where}: data_3d is none of the 3D fields of {annotation.source} (it differs from {found} "
                         f"on average; at most {SAME_FIELD_MM} mm expected)")
    return (" = ".join(close) if len(close) > 1 else close[0]), distances


def with_ground_truth(seq: PoseSequence, annotation: SequenceAnnotation, field: str = "annot3") -> PoseSequence:
    """The sequence scored against ``field`` of its annot_data.mat: poses (root-relative) and
    trajectory (the field's pelvis) from it, in metres, and its ``valid_frame``; the 2D input
    is kept."""
    if field not in GROUND_TRUTH_FIELDS:
        raise ValueError(f"ground truth must be one of {list(GROUND_TRUTH_FIELDS)}, got {field!r}")
    poses = getattr(annotation, field)
    if poses is None:
        raise ValueError(f"{annotation.source}: no field {field!r} to score against")
    if len(poses) != seq.num_frames:
        raise ValueError(f"{annotation.source}: {len(poses)} frames, the test file's sequence {seq.subject!r} has "
                         f"{seq.num_frames}")
    pos = poses * MM_TO_M
    root = pos[:, MPI_INF_3DHP.root:MPI_INF_3DHP.root + 1]
    return dataclasses.replace(seq, poses_3d=pos - root, trajectory=root, valid=annotation.valid.copy())
