import re
import warnings
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


# --- read back by bvhio (PyPI), a reader that shares nothing with the writer ------------------
#
# The axes below are the module docstring's, written out here: the writer's table (_TO_BVH) and
# the project's reader (read_pose_bvh) are not used, so a wrong convention in both still fails.

def _bvh_axes(poses: torch.Tensor, frame: str) -> torch.Tensor:
    """(..., 3) metres in ``frame`` -> BVH axes (y up): world (x, y, z) -> (x, z, -y), camera
    (x, y, z) -> (x, -y, -z), yup unchanged."""
    x, y, z = poses.unbind(-1)
    return {"world": torch.stack((x, z, -y), -1), "camera": torch.stack((x, -y, -z), -1), "yup": poses}[frame]


def _bvhio():
    with warnings.catch_warnings():  # PyGLM's notice about its own import name
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import bvhio
    return bvhio


def _bvhio_positions(path: Path, names: tuple[str, ...]) -> np.ndarray:
    """(F, J, 3) world positions of the named joints, in the file's units, by bvhio's own forward
    kinematics (its hierarchy, its Euler conversion)."""
    bvhio = _bvhio()
    root = bvhio.readAsHierarchy(str(path))
    frames = bvhio.readAsBvh(str(path), loadKeyFrames=False).FrameCount
    out = np.zeros((frames, len(names), 3))
    for f in range(frames):
        root.loadPose(f, recursive=True)
        world = {joint.Name: np.array(joint.PositionWorld) for joint, _, _ in root.layout()}
        out[f] = [world[n] for n in names]
    return out


def _bvhio_joints(path: Path) -> dict:
    """name -> bvhio's BvhJoint (offset, channels, end site) as the file declares it."""
    return {joint.Name: joint for joint, _, _ in _bvhio().readAsBvh(str(path)).Root.layout()}


@pytest.mark.parametrize("frame", ["world", "camera", "yup"])
@pytest.mark.parametrize("units", ["cm", "m"])
def test_bvhio_puts_every_joint_where_the_poses_are(tmp_path, frame, units):
    poses = _random_motion(8, seed=3)
    path = tmp_path / "out.bvh"
    export_bvh(path, poses, 25, frame=frame, units=units)
    got = _bvhio_positions(path, H36M.names) / {"cm": 100.0, "m": 1.0}[units]  # metres, BVH axes
    expected = _bvh_axes(_median_length_poses(poses), frame).numpy()
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=0)  # bvhio computes in float32


def test_bvhio_sees_a_real_walk_upright_in_centimetres(tmp_path):
    with np.load(FIXTURES / "cmu_02_01_walk_world.npz") as data:
        walk = torch.from_numpy(data["world"].astype(np.float64))  # z up, metres, floor at 0
    export_bvh(tmp_path / "walk.bvh", walk, 25)  # the defaults: world frame, centimetres
    got = _bvhio_positions(tmp_path / "walk.bvh", H36M.names)
    head, ankles = got[:, H36M.names.index("head"), 1], got[:, [3, 6], 1]
    assert (head > ankles.max(1) + 100).all() and (head < 200).all()  # y up, cm: the head 1-2 m up
    assert ankles.min() > -10  # the floor (z = 0 in the world) is y = 0
    # z up -> y up is a rotation, not a mirror: in the file's right-handed frame the subject's
    # left x up (their forward) points the way they walk, in every frame
    facing = np.cross(got[:, 4] - got[:, 1], got[:, 8] - got[:, 0])
    assert ((facing * np.gradient(got[:, 0], axis=0)).sum(-1) > 0).all()


