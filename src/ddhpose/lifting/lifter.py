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
import warnings
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from ddhpose.geometry import normalize_screen
from ddhpose.lifting.checks import check_keypoints
from ddhpose.lifting.keypoints import KeypointTrack, fill_gaps, get_layout, layout_for, to_h36m
from ddhpose.lifting.postprocess import (aggregate, hypothesis_spread, standing_height, track_bone_lengths,
                                        with_bone_lengths)
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.refine import refine_to_2d
from ddhpose.lifting.temporal import smooth_in_time
from ddhpose.lifting.trajectory import fill_and_smooth, joint_weights, perspective_root
from ddhpose.lifting.world import (DRIFT_WARNING_DEG, NoFloorError, find_world_frame, foot_contacts,
                                  lock_feet)
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.chunking import cpu_chunk
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.precision import resolve_precision, with_precision
from ddhpose.skeleton import H36M
from ddhpose.windowing import blend_windows, window_index

__all__ = ["AGGREGATIONS", "BONE_LENGTHS", "DEFAULT_FOCAL_RATIO", "DEFAULT_FPS", "DEFAULT_SMOOTHING", "Lifter",
           "LiftResult", "place_in_world"]

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
#: Focal lengths (pixels, as multiples of the image width) that :meth:`Lifter.lift` accepts: from
#: a 170-degree fisheye to a 1,000 mm lens on a phone sensor.
FOCAL_RATIO_RANGE = (0.05, 50.0)
#: The range of a person's height (metres) that :meth:`Lifter.lift` accepts.
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.5
BUNDLED_WEIGHTS = "assets/pretrained/ddhpose_wild.safetensors"


