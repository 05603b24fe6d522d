"""Real footage with a calibrated truth: what `ddhpose video` gives on phone videos, view by view.

The recordings: Pose2Sim's demo (the ``pose2sim`` wheel on PyPI, BSD-3): one person (100
frames) and two people on a platform (100 frames), each filmed by four calibrated phones
(1080 x 1920, 60 frames/s; the Qualisys calibration the wheel ships). Never seen by this project's
training. For each video, as a user would: MediaPipe (``ddhpose.video``) finds the people, and
``Lifter``'s defaults lift them, each view on its own. The truth: the same MediaPipe 2D of all four
views triangulated with the calibration (``multiview.py``: per frame and view the left/right
labelling that agrees with the other views, continuous in 3D and oriented by the face; a view far
off left out), so it shares the detector's idea of where a joint is, not its mistakes of one view.

Measured per video, with the calibrated intrinsics, with none (the default focal length), and
with none but the clip's own estimate (``estimate_focal``):

- the pose: MPJPE and P-MPJPE (mm) of the root-relative joints in the camera frame;
- the root: the mean distance of the pelvis's camera-frame position from the truth (mm), and the
  depth's mean error (%);
- up: the angle (degrees) between the world frame's up and the calibration's;
- the floor: how high each person's resting ankles stand above the floor the lift found (median,
  mm), against the same in the truth above its own floor (the lowest resting ankles); and how high
  they stand against the truth's along the true up in the camera frame, as placed and with the
  person scaled about the camera to the truth's depth (the body size's share taken out);
- left and right: of the frames where a view's labels are exchanged against the truth, the share
  the repair put back, and the clean frames it changed (frames where neither labelling is clearly
  nearer the truth's projection, :data:`CLEAR_SHARE`, count neither way);
- the focal length the clip gave (``estimate_focal``) against the calibrated one.

Usage: python benchmarks/real_footage.py [--demo DIR] [--work DIR] [--out docs/real_footage]
(``--demo``: a folder holding Demo_SinglePerson and Demo_MultiPerson; without it the wheel is
fetched with pip into ``--work``, a folder kept between runs, where the detections are written too;
``--reuse-detections`` reads them back instead of detecting again.)
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402
from multiview import associate, project, read_qca, relabel, triangulate, triangulate_points, write_qca  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.inputs import read_keypoints, tracks_from_detections  # noqa: E402
from ddhpose.lifting.keypoints import MEDIAPIPE33, KeypointTrack, lift_inputs  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.options import VIDEO_MAX_PEOPLE, LiftOptions  # noqa: E402
from ddhpose.lifting.swaps import GROUPS, exchanged, pairs  # noqa: E402
from ddhpose.metrics import p_mpjpe  # noqa: E402
from ddhpose.pipelines.lift import lift_tracks  # noqa: E402
from ddhpose.skeleton import H36M  # noqa: E402
from ddhpose.video.decode import read_frames  # noqa: E402
from ddhpose.video.detect import DETECTION_WIDTH, detect_decoded, get_detector  # noqa: E402

WHEEL = "pose2sim==0.10.49"
DEMOS = {"one person": "Demo_SinglePerson", "two people": "Demo_MultiPerson"}
#: A view's left/right labelling is told against the truth where one labelling is nearer by over this
#: share of the left-to-right distance in the image.
CLEAR_SHARE = 0.25
#: A person needs this many frames with every joint triangulated to be measured (a bystander seen
#: in part by two views has none).
MIN_TRUTH_FRAMES = 10
#: The truth's ankle rests where it moves slower than this (metres / second).
REST_SPEED = 0.3
#: Joints by name: the ankles (resting feet), the body's axis (which way the world's z points), the
#: face of MediaPipe's layout (which side is left).
ANKLES = [H36M.names.index("right_ankle"), H36M.names.index("left_ankle")]
PELVIS, THORAX = H36M.names.index("pelvis"), H36M.names.index("thorax")
FACE = [MEDIAPIPE33.index(n) for n in ("nose", "left_ear", "right_ear")]
CONDITIONS = {"calibrated": "calibrated intrinsics", "default": "no intrinsics (default focal)",
              "estimated": "no intrinsics, focal estimated"}


def fetch_demos(work: Path) -> Path:
    """The Pose2Sim wheel's demo folders, fetched and unpacked into ``work`` once."""
    root = work / "pose2sim"
    if not (root / "Pose2Sim" / "Demo_MultiPerson").exists():
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-q", "-d", str(work)], check=True)
        wheel = next(work.glob("pose2sim-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(root, [n for n in z.namelist() if n.startswith("Pose2Sim/Demo_")])
    return root / "Pose2Sim"


def detect(video: Path, cache: Path, reuse: bool = False) -> list:
    """The people MediaPipe finds in ``video`` as ``ddhpose video`` finds them (tracks); the detections
    are written to ``cache``, and read back from it instead with ``reuse`` (a detector changed since
    is then not measured)."""
    if reuse and cache.exists():
        return read_keypoints(cache)
    info, frames = read_frames(video, max_width=DETECTION_WIDTH)
    detections = detect_decoded(info, frames, get_detector(max_people=VIDEO_MAX_PEOPLE, source=str(video)),
                                progress=False)
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps(detections.to_json()))
    return tracks_from_detections(detections)


def _on_clip(track, keypoints: np.ndarray, scores: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A track's (F, P, 2) keypoints and (F, P) scores on the clip's frame axis: (frames, P, 2)
    pixels (NaN where unseen) and scores (frames, P) (0 where unseen)."""
    kp, sc = np.full((frames, *keypoints.shape[1:]), np.nan), np.zeros((frames, keypoints.shape[1]))
    kp[track.frames], sc[track.frames] = keypoints, np.nan_to_num(scores)
    return kp, sc


def face_2d(track, frames: int) -> tuple[np.ndarray, np.ndarray] | None:
    """MediaPipe's nose, left and right ear on the clip's frame axis ((frames, 3, 2), (frames, 3)),
    None for another layout."""
    if track.layout != "mediapipe33":
        return None
    return _on_clip(track, track.keypoints[:, FACE], track.scores[:, FACE], frames)


def h36m_2d(track, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A track's keypoints as detected, Human3.6M order, on the clip's frame axis: (frames, 17, 2)
    pixels (NaN where unseen) and scores (frames, 17)."""
    inputs = lift_inputs(track, repair=False)
    return _on_clip(track, inputs.keypoints, inputs.scores, frames)


def truth_swaps(kp: np.ndarray, cam: dict, X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group ((F,) bool exchanged, (F,) bool clear): the view's detected labels against the
    truth's projection. Clear where one labelling is nearer by over :data:`CLEAR_SHARE` of the
    distance between the group's left and right joints in the image (limbs side by side in the view,
    or the truth unsure, tell neither way)."""
    reproj = project(cam, X)
    out = {}
    for g in GROUPS:
        left, right = pairs(g)
        as_is = np.linalg.norm(kp - reproj, axis=-1)[:, left + right].mean(-1)
        other = np.linalg.norm(relabel(kp, (g,)) - reproj, axis=-1)[:, left + right].mean(-1)
        apart = np.linalg.norm(reproj[:, left] - reproj[:, right], axis=-1).mean(-1)
        known = np.isfinite(as_is) & np.isfinite(other)
        out[g] = (known & (other < as_is), known & (np.abs(other - as_is) > CLEAR_SHARE * apart))
    return out


def resting_height(ankles: np.ndarray, up: np.ndarray, fps: float) -> np.ndarray:
    """(F, 2, 3) ankles -> heights along ``up`` of those resting (slower than :data:`REST_SPEED`)."""
    speed = np.full(ankles.shape[:2], np.inf)
    speed[1:] = np.linalg.norm(np.diff(ankles, axis=0), axis=-1) * fps
    height = ankles @ up
    lower = height == np.nanmin(height, axis=1, keepdims=True)
    return height[lower & (speed < REST_SPEED)]


def _height_errors(result, truth: np.ndarray, ok: np.ndarray, up: np.ndarray) -> tuple[float | None, float | None]:
    """How high (mm) the person's resting ankles stand against the truth's, along the true ``up`` in
    the camera frame: as placed (the result's camera-frame motion) and scaled about the camera to the
    truth's depth (the same 2D; what is left is the pose's and up's share, not the body size's).
    truth (F, 17, 3) camera frame on the result's frames, ok (F,) the frames it covers."""
    placed = (result.poses + result.root_trajectory[:, None])[ok].astype(np.float64)
    depth = float(np.median(truth[ok, PELVIS, 2] / placed[:, PELVIS, 2]))
    true = resting_height(truth[ok][:, ANKLES], up, result.fps)
    out = []
    for motion in (placed, placed * depth):
        lifted = resting_height(motion[:, ANKLES], up, result.fps)
        out.append(float((np.median(lifted) - np.median(true)) * 1000) if len(lifted) and len(true) else None)
    return out[0], out[1]


def measure_view(result, detected: np.ndarray, cam: dict, X: np.ndarray, up_world: np.ndarray, floor: float) -> dict:
    """One person's lift in one view against the truth X (F, 17, 3) world (``floor``: the truth's
    floor height along ``up_world``); ``detected`` (F, 17, 2) their 2D as detected (:func:`h36m_2d`).
    The frames the lift's left/right repair exchanged are read from the result's provenance."""
    frames = result.frames
    truth = X[frames] @ cam["R"].T + cam["t"]
    ok = np.isfinite(truth).all((1, 2))
    rel = truth - truth[:, :1]
    pred = result.poses
    out = {"frames": int(ok.sum()),
           "mpjpe": float(np.linalg.norm(pred[ok] - rel[ok], axis=-1).mean() * 1000),
           "p_mpjpe": float(p_mpjpe(torch.from_numpy(pred[ok]).double(), torch.from_numpy(rel[ok]).double()) * 1000)}
    if result.root_trajectory is not None:
        root = result.root_trajectory[ok]
        out["root"] = float(np.linalg.norm(root - truth[ok, 0], axis=-1).mean() * 1000)
        out["depth"] = float(np.mean(np.abs(root[:, 2] / truth[ok, 0, 2] - 1)) * 100)
    if result.world_frame is not None:
        up_cam = cam["R"] @ up_world
        out["tilt"] = float(np.degrees(np.arccos(np.clip(result.world_frame.up @ up_cam, -1, 1))))
        lifted = resting_height(result.world_poses[:, ANKLES], np.array([0.0, 1.0, 0.0]), result.fps)
        true = resting_height(X[frames][:, ANKLES], up_world, result.fps) - floor
        out["ankles"] = float(np.median(lifted) * 1000) if len(lifted) else None
        out["ankles_truth"] = float(np.median(true) * 1000) if len(true) else None
        out["note"] = result.world_note
        out["height_error"], out["height_error_true_depth"] = _height_errors(result, truth, ok, up_cam)
    est = (result.provenance or {}).get("focal_estimate")
    out["focal_used"] = float(result.focal_length)
    out["focal_true"] = float(cam["K"][0, 0])
    if est:
        out["focal_estimate"], out["focal_told"] = float(est["focal"]), bool(est["identifiable"])
    exchanged_truth = truth_swaps(detected, cam, X)
    n = {"exchanged": 0, "repaired": 0, "clean": 0, "changed": 0}
    for g in GROUPS:
        repaired = np.zeros(len(X), bool)
        for first, last in result.provenance["left_right_repaired"].get(g, []):
            repaired[first:last + 1] = True
        exchanged_, clear, repaired = (x[frames] for x in (*exchanged_truth[g], repaired))
        n["exchanged"] += int((exchanged_ & clear).sum())
        n["repaired"] += int((exchanged_ & clear & repaired).sum())
        n["clean"] += int((~exchanged_ & clear).sum())
        n["changed"] += int((~exchanged_ & clear & repaired).sum())
    out.update(n)
    return out


def _merged(parts: list[tuple[np.ndarray, np.ndarray]], shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One view's tracks of one person (keypoints, scores on the clip's frame axis) in one array."""
    kp, sc = np.full((*shape, 2), np.nan), np.zeros(shape)
    for k, c in parts:
        covered = c.max(1) > 0
        kp[covered], sc[covered] = k[covered], c[covered]
    return kp, sc


def run_demo(calibration: Path, tracks_of, lifter: Lifter) -> dict:
    """Every view of one recording, each condition: {'people': frames of truth per person,
    'views': {view: {condition: [per lifted person dicts]}}}. ``tracks_of(view)``: the people of
    that view's video (:func:`detect`); those seen in one view only, or too little
    (:data:`MIN_TRUTH_FRAMES`), get no truth."""
    cams = read_qca(calibration)
    names = sorted(cams)
    tracks = {n: tracks_of(n) for n in names}
    frames = max(int(tr.frames.max()) + 1 for t in tracks.values() for tr in t)
    two_d = {n: [h36m_2d(tr, frames) for tr in t] for n, t in tracks.items()}
    people = associate([cams[n] for n in names], [two_d[n] for n in names])
    faces = {n: [face_2d(tr, frames) for tr in t] for n, t in tracks.items()}
    truths, kept = [], []
    for person in people:
        kps, scs = zip(*[_merged([two_d[n][t] for t in person.get(v, [])], (frames, 17)) for v, n in enumerate(names)])
        face = None
        if all(f is not None for n in names for f in faces[n]):
            face_kps, face_scs = zip(*[_merged([faces[n][t] for t in person.get(v, [])], (frames, 3))
                                       for v, n in enumerate(names)])
            face = triangulate_points([cams[n] for n in names], list(face_kps), list(face_scs))
        X = triangulate([cams[n] for n in names], list(kps), list(scs), face)
        if np.isfinite(X).all((1, 2)).sum() >= MIN_TRUTH_FRAMES:
            truths.append(X)
            kept.append(person)
    people = kept
    axis = np.concatenate([X[:, THORAX] - X[:, PELVIS] for X in truths])
    up_world = np.array([0.0, 0.0, 1.0]) * np.sign(np.nanmedian(axis[:, 2]))
    fps = tracks[names[0]][0].fps or 60.0
    floor = min(float(np.median(resting_height(X[:, ANKLES], up_world, fps))) for X in truths)
    out = {"people": [int(np.isfinite(X).all((1, 2)).sum()) for X in truths], "views": {}}
    for v, n in enumerate(names):
        cam = cams[n]
        given = {"calibrated": dict(focal_length=float(cam["K"][0, 0]),
                                    principal_point=(float(cam["K"][0, 2]), float(cam["K"][1, 2]))),
                 "default": {}, "estimated": dict(estimate_focal=True)}
        out["views"][n] = {}
        for cond, extra in given.items():
            results = lift_tracks(tracks[n], lifter, LiftOptions(**extra), source=n)
            rows = []
            for t, r in enumerate(results):
                who = [p for p, person in enumerate(people) if t in person.get(v, [])]
                if who:
                    rows.append({"person": who[0], **measure_view(r, two_d[n][t][0], cam, truths[who[0]], up_world,
                                                                  floor)})
            out["views"][n][cond] = rows
            print(calibration.parent.parent.name, n, cond, json.dumps(rows), flush=True)
    return out


def stand_in_recording(where: Path) -> tuple[Path, object]:
    """--smoke: the held-out walk of the smoke data seen by four cameras around it (exact 2D, the
    legs of one view exchanged for 11 frames), as (calibration file, tracks_of)."""
    world = smoke.held_out_worlds()["cmu_02_01_walk"][:60]
    centre, size = world[:, 0].mean(0), (1080, 1920)
    cams = {}
    for k, angle in enumerate(np.radians([20, 110, 200, 290])):
        eye = centre + np.array([4 * np.cos(angle), 4 * np.sin(angle), 0.6])
        forward = (centre - eye) / np.linalg.norm(centre - eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        R = np.stack([right, np.cross(forward, right), forward])
        cams[f"cam{k + 1:02d}"] = {"K": np.array([[1600.0, 0, 540], [0, 1600, 960], [0, 0, 1]]), "R": R, "t": -R @ eye}
    path = where / "Calib.qca.txt"
    write_qca(cams, size, path)

    def tracks_of(view: str) -> list:
        uv = project(cams[view], world).astype(np.float32)
        if view == "cam02":
            uv = exchanged(uv, np.arange(len(uv)) // 10 == 2, "legs")
        return [KeypointTrack(uv, np.ones(uv.shape[:2], np.float32), np.arange(len(uv)), 0, "h36m", size, "", 25.0)]
    return path, tracks_of


def _cell(values: list, fmt: str = "{:.0f}") -> str:
    return " / ".join("-" if v is None else fmt.format(v) for v in values)


def markdown(runs: dict, command: str, seconds: float, checkpoint: str | None) -> str:
    """The per-view table and the means over views."""
    lines = [f"Measured with `{command}` ({seconds:.0f} s; {weights_label(checkpoint)}, the lifter's defaults, H=1, "
             "MediaPipe as `ddhpose video` runs it). Root and depth errors: calibrated / default / estimated focal "
             "length; the rest with the calibrated intrinsics.", "",
             "| recording | view | person (frames with truth) | MPJPE / P-MPJPE (mm) | root error (mm) "
             "| depth error (%) | tilt error (deg) "
             "| resting ankles above the found floor (truth: above the lowest person's) (mm) "
             "| resting ankles' height against the truth's: as placed / at the truth's depth (mm) "
             "| left/right: exchanged, repaired, clean changed (group-frames) "
             "| focal (px): calibrated, estimated (told) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        for view, by_cond in run["views"].items():
            for i, row in enumerate(by_cond["calibrated"]):
                conds = [by_cond[c][i] for c in CONDITIONS]
                est = by_cond["estimated"][i]
                told = "-" if "focal_estimate" not in est else \
                    f"{est['focal_estimate']:.0f} ({'yes' if est['focal_told'] else 'no'})"
                ankles = f"{_cell([row.get('ankles')])} ({_cell([row.get('ankles_truth')])})"
                lines.append(
                    f"| {name} | {view} | {row['person']} ({row['frames']}) "
                    f"| {row['mpjpe']:.0f} / {row['p_mpjpe']:.0f} "
                    f"| {_cell([c.get('root') for c in conds])} | {_cell([c.get('depth') for c in conds])} "
                    f"| {_cell([row.get('tilt')], '{:.1f}')} | {ankles} "
                    f"| {_cell([row.get('height_error'), row.get('height_error_true_depth')], '{:+.0f}')} "
                    f"| {row['exchanged']}, {row['repaired']}, {row['changed']} of {row['clean']} "
                    f"| {row['focal_true']:.0f}, {told} |")
    lines += ["", "Means over the views (every lifted person with a truth):", "",
              "| recording | MPJPE / P-MPJPE (mm) | root error, calibrated / default / estimated (mm) "
              "| depth error (%) | tilt error (deg) | left/right repaired (%) | clean frames changed (%) |",
              "|---|---|---|---|---|---|---|"]
    for name, run in runs.items():
        rows = {c: [r for v in run["views"].values() for r in v[c]] for c in CONDITIONS}
        cal = rows["calibrated"]

        def mean(key: str, rs: list[dict]) -> float:
            return float(np.mean([r[key] for r in rs if r.get(key) is not None]))
        ex, rep = sum(r["exchanged"] for r in cal), sum(r["repaired"] for r in cal)
        clean, changed = sum(r["clean"] for r in cal), sum(r["changed"] for r in cal)
        lines.append(f"| {name} | {mean('mpjpe', cal):.0f} / {mean('p_mpjpe', cal):.0f} "
                     f"| {_cell([mean('root', rows[c]) for c in CONDITIONS])} "
                     f"| {_cell([mean('depth', rows[c]) for c in CONDITIONS], '{:.1f}')} | {mean('tilt', cal):.1f} "
                     f"| {100 * rep / ex if ex else float('nan'):.0f} (of {ex}) "
                     f"| {100 * changed / max(clean, 1):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("--demo", type=Path, default=None, help="a folder with Pose2Sim's Demo_* folders")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "ddhpose" / "real_footage",
                        help="where the wheel and the detections are kept")
    parser.add_argument("--reuse-detections", action="store_true",
                        help="read the detections of an earlier run from --work instead of detecting again")
    parser.add_argument("--out", default="docs/real_footage")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    started = time.time()
    torch.manual_seed(0)
    if args.smoke:
        tmp = smoke.folder("real_footage")
        args.checkpoint, args.out = str(smoke.tiny_checkpoint(tmp)), str(tmp / "real_footage")
        recordings = {"stand-in walk": stand_in_recording(tmp)}
    else:
        demos = args.demo or fetch_demos(args.work)
        cache = args.work / "detections"
        recordings = {name: (demos / folder / "calibration" / "Calib.qca.txt",
                             lambda view, f=demos / folder: detect(f / "videos" / f"{view}.mp4",
                                                                    cache / f.name / f"{view}.json",
                                                                    args.reuse_detections))
                      for name, folder in DEMOS.items()}
    lifter = Lifter.from_pretrained(args.checkpoint)
    runs = {name: run_demo(calibration, tracks_of, lifter) for name, (calibration, tracks_of) in recordings.items()}
    command = "python benchmarks/real_footage.py" + (f" --checkpoint {args.checkpoint}" if args.checkpoint else "")
    text = markdown(runs, command, time.time() - started, args.checkpoint)
    out_md, out_json = Path(args.out + ".md"), Path(args.out + ".json")
    write_section(out_md, "real_footage", text, title="# Real footage with a calibrated truth")
    atomic_write_text(out_json, json.dumps(runs, indent=1))
    print(text)


if __name__ == "__main__":
    main()
