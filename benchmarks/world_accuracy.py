"""Motion in the world, measured against mocap truth: where the person is, which way is up, where
the floor is, when the feet rest and whether they slide.

Test sets (never trained on; the config's test split):

- Human3.6M S9/S11 motion through its 4 real cameras (exact 2D, the true focal length given, and
  again with the lifter's default focal assumption): root position error of the perspective
  solve (``ddhpose.lifting.trajectory.perspective_root``) beside the weak-perspective estimate it
  replaced, absolute MPJPE (pose plus trajectory, camera frame) and the tilt error of the world
  frame's up. This motion stands at a fixed spot (the release it comes from has no trajectory),
  so it says nothing of floors and feet;
- held-out mocap clips (CMU, Bandai Namco, HDM05, CMU dance / martial arts: bodies and motions
  never trained on) through wide virtual cameras, as the wild config films them: the same, plus
  the floor's height error at the feet, foot-contact precision / recall against the contacts of
  the truth (the same rule on the true world motion) and foot sliding during contact (mm per
  frame) before and after foot locking, beside the truth's own sliding.

A third part (``--parts axis``; no model, seconds) measures the truth itself on the same clips:
how far the body axis of the standing frames (ankles' midpoint to thorax, the median over the
clip's standing frames, as ``ddhpose.lifting.world`` finds up from it) lies from the true up,
which bounds what that estimate of up can reach on each set.

Usage: python benchmarks/world_accuracy.py [-c wild] [--sequences 16] [--frames 300] [--parts lift axis]
(run from the repository root with the data linked at ./data, as the configs expect);
``--smoke``: the same code on stand-in data (benchmarks/smoke.py) into a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402

from ddhpose.data.h36m import load_h36m  # noqa: E402
from ddhpose.data.retarget import load_mocap  # noqa: E402

from ddhpose.data.sources import _matches, virtual_camera_options  # noqa: E402
from ddhpose.data.virtual_camera import camera_for_sequence, make_training_pair  # noqa: E402
from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.geometry import Y_UP_TO_Z_UP, image_coordinates  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.lifting.postprocess import standing_height, track_bone_lengths  # noqa: E402
from ddhpose.lifting.trajectory import weak_perspective_root  # noqa: E402
from ddhpose.lifting.gravity import CAMERA_UP, MAX_CAMERA_TILT_DEG  # noqa: E402
from ddhpose.lifting.feet import foot_contacts, foot_sliding  # noqa: E402
from ddhpose.lifting.world import standing_frames  # noqa: E402
from ddhpose.skeleton import H36M  # noqa: E402

ZUP_TO_YUP = np.array(Y_UP_TO_Z_UP).T  # (x, y, z) -> (x, z, -y)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def measure(lifter: Lifter, uv: np.ndarray, size: tuple[int, int], intrinsics: np.ndarray | None,
            truth_cam: np.ndarray, world_to_cam: np.ndarray | None, truth_world: np.ndarray | None, fps: float,
            feet: bool, height: bool = False) -> dict:
    """One clip: uv (F, 17, 2) pixels, intrinsics (fx, fy, cx, cy) pixels or None (the lifter's
    assumption), truth_cam (F, 17, 3) camera-frame joints, world_to_cam (3, 3) the camera's
    rotation of the z-up truth world, truth_world (F, 17, 3) z-up metres."""
    known = {} if intrinsics is None else {"focal_length": float(intrinsics[0]),
                                           "principal_point": tuple(map(float, intrinsics[2:4]))}
    if height:  # the person's true standing height given, as --height does
        relative = torch.from_numpy(truth_cam - truth_cam[:, :1])
        known["height"] = float(standing_height(track_bone_lengths(relative, H36M), H36M))
    r = lifter.lift(uv, layout="h36m", image_size=size, fps=fps, **known)
    out: dict = {"frames": len(uv)}
    root_true = truth_cam[:, 0]
    if r.root_trajectory is not None:
        out["root"] = float(np.linalg.norm(r.root_trajectory - root_true, axis=-1).mean()) * 1000
        absolute = r.poses + r.root_trajectory[:, None]
        out["abs_mpjpe"] = float(np.linalg.norm(absolute - truth_cam, axis=-1).mean()) * 1000
        f_norm = 2 * r.focal_length / size[0]  # the lift's: the given one, else the default
        x = torch.from_numpy(uv / size[0] * 2 - np.array([1.0, size[1] / size[0]]))
        weak = weak_perspective_root(torch.from_numpy(r.poses).double(), x, f_norm).numpy()
        out["root_weak"] = float(np.nanmean(np.linalg.norm(weak - root_true, axis=-1))) * 1000
    if r.world_frame is None:
        out["no_world"] = r.world_note
        return out
    frame = r.world_frame
    if world_to_cam is not None:
        true_up = world_to_cam @ np.array([0.0, 0.0, 1.0])
        out["tilt"], out["camera_tilt"] = _angle(frame.up, true_up), _angle(CAMERA_UP, true_up)  # camera: from level
    if not feet or truth_world is None:
        return out
    true_yup = truth_world @ ZUP_TO_YUP.T
    true_contacts = foot_contacts(true_yup, fps)
    ankles = [3, 6]  # right, left ankle: contacts are (left, right)
    contact_ankles = np.stack([truth_cam[:, ankles[1]], truth_cam[:, ankles[0]]], 1)[true_contacts]
    if len(contact_ankles):
        true_heights = np.stack([true_yup[:, ankles[1], 1], true_yup[:, ankles[0], 1]], 1)[true_contacts]
        out["floor"] = float(np.median(frame.apply(contact_ankles)[:, 1] - true_heights)) * 1000
    pred = r.foot_contacts
    tp = float((pred & true_contacts).sum())
    out["contact_tp"], out["contact_pred"], out["contact_true"] = tp, float(pred.sum()), float(true_contacts.sum())
    raw = frame.apply(r.poses + r.root_trajectory[:, None])
    out["slide_before"] = foot_sliding(raw, pred) * 1000
    out["slide_after"] = foot_sliding(r.world_poses, pred) * 1000
    out["slide_truth"] = foot_sliding(true_yup, true_contacts) * 1000
    return out


def h36m_clips(cfg, count: int, frames: int):
    """(uv, size, focal, truth_cam, world_to_cam) of evenly spaced S9/S11 camera views."""
    from ddhpose.data.cameras import h36m_cameras
    seqs = load_h36m(cfg.data.path_3d, subjects=cfg.data.test_subjects)
    pick = [seqs[i] for i in np.linspace(0, len(seqs) - 1, min(count, len(seqs))).round().astype(int)]
    cams = {(s, c.id): c for s, cs in h36m_cameras().items() for c in cs}
    for s in pick:
        n = min(frames, s.num_frames)
        w, h = s.image_size
        uv = image_coordinates(torch.from_numpy(s.keypoints_2d[:n]), w, h).numpy()
        truth = s.poses_3d[:n] + s.trajectory[:n]
        cam = cams[(s.subject, s.camera)]
        yield f"{s.subject} {s.action} {s.camera}", uv, (w, h), cam.intrinsics, truth, cam.rotation, None


#: Held-out clips shorter than this (seconds) are left out: no floor is looked for under 1 s.
MIN_CLIP_SECONDS = 2.0


def mocap_clips(cfg, count: int, frames: int, seed: int, worlds: dict[str, np.ndarray] | None = None):
    """Held-out mocap clips of at least :data:`MIN_CLIP_SECONDS` through the wild config's virtual
    cameras (the camera kept). ``worlds``: name -> (F, 17, 3) z-up world joints at the config's
    mocap rate instead of the config's test clips (the smoke run's stand-in)."""
    fps = cfg.data.mocap_fps
    if worlds is None:
        worlds = {path: np.asarray(load_mocap(path, fps=fps), np.float64) for path in sorted(_matches(cfg.data.mocap_test))}
    worlds = {path: world[:frames] for path, world in worlds.items()}
    files = [path for path, world in worlds.items() if len(world) >= MIN_CLIP_SECONDS * fps]
    print(f"held-out clips: {len(files)} of {len(worlds)} last {MIN_CLIP_SECONDS:g} s or more", flush=True)
    rng = np.random.default_rng(seed)
    files = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).round().astype(int)]
    for path in files:
        world = worlds[path]
        camera = camera_for_sequence(rng, world, **virtual_camera_options(cfg.data))
        seq = make_training_pair(world, camera, subject=Path(path).stem, action=Path(path).stem)
        w, h = seq.image_size
        uv = image_coordinates(torch.from_numpy(seq.keypoints_2d), w, h).numpy()
        yield (Path(path).stem, uv, (w, h), camera.intrinsics, seq.poses_3d + seq.trajectory,
               camera.rotation, world)


def truth_axis(truth_cam: np.ndarray, world_to_cam: np.ndarray) -> dict | None:
    """How far the truth's own standing body axis lies from the true up, in one clip.

    truth_cam (F, 17, 3) camera-frame joints; world_to_cam (3, 3) the camera's rotation of the
    z-up world. The axis is what ``ddhpose.lifting.world`` estimates up from: the median over the
    standing frames of the ankles'-midpoint-to-thorax direction. Returns its angle from the true up
    and the mean angle of each standing frame's axis from it (degrees), or None where the clip has
    fewer than 3 standing frames (the lifter needs 3 too)."""
    standing, axis = standing_frames(np.asarray(truth_cam, np.float64))
    if standing.sum() < 3:
        return None
    body = np.median(axis[standing], axis=0)
    body /= np.linalg.norm(body)
    spread = np.degrees(np.arccos(np.clip(axis[standing] @ body, -1, 1)))
    return {"angle": _angle(body, world_to_cam @ np.array([0.0, 0.0, 1.0])), "spread": float(spread.mean()),
            "standing_frames": int(standing.sum()), "frames": len(truth_cam)}


def axis_rows(sets: dict[str, list]) -> dict[str, dict]:
    """Per test set: the clips' :func:`truth_axis` summarised (mean and median over clips)."""
    out = {}
    for name, clips in sets.items():
        per_clip = {clip: truth_axis(truth, rot) for clip, _, _, _, truth, rot, _ in clips}
        found = [a for a in per_clip.values() if a is not None]
        angles = [a["angle"] for a in found]
        out[name] = {"clips": len(clips), "clips_standing": len(found),
                     "standing_frames": sum(a["standing_frames"] for a in found),
                     "frames": sum(len(truth) for _, _, _, _, truth, _, _ in clips),
                     "angle_mean": float(np.mean(angles)) if found else None,
                     "angle_median": float(np.median(angles)) if found else None,
                     "spread_mean": float(np.mean([a["spread"] for a in found])) if found else None,
                     "per_clip": per_clip}
    return out


