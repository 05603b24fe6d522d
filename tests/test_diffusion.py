"""Noise schedule, forward noising, DDIM time steps, noise replay and the sampler loop."""
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.geometry import decompose
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.diffusion import (SCHEDULE_TABLES, DDIMSampler, NoiseSchedule, NoiseSource, cosine_alphas_cumprod,
                                     ddim_timesteps, q_sample, schedule_tables)
from ddhpose.safe_pickle import load_torch_file
from ddhpose.skeleton import H36M

TINY = dict(frames=9, channels=32, depth=2, heads=4)
FIXTURES = Path(__file__).parent / "fixtures"


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ schedule


def test_cosine_schedule_values():
    abar = cosine_alphas_cumprod(1000)
    assert abar.dtype == torch.float64 and abar.shape == (1000,)
    x = np.linspace(0, 1000, 1001)
    f = np.cos(((x / 1000) + 0.008) / 1.008 * math.pi / 2) ** 2
    f = f / f[0]
    betas = np.clip(1 - f[1:] / f[:-1], 0, 0.999)
    assert np.allclose(abar.numpy(), np.cumprod(1 - betas), rtol=0, atol=1e-15)
    assert abar[0] > 0.9999 and abar[-1] < 1e-6
    assert torch.all(abar[1:] < abar[:-1])
    assert betas[-1] == 0.999  # the clip bites at the end of the cosine schedule


def test_schedule_module_broadcasts():
    schedule = NoiseSchedule(1000)
    t = torch.tensor([0, 999])
    a = schedule.abar(t, torch.zeros(2, 4, 17, 3))
    assert a.shape == (2, 1, 1, 1) and a.dtype == torch.float32
    assert a.flatten().tolist() == pytest.approx(cosine_alphas_cumprod(1000)[[0, 999]].tolist(), rel=1e-6)
    assert "alphas_cumprod" not in schedule.state_dict()


# sha256 of schedule_tables(1000), every table's float64 bytes in SCHEDULE_TABLES order
SCHEDULE_SHA256 = "835c93171873d76a64d251bed554d11e297f3b42c0f82df3b7efd3afdca0861a"


def test_schedule_tables_have_the_same_bits_on_every_cpu():
    """Python floats: IEEE-754 basic operations (exact by the standard), correctly rounded sqrt,
    and glibc's cos and log (one code path on every x86-64 CPU with FMA). torch's float64 sqrt
    of a 1000-entry tensor goes through MKL's vector math and differs between Intel and AMD."""
    tables = schedule_tables(1000)
    digest = hashlib.sha256(b"".join(tables[k].numpy().tobytes() for k in SCHEDULE_TABLES)).hexdigest()
    assert digest == SCHEDULE_SHA256
    abar = tables["alphas_cumprod"]
    assert torch.equal(tables["sqrt_alphas_cumprod"], torch.tensor([math.sqrt(a) for a in abar.tolist()],
                                                                   dtype=torch.float64))


@pytest.mark.parametrize("name", ["official_h36m_f27", "official_3dhp_f27"])
def test_a_released_checkpoint_keeps_its_own_schedule(name):
    """The release samples with the tables saved in its checkpoint (computed by torch on the
    machine that trained it); ours are within a few float64 ulps of them (relative 1e-13: the
    cancellation in 1 - abar(t+1) / abar(t) magnifies one ulp of cos in the smallest betas),
    and a loaded model carries the saved ones bit for bit."""
    saved = load_torch_file(FIXTURES / f"{name}.bin")["model_pos"]
    model, computed = load_checkpoint(FIXTURES / f"{name}.bin"), schedule_tables(1000)
    for key in SCHEDULE_TABLES:
        assert torch.equal(getattr(model.schedule, key), saved[f"module.{key}"]), key
        assert torch.allclose(computed[key], saved[f"module.{key}"], rtol=1e-13, atol=0), key
    with pytest.raises(ValueError, match="not the cosine schedule"):
        NoiseSchedule(1000, {"alphas_cumprod": computed["alphas_cumprod"] * (1 + 1e-6)})


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_q_sample_formula_and_clamp(scale):
    schedule = NoiseSchedule(1000)
    g = gen()
    x0, eps = torch.randn(2, 2, 27, 17, 3, generator=g, dtype=torch.float64).unbind(0)
    t = torch.tensor([10, 600])
    a = cosine_alphas_cumprod(1000)[t].view(2, 1, 1, 1)
    raw = a.sqrt() * (scale * x0) + (1 - a).sqrt() * eps
    expected = raw.clamp(-1.1 * scale, 1.1 * scale) / scale
    out = q_sample(x0, t, eps, schedule, scale)
    assert torch.allclose(out, expected, atol=1e-12)
    assert out.abs().max() <= 1.1 + 1e-12 and (raw.abs() > 1.1 * scale).any()


