"""The denoiser: HRST / HRTT against naive forms, ablation switches, shapes and input checks."""
import pytest
import torch

from ddhpose.model.attention import Attention, apply_hrst, hrst_map, hrst_naive
from ddhpose.model.blocks import Block
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.denoiser import child_average_matrix, child_features
from ddhpose.skeleton import H36M, MPI_INF_3DHP
from ddhpose.training.losses import pose_losses

TINY = dict(frames=9, channels=32, depth=2, heads=4)
ABLATIONS = {
    "ddhpose": {},
    "xyz": dict(diffusion="xyz"),
    "disentangled_output": dict(disentangled_output=True),
    "xyz_disentangled_output": dict(diffusion="xyz", disentangled_output=True),
    "no_hierarchy_embedding": dict(hierarchy_embedding=False),
    "no_hrst": dict(hrst=False),
    "no_hrtt": dict(hrtt=False),
    "baseline": dict(hierarchy_embedding=False, hrst=False, hrtt=False),
    "3dhp": dict(skeleton="3dhp"),
}


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def tiny_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return DDHPose(ModelConfig(**TINY, **overrides))


def inputs(b=2, f=9, h=None, seed=1):
    g = gen(seed)
    lead = (b, f) if h is None else (b, h, f)
    x2d = torch.randn(b, f, 17, 2, generator=g)
    return x2d, torch.randn(*lead, 17, 3, generator=g), torch.randn(*lead, 17, 1, generator=g), torch.tensor([5, 700])[:b]


# ------------------------------------------------------------------ HRST


#: the released bone chains, written out as the release has them (mixste_ddhpose.py's
#: bonechain for Human3.6M, mixste_ddhpose_3dhp.py's for MPI-INF-3DHP), not derived here
RELEASED_CHAINS = {
    "h36m": [[0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9, 10], [0, 7, 8, 11, 12, 13], [0, 7, 8, 14, 15, 16]],
    "3dhp": [[14, 8, 9, 10], [14, 11, 12, 13], [14, 15, 1, 0], [14, 15, 1, 2, 3, 4], [14, 15, 1, 5, 6, 7],
             [14, 15, 1, 16]],
}


def released_hrst_loop(attn: torch.Tensor, bonechain, once: bool = False) -> torch.Tensor:
    """Attention_xxc.forward's loop of the release, on a copy (independent of the package's
    own triplet list); ``once`` skips a (pp, p, c) already visited (the paper read literally)."""
    attn, seen = attn.clone(), set()
    for chain in bonechain:
        for idx in range(1, len(chain) - 1):
            ppidx, pidx, cidx = chain[idx - 1], chain[idx], chain[idx + 1]
            if once and (ppidx, pidx, cidx) in seen:
                continue
            seen.add((ppidx, pidx, cidx))
            attn[:, :, pidx, cidx] = (attn[:, :, pidx, cidx] + attn[:, :, ppidx, pidx]) / 2.0
            attn[:, :, cidx, pidx] = (attn[:, :, cidx, pidx] + attn[:, :, ppidx, pidx]) / 2.0
    return attn


@pytest.mark.parametrize("skeleton", [H36M, MPI_INF_3DHP], ids=["h36m", "3dhp"])
def test_hrst_map_equals_sequential_loop(skeleton):
    logits = torch.randn(3, 4, 17, 17, generator=gen(), dtype=torch.float64)
    assert [list(c) for c in skeleton.chains] == RELEASED_CHAINS[skeleton.name]
    dst, src, weight = hrst_map(skeleton)
    out = apply_hrst(logits, dst, src, weight)
    expected = released_hrst_loop(logits, RELEASED_CHAINS[skeleton.name])
    assert torch.allclose(out, expected, atol=1e-12, rtol=0)
    assert torch.allclose(hrst_naive(logits, skeleton), expected, atol=1e-12, rtol=0)
    changed = (out != logits).flatten(-2).any(0).any(0)
    assert set(torch.nonzero(changed).flatten().tolist()) <= set(dst.tolist())
    assert len(dst) == 2 * sum(len(c) - 2 for c in skeleton.chains) - _shared_updates(skeleton)


def _shared_updates(skeleton):
    """Entries updated by more than one chain count once in ``dst``."""
    seen, repeats = set(), 0
    for chain in skeleton.chains:
        for k in range(1, len(chain) - 1):
            for entry in ((chain[k], chain[k + 1]), (chain[k + 1], chain[k])):
                repeats += entry in seen
                seen.add(entry)
    return repeats


