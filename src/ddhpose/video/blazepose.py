"""BlazePose run by ddhpose itself: the person detector and the full landmark model that the
MediaPipe 0.10.21 wheel ships (``modules/pose_detection/pose_detection.tflite``,
``modules/pose_landmark/pose_landmark_full.tflite``), through a TFLite interpreter from PyPI
(``ai-edge-litert``), with the pre- and post-processing of MediaPipe's pose graphs written out
(``pose_detection_cpu``, ``pose_detection_to_roi``, ``pose_landmark_by_roi_cpu``,
``pose_landmarks_to_roi``; their option values are the constants below).

Why not MediaPipe's own graphs: the single-person solution finds one person, and the Tasks
``PoseLandmarker`` does not expose the person detector alone, so finding small people meant a
whole landmarker call per region of the frame. Here the detector (224 x 224) runs alone on the
frame and its tiles, and the landmark model (256 x 256) once per person on a rotated square crop
(a region of interest, :class:`Roi`), whose two auxiliary landmarks give the next frame's crop.

Everything is in image pixels of the frame given. Pure functions (anchors, decoding, suppression,
crops, heat-map refinement) are separate from :class:`BlazePoseModels`, which holds the two
interpreters.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: The person detector's input side (pixels) and SSD anchor options (pose_detection_cpu.pbtxt).
DETECTOR_SIZE = 224
ANCHOR_STRIDES = (8, 16, 32, 32, 32)
#: Candidates scoring less (sigmoid of the raw score, clipped at +-100) are dropped.
DETECTION_SCORE = 0.5
#: Candidates overlapping a surer one by more than this (IoU) are merged into it (weighted NMS).
NMS_IOU = 0.3
#: The detector's 4 keypoints: mid-hip, a point on the body's circle (size and rotation), then
#: the upper body's pair (unused here).
DETECTOR_KEYPOINTS = 4
#: The landmark model's input side, its landmarks (33 body, 2 auxiliary: the next frame's crop,
#: 4 unused) and its heat map refinement (kernel, the least confidence to refine).
LANDMARK_SIZE = 256
NUM_LANDMARKS = 39
BODY_LANDMARKS = 33
AUXILIARY = (33, 34)
HEATMAP_KERNEL = 7
REFINE_CONFIDENCE = 0.5
#: A crop is the body's circle (diameter: twice the centre-to-circle distance) scaled by this.
ROI_SCALE = 1.25
#: The crop turns so that the centre-to-circle vector points up (MediaPipe's target angle).
TARGET_ANGLE = math.pi / 2
#: A landmark pass with a pose-presence score below this found nobody in the crop.
PRESENCE = 0.5

LITERT_EXTRA = "pip install 'ddhpose[video]'"


class Roi(NamedTuple):
    """A square region of interest: centre (x, y) pixels, side pixels, rotation radians (the
    image turned by it stands the person upright; MediaPipe's sign)."""

    centre: np.ndarray
    side: float
    rotation: float


class Candidate(NamedTuple):
    """One person the detector found: box (x0, y0, x1, y1) pixels, keypoints (4, 2) pixels,
    score, and the crop of the landmark model (:func:`roi_from_points`)."""

    box: np.ndarray
    keypoints: np.ndarray
    score: float
    roi: Roi


class Pose(NamedTuple):
    """One landmark pass: keypoints (33, 2) pixels, visibility (33,) in [0, 1], the pose-presence
    score, and the crop to look for the person in the next frame."""

    keypoints: np.ndarray
    scores: np.ndarray
    presence: float
    next_roi: Roi


@functools.lru_cache(maxsize=None)
def ssd_anchors(size: int = DETECTOR_SIZE, strides: tuple[int, ...] = ANCHOR_STRIDES) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] of the detector's input (N = 2254 for 224 px): per run of
    layers with one stride, a grid of feature-map cells with two anchors per layer at every cell
    centre (MediaPipe's SsdAnchorsCalculator with fixed anchor size: every anchor's size is 1)."""
    anchors, layer = [], 0
    while layer < len(strides):
        same = 1
        while layer + same < len(strides) and strides[layer + same] == strides[layer]:
            same += 1
        cells = int(math.ceil(size / strides[layer]))
        y, x = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        centres = np.stack([x.ravel(), y.ravel()], -1)
        anchors.append(np.repeat(centres, 2 * same, axis=0))
        layer += same
    return np.concatenate(anchors)


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, *, size: int = DETECTOR_SIZE,
                      threshold: float = DETECTION_SCORE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detector's raw outputs to candidates in [0, 1] of its input.

    Args:
        raw_boxes: (N, 12): centre offset x, y, width, height, then 4 keypoints' x, y offsets, in
            input pixels relative to each anchor (:func:`ssd_anchors`).
        raw_scores: (N,) or (N, 1) logits.
    Returns:
        boxes (M, 4) x0, y0, x1, y1; keypoints (M, 4, 2); scores (M,): the candidates scoring at
        least ``threshold``.
    """
    raw_boxes = np.asarray(raw_boxes, np.float64).reshape(-1, 4 + 2 * DETECTOR_KEYPOINTS)
    anchors = ssd_anchors(size)
    if len(raw_boxes) != len(anchors):
        raise ValueError(f"raw_boxes: expected {len(anchors)} rows (the anchors of a {size} px input), "
                         f"got {len(raw_boxes)}")
    scores = 1 / (1 + np.exp(-np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -100, 100)))
    keep = scores >= threshold
    raw, anchor = raw_boxes[keep] / size, anchors[keep]
    centre, half = raw[:, :2] + anchor, raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], 1)
    keypoints = raw[:, 4:].reshape(-1, DETECTOR_KEYPOINTS, 2) + anchor[:, None]
    return boxes, keypoints, scores[keep]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (A, 4) and (B, 4) (x0, y0, x1, y1) -> (A, B)."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    inter = np.prod(np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None), -1)
    union = np.prod(a[..., 2:] - a[..., :2], -1) + np.prod(b[..., 2:] - b[..., :2], -1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: the surest candidate and every one
    overlapping it by more than ``iou`` become one, their boxes and keypoints averaged with
    the scores as weights and the surest score kept; repeated on what is left. Shapes as
    :func:`decode_detections`'s, surest first."""
    order = list(np.argsort(-scores, kind="stable"))
    out_b, out_k, out_s = [], [], []
    while order:
        overlap = box_iou(boxes[order[:1]], boxes[order])[0]
        group = [order[i] for i in np.flatnonzero(overlap > iou)] or order[:1]
        if order[0] not in group:
            group.insert(0, order[0])
        w = scores[group] / scores[group].sum()
        out_b.append((boxes[group] * w[:, None]).sum(0))
        out_k.append((keypoints[group] * w[:, None, None]).sum(0))
        out_s.append(scores[order[0]])
        order = [i for i in order if i not in group]
    return (np.array(out_b).reshape(-1, 4), np.array(out_k).reshape(-1, DETECTOR_KEYPOINTS, 2),
            np.array(out_s, np.float64))


def roi_from_points(centre: np.ndarray, circle: np.ndarray, scale: float = ROI_SCALE) -> Roi:
    """The crop of a person from two points in pixels: the body's centre and a point on its
    circle (the detector's keypoints 0 and 1, or the landmark model's auxiliary pair): a square
    of side ``scale`` x the circle's diameter, turned so the centre-to-circle vector points up."""
    centre, circle = np.asarray(centre, np.float64), np.asarray(circle, np.float64)
    d = circle - centre
    angle = TARGET_ANGLE - math.atan2(-d[1], d[0])
    angle = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))  # to [-pi, pi)
    return Roi(centre, float(2 * np.hypot(*d) * scale), float(angle))


