"""Reading pickled files without executing code from them.

Released checkpoints (``torch.save`` zip archives) and VideoPose3D ``.npz`` files contain
pickles. ``pickle`` can call any importable function, so a hostile file could run code. The
:class:`RestrictedUnpickler` resolves only an allow-list of NumPy and tensor constructors and
plain containers; anything else is refused with :class:`UnsafeFileError`. This works on every
torch version, independent of ``torch.load(weights_only=...)``.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from typing import Any, Callable

import numpy as np
import torch


class UnsafeFileError(ValueError):
    """The file holds a pickled object outside the allow-list, or is malformed."""


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: Any) -> torch.Tensor:
    # backward hooks and metadata of the original are dropped on purpose
    return torch.as_strided(storage, size, stride, offset).clone()


def _rebuild_parameter(data: torch.Tensor, requires_grad: bool, *_: Any) -> torch.Tensor:
    return data


def _ordered_dict(*args: Any) -> dict:
    from collections import OrderedDict
    return OrderedDict(*args)


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    # numpy pickles bytes as codecs.encode(str, 'latin1'); allow no other codec
    if encoding != "latin1" or not isinstance(text, str):
        raise UnsafeFileError(f"refused codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = _np_reconstruct
        out[(mod, "scalar")] = _np_scalar
    out[("numpy", "ndarray")] = np.ndarray
    out[("numpy", "dtype")] = np.dtype
    return out


def _np_reconstruct(cls: Any, shape: Any, dtype: Any) -> np.ndarray:
    if cls is not np.ndarray:
        raise UnsafeFileError(f"refused to rebuild an array of type {cls!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _np_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeFileError("refused a NumPy scalar of object dtype")
    if isinstance(data, str):  # a Python 2 pickle's str, read as latin1 (NumPy's own unpickling does this)
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafeFileError(f"refused a NumPy scalar of {dtype} without its {dtype.itemsize} bytes")
    if dtype.itemsize == 0:  # an empty string or void: no buffer to read it from
        return np.zeros((), dtype)[()]
    return np.frombuffer(data, dtype=dtype)[0]


def _empty_bytes(*args: Any) -> bytes:
    # pickle protocols 0-2 write b'' as a call of bytes() without arguments; admit no other call
    if args:
        raise UnsafeFileError("refused a call of bytes() with arguments")
    return b""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits NumPy arrays, tensors and plain containers only.

    Args:
        file: the pickle stream.
        load_storage: for torch zip archives, maps (dtype, key) to a flat tensor.
        source: file name used in error messages.
    """

    def __init__(self, file: io.IOBase, *, load_storage: Callable[[torch.dtype, str], torch.Tensor] | None = None,
                 source: str = "<stream>") -> None:
        super().__init__(file, encoding="latin1")
        self._load_storage = load_storage
        self._source = source
        self._globals = _numpy_globals()
        self._globals.update({
            ("collections", "OrderedDict"): _ordered_dict,
            ("_codecs", "encode"): _codecs_encode,
            ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch", "Size"): torch.Size,
            ("__builtin__", "bytes"): _empty_bytes, ("builtins", "bytes"): _empty_bytes,
        })
        for name, dtype in _STORAGE_DTYPES.items():
            self._globals[("torch", name)] = _StorageType(dtype)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._globals:
            return self._globals[(module, name)]
        if module == "numpy.dtypes" and name.endswith("DType") and name != "ObjectDType":
            return getattr(np.dtypes, name)
        raise UnsafeFileError(
            f"{self._source}: refused to load '{module}.{name}'; only NumPy arrays, tensors and "
            "plain containers are allowed in this file"
        )

    def persistent_load(self, pid: Any) -> Any:
        if (self._load_storage is None or not isinstance(pid, tuple) or len(pid) < 3
                or pid[0] != "storage" or not isinstance(pid[1], _StorageType)):
            raise UnsafeFileError(f"{self._source}: unexpected persistent id {pid!r:.80}")
        return self._load_storage(pid[1].dtype, str(pid[2]))


