"""Which way is up (ddhpose.lifting.gravity): each piece of evidence and the one eigen-problem,
checked on bodies and points whose up is known by construction (camera frame: y down, z away)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ddhpose.lifting import gravity as G
from ddhpose.skeleton import H36M, Skeleton
from body_poses import J, standing

UP = np.array([0.0, -1.0, 0.0])  # the camera's own up, and the up of every body built here


def upright() -> np.ndarray:
    """The standing body with its neck over the pelvis: every segment's midpoint on the vertical
    through the ankles' midpoint, so both the standing axis and balance point straight up."""
    pose = standing()
    pose[J["neck"], 2] = 0.0
    return pose


def camera(world: np.ndarray) -> np.ndarray:
    """World (y up) poses -> camera frame (y down, z away), 4 m in front of the camera."""
    return world * [1.0, -1.0, -1.0] + [0.0, 0.0, 4.0]


def still(frames: int = 20) -> np.ndarray:
    return camera(np.repeat(upright()[None], frames, 0))


def _angle(a, b) -> float:
    return float(G.angle_deg(np.asarray(a, float), np.asarray(b, float)))


def test_the_camera_prior_costs_one_at_its_assumed_roll_and_pitch_and_nothing_when_level():
    cost = G._camera_term()
    roll = np.radians(G.ROLL_PRIOR_DEG)
    pitch = np.radians(G.PITCH_PRIOR_DEG)
    rolled = np.array([math.sin(roll), -math.cos(roll), 0.0])
    pitched = np.array([0.0, -math.cos(pitch), math.sin(pitch)])
    assert rolled @ cost @ rolled == pytest.approx(1.0, rel=1e-12)
    assert pitched @ cost @ pitched == pytest.approx(1.0, rel=1e-12)
    assert UP @ cost @ UP == 0.0


def test_the_uncertainty_is_the_angle_whose_sine_is_one_over_the_root_of_the_curvature_gap():
    # eigenvalues 1, 5, 9: the gap 4 gives sin(u) = 1/2, u = 30 degrees
    up, u = G._solve(np.diag([5.0, 1.0, 9.0]), UP)
    assert np.allclose(up, [0, -1, 0])  # the least-cost direction, on the side of `towards`
    assert u == pytest.approx(30.0, abs=1e-9)
    # a gap under 1 cannot say where up is to within a right angle: 90 degrees, no more
    assert G._solve(np.diag([0.0, 0.25, 9.0]), np.array([1.0, 0, 0]))[1] == pytest.approx(90.0, abs=1e-9)


def test_the_centre_of_mass_of_a_body_gathered_into_one_point_is_that_point():
    pose = np.tile([0.3, -1.2, 5.0], (1, 17, 1))
    assert np.allclose(G.centre_of_mass(pose), [0.3, -1.2, 5.0], atol=1e-12)


def test_spread_needs_ten_points_and_measures_only_across_up():
    rng = np.random.default_rng(0)
    for n in (9, 10):
        x, z = rng.normal(0, 0.3, n), rng.normal(0, 0.1, n)
        points = np.stack([x, rng.normal(0, 2.0, n), z], 1)  # heights along up vary a lot
        s = G.spread(points, UP)
        assert s.shape == (2,)
        if n < 10:
            assert np.all(s == 0)
        else:  # the heights do not count; x and z are uncorrelated here up to sampling, so
            # the two extents lie between and around their own standard deviations
            expected = np.sqrt(np.linalg.eigvalsh(np.cov(np.stack([x, z]))))
            assert np.allclose(s, expected, rtol=1e-9)


def _plane(n, tilt_deg=8.0, seed=1):
    """n points on the plane through the origin whose normal is UP tilted about z; the normal."""
    normal = np.array([math.sin(math.radians(tilt_deg)), -math.cos(math.radians(tilt_deg)), 0.0])
    rng = np.random.default_rng(seed)
    a = np.cross(normal, [0, 0, 1.0])
    b = np.cross(normal, a)
    return rng.uniform(-0.5, 0.5, (n, 1)) * a + rng.uniform(-0.5, 0.5, (n, 1)) * b, normal


def test_a_foot_resting_three_noises_off_the_floor_is_dropped_and_the_floor_refitted():
    points, normal = _plane(30)
    off = points[:4] + 3 * G.CONTACT_NOISE * normal  # between 2.5 and 3.5 noises off: on something else
    contacts = np.concatenate([points, off])
    up, _ = G._floor(contacts, np.zeros(len(contacts), int), np.zeros((3, 3)), UP)
    assert _angle(up, normal) < 1e-6  # the 30 points lie exactly on the plane


def _fit_all(contacts):
    centred = contacts - contacts.mean(0)
    return np.linalg.eigh(centred.T @ centred)[1][:, 0]


