"""Motion files in the world frame read back by independent readers: TRC by trc-data-reader (and
OpenSim where installed), glTF by pygltflib (and the Khronos validator where node has it; CI
requires both with DDHPOSE_REQUIRE_OPENSIM / DDHPOSE_REQUIRE_GLTF_VALIDATOR), BVH by the project's
reader (bvhio in tests/test_bvh_export.py; the glTF skin in tests/test_gltf.py); each one upright,
feet on the floor, in metres, every bone where it was."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.export.bvh import read_pose_bvh
from ddhpose.export.gltf import export_glb
from ddhpose.export.trc import export_trc, format_trc
from ddhpose.export.writers import ExportOptions, planned_writes, write_all
from ddhpose.geometry import decompose
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.feet import foot_contacts, lock_feet
from ddhpose.lifting.world import WorldFrame
from ddhpose.skeleton import H36M

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    """A real walk (CMU 02_01), world frame y up, floor at 0, metres, 25 fps."""
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)
    return np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)


def test_trc_reads_back_with_trc_data_reader(tmp_path, walk):
    trc = pytest.importorskip("trc", reason="trc-data-reader (the test extra) reads TRC independently")
    path = tmp_path / "walk.trc"
    export_trc(path, walk, 25.0)
    data = trc.TRCData()
    data.load(str(path))
    assert data["Units"] == "m" and float(data["DataRate"]) == 25.0 and int(data["NumFrames"]) == len(walk)
    assert data["Markers"] == list(H36M.names)
    for name in ("left_ankle", "head"):
        got = np.asarray(data[name], np.float64)
        np.testing.assert_allclose(got, walk[:, H36M.names.index(name)], atol=1e-6)
    assert data["Time"][1] == pytest.approx(0.04)


def test_trc_reads_back_with_opensim(tmp_path, walk):
    try:
        import opensim as osim
    except ImportError as error:
        if _required("OPENSIM"):
            pytest.fail(f"DDHPOSE_REQUIRE_OPENSIM=1 but OpenSim does not import: {error}")
        pytest.skip("OpenSim (the export extra, Python >= 3.11) reads TRC where installed")
    path = tmp_path / "walk.trc"
    export_trc(path, walk, 25.0)
    table = osim.TimeSeriesTableVec3(str(path))
    assert table.getNumRows() == len(walk) and table.getTableMetaDataAsString("Units") == "m"
    row = table.getRowAtIndex(10)
    ankle = H36M.names.index("left_ankle")
    np.testing.assert_allclose([row[ankle].get(i) for i in range(3)], walk[10, ankle], atol=1e-6)


def test_trc_refuses_bad_input():
    with pytest.raises(ValueError, match=r"positions: expected \(F, 17, 3\)"):
        format_trc(np.zeros((4, 16, 3)), 25.0)
    with pytest.raises(ValueError, match="non-finite"):
        format_trc(np.full((4, 17, 3), np.nan), 25.0)


def _node_world_positions(gltf, data: bytes, frame: int) -> dict[str, np.ndarray]:
    """Forward kinematics of the glTF's nodes at an animation frame, from its accessors alone."""
    def accessor(index: int) -> np.ndarray:
        acc = gltf.accessors[index]
        view = gltf.bufferViews[acc.bufferView]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
        raw = np.frombuffer(data, np.float32, acc.count * width, view.byteOffset + (acc.byteOffset or 0))
        return raw.reshape(acc.count, width)

    animation = gltf.animations[0]
    rotation = {n: np.asarray(node.rotation or [0, 0, 0, 1], float) for n, node in enumerate(gltf.nodes)}
    translation = {n: np.asarray(node.translation or [0, 0, 0], float) for n, node in enumerate(gltf.nodes)}
    for channel in animation.channels:
        values = accessor(animation.samplers[channel.sampler].output)[frame]
        (rotation if channel.target.path == "rotation" else translation)[channel.target.node] = values

    def matrix(q: np.ndarray) -> np.ndarray:
        x, y, z, w = q / np.linalg.norm(q)
        return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                         [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                         [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])

    out = {}

    def visit(n: int, rot: np.ndarray, pos: np.ndarray) -> None:
        here = pos + rot @ translation[n]
        out[gltf.nodes[n].name] = here
        for child in gltf.nodes[n].children or []:
            visit(child, rot @ matrix(rotation[n]), here)

    visit(gltf.scenes[0].nodes[0], np.eye(3), np.zeros(3))
    return out


