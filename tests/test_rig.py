"""The rig both motion exports use: its node tree, rest offsets, end sites and per-frame rotations,
checked by a forward kinematics written here and against the module's promises (a T-pose rest,
helpers under multi-child joints, the twist from two children, a shortest-arc swing elsewhere)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddhpose.export.rig import H36M_REST_DIRECTIONS, build_rig, shortest_arc
from ddhpose.geometry import compose, decompose
from ddhpose.skeleton import H36M, MPI_INF_3DHP

_NODES = (  # depth first, each helper before the child it carries
    "pelvis", "pelvis_to_right_hip", "right_hip", "right_knee", "right_ankle",
    "pelvis_to_left_hip", "left_hip", "left_knee", "left_ankle",
    "pelvis_to_spine", "spine", "thorax", "thorax_to_neck", "neck", "head",
    "thorax_to_left_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "thorax_to_right_shoulder", "right_shoulder", "right_elbow", "right_wrist",
)


def _motion(frames: int = 12, seed: int = 0) -> torch.Tensor:
    """Poses (F, 17, 3), y up, metres: random bone directions, lengths varying a little."""
    g = torch.Generator().manual_seed(seed)
    direction = torch.nn.functional.normalize(torch.randn(frames, 17, 3, generator=g, dtype=torch.float64), dim=-1)
    length = (0.1 + 0.4 * torch.rand(1, 17, 1, generator=g, dtype=torch.float64)) * (
        1 + 0.05 * torch.randn(frames, 17, 1, generator=g, dtype=torch.float64))
    return compose(direction, length, H36M, root=torch.randn(frames, 3, generator=g, dtype=torch.float64))


def _median(x: torch.Tensor) -> torch.Tensor:
    """The rig's median over frames: the lower middle value for an even count."""
    return x.sort(0).values[(len(x) - 1) // 2]


def _forward(rig) -> tuple[np.ndarray, np.ndarray]:
    """World positions (F, N, 3) and rotations (F, N, 3, 3) of every node."""
    frames, count = rig.rotations.shape[:2]
    pos, rot = np.zeros((frames, count, 3)), np.zeros((frames, count, 3, 3))
    for n, p in enumerate(rig.parents):
        if p < 0:
            pos[:, n], rot[:, n] = rig.root_positions, rig.rotations[:, n]
        else:
            pos[:, n] = pos[:, p] + np.einsum("fij,j->fi", rot[:, p], rig.offsets[n])
            rot[:, n] = rot[:, p] @ rig.rotations[:, n]
    return pos, rot


def _rotation_vector(r: np.ndarray) -> np.ndarray:
    """Axis times angle of rotation matrices (..., 3, 3) (angles below a half turn)."""
    angle = np.arccos(np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    axis = np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
    return axis / np.maximum(2 * np.sin(angle), 1e-12)[..., None] * angle[..., None]


def test_node_tree_offsets_and_end_sites():
    poses = _motion()
    rig = build_rig(poses)
    assert rig.names == _NODES
    assert all(p < n for n, p in enumerate(rig.parents)) and rig.parents[0] == -1
    for n, name in enumerate(rig.names):
        if "_to_" in name:  # a helper: at its joint, its one child the joint it names
            parent, child = name.split("_to_")
            assert rig.joints[n] is None and rig.names[rig.parents[n]] == parent
            assert rig.children(n) == [rig.names.index(child)]
            np.testing.assert_array_equal(rig.offsets[n], 0.0)
        else:
            assert rig.joints[n] == H36M.names.index(name)
    assert rig.children(rig.names.index("pelvis")) == [1, 5, 9]
    _, length = decompose(poses, H36M)
    lengths = _median(length[..., 0]).numpy()
    for j, name in enumerate(H36M.names[1:], start=1):  # the T-pose with the median lengths
        np.testing.assert_allclose(rig.offsets[rig.names.index(name)], np.multiply(H36M_REST_DIRECTIONS[j], lengths[j]),
                                   atol=1e-12)
    np.testing.assert_allclose(rig.offsets[0], _median(poses[:, 0]).numpy(), atol=1e-12)  # the root's median
    np.testing.assert_array_equal(rig.root_positions, poses[:, 0].numpy())
    leaves = {n for n in range(len(rig.names)) if not rig.children(n)}
    assert set(rig.end_sites) == leaves == {rig.names.index(H36M.names[j]) for j in (3, 6, 10, 13, 16)}
    for n in leaves:  # along the last bone, a quarter of it, for display
        np.testing.assert_allclose(rig.end_sites[n], 0.25 * rig.offsets[n], atol=1e-12)


def test_forward_kinematics_reproduces_every_frame():
    poses = _motion(20, seed=1)
    rig = build_rig(poses)
    assert rig.rotations.shape == (20, len(_NODES), 3, 3)
    r = rig.rotations
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    direction, length = decompose(poses, H36M)
    median = _median(length).expand_as(length)
    expected = compose(direction, median, H36M, root=poses[:, 0]).numpy()
    pos, _ = _forward(rig)
    np.testing.assert_allclose(pos[:, [rig.names.index(n) for n in H36M.names]], expected, atol=1e-12)


def test_twist_from_two_children_and_swings_elsewhere():
    poses = _motion(15, seed=2)
    rig = build_rig(poses)
    direction, _ = decompose(poses, H36M)
    _, world = _forward(rig)
    rest = np.asarray(H36M_REST_DIRECTIONS, float)
    # the frame of the first two children not parallel at rest (the hips are opposite: the spine)
    for joint, (a, b) in (("pelvis", (1, 7)), ("thorax", (9, 11))):
        r = world[:, rig.names.index(joint)]
        np.testing.assert_allclose(r @ rest[a], direction[:, a].numpy(), atol=1e-12)
        normal = np.cross(direction[:, a].numpy(), direction[:, b].numpy())
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        np.testing.assert_allclose(r @ np.cross(rest[a], rest[b]) / np.linalg.norm(np.cross(rest[a], rest[b])),
                                   normal, atol=1e-12)
    _assert_swings(rig, rest)


def _assert_swings(rig, rest: np.ndarray) -> None:
    """Helpers and one-child joints turn by the shortest arc from their parent node's frame (no
    twist about the rest bone); leaves continue their last bone (no rotation of their own)."""
    rest = rest / np.linalg.norm(rest, axis=-1, keepdims=True)
    for n, name in enumerate(rig.names):
        kids = rig.children(n)
        if rig.parents[n] >= 0 and (rig.joints[n] is None or len(kids) == 1):
            axis = _rotation_vector(rig.rotations[:, n])
            np.testing.assert_allclose(axis @ rest[rig.joints[kids[0]]], 0.0, atol=1e-9, err_msg=name)
        elif not kids:
            np.testing.assert_allclose(rig.rotations[:, n], np.broadcast_to(np.eye(3), rig.rotations[:, n].shape),
                                       atol=1e-12, err_msg=name)


def test_rest_directions_need_not_be_unit():
    poses = _motion(5, seed=3)
    scaled = [tuple(3.0 * v for v in d) for d in H36M_REST_DIRECTIONS]
    a, b = build_rig(poses), build_rig(poses, H36M, scaled)
    np.testing.assert_allclose(b.offsets, a.offsets, atol=1e-12)
    np.testing.assert_allclose(b.rotations, a.rotations, atol=1e-12)


def test_another_skeleton_rooted_elsewhere():
    up, down, left, right = (0, 1, 0), (0, -1, 0), (1, 0, 0), (-1, 0, 0)
    rest = [up, up, right, right, right, left, left, left, right, down, down, left, down, down, up, up, up]
    g = torch.Generator().manual_seed(4)
    direction = torch.nn.functional.normalize(torch.randn(6, 17, 3, generator=g, dtype=torch.float64), dim=-1)
    poses = compose(direction, torch.full((6, 17, 1), 0.2, dtype=torch.float64), MPI_INF_3DHP,
                    root=torch.randn(6, 3, generator=g, dtype=torch.float64))
    rig = build_rig(poses, MPI_INF_3DHP, rest)
    assert rig.names[0] == "pelvis" and rig.joints[0] == MPI_INF_3DHP.root == 14
    pos, _ = _forward(rig)
    np.testing.assert_allclose(pos[:, [rig.joints.index(j) for j in range(17)]], poses.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="^rest_directions are required for skeletons other than Human3.6M$"):
        build_rig(poses, MPI_INF_3DHP)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"poses: expected \(N, 17, 3\), got \(17, 3\)"):
        build_rig(torch.zeros(17, 3))
    with pytest.raises(ValueError, match=r"poses: expected \(N, 17, 3\), got \(2, 16, 3\)"):
        build_rig(torch.zeros(2, 16, 3))
    with pytest.raises(ValueError, match="^poses contain non-finite values$"):
        build_rig(torch.full((2, 17, 3), float("nan")))
    with pytest.raises(ValueError, match=r"rest_directions: expected \(17, 3\), got \(16, 3\)"):
        build_rig(_motion(2), H36M, H36M_REST_DIRECTIONS[:16])
    parallel = list(H36M_REST_DIRECTIONS)
    parallel[7] = parallel[4]  # the spine along the left hip, the right hip opposite: no frame for the pelvis
    with pytest.raises(ValueError, match=r"children \(1, 4, 7\) have parallel rest directions; no frame for their parent"):
        build_rig(_motion(2), H36M, parallel)


def test_shortest_arc_between_opposite_axes():
    a = torch.eye(3, dtype=torch.float64)  # a batch of three vectors of three: the last axis is the vector's
    r = shortest_arc(a, -a)  # half turns, about axes perpendicular to a
    torch.testing.assert_close((r @ a[..., None])[..., 0], -a)
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(3, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(3, dtype=torch.float64))


def test_shortest_arc_over_any_batch_shape():
    g = torch.Generator().manual_seed(8)
    a = torch.nn.functional.normalize(torch.randn(2, 3, 3, generator=g, dtype=torch.float64), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(2, 3, 3, generator=g, dtype=torch.float64), dim=-1)
    b[0, 0] = -a[0, 0]
    r = shortest_arc(a, b)
    assert r.shape == (2, 3, 3, 3)
    for i in range(2):
        for k in range(3):
            single = shortest_arc(a[i, k], b[i, k])  # one vector: (3,) -> (3, 3)
            assert single.shape == (3, 3)
            torch.testing.assert_close(single @ a[i, k], b[i, k])
            torch.testing.assert_close(r[i, k], single)
    diagonal = torch.nn.functional.normalize(torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]],
                                                          dtype=torch.float64), dim=-1)
    torch.testing.assert_close((shortest_arc(diagonal, -diagonal) @ diagonal[..., None])[..., 0], -diagonal)


