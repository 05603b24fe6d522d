import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ddhpose.data import windows as W
from ddhpose.data.sequence import PoseSequence
from ddhpose.geometry import flip_pose, project
from ddhpose.skeleton import H36M, H36M_NAMES, Skeleton
from ddhpose.windowing import unwindow

# screen-normalised intrinsics with distortion, so the flip test sees every coefficient
INTRINSICS = np.array([2.3, 2.29, 0.03, -0.02, -0.2, 0.24, -0.003, -0.0016, -0.0027], np.float32)


def _sequence(n: int, seed: int = 0, valid: bool = False) -> PoseSequence:
    """A sequence whose 2D is the exact projection of its 3D (frame index encoded in x of joint 1)."""
    rng = np.random.default_rng(seed)
    poses = rng.uniform(-0.5, 0.5, (n, 17, 3))
    poses[:, 0] = 0
    traj = np.array([0.3, -0.1, 4.0]) + rng.normal(0, 0.05, (n, 1, 3))
    kp = project(torch.from_numpy(poses + traj), torch.from_numpy(INTRINSICS).double()).numpy()
    return PoseSequence(keypoints_2d=kp, poses_3d=poses, trajectory=traj, intrinsics=INTRINSICS,
                        image_size=(1000, 1000), subject="S1", action=f"take{seed}", camera="c",
                        valid=(np.arange(n) % 3 != 0) if valid else None)


@pytest.mark.parametrize("n, f", [(10, 4), (12, 4), (3, 5), (1, 1), (243, 243), (500, 243)])
def test_window_starts_cover_centred(n, f):
    starts = W.window_starts(n, f)
    assert len(starts) == math.ceil(n / f)
    assert np.all(np.diff(starts) == f)
    pad_left, pad_right = -starts[0], starts[-1] + f - n
    assert pad_left >= 0 and pad_right >= 0 and pad_right - pad_left in (0, 1)
    assert W.window_starts(10, 4) == [-1, 3, 7]


@pytest.mark.parametrize("offset", [1, 2, 3])
def test_window_offsets_keep_every_frame_covered_once(offset):
    n, f = 10, 4
    starts = W.window_starts(n, f, offset)
    covered = np.concatenate([np.arange(s, s + f) for s in starts])
    inside = covered[(covered >= 0) & (covered < n)]
    assert sorted(inside.tolist()) == list(range(n))
    assert starts[0] == W.window_starts(n, f)[0] + offset - f or starts[0] == W.window_starts(n, f)[0] + offset
    with pytest.raises(ValueError, match=r"offset expected in \[0, 4\)"):
        W.window_starts(n, f, 4)


def test_training_windows_index_every_sequence():
    seqs = [_sequence(10), _sequence(3, 1)]
    assert W.training_windows(seqs, 4) == [(0, -1), (0, 3), (0, 7), (1, 0)]
    assert W.training_windows(seqs, 4, offset=[0, 2]) == [(0, -1), (0, 3), (0, 7), (1, -2), (1, 2)]


def test_items_are_edge_padded_windows_and_their_mirror_images():
    seq = _sequence(10, valid=True)
    ds = W.TrainWindows([seq], 4, H36M)
    assert len(ds) == 6
    first = ds[0]
    assert {k: tuple(v.shape) for k, v in first.items()} == {
        "x2d": (4, 17, 2), "y3d": (4, 17, 3), "intrinsics": (9,), "traj": (4, 1, 3), "valid": (4,)}
    assert all(v.dtype == torch.float32 for v in first.values())
    frames = [0, 0, 1, 2]  # window starts at -1: the first frame is repeated
    np.testing.assert_array_equal(first["y3d"].numpy(), seq.poses_3d[frames])
    np.testing.assert_array_equal(first["x2d"].numpy(), seq.keypoints_2d[frames])
    np.testing.assert_array_equal(first["valid"].numpy(), seq.valid[frames].astype(np.float32))
    np.testing.assert_array_equal(ds[2]["y3d"].numpy(), seq.poses_3d[[7, 8, 9, 9]])
    mirrored = ds[3]
    assert torch.equal(mirrored["y3d"], flip_pose(first["y3d"], H36M))
    assert torch.equal(mirrored["x2d"], flip_pose(first["x2d"], H36M))
    assert torch.equal(mirrored["valid"], first["valid"])
    assert torch.equal(mirrored["traj"][..., 0], -first["traj"][..., 0])
    assert len(W.TrainWindows([seq], 4, H36M, flip=False)) == 3


