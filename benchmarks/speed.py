"""Speed and peak memory of ddhpose's denoiser and sampler against a port of the released code.

Both implementations run in one process with the same weights and inputs, interleaved (the
order alternates every repeat), after a warm-up; the script first checks that they compute
the same thing (denoiser output, training loss, sampler output with shared recorded noise).
Cases (``--cases``, comma separated):

  train   training step (noising, denoiser forward, loss, backward, AdamW) at F=81, C=128,
          depth 6, 8 heads, batch 4 clips;
  sample  DDIM sampling, H=5 hypotheses, W=2 iterations, flip on, same size, batch 4;
  paper   one training step at the paper's size (F=243, C=512, depth 8), batch 1;
  memory  peak memory of train and sample, one fresh subprocess per (implementation, case).

On CUDA the train, sample and paper cases are also run under bf16 autocast (``--amp``).
``--profile`` prints torch.profiler's top operators of one run of each implementation per case.

OMP_WAIT_POLICY defaults to PASSIVE here: on a CPU shared with other jobs, libgomp's default
spin-waiting makes every parallel region wait for a descheduled thread (AdamW's step on this
model took 2 s instead of 15 ms with 2 threads at load 5), which measures the machine's load,
not the code. Set it explicitly in the environment to override.
Usage: python benchmarks/speed.py --device cpu --threads 2 --repeats 5 --out docs/benchmarks.md
(writes the Markdown section between the result markers of --out, and a .json beside it).
``--rewrite`` rewrites that section from the .json without measuring (after a change to the
table); ``--smoke`` runs every case at a tiny size, once, into a temporary folder.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first import of torch (see above)
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import smoke  # noqa: E402
from doc_section import command_line, write_section  # noqa: E402
from released_port import ReleasedDDHPose, released_loss, to_ddhpose  # noqa: E402

from ddhpose.files import atomic_write_text  # noqa: E402
from ddhpose.skeleton import H36M  # noqa: E402
from ddhpose.training.losses import pose_losses  # noqa: E402

SMALL = dict(frames=81, channels=128, depth=6, heads=8)
PAPER = dict(frames=243, channels=512, depth=8, heads=8)
TINY = dict(frames=9, channels=32, depth=2, heads=4)  # --smoke: every case at the test suite's size
CASES = {"train": ("train", SMALL, 4), "sample": ("sample", SMALL, 4), "paper": ("train", PAPER, 1)}
HYPOTHESES, ITERATIONS = 5, 2
# the released implementation's own timings on a 2-core CPU of this kind (seconds), as the speed
# issue quoted them, for reference; none was quoted at the paper's size (the port's is measured)
QUOTED = {"train": (0.66, 0.86), "sample": (7.2, 7.6)}
REFERENCE_SPEEDUPS = {"train": 1.5, "sample": 2.5}  # speed-ups over those timings the table compares with


def cases(tiny: bool = False) -> dict[str, tuple[str, dict, int]]:
    """Case name -> (kind, model size, batch): :data:`CASES`, or all at :data:`TINY` (batch 2)."""
    return {name: (kind, TINY, 2) for name, (kind, _, _) in CASES.items()} if tiny else CASES


def build_pair(size: dict, device: torch.device, seed: int = 0):
    """ddhpose's model and the released port with identical weights."""
    torch.manual_seed(seed)
    port = ReleasedDDHPose(H36M, **size)
    return to_ddhpose(port).to(device), port.to(device)


