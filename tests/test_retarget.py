import math

import pytest
import torch

from ddhpose.data.bvh import forward_kinematics, parse_bvh
from ddhpose.data.retarget import (BANDAI_BVH, CMU_ASF, RetargetMap, find_asf, find_map, load_mocap, resample, retarget,
                                   y_up_to_z_up)
from ddhpose.skeleton import H36M_NAMES

J = {name: i for i, name in enumerate(H36M_NAMES)}

# A Bandai-style skeleton in a T-pose: centimetres, y up, facing +z (the subject's left is +x).
_BANDAI_TREE = [  # name, parent, offset
    ("joint_Root", None, (0, 0, 0)), ("Hips", "joint_Root", (0, 95, 0)),
    ("Spine", "Hips", (0, 10, 0)), ("Chest", "Spine", (0, 10, 0)), ("Neck", "Chest", (0, 25, 0)),
    ("Head", "Neck", (0, 7, 0)),
    ("Shoulder_L", "Chest", (4, 20, 0)), ("UpperArm_L", "Shoulder_L", (12, 0, 0)),
    ("LowerArm_L", "UpperArm_L", (28, 0, 0)), ("Hand_L", "LowerArm_L", (25, 0, 0)),
    ("Shoulder_R", "Chest", (-4, 20, 0)), ("UpperArm_R", "Shoulder_R", (-12, 0, 0)),
    ("LowerArm_R", "UpperArm_R", (-28, 0, 0)), ("Hand_R", "LowerArm_R", (-25, 0, 0)),
    ("UpperLeg_L", "Hips", (9, -3, 0)), ("LowerLeg_L", "UpperLeg_L", (0, -44, 0)),
    ("Foot_L", "LowerLeg_L", (0, -44, 0)), ("Toes_L", "Foot_L", (0, -5, 12)),
    ("UpperLeg_R", "Hips", (-9, -3, 0)), ("LowerLeg_R", "UpperLeg_R", (0, -44, 0)),
    ("Foot_R", "LowerLeg_R", (0, -44, 0)), ("Toes_R", "Foot_R", (0, -5, 12)),
]


def _hierarchy(tree, end_offset: str = "0 0 0") -> tuple[list[str], list[str]]:
    """BVH HIERARCHY lines of a (name, parent, offset) tree, every joint with ZXY rotation
    channels and the root with positions too; returns (lines, joint order)."""
    lines, order = ["HIERARCHY"], []

    def emit(name: str, depth: int) -> None:
        pad = "  " * depth
        offset = next(o for n, _, o in tree if n == name)
        lines.append(f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}\n{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        pos = "Xposition Yposition Zposition " if depth == 0 else ""
        lines.append(f"{pad}  CHANNELS {6 if depth == 0 else 3} {pos}Zrotation Xrotation Yrotation")
        order.append(name)
        kids = [n for n, p, _ in tree if p == name]
        for kid in kids:
            emit(kid, depth + 1)
        if not kids:
            lines.append(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {end_offset}\n{pad}  }}")
        lines.append(f"{pad}}}")

    emit(tree[0][0], 0)
    return lines, order


def _bandai_bvh(frames: list[dict[str, tuple[float, float, float]]], frame_time: float = 1 / 30) -> str:
    """BVH text; every joint has ZXY rotation channels, the root also positions. ``frames``:
    joint -> (z, x, y) degrees (the root's key 'pos' -> position)."""
    lines, order = _hierarchy(_BANDAI_TREE)
    lines += ["MOTION", f"Frames: {len(frames)}", f"Frame Time: {frame_time}"]
    for f in frames:
        row = list(f.get("pos", (0, 0, 0)))
        for name in order:
            row += list(f.get(name, (0, 0, 0)))
        lines.append(" ".join(str(v) for v in row))
    return "\n".join(lines) + "\n"


def test_bandai_rest_pose_metres_z_up_left_is_left(tmp_path):
    path = tmp_path / "rest.bvh"
    path.write_text(_bandai_bvh([{}, {}]))
    pose = load_mocap(path, fps=30)[0].double()
    # BVH (x, y, z) cm -> world (x, -z, y) m; the subject faces world -y, so its left is +x
    torch.testing.assert_close(pose[J["left_hip"]], torch.tensor([0.09, 0.0, 0.92], dtype=torch.float64))
    torch.testing.assert_close(pose[J["right_hip"]], torch.tensor([-0.09, 0.0, 0.92], dtype=torch.float64))
    torch.testing.assert_close(pose[J["pelvis"]], torch.tensor([0.0, 0.0, 0.92], dtype=torch.float64))
    torch.testing.assert_close(pose[J["left_ankle"]], torch.tensor([0.09, 0.0, 0.04], dtype=torch.float64))
    torch.testing.assert_close(pose[J["thorax"]], torch.tensor([0.0, 0.0, 1.40], dtype=torch.float64))
    torch.testing.assert_close(pose[J["spine"]], (pose[J["pelvis"]] + pose[J["thorax"]]) / 2)
    torch.testing.assert_close(pose[J["left_wrist"]], torch.tensor([0.69, 0.0, 1.35], dtype=torch.float64))
    torch.testing.assert_close(pose[J["right_elbow"]], torch.tensor([-0.44, 0.0, 1.35], dtype=torch.float64))
    # head: nose in front (world -y) and above the skull base, head top above the nose
    skull = torch.tensor([0.0, 0.0, 1.47], dtype=torch.float64)
    nose, top = pose[J["neck"]], pose[J["head"]]
    assert nose[1] < -0.05 and nose[2] > skull[2]
    assert top[2] > nose[2] + 0.08 and abs(top[1]) < abs(nose[1])


