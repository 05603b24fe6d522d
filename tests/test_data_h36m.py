import os

import numpy as np
import pytest
import torch

from ddhpose.data.cameras import h36m_cameras
from ddhpose.data.h36m import H36M_32_PARENTS, H36M_32_REMOVED, H36M_ACTIONS, action_group, load_h36m, reduce_joints
from ddhpose.data.sequence import PoseSequence
from ddhpose.geometry import normalize_screen, project, world_to_camera
from ddhpose.safe_pickle import UnsafeFileError
from ddhpose.skeleton import H36M

KEPT_17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def _world(n: int, joints: int = 17, seed: int = 0) -> np.ndarray:
    """(n, joints, 3) plausible world positions near the capture centre, metres, z up."""
    rng = np.random.default_rng(seed)
    template = rng.uniform(-0.4, 0.4, size=(joints, 3))
    root = np.array([0.2, -0.3, 0.95]) + np.linspace(0, 0.5, n)[:, None] * np.array([1.0, 0.5, 0.0])
    return (root[:, None] + template + 0.01 * rng.standard_normal((n, joints, 3))).astype(np.float32)


def _save(path, **members):
    np.savez(path, **{k: np.array(v, dtype=object) if isinstance(v, dict) else v for k, v in members.items()})
    return path


@pytest.fixture
def files(tmp_path):
    positions = {"S9": {"Directions 1": _world(30, seed=1), "WalkingDog": _world(20, seed=2)},
                 "S11": {"Eating 2": _world(25, seed=3)}}
    return _save(tmp_path / "data_3d_h36m.npz", positions_3d=positions), positions


def test_ground_truth_2d_is_the_projection_of_the_camera_frame_pose(files):
    path, positions = files
    seqs = load_h36m(path, subjects=["S9", "S11"])
    assert len(seqs) == 3 * 4
    assert [s.name for s in seqs[:4]] == [f"S9/Directions 1/{c.id}" for c in h36m_cameras()["S9"]]
    for seq in seqs:
        cam = next(c for c in h36m_cameras()[seq.subject] if c.id == seq.camera)
        x_cam = world_to_camera(torch.from_numpy(positions[seq.subject][seq.action]).double(),
                                torch.tensor(cam.rotation), torch.tensor(cam.translation))
        assert seq.poses_3d.dtype == np.float32 and seq.keypoints_2d.shape == (seq.num_frames, 17, 2)
        assert np.all(seq.poses_3d[:, 0] == 0)
        np.testing.assert_allclose(seq.trajectory[:, 0], x_cam[:, 0].numpy(), atol=1e-5)
        np.testing.assert_allclose(seq.poses_3d + seq.trajectory, x_cam.numpy(), atol=1e-5)
        uv = normalize_screen(project(x_cam, torch.tensor(cam.intrinsics)), cam.width, cam.height)
        np.testing.assert_allclose(seq.keypoints_2d, uv.numpy(), atol=1e-6)
        # the screen-normalised intrinsics reproduce the 2D from the metric pose (J-Agg)
        again = project(torch.from_numpy(seq.poses_3d + seq.trajectory), torch.from_numpy(seq.intrinsics))
        np.testing.assert_allclose(again.numpy(), seq.keypoints_2d, atol=1e-4)
        assert seq.image_size == (cam.width, cam.height) and seq.valid is None


def test_selection_by_action_group_take_and_camera(files):
    path, _ = files
    seqs = load_h36m(path, subjects=["S9"], actions=["WalkDog"], cameras=[1, "60457274"])
    assert [s.name for s in seqs] == ["S9/WalkingDog/55011271", "S9/WalkingDog/60457274"]
    assert len(load_h36m(path, subjects=["S9", "S11"], actions=["Directions 1", "Eating"])) == 8
    with pytest.raises(ValueError, match=r"subject 'S7' not in the file; it has \['S11', 'S9'\]"):
        load_h36m(path, subjects=["S7"])
    with pytest.raises(ValueError, match=r"\['Posing'\] not found.*the file has \['Directions 1', 'WalkingDog'\]"):
        load_h36m(path, subjects=["S9"], actions=["Posing"])
    with pytest.raises(ValueError, match="camera 7 not found"):
        load_h36m(path, subjects=["S9"], cameras=[7])


def test_32_joint_files_are_reduced_like_videopose3d(tmp_path):
    kept, parents = reduce_joints(H36M_32_PARENTS, H36M_32_REMOVED)
    assert kept == KEPT_17
    parents[11] = parents[14] = 8
    assert tuple(parents) == H36M.parents
    full = _world(12, joints=32, seed=4)
    p32 = _save(tmp_path / "a.npz", positions_3d={"S9": {"Posing": full}})
    p17 = _save(tmp_path / "b.npz", positions_3d={"S9": {"Posing": full[:, KEPT_17]}})
    for a, b in zip(load_h36m(p32), load_h36m(p17)):
        np.testing.assert_array_equal(a.poses_3d, b.poses_3d)
        np.testing.assert_array_equal(a.keypoints_2d, b.keypoints_2d)


