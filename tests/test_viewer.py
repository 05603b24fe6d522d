"""The result page (ddhpose.export.viewer): self-contained, its data the result's, and, in a real
headless browser (Chromium, where installed; CI installs it and sets DDHPOSE_REQUIRE_BROWSER=1 so
it cannot skip), it loads without console errors with the network unreachable and its screenshot
at a given frame shows every skeleton where the result puts it."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ddhpose.cli import build_parser, export_options
from ddhpose.export.options import ExportOptions
from ddhpose.export.render import PERSON_COLOURS, SUPPORT_COLOUR, box_edges
from ddhpose.export.viewer import MAX_FRAMES, page_data, page_frames, page_html
from ddhpose.export.writers import planned_writes, write_all

from body_poses import RIGHT, result_of, standing, turn

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"


def _walk() -> np.ndarray:
    with np.load(WALK) as data:
        w = data["world"].astype(np.float64)
    return np.stack([w[..., 0], w[..., 2], -w[..., 1]], -1)  # y up


def _two_people():
    walk = _walk()
    crouch = np.stack([turn(standing(), ["right_ankle", "left_ankle"], "right_knee", RIGHT, -k)
                       for k in np.linspace(0, 60, 40)]) + [1.6, 0.0, 0.5]
    first = result_of(walk, start=0, fps=25.0, track_id=1)
    second = result_of(crouch, start=10, fps=25.0, track_id=2)
    return first, second


def _data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S).group(1))


def test_the_page_is_one_file_that_fetches_nothing():
    html = page_html(list(_two_people()), title="two <people>")
    outside_three = re.sub(r'<script type="text/plain" id="three-source">.*?</script>', "", html, flags=re.S)
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", outside_three)  # no external file
    assert not re.search(r"https?://", outside_three.split("three.js licence:")[0])
    assert "three.js authors" in html and "Permission is hereby granted" in html  # the licence travels with it
    assert "<title>two &lt;people&gt;</title>" in html
    data = _data(html)
    assert [p["id"] for p in data["people"]] == [1, 2] and data["people"][1]["first"] == 10
    assert [p["colour"] for p in data["people"]] == list(PERSON_COLOURS[:2])
    assert data["video"] == {} and data["first"] == 0 and data["last"] == 71


def _on_a_box(height: float = 0.5):
    """The walk of :func:`_two_people` on a box ``height`` metres high, as the placement records it."""
    first, _ = _two_people()
    walk = first.world_poses + [0.0, height, 0.0]
    contacts = np.zeros((len(walk), 2), bool)
    contacts[::3] = True
    raised = {"raised": [{"frames": [int(first.frames[0]), int(first.frames[-1])], "height_m": height}]}
    return dataclasses.replace(first, world_poses=walk, foot_contacts=contacts, provenance={"placement": raised})


def test_what_a_person_stood_on_travels_as_a_box():
    data = page_data([_on_a_box(0.5)])
    [box] = data["people"][0]["supports"]
    assert box[1] == 0.0 and box[4] == 0.5 and box[0] < box[3] and box[2] < box[5]
    assert data["support_colour"] == SUPPORT_COLOUR
    assert page_data([_two_people()[0]])["people"][0]["supports"] == []


def test_missing_angles_are_null_and_their_reason_travels():
    first, _ = _two_people()
    data = page_data([first])
    assert all(v is None for v in data["people"][0]["angles"]["right_ankle_dorsiflexion"])
    assert data["unavailable"]["right_ankle_dorsiflexion"] == ("needs the joint(s) right_toe, which skeleton "
                                                               "'Human3.6M-17' lacks")


def test_video_frames_are_embedded_every_nth():
    assert page_frames(0, 999, limit=300) == list(range(0, 1000, 4))
    assert len(page_frames(5, 5)) == 1
    first, second = _two_people()
    asked = []

    def frames_of(numbers):
        asked.extend(numbers)
        for n in numbers:
            yield np.full((720, 1280, 3), n % 255, np.uint8)

    video = _data(page_html([first, second], frames_of))["video"]
    assert asked == list(range(0, 72)) and len(video) == 72 <= MAX_FRAMES
    assert video["3"].startswith("data:image/jpeg;base64,")


def test_people_of_different_frame_rates_are_refused():
    first, second = _two_people()
    with pytest.raises(ValueError, match="one frame rate"):
        page_data([first, result_of(second.world_poses, fps=30.0)])


def test_the_command_line_asks_for_angles_and_the_page():
    args = build_parser().parse_args(["lift", "in.json", "-o", "out.npz", "--angles", "--html"])
    assert export_options(args) == ExportOptions(angles=True, html=True)
    args = build_parser().parse_args(["video", "in.mp4", "-o", "out.npz", "--html"])
    assert export_options(args).html


# --- in a real browser ------------------------------------------------------------------------------

def _chromium() -> str:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None:
        if os.environ.get("DDHPOSE_REQUIRE_BROWSER"):
            pytest.fail("DDHPOSE_REQUIRE_BROWSER is set but no chromium is installed")
        pytest.skip("no Chromium here (CI installs Debian's chromium)")
    return found


def _browse(chromium: str, url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium headless on ``url``: software WebGL, a fresh profile, and a proxy that does not
    exist, so any network request the page made would fail."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--use-angle=swiftshader",
             "--enable-unsafe-swiftshader", "--proxy-server=127.0.0.1:9", "--window-size=1200,1000",
             "--hide-scrollbars", "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0"]
    return subprocess.run([chromium, *flags, *args, url], capture_output=True, text=True, timeout=180)


def _project(status: dict, points: np.ndarray) -> np.ndarray:
    """(N, 2) page pixels of world points (N, 3) through the page's camera (three.js matrices, column-major)."""
    view = np.asarray(status["view"]).reshape(4, 4).T
    projection = np.asarray(status["projection"]).reshape(4, 4).T
    clip = (projection @ view @ np.c_[points, np.ones(len(points))].T).T
    ndc = clip[:, :3] / clip[:, 3:]
    left, top, width, height = status["canvas"]
    return np.c_[left + (ndc[:, 0] + 1) / 2 * width, top + (1 - ndc[:, 1]) / 2 * height]


