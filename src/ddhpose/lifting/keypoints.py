"""2D keypoint layouts of common detectors, conversion to Human3.6M-17, gap filling, and
:class:`KeypointTrack` (one person's keypoints over time); tracking is in :mod:`ddhpose.lifting.tracking`.

A layout is data: joint names plus, for every Human3.6M joint, the layout joints whose mean
gives it. Conversion is one matrix product, so it is vectorised over frames and people.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Mapping, NamedTuple, Optional, Sequence, TypeVar

import numpy as np
import torch

from ddhpose.geometry import carry_with_anchor, interpolate_gaps
from ddhpose.lifting.checks import check_keypoints
from ddhpose.lifting.swaps import GROUPS, exchanged, repair_swaps
from ddhpose.skeleton import H36M_NAMES

Array = TypeVar("Array", torch.Tensor, np.ndarray)

#: Keypoints whose detector score is below this count as missing (MotionBERT's wild-video default
#: for heat-map confidences, the scores of COCO / OpenPose detectors).
DEFAULT_SCORE_THRESHOLD = 0.3


@dataclass(frozen=True)
class Layout:
    """A keypoint layout: ``names[k]`` is joint ``k``; ``h36m_sources[j]`` the joints averaged
    to make Human3.6M joint ``j``; ``score_threshold``: keypoints scoring below it count as missing
    (scores mean different things in different detectors' layouts)."""

    name: str
    names: tuple[str, ...]
    h36m_sources: tuple[tuple[str, ...], ...]
    score_threshold: float = DEFAULT_SCORE_THRESHOLD

    def __post_init__(self) -> None:
        if len(self.h36m_sources) != len(H36M_NAMES):
            raise ValueError(f"layout {self.name!r}: expected 17 H36M source lists, got {len(self.h36m_sources)}")
        unknown = {s for src in self.h36m_sources for s in src} - set(self.names)
        if unknown or not all(self.h36m_sources):
            raise ValueError(f"layout {self.name!r}: H36M sources name unknown joints {sorted(unknown)}")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def index(self, joint: str) -> int:
        return self.names.index(joint)


def _sources(mapping: Mapping[str, Sequence[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(mapping[name]) for name in H36M_NAMES)


# Limbs are named alike in every layout below, so the common part of the mapping is shared.
_LIMBS = {side + "_" + part: (side + "_" + part,) for side in ("left", "right")
          for part in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")}
_HIPS = ("left_hip", "right_hip")
_SHOULDERS = ("left_shoulder", "right_shoulder")

COCO17 = Layout(
    name="coco",
    names=("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
           "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    h36m_sources=_sources({**_LIMBS, "pelvis": _HIPS, "thorax": _SHOULDERS, "spine": _HIPS + _SHOULDERS,
                           "neck": ("nose",), "head": ("left_eye", "right_eye")}),
)

OPENPOSE25 = Layout(
    name="openpose25",
    names=("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
           "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
           "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
           "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
           "right_heel"),
    h36m_sources=_sources({**_LIMBS, "pelvis": ("mid_hip",), "thorax": ("neck",),
                           "spine": ("mid_hip", "neck"), "neck": ("nose",),
                           "head": ("left_eye", "right_eye")}),
)

MEDIAPIPE33 = Layout(
    name="mediapipe33",
    names=("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
           "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
           "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
           "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
           "right_heel", "left_foot_index", "right_foot_index"),
    h36m_sources=COCO17.h36m_sources,
    # MediaPipe's scores are landmark *visibility* (is it in view), not a heat-map confidence;
    # 0.5 is MediaPipe's own threshold for it
    score_threshold=0.5,
)

H36M17 = Layout(name="h36m", names=H36M_NAMES, h36m_sources=tuple((n,) for n in H36M_NAMES))

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (COCO17, OPENPOSE25, MEDIAPIPE33, H36M17)}


#: The layout of K keypoints per person when a file does not name one. 17 is COCO's in detector
#: files (JSON); in plain arrays it could as well be Human3.6M's and must be named.
LAYOUT_BY_COUNT = {17: "coco", 25: "openpose25", 33: "mediapipe33"}


def layout_for(count: int, where: str, *, ambiguous_17: bool = False) -> str:
    """The layout of ``count`` keypoints per person (:data:`LAYOUT_BY_COUNT`); ``ambiguous_17``:
    17 is refused (arrays, where COCO and Human3.6M orders look alike). Errors name ``where``."""
    if count == 17 and ambiguous_17:
        raise ValueError(f"{where}: 17 joints is ambiguous between COCO and Human3.6M order; pass layout='coco' "
                         "or layout='h36m' (--layout)")
    if count not in LAYOUT_BY_COUNT:
        raise ValueError(f"{where}: {count} keypoints per person; expected one of {sorted(LAYOUT_BY_COUNT)} "
                         f"({', '.join(LAYOUT_BY_COUNT.values())})")
    return LAYOUT_BY_COUNT[count]


def get_layout(layout: str | Layout) -> Layout:
    """Look a layout up by name: 'coco', 'openpose25', 'mediapipe33' or 'h36m'."""
    if isinstance(layout, Layout):
        return layout
    try:
        return LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown keypoint layout {layout!r}; expected one of {sorted(LAYOUTS)}") from None


@lru_cache(maxsize=None)
def _conversion(layout: Layout) -> tuple[torch.Tensor, torch.Tensor]:
    """(17, K) averaging weights and the (17, K) boolean source mask."""
    mask = torch.zeros(len(H36M_NAMES), layout.num_joints, dtype=torch.bool)
    for j, sources in enumerate(layout.h36m_sources):
        mask[j, [layout.index(s) for s in sources]] = True
    return mask / mask.sum(-1, keepdim=True), mask


def to_h36m(keypoints: Array, scores: Array, layout: str | Layout) -> tuple[Array, Array]:
    """Convert keypoints of a detector layout to the Human3.6M-17 order.

    The mapping is MotionBERT's ``coco2h36m`` (the common convention for wild videos):

    - limbs (hips, knees, ankles, shoulders, elbows, wrists) are copied;
    - pelvis = (left_hip + right_hip) / 2   (OpenPose BODY_25: its MidHip);
    - thorax = (left_shoulder + right_shoulder) / 2   (BODY_25: its Neck);
    - spine = (pelvis + thorax) / 2;
    - neck/nose = nose;
    - head = (left_eye + right_eye) / 2.

    A derived joint's score is the minimum of its source scores; a NaN source makes it NaN.
    The 'h36m' layout converts to itself.

    Args:
        keypoints: (..., K, 2) in any units; scores: (..., K). Torch or NumPy.
    Returns:
        keypoints (..., 17, 2) and scores (..., 17), of the input's array type.
    """
    lay = get_layout(layout)
    as_numpy = isinstance(keypoints, np.ndarray)
    kp = torch.as_tensor(keypoints)
    sc = torch.as_tensor(scores, device=kp.device)
    if kp.ndim < 2 or kp.shape[-2:] != (lay.num_joints, 2):
        raise ValueError(f"keypoints: expected (..., {lay.num_joints}, 2) for layout {lay.name!r}, "
                         f"got {tuple(kp.shape)}")
    if sc.shape != kp.shape[:-1]:
        raise ValueError(f"scores: expected {tuple(kp.shape[:-1])} to match the keypoints, got {tuple(sc.shape)}")
    if not kp.is_floating_point():
        kp = kp.double()
    if not sc.is_floating_point():
        sc = sc.to(kp.dtype)
    weights, mask = (t.to(kp.device) for t in _conversion(lay))
    # NaNs are zeroed first so that 0 * NaN cannot leak into joints that do not use them
    nan = torch.isnan(kp).any(-1)
    out = torch.einsum("...kc,jk->...jc", kp.masked_fill(nan[..., None], 0.0), weights.to(kp.dtype))
    out = out.masked_fill((nan.to(kp.dtype) @ mask.T.to(kp.dtype) > 0)[..., None], float("nan"))
    out_scores = torch.where(mask, sc[..., None, :], torch.full((), float("inf"), dtype=sc.dtype,
                                                                 device=sc.device)).amin(-1)
    if as_numpy:
        return out.numpy(), out_scores.numpy()
    return out, out_scores


# A front-facing standing Human3.6M body in image axes (x right on the image, y down), metres;
# its shape places joints a video never shows (e.g. the legs in an upper-body shot).
_TEMPLATE = torch.tensor([
    [0, 0], [-0.13, 0], [-0.13, 0.45], [-0.13, 0.89], [0.13, 0], [0.13, 0.45], [0.13, 0.89],
    [0, -0.23], [0, -0.48], [0, -0.59], [0, -0.70], [0.15, -0.48], [0.15, -0.20], [0.15, 0.05],
    [-0.15, -0.48], [-0.15, -0.20], [-0.15, 0.05]], dtype=torch.float64)


def _place_template(kp: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Per frame, the template scaled and shifted onto the known joints (least squares).
    kp (F, 17, 2), known (17,) bool -> (F, 17, 2)."""
    tpl = _TEMPLATE.to(kp)
    src, dst = tpl[known], kp[:, known]  # (K, 2), (F, K, 2)
    src_c, dst_c = src - src.mean(0), dst - dst.mean(1, keepdim=True)
    scale = (dst_c * src_c).sum((1, 2)) / src_c.square().sum().clamp_min(1e-12)  # (F,)
    scale = scale.clamp_min(1e-6)
    shift = dst.mean(1) - scale[:, None] * src.mean(0)
    return scale[:, None, None] * tpl + shift[:, None]


def fill_gaps(keypoints: Array, scores: Array, threshold: float = DEFAULT_SCORE_THRESHOLD,
              joint_names: Sequence[str] | None = None) -> tuple[Array, Array]:
    """Fill missing Human3.6M-17 keypoints so they move with the body.

    A keypoint is missing when its score is below ``threshold`` or NaN, or when a coordinate is
    NaN. The anchor is the joint detected in the most frames (the pelvis when it is among them):
    it is interpolated linearly over time. Every other joint's *offset from the anchor* is
    interpolated over its gaps (gaps at the ends hold the nearest offset), so a joint hidden while
    the person walks is carried along instead of being left where it was last seen. Joints never
    detected (the legs of an upper-body video) are placed from a standing-body template fitted
    (scale and shift) to the other joints of each frame. Every filled keypoint is flagged.

    Args:
        keypoints: (F, 17, 2); scores: (F, 17). Torch or NumPy, Human3.6M order.
        joint_names: for error messages (default: the H36M names).
    Returns:
        filled (F, 17, 2) of the input's array type, and missing (F, 17) bool, True where filled.
    Raises:
        ValueError: no frames, every keypoint missing, or fewer than 2 joints ever detected.
    """
    as_numpy = isinstance(keypoints, np.ndarray)
    kp = torch.as_tensor(keypoints)
    sc = torch.as_tensor(scores, device=kp.device)
    if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[0] == 0:
        raise ValueError(f"keypoints: expected (F, J, 2) with F >= 1, got {tuple(kp.shape)}")
    if sc.shape != kp.shape[:-1]:
        raise ValueError(f"scores: expected {tuple(kp.shape[:-1])} to match the keypoints, got {tuple(sc.shape)}")
    if kp.shape[1] != len(_TEMPLATE):
        raise ValueError(f"keypoints: expected the {len(_TEMPLATE)} Human3.6M joints, got {kp.shape[1]}")
    if not kp.is_floating_point():
        kp = kp.double()
    frames, joints = sc.shape
    missing = ~(sc >= threshold) | torch.isnan(kp).any(-1)  # ~(>=) also catches NaN scores
    if bool(missing.all()):
        raise ValueError(f"keypoints: all {frames} frames are missing (score below {threshold} or NaN); "
                         "expected at least one detected keypoint")
    seen = (~missing).sum(0)
    known = seen > 0
    if int(known.sum()) < 2:
        names = joint_names or H36M_NAMES
        raise ValueError(f"keypoints: only {[names[j] for j in range(joints) if known[j]]} detected in any of the "
                         f"{frames} frames (score >= {threshold}); expected at least 2 joints")
    x = kp.double().nan_to_num(0.0)
    anchor = 0 if seen[0] >= 0.9 * seen.max() else int(seen.argmax())
    x[:, anchor] = interpolate_gaps(x[:, anchor:anchor + 1], missing[:, anchor:anchor + 1])[:, 0]
    x = carry_with_anchor(x, missing, anchor)
    if not bool(known.all()):  # never-detected joints from the template placed on the others
        x = torch.where(known[None, :, None], x, _place_template(x, known))
    filled = torch.where(missing[..., None], x.to(kp.dtype), kp)
    if as_numpy:
        return filled.numpy(), missing.numpy()
    return filled, missing


@dataclass(frozen=True, eq=False)
class KeypointTrack:
    """One person's 2D keypoints over the frames where they were detected.

    Attributes:
        keypoints: (F, K, 2) float32 pixels (NaN where unknown); scores: (F, K) float32.
        frames: (F,) int64 frame indices, ascending; track_id: person id within the file.
        layout: keypoint layout name (see :data:`LAYOUTS`).
        image_size: (width, height) in pixels when known; source: the file read.
        fps: the frame rate of ``frames`` when the source states it (a video's, or a detections
            file's), else None.
        input_track_id: the id the input gave this person, where it gave one (people are
            numbered 0..N-1 in order of first appearance: :func:`ddhpose.lifting.tracking.tracks_of`).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    frames: np.ndarray
    track_id: int
    layout: str
    image_size: Optional[tuple[int, int]] = None
    source: str = ""
    fps: Optional[float] = None
    input_track_id: Optional[int] = None

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def to_h36m(self) -> KeypointTrack:
        """The same track in the Human3.6M-17 order (:func:`to_h36m`)."""
        kp, sc = to_h36m(self.keypoints, self.scores, self.layout)
        return replace(self, keypoints=kp, scores=sc, layout="h36m")

    def contiguous(self) -> KeypointTrack:
        """Every frame from the first to the last; frames without a detection get NaN and score 0."""
        frames = np.arange(self.frames[0], self.frames[-1] + 1, dtype=np.int64)
        kp = np.full((len(frames),) + self.keypoints.shape[1:], np.nan, dtype=np.float32)
        sc = np.zeros((len(frames),) + self.scores.shape[1:], dtype=np.float32)
        kp[self.frames - frames[0]], sc[self.frames - frames[0]] = self.keypoints, self.scores
        return replace(self, keypoints=kp, scores=sc, frames=frames)


def make_track(kp: np.ndarray, scores: np.ndarray, frames: np.ndarray, track_id: int, layout: str,
                size: tuple[int, int] | None, src: str) -> KeypointTrack:
    if not np.isfinite(kp).any():
        raise ValueError(f"{src}: keypoints of track {track_id} are all NaN or infinite; expected detected keypoints")
    if kp.shape[1] != LAYOUTS[layout].num_joints:
        raise ValueError(f"{src}: keypoints have {kp.shape[1]} joints; layout {layout!r} expects "
                         f"{LAYOUTS[layout].num_joints}")
    order = np.argsort(frames, kind="stable")
    return KeypointTrack(kp[order].astype(np.float32), scores[order].astype(np.float32),
                         frames[order].astype(np.int64), int(track_id), layout, size, src)


class LiftInputs(NamedTuple):
    """A track's keypoints as the lifter takes them, in the Human3.6M order (F frames).

    keypoints (F, 17, 2) pixels as detected (NaN where not), left and right put back where the
    detector exchanged them; scores (F, 17); filled (F, 17, 2) with every missing keypoint
    interpolated (:func:`fill_gaps`); missing (F, 17) bool; threshold: the score below which a
    keypoint counted as missing; swapped: {'legs' | 'arms': (F,) bool} the frames whose labels
    were exchanged back (:mod:`ddhpose.lifting.swaps`).
    """

    keypoints: np.ndarray
    scores: np.ndarray
    filled: np.ndarray
    missing: np.ndarray
    threshold: float
    swapped: dict


def lift_inputs(track: KeypointTrack, threshold: float | None = None, repair: bool = True) -> LiftInputs:
    """Convert a contiguous track with a known image size to the Human3.6M order, check it
    against the image (:func:`ddhpose.lifting.checks.check_keypoints`), put back left and right
    where a detector exchanged them (``repair``: :func:`ddhpose.lifting.swaps.repair_swaps`) and
    fill its gaps; ``threshold`` None: the layout's own."""
    threshold = get_layout(track.layout).score_threshold if threshold is None else float(threshold)
    kp17, sc17 = to_h36m(track.keypoints, track.scores, track.layout)
    where = f"track {track.track_id}"
    check_keypoints(kp17, sc17, track.image_size, track.layout, where, threshold)
    swapped = {group: np.zeros(len(kp17), bool) for group in GROUPS}
    if repair:
        seen = np.isfinite(kp17).all(-1) & (np.nan_to_num(sc17) >= threshold)
        kp17, swapped = repair_swaps(kp17, seen)
        for group, frames in swapped.items():
            sc17 = exchanged(sc17[..., None], frames, group)[..., 0]
    try:
        filled, missing = fill_gaps(kp17, sc17, threshold)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return LiftInputs(kp17, sc17, filled, missing, threshold, swapped)
