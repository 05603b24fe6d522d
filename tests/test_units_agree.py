"""Every file of a lift tells the same story: two people of one clip (ids 4 and 7, starting at video
frame 30, 50 frames per second) written with every export, each file read back by a reader of its
own format: metres, the frame rate, the video's clock (frame k at k / fps seconds where a file
keeps time) and the person ids agree across the .npz and .json results, BVH, TRC, GLB, .mot, CSV and the page."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from ddhpose.export.bvh import read_pose_bvh
from ddhpose.export.mot import read_mot
from ddhpose.export.opensim import MARKERS
from ddhpose.export.options import ExportOptions
from ddhpose.export.results import load_result
from ddhpose.export.writers import planned_writes, write_all
from ddhpose.lifting.angles import ANGLE_NAMES
from ddhpose.skeleton import H36M

from body_poses import result_of

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"
FPS, START, IDS = 50.0, 30, (4, 7)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)[:40]
    walk = np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)  # y up
    people = [result_of(walk, start=START, fps=FPS, track_id=IDS[0]),
              result_of(walk + [1.5, 0.0, -1.0], start=START + 5, fps=FPS, track_id=IDS[1])]
    out = tmp_path_factory.mktemp("agree") / "clip.npz"
    options = ExportOptions(bvh=True, bvh_units="cm", trc=True, glb=True, angles=True, html=True)
    paths = write_all(planned_writes(people, out, options))
    return people, out, paths


@pytest.fixture(scope="module")
def written_json(written, tmp_path_factory):
    """The same two people written as .json results (the other result format)."""
    people, _, _ = written
    out = tmp_path_factory.mktemp("agree_json") / "clip.json"
    write_all(planned_writes(people, out, ExportOptions()))
    return people, out


def test_every_file_is_written_under_its_persons_id(written):
    people, out, paths = written
    names = {p.name for p in paths}
    for i in IDS:
        for suffix in (".npz", ".bvh", ".trc", ".glb", "_angles.csv", "_angles.mot", "_angles.png"):
            assert f"clip_track{i}{suffix}" in names
    assert "clip.html" in names


def test_the_results_keep_ids_rate_frames_and_metres(written):
    people, out, _ = written
    for person in people:
        back = load_result(out.with_name(f"clip_track{person.track_id}.npz"))
        assert back.track_id == person.track_id and back.fps == FPS and back.units == "metres"
        np.testing.assert_array_equal(back.frames, person.frames)
        np.testing.assert_allclose(back.world_poses, person.world_poses, atol=1e-6)
        with np.load(out.with_name(f"clip_track{person.track_id}.npz")) as data:
            assert list(data["angle_names"]) == list(ANGLE_NAMES)
            np.testing.assert_allclose(data["angles"][:, ANGLE_NAMES.index("right_knee_flexion")],
                                       person.angles["right_knee_flexion"], atol=1e-4)


def test_the_json_results_keep_ids_rate_frames_metres_and_degrees(written_json):
    """Read with Python's own json module (not ddhpose's reader), then with load_result."""
    people, out = written_json
    for person in people:
        path = out.with_name(f"clip_track{person.track_id}.json")
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["track_id"] == person.track_id and doc["fps"] == FPS and doc["units"] == "metres"
        assert doc["angle_units"] == "degrees" and doc["angle_names"] == list(ANGLE_NAMES)
        assert [f["frame"] for f in doc["frames"]] == list(person.frames)
        world = np.asarray([f["world_pose"] for f in doc["frames"]], np.float64)
        np.testing.assert_allclose(world, person.world_poses, atol=1e-5)
        knee = np.asarray([np.nan if f["angles"][ANGLE_NAMES.index("left_knee_flexion")] is None
                           else f["angles"][ANGLE_NAMES.index("left_knee_flexion")] for f in doc["frames"]])
        np.testing.assert_allclose(knee, person.angles["left_knee_flexion"], atol=1e-3)
        back = load_result(path)
        assert back.track_id == person.track_id and back.fps == FPS and back.units == "metres"
        np.testing.assert_array_equal(back.frames, person.frames)


def test_bvh_frame_time_and_metres(written):
    people, out, _ = written
    for person in people:
        path = out.with_name(f"clip_track{person.track_id}.bvh")
        frame_time = float(re.search(r"Frame Time:\s*([\d.eE-]+)", path.read_text()).group(1))
        assert frame_time == pytest.approx(1 / FPS)
        back = read_pose_bvh(path, frame="yup", units="cm").numpy()
        assert len(back) == person.num_frames
        np.testing.assert_allclose(back[:, 0], person.world_poses[:, 0], atol=1e-4)


def test_trc_rate_clock_metres_and_the_models_marker_names(written):
    trc = pytest.importorskip("trc", reason="trc-data-reader (the test extra) reads TRC independently")
    people, out, _ = written
    for person in people:
        data = trc.TRCData()
        data.load(str(out.with_name(f"clip_track{person.track_id}.trc")))
        assert data["Units"] == "m" and float(data["DataRate"]) == FPS
        assert data["Markers"] == [MARKERS[n] for n in H36M.names]
        assert data["Time"][0] == pytest.approx(person.frames[0] / FPS)
        assert data["Frame#"][0] == person.frames[0] + 1
        np.testing.assert_allclose(np.asarray(data["RKnee"]), person.world_poses[:, H36M.index("right_knee")],
                                   atol=1e-5)


def test_glb_clock_and_metres(written):
    pygltflib = pytest.importorskip("pygltflib", reason="pygltflib (the test extra) reads glTF independently")
    people, out, _ = written
    for person in people:
        gltf = pygltflib.GLTF2().load(str(out.with_name(f"clip_track{person.track_id}.glb")))
        sampler = gltf.animations[0].samplers[0]
        times = gltf.accessors[sampler.input]
        assert times.count == person.num_frames
        assert times.min[0] == pytest.approx(person.frames[0] / FPS, abs=1e-5)
        assert times.max[0] == pytest.approx(person.frames[-1] / FPS, abs=1e-5)
        data = gltf.binary_blob()
        view = gltf.bufferViews[gltf.accessors[sampler.output].bufferView]
        root = np.frombuffer(data, np.float32, 3 * person.num_frames, view.byteOffset).reshape(-1, 3)
        np.testing.assert_allclose(root, person.world_poses[:, 0], atol=1e-4)  # metres, the pelvis moving


def read_name(path: Path) -> str:
    """A .mot file's first line: the name OpenSim shows, which carries the person's id."""
    return path.read_text(encoding="utf-8").splitlines()[0]


def test_mot_and_csv_clock_degrees_and_values(written):
    people, out, _ = written
    for person in people:
        header, times, columns = read_mot(out.with_name(f"clip_track{person.track_id}_angles.mot"))
        assert header["inDegrees"] == "yes"
        assert read_name(out.with_name(f"clip_track{person.track_id}_angles.mot")).endswith(f"person {person.track_id}")
        np.testing.assert_allclose(times, person.frames / FPS, atol=1e-6)
        np.testing.assert_allclose(columns["left_knee_flexion"], person.angles["left_knee_flexion"], atol=1e-5)
        with open(out.with_name(f"clip_track{person.track_id}_angles.csv"), newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert [int(r["frame"]) for r in rows] == list(person.frames)
        np.testing.assert_allclose([float(r["time"]) for r in rows], person.frames / FPS, atol=1e-6)
        np.testing.assert_allclose([float(r["right_elbow_flexion"]) for r in rows], person.angles["right_elbow_flexion"],
                                   atol=1e-3)


def test_the_page_holds_the_same_people_clock_and_metres(written):
    people, out, _ = written
    html = out.with_suffix(".html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))
    assert data["fps"] == FPS and data["first"] == START and data["last"] == START + 5 + 39
    assert [p["id"] for p in data["people"]] == list(IDS)
    for page_person, person in zip(data["people"], people):
        assert page_person["first"] == person.frames[0] and page_person["frames"] == person.num_frames
        joints = np.asarray(page_person["joints"], np.float64).reshape(person.num_frames, 17, 3)
        np.testing.assert_allclose(joints, person.world_poses, atol=6e-4)  # metres, to the millimetre
        knee = np.asarray([np.nan if v is None else v for v in page_person["angles"]["right_knee_flexion"]])
        np.testing.assert_allclose(knee, person.angles["right_knee_flexion"], atol=0.06)
