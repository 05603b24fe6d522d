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

``official_train_step_3dhp_f27.npz`` (tests/fixtures/README.md says how it was recorded): the
same for one iteration of main_3dhp.py on ``official_3dhp_f27.bin``, whose losses are in
millimetres (``train.loss_units=mm``), drop path off.
"""
from __future__ import annotations

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


def one_step(ref, *, checkpoint=CHECKPOINT, units="m", gradient="released", resume=False, monkeypatch=None):
    """The released iteration: losses on the recorded draws (drop path as recorded), backward
    (``gradient``), then one AdamW step (fresh, or from the .bin's moments with ``resume``)."""
    model = load_checkpoint(checkpoint).train()
    if ref["drop_path_active"].item():
        recorder = RecordedDropPath(ref, model)
        monkeypatch.setattr(DropPath, "forward", lambda self, x: recorder(self, x))
    else:
        model.eval()  # drop path is the only train / eval difference of the released model
    terms = train_step.losses(model, ref["x2d"], ref["y3d"], ref["t_train"], [ref["noise_dir"], ref["noise_len"]],
                              model.skeleton, units=units)
    train_step.backward(terms["total"], gradient)
    grads = {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ref["lr"]), betas=tuple(ref["betas"].tolist()),
                                  eps=float(ref["eps"]), weight_decay=float(ref["weight_decay"]))
    if resume:
        optimizer.load_state_dict(released_optimizer_state(load_torch_file(checkpoint), model))
    train_step.update(optimizer, torch.amp.GradScaler("cpu", enabled=False))
    return terms, grads, dict(model.named_parameters())


@pytest.fixture(scope="module", params=["official_train_step_h36m_f27", "official_train_step_h36m_f27_droppath"])
def ref(request):
    return _load(request.param)


def test_losses(ref, monkeypatch):
    terms, _, _ = one_step(ref, monkeypatch=monkeypatch)
    for key in ("pos", "len", "dir", "total"):
        assert terms[key].item() == pytest.approx(ref[f"loss_{key}"].item(), rel=1e-5), key


def _check_gradients(grads, ref):
    """Per tensor within 1e-4 of its largest reference gradient; the tensors whose true gradient
    is 0 (rounding noise in the file) within 5e-7 of the step's largest gradient: 1e-6 for the
    Human3.6M files (largest 1.97), 5.3e4 for the 3DHP file, whose millimetre loss (2.3e5, also
    the backward seed) makes its largest 1.05e11 and its zero-gradient noise up to 4.4e3."""
    zero_grad = {str(n) for n in ref["no_grad_params"]}
    checked = 0
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is None:  # the spatial blocks' unused qkv_xc: no gradient there, no parameter here
            assert name in zero_grad
            continue
        expected, got = ref[f"grad/{name}"], grads[own]
        assert (got - expected).abs().max().item() <= _gradient_tolerance(ref, name), name
        checked += 1
    assert checked == 119


def _gradient_tolerance(ref, name):
    zero_tol = 5e-7 * max(ref[k].abs().max().item() for k in ref if k.startswith("grad/"))
    peak = ref[f"grad/{name}"].abs().max().item()
    return 1e-4 * peak if peak > zero_tol else zero_tol


def test_gradients_are_those_of_half_the_squared_loss(ref, monkeypatch):
    _, grads, _ = one_step(ref, monkeypatch=monkeypatch)
    _check_gradients(grads, ref)


