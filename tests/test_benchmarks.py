"""The benchmark scripts run. Each one's ``--smoke`` mode runs its own measuring code end to end on
tiny stand-in data and models (benchmarks/smoke.py) and writes its table into a temporary folder;
these tests run it in-process and read the table back: the rows it should have, finite figures. A
renamed function or a changed data layout breaks them here, long before anyone reruns a
benchmark. The scripts that need the video extra (MediaPipe) are skipped without it. Also: every
script imports, and the shared Markdown writer keeps the prose."""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import re
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from ddhpose.lifting.options import default_focal

# lifting a few frames of a stand-in clip finds no floor, and says so
pytestmark = pytest.mark.filterwarnings("ignore:no world frame:UserWarning")

BENCH = Path(__file__).parent.parent / "benchmarks"
LIBRARIES = ("released_port.py", "doc_section.py", "smoke.py", "multiview.py")
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in LIBRARIES)
#: Every script's smoke test below; a new script needs one.
SMOKE_TESTED = ("lift_quality", "lift_speed", "multi_person", "precision_speed", "recipe_probe", "refine_2d",
                "scaling", "speed", "train_speed", "video_speed", "wild_accuracy", "world_accuracy", "world_scenes",
                "left_right", "angles_accuracy", "focal_estimate", "real_footage")


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{script[:-3]}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs the imports and definitions, not main()
    assert hasattr(module, "main") or script in LIBRARIES
    sys.modules.pop(f"bench_{script[:-3]}", None)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_has_a_smoke_mode_and_a_smoke_test(script):
    assert "--smoke" in (BENCH / script).read_text()
    assert script[:-3] in SMOKE_TESTED


