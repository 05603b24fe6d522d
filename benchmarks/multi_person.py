"""Several people in one video: detection, tracking and lifting, measured.

Three parts, written to ``--out`` (.md and .json; docs/multi_person.md quotes them):

1. ``real``: detectors on real clips with two people (tests/fixtures/sports2d_demo_3s.mp4: a man
   standing on a box, a woman walking; and, with ``--demo``, the whole Sports2D demo video from
   the ``sports2d`` wheel). Detectors: MediaPipe's single-person solution, the Tasks
   PoseLandmarker on the whole frame (the bundle built from the wheel, ``num_poses=4``), and
   :class:`ddhpose.video.detectors.MediaPipeMultiPose` (search every 10 frames, and every
   frame). Their detections go through the tracker (``tracks_from_detections``, default options);
   per kept track: frames, share of the clip, median hip row, and jumps (frame-to-frame steps of
   the pelvis longer than half the person's size: an identity switch shows as one). With
   ``--png DIR`` a few frames with each track's id drawn are written for looking at. Also the
   motion (``track_motion``) of the real people and of the same people frozen (the first frame
   repeated and re-encoded, as a poster would be), against ``TrackingOptions.min_motion``.
2. ``synthetic``: two and three people from mocap (``--mocap``, CMU ASF/AMC clips; the bundled
   demo sample when absent) walking across one camera at depths 0.4-1.5 m apart and crossing
   (random paths per seed), projected
   to pixels with detector-like noise (1 % of the person's height), 3 % of detections missed and a
   farther person missed while a nearer one covers their pelvis. The tracker's identity switches,
   and per person the MPJPE / P-MPJPE (mm, root-relative camera frame) after lifting their track
   with the bundled model, against the same person's detections lifted alone (no tracking).
3. ``speed``: detection frames/s of the single-person path and the multi-person path on one
   person (the clip's right part, first 30 frames), two (the clip) and four (the clip beside its
   mirror image). On a shared machine these are a check of the script, not a measurement.

Usage: python benchmarks/multi_person.py [--parts real synthetic speed] [--demo demo.mp4]
       [--mocap ../shared/data/cmu_mocap] [--png out/multi_person] [--out docs/multi_person]
``--smoke``: the chosen parts on a few frames (real, speed: the first frames of the clip; synthetic:
one seed of 60 frames from the bundled demo sample, lifted by a tiny random model), into a
temporary folder. The real and speed parts need the video extra (MediaPipe).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.inputs import tracks_from_detections  # noqa: E402
from ddhpose.lifting.inputs.detections import Detections  # noqa: E402
from ddhpose.lifting.tracking import Detection  # noqa: E402
from ddhpose.lifting.keypoints import KeypointTrack, get_layout  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.tracking import (MIN_SHAPE_CHANGE, TrackingOptions, track_motion,  # noqa: E402
                                      track_shape_change)
from ddhpose.metrics import mpjpe, p_mpjpe  # noqa: E402
from ddhpose.video import detectors as D  # noqa: E402
from ddhpose.video.people import PeopleDetector  # noqa: E402
from doc_section import command_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "tests" / "fixtures" / "sports2d_demo_3s.mp4"
MOCAP = ROOT.parent / "shared" / "data" / "cmu_mocap"
DEMO_SAMPLE = ROOT / "src" / "ddhpose" / "assets" / "demo" / "cmu_02_05_h36m17.npz"
# walking and playing motions of three CMU subjects (any clip would do: only the pose matters)
MOCAP_CLIPS = ("02/02_01.amc", "01/01_02.amc", "03/03_01.amc")
MP_HIPS = [get_layout("mediapipe33").index(n) for n in ("left_hip", "right_hip")]


# --- detectors ----------------------------------------------------------------------------------

class WholeFrameTasks:
    """The Tasks PoseLandmarker on the whole frame (option (a) of the comparison)."""

    name, layout = "tasks-whole-frame", "mediapipe33"

    def __init__(self, num_poses: int = 4) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision
        self._mp = mp
        self._lm = vision.PoseLandmarker.create_from_options(vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=D.pose_task_bundle()), running_mode=vision.RunningMode.IMAGE,
            num_poses=num_poses))

    def __call__(self, rgb: np.ndarray) -> list[D.Person]:
        h, w = rgb.shape[:2]
        found = self._lm.detect(self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb)))
        people = []
        for marks in found.pose_landmarks:
            a = np.array([[m.x * w, m.y * h, m.visibility] for m in marks])
            people.append(D.Person(a[:, :2], a[:, 2]))
        return people

    def close(self) -> None:
        self._lm.close()


DETECTORS = {
    "BlazePose detector + landmark pass per person (PeopleDetector, the default)": lambda: PeopleDetector(4),
    "MediaPipe Pose (single person)": lambda: D.MediaPipePose(),
    "Tasks PoseLandmarker, whole frame": lambda: WholeFrameTasks(),
    "MediaPipeMultiPose, search every 10": lambda: D.MediaPipeMultiPose(4, search_every=10),
    "MediaPipeMultiPose, search every frame": lambda: D.MediaPipeMultiPose(4, search_every=1),
}


def read_video(path: Path, limit: int | None = None) -> tuple[list[np.ndarray], float]:
    """The frames (RGB) and frame rate of a video; only its first ``limit`` frames when given."""
    import imageio.v2 as iio
    reader = iio.get_reader(str(path), "ffmpeg")
    try:
        fps = float(reader.get_meta_data()["fps"])
        frames = []
        for f in reader:
            if limit is not None and len(frames) == limit:
                break
            frames.append(np.asarray(f)[..., :3])
        return frames, fps
    finally:
        reader.close()


def detect(detector, frames: list[np.ndarray]) -> tuple[list[list[D.Person]], float]:
    """Every frame's people and the seconds per frame."""
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        people = [detector(rgb) for rgb in frames]
    seconds = (time.perf_counter() - started) / len(frames)
    detector.close()
    return people, seconds


