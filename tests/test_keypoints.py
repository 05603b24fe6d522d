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
