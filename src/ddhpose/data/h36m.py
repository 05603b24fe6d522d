"""Human3.6M in the VideoPose3D file layout.

- ``data_3d_h36m.npz``: member ``positions_3d``, a pickled dict subject -> action -> (N, 32 or 17, 3)
  world positions in metres. 32-joint files are reduced to VideoPose3D's 17 joints.
- ``data_2d_h36m_<source>.npz`` (optional): member ``positions_2d``, subject -> action -> list of
  one (N, 17, 2) pixel array per camera (the camera order of the camera file), and ``metadata``
  with 'layout_name', 'num_joints', 'keypoints_symmetry'. Without it, the 2D input is the exact
  projection of the 3D poses (ground-truth 2D).

Both are read only through :func:`ddhpose.safe_pickle.load_npz`, which refuses pickled objects
other than NumPy data.
"""
from __future__ import annotations

import os
import re
from typing import Any, Sequence

import numpy as np
import torch

from ddhpose.data.cameras import Camera, h36m_cameras
from ddhpose.data.sequence import PoseSequence
from ddhpose.geometry import normalize_screen, project, world_to_camera
from ddhpose.safe_pickle import load_npz
from ddhpose.skeleton import H36M

H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
H36M_TEST_SUBJECTS = ("S9", "S11")
H36M_ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)

# Spelling variants in Human3.6M's own files and VideoPose3D's (S1 has 'TakingPhoto' and
# 'WalkingDog' where other subjects have 'Photo' and 'WalkDog').
_ACTION_ALIASES = {
    **{a.lower(): a for a in H36M_ACTIONS},
    "takingphoto": "Photo", "walkingdog": "WalkDog", "walkingtogether": "WalkTogether",
    "wait": "Waiting", "phone": "Phoning", "purchase": "Purchases",
}

#: The original 32-joint skeleton (VideoPose3D's h36m_skeleton) and the joints it drops.
H36M_32_PARENTS = (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14, 12, 16, 17, 18, 19, 20, 19,
                   22, 12, 24, 25, 26, 27, 28, 27, 30)
H36M_32_REMOVED = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)


def action_group(name: str) -> str:
    """Map a take name ('Directions 1', 'TakingPhoto', 'WalkingDog 1') to one of the 15 actions."""
    base = re.sub(r"[\s_]*\d*$", "", str(name).strip())
    key = re.sub(r"[\s_]", "", base).lower()
    if key not in _ACTION_ALIASES:
        raise ValueError(f"unknown Human3.6M action {name!r}; expected one of {list(H36M_ACTIONS)}")
    return _ACTION_ALIASES[key]


def reduce_joints(parents: Sequence[int], remove: Sequence[int]) -> tuple[list[int], list[int]]:
    """Drop joints from a tree as VideoPose3D's ``Skeleton.remove_joints`` does.

    A removed parent is replaced by its nearest kept ancestor, then indices are shifted down.
    Returns (kept joint indices, new parent array).
    """
    parents, remove = list(parents), set(remove)
    kept = [j for j in range(len(parents)) if j not in remove]
    for j in range(len(parents)):
        while parents[j] in remove:
            parents[j] = parents[parents[j]]
    shift = np.cumsum([j in remove for j in range(len(parents))])
    new_parents = [p - int(shift[p]) if p >= 0 else -1 for j, p in enumerate(parents) if j not in remove]
    return kept, new_parents


def _h36m_17_from_32() -> list[int]:
    kept, parents = reduce_joints(H36M_32_PARENTS, H36M_32_REMOVED)
    parents[11] = parents[14] = 8  # VideoPose3D rewires the shoulders to the thorax
    if tuple(parents) != H36M.parents:
        raise AssertionError(f"32->17 reduction gave parents {parents}, expected {H36M.parents}")
    return kept


def _member(data: dict[str, Any], key: str, source: str) -> Any:
    if key not in data:
        raise ValueError(f"{source}: missing member {key!r}; the file has {sorted(data)}")
    value = data[key]
    if not isinstance(value, dict):
        raise ValueError(f"{source}: member {key!r} expected a pickled dict subject -> action -> ..., "
                         f"got {type(value).__name__}")
    return value


