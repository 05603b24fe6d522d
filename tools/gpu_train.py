"""Train on a lent GPU machine within one 10-minute command, and go on from it on the CPU.

The device machine gets only the working tree (64 MiB, no ../shared, no network) and gives back
at most 8 files of 16 MiB each. So, in three steps (docs/training.md, "On a lent GPU"):

1. here: ``python tools/gpu_train.py pack -c wild --out .pack/motion.npz`` packs the
   config's motion (:mod:`ddhpose.data.motion_pack`, about 16 MB; ``.pack/`` is git-ignored and
   holds Human3.6M motion: never commit it), plus the ``roma`` wheel the machine lacks in
   ``.pack/wheels``;
2. there (the device tool, ``carry: [".pack"]``)::

       pip install -q --no-index --no-deps --target .site .pack/wheels/*.whl && \\
       PYTHONPATH=.site:src python3 tools/gpu_train.py run -c wild --pack .pack/motion.npz \\
           --minutes 7 --run runs/gpu --out $OUT model.channels=128 model.depth=6

   measures the step time there, sizes the schedule to ``--minutes``, trains, and writes the run
   folder's files into ``--out`` (``last.pt`` in parts under 16 MiB);
3. here: ``python tools/gpu_train.py join <files_at> RUN`` puts the run folder together; then
   ``ddhpose train -c RUN/config.yaml -o RUN --resume auto`` goes on from it on the CPU (run from
   the repository root, where ``.pack/motion.npz`` is), exactly as a run cut off anywhere.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from ddhpose.data.sources import write_motion_pack
from ddhpose.experiment import load_config
from ddhpose.files import atomic_path, atomic_write_text
from ddhpose.training.plan import TIMING_OVERRIDES, plan_epochs, step_seconds
from ddhpose.training.train import TrainingInterrupted, train

#: parts of last.pt stay under the device tool's 16 MiB per returned file
PART_BYTES = 15 * 2**20
#: what comes back (the device tool returns at most 8 files)
RETURNED = ("config.yaml", "last.safetensors", "metrics.json", "plan.json")


def pack(args: argparse.Namespace) -> None:
    config = load_config(args.config, args.overrides)
    started = time.perf_counter()
    size = write_motion_pack(config.data, args.out)
    print(f"{args.out}: {size / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s")
    wheels = Path(args.out).parent / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "-d", str(wheels), "roma"], check=True)


def split_file(path: Path, out: Path, part_bytes: int = PART_BYTES) -> list[Path]:
    """``path`` cut into ``<name>.part-000``, ... of at most ``part_bytes`` each, in ``out``."""
    data, parts = path.read_bytes(), []
    for i in range(0, max(1, len(data)), part_bytes):
        part = out / f"{path.name}.part-{i // part_bytes:03d}"
        with atomic_path(part) as tmp:
            tmp.write_bytes(data[i:i + part_bytes])
        parts.append(part)
    return parts


def run(args: argparse.Namespace) -> None:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides = args.overrides + [f"data.motion_pack={args.pack}", f"train.num_workers={args.workers}"]
    run_dir, out = Path(args.run), Path(args.out)
    plan_file = run_dir / "plan.json"
    if plan_file.exists():  # a resumed run keeps its plan, so its schedule stays the one it started with
        plan = json.loads(plan_file.read_text())
    else:
        timing = load_config(args.config, overrides + TIMING_OVERRIDES)
        started = time.perf_counter()
        step_s = step_seconds(timing, args.timing_seconds, device=device)
        left = args.minutes - (time.perf_counter() - started) / 60 - args.reserve
        if left <= 0:
            raise SystemExit(f"the timing run and --reserve took the whole --minutes {args.minutes}: give more")
        epochs, per_epoch = plan_epochs(step_s, left, args.evals)
        plan = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "step_s": step_s,
                "epochs": epochs, "steps_per_epoch": per_epoch, "minutes": left}
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan_file, json.dumps(plan, indent=1))
    print(json.dumps(plan), flush=True)
    config = load_config(args.config, overrides + [f"train.epochs={plan['epochs']}",
                                                   f"train.max_steps_per_epoch={plan['steps_per_epoch']}",
                                                   "train.checkpoint_every=1", "train.eval_every=1"])
    deadline = time.perf_counter() + (plan["minutes"] + args.reserve / 2) * 60
    try:  # past the deadline it stops like a cut-off run: last.pt holds the progress
        train(config, run_dir, resume="auto", device=device,
              step_callback=lambda info: time.perf_counter() > deadline)
    except TrainingInterrupted as err:
        print(f"stopped at the deadline: {err}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    for name in RETURNED:
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, out / name)
    split_file(run_dir / "last.pt", out)


def join(args: argparse.Namespace) -> None:
    src, run_dir = Path(args.files), Path(args.run)
    parts = sorted(src.glob("last.pt.part-*"))
    if not parts:
        raise SystemExit(f"{src}: no last.pt.part-* files (the output of `gpu_train.py run`)")
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in RETURNED:
        if (src / name).exists():
            shutil.copy2(src / name, run_dir / name)
    with atomic_path(run_dir / "last.pt") as tmp:
        tmp.write_bytes(b"".join(p.read_bytes() for p in parts))
    print(f"{run_dir}: go on with  ddhpose train -c {run_dir / 'config.yaml'} -o {run_dir} --resume auto")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="pack a config's motion (and the wheels) for the device machine")
    p.add_argument("-c", "--config", default="wild")
    p.add_argument("--out", default=".pack/motion.npz")
    p.add_argument("overrides", nargs="*")
    r = sub.add_parser("run", help="train there within --minutes and write the run into --out")
    r.add_argument("-c", "--config", default="wild")
    r.add_argument("--pack", default=".pack/motion.npz")
    r.add_argument("--minutes", type=float, default=7.0, help="whole budget, timing included")
    r.add_argument("--reserve", type=float, default=1.0, help="minutes kept for the monitor and the copies")
    r.add_argument("--timing-seconds", type=float, default=15.0)
    r.add_argument("--evals", type=int, default=4, help="monitor points (epochs)")
    r.add_argument("--workers", type=int, default=8, help="data loader processes")
    r.add_argument("--run", default="runs/gpu", help="the run folder there")
    r.add_argument("--out", required=True, help="where the returned files go ($OUT)")
    r.add_argument("overrides", nargs="*")
    j = sub.add_parser("join", help="put a returned run folder together here")
    j.add_argument("files")
    j.add_argument("run")
    args = parser.parse_args(argv)
    {"pack": pack, "run": run, "join": join}[args.command](args)


if __name__ == "__main__":
    main()