class WeightsNotFoundError(FileNotFoundError, ValueError):
    """The bundled pretrained weights are not installed."""


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
             score_threshold: float | None = None, aggregation: str = "p_agg",
             bone_lengths: str = "track", smooth: float = DEFAULT_SMOOTHING, start: str = "noise",
             stride: int | None = None, batch_size: int = 32, height: float | None = None,
             fps: float | None = None, world: bool = True, foot_lock: bool = True,
             principal_point: Sequence[float] | None = None, focal_length_source: str | None = None,
             fit_2d: bool = False, progress: bool = False) -> LiftResult:
        """Lift one person's keypoints (any number of frames) to 3D.

        Args:
            keypoints: (F, K, 2) pixels (NaN where undetected) or a :class:`KeypointTrack`
                (its scores, frames, layout, track id, image size and fps are used).
            scores: (F, K) detector scores (arrays only; default 1 for finite keypoints).
            image_size: (width, height) pixels; needed unless the track knows it.
            layout: 'coco', 'h36m', 'openpose25' or 'mediapipe33' (default: the track's, or by K
                for arrays, where 17 must be given explicitly).
            hypotheses, iterations: H and W of the DDIM sampler; the last iteration is kept.
            seed: seeds the sampler's noise, so results are reproducible.
            focal_length: the camera's focal length in pixels, if known (default
                :data:`DEFAULT_FOCAL_RATIO` x width, an assumption the result records); used for the
                root trajectory and J-Agg.
            principal_point: (cx, cy) pixels of a calibrated camera (default: the image centre).
            focal_length_source: where a given focal length came from (recorded; default 'given').
            score_threshold: keypoints scoring below it count as missing and are interpolated
                (default: the layout's, :attr:`ddhpose.lifting.keypoints.Layout.score_threshold`).
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
                and the root trajectory (:func:`ddhpose.lifting.temporal.smooth_in_time`; 0: off). The
                hypotheses are kept as sampled. The default removes the sampler's frame-to-frame
                jitter (docs/lift_quality.md measures it).
            start: the sampler's start state, 'noise' (the method) or 'zero' (see :meth:`DDHPose.sample`).
            height: the person's height in metres, if known: poses, hypotheses, bone lengths and
                root trajectory are scaled together (the 2D projection is unchanged) so that the
                track's standing height (:func:`ddhpose.lifting.postprocess.standing_height`, ankles to
                head top along the bones) equals it. Body size cannot be seen in 2D: without it the
                model's guess is typically 5-10 % off (docs/wild_accuracy.md).
            fps: frames per second (default: the track's, else :data:`DEFAULT_FPS`); the world
                frame's speeds and the result's time base.
            world: also place the motion in a world frame (y up, floor at 0; :mod:`ddhpose.lifting.world`)
                with foot contacts; where no floor can be found the result says why
                (``world_note``) and keeps the camera frame only, with a warning.
            foot_lock: in the world frame, remove foot sliding during contact
                (:func:`ddhpose.lifting.world.lock_feet`).
            fit_2d: move the pose and root toward reprojecting onto the 2D keypoints (bone
                lengths kept, depth order kept from the model, weighted by the scores, smooth in
                time; :func:`ddhpose.lifting.refine.refine_to_2d`), before ``height`` scaling;
                docs/refine_2d.md measures where it helps.
            stride: window step (default F // 2); batch_size: windows per sampler call.
            progress: show a progress bar over the sampler's batches.
        """
        _check_options(smooth, aggregation, bone_lengths, height, hypotheses, iterations, batch_size, focal_length)
        track = _as_track(keypoints, scores, layout, image_size)
        lay = get_layout(track.layout)
        threshold = lay.score_threshold if score_threshold is None else float(score_threshold)
        kp17, sc17, filled, missing = _keypoints_h36m(track, threshold)
        width, image_height = track.image_size
        x = normalize_screen(torch.from_numpy(filled).to(self.device, torch.float32), width, image_height)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        samples = self._sample(x, hypotheses, iterations, flip, gen, stride or max(1, self.frames // 2), batch_size,
                               start, progress)
        focal = DEFAULT_FOCAL_RATIO * width if focal_length is None else float(focal_length)
        if not FOCAL_RATIO_RANGE[0] * width <= focal <= FOCAL_RATIO_RANGE[1] * width:
            raise ValueError(f"focal_length: {focal:g} pixels is outside {FOCAL_RATIO_RANGE[0]:g}-{FOCAL_RATIO_RANGE[1]:g} "
                             f"x the image width ({width} px); a focal length is in pixels, e.g. about "
                             f"{DEFAULT_FOCAL_RATIO * width:.0f} for a normal lens")
        pose, _, used = aggregate(samples, x, 2 * focal / width, aggregation)
        pose = smooth_in_time(pose, smooth)
        skeleton = self.model.skeleton
        lengths = None
        if bone_lengths == "track":
            lengths = track_bone_lengths(pose, skeleton)
            pose, samples = with_bone_lengths(pose, lengths, skeleton), with_bone_lengths(samples, lengths, skeleton)
        weights = joint_weights(missing, sc17)
        centre = (width / 2, image_height / 2) if principal_point is None else tuple(map(float, principal_point))
        trajectory = fill_and_smooth(perspective_root(pose.double().cpu(), torch.from_numpy(filled), focal, centre,
                                                      weights), smooth)
        if fit_2d and bool(torch.isfinite(trajectory).all()) and bool((trajectory[:, 2] > 0).all()):
            pose, trajectory = refine_to_2d(pose.double().cpu(), trajectory, torch.from_numpy(filled), weights,
                                            focal, centre, skeleton)
            pose = pose.to(samples.device, samples.dtype)
        if height is not None:
            scale = height / float(standing_height(track_bone_lengths(pose, skeleton) if lengths is None else lengths,
                                                   skeleton))
            pose, samples, trajectory = pose * scale, samples * scale, trajectory * scale
            lengths = None if lengths is None else lengths * scale
        from ddhpose._version import __version__
        rate = float(fps or track.fps or DEFAULT_FPS)
        settings = dict(ddhpose=__version__, checkpoint=self.checkpoint, precision=self.precision,
                        hypotheses=hypotheses, iterations=iterations, flip=flip, seed=int(seed), start=start,
                        aggregation=aggregation, bone_lengths=bone_lengths, smooth=float(smooth),
                        score_threshold=threshold, layout=lay.name, focal_length=focal,
                        focal_length_source=(focal_length_source or "given") if focal_length is not None else
                        f"assumed: {DEFAULT_FOCAL_RATIO} x the image width", principal_point=list(centre),
                        height=None if height is None else float(height), world=world, foot_lock=foot_lock,
                        fit_2d=fit_2d)
        result = LiftResult(
            provenance=settings, poses=pose.cpu().numpy(), hypotheses=samples.cpu().numpy(),
            uncertainty=hypothesis_spread(samples).cpu().numpy(), keypoints_2d=filled, missing=missing,
            scores=sc17, frames=track.frames, image_size=track.image_size, track_id=track.track_id,
            aggregation=used, focal_length=focal,
            root_trajectory=None if not torch.isfinite(trajectory).all() else trajectory.cpu().numpy(),
            bone_lengths=None if lengths is None else lengths.cpu().numpy(), fps=rate)
        return place_in_world([result], foot_lock=foot_lock)[0] if world else result

    def _sample(self, x: torch.Tensor, hypotheses: int, iterations: int, flip: bool, gen: torch.Generator,
                stride: int, batch_size: int, start: str = "noise", progress: bool = False) -> torch.Tensor:
        """Screen-normalised x (N, J, 2) -> root-relative hypotheses (H, N, J, 3), windows blended."""
        index = window_index(len(x), self.frames, min(stride, self.frames))
        windows = x[torch.from_numpy(index).to(x.device)]  # (n, F, J, 2)
        chunk = cpu_chunk(hypotheses, x.device)
        parts = windows.split(batch_size)
        bar = tqdm(total=len(x), desc="lifting to 3D", unit="frame", disable=not progress, leave=False)
        out = []
        for part in parts:
            out.append(self.model.sample(part, hypotheses=hypotheses, iterations=iterations, flip=flip,
                                         generator=gen, chunk=chunk, start=start)[:, -1])
            bar.update(round(len(x) * len(part) / len(windows)))
        bar.close()
        out = torch.cat(out)
        out[..., H36M.root, :] = 0  # as in evaluation (method section 6)
        blended = blend_windows(rearrange(out, "n h f j c -> n f h j c"), index, len(x))
        return rearrange(blended, "f h j c -> h f j c")


def _check_options(smooth: float, aggregation: str, bone_lengths: str, height: float | None, hypotheses: int,
                   iterations: int, batch_size: int, focal_length: float | None) -> None:
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
    if focal_length is not None and not focal_length > 0:
        raise ValueError(f"focal_length: expected a positive number of pixels, got {focal_length}")


def _as_track(keypoints: np.ndarray | torch.Tensor | KeypointTrack, scores: np.ndarray | None, layout: str | None,
              image_size: Sequence[int] | None) -> KeypointTrack:
    """A contiguous track (every frame from the first to the last) of a track or of arrays, with
    its image size checked."""
    if isinstance(keypoints, KeypointTrack):
        track = keypoints.contiguous()
        if layout is not None and layout != track.layout:
            raise ValueError(f"layout {layout!r} disagrees with the track's layout {track.layout!r}")
        if scores is not None:
            raise ValueError("scores: a KeypointTrack carries its own scores; pass scores only with arrays")
        size = image_size or track.image_size
    else:
        kp = np.asarray(keypoints.detach().cpu() if isinstance(keypoints, torch.Tensor) else keypoints)
        if kp.ndim != 3 or kp.shape[-1] != 2 or len(kp) == 0:
            raise ValueError(f"keypoints: expected (F, K, 2) pixels with F >= 1, got {kp.shape}")
        sc = np.isfinite(kp).all(-1).astype(np.float64) if scores is None else np.asarray(scores)
        lay = layout or layout_for(kp.shape[1], "keypoints", ambiguous_17=True)
        track = KeypointTrack(kp, sc, np.arange(len(kp)), 0, get_layout(lay).name)
        size = image_size
    if size is None:
        raise ValueError("image_size: unknown; pass image_size=(width, height) in pixels (the keypoints are "
                         "normalised by the image width)")
    size = tuple(int(v) for v in np.asarray(size).reshape(-1))
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f"image_size: expected (width, height) > 0, got {image_size}")
    return replace(track, keypoints=np.asarray(track.keypoints, np.float64),
                   scores=np.asarray(track.scores, np.float64), image_size=size)


