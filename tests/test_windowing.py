"""Inference windows: overlapping windows, Hann blending, and unwindowing the test windows."""
import numpy as np
import pytest
import torch

from ddhpose.windowing import blend_windows, hann_weights, test_window_index, unwindow, window_index


def test_window_index_overlaps_and_pads():
    np.testing.assert_array_equal(window_index(10, 4, 2)[:, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(window_index(9, 4, 2)[:, 0], [0, 2, 4, 5])  # last window ends at N
    np.testing.assert_array_equal(window_index(3, 5, 2), [[0, 1, 2, 2, 2]])
    for n in (1, 5, 9, 10, 23):  # stride F is the evaluation's non-overlapping layout
        np.testing.assert_array_equal(window_index(n, 5, 5), test_window_index(n, 5))
    with pytest.raises(ValueError, match="stride"):
        window_index(10, 4, 5)


def test_blend_windows_hand_case():
    index = window_index(6, 4, 2)  # [[0, 1, 2, 3], [2, 3, 4, 5]]
    a, b = np.sin(np.pi / 8) ** 2, np.cos(np.pi / 8) ** 2  # hann_weights(4) = [a, b, b, a]
    np.testing.assert_allclose(hann_weights(4), [a, b, b, a])
    values = torch.tensor([[1.0] * 4, [3.0] * 4], dtype=torch.float64)
    expected = [1, 1, (b * 1 + a * 3) / (a + b), (a * 1 + b * 3) / (a + b), 3, 3]
    np.testing.assert_allclose(blend_windows(values, index, 6), expected)


def test_blend_windows_ignores_padding_and_keeps_constants():
    values = torch.tensor([[10.0, 20, 30, 40, 50]])
    np.testing.assert_allclose(blend_windows(values, window_index(3, 5, 2), 3), [10, 20, 30])
    for n, f, stride in ((7, 3, 1), (50, 9, 4), (50, 9, 9), (9, 9, 4), (2, 9, 4)):
        index = window_index(n, f, stride)
        ones = torch.ones(*index.shape, 2, 3)  # every frame's weights normalise to exactly 1
        np.testing.assert_allclose(blend_windows(ones, index, n), torch.ones(n, 2, 3), rtol=1e-6)
        frame_values = torch.from_numpy(index).double()[..., None]  # window value == frame number
        np.testing.assert_allclose(blend_windows(frame_values, index, n)[:, 0], np.arange(n))


def test_unwindow_counts_each_frame_once_from_its_first_window():
    index = test_window_index(11, 5)  # starts 0, 5, 6: frames 6..9 are in two windows
    per_window = np.repeat(np.arange(3.0)[:, None], 5, axis=1)  # value = window number
    out = unwindow(per_window, index, 11)
    assert out.tolist() == [0] * 5 + [1] * 5 + [2]
    with pytest.raises(ValueError, match="to match frame_index"):
        unwindow(per_window[:2], index, 11)
    with pytest.raises(ValueError, match="cover frames 0..11"):
        unwindow(per_window, index, 12)


def test_unwindow_keep_last_takes_the_overlap_from_the_last_window():
    # released 3DHP evaluation (main_3dhp.py pose_post_process): windows written in order, the
    # last one (the last F frames) over the overlap; 11 frames, F = 5: starts 0, 5, 6
    index = test_window_index(11, 5)
    per_window = np.repeat(np.arange(3.0)[:, None], 5, axis=1)
    assert unwindow(per_window, index, 11, keep="last").tolist() == [0] * 5 + [1] + [2] * 5
    assert unwindow(per_window, index, 11, keep="first").tolist() == [0] * 5 + [1] * 5 + [2]
    tensor = torch.from_numpy(per_window)
    assert unwindow(tensor, index, 11, keep="last").tolist() == [0] * 5 + [1] + [2] * 5
    # no overlap when F divides N: both rules agree
    even = test_window_index(10, 5)
    assert np.array_equal(unwindow(even * 1.0, even, 10, keep="last"), np.arange(10.0))
    with pytest.raises(ValueError, match="keep expected"):
        unwindow(per_window, index, 11, keep="middle")


def test_unwindow_keep_last_skips_the_padding_of_a_short_sequence():
    index = test_window_index(3, 5)  # one window [0, 1, 2, 2, 2]
    values = np.arange(5.0)[None]  # the value is the position in the window
    assert unwindow(values, index, 3, keep="last").tolist() == [0.0, 1.0, 2.0]
