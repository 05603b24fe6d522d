"""Real footage with a calibrated truth: what `ddhpose video` gives on phone videos, view by view.

The recordings: Pose2Sim's demo (the ``pose2sim`` wheel on PyPI, BSD-3): one person (100
frames) and two people on a platform (100 frames), each filmed by four calibrated phones
(1080 x 1920, 60 frames/s; the Qualisys calibration the wheel ships). Never seen by this project's
training. For each video, as a user would: MediaPipe (``ddhpose.video``) finds the people, and
``Lifter``'s defaults lift them, each view on its own. The truth: the same MediaPipe 2D of all four
views triangulated with the calibration (per frame and view the left/right labelling that agrees
with the other views; a view more than :data:`OUTLIER_PX` off left out), so it shares the
detector's idea of where a joint is, not its mistakes of one view.

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
import itertools
import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.camera_files import read_camera  # noqa: E402
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
#: A view whose reprojection is further than this (pixels) from the others' triangulation is left
#: out of that joint's truth (a detector's mistake in one view).
OUTLIER_PX = 40.0
#: A joint's truth needs this score in at least two views.
MIN_SCORE = 0.5
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


def read_qca(path: Path) -> dict[str, dict]:
    """A Qualisys calibration (.qca.txt) -> {camera: {'K' (3, 3) pixels, 'R' (3, 3), 't' (3,) metres}}
    with ``x_camera = R @ x_world + t`` in OpenCV's axes (x right, y down, z forward), as Pose2Sim
    converts it: the intrinsics as ``ddhpose.lifting.camera_files`` reads them; the world-to-camera
    rotation by rows and the camera's centre in millimetres, the camera's y and z flipped. The lens
    distortion (|k1| < 1e-3 after Pose2Sim's scaling) is left out."""
    cameras = {}
    for cam in ET.parse(path).getroot().findall("cameras/camera"):
        name, tr = cam.get("serial"), cam.find("transform")
        intr = read_camera(path, name)
        K = np.array([[intr.focal[0], 0, intr.centre[0]], [0, intr.focal[1], intr.centre[1]], [0, 0, 1]])
        pose = np.array([[float(tr.get(f"r{i}{j}")) for j in (1, 2, 3)] for i in (1, 2, 3)])
        centre = np.array([float(tr.get(k)) for k in "xyz"]) / 1000
        R = np.diag([1.0, -1.0, -1.0]) @ pose
        cameras[name] = {"K": K, "R": R, "t": -R @ centre}
    return cameras


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


def face_2d(track, frames: int) -> tuple[np.ndarray, np.ndarray] | None:
    """MediaPipe's nose, left and right ear on the clip's frame axis ((frames, 3, 2), (frames, 3)),
    None for another layout."""
    if track.layout != "mediapipe33":
        return None
    kp, sc = np.full((frames, 3, 2), np.nan), np.zeros((frames, 3))
    kp[track.frames], sc[track.frames] = track.keypoints[:, FACE], np.nan_to_num(track.scores[:, FACE])
    return kp, sc


def h36m_2d(track, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A track's keypoints as detected, Human3.6M order, on the clip's frame axis: (frames, 17, 2)
    pixels (NaN where unseen) and scores (frames, 17)."""
    inputs = lift_inputs(track, repair=False)
    kp, sc = np.full((frames, 17, 2), np.nan), np.zeros((frames, 17))
    kp[track.frames], sc[track.frames] = inputs.keypoints, np.nan_to_num(inputs.scores)
    return kp, sc


def project(cam: dict, X: np.ndarray) -> np.ndarray:
    """World points (..., 3) -> pixels (..., 2)."""
    x = (X @ cam["R"].T + cam["t"]) @ cam["K"].T
    return x[..., :2] / x[..., 2:]


def _dlt(cams: list[dict], uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One point from views: uv (V, 2), weights w (V,) -> (3,) (NaN with fewer than two views)."""
    if (w > 0).sum() < 2:
        return np.full(3, np.nan)
    rows = []
    for cam, (u, v), wi in zip(cams, uv, w):
        if wi > 0:
            P = cam["K"] @ np.hstack([cam["R"], cam["t"][:, None]])
            rows += [wi * (u * P[2] - P[0]), wi * (v * P[2] - P[1])]
    X = np.linalg.svd(np.array(rows))[2][-1]
    return X[:3] / X[3]


def relabel(kp: np.ndarray, groups: tuple) -> np.ndarray:
    """(F, 17, ...) with the left and right of ``groups`` exchanged in every frame."""
    for g in groups:
        kp = exchanged(kp, np.ones(len(kp), bool), g)
    return kp


def _point(cams: list[dict], uv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`_dlt`, the worst of three or more views left out where it is off by over
    :data:`OUTLIER_PX` (a detector's mistake in one view)."""
    X = _dlt(cams, np.nan_to_num(uv), w)
    if (w > 0).sum() >= 3:
        err = np.array([np.linalg.norm(project(c, X) - p) for c, p in zip(cams, uv)])
        worst = np.nanargmax(np.where(w > 0, err, np.nan))
        if err[worst] > OUTLIER_PX:
            w = w.copy()
            w[worst] = 0
            X = _dlt(cams, np.nan_to_num(uv), w)
    return X


def _weights(kps: list[np.ndarray], scores: list[np.ndarray], f: int, j: int) -> np.ndarray:
    """(V,) the views' weights of joint j in frame f: the score, 0 below :data:`MIN_SCORE` or unseen."""
    return np.array([s[f, j] if s[f, j] >= MIN_SCORE and np.isfinite(k[f, j]).all() else 0.0
                     for k, s in zip(kps, scores)])


def _labellings(cams, kps, scores, f: int, group: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Which views' ``group`` to exchange in frame f so that the views agree (the smallest
    reprojection error of the group's triangulation), as the two labellings that agree alike
    (the one keeping the first view's labels, and its mirror: every view exchanged)."""
    left, right = (np.array(x) for x in pairs(group))
    joints = np.concatenate([left, right])
    best, best_cost = (0,) * len(cams), np.inf
    for flips in itertools.product((0, 1), repeat=len(cams) - 1):
        flips = (0, *flips)
        views = [k[f, np.r_[right, left] if x else joints] for k, x in zip(kps, flips)]
        view_scores = [c[f, np.r_[right, left] if x else joints] for c, x in zip(scores, flips)]
        cost, n = 0.0, 0
        for i in range(len(joints)):
            w = np.array([c[i] if c[i] >= MIN_SCORE and np.isfinite(v[i]).all() else 0.0
                          for v, c in zip(views, view_scores)])
            if (w > 0).sum() < 2:
                continue
            X = _dlt(cams, np.nan_to_num(np.stack([v[i] for v in views])), w)
            cost += sum(np.linalg.norm(project(c, X) - v[i]) for c, v, wi in zip(cams, views, w) if wi > 0)
            n += int((w > 0).sum())
        if n and cost / n < best_cost:
            best, best_cost = flips, cost / n
    return best, tuple(1 - x for x in best)


def _sides(cams, kps, scores, f: int, group: str, flips: tuple) -> np.ndarray:
    """(2, 3) the group's first left and right joint (hip or shoulder) triangulated under ``flips``."""
    left, right = pairs(group)
    out = []
    for a, b in ((left[0], right[0]), (right[0], left[0])):
        uv = np.stack([k[f, b if x else a] for k, x in zip(kps, flips)])
        w = np.array([c[f, b if x else a] if np.isfinite(u).all() and c[f, b if x else a] >= MIN_SCORE else 0.0
                      for u, c, x in zip(uv, scores, flips)])
        out.append(_point(cams, uv, w))
    return np.stack(out)


def _choose(cams, kps, scores, group: str, face: np.ndarray | None) -> list[tuple[int, ...]]:
    """Per frame the labelling of :func:`_labellings` that keeps the 3D left and right joints
    continuous from frame to frame (the nearer of the two), each stretch of frames oriented as a
    whole: the way the face looks (``face`` (F, 3, 3) world nose, left and right ear, z up: the
    left side is on the left of the face), or without a face the way that exchanges fewer views."""
    F = len(kps[0])
    options = [_labellings(cams, kps, scores, f, group) for f in range(F)]
    sides = [_sides(cams, kps, scores, f, group, o[0]) for f, o in enumerate(options)]
    pick, stretch, stretches, previous = [0] * F, [], [], None
    for f in range(F):
        if not np.isfinite(sides[f]).all():
            previous = None
            continue
        if previous is None:
            stretches.append(stretch := [])
            pick[f] = 0
        else:
            kept = np.linalg.norm(sides[f] - previous, axis=-1).sum()
            pick[f] = int(np.linalg.norm(sides[f][::-1] - previous, axis=-1).sum() < kept)
        previous = sides[f][::-1] if pick[f] else sides[f]
        stretch.append(f)
    for stretch in stretches:  # as picked, or every frame the other way
        score = 0.0
        for f in stretch:
            chosen, mirror = options[f][pick[f]], options[f][1 - pick[f]]
            if face is not None and np.isfinite(face[f]).all():
                left, right = sides[f][::-1] if pick[f] else sides[f]
                score += (left - right) @ np.cross([0.0, 0.0, 1.0], face[f, 0] - face[f, 1:].mean(0))
            elif face is None:
                score += sum(mirror) - sum(chosen)
        if score < 0:
            for f in stretch:
                pick[f] = 1 - pick[f]
    return [o[p] for o, p in zip(options, pick)]


def triangulate(cams: list[dict], kps: list[np.ndarray], scores: list[np.ndarray],
                face: np.ndarray | None = None) -> np.ndarray:
    """Views' 2D (V x (F, 17, 2) Human3.6M, scores (F, 17)) -> world joints (F, 17, 3), NaN where
    fewer than two views see a joint. Each view's legs and arms take the left/right labelling that
    agrees with the other views, continuous in 3D and facing the way the head does (:func:`_choose`),
    and a view off by over :data:`OUTLIER_PX` is left out of a joint."""
    F = len(kps[0])
    kps, scores = [k.copy() for k in kps], [s.copy() for s in scores]
    for g in GROUPS:
        for f, flips in enumerate(_choose(cams, kps, scores, g, face)):
            for v, flip in enumerate(flips):
                if flip:
                    kps[v][f:f + 1] = relabel(kps[v][f:f + 1], (g,))
                    scores[v][f:f + 1] = relabel(scores[v][f:f + 1][..., None], (g,))[..., 0]
    X = np.full((F, 17, 3), np.nan)
    for f, j in itertools.product(range(F), range(17)):
        X[f, j] = _point(cams, np.stack([k[f, j] for k in kps]), _weights(kps, scores, f, j))
    return X


def _pair_error(cams: list[dict], a: tuple, b: tuple) -> float:
    """The median reprojection error (pixels) of two views' tracks triangulated together, over the
    frames both see (inf with fewer than 10)."""
    (ka, sa), (kb, sb) = a, b
    both = ((sa >= MIN_SCORE).sum(1) >= 8) & ((sb >= MIN_SCORE).sum(1) >= 8)
    if both.sum() < 10:
        return float("inf")
    X = triangulate(cams, [ka[both], kb[both]], [sa[both], sb[both]])
    return float(np.nanmedian(np.linalg.norm(project(cams[0], X) - ka[both], axis=-1)))


def associate(cams: list[dict], views: list[list[tuple]], max_px: float = 2 * OUTLIER_PX) -> list[dict[int, list[int]]]:
    """Which tracks are one person: views[v] = [(kp, sc), ...] on the clip's frame axis. Tracks of
    different views join, nearest first (pairs reprojecting within ``max_px``), where no view
    would then hold two tracks seen in one frame (a person's track may break in one view).
    Returns the people seen in at least two views: {view: [track indices]}."""
    nodes = [(v, t) for v, tracks in enumerate(views) for t in range(len(tracks))]
    pairs = sorted((_pair_error([cams[va], cams[vb]], views[va][ta], views[vb][tb]), i, j)
                   for i, (va, ta) in enumerate(nodes) for j, (vb, tb) in enumerate(nodes) if va < vb)
    group = list(range(len(nodes)))
    seen = [views[v][t][1].max(1) > 0 for v, t in nodes]  # (F,) frames each track covers
    for cost, i, j in pairs:
        if cost > max_px or group[i] == group[j]:
            continue
        a = [k for k in range(len(nodes)) if group[k] == group[i]]
        b = [k for k in range(len(nodes)) if group[k] == group[j]]
        if any(nodes[k][0] == nodes[m][0] and (seen[k] & seen[m]).any() for k in a for m in b):
            continue
        for k in b:
            group[k] = group[i]
    people = []
    for g in sorted(set(group)):
        members = [nodes[k] for k in range(len(nodes)) if group[k] == g]
        if len({v for v, _ in members}) >= 2:
            person: dict[int, list[int]] = {}
            for v, t in members:
                person.setdefault(v, []).append(t)
            people.append(person)
    return people


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


def measure_view(result, track, cam: dict, X: np.ndarray, up_world: np.ndarray, floor: float) -> dict:
    """One person's lift in one view against the truth X (F, 17, 3) world (``floor``: the truth's
    floor height along ``up_world``)."""
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
    repaired = lift_inputs(track, repair=True).swapped  # on the track's own frames
    detected, _ = h36m_2d(track, len(X))
    exchanged_truth = truth_swaps(detected, cam, X)
    n = {"exchanged": 0, "repaired": 0, "clean": 0, "changed": 0}
    for g in GROUPS:
        exchanged_, clear = (x[track.frames] for x in exchanged_truth[g])
        n["exchanged"] += int((exchanged_ & clear).sum())
        n["repaired"] += int((exchanged_ & clear & repaired[g]).sum())
        n["clean"] += int((~exchanged_ & clear).sum())
        n["changed"] += int((~exchanged_ & clear & repaired[g]).sum())
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
            face = np.array([[_point([cams[n] for n in names], np.stack([k[f, j] for k in face_kps]),
                                     _weights(face_kps, face_scs, f, j)) for j in range(3)] for f in range(frames)])
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
            for t, (r, track) in enumerate(zip(results, tracks[n])):
                who = [p for p, person in enumerate(people) if t in person.get(v, [])]
                if who:
                    rows.append({"person": who[0], **measure_view(r, track, cam, truths[who[0]], up_world, floor)})
            out["views"][n][cond] = rows
            print(calibration.parent.parent.name, n, cond, json.dumps(rows), flush=True)
    return out


def write_qca(cams: dict[str, dict], size: tuple[int, int], path: Path) -> None:
    """The inverse of :func:`read_qca` (no distortion): the stand-in recording's calibration."""
    root = ET.Element("calibration")
    cameras = ET.SubElement(root, "cameras")
    for name, cam in cams.items():
        node = ET.SubElement(cameras, "camera", serial=name)
        ET.SubElement(node, "fov_video", left="0", top="0", right=str(size[0] - 1), bottom=str(size[1] - 1))
        pose = np.diag([1.0, -1.0, -1.0]) @ cam["R"]
        centre = -cam["R"].T @ cam["t"] * 1000
        rows = {f"r{i + 1}{j + 1}": repr(float(pose[i, j])) for i in range(3) for j in range(3)}
        ET.SubElement(node, "transform", **rows, **{k: repr(float(v)) for k, v in zip("xyz", centre)})
        K = cam["K"] * 64
        ET.SubElement(node, "intrinsic", focalLengthU=repr(float(K[0, 0])), focalLengthV=repr(float(K[1, 1])),
                      centerPointU=repr(float(K[0, 2])), centerPointV=repr(float(K[1, 2])))
    ET.ElementTree(root).write(path)


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