def summarise(records: list[dict]) -> dict:
    frames = np.array([r["frames"] for r in records], float)

    def mean(key):
        have = [(r[key], f) for r, f in zip(records, frames) if key in r and np.isfinite(r[key])]
        return float(np.average([v for v, _ in have], weights=[f for _, f in have])) if have else None

    out = {k: mean(k) for k in ("root", "root_weak", "abs_mpjpe", "tilt", "floor", "slide_before", "slide_after",
                                "slide_truth")}
    tilts = [r["tilt"] for r in records if "tilt" in r]
    out["tilt_median"] = float(np.median(tilts)) if tilts else None
    level = [r for r in records if "tilt" in r and r["camera_tilt"] <= MAX_CAMERA_TILT_DEG]
    out["level_clips"] = len(level)
    out["tilt_level"] = float(np.average([r["tilt"] for r in level], weights=[r["frames"] for r in level])) \
        if level else None
    out["tilt_level_median"] = float(np.median([r["tilt"] for r in level])) if level else None
    floors = [abs(r["floor"]) for r in records if "floor" in r]
    out["floor_abs_median"] = float(np.median(floors)) if floors else None
    tp, pred, true = (sum(r.get(k, 0.0) for r in records) for k in ("contact_tp", "contact_pred", "contact_true"))
    out["contact_precision"] = tp / pred * 100 if pred else None
    out["contact_recall"] = tp / true * 100 if true else None
    out["clips"], out["world_found"] = len(records), sum("no_world" not in r for r in records)
    out["no_world"] = sorted({r["no_world"] for r in records if "no_world" in r})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled model")
    parser.add_argument("-c", "--config", default="wild")
    parser.add_argument("--sequences", type=int, default=16)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--parts", nargs="+", default=["lift", "axis"], choices=["lift", "axis"],
                        help="lift: the lifter against the truth; axis: the truth's own standing axis (no model)")
    parser.add_argument("--out", default="docs/world_accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    overrides, worlds = [], None
    if args.smoke:  # the bundled weights still: with random ones no world frame is found and the feet go unmeasured
        tmp = smoke.folder("world_accuracy")
        overrides, worlds = smoke.config_overrides(tmp), smoke.held_out_worlds()
        # seed 2 films the stand-in walk from a camera under which the bundled model finds the floor
        args.sequences, args.frames, args.seed, args.out = 2, 100, 2, str(tmp / "world_accuracy")
    cfg = load_config(args.config, overrides)
    started = time.time()
    h36m = list(h36m_clips(cfg, args.sequences, args.frames))
    mocap = list(mocap_clips(cfg, args.sequences, args.frames, args.seed, worlds))
    command = (f"python benchmarks/world_accuracy.py -c {args.config} --sequences {args.sequences} "
               f"--frames {args.frames}")
    out_md, out_json = Path(args.out + ".md"), Path(args.out + ".json")
    saved = json.loads(out_json.read_text()) if out_json.exists() else {}
    if "axis" in args.parts:
        axes = axis_rows({"Human3.6M S9/S11": h36m, "held-out mocap": mocap})
        saved["truth's standing axis"] = axes
        write_section(out_md, "world_accuracy axis", axis_markdown(axes, command + " --parts axis"),
                      title="# Motion in the world")
        print(json.dumps(axes), flush=True)
    if "lift" in args.parts:
        rows = lift_rows(args, h36m, mocap, cfg)
        saved = {**rows, **{k: v for k, v in saved.items() if k in ("truth's standing axis", "scenes", "left and right")}}
        write_section(out_md, "world_accuracy", lift_markdown(rows, args, command, time.time() - started),
                      title="# Motion in the world")
    atomic_write_text(out_json, json.dumps(saved, indent=2))
    print(out_md.read_text())


def lift_rows(args, h36m: list, mocap: list, cfg) -> dict[str, dict]:
    lifter = Lifter.from_pretrained(args.checkpoint)
    rows = {}
    for label, known, height in (("Human3.6M S9/S11, true intrinsics", True, False),
                                 ("Human3.6M S9/S11, true intrinsics and height", True, True),
                                 ("Human3.6M S9/S11, default focal", False, False)):
        rows[label] = with_clips([measure(lifter, uv, size, focal if known else None, truth, rot, None, 50.0,
                                          feet=False, height=height) for _, uv, size, focal, truth, rot, _ in h36m],
                                 h36m)
        print(label, json.dumps(rows[label]), flush=True)
    for label, known, height in (("held-out mocap, true intrinsics", True, False),
                                 ("held-out mocap, true intrinsics and height", True, True),
                                 ("held-out mocap, default focal", False, False)):
        rows[label] = with_clips([measure(lifter, uv, size, focal if known else None, truth, rot, world,
                                          cfg.data.mocap_fps, feet=True, height=height)
                                  for _, uv, size, focal, truth, rot, world in mocap], mocap)
        print(label, json.dumps(rows[label]), flush=True)
    return rows


def with_clips(records: list[dict], clips: list) -> dict:
    """:func:`summarise` of the records, with each clip's own record under 'per_clip' (named)."""
    return {**summarise(records), "per_clip": [{"clip": clip[0], **r} for clip, r in zip(clips, records)]}


def _cell(value, fmt="{:.1f}"):
    return "-" if value is None else fmt.format(value)


def axis_markdown(axes: dict[str, dict], command: str) -> str:
    lines = [f"Measured with `{command}` (the truth only, no model; the clips of the lifter's table).", "",
             "| test set | clips with 3+ standing frames | standing frames | standing axis from the true up, mean / "
             "median over clips (deg) | each frame's axis from the clip's, mean (deg) |", "|---|---|---|---|---|"]
    for key, v in axes.items():
        lines.append(f"| {key} | {v['clips_standing']} of {v['clips']} | {v['standing_frames']} of {v['frames']} | "
                     f"{_cell(v['angle_mean'])} / {_cell(v['angle_median'])} | {_cell(v['spread_mean'])} |")
    return "\n".join(lines)


def lift_markdown(rows: dict[str, dict], args, command: str, seconds: float) -> str:
    cell = _cell
    lines = [f"Measured with `{command}` ({seconds:.0f} s; "
             f"{weights_label(args.checkpoint)}, the lifter's defaults, "
             f"H=1, exact 2D; held-out clips of at least {MIN_CLIP_SECONDS:g} s).", "",
             "| test set | clips (world found) | root error, perspective (mm) | root error, weak perspective (mm) | "
             "absolute MPJPE (mm) | tilt error mean / median (deg) | the same, cameras within "
             f"{MAX_CAMERA_TILT_DEG:g} deg of level (clips) |", "|---|---|---|---|---|---|---|"]
    for key, v in rows.items():
        lines.append(f"| {key} | {v['clips']} ({v['world_found']}) | {cell(v['root'])} | {cell(v['root_weak'])} | "
                     f"{cell(v['abs_mpjpe'])} | {cell(v['tilt'])} / {cell(v['tilt_median'])} | "
                     f"{cell(v['tilt_level'])} / {cell(v['tilt_level_median'])} ({v['level_clips']}) |")
    lines += ["", "Floors and feet (held-out mocap only; the truth's contacts come from the same rule applied to "
              "the true world motion):", "",
              "| test set | floor height error at the feet, mean / median abs (mm) | contact precision / recall (%) | "
              "sliding before / after foot lock (mm/frame) | the truth's own sliding (mm/frame) |",
              "|---|---|---|---|---|"]
    for key, v in rows.items():
        if v["floor"] is None and v["contact_precision"] is None:
            continue
        lines.append(f"| {key} | {cell(v['floor'])} / {cell(v['floor_abs_median'])} | "
                     f"{cell(v['contact_precision'])} / {cell(v['contact_recall'])} | "
                     f"{cell(v['slide_before'])} / {cell(v['slide_after'])} | {cell(v['slide_truth'])} |")
    reasons = sorted({n for v in rows.values() for n in v["no_world"]})
    if reasons:
        lines += ["", "Clips without a world frame, and why: " + "; ".join(reasons) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