def world_positions(value: Any, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 3 or arr.shape[1] not in (17, 32) or arr.shape[2] != 3 or arr.dtype.kind != "f":
        raise ValueError(f"{where}: expected float (N, 17 or 32, 3) world positions, got "
                         f"{arr.dtype} {arr.shape}")
    return arr[:, _h36m_17_from_32()] if arr.shape[1] == 32 else arr


def _check_metadata(meta: Any, source: str) -> None:
    if not isinstance(meta, dict):
        raise ValueError(f"{source}: member 'metadata' expected a dict, got {type(meta).__name__}")
    if "num_joints" in meta and int(meta["num_joints"]) != H36M.num_joints:
        raise ValueError(f"{source}: metadata num_joints expected 17, got {meta['num_joints']}")
    sym = meta.get("keypoints_symmetry")
    if sym is not None:
        left, right = (tuple(int(j) for j in side) for side in sym)
        if (left, right) != (H36M.joints_left, H36M.joints_right):
            raise ValueError(f"{source}: metadata keypoints_symmetry {[list(left), list(right)]} is not "
                             f"the Human3.6M layout {[list(H36M.joints_left), list(H36M.joints_right)]}")


def _select_cameras(cams: list[Camera], cameras: Sequence[int | str] | None, subject: str) -> list[int]:
    if cameras is None:
        return list(range(len(cams)))
    ids = [c.id for c in cams]
    out = []
    for c in cameras:
        if isinstance(c, str) and c in ids:
            out.append(ids.index(c))
        elif isinstance(c, (int, np.integer)) and 0 <= int(c) < len(cams):
            out.append(int(c))
        else:
            raise ValueError(f"camera {c!r} not found for {subject}: expected an index below "
                             f"{len(cams)} or one of {ids}")
    return out


def _group_or_name(take: str) -> str:
    try:
        return action_group(take)
    except ValueError:  # not a Human3.6M name: only selectable by its full name
        return take


def _select_actions(positions: dict, subjects: Sequence[str], actions: Sequence[str] | None,
                    source: str) -> list[tuple[str, str]]:
    """(subject, take) pairs; ``actions`` may name takes ('Eating 2') or groups ('Eating')."""
    pairs = [(s, a) for s in subjects for a in positions[s]]
    if actions is None:
        return pairs
    wanted = set(actions)
    chosen = [(s, a) for s, a in pairs if a in wanted or _group_or_name(a) in wanted]
    found = {a for _, a in chosen} | {_group_or_name(a) for _, a in chosen}
    missing = sorted(wanted - found)
    if missing:
        have = sorted({a for _, a in pairs})
        raise ValueError(f"{source}: action(s) {missing} not found for subjects {list(subjects)}; the file has {have}")
    return chosen


def load_h36m(path_3d: str | os.PathLike, path_2d: str | os.PathLike | None = None, *,
              subjects: Sequence[str] | None = None, actions: Sequence[str] | None = None,
              cameras: Sequence[int | str] | None = None,
              camera_params: dict[str, list[Camera]] | None = None,
              positions: dict[str, dict[str, np.ndarray]] | None = None) -> list[PoseSequence]:
    """Load Human3.6M takes as one :class:`PoseSequence` per (subject, take, camera).

    Args:
        path_3d: VideoPose3D ``data_3d_h36m.npz`` (world positions, metres).
        path_2d: optional VideoPose3D ``data_2d_h36m_<source>.npz`` (pixels); longer 2D
            sequences are trimmed to the 3D length (VideoPose3D behaviour), shorter ones are an error.
            Without it the 2D input is the projection of the camera-frame 3D (ground-truth 2D).
        subjects: e.g. :data:`H36M_TEST_SUBJECTS`; None loads every subject in the file.
        actions: take names ('Directions 1') or action groups ('Directions'); None loads all.
        cameras: camera indices (0-3) or ids ('54138969'); None loads all.
        camera_params: cameras to use instead of the shipped Human3.6M ones.
        positions: the world motion ({subject: {take: array}}) instead of reading ``path_3d``
            (which then only names the source), e.g. from a :mod:`ddhpose.data.motion_pack`.
    Returns:
        Sequences ordered by subject, take (file order), camera.
    """
    src3 = os.fspath(path_3d)
    if positions is None:
        positions = _member(load_npz(src3), "positions_3d", src3)
    keypoints, src2 = None, None
    if path_2d is not None:
        src2 = os.fspath(path_2d)
        data_2d = load_npz(src2)
        keypoints = _member(data_2d, "positions_2d", src2)
        if "metadata" in data_2d:
            _check_metadata(data_2d["metadata"], src2)
    cams_by_subject = camera_params if camera_params is not None else h36m_cameras()
    subjects = list(positions) if subjects is None else list(subjects)
    for s in subjects:
        if s not in positions:
            raise ValueError(f"{src3}: subject {s!r} not in the file; it has {sorted(positions)}")
        if s not in cams_by_subject:
            raise ValueError(f"no cameras for subject {s!r}; cameras exist for {sorted(cams_by_subject)}")
    out = []
    for subject, action in _select_actions(positions, subjects, actions, src3):
        world = world_positions(positions[subject][action], f"{src3}: positions_3d[{subject!r}][{action!r}]")
        per_camera = None
        if keypoints is not None:
            per_camera = _keypoints_for(keypoints, subject, action, len(cams_by_subject[subject]), src2)
        for idx in _select_cameras(cams_by_subject[subject], cameras, subject):
            cam = cams_by_subject[subject][idx]
            kp = None
            if per_camera is not None:
                kp = _trim_2d(per_camera[idx], len(world), f"{src2}: {subject!r} {action!r} camera {cam.id}")
            try:
                out.append(_sequence(world, kp, cam, subject, action))
            except ValueError as err:
                raise ValueError(f"{src3}{' + ' + src2 if src2 else ''}: {err}") from None
    return out


def _keypoints_for(keypoints: dict, subject: str, action: str, num_cameras: int, source: str) -> list:
    if subject not in keypoints:
        raise ValueError(f"{source}: subject {subject!r} not in positions_2d; it has {sorted(keypoints)}")
    if action not in keypoints[subject]:
        raise ValueError(f"{source}: action {action!r} of {subject!r} not in positions_2d; "
                         f"it has {sorted(keypoints[subject])}")
    per_camera = keypoints[subject][action]
    if not isinstance(per_camera, (list, tuple)) or len(per_camera) != num_cameras:
        raise ValueError(f"{source}: positions_2d[{subject!r}][{action!r}] expected a list of "
                         f"{num_cameras} per-camera arrays, got {type(per_camera).__name__} "
                         f"of length {len(per_camera) if hasattr(per_camera, '__len__') else '?'}")
    return list(per_camera)


def _trim_2d(value: Any, length: int, where: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 3 or arr.shape[1:] != (17, 2) or arr.dtype.kind != "f":
        raise ValueError(f"{where}: expected float (N, 17, 2) pixel keypoints, got {arr.dtype} {arr.shape}")
    if len(arr) < length:
        raise ValueError(f"{where}: 2D sequence has {len(arr)} frames, shorter than the 3D sequence ({length})")
    return arr[:length]


def _sequence(world: np.ndarray, keypoints: np.ndarray | None, cam: Camera, subject: str,
              action: str) -> PoseSequence:
    """World positions (N, 17, 3) and optional pixel keypoints (N, 17, 2) -> PoseSequence."""
    x_cam = world_to_camera(torch.from_numpy(np.asarray(world, dtype=np.float64)),
                            torch.tensor(cam.rotation), torch.tensor(cam.translation))
    root = x_cam[:, H36M.root:H36M.root + 1]
    uv = project(x_cam, torch.tensor(cam.intrinsics)) if keypoints is None else torch.from_numpy(
        np.asarray(keypoints, dtype=np.float64))
    return PoseSequence(
        keypoints_2d=normalize_screen(uv, cam.width, cam.height).numpy(),
        poses_3d=(x_cam - root).numpy(),
        trajectory=root.numpy(),
        intrinsics=cam.normalized_intrinsics(),
        image_size=(cam.width, cam.height),
        subject=subject, action=action, camera=cam.id, root=H36M.root, up=cam.rotation[:, 2],
    )
