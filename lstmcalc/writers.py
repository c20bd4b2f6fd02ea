"""Every file lstmcalc writes, through :func:`lstmcalc.atomic.write_atomic` (a temporary file
in the target's folder, then a rename: a failure leaves nothing half-written, and no target
is one of the command's inputs): ``run --save`` results, ``convert`` outputs (``.npz``,
Flax ``.msgpack``, ONNX ``.onnx``) and ``--plot`` figures (NumPy; flax and onnx imported
only by the writer that needs them)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np

from . import frameworks
from .atomic import check_target, write_atomic
from .errors import FileError
from .spec import LayerSpec, SpecError


def check_output_path(path: str, option: str = "--output", inputs: Iterable = ()) -> None:
    """An ``.npz`` path that can be written without losing anything, checked before any work:
    :class:`SpecError` for another extension (a bad option), :class:`FileError` for a
    directory, a missing or unwritable folder, or one of ``inputs`` (see
    :func:`lstmcalc.atomic.check_target`)."""
    check_target(path, option, inputs)  # first: a directory or device is refused as a path (exit 1)
    if not str(path).endswith(".npz"):
        raise SpecError("save" if option == "--save" else "output", f"{path!r} must end in .npz")


def msgpack_targets() -> tuple[str, ...]:
    """The conventions whose weights are one Flax tree (``WRITES`` .msgpack)."""
    return frameworks.writing(".msgpack")


def model_target() -> str:
    """The convention a runnable .onnx model holds (``WRITES`` .onnx; write_onnx_weights)."""
    (name,) = frameworks.writing(".onnx")
    return name
FLAX_EXTRA = "pip install 'lstmcalc[flax]'"


def need_flax(option: str = "--output"):
    """``flax.serialization``, or a one-line :class:`FileError` naming the extra to install."""
    try:
        from flax import serialization
    except ImportError:
        raise FileError(f"{option}: writing a .msgpack needs flax; install it with {FLAX_EXTRA}") from None
    return serialization


def save_npz(path, result, spec: LayerSpec | None = None, inputs=()) -> None:
    """Write a :class:`~lstmcalc.cells.ForwardResult` to ``path`` as ``.npz`` (see
    :func:`result_arrays`) through :func:`lstmcalc.atomic.write_atomic`: a temporary file in
    the same folder, then a rename, so a failure leaves no half-written file.
    :class:`FileError` names the file when it cannot be written: a missing or unwritable
    folder, a directory or device, or one of ``inputs`` (the files the run read)."""
    from .weights import result_arrays

    arrays = result_arrays(result, spec)
    write_atomic(os.fspath(path), lambda f: np.savez(f, **arrays), "--save", inputs)


def save_arrays(path: str, arrays: Mapping[str, np.ndarray], option: str = "--output", inputs: Iterable = ()) -> None:
    """Write ``arrays`` to an ``.npz`` atomically (:func:`lstmcalc.atomic.write_atomic`): a
    failure never leaves a half-written file behind, and the target is never an input."""
    check_output_path(path, option, inputs)
    write_atomic(path, lambda f: np.savez(f, **arrays), option, inputs)


def save_msgpack(path: str, arrays: Mapping[str, np.ndarray], target: str, option: str = "--output",
                 inputs: Iterable = ()) -> None:
    """Write a Flax convention's tensors (``ii/kernel``, ``dense_h/bias``, ...) as the nested
    parameter tree ``flax.serialization.msgpack_serialize`` writes (the cell's tree, as
    ``flatten_dict(params, sep='/')`` names it; ``msgpack_restore`` gives it back), atomically.
    :class:`SpecError` for a target whose weights are not a Flax tree."""
    if target not in msgpack_targets():
        raise SpecError("output", f"{path!r} is a Flax .msgpack, written for --to {', '.join(msgpack_targets())}; "
                                  f"--to {target} writes an .npz")
    serialization = need_flax(option)
    tree: dict = {}
    for key, a in arrays.items():
        *parents, leaf = key.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = np.ascontiguousarray(a)
    data = serialization.msgpack_serialize(tree)
    write_atomic(path, lambda f: f.write(data), option, inputs)


def write_onnx_weights(path, arrays, *, cell: str, reset_after: bool = True, activation: str = "tanh") -> None:
    """Write ONNX tensors (``W``, ``R``, ``B``, ``P``, or ``layer{k}/W``, ...) as a runnable
    model with :func:`write_onnx_model`: sizes and direction from the shapes,
    ``linear_before_reset`` = 1 when ``reset_after`` (GRU), RNN ``activation`` tanh or relu."""
    from .readers.onnx import write_onnx_model

    keys = list(arrays)
    stacked = any("/" in k for k in keys)
    count = 1 + max((int(k.split("/")[0][5:]) for k in keys if "/" in k), default=0)
    layers = []
    for k in range(count):
        prefix = f"layer{k}/" if stacked else ""
        layers.append({s: arrays[prefix + s] for s in ("W", "R", "B", "P") if prefix + s in arrays})
    r, w = layers[0]["R"], layers[0]["W"]
    d = int(r.shape[0])
    acts = None
    if cell == "rnn" and activation != "tanh":
        acts = [{"relu": "Relu", "tanh": "Tanh"}[activation]] * d
    write_onnx_model(path, layers, cell=cell, hidden_size=int(r.shape[2]), input_size=int(w.shape[2]),
                     direction="bidirectional" if d == 2 else "forward",
                     linear_before_reset=1 if cell == "gru" and reset_after else 0, activations=acts)


def write_figure(path: str, fig, fmt: str, dpi: int, option: str = "--plot") -> None:
    """Save a matplotlib figure as ``fmt`` (png, svg) at ``dpi``, atomically."""
    write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi), option)