def roi_matrix(roi: Roi, size: int) -> np.ndarray:
    """(2, 3) affine map from the pixels of a ``size`` x ``size`` crop to the image's pixels
    (MediaPipe's projection: p = centre + side x R(rotation) (t / size - 0.5))."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    linear = roi.side / size * np.array([[c, -s], [s, c]])
    return np.concatenate([linear, (roi.centre - linear @ np.array([size / 2, size / 2]))[:, None]], 1)


def window_matrix(window: tuple[float, float, float, float], size: int) -> np.ndarray:
    """(2, 3) affine map from the pixels of a ``size`` square to the image, for a rectangular
    window (x0, y0, x1, y1) letterboxed into it (scaled to fit, centred, aspect kept)."""
    x0, y0, x1, y1 = (float(v) for v in window)
    scale = max(x1 - x0, y1 - y0) / size
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return np.array([[scale, 0.0, cx - scale * size / 2], [0.0, scale, cy - scale * size / 2]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (..., 2) through a (2, 3) affine map."""
    return np.asarray(points, np.float64) @ matrix[:, :2].T + matrix[:, 2]


def crop(rgb: np.ndarray, matrix: np.ndarray, size: int, value_range: tuple[float, float], *,
         replicate: bool) -> np.ndarray:
    """(1, size, size, 3) float32 input tensor: the image sampled through ``matrix`` (crop pixels
    -> image pixels, bilinear), scaled from 0..255 to ``value_range``; outside the image the
    border is repeated (``replicate``, the landmark model's crops) or black (the detector's
    letterbox), as MediaPipe's ImageToTensorCalculator does on the CPU."""
    import cv2

    out = cv2.warpAffine(rgb, matrix.astype(np.float64), (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT, borderValue=0)
    low, high = value_range
    return (out.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low))[None]


