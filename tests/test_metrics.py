import math
import re

import numpy as np
import pytest
import torch

from ddhpose import metrics as M
from ddhpose.skeleton import H36M, MPI_INF_3DHP

KEYS = [f"{m}_{a}" for m in ("mpjpe", "p_mpjpe") for a in M.AGGREGATIONS]


def random_rotation(gen, dtype=torch.float64):
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def naive_p_mpjpe(pred, target):
    """VideoPose3D's NumPy p_mpjpe, one pose at a time. (N, J, 3) arrays."""
    errs = []
    for p, t in zip(pred, target):
        x0, y0 = t - t.mean(0), p - p.mean(0)
        nx, ny = np.linalg.norm(x0), np.linalg.norm(y0)
        u, s, vt = np.linalg.svd((x0 / nx).T @ (y0 / ny))
        v = vt.T
        if np.linalg.det(v @ u.T) < 0:
            v[:, -1] *= -1
            s[-1] *= -1
        rot = v @ u.T
        a = s.sum() * nx / ny
        aligned = a * p @ rot + (t.mean(0) - a * p.mean(0) @ rot)
        errs.append(np.linalg.norm(aligned - t, axis=-1).mean())
    return float(np.mean(errs))


# ------------------------------------------------------------------ reference outputs

def test_reprojection_matches_reference(ref):
    out = M.reproject(ref["samples"], ref["traj"], ref["camera"])
    assert out.shape == (2, 3, 3, 27, 17, 2)
    assert torch.allclose(out, ref["reproj_2d"], atol=1e-4, rtol=0)


def test_aggregations_match_reference(ref):
    out = M.aggregate_errors(ref["samples"], ref["y3d"], x2d=ref["x2d"], camera=ref["camera"], traj=ref["traj"])
    assert sorted(out) == sorted(KEYS)
    for key in KEYS:
        assert out[key].shape == (3,)
        assert torch.allclose(out[key], ref[key], atol=1e-4, rtol=0), key


def test_individual_aggregations_match_reference(ref):
    s, y = ref["samples"], ref["y3d"]
    for metric in ("mpjpe", "p_mpjpe"):
        assert torch.allclose(M.j_best(s, y, metric), ref[f"{metric}_j_best"], atol=1e-4, rtol=0)
        assert torch.allclose(M.p_best(s, y, metric), ref[f"{metric}_p_best"], atol=1e-4, rtol=0)
        assert torch.allclose(M.p_agg(s, y, metric), ref[f"{metric}_p_agg"], atol=1e-4, rtol=0)
        got = M.j_agg(s, y, ref["x2d"], ref["camera"], ref["traj"], metric)
        assert torch.allclose(got, ref[f"{metric}_j_agg"], atol=1e-4, rtol=0)


def test_clip_errors_reduce_to_batch_values(ref):
    kw = dict(x2d=ref["x2d"], camera=ref["camera"], traj=ref["traj"])
    clips = M.clip_errors(ref["samples"], ref["y3d"], **kw)
    assert clips["mpjpe_j_best"].shape == (2, 3) and clips["p_mpjpe_p_best"].shape == (2, 3, 3)
    reduced = M.reduce_clip_errors(clips)
    for key in KEYS:
        assert torch.allclose(reduced[key], ref[key], atol=1e-4, rtol=0)
    # one clip alone is the batch of one
    single = M.aggregate_errors(ref["samples"][:1], ref["y3d"][:1], x2d=ref["x2d"][:1],
                                camera=ref["camera"], traj=ref["traj"][:1])
    assert torch.allclose(single["mpjpe_p_agg"], clips["mpjpe_p_agg"][0])
    # a precomputed J-Agg choice gives the same errors as the inputs it came from
    choice = M.reprojection_choice(M.reproject(ref["samples"], ref["traj"], ref["camera"]), ref["x2d"])
    given = M.clip_errors(ref["samples"], ref["y3d"], choice=choice)
    assert given.keys() == clips.keys() and all(torch.equal(given[k], clips[k]) for k in clips)
    with pytest.raises(ValueError, match=r"choice: expected \(B, W, 1, F, J\)"):
        M.clip_errors(ref["samples"], ref["y3d"], choice=choice[:, :1])


