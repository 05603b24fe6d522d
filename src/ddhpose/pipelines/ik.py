"""``ddhpose ik``: a lift result through OpenSim (the optional ``opensim`` package): the generic
full-body model scaled to the person's bone lengths, inverse kinematics over the clip, and the
model's joint angles beside the result's geometric ones.

Files, beside the result (``walk.npz`` -> ``walk_opensim.trc``, ``walk_scale.xml``,
``walk_scaled.osim``, ``walk_ik.xml``, ``walk_ik.mot``): the TRC with the model's marker names
(:mod:`ddhpose.export.opensim`), the two setups (they reopen in the OpenSim GUI), the scaled
model and the joint angles in degrees. OpenSim runs in a temporary folder; the files are moved
into place only when both steps succeeded.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ddhpose.export.mot import read_mot
from ddhpose.export.opensim import DEFAULT_MASS, ik_setup, marker_names, scale_setup
from ddhpose.export.options import ExportOptions
from ddhpose.export.results import load_result
from ddhpose.export.trc import format_trc
from ddhpose.export.writers import motion
from ddhpose.files import atomic_path
from ddhpose.lifting.angles import segment_frame
from ddhpose.lifting.result import LiftResult

INSTALL = ("OpenSim inverse kinematics needs the opensim package (OpenSim 4.6 wheels exist on PyPI for Python "
           "3.11 and 3.12 on Linux, macOS and Windows): pip install 'ddhpose[opensim]'")

#: OpenSim coordinate -> (the geometric angle of ``LiftResult.angles`` it corresponds to, sign).
COMPARED = {
    "hip_flexion_r": ("right_hip_flexion", 1.0), "hip_flexion_l": ("left_hip_flexion", 1.0),
    "hip_adduction_r": ("right_hip_adduction", 1.0), "hip_adduction_l": ("left_hip_adduction", 1.0),
    "knee_angle_r": ("right_knee_flexion", 1.0), "knee_angle_l": ("left_knee_flexion", 1.0),
    "arm_flex_r": ("right_shoulder_flexion", 1.0), "arm_flex_l": ("left_shoulder_flexion", 1.0),
    "arm_add_r": ("right_shoulder_abduction", -1.0), "arm_add_l": ("left_shoulder_abduction", -1.0),
    "elbow_flex_r": ("right_elbow_flexion", 1.0), "elbow_flex_l": ("left_elbow_flexion", 1.0),
    "L5_S1_Flex_Ext": ("trunk_flexion", -1.0), "L5_S1_Lat_Bending": ("trunk_lateral_bending", 1.0),
    "L5_S1_axial_rotation": ("trunk_rotation", 1.0),
}


def require_opensim():
    """The ``opensim`` module, or a RuntimeError saying how to install it."""
    try:
        import opensim
    except ImportError as err:
        raise RuntimeError(f"{INSTALL} ({err})") from None
    return opensim


@dataclass(frozen=True)
class IKResult:
    """What ``ddhpose ik`` made of one result: the written files, the model's joint angles
    (coordinate -> (F,) degrees at ``times``), and per compared coordinate its difference from the
    result's geometric angle (:func:`compare`)."""

    files: dict[str, Path]
    times: np.ndarray
    coordinates: dict[str, np.ndarray]
    comparison: dict[str, dict[str, float]]


def ik_paths(result_path: str | os.PathLike) -> dict[str, Path]:
    """The files ``ddhpose ik`` writes for ``result_path``, by role."""
    stem = Path(result_path).with_suffix("")
    return {"trc": Path(f"{stem}_opensim.trc"), "scale_setup": Path(f"{stem}_scale.xml"),
            "model": Path(f"{stem}_scaled.osim"), "ik_setup": Path(f"{stem}_ik.xml"), "motion": Path(f"{stem}_ik.mot")}


def heading(positions: np.ndarray, names) -> float:
    """The pelvis's heading (degrees, OpenSim's ``pelvis_rotation``: about up from facing +x) in the
    first frame of ``positions`` (F, J, 3), y up."""
    j = {n: i for i, n in enumerate(names)}
    frame = segment_frame(positions[0, j["right_hip"]] - positions[0, j["left_hip"]],
                          positions[0, j["spine"]] - positions[0, j["pelvis"]])
    anterior = frame[0]
    return float(np.degrees(np.arctan2(-anterior[2], anterior[0])))


