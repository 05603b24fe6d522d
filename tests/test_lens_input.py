"""``model.lens_input``: the camera's focal length as an input of the denoiser (tiny random models)."""
from __future__ import annotations

import pytest
import torch
from helpers import coco_person

import ddhpose.training.train as train_module
from ddhpose.experiment import load_config
from ddhpose.lifting.lifter import Lifter
from ddhpose.model.checkpoint import load_checkpoint, save_checkpoint
from ddhpose.model.config import ModelConfig
from ddhpose.model.ddhpose import DDHPose
from ddhpose.training.step import losses
from ddhpose.training.train import train

TINY = dict(frames=9, channels=32, depth=2, heads=4)
FAST = ["train.tensorboard=false", "data.synthetic_sequences=4", "data.synthetic_frames=60"]


def _pair(seed: int = 0) -> tuple[DDHPose, DDHPose]:
    """A model and the same weights with a lens input (its embedding at zero, as initialised)."""
    torch.manual_seed(seed)
    plain = DDHPose(ModelConfig(**TINY)).eval()
    lens = DDHPose(ModelConfig(**TINY, lens_input=True)).eval()
    missing, unexpected = lens.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["denoiser.lens_embed.bias", "denoiser.lens_embed.weight"] and not unexpected
    return plain, lens


def _sample(model: DDHPose, x2d: torch.Tensor, **kwargs) -> torch.Tensor:
    return model.sample(x2d, hypotheses=2, flip=True, generator=torch.Generator().manual_seed(1), **kwargs)


def _lifter(model: DDHPose, tmp_path) -> Lifter:
    """A :class:`Lifter` of ``model``, saved and read back as a user's checkpoint."""
    path = tmp_path / "lens.safetensors"
    save_checkpoint(model, path)
    return Lifter.from_pretrained(path, device="cpu")


def _lenses_seen(monkeypatch, model: DDHPose) -> list[torch.Tensor]:
    """Every ``lens`` argument ``model.sample`` is called with from now on (it still samples)."""
    seen, original = [], model.sample
    monkeypatch.setattr(model, "sample", lambda x2d, **kw: seen.append(kw["lens"]) or original(x2d, **kw))
    return seen


def test_a_new_lens_embedding_changes_nothing_and_a_trained_one_reads_each_clips_lens():
    plain, lens = _pair()
    x2d = torch.randn(3, 9, 17, 2) * 0.3
    focal = torch.tensor([0.5, 2.3, 9.0])
    assert torch.equal(lens.denoiser.lens_embed.weight, torch.zeros(32, 1))
    torch.testing.assert_close(_sample(lens, x2d, lens=focal), _sample(plain, x2d), rtol=0, atol=0)
    with torch.no_grad():
        lens.denoiser.lens_embed.weight.normal_(0, 0.5)
    moved = _sample(lens, x2d, lens=focal)
    assert (moved - _sample(plain, x2d)).abs().amax() > 1e-3
    # each clip its own lens, in the flipped pass too: changing the first clip's moves that clip only
    other = _sample(lens, x2d, lens=torch.tensor([1.0, 2.3, 9.0]))
    assert torch.equal(other[1:], moved[1:]) and not torch.equal(other[0], moved[0])
    # the flipped pass reads the same lens as its clip: one denoising step with the test-time flip is
    # the mean of the step on each clip and the mirrored step on its mirror image, each with its lens
    from ddhpose.geometry import flip_pose, flip_slots
    sk = lens.skeleton
    states = [torch.randn(3, 2, 9, 17, 3), torch.rand(3, 2, 9, 17, 1)]
    t = 400
    steps = torch.full((3,), t)
    both = lens._denoise_flip(x2d, True, 0, focal)(states, t)
    mirrored = [flip_pose(states[0], sk), flip_slots(states[1], sk)]
    by_hand = (lens.denoiser(x2d, *states, steps, lens=focal)
               + flip_pose(lens.denoiser(flip_pose(x2d, sk), *mirrored, steps, lens=focal), sk)) / 2
    torch.testing.assert_close(both, by_hand, rtol=1e-5, atol=1e-6)
    # the same through training's forward pass (one clip at a time is the same as a batch)
    y3d, t = torch.randn(3, 9, 17, 3) * 0.2, torch.tensor([10, 500, 900])
    t_noise = lens.draw_diffusion(y3d.shape, torch.Generator().manual_seed(2), y3d.device)[1]
    batch = lens(x2d, y3d, t, t_noise, lens=focal)
    one = lens(x2d[1:2], y3d[1:2], t[1:2], [n[1:2] for n in t_noise], lens=focal[1:2])
    torch.testing.assert_close(one[0], batch[1], rtol=1e-5, atol=1e-6)