def test_j_agg_without_inputs_is_left_out(ref):
    out = M.aggregate_errors(ref["samples"], ref["y3d"])
    assert "mpjpe_j_agg" not in out and "p_mpjpe_p_best" in out


# ------------------------------------------------------------------- hand-made cases

def test_mpjpe_hand_case():
    target = torch.randn(4, 17, 3, dtype=torch.float64)
    pred = target + torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    assert M.mpjpe(pred, target).item() == pytest.approx(5.0)
    assert M.joint_errors(pred, target).shape == (4, 17)
    assert torch.allclose(M.per_joint_mpjpe(pred, target), torch.full((17,), 5.0, dtype=torch.float64))


def test_p_mpjpe_invariances():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(5, 17, 3, generator=gen, dtype=torch.float64)
    pred = target + 0.3 * torch.randn(5, 17, 3, generator=gen, dtype=torch.float64)
    rot = random_rotation(gen)
    moved = 2.5 * pred @ rot + torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    base = M.p_mpjpe(pred, target)
    assert base > 0.05
    assert torch.allclose(M.p_mpjpe(moved, target), base, atol=1e-10)
    assert M.p_mpjpe(0.7 * target @ rot - 3.0, target).item() < 1e-10
    assert M.p_mpjpe(pred, target).item() == pytest.approx(naive_p_mpjpe(pred.numpy(), target.numpy()), abs=1e-10)
    # reflections are not allowed: a mirrored pose keeps an error
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert M.p_mpjpe(mirrored, target).item() > 0.05
    assert M.p_mpjpe(mirrored, target).item() == pytest.approx(
        naive_p_mpjpe(mirrored.numpy(), target.numpy()), abs=1e-10)


def test_n_mpjpe_and_velocity():
    target = torch.randn(6, 17, 3, dtype=torch.float64)
    assert M.n_mpjpe(3.0 * target, target).item() < 1e-12
    assert M.mpjpe(3.0 * target, target).item() > 1.0
    assert M.mean_velocity_error(target + 7.0, target).item() < 1e-12
    pred = target.clone()
    pred[3] += torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64)  # one frame off by 2
    # velocity differs at the 2 transitions touching frame 3, out of 5
    assert M.mean_velocity_error(pred, target).item() == pytest.approx(2 * 2.0 / 5)
    with pytest.raises(ValueError, match="F>=2"):
        M.mean_velocity_error(target[:1], target[:1])


@pytest.mark.parametrize("skeleton", [H36M, MPI_INF_3DHP])
def test_per_level_mpjpe_sums(skeleton):
    target = torch.randn(3, 8, 17, 3)
    pred = target + torch.randn(3, 8, 17, 3)
    pred[..., skeleton.root, :] = target[..., skeleton.root, :]
    levels = M.per_level_mpjpe(pred, target, skeleton)
    counts = torch.bincount(torch.tensor(skeleton.levels)).float()
    assert levels.shape == (6,)
    assert levels[0].item() == 0.0
    assert torch.allclose((levels * counts).sum() / 17, M.mpjpe(pred, target), atol=1e-6)
    per_joint = M.per_joint_mpjpe(pred, target)
    deepest = [j for j, lv in enumerate(skeleton.levels) if lv == 5]
    assert torch.allclose(levels[5], per_joint[deepest].mean())


