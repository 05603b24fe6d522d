"""Geometry: decomposition round trips, flips, camera transforms, screen normalisation."""
import math

import pytest
import torch

from ddhpose.geometry import (camera_to_world, carry_with_anchor, compose, decompose, flip_pose, flip_slots,
                              image_coordinates, interpolate_gaps, normalize_intrinsics, normalize_screen, project,
                              world_to_camera)
from ddhpose.skeleton import H36M, MPI_INF_3DHP


@pytest.mark.parametrize("skeleton", [H36M, MPI_INF_3DHP])
def test_decompose_compose_round_trip(skeleton):
    pose = torch.randn(3, 5, 17, 3, dtype=torch.float64)
    pose = pose - pose[..., skeleton.root:skeleton.root + 1, :]
    direction, length = decompose(pose, skeleton)
    assert torch.allclose(direction.norm(dim=-1)[..., list(skeleton.bone_slots)], torch.ones(()).double())
    assert (length[..., skeleton.root, 0] == 0).all() and (direction[..., skeleton.root, :] == 0).all()
    rebuilt = compose(direction, length, skeleton)
    assert torch.allclose(rebuilt - rebuilt[..., skeleton.root:skeleton.root + 1, :], pose, atol=1e-12)


def test_decompose_matches_a_naive_loop():
    pose = torch.randn(4, 17, 3)
    direction, length = decompose(pose, H36M)
    for c, p in enumerate(H36M.parents):
        if p < 0:
            continue
        v = pose[:, c] - pose[:, p]
        assert torch.allclose(length[:, c, 0], v.norm(dim=-1))
        assert torch.allclose(direction[:, c], v / v.norm(dim=-1, keepdim=True))


def test_flips_are_involutions_and_mirror_x():
    x = torch.randn(2, 17, 3)
    assert torch.equal(flip_pose(flip_pose(x, H36M), H36M), x)
    assert torch.equal(flip_pose(x, H36M)[:, 4, 0], -x[:, 1, 0])  # left hip <- mirrored right hip
    assert torch.equal(flip_slots(x, H36M)[:, 4], x[:, 1])
    # flipping a pose and decomposing equals decomposing and flipping the bones
    d, l = decompose(x, H36M)
    fd, fl = decompose(flip_pose(x, H36M), H36M)
    assert torch.allclose(fd, flip_pose(d, H36M), atol=1e-6) and torch.allclose(fl, flip_slots(l, H36M))


def test_camera_round_trip_and_projection_of_the_optical_axis():
    angle = torch.tensor(0.3, dtype=torch.float64)
    rotation = torch.tensor([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]],
                            dtype=torch.float64)
    centre = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    x = torch.randn(10, 17, 3, dtype=torch.float64)
    assert torch.allclose(camera_to_world(world_to_camera(x, rotation, centre), rotation, centre), x)
    intrinsics = torch.tensor([1000.0, 1000.0, 500.0, 400.0, 0, 0, 0, 0, 0], dtype=torch.float64)
    uv = project(torch.tensor([[0.0, 0.0, 4.0], [0.4, -0.2, 4.0]], dtype=torch.float64), intrinsics)
    assert torch.allclose(uv, torch.tensor([[500.0, 400.0], [600.0, 350.0]], dtype=torch.float64))


def test_screen_normalisation_round_trip_and_intrinsics():
    uv = torch.rand(5, 17, 2, dtype=torch.float64) * 1000
    xy = normalize_screen(uv, 1000, 1002)
    assert torch.allclose(image_coordinates(xy, 1000, 1002), uv)
    intrinsics = torch.tensor([1145.0, 1143.0, 512.0, 515.0, -0.2, 0.24, -0.003, -0.001, -0.0014], dtype=torch.float64)
    points = torch.randn(20, 3, dtype=torch.float64) * 0.5 + torch.tensor([0, 0, 5.0], dtype=torch.float64)
    direct = normalize_screen(project(points, intrinsics), 1000, 1002)
    assert torch.allclose(project(points, normalize_intrinsics(intrinsics, 1000, 1002)), direct, atol=1e-12)


def test_shape_errors_name_what_was_expected():
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 17, 3\)"):
        decompose(torch.zeros(4, 16, 3), H36M)
    with pytest.raises(ValueError, match="intrinsics"):
        project(torch.zeros(4, 3), torch.zeros(8))


def test_interpolate_gaps_is_linear_inside_and_holds_at_the_ends():
    values = torch.arange(8, dtype=torch.float64)[:, None, None].expand(8, 2, 1).clone() * 2
    missing = torch.zeros(8, 2, dtype=torch.bool)
    missing[2:5, 0] = True  # inside: interpolated from frames 1 and 5
    missing[:3, 1] = missing[6:, 1] = True  # at both ends: the nearest known value held
    values[missing] = -99.0
    out = interpolate_gaps(values, missing)
    assert torch.equal(out[:, 0, 0], torch.arange(8, dtype=torch.float64) * 2)
    assert out[:, 1, 0].tolist() == [6, 6, 6, 6, 8, 10, 10, 10]
    all_missing = torch.ones(8, 2, dtype=torch.bool)
    assert torch.equal(interpolate_gaps(values, all_missing), values)  # nothing known: left as is


def test_carry_with_anchor_moves_hidden_joints_with_the_anchor():
    t = torch.arange(6, dtype=torch.float64)[:, None, None]
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype=torch.float64) + t * torch.tensor([0.5, 0.0])
    missing = torch.zeros(6, 3, dtype=torch.bool)
    missing[1:4, 2] = True
    hidden = x.clone()
    hidden[missing] = 99.0
    out = carry_with_anchor(hidden, missing, 0)
    assert torch.equal(out[~missing], hidden[~missing])  # known entries untouched
    assert torch.allclose(out, x)  # the offset (0, 2) from the walking anchor is carried over the gap
