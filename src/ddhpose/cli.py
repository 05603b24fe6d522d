"""The ``ddhpose`` command line: thin subcommands over the package's functions.

Errors in user input are printed as one line (no traceback) and exit with status 2.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Sequence


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, where it has one to show (not None or an unset flag)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "%(default)" in (action.help or "") or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _defaults():
    """The options objects' defaults (torch-free modules: ``--help`` stays fast)."""
    from ddhpose.export.options import ExportOptions
    from ddhpose.lifting.options import LiftOptions, TrackingOptions
    return LiftOptions(), TrackingOptions(), ExportOptions()


def _add_sampling(p: argparse.ArgumentParser, hypotheses: int | None = None, precision: str = "auto") -> None:
    lift, _, _ = _defaults()
    p.add_argument("--hypotheses", "-H", type=int, default=hypotheses or lift.hypotheses,
                   help="number of hypotheses H the sampler draws per frame (their spread is the uncertainty)")
    p.add_argument("--iterations", "-W", type=int, default=lift.iterations, help="DDIM iterations W of the sampler")
    p.add_argument("--no-flip", action="store_true", help="disable flip test-time augmentation")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default=precision,
                   help="the denoiser's arithmetic: fp32 (the reference), bf16, int8 (CPU) "
                        "or auto (bf16 on CPUs with bf16 units, else fp32); measured in docs/benchmarks.md")


def _add_released(p: argparse.ArgumentParser) -> None:
    """What a released .bin cannot tell about itself (its own files carry their config)."""
    p.add_argument("--skeleton", choices=["h36m", "3dhp"], default=None,
                   help="skeleton of a released .bin (default: named by its path, e.g. checkpoint/3dhp/...)")
    p.add_argument("--scale", type=float, default=None,
                   help="the SNR scale a released .bin was trained with (its -scale; default 1)")


def _released_overrides(args: argparse.Namespace) -> dict:
    return {k: v for k in ("skeleton", "scale") if (v := getattr(args, k, None)) is not None}