def track(people: list[list[D.Person]], size: tuple[int, int], fps: float, source: str,
          tracking: TrackingOptions | None = None) -> tuple[list[KeypointTrack], list[str]]:
    """The tracker's people from per-frame detections, and the warnings it gave."""
    # a detector that follows people gives its tracker's ids (the tracker of `ddhpose lift` on the file)
    dets = [Detection(i, p.track_id, p.keypoints, p.scores) for i, ps in enumerate(people) for p in ps]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracks = tracks_from_detections(Detections(dets, "mediapipe33", size, len(people), fps, "mediapipe",
                                                   source), tracking) if dets else []
    return tracks, [str(w.message) for w in caught]


def jumps(t: KeypointTrack) -> int:
    """Frame-to-frame steps of the pelvis longer than half the person's size (per frame of gap)."""
    pelvis = t.keypoints[:, MP_HIPS].mean(1)
    size = np.linalg.norm(np.ptp(t.keypoints, axis=1), axis=-1)
    step = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1) / np.diff(t.frames)
    return int((step > 0.5 * np.minimum(size[1:], size[:-1])).sum())


def draw(frames: list[np.ndarray], tracks: list[KeypointTrack], picks: list[int], path: Path) -> None:
    """The frames ``picks`` with each track's keypoints and id, two to a row, at half size."""
    import cv2
    import imageio.v2 as iio
    colours = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]
    tiles = []
    for i in picks:
        img = frames[i].copy()
        for t in tracks:
            hit = np.flatnonzero(t.frames == i)
            if not hit.size:
                continue
            kp, colour = t.keypoints[hit[0]], colours[t.track_id % len(colours)]
            for x, y in kp.astype(int):
                cv2.circle(img, (int(x), int(y)), 3, colour, -1)
            x0, y0 = kp.min(0).astype(int)
            cv2.putText(img, f"#{t.track_id}", (int(x0), max(int(y0) - 6, 20)), cv2.FONT_HERSHEY_SIMPLEX, 1.2, colour, 3)
        cv2.putText(img, f"frame {i}", (10, img.shape[0] - 15), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        tiles.append(img)
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.concatenate([np.concatenate(tiles[k:k + 2], 1) for k in range(0, len(tiles), 2)], 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, grid[::2, ::2])


def frozen(frame: np.ndarray, count: int, fps: float) -> list[np.ndarray]:
    """``count`` copies of one frame through an H.264 encode and decode (the compression noise a
    poster in a video has)."""
    import tempfile

    import imageio.v2 as iio
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "still.mp4"
        writer = iio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=2)
        rng = np.random.default_rng(0)
        for _ in range(count):  # a little sensor noise, so the encoder codes every frame
            writer.append_data(np.clip(frame + rng.normal(0, 1.0, frame.shape), 0, 255).astype(np.uint8))
        writer.close()
        return read_video(path)[0]


