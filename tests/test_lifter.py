"""The lifter: Lifter.lift end to end with a tiny random model (its
poses are meaningless; shapes, units and errors are not)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import coco_person, write_coco

from ddhpose.lifting import lifter as lift_module
from ddhpose.lifting.inputs import read_keypoints
from ddhpose.lifting.lifter import Lifter, WeightsNotFoundError

FRAMES = 9
SIZE = (1000, 800)


# ------------------------------------------------------------------ root estimate and J-Agg


# ------------------------------------------------------------------ Lifter.lift

def test_bundled_weights_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(lift_module, "BUNDLED_WEIGHTS", "assets/pretrained/not_there.safetensors")
    with pytest.raises(WeightsNotFoundError, match="not installed.*from_pretrained"):
        Lifter.from_pretrained()
    assert issubclass(WeightsNotFoundError, ValueError)


@pytest.mark.parametrize("frames", [4, FRAMES, 40])
def test_lift_any_length(lifter, frames):
    r = lifter.lift(coco_person(frames, 500)[..., :2], layout="coco", image_size=SIZE, hypotheses=2)
    assert r.poses.shape == (frames, 17, 3) and r.hypotheses.shape == (2, frames, 17, 3)
    assert r.uncertainty.shape == (frames, 17) and r.keypoints_2d.shape == (frames, 17, 2)
    assert np.isfinite(r.hypotheses).all() and np.isfinite(r.poses).all()
    assert np.all(r.poses[:, 0] == 0) and np.all(r.hypotheses[:, :, 0] == 0)
    assert r.units == "metres" and r.aggregation == "p_agg"
    np.testing.assert_array_equal(r.frames, np.arange(frames))


def test_uncertainty_and_seed(lifter):
    kp = coco_person(12, 500)[..., :2]
    one = lifter.lift(kp, layout="coco", image_size=SIZE, smooth=0)
    assert one.aggregation == "none" and np.all(one.uncertainty == 0)
    np.testing.assert_array_equal(one.poses, one.hypotheses[0])
    a = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, seed=7)
    b = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, seed=7)
    c = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, seed=8)
    np.testing.assert_array_equal(a.hypotheses, b.hypotheses)
    assert not np.allclose(a.hypotheses, c.hypotheses)
    assert (a.uncertainty[:, 1:] > 0).all() and (a.uncertainty[:, 0] == 0).all()


def test_track_gaps_are_filled_and_flagged(lifter, tmp_path):
    kp = coco_person(6, 300)
    kp[2, 15, 2] = 0.05  # a low-score left ankle
    people = {1: kp}
    tracks = read_keypoints(write_coco(tmp_path / "k.json", people))
    r = lifter.lift(tracks[0], image_size=SIZE)
    assert r.track_id == 0 and tracks[0].input_track_id == 1 and r.missing.sum() == 1 and r.missing[2, 6]  # H36M left ankle
    pelvis = (kp[:, 11, :2] + kp[:, 12, :2]) / 2
    np.testing.assert_allclose(r.keypoints_2d[:, 0], pelvis, rtol=1e-5)
    # filled relative to the body: the pelvis now plus the ankle's mean offset from it either side
    offset = ((kp[1, 15, :2] - pelvis[1]) + (kp[3, 15, :2] - pelvis[3])) / 2
    np.testing.assert_allclose(r.keypoints_2d[2, 6], pelvis[2] + offset, rtol=1e-5)


def test_lift_input_errors(lifter):
    kp = coco_person(5, 500)[..., :2]
    with pytest.raises(ValueError, match="image_size: unknown"):
        lifter.lift(kp, layout="coco")
    with pytest.raises(ValueError, match="17 joints is ambiguous between COCO and Human3.6M order; pass "
                                         "layout='coco' or layout='h36m'"):
        lifter.lift(kp, image_size=SIZE)
    with pytest.raises(ValueError, match="track 0: keypoints: all 5 frames are missing"):
        lifter.lift(np.full_like(kp, np.nan), layout="coco", image_size=SIZE)
    with pytest.raises(ValueError, match="aggregation"):
        lifter.lift(kp, layout="coco", image_size=SIZE, aggregation="best")
    with pytest.raises(ValueError, match=r"bone_lengths: expected one of \['track', 'free'\]"):
        lifter.lift(kp, layout="coco", image_size=SIZE, bone_lengths="fixed")
    for focal in (0, -100.0):
        with pytest.raises(ValueError, match="focal_length: expected a positive number of pixels"):
            lifter.lift(kp, layout="coco", image_size=SIZE, focal_length=focal)
    for focal in (3.5, 1e6):  # millimetres given for pixels; a typo
        with pytest.raises(ValueError, match=r"focal_length: .* is outside 0.05-50 x the image width \(1000 px\)"):
            lifter.lift(kp, layout="coco", image_size=SIZE, focal_length=focal)


def test_default_is_the_mean_with_one_body_per_track(lifter):
    from ddhpose.metrics import bone_length_variation, left_right_asymmetry
    from ddhpose.skeleton import H36M
    kp = coco_person(30, 500)[..., :2]
    free = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, bone_lengths="free", smooth=0)
    track = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, smooth=0)
    assert track.aggregation == free.aggregation == "p_agg" and free.bone_lengths is None
    np.testing.assert_allclose(free.poses, free.hypotheses.mean(0), atol=1e-6)
    assert bone_length_variation(torch.as_tensor(free.poses), H36M) > 1e-3
    for poses in (track.poses, *track.hypotheses):
        poses = torch.as_tensor(poses)
        assert bone_length_variation(poses, H36M) < 1e-5 and left_right_asymmetry(poses, H36M) < 1e-5
    lengths = torch.linalg.vector_norm(torch.as_tensor(track.poses[:, 1:] - track.poses[:, list(H36M.parents[1:])]),
                                       dim=-1)
    np.testing.assert_allclose(lengths.numpy(), np.broadcast_to(track.bone_lengths[1:], lengths.shape), atol=1e-5)
    # directions are the model's: the recomposed mean points every bone the way the free mean does
    from ddhpose.geometry import decompose
    cos = (decompose(torch.as_tensor(track.poses), H36M)[0] * decompose(torch.as_tensor(free.poses), H36M)[0]).sum(-1)
    assert cos[:, 1:].min() > 0.999
    median = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3, aggregation="median", bone_lengths="free",
                         smooth=0)
    assert median.aggregation == "median"
    np.testing.assert_allclose(median.poses, np.median(median.hypotheses, axis=0), atol=1e-6)
    # the defaults: the mean, filtered over time (sigma 2 frames), then one body per track
    from ddhpose.lifting.postprocess import track_bone_lengths, with_bone_lengths
    from ddhpose.lifting.temporal import smooth_in_time
    default = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3)
    smooth = smooth_in_time(torch.as_tensor(free.poses), 2.0)
    expected = with_bone_lengths(smooth, track_bone_lengths(smooth, H36M), H36M)
    np.testing.assert_allclose(default.poses, expected.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="smooth: expected a filter width >= 0"):
        lifter.lift(kp, layout="coco", image_size=SIZE, smooth=-1)


def test_height_scales_pose_hypotheses_and_trajectory_together(lifter):
    from ddhpose.lifting.postprocess import standing_height, track_bone_lengths
    from ddhpose.skeleton import H36M
    kp = coco_person(20, 500)[..., :2]
    guess = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=2, aggregation="j_agg")
    tall = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=2, aggregation="j_agg", height=1.9)
    assert float(standing_height(torch.as_tensor(tall.bone_lengths), H36M)) == pytest.approx(1.9)
    scale = 1.9 / float(standing_height(torch.as_tensor(guess.bone_lengths), H36M))
    np.testing.assert_allclose(tall.poses, guess.poses * scale, atol=1e-6)
    np.testing.assert_allclose(tall.hypotheses, guess.hypotheses * scale, atol=1e-6)
    # the person is larger and further away by the same factor: the 2D projection is unchanged
    np.testing.assert_allclose(tall.root_trajectory, guess.root_trajectory * scale, rtol=1e-6)
    assert tall.provenance["height"] == 1.9 and guess.provenance["height"] is None
    free = lifter.lift(kp, layout="coco", image_size=SIZE, bone_lengths="free", height=1.6)
    lengths = track_bone_lengths(torch.as_tensor(free.poses), H36M)
    assert float(standing_height(lengths, H36M)) == pytest.approx(1.6)
    for bad in (0.2, 3.0, float("nan")):
        with pytest.raises(ValueError, match="height: expected the person's height in metres"):
            lifter.lift(kp, layout="coco", image_size=SIZE, height=bad)


def test_fit_2d_reprojects_closer_with_the_same_bones_and_hypotheses(lifter):
    from ddhpose.geometry import bone_lengths
    from ddhpose.skeleton import H36M
    kp = coco_person(20, 500)[..., :2]
    # a random model's poses are deep enough that a short lens puts their near joints behind the camera
    lens = dict(focal_length=1150.0)
    plain = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=2, world=False, **lens)
    fitted = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=2, world=False, fit_2d=True, **lens)

    def reprojection(r):
        cam = r.poses + r.root_trajectory[:, None]
        return np.linalg.norm(cam[..., :2] / cam[..., 2:] * r.focal_length + np.array(SIZE) / 2 - r.keypoints_2d,
                              axis=-1).mean()

    assert reprojection(fitted) < 0.85 * reprojection(plain)  # a random model: far off, moved partway
    np.testing.assert_allclose(bone_lengths(torch.as_tensor(fitted.poses), H36M),
                               bone_lengths(torch.as_tensor(plain.poses), H36M), atol=1e-5)
    np.testing.assert_array_equal(fitted.hypotheses, plain.hypotheses)  # the samples stay as sampled
    assert fitted.provenance["fit_2d"] is True and plain.provenance["fit_2d"] is False


# ------------------------------------------------------------------ lift_file


def test_wrong_image_size_and_wrong_layout_are_caught(lifter):
    from ddhpose.lifting.keypoints import to_h36m
    coco = coco_person(20, 500)
    with pytest.raises(ValueError, match=r"lie outside the stated 400x300 image.*--image-size"):
        lifter.lift(coco[..., :2], coco[..., 2], layout="coco", image_size=(400, 300))
    h36m = to_h36m(coco[..., :2], coco[..., 2], "coco")[0]
    with pytest.warns(UserWarning, match=r"not in the 'coco' layout"):
        lifter.lift(h36m, layout="coco", image_size=SIZE)
    with pytest.warns(UserWarning, match=r"not in the 'h36m' layout"):
        lifter.lift(coco[..., :2], layout="h36m", image_size=SIZE)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right layout and size: no complaint (the world frame, which
        warnings.filterwarnings("ignore", "focal length: the clip cannot tell")  # (nor the camera's) the clip's
        lifter.lift(h36m, layout="h36m", image_size=SIZE, world=False)  # has warnings of its own, off)
        lifter.lift(coco[..., :2], coco[..., 2], layout="coco", image_size=SIZE, world=False)
