"""Small synthetic MPI-INF-3DHP test sets in the official layouts: the test set's
TSk/annot_data.mat (MATLAB v5 through scipy, or v7.3 through h5py) and a preprocessed
data_test_3dhp.npz whose data_3d holds annot3 or univ_annot3."""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = 14
NAMES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
SIZES = {"TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
         "TS5": (1920, 1080), "TS6": (1920, 1080)}
#: univ_annot3 is annot3 scaled about the pelvis: 3 % on the outdoor sequences (a mean joint
#: distance of about 15 mm, as the real TS5 / TS6 differ by 8-20 mm), equal on the others
UNIV_SCALE = {"TS5": 1.03, "TS6": 1.03}


def annotation(name: str, frames: int, seed: int) -> dict[str, np.ndarray]:
    """(N, 17, 3) annot3 and univ_annot3 in mm (camera frame), (N,) valid and activity labels."""
    rng = np.random.default_rng(seed)
    root = np.array([100.0, -200.0, 4000.0]) + np.arange(frames)[:, None] * np.array([5.0, 1.0, 2.0])
    body = rng.uniform(-700, 700, (1, 17, 3)) + rng.normal(0, 20, (frames, 17, 3))
    body[:, ROOT] = 0
    annot3 = root[:, None] + body
    univ = root[:, None] + body * UNIV_SCALE.get(name, 1.0)
    valid = np.ones(frames, bool)
    valid[1] = False  # one invalid frame per sequence
    activity = 1 + (np.arange(frames) + seed) % 5  # labels 1..5: 'Sports' (6) and 'Miscellaneous' (7) absent
    return {"annot3": annot3, "univ_annot3": univ, "valid": valid, "activity": activity}


def write_annot_data(path: Path, ann: dict[str, np.ndarray], v73: bool = False) -> Path:
    """annot_data.mat as the test set ships it: 3D fields 3 x 17 x 1 x N, valid_frame and
    activity_annotation N x 1 (MATLAB's dimension order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mat = {"annot3": ann["annot3"].transpose(2, 1, 0)[:, :, None],
           "univ_annot3": ann["univ_annot3"].transpose(2, 1, 0)[:, :, None],
           "valid_frame": ann["valid"].astype(np.float64)[:, None],
           "activity_annotation": ann["activity"].astype(np.float64)[:, None]}
    if not v73:
        from scipy.io import savemat
        savemat(path, mat)
        return path
    import h5py  # MATLAB v7.3: an HDF5 file after a 512-byte MATLAB header, dimensions reversed
    with h5py.File(path, "w", userblock_size=512) as f:
        for key, value in mat.items():
            f.create_dataset(key, data=np.ascontiguousarray(value.transpose()))
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return path


def make_test_set(folder: Path, frames: dict[str, int] | None = None, data_3d: str | dict[str, str] = "circulating",
             v73: tuple[str, ...] = ()) -> tuple[Path, Path, dict[str, dict[str, np.ndarray]]]:
    """The test set's folder (TSk/annot_data.mat) and a data_test_3dhp.npz in the released layout.

    ``data_3d``: which field the npz stores per sequence; 'circulating' = annot3 on TS1-TS4 and
    univ_annot3 on TS5-TS6 (what such a file looks like when it holds univ_annot3).
    Returns (npz path, annotation folder, name -> annotation arrays).
    """
    frames = frames or {"TS1": 9, "TS2": 6, "TS3": 7, "TS4": 5, "TS5": 8, "TS6": 6}
    if data_3d == "circulating":
        data_3d = {n: "univ_annot3" if n in UNIV_SCALE else "annot3" for n in frames}
    elif isinstance(data_3d, str):
        data_3d = {n: data_3d for n in frames}
    anns, data = {}, {}
    rng = np.random.default_rng(7)
    for i, (name, n) in enumerate(frames.items()):
        ann = anns[name] = annotation(name, n, seed=i)
        write_annot_data(folder / "annot" / name / "annot_data.mat", ann, v73=name in v73)
        w, h = SIZES[name]
        data[name] = {"data_3d": ann[data_3d[name]].astype(np.float32),
                      "data_2d": rng.uniform(0, [w, h], (n, 17, 2)).astype(np.float32),
                      "valid": ann["valid"].astype(np.float32)}
    path = folder / "data_test_3dhp.npz"
    np.savez(path, data=np.array(data, dtype=object))
    return path, folder / "annot", anns