def real_part(clips: dict[str, Path], png: Path | None, limit: int | None = None) -> dict:
    """The detectors and the tracker on each clip (its first ``limit`` frames when given)."""
    out = {}
    for label, path in clips.items():
        frames, fps = read_video(path, limit)
        h, w = frames[0].shape[:2]
        rows = {}
        for name, make in DETECTORS.items():
            people, seconds = detect(make(), frames)
            tracks, said = track(people, (w, h), fps, str(path.name))
            rows[name] = {
                "ms_per_frame": seconds * 1000,
                "detections_per_frame": float(np.mean([len(p) for p in people])),
                "tracks": [{"id": t.track_id, "first": int(t.frames[0]), "last": int(t.frames[-1]),
                            "frames_seen": t.num_frames, "share_of_clip": t.num_frames / len(frames),
                            "hip_row": float(np.median(t.keypoints[:, MP_HIPS, 1].mean(1)) / h),
                            "jumps": jumps(t), "motion": track_motion(t.keypoints, t.scores),
                            "shape_change": track_shape_change(t.keypoints, t.scores, threshold=0.5)}
                           for t in tracks],
                "warnings": said}
            if png is not None and name.startswith("BlazePose"):
                picks = list(np.linspace(0, len(frames) - 1, 6).round().astype(int))
                draw(frames, tracks, picks, png / f"{path.stem}_tracks.png")
        out[label] = {"frames": len(frames), "size": [w, h], "fps": fps, "detectors": rows}
    # the same people frozen: what a poster's keypoints do
    frames, fps = read_video(CLIP, 1)
    still = frozen(frames[0], 30 if limit is None else min(30, limit), fps)
    people, _ = detect(PeopleDetector(4), still)
    tracks, _ = track(people, still[0].shape[1::-1], fps, "frozen", TrackingOptions(min_motion=0))
    out["frozen frame"] = {"frames": len(still), "motion": [track_motion(t.keypoints, t.scores) for t in tracks],
                           "shape_change": [track_shape_change(t.keypoints, t.scores, threshold=0.5) for t in tracks],
                           "min_motion": TrackingOptions().min_motion, "min_shape_change": MIN_SHAPE_CHANGE}
    return out


# --- synthetic scenes ----------------------------------------------------------------------------

FOCAL, WIDTH, HEIGHT, CAMERA_HEIGHT = 1000.0, 1280, 720, 1.5


def paths(count: int, rng: np.random.Generator) -> list[tuple[float, float, float]]:
    """Per person: start x, end x and depth (m) of the pelvis. Depths 6-9 m, each person at least
    0.4 m behind the one before (so similar sizes in the image), walking in alternate directions
    from 2-3 m off the centre line to 2-3 m past it: every pair crosses once."""
    depths = 6.0 + np.cumsum(np.r_[0.0, rng.uniform(0.4, 1.5, count - 1)])
    out = []
    for k, depth in enumerate(depths):
        side = -1.0 if k % 2 == 0 else 1.0
        out.append((side * rng.uniform(2.0, 3.0), -side * rng.uniform(2.0, 3.0), float(depth)))
    return out


def mocap_poses(mocap: Path | None, count: int, frames: int) -> list[np.ndarray]:
    """``count`` root-relative motions (frames, 17, 3) in metres, z up: CMU clips, else (or with
    ``mocap`` None) the bundled demo sample at different starting frames."""
    from ddhpose.data.retarget import load_mocap
    clips = [] if mocap is None else [mocap / c for c in MOCAP_CLIPS if (mocap / c).is_file()]
    if len(clips) >= count:
        motions = [load_mocap(c, fps=50).numpy().astype(np.float64)[:frames] for c in clips[:count]]
        return [m - m[:, :1] * [1, 1, 0] for m in motions]  # the pelvis kept at x = y = 0, its height kept
    with np.load(DEMO_SAMPLE) as sample:  # camera frame, y down: turned to z up
        cam = sample["poses_3d"].astype(np.float64)
    up = np.stack([cam[..., 0], cam[..., 2], -cam[..., 1]], -1)
    up -= up[:, :1]
    up[..., 2] += 0.95  # pelvis about 0.95 m above the floor
    return [up[(40 * k) % max(1, len(up) - frames):][:frames] for k in range(count)]


