import numpy as np
import pytest
import torch

from ddhpose.data.cameras import h36m_cameras
from ddhpose.data.sequence import PoseSequence
from ddhpose.data.virtual_camera import camera_for_sequence, look_at_camera, make_training_pair, observe, random_camera
from ddhpose.geometry import compose, project
from ddhpose.skeleton import H36M


def _walk(frames: int = 40) -> torch.Tensor:
    """A standing figure (metres, z up) walking 1.2 m along +x."""
    direction = torch.zeros(17, 3, dtype=torch.float64)
    direction[[1, 11, 12, 13], 0], direction[[4, 14, 15, 16], 0] = -1.0, 1.0  # arms and hips sideways
    direction[[2, 3, 5, 6], 2] = -1.0  # legs down
    direction[[7, 8, 9, 10], 2] = 1.0  # spine and head up
    length = torch.tensor([0, .13, .44, .45, .13, .44, .45, .23, .26, .12, .12, .15, .28, .25, .15, .28, .25],
                          dtype=torch.float64)[:, None]
    pose = compose(direction, length, H36M, root=torch.tensor([0.0, 0.0, 0.95], dtype=torch.float64))
    shift = torch.zeros(frames, 1, 3, dtype=torch.float64)
    shift[:, 0, 0] = torch.linspace(0, 1.2, frames)
    return pose + shift


def test_look_at_conventions():
    cam = look_at_camera((4.0, 0.0, 1.5), (0.0, 0.0, 1.0))
    r = cam.rotation
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert r[1] @ np.array([0, 0, 1.0]) < -0.9  # image y points down the world's z
    world = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [0.0, 1.0, 1.0]]])
    cam_xyz, uv = observe(world, cam)
    np.testing.assert_allclose(uv[0, 0].numpy(), [500.0, 501.0], atol=1e-9)  # target at the centre
    assert uv[0, 1, 1] < 501.0  # higher in the world is higher (smaller v) in the image
    # looking along -x with z up, the world's +y is on the image's right
    assert uv[0, 2, 0] > 500.0
    assert cam_xyz[0, 0, 2] == pytest.approx(np.sqrt(16 + 0.25))


def test_look_at_reproduces_human36m_cameras():
    for cam in h36m_cameras()["S1"]:
        virtual = look_at_camera(cam.translation, cam.translation + 5 * cam.rotation[2])
        cos = (np.trace(virtual.rotation.T @ cam.rotation) - 1) / 2
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))) < 5.0  # they differ only by a small roll
        np.testing.assert_allclose(virtual.rotation[2], cam.rotation[2], atol=1e-12)


