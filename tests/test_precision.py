"""Inference precision: fp32 untouched, bf16 / int8 close to it, unsupported devices refused."""
from __future__ import annotations

import pytest
import torch

from ddhpose.model import precision as P
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)).eval()


def test_fp32_is_the_model_itself(model):
    assert P.with_precision(model, "fp32") is model


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_lower_precision_is_a_close_copy(model, precision, monkeypatch):
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    x = torch.randn(2, 9, 17, 2) * 0.3
    ref = model.sample(x, 2, 2, generator=torch.Generator().manual_seed(0))
    low = P.with_precision(model, precision, "cpu")
    out = low.sample(x, 2, 2, generator=torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.shape == ref.shape and torch.isfinite(out).all()
    # changed, but only by rounding: measured on this model max 4.5e-3 m (bf16) and 7.6e-3 m (int8),
    # mean 4.7e-4 and 5.2e-4 m, against poses up to 0.36 m; allowed: twice that
    err = (out - ref).abs()
    limit = {"bf16": 1e-2, "int8": 1.5e-2}[precision]
    assert 0 < err.max().item() <= limit and err.mean().item() <= 1e-3, (err.max().item(), err.mean().item())
    assert next(model.denoiser.parameters()).dtype == torch.float32  # the original is untouched
    assert low.schedule.alphas_cumprod.dtype == model.schedule.alphas_cumprod.dtype  # sampler math as it was


def test_int8_quantises_the_blocks_but_not_embedding_head_or_qkv(model):
    low = P.with_precision(model, "int8", "cpu").denoiser
    float_linear = {n for n, m in low.named_modules() if type(m) is torch.nn.Linear}
    quantised = {n for n, m in low.named_modules() if "quantized" in type(m).__module__ and "Linear" in type(m).__name__}
    assert {"embed", "head.1", "time_embed.fc1"} <= float_linear
    assert {n for n in float_linear if n.endswith(".qkv") or n.endswith(".qkv_xc")} == \
        {n for n, m in model.denoiser.named_modules() if n.endswith((".qkv", ".qkv_xc"))}
    assert "spatial_blocks.1.mlp.fc1" in quantised and "temporal_blocks.0.attn.proj" in quantised


def test_unsupported_precision_names_what_is_supported(monkeypatch):
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx2"}))
    with pytest.raises(ValueError, match=r"'bf16' is not supported on cpu.*supported here: \['fp32', 'int8'\]"):
        P.check_precision("bf16", "cpu")
    with pytest.raises(ValueError, match="expected one of"):
        P.check_precision("fp16", "cpu")
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="int8 .* CPUs only"):
            P.check_precision("int8", "cuda")


def test_lifter_and_cli_take_a_precision(tmp_path, capsys, monkeypatch):
    from ddhpose.cli import main
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.model.checkpoint import save_checkpoint
    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_checkpoint(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), path)
    lifter = Lifter.from_pretrained(path, device="cpu", precision="int8")
    assert lifter.precision == "int8" and lifter.model.precision == "int8"
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset())
    assert main(["demo", "-o", str(tmp_path), "--precision", "bf16", "--device", "cpu"]) == 2
    assert "not supported on cpu" in capsys.readouterr().err


def test_auto_picks_bf16_only_on_cpus_with_bf16_units(monkeypatch, model):
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert P.resolve_precision("auto", "cpu") == "bf16"
    assert P.with_precision(model, "auto", "cpu").precision == "bf16"
    monkeypatch.setattr(P, "_cpu_flags", lambda: frozenset({"avx2"}))
    assert P.resolve_precision("auto", "cpu") == "fp32" and P.with_precision(model, "auto", "cpu") is model
    assert P.resolve_precision("int8", "cpu") == "int8"


def test_cli_lifts_with_auto_and_evaluates_in_fp32_by_default():
    from ddhpose.cli import build_parser
    parser = build_parser()
    assert parser.parse_args(["lift", "x.json", "-o", "y.npz"]).precision == "auto"
    assert parser.parse_args(["evaluate", "--checkpoint", "m", "-c", "h36m", "-o", "o"]).precision == "fp32"
