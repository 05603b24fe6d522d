"""The repository's scripts (tools/, benchmarks/), which are not a package, loaded as modules for
their tests."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(relative: str) -> ModuleType:
    """The script at ``relative`` (to the repository's root, e.g. 'tools/gpu_train.py') run as a
    module named after its file: its imports and definitions, not its ``main()``."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
