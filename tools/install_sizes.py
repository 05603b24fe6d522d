"""Installed sizes of ddhpose's parts, measured in a throw-away virtual environment (the README's figures).

Three steps in a fresh venv, each measured as the growth of its site-packages (``du -sm``):
torch (the pinned CPU build, with what it pulls in), ddhpose's other dependencies
(``pip install -e .``) and the video extra (``pip install -e ".[video]"``). Prints a Markdown
table: per step the growth and the largest top-level entries it added (packages, their
bundled libraries), so a figure like "the CPU build takes about 750 MB" has a source.

Usage: python tools/install_sizes.py [--venv DIR] [--torch "torch==2.13.0"]
(minutes; pip installs from the index it is configured with; the venv is deleted afterwards
unless --keep.)
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def du_mb(path: Path) -> int:
    """``du -sm``: MiB on disk, rounded up."""
    return int(subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def entries_kb(site: Path) -> dict[str, int]:
    """KiB on disk of every top-level entry of site-packages."""
    names = sorted(p.name for p in site.iterdir())
    if not names:
        return {}
    out = subprocess.run(["du", "-sk", *names], cwd=site, capture_output=True, text=True, check=True).stdout
    return {line.split("\t", 1)[1]: int(line.split("\t", 1)[0]) for line in out.splitlines()}


def pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *args], check=True)


def measure(venv: Path, torch_spec: str) -> list[dict]:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    steps = [(f"torch ({torch_spec})", [torch_spec]),
             ("ddhpose and its other dependencies (pip install -e .)", ["-e", str(ROOT)]),
             ('the video extra (pip install -e ".[video]")', ["-e", f"{ROOT}[video]"])]
    rows, before, before_mb = [], entries_kb(site), du_mb(site)
    for label, args in steps:
        pip(python, *args)
        after, after_mb = entries_kb(site), du_mb(site)
        grown = {name: (kb - before.get(name, 0)) / 1024 for name, kb in after.items()}
        largest = sorted(((mb, n) for n, mb in grown.items() if mb >= 5 and not n.endswith(".dist-info")),
                         reverse=True)
        rows.append({"step": label, "mb": after_mb - before_mb, "total_mb": after_mb,
                     "largest": [(n, round(mb)) for mb, n in largest]})
        print(f"{label}: +{after_mb - before_mb} MB (site-packages {after_mb} MB)", flush=True)
        before, before_mb = after, after_mb
    return rows


def markdown(rows: list[dict], python_version: str) -> str:
    lines = [f"Installed sizes (`python tools/install_sizes.py`, Python {python_version}, Linux; `du -sm` of the "
             "venv's site-packages after each step, MB = MiB):", "",
             "| step | added (MB) | site-packages after (MB) | largest parts added (MB) |", "|---|---|---|---|"]
    for r in rows:
        parts = ", ".join(f"{n} {mb}" for n, mb in r["largest"][:6]) or "-"
        lines.append(f"| {r['step']} | {r['mb']} | {r['total_mb']} | {parts} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=None, help="where to make the venv (default: a temporary folder)")
    ap.add_argument("--torch", default="torch==2.13.0", help="the torch requirement installed first")
    ap.add_argument("--keep", action="store_true", help="keep the venv")
    args = ap.parse_args(argv)
    tmp = None if args.venv else tempfile.mkdtemp(prefix="ddhpose_sizes_")
    venv = args.venv or Path(tmp) / "venv"
    if venv.exists():
        raise SystemExit(f"{venv} exists: give a new folder")
    try:
        rows = measure(venv, args.torch)
        print(markdown(rows, f"{sys.version_info.major}.{sys.version_info.minor}"))
    finally:
        if not args.keep:
            shutil.rmtree(tmp or venv, ignore_errors=True)


if __name__ == "__main__":
    main()