def test_flipped_camera_reprojects_the_flipped_pose():
    ds = W.TrainWindows([_sequence(8)], 8, H36M)
    plain, mirrored = ds[0], ds[1]
    for item in (plain, mirrored):
        uv = project((item["y3d"] + item["traj"]).double(), item["intrinsics"].double())
        assert torch.allclose(uv.float(), item["x2d"], atol=1e-5)
    assert mirrored["intrinsics"][2] == -plain["intrinsics"][2]
    assert mirrored["intrinsics"][7] == -plain["intrinsics"][7]
    assert torch.equal(mirrored["intrinsics"][[0, 1, 3, 4, 5, 6, 8]], plain["intrinsics"][[0, 1, 3, 4, 5, 6, 8]])


def test_noise_and_offsets_are_deterministic_per_seed_and_epoch():
    seqs = [_sequence(50, 0), _sequence(37, 1)]
    noise = W.Noise2D(sigma=0.01, outlier_prob=0.1, outlier_sigma=0.1, drop_prob=0.05)

    def make(seed):
        return W.TrainWindows(seqs, 16, H36M, random_offset=True, noise_2d=noise, seed=seed)

    a, b = make(3), make(3)
    a.set_epoch(5), b.set_epoch(5)
    assert a.windows == b.windows and len(a) == len(b)
    for i in (0, 3, len(a) - 1):
        assert torch.equal(a[i]["x2d"], b[i]["x2d"])
    epochs = {tuple(a.windows)}
    for epoch in range(6):
        a.set_epoch(epoch)
        epochs.add(tuple(a.windows))
    assert len(epochs) > 1
    a.set_epoch(5)
    assert a.windows == b.windows and torch.equal(a[2]["x2d"], b[2]["x2d"])
    b.set_epoch(6)
    assert not torch.equal(a[0]["x2d"], b[0]["x2d"]) or a.windows[0] != b.windows[0]
    assert not torch.equal(make(4)[0]["x2d"], make(3)[0]["x2d"])
    clean = W.TrainWindows(seqs, 16, H36M, seed=3)
    noisy = W.TrainWindows(seqs, 16, H36M, noise_2d=noise, seed=3)
    jitter = (noisy[1]["x2d"] - clean[1]["x2d"]).abs()
    assert 0 < jitter.median() < 0.05  # small jitter, with a few larger outliers


def test_noise_components():
    x = torch.randn(6, 17, 2)
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(W.augment_2d(x, W.Noise2D(0, 0, 0, 0), gen()), x)
    dropped = W.augment_2d(x, W.Noise2D(0, 0, 0, 1.0), gen())  # every joint lost
    assert torch.allclose(dropped[2], (x[1] + x[3]) / 2) and torch.allclose(dropped[0], (x[0] + x[1]) / 2)
    outliers = W.augment_2d(x, W.Noise2D(0, 1.0, 1.0, 0), gen())
    assert (outliers - x).abs().mean() > 0.3
    jitter = W.augment_2d(x, W.Noise2D(0.01, 0, 0, 0), gen()) - x
    assert 0.005 < jitter.std() < 0.015


def test_drift_is_a_slow_offset_per_joint_drawn_after_the_other_noise():
    x = torch.zeros(27, 17, 2)
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    drift = W.augment_2d(x, W.Noise2D(0, 0, 0, 0, drift=0.02), gen())
    steps = drift.diff(dim=0)
    assert torch.allclose(steps, steps[:1].expand_as(steps), atol=1e-6)  # linear in time per joint
    assert 0.01 < drift.mean(0).std() < 0.04  # the offsets differ per joint and coordinate
    jitter = W.augment_2d(x, W.Noise2D(0.01, 0, 0, 0), gen())
    both = W.augment_2d(x, W.Noise2D(0.01, 0, 0, 0, drift=0.02), gen())
    added = (both - jitter).diff(dim=0)  # the jitter draws are unchanged; drift adds a ramp on top
    assert torch.allclose(added, added[:1].expand_as(added), atol=1e-5) and added.abs().max() > 0


