"""Checkpoints: own format round trips, released import/export, bad and hostile files."""
from pathlib import Path

import pytest
import torch

from ddhpose.model.checkpoint import CheckpointError, convert, load_checkpoint, read_metadata, save_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.released import export_released
from ddhpose.safe_pickle import load_torch_file

RELEASED = Path(__file__).parent / "fixtures" / "official_h36m_f27.bin"


def _same_weights(a: DDHPose, b: DDHPose) -> bool:
    sa, sb = a.denoiser.state_dict(), b.denoiser.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_released_config_is_read_from_shapes():
    model = load_checkpoint(RELEASED)
    cfg = model.config
    assert (cfg.frames, cfg.channels, cfg.depth, cfg.heads, cfg.num_joints) == (27, 64, 4, 8, 17)
    assert cfg.diffusion == "disentangled" and cfg.hierarchy_embedding and cfg.hrtt and not model.training


@pytest.mark.parametrize("overrides", [{}, dict(diffusion="xyz", hrtt=False), dict(disentangled_output=True,
                                                                                   hierarchy_embedding=False)])
def test_own_format_round_trip_keeps_config_and_weights(tmp_path, overrides):
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=3, heads=4, **overrides))
    save_checkpoint(model, tmp_path / "m.safetensors")
    again = load_checkpoint(tmp_path / "m.safetensors")
    assert again.config == model.config and _same_weights(model, again)
    assert read_metadata(tmp_path / "m.safetensors")["format_version"] == "1"


def test_a_training_checkpoint_loads_as_its_model(tmp_path):
    from ddhpose.training.state import save_training_state
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4, diffusion="xyz"))
    opt = torch.optim.AdamW(model.parameters())
    progress = dict(epoch=1, step=0, global_step=5, lr=1e-4, best_metric=None, best_epoch=None, history=[])
    save_training_state(tmp_path / "last.pt", model=model, optimizer=opt, progress=progress,
                        config={"model": model.config.to_dict()})
    again = load_checkpoint(tmp_path / "last.pt")
    assert again.config == model.config and _same_weights(model, again)
    save_training_state(tmp_path / "bad.pt", model=model, optimizer=opt, progress=progress, config={})
    with pytest.raises(CheckpointError, match="bad.pt: training checkpoint without a valid model config"):
        load_checkpoint(tmp_path / "bad.pt")


def test_conversion_both_ways_is_exact(tmp_path):
    original = load_checkpoint(RELEASED)
    convert(RELEASED, tmp_path / "m.safetensors")
    convert(tmp_path / "m.safetensors", tmp_path / "back.bin")
    assert _same_weights(original, load_checkpoint(tmp_path / "back.bin"))
    a, b = load_torch_file(RELEASED)["model_pos"], load_torch_file(tmp_path / "back.bin")["model_pos"]
    assert a.keys() == b.keys()  # the authors' loader finds every name it expects
    assert all(torch.equal(a[k].double(), b[k].double()) for k in a if "STEblocks." not in k or "qkv_xc" not in k)


def test_export_of_an_ablation_without_hierarchy_has_no_group(tmp_path):
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4, hierarchy_embedding=False))
    export_released(model, tmp_path / "m.bin")
    assert not any(k.endswith(".group") for k in load_torch_file(tmp_path / "m.bin")["model_pos"])
    assert _same_weights(model, load_checkpoint(tmp_path / "m.bin", hierarchy_embedding=False))


def test_truncated_and_garbage_files_are_clear_errors(tmp_path):
    data = RELEASED.read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.bin")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(tmp_path / "junk.safetensors")


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    state = load_torch_file(RELEASED)
    state["model_pos"] = {k: v for k, v in state["model_pos"].items() if "head_pose" not in k}
    torch.save(state, tmp_path / "other_h36m.bin")
    with pytest.raises(CheckpointError, match="head"):
        load_checkpoint(tmp_path / "other_h36m.bin")
    with pytest.raises(CheckpointError, match="joints"):
        load_checkpoint(RELEASED, parents=(-1, 0, 1), joints_left=(), joints_right=())


def test_safetensors_without_config_and_overrides_on_own_format(tmp_path):
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="ddhpose_config"):
        load_checkpoint(tmp_path / "plain.safetensors")
    save_checkpoint(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), tmp_path / "m.safetensors")
    with pytest.raises(CheckpointError, match="released checkpoints only"):
        load_checkpoint(tmp_path / "m.safetensors", heads=2)