def refine_with_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_confidence: float = REFINE_CONFIDENCE) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: each landmark (L, 2) in [0, 1] of the
    crop moved to the confidence-weighted mean cell of a ``kernel`` window of its heat map
    channel (heatmap (h, w, L) logits) around it, where that window's most confident cell
    reaches ``min_confidence``; landmarks outside the map stay."""
    h, w, channels = heatmap.shape
    out = np.array(xy, np.float64, copy=True)
    half = (kernel - 1) // 2
    count = min(len(xy), channels)
    cols, rows = np.floor(xy[:count, 0] * w).astype(int), np.floor(xy[:count, 1] * h).astype(int)
    inside = np.flatnonzero((cols >= 0) & (cols < w) & (rows >= 0) & (rows < h))
    if not len(inside):
        return out
    # cells past the map's edge weigh nothing (MediaPipe shrinks the kernel there)
    padded = np.pad(heatmap.astype(np.float64), ((half, half), (half, half), (0, 0)), constant_values=-np.inf)
    offsets = np.arange(kernel)
    r = rows[inside, None] + offsets  # (L, k) rows of the padded map
    c = cols[inside, None] + offsets
    conf = 1 / (1 + np.exp(-padded[r[:, :, None], c[:, None, :], inside[:, None, None]]))  # (L, k, k)
    total = conf.sum((1, 2))
    refine = (conf.max((1, 2)) >= min_confidence) & (total > 0)
    col = (conf.sum(1) * (c - half)).sum(1) / np.where(total > 0, total, 1)
    row = (conf.sum(2) * (r - half)).sum(1) / np.where(total > 0, total, 1)
    out[inside[refine], 0] = col[refine] / w
    out[inside[refine], 1] = row[refine] / h
    return out


def decode_landmarks(raw: np.ndarray, heatmap: np.ndarray | None = None, size: int = LANDMARK_SIZE
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The landmark model's (L * 5,) output to (L, 2) positions in [0, 1] of the crop (refined
    from the heat map when given) and (L,) visibilities (sigmoid)."""
    raw = np.asarray(raw, np.float64).reshape(-1, 5)
    xy = raw[:, :2] / size
    if heatmap is not None:
        xy = refine_with_heatmap(xy, heatmap)
    return xy, 1 / (1 + np.exp(-raw[:, 3]))


def _model_paths() -> tuple[Path, Path]:
    from ddhpose.video.detectors import _import_mediapipe, VIDEO_EXTRA, DetectorUnavailableError

    modules = Path(_import_mediapipe().__file__).parent / "modules"
    paths = (modules / "pose_detection" / "pose_detection.tflite",
             modules / "pose_landmark" / "pose_landmark_full.tflite")
    for path in paths:
        if not path.is_file():
            raise DetectorUnavailableError(f"{path}: MediaPipe's pose model is missing; the video extra pins the "
                                           f"release that ships it: {VIDEO_EXTRA}")
    return paths