def _add_lifting(p: argparse.ArgumentParser) -> None:
    from ddhpose.export.options import BVH_UNITS
    from ddhpose.lifting.options import AGGREGATIONS, BONE_LENGTHS, DEFAULT_FOCAL_RATIO
    lift, tracking, export = _defaults()
    p.add_argument("--focal-length", type=float, default=lift.focal_length, metavar="PIXELS",
                   help="the camera's focal length in pixels, if known: places the person in depth "
                        "(default: the camera file's or the video's metadata, else estimated from the clip with "
                        f"--focal-estimate where it can tell it, else assumed {DEFAULT_FOCAL_RATIO} x the image's "
                        "longer side; the result records which)")
    p.add_argument("--focal-estimate", action="store_true",
                   help="without a focal length, estimate it from the clip where the clip can tell it (experimental: "
                        "right for wide lenses, wrong now and then on others; docs/world_accuracy.md)")
    p.add_argument("--principal-point", type=float, nargs=2, default=lift.principal_point, metavar=("CX", "CY"),
                   help="the camera's principal point in pixels, if known (default: the image centre)")
    p.add_argument("--camera", default=lift.camera_file, metavar="FILE",
                   help="the camera's calibration: OpenCV YAML / JSON (camera_matrix or K, image size), Pose2Sim's "
                        "Calib TOML or Qualisys' .qca.txt; gives the focal length and principal point (scaled to "
                        "the frames; --focal-length / --principal-point override it)")
    p.add_argument("--camera-name", default=lift.camera_name, metavar="NAME",
                   help="which camera of a calibration file holding several (Pose2Sim: e.g. cam_02; Qualisys: "
                        "its serial)")
    p.add_argument("--keep-left-right", action="store_true",
                   help="keep the detector's left and right labels (by default runs of frames where it exchanged "
                        "them are found from the motion and put back; the result lists them)")
    p.add_argument("--no-world", action="store_true",
                   help="camera frame only: do not look for the floor (by default the motion is also placed in a "
                        "world frame: y up, floor at 0, used by the BVH)")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="keep the feet as lifted (by default a foot resting on the floor does not slide)")
    p.add_argument("--trc", action="store_true",
                   help="also write a .trc marker file beside each result (metres, y up: OpenSim, Pose2Sim)")
    p.add_argument("--glb", action="store_true",
                   help="also write a .glb animated skeleton beside each result (Blender, three.js, glTF viewers)")
    p.add_argument("--angles", action="store_true",
                   help="also write each person's joint and segment angles (docs/angles.md) as _angles.csv, "
                        "_angles.mot (OpenSim) and _angles.png (plots over time)")
    p.add_argument("--html", action="store_true",
                   help="also write one self-contained page (OUTPUT.html) that plays every person in 3D on the floor "
                        "beside the video frames (ddhpose video) or the 2D, with the angle plots; opens offline in a browser")
    p.add_argument("--bvh-units", choices=sorted(BVH_UNITS), default=export.bvh_units, help="length unit of the BVH file")
    p.add_argument("--bvh-trajectory", action="store_true",
                   help="without a world frame: move the BVH root along the camera-frame trajectory "
                        "(default: root fixed at the origin)")
    p.add_argument("--aggregate", choices=AGGREGATIONS, default=lift.aggregation,
                   help="how hypotheses become one pose: p_agg = their mean (stable over time), "
                        "median, or j_agg = per joint the hypothesis closest to the 2D after reprojection")
    p.add_argument("--bone-lengths", choices=BONE_LENGTHS, default=lift.bone_lengths,
                   help="track: one length per bone for the whole person, left = right; "
                        "free: the model's per-frame lengths")
    p.add_argument("--height", type=float, default=lift.height, metavar="METRES",
                   help="the person's height, if known: scales the 3D (and trajectory) to it; body size cannot "
                        "be seen in 2D (default: the model's guess)")
    p.add_argument("--smooth", type=float, default=lift.smooth, metavar="SIGMA",
                   help="Gaussian filter over time, sigma in frames (0: off)")
    p.add_argument("--fit-2d", action="store_true",
                   help="move the 3D toward reprojecting onto the 2D keypoints (bone lengths kept, smooth in time; "
                        "docs/refine_2d.md measures it)")
    p.add_argument("--min-score", type=float, default=tracking.min_score,
                   help="drop detections scoring below this (the detection's score, else its mean keypoint score)")
    p.add_argument("--min-track-frames", type=int, default=tracking.min_frames,
                   help="drop people seen in fewer frames (false positives)")
    p.add_argument("--max-gap", type=int, default=tracking.max_gap,
                   help="frames a person may be unseen and stay one track")
    p.add_argument("--max-jump", type=float, default=tracking.max_jump,
                   help="largest move of a person per frame, in image widths (larger: a new person)")
    p.add_argument("--min-motion", type=float, default=tracking.min_motion,
                   help="drop tracks that neither move (median joint motion below this fraction of the person's "
                        "size) nor change shape (posters, statues) when a moving person remains; 0 keeps every track")


def lift_options(args: argparse.Namespace):
    """The :class:`ddhpose.lifting.options.LiftOptions` of a ``lift`` / ``video`` / ``demo`` command line."""
    from ddhpose.lifting.options import LiftOptions
    given = dict(hypotheses=args.hypotheses, iterations=args.iterations, flip=not args.no_flip)
    if hasattr(args, "aggregate"):
        given.update(aggregation=args.aggregate, bone_lengths=args.bone_lengths, smooth=args.smooth,
                     height=args.height, fit_2d=args.fit_2d, focal_length=args.focal_length,
                     principal_point=None if args.principal_point is None else tuple(args.principal_point),
                     camera_file=args.camera, camera_name=args.camera_name,
                     estimate_focal=args.focal_estimate,
                     repair_swaps=not args.keep_left_right,
                     fps=args.fps, world=not args.no_world, foot_lock=not args.no_foot_lock)
    return LiftOptions(**given)