def test_look_at_rejects_degenerate():
    with pytest.raises(ValueError, match="coincide"):
        look_at_camera((1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="roll is undefined"):
        look_at_camera((0.0, 0.0, 5.0), (0.0, 0.0, 0.0))


def test_random_camera_ranges_and_seed():
    target = np.array([1.0, -2.0, 1.0])
    cams = [random_camera(np.random.default_rng(s), target=target, distortion=0.05) for s in range(20)]
    for cam in cams:
        horizontal = np.linalg.norm(cam.translation[:2] - target[:2])
        assert 3.5 <= horizontal <= 6.5 and 0.8 <= cam.translation[2] <= 2.0
        assert 1100 <= cam.intrinsics[0] == cam.intrinsics[1] <= 1190
        assert np.all(np.abs(cam.intrinsics[4:6]) <= 0.05) and cam.intrinsics[6] == 0
        assert (cam.width, cam.height) == (1000, 1002)
        # it looks at the target (within the aim jitter)
        to_target = (target - cam.translation) / np.linalg.norm(target - cam.translation)
        assert cam.rotation[2] @ to_target > 0.99
    again = random_camera(np.random.default_rng(3), target=target, distortion=0.05)
    np.testing.assert_array_equal(again.rotation, cams[3].rotation)
    assert len({tuple(c.translation) for c in cams}) == 20


def test_make_training_pair_consistent_with_projection():
    world = _walk()
    cam = random_camera(np.random.default_rng(0), target=world.reshape(-1, 3).mean(0).numpy(), distortion=0.02)
    seq = make_training_pair(world, cam, subject="cmu", action="walk")
    assert isinstance(seq, PoseSequence)
    assert seq.keypoints_2d.shape == (40, 17, 2) and seq.poses_3d.shape == (40, 17, 3)
    assert seq.camera == cam.id and seq.image_size == (1000, 1002) and seq.valid.all()
    assert np.all(seq.poses_3d[:, 0] == 0)
    # screen-normalised intrinsics reproject the camera-frame poses onto the keypoints
    cam_xyz = torch.from_numpy(seq.poses_3d + seq.trajectory).double()
    again = project(cam_xyz, torch.from_numpy(seq.intrinsics).double())
    np.testing.assert_allclose(again.numpy(), seq.keypoints_2d, atol=1e-5)
    # distances are preserved: the camera frame is a rigid motion of the world
    np.testing.assert_allclose(np.linalg.norm(seq.poses_3d[:, 10] - seq.poses_3d[:, 3], axis=-1),
                               (world[:, 10] - world[:, 3]).norm(dim=-1).numpy(), atol=1e-5)
    # the head is above the ankles in the image (image y down)
    assert np.all(seq.keypoints_2d[:, 10, 1] < seq.keypoints_2d[:, 3, 1])


def test_make_training_pair_rejects_joints_behind_the_camera():
    world = _walk(5)
    cam = look_at_camera((0.3, 0.0, 1.0), (5.0, 0.0, 1.0))  # inside the figure, looking away
    with pytest.raises(ValueError, match="behind or within 0.1 m of the camera"):
        make_training_pair(world, cam)


def test_make_training_pair_marks_frames_outside_the_image():
    world = _walk(10)
    world[5:, :, 0] += 10.0  # the second half walks far out of view, sideways
    cam = look_at_camera((0.0, -4.0, 1.2), (0.0, 0.0, 1.0))
    seq = make_training_pair(world, cam)
    np.testing.assert_array_equal(seq.valid, [True] * 5 + [False] * 5)


def test_camera_for_sequence_keeps_the_subject_in_view():
    world = _walk()
    cam = camera_for_sequence(np.random.default_rng(1), world, min_inside=1.0)
    cam_xyz, uv = observe(world, cam)
    assert (cam_xyz[..., 2] > 2.0).all()
    assert ((uv >= 0) & (uv <= torch.tensor([1000.0, 1002.0], dtype=uv.dtype))).all()
    with pytest.raises(ValueError, match="no camera in 3 tries"):
        camera_for_sequence(np.random.default_rng(1), world * 50, tries=3)


def test_wide_cameras_vary_format_focal_roll_and_framing():
    from ddhpose.data.virtual_camera import WIDE_IMAGE_SIZES, wide_camera
    world = _walk()
    target = world.reshape(-1, 3).mean(0).numpy()
    cams = [wide_camera(np.random.default_rng(s), target=target, extent=1.8) for s in range(60)]
    sizes = {(c.width, c.height) for c in cams}
    assert len(sizes) >= 6 and sizes <= set(WIDE_IMAGE_SIZES)
    assert any(c.height > c.width for c in cams) and any(c.width > c.height for c in cams)  # portrait, landscape
    focal = np.array([c.intrinsics[0] for c in cams])
    assert focal.min() >= 500 and focal.max() <= 3000 and focal.max() / focal.min() > 3
    # roll: the camera's x axis leaves the horizontal plane
    tilt = np.array([abs(c.rotation[0, 2]) for c in cams])
    assert tilt.max() > 0.05
    # the subject is off centre by various amounts, never right on the principal point for all
    offsets = []
    for c in cams:
        cam_xyz, uv = observe(torch.from_numpy(target[None, None]), c)
        offsets.append(abs(uv[0, 0, 0].item() - c.intrinsics[2]) / c.width)
    assert max(offsets) > 0.15
    for c in cams:
        np.testing.assert_allclose(c.rotation @ c.rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(c.rotation) > 0


def test_camera_for_sequence_wide_keeps_the_subject_in_view():
    world = _walk()
    for seed in range(5):
        cam = camera_for_sequence(np.random.default_rng(seed), world, min_inside=1.0, wide=True)
        cam_xyz, uv = observe(world, cam)
        assert (cam_xyz[..., 2] > 0.1).all()
        assert ((uv >= 0) & (uv <= torch.tensor([cam.width, cam.height], dtype=uv.dtype))).all()
