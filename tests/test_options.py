"""The options objects: checked once when made, their defaults the command line's, and the camera
and frame rate a lift resolves from them."""
from __future__ import annotations

import dataclasses

import pytest

from ddhpose.cli import build_parser, export_options, lift_options, tracking_options
from ddhpose.export.options import ExportOptions
from ddhpose.lifting.options import (DEFAULT_FOCAL_RATIO, DEFAULT_FPS, VIDEO_MAX_PEOPLE, LiftOptions, TrackingOptions,
                                     frame_rate, resolve_camera)
from ddhpose.pipelines.demo import DEMO_HYPOTHESES
from ddhpose.pipelines.lift import split_settings


@pytest.mark.parametrize("command", ["lift", "video"])
def test_the_command_line_defaults_are_the_options_defaults(command):
    args = build_parser().parse_args([command, "in.json", "-o", "out.npz"])
    assert lift_options(args) == LiftOptions()
    assert export_options(args) == ExportOptions()
    expected = TrackingOptions(max_people=VIDEO_MAX_PEOPLE) if command == "video" else TrackingOptions()
    assert tracking_options(args) == expected


def test_every_option_of_the_command_line_reaches_its_object(tmp_path):
    camera = tmp_path / "Calib.toml"
    camera.write_text('[cam_01]\nsize = [1920, 1080]\nmatrix = [[1400, 0, 950], [0, 1400, 530], [0, 0, 1]]\n')
    args = build_parser().parse_args([
        "lift", "in.json", "-o", "out.npz", "-H", "3", "-W", "2", "--no-flip", "--aggregate", "j_agg",
        "--bone-lengths", "free", "--smooth", "0", "--height", "1.8", "--fit-2d", "--focal-length", "1400",
        "--principal-point", "950", "530", "--fps", "30", "--no-world", "--no-foot-lock", "--bvh", "--bvh-units", "m",
        "--bvh-trajectory", "--trc", "--glb", "--render", "a.mp4", "--render-size", "480", "--min-score", "0.5",
        "--min-track-frames", "4", "--max-gap", "3", "--max-jump", "0.2", "--min-motion", "0.05",
        "--camera", str(camera), "--camera-name", "cam_01", "--keep-left-right",
        "--focal-estimate"])
    assert lift_options(args) == LiftOptions(
        hypotheses=3, iterations=2, flip=False, aggregation="j_agg", bone_lengths="free", smooth=0.0, height=1.8,
        fit_2d=True, focal_length=1400.0, principal_point=(950.0, 530.0), fps=30.0, world=False, foot_lock=False,
        camera_file=str(camera), camera_name="cam_01", repair_swaps=False,
        estimate_focal=True)
    assert export_options(args) == ExportOptions(bvh=True, bvh_units="m", bvh_trajectory=True, trc=True, glb=True,
                                                 render="a.mp4", render_size=480)
    assert tracking_options(args) == TrackingOptions(min_score=0.5, min_frames=4, max_gap=3, max_jump=0.2,
                                                     min_motion=0.05)


def test_the_demo_draws_its_own_number_of_hypotheses():
    args = build_parser().parse_args(["demo"])
    assert lift_options(args) == LiftOptions(hypotheses=DEMO_HYPOTHESES)


@pytest.mark.parametrize("field, value, message", [
    ("smooth", -1.0, "smooth: expected a filter width >= 0"),
    ("aggregation", "mean", "aggregation: expected one of"),
    ("bone_lengths", "fixed", "bone_lengths: expected one of"),
    ("start", "random", "start: expected one of"),
    ("height", 3.0, r"height: expected the person's height in metres \(0.5-2.5\)"),
    ("hypotheses", 0, "hypotheses, iterations and batch_size must be >= 1"),
    ("stride", 0, "stride: expected a window step >= 1"),
    ("focal_length", 0.0, "focal_length: expected a positive number of pixels"),
    ("principal_point", (1.0, 2.0, 3.0), r"principal_point: expected \(cx, cy\)"),
    ("fps", 0.0, "fps: expected a positive frame rate"),
])
def test_bad_options_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        LiftOptions(**{field: value})


def test_changes_and_shortcuts_are_checked_by_name():
    assert LiftOptions().with_changes(hypotheses=4).hypotheses == 4
    with pytest.raises(TypeError, match="LiftOptions has no option hypothesis"):
        LiftOptions().with_changes(hypothesis=4)
    assert split_settings({"hypotheses": 2, "bvh": True}) == ({"hypotheses": 2}, {"bvh": True})
    with pytest.raises(TypeError, match="unknown lifting or export option"):
        split_settings({"bhv": True})
    with pytest.raises(ValueError, match="unsupported animation extension '.avi'"):
        ExportOptions(render="a.avi")
    with pytest.raises(ValueError, match="render size: expected at least 64"):
        ExportOptions(render_size=32)


def test_the_camera_of_a_lift():
    assumed = resolve_camera(LiftOptions(), (1920, 1080))
    assert assumed.focal == DEFAULT_FOCAL_RATIO * 1920 and assumed.centre == (960.0, 540.0)
    assert assumed.source.startswith("assumed")
    # the same lens whichever way the camera is held: a portrait video assumes the same focal length
    upright = resolve_camera(LiftOptions(), (1080, 1920))
    assert upright.focal == assumed.focal and upright.centre == (540.0, 960.0)
    assert 0.8 <= DEFAULT_FOCAL_RATIO <= 1.0  # phones and webcams, 53-64 degrees across the longer side
    given = resolve_camera(LiftOptions(focal_length=1500, principal_point=(900, 500)), (1920, 1080))
    assert (given.focal, given.centre, given.source) == (1500.0, (900.0, 500.0), "given")
    meta = resolve_camera(LiftOptions(focal_length=1500, focal_length_source="the video's metadata"), (1920, 1080))
    assert meta.source == "the video's metadata"
    with pytest.raises(ValueError, match="outside 0.05-50 x the image width"):
        resolve_camera(LiftOptions(focal_length=26.0), (1920, 1080))  # millimetres, not pixels
    # a principal point off the image is a typo or pixels of another size, not a camera
    assert resolve_camera(LiftOptions(principal_point=(1920, 0)), (1920, 1080)).centre == (1920.0, 0.0)
    for point in [(1e9, 5), (-1, 540), (960, 1081)]:
        with pytest.raises(ValueError, match=r"principal_point: .* is outside the 1920 x 1080 image"):
            resolve_camera(LiftOptions(principal_point=point), (1920, 1080))


def test_the_frame_rate_of_a_lift():
    assert frame_rate(LiftOptions(fps=30), 50.0) == (30.0, "given")
    assert frame_rate(LiftOptions(), 50.0) == (50.0, "the input")
    assert frame_rate(LiftOptions(), None) == (DEFAULT_FPS, "assumed")


def test_options_are_torch_free():
    import subprocess
    import sys
    code = ("import sys; import ddhpose.lifting.options, ddhpose.export.options, ddhpose.cli; "
            "ddhpose.cli.build_parser(); print('torch' in sys.modules or 'numpy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(LiftOptions))
