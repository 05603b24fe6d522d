"""The lifter: windows and blending, root estimation, J-Agg, Lifter.lift and lift_file end to end
with a tiny random model (its poses are meaningless; shapes, units, errors and files are not)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddhpose import lift as lift_module
from ddhpose.checkpoint import save_checkpoint
from ddhpose.config import ModelConfig
from ddhpose.data.windows import test_window_index
from ddhpose.geometry import project
from ddhpose.inputs import read_keypoints
from ddhpose.lift import (Lifter, WeightsNotFoundError, blend_windows, hann_weights, hypothesis_spread,
                          lift_file, weak_perspective_root, window_index)
from ddhpose.model.ddhpose import DDHPose
from ddhpose.results import load_result

FRAMES = 9
SIZE = (1000, 800)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = DDHPose(ModelConfig(frames=FRAMES, channels=32, depth=2, heads=4))
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_checkpoint(model, path)
    return path


@pytest.fixture(scope="module")
def lifter(checkpoint):
    return Lifter.from_pretrained(checkpoint, device="cpu")


# a standing person facing the camera, COCO order, pixels around (0, 0), y down
_STANDING_COCO = np.array([[0, -160], [8, -168], [-8, -168], [16, -164], [-16, -164], [36, -130], [-36, -130],
                           [42, -70], [-42, -70], [45, -15], [-45, -15], [22, 0], [-22, 0], [22, 90], [-22, 90],
                           [22, 180], [-22, 180]], dtype=np.float64)


def _coco(frames: int, x: float, seed: int = 0) -> np.ndarray:
    """(F, 17, 3) COCO keypoints [x, y, score] of a person near ``x``, moving slightly."""
    rng = np.random.default_rng(seed)
    base = _STANDING_COCO + [x, 400] + rng.uniform(-8, 8, (17, 2))
    t = np.arange(frames)[:, None, None]
    xy = base + 2.0 * t + rng.normal(0, 1, (frames, 17, 2))
    return np.concatenate([xy, np.full((frames, 17, 1), 0.9)], -1)


def _write_coco(path, people: dict[int, np.ndarray]) -> str:
    items = [{"image_id": f, "category_id": 1, "track_id": tid, "keypoints": kp[f].reshape(-1).tolist()}
             for tid, kp in people.items() for f in range(len(kp))]
    path.write_text(json.dumps(items))
    return str(path)


# ------------------------------------------------------------------ windows and blending

def test_window_index_overlaps_and_pads():
    np.testing.assert_array_equal(window_index(10, 4, 2)[:, 0], [0, 2, 4, 6])
    np.testing.assert_array_equal(window_index(9, 4, 2)[:, 0], [0, 2, 4, 5])  # last window ends at N
    np.testing.assert_array_equal(window_index(3, 5, 2), [[0, 1, 2, 2, 2]])
    for n in (1, 5, 9, 10, 23):  # stride F is the evaluation's non-overlapping layout
        np.testing.assert_array_equal(window_index(n, 5, 5), test_window_index(n, 5))
    with pytest.raises(ValueError, match="stride"):
        window_index(10, 4, 5)


def test_blend_windows_hand_case():
    index = window_index(6, 4, 2)  # [[0, 1, 2, 3], [2, 3, 4, 5]]
    a, b = np.sin(np.pi / 8) ** 2, np.cos(np.pi / 8) ** 2  # hann_weights(4) = [a, b, b, a]
    np.testing.assert_allclose(hann_weights(4), [a, b, b, a])
    values = torch.tensor([[1.0] * 4, [3.0] * 4], dtype=torch.float64)
    expected = [1, 1, (b * 1 + a * 3) / (a + b), (a * 1 + b * 3) / (a + b), 3, 3]
    np.testing.assert_allclose(blend_windows(values, index, 6), expected)


def test_blend_windows_ignores_padding_and_keeps_constants():
    values = torch.tensor([[10.0, 20, 30, 40, 50]])
    np.testing.assert_allclose(blend_windows(values, window_index(3, 5, 2), 3), [10, 20, 30])
    for n, f, stride in ((7, 3, 1), (50, 9, 4), (50, 9, 9), (9, 9, 4), (2, 9, 4)):
        index = window_index(n, f, stride)
        ones = torch.ones(*index.shape, 2, 3)  # every frame's weights normalise to exactly 1
        np.testing.assert_allclose(blend_windows(ones, index, n), torch.ones(n, 2, 3), rtol=1e-6)
        frame_values = torch.from_numpy(index).double()[..., None]  # window value == frame number
        np.testing.assert_allclose(blend_windows(frame_values, index, n)[:, 0], np.arange(n))


# ------------------------------------------------------------------ root estimate and J-Agg

def _pose() -> torch.Tensor:
    """A standing root-relative pose (17, 3) in metres, camera frame (y down)."""
    from ddhpose.geometry import compose
    from ddhpose.skeleton import H36M
    direction = torch.zeros(17, 3)
    direction[:, 1] = 1.0  # legs down
    direction[[7, 8, 9, 10, 11, 14], 1] = -1.0  # spine and head up
    direction[[1, 4], :] = torch.tensor([[-1.0, 0, 0], [1.0, 0, 0]])  # hips sideways
    direction[[11, 14], :] = torch.tensor([[1.0, 0, 0.2], [-1.0, 0, 0.2]])
    length = torch.full((17, 1), 0.25)
    length[0] = 0
    return compose(direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-9), length, H36M)


def test_weak_perspective_root_recovers_the_camera_position():
    pose, root, focal = _pose(), torch.tensor([0.4, -0.3, 5.0]), 2.3
    x2d = project(pose + root, torch.tensor([focal, focal, 0, 0, 0, 0, 0, 0, 0]))
    est = weak_perspective_root(pose, x2d, focal)
    np.testing.assert_allclose(est, root, rtol=0.05, atol=0.02)


def test_j_agg_picks_the_hypothesis_that_reprojects():
    pose, root, focal = _pose(), torch.tensor([0.2, 0.1, 4.0]), 2.3
    x2d = project(pose + root, torch.tensor([focal, focal, 0, 0, 0, 0, 0, 0, 0]))[None].repeat(3, 1, 1)
    wrong = pose.clone()
    wrong[[3, 13, 16]] += torch.tensor([0.3, -0.2, 0.0])  # wrong ankle and wrists, off in 2D
    samples = torch.stack([wrong, pose])[:, None].repeat(1, 3, 1, 1)  # (H=2, F=3, 17, 3)
    chosen, traj, used = lift_module._aggregate(samples, x2d, focal, "j_agg")
    assert used == "j_agg" and traj.shape == (3, 3)
    torch.testing.assert_close(chosen, pose[None].repeat(3, 1, 1))
    mean, _, used = lift_module._aggregate(samples, x2d, focal, "p_agg")
    assert used == "p_agg"
    torch.testing.assert_close(mean, samples.mean(0))
    spread = hypothesis_spread(samples)
    assert spread.shape == (3, 17) and spread[:, 3].gt(0).all() and spread[:, 0].eq(0).all()


# ------------------------------------------------------------------ Lifter.lift

def test_bundled_weights_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(lift_module, "BUNDLED_WEIGHTS", "assets/pretrained/not_there.safetensors")
    with pytest.raises(WeightsNotFoundError, match="not installed.*from_pretrained"):
        Lifter.from_pretrained()
    assert issubclass(WeightsNotFoundError, ValueError)


@pytest.mark.parametrize("frames", [4, FRAMES, 40])
def test_lift_any_length(lifter, frames):
    r = lifter.lift(_coco(frames, 500)[..., :2], layout="coco", image_size=SIZE, hypotheses=2)
    assert r.poses.shape == (frames, 17, 3) and r.hypotheses.shape == (2, frames, 17, 3)
    assert r.uncertainty.shape == (frames, 17) and r.keypoints_2d.shape == (frames, 17, 2)
    assert np.isfinite(r.hypotheses).all() and np.isfinite(r.poses).all()
    assert np.all(r.poses[:, 0] == 0) and np.all(r.hypotheses[:, :, 0] == 0)
    assert r.units == "metres" and r.aggregation == "p_agg"
    np.testing.assert_array_equal(r.frames, np.arange(frames))


def test_uncertainty_and_seed(lifter):
    kp = _coco(12, 500)[..., :2]
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
    kp = _coco(6, 300)
    kp[2, 15, 2] = 0.05  # a low-score left ankle
    people = {1: kp}
    tracks = read_keypoints(_write_coco(tmp_path / "k.json", people))
    r = lifter.lift(tracks[0], image_size=SIZE)
    assert r.track_id == 1 and r.missing.sum() == 1 and r.missing[2, 6]  # H36M left ankle
    pelvis = (kp[:, 11, :2] + kp[:, 12, :2]) / 2
    np.testing.assert_allclose(r.keypoints_2d[:, 0], pelvis, rtol=1e-5)
    # filled relative to the body: the pelvis now plus the ankle's mean offset from it either side
    offset = ((kp[1, 15, :2] - pelvis[1]) + (kp[3, 15, :2] - pelvis[3])) / 2
    np.testing.assert_allclose(r.keypoints_2d[2, 6], pelvis[2] + offset, rtol=1e-5)


def test_lift_input_errors(lifter):
    kp = _coco(5, 500)[..., :2]
    with pytest.raises(ValueError, match="image_size: unknown"):
        lifter.lift(kp, layout="coco")
    with pytest.raises(ValueError, match="17 joints may be 'coco' or 'h36m'"):
        lifter.lift(kp, image_size=SIZE)
    with pytest.raises(ValueError, match="track 0: keypoints: all 5 frames are missing"):
        lifter.lift(np.full_like(kp, np.nan), layout="coco", image_size=SIZE)
    with pytest.raises(ValueError, match="aggregation"):
        lifter.lift(kp, layout="coco", image_size=SIZE, aggregation="best")
    with pytest.raises(ValueError, match=r"bone_lengths: expected one of \['track', 'free'\]"):
        lifter.lift(kp, layout="coco", image_size=SIZE, bone_lengths="fixed")


def test_default_is_the_mean_with_one_body_per_track(lifter):
    from ddhpose.metrics import bone_length_variation, left_right_asymmetry
    from ddhpose.skeleton import H36M
    kp = _coco(30, 500)[..., :2]
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
    from ddhpose.postprocess import smooth_in_time, track_bone_lengths, with_bone_lengths
    default = lifter.lift(kp, layout="coco", image_size=SIZE, hypotheses=3)
    smooth = smooth_in_time(torch.as_tensor(free.poses), 2.0)
    expected = with_bone_lengths(smooth, track_bone_lengths(smooth, H36M), H36M)
    np.testing.assert_allclose(default.poses, expected.numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="smooth: expected a filter width >= 0"):
        lifter.lift(kp, layout="coco", image_size=SIZE, smooth=-1)


def test_height_scales_pose_hypotheses_and_trajectory_together(lifter):
    from ddhpose.postprocess import standing_height, track_bone_lengths
    from ddhpose.skeleton import H36M
    kp = _coco(20, 500)[..., :2]
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


# ------------------------------------------------------------------ lift_file

def test_lift_file_two_people(lifter, tmp_path):
    src = _write_coco(tmp_path / "dets.json", {7: _coco(11, 700, 1), 3: _coco(11, 200, 2)})
    paths = lift_file(src, tmp_path / "out" / "poses.npz", image_size=SIZE, hypotheses=2, lifter=lifter)
    assert [p.name for p in paths] == ["poses_track3.npz", "poses_track7.npz"]
    for path, tid in zip(paths, (3, 7)):
        r = load_result(path)
        assert r.track_id == tid and r.poses.shape == (11, 17, 3) and r.hypotheses.shape == (2, 11, 17, 3)
        assert np.isfinite(r.poses).all() and np.all(r.poses[:, 0] == 0)
        with np.load(path, allow_pickle=False) as data:
            assert str(data["units"]) == "metres" and data["image_size"].tolist() == list(SIZE)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["poses_track3.npz", "poses_track7.npz"]


def test_lift_file_h36m_npy_to_json(lifter, tmp_path):
    from ddhpose.keypoints import to_h36m
    src = tmp_path / "kp.npy"
    coco = _coco(14, 500)
    np.save(src, to_h36m(coco[..., :2], coco[..., 2], "coco")[0].astype(np.float32))
    (path,) = lift_file(src, tmp_path / "kp.json", layout="h36m", image_size=SIZE, lifter=lifter)
    assert path.name == "kp.json" and json.loads(path.read_text())["units"] == "metres"
    r = load_result(path)
    np.testing.assert_allclose(r.keypoints_2d, np.load(src), rtol=1e-6)  # h36m: no conversion
    assert r.poses.shape == (14, 17, 3)


def test_lift_file_errors_leave_no_output(lifter, tmp_path):
    out = tmp_path / "out"
    src = _write_coco(tmp_path / "d.json", {1: _coco(5, 300)})
    with pytest.raises(ValueError, match="image_size: unknown"):
        lift_file(src, out / "r.npz", lifter=lifter)
    dead = _coco(5, 700)
    dead[..., 2] = 0.0  # every keypoint below the score threshold: a false positive, dropped
    src = _write_coco(tmp_path / "dead.json", {1: _coco(5, 300), 2: dead})
    (path,) = lift_file(src, tmp_path / "one.npz", image_size=SIZE, lifter=lifter)
    assert load_result(path).track_id == 1
    with pytest.raises(ValueError, match=r"no detection scores at least 0.3 \(the best: 0\)"):
        lift_file(_write_coco(tmp_path / "dead2.json", {2: dead}), out / "r.npz", image_size=SIZE, lifter=lifter)
    pickled = tmp_path / "p.npz"
    np.savez(pickled, keypoints=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled"):
        lift_file(pickled, out / "r.npz", layout="h36m", image_size=SIZE, lifter=lifter)
    with pytest.raises(ValueError, match="unsupported result extension"):
        lift_file(src, out / "r.csv", image_size=SIZE, lifter=lifter)
    assert not out.exists() or list(out.iterdir()) == []


def test_lift_file_writer_failure_mid_way_leaves_nothing(lifter, tmp_path, monkeypatch):
    src = _write_coco(tmp_path / "d.json", {1: _coco(5, 300), 2: _coco(5, 700)})
    written = []
    real_write = lift_module.write_result

    def flaky(result, path, fmt):
        if written:
            path.write_bytes(b"half")
            raise OSError("disk full")
        real_write(result, path, fmt)
        written.append(path)

    monkeypatch.setattr(lift_module, "write_result", flaky)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        lift_file(src, out / "r.npz", image_size=SIZE, lifter=lifter)
    assert written and list(out.iterdir()) == []  # the first track's finished file is gone too


def test_lift_file_writes_bvh_beside_the_result(lifter, tmp_path):
    from ddhpose.bvh_export import read_pose_bvh
    from ddhpose.geometry import decompose
    from ddhpose.skeleton import H36M
    src = _write_coco(tmp_path / "d.json", {5: _coco(8, 400)})
    paths = lift_file(src, tmp_path / "walk.json", image_size=SIZE, bvh=True, fps=30, lifter=lifter)
    assert [p.name for p in paths] == ["walk.json", "walk.bvh"]
    assert "Frame Time: 0.03333333" in paths[1].read_text()
    back = read_pose_bvh(paths[1], frame="camera")  # root-relative, median bone lengths
    poses = torch.from_numpy(load_result(paths[0]).poses).double()
    assert back.shape == (8, 17, 3) and back[:, 0].abs().max() < 1e-5
    torch.testing.assert_close(decompose(back.double(), H36M)[0], decompose(poses, H36M)[0], atol=1e-3, rtol=0)
    # metres and a moving root on request: the root follows the result's estimated trajectory
    paths = lift_file(src, tmp_path / "walk_m.json", image_size=SIZE, bvh=True, fps=30, lifter=lifter,
                      bvh_units="m", bvh_trajectory=True)
    result = load_result(paths[0])
    back = read_pose_bvh(paths[1], frame="camera", units="m")
    np.testing.assert_allclose(back[:, 0].numpy(), result.root_trajectory, atol=1e-4)


def test_results_record_how_they_were_made(lifter, checkpoint, tmp_path):
    src = _write_coco(tmp_path / "d.json", {5: _coco(12, 400)})
    (path,) = lift_file(src, tmp_path / "r.npz", image_size=SIZE, lifter=lifter, fps=30, focal_length=900.0,
                        hypotheses=2, smooth=1.5)
    r = load_result(path)
    p = r.provenance
    assert p["checkpoint"] == str(checkpoint) and p["precision"] == "fp32" and p["hypotheses"] == 2
    assert (p["smooth"], p["aggregation"], p["bone_lengths"], p["focal_length"]) == (1.5, "p_agg", "track", 900.0)
    assert p["input"] == src and p["tracking"]["min_frames"] == 10 and r.fps == 30 and r.focal_length == 900


def test_wrong_image_size_and_wrong_layout_are_caught(lifter):
    from ddhpose.keypoints import to_h36m
    coco = _coco(20, 500)
    with pytest.raises(ValueError, match=r"lie outside the stated 400x300 image.*--image-size"):
        lifter.lift(coco[..., :2], coco[..., 2], layout="coco", image_size=(400, 300))
    h36m = to_h36m(coco[..., :2], coco[..., 2], "coco")[0]
    with pytest.warns(UserWarning, match=r"not in the 'coco' layout \(see --layout\)"):
        lifter.lift(h36m, layout="coco", image_size=SIZE)
    with pytest.warns(UserWarning, match=r"not in the 'h36m' layout"):
        lifter.lift(coco[..., :2], layout="h36m", image_size=SIZE)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right layout and size: no complaint
        lifter.lift(h36m, layout="h36m", image_size=SIZE)
        lifter.lift(coco[..., :2], coco[..., 2], layout="coco", image_size=SIZE)