def test_pck_and_auc_hand_case():
    target = torch.zeros(1, 5, 3, dtype=torch.float64)
    pred = target.clone()
    pred[0, :, 0] = torch.tensor([0.0, 100.0, 149.0, 150.0, 200.0])
    assert M.pck(pred, target).item() == pytest.approx(60.0)
    assert M.pck(pred, target, threshold=100.0).item() == pytest.approx(20.0)
    assert M.pck(pred, target, joints=[1, 2]).item() == pytest.approx(100.0)
    # thresholds 0..150: error 0 passes 30 of 31, 100 passes 10, 149 passes 1, others none
    assert M.auc(pred, target).item() == pytest.approx((30 + 10 + 1) / (5 * 31) * 100)
    one = torch.zeros(2, 1, 3)
    one[..., 0] = 12.0
    assert M.auc(one, torch.zeros(2, 1, 3)).item() == pytest.approx(28 / 31 * 100, abs=1e-4)
    assert M.auc_thresholds().tolist()[:3] == [0.0, 5.0, 10.0]


def test_p_best_takes_min_after_batch_mean():
    target = torch.zeros(2, 1, 1, 2, 3)
    samples = torch.zeros(2, 1, 2, 1, 2, 3)
    samples[0, 0, 1, ..., 0] = 1.0  # clip 0: hypothesis 0 exact, 1 off by 1
    samples[1, 0, 0, ..., 0] = 3.0  # clip 1: hypothesis 1 exact, 0 off by 3
    out = M.aggregate_errors(samples, target[:, 0], metrics=("mpjpe",))
    assert out["mpjpe_p_best"].item() == pytest.approx(0.5)  # min(1.5, 0.5), not mean(0, 0) = 0
    assert out["mpjpe_j_best"].item() == pytest.approx(0.0)
    assert out["mpjpe_p_agg"].item() == pytest.approx((0.5 + 1.5) / 2)


def test_p_best_per_batch_and_per_sequence_differ():
    # 4 windows, 2 hypotheses: h0 is better on windows 0-1, h1 on windows 2-3
    errors = torch.tensor([[1.0, 3.0], [1.0, 3.0], [5.0, 2.0], [5.0, 2.0]])[:, None]  # (n, W=1, H=2)
    frames = torch.full((4,), 27.0)
    assert M.p_best_by_batch(errors, frames, 2).item() == pytest.approx((1 + 2) / 2)  # batches pick h0, h1
    assert M.p_best_by_batch(errors, frames, None).item() == pytest.approx(min(3.0, 2.5))  # one pick for all
    assert M.p_best_by_batch(errors, frames, 4).item() == pytest.approx(2.5)
    assert M.p_best_choice(errors, frames, 2)[:, 0].tolist() == [0, 0, 1, 1]
    assert M.p_best_choice(errors, frames, None)[:, 0].tolist() == [1, 1, 1, 1]
    # batches are weighted by their frames; a last, smaller batch; windows without frames are skipped
    frames = torch.tensor([10.0, 30.0, 20.0, 0.0])
    batch_a = min((10 * 1 + 30 * 1) / 40, (10 * 3 + 30 * 3) / 40)
    assert M.p_best_by_batch(errors, frames, 2).item() == pytest.approx((40 * batch_a + 20 * 2) / 60)
    three = M.p_best_by_batch(errors, frames, 3).item()
    assert three == pytest.approx(min((10 + 30 + 100) / 60, (30 + 90 + 40) / 60))
    with pytest.raises(ValueError, match="windows per batch"):
        M.p_best_by_batch(errors, frames, 0)


def test_p_best_by_batch_matches_the_released_batch_loop():
    """The released loop: p_best (min over H of the batch mean) of every batch of b windows,
    weighted by b * F, divided by the frame count (main.py evaluate)."""
    gen = torch.Generator().manual_seed(3)
    samples = torch.randn(7, 2, 3, 4, 17, 3, generator=gen)  # 7 windows, W=2, H=3, F=4
    target = torch.randn(7, 4, 17, 3, generator=gen)
    per_window = M.clip_errors(samples, target, metrics=("mpjpe",))["mpjpe_p_best"]  # (7, 2, 3)
    for b in (1, 2, 4, 7):
        loop = sum(M.p_best(samples[i:i + b], target[i:i + b]) * len(samples[i:i + b]) * 4 for i in range(0, 7, b))
        assert torch.allclose(M.p_best_by_batch(per_window, torch.full((7,), 4.0), b), loop / 28, atol=1e-6)


