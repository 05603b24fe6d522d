"""What a foot rests on (lifting/feet.py): the support near each frame (a box stepped onto or off,
a hop that is none), the stretches resting off the floor, and contacts judged against them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ddhpose.lifting.feet import RAISED_HEIGHT, RAISED_SECONDS, foot_contacts, lock_feet, raised_spans, support_height
from ddhpose.lifting.world import ANKLE_HEIGHT_RATIO, leg_length
from ddhpose.skeleton import H36M

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps
FEET = [H36M.names.index("left_ankle"), H36M.names.index("right_ankle")]


def _standing(frames: int, heights) -> np.ndarray:
    """(F, 17, 3) y-up world joints: the walk's first pose standing still, its soles at ``heights`` (F,)."""
    with np.load(WALK) as data:
        pose = data["world"][0].astype(np.float64)[:, [0, 2, 1]] * [1, 1, -1]  # z up -> y up
    sole = ANKLE_HEIGHT_RATIO * leg_length(pose[None])
    pose[:, 1] += sole - pose[FEET, 1].min()  # the lower ankle at its own height above the floor
    return np.repeat(pose[None], frames, 0) + np.asarray(heights, np.float64)[:, None, None] * [0, 1, 0]


def test_a_support_is_where_the_lower_ankle_rests_near_each_frame():
    heights = np.zeros((100, 2))
    heights[50:, 0] = 1.0  # one foot on a box from frame 50
    heights[20:25, 0] = 0.6  # and a hop of 5 frames
    heights[:, 1] = heights[:, 0] + 0.3  # the other foot in the air above it
    support = support_height(heights, fps=10.0, window=1.0)  # 10 frames before and after
    np.testing.assert_allclose(support[:49], 0.0)  # a hop is not a support
    np.testing.assert_allclose(support[50:], 1.0)  # a step up is one from that step on
    heights[[30, 70]] = np.nan  # frames where the ankles were not seen: the same supports around them
    np.testing.assert_allclose(support_height(heights, fps=10.0, window=1.0), support)


def test_a_box_stays_the_support_until_the_step_off_it():
    heights = np.zeros((100, 2))
    heights[:5] = heights[30:80] = 1.0  # on a box at the start and in the middle
    support = support_height(heights, fps=10.0, window=1.0)
    np.testing.assert_allclose(support[:5], 1.0)  # up to the step down, even where the clip starts
    np.testing.assert_allclose(support[30:80], 1.0)
    np.testing.assert_allclose(support[92:], 0.0)
    heights[[50, 95]] = np.nan  # unseen ankles: the same supports around them
    np.testing.assert_allclose(np.delete(support_height(heights, fps=10.0, window=1.0), [50, 95]),
                               np.delete(support, [50, 95]))


def test_a_stretch_off_the_floor_counts_from_a_second():
    fps = 10.0
    heights = np.zeros(60)
    heights[20:30] = 0.6  # 10 frames: a second
    heights[40:49] = 0.6  # 9 frames: less
    world = _standing(60, heights)
    contacts = np.ones((60, 2), bool)
    [(first, last, height)] = raised_spans(world, contacts, fps)
    assert (first, last) == (20, 29) and height == pytest.approx(0.6, abs=1e-3)  # both resting ankles: the other half a mm higher
    assert RAISED_SECONDS * fps == 10
    world = _standing(60, np.where(heights > 0, -0.6, 0.0))  # below the floor: misplaced, said too
    assert [(a, b) for a, b, _ in raised_spans(world, contacts, fps)] == [(20, 29)]
    assert raised_spans(_standing(60, np.full(60, RAISED_HEIGHT - 0.01)), contacts, fps) == []  # near enough
    from_start = raised_spans(_standing(60, np.r_[np.full(12, 0.6), np.zeros(48)]), contacts, fps)
    assert [(a, b) for a, b, _ in from_start] == [(0, 11)]


def test_contacts_are_judged_against_the_support_of_the_next_and_last_second():
    heights = np.zeros(75)
    heights[30:40] = 0.3  # hovering 30 cm for 10 frames (0.4 s at 25 fps), still
    contacts = foot_contacts(_standing(75, heights), fps=25.0)
    assert contacts[:25].all() and contacts[45:].all()
    assert not contacts[31:39].any()  # not resting: the support is where the feet were and will be
    raised = foot_contacts(_standing(75, np.r_[np.zeros(30), np.full(45, 1.0)]), fps=25.0)
    assert raised.all()  # standing on a box from frame 30: resting there from the step on



def test_an_ankle_unseen_or_once_drawn_too_low_is_no_evidence():
    world = _standing(50, np.zeros(50))
    speed = np.zeros((50, 2))
    speed[10:20, 0] = np.nan  # the left ankle unseen: its speed unknown
    contacts = foot_contacts(world, 25.0, speed=speed)
    assert not contacts[11:19, 0].any() and contacts[11:19, 1].all()
    world[25, FEET, 1] -= 0.3  # one frame's ankles drawn 30 cm low: the clip's resting height stays
    assert foot_contacts(world, 25.0, window=None)[30:].all()


def test_a_locked_foot_stays_on_a_box_and_comes_up_from_under_the_floor():
    contacts = np.ones((30, 2), bool)
    for offset, expected in ((0.6, 0.6), (-0.4, 0.0), (0.1, 0.0)):  # a box; misplaced under the floor; on it
        world = _standing(30, np.full(30, offset))
        locked = lock_feet(world, contacts)
        sole = ANKLE_HEIGHT_RATIO * leg_length(world - world[:, :1])
        assert locked[:, FEET, 1].min() - sole == pytest.approx(expected, abs=0.01), offset