def compare(times: np.ndarray, coordinates: dict[str, np.ndarray], result: LiftResult) -> dict[str, dict[str, float]]:
    """Per :data:`COMPARED` coordinate: the RMS, mean and standard deviation of (model angle x sign -
    geometric angle) in degrees over the frames where both exist, and that number of frames (the
    mean is the two definitions' offset: the model's anatomical frames are not the joints' lines)."""
    own = result.times
    rows = {}
    for coordinate, (name, sign) in COMPARED.items():
        if coordinate not in coordinates:
            continue
        model = np.interp(own, times, coordinates[coordinate] * sign, left=np.nan, right=np.nan)
        diff = model - result.angles[name]
        ok = np.isfinite(diff)
        d = diff[ok]
        rows[coordinate] = {"angle": name, "frames": int(ok.sum()),
                            "rms": float(np.sqrt(np.mean(d ** 2))) if ok.any() else float("nan"),
                            "mean": float(d.mean()) if ok.any() else float("nan"),
                            "sd": float(d.std()) if ok.any() else float("nan")}
    return rows


@contextlib.contextmanager
def _quiet(opensim) -> Iterator[None]:
    """OpenSim's own log at errors only (not its info lines, nor a warning per mesh file of the
    model: the bones' shapes, which ddhpose does not ship and kinematics do not use), and the
    model summary its tools print straight to the process's standard output silenced."""
    opensim.Logger.setLevelString("error")
    opensim.Logger.removeFileSink()  # else every run leaves an opensim.log in the working directory
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def _inside(folder: str | os.PathLike) -> Iterator[None]:
    """Run in ``folder``: OpenSim's tools read some of a setup's file names relative to the setup's
    folder and others relative to the working directory, so the two are made one."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def inverse_kinematics(result_path: str | os.PathLike, *, mass: float = DEFAULT_MASS) -> IKResult:
    """Scale OpenSim's generic model (:mod:`ddhpose.export.opensim`) to one lift result (.npz /
    .json) and run inverse kinematics on its motion (the world frame, else the camera frame turned
    upright); writes :func:`ik_paths` all or nothing and compares the model's joint angles with
    the result's geometric ones (:func:`compare`).

    Raises:
        RuntimeError: opensim is not installed (the message says how to install it), or OpenSim
            failed (its message).
    """
    opensim = require_opensim()
    result = load_result(result_path)
    names = marker_names(result.joint_names)
    positions = motion(result, ExportOptions())
    times = result.times
    span = (float(times[0]), float(times[-1]))
    final = ik_paths(result_path)
    with tempfile.TemporaryDirectory(prefix="ddhpose_ik_", dir=final["trc"].parent) as tmp:
        tmp = os.path.abspath(tmp)  # OpenSim runs inside it: a path relative to here would not hold there
        work = {role: Path(tmp) / path.name for role, path in final.items()}
        work["trc"].write_text(format_trc(positions, result.frame_rate, names, final["trc"].name,
                                          start_frame=int(result.frames[0])), encoding="utf-8")
        name = {role: path.name for role, path in final.items()}
        work["scale_setup"].write_text(scale_setup(name["trc"], span, name["model"], mass=mass), encoding="utf-8")
        with _quiet(opensim), _inside(tmp):
            opensim.ScaleTool(name["scale_setup"]).run()  # False without marker placement, even when it scaled
            if not work["model"].exists():
                raise RuntimeError(f"{result_path}: OpenSim's scaling failed (setup {final['scale_setup'].name})")
            model = opensim.Model(name["model"])
            start = {"pelvis_rotation": heading(positions, result.joint_names),
                     **dict(zip(("pelvis_tx", "pelvis_ty", "pelvis_tz"), positions[0, 0]))}
            for coordinate, value in start.items():  # the first frame's guess: where the person stands and faces
                c = model.getCoordinateSet().get(coordinate)
                c.setDefaultValue(np.radians(value) if coordinate == "pelvis_rotation" else float(value))
            model.printToXML(name["model"])
            work["ik_setup"].write_text(ik_setup(name["model"], name["trc"], span, name["motion"]), encoding="utf-8")
            if not opensim.InverseKinematicsTool(name["ik_setup"]).run() or not work["motion"].exists():
                raise RuntimeError(f"{result_path}: OpenSim's inverse kinematics failed (setup {final['ik_setup'].name})")
        _, ik_times, coordinates = read_mot(work["motion"])
        with contextlib.ExitStack() as stack:
            for role, target in final.items():
                shutil.copyfile(work[role], stack.enter_context(atomic_path(target)))
    return IKResult(final, ik_times, coordinates, compare(ik_times, coordinates, result))


def comparison_table(ik: IKResult) -> str:
    """The model's joint angles against the result's geometric ones, one line per coordinate."""
    lines = [f"{'OpenSim coordinate':<22} {'ddhpose angle':<26} {'RMS':>6} {'mean':>6} {'SD':>6}  (degrees, "
             "model - geometric)"]
    for coordinate, row in ik.comparison.items():
        lines.append(f"{coordinate:<22} {row['angle']:<26} {row['rms']:6.1f} {row['mean']:6.1f} {row['sd']:6.1f}")
    return "\n".join(lines)
