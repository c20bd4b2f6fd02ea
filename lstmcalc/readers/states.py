"""``run --initial-state FILE.npz`` and ``--lengths 5,3,7 | FILE.npy``: reading the states
and lengths a forward pass starts from (NumPy; the CLI's files, apart from the weights').

Sizes are checked before anything is read into memory: each .npz member's uncompressed
size must fit the largest state the layer takes, and a lengths .npy must be small.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from .. import frameworks
from ..dtypes import WEIGHT_DTYPES
from ..errors import FileError
from .limits import check_npz, first_line, load_npz_members, regular_file
from ..spec import LayerSpec, SpecError

NPY_HEADER_MAX = 4096  # bytes of .npy header we allow beyond the data itself
MAX_ROWS = 2**20  # a lengths file's rows when the batch is not known yet




def load_initial_state(path, spec: LayerSpec, dtype) -> dict[str, np.ndarray]:
    """{name: array} from an .npz holding the states ``spec``'s framework takes, under its
    names (PyTorch ``h0``, ``c0``; ONNX ``initial_h``, ``initial_c``; Keras ``h``, ``c`` or
    ``h_fw``, ``c_fw``, ``h_bw``, ``c_bw``, ``layer{k}/`` before them in a stack) or the other
    names the convention gives them (``initial_state_aliases``: PyTorch ``h_0``/``h_n``/``h``,
    ONNX ``Y_h``/``h``, ...), returned under the state names, checked against the layer. The
    returned arrays that are not states (``output``, ONNX ``Y``) are skipped unread, so a
    ``run --save`` file (PyTorch output, h_n, c_n; ONNX Y, Y_h, Y_c; Keras output, h, c) hands
    its states over as it is. A :class:`FileError` (one line, naming the file) for a missing,
    damaged, oversized or wrong file, two names for one state, a name the layer does not take,
    a wrong shape, dtype or a NaN."""
    fw = frameworks.of(spec)
    if not fw.takes_initial_state:
        raise SpecError("initial_state", f"is not implemented for {fw.TITLE} layers yet")
    shapes = fw.initial_state_shapes(spec)
    names = ", ".join(o.name for o in shapes)
    limit = max(int(np.prod(o.shape)) for o in shapes) * 8 + NPY_HEADER_MAX
    file, _ = regular_file(path)  # a directory, FIFO or device: one line, never a blocking read
    members = check_npz(file)  # every member's declared size against the file and the memory budget
    aliases = fw.initial_state_aliases(spec)  # {state name: its other names}
    accepted = {o.name for o in shapes} | {a for names_ in aliases.values() for a in names_}
    # a `run --save` file's sequence output(s): not states, never read
    sequences = ({"output"} | {o.name for o in fw.outputs(spec)}) - accepted
    skip = sequences | {f"{n}.npy" for n in sequences}
    if not zipfile.is_zipfile(file):
        raise FileError(f"{file}: not an .npz archive (an .npz is a zip of .npy arrays), or a truncated one")
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(file) as z:
            for info in z.infolist():
                if info.filename not in skip and info.file_size > limit:
                    raise FileError(f"{file}: {info.filename} holds {info.file_size:,} bytes; the largest state "
                                    f"this layer takes is {limit - NPY_HEADER_MAX:,} bytes ({names})")
        out = load_npz_members(file, members, [name for name in members if name not in skip], None)
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise FileError(f"{file}: damaged .npz archive ({first_line(e)})") from None
    if not out:
        raise FileError(f"{file}: holds no arrays; this layer takes {names}")
    for name, a in out.items():
        if a.dtype.kind != "f":
            raise FileError(f"{file}: {name} has dtype {a.dtype}; allowed: {', '.join(WEIGHT_DTYPES)}")
    rename = _state_names(file, out, aliases)
    out = {rename.get(k, k): a for k, a in out.items()}
    try:
        fw.initial_state_from(spec, out, dtype)  # names, count, shapes, finiteness
    except SpecError as e:
        problem = e.problem
        for key, state in rename.items():  # name the file's key, and the state it was read as
            if key != state and problem.startswith(f"{state} "):
                problem = f"{key} (read as {state}){problem[len(state):]}"
        raise FileError(f"{file}: {problem}") from None
    return out


def _state_names(file: str, arrays: dict, aliases: dict) -> dict:
    """{key in ``arrays``: the state it holds} for each state found under another name
    (``aliases``: {state name: its other names}); a :class:`FileError` naming the keys when
    the file holds one state under two names (h0 and h_n, say)."""
    rename = {}
    for state, others in aliases.items():
        found = [k for k in (state, *others) if k in arrays]
        if len(found) > 1:
            raise FileError(f"{file}: holds {' and '.join(found)}, {len(found)} arrays for the one state {state}; "
                            f"keep one of them")
        if found:
            rename[found[0]] = state
    return rename


def parse_lengths(text: str, batch: int | None = None) -> np.ndarray:
    """``--lengths``: comma-separated whole numbers ("5,3,7"), or an .npy file of them (B,).
    A :class:`SpecError` for bad text, a :class:`FileError` for a bad file; the range
    1 ≤ length ≤ T is checked by :func:`lstmcalc.cells.forward`."""
    text = text.strip()
    if text.endswith(".npy") or os.path.sep in text:
        file, size = regular_file(text)
        rows = batch or MAX_ROWS
        cap = rows * 8 + NPY_HEADER_MAX
        if size > cap:
            raise FileError(f"{file}: {size:,} bytes; lengths for B = {rows:,} rows take at most {cap:,}")
        try:
            a = np.load(file, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise FileError(f"{file}: not a readable .npy array ({first_line(e)})") from None
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.ndim != 1:
            what = f"dtype {a.dtype}, shape {a.shape}" if isinstance(a, np.ndarray) else "an .npz archive"
            raise FileError(f"{file}: {what}; lengths are one integer vector (B,)")
        return a.astype(np.int64)
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() and len(p) <= 12 for p in parts):
        raise SpecError("lengths", f"must be whole numbers separated by commas (5,3,7) or an .npy file, got {text!r}")
    return np.array([int(p) for p in parts], dtype=np.int64)