def test_j_agg_picks_joints_by_reprojection():
    gen = torch.Generator().manual_seed(1)
    target = 0.3 * torch.randn(2, 4, 17, 3, generator=gen)
    traj = torch.tensor([0.0, 0.0, 5.0]).expand(2, 4, 1, 3)
    camera = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0, 0, 0, 0, 0]])
    wrong = target + 0.2 * torch.randn(2, 4, 17, 3, generator=gen)
    mask = torch.rand(2, 4, 17, 1, generator=gen) < 0.5
    hyp0, hyp1 = torch.where(mask, target, wrong), torch.where(mask, wrong, target)
    samples = torch.stack((hyp0, hyp1), 1).unsqueeze(1)  # (B, 1, 2, F, J, 3)
    x2d = M.reproject(target[:, None, None], traj, camera)[:, 0, 0]
    chosen = M.select_by_reprojection(samples, M.reproject(samples, traj, camera), x2d)
    assert torch.allclose(chosen[:, 0], target, atol=1e-6)
    out = M.aggregate_errors(samples, target, x2d=x2d, camera=camera, traj=traj)
    assert out["mpjpe_j_agg"].item() < 1e-6
    # released P-MPJPE J-Agg: each hypothesis aligned on its own, then the chosen joints' errors
    aligned = M.p_joint_errors(samples[:, 0], target[:, None].expand_as(samples[:, 0]))  # (B, 2, F, J)
    expected = torch.where(mask[..., 0], aligned[:, 0], aligned[:, 1]).mean()
    assert out["p_mpjpe_j_agg"].item() == pytest.approx(expected.item(), abs=1e-6)
    assert expected.item() > 1e-3  # aligning the (exact) chosen pose would give 0
    assert out["mpjpe_p_best"].item() > 0.05


# ------------------------------------------------------------------ dtypes and errors

@pytest.mark.parametrize("fn", [M.mpjpe, M.p_mpjpe, M.n_mpjpe, M.mean_velocity_error])
def test_float32_and_float64(fn):
    target = torch.randn(4, 17, 3, dtype=torch.float64)
    pred = target + 0.1 * torch.randn(4, 17, 3, dtype=torch.float64)
    r64, r32 = fn(pred, target), fn(pred.float(), target.float())
    assert r64.dtype == torch.float64 and r32.dtype == torch.float32
    assert math.isclose(r64.item(), r32.item(), abs_tol=1e-5)