def test_a_fresh_model_draws_the_same_weights_with_and_without_a_lens():
    torch.manual_seed(3)
    plain = DDHPose(ModelConfig(**TINY)).state_dict()
    torch.manual_seed(3)
    lens = DDHPose(ModelConfig(**TINY, lens_input=True)).state_dict()
    assert all(torch.equal(lens[k], v) for k, v in plain.items())
    assert not lens["denoiser.lens_embed.weight"].any()


def test_a_missing_extra_or_bad_lens_is_a_clear_error():
    plain, lens = _pair()
    x2d = torch.zeros(2, 9, 17, 2)
    with pytest.raises(ValueError, match=r"reads focal lengths; pass lens \(2,\)"):
        lens.sample(x2d)
    with pytest.raises(ValueError, match="takes no focal lengths"):
        plain.sample(x2d, lens=torch.ones(2))
    for bad in (torch.ones(3), torch.tensor([1.0, 0.0]), torch.tensor([1.0, float("nan")]),
                torch.tensor([1.0, float("inf")])):
        with pytest.raises(ValueError, match="expected 2 positive focal lengths"):
            lens.sample(x2d, lens=bad)
    with pytest.raises(ValueError, match=r"lens: this model takes each clip's focal length, expected \(2,\)"):
        lens.denoiser(x2d, torch.zeros(2, 9, 17, 3), torch.zeros(2, 9, 17, 1), torch.zeros(2, dtype=torch.long))


def test_the_training_loss_reads_the_batchs_focal_lengths():
    _, lens = _pair()
    with torch.no_grad():
        lens.denoiser.lens_embed.weight.normal_(0, 0.5)
    x2d, y3d = torch.randn(2, 9, 17, 2) * 0.3, torch.randn(2, 9, 17, 3) * 0.2
    t, noise = lens.draw_diffusion(y3d.shape, torch.Generator().manual_seed(0), y3d.device)
    short, long_ = (losses(lens, x2d, y3d, t, noise, lens.skeleton, lens=torch.full((2,), f))["total"].detach()
                    for f in (0.5, 5.0))
    assert abs(float(short) - float(long_)) > 1e-6


def test_training_with_a_lens_starts_from_a_checkpoint_without_one_and_feeds_the_windows_focal(tmp_path):
    train(load_config("tiny", FAST + ["train.epochs=1"]), tmp_path / "a", device="cpu")
    weights = tmp_path / "a" / "last.safetensors"
    start = train_module.initial_model(load_config("tiny", FAST + [f"train.init_from={weights}",
                                                                   "model.lens_input=true"]))
    trained = load_checkpoint(weights).state_dict()
    state = start.state_dict()
    assert all(torch.equal(state[k], v) for k, v in trained.items())
    assert not state["denoiser.lens_embed.weight"].any() and not state["denoiser.lens_embed.bias"].any()
    # a run with it learns the embedding from the windows' intrinsics, and saves it with its config
    result = train(load_config("tiny", FAST + ["train.epochs=1", f"train.init_from={weights}",
                                               "model.lens_input=true"]), tmp_path / "b", device="cpu")
    assert result["global_step"] > 0
    tuned = load_checkpoint(tmp_path / "b" / "last.safetensors")
    assert tuned.config.lens_input and tuned.denoiser.lens_embed.weight.abs().amax() > 0
    # the other way round would drop what the checkpoint learnt: refused
    with pytest.raises(ValueError, match="model.lens_input: True there, False here"):
        train_module.initial_model(load_config("tiny", FAST + [f"train.init_from={tmp_path / 'b' / 'last.safetensors'}"]))


def test_the_lifter_gives_the_model_two_focal_lengths_over_the_width(tmp_path, monkeypatch):
    lifter = _lifter(_pair()[1], tmp_path)
    seen = _lenses_seen(monkeypatch, lifter.model)
    keypoints = coco_person(20, 500)[..., :2]
    lifter.lift(keypoints, layout="coco", image_size=(1000, 800), focal_length=1500.0, world=False)
    assert seen and all(torch.equal(s, torch.full_like(s, 3.0)) for s in seen)  # 2 x 1500 / 1000
    seen.clear()
    lifter.lift(keypoints, layout="coco", image_size=(1000, 800), world=False)  # the default: 0.9 x 1000
    assert all(torch.allclose(s, torch.full_like(s, 1.8)) for s in seen)


def test_evaluation_gives_each_window_its_own_focal_length(monkeypatch):
    from ddhpose.data.synthetic import synthetic_sequences
    from ddhpose.evaluation.evaluate import evaluate_sequence
    _, lens = _pair()
    seq = synthetic_sequences(1, 30, seed=0)[0]
    seen = _lenses_seen(monkeypatch, lens)
    evaluate_sequence(lens, seq)
    assert seen and all(torch.allclose(s, torch.full_like(s, float(seq.intrinsics[0]))) for s in seen)


