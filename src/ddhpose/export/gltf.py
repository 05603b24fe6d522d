"""glTF 2.0 binary (.glb): the skeleton as a skinned, animated stick figure that opens in Blender,
three.js and any glTF viewer.

The file holds one scene: the rig of :mod:`ddhpose.export.rig` as a node tree (y up, metres,
glTF's own convention), a skin over its nodes with their inverse bind matrices, a mesh of one
thin four-sided spindle per bone (each rigidly bound to the node that carries its bone), and one
animation: the root's translation and every node's rotation per frame (linear
interpolation, quaternions x y z w).
"""
from __future__ import annotations

import json
import os
import struct

import numpy as np
import roma
import torch

from ddhpose.export.rig import Rig, build_rig
from ddhpose.files import atomic_path

_FLOAT, _USHORT = 5126, 5123  # glTF component types
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
#: A bone's spindle: its widest girth as a fraction of its length.
SPINDLE_WIDTH = 0.12


def _spindle(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (6, 3) and triangle indices (8, 3) of a bone from ``start`` to ``end``."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    u = axis / max(length, 1e-9)
    helper = np.array([1.0, 0, 0]) if abs(u[0]) < 0.9 else np.array([0, 1.0, 0])
    a = np.cross(u, helper)
    a /= np.linalg.norm(a)
    b = np.cross(u, a)
    r = SPINDLE_WIDTH * length
    waist = start + 0.2 * axis
    vertices = np.stack([start, waist + r * a, waist + r * b, waist - r * a, waist - r * b, end])
    faces = np.array([[0, 2, 1], [0, 3, 2], [0, 4, 3], [0, 1, 4], [5, 1, 2], [5, 2, 3], [5, 3, 4], [5, 4, 1]])
    return vertices, faces


def _rest_positions(rig: Rig) -> np.ndarray:
    """Each node's position in the rest pose (N, 3): rest rotations are identity."""
    out = np.zeros((len(rig.names), 3))
    for n, p in enumerate(rig.parents):
        out[n] = rig.offsets[n] + (out[p] if p >= 0 else 0.0)
    return out


class _Buffer:
    """The binary chunk and its buffer views / accessors."""

    def __init__(self) -> None:
        self.data, self.views, self.accessors = bytearray(), [], []

    def add(self, array: np.ndarray, kind: str, component: int, target: int | None = None,
            bounds: bool = False) -> int:
        raw = np.ascontiguousarray(array).tobytes()
        self.data += b"\0" * (-len(self.data) % 4)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": len(raw)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        self.data += raw
        accessor = {"bufferView": len(self.views) - 1, "componentType": component, "count": len(array), "type": kind}
        if bounds:
            flat = np.asarray(array).reshape(len(array), -1)
            accessor["min"], accessor["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def gltf_document(positions: np.ndarray, fps: float, *, start_frame: int = 0) -> tuple[dict, bytes]:
    """(the glTF JSON, the binary buffer) animating ``positions`` (F, J, 3) Human3.6M joints,
    metres, world frame (y up); its first keyframe is video frame ``start_frame``, at
    ``start_frame / fps`` seconds (the clock of the TRC, the angle files and the page)."""
    if not fps > 0:
        raise ValueError(f"fps: expected a positive frame rate, got {fps}")
    if start_frame < 0:
        raise ValueError(f"start_frame: expected a video frame index >= 0, got {start_frame}")
    rig = build_rig(positions)
    frames, count = rig.rotations.shape[:2]
    rest = _rest_positions(rig)
    buf = _Buffer()
    # the mesh: one spindle per bone, bound to the node whose frame carries the bone
    vertices, faces, joints = [], [], []
    for node, parent in enumerate(rig.parents):
        if rig.joints[node] is None or parent < 0:
            continue
        v, f = _spindle(rest[parent], rest[node])
        faces.append(f + 6 * len(vertices))
        vertices.append(v)
        joints.append(parent)
    vertices = np.concatenate(vertices).astype(np.float32)
    faces = np.concatenate(faces).astype(np.uint16)
    skin_joints = np.repeat(np.asarray(joints, np.uint16), 6)[:, None] * np.array([[1, 0, 0, 0]], np.uint16)
    skin_weights = np.tile(np.array([[1.0, 0, 0, 0]], np.float32), (len(vertices), 1))
    attributes = {"POSITION": buf.add(vertices, "VEC3", _FLOAT, _ARRAY_BUFFER, bounds=True),
                  "JOINTS_0": buf.add(skin_joints, "VEC4", _USHORT, _ARRAY_BUFFER),
                  "WEIGHTS_0": buf.add(skin_weights, "VEC4", _FLOAT, _ARRAY_BUFFER)}
    indices = buf.add(faces.reshape(-1), "SCALAR", _USHORT, _ELEMENT_ARRAY_BUFFER)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (count, 1, 1))
    inverse_bind[:, :3, 3] = -rest
    inverse_bind = inverse_bind.transpose(0, 2, 1).reshape(count, 16)  # column-major
    skin = {"joints": list(range(count)), "skeleton": 0, "inverseBindMatrices": buf.add(inverse_bind, "MAT4", _FLOAT)}
    # the animation
    times = buf.add(((start_frame + np.arange(frames)) / fps).astype(np.float32), "SCALAR", _FLOAT, bounds=True)
    quats = roma.rotmat_to_unitquat(torch.from_numpy(rig.rotations)).numpy()  # (F, N, 4) x y z w
    quats = _continuous(quats)
    samplers = [{"input": times, "output": buf.add(rig.root_positions.astype(np.float32), "VEC3", _FLOAT),
                 "interpolation": "LINEAR"}]
    channels = [{"sampler": 0, "target": {"node": 0, "path": "translation"}}]
    for node in range(count):
        samplers.append({"input": times, "output": buf.add(quats[:, node].astype(np.float32), "VEC4", _FLOAT),
                         "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": "rotation"}})
    nodes = []
    for node in range(count):
        entry = {"name": rig.names[node], "translation": rig.offsets[node].tolist(),
                 "rotation": quats[0, node].astype(float).tolist()}
        kids = rig.children(node)
        if kids:
            entry["children"] = kids
        nodes.append(entry)
    nodes[0]["translation"] = rig.root_positions[0].tolist()
    nodes.append({"name": "skeleton_mesh", "mesh": 0, "skin": 0})
    document = {
        "asset": {"version": "2.0", "generator": "ddhpose"},
        "scene": 0, "scenes": [{"name": "ddhpose", "nodes": [0, count]}], "nodes": nodes,
        "meshes": [{"name": "bones", "primitives": [{"attributes": attributes, "indices": indices, "mode": 4}]}],
        "skins": [skin],
        "animations": [{"name": "motion", "samplers": samplers, "channels": channels}],
        "buffers": [{"byteLength": len(buf.data)}], "bufferViews": buf.views, "accessors": buf.accessors,
    }
    return document, bytes(buf.data)


def _continuous(quats: np.ndarray) -> np.ndarray:
    """Flip quaternions (F, N, 4) so each is on the same side as the frame before (q and -q are
    one rotation; linear interpolation between opposite signs would swing the long way)."""
    out = quats.copy()
    for f in range(1, len(out)):
        flip = (out[f] * out[f - 1]).sum(-1) < 0
        out[f, flip] *= -1
    return out


def glb_bytes(document: dict, binary: bytes) -> bytes:
    """The .glb container: header, JSON chunk (space-padded), BIN chunk (zero-padded)."""
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary = binary + b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON") + text
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)


def export_glb(path: str | os.PathLike, positions: np.ndarray, fps: float) -> None:
    """Write ``positions`` (F, J, 3), metres, world frame (y up), as an animated .glb (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(glb_bytes(*gltf_document(positions, fps)))
