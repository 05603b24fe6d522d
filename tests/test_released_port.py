"""The benchmark's baseline (benchmarks/released_port.py, a port of the released code) computes
what ddhpose computes: the same denoiser output, sampler output (recorded noise), training loss
and gradients, with the released checkpoint loaded into both. The speed comparison in
benchmarks/speed.py is only meaningful because of this."""
from pathlib import Path

import pytest
import torch

from ddhpose.model.attention import hrst_naive
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.released import released_state_dict
from ddhpose.safe_pickle import load_torch_file
from ddhpose.skeleton import H36M
from ddhpose.training.losses import pose_losses
from scripts import load_script

FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINT = FIXTURES / "official_h36m_f27.bin"
TOL = 1e-5


rp = load_script("benchmarks/released_port.py")


@pytest.fixture(scope="module")
def port():
    return rp.load_released_port(CHECKPOINT)


@pytest.fixture(scope="module")
def ours():
    return load_checkpoint(CHECKPOINT)


def max_err(a, b):
    return (a.double() - b.double()).abs().max().item()


def test_port_loads_every_released_tensor(port):
    state = {k.removeprefix("module."): v for k, v in load_torch_file(CHECKPOINT)["model_pos"].items()}
    assert set(port.state_dict()) == set(state)
    assert port.alphas_cumprod.dtype == torch.float64  # the released buffers; float32 moves samples by 1e-4
    assert (port.dir_bone_estimator.sizes["frames"], port.dir_bone_estimator.sizes["depth"]) == (27, 4)


@torch.no_grad()
def test_denoiser_outputs_equal(port, ours, ref):
    a = port.dir_bone_estimator(ref["x2d"], ref["x_dir_t"], ref["x_len_t"], ref["t_train"])
    b = ours.denoiser(ref["x2d"], ref["x_dir_t"], ref["x_len_t"], ref["t_train"])
    assert a.shape == b.shape == (2, 27, 17, 3)
    assert max_err(a, b) < TOL
    assert max_err(a, ref["pred_train"]) < TOL
    a = port.dir_bone_estimator(ref["x2d"], ref["xd_h"], ref["xl_h"], ref["t_h"])
    b = ours.denoiser(ref["x2d"], ref["xd_h"], ref["xl_h"], ref["t_h"])
    assert a.shape == b.shape == (2, 3, 27, 17, 3)
    assert max_err(a, b) < TOL


@torch.no_grad()
def test_sampler_outputs_equal(port, ours, ref):
    noise = [ref[f"sample_noise_{i:02d}"] for i in range(6)]
    kept = [n.clone() for n in noise]
    a = port.ddim_sample(ref["x2d"], hypotheses=3, iterations=3, flip=True, noise=noise)
    b = ours.sample(ref["x2d"], hypotheses=3, iterations=3, flip=True, noise=noise)
    assert all(torch.equal(n, k) for n, k in zip(noise, kept))  # the port must not write into the draws
    assert a.shape == b.shape == (2, 3, 3, 27, 17, 3)
    assert max_err(a, b) < TOL
    a[..., 0, :] = 0
    assert max_err(a, ref["samples"]) < TOL
    # the comparison has teeth: without the flip pass the port is far off
    c = port.ddim_sample(ref["x2d"], hypotheses=3, iterations=3, flip=False, noise=noise)
    assert max_err(c, b) > 1e-3


def test_training_loss_and_gradients_equal(port, ours, ref):
    port.zero_grad(set_to_none=True)
    ours.zero_grad(set_to_none=True)
    noise = [ref["noise_dir"], ref["noise_len"]]
    pred_a = port.training_prediction(ref["x2d"], ref["y3d"], ref["t_train"], *noise)
    loss_a = rp.released_loss(pred_a, ref["y3d"], port.bones)
    inputs = ours.noisy_inputs(ref["y3d"], ref["t_train"], noise)
    pred_b = ours.denoiser(ref["x2d"], *inputs, ref["t_train"])
    loss_b = pose_losses(pred_b, ref["y3d"], H36M)["total"]
    assert abs(loss_a.item() - loss_b.item()) < TOL
    assert abs(loss_a.item() - sum(ref[f"loss_{k}"].item() for k in ("pos", "len", "dir"))) < TOL
    loss_a.backward()
    loss_b.backward()
    grads = {f"module.{k}": p.grad for k, p in port.named_parameters() if p.grad is not None}
    grads_a, _ = released_state_dict(grads)
    grads_b = {k: p.grad for k, p in ours.denoiser.named_parameters()}
    assert set(grads_a) == set(grads_b)
    # float32 sums over thousands of tokens in a different order: equal to 1e-4 relative
    for k, g in grads_b.items():
        assert max_err(grads_a[k], g) <= 1e-4 * g.abs().max().item() + 1e-7, k


def test_hrst_loop_of_the_port_is_algorithm_1():
    torch.manual_seed(0)
    attn = rp.Attention(16, 2, chains=H36M.chains)
    x = torch.randn(3, 17, 16)
    q, k, _ = attn.qkv(x).reshape(3, 17, 3, 2, 8).permute(2, 0, 3, 1, 4)
    logits = hrst_naive((q @ k.transpose(-2, -1)) * attn.scale, H36M)
    v = attn.qkv(x)[..., 32:].reshape(3, 17, 2, 8).transpose(1, 2)
    expected = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(3, 17, 16))
    assert max_err(attn(x), expected) < 1e-6


@torch.no_grad()
def test_to_ddhpose_copies_random_weights():
    torch.manual_seed(1)
    port = rp.ReleasedDDHPose(H36M, frames=9, channels=16, depth=3, heads=2).eval()
    for p in port.parameters():  # make every parameter matter (zero-initialised ones included)
        p.add_(torch.randn_like(p) * 0.05)
    ours = rp.to_ddhpose(port)
    assert (ours.config.frames, ours.config.channels, ours.config.depth, ours.config.heads) == (9, 16, 3, 2)
    assert not ours.training
    x2d, xd, xl = torch.randn(2, 9, 17, 2), torch.randn(2, 4, 9, 17, 3), torch.randn(2, 4, 9, 17, 1)
    t = torch.tensor([5, 700])
    assert max_err(port.dir_bone_estimator(x2d, xd, xl, t), ours.denoiser(x2d, xd, xl, t)) < TOL
    gen = torch.Generator().manual_seed(3)
    noise = [torch.randn(2, 4, 9, 17, 3, generator=gen), torch.randn(2, 4, 9, 17, 1, generator=gen),
             torch.randn(2, 4, 9, 16, 3, generator=gen), torch.randn(2, 4, 9, 16, 1, generator=gen)]
    a = port.ddim_sample(x2d, hypotheses=4, iterations=2, noise=noise)
    assert max_err(a, ours.sample(x2d, hypotheses=4, iterations=2, noise=noise)) < TOL