def test_bandai_head_follows_head_rotation_and_body_turns_rigidly(tmp_path):
    path = tmp_path / "turn.bvh"
    frames = [{}, {"Head": (0, 40, 0)}, {"joint_Root": (0, 0, 90), "pos": (10, 0, 20)}]
    path.write_text(_bandai_bvh(frames))
    rest, nod, turned = load_mocap(path, fps=30).double()
    # nodding (about the head's x, toward the front) moves only the head points, and forward
    torch.testing.assert_close(nod[:9], rest[:9])
    torch.testing.assert_close(nod[11:], rest[11:])
    assert nod[J["neck"], 2] < rest[J["neck"], 2] and nod[J["head"], 1] < rest[J["head"], 1] - 0.03
    # turning 90 deg about BVH y (world z) and moving: a rigid motion of the whole pose
    rz = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=torch.float64)
    expected = rest @ rz.T + torch.tensor([0.10, -0.20, 0.0], dtype=torch.float64)
    torch.testing.assert_close(turned, expected)


def test_bandai_resampled_and_unit_override(tmp_path):
    path = tmp_path / "clip.bvh"
    path.write_text(_bandai_bvh([{"pos": (3 * k, 0, 0)} for k in range(31)]))
    poses = load_mocap(path)  # 30 -> 50 fps
    assert poses.shape == (51, 17, 3) and poses.dtype == torch.float32
    torch.testing.assert_close(poses[:, 0, 0], torch.linspace(0, 0.9, 51))
    inches = load_mocap(path, fps=30, metres_per_unit=0.0254)
    torch.testing.assert_close(inches[0, J["pelvis"], 2], torch.tensor(92 * 0.0254))


def _cmu_asf() -> str:
    bones = [  # name, parent, direction, length, dof
        ("lhipjoint", "root", (0.6, -0.8, 0), 2, ""), ("rhipjoint", "root", (-0.6, -0.8, 0), 2, ""),
        ("lfemur", "lhipjoint", (0, -1, 0), 7, "rx ry rz"), ("rfemur", "rhipjoint", (0, -1, 0), 7, "rx ry rz"),
        ("ltibia", "lfemur", (0, -1, 0), 7, "rx"), ("rtibia", "rfemur", (0, -1, 0), 7, "rx"),
        ("lowerback", "root", (0, 1, 0), 2, "rx ry rz"), ("upperback", "lowerback", (0, 1, 0), 2, "rx ry rz"),
        ("thorax", "upperback", (0, 1, 0), 2, "rx ry rz"), ("lowerneck", "thorax", (0, 1, 0), 1.5, "rx ry rz"),
        ("upperneck", "lowerneck", (0, 1, 0), 1.5, "rx ry rz"), ("head", "upperneck", (0, 1, 0), 1.5, "rx ry rz"),
        ("lclavicle", "thorax", (1, 0, 0), 3, "ry rz"), ("rclavicle", "thorax", (-1, 0, 0), 3, "ry rz"),
        ("lhumerus", "lclavicle", (1, 0, 0), 5, "rx ry rz"), ("rhumerus", "rclavicle", (-1, 0, 0), 5, "rx ry rz"),
        ("lradius", "lhumerus", (1, 0, 0), 3, "rx"), ("rradius", "rhumerus", (-1, 0, 0), 3, "rx"),
        ("lwrist", "lradius", (1, 0, 0), 1.5, "ry"), ("rwrist", "rradius", (-1, 0, 0), 1.5, "ry"),
    ]
    text = [":units", "  length 0.45", "  angle deg", ":root", "  order TX TY TZ RX RY RZ", "  axis XYZ",
            "  position 0 0 0", "  orientation 0 0 0", ":bonedata"]
    for i, (name, _, d, length, dof) in enumerate(bones):
        text += ["begin", f"id {i + 1}", f"name {name}", f"direction {d[0]} {d[1]} {d[2]}",
                 f"length {length}", "axis 0 0 0 XYZ"] + ([f"dof {dof}"] if dof else []) + ["end"]
    text += [":hierarchy", "begin"] + [f"{parent} {name}" for name, parent, *_ in bones] + ["end"]
    amc = [":FULLY-SPECIFIED", ":DEGREES"]
    for frame in range(13):
        amc += [str(frame + 1), f"root 0 {17 + frame / 12} 0 0 0 0"]
        amc += [f"{name} " + " ".join("0" for _ in dof.split()) for name, _, _, _, dof in bones if dof]
    return "\n".join(text) + "\n", "\n".join(amc) + "\n"