def _keypoints_h36m(track: KeypointTrack, threshold: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints (F, 17, 2), scores (F, 17), gap-filled keypoints, missing (F, 17)) in the
    Human3.6M order, checked against the image size."""
    kp17, sc17 = to_h36m(track.keypoints, track.scores, track.layout)
    where = f"track {track.track_id}"
    check_keypoints(kp17, sc17, track.image_size, track.layout, where, threshold)
    try:
        filled, missing = fill_gaps(kp17, sc17, threshold)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return kp17, sc17, filled, missing


def place_in_world(results: Sequence[LiftResult], *, foot_lock: bool = True) -> list[LiftResult]:
    """The people of one static camera in one world frame (:mod:`ddhpose.lifting.world`).

    The floor and up are found from every person's motion together; the origin lies on the floor
    under the first person's pelvis in their first frame. Each result gets ``world_poses`` (every
    joint's world position, feet locked during contact with ``foot_lock``), ``foot_contacts`` and
    ``world_frame``. Where no floor can be found every result keeps the camera frame only, says
    why in ``world_note`` and a warning is raised.
    """
    results = list(results)
    usable = [r for r in results if r.root_trajectory is not None]
    note = "" if usable else "the person's position could not be solved in the camera frame"
    frame = None
    if usable:
        fps = usable[0].fps or DEFAULT_FPS
        first = min(usable, key=lambda r: int(r.frames[0]))
        try:
            frame = find_world_frame(np.concatenate([r.poses for r in usable]),
                                     np.concatenate([r.root_trajectory for r in usable]), fps,
                                     missing=np.concatenate([r.missing for r in usable]),
                                     origin=first.root_trajectory[0],
                                     seconds=max(r.num_frames for r in usable) / fps)
        except NoFloorError as err:
            note = str(err)
    if frame is None:
        warnings.warn(f"no world frame: {note}; the results stay in the camera frame", stacklevel=2)
        return [replace(r, world_note=note) for r in results]
    if np.isfinite(frame.drift_deg) and frame.drift_deg > DRIFT_WARNING_DEG:
        warnings.warn(f"the floor's direction changes by {frame.drift_deg:.0f} degrees over the clip: the camera "
                      "probably moves (pans or tilts), so the world trajectory is not reliable", stacklevel=2)
    placed = []
    for r in results:
        if r.root_trajectory is None:
            placed.append(replace(r, world_note="the person's position could not be solved in the camera frame"))
            continue
        world = frame.apply(r.poses + r.root_trajectory[:, None])
        contacts = foot_contacts(world, r.fps or DEFAULT_FPS)
        if foot_lock:
            world = lock_feet(world, contacts)
        placed.append(replace(r, world_poses=world, foot_contacts=contacts, world_frame=frame.to_dict()))
    return placed
