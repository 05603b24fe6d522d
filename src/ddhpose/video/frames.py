"""Decoded frames kept for the render, so a video is decoded once: each frame scaled down to the
render's size and kept as JPEG in memory (a minute of 1080p video at 30 frames/s takes about
50-100 MB instead of 11 GB raw)."""
from __future__ import annotations

import io
from typing import Iterator, Sequence

import numpy as np


class FrameStore:
    """``add(index, rgb)`` while decoding; ``frames(indices)`` yields them back as RGB arrays of
    one size, for :func:`ddhpose.export.render.render_animation`'s ``video_frames``."""

    def __init__(self, max_height: int, quality: int = 85) -> None:
        if max_height < 16:
            raise ValueError(f"max_height: expected at least 16 pixels, got {max_height}")
        self.max_height, self.quality = int(max_height), int(quality)
        self._frames: dict[int, bytes] = {}
        self.size: tuple[int, int] | None = None  # (width, height) of the kept frames

    def add(self, index: int, rgb: np.ndarray) -> None:
        from PIL import Image

        image = Image.fromarray(np.ascontiguousarray(rgb))
        if image.height > self.max_height:
            width = max(1, round(image.width * self.max_height / image.height))
            image = image.resize((width, self.max_height), Image.BILINEAR)
        self.size = self.size or image.size
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=self.quality)
        self._frames[int(index)] = buffer.getvalue()

    def __len__(self) -> int:
        return len(self._frames)

    def frames(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """The kept frames of ``indices`` in that order (a black frame where one was not kept)."""
        from PIL import Image

        blank = None
        for i in indices:
            data = self._frames.get(int(i))
            if data is None:
                if blank is None:
                    w, h = self.size or (16, 16)
                    blank = np.zeros((h, w, 3), np.uint8)
                yield blank
                continue
            yield np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
