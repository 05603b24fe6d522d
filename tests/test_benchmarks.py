"""The benchmark scripts stay importable against the package (a renamed function breaks them
long before anyone reruns a benchmark), and their shared Markdown writer keeps the prose."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{script[:-3]}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs the imports and definitions, not main()
    assert hasattr(module, "main") or script in ("released_port.py", "doc_section.py")
    sys.modules.pop(f"bench_{script[:-3]}", None)


def test_write_section_replaces_only_the_marked_part(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from doc_section import write_section
    doc = tmp_path / "d.md"
    write_section(doc, "x", "first", title="# T")
    assert doc.read_text() == "# T\n\n<!-- x results: begin -->\nfirst\n<!-- x results: end -->\n"
    doc.write_text("intro\n" + doc.read_text().split("\n", 2)[2] + "outro\n")
    write_section(doc, "x", "second")
    assert doc.read_text() == "intro\n<!-- x results: begin -->\nsecond\n<!-- x results: end -->\noutro\n"
