from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.data.bvh import euler_matrices, forward_kinematics, read_bvh
from ddhpose.export.bvh import export_bvh, format_pose_bvh, matrix_to_euler, read_pose_bvh
from ddhpose.export.rig import shortest_arc
from ddhpose.geometry import compose, decompose
from ddhpose.skeleton import H36M

FIXTURES = Path(__file__).parent / "fixtures"


def _median_length_poses(poses: torch.Tensor) -> torch.Tensor:
    """What the export must reproduce: the input's bone directions with median lengths."""
    direction, length = decompose(poses, H36M)
    median = length.median(0, keepdim=True).values.expand_as(length)
    return compose(direction, median, H36M, root=poses[:, 0])


def _random_motion(frames: int = 30, seed: int = 0) -> torch.Tensor:
    """World poses (z up, metres) with random bone directions and slightly varying lengths."""
    g = torch.Generator().manual_seed(seed)
    direction = torch.randn(frames, 17, 3, generator=g, dtype=torch.float64)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    direction[:, 4] = -direction[:, 1]  # hips opposite each other, as in Human3.6M
    length = 0.1 + 0.4 * torch.rand(1, 17, 1, generator=g, dtype=torch.float64)
    length = length * (1 + 0.05 * torch.randn(frames, 17, 1, generator=g, dtype=torch.float64))
    root = torch.randn(frames, 3, generator=g, dtype=torch.float64)
    return compose(direction, length, H36M, root=root)


@pytest.mark.parametrize("frame", ["world", "camera"])
def test_round_trip_random_motion(tmp_path, frame):
    poses = _random_motion()
    path = tmp_path / "out.bvh"
    export_bvh(path, poses, fps=50, frame=frame)
    back = read_pose_bvh(path, frame=frame)
    err = (back - _median_length_poses(poses)).norm(dim=-1)
    assert err.max() < 1e-5  # 0.01 mm: only the file's 6 decimals are lost
    assert read_bvh(path).fps == pytest.approx(50.0)


def test_round_trip_real_frames(tmp_path):
    joints_cam = np.load(FIXTURES / "real_frames_check.npz")["joints_cam"]  # (4, 17, 3) camera frame
    poses = torch.from_numpy(joints_cam).double()
    export_bvh(tmp_path / "real.bvh", poses, frame="camera")
    back = read_pose_bvh(tmp_path / "real.bvh", frame="camera")
    assert (back - _median_length_poses(poses)).norm(dim=-1).max() < 1e-5


def test_round_trip_opposite_and_rest_directions(tmp_path):
    # every bone exactly along (frame 0) or against (frame 1) its T-pose rest direction: the
    # shortest-arc edge cases. Camera axes map to BVH axes by (x, -y, -z).
    rest = torch.tensor([(0, 1, 0), (-1, 0, 0), (0, -1, 0), (0, -1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0),
                         (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0), (1, 0, 0), (1, 0, 0),
                         (-1, 0, 0), (-1, 0, 0), (-1, 0, 0)], dtype=torch.float64)
    rest_cam = rest * torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    direction = torch.stack((rest_cam, -rest_cam))
    direction[1, [1, 4]] = rest_cam[[1, 4]]  # the hips stay opposite each other
    length = torch.linspace(0.1, 0.5, 17, dtype=torch.float64)[:, None].expand(2, 17, 1)
    poses = compose(direction, length, H36M)
    export_bvh(tmp_path / "edge.bvh", poses, frame="camera")
    back = read_pose_bvh(tmp_path / "edge.bvh", frame="camera")
    assert (back - _median_length_poses(poses)).norm(dim=-1).max() < 1e-5


def test_hierarchy_follows_the_skeleton(tmp_path):
    poses = _random_motion(11)
    export_bvh(tmp_path / "h.bvh", poses)
    bvh = read_bvh(tmp_path / "h.bvh")
    joints = {j.name: j for j in bvh.joints}
    assert set(H36M.names) <= set(joints)
    assert bvh.joints[0].name == "pelvis" and len(bvh.joints[0].channels) == 6
    assert all(len(joints[n].channels) == 3 for n in H36M.names[1:])
    # helpers only under the two joints with several children
    helpers = [n for n in joints if "_to_" in n]
    assert len(helpers) == 6 and all(n.startswith(("pelvis_to_", "thorax_to_")) for n in helpers)
    # offsets are the median bone lengths in centimetres
    _, length = decompose(poses, H36M)
    median = length[..., 0].median(0).values * 100
    for j, name in enumerate(H36M.names[1:], start=1):
        assert np.linalg.norm(joints[name].offset) == pytest.approx(median[j].item(), abs=1e-5)
    # every leaf has an end site, and FK of the file keeps the ankle below the hip for a standing pose
    assert {n for n in joints if n.endswith("_end")} == {f"{H36M.names[j]}_end" for j in (3, 6, 10, 13, 16)}
    motion = forward_kinematics(bvh)
    assert motion.positions.shape == (11, len(joints), 3)