def test_gradient_through_mpjpe():
    target = torch.zeros(2, 17, 3)
    offset = torch.tensor([3.0, 0.0, 4.0])
    pred = (target + offset).requires_grad_()
    M.mpjpe(pred, target).backward()
    assert torch.allclose(pred.grad, (offset / 5.0 / 34).expand(2, 17, 3))
    pred2 = torch.randn(2, 17, 3, requires_grad=True)
    M.p_mpjpe(pred2, torch.randn(2, 17, 3)).backward()
    assert torch.isfinite(pred2.grad).all() and pred2.grad.abs().sum() > 0


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(\.\.\., J, 3\)"):
        M.mpjpe(torch.zeros(2, 17, 3), torch.zeros(2, 16, 3))
    with pytest.raises(ValueError, match=r"\(B, W, H, F, J, 3\)"):
        M.aggregate_errors(torch.zeros(2, 3, 27, 17, 3), torch.zeros(2, 27, 17, 3))
    with pytest.raises(ValueError, match="target"):
        M.aggregate_errors(torch.zeros(2, 1, 1, 27, 17, 3), torch.zeros(2, 26, 17, 3))
    with pytest.raises(ValueError, match="camera"):
        M.reproject(torch.zeros(2, 1, 1, 4, 17, 3), torch.zeros(2, 4, 1, 3), torch.zeros(3, 9))
    zeros = torch.zeros(1, 1, 1, 2, 17, 3), torch.zeros(1, 2, 17, 3)
    for helper in (M.j_best, M.p_best, M.p_agg):
        with pytest.raises(ValueError, match=r"unknown metric 'pck'; expected one of \['mpjpe', 'p_mpjpe'\]"):
            helper(*zeros, "pck")
    with pytest.raises(ValueError, match="unknown metric 'pck'"):
        M.j_agg(*zeros, torch.zeros(1, 2, 17, 2), torch.ones(1, 9), torch.zeros(1, 2, 1, 3), "pck")
    samples, target = _hypotheses()
    camera = torch.ones(1, 9)
    with pytest.raises(ValueError, match=r"traj: expected \(B, F, 1, 3\) = \(2, 4, 1, 3\), got \(2, 4, 3\)"):
        M.reproject(samples, torch.zeros(2, 4, 3), camera)
    for bad in (torch.ones(9), torch.ones(1, 8), torch.ones(3, 9)):
        with pytest.raises(ValueError, match=rf"camera: expected \(2 or 1, 9\) intrinsics, got "
                                             rf"{re.escape(str(tuple(bad.shape)))}"):
            M.reproject(samples, torch.zeros(2, 4, 1, 3), bad)
    reproj = torch.zeros(2, 3, 3, 4, 17, 2)
    with pytest.raises(ValueError, match=r"expected reproj \(B, W, H, F, J, 2\) and x2d \(B, F, J, 2\), got "
                                         r"\(2, 3, 3, 4, 17, 2\) and \(2, 4, 17, 3\)"):
        M.reprojection_choice(reproj, torch.zeros(2, 4, 17, 3))
    with pytest.raises(ValueError, match=r"expected reproj .* got \(2, 3, 3, 4, 17, 3\) and \(2, 4, 17, 2\)"):
        M.reprojection_choice(torch.zeros(2, 3, 3, 4, 17, 3), torch.zeros(2, 4, 17, 2))
    with pytest.raises(ValueError, match=r"expected reproj .* got \(2, 3, 3, 17, 2\) and \(2, 17, 2\)"):
        M.reprojection_choice(torch.zeros(2, 3, 3, 17, 2), torch.zeros(2, 17, 2))  # no frame axis
    with pytest.raises(ValueError, match=r"reproj: expected \(2, 3, 3, 4, 17, 2\), got \(2, 3, 3, 4, 16, 2\)"):
        M.select_by_reprojection(samples, torch.zeros(2, 3, 3, 4, 16, 2), torch.zeros(2, 4, 17, 2))
    with pytest.raises(ValueError, match=r"choice: expected \(B, W, 1, F, J\) = \(2, 3, 1, 4, 17\), got \(2, 3, 3, 4, 17\)"):
        M.clip_errors(samples, target, choice=torch.zeros(2, 3, 3, 4, 17, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"target: expected \(B, F, J, 3\) = \(2, 4, 17, 3\), got \(2, 4, 17, 2\)"):
        M.clip_errors(samples, target[..., :2])
    with pytest.raises(ValueError, match=r"expected errors \(n, W, H\) and weights \(n,\), got \(3, 2, 3\) and \(2,\)"):
        M.p_best_by_batch(torch.zeros(3, 2, 3), torch.ones(2), None)


def test_clip_errors_average_over_valid_frames_only():
    torch.manual_seed(0)
    target = torch.randn(2, 6, 17, 3)
    samples = target[:, None, None].repeat(1, 1, 2, 1, 1, 1) + 0.01
    samples[:, :, :, 3:] += 5.0  # wildly wrong in the last three frames
    valid = torch.tensor([[1, 1, 1, 0, 0, 0]] * 2, dtype=torch.bool)
    errors = M.clip_errors(samples, target, valid=valid, metrics=("mpjpe",))
    expected = 0.01 * 3 ** 0.5
    for key, value in errors.items():
        assert torch.allclose(value, torch.full_like(value, expected), atol=1e-5), key
    unmasked = M.clip_errors(samples, target, metrics=("mpjpe",))
    assert (unmasked["mpjpe_p_agg"] > 1).all()


def test_acceleration_error_hand_case():
    t = torch.arange(5, dtype=torch.float64)[:, None, None]
    target = (t ** 2) * torch.tensor([1.0, 0.0, 0.0]).expand(5, 2, 3)  # constant acceleration 2 along x
    pred = target.clone()
    pred[2, 1, 1] += 0.5  # a one-frame spike on one joint: second differences 0.5, -1, 0.5 in y
    assert M.acceleration_error(target, target) == 0
    assert M.acceleration_error(pred, target).item() == pytest.approx((0.5 + 1 + 0.5) / (3 * 2))
    assert M.mean_acceleration(target).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="F>=3"):
        M.acceleration_error(target[:2], target[:2])