def test_a_lens_model_has_no_released_layout(tmp_path):
    from ddhpose.model.released import CheckpointError, export_released
    with pytest.raises(CheckpointError, match="no lens input"):
        export_released(_pair()[1], tmp_path / "x.bin")


def test_a_focal_length_estimated_from_the_clip_is_the_one_the_network_reads(tmp_path, monkeypatch):
    from dataclasses import replace

    from ddhpose.lifting.focal import FocalEstimate
    lifter = _lifter(_pair()[1], tmp_path)
    seen = _lenses_seen(monkeypatch, lifter.model)
    told = FocalEstimate(2000.0, (1800.0, 2200.0), True, 1.0, 20, "told")
    monkeypatch.setattr(Lifter, "_focal_from_clip", staticmethod(
        lambda camera, *args: (replace(camera, focal=2000.0, source="estimated from the clip"), told)))
    r = lifter.lift(coco_person(20, 500)[..., :2], layout="coco", image_size=(1000, 800), estimate_focal=True,
                    world=False)
    assert float(seen[0][0]) == pytest.approx(1.8) and float(seen[-1][0]) == pytest.approx(4.0)  # the default, then 2 x 2000 / 1000
    assert r.focal_length == 2000.0


def test_a_model_trained_without_lenses_too_lifts_without_one():
    plain, _ = _pair()
    torch.manual_seed(0)
    optional = DDHPose(ModelConfig(**TINY, lens_input=True, lens_dropout=0.3)).eval()
    optional.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        optional.denoiser.lens_embed.weight.normal_(0, 0.5)
        optional.denoiser.lens_embed.bias.normal_(0, 0.5)
    x2d = torch.randn(2, 9, 17, 2) * 0.3
    none = _sample(optional, x2d, lens=torch.tensor([float("nan"), 2.0]))
    torch.testing.assert_close(none[0], _sample(plain, x2d)[0], rtol=0, atol=0)  # no lens: nothing added
    assert (none[1] - _sample(plain, x2d)[1]).abs().amax() > 1e-3
    _, always = _pair()
    with pytest.raises(ValueError, match="NaN for none where the model was trained without lenses too"):
        always.sample(x2d, lens=torch.tensor([float("nan"), 2.0]))
    with pytest.raises(ValueError, match="lens_dropout must be in"):
        ModelConfig(**TINY, lens_dropout=0.3)


def test_training_with_lens_dropout_gives_that_share_of_windows_no_lens(tmp_path, monkeypatch):
    import ddhpose.training.step as step_module
    given = []
    original = step_module.losses

    def spy(*args, lens=None, **kwargs):
        given.append(lens.clone())
        return original(*args, lens=lens, **kwargs)

    monkeypatch.setattr(step_module, "losses", spy)
    train(load_config("tiny", FAST + ["train.epochs=1", "model.lens_input=true", "model.lens_dropout=0.3"]),
          tmp_path, device="cpu")
    lens = torch.cat(given)
    dropped = float(lens.isnan().float().mean())
    assert len(lens) >= 50 and 0.15 < dropped < 0.45  # 0.3 of 56 windows: +- 2.5 standard deviations
    assert (lens[~lens.isnan()] > 0).all()


def test_the_lifter_gives_no_lens_where_it_only_assumes_the_focal_length(tmp_path, monkeypatch):
    torch.manual_seed(0)
    lifter = _lifter(DDHPose(ModelConfig(**TINY, lens_input=True, lens_dropout=0.3)), tmp_path)
    seen = _lenses_seen(monkeypatch, lifter.model)
    keypoints = coco_person(20, 500)[..., :2]
    lifter.lift(keypoints, layout="coco", image_size=(1000, 800), world=False)
    assert seen and all(s.isnan().all() for s in seen)
    seen.clear()
    lifter.lift(keypoints, layout="coco", image_size=(1000, 800), focal_length=1500.0, world=False)
    assert seen and all(torch.equal(s, torch.full_like(s, 3.0)) for s in seen)


def test_the_windows_without_a_lens_do_not_depend_on_the_number_of_processes():
    from ddhpose.training.step import drop_lenses
    lens = torch.rand(32) + 0.5
    whole = drop_lenses(lens, 0.3, 0, 2, 7, 32)
    halves = torch.cat([drop_lenses(lens[:16], 0.3, 0, 2, 7, 32, rank=0), drop_lenses(lens[16:], 0.3, 0, 2, 7, 32, rank=1)])
    assert torch.equal(whole.isnan(), halves.isnan()) and 0 < int(whole.isnan().sum()) < 32
    assert not torch.equal(whole.isnan(), drop_lenses(lens, 0.3, 0, 2, 8, 32).isnan())  # another step, other windows
