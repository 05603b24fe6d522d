"""Several people on one floor, measured: multi-person mocap scenes through one camera.

Each scene puts 2-3 held-out mocap clips (bodies and motions never trained on: the wild config's
test split) on one floor at different distances from one camera (1920x1080, focal 0.9-1.4 x the
width, 1-2.5 m high, aimed at the group), projects every person's joints exactly, hides one person
for 18 frames in the middle (a detector that misses them), lifts the people's tracks with the
bundled model (``ddhpose.pipelines.lift.lift_tracks``) and places everyone in one world frame
(``ddhpose.lifting.placement.place_in_world``), as ``ddhpose lift`` / ``video`` do, with the true
focal length given and with the lifter's default (0.9 x the longer side; the clip's estimate off).

Per person: the root error (the pelvis's camera-frame position, mm) of the per-person perspective
solve (the lift alone) and after placement on the common floor; the height of the person's
resting ankles (the truth's contact frames) above the floor found, against their true height
above the true floor (mm; the placed motion before foot locking, and the result's, locked); and
the root error on the frames the person was not seen. "Standing" people are those resting a foot on the floor in at least a
tenth of their frames.

Usage: python benchmarks/world_scenes.py [-c wild] [--scenes 8] [--frames 150] [--seed 0]
(run from the repository root with the data linked at ./data); writes its section of
docs/world_accuracy.md (``--out``). ``--smoke``: the same code on the stand-in walk
(benchmarks/smoke.py), two scenes, into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.data.retarget import load_mocap  # noqa: E402
from ddhpose.data.sources import _matches  # noqa: E402
from ddhpose.data.virtual_camera import inside_image, look_at_camera, observe  # noqa: E402
from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.geometry import Y_UP_TO_Z_UP  # noqa: E402
from ddhpose.lifting.feet import foot_contacts  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.keypoints import make_track  # noqa: E402
from ddhpose.lifting.options import LiftOptions  # noqa: E402
from ddhpose.lifting.placement import place_in_world  # noqa: E402
from ddhpose.pipelines.lift import lift_tracks  # noqa: E402

ZUP_TO_YUP = np.array(Y_UP_TO_Z_UP).T  # (x, y, z) -> (x, z, -y)
WIDTH, HEIGHT = 1920, 1080
#: Frames of each scene during which one person is not detected.
UNSEEN = 18
ANKLES = [6, 3]  # left, right (the contacts' order)


def scene_worlds(worlds: dict[str, np.ndarray], count: int, frames: int, rng: np.random.Generator):
    """``count`` scenes: lists of 2-3 (name, world joints (frames, 17, 3) z up) placed on one
    floor, each clip turned and moved so the people stand 3-9 m from a camera at the origin
    looking along +x."""
    names = sorted(n for n, w in worlds.items() if len(w) >= frames)
    for _ in range(count):
        people = rng.choice(names, size=min(len(names) if len(names) > 1 else 2, rng.integers(2, 4)),
                            replace=len(names) < 3)
        distances = np.sort(rng.uniform(3.0, 9.0, len(people)))
        scene = []
        for k, (name, distance) in enumerate(zip(people, distances)):
            w = worlds[name][:frames].copy()
            turn = rng.uniform(0, 2 * np.pi)
            rot = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1.0]])
            centre = w[:, 0].mean(0) * [1, 1, 0]
            w = (w - centre) @ rot.T
            bearing = (k - (len(people) - 1) / 2) * 0.25 + rng.uniform(-0.05, 0.05)
            w = w + [distance * np.cos(bearing), distance * np.sin(bearing), 0.0]
            scene.append((f"{name}#{k}", w))
        yield scene


def camera_for(scene, rng: np.random.Generator):
    """A camera at the origin, 1-2.5 m high, aimed at the group, focal 0.9-1.4 x the width,
    keeping every person inside the image in 90 % of the frames (None after 50 tries)."""
    everyone = np.concatenate([w for _, w in scene])
    target = everyone.reshape(-1, 3).mean(0)
    for _ in range(50):
        focal = rng.uniform(0.9, 1.4) * WIDTH
        position = np.array([rng.uniform(-1, 0), rng.uniform(-0.5, 0.5), rng.uniform(1.0, 2.5)])
        camera = look_at_camera(position, target, focal=focal, image_size=(WIDTH, HEIGHT))
        inside = [inside_image(observe(w, camera)[1], camera).double().mean().item() for _, w in scene]
        if min(inside) >= 0.9:
            return camera
    return None


def measure_scene(lifter: Lifter, scene, camera, known: bool, fps: float) -> list[dict]:
    """Lift and place one scene; per person the figures of the module docstring."""
    tracks, truths = [], []
    hidden = len(scene[0][1]) // 2 - UNSEEN // 2 + np.arange(UNSEEN)
    for k, (name, world) in enumerate(scene):
        cam, uv = (t.numpy() for t in observe(world, camera))
        uv = uv.copy()
        if k == len(scene) - 1:  # the farthest person goes unseen for a while
            uv[hidden] = np.nan
        track = make_track(uv, np.isfinite(uv).all(-1).astype(np.float64), np.arange(len(uv)), k, "h36m",
                           (WIDTH, HEIGHT), name)
        tracks.append(replace(track, fps=fps))
        truths.append((name, cam, world))
    intrinsics = {"focal_length": float(camera.intrinsics[0]),
                  "principal_point": tuple(map(float, camera.intrinsics[2:4]))} if known else {}
    results = lift_tracks(tracks, lifter, LiftOptions(world=False, **intrinsics), source="scene")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # flags go to the provenance, which the table reads
        placed = place_in_world(results)
    rows = []
    for k, (r, p, (name, cam, world)) in enumerate(zip(results, placed, truths)):
        true_root = cam[:, 0]
        row = {"person": name, "depth": float(true_root[:, 2].mean()),
               "focal_ratio": float(r.focal_length) / float(camera.intrinsics[0]),
               "root_alone": float(np.linalg.norm(r.root_trajectory - true_root, axis=-1).mean()) * 1000,
               "placement": (p.provenance or {}).get("placement", {})}
        if p.world_frame is None:
            rows.append({**row, "no_world": p.world_note})
            continue
        row["root_floor"] = float(np.linalg.norm(p.root_trajectory - true_root, axis=-1).mean()) * 1000
        row["depth_ratio_alone"] = float(np.median(r.root_trajectory[:, 2] / true_root[:, 2]))
        row["depth_ratio_floor"] = float(np.median(p.root_trajectory[:, 2] / true_root[:, 2]))
        true_up = camera.rotation @ np.array([0.0, 0.0, 1.0])
        row["tilt"] = float(np.degrees(np.arccos(np.clip(p.world_frame.up @ true_up, -1, 1))))
        if k == len(scene) - 1:
            gap = np.linalg.norm(p.root_trajectory[hidden] - true_root[hidden], axis=-1)
            row["root_unseen"] = float(gap.mean()) * 1000
        true_yup = world @ ZUP_TO_YUP.T
        contacts = foot_contacts(true_yup, fps)
        row["standing"] = bool(contacts.any(1).mean() >= 0.1)
        if contacts.any():
            placed_ankles = p.world_frame.apply(p.poses + p.root_trajectory[:, None])[:, ANKLES, 1]
            row["feet_vs_floor"] = float(np.median(placed_ankles[contacts] - true_yup[:, ANKLES, 1][contacts])) * 1000
            alone = p.world_frame.apply(r.poses + r.root_trajectory[:, None])[:, ANKLES, 1]
            row["feet_vs_floor_alone"] = float(np.median(alone[contacts] - true_yup[:, ANKLES, 1][contacts])) * 1000
            locked = p.world_poses[:, ANKLES, 1]
            row["feet_vs_floor_locked"] = float(np.median(locked[contacts] - true_yup[:, ANKLES, 1][contacts])) * 1000
        rows.append(row)
    return rows


def summarise(people: list[dict]) -> dict:
    found = [p for p in people if "no_world" not in p]
    standing = [p for p in found if p.get("standing") and "feet_vs_floor" in p]
    out = {"people": len(people), "placed": len(found), "standing": len(standing)}
    for key in ("root_alone", "root_floor"):
        out[key] = float(np.mean([p[key] for p in found])) if found else None
    unseen = [p["root_unseen"] for p in found if "root_unseen" in p]
    out["root_unseen"] = float(np.mean(unseen)) if unseen else None
    for key in ("feet_vs_floor", "feet_vs_floor_alone", "feet_vs_floor_locked"):
        values = np.abs([p[key] for p in standing])
        out[key + "_median"] = float(np.median(values)) if len(values) else None
        out[key + "_max"] = float(values.max()) if len(values) else None
        out[key + "_within_5cm"] = int((values <= 50).sum())
    out["flagged"] = sum("note" in p["placement"] for p in found)
    return out


def markdown(rows: dict, command: str, seconds: float, checkpoint) -> str:
    def cell(v, fmt="{:.0f}"):
        return "-" if v is None else fmt.format(v)
    lines = [f"Measured with `{command}` ({seconds:.0f} s; {weights_label(checkpoint)}, the lifter's defaults, "
             f"H=1, exact 2D; {UNSEEN} frames of one person per scene undetected).", "",
             "| camera | people (standing) | root error, each alone / on the common floor (mm) | root error while "
             "unseen (mm) | standing people's resting ankles vs the floor, median / worst abs, alone -> on the "
             "floor -> feet locked (mm) | standing people within 5 cm of the floor (on the floor / locked) | flagged |",
             "|---|---|---|---|---|---|---|"]
    for label, v in rows.items():
        lines.append(f"| {label} | {v['people']} ({v['standing']}) | {cell(v['root_alone'])} / {cell(v['root_floor'])} "
                     f"| {cell(v['root_unseen'])} | {cell(v['feet_vs_floor_alone_median'])} / "
                     f"{cell(v['feet_vs_floor_alone_max'])} -> {cell(v['feet_vs_floor_median'])} / "
                     f"{cell(v['feet_vs_floor_max'])} -> {cell(v['feet_vs_floor_locked_median'])} / "
                     f"{cell(v['feet_vs_floor_locked_max'])} | {v['feet_vs_floor_within_5cm']} / "
                     f"{v['feet_vs_floor_locked_within_5cm']} of {v['standing']} "
                     f"| {v['flagged']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--scenes", type=int, default=8)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/world_accuracy")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    if args.smoke:
        args.scenes, args.frames, args.out = 1, 60, str(smoke.folder("world_scenes") / "world_accuracy")
        worlds, fps = smoke.held_out_worlds(), 25.0
    else:
        cfg = load_config(args.config)
        fps = cfg.data.mocap_fps
        worlds = {Path(p).stem: np.asarray(load_mocap(p, fps=fps), np.float64)
                  for p in sorted(_matches(cfg.data.mocap_test))}
    started = time.time()
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    scenes = [(s, camera_for(s, rng)) for s in scene_worlds(worlds, args.scenes, args.frames, rng)]
    scenes = [(s, c) for s, c in scenes if c is not None]
    lifter = Lifter.from_pretrained(args.checkpoint)
    rows, raw = {}, {}
    for label, known in (("true focal length", True), ("default focal length", False)):
        people = [p for scene, camera in scenes for p in measure_scene(lifter, scene, camera, known, fps)]
        rows[label], raw[label] = summarise(people), people
        print(label, json.dumps(rows[label]), flush=True)
    command = f"python benchmarks/world_scenes.py -c {args.config} --scenes {args.scenes} --frames {args.frames}"
    out_md, out_json = Path(args.out + ".md"), Path(args.out + ".json")
    write_section(out_md, "world_scenes", markdown(rows, command, time.time() - started, args.checkpoint),
                  title="# Motion in the world")
    saved = json.loads(out_json.read_text()) if out_json.exists() else {}
    saved["scenes"] = {"summary": rows, "per_person": raw}
    atomic_write_text(out_json, json.dumps(saved, indent=2, default=float))
    print(out_md.read_text())


if __name__ == "__main__":
    main()