def scene(motions: list[np.ndarray], rng: np.random.Generator) -> dict:
    """People walking across the camera (:func:`paths`): truth 3D (camera frame), 2D, and what a
    detector sees."""
    frames = min(len(m) for m in motions)
    t = np.linspace(0, 1, frames)[:, None]
    people = []
    for motion, (x0, x1, depth) in zip(motions, paths(len(motions), rng)):
        m = motion[:frames]
        cam = np.stack([m[..., 0], CAMERA_HEIGHT - m[..., 2], m[..., 1]], -1)  # x right, y down, z forward
        cam = cam + np.concatenate([x0 + (x1 - x0) * t, np.zeros_like(t), np.full_like(t, depth)], 1)[:, None]
        uv = FOCAL * cam[..., :2] / cam[..., 2:] + [WIDTH / 2, HEIGHT / 2]
        people.append({"camera": cam, "uv": uv, "depth": depth})
    seen = np.ones((len(people), frames), dtype=bool)
    seen &= rng.random(seen.shape) > 0.03
    for a, near in enumerate(people):  # a farther person is missed where a nearer one covers their pelvis
        lo, hi = near["uv"].min(1), near["uv"].max(1)
        for b, far in enumerate(people):
            if far["depth"] > near["depth"]:
                pelvis = far["uv"][:, 0]
                inner = lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo)
                seen[b] &= ~((pelvis >= inner[0]) & (pelvis <= inner[1])).all(-1)
    detections, truth = [], {}
    for p, person in enumerate(people):
        sigma = 0.01 * np.median(np.ptp(person["uv"][..., 1], axis=1))
        person["noisy"] = (person["uv"] + rng.normal(0, sigma, person["uv"].shape)).astype(np.float32)
        for f in np.flatnonzero(seen[p]):
            detections.append(Detection(int(f), None, person["noisy"][f], np.full(17, 0.9, np.float32)))
            truth[(int(f), person["noisy"][f].tobytes())] = p
    order = rng.permutation(len(detections))  # no order within a frame says who is who
    return {"people": people, "seen": seen, "frames": frames,
            "detections": [detections[i] for i in order], "truth": truth}


def lift_error(lifter: Lifter, track: KeypointTrack, person: dict) -> tuple[float, float, int]:
    result = lifter.lift(track, focal_length=FOCAL, world=False, progress=False)
    truth = person["camera"][result.frames]
    truth = torch.as_tensor(truth - truth[:, :1], dtype=torch.float32)
    pred = torch.as_tensor(result.poses, dtype=torch.float32)
    return float(mpjpe(pred, truth)) * 1000, float(p_mpjpe(pred, truth)) * 1000, len(result.frames)


