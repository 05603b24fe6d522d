import math

import numpy as np
import pytest
import torch

from ddhpose.data.asf_amc import forward_kinematics, load_asf_amc, parse_amc, parse_asf, read_asf

ASF = """# a tiny Acclaim skeleton
:version 1.10
:name tiny
:units
  mass 1.0
  length 0.45
  angle deg
:documentation
  free text: ignored
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name upper
     direction 1 0 0
     length 2
     axis 0 0 0  XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
     id 2
     name lower
     direction 1 0 0
     length 3
     axis 0 0 90  XYZ
    dof rx
  end
  begin
     id 3
     name side
     direction 0 0 1
     length 1
     axis 0 0 0 XYZ
  end
:hierarchy
  begin
    root upper side
    upper lower
  end
"""

AMC = """#!OML:ASF tiny.asf
:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
upper 0 0 0
lower 0
2
root 0 0 0 0 0 90
upper 0 0 0
lower 90
"""


def test_parse_asf():
    sk = parse_asf(ASF)
    assert sk.names == ("root", "upper", "side", "lower")
    assert [b.parent for b in sk.bones] == [-1, 0, 0, 1]
    assert sk.bones[3].dof == ("rx",) and sk.bones[2].dof == ()
    assert sk.bones[3].axis == (0.0, 0.0, 90.0) and sk.bones[3].axis_order == "xyz"
    # CMU: file units are inches * 0.45, so metres = value / 0.45 * 2.54 / 100
    assert sk.metres_per_unit == pytest.approx((1 / 0.45) * 2.54 / 100)


def test_forward_kinematics_by_hand():
    sk = parse_asf(ASF)
    m = forward_kinematics(sk, parse_amc(AMC, sk), fps=120.0)
    p = m.positions
    names = list(m.names)
    # frame 1: rest orientation, root translated to (1, 2, 3)
    root = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    torch.testing.assert_close(p[0, names.index("root")], root)
    torch.testing.assert_close(p[0, names.index("upper")], root + torch.tensor([2.0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(p[0, names.index("lower")], root + torch.tensor([5.0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(p[0, names.index("side")], root + torch.tensor([0, 0, 1.0], dtype=torch.float64))
    # frame 2: root turned 90 deg about z takes x to y; 'lower' has its frame turned 90 deg about
    # z, so its rx = 90 turns about world y (before the root's turn): x -> -z, which stays -z
    upper = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(p[1, names.index("upper")], upper)
    torch.testing.assert_close(p[1, names.index("lower")], upper + torch.tensor([0, 0, -3.0], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(p[1, names.index("side")], torch.tensor([0, 0, 1.0], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(m.rest_positions[names.index("lower")], torch.tensor([5.0, 0, 0], dtype=torch.float64))
    assert m.fps == 120.0 and m.metres_per_unit == pytest.approx(0.0254 / 0.45)


def test_dof_order_is_fixed_axis_first_listed_first():
    # dof rz rx: rotate about z by 90 first (x -> y), then about x by 90 (y -> z)
    text = ASF.replace("dof rx ry rz", "dof rz rx").replace(
        "    limits (-160.0 20.0)\n           (-70.0 70.0)\n           (-60.0 70.0)\n", "")
    sk = parse_asf(text)
    amc = "1\nroot 0 0 0 0 0 0\nupper 90 90\nlower 0\n"
    m = forward_kinematics(sk, parse_amc(amc, sk))
    torch.testing.assert_close(m.positions[0, 1], torch.tensor([0, 0, 2.0], dtype=torch.float64), atol=1e-12, rtol=0)


def test_radians_and_crlf(tmp_path):
    sk = parse_asf(ASF)
    rad = AMC.replace(":DEGREES", ":RADIANS").replace("lower 90", f"lower {math.pi / 2}").replace(
        "root 0 0 0 0 0 90", f"root 0 0 0 0 0 {math.pi / 2}")
    deg = parse_amc(AMC, sk)
    got = parse_amc(rad.replace("\n", "\r\n"), sk)
    for name in deg:
        np.testing.assert_allclose(got[name], deg[name], atol=1e-12)
    (tmp_path / "tiny.asf").write_text(ASF.replace("\n", "\r\n"))
    assert read_asf(tmp_path / "tiny.asf").names == sk.names


def test_load_pair_from_files(tmp_path):
    (tmp_path / "07.asf").write_text(ASF)
    (tmp_path / "07_01.amc").write_text(AMC)
    m = load_asf_amc(tmp_path / "07.asf", tmp_path / "07_01.amc", fps=60.0)
    assert m.positions.shape == (2, 4, 3) and m.fps == 60.0


def test_amc_errors_name_file_and_line():
    sk = parse_asf(ASF)
    with pytest.raises(ValueError, match=r"x\.amc, line 6: bone 'upper' expects 3 values \(rx ry rz\), got 2"):
        parse_amc(AMC.replace("upper 0 0 0\nlower 0\n2", "upper 0 0\nlower 0\n2"), sk, "x.amc")
    with pytest.raises(ValueError, match=r"line 6: bone 'elbow' has no dof"):
        parse_amc(AMC.replace("root 1 2 3 0 0 0", "root 1 2 3 0 0 0\nelbow 1"), sk, "x.amc")
    with pytest.raises(ValueError, match=r"frame 2 lacks bones \['lower'\] \(file truncated\?\)"):
        parse_amc(AMC.rsplit("lower", 1)[0], sk, "x.amc")


def test_asf_errors():
    with pytest.raises(ValueError, match="missing ':hierarchy' section"):
        parse_asf(ASF.split(":hierarchy")[0])
    with pytest.raises(ValueError, match=r"line 19: expected 3 numbers for direction"):
        parse_asf(ASF.replace("direction 1 0 0\n     length 2", "direction 1 0\n     length 2"))
    with pytest.raises(ValueError, match="unknown bone 'ghost'"):
        parse_asf(ASF.replace("upper lower", "upper lower ghost"))
    with pytest.raises(ValueError, match="only rotational dof"):
        parse_asf(ASF.replace("dof rx\n", "dof tx\n"))


def test_radian_units_apply_to_the_axis_too():
    deg = parse_asf(ASF)
    rad = parse_asf(ASF.replace("angle deg", "angle rad").replace("axis 0 0 90  XYZ", f"axis 0 0 {math.pi / 2}  XYZ"))
    assert rad.bones[3].axis == pytest.approx(deg.bones[3].axis)
    amc = AMC.replace(":DEGREES\n", "")  # values follow the skeleton's unit: radians
    amc_rad = amc.replace("lower 90", f"lower {math.pi / 2}").replace("root 0 0 0 0 0 90", f"root 0 0 0 0 0 {math.pi / 2}")
    torch.testing.assert_close(forward_kinematics(rad, parse_amc(amc_rad, rad)).positions,
                               forward_kinematics(deg, parse_amc(amc, deg)).positions)
