"""One self-contained HTML page of a clip's people: their skeletons in the world frame on a floor
grid (three.js, bundled with its licence: nothing is fetched when the page is viewed), the video
frames or the 2D keypoints beside them, a time slider, play / pause, an orbiting camera, a colour
per person (the render's) and the joint-angle plots.

The page is ``assets/viewer/viewer.html`` with its script ``app.js`` and three.js
(``three.module.min.js``, r170, MIT) inlined, and the data as one JSON block: per person its id,
colour, first frame, joints (metres, y up, floor y = 0), 2D keypoints (pixels), angles
(degrees, null where missing) and what the person stood on off the floor (boxes: x, y, z of
opposite corners, metres; :func:`ddhpose.lifting.placement.support_boxes`, in the render's
colour). A frame ``k`` is at ``k / fps`` seconds, as in the TRC, CSV and .mot files. Video
frames, when given, are embedded as JPEG (at most :data:`MAX_FRAMES`, every n-th,
:data:`FRAME_HEIGHT` pixels high).
"""
from __future__ import annotations

import base64
import html
import io
import json
import re
from importlib import resources
from typing import Callable, Iterator, Optional, Sequence

import numpy as np

from ddhpose._version import __version__
from ddhpose.export.angles import ANGLE_GROUPS
from ddhpose.export.render import PERSON_COLOURS, SUPPORT_COLOUR
from ddhpose.geometry import CAMERA_TO_Y_UP
from ddhpose.lifting.angles import unavailable
from ddhpose.lifting.placement import support_boxes
from ddhpose.lifting.result import LiftResult

#: The most video frames a page embeds, and their height in pixels.
MAX_FRAMES, FRAME_HEIGHT = 300, 360
#: three.js's release, as its bundled file states it.
THREE_RELEASE = "170"
JOINT_RADIUS, BONE_RADIUS = 0.035, 0.018
#: Frame numbers -> their RGB images (H, W, 3) uint8 in that order (``ddhpose.video.frames.FrameStore.frames``).
FrameSource = Callable[[Sequence[int]], Iterator[np.ndarray]]


def _asset(name: str) -> str:
    return (resources.files("ddhpose") / "assets" / "viewer" / name).read_text(encoding="utf-8")


def _rounded(a: np.ndarray, decimals: int) -> list:
    """Flat list, rounded, NaN as None (JSON null)."""
    a = np.round(np.asarray(a, np.float64).reshape(-1), decimals)
    return [None if not np.isfinite(v) else float(v) for v in a]


def page_positions(result: LiftResult) -> tuple[np.ndarray, bool]:
    """(F, J, 3) metres the page draws and whether they are the world frame's: the world poses,
    else the camera frame turned upright along the root trajectory with its lowest joint on the floor."""
    if result.world_poses is not None:
        return np.asarray(result.world_poses, np.float64), True
    poses = result.poses if result.root_trajectory is None else result.poses + result.root_trajectory[:, None]
    upright = np.asarray(poses, np.float64) @ np.asarray(CAMERA_TO_Y_UP).T
    return upright - [0.0, np.nanmin(upright[..., 1]), 0.0], False


def jpeg_uri(rgb: np.ndarray, height: int = FRAME_HEIGHT, quality: int = 70) -> str:
    """An RGB image (H, W, 3) uint8 as a ``data:image/jpeg`` URI, scaled to ``height`` pixels at most."""
    from PIL import Image
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if image.height > height:
        image = image.resize((max(1, round(image.width * height / image.height)), height), Image.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def page_frames(first: int, last: int, limit: int = MAX_FRAMES) -> list[int]:
    """The video frames a page of frames ``first``..``last`` embeds: every n-th, at most ``limit``."""
    step = max(1, -(-(last - first + 1) // limit))
    return list(range(first, last + 1, step))


def page_data(results: Sequence[LiftResult], video: Optional[dict[int, str]] = None) -> dict:
    """The JSON the page plays (see the module's docstring)."""
    if not results:
        raise ValueError("results: expected at least one person")
    names, parents = results[0].joint_names, results[0].parents
    if any(r.joint_names != names for r in results):
        raise ValueError("results: every person must have the same joints")
    fps = results[0].frame_rate
    if any(r.frame_rate != fps for r in results):
        raise ValueError(f"results: the people of one page need one frame rate, got {[r.fps for r in results]}")
    people, roots = [], []
    for k, r in enumerate(results):
        positions, world = page_positions(r)
        roots.append(positions[:, 0])
        people.append({"id": r.track_id, "colour": PERSON_COLOURS[k % len(PERSON_COLOURS)], "world": world,
                       "first": int(r.frames[0]), "frames": r.num_frames, "joints": _rounded(positions, 3),
                       "keypoints": _rounded(r.keypoints_2d, 1),
                       "angles": {n: _rounded(v, 1) for n, v in r.angles.items()},
                       "supports": [_rounded(box, 3) for box in support_boxes(r)] if world else []})
    pelvis = np.concatenate(roots)
    centre = np.nanmean(pelvis, 0)
    extent = float(np.nanmax(np.ptp(pelvis[:, [0, 2]], 0))) if len(pelvis) else 0.0
    return {"fps": fps, "first": min(p["first"] for p in people),
            "last": max(p["first"] + p["frames"] - 1 for p in people), "names": list(names),
            "parents": list(parents), "image_size": list(results[0].image_size), "people": people,
            "floor": [float(centre[0]), float(centre[2]), extent], "centre_height": float(centre[1]),
            "support_colour": SUPPORT_COLOUR, "joint_radius": JOINT_RADIUS, "bone_radius": BONE_RADIUS,
            "groups": {g: list(n) for g, n in ANGLE_GROUPS.items()},
            "default_group": "knee flexion",
            "unavailable": unavailable(results[0].skeleton, world=all(p["world"] for p in people)), "video": video or {}}


def _inline(text: str, what: str) -> str:
    """``text`` safe inside a <script> element: '</' escaped where it may be (JSON), refused where not."""
    if what == "json":
        return text.replace("</", "<\\/").replace("<!--", "<\\!--")
    if re.search(r"</script|<!--", text, flags=re.I):
        raise ValueError(f"{what}: cannot be inlined in a <script> element (it contains '</script' or '<!--')")
    return text


def page_html(results: Sequence[LiftResult], frames_of: Optional[FrameSource] = None, title: str = "ddhpose") -> str:
    """The page of ``results`` (every person of one clip); ``frames_of`` gives the video's frames
    (embedded, subsampled: :func:`page_frames`), else the page draws the 2D keypoints alone."""
    video = None
    if frames_of is not None:
        first = min(int(r.frames[0]) for r in results)
        last = max(int(r.frames[-1]) for r in results)
        numbers = page_frames(first, last)
        video = {str(n): jpeg_uri(rgb) for n, rgb in zip(numbers, frames_of(numbers))}
    data = json.dumps(page_data(results, video), separators=(",", ":"), allow_nan=False)
    licence = _asset("LICENSE.three").replace("--", "- -")
    values = {"TITLE": html.escape(title), "VERSION": __version__,
              "THREE_VERSION": THREE_RELEASE, "THREE_LICENSE": licence, "DATA": _inline(data, "json"),
              "APP": _inline(_asset("app.js"), "app.js"),
              "THREE": _inline(_asset("three.module.min.js"), "three.js")}
    # one pass, so nothing inserted is searched for placeholders again
    return re.sub(r"__([A-Z_]+?)__", lambda m: values.get(m.group(1), m.group(0)), _asset("viewer.html"))
