"""Inference precision side by side: the released port in float32 beside ddhpose in fp32, bf16, int8.

One process, interleaved runs (the order alternates every repeat), medians. Measures:

  sample   DDIM sampling (H=5, W=2, flip, batch 4) at F=81, C=128, depth 6 (the size of
           docs/benchmarks.md) and at the bundled model's size (F=27, C=96, depth 4), with
           identical weights in the port and in ddhpose (the port then runs float32 only);
  lift     ``Lifter.lift`` frames/s with the bundled model at H=1, W=1 and H=5, W=5;
  memory   peak memory of one sampling at F=81 per implementation / precision (a fresh
           subprocess each: VmHWM after resetting it);
  accuracy the bundled model on Human3.6M S9/S11 motion (real cameras, exact 2D; the `wild`
           config's test split), MPJPE per precision with the same recorded noise, H=1 and H=5
           (mean of the hypotheses), and its change from fp32 in mm.

The CPU flags that decide bf16 / int8 speed are read from /proc/cpuinfo at run time.
Usage: python benchmarks/precision_speed.py --threads 2 --repeats 5 --out docs/benchmarks.md
(writes the section between the precision markers of --out, and docs/precision_speed.json).
``--smoke``: every part once at a tiny size (tiny random model, stand-in Human3.6M motion from
benchmarks/smoke.py), into a temporary folder.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see speed.py
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import weights_label, write_section  # noqa: E402
from released_port import load_released_port  # noqa: E402
from speed import HYPOTHESES, ITERATIONS, SMALL, TINY, _cpu_name, build_pair, make_batch, peak_rss, race  # noqa: E402

from ddhpose.data.sequence import truncate  # noqa: E402
from ddhpose.data.sources import load_split  # noqa: E402
from ddhpose.evaluation.evaluate import evaluate_sequence  # noqa: E402
from ddhpose.experiment import load_config  # noqa: E402
from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.lifting.lifter import Lifter  # noqa: E402
from ddhpose.model.precision import PRECISIONS, supported_precisions, with_precision  # noqa: E402
from ddhpose.model.released import export_released  # noqa: E402
from ddhpose.pipelines.demo import demo_sample_path  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [flag for flag in FLAGS if flag in have]
    return []


def bundled_pair(lifter: Lifter):
    """The bundled model and the released port holding its weights (through a released .bin)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundled_h36m.bin"
        export_released(lifter.model, path)
        port = load_released_port(path, heads=lifter.model.config.heads)
    return lifter.model, port


def sampling_fns(ours, port, precisions, x2d):
    fns = {"port fp32": lambda: port.ddim_sample(x2d, HYPOTHESES, ITERATIONS, flip=True)}
    for p in precisions:
        model = with_precision(ours, p)
        fns[f"ours {p}"] = (lambda m: lambda: m.sample(x2d, HYPOTHESES, ITERATIONS, flip=True))(model)
    return fns


def medians(times: dict[str, list]) -> dict[str, dict]:
    port = statistics.median(times["port fp32"])
    return {k: dict(median=statistics.median(v), all=v, vs_port=port / statistics.median(v)) for k, v in times.items()}