def _released_clean_states(y: torch.Tensor, bones) -> tuple[torch.Tensor, torch.Tensor]:
    """Directions and lengths in bone slots, computed as the release's getbonedirect /
    getbonelength (pow-based norm; child slots, root slot 0)."""
    vec = torch.stack([y[..., c, :] - y[..., p, :] for p, c in bones], -2)
    length = torch.pow(torch.pow(vec, 2).sum(-1), 0.5)
    direction, size = torch.zeros(*y.shape[:-1], 3), torch.zeros(*y.shape[:-1], 1)
    children = [c for _, c in bones]
    direction[..., children, :] = vec / length.unsqueeze(-1)
    size[..., children, :] = length.unsqueeze(-1)
    return direction, size


@pytest.mark.parametrize("name", ["official_h36m_f27", "official_3dhp_f27", "official_3dhp_f27_scale2"])
def test_q_sample_has_the_release_float64_scope(name):
    """The release multiplies float32 states by (B, 1, 1, 1)-shaped float64 buffers, so its noisy
    inputs are computed in float64 and cast back: float64=True is the release's expression bit
    for bit (on the same machine); float32 arithmetic is not.

    Against the recorded x_t: the release's clean states came from torch.pow(., 0.5), which MKL
    computes within an ulp but with CPU-dependent last bits, so a direction or length rebuilt here
    may be 1.5 float32 ulps from the one recorded. Each x_t is therefore within one ulp of itself
    plus 2^-22 of sqrt(abar) |x0| (the clean part it carries) of the recording; the noise part
    carries no such error. On the machine that recorded them the values are equal."""
    with np.load(FIXTURES / f"{name}.npz") as data:
        ref = {k: torch.from_numpy(data[k]) for k in ("y3d", "t_train", "noise_dir", "noise_len", "x_dir_t",
                                                       "x_len_t", "scale")}
        bones = [tuple(b) for b in data["boneindex"].tolist()] if "boneindex" in data.files else \
            [(p, c) for c, p in enumerate(H36M.parents) if p >= 0]
    # the tables the release computed and saved with these weights, which it samples with
    scale, schedule = float(ref["scale"]), load_checkpoint(FIXTURES / f"{name}.bin").schedule
    t = ref["t_train"]
    direction, length = _released_clean_states(ref["y3d"], bones)
    for x0, noise, recorded in ((direction, ref["noise_dir"], ref["x_dir_t"]), (length, ref["noise_len"], ref["x_len_t"])):
        root_a = schedule.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1)  # the release's extract()
        root_1ma = schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)
        released = ((root_a * (x0 * scale) + root_1ma * noise).clamp(-1.1 * scale, 1.1 * scale) / scale).float()
        ours = q_sample(x0, t, noise, schedule, scale, float64=True)
        assert ours.dtype == torch.float32 and torch.equal(ours, released)
        float32 = q_sample(x0, t, noise, schedule, scale, float64=False)
        assert float32.dtype == torch.float32 and int((float32 != released).sum()) > 50
        ulp = torch.nextafter(recorded.abs(), torch.tensor(2.0)) - recorded.abs()
        assert ((ours - recorded).abs() <= ulp + 2.0 ** -22 * root_a * x0.abs()).all()


# ------------------------------------------------------------------ DDIM


@pytest.mark.parametrize("w, expected", [
    (1, [(999, -1)]),
    (3, [(999, 665), (665, 332), (332, -1)]),
    (5, [(999, 799), (799, 599), (599, 399), (399, 199), (199, -1)]),
])
def test_ddim_timesteps(w, expected):
    assert ddim_timesteps(1000, w) == expected


def test_ddim_timesteps_rejects_zero():
    with pytest.raises(ValueError, match="iterations"):
        ddim_timesteps(1000, 0)


