
import pytest
import torch

from ddhpose.skeleton import H36M, MPI_INF_3DHP
from ddhpose.training.losses import direction_loss, length_loss, pose_losses


def test_released_terms_match_reference(ref):
    out = pose_losses(ref["pred_train"], ref["y3d"], H36M)
    for key in ("pos", "len", "dir"):
        assert abs(out[key].item() - ref[f"loss_{key}"].item()) < 1e-4, key
    assert torch.allclose(out["total"], out["pos"] + out["len"] + out["dir"])


def test_weights_and_ablation(ref):
    full = pose_losses(ref["pred_train"], ref["y3d"], H36M, w_len=0.5, w_dir=2.0)
    assert torch.allclose(full["total"], full["pos"] + 0.5 * full["len"] + 2.0 * full["dir"])
    only = pose_losses(ref["pred_train"], ref["y3d"], H36M, disentangle=False)
    assert torch.equal(only["total"], only["pos"])
    assert torch.allclose(only["len"], full["len"])


def random_pose(*shape, dtype=torch.float64):
    return torch.randn(*shape, 17, 3, dtype=dtype, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("form", ["released", "l2"])
def test_zero_for_identical_poses(form):
    y = random_pose(2, 5)
    out = pose_losses(y, y.clone(), H36M, form=form)
    assert all(out[k].item() < 1e-12 for k in out)


def test_uniform_scale_hand_case():
    y = random_pose(2, 5)
    pred = 2.0 * y  # same directions, every bone twice as long
    lengths = (y - y[..., list(p if p >= 0 else 0 for p in H36M.parents), :]).norm(dim=-1)[..., 1:]
    mean_len = lengths.mean(-2)  # (2, 16)
    assert direction_loss(pred, y, H36M).item() < 1e-12
    assert length_loss(pred, y, H36M).item() == pytest.approx(mean_len.square().mean().item())
    assert length_loss(pred, y, H36M, "l2").item() == pytest.approx(mean_len.norm(dim=-1).mean().item())


def test_direction_hand_case():
    y = random_pose(3, 4)
    pred = y * torch.tensor([-1.0, -1.0, 1.0], dtype=y.dtype)  # rotate 180 deg about z: lengths kept
    d = y - y[..., [0, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15], :]
    d = d[..., 1:, :] / d[..., 1:, :].norm(dim=-1, keepdim=True)
    diff = 2 * d[..., :2]  # only x and y flip sign
    assert length_loss(pred, y, H36M).item() < 1e-12
    assert direction_loss(pred, y, H36M).item() == pytest.approx(diff.square().sum(-1).mean().item())
    assert direction_loss(pred, y, H36M, "l2").item() == pytest.approx(diff.norm(dim=-1).mean().item())


def test_other_skeleton_and_float32():
    y = random_pose(2, 3, dtype=torch.float32)
    pred = y + 0.05
    out = pose_losses(pred, y, MPI_INF_3DHP)
    assert out["total"].dtype == torch.float32
    assert out["len"].item() < 1e-10 and out["dir"].item() < 1e-10  # translation keeps bones
    assert out["pos"].item() == pytest.approx(0.05 * 3 ** 0.5, rel=1e-5)


@pytest.mark.parametrize("form", ["released", "l2"])
def test_gradients(form):
    """The pose term's gradient is the mean unit error vector, (pred - y) / |pred - y| / (B F J),
    by hand; the whole loss's autograd gradient matches finite differences (float64)."""
    y = random_pose(2, 4)
    pred = (y + 0.1 * torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=y.dtype)).requires_grad_()
    pose_losses(pred, y, H36M, form=form)["pos"].backward()
    diff = (pred - y).detach()
    expected = diff / diff.norm(dim=-1, keepdim=True) / (2 * 4 * 17)
    assert torch.allclose(pred.grad, expected, atol=1e-12, rtol=0)
    total = lambda p: pose_losses(p, y, H36M, form=form)["total"]  # noqa: E731
    assert torch.autograd.gradcheck(total, (pred.detach().requires_grad_(),))


def test_millimetre_units_scale_each_term_by_its_dimension():
    """units='mm' (released 3DHP): the pose term x1000, the squared length term x10^6, the
    direction term unchanged, and for the L2 form the length term x1000; gradients alike."""
    y = random_pose(2, 4)
    pred = y * 1.1 + 0.01
    m, mm = pose_losses(pred, y, H36M), pose_losses(pred, y, H36M, units="mm")
    assert mm["pos"].item() == pytest.approx(1e3 * m["pos"].item(), rel=1e-12)
    assert mm["len"].item() == pytest.approx(1e6 * m["len"].item(), rel=1e-12)
    assert mm["dir"].item() == pytest.approx(m["dir"].item(), rel=1e-12)
    assert mm["total"].item() == pytest.approx(1e3 * m["pos"].item() + 1e6 * m["len"].item() + m["dir"].item())
    l2 = pose_losses(pred, y, H36M, form="l2", units="mm")
    assert l2["len"].item() == pytest.approx(1e3 * pose_losses(pred, y, H36M, form="l2")["len"].item(), rel=1e-12)
    with pytest.raises(ValueError, match="unknown loss units 'cm'"):
        pose_losses(pred, y, H36M, units="cm")


def test_shape_validation():
    y = random_pose(2, 4)
    with pytest.raises(ValueError, match="equal shapes"):
        pose_losses(y, y[:1], H36M)
    with pytest.raises(ValueError, match=r"\(\.\.\., F, 17, 3\)"):
        pose_losses(y[..., :16, :], y[..., :16, :], H36M)
    with pytest.raises(ValueError, match=r"\(\.\.\., F, 17, 3\)"):
        pose_losses(y[0, 0], y[0, 0], H36M)
    with pytest.raises(ValueError, match="unknown loss form"):
        pose_losses(y, y, H36M, form="l1")
