"""Flat files, a ``{name: array}`` each: ``.npz`` and ``.safetensors`` (names, shapes and
dtypes from their headers first, then only the found layers' arrays), ``.msgpack`` (a Flax
tree, read whole after the file's size is taken from the memory budget: msgpack is not
compressed); and finding layers in flat names (:func:`flat_layers`): one layer's own names,
module prefixes, PyTorch names grouped by prefix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .. import frameworks
from ..tensors import TORCH_NAME, candidate_frameworks, infer_framework
from ..tensors import infer_layer_spec as _infer_spec
from ..errors import FileError
from ..spec import SpecError
from .found import FoundLayer, found_layer, need, plain
from .limits import (SAFETENSORS_DTYPES, SAFETENSORS_TYPES, Budget, check_npz, declared_array, declared_bytes,
                     first_line, load_npz_members, regular_file, safetensors_header)


def read_safetensors(file: str) -> list[FoundLayer]:
    """Names, shapes and dtypes from the header first (checked by hand: length, JSON,
    offsets, sizes), the layers found from them; then only those layers' tensors are read."""
    need("safetensors.numpy", file, ".safetensors files")
    from safetensors import safe_open

    _, size = regular_file(file)
    tensors = safetensors_header(file, size, None)  # before safetensors reads; memory taken per tensor read
    if not tensors:
        raise FileError(f"{file}: holds no tensors")
    declared = {name: declared_array(file, name, info["shape"], SAFETENSORS_TYPES[info["dtype"]][1] or "<f4")
                for name, info in tensors.items()}
    budget = Budget(file)

    def load(names: list[str]) -> dict[str, np.ndarray]:
        for name in names:
            budget.take(name, declared_bytes(tensors[name]["shape"], SAFETENSORS_DTYPES[tensors[name]["dtype"]]))
        out = {}
        try:
            with safe_open(file, framework="np") as f:
                for name in names:
                    try:
                        out[name] = f.get_tensor(name)
                    except TypeError as e:
                        if "bfloat16" not in str(e):
                            raise
                        out.update(_safetensors_bfloat16(file, {name: tensors[name]}))  # NumPy has no bfloat16
        except FileError:
            raise
        except Exception as e:  # SafetensorError, TypeError: a dtype NumPy cannot hold, ...
            raise FileError(f"{file}: not a readable safetensors file ({first_line(e)})") from None
        return out

    return flat_layers(file, declared, load)


