"""NumPy keypoint arrays (lifting/inputs/arrays.py): what a .npy / .npz holds, read or refused
with a message naming the file, the member and what was expected."""
from __future__ import annotations

import numpy as np
import pytest

from ddhpose.lifting.inputs.arrays import read_array


def _npz(tmp_path, name="k.npz", **members):
    path = tmp_path / name
    np.savez(path, **members)
    return path


def _coco(frames=4):
    return np.random.default_rng(0).random((frames, 17, 3)) * [640, 480, 1]


def _message(call) -> str:
    with pytest.raises(ValueError) as err:
        call()
    return str(err.value)


def test_the_image_size_in_the_file_and_the_argument_must_agree(tmp_path):
    path = _npz(tmp_path, keypoints=_coco(), image_size=np.array([640, 480]))
    assert read_array(path, "coco", None).image_size == (640, 480)
    assert read_array(path, "coco", (640, 480)).image_size == (640, 480)
    assert _message(lambda: read_array(path, "coco", (1280, 720))) == (
        f"{path}: image_size argument (1280, 720) disagrees with the file's (640, 480)")
    bad = _npz(tmp_path, "bad.npz", keypoints=_coco(), image_size=np.array([0, 480]))
    assert _message(lambda: read_array(bad, "coco", None)).startswith(f"{bad}: 'image_size' expected (width, height)")


@pytest.mark.parametrize("arr", [np.zeros((4, 17)), np.zeros((4, 17, 5)), np.zeros((2, 4, 17, 2)),
                                 np.array([[["a", "b"]] * 17] * 3)])
def test_keypoints_must_be_numbers_frames_by_joints_by_channels(tmp_path, arr):
    path = _npz(tmp_path, keypoints=arr)
    assert _message(lambda: read_array(path, "coco", None)) == (
        f"{path}: 'keypoints' has shape {arr.shape} ({arr.dtype}); expected numbers (F, K, 2|3|4)")


def test_a_pickled_member_is_refused_for_what_the_file_should_hold(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, keypoints=np.array([{"x": 1}], dtype=object))
    assert _message(lambda: read_array(path, "coco", None)) == (
        f"{path}: holds a pickled object array; expected plain numeric keypoint arrays (F, K, 2|3), refused for "
        "safety")


def test_scores_and_points_are_float64_and_frames_int64(tmp_path):
    kp = (_coco() * 100).astype(np.int32)
    track = read_array(_npz(tmp_path, keypoints=kp[..., :2], scores=np.ones((4, 17), np.int8),
                            frames=np.array([3, 4, 5, 6], np.int16)), "coco", None)
    assert track.frames.dtype == np.int64 and track.frames.tolist() == [3, 4, 5, 6]
    assert track.scores.dtype == np.float32 and (track.scores == 1).all()  # stored float32, read as float64
    path = _npz(tmp_path, "f.npz", keypoints=_coco(), frames=np.arange(3))
    assert _message(lambda: read_array(path, "coco", None)) == f"{path}: 'frames' has shape (3,); expected (4,)"


def test_normalised_mediapipe_landmarks_need_the_image_size(tmp_path):
    lm = np.random.default_rng(1).random((3, 33, 4))  # x, y in [0, 1], z, visibility
    lm[..., :2] = lm[..., :2] * 0.5 + 0.25
    path = _npz(tmp_path, keypoints=lm)
    assert _message(lambda: read_array(path, "mediapipe33", None)) == (
        f"{path}: MediaPipe landmarks are normalised to [0, 1]; pass image_size=(width, height) to read_keypoints")
    track = read_array(path, "mediapipe33", (640, 480))
    np.testing.assert_allclose(track.keypoints, (lm[..., :2] * [640, 480]).astype(np.float32))
    at_two = lm.copy()
    at_two[0, 0, 0] = 2.0  # up to 2 still reads as normalised (landmarks a little outside the image)
    assert "normalised" in _message(lambda: read_array(_npz(tmp_path, "two.npz", keypoints=at_two), "mediapipe33",
                                                       None))
    beyond = lm.copy()
    beyond[0, 0, 0] = 2.5  # past 2: pixels, however small
    np.testing.assert_allclose(read_array(_npz(tmp_path, "b.npz", keypoints=beyond), "mediapipe33", None).keypoints,
                               beyond[..., :2].astype(np.float32))
    pixels = lm.copy()
    pixels[..., :2] *= [640, 480]  # already pixels: taken as they are
    np.testing.assert_allclose(read_array(_npz(tmp_path, "px.npz", keypoints=pixels), "mediapipe33", None).keypoints,
                               pixels[..., :2].astype(np.float32))


def test_a_frame_rate_is_read_only_where_the_file_gives_one(tmp_path):
    assert read_array(_npz(tmp_path, keypoints=_coco()), "coco", None).fps is None
    assert read_array(_npz(tmp_path, "r.npz", keypoints=_coco(), fps=np.array(50.0)), "coco", None).fps == 50.0
    path = _npz(tmp_path, "s.npz", keypoints=_coco(), fps=np.array("fast"))
    assert _message(lambda: read_array(path, "coco", None)) == (
        f"{path}: 'fps' expected one positive number, got shape () (<U4)")
