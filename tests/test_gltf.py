"""The .glb export read by pygltflib and checked against the glTF 2.0 specification, with every
transform computed here from the file alone: the container, the skin (inverse bind matrices
against the node hierarchy, skinned vertices at every keyframe), the animation (joint positions
at every keyframe, unit and continuous quaternions) and the mesh."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.export.gltf import SPINDLE_WIDTH, export_glb, glb_bytes, gltf_document
from ddhpose.geometry import compose, decompose
from ddhpose.skeleton import H36M

pygltflib = pytest.importorskip("pygltflib", reason="pygltflib (the test extra) reads glTF independently")

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"
FPS = 25.0
_COMPONENT = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


@pytest.fixture(scope="module")
def spin() -> np.ndarray:
    """A real walk (CMU 02_01; y up, metres) turned one and a half turns about the vertical over
    the clip: every joint's rotation passes half a turn, where a quaternion's sign must carry on."""
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)
    walk = np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)
    angle = np.linspace(0.0, 3 * np.pi, len(walk))
    c, s = np.cos(angle), np.sin(angle)
    turn = np.zeros((len(walk), 3, 3))
    turn[:, 0, 0], turn[:, 0, 2], turn[:, 1, 1], turn[:, 2, 0], turn[:, 2, 2] = c, s, 1.0, -s, c
    return np.einsum("fij,fkj->fki", turn, walk)


@pytest.fixture(scope="module")
def expected(spin) -> np.ndarray:
    """What the animation must show (F, 17, 3): the bone directions with median lengths, the root
    where it was."""
    x = torch.from_numpy(spin)
    direction, length = decompose(x, H36M)
    median = length.median(0, keepdim=True).values.expand_as(length)
    return compose(direction, median, H36M, root=x[:, 0]).numpy()


@pytest.fixture
def glb(tmp_path, spin):
    """(the document read by pygltflib, its binary chunk); written anew for every test, so that
    mutation testing (mutmut) sees each test call the writer."""
    path = tmp_path / "spin.glb"
    export_glb(path, spin, FPS)
    gltf = pygltflib.GLTF2().load(str(path))
    return gltf, gltf.binary_blob()


def _accessor(gltf, blob: bytes, index: int) -> np.ndarray:
    """(count, width) values of an accessor, by its component type, type, offsets and stride."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = np.dtype(_COMPONENT[acc.componentType])
    width = _WIDTH[acc.type]
    stride = view.byteStride or dtype.itemsize * width
    start = view.byteOffset + (acc.byteOffset or 0)
    assert start + stride * (acc.count - 1) + dtype.itemsize * width <= view.byteOffset + view.byteLength
    return np.ndarray((acc.count, width), dtype, blob, start, (stride, dtype.itemsize)).copy()