def test_hrst_shared_prefix_is_updated_once_per_chain():
    """H36M's 0-7-8 prefix belongs to three chains: A[7, 8] <- (A[7, 8] + A[0, 7]) / 2 three
    times, so A[7, 8] = 8, A[0, 7] = 0 ends at 1 (method section 4, in place, sequential)."""
    logits = torch.zeros(17, 17, dtype=torch.float64)
    logits[7, 8] = 8.0
    out = apply_hrst(logits, *hrst_map(H36M))
    assert out[7, 8].item() == pytest.approx(1.0)
    # chain [0, 7, 8, 9, 10]: A[8, 9] <- (A[8, 9] + A[7, 8]) / 2 read A[7, 8] after one update (4)
    assert out[8, 9].item() == pytest.approx(2.0)


@pytest.mark.parametrize("skeleton", [H36M, MPI_INF_3DHP], ids=["h36m", "3dhp"])
def test_hrst_once_per_triplet_updates_a_shared_prefix_once(skeleton):
    """The paper's reading (config hrst_updates='triplet'): the shared 0-7-8 triplet moves
    A[7, 8] once, (8 + 0) / 2 = 4; the map still equals its loop."""
    logits = torch.randn(1, 2, 17, 17, generator=gen(3), dtype=torch.float64)
    once = apply_hrst(logits, *hrst_map(skeleton, once=True))
    assert torch.allclose(once, released_hrst_loop(logits, RELEASED_CHAINS[skeleton.name], once=True), atol=1e-12,
                          rtol=0)
    assert not torch.allclose(once, apply_hrst(logits, *hrst_map(skeleton)))
    if skeleton is H36M:
        single = torch.zeros(17, 17, dtype=torch.float64)
        single[7, 8] = 8.0
        assert apply_hrst(single, *hrst_map(H36M, once=True))[7, 8].item() == pytest.approx(4.0)


def test_model_switches_build_the_variants():
    from ddhpose.model.config import ModelConfig
    from ddhpose.model.denoiser import HSTDenoiser
    base = dict(frames=9, channels=32, depth=2, heads=4)
    torch.manual_seed(0)
    released = HSTDenoiser(ModelConfig(**base, init="released"))
    assert torch.count_nonzero(released.spatial_pos) == 0 and torch.count_nonzero(released.temporal_pos) == 0
    # PyTorch's default Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases non-zero
    fc1 = released.spatial_blocks[1].mlp.fc1
    assert fc1.weight.abs().max() <= 32 ** -0.5 and fc1.weight.std() > 0.1 and fc1.bias.abs().sum() > 0
    ours = HSTDenoiser(ModelConfig(**base))
    assert ours.spatial_pos.std().item() == pytest.approx(0.02, rel=0.3) and ours.spatial_blocks[1].mlp.fc1.bias.abs().sum() == 0
    once = HSTDenoiser(ModelConfig(**base, hrst_updates="triplet")).spatial_blocks[1].attn
    chain = ours.spatial_blocks[1].attn
    assert not torch.equal(once.hrst_weight, chain.hrst_weight) or not torch.equal(once.hrst_src, chain.hrst_src)
    with pytest.raises(ValueError, match="hrst_updates"):
        ModelConfig(**base, hrst_updates="sometimes")


def test_hrst_attention_equals_explicit():
    torch.manual_seed(0)
    attn = Attention(16, 2, skeleton=H36M)
    x = torch.randn(3, 17, 16)
    q, k, v = attn.qkv(x).view(3, 17, 3, 2, 8).permute(2, 0, 3, 1, 4)
    logits = hrst_naive(q @ k.transpose(-2, -1) / 8 ** 0.5, H36M)
    expected = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(3, 17, 16))
    assert torch.allclose(attn(x), expected, atol=1e-5)


# ------------------------------------------------------------------ HRTT


