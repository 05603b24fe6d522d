"""BlazePose run by ddhpose (video/blazepose.py): MediaPipe's anchors, detection decoding,
weighted suppression, crops and heat-map refinement as pure functions, and the models through
the TFLite interpreter giving MediaPipe's own landmarks on a real frame (skipped without the
``video`` extra)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ddhpose.video import blazepose as B

CLIP = Path(__file__).parent / "fixtures" / "sports2d_demo_3s.mp4"


def test_ssd_anchors_are_mediapipe_s_2254_cell_centres():
    anchors = B.ssd_anchors()
    assert anchors.shape == (2254, 2)  # 28*28*2 + 14*14*2 + 7*7*6: the detector's output rows
    first = anchors[:2 * 28 * 28]
    np.testing.assert_allclose(first[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(first[2], [1.5 / 28, 0.5 / 28])  # two anchors per cell, x fastest
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])
    assert len(B.ssd_anchors(128, (8, 16, 16, 16))) == 16 * 16 * 2 + 8 * 8 * 6  # a run of equal strides merges


def _raw_for(anchor_index: int, box: tuple, keypoints: np.ndarray, size: int = 224) -> np.ndarray:
    """The raw regressor row that decodes to ``box`` (cx, cy, w, h in [0, 1]) and keypoints."""
    ax, ay = B.ssd_anchors(size)[anchor_index]
    cx, cy, w, h = box
    return np.r_[(cx - ax) * size, (cy - ay) * size, w * size, h * size, ((keypoints - [ax, ay]) * size).ravel()]


def test_decode_detections_inverts_the_anchor_offsets_and_keeps_sure_ones():
    raw, scores = np.zeros((2254, 12)), np.full(2254, -10.0)
    kp = np.array([[0.4, 0.6], [0.4, 0.3], [0.41, 0.45], [0.4, 0.35]])
    raw[100] = _raw_for(100, (0.4, 0.5, 0.2, 0.6), kp)
    scores[100] = 2.0
    boxes, keypoints, sure = B.decode_detections(raw, scores[:, None])
    np.testing.assert_allclose(boxes, [[0.3, 0.2, 0.5, 0.8]], atol=1e-12)
    np.testing.assert_allclose(keypoints[0], kp, atol=1e-12)
    np.testing.assert_allclose(sure, [1 / (1 + math.exp(-2.0))])
    with pytest.raises(ValueError, match="raw_boxes: expected 2254 rows"):
        B.decode_detections(raw[:10], scores[:10])


def test_weighted_nms_averages_overlapping_candidates_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 4, 2))
    kps[1] += 3.0
    scores = np.array([0.9, 0.6, 0.8])
    out_b, out_k, out_s = B.weighted_nms(boxes, kps, scores)
    assert len(out_b) == 2 and out_s.tolist() == [0.9, 0.8]
    np.testing.assert_allclose(out_b[0], [0.4, 0, 10.4, 10])  # 0.6 of the weight on the first, 0.4 on the second
    np.testing.assert_allclose(out_k[0], np.full((4, 2), 1.2))
    np.testing.assert_allclose(out_b[1], boxes[2])


def test_a_crop_stands_the_person_upright_around_their_centre():
    upright = B.roi_from_points([100, 200], [100, 150])  # the circle point straight above the hips
    assert upright.rotation == pytest.approx(0.0) and upright.side == pytest.approx(2 * 50 * B.ROI_SCALE)
    lying = B.roi_from_points([100, 200], [150, 200])  # head to the right: a quarter turn
    assert abs(lying.rotation) == pytest.approx(math.pi / 2)
    m = B.roi_matrix(lying, 256)
    np.testing.assert_allclose(B.apply_affine(m, [128, 128]), [100, 200])  # the crop's centre is the hips
    top = B.apply_affine(m, [128, 128 - 128 / B.ROI_SCALE])  # the crop's upper circle point
    np.testing.assert_allclose(top, [150, 200], atol=1e-9)  # is where the head is


def test_window_matrix_letterboxes_and_maps_back():
    m = B.window_matrix((100, 0, 500, 200), 224)  # 400 x 200 into 224: scale 400/224, centred
    np.testing.assert_allclose(B.apply_affine(m, [[0, 56], [224, 168]]), [[100, 0], [500, 200]])


def _refine_by_loops(xy, heatmap, kernel=7, min_confidence=0.5):
    h, w, _ = heatmap.shape
    out, off = np.array(xy, float), (kernel - 1) // 2
    for j in range(len(xy)):
        cc, rr = int(np.floor(xy[j, 0] * w)), int(np.floor(xy[j, 1] * h))
        if not (0 <= cc < w and 0 <= rr < h):
            continue
        s = wc = wr = mx = 0.0
        for r in range(max(0, rr - off), min(h, rr + off + 1)):
            for c in range(max(0, cc - off), min(w, cc + off + 1)):
                v = 1 / (1 + np.exp(-heatmap[r, c, j]))
                s, mx, wc, wr = s + v, max(mx, v), wc + c * v, wr + r * v
        if mx >= min_confidence and s > 0:
            out[j] = wc / w / s, wr / h / s
    return out


def test_heatmap_refinement_is_mediapipe_s_loop():
    rng = np.random.default_rng(0)
    heatmap, xy = rng.normal(0, 2, (64, 64, 39)), rng.uniform(-0.1, 1.1, (39, 2))
    refined = B.refine_with_heatmap(xy, heatmap)
    np.testing.assert_allclose(refined, _refine_by_loops(xy, heatmap), atol=1e-12)
    assert (refined != xy).any(axis=1).sum() > 20  # most were moved, those outside kept
    low = np.full((64, 64, 39), -5.0)  # nowhere confident: nothing moves
    np.testing.assert_array_equal(B.refine_with_heatmap(xy, low), xy)


def test_the_models_give_mediapipe_s_own_landmarks_on_a_real_frame():
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")
    import imageio.v2 as iio

    from ddhpose.video.detectors import MediaPipePose

    reader = iio.get_reader(str(CLIP), "ffmpeg")
    frame = np.asarray(reader.get_data(0))[..., :3]
    reader.close()
    models = B.BlazePoseModels()
    candidates = models.detect(frame)
    single = MediaPipePose()
    try:
        (reference,) = single(frame)  # MediaPipe's first frame: its detector, then its landmarks
    finally:
        single.close()
    assert candidates, "the detector found nobody on the whole frame"
    pose = models.landmarks(frame, candidates[0].roi)
    distance = np.linalg.norm(pose.keypoints - reference.keypoints, axis=-1)
    assert pose.presence > 0.9 and np.median(distance) < 0.5 and distance.mean() < 1.5
    np.testing.assert_allclose(pose.scores, reference.scores, atol=0.02)
    again = models.landmarks(frame, pose.next_roi)  # the crop the landmarks give finds the same pose
    assert np.median(np.linalg.norm(again.keypoints - pose.keypoints, axis=-1)) < 3.0