def test_plain_gradient_differs_by_the_loss(ref, monkeypatch):
    """The plain gradient is the released one divided by loss_total (2.876 without drop path,
    2.936 with the recorded masks): checked on every tensor with a real gradient."""
    terms, plain, _ = one_step(ref, gradient="plain", monkeypatch=monkeypatch)
    assert terms["total"].item() == pytest.approx(ref["loss_total"].item(), rel=1e-5)
    checked = 0
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is None or ref[f"grad/{name}"].abs().max() <= 1e-6:
            continue
        expected = ref[f"grad/{name}"]
        assert (plain[own] * ref["loss_total"] - expected).abs().max() <= 1e-4 * expected.abs().max(), name
        assert (plain[own] - expected).abs().max() > 0.5 * expected.abs().max(), name  # not the released one
        checked += 1
    assert checked >= 100


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
        own = own_name(name)                           # the gradients' rounding a little more
        if own is not None:
            assert (params[own].detach() - ref[f"after_resume/{name}"]).abs().max().item() <= 2.5e-4, name


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resumed"])
def test_adamw_on_the_recorded_gradients_is_exact(resume):
    """The optimizer alone (settings, parameter order, the .bin's moments re-indexed for our
    parameters) applied to the recorded gradients gives the recorded weights, to the last bit
    the arithmetic fixes. AdamW's one operation that is not correctly rounded is the square root
    of the second moment: torch takes it from MKL's vector math, within an ulp of the truth but
    with CPU-dependent last bits (Intel and AMD differ), so two machines' denominators differ by
    up to 2 ulps, the step m / denom by up to 2^-22 of itself plus its own rounding. Each weight
    is therefore within one float32 ulp of the recorded one plus 2^-21 of the step it took;
    any wrong setting (weight decay, betas, eps, bias correction, a moment of another
    parameter) moves a weight by percent of its step."""
    ref = _load("official_train_step_h36m_f27")
    model = load_checkpoint(CHECKPOINT)
    params = dict(model.named_parameters())
    before = {name: p.detach().clone() for name, p in params.items()}
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is not None and f"grad/{name}" in ref:
            params[own].grad = ref[f"grad/{name}"].clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=float(ref["lr"]), betas=tuple(ref["betas"].tolist()),
                                  eps=float(ref["eps"]), weight_decay=float(ref["weight_decay"]))
    if resume:
        optimizer.load_state_dict(released_optimizer_state(load_torch_file(CHECKPOINT), model))
    optimizer.step()
    prefix = "after_resume" if resume else "after"
    checked = 0
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is not None:
            expected, got = ref[f"{prefix}/{name}"], params[own].detach()
            ulp = torch.nextafter(expected.abs(), torch.tensor(float("inf"))) - expected.abs()
            bound = ulp + 2.0 ** -21 * (expected - before[own]).abs()
            assert ((got - expected).abs() <= bound).all(), name
            checked += 1
    assert checked >= 100


# ------------------------------------------------------------------ MPI-INF-3DHP (main_3dhp.py)

CHECKPOINT_3DHP = FIXTURES / "official_3dhp_f27.bin"


@pytest.fixture(scope="module")
def ref_3dhp():
    return _load("official_train_step_3dhp_f27")


def test_3dhp_losses_are_in_millimetres(ref_3dhp):
    """main_3dhp.py: the model's output x1000 against the millimetre target; the length term is
    in mm^2 (225934 here against a pose term of 1009). Metre losses miss it by those factors."""
    ref = ref_3dhp
    terms, _, _ = one_step(ref, checkpoint=CHECKPOINT_3DHP, units="mm")
    for key in ("pos", "len", "dir", "total"):
        assert terms[key].item() == pytest.approx(ref[f"loss_{key}_mm"].item(), rel=1e-5), key
    metres, _, _ = one_step(ref, checkpoint=CHECKPOINT_3DHP, units="m")
    assert metres["pos"].item() * 1000 == pytest.approx(terms["pos"].item(), rel=1e-6)
    assert metres["len"].item() * 1e6 == pytest.approx(terms["len"].item(), rel=1e-6)
    assert metres["dir"].item() == pytest.approx(terms["dir"].item(), rel=1e-6)
    assert metres["total"].item() != pytest.approx(ref["loss_total_mm"].item(), rel=0.5)


def test_3dhp_gradients_and_adamw_step(ref_3dhp):
    """Gradients of the released backward (the loss in mm as its own seed) and the weights after
    a fresh AdamW step: where a reference gradient is above its tensor's gradient tolerance the
    step's sign is certain and the weights agree to 1e-6; elsewhere (rounding-noise gradients,
    where Adam's first step g / (|g| + eps) is +-lr either way) to 2.5 lr."""
    ref = ref_3dhp
    _, grads, params = one_step(ref, checkpoint=CHECKPOINT_3DHP, units="mm")
    _check_gradients(grads, ref)
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is None:
            continue
        grad = ref[f"grad/{name}"].abs()
        diff = (params[own].detach() - ref[f"after/{name}"]).abs()
        certain = grad > _gradient_tolerance(ref, name)  # none in the zero-gradient tensors
        if certain.any():
            assert diff[certain].max().item() <= 1e-6, name
        assert diff.max().item() <= 2.5e-4, name


def test_3dhp_metre_losses_miss_the_released_gradients(ref_3dhp):
    """The same step with the terms in metres weighs them differently: its gradients are not
    a multiple of the released ones (the check above fails on them)."""
    _, grads, _ = one_step(ref_3dhp, checkpoint=CHECKPOINT_3DHP, units="m")
    with pytest.raises(AssertionError):
        _check_gradients(grads, ref_3dhp)


def test_3dhp_resumed_step(ref_3dhp):
    """--resume: the .bin's AdamW moments and its stored lr (9.93e-05, after the epoch's decay)."""
    ref = ref_3dhp
    _, _, params = one_step(ref, checkpoint=CHECKPOINT_3DHP, units="mm", resume=True)
    for name in (str(n) for n in ref["param_names"]):
        own = own_name(name)
        if own is not None:
            assert (params[own].detach() - ref[f"after_resume/{name}"]).abs().max().item() <= 2.5e-4, name