def _interpreter(path: Path, threads: int):
    from ddhpose.video.detectors import DetectorUnavailableError, VIDEO_EXTRA
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as err:
        raise DetectorUnavailableError(f"the multi-person detector needs the TFLite interpreter ai-edge-litert, which "
                                       f"is not installed ({err}); install it with: {VIDEO_EXTRA}") from None
    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter


class BlazePoseModels:
    """The wheel's two BlazePose models in TFLite interpreters (``threads`` each).

    ``detect(rgb, window)`` finds people in a window of the frame; ``landmarks(rgb, roi)`` runs
    the landmark model on one crop. Frames are RGB (H, W, 3) uint8.
    """

    def __init__(self, threads: int = 2) -> None:
        detector, landmarker = _model_paths()
        self._detector = _interpreter(detector, threads)
        self._landmarker = _interpreter(landmarker, threads)
        det_out = {d["name"]: d["index"] for d in self._detector.get_output_details()}
        shapes = {d["index"]: tuple(d["shape"]) for d in self._detector.get_output_details()}
        # the box regressors (1, N, 12) and the scores (1, N, 1), told apart by shape
        self._boxes = next(i for i in det_out.values() if shapes[i][-1] == 4 + 2 * DETECTOR_KEYPOINTS)
        self._scores = next(i for i in det_out.values() if shapes[i][-1] == 1)
        lm_shapes = {tuple(d["shape"]): d["index"] for d in self._landmarker.get_output_details()}
        self._raw = lm_shapes[(1, NUM_LANDMARKS * 5)]
        self._flag = lm_shapes[(1, 1)]
        self._heatmap = next(i for s, i in lm_shapes.items() if len(s) == 4 and s[-1] == NUM_LANDMARKS)

    def detect(self, rgb: np.ndarray, window: tuple[int, int, int, int] | None = None,
               threshold: float = DETECTION_SCORE) -> list[Candidate]:
        """The people the detector finds in ``window`` (x0, y0, x1, y1; default the whole frame),
        letterboxed into its 224 px input, after weighted suppression, surest first."""
        h, w = rgb.shape[:2]
        matrix = window_matrix(window or (0, 0, w, h), DETECTOR_SIZE)
        tensor = crop(rgb, matrix, DETECTOR_SIZE, (-1.0, 1.0), replicate=False)
        self._detector.set_tensor(self._detector.get_input_details()[0]["index"], tensor)
        self._detector.invoke()
        boxes, keypoints, scores = decode_detections(self._detector.get_tensor(self._boxes)[0],
                                                     self._detector.get_tensor(self._scores)[0], threshold=threshold)
        boxes, keypoints, scores = weighted_nms(boxes, keypoints, scores)
        found = []
        for box, kp, score in zip(boxes, keypoints, scores):
            box = apply_affine(matrix, box.reshape(2, 2) * DETECTOR_SIZE).reshape(4)
            kp = apply_affine(matrix, kp * DETECTOR_SIZE)
            found.append(Candidate(box, kp, float(score), roi_from_points(kp[0], kp[1])))
        return found

    def landmarks(self, rgb: np.ndarray, roi: Roi) -> Pose:
        """The landmark model on the crop ``roi``: the 33 body landmarks in the frame's pixels."""
        matrix = roi_matrix(roi, LANDMARK_SIZE)
        tensor = crop(rgb, matrix, LANDMARK_SIZE, (0.0, 1.0), replicate=True)
        self._landmarker.set_tensor(self._landmarker.get_input_details()[0]["index"], tensor)
        self._landmarker.invoke()
        xy, visibility = decode_landmarks(self._landmarker.get_tensor(self._raw)[0],
                                          self._landmarker.get_tensor(self._heatmap)[0])
        points = apply_affine(matrix, xy * LANDMARK_SIZE)
        presence = float(np.asarray(self._landmarker.get_tensor(self._flag)).reshape(-1)[0])
        return Pose(points[:BODY_LANDMARKS], visibility[:BODY_LANDMARKS], presence,
                    roi_from_points(points[AUXILIARY[0]], points[AUXILIARY[1]]))
