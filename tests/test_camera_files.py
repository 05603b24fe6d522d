"""Camera calibration files: OpenCV YAML / JSON and Pose2Sim TOML read into the lift's camera,
scaled to the frames, and every malformed file refused naming the file and the field."""
from __future__ import annotations

import json

import pytest

from ddhpose.lifting.camera_files import read_camera
from ddhpose.lifting.options import LiftOptions, resolve_camera

OPENCV_YAML = """%YAML:1.0
---
image_width: 1920
image_height: 1080
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 1.4501e+03, 0., 9.6012e+02, 0., 1.4499e+03, 5.4203e+02, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ 0.1, -0.2, 0., 0., 0.05 ]
"""

POSE2SIM = """
[cam_01]
name = "cam_01"
size = [ 1088.0, 1920.0]
matrix = [ [ 1500.0, 0.0, 544.0], [ 0.0, 1502.0, 960.0], [ 0.0, 0.0, 1.0]]
distortions = [ -0.04, 0.1, 0.0, 0.0]
rotation = [ 1.2, 0.0, 0.1]
translation = [ 0.5, 1.0, 3.0]
fisheye = false

[cam_02]
name = "cam_02"
size = [ 1920.0, 1080.0]
matrix = [ [ 1300.0, 0.0, 950.0], [ 0.0, 1300.0, 530.0], [ 0.0, 0.0, 1.0]]
distortions = [ 0.0, 0.0, 0.0, 0.0]
rotation = [ 0.0, 0.0, 0.0]
translation = [ 0.0, 0.0, 0.0]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""


def test_opencv_yaml_as_calibrate_camera_writes_it(tmp_path):
    path = tmp_path / "phone.yaml"
    path.write_text(OPENCV_YAML)
    cam = read_camera(path)
    assert cam.focal == (1450.1, 1449.9) and cam.centre == (960.12, 542.03) and cam.size == (1920, 1080)
    assert cam.distortion == (0.1, -0.2, 0.0, 0.0, 0.05)
    # the lift's camera: the file's intrinsics, scaled to frames recorded at half the resolution
    camera = resolve_camera(LiftOptions(camera_file=str(path)), (960, 540))
    assert camera.focal == pytest.approx(725.0) and camera.centre == pytest.approx((480.06, 271.015))
    assert camera.source == f"camera file {path}"
    # a focal length or principal point given as well overrides the file's
    camera = resolve_camera(LiftOptions(camera_file=str(path), focal_length=1000.0), (1920, 1080))
    assert camera.focal == 1000.0 and camera.centre == (960.12, 542.03)
    with pytest.raises(ValueError, match=r"phone.yaml: calibrated for 1920x1080 images, the frames are 1080x1920"):
        resolve_camera(LiftOptions(camera_file=str(path)), (1080, 1920))


def test_opencv_json_in_its_usual_shapes(tmp_path):
    for matrix in ([[1000, 0, 640], [0, 1000, 360], [0, 0, 1]], [1000, 0, 640, 0, 1000, 360, 0, 0, 1],
                   {"rows": 3, "cols": 3, "data": [1000, 0, 640, 0, 1000, 360, 0, 0, 1]}):
        for key, size in (("K", {"image_size": [1280, 720]}), ("camera_matrix", {"image_width": 1280,
                                                                                  "image_height": 720})):
            path = tmp_path / "cam.json"
            path.write_text(json.dumps({key: matrix, **size}))
            cam = read_camera(path)
            assert cam.focal == (1000.0, 1000.0) and cam.centre == (640.0, 360.0) and cam.size == (1280, 720)


def test_pose2sim_calibration_picks_the_named_camera(tmp_path):
    path = tmp_path / "Calib_board.toml"
    path.write_text(POSE2SIM)
    with pytest.raises(ValueError, match=r"Calib_board.toml: holds 2 cameras \(cam_01, cam_02\); say which"):
        read_camera(path)
    cam = read_camera(path, "cam_01")
    assert cam.focal == (1500.0, 1502.0) and cam.centre == (544.0, 960.0) and cam.size == (1088, 1920)
    assert cam.distortion == (-0.04, 0.1, 0.0, 0.0) and cam.source.endswith("(cam_01)")
    camera = resolve_camera(LiftOptions(camera_file=str(path), camera_name="cam_02"), (1920, 1080))
    assert camera.focal == 1300.0 and camera.centre == (950.0, 530.0)
    with pytest.raises(ValueError, match=r"no camera named 'cam_9'; it holds cam_01, cam_02"):
        read_camera(path, "cam_9")


#: A Qualisys calibration as Pose2Sim's demos ship it (two cameras; intrinsics in 1/64 pixel, the
#: video window at its own offset for the second).
QUALISYS = """<?xml version='1.0' encoding='ASCII'?>
<calibration created="sometimes ago" type="regular">
  <cameras>
    <camera active="1" serial="cam01" viewrotation="0">
      <fov_video bottom="1919" left="0" right="1087" top="0"/>
      <transform r11="1" r12="0" r13="0" r21="0" r22="1" r23="0" r31="0" r32="0" r33="1" x="0" y="0" z="0"/>
      <intrinsic centerPointU="34816" centerPointV="61440" focalLengthU="107520" focalLengthV="107584"
       radialDistortion1="-0.04" radialDistortion2="0.13" radialDistortion3="0" tangentalDistortion1="0.0006"
       tangentalDistortion2="0.0007"/>
    </camera>
    <camera active="1" serial="cam02" viewrotation="0">
      <fov_video bottom="1079" left="100" right="2019" top="20"/>
      <intrinsic centerPointU="64000" centerPointV="36480" focalLengthU="96000" focalLengthV="96000"/>
    </camera>
  </cameras>