def _rotation(q: np.ndarray) -> np.ndarray:
    """3x3 matrix of a unit quaternion (x, y, z, w), as the glTF spec defines it."""
    x, y, z, w = (float(v) for v in q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def _trs(translation, rotation, scale) -> np.ndarray:
    """A node's local matrix T * R * S (4, 4)."""
    m = np.eye(4)
    m[:3, :3] = _rotation(rotation) * np.asarray(scale, float)
    m[:3, 3] = translation
    return m


def _node_defaults(gltf) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [(np.asarray(n.translation or [0, 0, 0], float), np.asarray(n.rotation or [0, 0, 0, 1], float),
             np.asarray(n.scale or [1, 1, 1], float)) for n in gltf.nodes]


def _global_matrices(gltf, local: list[np.ndarray]) -> list[np.ndarray]:
    """Every node's world matrix from the scene's node tree (children lists)."""
    out: list[np.ndarray | None] = [None] * len(gltf.nodes)

    def visit(n: int, parent: np.ndarray) -> None:
        assert out[n] is None, f"node {n} reached twice: not a tree"
        out[n] = parent @ local[n]
        for child in gltf.nodes[n].children or []:
            visit(child, out[n])

    for root in gltf.scenes[gltf.scene].nodes:
        visit(root, np.eye(4))
    return out


def _keyframe_matrices(gltf, blob: bytes, frame: int) -> list[np.ndarray]:
    """World matrices of every node at keyframe ``frame`` of the one animation."""
    trs = [list(t) for t in _node_defaults(gltf)]
    animation = gltf.animations[0]
    for channel in animation.channels:
        value = _accessor(gltf, blob, animation.samplers[channel.sampler].output)[frame].astype(float)
        slot = {"translation": 0, "rotation": 1, "scale": 2}[channel.target.path]
        trs[channel.target.node][slot] = value
    return _global_matrices(gltf, [_trs(*t) for t in trs])


def _names(gltf) -> dict[str, int]:
    return {n.name: i for i, n in enumerate(gltf.nodes)}


def test_joint_positions_at_every_keyframe(glb, expected):
    gltf, blob = glb
    nodes = [_names(gltf)[name] for name in H36M.names]
    for frame in range(len(expected)):
        world = _keyframe_matrices(gltf, blob, frame)
        got = np.stack([world[n][:3, 3] for n in nodes])
        np.testing.assert_allclose(got, expected[frame], atol=2e-5, err_msg=f"keyframe {frame}")
    # without the animation the nodes hold its first frame
    rest = _global_matrices(gltf, [_trs(*t) for t in _node_defaults(gltf)])
    np.testing.assert_allclose(np.stack([rest[n][:3, 3] for n in nodes]), expected[0], atol=2e-5)


def test_keyframe_times_channels_and_interpolation(glb, spin):
    gltf, blob = glb
    (animation,) = gltf.animations
    frames = len(spin)
    skin_joints = gltf.skins[0].joints
    targets = [(c.target.node, c.target.path) for c in animation.channels]
    assert len(set(targets)) == len(targets)
    assert sorted(n for n, p in targets if p == "rotation") == sorted(skin_joints)  # every joint rotates
    (root,) = [n for n, p in targets if p == "translation"]
    assert root == gltf.skins[0].skeleton and root in gltf.scenes[gltf.scene].nodes
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        assert sampler.interpolation == "LINEAR"
        times = gltf.accessors[sampler.input]
        assert times.type == "SCALAR" and times.componentType == 5126
        values = _accessor(gltf, blob, sampler.input)[:, 0]
        np.testing.assert_allclose(values, np.arange(frames) / FPS, atol=1e-6)
        assert times.min == [values.min()] and times.max == [values.max()]  # required on inputs
        output = gltf.accessors[sampler.output]
        assert output.count == frames and output.componentType == 5126
        assert output.type == {"rotation": "VEC4", "translation": "VEC3"}[channel.target.path]
    translation = [c for c in animation.channels if c.target.path == "translation"][0]
    np.testing.assert_allclose(_accessor(gltf, blob, animation.samplers[translation.sampler].output),
                               spin[:, 0], atol=1e-6)  # the root moves over the floor with the walk


def test_keyframe_quaternions_are_unit_and_continuous(glb):
    gltf, blob = glb
    animation = gltf.animations[0]
    turned = 0.0
    for channel in animation.channels:
        if channel.target.path != "rotation":
            continue
        q = _accessor(gltf, blob, animation.samplers[channel.sampler].output).astype(np.float64)
        np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-6)
        dots = (q[1:] * q[:-1]).sum(-1)
        assert dots.min() >= 0, f"node {channel.target.node}: keyframes on opposite sides, linear " \
                                f"interpolation would swing the long way round"
        turned = max(turned, 2 * np.arccos(np.clip(np.abs(dots), 0, 1)).sum())
    # the test has teeth: some node turns more than a full turn, so any sign convention that is a
    # function of the rotation alone would have to flip on the way
    assert turned > 2 * math.pi


def test_quaternions_continue_from_the_first_keyframe(tmp_path, spin):
    # a body yawing 0.25 rad a frame from 26 starting angles round the circle: wherever a sign
    # convention of single rotations flips, some clip flips between its first two keyframes
    for k, start in enumerate(np.arange(26) * 2 * np.pi / 26):
        angle = start + 0.25 * np.arange(2)
        c, s = np.cos(angle), np.sin(angle)
        turn = np.zeros((2, 3, 3))
        turn[:, 0, 0], turn[:, 0, 2], turn[:, 1, 1], turn[:, 2, 0], turn[:, 2, 2] = c, s, 1.0, -s, c
        export_glb(tmp_path / f"{k}.glb", np.einsum("fij,kj->fki", turn, spin[0]), FPS)
        gltf = pygltflib.GLTF2().load(str(tmp_path / f"{k}.glb"))
        blob = gltf.binary_blob()
        for channel in gltf.animations[0].channels:
            if channel.target.path == "rotation":
                q = _accessor(gltf, blob, gltf.animations[0].samplers[channel.sampler].output)
                assert (q[0] * q[1]).sum() >= 0, f"start {start:.2f} rad, node {channel.target.node}"