def _safetensors_bfloat16(file: str, tensors: dict) -> dict[str, np.ndarray]:
    """A safetensors file with bfloat16 tensors, read as float32 (bfloat16 is float32's top 16 bits).

    Layout (huggingface/safetensors): u64 little-endian header size N, N bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, then the data. ``tensors``:
    that header, already checked by :func:`lstmcalc.readers.limits.safetensors_header`.
    """
    out = {}
    with open(file, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        for name, info in tensors.items():
            begin, end = info["data_offsets"]
            fh.seek(8 + size + begin)
            raw = fh.read(end - begin)
            if info["dtype"] == "BF16":
                a = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")  # (N,) float32
            elif SAFETENSORS_TYPES[info["dtype"]][1] is not None:
                a = np.frombuffer(raw, SAFETENSORS_TYPES[info["dtype"]][1])
            else:
                raise FileError(f"{file}: {name}: dtype {info['dtype']} is not one lstmcalc reads")
            out[name] = a.reshape(info["shape"]).copy()
    return out


def read_npz(file: str) -> list[FoundLayer]:
    """Names, shapes and dtypes from the ``.npy`` headers first (check_npz: a zip of .npy
    members whose declared sizes fit the file), the layers found from them; then only those
    layers' members are inflated, their declared sizes taken from the memory budget first."""
    members = check_npz(file, budget=False)
    if not members:
        raise FileError(f"{file}: holds no arrays")
    declared = {name: declared_array(file, member, shape, dtype) for name, (member, shape, dtype) in members.items()}
    budget = Budget(file)

    return flat_layers(file, declared, lambda names: load_npz_members(file, members, names, budget))


def read_msgpack(file: str) -> list[FoundLayer]:
    """A Flax parameter tree (``flax.serialization.msgpack_serialize``), flattened with
    ``/``; a top-level ``params`` collection is stepped into. Read whole (msgpack has no
    index to read names by), after twice the file's size is taken from the memory budget."""
    try:
        from flax import serialization
    except ImportError:
        raise FileError(f"{file}: reading .msgpack files needs the flax package: pip install flax") from None
    # msgpack is not compressed: what is read is bounded by the file's size. The file's bytes and
    # the arrays restored from them (each a copy of its bytes) are taken from the budget first.
    _, size = regular_file(file)
    Budget(file).take("its msgpack tree (the file's bytes and the arrays restored from them)", 2 * size)
    with open(file, "rb") as fh:
        raw = fh.read()
    try:
        tree = serialization.msgpack_restore(raw)
    except Exception as e:  # msgpack raises ExtraData, UnpackValueError, ValueError, ... for bad bytes
        raise FileError(f"{file}: not a readable Flax msgpack file ({first_line(e)})") from None
    if not isinstance(tree, Mapping):
        raise FileError(f"{file}: holds a {type(tree).__name__}, not a parameter tree (a dict of arrays)")
    if isinstance(tree.get("params"), Mapping):
        tree = tree["params"]
    flat: dict[str, np.ndarray] = {}

    def flatten(mapping: Mapping, prefix: str):
        for key, value in mapping.items():
            if isinstance(value, Mapping):
                flatten(value, f"{prefix}{key}/")
            else:
                flat[f"{prefix}{key}"] = np.asarray(value)

    flatten(tree, "")
    if not flat:
        raise FileError(f"{file}: the tree holds no arrays")
    return flat_layers(file, flat)


def _group_spec(names: dict, framework: str):
    """(spec, errors, others): the layer ``names`` hold in the first candidate framework
    whose shapes fit (Keras 3 and Keras 2 CuDNN share their names: the bias shape decides),
    with the other candidates that fit as well (names and shapes that two conventions share
    exactly: never guessed between); else (None, the errors, ())."""
    specs, errors = [], []
    for fw in candidate_frameworks(names) or [framework]:
        try:
            specs.append(_infer_spec(names, framework=fw))
        except (FileError, SpecError) as e:
            errors.append(e)
    if not specs:
        return None, errors, ()
    return specs[0], errors, tuple(s.framework for s in specs[1:])


PATH_SEP = re.compile(r"[/.]")
NAME_PARTS = 4  # no framework's own name has more parts (Keras' layer1/backward/recurrent_kernel has 3)


def _prefix_groups(flat: dict) -> dict[str, dict[str, np.ndarray]]:
    """{module prefix: {name under it: array}} for names that end in a registered
    framework's own names: each name is split at its longest such ending (``params/cell/
    ii/kernel`` → ``params/cell/`` + Flax's ``ii/kernel``, not Keras' ``kernel``; MLX's
    ``lstm.Wx`` → ``lstm.`` + ``Wx``). Names with no such ending are left out."""
    modules = [frameworks.get(n) for n in frameworks.names()]
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        cuts = [m.end() for m in PATH_SEP.finditer(key)][-NAME_PARTS:]  # bounded work for hostile names
        for cut in cuts:  # the shortest prefix first: the longest recognised ending
            tail = key[cut:]
            if any(m.recognises(tail) for m in modules):
                groups.setdefault(key[:cut], {})[tail] = value
                break
    return groups


def _loaded(weights: dict, location: str, load) -> dict:
    """``weights`` (stand-ins for what a file declares) replaced by the arrays ``load`` reads
    for them, keyed as before; the file names each ``location + key``. Without ``load``,
    ``weights`` already are the arrays."""
    if load is None:
        return weights
    arrays = load([location + key for key in weights])
    return {key: plain(np.asarray(arrays[location + key])) for key in weights}


def _prefixed_layers(file: str, flat: dict, load=None) -> list[FoundLayer]:
    """The recurrent layers of a model file whose names carry module prefixes: every prefix
    group that is one whole layer of one framework. Groups that are not (a Dense head's
    ``kernel`` and ``bias``) are left out, as PyTorch names that are not RNN names are."""
    found = []
    for prefix, names in _prefix_groups(flat).items():
        try:
            framework = infer_framework(names)
        except FileError:
            continue
        spec, _, others = _group_spec(names, framework)
        if spec is not None:
            found.append((prefix.rstrip("/.") or Path(file).stem, spec, names, prefix, others))
    return [found_layer(name, spec, _loaded(names, prefix, load), file, prefix, also=others)
            for name, spec, names, prefix, others in found]


def flat_layers(file: str, flat: dict[str, np.ndarray], load=None) -> list[FoundLayer]:
    """Layers in a flat {name: array}: one layer's own names (any registered framework), the
    layers of a model whose names carry module prefixes (``lstm.Wx``, ``params/RNN_0/cell/
    ii/kernel``: see :func:`_prefix_groups`), or PyTorch names grouped by prefix.

    With ``load``, ``flat`` holds what the file declares (:func:`lstmcalc.readers.limits.declared_array`
    stand-ins): every layer is found, and every name and shape checked, from those alone;
    then ``load(names)`` reads the arrays of the layers found, and nothing else."""
    flat = {k: plain(np.asarray(v)) for k, v in flat.items()}
    torch_keys = [k for k in flat if TORCH_NAME.match(k)]
    if not torch_keys:
        try:
            framework = infer_framework(flat)
        except FileError:
            found = _prefixed_layers(file, flat, load)
            if found:
                return found
            shown = ", ".join(sorted(flat)[:6]) + (", …" if len(flat) > 6 else "")
            raise FileError(
                f"{file}: no recurrent layer: no PyTorch RNN names (weight_ih_l0, …) or Keras keys "
                f"(kernel, recurrent_kernel, …) among {shown}"
            ) from None
        spec, errors, others = _group_spec(flat, framework)
        if spec is None:
            raise FileError(f"{file}: {errors[0]}") from None
        return [found_layer(Path(file).stem, spec, _loaded(flat, "", load), file, "", also=others)]
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key in torch_keys:
        m = TORCH_NAME.match(key)
        groups.setdefault(m["prefix"], {})[key[len(m["prefix"]):]] = flat[key]
    found = []
    for prefix, weights in groups.items():
        try:
            spec = _infer_spec(weights, framework="torch")
        except (FileError, SpecError) as e:
            raise FileError(f"{file}: {prefix}{e}") from None
        found.append((prefix.rstrip(".") or spec.cell, spec, weights, prefix))
    found = [found_layer(name, spec, _loaded(weights, prefix, load), file, prefix) for name, spec, weights, prefix in found]
    # beside nn.LSTM/GRU/RNN modules, cells (nn.LSTMCell's weight_ih, ...) and other
    # conventions' layers under their own prefixes
    rest = {k: v for k, v in flat.items() if not TORCH_NAME.match(k)}
    found += _prefixed_layers(file, rest, load) if rest else []
    return found
