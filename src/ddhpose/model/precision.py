"""Inference precision of the denoiser: float32 (the reference), bfloat16 or int8.

Only the denoiser changes; the sampler's schedule and update stay in float32 (float64 where
they were), so a lower precision touches the network's arithmetic and nothing else:

- ``fp32``: unchanged; equal to the released implementation's outputs;
- ``bf16``: the denoiser's weights and activations in bfloat16 (CPUs with AVX512-BF16 or AMX
  run its matrix products several times faster than float32; CUDA GPUs with bf16 support);
- ``int8``: dynamic quantisation (int8 weights, activations quantised per call;
  ``torch.ao.quantization.quantize_dynamic``, which torch marks deprecated in favour of the
  separate torchao package) of the transformer blocks' Linear layers except the attention's
  query / key / value projections, CPU only. Measured on the bundled model (Human3.6M S9/S11,
  4 views x 100 frames, same noise): every Linear layer +4.8 mm MPJPE, the input embedding
  alone most of it; the blocks +0.8 mm; the blocks without qkv +0.4 mm (kept).

Which is faster and what it costs in accuracy is measured in docs/benchmarks.md.
"""
from __future__ import annotations

import copy
import functools
import warnings

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "int8")
#: what ``precision='auto'`` picks (docs/benchmarks.md, precision section): bf16 on CPUs that
#: have bf16 units, where it sampled 2.5x faster than fp32 (3.45x the released code) at an MPJPE
#: change of +0.05 mm; fp32 elsewhere (CUDA bf16 not measured: no GPU was available).
AUTO = "auto"


@functools.lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def supported_precisions(device: torch.device | str) -> tuple[str, ...]:
    """The precisions this device runs well: bf16 needs a CPU with AVX512-BF16 or AMX (read from
    /proc/cpuinfo; elsewhere it is not offered on CPUs) or a CUDA device with bf16; int8 is CPU only."""
    device = torch.device(device)
    if device.type == "cuda":
        return ("fp32", "bf16") if torch.cuda.is_bf16_supported() else ("fp32",)
    bf16 = bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})
    return ("fp32",) + (("bf16",) if bf16 else ()) + ("int8",)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``precision`` itself, or for 'auto' the measured default of ``device``."""
    if precision != AUTO:
        return precision
    device = torch.device(device)
    return "bf16" if device.type == "cpu" and "bf16" in supported_precisions(device) else "fp32"


def check_precision(precision: str, device: torch.device | str) -> None:
    """Raise ValueError naming what is supported when ``precision`` does not fit ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    ok = supported_precisions(device)
    if precision not in ok:
        why = {"int8": "int8 (dynamic quantisation) runs on CPUs only",
               "bf16": "bf16 needs AVX512-BF16 / AMX on a CPU, or a CUDA device with bf16"}[precision]
        raise ValueError(f"precision {precision!r} is not supported on {torch.device(device)}: {why}; "
                         f"supported here: {list(ok)}")


def with_precision(model: nn.Module, precision: str, device: torch.device | str | None = None) -> nn.Module:
    """A copy of a DDHPose ``model`` whose denoiser runs in ``precision`` (``fp32``: the model
    itself; ``auto``: :func:`resolve_precision`). The model must already be on ``device``
    (default: its parameters' device)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    precision = resolve_precision(precision, device)
    check_precision(precision, device)
    if precision == "fp32":
        return model
    out = copy.deepcopy(model).eval()
    if precision == "bf16":
        out.denoiser.to(torch.bfloat16)
    else:
        with warnings.catch_warnings():  # torch.ao announces its replacement (torchao); the call still works
            warnings.filterwarnings("ignore", message=".*deprecated.*")
            names = {n for n, m in out.denoiser.named_modules()
                     if isinstance(m, nn.Linear) and "_blocks." in n and ".qkv" not in n}
            out.denoiser = torch.ao.quantization.quantize_dynamic(out.denoiser, names, dtype=torch.qint8)
    out.precision = precision
    return out