def synthetic_part(mocap: Path | None, seeds: int, max_gaps: tuple[int, ...] = (15, 30),
                   scene_frames: int = 200, checkpoint: str | None = None) -> dict:
    """Per people count, tracking option (max_gap) and seed: identity switches, tracks, and per
    person the tracked and alone lifting errors (``scene_frames`` per scene, the model of
    ``checkpoint``, default the bundled one)."""
    lifter = Lifter.from_pretrained(checkpoint)
    out = {}
    for count in (2, 3):
        for max_gap in max_gaps:
            rows = []
            for seed in range(seeds):
                sc = scene(mocap_poses(mocap, count, scene_frames), np.random.default_rng(seed))
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    tracks = tracks_from_detections(
                        Detections(sc["detections"], "h36m", (WIDTH, HEIGHT), sc["frames"], 50.0, "synthetic",
                                   f"scene {count}/{seed}"), TrackingOptions(max_gap=max_gap))
                owners = [[sc["truth"][(int(f), k.tobytes())] for f, k in zip(t.frames, t.keypoints)] for t in tracks]
                switches = sum(int((np.diff(o) != 0).sum()) for o in owners)
                people = []
                for p, person in enumerate(sc["people"]):
                    mine = [t for t, o in zip(tracks, owners) if np.bincount(o, minlength=count).argmax() == p]
                    main = max(mine, key=lambda t: t.num_frames) if mine else None
                    frames = np.flatnonzero(sc["seen"][p])
                    alone = KeypointTrack(person["noisy"][frames], np.full((len(frames), 17), 0.9, np.float32),
                                          frames.astype(np.int64), 0, "h36m", (WIDTH, HEIGHT), "alone", 50.0)
                    row = {"person": p, "depth_m": person["depth"], "frames_seen": int(len(frames)),
                           "longest_gap": int(np.diff(frames).max() - 1) if len(frames) > 1 else 0,
                           "tracks": len(mine)}
                    if len(frames):  # a far person covered by a near one all along is never seen
                        row["alone"] = lift_error(lifter, alone, person)
                    if main is not None:
                        row["tracked"] = lift_error(lifter, main, person)
                        row["tracked_share"] = main.num_frames / len(frames)
                    people.append(row)
                rows.append({"seed": seed, "frames": sc["frames"], "switches": switches, "tracks": len(tracks),
                             "people": people, "warnings": [str(w.message) for w in caught]})
            out[f"{count} people, max_gap {max_gap}"] = rows
    return out


# --- speed ----------------------------------------------------------------------------------------

def speed_part(limit: int | None = None) -> dict:
    """Detection frames/s per scene (each cut to its first ``limit`` frames when given)."""
    frames, _ = read_video(CLIP, limit)
    h, w = frames[0].shape[:2]
    scenes = {"1 person (the clip's right part, frames 0-29)": [np.ascontiguousarray(f[:, 450:]) for f in frames[:30]],
              "2 people (the clip)": frames,
              "4 people (the clip beside its mirror image)": [np.ascontiguousarray(np.concatenate([f, f[:, ::-1]], 1))
                                                             for f in frames[:45]]}
    out = {}
    for label, clip in scenes.items():
        clip = clip[:limit]
        out[label] = {"size": list(clip[0].shape[1::-1])}
        for name, make in (("single", lambda: D.MediaPipePose()),
                           ("every person (PeopleDetector)", lambda: PeopleDetector(4)),
                           ("multi, search every 10", lambda: D.MediaPipeMultiPose(4, search_every=10)),
                           ("multi, search every frame", lambda: D.MediaPipeMultiPose(4, search_every=1))):
            people, seconds = detect(make(), clip)
            out[label][name] = {"fps": 1 / seconds, "people_per_frame": float(np.mean([len(p) for p in people]))}
    return out