def test_the_page_loads_without_errors_and_draws_each_skeleton_where_the_result_puts_it(tmp_path):
    from PIL import Image
    chromium = _chromium()
    people = list(_two_people())
    paths = write_all(planned_writes(people, tmp_path / "clip.npz", ExportOptions(html=True)))
    page, frame = paths[-1], 30
    url = f"{page.resolve().as_uri()}#frame={frame}"
    dom = _browse(chromium, url, tmp_path / "profile1", "--dump-dom")
    status = json.loads(re.search(r'<pre id="status">(.*?)</pre>', dom.stdout, re.S).group(1).replace("&quot;", '"'))
    assert status["ready"] and status["errors"] == [] and status["frame"] == frame and status["plotted"] > 0
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not [line for line in console if re.search(r"error|uncaught", line, re.I)], console
    shot = tmp_path / "shot.png"
    _browse(chromium, url, tmp_path / "profile2", f"--screenshot={shot}")
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    left, top, width, height = (int(round(v)) for v in status["canvas"])
    canvas = image[top:top + height, left:left + width]
    for person in people:
        colour = np.array([int(PERSON_COLOURS[people.index(person)][i:i + 2], 16) for i in (1, 3, 5)])
        joints = person.world_poses[frame - person.frames[0]]
        pixels = _project(status, joints).round().astype(int)
        near = [np.abs(image[y - 1:y + 2, x - 1:x + 2] - colour).sum(-1).min() for x, y in pixels]
        assert np.mean(np.asarray(near) < 60) >= 0.9, (person.track_id, near)  # a joint may hide behind a bone
        painted = (np.abs(canvas - colour).sum(-1) < 60).mean()
        assert 0 < painted < 0.05  # the figure, not the whole view, in the person's colour


def test_the_page_draws_what_a_person_stood_on(tmp_path):
    chromium = _chromium()
    person = _on_a_box(0.5)
    [page] = write_all(planned_writes([person], tmp_path / "box.npz", ExportOptions(html=True)))[-1:]
    url = f"{page.resolve().as_uri()}#frame=20"
    dom = _browse(chromium, url, tmp_path / "profile1", "--dump-dom")
    status = json.loads(re.search(r'<pre id="status">(.*?)</pre>', dom.stdout, re.S).group(1).replace("&quot;", '"'))
    assert status["ready"] and status["errors"] == []
    shot = tmp_path / "shot.png"
    _browse(chromium, url, tmp_path / "profile2", f"--screenshot={shot}")
    from PIL import Image
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    [box] = page_data([person])["people"][0]["supports"]
    corners = np.concatenate(box_edges(np.reshape(box, (2, 3))))
    x, y = _project(status, corners).round().astype(int).T
    inside = image[y.min():y.max() + 1, x.min():x.max() + 1]
    colour = np.array([int(SUPPORT_COLOUR[i:i + 2], 16) for i in (1, 3, 5)])
    edges = (np.abs(inside - colour).sum(-1) < 40).sum()
    assert edges > 50 and (np.abs(image - colour).sum(-1) < 40).sum() < 1.2 * edges  # the box's edges, where it stands

