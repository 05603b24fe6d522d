"""The released MPI-INF-3DHP model reproduces the released implementation (scale 1 and 2).

Fixtures (../shared/reference, copied): ``official_3dhp_f27[_scale2].bin``, checkpoints written by
the authors' 3DHP training script (F = 27, C = 64, depth 4, 8 heads), and the ``.npz`` of what
their code computed with them, every random draw of the sampler recorded, with traces of the
sampler state. The 3DHP sampler carries two quirks a faithful port must keep (eps slots shifted
by one against the bones, root 14; the DDIM update towards the bones of the clamped, scaled
output pose); the tests below show that each alternative moves the samples far beyond the
tolerance.

Tolerances (from the reference README): 1e-4 m absolute on metre outputs at scale 1 and 2e-4 m
at scale 2 (values twice as large); 1e-6 on the forward noising (no network involved); losses
1e-5 relative; 0.1 mm on the millimetre metrics.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import variant_of

from ddhpose.geometry import flip_pose
from ddhpose.metrics import clip_errors, reduce_clip_errors
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.diffusion import DDIMSampler
from ddhpose.skeleton import MPI_INF_3DHP
from ddhpose.training.losses import pose_losses

FIXTURES = Path(__file__).parent / "fixtures"
CASES = {"official_3dhp_f27": 1e-4, "official_3dhp_f27_scale2": 2e-4}


def _load(name: str) -> dict:
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: torch.from_numpy(data[k]) if data[k].dtype.kind in "fiub" else data[k] for k in data.files}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    name = request.param
    ref = _load(name)
    model = load_checkpoint(FIXTURES / f"{name}.bin", scale=float(ref["scale"]))
    return name, ref, model, CASES[name]


def max_err(a, b):
    return (a.double() - b.double()).abs().max().item()


def close(a, b, tol):
    """The README's fallback for values slightly out of the absolute tolerance: 2e-5 relative."""
    return torch.allclose(a.double(), b.double(), atol=tol, rtol=2e-5)


def sample(model, ref, **changes):
    """The released sampler run (H = W = 3, flip) on the recorded draws; root 14 set to 0.
    ``changes``: model config switches, applied to a copy with the same weights."""
    if changes:
        model = variant_of(model, **changes)
    noise = [ref[f"sample_noise_{i:02d}"] for i in range(6)]
    out = model.sample(ref["x2d"], hypotheses=3, iterations=3, flip=True, noise=noise, chunk=0)
    out[..., 14, :] = 0
    return out


def test_skeleton_facts_match_the_release(case):
    _, ref, model, _ = case
    sk = model.skeleton
    assert sk is MPI_INF_3DHP or sk.parents == MPI_INF_3DHP.parents
    assert sk.root == int(ref["root_joint"]) == 14
    assert [list(b) for b in sk.bones] == ref["boneindex"].tolist()  # bone k: child k (k < 14), then 15, 16
    assert list(sk.joints_left) == ref["joints_left"].tolist() == ref["kps_left"].tolist()
    assert list(sk.joints_right) == ref["joints_right"].tolist() == ref["kps_right"].tolist()
    assert torch.equal(flip_pose(ref["x2d"], sk), ref["x2d_flip"])


def test_the_file_name_chooses_the_3dhp_skeleton_and_the_released_sampler(case):
    _, ref, model, _ = case
    cfg = model.config
    assert cfg.skeleton == "3dhp" and (cfg.frames, cfg.channels, cfg.depth, cfg.heads) == (27, 64, 4, 8)
    assert cfg.scale == float(ref["scale"]) and cfg.eps_slots == "released" and cfg.ddim_update == "released"
    assert model.eps_slots.tolist() == list(range(1, 17))
    assert model.diffused_slots.tolist() == [*range(14), 15, 16]


def test_forward_noising(case):
    _, ref, model, _ = case
    x_dir, x_len = model.noisy_inputs(ref["y3d"], ref["t_train"], [ref["noise_dir"], ref["noise_len"]])
    assert max_err(x_dir, ref["x_dir_t"]) < 1e-6 and max_err(x_len, ref["x_len_t"]) < 1e-6


@torch.no_grad()
def test_denoiser(case):
    _, ref, model, tol = case
    assert max_err(model.denoiser(ref["x2d"], ref["x_dir_t"], ref["x_len_t"], ref["t_train"]), ref["pred_train"]) < tol
    assert max_err(model.denoiser(ref["x2d"], ref["xd_h"], ref["xl_h"], ref["t_h"]), ref["pred_h"]) < tol


@torch.no_grad()
def test_loss_terms_in_metres(case):
    _, ref, model, _ = case
    losses = pose_losses(ref["pred_train"], ref["y3d"], model.skeleton)
    for key in ("pos", "len", "dir"):
        assert losses[key].item() == pytest.approx(ref[f"loss_{key}"].item(), rel=1e-5), key


