"""The package's layering (pyproject.toml [tool.importlinter], docs/architecture.md): no module
imports from a layer above its own, and no two sibling modules import each other."""
from pathlib import Path

from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]


def test_the_layers_hold_and_no_import_circles(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0
