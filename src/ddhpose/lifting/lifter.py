"""The user-facing lifter: 2D keypoints from the wild -> 3D poses in metres with uncertainty.

Pipeline of :meth:`Lifter.lift` for one person:

1. layout conversion to Human3.6M-17 (:func:`ddhpose.lifting.keypoints.to_h36m`), frames without a
   detection added, low-score / NaN keypoints interpolated (:func:`ddhpose.lifting.keypoints.fill_gaps`);
2. screen normalisation by the image width (:func:`ddhpose.geometry.normalize_screen`);
3. overlapping windows of the model's F frames (stride F // 2 by default; sequences shorter
   than F repeat their last frame), sampled in batches and blended back with a Hann window
   (:func:`blend_windows`) so window edges weigh less and no seam shows;
4. aggregation of the H hypotheses (default: their mean, P-Agg, which is stable over time).
   J-Agg (method section 7), on request, needs the root's camera position
   and the intrinsics, which wild videos lack. Assumed: a pinhole camera with
   ``focal_length`` pixels (default :data:`DEFAULT_FOCAL_RATIO` x image width, Human3.6M's
   f ~ 1145 px at 1000 px width) and the principal point at the image centre. The root is
   estimated per frame by weak perspective (:func:`weak_perspective_root`). Where that fails
   (degenerate pose or non-positive depth) the mean of the hypotheses (P-Agg) is used; the
   result's ``aggregation`` says which;
5. a Gaussian filter over time (default sigma 2 frames) against the sampler's jitter;
6. one body per track (default): every bone gets the track's median length and each frame is
   recomposed from its predicted directions (:mod:`ddhpose.lifting.postprocess`).
"""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from einops import rearrange

from ddhpose.geometry import normalize_screen
from ddhpose.lifting.checks import check_keypoints
from ddhpose.lifting.keypoints import DEFAULT_SCORE_THRESHOLD, LAYOUTS, KeypointTrack, fill_gaps, to_h36m
from ddhpose.lifting.postprocess import smooth_in_time, standing_height, track_bone_lengths, with_bone_lengths
from ddhpose.lifting.result import LiftResult
from ddhpose.metrics import reproject, select_by_reprojection
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.chunking import cpu_chunk
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.precision import resolve_precision, with_precision
from ddhpose.skeleton import H36M
from ddhpose.windowing import blend_windows, window_index

__all__ = ["AGGREGATIONS", "BONE_LENGTHS", "DEFAULT_FOCAL_RATIO", "DEFAULT_SMOOTHING", "Lifter", "LiftResult",
           "hypothesis_spread", "weak_perspective_root"]

#: How :meth:`Lifter.lift` turns hypotheses into one pose; the first is the default.
AGGREGATIONS = ("p_agg", "median", "j_agg")
#: Bone-length handling of :meth:`Lifter.lift`; the first is the default.
BONE_LENGTHS = ("track", "free")
#: Default temporal filter of :meth:`Lifter.lift` (Gaussian sigma, frames), chosen in docs/lift_quality.md.
DEFAULT_SMOOTHING = 2.0
#: Frame rate assumed for keypoint files that do not state one (results, BVH and animations).
DEFAULT_FPS = 25.0
#: Default assumed focal length as a multiple of the image width (Human3.6M: ~1145 px / 1000 px).
DEFAULT_FOCAL_RATIO = 1.15
#: The range of a person's height (metres) that :meth:`Lifter.lift` accepts.
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.5
BUNDLED_WEIGHTS = "assets/pretrained/ddhpose_wild.safetensors"


class WeightsNotFoundError(FileNotFoundError, ValueError):
    """The bundled pretrained weights are not installed."""


def hypothesis_spread(hypotheses: torch.Tensor) -> torch.Tensor:
    """Per-joint RMS distance of the hypotheses to their mean. (H, ..., 3) -> (...); 0 for H = 1."""
    centred = hypotheses - hypotheses.mean(0, keepdim=True)
    return centred.square().sum(-1).mean(0).sqrt()


