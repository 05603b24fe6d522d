import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.data.cameras import Camera, h36m_cameras, load_cameras_json
from ddhpose.geometry import normalize_screen, project, world_to_camera
from ddhpose.safe_pickle import load_npz

FIXTURES = Path(__file__).parent / "fixtures"
H36M_IDS = ["54138969", "55011271", "58860488", "60457274"]


def _camera_dict(cam: Camera) -> dict:
    return {
        "id": cam.id, "rotation": cam.rotation.tolist(), "translation": cam.translation.tolist(),
        "focal_length": cam.intrinsics[:2].tolist(), "center": cam.intrinsics[2:4].tolist(),
        "radial_distortion": cam.intrinsics[4:7].tolist(),
        "tangential_distortion": cam.intrinsics[7:9].tolist(), "res_w": cam.width, "res_h": cam.height,
    }


def test_shipped_cameras_cover_the_protocol_subjects():
    cams = h36m_cameras()
    for subject in ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]:
        assert [c.id for c in cams[subject]] == H36M_IDS
        for cam in cams[subject]:
            assert np.allclose(cam.rotation @ cam.rotation.T, np.eye(3), atol=1e-6)
            assert cam.intrinsics.shape == (9,) and cam.width == 1000
            assert 900 < cam.intrinsics[0] < 1300


def test_projection_reproduces_real_human36m_frames():
    check = load_npz(FIXTURES / "real_frames_check.npz")
    cams = h36m_cameras()
    for i in range(len(check["subject"])):
        cam = next(c for c in cams[str(check["subject"][i])] if c.id == str(check["camera_id"][i]))
        uv = project(torch.from_numpy(check["joints_cam"][i]), torch.tensor(cam.intrinsics))
        assert np.abs(uv.numpy() - check["joints_2d"][i]).max() < 1e-3


def test_world_to_camera_puts_the_camera_centre_at_the_origin_and_subject_in_front():
    cam = h36m_cameras()["S9"][2]
    centre = world_to_camera(torch.tensor(cam.translation), torch.tensor(cam.rotation), torch.tensor(cam.translation))
    assert torch.allclose(centre, torch.zeros(3, dtype=torch.float64))
    capture_centre = world_to_camera(torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                                     torch.tensor(cam.rotation), torch.tensor(cam.translation))
    assert capture_centre[2] > 3  # metres in front of the camera


def test_normalized_intrinsics_commute_with_projection():
    cam = h36m_cameras()["S11"][1]
    pts = torch.tensor([[0.3, -0.2, 4.5], [-0.6, 0.4, 5.2], [0.0, 0.0, 3.0]], dtype=torch.float64)
    pix = normalize_screen(project(pts, torch.tensor(cam.intrinsics)), cam.width, cam.height)
    norm = project(pts, torch.from_numpy(cam.normalized_intrinsics()).double())
    assert torch.allclose(pix, norm, atol=1e-6)


def test_load_cameras_json_round_trip(tmp_path):
    cams = h36m_cameras()
    path = tmp_path / "cams.json"
    path.write_text(json.dumps({"S9": [_camera_dict(c) for c in cams["S9"]]}))
    loaded = load_cameras_json(path)
    assert list(loaded) == ["S9"]
    for a, b in zip(loaded["S9"], cams["S9"]):
        assert a.id == b.id and (a.width, a.height) == (b.width, b.height)
        np.testing.assert_array_equal(a.rotation, b.rotation)
        np.testing.assert_array_equal(a.intrinsics, b.intrinsics)


@pytest.mark.parametrize("field, value, match", [
    ("rotation", [[1, 0], [0, 1]], r"\[0\]\.rotation"),
    ("rotation", [[2, 0, 0], [0, 1, 0], [0, 0, 1]], "not a rotation"),
    ("translation", [1.0, 2.0], r"\[0\]\.translation"),
    ("focal_length", [-1.0, 1.0], "focal_length"),
    ("res_w", 0, "res_w"),
    ("center", ["a", "b"], "center"),
    ("tangential_distortion", [float("nan"), 0.0], "tangential_distortion"),
])
def test_bad_camera_fields_are_named(tmp_path, field, value, match):
    entry = _camera_dict(h36m_cameras()["S1"][0])
    entry[field] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"S1": [entry]}))
    with pytest.raises(ValueError, match=match) as err:
        load_cameras_json(path)
    assert "bad.json" in str(err.value) and "S1" in str(err.value)


def test_missing_field_and_bad_json(tmp_path):
    entry = _camera_dict(h36m_cameras()["S1"][0])
    del entry["radial_distortion"]
    path = tmp_path / "missing.json"
    path.write_text(json.dumps({"S1": [entry]}))
    with pytest.raises(ValueError, match="missing field 'radial_distortion'"):
        load_cameras_json(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_cameras_json(path)
    path.write_text(json.dumps({"S1": []}))
    with pytest.raises(ValueError, match="non-empty list"):
        load_cameras_json(path)


def test_returned_cameras_are_not_shared_mutable_state():
    cams = h36m_cameras()
    cams["S1"].clear()
    assert len(h36m_cameras()["S1"]) == 4
    with pytest.raises(ValueError):
        h36m_cameras()["S1"][0].rotation[0, 0] = 5.0
