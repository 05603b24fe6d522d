"""Keypoint file readers: every format built in tmp_path, detection, tracks and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ddhpose.lifting.inputs import KeypointTrack, read_keypoints
from ddhpose.lifting.keypoints import COCO17


def _pose(k: int, x: float, frame: int) -> np.ndarray:
    """(k, 3) distinct keypoints around ``x`` with scores in (0, 1]."""
    j = np.arange(k, dtype=np.float64)
    return np.stack([x + j + frame, 200 + 3 * j + frame, 1.0 - j / 100], -1)


def _write(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def _coco_results(with_ids=True):
    out = []
    for f in range(3):
        for pid, x in ((7, 500), (3, 100)):  # listed out of id order
            item = {"image_id": f, "category_id": 1, "score": 0.9,
                    "keypoints": _pose(17, x, f).reshape(-1).tolist()}
            if with_ids:
                item["track_id"] = pid
            out.append(item)
    return out


def test_coco_results_with_track_ids(tmp_path):
    tracks = read_keypoints(_write(tmp_path / "res.json", _coco_results()))
    assert [t.track_id for t in tracks] == [0, 1]  # people 0..N-1, the file's ids kept beside
    assert [t.input_track_id for t in tracks] == [3, 7]
    a = tracks[0]
    assert isinstance(a, KeypointTrack) and a.layout == "coco" and a.image_size is None
    assert a.keypoints.shape == (3, 17, 2) and a.scores.shape == (3, 17) and a.keypoints.dtype == np.float32
    np.testing.assert_array_equal(a.frames, [0, 1, 2])
    np.testing.assert_allclose(a.keypoints[2], _pose(17, 100, 2)[:, :2])
    np.testing.assert_allclose(a.scores[1], _pose(17, 100, 1)[:, 2], rtol=1e-6)
    np.testing.assert_allclose(tracks[1].keypoints[0], _pose(17, 500, 0)[:, :2])


def test_coco_results_without_ids_are_associated(tmp_path):
    data = _coco_results(with_ids=False)
    data[2], data[3] = data[3], data[2]  # frame 1 lists the people the other way round
    for item in data:  # AlphaPose writes image names
        item["image_id"] = f"{item['image_id']}.jpg"
    tracks = read_keypoints(_write(tmp_path / "alphapose.json", data))
    assert [t.track_id for t in tracks] == [0, 1]
    for t, x in zip(tracks, (500, 100)):  # first appearance order
        np.testing.assert_array_equal(t.frames, [0, 1, 2])
        np.testing.assert_allclose(t.keypoints[:, 0, 0], [x, x + 1, x + 2])


def test_mmpose_frames_and_meta_info_size(tmp_path):
    frames = [{"frame_id": f, "instances": [
        {"keypoints": _pose(17, x, f)[:, :2].tolist(), "keypoint_scores": _pose(17, x, f)[:, 2].tolist(),
         "bbox": [[0, 0, 10, 10]], "track_id": tid} for tid, x in ((0, 100), (1, 500))]} for f in range(4)]
    frames[2]["instances"].pop()  # person 1 not seen in frame 2
    tracks = read_keypoints(_write(tmp_path / "mmpose.json", frames))
    assert len(tracks) == 2 and tracks[0].layout == "coco"
    np.testing.assert_array_equal(tracks[1].frames, [0, 1, 3])
    np.testing.assert_allclose(tracks[1].keypoints[2], _pose(17, 500, 3)[:, :2])
    dense = tracks[1].contiguous()
    np.testing.assert_array_equal(dense.frames, [0, 1, 2, 3])
    assert np.isnan(dense.keypoints[2]).all() and (dense.scores[2] == 0).all()
    wrapped = {"meta_info": {"dataset_name": "coco", "width": 640, "height": 480}, "instance_info": frames}
    assert read_keypoints(_write(tmp_path / "wrapped.json", wrapped))[0].image_size == (640, 480)


def test_coco_dataset_with_images_and_visibility(tmp_path):
    kp = _pose(17, 100, 0)
    kp[:, 2] = 2
    kp[3] = [0, 0, 0]  # not labelled
    data = {"images": [{"id": 11, "frame_id": 0, "width": 1000, "height": 1002},
                       {"id": 12, "frame_id": 1, "width": 1000, "height": 1002}],
            "annotations": [{"image_id": i, "keypoints": kp.reshape(-1).tolist(), "num_keypoints": 16}
                            for i in (12, 11)]}
    (track,) = read_keypoints(_write(tmp_path / "ds.json", data))
    assert track.image_size == (1000, 1002)
    np.testing.assert_array_equal(track.frames, [0, 1])
    assert np.isnan(track.keypoints[:, 3]).all() and (track.scores[:, 3] == 0).all()
    assert (track.scores[:, :3] == 1).all()


def _openpose_folder(tmp_path):
    folder = tmp_path / "openpose"
    folder.mkdir()
    for f in (8, 9, 10, 11):  # 10 sorts before 8 by name: order must be numeric
        people = []
        for x in ((100, 600) if f != 9 else ()):
            flat = _pose(25, x, f)
            flat[20] = 0  # left_small_toe undetected
            people.append({"person_id": [-1], "pose_keypoints_2d": flat.reshape(-1).tolist(),
                           "face_keypoints_2d": []})
        _write(folder / f"clip_{f:012d}_keypoints.json" if f < 10 else folder / f"clip_{f}_keypoints.json",
               {"version": 1.3, "people": people})
    return folder


def test_openpose_folder(tmp_path):
    tracks = read_keypoints(_openpose_folder(tmp_path))
    assert len(tracks) == 2 and all(t.layout == "openpose25" for t in tracks)
    np.testing.assert_array_equal(tracks[0].frames, [8, 10, 11])
    np.testing.assert_allclose(tracks[0].keypoints[:, 8], _pose(25, 100, 0)[8, :2] + np.array([[8], [10], [11]]))
    np.testing.assert_allclose(tracks[1].keypoints[1, 0], [610, 210])
    assert np.isnan(tracks[0].keypoints[:, 20]).all() and (tracks[0].scores[:, 20] == 0).all()
    h36m = tracks[0].to_h36m()
    assert h36m.layout == "h36m" and h36m.keypoints.shape == (3, 17, 2)
    np.testing.assert_array_equal(h36m.keypoints[:, 0], tracks[0].keypoints[:, 8])  # pelvis = MidHip
    one = read_keypoints(tmp_path / "openpose" / "clip_10_keypoints.json", "openpose25")
    assert [t.frames.tolist() for t in one] == [[10], [10]]


def _landmarks(x):
    return [{"x": x + j / 100, "y": 0.5, "z": -0.1, "visibility": 0.9} for j in range(33)]


def test_mediapipe_json(tmp_path):
    frames = [{"frame": f, "landmarks": _landmarks(0.1 * f)} for f in range(3)] + [{"frame": 3, "landmarks": []}]
    path = _write(tmp_path / "mp.json", frames)
    with pytest.raises(ValueError, match=r"normalised to \[0, 1\].*image_size=\(width, height\)"):
        read_keypoints(path)
    (track,) = read_keypoints(path, image_size=(200, 100))
    assert track.layout == "mediapipe33" and track.image_size == (200, 100)
    np.testing.assert_allclose(track.keypoints[1, 2], [200 * 0.12, 50], rtol=1e-6)
    np.testing.assert_allclose(track.scores, 0.9, rtol=1e-6)
    two = {"width": 200, "height": 100,
           "frames": [{"pose_landmarks": [_landmarks(0.1), _landmarks(0.8)]} for _ in range(2)]}
    tracks = read_keypoints(_write(tmp_path / "mp2.json", two))
    assert len(tracks) == 2 and tracks[1].keypoints[0, 0, 0] == pytest.approx(160)
    with pytest.raises(ValueError, match="disagrees with the file's"):
        read_keypoints(tmp_path / "mp2.json", image_size=(100, 100))


def test_mediapipe_message_to_dict_dumps_with_nulls(tmp_path):
    # what protobuf's MessageToDict(results.pose_landmarks) gives per frame, None without a person
    frames = [{"landmark": _landmarks(0.1)}, None, {"pose_landmarks": {"landmark": _landmarks(0.12)}}, None]
    (track,) = read_keypoints(_write(tmp_path / "mp.json", frames), image_size=(200, 100))
    np.testing.assert_array_equal(track.frames, [0, 2])
    assert track.contiguous().num_frames == 3


def test_mmpose_per_image_folder(tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    for f in (2, 0, 1):
        inst = [{"keypoints": _pose(17, 100 + 5 * f, f)[:, :2].tolist(), "keypoint_scores": [0.9] * 17,
                 "bbox_score": 0.95}]
        (folder / f"frame_{f:06d}.json").write_text(json.dumps(inst))
    (track,) = read_keypoints(folder, image_size=(640, 480))
    np.testing.assert_array_equal(track.frames, [0, 1, 2])
    np.testing.assert_allclose(track.keypoints[2], _pose(17, 110, 2)[:, :2], rtol=1e-6)
    (folder / "frame_000003.json").write_text(json.dumps({"not": "instances"}))
    with pytest.raises(ValueError, match=r"frame_000003.json: expected a list of instances"):
        read_keypoints(folder, image_size=(640, 480))


def test_arrays(tmp_path):
    arr = np.stack([_pose(17, 100, f) for f in range(4)]).astype(np.float32)
    np.save(tmp_path / "a.npy", arr)
    with pytest.raises(ValueError, match="17 joints is ambiguous between COCO and Human3.6M.*layout='h36m'"):
        read_keypoints(tmp_path / "a.npy")
    (t,) = read_keypoints(tmp_path / "a.npy", layout="h36m")
    assert t.layout == "h36m" and t.image_size is None
    np.testing.assert_array_equal(t.keypoints, arr[..., :2])
    np.testing.assert_array_equal(t.scores, arr[..., 2])
    np.save(tmp_path / "b.npy", arr[..., :2])
    (t,) = read_keypoints(tmp_path / "b.npy", layout="coco")
    assert (t.scores == 1).all() and t.layout == "coco"
    np.save(tmp_path / "op.npy", np.stack([_pose(25, 100, f) for f in range(2)]))
    assert read_keypoints(tmp_path / "op.npy")[0].layout == "openpose25"
    mp = np.random.default_rng(0).uniform(0, 1, size=(2, 33, 4))
    np.save(tmp_path / "mp.npy", mp)
    (t,) = read_keypoints(tmp_path / "mp.npy", image_size=(640, 480))
    np.testing.assert_allclose(t.keypoints, mp[..., :2] * [640, 480], rtol=1e-6)
    np.testing.assert_allclose(t.scores, mp[..., 3], rtol=1e-6)
    np.savez(tmp_path / "c.npz", keypoints=arr[..., :2], scores=arr[..., 2], image_size=np.array([1000, 1002]),
             layout=np.array("coco"), frames=np.arange(10, 14))
    (t,) = read_keypoints(tmp_path / "c.npz")
    assert t.fps is None  # the file states no rate
    np.savez(tmp_path / "r.npz", keypoints=arr[..., :2], layout=np.array("coco"), fps=np.float32(30))
    assert read_keypoints(tmp_path / "r.npz")[0].fps == 30.0
    assert t.layout == "coco" and t.image_size == (1000, 1002) and t.frames.tolist() == [10, 11, 12, 13]
    np.savez(tmp_path / "d.npz", positions_2d=arr)
    assert read_keypoints(tmp_path / "d.npz", layout="h36m")[0].keypoints.shape == (4, 17, 2)


def test_pickled_objects_are_refused(tmp_path):
    np.savez(tmp_path / "vp3d.npz", positions_2d=np.array({"S1": {}}, dtype=object))
    with pytest.raises(ValueError, match="vp3d.npz: holds a pickled object array.*refused"):
        read_keypoints(tmp_path / "vp3d.npz", layout="h36m")
    np.save(tmp_path / "obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy: holds a pickled object array"):
        read_keypoints(tmp_path / "obj.npy", layout="h36m")


@pytest.mark.parametrize("name, content, pattern", [
    ("empty.json", "", "empty.json: empty file; expected keypoint JSON"),
    ("cut.json", json.dumps(_coco_results())[:200], r"cut.json: not valid JSON \(truncated\?\)"),
    ("odd.json", json.dumps({"foo": [1, 2]}), "odd.json: unrecognised keypoint JSON"),
    ("odd2.json", json.dumps([1, 2]), "odd2.json: unrecognised keypoint JSON"),
    ("none.json", "[]", "none.json: the JSON list is empty"),
    ("k18.json", json.dumps([{"image_id": 0, "keypoints": [1.0] * 54}]),
     r"k18.json: instance 0 'keypoints' has shape \(18, 3\); expected .* K in \[17, 25, 33\]"),
    ("ragged.json", json.dumps([{"image_id": 0, "keypoints": [[1, 2], [3]]}]),
     "ragged.json: instance 0 'keypoints' expected numbers"),
    ("nan.json", json.dumps([{"image_id": 0, "keypoints": [float("nan")] * 51}]),
     "nan.json: every detection's keypoints are NaN"),
    ("nobody.json", json.dumps([{"frame_id": 0, "instances": []}]), "nobody.json: no person detected"),
    ("mmscores.json", json.dumps([{"frame_id": 0, "instances": [{"keypoints": [[0, 0]] * 17,
                                                                  "keypoint_scores": [1] * 16}]}]),
     "mmscores.json: frame 0 instance 0 'keypoint_scores' has 16 values; expected 17"),
    ("mp.json", json.dumps({"image_size": [10, 10], "frames": [{"landmarks": [{"x": 0, "y": 0}] * 30}]}),
     "mp.json 'frames': frame 0 'landmarks' has 30 landmarks; expected 33"),
    ("op.json", json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 54}]}),
     r"op.json: 'people'\[0\] 'pose_keypoints_2d' has shape \(18, 3\)"),
    ("sizes.json", json.dumps({"images": [{"id": 0, "width": 10, "height": 10}, {"id": 1, "width": 20,
                                                                                 "height": 10}],
                               "annotations": []}), "sizes.json: 'images' have different width/height"),
    ("notes.txt", "hello", "notes.txt: unsupported keypoint file"),
    ("mixed.json", json.dumps([{"image_id": f, "category_id": 1, "keypoints": _pose(k, 100, f).reshape(-1).tolist()}
                               for f, k in ((0, 17), (1, 25))]),
     r"mixed.json: detections have different keypoint counts \[17, 25\]; expected one"),
])
def test_bad_json_and_files(tmp_path, name, content, pattern):
    (tmp_path / name).write_text(content)
    with pytest.raises(ValueError, match=pattern):
        read_keypoints(tmp_path / name)


def test_bad_arrays(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    np.save(tmp_path / "zero.npy", np.zeros((0, 17, 2)))
    np.save(tmp_path / "allnan.npy", np.full((3, 17, 2), np.nan))
    np.save(tmp_path / "k18.npy", np.zeros((3, 18, 2)))
    np.save(tmp_path / "flat.npy", np.zeros((3, 34)))
    np.save(tmp_path / "c4.npy", np.zeros((3, 25, 4)))
    np.savez(tmp_path / "nokey.npz", poses=np.zeros((3, 17, 2)))
    np.savez(tmp_path / "badscores.npz", keypoints=np.zeros((3, 17, 2)), scores=np.ones((3, 16)))
    np.savez(tmp_path / "fps0.npz", keypoints=np.zeros((3, 17, 2)), fps=np.float32(0))
    np.savez(tmp_path / "fps2.npz", keypoints=np.zeros((3, 17, 2)), fps=np.array([25.0, 50.0]))
    (tmp_path / "cut.npz").write_bytes(b"PK\x03\x04 truncated")
    cases = [
        ("empty.npy", "empty.npy: empty file"),
        ("zero.npy", r"zero.npy: 'keypoints' has no frames; expected \(F, K, 2\|3\|4\) with F >= 1"),
        ("allnan.npy", "allnan.npy: keypoints of track 0 are all NaN or infinite"),
        ("k18.npy", r"k18.npy: 18 keypoints per person; expected one of \[17, 25, 33\]"),
        ("flat.npy", r"flat.npy: 'keypoints' has shape \(3, 34\)"),
        ("c4.npy", r"c4.npy: 4 channels \(x, y, z, visibility\) are MediaPipe's"),
        ("nokey.npz", r"nokey.npz: no 'keypoints' or 'positions_2d' array; found \['poses'\]"),
        ("badscores.npz", r"badscores.npz: 'scores' has shape \(3, 16\); expected \(3, 17\)"),
        ("cut.npz", "cut.npz: not a readable NumPy file"),
        ("fps0.npz", "fps0.npz: 'fps' expected a positive frame rate, got 0.0"),
        ("fps2.npz", r"fps2.npz: 'fps' expected one positive number, got shape \(2,\)"),
    ]
    for name, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            read_keypoints(tmp_path / name, layout="h36m" if name in ("zero.npy", "allnan.npy", "badscores.npz", "fps0.npz",
                                                                     "fps2.npz") else None)
    np.save(tmp_path / "k25.npy", np.zeros((3, 25, 2)))
    with pytest.raises(ValueError, match="k25.npy: keypoints have 25 joints; layout 'coco' expects 17"):
        read_keypoints(tmp_path / "k25.npy", layout="coco")


def test_bad_folders_and_paths(tmp_path):
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match=r"empty_dir: no OpenPose '\*_keypoints.json' nor per-image"):
        read_keypoints(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="missing.json: no such file or folder"):
        read_keypoints(tmp_path / "missing.json")
    folder = _openpose_folder(tmp_path)
    (folder / "clip_000000000009_keypoints.json").write_text('{"people": [')
    with pytest.raises(ValueError, match="clip_000000000009_keypoints.json: not valid JSON"):
        read_keypoints(folder)
    with pytest.raises(ValueError, match=r"image_size argument expected \(width, height\) > 0"):
        read_keypoints(tmp_path / "x.json", image_size=(0, 10))


def test_layout_argument_overrides_detection(tmp_path):
    tracks = read_keypoints(_write(tmp_path / "res.json", _coco_results()), layout="h36m")
    assert all(t.layout == "h36m" for t in tracks)
    with pytest.raises(ValueError, match=r"res.json: detections with 17 keypoints; layout 'openpose25' expects 25"):
        read_keypoints(tmp_path / "res.json", layout="openpose25")
    coco = read_keypoints(tmp_path / "res.json")[0]
    h36m = coco.to_h36m().keypoints
    left, right = COCO17.index("left_hip"), COCO17.index("right_hip")
    np.testing.assert_array_equal(h36m[:, 0], (coco.keypoints[:, left] + coco.keypoints[:, right]) / 2)


def test_a_detections_file_is_read_with_its_own_layout_size_and_rate(tmp_path):
    """What ``ddhpose video`` writes (Detections.to_json) is read back by Detections.from_json:
    a 17-keypoint file in the Human3.6M layout stays Human3.6M (17 points alone would read as COCO)."""
    from ddhpose.lifting.inputs.detections import Detections
    from ddhpose.lifting.tracking import Detection
    dets = [Detection(f, None, _pose(17, 100, f).astype(np.float64)[:, :2], np.full(17, 0.9)) for f in range(12)]
    doc = Detections(dets, "h36m", (640, 480), 12, fps=30.0, detector="test", source="x").to_json()
    path = tmp_path / "clip.detections.json"
    path.write_text(json.dumps(doc))
    (track,) = read_keypoints(path)
    assert track.layout == "h36m" and track.image_size == (640, 480) and track.fps == 30.0
    np.testing.assert_allclose(track.keypoints[3], dets[3].keypoints, atol=0.01)
    with pytest.raises(ValueError, match="clip.detections.json: layout 'coco' disagrees with the file's 'h36m'"):
        read_keypoints(path, layout="coco")
    with pytest.raises(ValueError, match=r"image_size argument \(1280, 720\) disagrees with the file's \(640, 480\)"):
        read_keypoints(path, image_size=(1280, 720))
