"""The people of one static camera in one world frame: the lifter's last stage.

:func:`place_in_world` finds up and the floor from every person's motion together
(:func:`ddhpose.lifting.world.find_world_frame`), moves each person's camera-frame motion into it,
flags their foot contacts and, if asked, keeps the feet from sliding (:mod:`ddhpose.lifting.feet`).
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Sequence

import numpy as np

from ddhpose.lifting.feet import foot_contacts, lock_feet
from ddhpose.lifting.options import DEFAULT_FPS
from ddhpose.lifting.result import LiftResult
from ddhpose.lifting.world import DRIFT_WARNING_DEG, NoFloorError, find_world_frame

#: Why a result without a root trajectory has no world frame.
NO_ROOT = "the person's position could not be solved in the camera frame"


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
    note, frame = ("" if usable else NO_ROOT), None
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
            placed.append(replace(r, world_note=NO_ROOT))
            continue
        world = frame.apply(r.poses + r.root_trajectory[:, None])
        contacts = foot_contacts(world, r.fps or DEFAULT_FPS)
        if foot_lock:
            world = lock_feet(world, contacts)
        placed.append(replace(r, world_poses=world, foot_contacts=contacts, world_frame=frame))
    return placed