def test_write_section_replaces_only_the_marked_part(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from doc_section import write_section
    doc = tmp_path / "d.md"
    write_section(doc, "x", "first", title="# T")
    assert doc.read_text() == "# T\n\n<!-- x results: begin -->\nfirst\n<!-- x results: end -->\n"
    doc.write_text("intro\n" + doc.read_text().split("\n", 2)[2] + "outro\n")
    write_section(doc, "x", "second")
    assert doc.read_text() == "intro\n<!-- x results: begin -->\nsecond\n<!-- x results: end -->\noutro\n"


def test_commands_in_the_docs_name_no_folder_of_the_machine(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from doc_section import REPOSITORY, command_line
    inside = str(REPOSITORY / "docs" / "x.md")
    assert command_line("benchmarks/a.py", ["--out", inside, "--demo", str(tmp_path / "clips" / "demo.mp4"), "-n", "3"]) \
        == "python benchmarks/a.py --out docs/x.md --demo .../clips/demo.mp4 -n 3"
    docs = REPOSITORY / "docs"
    for doc in [*docs.glob("*.md"), REPOSITORY / "README.md"]:
        found = re.findall(r"(?<![\w.])/(?:tmp|work|home|root|Users)/\S*", doc.read_text(encoding="utf-8"))
        assert not found, f"{doc.name}: a path of this machine: {found[:3]}"


# --- smoke runs -------------------------------------------------------------------------------------

@pytest.fixture
def smoke_run(monkeypatch, tmp_path):
    """``run(script, *args)``: the script's ``main(['--smoke', *args])`` in this process, its
    temporary folders (and its child processes') under tmp_path; returns the folder it wrote.
    The thread count and the global random state are restored afterwards."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    threads, state = torch.get_num_threads(), torch.random.get_rng_state()

    def run(script: str, *args: str) -> Path:
        importlib.import_module(script).main(["--smoke", *args])
        written = sorted(tmp_path.glob(f"ddhpose_smoke_{script}_*"))
        assert len(written) == 1, written
        return written[0]

    yield run
    torch.set_num_threads(threads)
    torch.random.set_rng_state(state)


def section(path: Path, name: str) -> str:
    """The text between a Markdown file's ``name`` result markers."""
    text = path.read_text()
    begin, end = f"<!-- {name} results: begin -->", f"<!-- {name} results: end -->"
    assert begin in text and end in text, f"{path.name}: no {name} section"
    return text[text.index(begin) + len(begin):text.index(end)]


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> the other cells of every Markdown table row in ``text`` (headers and rules
    included; later rows with the same first cell win)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def finite(*values) -> bool:
    """Every value, and every number in every string value, is finite (and there is at least one)."""
    numbers = [float(x) for v in values for x in (re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|inf", v)
                                                   if isinstance(v, str) else [v])]
    return bool(numbers) and all(math.isfinite(x) for x in numbers)


def test_speed_smoke(smoke_run):
    out = smoke_run("speed", "--threads", "1")
    results = json.loads((out / "benchmarks.json").read_text())
    assert set(results["cases"]) == {"train", "sample", "paper"}
    assert all(v < 1e-4 for v in results["agreement"].values())  # the implementations agree before timing
    for name, r in results["cases"].items():
        assert finite(r["median_ours"], r["median_port"], r["speedup"]) and r["median_ours"] > 0
        assert ("quoted" in r) == (name in ("train", "sample"))  # no figure was quoted at the paper's size
    assert finite(results["memory"]["sample"]["ours"]["delta_mb"], results["memory"]["sample"]["port"]["delta_mb"])
    rows = table_rows(section(out / "benchmarks.md", "speed.py"))
    assert {"train", "sample", "paper", "sample"} <= set(rows)


def test_precision_speed_smoke(smoke_run):
    out = smoke_run("precision_speed", "--threads", "1")
    results = json.loads((out / "precision_speed.json").read_text())
    precisions = [k.split()[-1] for k in results["accuracy"] if k.startswith("H=1 ")]
    assert "fp32" in precisions
    assert len(results["sample"]) == 2
    for rows in results["sample"].values():
        assert set(rows) == {"port fp32"} | {f"ours {p}" for p in precisions}
        assert all(finite(r["median"], r["vs_port"]) for r in rows.values())
    assert set(results["lift"]) == {f"H={h} W={h} {p}" for h in (1, 5) for p in precisions}
    assert all(finite(r["fps"]) for r in results["lift"].values())
    assert finite(results["memory"]["ours fp32"]["delta_mb"])
    assert all(finite(r["mpjpe_mm"], r["change_mm"]) for r in results["accuracy"].values())
    assert results["accuracy"]["H=1 fp32"]["change_mm"] == 0
    assert "Accuracy of tiny.safetensors" in section(out / "benchmarks.md", "precision_speed.py")


def test_lift_speed_smoke(smoke_run):
    out = smoke_run("lift_speed", "--threads", "1", "--world-off", "--focal-estimate")
    rows = json.loads((out / "lift_speed.json").read_text())
    assert set(rows) == {f"{s} fp32, {w}" for s in ("1x1", "2x2") for w in ("world", "world off", "world, focal estimate")}
    assert all(finite(r["fps"], r["seconds"]) and r["fps"] > 0 for r in rows.values())
    assert "Lifting speed of tiny.safetensors (sha256" in section(out / "lift_speed.md", "lift_speed")


def test_lift_quality_smoke(smoke_run):
    out = smoke_run("lift_quality")
    import lift_quality
    report = json.loads((out / "lift_quality.json").read_text())
    assert set(report) == {"demo clip (CMU 02_05, 50 fps)", "Human3.6M S9/S11 (50 fps)", "held-out mocap (25 fps)"}
    for rows in report.values():
        assert list(rows) == list(lift_quality.SMOKE_SETTINGS)
        assert all(finite(*r.values()) and {"mpjpe", "p_mpjpe", "accel_err"} <= set(r) for r in rows.values())
    assert len(table_rows(section(out / "lift_quality.md", "lift_quality"))) == 2 + 3  # header, rule, 3 settings


def test_wild_accuracy_smoke(smoke_run):
    out = smoke_run("wild_accuracy")
    import wild_accuracy
    report = json.loads((out / "wild_accuracy.json").read_text())
    splits = report.pop("split by cause")
    sets = ("Human3.6M S9/S11 (real cameras)", "held-out mocap clips (virtual cameras)")
    assert set(report) == {f"{s}, H={h}, W={h}" for s in sets for h in (1, 2)}
    for s in sets:
        assert set(report[f"{s}, H=1, W=1"]) == set(wild_accuracy.CONDITIONS)
        assert set(report[f"{s}, H=2, W=2"]) == {"clean"}
    assert all(finite(c["mpjpe"], c["p_mpjpe"]) for r in report.values() for c in r.values())
    assert set(splits) == {f"{s}, H=1, W=1" for s in sets}
    assert all(finite(b["mpjpe"], b["n_mpjpe"], b["size_error"], b["mpjpe_given_height"]) for b in splits.values())
    for s in sets:  # every condition split by motion class: the classes' frames add up to the condition's
        for c in report[f"{s}, H=1, W=1"].values():
            assert sum(v["frames"] for v in c["by_motion"].values()) in (0, c["frames"])
    table = (out / "wild_accuracy.md").read_text()
    assert all(f"| {c} |" in table for c in wild_accuracy.CONDITIONS)  # a row per condition in the motion table


def test_focal_estimate_smoke(smoke_run):
    out = smoke_run("focal_estimate")
    report = json.loads((out / "focal_estimate.json").read_text())
    assert set(report["summary"]) == {"held-out mocap", "Human3.6M S9/S11, real cameras"}
    for label, r in report["summary"].items():
        assert r["clips"] == len(report["per_clip"][label]) >= 1 and 0 <= r["told"] <= r["clips"], label
        assert finite(r["estimate_error_all"], r["used_error"], r["root_default"], r["root_estimated"])
    for clip in report["per_clip"]["held-out mocap"] + report["per_clip"]["Human3.6M S9/S11, real cameras"]:
        # the focal used is the estimate where the clip told it, else the default (ratios of the width)
        default = default_focal(clip["image_size"]) / clip["image_size"][0]
        assert clip["used_ratio"] == pytest.approx(clip["estimate_ratio"] if clip["identifiable"] else default), clip
    rows = table_rows(section(out / "world_accuracy.md", "focal_estimate"))
    assert {"held-out mocap", "Human3.6M S9/S11, real cameras"} <= set(rows)
    assert all(finite(*rows[k][:3]) for k in ("held-out mocap", "Human3.6M S9/S11, real cameras"))


def test_real_footage_smoke(smoke_run):
    out = smoke_run("real_footage")
    runs = json.loads((out / "real_footage.json").read_text())
    run = runs["stand-in walk"]
    assert run["people"] == [60]  # exact 2D of four views: every frame triangulated
    for view, by_condition in run["views"].items():
        assert set(by_condition) == {"calibrated", "default", "estimated"}
        row = by_condition["calibrated"][0]
        assert row["focal_used"] == row["focal_true"] == pytest.approx(1600.0)
        # the stand-in exchanged cam02's legs in frames 20-29, and nothing else: the truth's labels
        # (the other views outvote it) find exactly those, and the repair puts them back
        assert row["exchanged"] == (10 if view == "cam02" else 0), view
        assert row["repaired"] == row["exchanged"] and row["changed"] == 0
        assert finite(row["mpjpe"], row["p_mpjpe"], row["root"], row["tilt"])
        assert {"height_error", "height_error_true_depth", "ankles", "ankles_truth"} <= set(row)
    rows = table_rows(section(out / "real_footage.md", "real_footage"))
    assert finite(*rows["stand-in walk"][:3])


def test_real_footage_calibration_reads_back_and_triangulates_exactly(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    import multiview
    import numpy as np
    import real_footage
    calibration, tracks_of = real_footage.stand_in_recording(tmp_path)
    cams = multiview.read_qca(calibration)
    world = real_footage.smoke.held_out_worlds()["cmu_02_01_walk"][:60]
    views = [tracks_of(name)[0] for name in sorted(cams)]
    for cam, track in zip((cams[n] for n in sorted(cams)), views[:1]):  # the written file reprojects the 2D
        np.testing.assert_allclose(multiview.project(cam, world), track.keypoints, atol=1e-3)
    kps = [real_footage.h36m_2d(t, 60)[0] for t in views]
    X = multiview.triangulate([cams[n] for n in sorted(cams)], kps, [np.ones((60, 17)) for _ in kps])
    np.testing.assert_allclose(X, world, atol=1e-4)  # metres: the exchanged view outvoted and relabelled


def test_world_accuracy_smoke(smoke_run):
    out = smoke_run("world_accuracy")
    rows = json.loads((out / "world_accuracy.json").read_text())
    axes = rows.pop("truth's standing axis")
    assert set(axes) == {"Human3.6M S9/S11", "held-out mocap"}
    assert all(a["clips_standing"] >= 1 and finite(a["angle_mean"], a["spread_mean"]) for a in axes.values())
    assert len(rows) == 6
    for label, r in rows.items():
        assert finite(r["root"], r["root_weak"], r["abs_mpjpe"]) and len(r["per_clip"]) == r["clips"], label
        if label.startswith("Human3.6M"):
            assert r["world_found"] == r["clips"] == 2 and finite(r["tilt"])
    # the stand-in walk's camera is chosen so that the bundled model finds its floor: the feet are measured
    feet = rows["held-out mocap, true intrinsics"]
    assert feet["world_found"] == 1 and finite(feet["floor"], feet["slide_after"], feet["slide_truth"])
    md = out / "world_accuracy.md"
    assert len(table_rows(section(md, "world_accuracy axis"))) == 2 + 2
    assert "the bundled weights (sha256" in section(md, "world_accuracy")


def test_world_scenes_smoke(smoke_run):
    out = smoke_run("world_scenes")
    scenes = json.loads((out / "world_accuracy.json").read_text())["scenes"]
    assert set(scenes["summary"]) == {"true focal length", "default focal length"}
    for label, row in scenes["summary"].items():
        assert row["people"] == row["placed"] >= 2 and finite(row["root_alone"], row["root_floor"], row["root_unseen"])
        assert all("floor_scale" in p["placement"] for p in scenes["per_person"][label])
    assert len(table_rows(section(out / "world_accuracy.md", "world_scenes"))) == 2 + 2


def test_left_right_smoke(smoke_run):
    out = smoke_run("left_right")
    rows = json.loads((out / "world_accuracy.json").read_text())["left and right"]
    assert len(rows) == 4
    for label, row in rows.items():
        assert row["swapped_frames"] > 0 and finite(row["repaired"], row["changed"]), label
        assert finite(row["mpjpe without swaps"], row["mpjpe as detected"], row["mpjpe repaired"]), label
    assert len(table_rows(section(out / "world_accuracy.md", "left_right"))) == 2 + 4


def test_angles_accuracy_smoke(smoke_run):
    out = smoke_run("angles_accuracy")
    report = json.loads((out / "angles.json").read_text())
    for condition in ("clean", "noise"):
        rows = report[condition]["rows"]
        assert report[condition]["clips"] == report[condition]["world_found"] == 1
        for label in ("hip_flexion", "knee_flexion", "elbow_flexion", "trunk_to_floor"):
            assert rows[label]["frames"] > 0 and finite(rows[label]["rms"], rows[label]["truth_sd"]), label
            assert abs(rows[label]["bias"]) <= rows[label]["rms"], label  # a mean error is at most the RMS
        assert report[condition]["mpjpe_mm"] > 0 and len(report[condition]["mpjpe_mm_per_clip"]) == 1
    table = table_rows(section(out / "angles.md", "angles_accuracy"))
    assert "knee_flexion" in table and "ankle_dorsiflexion" not in table  # no toe joint: not measured


def test_refine_2d_smoke(smoke_run):
    out = smoke_run("refine_2d")
    report = json.loads((out / "refine_2d.json").read_text())
    assert set(report) == {f"{s}, {c}" for s in ("Human3.6M S9/S11", "held-out mocap")
                           for c in ("clean", "noise", "clean, assumed focal")}
    for key, methods in report.items():
        expected = {"plain", "fit 0.02/0.04/0.01"} | (set() if "assumed" in key else {"H=5 p_agg", "H=5 j_agg"})
        assert set(methods) == expected, key
        assert all(finite(*m.values()) and "reprojection" in m for m in methods.values())


def test_recipe_probe_smoke(smoke_run):
    out = smoke_run("recipe_probe", "--threads", "1")
    rows = json.loads((out / "recipe.json").read_text())
    assert [r["name"] for r in rows] == ["base"]
    assert rows[0]["steps"] >= 8 and len(rows[0]["history"]) == 2
    assert all(finite(h["mpjpe"], h["p_mpjpe"]) for h in rows[0]["held_out"].values())
    assert (out / "recipe_curves.png").stat().st_size > 0
    assert "base" in table_rows(section(out / "recipe.md", "recipe_probe"))


def test_scaling_smoke(smoke_run):
    out = smoke_run("scaling", "--threads", "1")
    import scaling
    rows = table_rows(section(out / "scaling.md", "scaling"))
    assert set(scaling.SIZES) <= set(rows)
    assert all(finite(rows[name][1]) for name in scaling.SIZES)  # lift frames/s of every size
    assert (out / "scaling_budgets.png").stat().st_size > 0


def test_train_speed_smoke(smoke_run):
    out = smoke_run("train_speed")
    results = json.loads((out / "train_speed.json").read_text())
    assert set(results["rows"]) == {"fp32", "bf16"}
    assert all(finite(r["median_s"], r["frames_per_s"], r["speedup"]) for r in results["rows"].values())
    assert results["rows"]["fp32"]["speedup"] == 1.0


def test_multi_person_synthetic_smoke(smoke_run):
    out = smoke_run("multi_person", "--parts", "synthetic")
    report = json.loads((out / "multi_person.json").read_text())
    assert set(report["synthetic"]) == {"2 people, max_gap 15", "3 people, max_gap 15"}
    for scenes in report["synthetic"].values():
        for scene in scenes:
            assert scene["switches"] >= 0 and scene["tracks"] >= 1
            seen = [p for p in scene["people"] if p["frames_seen"]]
            assert seen and all(finite(*p["alone"]) for p in seen)


def test_multi_person_video_smoke(smoke_run):
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")  # the every-person detector's interpreter (the video extra)
    out = smoke_run("multi_person", "--parts", "real", "speed")
    report = json.loads((out / "multi_person.json").read_text())
    import multi_person
    (clip,) = [v for k, v in report["real"].items() if k != "frozen frame"]
    assert set(clip["detectors"]) == set(multi_person.DETECTORS)
    assert all(finite(d["ms_per_frame"]) for d in clip["detectors"].values())
    assert len(report["speed"]) == 3
    assert all(finite(row["single"]["fps"], row["every person (PeopleDetector)"]["fps"])
               for row in report["speed"].values())
    assert "BlazePose detector" in section(out / "multi_person.md", "multi_person real+speed")


def test_video_speed_smoke(smoke_run):
    pytest.importorskip("mediapipe")
    pytest.importorskip("ai_edge_litert")
    out = smoke_run("video_speed")
    rows = json.loads((out / "video_speed.json").read_text())
    ratios, runs = rows.pop("max-people 1 speed-up"), rows.pop("end to end runs")
    assert len(rows) == 9 and all(finite(r["seconds"]) and r["frames"] > 0 for r in rows.values())
    assert finite(ratios["detection"], ratios["end to end"])
    assert len(runs["every person"]) == len(runs["one person"]) == 1  # side by side, alternating
    assert "of the single-person speed" in section(out / "video_speed.md", "video_speed")


def test_real_footage_truth_takes_its_left_from_the_face(monkeypatch, tmp_path):
    # every view with left and right exchanged agrees with itself: only the face tells which side
    # is left (the nose in front, the left ear on the left)
    monkeypatch.syspath_prepend(str(BENCH))
    import multiview
    import numpy as np
    import real_footage
    calibration, _ = real_footage.stand_in_recording(tmp_path)
    cams = [multiview.read_qca(calibration)[n] for n in ("cam01", "cam03")]
    world = real_footage.smoke.held_out_worlds()["cmu_02_01_walk"][:60]
    up = np.array([0.0, 0.0, 1.0])
    right = world[:, 1] - world[:, 4]  # Human3.6M: 1 right hip, 4 left hip
    forward = np.cross(up, right)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    head, side = world[:, 10], right / np.linalg.norm(right, axis=-1, keepdims=True)
    face = np.stack([head + 0.1 * forward, head - 0.07 * side, head + 0.07 * side], 1)  # nose, left ear, right ear
    mirrored = [multiview.relabel(multiview.project(c, world), ("legs", "arms")) for c in cams]
    ones = [np.ones((60, 17)) for _ in cams]
    np.testing.assert_allclose(multiview.triangulate(cams, mirrored, ones, face), world, atol=1e-4)
    without = multiview.triangulate(cams, mirrored, ones)  # no face: the labels as the views give them
    np.testing.assert_allclose(without, multiview.relabel(world, ("legs", "arms")), atol=1e-4)
