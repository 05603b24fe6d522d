"""The restricted unpickler admits NumPy/tensor data and refuses everything else without running it."""
import io
import os
import pickle
import zipfile
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
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * 16


def test_headers_claiming_more_than_the_file_holds_are_refused_before_reading(tmp_path):
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


# --- what each allowed constructor admits, and what the messages name ----------------------------

class _Reduces:
    """Pickles as a call of ``func(*args)``: a hand-made pickle of what a hostile file may hold."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _load(obj, protocol=2):
    return RestrictedUnpickler(io.BytesIO(pickle.dumps(obj, protocol=protocol))).load()


@pytest.mark.parametrize("module", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_arrays_and_scalars_load_under_both_numpy_module_names(module):
    # NumPy 1 pickles name numpy.core.multiarray, NumPy 2 numpy._core.multiarray: files of either load
    raw = pickle.dumps([np.arange(6.0).reshape(2, 3), np.float64(2.5), np.int16(-7)], protocol=2)
    for name in (b"numpy.core.multiarray", b"numpy._core.multiarray"):
        raw = raw.replace(b"c" + name + b"\n", b"c" + module + b"\n")
    assert module in raw
    array, scalar, small = RestrictedUnpickler(io.BytesIO(raw)).load()
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]] and scalar == 2.5 and small == -7 and small.dtype == np.int16


def test_the_numpy_constructors_refuse_what_is_not_a_plain_array():
    from numpy._core import multiarray  # NumPy 2's name, which NumPy 1.26 provides too
    with pytest.raises(UnsafeFileError, match="refused to rebuild an array of type"):
        _load(_Reduces(multiarray._reconstruct, (np.dtype, (0,), b"b")))  # an allowed name, not an array
    with pytest.raises(UnsafeFileError, match="^refused a NumPy scalar of object dtype$"):
        _load(_Reduces(multiarray.scalar, (np.dtype(object), b"\0" * 8)))
    for data in [(), (b"\0" * 4,), (b"\0" * 16,)]:  # no bytes, or not the dtype's 8
        with pytest.raises(UnsafeFileError, match="refused a NumPy scalar of float64 without its 8 bytes"):
            _load(_Reduces(multiarray.scalar, (np.dtype("f8"), *data)))
    as_python2 = np.float64(2.5).tobytes().decode("latin1")  # what a Python 2 pickle's str reads as
    assert _load(_Reduces(multiarray.scalar, (np.dtype("f8"), as_python2))) == 2.5
    import codecs
    with pytest.raises(UnsafeFileError, match="refused codecs.encode with encoding 'utf-16'"):
        _load(_Reduces(codecs.encode, ("x", "utf-16")))
    assert _load(_Reduces(codecs.encode, ("\xe9t\xe9", "latin1"))) == b"\xe9t\xe9"


def test_numpy_dtype_classes_load_but_not_the_object_one():
    assert _load(np.dtypes.Float64DType) is np.dtypes.Float64DType
    with pytest.raises(UnsafeFileError, match=r"<stream>: refused to load 'numpy.dtypes.ObjectDType'; only NumPy "
                                              r"arrays, tensors and plain containers are allowed in this file"):
        _load(np.dtypes.ObjectDType)
    with pytest.raises(UnsafeFileError, match="refused to load 'os.SystemDType'"):  # the suffix alone admits nothing
        RestrictedUnpickler(io.BytesIO(b"\x80\x02cos\nSystemDType\n.")).load()


@pytest.mark.parametrize("protocol, fix_imports", [(2, True), (2, False), (4, True)])
def test_empty_strings_and_bytes_scalars_load(protocol, fix_imports):
    # zero bytes of data: pickled as bytes() below protocol 3 (__builtin__.bytes, or builtins.bytes
    # without Python 2's names), as b'' from it
    values = [np.str_(""), np.bytes_(b""), np.str_("ab"), np.bytes_(b"xyz")]
    raw = pickle.dumps(values, protocol=protocol, fix_imports=fix_imports)
    assert RestrictedUnpickler(io.BytesIO(raw)).load() == values
    with pytest.raises(UnsafeFileError, match="^refused a call of bytes\\(\\) with arguments$"):
        RestrictedUnpickler(io.BytesIO(b"\x80\x02c__builtin__\nbytes\nK\x05\x85R.")).load()  # bytes(5)


def test_python2_strings_are_read_as_latin1():
    assert RestrictedUnpickler(io.BytesIO(b"\x80\x02U\x03\xe9ab.")).load() == "\xe9ab"  # SHORT_BINSTRING


def test_persistent_ids_other_than_a_storage_are_refused():
    class Tagged(pickle.Pickler):
        def __init__(self, file, pid):
            super().__init__(file, protocol=2)
            self.pid = pid

        def persistent_id(self, obj):
            return self.pid if isinstance(obj, _Marker) else None

    class _Marker:
        pass

    stored = []
    for pid in [("storage",), ("storages", "x", "0"), ("storage", "FloatStorage", "0"), "storage"]:
        buf = io.BytesIO()
        Tagged(buf, pid).dump(_Marker())
        loader = RestrictedUnpickler(io.BytesIO(buf.getvalue()), load_storage=lambda d, k: stored.append(k))
        with pytest.raises(UnsafeFileError, match="<stream>: unexpected persistent id"):
            loader.load()
    assert not stored  # nothing was read for any of them
    buf = io.BytesIO()
    Tagged(buf, ("storage", torch.FloatStorage, "0")).dump(_Marker())  # the shortest storage id an archive holds
    assert RestrictedUnpickler(io.BytesIO(buf.getvalue()), load_storage=lambda d, k: (d, k)).load() == (torch.float32, "0")
    with pytest.raises(UnsafeFileError, match="unexpected persistent id"):  # a storage, but outside an archive
        RestrictedUnpickler(io.BytesIO(buf.getvalue())).load()


def test_torch_archives_keep_views_parameters_empty_and_integer_tensors(tmp_path):
    base = torch.arange(10, dtype=torch.float64)
    torch.save({"view": base[3:7], "param": torch.nn.Parameter(torch.ones(2)), "empty": torch.empty(0, dtype=torch.int64),
                "ints": torch.tensor([1, -2], dtype=torch.int16)}, tmp_path / "t.pt")
    out = load_torch_file(tmp_path / "t.pt")
    assert out["view"].tolist() == [3.0, 4.0, 5.0, 6.0] and out["view"].dtype == torch.float64
    assert type(out["param"]) is torch.Tensor and out["param"].tolist() == [1.0, 1.0]
    assert out["empty"].shape == (0,) and out["empty"].dtype == torch.int64
    assert out["ints"].tolist() == [1, -2] and out["ints"].dtype == torch.int16


def _rewrite_archive(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def test_big_endian_archives_are_byteswapped_and_archives_without_a_byte_order_are_little_endian(tmp_path):
    tensors = {"w": torch.tensor([1.5, -2.0, 3.25]), "h": torch.tensor([0.5, -8.0], dtype=torch.float16),
               "b": torch.tensor([1, 2], dtype=torch.uint8)}
    torch.save(tensors, tmp_path / "le.pt")
    kinds = {len(t.untyped_storage()): t.numpy().dtype.newbyteorder("<") for t in tensors.values()}  # 12, 4, 2 bytes

    def to_big(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name:
            return np.frombuffer(data, kinds[len(data)]).astype(kinds[len(data)].newbyteorder(">")).tobytes()
        return data
    _rewrite_archive(tmp_path / "le.pt", tmp_path / "be.pt", to_big)
    _rewrite_archive(tmp_path / "le.pt", tmp_path / "old.pt", lambda n, d: None if n.endswith("/byteorder") else d)
    for name in ("be.pt", "old.pt"):
        out = load_torch_file(tmp_path / name)
        for key, t in tensors.items():
            assert torch.equal(out[key], t), (name, key)


def test_damaged_archives_are_refused_naming_the_file_and_what_is_wrong(tmp_path):
    torch.save({"w": torch.arange(4.0)}, tmp_path / "ok.pt")
    _rewrite_archive(tmp_path / "ok.pt", tmp_path / "nostorage.pt", lambda n, d: None if "/data/" in n else d)
    with pytest.raises(UnsafeFileError, match=r"nostorage.pt: storage '0' is missing \(truncated file\?\)"):
        load_torch_file(tmp_path / "nostorage.pt")
    _rewrite_archive(tmp_path / "ok.pt", tmp_path / "nopickle.pt", lambda n, d: None if n.endswith("data.pkl") else d)
    with pytest.raises(UnsafeFileError, match="nopickle.pt: expected one data.pkl in the archive, found 0"):
        load_torch_file(tmp_path / "nopickle.pt")
    _rewrite_archive(tmp_path / "ok.pt", tmp_path / "cut.pt", lambda n, d: d[:20] if n.endswith("data.pkl") else d)
    with pytest.raises(UnsafeFileError, match=r"cut.pt: corrupt checkpoint \(\w+Error: "):
        load_torch_file(tmp_path / "cut.pt")
    torch.save({"w": torch.tensor(3.0)}, tmp_path / "scalar.pt")  # a 0-d tensor whose 4 bytes are lost
    _rewrite_archive(tmp_path / "scalar.pt", tmp_path / "nobytes.pt", lambda n, d: b"" if "/data/" in n else d)
    with pytest.raises(UnsafeFileError, match=r"nobytes.pt: corrupt checkpoint"):
        load_torch_file(tmp_path / "nobytes.pt")
    (tmp_path / "text.pt").write_text("not a zip")
    with pytest.raises(UnsafeFileError, match="text.pt: not a readable torch checkpoint archive"):
        load_torch_file(tmp_path / "text.pt")
    torch.save({"w": _RunsCode(tmp_path / "ran")}, tmp_path / "bad.pt")
    with pytest.raises(UnsafeFileError, match=r"bad.pt: refused to load"):
        load_torch_file(tmp_path / "bad.pt")


def test_npz_members_keep_their_names_and_arrays_of_objects_stay_arrays(tmp_path):
    two = np.empty(2, dtype=object)
    two[0], two[1] = {"a": np.zeros(2)}, {"b": np.ones(1)}
    np.savez(tmp_path / "two.npz", people=two)
    out = load_npz(tmp_path / "two.npz")
    assert isinstance(out["people"], np.ndarray) and out["people"].shape == (2,) and out["people"][1]["b"][0] == 1
    with zipfile.ZipFile(tmp_path / "odd.npz", "w") as z:
        z.writestr("notes.txt", b"free text")
    with pytest.raises(UnsafeFileError, match=r"odd.npz: member 'notes.txt' is corrupt \(\w+Error: "):
        load_npz(tmp_path / "odd.npz")
    np.savez(tmp_path / "bad.npz", positions_3d=np.array([_RunsCode(tmp_path / "ran")], dtype=object))
    with pytest.raises(UnsafeFileError, match=r"bad.npz:positions_3d: refused to load"):
        load_npz(tmp_path / "bad.npz")


def test_plain_files_load_as_arrays_and_refuse_pickles_and_garbage(tmp_path):
    from ddhpose.safe_pickle import load_plain
    np.save(tmp_path / "one.npy", np.arange(3))
    assert list(load_plain(tmp_path / "one.npy", "arrays")) == ["array"]
    assert load_plain(tmp_path / "one.npy", "arrays")["array"].tolist() == [0, 1, 2]
    np.savez(tmp_path / "two.npz", a=np.ones(2), b=np.zeros((1, 2)))
    two = load_plain(tmp_path / "two.npz", "arrays")
    assert sorted(two) == ["a", "b"] and two["b"].shape == (1, 2)
    with open(tmp_path / "v2.npy", "wb") as fh:  # a version 2.0 header (NumPy writes one for long headers)
        np.lib.format.write_array(fh, np.arange(4.0), version=(2, 0))
    assert load_plain(tmp_path / "v2.npy", "arrays")["array"].tolist() == [0.0, 1.0, 2.0, 3.0]
    marker = tmp_path / "ran"
    np.save(tmp_path / "obj.npy", np.array([_RunsCode(marker)], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "obj.npz", k=np.array([_RunsCode(marker)], dtype=object))
    for name in ("obj.npy", "obj.npz"):
        with pytest.raises(ValueError, match=rf"{name}: holds a pickled object array; expected plain keypoint "
                                             r"arrays, refused for safety"):
            load_plain(tmp_path / name, "keypoint arrays")
    assert not marker.exists()
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f8'")
    with pytest.raises(ValueError, match=r"junk.npy: not a readable NumPy file \("):
        load_plain(tmp_path / "junk.npy", "arrays")
    np.savez(tmp_path / "crc.npz", a=np.arange(100.0))
    raw = bytearray((tmp_path / "crc.npz").read_bytes())
    raw[raw.index(np.arange(100.0).tobytes()[8:16])] ^= 0xFF  # a flipped byte in the data
    (tmp_path / "crc.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"crc.npz: not a readable NumPy file \(BadZipFile: Bad CRC-32"):
        load_plain(tmp_path / "crc.npz", "arrays")
    (tmp_path / "empty.npz").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip: no arrays
    assert load_plain(tmp_path / "empty.npz", "arrays") == {}


def test_a_header_whose_size_overflows_64_bits_is_refused(tmp_path):
    from ddhpose.safe_pickle import load_plain
    path = tmp_path / "huge.npy"
    path.write_bytes(_lying_npy(shape=(2 ** 32, 2 ** 32, 4)))  # 2**66 elements: an int64 product wraps round to 0
    with pytest.raises(ValueError, match="the header claims a"):
        load_plain(path, "arrays")