def tracking_options(args: argparse.Namespace):
    """The :class:`ddhpose.lifting.options.TrackingOptions` of a ``lift`` / ``video`` command line."""
    from ddhpose.lifting.options import TrackingOptions
    return TrackingOptions(min_score=args.min_score, min_frames=args.min_track_frames, max_gap=args.max_gap,
                           max_jump=args.max_jump, min_motion=args.min_motion,
                           max_people=getattr(args, "max_people", None))


def export_options(args: argparse.Namespace):
    """The :class:`ddhpose.export.options.ExportOptions` of a ``lift`` / ``video`` command line."""
    from ddhpose.export.options import ExportOptions
    return ExportOptions(bvh=args.bvh, bvh_units=args.bvh_units, bvh_trajectory=args.bvh_trajectory, trc=args.trc,
                         glb=args.glb, angles=args.angles, html=args.html, render=args.render,
                         render_size=args.render_size)


def _add_render_size(p: argparse.ArgumentParser) -> None:
    p.add_argument("--render-size", type=int, default=None, metavar="PIXELS",
                   help="height of the animation's frames (default: the video's height between 384 and 720)")


def build_parser() -> argparse.ArgumentParser:
    from ddhpose.lifting.options import VIDEO_MAX_PEOPLE
    parser = argparse.ArgumentParser(prog="ddhpose", description="DDHPose: 3D human poses from 2D keypoints by "
                                     "disentangled diffusion (lift, demo, train, evaluate).")
    from ddhpose._version import __version__
    parser.add_argument("--version", action="version", version=f"ddhpose {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    command = lambda name, **kw: sub.add_parser(name, formatter_class=_Help, **kw)  # noqa: E731

    p = command("demo", help="lift the bundled CMU-mocap 2D sample with the bundled model")
    p.add_argument("-o", "--output", default=".", help="output folder (default: current folder)")
    p.add_argument("--no-animation", action="store_true", help="skip the animation")
    from ddhpose.pipelines.demo import DEMO_HYPOTHESES
    _add_sampling(p, hypotheses=DEMO_HYPOTHESES)

    p = command("lift", help="lift 2D keypoints (COCO/OpenPose/MediaPipe/H36M files) to 3D")
    p.add_argument("input", help="keypoint file or OpenPose JSON folder")
    p.add_argument("-o", "--output", required=True, help="result file (.npz or .json)")
    p.add_argument("--layout", choices=["coco", "h36m", "openpose25", "mediapipe33"], default=None,
                   help="keypoint layout (default: from the keypoint count; 17-joint arrays need it)")
    p.add_argument("--image-size", nargs=2, type=int, metavar=("W", "H"), default=None,
                   help="size of the frames the keypoints were detected in (default: from the file)")
    p.add_argument("--checkpoint", default=None, help="model file (default: the bundled model)")
    _add_released(p)
    p.add_argument("--bvh", action="store_true", help="also write a .bvh animation beside the result")
    p.add_argument("--render", default=None, metavar="ANIMATION", help="also write an animation (.gif/.mp4)")
    _add_render_size(p)
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate of the keypoints, recorded in the result and used for BVH and animation "
                        "(default: the file's, e.g. a 'ddhpose video' detections file's, else 25)")
    _add_lifting(p)
    _add_sampling(p)

    p = command("video", help="video file -> every person's 2D keypoints (MediaPipe Pose) -> 3D, one result "
                              "per person")
    p.add_argument("input", help="a video file (anything ffmpeg reads: .mp4, .mov, .avi, .webm, ...)")
    p.add_argument("-o", "--output", required=True,
                   help="result file (.npz or .json); the 2D detections go beside it as OUTPUT.detections.json")
    p.add_argument("--checkpoint", default=None, help="model file (default: the bundled model)")
    _add_released(p)
    p.add_argument("--bvh", action="store_true", help="also write a .bvh animation beside the result")
    p.add_argument("--render", default=None, metavar="ANIMATION",
                   help="also write an animation (.mp4/.gif): the detections over the video beside the 3D")
    _add_render_size(p)
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate (default: the video's, from its frames' timestamps)")
    p.add_argument("--max-people", type=int, default=VIDEO_MAX_PEOPLE,
                   help="the most people to find per frame (the largest and surest are kept); 1 runs MediaPipe's "
                        "single-person solution, about 1.6 times faster end to end (docs/video_speed.md), when you "
                        "know there is one person")
    _add_lifting(p)
    _add_sampling(p)

    p = command("render", help="animate lift results (.npz or .json) as .gif or .mp4")
    p.add_argument("result", nargs="+",
                   help="results of 'ddhpose lift' or 'ddhpose video' (.npz or .json): one, or every person of a clip")
    p.add_argument("-o", "--output", required=True, help="the animation (.mp4 or .gif)")
    p.add_argument("--video", default=None, help="draw the 2D over this video's frames")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: the result's, else 25)")
    _add_render_size(p)

    from ddhpose.export.opensim import DEFAULT_MASS  # numpy-free: --help stays fast
    p = command("ik", help="OpenSim inverse kinematics of lift results: the generic full-body model scaled to the "
                           "person, its joint angles (.mot) beside ddhpose's (needs pip install 'ddhpose[opensim]')")
    p.add_argument("result", nargs="+", help="results of 'ddhpose lift' or 'ddhpose video' (.npz or .json)")
    p.add_argument("--mass", type=float, default=DEFAULT_MASS, help="the person's mass in kg (the scaled model's; "
                   "the joint angles do not depend on it)")

    p = command("train", help="train a model from a YAML config (works under torchrun)")
    p.add_argument("--config", "-c", required=True, help="YAML file or packaged config name (e.g. tiny, h36m)")
    p.add_argument("--out", "-o", required=True, help="run folder for checkpoints and logs")
    p.add_argument("--resume", default=None, help="resume from a training checkpoint (last.pt)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.epochs=3 model.hrst=false")

    p = command("evaluate", help="evaluate a checkpoint with the paper's protocol")
    p.add_argument("--checkpoint", required=True,
                   help="model to evaluate: .safetensors, a training .pt or a released .bin")
    _add_released(p)
    p.add_argument("--config", "-c", required=True, help="config whose data section names the test set")
    p.add_argument("--out", "-o", required=True, help="folder for results.md/.csv/.json")
    p.add_argument("--batch-size", type=int, default=64, help="clips per sampling batch")
    p.add_argument("--p-best", choices=["batch", "sequence"], default="batch",
                   help="P-Best's hypothesis: the best per evaluation batch of windows (default, as released) "
                        "or per test sequence")
    p.add_argument("--p-best-windows", type=int, default=None, metavar="N",
                   help="windows per P-Best evaluation batch (default as released: 4 for Human3.6M, README's "
                        "-b 4; 2 for MPI-INF-3DHP, main_3dhp.py's bs = 2)")
    p.add_argument("--activities", default=None, metavar="FILE",
                   help="MPI-INF-3DHP: per-frame activity labels for the activity table (.npz with members "
                        "TS1..TS6, or a test file whose entries carry 'activity_annotation')")
    p.add_argument("--export-mat", default=None, metavar="DIR",
                   help="MPI-INF-3DHP: also write inference_data_{P_Agg,P_Best,J_Best,J_Agg}.mat for the "
                        "official MATLAB script (needs scipy: pip install 'ddhpose[mat]'); refused for a "
                        "partial or truncated test set, which the script would index past the end")
    p.add_argument("--annot-dir", default=None, metavar="DIR",
                   help="MPI-INF-3DHP: the test set's folder with TS1..TS6/annot_data.mat; scores against its "
                        "ground truth, valid frames and activity labels as the official script does, after checking "
                        "which 3D field the test file holds (without it the test file's data_3d is used unchecked)")
    p.add_argument("--ground-truth", choices=["annot3", "univ_annot3"], default="annot3",
                   help="with --annot-dir: the annot_data.mat field to score against (default annot3, as the "
                        "released script; univ_annot3 as the test set's own mpii_test_predictions.m)")
    p.add_argument("--pose-step", default=None, metavar="first|last|K",
                   help="the DDIM step whose J-Agg pose the pose, activity and scene tables score (default: first "
                        "for MPI-INF-3DHP, the step its official script reads; last otherwise)")
    p.add_argument("--per-step", action="store_true",
                   help="also write those tables for every DDIM step (results_sequencewise_t<K>.csv, "
                        "results_activitywise_t<K>.csv), as the authors' per-step result files")
    p.add_argument("overrides", nargs="*",
                   help="dotted overrides of the config, e.g. data.path_3d=... eval.max_frames=270")
    _add_sampling(p, precision="fp32")  # protocol figures in the reference arithmetic unless asked

    p = command("convert", help="convert between a released .bin and the .safetensors format")
    p.add_argument("source", help="a released .bin or a .safetensors checkpoint")
    p.add_argument("destination", help="the converted file (.safetensors or .bin)")
    _add_released(p)

    p = command("info", help="print a checkpoint's configuration")
    p.add_argument("checkpoint", help="a .safetensors, released .bin or training .pt file")
    _add_released(p)
    return parser


