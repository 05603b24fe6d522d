"""The user-facing lifter: 2D keypoints from the wild -> 3D poses in metres with uncertainty.

:meth:`Lifter.lift` for one person is a sequence of named stages, each owned by the module of
its concept; every setting comes from one :class:`ddhpose.lifting.options.LiftOptions`:

1. the camera (:func:`ddhpose.lifting.options.resolve_camera`): the given focal length and
   principal point, else an assumed normal lens and the image centre; after stage 4 the focal
   length the clip itself tells (:func:`ddhpose.lifting.focal.estimate_focal`) replaces the
   assumed one where the clip can tell it;
2. the keypoints (:func:`ddhpose.lifting.keypoints.lift_inputs`): the Human3.6M-17 order, checked
   against the image, left and right put back where a detector exchanged them
   (:mod:`ddhpose.lifting.swaps`), low-score / NaN keypoints interpolated;
3. sampling (:meth:`Lifter.sample`): screen-normalised windows of the model's F frames (stride
   F // 2 by default; sequences shorter than F repeat their last frame), H hypotheses each,
   blended back with a Hann window so no seam shows;
4. the pose (:func:`ddhpose.lifting.postprocess.pose_from_hypotheses`): aggregation of the
   hypotheses (their mean by default), a Gaussian filter over time, one body per track;
5. the root (:func:`ddhpose.lifting.trajectory.solve_root`): where the pelvis is in the camera
   frame, by a perspective solve against the 2D;
6. optionally the 2D fit (:func:`ddhpose.lifting.refine.refine_to_2d`) and the person's height
   (:func:`ddhpose.lifting.postprocess.scale_to_height`);
7. the world (:func:`ddhpose.lifting.placement.place_in_world`): up, floor, foot contacts.

Post-processing (stages 4-6) runs in float64 torch tensors on the CPU; the result holds NumPy arrays.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from einops import rearrange
from tqdm import tqdm

from ddhpose.geometry import normalize_screen
from ddhpose.lifting.focal import FocalEstimate, estimate_focal
from ddhpose.lifting.keypoints import KeypointTrack, LiftInputs, get_layout, layout_for, lift_inputs
from ddhpose.lifting.options import (AGGREGATIONS, ASSUMED_FOCAL, BONE_LENGTHS, DEFAULT_FOCAL_RATIO, DEFAULT_FPS, DEFAULT_SMOOTHING,
                                     Camera, LiftOptions, frame_rate, resolve_camera)
from ddhpose.lifting.placement import place_in_world
from ddhpose.lifting.postprocess import hypothesis_spread, pose_from_hypotheses, scale_to_height
from ddhpose.lifting.refine import refine_to_2d
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.swaps import runs
from ddhpose.lifting.trajectory import joint_weights, solve_root
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.chunking import cpu_chunk
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.precision import resolve_precision, with_precision
from ddhpose.skeleton import H36M
from ddhpose.windowing import blend_windows, window_index

__all__ = ["AGGREGATIONS", "BONE_LENGTHS", "DEFAULT_FOCAL_RATIO", "DEFAULT_FPS", "DEFAULT_SMOOTHING", "Lifter",
           "LiftOptions", "LiftResult", "place_in_world"]

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
             image_size: Sequence[int] | None = None, layout: str | None = None,
             options: LiftOptions | None = None, progress: bool = False, **settings: Any) -> LiftResult:
        """Lift one person's keypoints (any number of frames) to 3D.

        Args:
            keypoints: (F, K, 2) pixels (NaN where undetected) or a :class:`KeypointTrack`
                (its scores, frames, layout, track id, image size and fps are used).
            scores: (F, K) detector scores (arrays only; default 1 for finite keypoints).
            image_size: (width, height) pixels; needed unless the track knows it.
            layout: 'coco', 'h36m', 'openpose25' or 'mediapipe33' (default: the track's, or by K
                for arrays, where 17 must be given explicitly).
            options: every lifting setting (:class:`LiftOptions`; default: its defaults).
                ``settings`` are shortcuts for some of them (``lift(track, hypotheses=5)``),
                applied on top. What each does:

                - hypotheses, iterations: H and W of the DDIM sampler (the last iteration is kept);
                  flip: flip test-time augmentation; seed: the sampler's noise, so results are
                  reproducible; start: 'noise' (the method) or 'zero'; stride: the window step
                  (default F // 2); batch_size: windows per sampler call.
                - score_threshold: keypoints scoring below it count as missing and are
                  interpolated (default: the layout's); repair_swaps: put back left and right
                  where the detector exchanged them (the frames are in the provenance,
                  ``left_right_repaired``).
                - aggregation (:data:`AGGREGATIONS`): 'p_agg' (the hypotheses' mean, the default:
                  stable over time), 'median' (robust to an outlying hypothesis) or 'j_agg' (per
                  joint and frame the hypothesis that reprojects closest to the 2D; falls back to
                  'p_agg' when the root cannot be solved; it may flicker from frame to frame).
                - bone_lengths: 'track' (one length per bone for the track, the median over frames
                  with left and right averaged, every frame recomposed with its own predicted
                  directions) or 'free' (the model's per-frame lengths).
                - smooth: sigma in frames of a Gaussian filter over time of the pose and the root
                  trajectory (0: off); the hypotheses are kept as sampled (docs/lift_quality.md).
                - focal_length: pixels, if known (default: a camera file's, else, with
                  ``estimate_focal``, estimated from the clip where it can tell it (:mod:`ddhpose.lifting.focal`; the
                  provenance's ``focal_estimate``), else :data:`DEFAULT_FOCAL_RATIO` x the image's
                  longer side, an assumption the result records in ``focal_length_source`` and
                  :func:`ddhpose.pipelines.summary.summary` says); principal_point: (cx,
                  cy) pixels (default the image centre); focal_length_source: where a given focal length
                  came from.
                - height: the person's height in metres, if known: pose, hypotheses, bone lengths
                  and root trajectory are scaled together (the 2D projection is unchanged). Body
                  size cannot be seen in 2D: the model's guess is typically 5-10 % off.
                - fit_2d: move the pose and root toward reprojecting onto the 2D keypoints (bone
                  lengths and depth order kept; docs/refine_2d.md measures where it helps).
                - fps: frames per second (default: the track's, else :data:`DEFAULT_FPS`).
                - world: also place the motion in a world frame (y up, floor at 0) with foot
                  contacts; where no floor can be found the result says why (``world_note``);
                  foot_lock: remove foot sliding during contact there.
            progress: show a progress bar over the sampler's batches.
        """
        options = (options or LiftOptions()).with_changes(**settings)
        track = _as_track(keypoints, scores, layout, image_size)
        fps, fps_source = frame_rate(options, track.fps)
        camera = resolve_camera(options, track.image_size)
        inputs = lift_inputs(track, options.score_threshold, options.repair_swaps)
        sampled = self.sample(inputs.filled, track.image_size, options, progress, focal=self._lens(camera))  # (H, F, J, 3)
        filled = torch.from_numpy(inputs.filled)
        weights = joint_weights(torch.from_numpy(inputs.missing), torch.from_numpy(inputs.scores))
        skeleton = self.model.skeleton
        pose, samples, lengths, used = pose_from_hypotheses(sampled, filled, weights, camera, options, skeleton)
        undetected = torch.from_numpy(inputs.missing).all(-1)
        camera, estimate = self._focal_from_clip(camera, options, pose, filled, weights, track, fps, undetected)
        told = estimate is not None and estimate.identifiable
        if told and self.model.config.lens_input:  # the network reads the lens: sample under the estimate
            sampled = self.sample(inputs.filled, track.image_size, options, progress, focal=self._lens(camera))
        if told and (options.aggregation == "j_agg" or self.model.config.lens_input):  # J-Agg reprojects
            pose, samples, lengths, used = pose_from_hypotheses(sampled, filled, weights, camera, options,
                                                                skeleton)
        root = solve_root(pose, filled, weights, camera, options.smooth,
                          undetected=undetected)
        if options.fit_2d and bool(torch.isfinite(root).all()) and bool((root[:, 2] > 0).all()):
            pose, root = refine_to_2d(pose, root, filled, weights, camera.focal, camera.centre, skeleton)
        if options.height is not None:
            pose, samples, root, lengths = scale_to_height(pose, samples, root, lengths, options.height, skeleton)
        result = self._result(track, inputs, options, camera, (fps, fps_source), pose, samples, root, lengths,
                              used)
        result.provenance["focal_estimate"] = None if estimate is None else estimate.to_dict()
        return place_in_world([result], foot_lock=options.foot_lock)[0] if options.world else result

    def _lens(self, camera: Camera) -> float:
        """The focal length (pixels) the network reads: the camera's, or NaN (none) where it is only
        assumed and the model learnt to lift without one (``model.lens_dropout``)."""
        assumed = camera.source == ASSUMED_FOCAL and self.model.config.lens_dropout > 0
        return float("nan") if assumed else camera.focal

    @staticmethod
    def _focal_from_clip(camera: Camera, options: LiftOptions, pose: torch.Tensor, keypoints: torch.Tensor,
                         weights: torch.Tensor, track: KeypointTrack, fps: float, undetected: torch.Tensor
                         ) -> tuple[Camera, FocalEstimate | None]:
        """The camera stage's second half: where no focal length was given (none, no camera file,
        no metadata) and ``options.estimate_focal``, the clip's own estimate
        (:func:`ddhpose.lifting.focal.estimate_focal`) where it can tell it, else the default with a
        one-line warning. -> (the camera, the estimate or None where none was made)."""
        if not options.estimate_focal or camera.source != ASSUMED_FOCAL:
            return camera, None
        estimate = estimate_focal(pose, keypoints, weights, track.image_size, camera.centre, fps, undetected)
        if estimate.identifiable:
            return replace(camera, focal=estimate.focal, source="estimated from the clip"), estimate
        warnings.warn(f"focal length: the clip cannot tell it ({estimate.reason}); assumed {DEFAULT_FOCAL_RATIO} x "
                      "the image's longer side: give --focal-length or --camera if the depth matters", stacklevel=3)
        return camera, estimate

    def _result(self, track: KeypointTrack, inputs: LiftInputs, options: LiftOptions, camera: Camera,
                fps_and_source: tuple[float, str], pose: torch.Tensor, samples: torch.Tensor, root: torch.Tensor,
                lengths: torch.Tensor | None, aggregation: str) -> LiftResult:
        """The :class:`LiftResult` of the stages' output, with how it was made in its provenance."""
        from ddhpose._version import __version__
        fps, fps_source = fps_and_source
        provenance = {**options.to_dict(), "ddhpose": __version__, "checkpoint": self.checkpoint,
                      "precision": self.precision, "score_threshold": inputs.threshold,
                      "layout": get_layout(track.layout).name, "focal_length": camera.focal,
                      "focal_length_source": camera.source, "principal_point": list(camera.centre),
                      "fps": fps, "fps_source": fps_source,
                      "left_right_repaired": {group: runs(frames, track.frames)
                                              for group, frames in inputs.swapped.items() if frames.any()}}
        return LiftResult(
            provenance=provenance, poses=pose.numpy(), hypotheses=samples.numpy(),
            uncertainty=hypothesis_spread(samples).numpy(), keypoints_2d=inputs.filled, missing=inputs.missing,
            scores=inputs.scores, frames=track.frames, image_size=track.image_size, track_id=track.track_id,
            aggregation=aggregation, focal_length=camera.focal,
            root_trajectory=root.numpy() if bool(torch.isfinite(root).all()) else None,
            bone_lengths=None if lengths is None else lengths.numpy(), fps=fps)

    def sample(self, keypoints: np.ndarray, image_size: tuple[int, int], options: LiftOptions,
               progress: bool = False, focal: float | None = None) -> torch.Tensor:
        """The sampling stage: pixels (N, J, 2) -> root-relative hypotheses (H, N, J, 3), float64
        on the CPU: screen-normalised, sampled in overlapping windows, the windows blended.
        ``focal`` (pixels): the camera's focal length (one value; a camera file's fx and fy averaged),
        which a model with ``lens_input`` reads as 2 focal / width, as training reads each window's fx;
        NaN for none (a model trained with ``lens_dropout``)."""
        x = normalize_screen(torch.from_numpy(keypoints).to(self.device, torch.float32), *image_size)
        gen = torch.Generator(device=self.device).manual_seed(int(options.seed))
        stride = min(options.stride or max(1, self.frames // 2), self.frames)
        index = window_index(len(x), self.frames, stride)
        windows = x[torch.from_numpy(index).to(x.device)]  # (n, F, J, 2)
        chunk = cpu_chunk(options.hypotheses, x.device)
        if self.model.config.lens_input and focal is None:
            raise ValueError("this model reads the camera's focal length: pass focal (pixels)")
        lens = None if focal is None or not self.model.config.lens_input else 2 * float(focal) / image_size[0]
        parts = windows.split(options.batch_size)
        bar = tqdm(total=len(x), desc="lifting to 3D", unit="frame", disable=not progress, leave=False)
        out = []
        for part in parts:
            part_lens = None if lens is None else torch.full((len(part),), lens, device=x.device)
            out.append(self.model.sample(part, hypotheses=options.hypotheses, iterations=options.iterations,
                                         flip=options.flip, generator=gen, chunk=chunk, start=options.start,
                                         lens=part_lens)[:, -1])
            bar.update(round(len(x) * len(part) / len(windows)))
        bar.close()
        out = torch.cat(out)
        out[..., H36M.root, :] = 0  # as in evaluation (method section 6)
        blended = blend_windows(rearrange(out, "n h f j c -> n f h j c"), index, len(x))
        return rearrange(blended, "f h j c -> h f j c").double().cpu()


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