def test_samples(case):
    _, ref, model, tol = case
    out = sample(model, ref)
    assert out.shape == ref["samples"].shape == (2, 3, 3, 27, 17, 3)
    for w in range(3):
        assert max_err(out[:, w], ref["samples"][:, w]) < tol, f"DDIM step {w}"


def test_sampler_states_and_float64_epsilon_follow_the_traces(case, monkeypatch):
    """The state fed to each step (slot 14 keeping its first draw) and the float64 epsilon.

    The update writes unit directions of the output pose; where a bone of that pose is 2.6 cm
    long (scale 1, step 2), the pose's float32 difference of a few 1e-6 m becomes 1.1e-4 in its
    direction, so the direction states after the second update get twice the tolerance."""
    _, ref, model, tol = case
    fed, eps = [], []
    denoiser_forward = model.denoiser.forward

    def record(x2d, x_dir, x_len, t):
        fed.append((x_dir[:2].clone(), x_len[:2].clone()))  # the unflipped half
        return denoiser_forward(x2d, x_dir, x_len, t)

    predict_noise = DDIMSampler.predict_noise

    def record_eps(self, xt, x0, t):
        out = predict_noise(self, xt, x0, t)
        eps.append(out)
        return out

    monkeypatch.setattr(model.denoiser, "forward", record)
    monkeypatch.setattr(DDIMSampler, "predict_noise", record_eps)
    sample(model, ref)
    scale = float(ref["scale"])
    assert len(fed) == 3 and len(eps) == 4  # 3 steps; epsilon (direction, length) in the first two
    for step, (x_dir, x_len) in enumerate(fed):
        lim = 1.1 * scale
        assert close(x_dir, ref[f"trace_xd_{step:02d}"].clamp(-lim, lim) / scale, tol * (2 if step == 2 else 1)), step
        assert close(x_len, ref[f"trace_xl_{step:02d}"].clamp(-lim, lim) / scale, tol), step
        assert torch.equal(ref[f"trace_xd_{step:02d}"][..., 14, :], ref["sample_noise_00"][..., 14, :])
    for step in range(2):
        got_dir, got_len = eps[2 * step], eps[2 * step + 1]
        assert got_dir.dtype == torch.float64
        assert close(got_dir, ref[f"trace_eps_dir_{step:02d}"], tol)
        assert close(got_len, ref[f"trace_eps_len_{step:02d}"], tol)


@torch.no_grad()
@pytest.mark.parametrize("switch", ["hrst", "hrtt", "hierarchy_embedding"])
def test_each_ablation_switch_misses_the_reference_checkpoint(case, switch):
    """HRST, HRTT or the hierarchy embedding off, the released 3DHP weights otherwise unchanged:
    the denoiser misses the released prediction by far more than the tolerance the full model
    meets (reference README: 0.13 m or more at either scale), and so do the samples."""
    _, ref, model, tol = case
    variant = variant_of(model, **{switch: False})
    assert max_err(model.denoiser(ref["x2d"], ref["x_dir_t"], ref["x_len_t"], ref["t_train"]), ref["pred_train"]) < tol
    assert max_err(variant.denoiser(ref["x2d"], ref["x_dir_t"], ref["x_len_t"], ref["t_train"]),
                   ref["pred_train"]) > 0.1
    assert max_err(sample(model, ref, **{switch: False}), ref["samples"]) > 0.1


def test_every_alternative_sampler_misses_the_reference(case):
    """Each switch's other setting is far outside the tolerance (README: 0.76 m for own slots)."""
    name, ref, model, _ = case
    assert max_err(sample(model, ref, eps_slots="bones"), ref["samples"]) > 0.1
    if name.endswith("scale2"):  # at scale 1 the update differs only through the pose clamp
        assert max_err(sample(model, ref, ddim_update="consistent"), ref["samples"]) > 0.01


def test_valid_frame_metrics_in_millimetres(case):
    """The release's 3DHP MPJPE pools the valid frames of the evaluated batch (clips weighted by
    their valid frames); P-Best takes the min over hypotheses of that batch mean."""
    _, ref, _, _ = case
    samples_mm = ref["samples_mm"].clone()
    samples_mm[..., 14, :] = 0
    valid = ref["valid_frame"][..., 0] > 0
    frames = valid.sum(1).double()
    assert not valid.all() and frames[0] != frames[1]  # clip means and the pooled mean differ
    per_clip = clip_errors(samples_mm.double(), ref["y3d_mm"].double(), metrics=("mpjpe",), valid=valid)
    pooled = {k: (v * frames.view(-1, *[1] * (v.ndim - 1))).sum(0) / frames.sum() for k, v in per_clip.items()}
    assert max_err(pooled["mpjpe_p_agg"], ref["mpjpe_3dhp_p_agg_mm"]) < 0.1
    assert max_err(pooled["mpjpe_p_best"].amin(-1), ref["mpjpe_3dhp_p_best_mm"]) < 0.1
    unweighted = reduce_clip_errors(per_clip)
    assert max_err(unweighted["mpjpe_p_agg"], ref["mpjpe_3dhp_p_agg_mm"]) > 1.0