def test_bvhio_reads_the_header_rate_and_channels(tmp_path):
    poses = _random_motion(6)
    export_bvh(tmp_path / "default.bvh", poses)
    bvhio = _bvhio()
    # the default rate is the package's one default frame rate (25 fps), not one of its own
    assert bvhio.readAsBvh(str(tmp_path / "default.bvh")).FrameTime == pytest.approx(1 / 25)
    assert "\nFrame Time: 0.04000000\n" in format_pose_bvh(poses)
    export_bvh(tmp_path / "slow.bvh", poses, 0.5)  # any positive rate, below one frame a second too
    bvh = bvhio.readAsBvh(str(tmp_path / "slow.bvh"))
    assert bvh.FrameTime == pytest.approx(2.0) and bvh.FrameCount == 6
    joints = _bvhio_joints(tmp_path / "slow.bvh")
    assert bvh.Root.Name == "pelvis"
    assert bvh.Root.Channels == ["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]
    assert all(j.Channels == ["Zrotation", "Xrotation", "Yrotation"] for n, j in joints.items() if n != "pelvis")


def test_offsets_and_end_sites_follow_the_rest_pose(tmp_path):
    poses = _random_motion(9, seed=4)
    export_bvh(tmp_path / "t.bvh", poses, units="m")
    joints = _bvhio_joints(tmp_path / "t.bvh")
    _, length = decompose(poses, H36M)
    median = length[..., 0].median(0).values.numpy()
    t_pose = {"right_hip": (-1, 0, 0), "right_ankle": (0, -1, 0), "left_hip": (1, 0, 0), "head": (0, 1, 0),
              "left_wrist": (1, 0, 0), "right_wrist": (-1, 0, 0)}  # T-pose: left +x, y up, facing +z
    for name, direction in t_pose.items():
        j = H36M.names.index(name)
        np.testing.assert_allclose(np.array(joints[name].Offset), median[j] * np.array(direction), atol=1e-6)
    for leaf in (3, 6, 10, 13, 16):  # an end site continues the last bone, a quarter of its length
        bone = np.array(joints[H36M.names[leaf]].Offset)
        np.testing.assert_allclose(np.array(joints[H36M.names[leaf]].EndSite), 0.25 * bone, atol=1e-6)


def test_euler_angles_are_unwrapped_over_a_spin(tmp_path):
    # one body turning two full turns about the vertical: the root's yaw channel runs on past
    # 360 degrees instead of jumping back, so players interpolate the short way between frames
    body = _random_motion(1, seed=5)[0]
    frames = 48
    angle = torch.linspace(0, 4 * torch.pi, frames, dtype=torch.float64)
    c, s = angle.cos(), angle.sin()
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    turn = torch.stack((c, -s, zero, s, c, zero, zero, zero, one), -1).reshape(frames, 3, 3)  # about z
    poses = body @ turn.transpose(-1, -2)
    text = format_pose_bvh(poses, 25)
    motion = np.array([row.split() for row in text.split("Frame Time:")[1].splitlines()[1:]], dtype=float)
    steps = np.abs(np.diff(motion[:, 3:], axis=0))
    assert steps.max() < 90  # 15 degrees a frame: no 360-degree jumps in any channel
    assert abs(motion[-1, 5] - motion[0, 5]) == pytest.approx(720, abs=1e-3)  # Yrotation: two turns
    export_bvh(tmp_path / "spin.bvh", poses, 25)
    np.testing.assert_allclose(_bvhio_positions(tmp_path / "spin.bvh", H36M.names) / 100,
                               _bvh_axes(_median_length_poses(poses), "world").numpy(), atol=2e-5)


def test_rest_directions_given_by_the_caller(tmp_path):
    # an A-pose rest (arms 45 degrees down), not normalised: offsets follow it, motion is unchanged
    rest = [list(d) for d in _T_POSE]
    for j in (11, 12, 13):
        rest[j] = [2.0, -2.0, 0.0]
    for j in (14, 15, 16):
        rest[j] = [-1.0, -1.0, 0.0]
    poses = _random_motion(5, seed=6)
    export_bvh(tmp_path / "a.bvh", poses, rest_directions=rest, units="m")
    joints = _bvhio_joints(tmp_path / "a.bvh")
    _, length = decompose(poses, H36M)
    elbow = H36M.names.index("left_elbow")
    np.testing.assert_allclose(np.array(joints["left_elbow"].Offset),
                               length[:, elbow, 0].median().item() * np.array([1, -1, 0]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(_bvhio_positions(tmp_path / "a.bvh", H36M.names),
                               _bvh_axes(_median_length_poses(poses), "world").numpy(), atol=2e-5)


_T_POSE = [(0, 1, 0), (-1, 0, 0), (0, -1, 0), (0, -1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0),
           (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0), (1, 0, 0), (1, 0, 0), (-1, 0, 0), (-1, 0, 0), (-1, 0, 0)]


def test_another_skeleton_with_its_rest_pose(tmp_path):
    from ddhpose.skeleton import MPI_INF_3DHP as sk

    up, down, left, right = (0, 1, 0), (0, -1, 0), (1, 0, 0), (-1, 0, 0)
    rest = [up, up, right, right, right, left, left, left, right, down, down, left, down, down, up, up, up]
    g = torch.Generator().manual_seed(7)
    direction = torch.nn.functional.normalize(torch.randn(6, 17, 3, generator=g, dtype=torch.float64), dim=-1)
    poses = compose(direction, torch.full((6, 17, 1), 0.3, dtype=torch.float64), sk,
                    root=torch.randn(6, 3, generator=g, dtype=torch.float64))
    export_bvh(tmp_path / "3dhp.bvh", poses, 30, skeleton=sk, rest_directions=rest, frame="camera")
    joints = _bvhio_joints(tmp_path / "3dhp.bvh")
    assert next(iter(joints)) == "pelvis" and set(sk.names) <= set(joints)
    np.testing.assert_allclose(_bvhio_positions(tmp_path / "3dhp.bvh", sk.names) / 100,
                               _bvh_axes(poses, "camera").numpy(), atol=2e-5)
    back = read_pose_bvh(tmp_path / "3dhp.bvh", frame="camera", skeleton=sk)
    torch.testing.assert_close(back, poses, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="rest_directions are required"):
        export_bvh(tmp_path / "x.bvh", poses, skeleton=sk)


def test_float32_poses_write_the_file_of_their_float64_values():
    poses = _random_motion(4, seed=8).float()
    assert format_pose_bvh(poses) == format_pose_bvh(poses.double())


def test_bad_rates_shapes_and_orders_are_refused():
    poses = _random_motion(2)
    for fps in (0, -25):
        with pytest.raises(ValueError, match=f"fps must be positive, got {fps}"):
            format_pose_bvh(poses, fps)
    for shape in ((17, 3), (4, 17, 2)):
        with pytest.raises(ValueError, match=rf"poses: expected \(N, 17, 3\), got {re.escape(str(shape))}"):
            format_pose_bvh(torch.zeros(shape))
    with pytest.raises(ValueError, match=r"expected 3 distinct axes and \(\.\.\., 3, 3\) matrices, got 'ZXZ', \(3, 3\)"):
        matrix_to_euler(torch.eye(3), "ZXZ")
    with pytest.raises(ValueError, match=r"expected 3 distinct axes .* got 'ZXY', \(3, 4\)"):
        matrix_to_euler(torch.zeros(3, 4), "ZXY")
    with pytest.raises(ValueError, match=r"units must be one of \['cm', 'm'\], got 'inch'"):
        format_pose_bvh(poses, units="inch")