def test_bone_length_variation_and_asymmetry():
    from ddhpose.geometry import compose, decompose
    rng = torch.Generator().manual_seed(0)
    pose = 0.2 * torch.randn(1, 17, 3, generator=rng, dtype=torch.float64).expand(10, 17, 3).clone()  # metres
    pose[:, 0] = 0
    direction, length = decompose(pose, H36M)
    assert M.bone_length_variation(pose, H36M) < 1e-12
    stretch = torch.ones(10, 17, 1, dtype=torch.float64)
    stretch[::2] = 1.2  # every bone alternates between 1 and 1.2 times its length: std / mean = 0.1 / 1.1
    elastic = compose(direction, length * stretch, H36M)
    assert M.bone_length_variation(elastic, H36M).item() == pytest.approx(0.1 / 1.1 * (10 / 9) ** 0.5)
    symmetric = length.clone()
    symmetric[..., list(H36M.joints_right), :] = symmetric[..., list(H36M.joints_left), :]
    sym_pose = compose(direction, symmetric, H36M)
    assert M.left_right_asymmetry(sym_pose, H36M) < 1e-12
    longer = symmetric.clone()
    longer[..., list(H36M.joints_left), :] *= 1.1  # left 10 % longer: |1.1 - 1| / 1.05
    assert M.left_right_asymmetry(compose(direction, longer, H36M), H36M).item() == pytest.approx(0.1 / 1.05)


# ------------------------------------------------------------------ edges of each metric

def test_procrustes_is_exact_away_from_the_origin_and_keeps_a_half_precision_input_half():
    gen = torch.Generator().manual_seed(11)
    target = torch.randn(4, 17, 3, generator=gen, dtype=torch.float64) + torch.tensor([40.0, -25.0, 300.0])
    rot = torch.stack([random_rotation(gen) for _ in range(4)])
    pred = 0.7 * target @ rot + torch.tensor([-5.0, 9.0, 2.0])  # a similarity of the target, far from 0
    np.testing.assert_allclose(M.procrustes_align(pred, target).numpy(), target.numpy(), atol=1e-9)
    one = M.procrustes_align(pred[0], target[0])  # a single (J, 3) pose
    np.testing.assert_allclose(one.numpy(), target[0].numpy(), atol=1e-9)
    for dtype in (torch.float16, torch.bfloat16):
        low = M.procrustes_align(pred.to(dtype), target.to(dtype))
        assert low.dtype == dtype  # computed in float32, returned as given
        rounding = float((target.to(dtype).double() - target).norm(dim=-1).mean())  # of the input alone
        assert float((low.double() - target).norm(dim=-1).mean()) < 4 * rounding  # input and output rounded


def test_pairs_must_be_poses_of_three_coordinates():
    for shape in [(17, 4), (5, 17, 2), (3,)]:
        with pytest.raises(ValueError, match=r"pred and target: expected equal shapes \(\.\.\., J, 3\)"):
            M.mpjpe(torch.zeros(shape), torch.zeros(shape))
    assert float(M.mpjpe(torch.ones(17, 3), torch.zeros(17, 3))) == pytest.approx(math.sqrt(3))


