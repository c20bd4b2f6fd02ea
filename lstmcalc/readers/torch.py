"""PyTorch files: ``torch.save`` zips (``.pt`` / ``.pth`` / ``.bin``: names, shapes and dtypes
first with ``map_location="meta"``, then only the found layers' storages, mapped in place),
legacy (pre-zip) pickles and TorchScript archives (``.jit``), read whole after their declared
sizes are checked. torch is imported only inside the functions."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping

import numpy as np

from ..dtypes import WEIGHT_DTYPES
from ..errors import FileError
from .flat import flat_layers
from .found import FoundLayer, need
from .limits import (MAX_PICKLE_BYTES, ZIP_ERRORS, Budget, check_zip_member, declared_array, declared_bytes,
                     first_line, is_zip, regular_file, size_text)

TORCHSCRIPT_FIX = ("torch.jit.load(path).state_dict(), then torch.save(state_dict, 'weights.pt') or "
                   "safetensors.torch.save_file(state_dict, 'weights.safetensors')")


def read_torch(file: str) -> list[FoundLayer]:
    """A ``torch.save`` zip: names, shapes and dtypes first (``map_location="meta"``: only
    ``data.pkl`` is read), the layers found from them; then only those layers' tensors are
    read, from storages mapped in place (``mmap=True``), their declared sizes taken from the
    memory budget first. A legacy (pre-zip) pickle or a TorchScript archive is read whole,
    after every declared size is checked."""
    _, size = regular_file(file)
    with open(file, "rb") as fh:
        head = fh.read(1)
    zipped = is_zip(file)
    if not zipped and head != b"\x80":  # torch.save writes a zip; before 1.6, a pickle
        need("torch", file, "PyTorch files")
        raise FileError(
            f"{file}: not a PyTorch file, or a truncated one (torch.save writes a zip archive; this is no complete zip)"
        )
    scripted = False
    if zipped:
        _check_torch_zip(file, size, budget=False)
        scripted = _torchscript_archive(file)
        if scripted:
            _check_torch_zip(file, size, budget=True)  # torch.jit.load reads every member
    try:
        torch = need("torch", file, "PyTorch files")
    except FileError:
        if scripted:
            raise FileError(f"{file}: a TorchScript archive; reading its tensors needs torch "
                            f"(pip install torch): {TORCHSCRIPT_FIX}") from None
        raise
    if not zipped or scripted:
        return flat_layers(file, _torch_arrays(file, _torch_tensors(file, _torch_load(file, torch, scripted))))
    tensors = _torch_tensors(file, _torch_load(file, torch, False, map_location="meta"))
    declared = {name: declared_array(file, name, tuple(t.shape), _torch_numpy_dtype(file, name, t))
                for name, t in tensors.items()}
    budget = Budget(file)

    def load(names: list[str]) -> dict[str, np.ndarray]:
        for name in names:
            budget.take(name, declared_bytes(declared[name].shape, declared[name].dtype.itemsize))
        _stored_storages(file)  # mmap maps a member's bytes as they lie in the file
        mapped = _torch_tensors(file, _torch_load(file, torch, False, map_location="cpu", mmap=True))
        return _torch_arrays(file, {name: mapped[name] for name in names})

    return flat_layers(file, declared, load)


def _torch_load(file: str, torch, scripted: bool, map_location: str = "cpu", mmap: bool = False):
    """``torch.load(file, weights_only=True, ...)`` (``torch.jit.load(...).state_dict()`` for a
    TorchScript archive), every failure a one-line :class:`FileError`."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols on the way to its error
            if scripted:  # TorchScript's own unpickler, which builds tensors and TorchScript objects only
                return torch.jit.load(file, map_location="cpu").state_dict()
            return torch.load(file, weights_only=True, map_location=map_location, mmap=mmap)
    except MemoryError:
        raise FileError(f"{file}: the tensors it declares do not fit in the memory available") from None
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, OSError, KeyError, ... for bad files
        text = str(e)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise FileError(
                f"{file}: holds a pickled Python object ({found[1]}), not only tensors; lstmcalc loads PyTorch "
                "files only with weights_only=True and never unpickles: where you trust the file, "
                "torch.load(path, weights_only=False).state_dict(), then torch.save(state_dict, 'weights.pt') or "
                "safetensors.torch.save_file(state_dict, 'weights.safetensors')"
            ) from None
        alloc = re.search(r"you tried to allocate (\d+) bytes", text)
        if alloc:  # a legacy (pre-zip) pickle declares its storages' sizes inside the pickle
            raise FileError(
                f"{file}: declares a tensor storage of {size_text(int(alloc[1]))}, more than the memory available"
            ) from None
        if scripted:
            raise FileError(f"{file}: a TorchScript archive torch.jit.load could not read ({first_line(e)}); "
                            f"where it loads: {TORCHSCRIPT_FIX}") from None
        reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        detail = reason[1].strip() if reason else f"{type(e).__name__}: {first_line(e)}"
        raise FileError(f"{file}: not a PyTorch state_dict file, or a truncated one ({detail})") from None