def test_detector_offsets_are_constant_per_window_and_largest_at_hips_and_knees():
    # a person 1.0 high in screen units: rows 0..1 over the joints, the same in every frame
    x = torch.stack([torch.zeros(17), torch.linspace(0, 1, 17)], -1).expand(9, 17, 2).to(torch.float64)
    weights = W.detector_offset_weights(H36M)
    names = dict(zip(H36M.names, weights.tolist()))
    assert names["left_hip"] == names["right_knee"] == 1.0 and names["left_ankle"] == 0.25
    assert names["neck"] == W.OTHER_OFFSET_WEIGHT
    draws = torch.stack([W.augment_2d(x, W.Noise2D(offset=0.02), torch.Generator().manual_seed(s), H36M) - x
                         for s in range(800)])  # (S, F, J, 2)
    assert torch.allclose(draws, draws[:, :1].expand_as(draws))  # one offset per joint for the window
    spread = draws[:, 0].std(dim=(0, 2))  # (J,): 1600 draws each, so within about 2 % (4 % at 2 sigma)
    assert torch.allclose(spread, 0.02 * weights, rtol=0.07)
    plain = W.augment_2d(x, W.Noise2D(sigma=0.01), torch.Generator().manual_seed(3), H36M)
    both = W.augment_2d(x, W.Noise2D(sigma=0.01, offset=0.02), torch.Generator().manual_seed(3), H36M)
    moved = both - plain  # drawn last: the jitter is the same draws, the offset constant on top
    assert torch.allclose(moved, moved[:1].expand_as(moved)) and moved.abs().max() > 0
    lying = x.flip(-1) * 2  # twice the size, lying: the offsets follow the longer side of the box
    twice = W.augment_2d(lying, W.Noise2D(offset=0.02), torch.Generator().manual_seed(0), H36M) - lying
    assert torch.allclose(twice, 2 * draws[0])
    with pytest.raises(ValueError, match="skeleton"):
        W.augment_2d(x, W.Noise2D(offset=0.02), torch.Generator())
    unnamed = Skeleton(H36M.parents, H36M.joints_left, H36M.joints_right)
    with pytest.raises(ValueError, match="no joint names"):
        W.augment_2d(x, W.Noise2D(offset=0.02), torch.Generator(), unnamed)
    with pytest.raises(ValueError, match="offset"):
        W.Noise2D(offset=-0.1)


def test_dataset_collates_and_rejects_other_skeletons():
    batch = next(iter(DataLoader(W.TrainWindows([_sequence(20)], 8, H36M), batch_size=4, shuffle=True)))
    assert batch["x2d"].shape == (4, 8, 17, 2) and batch["intrinsics"].shape == (4, 9)
    from ddhpose.skeleton import MPI_INF_3DHP
    with pytest.raises(ValueError, match="do not match skeleton '3dhp'"):
        W.TrainWindows([_sequence(20)], 8, MPI_INF_3DHP)


@pytest.mark.parametrize("n, f, expected_windows", [(3, 5, 1), (5, 5, 1), (11, 5, 3), (10, 5, 2), (1, 4, 1)])
def test_test_windows_round_trip(n, f, expected_windows):
    values = np.arange(n * 2, dtype=np.float32).reshape(n, 2) + 100
    windows, index = W.test_windows(values, f)
    assert windows.shape == (expected_windows, f, 2) and index.shape == (expected_windows, f)
    assert index[-1, -1] == n - 1
    np.testing.assert_array_equal(windows, values[index])
    if n >= f:
        np.testing.assert_array_equal(index[-1], np.arange(n - f, n))  # the last window: the last F frames
        np.testing.assert_array_equal(index[:-1].reshape(-1), np.arange((expected_windows - 1) * f))
    else:
        np.testing.assert_array_equal(index[0], list(range(n)) + [n - 1] * (f - n))
    np.testing.assert_array_equal(unwindow(windows, index, n), values)
    tensor_windows, _ = W.test_windows(torch.from_numpy(values), f)
    assert torch.equal(unwindow(tensor_windows, index, n), torch.from_numpy(values))


def test_test_windows_of_a_sequence():
    seq = _sequence(7, valid=True)
    windows, index = W.test_windows(seq, 4)
    assert index.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]]
    assert windows["x2d"].shape == (2, 4, 17, 2) and windows["intrinsics"].shape == (2, 9)
    np.testing.assert_array_equal(windows["y3d"][1].numpy(), seq.poses_3d[3:7])
    np.testing.assert_array_equal(windows["valid"][0].numpy(), seq.valid[:4].astype(np.float32))
    assert W.test_windows.__test__ is False  # pytest must not collect the library function


