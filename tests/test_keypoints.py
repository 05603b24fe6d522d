"""Keypoint layouts, conversion to Human3.6M-17, gap filling and tracking."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ddhpose.lifting.keypoints import (COCO17, H36M17, LAYOUTS, MEDIAPIPE33, OPENPOSE25, KeypointTrack, fill_gaps,
                                       get_layout, to_h36m)
from ddhpose.skeleton import H36M_NAMES

H = {name: j for j, name in enumerate(H36M_NAMES)}


def _random(layout, *lead, seed=0):
    g = torch.Generator().manual_seed(seed)
    kp = torch.rand(*lead, layout.num_joints, 2, generator=g) * 1000
    sc = torch.rand(*lead, layout.num_joints, generator=g)
    return kp, sc


def test_layouts_are_complete_and_named():
    assert [lay.num_joints for lay in (COCO17, OPENPOSE25, MEDIAPIPE33, H36M17)] == [17, 25, 33, 17]
    assert set(LAYOUTS) == {"coco", "openpose25", "mediapipe33", "h36m"}
    for lay in LAYOUTS.values():
        assert len(set(lay.names)) == lay.num_joints
    assert COCO17.names[:3] == ("nose", "left_eye", "right_eye") and COCO17.names[-1] == "right_ankle"
    assert OPENPOSE25.index("mid_hip") == 8 and OPENPOSE25.index("neck") == 1
    assert MEDIAPIPE33.index("left_hip") == 23 and MEDIAPIPE33.index("right_foot_index") == 32
    assert H36M17.names == H36M_NAMES
    assert get_layout("coco") is COCO17 and get_layout(COCO17) is COCO17
    with pytest.raises(ValueError, match="unknown keypoint layout 'body18'"):
        get_layout("body18")


def test_coco_conversion_values():
    kp, sc = _random(COCO17, 4)
    out, osc = to_h36m(kp, sc, "coco")
    c = COCO17.index
    assert out.shape == (4, 17, 2) and osc.shape == (4, 17)
    assert torch.equal(out[:, H["pelvis"]], (kp[:, c("left_hip")] + kp[:, c("right_hip")]) / 2)
    assert torch.equal(out[:, H["thorax"]], (kp[:, c("left_shoulder")] + kp[:, c("right_shoulder")]) / 2)
    assert torch.allclose(out[:, H["spine"]], (out[:, H["pelvis"]] + out[:, H["thorax"]]) / 2)
    assert torch.equal(out[:, H["neck"]], kp[:, c("nose")])
    assert torch.equal(out[:, H["head"]], (kp[:, c("left_eye")] + kp[:, c("right_eye")]) / 2)
    for name in ("right_hip", "left_knee", "right_ankle", "left_shoulder", "right_elbow", "left_wrist"):
        assert torch.equal(out[:, H[name]], kp[:, c(name)])
        assert torch.equal(osc[:, H[name]], sc[:, c(name)])
    assert torch.equal(osc[:, H["pelvis"]], torch.minimum(sc[:, c("left_hip")], sc[:, c("right_hip")]))
    spine_src = [c("left_hip"), c("right_hip"), c("left_shoulder"), c("right_shoulder")]
    assert torch.equal(osc[:, H["spine"]], sc[:, spine_src].min(-1).values)


def _naive(kp, sc, layout):
    out, osc = np.zeros(kp.shape[:-2] + (17, 2)), np.zeros(sc.shape[:-1] + (17,))
    for j, sources in enumerate(layout.h36m_sources):
        idx = [layout.index(s) for s in sources]
        out[..., j, :] = kp[..., idx, :].mean(-2)
        osc[..., j] = sc[..., idx].min(-1)
    return out, osc


@pytest.mark.parametrize("layout", [COCO17, OPENPOSE25, MEDIAPIPE33, H36M17])
def test_conversion_matches_naive_loop_and_keeps_array_type(layout):
    kp, sc = _random(layout, 2, 3, seed=1)
    kp, sc = kp.double().numpy(), sc.double().numpy()
    out, osc = to_h36m(kp, sc, layout.name)
    assert isinstance(out, np.ndarray) and isinstance(osc, np.ndarray)
    ref, ref_sc = _naive(kp, sc, layout)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_array_equal(osc, ref_sc)


def test_openpose_and_mediapipe_special_joints():
    kp, sc = _random(OPENPOSE25, 3)
    out, osc = to_h36m(kp, sc, "openpose25")
    assert torch.equal(out[:, H["pelvis"]], kp[:, 8]) and torch.equal(out[:, H["thorax"]], kp[:, 1])
    assert torch.equal(osc[:, H["pelvis"]], sc[:, 8])
    assert torch.equal(out[:, H["right_knee"]], kp[:, 10]) and torch.equal(out[:, H["head"]], (kp[:, 16] + kp[:, 15]) / 2)
    kp, sc = _random(MEDIAPIPE33, 3)
    out, _ = to_h36m(kp, sc, "mediapipe33")
    assert torch.equal(out[:, H["pelvis"]], (kp[:, 23] + kp[:, 24]) / 2)
    assert torch.equal(out[:, H["head"]], (kp[:, 2] + kp[:, 5]) / 2)
    assert torch.equal(out[:, H["left_wrist"]], kp[:, 15])


def test_identity_and_nan_propagation():
    kp, sc = _random(H36M17, 5)
    out, osc = to_h36m(kp, sc, "h36m")
    assert torch.equal(out, kp) and torch.equal(osc, sc)
    kp, sc = _random(COCO17, 2)
    kp[0, COCO17.index("left_hip"), 0] = float("nan")
    kp[0, COCO17.index("left_ear")] = float("nan")  # unused by the mapping: must not leak
    out, _ = to_h36m(kp, sc, "coco")
    bad = {j for j in range(17) if torch.isnan(out[0, j]).any()}
    assert bad == {H["pelvis"], H["left_hip"], H["spine"]}
    assert not torch.isnan(out[1]).any()


def test_conversion_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 17, 2\) for layout 'coco', got \(4, 25, 2\)"):
        to_h36m(torch.zeros(4, 25, 2), torch.zeros(4, 25), "coco")
    with pytest.raises(ValueError, match=r"scores: expected \(4, 17\)"):
        to_h36m(torch.zeros(4, 17, 2), torch.zeros(4, 16), "coco")


def test_fill_gaps_interpolates_the_anchor_and_carries_joints_with_the_body():
    frames = 6
    walk = torch.arange(frames, dtype=torch.float32)[:, None, None] * 10  # everyone moves 10 px / frame
    rest = torch.arange(17, dtype=torch.float32)[None, :, None].repeat(1, 1, 2) * 3  # a fixed body shape
    kp = (walk + rest).clone()
    sc = torch.ones(frames, 17)
    sc[1:4, 0] = 0.1  # the pelvis (anchor) hidden in the middle: linear from frame 0 to frame 4
    sc[:2, 1] = float("nan")  # leading gap
    sc[4:, 2] = 0.0  # trailing gap
    kp[1:4, 0] = 999.0
    kp[2, 3, 1] = float("nan")  # a NaN coordinate is missing too
    filled, missing = fill_gaps(kp, sc, threshold=0.3)
    torch.testing.assert_close(filled, walk + rest)  # every hidden joint moved on with the body
    expected = torch.zeros(frames, 17, dtype=torch.bool)
    expected[1:4, 0], expected[:2, 1], expected[4:, 2], expected[2, 3] = True, True, True, True
    assert torch.equal(missing, expected)


def test_hidden_elbow_stays_on_a_walking_body():
    # an elbow unseen for 40 frames while the person walks away and back (300 px)
    frames = 50
    walk = torch.zeros(frames, 1, 2)
    walk[:, 0, 0] = 300 * torch.sin(torch.arange(frames) / 49 * torch.pi)
    rest = torch.randn(1, 17, 2, generator=torch.Generator().manual_seed(0)) * 40
    kp, sc = walk + rest, torch.ones(frames, 17)
    sc[5:45, 15] = 0.1  # right elbow
    filled, _ = fill_gaps(kp, sc, 0.3)
    torch.testing.assert_close(filled, walk + rest)
    pixels = kp[4, 15] + (kp[45, 15] - kp[4, 15]) * 0.5  # what interpolating pixels would give mid-gap
    assert (pixels - filled[25, 15]).norm() > 200


def test_fill_gaps_numpy_follows_the_anchor():
    kp = np.zeros((5, 17, 2))
    kp[:, :, 0] = np.array([0.0, 0, 0, 0, 8])[:, None]
    sc = np.ones((5, 17))
    sc[1:4, 5] = 0
    filled, missing = fill_gaps(kp, sc, 0.5)
    assert isinstance(filled, np.ndarray) and missing.dtype == bool
    np.testing.assert_allclose(filled[:, 5, 0], [0, 0, 0, 0, 8])  # the body did not move in frames 1-3


def test_never_seen_joints_come_from_the_template_and_are_flagged():
    from ddhpose.lifting.keypoints import _TEMPLATE
    frames = 4
    scale, shift = 300.0, torch.tensor([500.0, 200.0])
    body = (_TEMPLATE.float() * scale + shift).expand(frames, 17, 2).clone()
    sc = torch.ones(frames, 17)
    legs = [1, 2, 3, 4, 5, 6]
    sc[:, legs] = 0  # an upper-body video: hips, knees and ankles never detected
    sc[:, 0] = 0  # nor the pelvis
    kp = body.clone()
    kp[:, legs + [0]] = float("nan")
    filled, missing = fill_gaps(kp, sc, 0.3)
    torch.testing.assert_close(filled, body, atol=1e-3, rtol=0)
    assert missing[:, legs + [0]].all() and not missing[:, 7:].any()


def test_fill_gaps_errors():
    kp, sc = torch.zeros(4, 17, 2), torch.zeros(4, 17)
    sc[:, 10] = 1
    with pytest.raises(ValueError, match=r"only \['head'\] detected in any of the 4 frames"):
        fill_gaps(kp, sc, 0.3)
    with pytest.raises(ValueError, match="all 4 frames are missing"):
        fill_gaps(kp, torch.full((4, 17), float("nan")), 0.3)
    with pytest.raises(ValueError, match=r"expected \(F, J, 2\) with F >= 1, got \(0, 17, 2\)"):
        fill_gaps(torch.zeros(0, 17, 2), torch.zeros(0, 17), 0.3)
    with pytest.raises(ValueError, match="scores: expected"):
        fill_gaps(torch.zeros(3, 17, 2), torch.zeros(3, 16), 0.3)


def test_keypoint_track_helpers():
    kp = np.arange(2 * 17 * 2, dtype=np.float32).reshape(2, 17, 2)
    track = KeypointTrack(kp, np.ones((2, 17), np.float32), np.array([5, 8]), 0, "coco", (640, 480))
    dense = track.contiguous()
    assert dense.frames.tolist() == [5, 6, 7, 8] and dense.num_frames == 4 and dense.image_size == (640, 480)
    np.testing.assert_array_equal(dense.keypoints[[0, 3]], kp)
    assert np.isnan(dense.keypoints[1:3]).all() and (dense.scores[1:3] == 0).all()
    h36m = dense.to_h36m()
    assert h36m.layout == "h36m" and h36m.keypoints.dtype == np.float32
    np.testing.assert_array_equal(h36m.keypoints[0, 0], (kp[0, 11] + kp[0, 12]) / 2)
    filled, missing = fill_gaps(h36m.keypoints, h36m.scores, 0.3)
    assert missing[1:3].all() and not missing[[0, 3]].any()
    np.testing.assert_allclose(filled[1, 0], kp[0, 11:13].mean(0) * 2 / 3 + kp[1, 11:13].mean(0) / 3, rtol=1e-6)


# --- rules pinned at their boundaries ------------------------------------------------------------

def test_a_layout_refuses_sources_it_does_not_have():
    from ddhpose.lifting.keypoints import Layout
    names = ("a", "b")
    with pytest.raises(ValueError, match=r"^layout 'x': expected 17 H36M source lists, got 2$"):
        Layout("x", names, (("a",), ("b",)))
    with pytest.raises(ValueError, match=r"^layout 'x': H36M sources name unknown joints \['c'\]$"):
        Layout("x", names, (("a",),) * 16 + (("c",),))
    with pytest.raises(ValueError, match=r"^layout 'x': H36M sources name unknown joints \[\]$"):
        Layout("x", names, (("a",),) * 16 + ((),))  # a joint made of nothing
    good = Layout("x", names, (("a",),) * 16 + (("a", "b"),))
    assert good.num_joints == 2 and good.index("b") == 1


def test_fill_gaps_messages_name_the_shapes():
    with pytest.raises(ValueError, match=r"^scores: expected \(3, 17\) to match the keypoints, got \(3, 16\)$"):
        fill_gaps(torch.zeros(3, 17, 2), torch.zeros(3, 16), 0.3)
    with pytest.raises(ValueError, match=r"^keypoints: expected the 17 Human3.6M joints, got 16$"):
        fill_gaps(torch.zeros(3, 16, 2), torch.zeros(3, 16), 0.3)
    with pytest.raises(ValueError, match=r"^keypoints: expected \(F, J, 2\) with F >= 1, got \(3, 17, 3\)$"):
        fill_gaps(torch.zeros(3, 17, 3), torch.zeros(3, 17), 0.3)
    with pytest.raises(ValueError, match=r"^keypoints: all 4 frames are missing \(score below 0.3 or NaN\); expected "
                                         r"at least one detected keypoint$"):
        fill_gaps(torch.zeros(4, 17, 2), torch.full((4, 17), float("nan")), 0.3)


def test_fill_gaps_counts_a_score_at_the_threshold_as_seen_and_needs_two_joints():
    kp, sc = torch.zeros(4, 17, 2, dtype=torch.int64), torch.zeros(4, 17)
    sc[:, [0, 10]] = 0.3  # exactly the threshold: seen
    sc[0, 5] = 0.3  # a third joint in one frame only
    filled, missing = fill_gaps(kp, sc, 0.3)
    assert filled.dtype == torch.float64  # integer pixels come back as float64
    assert not missing[:, [0, 10]].any() and missing[1:, 5].all() and not missing[0, 5]
    sc[:, 10] = 0.0
    sc[0, 5] = 0.0
    with pytest.raises(ValueError, match=r"only \['pelvis'\] detected"):
        fill_gaps(kp, sc, 0.3)
    sc[0, 5] = 0.3  # two joints, one seen in a single frame: enough
    fill_gaps(kp, sc, 0.3)


def test_the_anchor_is_the_pelvis_unless_another_joint_is_seen_far_more():
    # the body moves 10 px a frame; the pelvis is hidden in frames 1-3 of 10 (seen 7 times, 0.7 of
    # the most seen joints): the first joint seen in all (the right hip) anchors, and the pelvis is
    # carried along with it
    frames = 10
    walk = torch.arange(frames, dtype=torch.float64)[:, None, None] * torch.tensor([10.0, 0.0])
    wobble = torch.zeros(frames, 17, 2, dtype=torch.float64)
    wobble[:, 1, 1] = torch.tensor([0.0, 30, 0, 30, 0, 0, 0, 0, 0, 0])  # the hip bobs while the pelvis is hidden
    rest = torch.arange(17, dtype=torch.float64)[None, :, None].repeat(1, 1, 2) * 3
    kp, sc = walk + rest + wobble, torch.ones(frames, 17)
    sc[1:4, 0] = 0.0
    filled, missing = fill_gaps(kp.clone(), sc, 0.3)
    # carried with the hip: the pelvis bobs with it, its offset interpolated between frames 0 and 4
    torch.testing.assert_close(filled[1:4, 0], (walk + rest)[1:4, 0] + wobble[1:4, 1])
    sc[1:4, 0] = 1.0
    sc[1, 0] = 0.0  # hidden in 1 frame only (0.9 of the most): the pelvis anchors
    filled, _ = fill_gaps(kp.clone(), sc, 0.3)
    torch.testing.assert_close(filled[1, 0], (walk + rest)[1, 0])  # interpolated itself, not with the hip


def test_the_template_keeps_its_scale_and_centre():
    from ddhpose.lifting.keypoints import _TEMPLATE, _place_template
    known = torch.ones(17, dtype=torch.bool)
    known[[1, 2, 3]] = False
    for scale, shift in ((0.5, (10.0, -20.0)), (300.0, (500.0, 200.0))):
        body = (_TEMPLATE * scale + torch.tensor(shift)).expand(2, 17, 2).float()
        torch.testing.assert_close(_place_template(body, known), body, atol=1e-3, rtol=1e-5)
    flipped = (-_TEMPLATE * 100).expand(1, 17, 2).float()  # upside down: no negative scale, the smallest
    placed = _place_template(flipped, known)
    assert placed.dtype == torch.float32
    torch.testing.assert_close(placed[0], flipped[0, known].mean(0).expand(17, 2), atol=1e-3, rtol=0)


def test_to_h36m_takes_one_frame_and_integer_scores():
    kp, _ = _random(COCO17, seed=3)
    one, sc = to_h36m(kp, torch.ones(17, dtype=torch.int64), "coco")
    batch, _ = to_h36m(kp[None], torch.ones(1, 17), "coco")
    assert one.shape == (17, 2) and sc.dtype == torch.float32 and (sc == 1).all()
    torch.testing.assert_close(one, batch[0])
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 17, 2\) for layout 'coco', got \(17,\)"):
        to_h36m(torch.zeros(17), torch.zeros(17), "coco")
    ints, _ = to_h36m(torch.ones(17, 2, dtype=torch.int64), torch.ones(17), "coco")
    assert ints.is_floating_point()


def test_a_nan_source_makes_its_joint_nan_and_others_exact():
    kp, sc = _random(COCO17, 2, seed=4)
    kp[0, COCO17.index("left_hip")] = float("nan")
    out, scores = to_h36m(kp, sc, "coco")
    assert torch.isnan(out[0, H["pelvis"]]).all() and torch.isnan(out[0, H["left_hip"]]).all()
    torch.testing.assert_close(out[0, H["right_hip"]], kp[0, COCO17.index("right_hip")])
    assert not torch.isnan(out[1]).any()
    # a joint's score is the least of its sources'
    torch.testing.assert_close(scores[1, H["pelvis"]], torch.minimum(sc[1, COCO17.index("left_hip")],
                                                                     sc[1, COCO17.index("right_hip")]))


def test_a_track_is_sorted_stably_and_keeps_its_scores_through_conversion():
    from ddhpose.lifting.keypoints import make_track
    kp, sc = np.random.default_rng(0).random((3, 17, 2)) * 100, np.array([[0.5] * 17, [0.6] * 17, [0.7] * 17])
    track = make_track(kp, sc, np.array([7, 5, 6]), 2, "coco", (640, 480), "f.json")
    assert track.frames.tolist() == [5, 6, 7] and track.track_id == 2 and track.source == "f.json"
    np.testing.assert_allclose(track.scores[:, 0], [0.6, 0.7, 0.5])
    assert track.scores.dtype == np.float32 and track.keypoints.dtype == np.float32
    track = make_track(kp, sc + np.arange(17) / 100, np.array([7, 5, 6]), 2, "coco", (640, 480), "f.json")
    h36m = track.to_h36m()  # the scores converted with the keypoints (each joint its sources' least)
    np.testing.assert_allclose(h36m.scores, to_h36m(track.keypoints, track.scores, "coco")[1])
    assert not np.allclose(h36m.scores, track.scores)
    dense = KeypointTrack(track.keypoints[[0, 2]], track.scores[[0, 2]], np.array([5, 7]), 0, "coco", (640, 480))
    full = dense.contiguous()
    assert full.frames.dtype == np.int64 and full.scores.dtype == np.float32 and np.isnan(full.keypoints[1]).all()


def test_layout_for_names_the_counts_it_knows():
    from ddhpose.lifting.keypoints import LAYOUT_BY_COUNT, layout_for
    assert layout_for(25, "f.npy") == "openpose25" and layout_for(17, "f.json") == "coco"
    with pytest.raises(ValueError) as err:
        layout_for(17, "f.npy", ambiguous_17=True)
    assert str(err.value) == ("f.npy: 17 joints is ambiguous between COCO and Human3.6M order; pass layout='coco' "
                              "or layout='h36m' (--layout)")
    with pytest.raises(ValueError) as err:
        layout_for(18, "f.npy")
    assert str(err.value) == (f"f.npy: 18 keypoints per person; expected one of {sorted(LAYOUT_BY_COUNT)} "
                              f"({', '.join(LAYOUT_BY_COUNT.values())})")
    assert ", " in str(err.value).split("(")[-1]