# --- report -----------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    lines = [f"Measured by `python benchmarks/multi_person.py` on {report['machine']}.", ""]
    if "real" in report:
        for clip, res in report["real"].items():
            if clip == "frozen frame":
                continue
            lines += [f"### {clip} ({res['frames']} frames, {res['size'][0]} x {res['size'][1]})", "",
                      "| detector | ms/frame | people/frame | kept tracks: id frames first-last (share), hip row, jumps |",
                      "|---|---|---|---|"]
            for name, row in res["detectors"].items():
                tracks = "; ".join(f"#{t['id']} {t['frames_seen']} f {t['first']}-{t['last']} "
                                   f"({t['share_of_clip']:.0%}), row {t['hip_row']:.2f}, {t['jumps']} jumps"
                                   for t in row["tracks"]) or "none"
                lines.append(f"| {name} | {row['ms_per_frame']:.0f} | {row['detections_per_frame']:.2f} | {tracks} |")
            lines.append("")
        fz = report["real"]["frozen frame"]
        lines += [f"Motion (`track_motion`) and shape change (`track_shape_change`) of the people frozen in one "
                  f"frame ({fz['frames']} re-encoded copies, PeopleDetector): "
                  + ", ".join(f"{m:.4f} / {c:.4f}" for m, c in zip(fz["motion"], fz["shape_change"]))
                  + f"; `min_motion` = {fz['min_motion']}, `MIN_SHAPE_CHANGE` = {fz['min_shape_change']}; the real "
                  "people of the clips: " + ", ".join(f"{t['motion']:.2f} / {t['shape_change']:.2f}" for t in
                  next(iter(report["real"].values()))["detectors"][next(iter(DETECTORS))]["tracks"]) + ".", ""]
    if "synthetic" in report:
        lines += ["| scene | scenes | identity switches | people in one track | longest gap (frames) | MPJPE tracked "
                  "/ alone (mm) | P-MPJPE tracked / alone (mm) |", "|---|---|---|---|---|---|---|"]
        for scene_name, rows in report["synthetic"].items():
            people = [r for s in rows for r in s["people"]]
            whole = [r for r in people if r["tracks"] == 1]
            mean = lambda key, i, group: float(np.mean([r[key][i] for r in group if key in r]))  # noqa: E731
            lines.append(f"| {scene_name} | {len(rows)} | {sum(s['switches'] for s in rows)} | {len(whole)} of "
                         f"{len(people)} | {max(r['longest_gap'] for r in people)} | {mean('tracked', 0, people):.1f}"
                         f" / {mean('alone', 0, people):.1f} | {mean('tracked', 1, people):.1f} / "
                         f"{mean('alone', 1, people):.1f} |")
        lines.append("")
    if "speed" in report:
        lines += ["| scene | size | single fps | every person (PeopleDetector): fps | regions search every 10: fps "
                  "| regions search every frame: fps |", "|---|---|---|---|---|---|"]
        for label, row in report["speed"].items():
            lines.append(f"| {label} | {row['size'][0]} x {row['size'][1]} | {row['single']['fps']:.1f} | "
                         f"{row['every person (PeopleDetector)']['fps']:.1f} | "
                         f"{row['multi, search every 10']['fps']:.1f} | {row['multi, search every frame']['fps']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["real", "synthetic", "speed"],
                        choices=["real", "synthetic", "speed"])
    parser.add_argument("--demo", type=Path, default=None,
                        help="the Sports2D demo video (Sports2D/Demo/demo.mp4 inside the sports2d wheel)")
    parser.add_argument("--mocap", type=Path, default=MOCAP, help="CMU ASF/AMC folder (default ../shared/data/cmu_mocap)")
    parser.add_argument("--seeds", type=int, default=5, help="synthetic scenes per people count")
    parser.add_argument("--png", type=Path, default=None, help="folder for frames with the tracks drawn")
    parser.add_argument("--out", default="docs/multi_person")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    limit, frames, checkpoint, max_gaps = None, 200, None, (15, 30)
    if args.smoke:
        tmp = smoke.folder("multi_person")
        limit, frames, checkpoint, args.mocap = 2, 60, str(smoke.tiny_checkpoint(tmp)), None
        args.seeds, args.demo, args.out, max_gaps = 1, None, str(tmp / "multi_person"), (15,)
        args.png = tmp / "png" if args.png else None
    mediapipe = f"mediapipe {__import__('mediapipe').__version__}" if smoke.has_video_extra() else "no mediapipe"
    report = {"machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
                         f"{mediapipe}"}
    if "real" in args.parts:
        clips = {"Sports2D demo, 3 s (tests/fixtures)": CLIP}
        if args.demo:
            clips["Sports2D demo, whole"] = args.demo
        report["real"] = real_part(clips, args.png, limit)
    if "synthetic" in args.parts:
        report["synthetic"] = synthetic_part(args.mocap, args.seeds, max_gaps, frames, checkpoint)
    if "speed" in args.parts:
        report["speed"] = speed_part(limit)
    out = Path(args.out)
    previous = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    previous.update(report)
    atomic_write_text(out.with_suffix(".json"), json.dumps(previous, indent=1, default=float))
    command = command_line("benchmarks/multi_person.py", argv if argv is not None else sys.argv[1:])
    text = f"Command: `{command.strip()}`\n\n" + markdown(report)
    write_section(out.with_suffix(".md"), "multi_person " + "+".join(args.parts), text,
                  title="# Several people in one video")
    print(text)


if __name__ == "__main__":
    main()