</calibration>
"""


def test_qualisys_calibration_reads_as_pose2sim_converts_it(tmp_path):
    path = tmp_path / "Calib.qca.txt"
    path.write_text(QUALISYS)
    with pytest.raises(ValueError, match=r"Calib.qca.txt: holds 2 cameras \(cam01, cam02\); say which"):
        read_camera(path)
    cam = read_camera(path, "cam01")  # 1/64 pixel: 107520 / 64 = 1680
    assert cam.focal == (1680.0, 1681.0) and cam.centre == (544.0, 960.0) and cam.size == (1088, 1920)
    assert cam.distortion == (-0.04, 0.13, 0.0, 0.0006, 0.0007) and cam.source.endswith("(cam01)")
    other = read_camera(path, "cam02")  # the centre measured from the video window's corner
    assert other.centre == (1000.0 - 100, 570.0 - 20) and other.size == (1920, 1060) and other.distortion == ()
    camera = resolve_camera(LiftOptions(camera_file=str(path), camera_name="cam01"), (544, 960))  # half size
    assert camera.focal == pytest.approx((1680.0 + 1681.0) / 4) and camera.centre == pytest.approx((272.0, 480.0))


@pytest.mark.parametrize("text, message", [
    ("<calibration><cameras/></calibration>", r"no camera: expected <calibration><cameras><camera"),
    ('<calibration><cameras><camera serial="c"><fov_video left="0" top="0" right="9" bottom="9"/></camera>'
     "</cameras></calibration>", r"camera 'c': expected <fov_video> and <intrinsic>"),
    ('<calibration><cameras><camera serial="c"><fov_video left="0" top="0" right="9" bottom="9"/>'
     '<intrinsic focalLengthU="640" focalLengthV="x" centerPointU="1" centerPointV="1"/></camera></cameras>'
     "</calibration>", r"field \"camera 'c' <intrinsic> focalLengthU / .*: expected 4 finite numbers"),
    ("<calibration><cameras>", r"not valid XML"),
    ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><calibration>&lol;</calibration>',
     r"a document type or entity declaration"),
])
def test_malformed_qualisys_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.qca.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"bad.qca.txt: " + message):
        read_camera(path, "c")


@pytest.mark.parametrize("name, text, message", [
    ("a.yaml", "image_width: 10\nimage_height: 10\n", r"a.yaml: no camera matrix: expected a field camera_matrix / K"),
    ("b.yaml", "K: [1, 0, 2, 0, 1, 2, 0, 0]\nimage_size: [4, 4]\n", r"b.yaml: field 'K': expected 9 finite numbers"),
    ("c.json", '{"K": [[0, 0, 2], [0, 1, 2], [0, 0, 1]], "image_size": [4, 4]}',
     r"c.json: field 'K': expected a camera matrix \[\[fx, 0, cx\]"),
    ("d.json", '{"K": [[9, 0, 2], [0, 9, 2], [0, 0, 1]]}', r"d.json: no image size: expected image_width"),
    ("e.json", '{"K": [[9, 0, 2], [0, 9, 2], [0, 0, 1]], "size": [4.5, 4]}', r"e.json: image size: expected whole"),
    ("f.json", "{broken", r"f.json: not valid JSON"),
    ("g.toml", "[cam]\nsize = [4, 4]\n", r"g.toml: no camera: expected Pose2Sim tables with a 'matrix' field"),
    ("h.toml", "[cam]\nmatrix = [[9, 0, 2], [0, 9, 2], [0, 0, 1]]\n", r"h.toml: \[cam\] has no field 'size'"),
    ("i.toml", "not = toml = at all", r"i.toml: not valid TOML"),
    ("j.txt", "K: 1", r"j.txt: unknown camera file type '.txt'"),
    ("k.yaml", "K: [1, 0, 2\n", r"k.yaml: not valid YAML"),
])
def test_malformed_files_are_refused_naming_file_and_field(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_camera(path)
    with pytest.raises(ValueError, match=message):  # when the options are made: before any lifting
        LiftOptions(camera_file=str(path))


def test_missing_file_and_name_without_file(tmp_path):
    with pytest.raises(ValueError, match=r"nope.yaml: no such camera file"):
        LiftOptions(camera_file=str(tmp_path / "nope.yaml"))
    with pytest.raises(ValueError, match=r"camera_name: 'cam_01' names a camera of a camera file"):
        LiftOptions(camera_name="cam_01")


def test_an_opencv_file_storage_file_reads(tmp_path):
    cv2 = pytest.importorskip("cv2")
    import numpy as np
    path = tmp_path / "cv.yml"
    store = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    store.write("image_width", 1280)
    store.write("image_height", 720)
    store.write("camera_matrix", np.array([[900.0, 0, 630], [0, 905, 350], [0, 0, 1]]))
    store.write("distortion_coefficients", np.zeros((1, 5)))
    store.release()
    cam = read_camera(path)
    assert cam.focal == (900.0, 905.0) and cam.centre == (630.0, 350.0) and cam.size == (1280, 720)