def lift_rates(precisions, frames: int, repeats: int, checkpoint: str | None = None) -> dict[str, dict]:
    with np.load(demo_sample_path(), allow_pickle=False) as data:
        clip, size = data["keypoints"], tuple(int(v) for v in data["image_size"])
    keypoints = np.concatenate([clip] * (frames // len(clip) + 1))[:frames]
    lifters = {p: Lifter.from_pretrained(checkpoint, device="cpu", precision=p) for p in precisions}
    out = {}
    for h, w in ((1, 1), (5, 5)):
        fns = {p: (lambda lf: lambda: lf.lift(keypoints, image_size=size, layout="h36m", hypotheses=h,
                                              iterations=w))(lf) for p, lf in lifters.items()}
        times = race(fns, repeats, 1, torch.device("cpu"))
        for p, t in times.items():
            out[f"H={h} W={w} {p}"] = dict(median=statistics.median(t), fps=frames / statistics.median(t), all=t)
    return out


def accuracy(precisions, sequences: int, frames: int, checkpoint: str | None = None,
             overrides: list[str] | None = None) -> dict[str, dict]:
    """MPJPE (mm) of the bundled model on Human3.6M S9/S11 per precision, the same noise."""
    config = load_config("wild", (overrides or []) + ["data.mocap_test=[]"])  # Human3.6M S9/S11 only
    tests = [s for s in load_split(config.data, "test", 0) if s.subject in config.data.test_subjects]
    tests = [tests[i] for i in np.linspace(0, len(tests) - 1, sequences).round().astype(int)]
    model = Lifter.from_pretrained(checkpoint, device="cpu").model
    out = {}
    for h in (1, 5):
        for p in precisions:
            m = with_precision(model, p)
            errors = []
            for i, seq in enumerate(tests):
                res = evaluate_sequence(m, truncate(seq, frames), hypotheses=h, iterations=1,
                                        generator=torch.Generator().manual_seed(i))
                errors.append((float(res.errors["mpjpe_p_agg"][-1]) * 1000, res.frames))
            mm = sum(e * n for e, n in errors) / sum(n for _, n in errors)
            out[f"H={h} {p}"] = dict(mpjpe_mm=mm)
        for p in precisions:
            out[f"H={h} {p}"]["change_mm"] = out[f"H={h} {p}"]["mpjpe_mm"] - out[f"H={h} fp32"]["mpjpe_mm"]
    return out


def memory_probe(which: str, tiny: bool = False) -> dict:
    size, batch = (TINY, 2) if tiny else (SMALL, 4)
    ours, port = build_pair(size, torch.device("cpu"))
    x2d = make_batch(batch, size["frames"], torch.device("cpu"))["x2d"]
    impl, precision = which.split(":")
    fn = sampling_fns(ours, port, [precision] if impl == "ours" else [], x2d)[f"{impl} {precision}"]
    del ours, port
    fn()  # warm-up
    gc.collect()
    return peak_rss(fn)


def memory(probes: list[str], threads: int, tiny: bool = False) -> dict[str, dict]:
    """Peak memory of each of ``probes`` ('port:fp32', 'ours:bf16', ...), a fresh process each."""
    out = {}
    for which in probes:
        cmd = [sys.executable, __file__, "--probe", which, "--threads", str(threads)] + (["--smoke"] if tiny else [])
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[which.replace(":", " ")] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def markdown(r: dict) -> str:
    m = r["meta"]
    lines = [f"Run {m['date']} on {m['cpu']}, CPU flags read at run time: {', '.join(m['flags']) or 'none'}; "
             f"torch {m['torch']}, {m['threads']} threads, `OMP_WAIT_POLICY=PASSIVE`. Command: `{m['command']}`", "",
             f"Sampling (H={HYPOTHESES}, W={ITERATIONS}, flip, batch {m.get('batch', 4)}), median of {m['repeats']} "
             "interleaved runs:", "",
             "| size | implementation, precision | median s | speed-up vs port fp32 |", "|---|---|---|---|"]
    for size, rows in r["sample"].items():
        lines += [f"| {size} | {k} | {v['median']:.3f} | {v['vs_port']:.2f}x |" for k, v in rows.items()]
    weights = m.get("weights", "the bundled model")
    lines += ["", f"Lifting with {weights} (`Lifter.lift`, demo clip tiled, defaults otherwise):", "",
              "| setting | frames/s | median s |", "|---|---|---|"]
    lines += [f"| {k} | {v['fps']:.0f} | {v['median']:.2f} |" for k, v in r["lift"].items()]
    lines += ["", f"Peak memory of one sampling at F={m.get('memory_frames', 81)} (VmHWM above the resident set before "
              "it, fresh process each):",
              "", "| implementation, precision | peak above base (MiB) |", "|---|---|"]
    lines += [f"| {k} | {v['delta_mb']:.0f} |" for k, v in r["memory"].items()]
    acc = r["accuracy"]
    lines += ["", f"Accuracy of {weights} on Human3.6M S9/S11 motion ({m['acc_sequences']} views x "
              f"{m['acc_frames']} frames, exact 2D, mean of the hypotheses, W=1, the same noise per precision):", "",
              "| hypotheses, precision | MPJPE mm | change from fp32 mm |", "|---|---|---|"]
    lines += [f"| {k} | {v['mpjpe_mm']:.2f} | {v['change_mm']:+.2f} |" for k, v in acc.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lift-frames", type=int, default=500)
    parser.add_argument("--acc-sequences", type=int, default=8)
    parser.add_argument("--acc-frames", type=int, default=300)
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument("--smoke", action="store_true", help=smoke.HELP)
    parser.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.probe:
        print(json.dumps(memory_probe(args.probe, args.smoke)))
        return
    precisions = [p for p in PRECISIONS if p in supported_precisions("cpu")]
    cpu = torch.device("cpu")
    size, batch, checkpoint, overrides = SMALL, 4, None, []
    probes = ["port:fp32"] + [f"ours:{p}" for p in precisions]
    if args.smoke:
        tmp = smoke.folder("precision_speed")
        size, batch, checkpoint, overrides = TINY, 2, str(smoke.tiny_checkpoint(tmp)), smoke.config_overrides(tmp)
        args.repeats, args.lift_frames, args.acc_sequences, args.acc_frames = 1, 20, 1, 30
        args.out, probes = str(tmp / "benchmarks.md"), probes[1:2]  # one fresh process (ours fp32): they cost seconds
    results = {"meta": dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu=_cpu_name(),
                            flags=cpu_flags(), torch=torch.__version__, threads=args.threads, repeats=args.repeats,
                            acc_sequences=args.acc_sequences, acc_frames=args.acc_frames, batch=batch,
                            memory_frames=size["frames"], weights=weights_label(checkpoint),
                            command=f"python benchmarks/precision_speed.py{' --smoke' if args.smoke else ''} "
                                    f"--threads {args.threads} --repeats {args.repeats} --acc-sequences "
                                    f"{args.acc_sequences} --acc-frames {args.acc_frames} --out docs/benchmarks.md"),
               "sample": {}}
    ours, port = build_pair(size, cpu)
    x2d = make_batch(batch, size["frames"], cpu)["x2d"]
    with torch.no_grad():
        label = f"F={size['frames']} C={size['channels']} depth {size['depth']}"
        results["sample"][label] = medians(race(sampling_fns(ours, port, precisions, x2d), args.repeats, 1, cpu))
        bundled, bport = bundled_pair(Lifter.from_pretrained(checkpoint, device="cpu"))
        x2d = make_batch(batch, bundled.config.frames, cpu)["x2d"]
        label = f"F={bundled.config.frames} C={bundled.config.channels} depth {bundled.config.depth} (bundled)"
        results["sample"][label] = medians(race(sampling_fns(bundled, bport, precisions, x2d), args.repeats, 1, cpu))
    print(json.dumps(results["sample"], indent=1, default=str)[:2000])
    results["lift"] = lift_rates(precisions, args.lift_frames, args.repeats, checkpoint)
    results["memory"] = memory(probes, args.threads, args.smoke)
    results["accuracy"] = accuracy(precisions, args.acc_sequences, args.acc_frames, checkpoint, overrides)
    text = markdown(results)
    print(text)
    out = Path(args.out)
    write_section(out, "precision_speed.py", text)
    atomic_write_text(out.with_name("precision_speed.json"), json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