def test_the_fewest_frames_each_temporal_metric_takes():
    gen = torch.Generator().manual_seed(12)
    poses = torch.randn(4, 17, 3, generator=gen, dtype=torch.float64)
    truth = torch.zeros(4, 17, 3, dtype=torch.float64)
    assert float(M.mean_velocity_error(poses[:2], truth[:2])) == pytest.approx(
        float((poses[1] - poses[0]).norm(dim=-1).mean()))
    assert float(M.acceleration_error(poses[:3], truth[:3])) == pytest.approx(
        float((poses[2] - 2 * poses[1] + poses[0]).norm(dim=-1).mean()))
    assert float(M.mean_acceleration(poses[:3])) == float(M.acceleration_error(poses[:3], truth[:3]))
    with pytest.raises(ValueError, match=r"mean_velocity_error: expected \(\.\.\., F>=2, J, 3\), got \(1, 17, 3\)"):
        M.mean_velocity_error(poses[:1], truth[:1])
    with pytest.raises(ValueError, match=r"acceleration_error: expected \(\.\.\., F>=3, J, 3\), got \(2, 17, 3\)"):
        M.acceleration_error(poses[:2], truth[:2])
    for bad in (poses[:2], poses[0]):
        with pytest.raises(ValueError, match=rf"mean_acceleration: expected \(\.\.\., F>=3, J, 3\), "
                                             rf"got {re.escape(str(tuple(bad.shape)))}"):
            M.mean_acceleration(bad)


def test_per_level_mpjpe_takes_any_batch_shape_and_names_the_joint_count():
    gen = torch.Generator().manual_seed(13)
    pred, target = torch.randn(2, 5, 17, 3, generator=gen), torch.randn(2, 5, 17, 3, generator=gen)
    flat = M.per_level_mpjpe(pred.reshape(10, 17, 3), target.reshape(10, 17, 3), H36M)
    assert torch.allclose(M.per_level_mpjpe(pred, target, H36M), flat)
    assert torch.allclose(M.per_level_mpjpe(pred[0, 0], target[0, 0], H36M),
                          M.per_level_mpjpe(pred[:1, :1], target[:1, :1], H36M))
    with pytest.raises(ValueError, match=r"per_level_mpjpe: expected \(\.\.\., 17, 3\), got \(5, 16, 3\)"):
        M.per_level_mpjpe(pred[0, :, :16], target[0, :, :16], H36M)


def test_auc_of_a_joint_subset_reads_only_those_joints():
    target = torch.zeros(2, 1, 17, 3)  # any batch shape
    pred = target.clone()
    pred[..., 5:, 0] = 200.0  # joints 5-16 beyond every threshold, 0-4 exact
    assert M.auc_thresholds(torch.float64).dtype == torch.float64 and M.auc_thresholds()[-1] == 150
    assert M.auc_thresholds(device="meta").device.type == "meta"  # made where asked
    # an exact joint counts under every threshold but 0 (strictly below): 30 of the 31
    assert float(M.auc(pred, target, joints=range(5))) == pytest.approx(100.0 * 30 / 31)
    assert float(M.auc(pred, target)) == pytest.approx(100.0 * 30 / 31 * 5 / 17)
    assert float(M.pck(pred, target, joints=[0, 16])) == pytest.approx(50.0)


def _hypotheses(seed=14, b=2, w=3, h=3, f=4, j=17):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randn(b, f, j, 3, generator=gen, dtype=torch.float64)
    samples = target[:, None, None] + 0.1 * torch.randn(b, w, h, f, j, 3, generator=gen, dtype=torch.float64)
    return samples, target


def test_one_valid_frame_gives_that_frames_errors_for_every_aggregation():
    samples, target = _hypotheses()
    valid = torch.zeros(2, 4, dtype=torch.bool)
    valid[:, 2] = True
    choice = torch.randint(0, 3, (2, 3, 1, 4, 17), generator=torch.Generator().manual_seed(1))
    out = M.clip_errors(samples, target, valid=valid, choice=choice)
    alone = M.clip_errors(samples[:, :, :, 2:3], target[:, 2:3], choice=choice[..., 2:3, :])
    assert set(out) == set(alone) == set(KEYS)
    for key in KEYS:
        torch.testing.assert_close(out[key], alone[key], rtol=1e-12, atol=0, msg=key)