def weak_perspective_root(pose: torch.Tensor, x2d: torch.Tensor, focal: float,
                          centre: torch.Tensor | None = None) -> torch.Tensor:
    """Estimate the root's camera position from a root-relative pose and its 2D keypoints.

    Weak perspective: x2d ~ s (pose_xy + T_xy) + centre with s = focal / T_z. The scale is the
    ratio of the 2D and 3D spreads, s = ||x2d - mean|| / ||pose_xy - mean||, then
    T_z = focal / s and T_xy = mean(x2d - centre - s pose_xy) / s (least squares given s).

    Args:
        pose: (..., J, 3) root-relative; x2d: (..., J, 2) in the units of ``focal`` and ``centre``
            (e.g. screen-normalised); centre: (2,) principal point (default 0).
    Returns:
        (..., 3) root position; non-finite where a spread is zero.
    """
    u = x2d - (0 if centre is None else centre)
    p = pose[..., :2]
    spread_2d = (u - u.mean(-2, keepdim=True)).flatten(-2).norm(dim=-1)
    spread_3d = (p - p.mean(-2, keepdim=True)).flatten(-2).norm(dim=-1)
    s = (spread_2d / spread_3d)[..., None]
    xy = (u - s[..., None] * p).mean(-2) / s
    return torch.cat([xy, focal / s], dim=-1)


