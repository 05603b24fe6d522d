"""Put several `ddhpose evaluate` results side by side: one row per action, last DDIM step.

Usage: python tools/compare_results.py NAME=RESULTS.json [NAME=RESULTS.json ...] \
           [--keys mpjpe_j_agg p_mpjpe_j_agg mpjpe_j_best p_mpjpe_j_best] -o table.md
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ddhpose.files import atomic_write_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="NAME=path/to/results.json")
    parser.add_argument("--keys", nargs="+", default=["mpjpe_j_agg", "p_mpjpe_j_agg"])
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    runs = {}
    for item in args.results:
        name, _, path = item.partition("=")
        runs[name] = json.loads(Path(path).read_text())
    first = next(iter(runs.values()))
    groups = list(first["groups"])
    header = [f"{name} {key} (H={r['hypotheses']}, W={r['iterations']})" for name, r in runs.items() for key in args.keys]
    lines = ["| action | " + " | ".join(header) + " |", "|---|" + "---|" * len(header)]
    for group in groups:
        cells = [f"{runs[name]['groups'][group][key][-1]:.1f}" for name in runs for key in args.keys]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    atomic_write_text(args.output, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