def test_ten_points_left_on_the_floor_still_fix_it_and_fewer_keep_the_fit_through_all():
    points, normal = _plane(10)
    # three raised 3.3 noises off: the first fit through all 13 leans, and exactly the 10 on the
    # floor lie within 2.5 noises of it (the raised ones do not): refitted on those 10, exact
    contacts = np.concatenate([points, points[:3] + 3.3 * G.CONTACT_NOISE * normal])
    up, _ = G._floor(contacts, np.zeros(len(contacts), int), np.zeros((3, 3)), UP)
    assert _angle(up, normal) < 1e-6
    assert min(_angle(_fit_all(contacts), normal), _angle(-_fit_all(contacts), normal)) > 0.1
    # nine on the floor are too few to trust alone: the fit through all of them is kept
    nine = np.concatenate([points[:9], points[:3] + 3.3 * G.CONTACT_NOISE * normal])
    up9, _ = G._floor(nine, np.zeros(len(nine), int), np.zeros((3, 3)), UP)
    assert min(_angle(up9, _fit_all(nine)), _angle(up9, -_fit_all(nine))) < 1e-6
    assert _angle(up9, normal) > 0.1


def test_each_persons_floor_points_are_centred_on_their_own_before_outliers_are_dropped():
    # the floor tilted 8 degrees about x (a pitched camera); A's feet rest along x, B's across it,
    # B's 0.3 m higher (a size misjudged): only both together fix the floor's tilt about x
    t = math.radians(8.0)
    normal = np.array([0.0, -math.cos(t), math.sin(t)])
    across = np.cross([1.0, 0, 0], normal)
    s = np.linspace(-0.5, 0.5, 20)[:, None]
    a = s * [1.0, 0, 0]
    b = s * across + [1.5, 0, 0] + 0.3 * normal
    raised = a[:3] + 3.3 * G.CONTACT_NOISE * normal  # A's foot on a step
    contacts = np.concatenate([a, raised, b])
    groups = np.array([0] * 23 + [1] * 20)
    up, _ = G._floor(contacts, groups, G._camera_term(), UP)
    # the camera term (at most 1/sin^2(45 deg) = 2 per unit sin^2) against the floor's curvature
    # (> 20 points spread 0.3 m / 0.015 m noise: > 300) moves up by well under 0.2 degrees
    assert _angle(up, normal) < 0.2


def test_contacts_are_judged_by_the_ankle_speed_given_and_an_unknown_speed_is_no_contact():
    poses = still(12)
    f = len(poses)
    assert len(G.contact_points(poses, UP, 25.0)) == f  # standing still: every frame rests
    moving = poses + np.arange(f)[:, None, None] * [0.1, 0, 0]  # 2.5 m/s in 3D
    assert len(G.contact_points(moving, UP, 25.0)) == 0
    # the 2D says the feet are still: that is believed over the 3D
    assert len(G.contact_points(moving, UP, 25.0, ankle_speed=np.zeros((f, 2)))) == f
    assert len(G.contact_points(poses, UP, 25.0, ankle_speed=np.full((f, 2), np.nan))) == 0
    # slower than CONTACT_SPEED: exactly that speed is not slower
    assert len(G.contact_points(poses, UP, 25.0, ankle_speed=np.full((f, 2), G.CONTACT_SPEED))) == 0
    below = np.full((f, 2), G.CONTACT_SPEED * 0.99)
    assert len(G.contact_points(poses, UP, 25.0, ankle_speed=below)) == f


def test_the_support_is_the_lower_ankle_unless_both_are_within_a_tenth_of_a_metre():
    body = upright()
    for lift, support in ((0.05, "both"), (0.3, "right")):
        pose = body.copy()
        pose[J["left_ankle"], 1] += lift
        poses = camera(np.repeat(pose[None], 5, 0))
        rest, axis = G.balance_axes(poses, 25.0, UP)
        ankles = poses[0, [J["left_ankle"], J["right_ankle"]]]
        foot = ankles.mean(0) if support == "both" else ankles[1]
        com = G.centre_of_mass(poses)[0]
        assert rest.all()
        assert np.allclose(axis, (com - foot) / np.linalg.norm(com - foot), atol=1e-12)
    moving = poses + np.arange(5)[:, None, None] * [0.02, 0, 0]  # 0.5 m/s: not at rest
    assert not G.balance_axes(moving, 25.0, UP)[0].any()


def _squat(pose):
    """Knees forward 0.25 m: each knee bent to about 120 degrees, not standing."""
    out = pose.copy()
    out[[J["left_knee"], J["right_knee"]], 2] += 0.25
    return out