class Lifter:
    """Lift 2D keypoints to 3D with a DDHPose model trained on the Human3.6M-17 skeleton."""

    def __init__(self, model: DDHPose, device: torch.device | str | None = None, precision: str = "fp32") -> None:
        """``precision``: the denoiser's arithmetic, 'fp32', 'bf16' or 'int8' (:mod:`ddhpose.model.precision`)."""
        if model.skeleton.parents != H36M.parents:
            raise ValueError(f"Lifter: expected a model of the Human3.6M 17-joint skeleton, got parents "
                             f"{model.skeleton.parents}")
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.model = with_precision(model.to(self.device).eval(), precision, self.device)
        self.precision = resolve_precision(precision, self.device)  # 'auto' -> what it chose
        self.checkpoint = "in-memory model"  # from_pretrained names the file

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None,
                        device: torch.device | str | None = None, precision: str = "fp32",
                        **released: Any) -> "Lifter":
        """Load a checkpoint (.safetensors or a released .bin); ``path`` None -> the bundled
        wild-video model. ``device`` None -> CUDA when available, else the CPU. ``released``:
        what a released .bin cannot tell (``skeleton``, ``scale``), see ``load_checkpoint``."""
        if path is None:
            bundled = resources.files("ddhpose").joinpath(BUNDLED_WEIGHTS)
            if not bundled.is_file():
                raise WeightsNotFoundError(
                    f"the bundled pretrained weights (ddhpose/{BUNDLED_WEIGHTS}) are not installed; pass a "
                    "checkpoint explicitly: Lifter.from_pretrained('model.safetensors') (or a released .bin)")
            with resources.as_file(bundled) as file:
                model = load_checkpoint(file)
        else:
            model = load_checkpoint(path, **released)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        lifter = cls(model, device, precision)
        lifter.checkpoint = f"bundled {Path(BUNDLED_WEIGHTS).name}" if path is None else str(path)
        return lifter

    @property
    def frames(self) -> int:
        return self.model.config.frames

    def lift(self, keypoints: np.ndarray | torch.Tensor | KeypointTrack, scores: np.ndarray | None = None, *,
             image_size: Sequence[int] | None = None, layout: str | None = None, hypotheses: int = 1,
             iterations: int = 1, flip: bool = True, seed: int = 0, focal_length: float | None = None,
             score_threshold: float = DEFAULT_SCORE_THRESHOLD, aggregation: str = "p_agg",
             bone_lengths: str = "track", smooth: float = DEFAULT_SMOOTHING, start: str = "noise",
             stride: int | None = None, batch_size: int = 32, height: float | None = None) -> LiftResult:
        """Lift one person's keypoints (any number of frames) to 3D.

        Args:
            keypoints: (F, K, 2) pixels (NaN where undetected) or a :class:`KeypointTrack`
                (its scores, frames, layout, track id and image size are used).
            scores: (F, K) detector scores (arrays only; default 1 for finite keypoints).
            image_size: (width, height) pixels; needed unless the track knows it.
            layout: 'coco', 'h36m', 'openpose25' or 'mediapipe33' (default: the track's, or by K
                for arrays, where 17 must be given explicitly).
            hypotheses, iterations: H and W of the DDIM sampler; the last iteration is kept.
            seed: seeds the sampler's noise, so results are reproducible.
            focal_length: pixels, assumed for J-Agg (default DEFAULT_FOCAL_RATIO * width).
            aggregation: how the H hypotheses become one pose (:data:`AGGREGATIONS`): 'p_agg' (their
                mean, the default: stable over time), 'median' (per-coordinate median, robust to
                an outlying hypothesis) or 'j_agg' (per joint and frame the hypothesis that
                reprojects closest to the 2D; falls back to 'p_agg' when the root cannot be
                estimated; it may flicker between hypotheses from frame to frame).
            bone_lengths: 'track' (the default: one length per bone for the whole track, the
                median over frames with left and right averaged, every frame recomposed with its
                own predicted directions; :mod:`ddhpose.lifting.postprocess`) or 'free' (every frame keeps
                the lengths the model predicted).
            smooth: sigma in frames of a Gaussian filter over time applied to the aggregated pose
                (:func:`ddhpose.lifting.postprocess.smooth_in_time`; 0: off). The hypotheses are kept as
                sampled. The default removes the sampler's frame-to-frame jitter
                (docs/lift_quality.md measures it).
            start: the sampler's start state, 'noise' (the method) or 'zero' (see :meth:`DDHPose.sample`).
            height: the person's height in metres, if known: poses, hypotheses, bone lengths and
                root trajectory are scaled together (the 2D projection is unchanged) so that the
                track's standing height (:func:`ddhpose.lifting.postprocess.standing_height`, ankles to head
                top along the bones) equals it. Body size cannot be seen in 2D: without it the
                model's guess is typically 5-10 % off (docs/wild_accuracy.md).
            stride: window step (default F // 2); batch_size: windows per sampler call.
        """
        if not smooth >= 0:
            raise ValueError(f"smooth: expected a filter width >= 0 frames, got {smooth}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation: expected one of {list(AGGREGATIONS)}, got {aggregation!r}")
        if bone_lengths not in BONE_LENGTHS:
            raise ValueError(f"bone_lengths: expected one of {list(BONE_LENGTHS)}, got {bone_lengths!r}")
        if height is not None and not MIN_HEIGHT <= height <= MAX_HEIGHT:
            raise ValueError(f"height: expected the person's height in metres ({MIN_HEIGHT}-{MAX_HEIGHT}), got {height}")
        if hypotheses < 1 or iterations < 1 or batch_size < 1:
            raise ValueError(f"hypotheses, iterations and batch_size must be >= 1, got {hypotheses}, "
                             f"{iterations} and {batch_size}")
        kp, sc, frames, lay, size, track_id = _prepare(keypoints, scores, layout, image_size)
        kp17, sc17 = to_h36m(kp, sc, lay)
        check_keypoints(kp17, sc17, size, lay, f"track {track_id}", score_threshold)
        try:
            filled, missing = fill_gaps(kp17, sc17, score_threshold)
        except ValueError as err:
            raise ValueError(f"track {track_id}: {err}") from None
        width, image_height = size
        x = normalize_screen(torch.from_numpy(filled).to(self.device, torch.float32), width, image_height)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        samples = self._sample(x, hypotheses, iterations, flip, gen, stride or max(1, self.frames // 2), batch_size,
                               start)
        focal = DEFAULT_FOCAL_RATIO * width if focal_length is None else float(focal_length)
        pose, trajectory, used = _aggregate(samples, x, 2 * focal / width, aggregation)
        pose = smooth_in_time(pose, smooth)
        lengths = None
        if bone_lengths == "track":
            lengths = track_bone_lengths(pose, self.model.skeleton)
            pose = with_bone_lengths(pose, lengths, self.model.skeleton)
            samples = with_bone_lengths(samples, lengths, self.model.skeleton)
        if height is not None:
            skeleton = self.model.skeleton
            scale = height / float(standing_height(track_bone_lengths(pose, skeleton) if lengths is None else lengths,
                                                   skeleton))
            pose, samples = pose * scale, samples * scale
            lengths = None if lengths is None else lengths * scale
            trajectory = None if trajectory is None else trajectory * scale
        from ddhpose._version import __version__
        settings = dict(ddhpose=__version__, checkpoint=self.checkpoint, precision=self.precision,
                        hypotheses=hypotheses, iterations=iterations, flip=flip, seed=int(seed), start=start,
                        aggregation=aggregation, bone_lengths=bone_lengths, smooth=float(smooth),
                        score_threshold=float(score_threshold), layout=lay, focal_length=focal,
                        height=None if height is None else float(height))
        return LiftResult(
            provenance=settings, poses=pose.cpu().numpy(), hypotheses=samples.cpu().numpy(),
            uncertainty=hypothesis_spread(samples).cpu().numpy(), keypoints_2d=filled, missing=missing,
            scores=sc17, frames=frames, image_size=size, track_id=track_id, aggregation=used,
            focal_length=focal, root_trajectory=None if trajectory is None else trajectory.cpu().numpy(),
            bone_lengths=None if lengths is None else lengths.cpu().numpy())

    def _sample(self, x: torch.Tensor, hypotheses: int, iterations: int, flip: bool, gen: torch.Generator,
                stride: int, batch_size: int, start: str = "noise") -> torch.Tensor:
        """Screen-normalised x (N, J, 2) -> root-relative hypotheses (H, N, J, 3), windows blended."""
        index = window_index(len(x), self.frames, min(stride, self.frames))
        windows = x[torch.from_numpy(index).to(x.device)]  # (n, F, J, 2)
        chunk = cpu_chunk(hypotheses, x.device)
        out = torch.cat([self.model.sample(part, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                           generator=gen, chunk=chunk, start=start)[:, -1]
                         for part in windows.split(batch_size)])
        out[..., H36M.root, :] = 0  # as in evaluation (method section 6)
        blended = blend_windows(rearrange(out, "n h f j c -> n f h j c"), index, len(x))
        return rearrange(blended, "f h j c -> h f j c")


def _aggregate(samples: torch.Tensor, x2d: torch.Tensor, focal: float, aggregation: str
               ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """(H, N, J, 3) hypotheses, x2d (N, J, 2) normalised, focal normalised (2 f / w) ->
    (pose (N, J, 3), root trajectory (N, 3) or None, aggregation used)."""
    mean = samples.mean(0)
    traj = weak_perspective_root(mean, x2d, focal)
    depth = samples[..., 2].abs().amax(dim=(0, 2))  # (N,) largest depth offset of any joint
    if not (torch.isfinite(traj).all() and (traj[:, 2] > depth).all()):
        traj = None  # degenerate pose or the camera would sit inside the body
    if samples.shape[0] == 1:
        return samples[0], traj, "none"
    if aggregation == "median":
        return samples.median(0).values, traj, "median"
    if aggregation == "p_agg" or traj is None:
        return mean, traj, "p_agg"
    # image-centre principal point, no distortion; screen-normalised (centre -> 0, f -> 2 f / w)
    camera = samples.new_tensor([[focal, focal, 0, 0, 0, 0, 0, 0, 0]])
    hyp = samples[None, None]  # (B=1, W=1, H, N, J, 3)
    reproj = reproject(hyp, traj[None, :, None], camera)
    return select_by_reprojection(hyp, reproj, x2d[None])[0, 0], traj, "j_agg"


def _prepare(keypoints: np.ndarray | torch.Tensor | KeypointTrack, scores: np.ndarray | None, layout: str | None,
             image_size: Sequence[int] | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str, tuple[int, int], int]:
    """Arrays of a track or an array input: kp (F, K, 2) float64, scores (F, K), frames (F,),
    layout name, (width, height), track id."""
    if isinstance(keypoints, KeypointTrack):
        track = keypoints.contiguous()
        if layout is not None and layout != track.layout:
            raise ValueError(f"layout {layout!r} disagrees with the track's layout {track.layout!r}")
        if scores is not None:
            raise ValueError("scores: a KeypointTrack carries its own scores; pass scores only with arrays")
        kp, sc, frames, lay = track.keypoints, track.scores, track.frames, track.layout
        size, track_id = image_size or track.image_size, track.track_id
    else:
        kp = np.asarray(keypoints.detach().cpu() if isinstance(keypoints, torch.Tensor) else keypoints)
        if kp.ndim != 3 or kp.shape[-1] != 2 or len(kp) == 0:
            raise ValueError(f"keypoints: expected (F, K, 2) pixels with F >= 1, got {kp.shape}")
        sc = np.isfinite(kp).all(-1).astype(np.float64) if scores is None else np.asarray(scores)
        by_count = {lay.num_joints: name for name, lay in LAYOUTS.items() if name not in ("coco", "h36m")}
        lay = layout or by_count.get(kp.shape[1])
        if lay is None:
            raise ValueError(f"keypoints: {kp.shape[1]} joints; pass layout= one of {sorted(LAYOUTS)} "
                             "(17 joints may be 'coco' or 'h36m')")
        frames, size, track_id = np.arange(len(kp)), image_size, 0
    if size is None:
        raise ValueError("image_size: unknown; pass image_size=(width, height) in pixels (the keypoints are "
                         "normalised by the image width)")
    size = tuple(int(v) for v in np.asarray(size).reshape(-1))
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size: expected (width, height) > 0, got {image_size}")
    return np.asarray(kp, np.float64), np.asarray(sc, np.float64), frames, lay, size, track_id


