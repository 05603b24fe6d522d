"""The world frame: up and the floor from a real walk seen by tilted cameras, foot contacts,
foot locking, and the clips where no floor can be found."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.geometry import Y_UP_TO_Z_UP, bone_lengths
from ddhpose.lifting.feet import foot_contacts, foot_sliding, lock_feet
from ddhpose.lifting.world import ANKLE_HEIGHT_RATIO, NoFloorError, WorldFrame, find_world_frame, leg_length
from ddhpose.skeleton import H36M

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps
ZUP_TO_YUP = np.array(Y_UP_TO_Z_UP).T  # (x, y, z) -> (x, z, -y)


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    with np.load(WALK) as data:
        return data["world"].astype(np.float64)


def _filmed(world: np.ndarray, position, pitch_target_drop: float = 0.0, roll_deg: float = 0.0):
    """Camera-frame joints of ``world`` (z up) seen from ``position``, aimed at the walk's centre
    (lowered by ``pitch_target_drop`` metres: the camera looks down) and rolled; and the rotation."""
    centre = world[:, 0].mean(0) - [0, 0, pitch_target_drop]
    camera = look_at_camera(np.asarray(position, float), centre, image_size=(1920, 1080), focal=1400.0)
    roll = np.radians(roll_deg)
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    camera = type(camera)(camera.id, rz @ camera.rotation, camera.translation, camera.intrinsics, camera.width,
                          camera.height)
    cam, _ = observe(world, camera)
    return cam.numpy(), camera.rotation


def _angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


@pytest.mark.parametrize("position, drop, roll", [((4.0, 0.0, 1.2), 0.0, 0.0), ((5.0, 1.0, 2.5), 0.8, 8.0),
                                                  ((3.5, -1.5, 0.4), -0.5, -6.0)])
def test_up_and_floor_of_a_real_walk_through_tilted_cameras(walk, position, drop, roll):
    cam, rotation = _filmed(walk, position, drop, roll)
    frame = find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0)
    true_up = rotation @ np.array([0.0, 0.0, 1.0])
    assert _angle(frame.up, true_up) < 3.0  # the walk travels: floor plane and body axis agree
    assert {"floor plane", "standing axis"} <= set(frame.evidence) and frame.contact_frames >= 20
    assert frame.uncertainty_deg < 6.0
    # the floor at y = 0 under the feet: the ankles rest at about the ankle's height above it
    world = frame.apply(cam)
    rest = world[:, [3, 6], 1].min(1)
    assert np.percentile(rest, 10) == pytest.approx(ANKLE_HEIGHT_RATIO * leg_length(walk @ ZUP_TO_YUP.T), abs=0.01)
    # the truth's floor (z = 0) lies within 3 cm of the world's y = 0 at the feet
    truth_height = walk[:, [3, 6], 2].min(1)
    assert abs(np.median(rest - truth_height)) < 0.03
    # axes: right-handed, y up, the origin under the first pelvis, z towards the camera
    assert np.allclose(frame.rotation @ frame.rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(frame.rotation) == pytest.approx(1.0)
    assert np.allclose(world[0, 0, [0, 2]], 0.0, atol=1e-9)
    towards = frame.rotation[2]  # level, and against the camera's view
    assert abs(towards @ frame.up) < 1e-9 and towards @ np.array([0.0, 0.0, -1.0]) > 0.8
    # the camera's pitch and height as the frame implies them
    assert frame.camera_height == pytest.approx(position[2], abs=0.05)
    looks_down = drop > 0 or position[2] > walk[:, 0, 2].mean()
    assert (frame.camera_pitch_deg > 0) == looks_down


def test_the_frame_round_trips_through_its_dict(walk):
    cam, _ = _filmed(walk, (4.0, 0.5, 1.5))
    frame = find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0)
    again = WorldFrame.from_dict(frame.to_dict())
    np.testing.assert_allclose(again.apply(cam), frame.apply(cam), atol=1e-5)
    assert again.method == frame.method and again.evidence == frame.evidence
    assert again.uncertainty_deg == pytest.approx(frame.uncertainty_deg, abs=1e-3)


def test_foot_contacts_alternate_and_hold_still(walk):
    world = walk @ ZUP_TO_YUP.T
    contacts = foot_contacts(world, 25.0)
    assert contacts[:, 0].any() and contacts[:, 1].any()
    assert (contacts.any(1)).mean() > 0.8  # walking: nearly always a foot on the floor
    assert not contacts.all(1).all()  # and not both all the time
    assert foot_sliding(world, contacts) < 0.01  # a planted foot moves less than 1 cm per frame


def test_foot_lock_removes_sliding_and_keeps_the_legs(walk):
    world = walk @ ZUP_TO_YUP.T
    contacts = foot_contacts(world, 25.0)
    t = np.arange(len(world))
    noisy = world + np.stack([0.03 * np.sin(t / 2.0), 0.01 * np.sin(t / 3.0), 0.04 * np.cos(t / 2.5)], -1)[:, None]
    before = foot_sliding(noisy, contacts)
    locked = lock_feet(noisy, contacts)
    after = foot_sliding(locked, contacts)
    truth = foot_sliding(world, contacts)
    assert before > 3 * truth and after < 0.5 * before and after <= 2 * truth
    lengths = bone_lengths(torch.from_numpy(locked), H36M)
    np.testing.assert_allclose(lengths, bone_lengths(torch.from_numpy(noisy), H36M), atol=1e-6)
    # feet in contact stand on the floor at the ankle's resting height
    rest = ANKLE_HEIGHT_RATIO * leg_length(locked - locked[:, :1])
    np.testing.assert_allclose(locked[contacts[:, 0], 6, 1], rest, atol=0.02)


def test_no_floor_is_said_and_why(walk):
    cam, _ = _filmed(walk, (4.0, 0.0, 1.2))
    pose, root = cam - cam[:, :1], cam[:, 0]
    with pytest.raises(NoFloorError, match=r"0.80 s long.*at least 1 s"):
        find_world_frame(pose[:20], root[:20], 25.0)
    missing = np.zeros(pose.shape[:2], bool)
    missing[:, [3, 6]] = True  # the feet never seen: cut off by the frame
    with pytest.raises(NoFloorError, match="feet were not seen"):
        find_world_frame(pose, root, 25.0, missing=missing)
    with pytest.raises(NoFloorError, match="position in the camera frame is unknown"):
        find_world_frame(pose, np.full_like(root, np.nan), 25.0)


def test_a_body_lying_straight_is_not_taken_for_one_standing(walk):
    lying = walk[:1].repeat(len(walk), 0) @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T  # on its back
    lying = lying - [0, 0, lying[..., 2].min()]
    cam, rotation = _filmed(lying, (4.0, 0.0, 1.2))
    frame = find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0)
    # its straight axis is not up: the frame rests on the camera's usual level pose, and says how unsure
    assert "standing axis" not in frame.evidence and "balance" not in frame.evidence
    assert "camera level" in frame.evidence and frame.uncertainty_deg > 20
    assert _angle(frame.up, rotation @ np.array([0.0, 0.0, 1.0])) < 20  # the camera looks down 15 degrees


def test_a_clip_without_standing_or_travel_still_gets_a_world_frame(walk):
    """Knees bent throughout, feet planted side by side: balance, the feet's width and the camera's
    usual pose give up; the frame records them."""
    crouch = walk[40:41].repeat(60, 0).copy()
    hips, knees = [1, 4], [2, 5]
    crouch[:, 0, 2] -= 0.25  # lower the body: knees bent forward
    crouch[:, hips + [7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 2] -= 0.25
    crouch[:, knees, 0] += 0.15
    t = np.arange(60)
    crouch[:, 7:, 0] += 0.03 * np.sin(t / 5)[:, None]  # the trunk sways a little
    cam, rotation = _filmed(crouch, (3.5, 1.0, 1.6))
    frame = find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0)
    assert "standing axis" not in frame.evidence and "balance" in frame.evidence
    assert _angle(frame.up, rotation @ np.array([0.0, 0.0, 1.0])) < 10


def test_a_tilting_camera_shows_as_drift(walk):
    step = walk[-1, 0] - walk[0, 0]  # the walk three times over, one stretch after the other: 8.6 s
    walk = np.concatenate([walk + k * (step + (walk[1, 0] - walk[0, 0])) * [0, 1, 0] for k in range(3)])
    cam, rotation = _filmed(walk, (4.0, 0.0, 1.2))
    steady = find_world_frame(cam - cam[:, :1], cam[:, 0], 25.0)
    # the camera tilts down by 25 degrees over the clip: every frame's points turn about its x axis
    angle = np.radians(np.linspace(0, 25, len(cam)))
    turn = np.stack([np.stack([np.ones_like(angle), 0 * angle, 0 * angle], -1),
                     np.stack([0 * angle, np.cos(angle), -np.sin(angle)], -1),
                     np.stack([0 * angle, np.sin(angle), np.cos(angle)], -1)], 1)  # (F, 3, 3)
    tilted = np.einsum("fij,fkj->fki", turn, cam)
    moving = find_world_frame(tilted - tilted[:, :1], tilted[:, 0], 25.0)
    assert moving.drift_deg > 10.0 and not steady.drift_deg > 5.0


def test_a_foot_stays_on_its_spot_until_its_contact_ends(walk):
    # the left foot rests at frames 5-14, lifts for 2 frames and rests again 0.5 m on at 17-26:
    # every frame of the first contact keeps the first spot, each frame between takes the spot of
    # the nearer contact
    world = walk @ ZUP_TO_YUP.T
    contacts = np.zeros((len(world), 2), bool)
    contacts[5:15, 0] = contacts[17:27, 0] = True
    locked = lock_feet(world, contacts)
    first, second = world[5:15, 6, [0, 2]].mean(0), world[17:27, 6, [0, 2]].mean(0)
    assert np.linalg.norm(second - first) > 0.4
    np.testing.assert_allclose(locked[7:15, 6][:, [0, 2]], np.broadcast_to(first, (8, 2)), atol=0.005)
    np.testing.assert_allclose(locked[17:25, 6][:, [0, 2]], np.broadcast_to(second, (8, 2)), atol=0.005)
    ground = locked[:, 6, [0, 2]]
    assert np.linalg.norm(ground[15] - first) < np.linalg.norm(ground[15] - second)
    assert np.linalg.norm(ground[16] - second) < np.linalg.norm(ground[16] - first)
