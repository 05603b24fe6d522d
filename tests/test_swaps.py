"""Left and right exchanged by a detector: runs found from the 2D motion and put back, clean
frames left alone, the repaired frames in the result's provenance."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.lifting.swaps import exchanged, find_swaps, repair_swaps, runs

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps


def _view(along: bool) -> np.ndarray:
    """The walk's exact 2D from across its path (the legs cross every step) or from in front
    (along it: the hips and shoulders seen wide)."""
    with np.load(WALK) as data:
        world = data["world"].astype(np.float64)
    centre = world[:, 0].mean(0)
    path = world[-1, 0] - world[0, 0]
    path = np.array([path[0], path[1], 0.0]) / np.linalg.norm(path[:2])
    away = path if along else np.array([-path[1], path[0], 0.0])
    camera = look_at_camera(centre + 6.0 * away + [0, 0, 0.4], centre, image_size=(1920, 1080), focal=1500.0)
    return observe(world, camera)[1].numpy()


@pytest.fixture(scope="module")
def side_view() -> np.ndarray:
    """The walk's exact 2D seen from the side (across its path): the legs cross every step."""
    return _view(along=False)


def test_runs_of_exchanged_legs_arms_and_bodies_are_put_back(side_view):
    rng = np.random.default_rng(0)
    uv = side_view + rng.normal(0, 2.0, side_view.shape)  # detector-like noise, pixels
    legs, arms = np.zeros(len(uv), bool), np.zeros(len(uv), bool)
    legs[10:25] = True  # the legs for 15 frames
    arms[40:48] = True  # the arms for 8
    legs[60:64] = arms[60:64] = True  # the whole body for 4
    bad = exchanged(exchanged(uv, legs, "legs"), arms, "arms")
    fixed, found = repair_swaps(bad, np.ones(uv.shape[:2], bool))
    assert (found["legs"] == legs).mean() > 0.97 and (found["arms"] == arms).mean() > 0.97
    assert (np.abs(fixed - uv).max(axis=(1, 2)) > 1e-9).sum() <= 3  # at most a frame at a run's ends
    assert runs(found["arms"], np.arange(100, 100 + len(uv)))[0][0] in (139, 140, 141)


def test_the_torso_tells_which_side_of_a_change_is_wrong():
    """Arms exchanged from the clip's first frame to two thirds of it: the motion shows one
    change, not which side of it is wrong (leaving the longer side alone is cheaper); the
    shoulders pointing against the hips tell it."""
    uv = _view(along=True)
    arms = np.zeros(len(uv), bool)
    arms[:2 * len(uv) // 3] = True
    found = find_swaps(exchanged(uv, arms, "arms"), np.ones(uv.shape[:2], bool))
    assert (found["arms"] == arms).mean() > 0.98 and not found["legs"].any()


def test_a_clean_clip_is_left_alone(side_view):
    rng = np.random.default_rng(1)
    uv = side_view + rng.normal(0, 2.0, side_view.shape)
    found = find_swaps(uv, np.ones(uv.shape[:2], bool))
    assert set(found) == {"legs", "arms"} and all(flags.sum() <= 1 for flags in found.values())


def test_the_lift_records_the_repaired_frames(side_view):
    from ddhpose.lifting.lifter import Lifter
    from ddhpose.model.config import ModelConfig
    from ddhpose.model.ddhpose import DDHPose
    import torch
    torch.manual_seed(0)
    lifter = Lifter(DDHPose(ModelConfig(frames=9, channels=32, depth=2, heads=4)), "cpu")
    legs = np.zeros(len(side_view), bool)
    legs[20:32] = True
    bad = exchanged(side_view, legs, "legs")
    r = lifter.lift(bad, layout="h36m", image_size=(1920, 1080), world=False)
    assert r.provenance["left_right_repaired"] == {"legs": [[20, 31]]}
    np.testing.assert_allclose(r.keypoints_2d, side_view, atol=1e-3)
    kept = lifter.lift(bad, layout="h36m", image_size=(1920, 1080), world=False, repair_swaps=False)
    assert kept.provenance["left_right_repaired"] == {} and not np.allclose(kept.keypoints_2d, side_view)