def test_cmu_asf_amc_metres_z_up(tmp_path):
    asf, amc = _cmu_asf()
    (tmp_path / "09.asf").write_text(asf)
    (tmp_path / "09_01.amc").write_text(amc)
    unit = 2.54 / 100 / 0.45
    poses = load_mocap(tmp_path / "09_01.amc", fps=60).double()  # 120 fps -> 60
    assert poses.shape == (7, 17, 3)
    pose = poses[0]
    root = torch.tensor([0.0, 0.0, 17.0], dtype=torch.float64) * unit
    torch.testing.assert_close(pose[J["left_hip"]], root + torch.tensor([1.2, 0, -1.6], dtype=torch.float64) * unit)
    torch.testing.assert_close(pose[J["pelvis"]], root + torch.tensor([0, 0, -1.6], dtype=torch.float64) * unit)
    torch.testing.assert_close(pose[J["right_ankle"]], root + torch.tensor([-1.2, 0, -15.6], dtype=torch.float64) * unit)
    torch.testing.assert_close(pose[J["thorax"]], root + torch.tensor([0, 0, 7.5], dtype=torch.float64) * unit)
    torch.testing.assert_close(pose[J["head"]], root + torch.tensor([0, 0, 10.5], dtype=torch.float64) * unit)
    torch.testing.assert_close(pose[J["left_wrist"]], root + torch.tensor([12.5, 0, 6.0], dtype=torch.float64) * unit)
    assert pose[J["neck"], 1] < -0.05  # CMU faces +z: world -y after the axis change
    # the root rises 1/12 unit per source frame: 1/6 per output frame
    torch.testing.assert_close(poses[:, 0, 2] - poses[0, 0, 2], torch.arange(7, dtype=torch.float64) / 6 * unit)


def test_find_map_and_asf(tmp_path):
    motion = forward_kinematics(parse_bvh(_bandai_bvh([{}])))
    assert find_map(motion.names) is BANDAI_BVH
    assert find_map(list(CMU_ASF.sources)) is CMU_ASF
    with pytest.raises(ValueError, match="no retarget map fits"):
        find_map(["a", "b"])
    with pytest.raises(ValueError, match="cannot find its ASF skeleton"):
        find_asf(tmp_path / "05_01.amc")
    (tmp_path / "subject.asf").write_text("")
    assert find_asf(tmp_path / "05_01.amc") == tmp_path / "subject.asf"
    with pytest.raises(ValueError, match="expected a .bvh or .amc file"):
        load_mocap(tmp_path / "subject.asf")


def test_retarget_map_validation():
    joints = dict(BANDAI_BVH.joints)
    joints["pelvis"] = {"UpperLeg_L": 0.5}
    with pytest.raises(ValueError, match="must sum to 1"):
        RetargetMap("bad", joints, BANDAI_BVH.head)
    with pytest.raises(ValueError, match="17 Human3.6M names"):
        RetargetMap("bad", {"pelvis": {"Hips": 1.0}}, BANDAI_BVH.head)
    motion = forward_kinematics(parse_bvh(_bandai_bvh([{}])))
    with pytest.raises(ValueError, match="needs joints"):
        retarget(motion, CMU_ASF)


def test_resample_linear_and_identity():
    t = torch.arange(121, dtype=torch.float64) / 120  # 1 s at 120 fps
    x = torch.stack((3 * t, -t, t + 1), -1)[:, None, :]  # (N, 1, 3), linear in time
    y = resample(x, 120, 50)
    assert y.shape == (51, 1, 3)
    t50 = torch.arange(51, dtype=torch.float64) / 50
    torch.testing.assert_close(y[:, 0], torch.stack((3 * t50, -t50, t50 + 1), -1))
    torch.testing.assert_close(resample(x, 50, 50), x)
    assert resample(x[:1], 30, 50).shape == (1, 1, 3)
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 50)


def test_y_up_to_z_up_is_a_rotation():
    eye = torch.eye(3, dtype=torch.float64)
    m = y_up_to_z_up(eye)
    assert math.isclose(torch.linalg.det(m).item(), 1.0)
    torch.testing.assert_close(y_up_to_z_up(torch.tensor([0.0, 1.0, 0.0])), torch.tensor([0.0, 0.0, 1.0]))


