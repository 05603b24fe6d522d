"""Atomic file writes: a temporary file in the target's folder, then a rename.

A crash or an error while writing leaves the previous file (or nothing) in place, never a
half-written one.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any threads write
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed onto ``path``.

    Use with writers that want a file name (``np.savez``, ``safetensors``, ``imageio``)::

        with atomic_path("out.npz") as tmp:
            np.savez(tmp, poses=poses)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class PartlyWritten(KeyboardInterrupt):
    """A command interrupted (Ctrl-C) after some of its files were written whole: ``written``
    lists them, ``unwritten`` what was not written (nothing half-written is left)."""

    def __init__(self, written: list[Path], unwritten: list[str]) -> None:
        super().__init__(f"written: {', '.join(map(str, written))}; not written: {', '.join(unwritten)}")
        self.written, self.unwritten = list(written), list(unwritten)