def test_step_coefficients_and_noise_prediction():
    sampler = DDIMSampler(NoiseSchedule(1000))
    abar = cosine_alphas_cumprod(1000)
    a_next_sqrt, c, sigma = sampler.step_coefficients(665, 332)
    assert a_next_sqrt == pytest.approx(abar[332].sqrt().item())
    assert c ** 2 + sigma ** 2 == pytest.approx(1 - abar[332].item())
    a, an = abar[665].item(), abar[332].item()
    assert sigma == pytest.approx(math.sqrt((1 - a / an) * (1 - an) / (1 - a)))
    assert DDIMSampler(NoiseSchedule(1000), eta=0.0).step_coefficients(665, 332)[2] == 0.0
    x0, eps = torch.randn(2, 5, 3, generator=gen(), dtype=torch.float64)
    xt = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    assert torch.allclose(sampler.predict_noise(xt, x0, 665), eps, atol=1e-9)


def _released_buffers(schedule: NoiseSchedule, t: int, ndim: int, batch: int = 2):
    """sqrt(1 / abar_t) and sqrt(1 / abar_t - 1) as the release's extract() gives them: float64,
    shaped (B, 1, ...) from a (B,) step tensor."""
    index = torch.full((batch,), t)
    shape = (batch, *([1] * (ndim - 1)))
    return schedule.sqrt_recip_alphas_cumprod.gather(-1, index).reshape(shape), \
        schedule.sqrt_recipm1_alphas_cumprod.gather(-1, index).reshape(shape)


@pytest.mark.parametrize("t, t_next", [(999, 665), (665, 332)])
def test_ddim_update_has_the_release_float64_scope(t, t_next):
    """ddhpose_3dhp.py / ddhpose.py: eps = (sqrt_recip[t] x_t - x0) / sqrt_recipm1[t] with (B, 1, ...)
    float64 buffers (float64), then x_start * alpha_next.sqrt() + c * eps + sigma * noise with
    0-dim float64 alpha, c, sigma: the first and last products stay float32. The release's
    expressions, written out here with torch's own promotion, give the sampler's values bit for
    bit; an update wholly in float64, or wholly in float32, does not."""
    sampler = DDIMSampler(NoiseSchedule(1000))
    abar = sampler.schedule.alphas_cumprod
    g = gen(3)
    xt, x0, z = (torch.randn(2, 3, 27, 16, 3, generator=g) * 0.7 for _ in range(3))
    recip, recipm1 = _released_buffers(sampler.schedule, t, xt.ndim)
    released_eps = (recip * xt - x0) / recipm1
    assert released_eps.dtype == torch.float64
    eps = sampler.predict_noise(xt.double(), x0.double(), t)
    assert torch.equal(eps, released_eps)
    alpha, alpha_next = abar[t], abar[t_next]  # 0-dim float64 tensors
    sigma = 1.0 * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
    c = (1 - alpha_next - sigma ** 2).sqrt()
    released = x0 * alpha_next.sqrt() + c * eps + sigma * z
    assert released.dtype == torch.float64
    ours = sampler.update_state(x0, eps, z, t, t_next)
    assert torch.equal(ours.float(), released.float())
    all_float64 = x0.double() * alpha_next.sqrt() + c * eps + sigma * z.double()
    all_float32 = DDIMSampler(NoiseSchedule(1000), float64=False).update_state(x0, eps.float(), z, t, t_next)
    assert not torch.equal(all_float64.float(), released.float())
    assert not torch.equal(all_float32, released.float())


# ------------------------------------------------------------------ noise


def test_noise_source_replay_and_errors():
    like = torch.zeros(1)
    drawn = NoiseSource(generator=gen(7))
    a, b = drawn.draw((2, 3), like), drawn.draw((4,), like)
    g = gen(7)
    assert torch.equal(a, torch.randn(2, 3, generator=g)) and torch.equal(b, torch.randn(4, generator=g))
    replay = NoiseSource([a, b])
    assert torch.equal(replay.draw((2, 3), like), a) and torch.equal(replay.draw((4,), like), b)
    with pytest.raises(ValueError, match="shorter"):
        replay.draw((4,), like)
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\)"):
        NoiseSource([b]).draw((2, 3), like)