def test_inverse_bind_matrices_invert_each_joints_bind_transform(glb, spin):
    gltf, blob = glb
    (skin,) = gltf.skins
    matrices = gltf.accessors[skin.inverseBindMatrices]
    assert matrices.type == "MAT4" and matrices.componentType == 5126 and matrices.count == len(skin.joints)
    inverse_bind = _accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    # the bind pose, from the node hierarchy alone: the rest T-pose (every node unrotated, at its
    # translation from its parent), the root at the motion's median position (per axis, the lower
    # of the two middle values for an even count, as the rig takes it)
    local = []
    for n, (translation, _, scale) in enumerate(_node_defaults(gltf)):
        if n == skin.skeleton:
            translation = np.sort(spin[:, 0], axis=0)[(len(spin) - 1) // 2]
        local.append(_trs(translation, [0, 0, 0, 1], scale))
    bind = _global_matrices(gltf, local)
    for k, node in enumerate(skin.joints):
        np.testing.assert_allclose(inverse_bind[k], np.linalg.inv(bind[node]), atol=1e-5,
                                   err_msg=f"joint {gltf.nodes[node].name}")


def _skinned(gltf, blob: bytes, frame: int) -> np.ndarray:
    """The mesh's vertices (V, 3) at a keyframe by linear blend skinning (glTF 2.0, 3.7.3)."""
    primitive = gltf.meshes[0].primitives[0]
    vertices = _accessor(gltf, blob, primitive.attributes.POSITION).astype(float)
    joints = _accessor(gltf, blob, primitive.attributes.JOINTS_0)
    weights = _accessor(gltf, blob, primitive.attributes.WEIGHTS_0).astype(float)
    skin = gltf.skins[0]
    inverse_bind = _accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    world = _keyframe_matrices(gltf, blob, frame)
    joint_matrix = np.stack([world[node] @ inverse_bind[k] for k, node in enumerate(skin.joints)])
    skinning = np.einsum("vk,vkij->vij", weights, joint_matrix[joints])
    homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], 1)
    return np.einsum("vij,vj->vi", skinning, homogeneous)[:, :3]


def _spindles(gltf, blob: bytes) -> list[np.ndarray]:
    """The mesh's closed pieces: vertex indices of each connected set of triangles."""
    faces = _accessor(gltf, blob, gltf.meshes[0].primitives[0].indices).reshape(-1, 3)
    group = list(range(faces.max() + 1))

    def find(v: int) -> int:
        while group[v] != v:
            v = group[v]
        return v

    for a, b, c in faces.tolist():
        group[find(b)] = find(a)
        group[find(c)] = find(a)
    pieces: dict[int, list[int]] = {}
    for v in range(len(group)):
        pieces.setdefault(find(v), []).append(v)
    return [np.array(p) for p in pieces.values()]


def _apexes(points: np.ndarray) -> tuple[int, int]:
    """The two points of a spindle farthest apart: its ends."""
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return np.unravel_index(d.argmax(), d.shape)


def test_skinned_bones_follow_the_result_at_every_keyframe(glb, expected):
    gltf, blob = glb
    pieces = _spindles(gltf, blob)
    assert len(pieces) == len(H36M.bones)  # one spindle per bone
    first = _skinned(gltf, blob, 0)
    bones = {}
    for piece in pieces:  # find each spindle's bone from its ends in the first frame
        a, b = _apexes(first[piece])
        ends = (piece[a], piece[b])
        for parent, child in H36M.bones:
            for start, end in (ends, ends[::-1]):
                if (np.linalg.norm(first[start] - expected[0, parent]) < 1e-4
                        and np.linalg.norm(first[end] - expected[0, child]) < 1e-4):
                    bones[(parent, child)] = (start, end, piece)
    assert sorted(bones) == sorted(H36M.bones)
    for frame in range(len(expected)):
        skinned = _skinned(gltf, blob, frame)
        for (parent, child), (start, end, piece) in bones.items():
            np.testing.assert_allclose(skinned[[start, end]], expected[frame, [parent, child]], atol=3e-5,
                                       err_msg=f"bone {H36M.names[child]} at keyframe {frame}")
            # the spindle is rigid on its bone: the waist keeps its girth around the bone's axis
            axis = skinned[end] - skinned[start]
            length = np.linalg.norm(axis)
            waist = np.setdiff1d(piece, [start, end])
            along = (skinned[waist] - skinned[start]) @ axis / length ** 2
            radius = np.linalg.norm(skinned[waist] - skinned[start] - along[:, None] * axis, axis=-1)
            assert ((along > 0) & (along < 1)).all()
            np.testing.assert_allclose(radius, SPINDLE_WIDTH * length, rtol=1e-4)