def test_a_person_standing_still_uses_the_standing_axis_and_balance_and_counts_their_frames():
    est = G.estimate_up(still(20), 25.0)
    assert est.evidence == (G.STANDING, G.BALANCE, G.CAMERA)
    assert (est.standing_frames, est.balance_frames, est.contact_frames) == (20, 20, 0)
    assert math.isnan(est.axis_floor_deg)
    assert _angle(est.up, UP) < 1e-6  # a body built upright, a level camera


@pytest.mark.parametrize("slow", [2, 3])
def test_balance_needs_three_frames_at_rest(slow):
    # the first `slow` frames hold still, then the body moves 2.5 m/s (frame speed: slower side)
    steps = np.r_[np.zeros(slow), np.arange(1, 11 - slow + 1)] * 0.1
    poses = still(len(steps)) + steps[:, None, None] * [1.0, 0, 0]
    est = G.estimate_up(poses, 25.0)
    assert est.standing_frames == len(steps)
    if slow >= 3:
        assert est.evidence == (G.STANDING, G.BALANCE, G.CAMERA) and est.balance_frames == slow
    else:
        assert est.evidence == (G.STANDING, G.CAMERA) and est.balance_frames == 0


def test_a_squat_at_rest_gives_up_by_balance_and_two_standing_frames_are_not_evidence():
    poses = np.concatenate([still(2), camera(np.repeat(_squat(upright())[None], 18, 0))])
    est = G.estimate_up(poses, 25.0)
    assert est.evidence == (G.BALANCE, G.CAMERA)
    assert (est.standing_frames, est.balance_frames) == (0, 20)


def test_the_second_balance_pass_finds_the_support_from_the_first_passs_up(monkeypatch):
    # a squat at rest seen by a camera pitched 20 deg: the first pass starts from the camera's
    # level guess, the second from the up that balance gave, which leans towards the truth
    poses = _tilted(np.repeat(_squat(upright())[None], 20, 0), 20.0)
    seen = []
    real = G.balance_axes
    monkeypatch.setattr(G, "balance_axes", lambda a, f, up, s=H36M: seen.append(up) or real(a, f, up, s))
    G.estimate_up(poses, 25.0)
    assert len(seen) == 2 and _angle(seen[0], UP) < 1e-9
    assert _angle(seen[1], UP) > 5.0


def _positions(offsets, frames=10):
    """A person standing still at each of ``offsets`` (world metres) for ``frames`` frames."""
    return np.concatenate([np.repeat((upright() + o)[None], frames, 0) for o in offsets])


def _tilted(world, degrees=8.0):
    """World poses seen by a camera pitched ``degrees`` (about x): up is then UP turned likewise."""
    from body_poses import rotation
    return camera(world @ rotation([1.0, 0, 0], degrees).T)


def test_feet_resting_apart_fix_the_floor_and_the_ankle_speed_given_decides_rest():
    world = _positions([(x, 0, z) for x in (-0.6, 0.0, 0.6) for z in (-0.5, 0.5)])
    poses = _tilted(world)
    est = G.estimate_up(poses, 25.0)
    assert est.evidence[0] == G.FLOOR and est.contact_frames == len(poses)
    from body_poses import rotation
    truth = (rotation([1.0, 0, 0], 8.0) @ [0, 1.0, 0]) * [1.0, -1.0, -1.0]
    # only the camera's pitch prior (1/sin^2 45 deg = 2) pulls from the truth, against at least
    # the standing axis' and balance's stiffness: under 8 deg * 2 / (1/sin^2 6 + 1/sin^2 10)
    bound = 8.0 * 2 / (1 / math.sin(math.radians(6)) ** 2 + 1 / math.sin(math.radians(10)) ** 2)
    assert _angle(est.up, truth) < bound and est.axis_floor_deg < bound
    still_but_fast = G.estimate_up(poses, 25.0, ankle_speed=np.ones((len(poses), 2)))
    assert G.FLOOR not in still_but_fast.evidence and still_but_fast.contact_frames == 0


def test_two_people_share_the_floors_direction_not_its_height():
    # A stands along x left of the camera, B across it to the right, B's feet 0.3 m up (as a
    # misjudged size makes them): each person's feet centred on their own, the floor is level
    a = _positions([(x, 0, 0) for x in (-2.0, -1.6, -1.2)] + [(-1.6, 0, 0.4)])
    b = _positions([(1.5, 0.3, z) for z in (-0.4, 0.0, 0.4)] + [(1.9, 0.3, 0.0)])
    poses = _tilted(np.concatenate([a, b]), 0.0)
    people = np.r_[np.zeros(len(a), int), np.ones(len(b), int)]
    est = G.estimate_up(poses, 25.0, people=people)
    assert G.FLOOR in est.evidence and _angle(est.up, UP) < 1e-6