def _device(name: str | None):
    import torch
    try:
        device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as err:
        raise ValueError(f"--device {name!r}: {err}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available here (torch {torch.__version__}); use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return device


def cmd_demo(args) -> int:
    from ddhpose.pipelines.demo import run_demo
    paths = run_demo(args.output, lift_options(args), animation=not args.no_animation, device=_device(args.device),
                     precision=args.precision)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_lift(args) -> int:
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.pipelines.lift import lift_file
    options, exports, tracking = lift_options(args), export_options(args), tracking_options(args)
    lifter = Lifter.from_pretrained(args.checkpoint, device=_device(args.device), precision=args.precision,
                                    **_released_overrides(args))
    paths = lift_file(args.input, args.output, options, exports=exports, tracking=tracking, layout=args.layout,
                      image_size=tuple(args.image_size) if args.image_size else None, lifter=lifter, progress=True)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_video(args) -> int:
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.pipelines.video import lift_video
    from ddhpose.video.detect import native_logs_silenced
    from ddhpose.video.detect import get_detector
    options, exports, tracking = lift_options(args), export_options(args), tracking_options(args)
    with native_logs_silenced():
        detector = get_detector(max_people=tracking.max_people, max_gap=tracking.max_gap,  # before the model: a
                                max_jump=tracking.max_jump, source=str(args.input))  # missing extra is said at once
    lifter = Lifter.from_pretrained(args.checkpoint, device=_device(args.device), precision=args.precision,
                                    **_released_overrides(args))
    paths = lift_video(args.input, args.output, options, exports=exports, tracking=tracking, detector=detector,
                       lifter=lifter)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_render(args) -> int:
    from ddhpose.export.render import render_result
    from ddhpose.export.results import load_result
    results = [load_result(path) for path in args.result]
    kwargs = {} if args.fps is None else {"fps": args.fps}
    if args.video is not None:  # the results' frames of that video, under their keypoints
        from ddhpose.video.decode import overlay_frames
        kwargs["frames_of"] = lambda numbers: overlay_frames(args.video, numbers)
    if args.render_size is not None:
        kwargs["size"] = args.render_size
    print(f"wrote {render_result(results, args.output, **kwargs)}")
    return 0


def cmd_ik(args) -> int:
    from ddhpose.pipelines.ik import comparison_table, inverse_kinematics, require_opensim
    require_opensim()  # before anything: a missing extra is said at once
    for path in args.result:
        ik = inverse_kinematics(path, mass=args.mass)
        for written in ik.files.values():
            print(f"wrote {written}")
        print(comparison_table(ik))
    return 0


def cmd_train(args) -> int:
    from ddhpose.training.train import train_from_args
    train_from_args(args.config, args.overrides, args.out, args.resume)
    return 0


def cmd_evaluate(args) -> int:
    from ddhpose.evaluation.evaluate import evaluate_config, write_report
    from ddhpose.model.checkpoint import load_checkpoint
    from ddhpose.model.precision import with_precision
    if args.p_best_windows is not None and args.p_best_windows < 1:
        raise ValueError(f"--p-best-windows expected >= 1, got {args.p_best_windows}")
    if args.export_mat is not None:  # before the evaluation, not after it
        from ddhpose.evaluation.protocol_3dhp import require_savemat
        try:
            require_savemat()
        except ImportError as err:
            raise RuntimeError(str(err)) from None
    device = _device(args.device)
    model = load_checkpoint(args.checkpoint, **_released_overrides(args))
    model = with_precision(model.to(device), args.precision, device)
    try:
        report = evaluate_config(model, args.config, args.overrides, hypotheses=args.hypotheses,
                                 iterations=args.iterations, flip=not args.no_flip, batch_size=args.batch_size,
                                 p_best=args.p_best, p_best_windows=args.p_best_windows,
                                 activities=args.activities, export_mat=args.export_mat, annot_dir=args.annot_dir,
                                 ground_truth=args.ground_truth, pose_step=args.pose_step, per_step=args.per_step)
    except ImportError as err:  # scipy / h5py for annot_data.mat
        raise RuntimeError(str(err)) from None
    report.provenance = {"checkpoint": args.checkpoint, **report.provenance}
    for path in write_report(report, args.out):
        print(f"wrote {path}")
    if args.export_mat is not None:
        from ddhpose.evaluation.protocol_3dhp import MAT_AGGREGATIONS
        for agg in MAT_AGGREGATIONS:
            print(f"wrote {Path(args.export_mat) / f'inference_data_{agg}.mat'}")
    return 0


def cmd_convert(args) -> int:
    from ddhpose.model.checkpoint import convert
    convert(args.source, args.destination, **_released_overrides(args))
    print(f"wrote {args.destination}")
    return 0


def cmd_info(args) -> int:
    import json

    from ddhpose.model.checkpoint import load_checkpoint
    model = load_checkpoint(args.checkpoint, **_released_overrides(args))
    params = sum(p.numel() for p in model.denoiser.parameters())
    print(json.dumps({"config": model.config.to_dict(), "parameters": params}, indent=2))
    return 0


COMMANDS = {"demo": cmd_demo, "lift": cmd_lift, "video": cmd_video, "render": cmd_render, "ik": cmd_ik,
            "train": cmd_train,
            "evaluate": cmd_evaluate, "convert": cmd_convert, "info": cmd_info}


def _interrupted(command: str, stop: KeyboardInterrupt) -> str:
    """What an interrupted command leaves: exactly the files it wrote whole (none half-written)."""
    if command == "train":
        return "ddhpose train: interrupted"
    written, unwritten = getattr(stop, "written", []), getattr(stop, "unwritten", [])
    if not written:
        return f"ddhpose {command}: interrupted; no output of this command was written (files are written whole or not at all)"
    return (f"ddhpose {command}: interrupted; written whole: {', '.join(map(str, written))}; not written: "
            f"{', '.join(unwritten)}")


_OVERRIDE = re.compile(r"^[A-Za-z_]\w*(\.\w+)+=")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # dotted overrides may also follow the options (argparse stops collecting them at an option)
    if extra and hasattr(args, "overrides") and all(_OVERRIDE.match(a) for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")

    def one_line(message, category, filename, lineno, file=None, line=None) -> None:
        if args.command == "lift" and category.__name__ == "LayoutWarning":  # video's detector fixes the layout
            message = f"{message} (see --layout)"
        print(f"ddhpose {args.command}: warning: {message}", file=sys.stderr)

    shown, warnings.showwarning = warnings.showwarning, one_line  # a sentence for the user, not a source line
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt as stop:
        print(_interrupted(args.command, stop), file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `ddhpose info x | head`: the reader left; say nothing
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, OSError, RuntimeError) as err:
        if os.environ.get("DDHPOSE_DEBUG"):
            raise
        if type(err).__name__ == "TrainingInterrupted":  # Ctrl-C / SIGTERM: progress was saved
            print(f"ddhpose {args.command}: {err}", file=sys.stderr)
            return 130
        print(f"ddhpose {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    raise SystemExit(main())
