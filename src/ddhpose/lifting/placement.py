"""The people of one static camera in one world frame, standing on one floor: the lifter's last stage.

:func:`place_in_world` finds up and the floor from every person's motion together
(:func:`ddhpose.lifting.world.find_world_frame`), then stands everyone on that floor
(:func:`on_the_floor`), moves each person's camera-frame motion into the frame, flags their foot
contacts and, if asked, keeps the feet from sliding (:mod:`ddhpose.lifting.feet`).

Standing on the floor. A person's distance from the camera follows their body size, which 2D
cannot show (the model guesses it, 5-10 % off, more for bodies unlike its training); a person
too large stands too far and floats above the others' floor, one too small sinks below it. Where
a foot rests, the floor says where it is: on its camera ray, at the ankle's height above the floor.

1. Each person's size: scaling a person about the camera keeps their 2D and moves their resting
   ankles along the rays; the scale that puts them at the ankle's height above the floor is
   what the floor says of the person's size. It is only as good as up: a degree of tilt moves
   the floor 14 cm at 8 m, as much as 8 % of size does for a camera 1.7 m above the feet. So
   the floor's scale and the body's (1) are combined by their errors (:func:`_trust`): near
   people and well-found floors follow the floor, far ones their size. One floor for everyone:
   the camera's height above it is chosen so the people's scales multiply to 1 (their size
   guesses' errors average out: the floor is the one they agree on). A person whose scale
   would be beyond :data:`MAX_FLOOR_SCALE` stands on something (a box, a stair) or is not a
   body the model can size: they keep their size and are flagged.
2. Frames where the person was not seen are bridged by the trajectory stage before this (no
   dives). Each frame's depth is the trajectory's: moving every resting frame onto the floor
   along its ray was tried and doubled the root error (Human3.6M S9/S11, true intrinsics: 85.6 ->
   170.4 mm): a few degrees of error in up move a floor seen at a grazing angle by decimetres.

3. Where a person rests on something else for a while (a box, a stage: the feet still and level
   more than :data:`ddhpose.lifting.feet.RAISED_HEIGHT` above the floor for a second or more, or
   below it: the floor found on a platform), the contacts follow that support (the feet are locked there too) and the
   stretches are recorded and said (:func:`ddhpose.lifting.feet.raised_spans`).

What was done is in each result's provenance under ``placement`` (the scale, how far the resting
feet were from the floor before, the resting frames, the ``raised`` stretches with, where a body
size misjudged within :data:`MAX_FLOOR_SCALE` would also put the feet there, that scale
(``size_scale``), and a note where the person was flagged).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from typing import Sequence

import numpy as np
from ddhpose.lifting.feet import ankle_speed, foot_contacts, lock_feet, raised_spans
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.world import (ANKLE_HEIGHT_RATIO, DRIFT_WARNING_DEG, NoFloorError, WorldFrame, find_world_frame,
                                   leg_length)
from ddhpose.skeleton import H36M

#: Why a result without a root trajectory has no world frame.
NO_ROOT = "the person's position could not be solved in the camera frame"
#: Why a person is placed by their size alone, not by the floor.
BY_SIZE = "placed by the body's size alone"
NO_FEET, EDGE_ON = "no resting feet seen", "the resting feet are seen edge-on, level with the camera"
#: The largest change of a person's size (either way) the floor may make; beyond it the person is
#: flagged instead (they stand on something, or the model misjudged them beyond repair).
MAX_FLOOR_SCALE = 1.35
#: The body-size guess's error (a fraction: the model's sizes are 5-10 % off) and the least
#: uncertainty of up (degrees) the floor's trust assumes (:func:`_trust`).
SIZE_ERROR, MIN_TILT_DEG = 0.08, 1.0
#: A ray to a resting ankle must descend at least this steeply (degrees) to say where the floor
#: meets it (a camera at the feet's height sees the floor edge-on).
MIN_RAY_DESCENT_DEG = 2.0
#: How far (metres) a drawn support reaches beyond the resting ankles over it (:func:`support_boxes`).
SUPPORT_MARGIN = 0.2
_FEET = [H36M.names.index("left_ankle"), H36M.names.index("right_ankle")]


def place_in_world(results: Sequence[LiftResult], *, foot_lock: bool = True) -> list[LiftResult]:
    """The people of one static camera in one world frame, on one floor (see the module docstring).

    The floor and up are found from every person's motion together; the origin lies on the floor
    under the first person's pelvis in their first frame. Each result gets ``world_poses`` (every
    joint's world position, feet locked during contact with ``foot_lock``), ``foot_contacts``,
    ``world_frame`` and its ``placement`` in the provenance; the poses, hypotheses, bone lengths
    and root trajectory are rescaled with the person. Where no floor can be found every result
    keeps the camera frame only, says why in ``world_note`` and a warning is raised.
    """
    results = list(results)
    usable = [r for r in results if r.root_trajectory is not None]
    note, frame = ("" if usable else NO_ROOT), None
    if usable:
        fps = usable[0].frame_rate
        first = min(usable, key=lambda r: int(r.frames[0]))
        try:
            frame = find_world_frame(np.concatenate([r.poses for r in usable]),
                                     np.concatenate([r.root_trajectory for r in usable]), fps,
                                     missing=np.concatenate([r.missing for r in usable]),
                                     origin=first.root_trajectory[0],
                                     seconds=max(r.num_frames for r in usable) / fps,
                                     ankle_speed=np.concatenate([_speed(r) for r in usable]),
                                     people=np.concatenate([np.full(r.num_frames, k) for k, r in enumerate(usable)]))
        except NoFloorError as err:
            note = str(err)
    if frame is None:
        warnings.warn(f"no world frame: {note}; the results stay in the camera frame", stacklevel=2)
        return [replace(r, world_note=note) for r in results]
    if np.isfinite(frame.drift_deg) and frame.drift_deg > DRIFT_WARNING_DEG:
        warnings.warn(f"the floor's direction changes by {frame.drift_deg:.0f} degrees over the clip: the camera "
                      "probably moves (pans or tilts), so the world trajectory is not reliable", stacklevel=2)
    standing, frame = on_the_floor(usable, frame)
    standing_by_id = {id(r): s for r, s in zip(usable, standing)}
    placed = []
    for r in results:
        if r.root_trajectory is None:
            placed.append(replace(r, world_note=NO_ROOT))
            continue
        r = standing_by_id[id(r)]
        world = frame.apply(r.poses + r.root_trajectory[:, None])
        contacts = foot_contacts(world, r.frame_rate, speed=_speed(r))
        rest = ANKLE_HEIGHT_RATIO * leg_length(r.poses.astype(np.float64))
        r = _with_raised(r, raised_spans(world, contacts, r.frame_rate), frame.camera_height - rest)
        if foot_lock:
            world = lock_feet(world, contacts)
        placed.append(replace(r, world_poses=world, foot_contacts=contacts, world_frame=frame))
        flag = r.provenance.get("placement", {}).get("note") if r.provenance else None
        if flag:
            warnings.warn(f"track {r.track_id}: {flag}", stacklevel=2)
    return placed


def _with_raised(r: LiftResult, spans: list[tuple[int, int, float]], drop: float = float("nan")) -> LiftResult:
    """The result with the stretches where it rests off the floor (:func:`raised_spans`, frame
    indices) in its placement record, as video frame numbers, and said in its note. ``drop``: how
    far below the camera a resting ankle on the floor is (metres): a stretch that a body size
    misjudged within :data:`MAX_FLOOR_SCALE` would also put there is said to be either
    (:func:`size_could_explain`)."""
    if not spans:
        return r
    info = dict(r.provenance.get("placement", {}))
    info["raised"] = []
    said = []
    for a, b, h in spans:
        frames = f"{int(r.frames[a])}-{int(r.frames[b])}"
        stretch = {"frames": [int(r.frames[a]), int(r.frames[b])], "height_m": round(h, 2)}
        scale = size_could_explain(h, drop)
        why = ("on something: a box, a stair, a stage?" if h > 0 else
               "lower than the floor found: was it found on a stage or a platform?")
        if scale is not None:
            stretch["size_scale"] = round(scale, 3)
            change = f"{100 * (scale - 1):.0f} % farther (and larger)" if scale > 1 else \
                f"{100 * (1 - scale):.0f} % nearer (and smaller)"
            why += (f" or {change} than placed: a body size the model misjudged, theirs or that of whoever the "
                    "floor was found from")
        info["raised"].append(stretch)
        said.append(f"the feet rest {abs(h):.2f} m {'above' if h > 0 else 'below'} the floor in frames {frames} ({why})")
    said = "; ".join(said)
    if info.get("note", "").endswith(BY_SIZE):  # their feet rest, but not on the floor seen clip-wide
        info["note"] = f"{said}; {BY_SIZE}"
    info.setdefault("note", said)  # a person flagged already (the lowest support off the floor) keeps that note
    return replace(r, provenance={**r.provenance, "placement": info})


def size_could_explain(height: float, drop: float) -> float | None:
    """The scale about the camera (> 1: farther and larger) that would bring feet resting
    ``height`` metres above the floor onto it, for a camera ``drop`` metres above a resting ankle
    on the floor; None where it would take more than :data:`MAX_FLOOR_SCALE` (the feet are on
    something, whatever the size) or the camera is not above them. The scale is on top of the
    one :func:`on_the_floor` gave the person (at most :data:`MAX_FLOOR_SCALE` ** trust)."""
    if not (math.isfinite(drop) and drop > 0 and drop - height > 0):
        return None
    scale = drop / (drop - height)
    return scale if abs(math.log(scale)) <= math.log(MAX_FLOOR_SCALE) else None


def support_boxes(r: LiftResult, margin: float = SUPPORT_MARGIN) -> list[np.ndarray]:
    """What a placed person stood on off the floor, as boxes to draw: one (2, 3) array of world
    corners (the lowest x, 0, z; the highest x, the support's height, z) per stretch of
    ``placement.raised`` above the floor, spanning where the person's resting ankles were over it
    plus ``margin`` metres. A stretch below the floor (the floor found on a platform, or a
    misjudged size) has none."""
    raised = (r.provenance or {}).get("placement", {}).get("raised", [])
    if r.world_poses is None or r.foot_contacts is None:
        return []
    boxes = []
    for stretch in raised:
        first, last = stretch["frames"]
        if stretch["height_m"] <= 0:
            continue
        inside = (r.frames >= first) & (r.frames <= last)
        feet = r.world_poses[:, _FEET][inside][r.foot_contacts[inside]]  # (N, 3) resting ankles
        if not len(feet):
            continue
        lo, hi = feet.min(0) - margin, feet.max(0) + margin
        boxes.append(np.array([[lo[0], 0.0, lo[2]], [hi[0], stretch["height_m"], hi[2]]]))
    return boxes


def _speed(r: LiftResult) -> np.ndarray:
    """(F, 2) m/s of the person's ankles across the line of sight, from the 2D (NaN where a
    keypoint was not seen)."""
    depth = (r.poses + r.root_trajectory[:, None])[..., 2]
    speed = ankle_speed(r.keypoints_2d, depth, r.focal_length or 1.0, r.frame_rate)
    unseen = r.missing[:, _FEET]
    unseen[1:-1] |= unseen[:-2] & unseen[2:]
    return np.where(unseen, np.nan, speed)


def on_the_floor(results: Sequence[LiftResult], frame: WorldFrame) -> tuple[list[LiftResult], WorldFrame]:
    """Everyone of one clip on one floor: each person scaled about the camera so their resting
    ankles meet the floor, the camera's height above it chosen so the scales multiply to 1 (the
    module docstring). Returns the results (scaled, ``placement`` in their provenance) and the
    frame with that floor."""
    camera_height = float(frame.translation[1])
    people = []
    for r in results:
        absolute = r.poses.astype(np.float64) + r.root_trajectory[:, None]
        world = frame.apply(absolute)
        contacts = foot_contacts(world, r.frame_rate, speed=_speed(r), window=None)  # the lowest support
        rest = ANKLE_HEIGHT_RATIO * leg_length(r.poses.astype(np.float64))
        heights = world[:, _FEET, 1][contacts]  # resting ankles' heights above the frame's floor
        drops = camera_height - heights  # how far below the camera they are
        descent = np.degrees(np.arcsin(np.clip(drops / np.linalg.norm(
            world[:, _FEET][contacts] - frame.translation, axis=-1).clip(1e-9), -1, 1)))
        distance = float(np.median(np.linalg.norm(world[:, _FEET][contacts] - frame.translation, axis=-1))) \
            if contacts.any() else 0.0
        drops = drops[descent > MIN_RAY_DESCENT_DEG]
        people.append((r, rest, drops, contacts, _trust(drops, distance, frame.uncertainty_deg)))
    sized = [(rest, drops, trust) for _, rest, drops, _, trust in people if len(drops) >= 3]
    height = _common_camera_height(sized, camera_height)
    out = []
    for r, rest, drops, contacts, trust in people:
        info: dict = {"resting_frames": int(contacts.any(1).sum())}
        scale = 1.0
        if len(drops) >= 3:
            needed = float(np.median((height - rest) / drops))
            info["feet_above_floor_m"] = round(float(height - np.median(drops) - rest), 3)
            info["floor_trust"] = round(trust, 3)
            if abs(math.log(needed)) <= math.log(MAX_FLOOR_SCALE):
                scale = needed ** trust
            else:
                above = info["feet_above_floor_m"]
                info["note"] = (f"the resting feet stay {abs(above):.2f} m {'above' if above > 0 else 'below'} the "
                                "floor the others stand on: " + ("on something (a box, a stair)" if above > 0 else
                                                                 "the others on a stage or a platform") +
                                ", or a body size the model misjudged; placed by its size")
        else:
            info["note"] = f"{EDGE_ON if info['resting_frames'] >= 3 else NO_FEET}: {BY_SIZE}"
        info["floor_scale"] = round(scale, 4)
        r = _scaled(r, scale)
        out.append(replace(r, provenance={**(r.provenance or {}), "placement": info}))
    first = min(out, key=lambda r: int(r.frames[0]))
    translation = -(frame.rotation @ first.root_trajectory[0].astype(np.float64))
    translation[1] = height
    return out, replace(frame, translation=translation)


def _trust(drops: np.ndarray, distance: float, tilt_deg: float) -> float:
    """How far (0-1) the floor rather than the body's size should set a person's scale: the
    size's error (:data:`SIZE_ERROR` of the camera's height above the feet) against the floor's
    error at the person's distance (the tilt's uncertainty, at least :data:`MIN_TILT_DEG`, times
    the distance), as the weight of a product of the two estimates (inverse variances)."""
    if len(drops) < 3:
        return 0.0
    size = SIZE_ERROR * float(np.median(drops))
    tilt = math.radians(max(tilt_deg if math.isfinite(tilt_deg) else 90.0, MIN_TILT_DEG))
    floor = distance * math.sin(min(tilt, math.pi / 2))
    return size ** 2 / (size ** 2 + floor ** 2)


def _common_camera_height(people: list[tuple[float, np.ndarray, float]], fallback: float) -> float:
    """The camera's height above the floor at which the people's scales (median over their
    resting ankles of (height - rest) / drop) multiply to 1, each weighted by their resting
    frames and trust (:func:`_trust`); ``fallback`` without anyone resting."""
    if not people or not sum(t for _, _, t in people) > 0:
        return fallback

    def balance(height: float) -> float:
        return sum(len(d) * t * math.log(max(float(np.median((height - rest) / d)), 1e-9)) for rest, d, t in people)

    low = max(rest for rest, _, _ in people) + 1e-3
    high = max(fallback, low) * 4 + 10
    if balance(low) > 0 or balance(high) < 0:
        return fallback
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if balance(mid) < 0 else (low, mid)
    return (low + high) / 2


def _scaled(r: LiftResult, scale: float) -> LiftResult:
    """The person ``scale`` times as large and as far (about the camera: the same 2D)."""
    if scale == 1.0:
        return r
    return replace(r, poses=r.poses * scale, hypotheses=r.hypotheses * scale, uncertainty=r.uncertainty * scale,
                   root_trajectory=r.root_trajectory * scale,
                   bone_lengths=None if r.bone_lengths is None else r.bone_lengths * scale)
