"""The package's layering (pyproject.toml [tool.importlinter], docs/architecture.md): no module
imports from a layer above its own, and no two sibling modules import each other."""
from pathlib import Path

from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_hold_and_no_import_circles(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_the_architecture_page_lists_every_module():
    """docs/architecture.md names every module of the package, and only those."""
    import re
    src = ROOT / "src" / "ddhpose"
    modules = {p.relative_to(src).as_posix() for p in src.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", page, flags=re.M))
    assert listed == modules, (sorted(modules - listed), sorted(listed - modules))