def test_glb_reads_back_with_pygltflib_and_moves_every_bone(tmp_path, walk):
    pygltflib = pytest.importorskip("pygltflib", reason="pygltflib (the test extra) reads glTF independently")
    path = tmp_path / "walk.glb"
    export_glb(path, walk, 25.0)
    gltf = pygltflib.GLTF2().load(str(path))
    data = gltf.binary_blob()
    assert len(gltf.skins) == 1 and len(gltf.animations) == 1 and gltf.meshes[0].primitives[0].attributes.JOINTS_0
    times = np.frombuffer(data, np.float32, len(walk), gltf.bufferViews[gltf.accessors[
        gltf.animations[0].samplers[0].input].bufferView].byteOffset)
    np.testing.assert_allclose(times, np.arange(len(walk)) / 25.0, atol=1e-6)
    for frame in (0, 30, len(walk) - 1):
        nodes = _node_world_positions(gltf, data, frame)
        got = np.stack([nodes[name] for name in H36M.names])
        np.testing.assert_allclose(got[0], walk[frame, 0], atol=1e-5)  # the root moves over the floor
        direction = decompose(torch.from_numpy(got[None]), H36M)[0]
        expected = decompose(torch.from_numpy(walk[frame][None]), H36M)[0]
        torch.testing.assert_close(direction, expected, atol=1e-4, rtol=0)  # every bone points where it did
        assert got[:, 1].min() > -0.01 and got[:, 1].max() > 1.4  # upright, above the floor, metres


def _required(what: str) -> bool:
    """CI sets DDHPOSE_REQUIRE_<WHAT>=1 where it installed that reader: a missing one fails there."""
    return os.environ.get(f"DDHPOSE_REQUIRE_{what}") == "1"


def test_glb_passes_the_khronos_validator(tmp_path, walk):
    if shutil.which("node") is None:
        missing = "node is not on PATH"
    else:
        probe = subprocess.run(["node", "-e", "require('gltf-validator')"], capture_output=True, text=True)
        missing = None if probe.returncode == 0 else "node cannot require('gltf-validator') (NODE_PATH?)"
    if missing:
        if _required("GLTF_VALIDATOR"):
            pytest.fail(f"DDHPOSE_REQUIRE_GLTF_VALIDATOR=1 but {missing}")
        pytest.skip(f"the Khronos glTF validator (npm gltf-validator): {missing}")
    path = tmp_path / "walk.glb"
    export_glb(path, walk, 25.0)
    script = ("const v=require('gltf-validator');const fs=require('fs');"
              f"v.validateBytes(new Uint8Array(fs.readFileSync({json.dumps(str(path))})))"
              ".then(r=>console.log(JSON.stringify(r.issues)))")
    issues = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]


def test_every_motion_file_of_a_result_is_upright_on_the_floor(tmp_path, walk):
    contacts = foot_contacts(walk, 25.0)
    world = lock_feet(walk, contacts)
    frames = len(walk)
    result = LiftResult(poses=walk - walk[:, :1], hypotheses=(walk - walk[:, :1])[None],
                        uncertainty=np.zeros((frames, 17)), keypoints_2d=np.zeros((frames, 17, 2)),
                        missing=np.zeros((frames, 17), bool), scores=np.ones((frames, 17)),
                        frames=np.arange(frames), image_size=(1920, 1080), fps=25.0, world_poses=world,
                        foot_contacts=contacts,
                        world_frame=WorldFrame(np.eye(3), np.zeros(3), "test", 0, 0, float("nan"), float("nan")))
    paths = write_all(planned_writes([result], tmp_path / "walk.npz", ExportOptions(bvh=True, trc=True, glb=True)))
    assert [p.suffix for p in paths] == [".npz", ".bvh", ".trc", ".glb"]
    back = read_pose_bvh(paths[1], frame="yup").numpy()  # y up, centimetres in the file
    np.testing.assert_allclose(back[:, 0], world[:, 0], atol=1e-5)  # the root moves with the walk
    assert abs(back[..., 1].min()) < 0.1 and back[..., 1].max() > 1.4  # feet on the floor, head up
    assert (back[:, 10, 1] > back[:, 3, 1] + 1.0).all()  # upright in every frame