def test_hrtt_fused_equals_explicit():
    torch.manual_seed(0)
    attn = Attention(16, 2, child_keys=True)
    x, xc = torch.randn(2, 3, 5, 16).unbind(0)
    q, k, v = attn.qkv(x).view(3, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    kc = attn.qkv_xc(xc).view(3, 5, 2, 8).transpose(1, 2)
    logits = (q @ k.transpose(-2, -1) + q @ kc.transpose(-2, -1)) / 8 ** 0.5
    expected = attn.proj((logits.softmax(-1) @ v).transpose(1, 2).reshape(3, 5, 16))
    assert torch.allclose(attn(x, xc), expected, atol=1e-5)
    with pytest.raises(ValueError, match="child features"):
        attn(x)


def test_hrtt_block_normalises_child_features_with_norm1():
    torch.manual_seed(0)
    block = Block(16, 2, 2.0, 0.0, child_keys=True)
    x, xc = torch.randn(2, 3, 5, 16).unbind(0)
    y = x + block.attn(block.norm1(x), block.norm1(xc))
    expected = y + block.mlp(block.norm2(y))
    assert torch.allclose(block(x, xc), expected, atol=1e-6)


def test_child_features_released_layout():
    """Token (b, j, f) takes the child mean at flat position j * F + f of clip b's (F, J) grid."""
    b, j, f, c = 2, 17, 5, 3
    x = torch.randn(b, j, f, c, generator=gen(), dtype=torch.float64)
    out = child_features(x, child_average_matrix(H36M.children).double())
    assert out.shape == (b * j, f, c)
    for bi in range(b):
        for ji in range(j):
            for fi in range(f):
                src_f, src_j = divmod(ji * f + fi, j)
                group = (src_j,) + H36M.children[src_j]
                expected = x[bi, list(group), src_f].mean(0)
                assert torch.allclose(out[bi * j + ji, fi], expected)


# ------------------------------------------------------------------ ablations


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablation_forward_backward_and_sample(name):
    model = tiny_model(**ABLATIONS[name])
    cfg = model.config
    den = model.denoiser
    assert (den.hierarchy is not None) == cfg.hierarchy_embedding
    assert all(b.attn.hrst == cfg.hrst for b in den.spatial_blocks[1:]) and not den.spatial_blocks[0].attn.hrst
    assert all((b.attn.qkv_xc is not None) == cfg.hrtt for b in den.temporal_blocks[1:])
    assert den.embed.in_features == (6 if cfg.diffusion == "disentangled" else 5)

    x2d, _, _, _ = inputs()
    y3d = torch.randn(2, 9, 17, 3, generator=gen(2)) * 0.2
    y3d[..., model.skeleton.root, :] = 0
    model.train()
    pred = model(x2d, y3d, generator=gen(3))
    assert pred.shape == (2, 9, 17, 3)
    pose_losses(pred, y3d, model.skeleton)["total"].backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    assert den.embed.weight.grad.abs().sum() > 0

    model.eval()
    out = model.sample(x2d, hypotheses=2, iterations=2, generator=gen(4))
    assert out.shape == (2, 2, 2, 9, 17, 3) and torch.isfinite(out).all()


def test_switches_change_the_output():
    x2d, xd, xl, t = inputs()
    base = tiny_model().denoiser.eval()
    with torch.no_grad():
        # default init gives near-uniform attention; make logits large, as trained models have
        for name, param in base.named_parameters():
            if "qkv" in name:
                param.mul_(15)
        base.hierarchy.normal_(generator=gen(5))  # zero-initialised
        for over in (dict(hrst=False), dict(hrtt=False), dict(hierarchy_embedding=False)):
            other = tiny_model(**over).denoiser.eval()
            other.load_state_dict(base.state_dict(), strict=False)
            assert (base(x2d, xd, xl, t) - other(x2d, xd, xl, t)).abs().max() > 2e-4, over


@torch.no_grad()
def test_xyz_model_takes_the_noisy_pose():
    """xyz diffusion: the noisy joints are the denoiser's only 3D input (5 channels with the 2D);
    changing one joint's noisy position changes the prediction."""
    model = tiny_model(diffusion="xyz").eval()
    x2d, xd, _, t = inputs()
    out = model.denoiser(x2d, xd, None, t)
    assert out.shape == (2, 9, 17, 3) and model.denoiser.embed.in_features == 5
    moved = xd.clone()
    moved[:, :, 5] += 0.5
    assert (model.denoiser(x2d, moved, None, t) - out).abs().max() > 1e-3
    with pytest.raises(ValueError, match="noisy_len=None"):
        model.denoiser(x2d, xd, torch.zeros(2, 9, 17, 1), t)


# ------------------------------------------------------------------ shapes


@torch.no_grad()
def test_hypothesis_axis_equals_per_hypothesis_loop():
    den = tiny_model().denoiser.eval()
    x2d, xd, xl, t = inputs(h=3)
    out = den(x2d, xd, xl, t)
    assert out.shape == (2, 3, 9, 17, 3)
    loop = torch.stack([den(x2d, xd[:, h], xl[:, h], t) for h in range(3)], dim=1)
    assert torch.allclose(out, loop, atol=1e-5)


@torch.no_grad()
def test_batch_elements_are_independent():
    den = tiny_model().denoiser.eval()
    x2d, xd, xl, t = inputs()
    both = den(x2d, xd, xl, t)
    one = den(x2d[1:], xd[1:], xl[1:], t[1:])
    assert torch.allclose(both[1:], one, atol=1e-5)


@torch.no_grad()
def test_fewer_frames_than_the_model_window():
    """A 9-frame model on 5 frames is the 5-frame model with the first 5 temporal position
    embeddings (and every other weight the same)."""
    den = tiny_model().denoiser.eval()
    x2d, xd, xl, t = inputs(f=5)
    out = den(x2d, xd, xl, t)
    assert out.shape == (2, 5, 17, 3)
    five = DDHPose(ModelConfig(**{**TINY, "frames": 5})).denoiser.eval()
    five.load_state_dict({k: v[:, :5] if k == "temporal_pos" else v for k, v in den.state_dict().items()})
    assert torch.allclose(out, five(x2d, xd, xl, t), atol=1e-6)
    assert not torch.allclose(out, den(x2d, xd, xl, t.flip(0)), atol=1e-3)  # the step conditions it


def test_bad_inputs_raise_clear_errors():
    den = tiny_model().denoiser.eval()
    x2d, xd, xl, t = inputs()
    with pytest.raises(ValueError, match=r"x2d: expected \(B, F, 17, 2\)"):
        den(x2d[:, :, :16], xd, xl, t)
    with pytest.raises(ValueError, match="noisy_dir"):
        den(x2d, xd[:, :8], xl, t)
    with pytest.raises(ValueError, match="noisy_len"):
        den(x2d, xd, xl[..., :16, :], t)
    with pytest.raises(ValueError, match="noisy_len"):
        den(x2d, xd, None, t)
    with pytest.raises(ValueError, match="t: expected"):
        den(x2d, xd, xl, t[:1])
    with pytest.raises(ValueError, match="at most 9"):
        den(*inputs(f=10))
    model = tiny_model()
    with pytest.raises(ValueError, match="hypotheses"):
        model.sample(x2d, hypotheses=0)
    with pytest.raises(ValueError, match="x2d contains NaN"):
        model.sample(torch.full_like(x2d, float("nan")))
    with pytest.raises(ValueError, match="recorded noise"):
        model.sample(x2d, hypotheses=2, noise=[torch.zeros(2, 1, 9, 17, 3), torch.zeros(2, 1, 9, 17, 1)])


def test_bfloat16_autocast():
    model = tiny_model()
    den = model.denoiser.eval()
    x2d, xd, xl, t = inputs()
    with torch.no_grad():
        ref = den(x2d, xd, xl, t)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = den(x2d, xd, xl, t)
    assert out.shape == (2, 9, 17, 3) and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()
    out.float().square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in den.parameters() if p.grad is not None)
    assert den.spatial_blocks[1].attn.qkv.weight.grad.abs().sum() > 0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        samples = model.sample(x2d, hypotheses=2, iterations=2, generator=gen())
    assert samples.shape == (2, 2, 2, 9, 17, 3)
    assert samples.dtype == torch.float32 and torch.isfinite(samples).all()


