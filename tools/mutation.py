"""Mutation testing of the modules that carry the product's claims (docs/testing.md).

    python tools/mutation.py                          # every module of MODULES, table into docs/testing.md
    python tools/mutation.py export/trc.py            # one module (a path under src/ddhpose)
    python tools/mutation.py export/trc.py --show     # and each surviving mutant's diff

Each module is mutated by mutmut (3.x, from PyPI: ``pip install mutmut``) in a throw-away copy of
the repository, and each mutant is run against the test files that make the module's claims
(MODULES). A mutant that no test kills either names a missing test or is equivalent: it changes
no behaviour the module promises. Equivalent mutants are listed with the reason in
tools/mutation_equivalent.txt (one ``mutant-name  reason`` per line); mutant names hold the
function and a counter, so a listed name that no longer survives is reported as stale.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ddhpose.files import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT = Path(__file__).with_name("mutation_equivalent.txt")

#: module (under src/ddhpose) -> the test files that claim what it does
MODULES: dict[str, list[str]] = {
    "lifting/tracking.py": ["tests/test_tracking.py", "tests/test_tracking_rules.py"],
    "lifting/world.py": ["tests/test_world.py", "tests/test_world_rules.py"],
    "lifting/gravity.py": ["tests/test_world.py", "tests/test_world_rules.py", "tests/test_gravity.py"],
    "lifting/feet.py": ["tests/test_world.py", "tests/test_world_rules.py", "tests/test_feet.py", "tests/test_placement.py"],
    "lifting/placement.py": ["tests/test_world.py", "tests/test_world_rules.py", "tests/test_placement.py"],
    "lifting/trajectory.py": ["tests/test_trajectory.py"],
    "lifting/refine.py": ["tests/test_refine.py"],
    "lifting/checks.py": ["tests/test_checks.py"],
    "lifting/swaps.py": ["tests/test_swaps.py"],
    "lifting/keypoints.py": ["tests/test_keypoints.py", "tests/test_inputs.py"],
    "lifting/camera_files.py": ["tests/test_camera_files.py"],
    "lifting/angles.py": ["tests/test_angles.py", "tests/test_mot.py"],
    "lifting/focal.py": ["tests/test_focal.py"],
    "lifting/inputs/fields.py": ["tests/test_inputs.py", "tests/test_fields.py"],
    "lifting/inputs/arrays.py": ["tests/test_inputs.py", "tests/test_arrays.py"],
    "export/bvh.py": ["tests/test_bvh_export.py"],
    "export/trc.py": ["tests/test_exports.py", "tests/test_trc.py"],
    "export/gltf.py": ["tests/test_exports.py", "tests/test_gltf.py"],
    "export/rig.py": ["tests/test_exports.py", "tests/test_gltf.py", "tests/test_rig.py", "tests/test_bvh_export.py"],
    "evaluation/protocol_3dhp.py": ["tests/test_protocol_3dhp.py"],
    "metrics.py": ["tests/test_metrics.py"],
    "safe_pickle.py": ["tests/test_safe_pickle.py"],
}


def equivalent_mutants() -> dict[str, str]:
    """name -> reason, from tools/mutation_equivalent.txt (``#`` starts a comment)."""
    found = {}
    if EQUIVALENT.is_file():
        for line in EQUIVALENT.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, reason = line.partition(" ")
                found[name] = reason.strip()
    return found


def run_module(module: str, tests: list[str], children: int, show: bool) -> dict:
    """Mutate one module in a copy of the repository; returns its counts and survivors."""
    tests = [t for t in tests if (ROOT / t).is_file()]
    with tempfile.TemporaryDirectory(prefix="ddhpose-mutation-") as tmp:
        work = Path(tmp)
        for part in ("src", "tests"):
            shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "mutants"))
        config = (ROOT / "pyproject.toml").read_text() + (
            "\n[tool.mutmut]\n"
            f"source_paths = [\"src/ddhpose/{module}\"]\n"
            "also_copy = [\"src\", \"tests\"]\n"
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-q\"]\n")
        (work / "pyproject.toml").write_text(config)
        run = subprocess.run(["mutmut", "run", "--max-children", str(children)], cwd=work,
                             capture_output=True, text=True)
        meta = work / "mutants" / "src" / "ddhpose" / f"{module}.meta"
        if not meta.is_file():
            sys.exit(f"mutmut did not run on {module}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        survivors = sorted(k for k, code in codes.items() if code == 0)
        other = sorted(k for k, code in codes.items() if code not in (0, 1))  # timeouts, crashes
        if codes and len(other) == len(codes):
            sys.exit(f"no mutant of {module} ran (does the test selection pass unmutated?):\n"
                     f"{run.stdout[-3000:]}\n{run.stderr[-2000:]}")
        diffs = {}
        if show:
            for name in survivors:
                out = subprocess.run(["mutmut", "show", name], cwd=work, capture_output=True, text=True)
                diffs[name] = out.stdout
    return {"module": module, "tests": tests, "mutants": len(codes), "survivors": survivors,
            "not_run": other, "diffs": diffs}


def table(rows: list[dict], equivalent: dict[str, str]) -> str:
    lines = ["| module | tests | mutants | killed | survived | of which equivalent | surviving, not equivalent |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        eq = [s for s in r["survivors"] if s in equivalent]
        real = len(r["survivors"]) - len(eq)
        killed = r["mutants"] - len(r["survivors"]) - len(r["not_run"])
        share = 100.0 * real / max(r["mutants"] - len(eq), 1)
        tests = ", ".join(Path(t).name for t in r["tests"])
        lines.append(f"| {r['module']} | {tests} | {r['mutants']} | {killed} | {len(r['survivors'])} | {len(eq)} "
                     f"| {real} ({share:.1f} %) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules under src/ddhpose (default: every one of MODULES)")
    parser.add_argument("--children", type=int, default=2, help="mutants run in parallel")
    parser.add_argument("--show", action="store_true", help="print each surviving mutant's diff")
    parser.add_argument("--out", default=str(ROOT / "docs" / "testing.md"),
                        help="Markdown file whose 'mutation' section gets the table ('' for none)")
    args = parser.parse_args(argv)
    if shutil.which("mutmut") is None:
        sys.exit("mutmut is not installed: pip install 'mutmut>=3.8'")
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        sys.exit(f"not in MODULES: {unknown}; choose from {list(MODULES)}")
    equivalent = equivalent_mutants()
    rows = []
    for module in modules:
        row = run_module(module, MODULES[module], args.children, args.show)
        rows.append(row)
        for name in row["survivors"]:
            mark = f"equivalent: {equivalent[name]}" if name in equivalent else "SURVIVED"
            print(f"{name}: {mark}")
            if args.show and name not in equivalent:
                print(row["diffs"].get(name, ""))
        for name in row["not_run"]:
            print(f"{name}: neither killed nor survived (timeout or crash)")
    stale = [n for n in equivalent if any(n.startswith(_prefix(r["module"])) for r in rows)
             and not any(n in r["survivors"] for r in rows)]
    for name in stale:
        print(f"stale entry in {EQUIVALENT.name}: {name} no longer survives")
    print(table(rows, equivalent))
    if args.out:
        # every module's last run is kept (docs/mutation.json), so modules may be run one at a time
        record_path = Path(args.out).with_name("mutation.json")
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        version = _mutmut_version()
        for r in rows:
            record[r["module"]] = {**{k: r[k] for k in ("tests", "mutants", "survivors", "not_run")},
                                   "mutmut": version}
        atomic_write_text(record_path, json.dumps(record, indent=1, sort_keys=True))
        known = [{"module": m, **record[m]} for m in MODULES if m in record]
        missing = [m for m in MODULES if m not in record]
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from doc_section import write_section
        text = (f"`python tools/mutation.py [MODULE ...]` (mutmut {version}; each module's last run, "
                f"kept in docs/mutation.json):\n\n{table(known, equivalent)}")
        if missing:
            text += f"\n\nNot yet run: {', '.join(missing)}."
        write_section(Path(args.out), "mutation", text)


def _prefix(module: str) -> str:
    return "ddhpose." + module[:-3].replace("/", ".") + "."


def _mutmut_version() -> str:
    out = subprocess.run(["mutmut", "--version"], capture_output=True, text=True)
    return out.stdout.strip().split()[-1] if out.stdout.strip() else "?"


if __name__ == "__main__":
    main()
