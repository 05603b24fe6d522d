"""The plausibility checks on 2D keypoints: wrong layouts warn, a body seen from the side does not
(foreshortening is not a wrong layout), and each warning's advice is an option of the command."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from ddhpose.data.virtual_camera import look_at_camera, observe
from ddhpose.lifting.checks import LayoutWarning, check_keypoints
from ddhpose.lifting.keypoints import to_h36m

WALK = Path(__file__).parent / "fixtures" / "cmu_02_01_walk_world.npz"  # z up, metres, 25 fps


def _views(world: np.ndarray) -> list[np.ndarray]:
    """The walk's exact 2D from the side (across its path), from the front and from behind."""
    centre = world[:, 0].mean(0)
    path = world[-1, 0] - world[0, 0]
    path[2] = 0
    path /= np.linalg.norm(path)
    side = np.array([-path[1], path[0], 0.0])
    out = []
    for direction in (side, -side, path, -path):
        camera = look_at_camera(centre + 5.0 * direction + [0, 0, 0.3], centre, image_size=(1920, 1080), focal=1400.0)
        out.append(observe(world, camera)[1].numpy())
    return out


def test_a_body_seen_from_the_side_is_not_a_wrong_layout():
    with np.load(WALK) as data:
        world = data["world"].astype(np.float64)
    # one arm held out towards the camera the whole time: that forearm is a point in 2D
    for uv in _views(world):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_keypoints(uv, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "side")
        end_on = uv.copy()
        end_on[:, 13] = end_on[:, 12]  # left wrist on the left elbow: the forearm seen end-on
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_keypoints(end_on, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "end-on")


def test_wrong_layouts_warn_without_naming_an_option():
    with np.load(WALK) as data:
        uv = _views(data["world"].astype(np.float64))[2]
    as_coco = to_h36m(uv, np.ones(uv.shape[:2]), "coco")[0]  # Human3.6M order read as COCO
    with pytest.warns(LayoutWarning, match=r"probably not in the 'coco' layout") as caught:
        check_keypoints(as_coco, np.ones(uv.shape[:2]), (1920, 1080), "coco", "t")
    assert "--" not in str(caught[0].message)
    scrambled = uv.copy()  # two right limbs end-on in every frame: the right knee on the hip, the wrist on the elbow
    scrambled[:, 2] = uv[:, 1] + [0, 3.0]
    scrambled[:, 16] = uv[:, 15] + [2.0, 0]
    with pytest.warns(LayoutWarning, match=r"left and right limbs differ in length"):
        check_keypoints(scrambled, np.ones(uv.shape[:2]), (1920, 1080), "h36m", "t")


def test_the_lift_command_names_its_layout_option(tmp_path, capsys):
    from ddhpose.cli import main
    with np.load(WALK) as data:
        uv = _views(data["world"].astype(np.float64))[2]
    src = tmp_path / "kp.npy"
    np.save(src, to_h36m(uv, np.ones(uv.shape[:2]), "coco")[0][:30])
    assert main(["lift", str(src), "--layout", "coco", "--image-size", "1920", "1080", "--no-world",
                 "-o", str(tmp_path / "r.npz")]) == 0
    err = capsys.readouterr().err
    assert "probably not in the 'coco' layout (see --layout)" in err
