"""The truth of a multi-camera recording: 2D of calibrated views triangulated into 3D joints.

For ``benchmarks/real_footage.py``: a Qualisys calibration read (and written, for the smoke
stand-in) as Pose2Sim converts it; Human3.6M-order 2D of several views triangulated per joint
(DLT weighted by the scores, the worst view left out where it is off by over :data:`OUTLIER_PX`),
each view's legs and arms relabelled per frame so the views agree, kept continuous in 3D and
oriented by the face; and the tracks of several views matched into people by how well they
triangulate together.
"""
from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ddhpose.lifting.camera_files import QUALISYS_SUBPIXELS, read_camera
from ddhpose.lifting.swaps import GROUPS, exchanged, pairs

#: A view whose reprojection is further than this (pixels) from the others' triangulation is left
#: out of that joint's truth (a detector's mistake in one view).
OUTLIER_PX = 40.0
#: A joint's truth needs this score in at least two views.
MIN_SCORE = 0.5


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
        K = cam["K"] * QUALISYS_SUBPIXELS
        ET.SubElement(node, "intrinsic", focalLengthU=repr(float(K[0, 0])), focalLengthV=repr(float(K[1, 1])),
                      centerPointU=repr(float(K[0, 2])), centerPointV=repr(float(K[1, 2])))
    ET.ElementTree(root).write(path)


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


def _view_weights(uv: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(V,) the views' weights of one point seen at uv (V, 2) with score (V,): the score, 0 below
    :data:`MIN_SCORE` or unseen."""
    return np.where((score >= MIN_SCORE) & np.isfinite(uv).all(-1), score, 0.0)


def _weights(kps: list[np.ndarray], scores: list[np.ndarray], f: int, j: int) -> np.ndarray:
    """(V,) the views' weights of joint j in frame f (:func:`_view_weights`)."""
    return _view_weights(np.stack([k[f, j] for k in kps]), np.array([s[f, j] for s in scores]))


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
            w = _view_weights(np.stack([v[i] for v in views]), np.array([c[i] for c in view_scores]))
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
        w = _view_weights(uv, np.array([c[f, b if x else a] for c, x in zip(scores, flips)]))
        out.append(_point(cams, uv, w))
    return np.stack(out)


def _choose(cams, kps, scores, group: str, face: np.ndarray | None) -> list[tuple[int, ...]]:
    """Per frame the labelling of :func:`_labellings` that keeps the 3D left and right joints
    continuous from frame to frame (the nearer of the two), each stretch of frames oriented as a
    whole: the way the face looks (``face`` (F, 3, 3) world nose, left and right ear, z up: the
    left side is on the left of the face; frames without a face seen do not vote), or without a
    face the way that exchanges fewer views."""
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
    links = sorted((_pair_error([cams[va], cams[vb]], views[va][ta], views[vb][tb]), i, j)
                   for i, (va, ta) in enumerate(nodes) for j, (vb, tb) in enumerate(nodes) if va < vb)
    group = list(range(len(nodes)))
    seen = [views[v][t][1].max(1) > 0 for v, t in nodes]  # (F,) frames each track covers
    for cost, i, j in links:
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


def triangulate_points(cams: list[dict], kps: list[np.ndarray], scores: list[np.ndarray]) -> np.ndarray:
    """Views' 2D of points without sides (V x (F, P, 2), scores (F, P)) -> (F, P, 3), each point on
    its own as in :func:`triangulate` (e.g. the face: nose and ears)."""
    F, P = kps[0].shape[:2]
    return np.array([[_point(cams, np.stack([k[f, j] for k in kps]), _weights(kps, scores, f, j)) for j in range(P)]
                     for f in range(F)])