@pytest.mark.parametrize("diffusion", ["disentangled", "xyz"])
def test_replayed_noise_equals_generator_noise(diffusion):
    """model.sample(generator=g) draws, in order (method section 6): start state(s), then per
    non-final step one tensor per state for the diffused slots."""
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(**TINY, diffusion=diffusion)).eval()
    x2d = torch.randn(2, 9, 17, 2, generator=gen(1))
    b, h, f, w = 2, 3, 9, 3
    from_gen = model.sample(x2d, hypotheses=h, iterations=w, generator=gen(5))
    g = gen(5)
    if diffusion == "disentangled":
        shapes = [(b, h, f, 17, 3), (b, h, f, 17, 1)] + [(b, h, f, 16, 3), (b, h, f, 16, 1)] * (w - 1)
    else:
        shapes = [(b, h, f, 17, 3)] + [(b, h, f, 17, 3)] * (w - 1)
    noise = [torch.randn(s, generator=g) for s in shapes]
    replayed = model.sample(x2d, hypotheses=h, iterations=w, noise=noise)
    assert from_gen.shape == (b, w, h, f, 17, 3)
    assert torch.equal(from_gen, replayed)
    with pytest.raises(ValueError, match="shorter"):
        model.sample(x2d, hypotheses=h, iterations=w, noise=noise[:-1])


# ------------------------------------------------------------------ sampler loop


class Recorder:
    """A fake denoiser that records its inputs and predicts a fixed pose."""

    def __init__(self, pose):
        self.pose, self.calls = pose, []

    def __call__(self, states, t):
        self.calls.append(([s.clone() for s in states], t))
        return self.pose


def bone_states(pose):
    return list(decompose(pose, H36M))


def test_sampler_shape_root_slot_and_times():
    b, h, f, w = 2, 3, 4, 3
    g = gen(3)
    start = [torch.randn(b, h, f, 17, 3, generator=g), torch.randn(b, h, f, 17, 1, generator=g) * 2]
    pose = torch.randn(b, h, f, 17, 3, generator=g) * 0.3
    rec = Recorder(pose)
    slots = torch.arange(1, 17)
    out = DDIMSampler(NoiseSchedule(1000)).sample(start, slots, w, rec, bone_states, NoiseSource(generator=g))
    assert out.shape == (b, w, h, f, 17, 3)
    assert torch.equal(out[:, 0], pose.clamp(-1.1, 1.1))
    assert [t for _, t in rec.calls] == [999, 665, 332]
    for states, _ in rec.calls:
        for s, s0 in zip(states, start):
            # the root slot keeps its (clamped) start noise through the whole run
            assert torch.equal(s[..., 0, :], s0[..., 0, :].clamp(-1.1, 1.1))
    assert not torch.equal(rec.calls[1][0][0][..., 1:, :], rec.calls[0][0][0][..., 1:, :])


@pytest.mark.parametrize("update, scale", [("released", 1.0), ("released", 2.0), ("consistent", 2.0)])
def test_sampler_step_follows_ddim(update, scale):
    """One step by hand: x_next = sqrt(abar') target + c eps + sigma z on the bone slots, with
    eps from clamp(scale * state of the prediction) and, as released, the target the direction
    and length of the step's output pose clamp(scale * pred) (not scaled again, not clamped)."""
    g = gen(4)
    start = [torch.randn(1, 1, 2, 17, 3, generator=g, dtype=torch.float64),
             torch.randn(1, 1, 2, 17, 1, generator=g, dtype=torch.float64)]
    pose = torch.randn(1, 1, 2, 17, 3, generator=g, dtype=torch.float64) * 0.6  # some coordinates clamped
    z = [torch.randn(1, 1, 2, 16, 3, generator=g, dtype=torch.float64),
         torch.randn(1, 1, 2, 16, 1, generator=g, dtype=torch.float64)]
    rec = Recorder(pose)
    sampler = DDIMSampler(NoiseSchedule(1000), scale=scale, update=update)
    sampler.sample(start, torch.arange(1, 17), 2, rec, bone_states, NoiseSource(z))
    a_next, c, sigma = sampler.step_coefficients(999, 499)
    abar = cosine_alphas_cumprod(1000)[999].item()
    lim = 1.1 * scale
    pose0 = (pose * scale).clamp(-lim, lim)
    assert (pose0.abs() == lim).any()
    for x, x0, target, zi, fed in zip(start, bone_states(pose), bone_states(pose0), z, rec.calls[1][0]):
        x0 = (x0 * scale).clamp(-lim, lim)[..., 1:, :]
        target = target[..., 1:, :] if update == "released" else x0
        eps = (x[..., 1:, :] / math.sqrt(abar) - x0) / math.sqrt(1 / abar - 1)
        expected = (a_next * target + c * eps + sigma * zi).clamp(-lim, lim) / scale
        assert torch.allclose(fed[..., 1:, :], expected, atol=1e-6)