def make_batch(b: int, f: int, device: torch.device, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    y3d = torch.randn(b, f, 17, 3, generator=g) * 0.25
    y3d[..., 0, :] = 0
    batch = dict(x2d=torch.randn(b, f, 17, 2, generator=g) * 0.3, y3d=y3d,
                 t=torch.randint(0, 1000, (b,), generator=g),
                 noise=[torch.randn(b, f, 17, 3, generator=g), torch.randn(b, f, 17, 1, generator=g)])
    return {k: [n.to(device) for n in v] if k == "noise" else v.to(device) for k, v in batch.items()}


def autocast(device: torch.device, amp: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext()


def step_fns(kind: str, ours, port, batch: dict, amp: bool) -> dict[str, Callable[[], None]]:
    """Zero-argument callables running one training step or one sampling of each implementation."""
    dev = batch["x2d"].device
    x2d, y3d, t, noise = batch["x2d"], batch["y3d"], batch["t"], batch["noise"]
    if kind == "sample":
        ours.eval(), port.eval()

        def ours_fn():
            with autocast(dev, amp):
                ours.sample(x2d, HYPOTHESES, ITERATIONS, flip=True)

        def port_fn():
            with autocast(dev, amp):
                port.ddim_sample(x2d, HYPOTHESES, ITERATIONS, flip=True)

        return {"ours": ours_fn, "port": port_fn}
    ours.train(), port.train()
    opt_o = torch.optim.AdamW(ours.parameters(), lr=1e-4, weight_decay=0.1)
    opt_p = torch.optim.AdamW(port.parameters(), lr=1e-4, weight_decay=0.1)

    def ours_step():
        with autocast(dev, amp):
            pred = ours(x2d, y3d, t, noise)
        pose_losses(pred.float(), y3d, H36M)["total"].backward()
        opt_o.step()
        opt_o.zero_grad(set_to_none=True)

    def port_step():
        with autocast(dev, amp):
            pred = port.training_prediction(x2d, y3d, t, *noise)
        released_loss(pred.float(), y3d, port.bones).backward()
        opt_p.step()
        opt_p.zero_grad(set_to_none=True)

    return {"ours": ours_step, "port": port_step}


@torch.no_grad()
def agreement(ours, port, batch: dict, sampler: bool) -> dict[str, float]:
    """Max abs differences of the denoiser output, the loss and (optionally) the sampler output."""
    ours.eval(), port.eval()
    x2d, y3d, t, noise = batch["x2d"], batch["y3d"], batch["t"], batch["noise"]
    inputs = ours.noisy_inputs(y3d, t, noise)
    a, b = ours.denoiser(x2d, *inputs, t), port.dir_bone_estimator(x2d, *inputs, t)
    out = {"denoiser": (a - b).abs().max().item(), "loss": abs(
        pose_losses(a, y3d, H36M)["total"].item() - released_loss(port.training_prediction(x2d, y3d, t, *noise),
                                                                  y3d, port.bones).item())}
    if sampler:
        g = torch.Generator().manual_seed(2)
        bb, f = x2d.shape[:2]
        shapes = [(bb, HYPOTHESES, f, 17, 3), (bb, HYPOTHESES, f, 17, 1)]
        shapes += [(bb, HYPOTHESES, f, 16, 3), (bb, HYPOTHESES, f, 16, 1)] * (ITERATIONS - 1)
        draws = [torch.randn(s, generator=g).to(x2d.device) for s in shapes]
        sa = ours.sample(x2d, HYPOTHESES, ITERATIONS, flip=True, noise=draws)
        sb = port.ddim_sample(x2d, HYPOTHESES, ITERATIONS, flip=True, noise=draws)
        out["sampler"] = (sa - sb).abs().max().item()
    return out


def race(fns: dict[str, Callable[[], None]], repeats: int, warmup: int, device: torch.device) -> dict[str, list]:
    """Wall-clock seconds of each callable, interleaved, order alternating every repeat."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list] = {name: [] for name in fns}
    for r in range(repeats):
        for name in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
            sync()
            start = time.perf_counter()
            fns[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def profile_table(fn: Callable[[], None], rows: int = 12) -> str:
    from torch.profiler import profile

    with profile() as prof:
        fn()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def summarize(name: str, times: dict[str, list]) -> dict:
    o, p = times["ours"], times["port"]
    res = dict(ours=o, port=p, median_ours=statistics.median(o), median_port=statistics.median(p))
    res["speedup"] = res["median_port"] / res["median_ours"]
    res["paired_speedup"] = statistics.median(b / a for a, b in zip(o, p))
    return with_quoted(name, res)


def with_quoted(name: str, res: dict) -> dict:
    """``res`` with the comparison against :data:`QUOTED` (fp32 cases only), or without one."""
    res = {k: v for k, v in res.items() if k not in ("quoted", "vs_quoted")}
    if name in QUOTED:
        lo, hi = QUOTED[name]
        res.update(quoted=[lo, hi], vs_quoted=[lo / res["median_ours"], hi / res["median_ours"]])
    return res


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return platform.machine()


def _proc_status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError(f"no {key} in /proc/self/status")


def peak_rss(fn: Callable[[], None]) -> dict:
    """Peak resident memory (MiB) of one call of ``fn`` above what was resident just before it:
    the peak-RSS counter (VmHWM) is reset, then read after the call."""
    base = _proc_status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak-RSS counter (VmHWM)
    fn()
    peak = _proc_status("VmHWM")
    return dict(base_mb=base, peak_mb=peak, delta_mb=peak - base)


def memory_probe(impl: str, case: str, device: torch.device, amp: bool, tiny: bool = False) -> dict:
    """Peak memory of one step of ``impl`` above what was resident just before it (MiB)."""
    kind, size, b = cases(tiny)[case]
    ours, port = build_pair(size, device)
    fn = step_fns(kind, ours, port, make_batch(b, size["frames"], device), amp)[impl]
    del ours, port  # the closures keep what they need (the optimizer of the other one stays empty)
    fn()  # warm-up: optimizer state, thread pools, lazy initialisation
    gc.collect()
    if device.type != "cuda":
        return dict(peak_rss(fn), measure="VmHWM (peak RSS) after resetting it")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() / 2**20
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 2**20
    return dict(base_mb=base, peak_mb=peak, delta_mb=peak - base, measure="torch.cuda.max_memory_allocated")


def run_probe(impl: str, case: str, args) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    cmd = [sys.executable, __file__, "--probe", f"{impl}:{case}", "--device", args.device]
    cmd += ["--threads", str(args.threads)] if args.threads else []
    cmd += ["--smoke"] if args.smoke else []
    out = subprocess.run(cmd + (["--amp", args.amp] if args.amp else []), env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    m = results["meta"]
    lines = [f"Run {m['date']} on {m['device']} ({m['cpu']}), torch {m['torch']}, {m['threads']} threads "
             f"(OMP_WAIT_POLICY={m['omp_wait_policy']}), "
             f"load average {m['load_before']} before / {m['load_after']} after.",
             f"Command: `{m['command']}`", "",
             "Agreement before timing (max abs difference, ours vs port): "
             + ", ".join(f"{k} {v:.1e}" for k, v in results["agreement"].items()), "",
             "| case | repeats | ours median (min-max), s | port median (min-max), s | speed-up vs port "
             "(ratio of medians / median of paired ratios) | released figure (s) | ours vs released figure | "
             "reference speed-up |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in results["cases"].items():
        quoted = "-" if "quoted" not in r else "{:.2f}-{:.2f}".format(*r["quoted"])
        vs = "-" if "vs_quoted" not in r else "{:.2f}x-{:.2f}x".format(*r["vs_quoted"])
        goal, met = REFERENCE_SPEEDUPS.get(name), "-"
        if goal is not None and "vs_quoted" in r:
            lo, hi = r["vs_quoted"]
            verdict = "reached" if lo >= goal else "reached against the slower figure only" if hi >= goal else \
                f"short ({lo:.2f}x)"
            met = f"{goal}x: {verdict}"
        spread = {k: f"{r['median_' + k]:.3f} ({min(r[k]):.3f}-{max(r[k]):.3f})" for k in ("ours", "port")}
        lines.append(f"| {name} | {len(r['ours'])} | {spread['ours']} | {spread['port']} | "
                     f"{r['speedup']:.2f}x / {r['paired_speedup']:.2f}x | {quoted} | {vs} | {met} |")
    if results.get("memory"):
        lines += ["", "| memory | ours peak - base (MiB) | port peak - base (MiB) | ours / port "
                  "| ours base | port base |",
                  "|---|---|---|---|---|---|"]
        for case, r in results["memory"].items():
            o, p = r["ours"], r["port"]
            lines.append(f"| {case} | {o['delta_mb']:.0f} | {p['delta_mb']:.0f} | {o['delta_mb'] / p['delta_mb']:.2f} "
                         f"| {o['base_mb']:.0f} | {p['base_mb']:.0f} |")
        lines.append(f"\nMemory measure: {next(iter(results['memory'].values()))['ours']['measure']}.")
    return "\n".join(lines)


def write_outputs(results: dict, out: Path) -> None:
    atomic_write_text(out.with_suffix(".json"), json.dumps(results, indent=1) + "\n")
    write_section(out, "speed.py", markdown(results))


def rewrite(out: Path) -> None:
    """The section of ``out`` and its .json again from the .json's timings (the comparison with
    :data:`QUOTED` recomputed): a change to the table or to the quoted figures, nothing measured."""
    results = json.loads(out.with_suffix(".json").read_text())
    results["cases"] = {name: with_quoted(name, res) for name, res in results["cases"].items()}
    write_outputs(results, out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of train and sample")
    ap.add_argument("--paper-repeats", type=int, default=2, help="timed repeats of the paper-size step")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--cases", default="train,sample,paper,memory")
    ap.add_argument("--amp", choices=["auto", "bf16", "none"], default="auto",
                    help="bf16 autocast runs: auto = on CUDA only")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to update, e.g. docs/benchmarks.md")
    ap.add_argument("--profile", action="store_true", help="print the top operators of each implementation")
    ap.add_argument("--rewrite", action="store_true", help="rewrite --out's section from its .json, measuring nothing")
    ap.add_argument("--smoke", action="store_true", help=smoke.HELP)
    ap.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rewrite:
        if args.out is None:
            raise SystemExit("--rewrite needs --out")
        rewrite(args.out)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    if args.probe:
        impl, case = args.probe.split(":")
        print(json.dumps(memory_probe(impl, case, device, args.amp == "bf16", args.smoke)))
        return
    memory_cases = ("train", "sample")
    if args.smoke and not args.probe:
        args.repeats, args.paper_repeats, args.warmup = 1, 1, 0
        args.out = smoke.folder("speed") / "benchmarks.md"
        memory_cases = ("sample",)  # one fresh process per implementation is enough to check the probe
    sizes = cases(args.smoke)
    chosen = [c for c in args.cases.split(",") if c]
    results: dict = dict(meta=dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"), torch=torch.__version__,
        device=str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        cpu=_cpu_name(), threads=torch.get_num_threads(), omp_wait_policy=os.environ["OMP_WAIT_POLICY"],
        load_before=[round(x, 2) for x in os.getloadavg()],
        command=command_line("benchmarks/speed.py", argv if argv is not None else sys.argv[1:])),
        agreement={}, cases={}, memory={})
    for name in [c for c in chosen if c in sizes]:
        kind, size, b = sizes[name]
        ours, port = build_pair(size, device)
        batch = make_batch(b, size["frames"], device)
        check = agreement(ours, port, batch, sampler=kind == "sample")
        print(f"[{name}] agreement, max abs diff: " + ", ".join(f"{k} {v:.2e}" for k, v in check.items()), flush=True)
        if check["denoiser"] > 1e-4 or check.get("sampler", 0) > 1e-4 or check["loss"] > 1e-4:
            raise SystemExit(f"[{name}] the implementations disagree; not timing them")
        results["agreement"].update({f"{name} {k}": v for k, v in check.items()})
        if args.profile:
            for impl, fn in step_fns(kind, ours, port, batch, False).items():
                print(f"[{name}] profile of {impl}\n{profile_table(fn)}", flush=True)
        repeats = args.paper_repeats if name == "paper" else args.repeats
        for use_amp in [False] + ([True] if amp else []):
            label = name + ("+bf16" if use_amp else "")
            times = race(step_fns(kind, ours, port, batch, use_amp), repeats, args.warmup, device)
            results["cases"][label] = res = summarize(label, times)
            print(f"[{label}] ours {res['median_ours']:.3f} s, port {res['median_port']:.3f} s (medians of {repeats}); "
                  f"speed-up {res['speedup']:.2f}x (paired {res['paired_speedup']:.2f}x)", flush=True)
        del ours, port
    if "memory" in chosen:
        for case in memory_cases:
            results["memory"][case] = {impl: run_probe(impl, case, args) for impl in ("ours", "port")}
            r = results["memory"][case]
            print(f"[memory {case}] peak above base: ours {r['ours']['delta_mb']:.0f} MiB, "
                  f"port {r['port']['delta_mb']:.0f} MiB", flush=True)
    results["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.out:
        write_outputs(results, args.out)
        print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