def test_people_standing_each_on_one_spot_do_not_spread_a_floor_between_them():
    a, b = _positions([(-1.5, 0, 0)], 12), _positions([(1.5, 0.2, 0.5)], 12)
    poses = camera(np.concatenate([a, b]))
    est = G.estimate_up(poses, 25.0, people=np.r_[np.zeros(12, int), np.ones(12, int)])
    assert G.FLOOR not in est.evidence and math.isnan(est.axis_floor_deg)


def _shuffled():
    """H36M with its joints in another order (the root first), and that order."""
    order = np.random.default_rng(31).permutation(17)
    order = np.concatenate([[0], order[order != 0]])
    inverse = np.argsort(order)
    skeleton = Skeleton(tuple(int(inverse[H36M.parents[j]]) if H36M.parents[j] >= 0 else -1 for j in order),
                        tuple(int(inverse[j]) for j in H36M.joints_left),
                        tuple(int(inverse[j]) for j in H36M.joints_right), tuple(H36M.names[j] for j in order),
                        name="h36m shuffled")
    return skeleton, order


def test_a_skeleton_with_its_joints_in_another_order_gives_the_same_up():
    skeleton, order = _shuffled()
    world = _positions([(x, 0, z) for x in (-0.6, 0.0, 0.6) for z in (-0.5, 0.5)])
    world[:, J["left_ankle"], 1] += np.tile(np.r_[np.zeros(5), np.full(5, 0.3)], 6)  # one foot up at times
    poses = _tilted(world, 12.0)
    est, again = G.estimate_up(poses, 25.0), G.estimate_up(poses[:, order], 25.0, skeleton)
    assert again.evidence == est.evidence and G.FLOOR in est.evidence
    np.testing.assert_allclose(again.up, est.up, atol=1e-12)
    assert again.contact_frames == est.contact_frames
    rest, axis = G.balance_axes(poses, 25.0, UP)
    rest2, axis2 = G.balance_axes(poses[:, order], 25.0, UP, skeleton)
    np.testing.assert_array_equal(rest2, rest)
    np.testing.assert_allclose(axis2, axis, atol=1e-12)
    assert G.leg_length(poses[:, order], skeleton) == pytest.approx(G.leg_length(poses), abs=1e-12)


def test_a_skeleton_without_the_joints_named_says_up_needs_them():
    bare = Skeleton(H36M.parents, H36M.joints_left, H36M.joints_right, name="bare")
    with pytest.raises(ValueError, match=r"^skeleton 'bare': up needs joints named \["):
        G.estimate_up(still(5), 25.0, bare)


def test_feet_resting_under_a_body_never_straight_nor_at_rest_fix_the_floor_seen_from_a_pitched_camera():
    """A crouching run filmed from 40 degrees above: no standing frame, the centre of mass never
    slow, so only the camera's usual pose speaks before the feet; along the camera's level up the
    crouch's feet drop too little below the pelvis to count as resting, along the body's own median
    axis they do, and the floor they spread over is believed though 40 degrees from that prior
    (whose own uncertainty is 45)."""
    from body_poses import rotation
    world = _positions([(x, 0, z) for x in (-0.6, 0.0, 0.6) for z in (-0.5, 0.5)], frames=5)
    world = np.stack([_squat(p) for p in world]) + np.arange(len(world))[:, None, None] * [0.05, 0, 0]
    poses = _tilted(world, 40.0)
    resting = np.zeros((len(poses), 2))  # the 2D says the feet stand still
    est = G.estimate_up(poses, 25.0, ankle_speed=resting)
    truth = (rotation([1.0, 0, 0], 40.0) @ [0, 1.0, 0]) * [1.0, -1.0, -1.0]
    assert est.standing_frames == 0 and est.balance_frames == 0
    assert est.evidence == (G.FLOOR, G.CAMERA) and est.contact_frames == len(poses)
    assert _angle(est.up, truth) < 1.0 and 35.0 < est.axis_floor_deg < 45.0
    level = G._lower_ankles(poses, UP, 25.0, H36M, resting)[1]
    assert not level.any()  # along the camera's up alone no foot rests: the body's axis found them


def test_the_feet_are_looked_for_along_the_body_only_where_the_camera_is_all_the_evidence(monkeypatch):
    searched = []
    real = G._lower_ankles
    monkeypatch.setattr(G, "_lower_ankles", lambda a, up, *rest: searched.append(up) or real(a, up, *rest))
    G.estimate_up(still(20), 25.0)  # standing: the feet along up alone
    assert len(searched) == 1
    searched.clear()
    world = np.repeat(_squat(upright())[None], 20, 0) + np.arange(20)[:, None, None] * [0.05, 0, 0]
    G.estimate_up(_tilted(world, 40.0), 25.0)  # a moving crouch: the camera alone, then the body
    assert len(searched) == 2 and _angle(searched[0], UP) < 1e-9 and _angle(searched[1], UP) > 20.0