def load_torch_file(path: str | os.PathLike) -> Any:
    """Read a ``torch.save`` zip archive without executing pickled code. Tensors load on the CPU.

    Raises:
        UnsafeFileError: a disallowed object, or a file that is not a torch zip archive.
    """
    path = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeFileError(f"{path}: not a readable torch checkpoint archive ({err})") from None
    with archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise UnsafeFileError(f"{path}: expected one data.pkl in the archive, found {len(pkl)}")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()

        def load_storage(dtype: torch.dtype, key: str) -> torch.Tensor:
            name = f"{prefix}data/{key}"
            if name not in names:
                raise UnsafeFileError(f"{path}: storage {key!r} is missing (truncated file?)")
            raw = bytearray(archive.read(name))
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            if byteorder != "little" and flat.element_size() > 1:
                flat = torch.from_numpy(flat.numpy().byteswap())
            return flat

        try:
            return RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])), load_storage=load_storage,
                                       source=path).load()
        except UnsafeFileError:
            raise
        except Exception as err:  # malformed pickle, truncated member, bad shapes
            raise UnsafeFileError(f"{path}: corrupt checkpoint ({type(err).__name__}: {err})") from None


def load_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read every member of an ``.npz`` file; object arrays go through the restricted unpickler.

    Returns:
        name -> array, with 0-d object arrays unwrapped to the object they hold (e.g. the
        ``positions_3d`` dict of VideoPose3D files).
    """
    path = os.fspath(path)
    out: dict[str, Any] = {}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeFileError(f"{path}: not a readable .npz file ({err})") from None
    with archive:
        for member in archive.namelist():
            key = member[:-4] if member.endswith(".npy") else member
            try:
                out[key] = _read_npy(archive.read(member), f"{path}:{key}")
            except UnsafeFileError:
                raise
            except Exception as err:
                raise UnsafeFileError(f"{path}: member {key!r} is corrupt ({type(err).__name__}: {err})") from None
    return out


def _npy_header(stream: Any, available: int, source: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read an .npy header from ``stream`` and refuse it when the array it claims is larger than
    the ``available`` bytes of the file or member (a corrupt or hostile header), before anything
    is allocated. Returns (shape, dtype); the stream is left after the header."""
    version = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(stream)
    if not dtype.hasobject:
        claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if claimed > available:
            raise UnsafeFileError(f"{source}: the header claims a {shape} {dtype} array ({claimed / 1e9:.3g} GB) but "
                                  f"the data is {available} bytes; refused before reading (corrupt file?)")
    return shape, dtype


def _read_npy(raw: bytes, source: str) -> Any:
    stream = io.BytesIO(raw)
    shape, dtype = _npy_header(stream, len(raw), source)
    if not dtype.hasobject:
        stream.seek(0)
        return np.lib.format.read_array(stream, allow_pickle=False)
    value = RestrictedUnpickler(stream, source=source).load()
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype == object:
        return value.item()
    return value


def load_plain(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Read a user's ``.npy`` / ``.npz`` file that must hold plain arrays only (no pickles).

    Returns name -> array ({'array': ...} for a ``.npy``). ``what`` names the expected content
    in error messages ("keypoint arrays (F, K, 2|3)", "lift results").

    Raises:
        ValueError: a pickled object array (refused, never loaded) or an unreadable file.
    """
    src = os.fspath(path)
    try:  # our own handle: np.load leaks it when a corrupt .npz fails to open
        _check_headers(src)
        with open(src, "rb") as fh:
            loaded = np.load(fh, allow_pickle=False)
            if hasattr(loaded, "files"):
                with loaded:
                    return {k: loaded[k] for k in loaded.files}
            return {"array": loaded}
    except UnsafeFileError:
        raise
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise ValueError(f"{src}: holds a pickled object array; expected plain {what}, refused for safety") from None
        raise ValueError(f"{src}: not a readable NumPy file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{src}: not a readable NumPy file ({type(err).__name__}: {err})") from None


def _check_headers(src: str) -> None:
    """Every array header of a .npy / .npz file against the bytes that hold it (see _npy_header)."""
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    _npy_header(member, info.file_size, f"{src}: member {info.filename!r}")
    else:
        with open(src, "rb") as fh:
            _npy_header(fh, os.path.getsize(src), src)