def test_world_axes_become_y_up(tmp_path):
    poses = _random_motion(3)
    poses[..., 2] += 5.0  # 5 m up in the z-up world
    text = format_pose_bvh(poses)
    root_row = np.array(text.split("Frame Time:")[1].splitlines()[1].split()[:3], dtype=float)
    np.testing.assert_allclose(root_row, (poses[0, 0, [0, 2, 1]] * torch.tensor([100, 100, -100.0])).numpy(), atol=1e-5)


def test_bad_input_writes_nothing(tmp_path):
    path = tmp_path / "bad.bvh"
    with pytest.raises(ValueError, match=r"expected \(N, 17, 3\), got \(4, 16, 3\)"):
        export_bvh(path, torch.zeros(4, 16, 3))
    with pytest.raises(ValueError, match="frame must be one of"):
        export_bvh(path, _random_motion(2), frame="screen")
    with pytest.raises(ValueError, match="non-finite"):
        export_bvh(path, torch.full((2, 17, 3), float("nan")))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_matrix_to_euler_round_trip(order):
    g = torch.Generator().manual_seed(0)
    angles = torch.rand(200, 3, generator=g, dtype=torch.float64) * 340 - 170
    angles[:, 1] = angles[:, 1] / 2  # middle angle in (-90, 90)
    angles[:5, 1] = 90.0  # gimbal lock: the angles differ but the matrix must survive
    mats = euler_matrices(angles, order)
    back = matrix_to_euler(mats, order)
    torch.testing.assert_close(euler_matrices(back, order), mats, atol=1e-9, rtol=0)
    torch.testing.assert_close(back[5:], angles[5:])


def test_shortest_arc():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(100, 3, generator=g, dtype=torch.float64), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(100, 3, generator=g, dtype=torch.float64), dim=-1)
    b[:3] = -a[:3]  # opposite
    b[3:6] = a[3:6]  # identical
    r = shortest_arc(a, b)
    torch.testing.assert_close((r @ a[..., None])[..., 0], b)
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(100, 3, 3))
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(100, dtype=torch.float64))
    torch.testing.assert_close(r[3:6], torch.eye(3, dtype=torch.float64).expand(3, 3, 3))
    # shortest: the rotation angle equals the angle between a and b, and the axis is a x b
    angle = torch.arccos(((r.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1))
    torch.testing.assert_close(angle[6:], torch.arccos((a[6:] * b[6:]).sum(-1)))


def test_parallel_children_of_a_multi_child_joint(tmp_path):
    poses = _random_motion(3, seed=2)
    direction, length = decompose(poses, H36M)
    direction[1, 11] = direction[1, 9]  # left shoulder along the neck: thorax frame undefined
    poses = compose(direction, length, H36M, root=poses[:, 0])
    export_bvh(tmp_path / "p.bvh", poses)
    back = read_pose_bvh(tmp_path / "p.bvh")
    assert (back - _median_length_poses(poses)).norm(dim=-1).max() < 1e-5


def test_units_and_a_moving_root(tmp_path):
    from ddhpose.export.bvh import export_bvh, read_pose_bvh
    rigid = _random_motion(1)  # one body, rigid, moving 1 m sideways and 0.5 m away over 5 frames
    shift = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None, None] * torch.tensor([1.0, 0.0, 0.5],
                                                                                     dtype=torch.float64)
    moving = rigid.expand(5, 17, 3) + shift
    for units, factor in (("cm", 100.0), ("m", 1.0)):
        export_bvh(tmp_path / f"{units}.bvh", moving, 25, frame="camera", units=units)
        text = (tmp_path / f"{units}.bvh").read_text()
        root_row = [float(v) for v in text.split("Frame Time:")[1].splitlines()[1].split()[:3]]
        np.testing.assert_allclose(root_row, (moving[0, 0] @ torch.tensor(
            [[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]], dtype=torch.float64).T * factor).numpy(), atol=1e-5)
        back = read_pose_bvh(tmp_path / f"{units}.bvh", frame="camera", units=units)
        torch.testing.assert_close(back, moving, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="units must be one of"):
        export_bvh(tmp_path / "x.bvh", moving, units="inch")
