import math

import numpy as np
import pytest
import torch

from ddhpose.data.bvh import euler_matrices, forward_kinematics, parse_bvh, read_bvh

# root with all six channels, a child with rotations in YXZ order, a child that animates only
# its Y offset and X rotation, and an end site
SMALL = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Yrotation Xrotation Zrotation
    JOINT Head
    {
      OFFSET 0 5 0
      CHANNELS 2 Yposition Xrotation
      End Site
      {
        OFFSET 0 3 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.02
0 0 0 0 0 0 0 0 0 5 0
10 20 30 90 0 0 0 90 0 7 90
"""


def _rx(deg):
    a = math.radians(deg)
    return torch.tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]], dtype=torch.float64)


def _ry(deg):
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]], dtype=torch.float64)


def _rz(deg):
    a = math.radians(deg)
    return torch.tensor([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]], dtype=torch.float64)


def test_parse_small_file(tmp_path):
    path = tmp_path / "small.bvh"
    path.write_text(SMALL)
    bvh = read_bvh(path)
    assert bvh.names == ("Hips", "Spine", "Head", "Head_end")
    assert bvh.parents == (-1, 0, 1, 2)
    assert bvh.joints[3].end_site and not bvh.joints[2].end_site
    assert bvh.joints[1].channels == ("yrotation", "xrotation", "zrotation")
    assert bvh.motion.shape == (2, 11)
    assert bvh.fps == pytest.approx(50.0)


def test_forward_kinematics_by_hand():
    motion = forward_kinematics(parse_bvh(SMALL))
    p = motion.positions
    # frame 0: position channels replace offsets (root at its channels, Head's y offset = 5)
    torch.testing.assert_close(p[0], torch.tensor([[0, 0, 0], [0, 10, 0], [0, 15, 0], [0, 18, 0]], dtype=torch.float64))
    # frame 1: root at (10, 20, 30), turned 90 deg about z: local +y becomes world -x
    root_rot = _rz(90)
    spine_rot = root_rot @ _ry(0) @ _rx(90) @ _rz(0)
    head_rot = spine_rot @ _rx(90)
    root = torch.tensor([10.0, 20, 30], dtype=torch.float64)
    spine = root + root_rot @ torch.tensor([0.0, 10, 0], dtype=torch.float64)
    head = spine + spine_rot @ torch.tensor([0.0, 7, 0], dtype=torch.float64)
    end = head + head_rot @ torch.tensor([0.0, 3, 0], dtype=torch.float64)
    torch.testing.assert_close(p[1], torch.stack((root, spine, head, end)))
    torch.testing.assert_close(spine, torch.tensor([0.0, 20, 30], dtype=torch.float64))
    torch.testing.assert_close(motion.rotations[1, 2], head_rot)
    # the rest pose uses the offsets, not the channels
    torch.testing.assert_close(motion.rest_positions, torch.tensor(
        [[1, 2, 3], [1, 12, 3], [1, 17, 3], [1, 20, 3]], dtype=torch.float64))


@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_matrices_are_intrinsic(order):
    rng = np.random.default_rng(0)
    angles = torch.tensor(rng.uniform(-170, 170, size=(5, 3)))
    single = {"X": _rx, "Y": _ry, "Z": _rz}
    expected = torch.stack([single[order[0]](a[0]) @ single[order[1]](a[1]) @ single[order[2]](a[2])
                            for a in angles.tolist()])
    torch.testing.assert_close(euler_matrices(angles, order), expected)


def test_euler_matches_scipy_when_available():
    rotation = pytest.importorskip("scipy.spatial.transform").Rotation
    angles = np.array([[30.0, -60.0, 100.0]])
    expected = rotation.from_euler("ZXY", angles, degrees=True).as_matrix()  # upper case: intrinsic
    np.testing.assert_allclose(euler_matrices(torch.tensor(angles), "zxy").numpy(), expected, atol=1e-12)


def test_crlf_and_braces_on_one_line():
    text = SMALL.replace("ROOT Hips\n{", "ROOT Hips {").replace("\n", "\r\n")
    assert parse_bvh(text).names == ("Hips", "Spine", "Head", "Head_end")


def test_truncated_motion_names_file_and_line(tmp_path):
    path = tmp_path / "cut.bvh"
    path.write_text(SMALL.rsplit("\n", 2)[0] + "\n")  # drop the last frame
    with pytest.raises(ValueError, match=r"cut\.bvh, line 24: file is truncated: 'Frames: 2' but only 1"):
        read_bvh(path)


def test_wrong_value_count_names_line(tmp_path):
    path = tmp_path / "bad.bvh"
    path.write_text(SMALL.replace("10 20 30 90 0 0 0 90 0 7 90", "10 20 30 90 0 0 0 90 0 7"))
    with pytest.raises(ValueError, match=r"bad\.bvh, line 25: frame 1 has 10 values, the hierarchy declares 11"):
        read_bvh(path)


def test_channel_count_disagreeing_with_names():
    with pytest.raises(ValueError, match=r"line 9: CHANNELS of 'Spine' declares 4 channels but lists 3"):
        parse_bvh(SMALL.replace("CHANNELS 3 Yrotation", "CHANNELS 4 Yrotation"), "x.bvh")


def test_unknown_channel_and_truncated_hierarchy():
    with pytest.raises(ValueError, match="unknown or repeated channels"):
        parse_bvh(SMALL.replace("Yrotation Xrotation Zrotation", "Yrotation Wrotation Zrotation"))
    with pytest.raises(ValueError, match="no MOTION section"):
        parse_bvh(SMALL.split("MOTION")[0])
    with pytest.raises(ValueError, match=r"file ends early: expected '\}' closing 'Hips'"):
        parse_bvh(SMALL.replace("  }\n}\nMOTION", "  }\nMOTION"))


def test_extra_frames_are_an_error():
    with pytest.raises(ValueError, match="more frame lines than 'Frames: 1'"):
        parse_bvh(SMALL.replace("Frames: 2", "Frames: 1"))