def test_a_small_nameless_skeleton():
    # 0 -> 1 -> 2 -> {3, 4}, 4 -> 5: a root with one child, a chain, a joint with two children,
    # rest directions of any length (shorter and longer than 1)
    from ddhpose.skeleton import Skeleton

    sk = Skeleton(parents=(-1, 0, 1, 2, 2, 4), joints_left=(), joints_right=())
    rest = np.array([(0, 0.5, 0), (0, 0.5, 0), (0, 2.0, 0), (2.0, 0, 0), (0, 0, 0.5), (0, -3.0, 0)])
    g = torch.Generator().manual_seed(5)
    direction = torch.nn.functional.normalize(torch.randn(5, 6, 3, generator=g, dtype=torch.float64), dim=-1)
    length = torch.tensor([0.0, 0.3, 0.35, 0.2, 0.25, 0.4], dtype=torch.float64)[:, None].expand(5, 6, 1)
    poses = compose(direction, length, sk, root=torch.randn(5, 3, generator=g, dtype=torch.float64))
    rig = build_rig(poses, sk, rest)
    assert rig.names == ("joint0", "joint1", "joint2", "joint2_to_joint3", "joint3", "joint2_to_joint4", "joint4",
                         "joint5")
    np.testing.assert_allclose(rig.offsets[[1, 2, 4, 6, 7]],
                               [[0, 0.3, 0], [0, 0.35, 0], [0.2, 0, 0], [0, 0, 0.25], [0, -0.4, 0]], atol=1e-12)
    pos, _ = _forward(rig)
    np.testing.assert_allclose(pos[:, [rig.joints.index(j) for j in range(6)]], poses.numpy(), atol=1e-12)
    _assert_swings(rig, rest)


def test_float32_poses_give_the_rig_of_their_float64_values():
    poses = _motion(4, seed=6).float()
    a, b = build_rig(poses), build_rig(poses.double())
    assert a.rotations.dtype == a.offsets.dtype == np.float64
    np.testing.assert_array_equal(a.rotations, b.rotations)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def test_parallel_children_fall_back_to_a_swing_of_the_first():
    poses = _motion(5, seed=7)
    direction, length = decompose(poses, H36M)
    direction[2, 11] = direction[2, 9]  # frame 2: the left shoulder along the neck, no thorax frame
    poses = compose(direction, length, H36M, root=poses[:, 0])
    rig = build_rig(poses)
    _, world = _forward(rig)
    thorax = world[:, rig.names.index("thorax")]
    neck_rest = np.asarray(H36M_REST_DIRECTIONS[9], float)
    np.testing.assert_allclose(thorax @ neck_rest, direction[:, 9].numpy(), atol=1e-12)  # every frame
    parent = world[2, rig.names.index("spine")]  # the swing from the spine's frame: no twist about the neck
    swing = _rotation_vector(parent.T @ thorax[2])
    assert abs(swing @ neck_rest) < 1e-9
