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
    half = cam.scaled_to((544, 960))  # the same camera at half the size, its distortion kept
    assert half.focal == (840.0, 840.5) and half.size == (544, 960) and half.distortion == cam.distortion
    camera = resolve_camera(LiftOptions(camera_file=str(path), camera_name="cam01"), (544, 960))
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
     r"a document type declaration"),
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


@pytest.mark.parametrize("fields, message", [
    ({"K": [[900, 1, 500], [0, 900, 400], [0, 0, 1]]}, r"field 'K': expected a camera matrix"),  # skew
    ({"K": [[900, 0, 500], [1, 900, 400], [0, 0, 1]]}, r"field 'K': expected a camera matrix"),
    ({"K": [[900, 0, 500], [0, 900, 400], [0, 0, 2]]}, r"field 'K': expected a camera matrix"),  # not normalised
    ({"K": [[900, 0, 500], [0, 0, 400], [0, 0, 1]]}, r"field 'K': expected a camera matrix"),  # fy 0
    ({"K": [[900, 0, 500], [0, 900, 400], [0, 0, 1]], "image_size": [0, 4]}, r"image size: expected whole pixels"),
    ({"K": [[900, 0, 500], [0, 900, 400], [0, 0, 1]], "image_size": ["a", 4]}, r"field 'image size': expected 2"),
    ({"K": [[900, 0, 500], [0, 900, 400], [0, 0, 1]], "image_size": [4, 4], "D": ["x"]}, r"field 'distortions'"),
])
def test_every_malformed_matrix_size_and_distortion_is_named_with_its_file(tmp_path, fields, message):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"image_size": [4, 4], **fields}))
    with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\") + r": " + message):
        read_camera(path)


def test_the_smallest_valid_camera_reads(tmp_path):
    # a focal length of 1 pixel and a 1 x 1 image are odd but well formed: the bounds are > 0 and >= 1
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"K": [[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], "image_size": [1, 1]}))
    assert read_camera(path).focal == (1.0, 1.0) and read_camera(path).size == (1, 1)


def test_yaml_headers_tags_and_shapes_opencv_writes(tmp_path):
    body = "image_width: 640\nimage_height: 480\ncamera_matrix: {tag}\n   rows: 3\n   cols: 3\n   dt: d\n" \
           "   data: [ 500., 0., 320., 0., 500., 240., 0., 0., 1. ]\n"
    for header in ("%YAML:1.0\n---\n", "%YAML:1.0\n", ""):
        for tag in ("!!opencv-matrix", "!opencv-matrix"):
            path = tmp_path / "c.yaml"
            path.write_text(header + body.format(tag=tag))
            assert read_camera(path).focal == (500.0, 500.0), (header, tag)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"c.yaml: expected a mapping of fields \(camera_matrix, image_width, \.\.\.\), "
                                         r"got list"):
        read_camera(path)


def test_binary_files_and_names_for_one_camera_files_are_refused(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(ValueError, match=r"b.yaml: not a text file; expected an OpenCV YAML / JSON, a Pose2Sim TOML"):
        read_camera(path)
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"K": [[9, 0, 2], [0, 9, 2], [0, 0, 1]], "image_size": [4, 4]}))
    with pytest.raises(ValueError, match=r"one.json: holds one camera; a camera name \('cam_01'\) is for"):
        read_camera(path, "cam_01")


def test_a_qualisys_file_with_an_external_document_type_is_refused_and_bad_values_named(tmp_path):
    path = tmp_path / "dtd.qca.txt"
    path.write_text('<?xml version="1.0"?><!DOCTYPE calibration SYSTEM "calibration.dtd">' + QUALISYS.split("?>", 1)[1])
    with pytest.raises(ValueError, match=r"dtd.qca.txt: a document type declaration"):
        read_camera(path, "cam01")
    path = tmp_path / "zero.qca.txt"
    path.write_text(QUALISYS.replace('focalLengthU="107520"', 'focalLengthU="0"'))
    with pytest.raises(ValueError, match=r"zero.qca.txt: field \"camera 'cam01' intrinsic\": expected a camera matrix"):
        read_camera(path, "cam01")


def test_opencv_sizes_in_every_spelling_and_half_a_size_refused(tmp_path):
    matrix = [[900, 0, 500], [0, 900, 400], [0, 0, 1]]
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"K": matrix, "imageSize": [1000, 800]}))
    assert read_camera(path).size == (1000, 800)
    path.write_text(json.dumps({"K": matrix, "image_width": 1000, "image_size": [1000, 800]}))
    with pytest.raises(ValueError, match=r"s.json: field 'image size': expected 2 finite numbers"):
        read_camera(path)  # a width without its height is an error, not a reason to look elsewhere
    path.write_text(json.dumps({"K": matrix, "image_height": 800, "image_size": [1000, 800]}))
    with pytest.raises(ValueError, match=r"s.json: field 'image size': expected 2 finite numbers"):
        read_camera(path)


def test_pose2sim_tables_named_apart_from_their_keys(tmp_path):
    path = tmp_path / "Calib.toml"
    path.write_text(POSE2SIM.replace('name = "cam_02"', 'name = "side"').replace('name = "cam_01"\n', ""))
    assert read_camera(path, "side").focal == (1300.0, 1300.0)  # by its name
    assert read_camera(path, "side").source.endswith("Calib.toml (side)")
    assert read_camera(path, "cam_02").focal == (1300.0, 1300.0)  # or by its table's key
    assert read_camera(path, "cam_01").source.endswith("Calib.toml (cam_01)")  # no name: the key names it
    with pytest.raises(ValueError, match=r"Calib.toml: holds 2 cameras \(cam_01, side\)"):
        read_camera(path)
    path.write_text("[cam]\nsize = [4, 4]\nmatrix = [[9, 0, 2], [0, 9, 2]]\n")
    with pytest.raises(ValueError, match=r"Calib.toml: field '\[cam\] matrix': expected 9 finite numbers"):
        read_camera(path)