def test_mesh_is_closed_outward_facing_triangles(glb):
    gltf, blob = glb
    (primitive,) = gltf.meshes[0].primitives
    assert primitive.mode in (None, 4)  # TRIANGLES
    vertices = _accessor(gltf, blob, primitive.attributes.POSITION).astype(float)
    position = gltf.accessors[primitive.attributes.POSITION]
    assert position.type == "VEC3" and position.componentType == 5126
    assert position.min == vertices.min(0).tolist() and position.max == vertices.max(0).tolist()  # required
    indices = gltf.accessors[primitive.indices]
    assert indices.type == "SCALAR" and indices.componentType in (5121, 5123, 5125)
    faces = _accessor(gltf, blob, primitive.indices).reshape(-1, 3).astype(int)
    assert faces.max() < len(vertices) == position.count
    for piece in _spindles(gltf, blob):
        assert len(piece) == 6  # two ends and four around the waist
        mine = faces[np.isin(faces, piece).all(1)]
        edges = {}
        for tri in mine.tolist():
            for e in ((tri[0], tri[1]), (tri[1], tri[2]), (tri[2], tri[0])):
                edges[e] = edges.get(e, 0) + 1
        assert all(edges.get((b, a)) == 1 for a, b in edges) and set(edges.values()) == {1}  # closed, consistent
        centre = vertices[piece].mean(0)
        a, b, c = (vertices[mine[:, i]] for i in range(3))
        normal = np.cross(b - a, c - a)
        assert ((normal * ((a + b + c) / 3 - centre)).sum(-1) > 0).all()  # counter-clockwise from outside


def test_every_vertex_follows_one_joint_with_full_weight(glb):
    gltf, blob = glb
    primitive = gltf.meshes[0].primitives[0]
    joints = _accessor(gltf, blob, primitive.attributes.JOINTS_0)
    weights = _accessor(gltf, blob, primitive.attributes.WEIGHTS_0)
    assert gltf.accessors[primitive.attributes.JOINTS_0].type == "VEC4"
    assert gltf.accessors[primitive.attributes.JOINTS_0].componentType in (5121, 5123)
    assert gltf.accessors[primitive.attributes.WEIGHTS_0].componentType == 5126
    np.testing.assert_array_equal(weights, np.tile([[1.0, 0, 0, 0]], (len(weights), 1)))
    assert (joints[:, 1:] == 0).all() and joints[:, 0].max() < len(gltf.skins[0].joints)
    for piece in _spindles(gltf, blob):
        assert len(set(joints[piece, 0].tolist())) == 1  # a bone's spindle is rigid


def test_scene_skin_and_buffer_views_follow_the_spec(glb):
    gltf, blob = glb
    assert gltf.asset.version == "2.0" and gltf.scene == 0
    (mesh_node,) = [n for n in gltf.nodes if n.mesh is not None]
    assert mesh_node.skin == 0 and mesh_node.mesh == 0 and mesh_node.children in (None, [])
    skin = gltf.skins[0]
    assert sorted(skin.joints + [gltf.nodes.index(mesh_node)]) == list(range(len(gltf.nodes)))
    assert gltf.scenes[0].nodes == [skin.skeleton, gltf.nodes.index(mesh_node)]
    assert {n.name for n in gltf.nodes} >= set(H36M.names)
    assert len(gltf.buffers) == 1 and gltf.buffers[0].byteLength == len(blob)
    primitive = gltf.meshes[0].primitives[0]
    vertex = {getattr(primitive.attributes, a) for a in ("POSITION", "JOINTS_0", "WEIGHTS_0")}
    for index, acc in enumerate(gltf.accessors):
        view = gltf.bufferViews[acc.bufferView]
        assert view.buffer == 0 and view.byteOffset % 4 == 0 and view.byteOffset + view.byteLength <= len(blob)
        want = _ARRAY_BUFFER if index in vertex else _ELEMENT_ARRAY_BUFFER if index == primitive.indices else None
        assert view.target == want  # animation and skin data: no target (spec 3.6.1)
        element = np.dtype(_COMPONENT[acc.componentType]).itemsize * _WIDTH[acc.type]
        assert view.byteLength == acc.count * element and (view.byteStride or element) == element  # no unused bytes
    assert len(gltf.bufferViews) == len(gltf.accessors)