def test_sampling_in_chunks_gives_the_same_poses():
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)).eval()
    x2d = torch.randn(5, 9, 17, 2)
    whole = model.sample(x2d, hypotheses=3, iterations=2, generator=torch.Generator().manual_seed(1), chunk=0)
    parts = model.sample(x2d, hypotheses=3, iterations=2, generator=torch.Generator().manual_seed(1), chunk=2)
    assert torch.allclose(whole, parts, atol=1e-6)


def test_cpu_chunk_heuristic_and_samples_default_to_it(monkeypatch):
    from ddhpose.model.chunking import cpu_chunk
    assert [cpu_chunk(h, "cpu") for h in (1, 2, 3, 5, 10, 11, 20)] == [10, 5, 3, 2, 1, 1, 1]
    assert cpu_chunk(3, torch.device("cuda", 0)) == cpu_chunk(1, "cuda") == 0  # the whole batch
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)).eval()
    sizes = []
    real = model.denoiser.forward
    monkeypatch.setattr(model.denoiser, "forward", lambda x2d, *a: sizes.append(x2d.shape[0]) or real(x2d, *a))
    model.sample(torch.randn(4, 9, 17, 2), hypotheses=3, iterations=1, generator=gen())  # chunk=None on a CPU
    assert sizes == [3, 3, 2]  # 8 clips (flip doubles 4) of 3 hypotheses, cpu_chunk(3, 'cpu') clips a call
