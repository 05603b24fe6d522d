"""Benchmark results into the docs: a Markdown document's marked section (the text between two
markers is replaced and the rest of the document, its prose, kept; a document without the markers
gets them appended), and figures, each written whole or not at all."""
from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

from ddhpose.files import atomic_write_text

REPOSITORY = Path(__file__).resolve().parent.parent


def command_line(script: str, argv: list[str]) -> str:
    """``python SCRIPT ARGS`` as the docs print it: an absolute path inside the repository made
    relative to it, one outside shortened to ``.../<folder>/<name>``, so no machine's own
    folders end up in the docs."""
    def portable(arg: str) -> str:
        if not os.path.isabs(arg):
            return arg
        path = Path(arg).resolve()
        if path.is_relative_to(REPOSITORY):
            return str(path.relative_to(REPOSITORY))
        return ".../" + "/".join(path.parts[-2:])
    return " ".join(["python", script, *(portable(a) for a in argv)])


def write_section(path: Path, name: str, body: str, title: str = "# Benchmarks") -> None:
    """Put ``body`` between ``<!-- NAME results: begin -->`` and ``<!-- NAME results: end -->``."""
    begin, end = f"<!-- {name} results: begin -->", f"<!-- {name} results: end -->"
    section = f"{begin}\n{body}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if begin in old and end in old:
        text = old[:old.index(begin)] + section + old[old.index(end) + len(end):]
    else:
        text = old + ("\n" if old else f"{title}\n\n") + section + "\n"
    atomic_write_text(path, text)


def save_figure(fig, path: Path, dpi: int = 90) -> None:
    """Save a matplotlib figure to ``path`` (.png) through a temporary file, then close it."""
    import matplotlib.pyplot as plt
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    tmp.replace(path)
    plt.close(fig)


def weights_label(checkpoint: str | None) -> str:
    """Which weights a figure was measured on, for the docs: 'the bundled weights' or the file's
    name, with the first 12 hex digits of its SHA-256 (docs/model_card.md gives the shipped one's),
    so a table stays tied to its weights when the bundled model changes."""
    from ddhpose.lifting.lifter import BUNDLED_WEIGHTS
    path = Path(checkpoint) if checkpoint else resources.files("ddhpose").joinpath(BUNDLED_WEIGHTS)
    name = Path(checkpoint).name if checkpoint else "the bundled weights"
    return f"{name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})"