def test_detected_2d_file_is_trimmed_and_normalised(files, tmp_path):
    path, positions = files
    rng = np.random.default_rng(5)
    kp = {"S9": {"Directions 1": [rng.uniform(0, 1000, (33, 17, 2)).astype(np.float32) for _ in range(4)],
                 "WalkingDog": [rng.uniform(0, 1000, (20, 17, 2)) for _ in range(4)]}}
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [list(H36M.joints_left), list(H36M.joints_right)]}
    p2d = _save(tmp_path / "data_2d_h36m_cpn.npz", positions_2d=kp, metadata=meta)
    seqs = load_h36m(path, p2d, subjects=["S9"], cameras=[2])
    assert [s.num_frames for s in seqs] == [30, 20]
    cam = h36m_cameras()["S9"][2]
    expected = normalize_screen(torch.from_numpy(kp["S9"]["Directions 1"][2][:30]).double(), cam.width, cam.height)
    np.testing.assert_allclose(seqs[0].keypoints_2d, expected.numpy(), atol=1e-6)

    kp["S9"]["WalkingDog"][3] = kp["S9"]["WalkingDog"][3][:19]
    short = _save(tmp_path / "short.npz", positions_2d=kp, metadata=meta)
    with pytest.raises(ValueError, match=r"short\.npz: 'S9' 'WalkingDog' camera 60457274: .*19 frames.*\(20\)"):
        load_h36m(path, short, subjects=["S9"])
    with pytest.raises(ValueError, match="subject 'S11' not in positions_2d"):
        load_h36m(path, p2d, subjects=["S11"])
    bad_meta = _save(tmp_path / "coco.npz", positions_2d=kp, metadata={**meta, "keypoints_symmetry": [[1, 3], [2, 4]]})
    with pytest.raises(ValueError, match="coco.npz: metadata keypoints_symmetry"):
        load_h36m(path, bad_meta, subjects=["S9"])


def test_malformed_files_name_file_and_field(tmp_path):
    no_member = _save(tmp_path / "x.npz", poses={"S9": {}})
    with pytest.raises(ValueError, match=r"x\.npz: missing member 'positions_3d'; the file has \['poses'\]"):
        load_h36m(no_member)
    wrong_joints = _save(tmp_path / "y.npz", positions_3d={"S9": {"Posing": _world(5, joints=16)}})
    with pytest.raises(ValueError, match=r"y\.npz: positions_3d\['S9'\]\['Posing'\].*\(5, 16, 3\)"):
        load_h36m(wrong_joints)
    world = _world(8)
    world[5, 3] = np.nan
    nan_file = _save(tmp_path / "z.npz", positions_3d={"S9": {"Posing": world}})
    with pytest.raises(ValueError, match=r"z\.npz.*'S9'.*'Posing'.*'54138969'.*first at frame 5"):
        load_h36m(nan_file)


class _Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_3d_h36m.npz"
    np.savez(path, positions_3d=np.array({"S9": {"Posing": _Hostile(marker)}}, dtype=object))
    with pytest.raises(UnsafeFileError, match="refused"):
        load_h36m(path)
    assert not marker.exists()


def test_action_groups():
    assert len(H36M_ACTIONS) == 15
    assert action_group("Directions 1") == "Directions"
    assert action_group("SittingDown 2") == "SittingDown"
    assert action_group("Sitting 1") == "Sitting"
    assert action_group("TakingPhoto") == action_group("Photo 1") == "Photo"
    assert action_group("WalkingDog 1") == action_group("WalkDog") == "WalkDog"
    assert action_group("WalkTogether 2") == "WalkTogether"
    assert action_group("Walking") == "Walking"
    assert action_group("Waiting 1") == "Waiting"
    with pytest.raises(ValueError, match="unknown Human3.6M action 'Dancing'"):
        action_group("Dancing")


def _sequence(**overrides) -> PoseSequence:
    n = 6
    poses = np.random.default_rng(0).normal(size=(n, 17, 3)).astype(np.float32)
    poses[:, 0] = 0
    fields = dict(keypoints_2d=np.zeros((n, 17, 2)), poses_3d=poses, trajectory=np.ones((n, 1, 3)),
                  intrinsics=np.ones(9), image_size=(1000, 1000), subject="S9", action="Posing", camera="cam0")
    fields.update(overrides)
    return PoseSequence(**fields)


def test_pose_sequence_validation():
    seq = _sequence(valid=[1, 0, 1, 1, 1, 1])
    assert seq.keypoints_2d.dtype == np.float32 and seq.valid.dtype == bool and seq.num_frames == 6
    with pytest.raises(ValueError, match=r"S9/Posing/cam0: keypoints_2d expected \(6, 17, 2\)"):
        _sequence(keypoints_2d=np.zeros((6, 16, 2)))
    with pytest.raises(ValueError, match=r"trajectory expected \(6, 1, 3\)"):
        _sequence(trajectory=np.zeros((5, 1, 3)))
    with pytest.raises(ValueError, match=r"valid expected \(6,\)"):
        _sequence(valid=np.ones(5))
    kp = np.zeros((6, 17, 2))
    kp[4, 2, 1] = np.inf
    message = "subject 'S9', action 'Posing', camera 'cam0': keypoints_2d .* first at frame 4"
    with pytest.raises(ValueError, match=message):
        _sequence(keypoints_2d=kp)
    with pytest.raises(ValueError, match="root-relative"):
        _sequence(poses_3d=np.ones((6, 17, 3)))
