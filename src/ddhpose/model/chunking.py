"""How many clips one denoiser call takes when sampling: a device-tuning choice of the callers
(:mod:`ddhpose.lifting.lifter`, :mod:`ddhpose.evaluation.evaluate`, the training monitor), not of the model."""
from __future__ import annotations

import torch

# Window sequences (clips x hypotheses) per denoiser call when sampling on a CPU; measured with
# benchmarks/speed.py, larger batches spend their time in page faults of the activations.
CPU_CHUNK_SEQUENCES = 10


def cpu_chunk(hypotheses: int, device: torch.device | str) -> int:
    """Clips per denoiser call for :meth:`ddhpose.model.ddhpose.DDHPose.sample`'s ``chunk``: on
    a CPU about :data:`CPU_CHUNK_SEQUENCES` window sequences (at least one clip), as activations
    that stay cache-sized beat one big batch; 0 (the whole batch at once) on other devices."""
    if torch.device(device).type != "cpu":
        return 0
    return max(1, CPU_CHUNK_SEQUENCES // hypotheses)
