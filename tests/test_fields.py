"""The fields every keypoint format shares (lifting/inputs/fields.py): scores, sizes, frame
indices, track ids and one person's keypoints, each refused with a message naming the file and
the field."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ddhpose.lifting.inputs.fields import (frame_index, instance, load_json, parse_size, score_of, size_in,
                                           track_id)


def test_a_detections_score_from_score_or_bbox_score():
    assert score_of({"score": 0.9, "bbox_score": 0.1}) == 0.9
    assert score_of({"bbox_score": [0.8]}) == 0.8  # MMPose's [s]
    assert score_of({"score": 1}) == 1.0 and isinstance(score_of({"score": 1}), float)
    for item in ({"bbox_score": [0.8, 0.1]}, {"score": True}, {"score": "0.9"}, {}, {"Score": 0.5}):
        assert score_of(item) is None, item


def test_json_is_read_as_utf8_and_bad_text_is_named(tmp_path):
    good = tmp_path / "k.json"
    good.write_bytes(json.dumps({"name": "t\u00eate", "k": [1]}, ensure_ascii=False).encode("utf-8"))
    assert load_json(good) == {"name": "t\u00eate", "k": [1]}
    bad = tmp_path / "latin.json"
    bad.write_bytes('{"name": "t\u00eate"}'.encode("latin-1"))
    with pytest.raises(ValueError) as err:
        load_json(bad)
    assert str(err.value) == f"{bad}: not UTF-8 text; expected keypoint JSON"


def test_sizes_are_two_positive_numbers():
    assert parse_size((640, 480), "f", "s") == (640, 480)
    assert parse_size([[640, 480]], "f", "s") == (640, 480)
    assert parse_size((1, 1), "f", "s") == (1, 1)
    for value in ((640, 480, 3), (0, 480), (640, -1), ("640", "480"), (640,)):
        with pytest.raises(ValueError) as err:
            parse_size(value, "f.json", "'image_size'")
        assert str(err.value) == f"f.json: 'image_size' expected (width, height) > 0, got {value!r}"


def test_the_image_size_is_found_where_formats_keep_it():
    assert size_in([], "f") is None
    images = {"images": [{"width": 640, "height": 480}, {"id": 3}, {"width": 640, "height": 480}]}
    assert size_in(images, "f") == (640, 480)  # images without a size are not another size
    assert size_in({"images": []}, "f") is None
    with pytest.raises(ValueError) as err:
        size_in({"images": [{"width": 640, "height": 480}, {"width": 1280, "height": 720}]}, "f.json")
    assert str(err.value) == ("f.json: 'images' have different width/height [(640, 480), (1280, 720)]; expected one "
                              "size for a video")
    with pytest.raises(ValueError, match=r"^f.json: 'images' width/height expected \(width, height\) > 0"):
        size_in({"images": [{"width": 0, "height": 480}]}, "f.json")
    assert size_in({"image_size": [320, 240]}, "f") == (320, 240)
    assert size_in({"meta_info": {"image_width": 320, "image_height": 240}}, "f") == (320, 240)
    assert size_in({"img_width": 320, "img_height": 240}, "f") == (320, 240)
    assert size_in({"width": 320}, "f") is None  # half a size is none
    with pytest.raises(ValueError, match=r"^f.json: 'meta_info' 'image_size' expected"):
        size_in({"meta_info": {"image_size": [0, 1]}}, "f.json")
    with pytest.raises(ValueError, match=r"^f.json: 'width'/'height' expected"):
        size_in({"width": -1, "height": 2}, "f.json")
    with pytest.raises(ValueError, match=r"^f.json: 'image_size' expected"):
        size_in({"image_size": "big"}, "f.json")


def test_frame_indices_from_numbers_or_image_names():
    assert frame_index(12, "f", "x") == 12 and frame_index(np.int64(5), "f", "x") == 5
    assert frame_index("frame_000012.jpg", "f", "x") == 12 and frame_index("cam2/0041.png", "f", "x") == 41
    for value in ("first", True, 3.5, None):
        with pytest.raises(ValueError) as err:
            frame_index(value, "f.json", "'image_id'")
        assert str(err.value) == f"f.json: 'image_id' expected an integer frame index, got {value!r}"


def test_track_ids_in_every_format_and_none_for_unknown():
    assert track_id({"track_id": 3}) == 3 and track_id({"track_id": 0}) == 0
    assert track_id({"person_id": [2]}) == 2 and track_id({"person_id": [-1]}) is None  # OpenPose
    assert track_id({"idx": [1, 2]}) is None and track_id({"idx": 4.0}) == 4
    assert track_id({"track_id": True}) is None and track_id({"track_id": "3"}) is None
    assert track_id({"track_id": -1, "person_id": 4}) == 4  # the first usable key


def _flat(count=17, scores=True):
    pts = np.arange(count * 2, dtype=np.int64).reshape(count, 2)
    return np.concatenate([pts, np.full((count, 1), 0.5)], 1).reshape(-1).tolist() if scores else pts.tolist()


def test_one_persons_keypoints_flat_or_nested():
    kp, sc = instance({"keypoints": _flat()}, "f", "item 0")
    assert kp.shape == (17, 2) and kp.dtype == np.float64 and (sc == 0.5).all()
    np.testing.assert_array_equal(kp, np.arange(34).reshape(17, 2))
    kp, sc = instance({"keypoints": _flat(33, scores=False)}, "f", "item 0")  # nested [[x, y]] * 33
    assert kp.shape == (33, 2) and kp.dtype == np.float64 and (sc == 1.0).all() and sc.shape == (33,)
    kp, sc = instance({"keypoints": _flat(scores=False), "keypoint_scores": [[1]] * 17}, "f", "item 0")
    assert sc.shape == (17,) and sc.dtype == np.float64
    kp, _ = instance({"pose": _flat(25)}, "f", "item 0", key="pose")
    assert kp.shape == (25, 2)


def test_one_persons_keypoints_refused_with_their_field():
    with pytest.raises(ValueError) as err:
        instance([1, 2], "f.json", "item 3")
    assert str(err.value) == "f.json: item 3 expected a dict with 'keypoints', got [1, 2]"
    with pytest.raises(ValueError) as err:
        instance({"kp": list(range(100))}, "f.json", "item 3")
    assert str(err.value) == f"f.json: item 3 expected a dict with 'keypoints', got {str({'kp': list(range(100))})[:80]}"
    words = ["x"] * 60
    with pytest.raises(ValueError) as err:
        instance({"keypoints": words}, "f.json", "item 3")
    assert str(err.value) == ("f.json: item 3 'keypoints' expected numbers, [x, y, s] * K or [[x, y], ...], got "
                              f"{str(words)[:80]}")
    for bad in (np.zeros((17, 2, 1)).tolist(), _flat(18, scores=False), np.zeros((17, 4)).tolist()):
        with pytest.raises(ValueError, match=r"^f.json: item 3 'keypoints' has shape \("):
            instance({"keypoints": bad}, "f.json", "item 3")
    with pytest.raises(ValueError) as err:
        instance({"keypoints": _flat(), "keypoint_scores": [1.0] * 16}, "f.json", "item 3")
    assert str(err.value) == "f.json: item 3 'keypoint_scores' has 16 values; expected 17"