def test_symmetric_bone_factors_pair_twins_and_scale_the_body():
    gen = torch.Generator().manual_seed(0)
    factors = torch.stack([W.symmetric_bone_factors(H36M, 0.1, 0.05, gen) for _ in range(400)])
    mirror = list(H36M.flip_permutation)
    torch.testing.assert_close(factors, factors[:, mirror])  # a left bone and its right twin alike
    assert not torch.allclose(factors[:, 1], factors[:, 2])  # different bones differ
    log = factors.log()
    spread = log[:, H36M.bone_slots].std(0)  # every bone: sqrt(0.1^2 + 0.05^2) ~ 0.112
    assert ((spread > 0.09) & (spread < 0.135)).all(), spread
    assert torch.allclose(W.symmetric_bone_factors(H36M, 0.0, 0.0, gen), torch.ones(17, dtype=torch.float64))


def test_scale_bones_recomposes_and_reprojects():
    seq = _sequence(6)
    y3d, traj = torch.from_numpy(seq.poses_3d), torch.from_numpy(seq.trajectory)
    intr = torch.from_numpy(seq.intrinsics)
    same = W.scale_bones(y3d, traj, intr, torch.ones(17, dtype=torch.float64), H36M)
    torch.testing.assert_close(same[0], y3d)
    torch.testing.assert_close(same[1], torch.from_numpy(seq.keypoints_2d), atol=1e-5, rtol=0)
    factors = torch.linspace(0.8, 1.2, 17, dtype=torch.float64)
    pose, x2d = W.scale_bones(y3d, traj, intr, factors, H36M)
    from ddhpose.geometry import bone_lengths, decompose
    ratio = bone_lengths(pose, H36M)[:, 1:] / bone_lengths(y3d, H36M)[:, 1:]
    torch.testing.assert_close(ratio, factors[1:].float().expand_as(ratio))
    torch.testing.assert_close(decompose(pose, H36M)[0], decompose(y3d, H36M)[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(x2d, project(pose.double() + traj.double(), intr.double()).float())
    assert W.scale_bones(y3d, traj * 0, intr, factors, H36M) is None  # no root position: left as it is


def test_bone_augmentation_is_deterministic_and_keeps_2d_consistent():
    seqs = [_sequence(30, seed=s) for s in range(2)]
    plain = W.TrainWindows(seqs, 8, H36M)
    aug = W.TrainWindows(seqs, 8, H36M, bone_scale=0.1, body_scale=0.05, seed=3)
    again = W.TrainWindows(seqs, 8, H36M, bone_scale=0.1, body_scale=0.05, seed=3)
    for i in (0, len(aug) - 1):  # a plain and a mirrored item
        a, b, p = aug[i], again[i], plain[i]
        torch.testing.assert_close(a["x2d"], b["x2d"])
        assert not torch.allclose(a["y3d"], p["y3d"])
        reproj = project(a["y3d"].double() + a["traj"].double(), a["intrinsics"].double())
        torch.testing.assert_close(a["x2d"], reproj.float(), atol=1e-5, rtol=0)
    aug.set_epoch(1)
    assert not torch.allclose(aug[0]["y3d"], again[0]["y3d"])  # new factors every epoch


def test_repeat_factors_follow_the_class_frequency():
    classes = [np.array([0] * 90 + [2] * 10), None, np.array([0] * 100)]  # class 2 on 5 % of frames
    factors = W.repeat_factors(classes, threshold=0.2)
    assert factors[0] == 1.0  # common: never repeated
    assert factors[2] == pytest.approx(math.sqrt(0.2 / 0.05))  # rare: sqrt(threshold / fraction)
    assert factors[1] == factors[3] == 1.0  # absent classes keep 1


def test_oversampling_repeats_windows_with_rare_motion_only():
    seqs = [_sequence(40, seed=s) for s in range(2)]
    for s in seqs:
        s.up = np.array([0.0, -1.0, 0.0], np.float32)
    classes = [np.zeros(40, np.int64), np.zeros(40, np.int64)]
    classes[1][30:] = 2  # the second sequence's last 10 frames are rare
    windows = W.training_windows(seqs, 8)
    factors = np.array([1.0, 1.0, 3.0, 1.0, 1.0])
    out = W.oversampled(windows, 8, classes, factors, np.random.default_rng(0))
    counts = {w: out.count(w) for w in windows}
    assert all(counts[w] == (3 if w[0] == 1 and w[1] + 8 > 30 else 1) for w in windows)
    # a fractional factor repeats at random, on average by its value
    half = W.oversampled(windows * 200, 8, classes, np.array([1.0, 1, 1.5, 1, 1]), np.random.default_rng(1))
    rare = sum(1 for w in windows if w[0] == 1 and w[1] + 8 > 30) * 200
    assert abs((len(half) - (len(windows) * 200 - rare)) / rare - 1.5) < 0.05


def test_train_windows_oversample_classified_sequences_deterministically():
    seqs = [_sequence(60, seed=s) for s in range(3)]
    for s in seqs[:2]:
        s.up = np.array([0.0, -1.0, 0.0], np.float32)  # random joints: classes vary frame to frame
    a = W.TrainWindows(seqs, 8, H36M, oversample=0.5, random_offset=True, seed=2)
    b = W.TrainWindows(seqs, 8, H36M, oversample=0.5, random_offset=True, seed=2)
    plain = W.TrainWindows(seqs, 8, H36M, random_offset=True, seed=2)
    assert a.frame_classes[2] is None and a.windows == b.windows
    assert len(a.windows) > len(plain.windows) and set(a.windows) == set(plain.windows)
    assert [w for w in a.windows if w[0] == 2] == [w for w in plain.windows if w[0] == 2]  # no up: once


def test_occludable_limbs_are_the_end_joints_and_their_single_child_parents():
    named = {tuple(H36M_NAMES[j] for j in limb) for limb in W.occludable_limbs(H36M)}
    ends = {"right_ankle": "right_knee", "left_ankle": "left_knee", "head": "neck", "left_wrist": "left_elbow",
            "right_wrist": "right_elbow"}
    assert named == {(e,) for e in ends} | {(p, e) for e, p in ends.items()}


def test_occlude_limb_carries_the_hidden_joints_with_the_root():
    t = torch.arange(10, dtype=torch.float64)[:, None, None]
    x = torch.randn(1, 17, 2, dtype=torch.float64) + torch.randn(10, 17, 2, dtype=torch.float64) * 0.01
    x = x + torch.cat((t * 0.1, t * 0.0), -1)  # the body walks right
    out = W.occlude_limb(x, (12, 13), 3, 7)
    others = [j for j in range(17) if j not in (12, 13)]
    assert torch.equal(out[:, others], x[:, others]) and torch.equal(out[:3], x[:3]) and torch.equal(out[7:], x[7:])
    offset = x - x[:, :1]
    for k in range(3, 7):  # the offset from the root runs linearly from frame 2's to frame 7's
        w = (k - 2) / 5
        assert torch.allclose(out[k, 12:14] - x[k, :1], (1 - w) * offset[2, 12:14] + w * offset[7, 12:14])
    held = W.occlude_limb(x, (16,), 6, 10)  # a run to the window's end holds the last seen offset
    assert torch.allclose(held[6:, 16] - x[6:, 0], offset[5, 16].expand(4, 2))


def test_occlusion_hides_one_limb_on_one_run_after_the_other_draws():
    x = torch.randn(27, 17, 2)
    gen = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    base = W.Noise2D(0.01, 0, 0, 0, drift=0.01)
    limbs = set(W.occludable_limbs(H36M))
    seen = set()
    for seed in range(40):
        plain = W.augment_2d(x, base, gen(seed), H36M)
        occluded = W.augment_2d(x, W.Noise2D(0.01, 0, 0, 0, drift=0.01, occlusion=1.0), gen(seed), H36M)
        changed = (occluded != plain).any(-1)  # (F, J)
        joints = tuple(int(j) for j in changed.any(0).nonzero())
        frames = changed.any(1).nonzero()[:, 0]
        assert joints in limbs or not joints  # a run of one frame may fill a joint with itself
        if joints:
            assert 1 <= len(frames) <= 26 and len(frames) == int(frames[-1] - frames[0]) + 1  # one run
            seen.add(joints)
    assert len(seen) >= 6  # the limb is drawn at random
    never = W.augment_2d(x, W.Noise2D(0.01, 0, 0, 0, drift=0.01, occlusion=0.0), gen(0), H36M)
    assert torch.equal(never, W.augment_2d(x, base, gen(0)))
    with pytest.raises(ValueError, match="skeleton"):
        W.augment_2d(x, W.Noise2D(occlusion=0.5), gen(0))
    with pytest.raises(ValueError, match="occlusion"):
        W.Noise2D(occlusion=1.5)