def test_released_and_consistent_updates_differ_once_the_pose_clamp_is_active():
    g = gen(5)
    start = [torch.randn(1, 1, 2, 17, 3, generator=g), torch.randn(1, 1, 2, 17, 1, generator=g)]
    z = [torch.randn(1, 1, 2, 16, 3, generator=g), torch.randn(1, 1, 2, 16, 1, generator=g)]
    fed = {}
    for update in ("released", "consistent"):
        for size in (0.2, 1.0):
            rec = Recorder(torch.randn(1, 1, 2, 17, 3, generator=gen(6)) * size)
            DDIMSampler(NoiseSchedule(1000), update=update).sample(
                [s.clone() for s in start], torch.arange(1, 17), 2, rec, bone_states, NoiseSource(list(z)))
            fed[update, size] = rec.calls[1][0][0]
    assert torch.allclose(fed["released", 0.2], fed["consistent", 0.2], atol=1e-6)  # nothing clamped
    assert (fed["released", 1.0] - fed["consistent", 1.0]).abs().max() > 1e-2


def test_eps_slots_pair_bones_with_other_noisy_slots():
    """The released 3DHP sampler reads epsilon from slots 1..J-1 while its bones sit in the
    slots of their children (root 14): bone k pairs with slot k + 1; the root slot never moves."""
    g = gen(7)
    start = [torch.randn(1, 1, 2, 17, 3, generator=g, dtype=torch.float64),
             torch.randn(1, 1, 2, 17, 1, generator=g, dtype=torch.float64)]
    pose = torch.randn(1, 1, 2, 17, 3, generator=g, dtype=torch.float64) * 0.3
    z = [torch.randn(1, 1, 2, 16, 3, generator=g, dtype=torch.float64),
         torch.randn(1, 1, 2, 16, 1, generator=g, dtype=torch.float64)]
    slots = torch.tensor([*range(14), 15, 16])
    fed = {}
    for name, eps_slots in (("own", slots), ("shifted", torch.arange(1, 17))):
        rec = Recorder(pose)
        DDIMSampler(NoiseSchedule(1000), update="consistent").sample(
            [s.clone() for s in start], slots, 2, rec, lambda p: bone_states(p), NoiseSource(list(z)), eps_slots)
        fed[name] = rec.calls[1][0][0]
    abar = cosine_alphas_cumprod(1000)[999].item()
    scale_eps = 1 / math.sqrt(1 / abar - 1)
    a_next, c, sigma = DDIMSampler(NoiseSchedule(1000)).step_coefficients(999, 499)
    # bone 0 (slot 0) reads slot 1 when shifted: eps, and so x_next / c, move by (x[1] - x[0]) / sqrt(1 - abar)
    diff = fed["shifted"][..., 0, :] - fed["own"][..., 0, :]
    expected = c * scale_eps * (start[0][..., 1, :] - start[0][..., 0, :]) / math.sqrt(abar)
    unclamped = fed["own"][..., 0, :].abs().lt(1.1) & fed["shifted"][..., 0, :].abs().lt(1.1)
    assert torch.allclose(diff[unclamped], expected[unclamped], atol=1e-6) and unclamped.any()
    assert torch.equal(fed["shifted"][..., 14, :], start[0][..., 14, :].clamp(-1.1, 1.1))
    assert torch.allclose(fed["shifted"][..., 16, :], fed["own"][..., 16, :])  # the last bone keeps its slot


def test_xyz_sampling_diffuses_every_slot():
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(**TINY, diffusion="xyz")).eval()
    assert model.diffused_slots.tolist() == list(range(17))
    disentangled = DDHPose(ModelConfig(**TINY)).eval()
    assert disentangled.diffused_slots.tolist() == list(range(1, 17))
