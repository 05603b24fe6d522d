"""Where the time of ``ddhpose video`` goes, stage by stage, and its end-to-end rate.

Stages, each timed alone on the same clip: probing (frame timing, no decoding), decoding at the
detection size, detecting 2D keypoints (frames decoded beforehand) with the single-person path
(MediaPipe Pose) and the every-person path (:class:`ddhpose.video.people.PeopleDetector`), lifting
every person (the bundled model, ``--precision auto``), writing the results, and rendering (the
first ``--render-frames`` frames, over the video). Then ``lift_video`` end to end without the
render, as ``ddhpose video clip.mp4 -o out.npz`` runs it (decoding overlapped with detection:
ffmpeg decodes in its own process while the detector works), every-person and single-person
runs alternating ``--repeats`` times each, so that both see the same load of a shared machine:
the medians and the ratio of the medians are reported.

A 1-minute 1080p clip: the Sports2D demo (the ``sports2d`` wheel's ``Sports2D/Demo/demo.mp4``)
looped to 60 s and scaled to 1920x1080 by
``ffmpeg -stream_loop 7 -i demo.mp4 -t 60 -an -vf scale=1920:1080 -c:v libx264 -crf 21 clip.mp4``.

Usage: python benchmarks/video_speed.py CLIP [--out docs/video_speed] [--render-frames 300] [--repeats 3]
``--smoke`` (no CLIP): the first 10 frames of tests/fixtures/sports2d_demo_3s.mp4, into a temporary
folder. Needs the video extra (MediaPipe).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import write_section  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.inputs import tracks_from_detections  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.pipelines.lift import lift_tracks  # noqa: E402
from ddhpose.pipelines.video import lift_video  # noqa: E402
from ddhpose.video.decode import frames_of, probe, scaled_size  # noqa: E402
from ddhpose.video.detect import DETECTION_WIDTH, detect_frames  # noqa: E402
from ddhpose.video.detect import get_detector  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def first_frames(clip: Path, out: Path, count: int) -> Path:
    """The first ``count`` frames of ``clip`` re-encoded (H.264) as ``out``."""
    import imageio.v2 as iio
    reader = iio.get_reader(str(clip), "ffmpeg")
    writer = iio.get_writer(str(out), fps=reader.get_meta_data()["fps"], codec="libx264", macro_block_size=2)
    try:
        for i, frame in enumerate(reader):
            if i == count:
                break
            writer.append_data(frame)
    finally:
        reader.close()
        writer.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", nargs="?", default=None)
    parser.add_argument("--out", default="docs/video_speed")
    parser.add_argument("--render-frames", type=int, default=300)
    parser.add_argument("--detection-width", type=int, default=DETECTION_WIDTH)
    parser.add_argument("--max-people", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end runs of each mode, alternating")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    if args.smoke:
        tmp = smoke.folder("video_speed")
        args.clip = str(first_frames(smoke.CLIP, tmp / "clip.mp4", 10))
        args.out, args.render_frames, args.repeats = str(tmp / "video_speed"), 5, 1
    elif args.clip is None:
        parser.error("CLIP is required")
    info, t_probe = timed(lambda: probe(args.clip))
    size = scaled_size(info.size, args.detection_width)
    frames, t_decode = timed(lambda: list(frames_of(info, size)))
    single = get_detector(max_people=1)
    _, t_detect_one = timed(lambda: detect_frames(frames, single, size=info.size, progress=False))
    single.close()
    detector = get_detector(max_people=args.max_people)
    (found, count), t_detect = timed(lambda: detect_frames(frames, detector, size=info.size, progress=False))
    detector.close()
    from ddhpose.lifting.inputs import Detections
    detections = Detections(found, detector.layout, info.size, count, info.fps, detector.name, args.clip)
    lifter = Lifter.from_pretrained(precision="auto")
    tracks = tracks_from_detections(detections)
    results, t_lift = timed(lambda: lift_tracks(tracks, lifter, source=args.clip))
    with tempfile.TemporaryDirectory() as tmp:
        from ddhpose.export.writers import planned_writes, write_all
        _, t_write = timed(lambda: write_all(planned_writes(results, Path(tmp) / "out.npz")))
        from ddhpose.export.render import render_result
        from ddhpose.export.render import default_render_size
        from ddhpose.video.frames import FrameStore
        store = FrameStore(default_render_size(info.size[1]))
        for i, rgb in enumerate(frames[:args.render_frames]):
            store.add(i, rgb)
        first = [_cut(r, args.render_frames) for r in results]
        first = [r for r in first if r is not None]
        rendered = len({int(f) for r in first for f in r.frames})  # the frames the render draws
        _, t_render = timed(lambda: render_result(first, Path(tmp) / "out.mp4", progress=False,
                                                   size=default_render_size(info.size[1]),
                                                   frames_of=store.frames))
        frames = None  # free the decoded frames before the end-to-end run
        every, single_runs = [], []
        for k in range(args.repeats):  # alternating, so both modes see the same load
            every.append(timed(lambda: lift_video(args.clip, Path(tmp) / f"e2e{k}.npz", lifter=lifter, progress=False,
                                                  detector=get_detector(max_people=args.max_people)))[1])
            single_runs.append(timed(lambda: lift_video(args.clip, Path(tmp) / f"one{k}.npz", lifter=lifter,
                                                        progress=False, detector=get_detector(max_people=1)))[1])
    n = info.frames
    t_total, t_total_one = float(np.median(every)), float(np.median(single_runs))
    rows = [("probe (frame timing)", t_probe, n), ("decode at the detection size", t_decode, n),
            ("detect, single person (MediaPipe Pose, --max-people 1)", t_detect_one, n),
            (f"detect, every person (BlazePose detector + one landmark pass per person, --max-people "
             f"{args.max_people})", t_detect, n),
            ("lift every person (bf16 where the CPU has it)", t_lift, n),
            ("write results", t_write, n), (f"render (first {rendered} frames)", t_render, rendered),
            (f"ddhpose video end to end, no render, every person (--max-people {args.max_people}, the default): "
             f"median of {len(every)}", t_total, n),
            (f"ddhpose video end to end, no render, --max-people 1: median of {len(single_runs)}", t_total_one, n)]
    per_frame = f"{detector.landmark_passes / n:.2f} landmark and {detector.detector_passes / n:.2f} detector passes"
    lines = [f"Measured with `python benchmarks/video_speed.py CLIP --repeats {args.repeats}` on "
             f"{info.size[0]}x{info.size[1]}, {n} frames at {info.fps:g} fps ({n / info.fps:.0f} s), "
             f"{os.cpu_count()} CPU cores; detection on frames scaled to {size[0]}x{size[1]}; "
             f"{len(results)} people lifted; the every-person detector made {per_frame} per frame.", "",
             "| stage | seconds | frames / s |", "|---|---|---|"]
    lines += [f"| {name} | {t:.1f} | {frames_ / t:.0f} |" for name, t, frames_ in rows]
    ratios = {"detection": t_detect / t_detect_one, "end to end": t_total / t_total_one}
    lines += ["", f"End to end, every person runs at {n / t_total:.1f} frames/s and one person at {n / t_total_one:.1f}: "
              f"{1 / ratios['end to end']:.2f} of the single-person speed (runs, seconds: every person "
              f"{', '.join(f'{t:.1f}' for t in every)}; one person {', '.join(f'{t:.1f}' for t in single_runs)}). "
              f"Detection alone: {1 / ratios['detection']:.2f} of it."]
    write_section(Path(args.out + ".md"), "video_speed", "\n".join(lines), title="# Video speed")
    record = {name: {"seconds": t, "frames": f} for name, t, f in rows}
    atomic_write_text(Path(args.out + ".json"), json.dumps({**record, "max-people 1 speed-up": ratios,
                                                            "end to end runs": {"every person": every,
                                                                                "one person": single_runs}}, indent=2))
    print("\n".join(lines))


def _cut(result, frames: int):
    """The result's part within the first ``frames`` frames (None if it starts later)."""
    import dataclasses
    keep = result.frames < frames
    if not keep.any():
        return None
    fields = {k: getattr(result, k)[keep] for k in ("poses", "uncertainty", "keypoints_2d", "missing", "scores",
                                                     "frames")}
    fields["hypotheses"] = result.hypotheses[:, keep]
    for k in ("root_trajectory", "world_poses", "foot_contacts"):
        value = getattr(result, k)
        fields[k] = None if value is None else value[keep]
    return dataclasses.replace(result, **fields)


if __name__ == "__main__":
    main()