# The 43-joint CMU BVH skeleton (dance / martial arts), reduced to the joints the map reads plus
# an eye, in a T-pose: centimetres, y up, facing +z (the subject's left is +x).
_CMU43_TREE = [
    ("hip", None, (0, 0, 0)), ("abdomen", "hip", (0, 20, 0)), ("chest", "abdomen", (0, 12, 0)),
    ("neck", "chest", (0, 22, 0)), ("head", "neck", (0, 7, 0)), ("leftEye", "head", (4, 8, 8)),
    ("rCollar", "chest", (-3, 19, 0)), ("rShldr", "rCollar", (-9, 0, 0)), ("rForeArm", "rShldr", (-28, 0, 0)),
    ("rHand", "rForeArm", (-23, 0, 0)),
    ("lCollar", "chest", (3, 19, 0)), ("lShldr", "lCollar", (9, 0, 0)), ("lForeArm", "lShldr", (28, 0, 0)),
    ("lHand", "lForeArm", (23, 0, 0)),
    ("rButtock", "hip", (-9, 4, 0)), ("rThigh", "rButtock", (0, -2, 0)), ("rShin", "rThigh", (0, -40, 0)),
    ("rFoot", "rShin", (0, -42, 0)),
    ("lButtock", "hip", (9, 4, 0)), ("lThigh", "lButtock", (0, -2, 0)), ("lShin", "lThigh", (0, -40, 0)),
    ("lFoot", "lShin", (0, -42, 0)),
]


def _tree_bvh(tree, frames: int = 3, values: str = "0") -> str:
    """BVH text of ``tree`` with every channel of every frame set to ``values``."""
    lines, order = _hierarchy(tree, end_offset="0 1 0")
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.00833333"]
    lines += [" ".join([values] * (3 + 3 * len(order))) for _ in range(frames)]
    return "\n".join(lines) + "\n"


def test_cmu_43_joint_bvh_joints_at_their_origins(tmp_path):
    from ddhpose.data.retarget import CMU_BVH43
    path = tmp_path / "salsa.bvh"
    path.write_text(_tree_bvh(_CMU43_TREE, frames=12))
    motion = forward_kinematics(parse_bvh(path.read_text()))
    assert find_map(motion.names) is CMU_BVH43
    poses = load_mocap(path, fps=30).double()  # 120 -> 30 fps
    assert poses.shape == (3, 17, 3)
    pose = poses[0]
    cm = lambda x, y, z: torch.tensor([x, -z, y], dtype=torch.float64) / 100  # noqa: E731 (y up -> z up)
    torch.testing.assert_close(pose[J["left_hip"]], cm(9, 2, 0))
    torch.testing.assert_close(pose[J["left_knee"]], cm(9, -38, 0))
    torch.testing.assert_close(pose[J["right_ankle"]], cm(-9, -80, 0))
    torch.testing.assert_close(pose[J["left_wrist"]], cm(63, 51, 0))
    torch.testing.assert_close(pose[J["thorax"]], cm(0, 54, 0))
    assert pose[J["head"], 2] > pose[J["thorax"], 2] + 0.1  # the estimated head top is above the neck


def test_hdm05_amc_finds_its_actor_skeleton(tmp_path):
    (tmp_path / "HDM_bd.asf").write_text("")
    (tmp_path / "HDM_tr.asf").write_text("")
    assert find_asf(tmp_path / "HDM_bd_squat1Reps_001_120.amc") == tmp_path / "HDM_bd.asf"
    assert find_asf(tmp_path / "HDM_tr_kickLFront1Reps_003_120.amc") == tmp_path / "HDM_tr.asf"
    with pytest.raises(ValueError, match=r"HDM_xx_squat_001_120.amc: cannot find its ASF skeleton.*2 .asf"):
        find_asf(tmp_path / "HDM_xx_squat_001_120.amc")


def test_bad_mocap_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.bvh"
    empty.write_text(_tree_bvh(_CMU43_TREE, frames=0))
    with pytest.raises(ValueError, match=r"empty.bvh: the clip has no frames"):
        load_mocap(empty)
    nan = tmp_path / "nan.bvh"
    nan.write_text(_tree_bvh(_CMU43_TREE, frames=2, values="nan"))
    with pytest.raises(ValueError, match=r"nan.bvh: non-finite joint positions .* 2 frame\(s\), first at frame 0"):
        load_mocap(nan)
    odd = tmp_path / "odd.bvh"
    odd.write_text(_tree_bvh([(f"j{i}", None if i == 0 else f"j{i - 1}", (0, 1, 0)) for i in range(4)]))
    with pytest.raises(ValueError, match=r"odd.bvh: no retarget map fits joints"):
        load_mocap(odd)