def test_j_agg_needs_all_three_of_the_2d_the_camera_and_the_trajectory():
    samples, target = _hypotheses()
    x2d, camera, traj = torch.zeros(2, 4, 17, 2), torch.ones(1, 9), torch.zeros(2, 4, 1, 3)
    for given in ({"camera": camera, "traj": traj}, {"x2d": x2d, "traj": traj}, {"x2d": x2d, "camera": camera}):
        assert not any(k.endswith("j_agg") for k in M.clip_errors(samples, target, **given))


def test_the_one_metric_helpers_default_to_mpjpe():
    samples, target = _hypotheses()
    traj = torch.tensor([0.0, 0.0, 5.0], dtype=torch.float64).expand(2, 4, 1, 3)
    camera = torch.tensor([[1.0, 1.0, 0, 0, 0, 0, 0, 0, 0]], dtype=torch.float64)
    x2d = M.reproject(samples, traj, camera)[:, 0, 0]
    every = M.aggregate_errors(samples, target, x2d=x2d, camera=camera, traj=traj)
    assert torch.equal(M.j_best(samples, target), every["mpjpe_j_best"])
    assert torch.equal(M.p_best(samples, target), every["mpjpe_p_best"])
    assert torch.equal(M.p_agg(samples, target), every["mpjpe_p_agg"])
    assert torch.equal(M.j_agg(samples, target, x2d, camera, traj), every["mpjpe_j_agg"])


def test_p_best_weights_may_be_frame_counts():
    errors = torch.tensor([[[1.0, 4.0]], [[3.0, 2.0]], [[5.0, 5.0]], [[9.0, 0.0]]])  # (n=4, W=1, H=2)
    counts = torch.tensor([10, 30, 20, 0])  # integer frames behind each window
    # batches of 2: (1*10 + 3*30) / 40 = 2.5 vs (4*10 + 2*30) / 40 = 2.5 -> 2.5 over 40 frames; then 5 over 20
    assert M.p_best_by_batch(errors, counts, 2).tolist() == pytest.approx([(2.5 * 40 + 5.0 * 20) / 60])
    assert M.p_best_by_batch(errors, counts, 2).tolist() == M.p_best_by_batch(errors, counts.double(), 2).tolist()


def test_one_hypothesis_is_every_aggregation_alike():
    samples, target = _hypotheses(h=1)
    out = M.clip_errors(samples, target, choice=torch.zeros(2, 3, 1, 4, 17, dtype=torch.int64))
    for metric in ("mpjpe", "p_mpjpe"):
        for aggregation in ("p_best", "p_agg", "j_agg"):
            torch.testing.assert_close(out[f"{metric}_{aggregation}"].reshape(2, 3), out[f"{metric}_j_best"])


def test_p_best_of_a_sequence_without_windows_is_zero():
    assert M.p_best_by_batch(torch.zeros(0, 2, 3), torch.zeros(0), None).tolist() == [0.0, 0.0]
    assert M.p_best_by_batch(torch.zeros(0, 2, 3), torch.zeros(0), 4).tolist() == [0.0, 0.0]


def test_the_j_agg_pose_takes_each_joint_from_the_hypothesis_nearest_the_2d():
    samples, _ = _hypotheses()
    reproj = samples[..., :2]  # stands for the reprojection: each hypothesis's own x, y
    pick = torch.randint(0, 3, (2, 4, 17), generator=torch.Generator().manual_seed(2))  # (B, F, J)
    x2d = reproj[:, 1].gather(1, pick[:, None, ..., None].expand(-1, 1, -1, -1, 2)).squeeze(1)  # from step 1
    chosen = M.select_by_reprojection(samples, reproj, x2d)  # (B, W, F, J, 3)
    expected = samples[:, 1].gather(1, pick[:, None, ..., None].expand(-1, 1, -1, -1, 3)).squeeze(1)
    torch.testing.assert_close(chosen[:, 1], expected, rtol=0, atol=0)