def _torch_tensors(file: str, obj) -> dict:
    """{dotted name: tensor} of a state_dict (nested dicts of a checkpoint joined with ``.``)."""
    import torch

    if isinstance(obj, torch.Tensor):
        raise FileError(f"{file}: holds one tensor, not a state_dict of named tensors")
    if not isinstance(obj, Mapping):
        raise FileError(f"{file}: holds a {type(obj).__name__}, not a state_dict (a dict of named tensors)")
    flat: dict = {}

    def flatten(mapping: Mapping, prefix: str):
        for key, value in mapping.items():
            if isinstance(value, torch.Tensor):
                flat[prefix + str(key)] = value
            elif isinstance(value, Mapping):
                flatten(value, f"{prefix}{key}.")

    flatten(obj, "")
    if not flat:
        raise FileError(f"{file}: the state_dict holds no tensors")
    return flat


def _not_plain(file: str, name: str, t) -> FileError:
    return FileError(f"{file}: {name}: a {t.dtype} tensor ({t.layout}), not plain numbers; "
                     f"allowed: {', '.join(WEIGHT_DTYPES)}")


def _torch_numpy_dtype(file: str, name: str, t) -> np.dtype:
    """The NumPy dtype a tensor is read as (bfloat16 and float8 as float32), from its dtype alone."""
    import torch

    if t.layout != torch.strided or t.is_quantized:
        raise _not_plain(file, name, t)
    if t.dtype == torch.bfloat16 or str(t.dtype).startswith("torch.float8"):
        return np.dtype(np.float32)
    try:
        return torch.empty(0, dtype=t.dtype).numpy().dtype
    except (TypeError, RuntimeError):
        raise _not_plain(file, name, t) from None


def _torch_arrays(file: str, tensors: dict) -> dict[str, np.ndarray]:
    """The tensors as NumPy arrays (copies: nothing stays mapped), bfloat16 and float8 as float32."""
    import torch

    out = {}
    for name, value in tensors.items():
        t = value.detach().cpu()
        if t.dtype in (torch.bfloat16,) or str(t.dtype).startswith("torch.float8"):
            t = t.float()
        try:
            out[name] = np.array(t.numpy())
        except (TypeError, RuntimeError):  # quantized, sparse, meta or other tensors NumPy cannot hold
            raise _not_plain(file, name, t) from None
    return out


def _stored_storages(file: str) -> None:
    """Refuse a ``torch.save`` zip whose tensor data is compressed: torch.save stores it
    uncompressed, and a mapped (``mmap=True``) deflated member would read as its compressed bytes."""
    try:
        with zipfile.ZipFile(file) as z:
            packed = [i.filename for i in z.infolist() if "/data/" in i.filename and i.compress_type != 0]
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({first_line(e)})") from None
    if packed:
        raise FileError(f"{file}: {packed[0]}: tensor data compressed in the zip; torch.save stores it "
                        "uncompressed, and lstmcalc reads it in place without inflating: save it again with "
                        "torch.save")


def _torchscript_archive(file: str) -> bool:
    """A ``torch.jit.save`` zip: ``<archive>/constants.pkl`` and ``<archive>/code/`` beside
    ``data.pkl`` (torch.save writes neither). Refused (FileError) when its code defines a
    ``__setstate__``: torch.jit.load runs those TorchScript methods while it loads, and
    lstmcalc runs no code from a file. The members' sizes are checked (_check_torch_zip) first."""
    try:
        with zipfile.ZipFile(file) as z:
            names = z.namelist()
            roots = {n.split("/", 1)[0] for n in names if "/" in n}
            if len(roots) != 1:
                return False
            root = roots.pop()
            code = [n for n in names if n.startswith(f"{root}/code/") and n.endswith(".py")]
            if not code and f"{root}/constants.pkl" not in names:
                return False
            for name in code:
                if b"__setstate__" in z.read(name):
                    raise FileError(f"{file}: a TorchScript archive whose {name} defines __setstate__, code that "
                                    f"torch.jit.load runs while loading; lstmcalc runs no code from a file. Where "
                                    f"you trust it: {TORCHSCRIPT_FIX}")
            return True
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({first_line(e)})") from None


def _check_torch_zip(file: str, size: int, budget: bool) -> None:
    """Every member of a ``torch.save`` zip, by its declared size, before torch reads one:
    the pickle at most 64 MiB, each storage within the file and (``budget``: a reader that
    reads every member) all of them within the budget."""
    budget = Budget(file) if budget else None
    try:
        with zipfile.ZipFile(file) as z:
            for info in z.infolist():
                if info.filename.endswith(".pkl"):
                    check_zip_member(file, info, size, None, cap=MAX_PICKLE_BYTES)
                else:
                    check_zip_member(file, info, size, budget)
    except FileError:
        raise
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({first_line(e)})") from None
