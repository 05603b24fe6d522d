"""The restricted unpickler admits NumPy/tensor data and refuses everything else without running it."""
import io
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from ddhpose.safe_pickle import RestrictedUnpickler, UnsafeFileError, load_npz, load_torch_file


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_numpy_and_containers_load():
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), {"c": np.array(["x", "y"])}],
            "d": OrderedDict(e=np.random.RandomState(0).get_state())}
    out = RestrictedUnpickler(io.BytesIO(pickle.dumps(data, protocol=2))).load()
    assert np.array_equal(out["a"], data["a"]) and out["b"][0] == 3 and list(out["b"][1]["c"]) == ["x", "y"]
    assert out["d"]["e"][0] == "MT19937"


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_code_execution_is_refused(tmp_path, protocol):
    marker = tmp_path / "ran"
    with pytest.raises(UnsafeFileError, match="refused"):
        RestrictedUnpickler(io.BytesIO(pickle.dumps(_RunsCode(marker), protocol=protocol))).load()
    assert not marker.exists()


def test_torch_archives_load_tensors_and_refuse_objects(tmp_path):
    torch.save({"w": torch.arange(4.0), "n": 3, "s": torch.Size([2])}, tmp_path / "ok.pt")
    out = load_torch_file(tmp_path / "ok.pt")
    assert torch.equal(out["w"], torch.arange(4.0)) and out["n"] == 3
    marker = tmp_path / "ran"
    torch.save({"w": _RunsCode(marker)}, tmp_path / "bad.pt")
    with pytest.raises(UnsafeFileError, match="posix.system|os.system|refused"):
        load_torch_file(tmp_path / "bad.pt")
    assert not marker.exists()


def test_npz_object_members_go_through_the_restricted_unpickler(tmp_path):
    np.savez(tmp_path / "ok.npz", positions_3d=np.array({"S1": {"Walk": np.zeros((2, 17, 3))}}, dtype=object),
             plain=np.ones(3))
    out = load_npz(tmp_path / "ok.npz")
    assert out["positions_3d"]["S1"]["Walk"].shape == (2, 17, 3) and out["plain"].sum() == 3
    marker = tmp_path / "ran"
    np.savez(tmp_path / "bad.npz", positions_3d=np.array([_RunsCode(marker)], dtype=object))
    with pytest.raises(UnsafeFileError):
        load_npz(tmp_path / "bad.npz")
    assert not marker.exists()


def test_not_an_archive(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"hello")
    with pytest.raises(UnsafeFileError, match="not a readable"):
        load_npz(tmp_path / "x.npz")


def _lying_npy(shape=(100000, 100000, 17)) -> bytes:
    """A valid .npy header that claims a huge float32 array, followed by 16 bytes of data."""
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def test_headers_claiming_more_than_the_file_holds_are_refused_before_reading(tmp_path):
    import zipfile

    from ddhpose.safe_pickle import load_npz, load_plain
    npy = tmp_path / "big.npy"
    npy.write_bytes(_lying_npy())
    with pytest.raises(ValueError, match=r"big.npy: the header claims a \(100000, 100000, 17\) float32 array "
                                         r"\(680 GB\) but the data is \d+ bytes; refused before reading"):
        load_plain(npy, "keypoint arrays")
    npz = tmp_path / "big.npz"
    with zipfile.ZipFile(npz, "w") as z:
        z.writestr("keypoints.npy", _lying_npy())
    with pytest.raises(ValueError, match=r"big.npz: member 'keypoints.npy': the header claims"):
        load_plain(npz, "keypoint arrays")
    with pytest.raises(ValueError, match=r"big.npz:keypoints: the header claims"):
        load_npz(npz)
    from ddhpose.lifting.inputs import read_keypoints
    with pytest.raises(ValueError, match="refused before reading"):
        read_keypoints(npz, layout="coco", image_size=(100, 100))
