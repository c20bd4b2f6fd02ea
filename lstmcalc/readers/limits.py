"""Checks on untrusted files before and after they are read (NumPy; h5py objects duck-typed).

Every reader goes through these before it allocates: a path must be a regular file (not a
directory, FIFO, device or a link to one); what a file *declares* -- a zip member's
uncompressed size, an ``.npy`` header's shape, an HDF5 dataset's shape × itemsize, a
safetensors header's length and offsets -- is compared with the file's real size and with
the memory budget (:func:`lstmcalc.memory.memory_budget`) before a byte of it is read;
JSON is parsed only up to :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH`; the numbers
read must be finite floats of one dtype. Each refusal is a :class:`FileError`, one line
naming the file, the member or tensor, and the size.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
import tokenize
import zipfile
import zlib

import numpy as np

from ..dtypes import WEIGHT_DTYPES, safetensors_types
from ..errors import FileError
from ..memory import GIB, memory_budget

MAX_JSON_BYTES = 64 * 1024**2  # a Keras config.json, a legacy .h5 model_config, a safetensors header
MAX_JSON_DEPTH = 256  # nested lists and objects; a Keras config of nested models needs a few dozen
MAX_PICKLE_BYTES = 64 * 1024**2  # a torch.save archive's data.pkl: names and shapes, not the numbers
NPY_MAX_HEADER = 10_000  # numpy's own default limit for .npy headers


# what zipfile raises for a damaged archive: bad structures, names that are not UTF-8, bad
# deflate streams, unknown compression methods, offsets that do not unpack
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error, NotImplementedError,
              ValueError, struct.error)


def is_zip(file: str) -> bool:
    """``zipfile.is_zipfile``, False also where it raises (it does for some damaged end records)."""
    try:
        return zipfile.is_zipfile(file)
    except ZIP_ERRORS:
        return False


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type's name."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def size_text(n: int) -> str:
    """``3,221,225,472 bytes (3.00 GiB)``, ``67,108,864 bytes (64.0 MiB)``."""
    if n >= GIB:
        return f"{n:,} bytes ({n / GIB:,.2f} GiB)"
    if n >= 1024**2:
        return f"{n:,} bytes ({n / 1024**2:,.1f} MiB)"
    return f"{n:,} bytes"


# --- paths ------------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file(path) -> tuple[str, int]:
    """``(path as given, size in bytes)`` of a readable regular file (a link is followed);
    :class:`FileError` for a missing path, a directory, FIFO, device or socket, or one that
    cannot be opened. Never blocks: the type is checked before opening, and the open is
    non-blocking, so a FIFO swapped in between cannot hang it."""
    file = os.fspath(path)
    try:
        st = os.stat(file)
    except FileNotFoundError:
        raise FileError(f"{file}: no such file") from None
    except OSError as e:
        raise FileError(f"{file}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        link = " (through a symbolic link)" if os.path.islink(file) else ""
        raise FileError(f"{file}: is {_kind(st.st_mode)}{link}, not a weights file; allowed: a regular file")
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileError(f"{file}: cannot read ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        raise FileError(f"{file}: is {_kind(st.st_mode)}, not a weights file; allowed: a regular file")
    return file, int(st.st_size)


# --- the memory budget ---------------------------------------------------------------------------


class Budget:
    """Bytes a reader may still allocate for one file: :func:`memory_budget` when made,
    less what :meth:`take` has handed out. ``limit`` overrides it (tests)."""

    def __init__(self, file: str, limit: int | None = None):
        self.file = file
        if limit is None:
            self.limit, self.source = memory_budget()
        else:
            self.limit, self.source = limit, "given"
        self.used = 0

    def take(self, what: str, nbytes: int) -> None:
        """Count ``nbytes`` for ``what`` (a member or tensor), or refuse before they are read."""
        if nbytes < 0:
            raise FileError(f"{self.file}: {what}: declares a negative size ({nbytes})")
        if self.used + nbytes > self.limit:
            more = f" (with the {size_text(self.used)} read before it)" if self.used else ""
            raise FileError(
                f"{self.file}: {what} needs {size_text(nbytes)}{more}, more than the {self.limit / GIB:,.2f} GiB "
                f"of memory available (limited by {self.source})"
            )
        self.used += nbytes


def declared_bytes(shape, itemsize: int) -> int:
    """Bytes of an array of ``shape`` (Python integers: a shape of 2**40 × 2**40 does not overflow)."""
    return math.prod(int(n) for n in shape) * int(itemsize)


# --- JSON -------------------------------------------------------------------------------------


def parse_json(file: str, what: str, data, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads(data)`` for untrusted ``data`` (bytes or str): at most ``max_bytes`` and
    ``max_depth`` levels of nesting; every parser failure (bad syntax or encoding, a
    recursion limit, an integer of too many digits) is a :class:`FileError`."""
    if len(data) > max_bytes:
        raise FileError(f"{file}: {what} is {size_text(len(data))}; allowed: at most {size_text(max_bytes)}")
    try:
        value = json.loads(data)
    except RecursionError:
        raise FileError(f"{file}: {what} is nested too deeply; allowed: at most {max_depth} levels") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, int digits limit: all ValueError
        text = str(e).strip().splitlines()
        raise FileError(f"{file}: {what} is not valid JSON ({text[0] if text else type(e).__name__})") from None
    stack = [(value, 1)]
    while stack:  # iterative: a deep value must not recurse here either
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            if level > max_depth:
                raise FileError(f"{file}: {what} is nested more than {max_depth} levels deep; allowed: {max_depth}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return value


# --- zip archives (.keras, .npz, torch.save) ----------------------------------------------------------


def check_zip_member(file: str, info, file_size: int, budget: Budget | None, cap: int | None = None,
                     what: str | None = None) -> None:
    """A zip member's declared uncompressed size, before it is read: at most ``cap`` (when
    given), within ``budget``, and a stored (uncompressed) member no larger than the file."""
    what = what or info.filename
    size = int(info.file_size)
    if cap is not None and size > cap:
        raise FileError(f"{file}: {what} inflates to {size_text(size)}; allowed: at most {size_text(cap)}")
    if info.compress_type == 0 and size > file_size:  # ZIP_STORED: the bytes must be in the file
        raise FileError(f"{file}: {what} declares {size_text(size)} but the whole file is {size_text(file_size)}")
    if info.compress_size > file_size:
        raise FileError(
            f"{file}: {what} declares {size_text(int(info.compress_size))} of compressed data but the whole file is "
            f"{size_text(file_size)}"
        )
    if budget is not None:
        budget.take(what, size)


def check_npz(file: str, budget: bool = True) -> dict[str, tuple[str, tuple[int, ...], np.dtype]]:
    """An ``.npz`` (a zip of ``.npy`` arrays) checked before NumPy reads it: a regular file,
    a zip, only ``.npy`` members, each member's declared size within the file (and, with
    ``budget``, all of them within the memory budget), and each member's ``.npy`` header
    declaring no more than the member holds. Returns ``{array name: (member, shape, dtype)}``
    (names as :func:`numpy.load` gives them): what the headers declare, read with only the
    first bytes of each member inflated, so a caller can check names and shapes against the
    layer before any data (:func:`declared_array`) and take the memory by the declared sizes."""
    _, size = regular_file(file)
    limit = Budget(file) if budget else None
    declared = {}
    try:
        if not is_zip(file):
            with open(file, "rb") as fh:
                magic = fh.read(6)
            if magic == b"\x93NUMPY":
                raise FileError(f"{file}: holds one array (.npy), not named arrays (.npz)")
            raise FileError(f"{file}: not an .npz archive, or a truncated one (an .npz is a zip of .npy files)")
        with zipfile.ZipFile(file) as z:
            infos = z.infolist()
            odd = [i.filename for i in infos if not i.filename.endswith(".npy")]
            if odd:
                shown = ", ".join(odd[:3]) + (", …" if len(odd) > 3 else "")
                raise FileError(f"{file}: not an .npz archive: a zip with members that are not .npy arrays ({shown})")
            for info in infos:
                check_zip_member(file, info, size, limit)
                with z.open(info) as member:
                    shape, dtype = npy_header(file, info.filename, member, int(info.file_size))
                declared[info.filename[:-len(".npy")]] = (info.filename, shape, dtype)
        return declared
    except FileError:
        raise
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: damaged or truncated .npz archive ({first_line(e)})") from None


def load_npz_members(file: str, members: dict, names, budget: Budget | None) -> dict[str, np.ndarray]:
    """The one ``.npz`` loader: the arrays ``names`` of ``members`` (what :func:`check_npz`
    returned), each member's declared size taken from ``budget`` (when given) before NumPy
    inflates it, with ``allow_pickle=False``; every failure a one-line :class:`FileError`."""
    if budget is not None:
        for name in names:
            member, shape, dtype = members[name]
            budget.take(member, declared_bytes(shape, dtype.itemsize))
    try:
        with np.load(file, allow_pickle=False) as data:
            return {name: np.asarray(data[name]) for name in names}
    except FileError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise FileError(
                f"{file}: holds object arrays, which need unpickling; lstmcalc loads .npz with allow_pickle=False"
            ) from None
        raise FileError(f"{file}: damaged .npz archive ({first_line(e)})") from None
    except (*ZIP_ERRORS, KeyError) as e:
        raise FileError(f"{file}: damaged or truncated .npz archive ({first_line(e)})") from None


def declared_array(file: str, what: str, shape, dtype) -> np.ndarray:
    """A stand-in for an array a header declares, before its data is read: the declared
    ``shape`` and ``dtype`` with one element's memory (a read-only broadcast of one zero), for
    checking names, shapes and dtypes against a layer. Its values mean nothing."""
    try:
        return np.broadcast_to(np.zeros((), dtype), tuple(int(n) for n in shape))
    except (ValueError, TypeError) as e:  # more elements than NumPy can index, a dtype it cannot make
        raise FileError(f"{file}: {what}: declares shape {tuple(shape)} of {dtype}, which NumPy cannot hold "
                        f"({first_line(e)})") from None


# --- .npy headers -----------------------------------------------------------------------------


def npy_header(file: str, what: str, fh, data_bytes: int) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the ``.npy`` header at ``fh``'s position (numpy.lib.format, header
    at most :data:`NPY_MAX_HEADER` bytes), checked against ``data_bytes``, the bytes the
    array may occupy (the file or member size): a header that claims more is refused
    before the array is allocated. Object dtypes (which need unpickling) are refused."""
    fmt = np.lib.format
    start = fh.tell()
    try:
        major, minor = fmt.read_magic(fh)
        if (major, minor) == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh, max_header_size=NPY_MAX_HEADER)
        elif major in (2, 3):
            shape, _, dtype = fmt.read_array_header_2_0(fh, max_header_size=NPY_MAX_HEADER)
        else:
            raise ValueError(f"unknown .npy format version {major}.{minor}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, KeyError, RecursionError, MemoryError,
            tokenize.TokenError) as e:  # numpy parses the header with tokenize and ast.literal_eval
        text = str(e).strip().splitlines()
        raise FileError(f"{file}: {what}: not a readable .npy header ({text[0] if text else type(e).__name__})") \
            from None
    if dtype.hasobject:
        raise FileError(
            f"{file}: {what}: holds object arrays, which need unpickling; lstmcalc loads with allow_pickle=False"
        )
    header = fh.tell() - start
    declared = declared_bytes(shape, dtype.itemsize)
    room = data_bytes - header
    if declared > room:
        raise FileError(
            f"{file}: {what}: the header declares shape {tuple(shape)} of {dtype} ({size_text(declared)}) "
            f"but the data holds {size_text(max(room, 0))}"
        )
    return tuple(int(n) for n in shape), dtype


# --- HDF5 datasets ------------------------------------------------------------------------------


def check_h5_dataset(file: str, ds, file_size: int, budget: Budget | None) -> None:
    """An HDF5 dataset's declared bytes (shape × itemsize), before it is read: numbers only,
    not more than the file holds (uncompressed data, or any data never written), and within
    the budget (when given; a reader that reads only some datasets takes theirs)."""
    dtype = ds.dtype
    if dtype.kind not in "fiub" or dtype.hasobject or dtype.fields is not None:
        raise FileError(f"{file}: {ds.name}: dtype {dtype} is not a number type; allowed: {', '.join(WEIGHT_DTYPES)}")
    shape = ds.shape
    if shape is None:  # an empty (null) dataspace
        raise FileError(f"{file}: {ds.name}: an empty dataset, no numbers")
    declared = declared_bytes(shape, dtype.itemsize)
    try:
        stored = int(ds.id.get_storage_size())
    except Exception:  # noqa: BLE001  h5py raises several types for odd storage layouts
        stored = None
    compressed = bool(getattr(ds, "compression", None)) or bool(getattr(ds, "_filters", None))
    if not compressed:
        if declared > file_size:
            raise FileError(
                f"{file}: {ds.name}: declares shape {tuple(shape)} of {dtype} ({size_text(declared)}) but the whole "
                f"file is {size_text(file_size)}"
            )
        if stored is not None and stored < declared:
            raise FileError(
                f"{file}: {ds.name}: declares shape {tuple(shape)} of {dtype} ({size_text(declared)}) but only "
                f"{size_text(stored)} of it were ever written"
            )
    if budget is not None:
        budget.take(ds.name, declared)


# --- safetensors --------------------------------------------------------------------------------

# safetensors code -> (bytes per element in the file, the NumPy dtype lstmcalc reads it as; None:
# none, the element only counted): lstmcalc.dtypes' view for this format
SAFETENSORS_TYPES = safetensors_types()
SAFETENSORS_DTYPES = {code: size for code, (size, _) in SAFETENSORS_TYPES.items()}  # bytes per element
SAFETENSORS_MAX_HEADER = 100_000_000  # safetensors' own limit
NOT_ST = "not a readable safetensors file: "


def safetensors_header(file: str, file_size: int, budget: Budget | None) -> dict:
    """The header of a safetensors file, read and checked by hand before safetensors sees the
    file: the 8-byte little-endian length N (at most the file and 100 MB), N bytes of
    bounded JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, each tensor's
    offsets inside the data and ``end - begin`` = shape × itemsize, the total within the
    budget (when given; a reader that reads only some tensors takes theirs). Returns
    ``{name: info}`` without ``__metadata__``."""
    if file_size < 8:
        raise FileError(f"{file}: {NOT_ST}{file_size} bytes, less than the 8-byte header length")
    with open(file, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if n > min(file_size - 8, SAFETENSORS_MAX_HEADER):
            raise FileError(
                f"{file}: {NOT_ST}the header claims {size_text(n)} but the file holds {size_text(file_size - 8)} "
                f"after the length; allowed: at most {size_text(min(file_size - 8, SAFETENSORS_MAX_HEADER))}"
            )
        raw = fh.read(n)
    header = parse_json(file, NOT_ST + "its header", raw, max_bytes=SAFETENSORS_MAX_HEADER, max_depth=8)
    if not isinstance(header, dict):
        raise FileError(f"{file}: {NOT_ST}the header is a JSON {type(header).__name__}, not an object")
    data = file_size - 8 - n
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise FileError(f"{file}: {NOT_ST}{name}: header entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise FileError(f"{file}: {NOT_ST}{name}: dtype {dtype!r} is not a safetensors dtype lstmcalc reads")
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            raise FileError(f"{file}: {NOT_ST}{name}: shape {shape!r} is not a list of sizes >= 0")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise FileError(f"{file}: {NOT_ST}{name}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= data:
            raise FileError(
                f"{file}: {NOT_ST}{name}: data_offsets [{begin}, {end}] lie outside the {size_text(data)} of data in the file"
            )
        declared = declared_bytes(shape, SAFETENSORS_DTYPES[dtype])
        if end - begin != declared:
            raise FileError(
                f"{file}: {NOT_ST}{name}: shape {tuple(shape)} of {dtype} needs {size_text(declared)} but data_offsets "
                f"[{begin}, {end}] hold {size_text(end - begin)}"
            )
        if budget is not None:
            budget.take(name, declared)
        tensors[name] = info
    return tensors


# --- the numbers ------------------------------------------------------------------------------------


def check_numbers(file: str, weights: dict, where: str = "") -> None:
    """Weights of one layer: floats (float16, float32, float64), all one dtype, no NaN or inf.
    ``where`` goes before a tensor's name in the message (a layer name, a prefix)."""
    dtypes = {}
    for key, a in weights.items():
        a = np.asarray(a)
        if a.dtype.name not in WEIGHT_DTYPES:
            kind = "an integer" if a.dtype.kind in "iub" else "a non-float"
            raise FileError(
                f"{file}: {where}{key}: dtype {a.dtype} is {kind} type, but weights are real numbers; "
                f"allowed: {', '.join(WEIGHT_DTYPES)}"
            )
        finite = np.isfinite(a)
        if not finite.all():
            bad = ~finite
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            nan = int(np.isnan(a).sum())
            raise FileError(
                f"{file}: {where}{key}: holds {nan} NaN and {int(bad.sum()) - nan} infinite value(s), "
                f"the first at index {first}; weights must be finite"
            )
        dtypes[key] = a.dtype.name
    if len(set(dtypes.values())) > 1:
        shown = ", ".join(f"{k} {d}" for k, d in dtypes.items())
        raise FileError(f"{file}: {where.rstrip(': ')}{': ' if where else ''}mixed dtypes ({shown}); "
                        "a layer's tensors share one dtype")