def test_glb_container_layout(tmp_path, spin):
    path = tmp_path / "a.glb"
    export_glb(path, spin[:5], FPS)
    data = path.read_bytes()
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_length, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON" and json_length % 4 == 0
    text = data[20:20 + json_length]
    document = json.loads(text.decode("utf-8"))
    assert text == text.rstrip(b" ") + b" " * (len(text) - len(text.rstrip(b" ")))  # padded with spaces
    bin_length, bin_type = struct.unpack_from("<I4s", data, 20 + json_length)
    assert bin_type == b"BIN\0" and bin_length % 4 == 0 and 28 + json_length + bin_length == len(data)
    assert document["asset"]["version"] == "2.0"  # required (pygltflib would default it)
    buffer_length = document["buffers"][0]["byteLength"]
    assert bin_length - 4 < buffer_length <= bin_length
    assert set(data[28 + json_length + buffer_length:]) <= {0}  # padded with zeros
    assert data == glb_bytes(*gltf_document(spin[:5], FPS))  # what export_glb wrote, and nothing else
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.glb"]


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, content) of each GLB chunk, after checking the header's length."""
    assert data[:4] == b"glTF" and struct.unpack_from("<II", data, 4) == (2, len(data))
    chunks, at = [], 12
    while at < len(data):
        length, kind = struct.unpack_from("<I4s", data, at)
        assert length % 4 == 0, f"chunk {kind} of {length} bytes: chunks are 4-byte aligned"
        chunks.append((kind, data[at + 8:at + 8 + length]))
        at += 8 + length
    assert at == len(data)
    return chunks


@pytest.mark.parametrize("extra", range(4))
def test_glb_chunks_are_padded_whatever_their_length(extra):
    # JSON of every length modulo 4, and a binary of 5 bytes: spaces after the JSON, zeros after
    # the binary, each chunk a multiple of 4 bytes
    document = {"asset": {"version": "2.0"}, "buffers": [{"byteLength": 5}], "extras": {"pad": "x" * extra}}
    (json_type, text), (bin_type, binary) = _chunks(glb_bytes(document, b"\1\2\3\4\5"))
    assert (json_type, bin_type) == (b"JSON", b"BIN\0")
    assert json.loads(text) == document and text == text.rstrip(b" ") + b" " * (len(text) - len(text.rstrip(b" ")))
    assert binary == b"\1\2\3\4\5\0\0\0"


def test_a_rate_below_one_frame_a_second(spin):
    document, binary = gltf_document(spin[:3], 0.5)
    gltf = pygltflib.GLTF2().load_from_bytes(glb_bytes(document, binary))
    times = _accessor(gltf, gltf.binary_blob(), gltf.animations[0].samplers[0].input)[:, 0]
    np.testing.assert_allclose(times, [0.0, 2.0, 4.0])


@pytest.mark.parametrize("fps", [0.0, -25.0, float("nan")])
def test_a_rate_that_is_not_positive_is_refused(tmp_path, spin, fps):
    with pytest.raises(ValueError, match=f"fps: expected a positive frame rate, got {fps}"):
        export_glb(tmp_path / "bad.glb", spin[:3], fps)
    assert list(tmp_path.iterdir()) == []


def test_a_negative_start_frame_is_refused(tmp_path, spin):
    with pytest.raises(ValueError, match=r"^start_frame: expected a video frame index >= 0, got -2$"):
        gltf_document(spin[:3], 25.0, start_frame=-2)
