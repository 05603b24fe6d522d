"""One released training step (main.py) reproduced: losses, gradients, AdamW, resume.

Fixtures (../shared/reference, copied): ``official_train_step_h36m_f27[_droppath].npz``, one
iteration of the released loop on ``official_h36m_f27.bin`` with recorded draws: the losses, the
gradient of every parameter after ``loss_total.backward(loss_total)`` (the gradient of L^2/2),
the weights after one fresh AdamW step and after one step from the optimizer state in the .bin
(``--resume``). The _droppath file has stochastic depth on, its masks recorded.

Tolerances (the reference README's, from running the release at one and two threads): losses
1e-5 relative; gradients 1e-4 x the tensor's largest reference gradient (1e-6 absolute for the
tensors whose true gradient is 0); weights 1e-6 where |grad| >= 1e-5, else 2.5e-4 (Adam's first
step g / (|g| + eps) depends on rounding there).
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.model.blocks import DropPath
from ddhpose.model.checkpoint import load_checkpoint
from ddhpose.model.released import released_optimizer_state, released_parameter_name
from ddhpose.safe_pickle import load_torch_file
from ddhpose.training import step as train_step

FIXTURES = Path(__file__).parent / "fixtures"
CHECKPOINT = FIXTURES / "official_h36m_f27.bin"


def _load(name):
    with np.load(FIXTURES / f"{name}.npz") as data:
        return {k: torch.from_numpy(data[k]) if data[k].dtype.kind in "fiub" else data[k] for k in data.files}


def own_name(released: str) -> str | None:
    own = released_parameter_name(released)
    return None if own is None else f"denoiser.{own}"


class RecordedDropPath:
    """DropPath.forward replaced by the recorded per-row factors, in call order; checks that our
    calls hit the released modules (by name) and rates in the released order."""

    def __init__(self, ref, model):
        self.ref, self.calls = ref, 0
        self.names = {m: n for n, m in model.named_modules() if isinstance(m, DropPath)}

    def __call__(self, module, x):
        if module.p == 0 or not module.training:
            return x
        i = self.calls
        self.calls += 1
        ours = own_name(str(self.ref["droppath_call_module"][i]))  # the same renaming as the weights'
        assert self.names[module] == ours, (i, self.names[module], ours)
        assert module.p == pytest.approx(float(self.ref["droppath_call_rate"][i]), rel=1e-6)
        return x * self.ref[f"droppath_scale_{i:02d}"].to(x.dtype)


def one_step(ref, *, resume=False, monkeypatch=None):
    model = load_checkpoint(CHECKPOINT).train()
    if ref["drop_path_active"].item():
        recorder = RecordedDropPath(ref, model)
        monkeypatch.setattr(DropPath, "forward", lambda self, x: recorder(self, x))
    else:
        model.eval()  # drop path is the only train / eval difference of the released model
    terms = train_step.losses(model, ref["x2d"], ref["y3d"], ref["t_train"], [ref["noise_dir"], ref["noise_len"]],
                              model.skeleton)
    train_step.backward(terms["total"], "released")
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ref["lr"]), betas=tuple(ref["betas"].tolist()),
                                  eps=float(ref["eps"]), weight_decay=float(ref["weight_decay"]))
    if resume:
        optimizer.load_state_dict(released_optimizer_state(load_torch_file(CHECKPOINT), model))
    train_step.update(optimizer, torch.amp.GradScaler("cpu", enabled=False))
    return terms, grads, dict(model.named_parameters())


@pytest.fixture(scope="module", params=["official_train_step_h36m_f27", "official_train_step_h36m_f27_droppath"])
def ref(request):
    return _load(request.param)


def test_losses(ref, monkeypatch):
    terms, _, _ = one_step(ref, monkeypatch=monkeypatch)
    for key in ("pos", "len", "dir", "total"):
        assert terms[key].item() == pytest.approx(ref[f"loss_{key}"].item(), rel=1e-5), key


def test_gradients_are_those_of_half_the_squared_loss(ref, monkeypatch):
    _, grads, _ = one_step(ref, monkeypatch=monkeypatch)
    zero_grad = {str(n) for n in ref["no_grad_params"]}
    checked = 0
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is None:  # the spatial blocks' unused qkv_xc: no gradient there, no parameter here
            assert name in zero_grad
            continue
        expected, got = ref[f"grad/{name}"], grads[own]
        peak = expected.abs().max().item()
        tol = 1e-4 * peak if peak > 1e-6 else 1e-6
        assert (got - expected).abs().max().item() <= tol, name
        checked += 1
    assert checked == 119


def test_plain_gradient_differs_by_the_loss(ref):
    """The plain gradient is the released one divided by loss_total (2.876 here)."""
    model = load_checkpoint(CHECKPOINT).eval()
    terms = train_step.losses(model, ref["x2d"], ref["y3d"], ref["t_train"], [ref["noise_dir"], ref["noise_len"]],
                              model.skeleton)
    train_step.backward(terms["total"], "plain")
    name = "module.dir_bone_estimator.head_pose.1.weight"
    got = dict(model.named_parameters())[own_name(name)].grad
    if not ref["drop_path_active"].item():  # README: 2.4e-6 of the tensor's largest gradient
        expected = ref[f"grad/{name}"]
        assert (got * ref["loss_total"] - expected).abs().max() <= 1e-5 * expected.abs().max()


def _check_weights(params, ref, prefix):
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is None:
            continue
        expected, grad = ref[f"{prefix}/{name}"], ref[f"grad/{name}"].abs()
        diff = (params[own].detach() - expected).abs()
        assert diff[grad >= 1e-5].amax().item() <= 1e-6 if (grad >= 1e-5).any() else True, name
        assert diff.max().item() <= 2.5e-4, name


def test_weights_after_one_fresh_adamw_step(ref, monkeypatch):
    _, _, params = one_step(ref, monkeypatch=monkeypatch)
    _check_weights(params, ref, "after")


def test_weights_after_resuming_the_released_optimizer(monkeypatch):
    ref = _load("official_train_step_h36m_f27")  # the drop-path file has no resume step
    _, _, params = one_step(ref, resume=True, monkeypatch=monkeypatch)
    for name in (str(n) for n in ref["param_names"]):  # Adam's second step: m / sqrt(v) amplifies
        if (own := own_name(name)) is not None:      # the gradients' rounding a little more
            assert (params[own].detach() - ref[f"after_resume/{name}"]).abs().max().item() <= 2.5e-4, name


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resumed"])
def test_adamw_on_the_recorded_gradients_is_exact(resume):
    """The optimizer alone (settings, parameter order, the .bin's moments re-indexed for our
    parameters) applied to the recorded gradients gives the recorded weights bit for bit."""
    ref = _load("official_train_step_h36m_f27")
    model = load_checkpoint(CHECKPOINT)
    params = dict(model.named_parameters())
    for name in (str(n) for n in ref["param_names"]):
        if (own := own_name(name)) is not None and f"grad/{name}" in ref:
            params[own].grad = ref[f"grad/{name}"].clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ref["lr"]), betas=tuple(ref["betas"].tolist()),
                                  eps=float(ref["eps"]), weight_decay=float(ref["weight_decay"]))
    if resume:
        optimizer.load_state_dict(released_optimizer_state(load_torch_file(CHECKPOINT), model))
    optimizer.step()
    prefix = "after_resume" if resume else "after"
    for name in (str(n) for n in ref["param_names"]):
        if (own := own_name(name)) is not None:
            assert torch.equal(params[own].detach(), ref[f"{prefix}/{name}"]), name
