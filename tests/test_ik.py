"""OpenSim inverse kinematics (ddhpose.export.opensim, ddhpose.pipelines.ik, ``ddhpose ik``): the
setups name only markers and bodies the bundled model has, a missing opensim package is said with
how to install it, and where opensim is installed (the opensim extra) scaling and IK run on a real
walk and the model's joint angles follow the geometric ones."""
from __future__ import annotations

import os
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from ddhpose.cli import main
from ddhpose.export.opensim import (IK_WEIGHTS, MARKER_FILE, MARKERS, MEASUREMENTS, MODEL_FILE, UNCONSTRAINED, asset,
                                    ik_setup, marker_names, scale_setup)
from ddhpose.export.results import save_result
from ddhpose.pipelines.ik import COMPARED, ik_paths, inverse_kinematics, require_opensim
from ddhpose.skeleton import H36M

from body_poses import result_of

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"


def _model_names(tag: str) -> set[str]:
    return set(re.findall(rf'<{tag} name="([^"]+)"', asset(MODEL_FILE).read_text(encoding="utf-8")))


def test_every_joint_has_a_marker_and_the_setups_use_only_the_models_names():
    assert marker_names(H36M.names) == tuple(MARKERS[n] for n in H36M.names)
    with pytest.raises(ValueError, match=r"no OpenSim marker for the joint\(s\) \['toe'\]"):
        marker_names(["toe"])
    on_model = set(re.findall(r'<Marker name="(\w+)">', asset(MARKER_FILE).read_text(encoding="utf-8")))
    ours = set(MARKERS.values())
    assert ours - on_model == {"Spine"}  # written to the TRC, skipped by OpenSim
    assert set(IK_WEIGHTS) <= ours & on_model
    bodies, coordinates = _model_names("Body"), _model_names("Coordinate")
    for pairs, scaled in MEASUREMENTS.values():
        assert {m for pair in pairs for m in pair} <= ours & on_model
        assert set(scaled) <= bodies
    assert set(UNCONSTRAINED) <= coordinates and set(COMPARED) <= coordinates


def test_the_setups_are_opensim_documents_naming_their_files_beside_them():
    scale = ET.fromstring(scale_setup("a.trc", (0.4, 2.0), "a_scaled.osim", mass=62.0))
    assert scale.find("ScaleTool/ModelScaler/marker_file").text == "a.trc"
    assert scale.find("ScaleTool/ModelScaler/time_range").text == "0.400000 2.000000"
    assert scale.find("ScaleTool/mass").text == "62"
    assert Path(scale.find("ScaleTool/GenericModelMaker/model_file").text).name == MODEL_FILE
    assert len(scale.findall(".//Measurement")) == len(MEASUREMENTS)
    ik = ET.fromstring(ik_setup("a_scaled.osim", "a.trc", (0.4, 2.0), "a_ik.mot"))
    assert ik.find("InverseKinematicsTool/output_motion_file").text == "a_ik.mot"
    assert {t.get("name") for t in ik.findall(".//IKMarkerTask")} == set(IK_WEIGHTS)
    with pytest.raises(ValueError, match="expected a file name in the setup's folder"):
        ik_setup("models/a.osim", "a.trc", (0, 1), "a.mot")
    with pytest.raises(ValueError, match="mass: expected kilograms > 0"):
        scale_setup("a.trc", (0, 1), "m.osim", mass=0)


def test_without_opensim_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "opensim", None)  # import opensim now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'ddhpose\[opensim\]'"):
        require_opensim()
    assert main(["ik", str(tmp_path / "missing.npz")]) == 2
    err = capsys.readouterr().err
    assert "ddhpose ik: error: OpenSim inverse kinematics needs the opensim package" in err
    assert "pip install 'ddhpose[opensim]'" in err


@pytest.fixture(scope="module")
def walk_result(tmp_path_factory) -> Path:
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)
    walk = np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)  # y up
    path = tmp_path_factory.mktemp("ik") / "walk.npz"
    save_result(result_of(walk, start=10, fps=25.0), path)
    return path


def test_scaling_and_inverse_kinematics_run_and_follow_the_geometric_angles(walk_result, monkeypatch):
    pytest.importorskip("opensim", reason="OpenSim (the opensim extra) runs the inverse kinematics")
    monkeypatch.chdir(walk_result.parent)
    ik = inverse_kinematics(walk_result, mass=65.0)
    assert ik.files == ik_paths(walk_result) and all(p.exists() for p in ik.files.values())
    assert sorted(p.name for p in walk_result.parent.iterdir()) == sorted(
        [walk_result.name, *(p.name for p in ik.files.values())])  # no temporary folder, no opensim.log left
    np.testing.assert_allclose(ik.times, (np.arange(72) + 10) / 25.0, atol=1e-6)  # the TRC's clock
    assert ET.parse(ik.files["model"]).getroot().find(".//Model") is not None
    # the same motion: each model angle moves with its geometric angle (its offset is the two
    # definitions' frames; the spread about it is what differs frame to frame)
    for coordinate, row in ik.comparison.items():
        assert row["frames"] == 72 and row["sd"] < 4.0, (coordinate, row)
    for knee in ("knee_angle_r", "knee_angle_l"):
        assert ik.comparison[knee]["rms"] < 4.0


def test_the_ik_command_writes_and_prints_the_comparison(walk_result, capsys, monkeypatch):
    pytest.importorskip("opensim", reason="OpenSim (the opensim extra) runs the inverse kinematics")
    monkeypatch.chdir(walk_result.parent)
    assert main(["ik", str(walk_result)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {ik_paths(walk_result)['motion']}" in out
    assert re.search(r"knee_angle_r\s+right_knee_flexion\s+[\d.]+", out)
    assert not os.path.exists(walk_result.parent / "opensim.log")


def test_the_ik_command_takes_a_path_relative_to_the_working_directory(walk_result, capsys, monkeypatch):
    """``ddhpose ik result.npz`` as typed in the result's folder (OpenSim runs in a folder of its own)."""
    pytest.importorskip("opensim", reason="OpenSim (the opensim extra) runs the inverse kinematics")
    monkeypatch.chdir(walk_result.parent)
    assert main(["ik", walk_result.name]) == 0
    assert f"wrote {ik_paths(walk_result.name)['motion']}" in capsys.readouterr().out
    assert all(p.exists() for p in ik_paths(walk_result).values())
