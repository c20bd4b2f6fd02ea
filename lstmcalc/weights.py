"""Weights as data: infer a layer from its tensors, make the frameworks' default
initial weights, and read and write ``.npz`` / ``.npy`` files (NumPy).

Tensor names are :func:`lstmcalc.frameworks.weights_key`'s: PyTorch ``state_dict`` names
(``weight_ih_l0``, ``bias_hh_l1_reverse``, ``weight_hr_l0``) or our Keras keys (``kernel``,
``recurrent_kernel``, ``bias``; ``layer{k}/{forward|backward}/{name}`` for a stack or a
bidirectional layer). Which tensors a layer has, and their shapes, come from
:func:`lstmcalc.frameworks.all_tensors`; nothing here repeats those rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache

import numpy as np

from . import frameworks
from .frameworks import all_tensors, weights_key
from .tensors import check_tensors, describe_allowed, infer_layer_spec, unknown_options
from .errors import FileError
from .frameworks import make_spec
from .frameworks.shared import describe as _describe
from .dtypes import COMPUTE_DTYPES, WEIGHT_DTYPES
from .readers.limits import (Budget, check_npz, check_numbers, declared_array, load_npz_members,
                             declared_bytes, first_line, npy_header, regular_file)
from .memory import check_bytes, itemsize, weight_elements
from .spec import CELLS, MERGE_MODES, VARIANTS, LayerSpec, SpecError, refuse_shaped_only

__all__ = ["FileError", "infer_spec", "init_weights", "load_inputs", "load_npz"]

GIVEN = ("units", "input_size", "bias", "proj_size", "reset_after", "merge_mode", "activation",
         "batch", "time", "return_sequences", "return_state", "peepholes", "layout", "direction",
         "recurrent_activation") + tuple(VARIANTS)
FLOAT_DTYPES = WEIGHT_DTYPES


# --- inference --------------------------------------------------------------------------------


def infer_spec(
    weights: Mapping[str, np.ndarray],
    *,
    cell: str,
    framework: str,
    bidirectional: bool | None = None,
    layers: int | None = None,
    **given,
) -> LayerSpec:
    """The :class:`LayerSpec` that the names and shapes of ``weights`` describe.

    ``weights``: {name: array}, names as :func:`~lstmcalc.frameworks.weights_key` gives.
    Units, input size, layers, bidirectional, proj_size, bias and (Keras GRU, from the bias
    shape) reset_after are read from the tensors. ``given`` may hold any :func:`make_spec`
    keyword (``units``, ``input_size``, ``bias``, ``proj_size``, ``reset_after``,
    ``merge_mode``, ``activation``, ``batch``, ``time``, ...); each overrides the inferred
    value, and the tensors are then checked against the resulting spec.

    Raises :class:`SpecError` (one line) for a bad option, a given size that disagrees with
    the tensors, a missing or extra tensor, or a shape that contradicts the others; the
    message names the tensor and the expected and actual shapes.
    """
    refuse_shaped_only(cell, "a weights file")
    if cell not in CELLS:
        raise SpecError("cell", f"must be one of {', '.join(CELLS)}, got {cell!r}")
    frameworks.get(framework)  # SpecError naming the registered frameworks
    unknown = sorted(set(given) - set(GIVEN))
    if unknown:
        raise SpecError(unknown[0], f"is not a layer option; allowed: {', '.join(GIVEN)}")
    if not isinstance(weights, Mapping):
        raise SpecError("weights", f"must be a mapping of tensor names to arrays, got {type(weights).__name__}")
    bad_key = next((k for k in weights if not isinstance(k, str)), None)
    if bad_key is not None:
        raise SpecError("weights", f"tensor names must be strings, got {bad_key!r}")
    try:
        found = infer_layer_spec(
            weights,
            framework=framework,
            cell=cell,
            bidirectional=bidirectional,
            layers=layers,
            reset_after=given.get("reset_after") if cell == "gru" else None,
        )
    except FileError as e:
        raise SpecError("weights", str(e)) from None
    for name, allowed in unknown_options(found).items():  # what the tensors cannot show: ask
        value = given.get(name)
        if value is None:
            raise SpecError(name, f"is needed: the weights of this {_describe(found)} do not say it; "
                                  f"allowed here: {describe_allowed(allowed)}")
        if name == "merge_mode" and value in MERGE_MODES and value not in allowed:
            key = weights_key(found, next(t for t in all_tensors(found) if t.layer == 1 and t.role == "input"))
            raise SpecError(name, f"is {value}, but {key} has shape {expected_shapes(found)[key]}, "
                                  f"which a {describe_allowed(allowed)} merge gives")
    options = {
        "units": found.units,
        "input_size": found.input_size,
        "cell": cell,
        "framework": framework,
        "bias": found.bias,
        "bidirectional": found.bidirectional,
        "layers": found.layers,
        "proj_size": found.proj_size,
        "reset_after": found.reset_after if cell == "gru" else None,
        "merge_mode": found.merge_mode if "merge_mode" in frameworks.get(framework).OPTIONS and found.bidirectional else None,
        "peepholes": found.peepholes,
        **{k: getattr(found, k) for k in VARIANTS if getattr(found, k) != VARIANTS[k]},
    }
    options.update(given)
    spec = make_spec(**options)
    if expected_shapes(spec) != expected_shapes(replace(found, batch=spec.batch, time=spec.time)):
        check_tensors(weights, spec, SpecError)  # the given options changed what the tensors must be
    return spec


@lru_cache(maxsize=256)
def expected_shapes(spec: LayerSpec) -> dict[str, tuple[int, ...]]:
    """{weights key: shape} of every tensor of ``spec`` (cached: specs are frozen; callers
    must not mutate the dict)."""
    return {weights_key(spec, t): t.shape for t in all_tensors(spec)}


# --- default initialisation --------------------------------------------------------------------


def init_weights(spec: LayerSpec, seed: int = 0, dtype="float32") -> dict[str, np.ndarray]:
    """The framework's default initial weights for ``spec``, keyed as ``weights_key`` gives.

    Keras 3: ``kernel`` (X, G·H) glorot_uniform, U(±sqrt(6 / (X + G·H))); ``recurrent_kernel``
    (H, G·H) orthogonal (rows orthonormal); ``bias`` zeros, with the LSTM forget block set to 1
    (``unit_forget_bias=True``). PyTorch: every tensor U(−1/√H, 1/√H), ``weight_hr`` included
    (torch/nn/modules/rnn.py ``reset_parameters``). Random numbers come from
    ``numpy.random.default_rng(seed)``, tensor by tensor in ``all_tensors`` order (the same
    distributions as the frameworks, not their random streams).

    Raises :class:`SizeError` before allocating when the weights alone do not fit in memory.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError("seed", f"must be a whole number >= 0, got {seed!r}")
    dt = np.dtype(dtype) if not isinstance(dtype, str) or dtype in FLOAT_DTYPES else None
    if dt is None or dt.name not in COMPUTE_DTYPES:
        raise SpecError("dtype", f"must be {' or '.join(COMPUTE_DTYPES)}, got {dtype!r}")
    check_bytes(2 * weight_elements(spec) * itemsize(dt), f"the weights of this layer ({weight_elements(spec):,} numbers)")
    rng = np.random.default_rng(seed)
    return frameworks.of(spec).init_weights(spec, rng, dt)


# --- files ------------------------------------------------------------------------------------


def _existing_file(path) -> tuple[str, int]:
    """(path, size) of a readable regular file: no directory, FIFO or device."""
    return regular_file(path)




def _check_float(file: str, name: str, a: np.ndarray, allowed=FLOAT_DTYPES) -> None:
    if a.dtype.name not in allowed:
        raise FileError(f"{file}: {name} has dtype {a.dtype}; allowed: {', '.join(allowed)}")
    finite = np.isfinite(a)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise FileError(
            f"{file}: {name} holds {int((~finite).sum())} NaN or inf value(s), the first at index {first}"
        )


def load_npz(path, check: Callable[[dict[str, np.ndarray]], object] | None = None) -> dict[str, np.ndarray]:
    """{name: array} from an ``.npz`` weights file (``allow_pickle=False``).

    Each array must be a float (float16/32/64) vector, matrix or (ONNX ``W``, ``R``) 3-D array with finite values. Names,
    shapes, dtypes and ranks are read from the ``.npy`` headers and checked before any data
    is inflated: ``check`` (e.g. ``lambda w: infer_spec(w, cell=..., framework=...)``) is
    called with stand-ins of the declared shapes and dtypes (values meaningless), so a file
    whose tensors are missing, extra or inconsistent for the layer is refused however large
    its members claim to be; then the declared sizes are taken from the memory budget, and
    only then is data read. Raises :class:`FileError` (one line, naming the file) for a
    missing, damaged or non-``.npz`` file, object arrays, other dtypes, other ranks, and
    NaN/inf; whatever ``check`` raises passes through.
    """
    file, _ = _existing_file(path)
    members = check_npz(file, budget=False)  # a zip of .npy members whose headers fit the file
    if not members:
        raise FileError(f"{file}: holds no arrays")
    for name, (_, shape, dtype) in members.items():
        if len(shape) not in (1, 2, 3):  # 3: ONNX W [D, G·H, X], R [D, G·H, H]
            raise FileError(f"{file}: {name} has shape {shape}; a weight is a vector, a matrix or (ONNX W, R) "
                            "a 3-dimensional [D, G·H, ·]")
        if dtype.name not in FLOAT_DTYPES:
            raise FileError(f"{file}: {name} has dtype {dtype}; allowed: {', '.join(FLOAT_DTYPES)}")
    if check is not None:
        check({name: declared_array(file, member, shape, dtype) for name, (member, shape, dtype) in members.items()})
    out = load_npz_members(file, members, list(members), Budget(file))
    if not out:
        raise FileError(f"{file}: holds no arrays")
    for name, a in out.items():
        if a.ndim not in (1, 2, 3):  # 3: ONNX W [D, G·H, X], R [D, G·H, H]
            raise FileError(f"{file}: {name} has shape {a.shape}; a weight is a vector, a matrix or (ONNX W, R) "
                            "a 3-dimensional [D, G·H, ·]")
        _check_float(file, name, a)
    check_numbers(file, out)  # and one dtype for all
    return out


def load_inputs(path, input_size: int | None = None) -> np.ndarray:
    """x (B, T, X) from an ``.npy`` file: float32 or float64, finite, 3 dimensions, none
    empty, and X = ``input_size`` when given. Raises :class:`FileError` (one line, naming
    the file) otherwise."""
    file, size = _existing_file(path)
    try:
        with open(file, "rb") as f:
            magic = f.read(6)
            if magic.startswith(b"PK\x03\x04"):
                raise FileError(f"{file}: is an .npz archive; inputs are one .npy array (batch, time, features)")
            if magic != b"\x93NUMPY":
                raise FileError(f"{file}: not a readable .npy array (no .npy header); save inputs with numpy.save")
            f.seek(0)
            shape, dtype = npy_header(file, "not a readable .npy array", f, size)  # before the array is allocated
    except OSError as e:
        raise FileError(f"{file}: cannot read ({e.strerror or first_line(e)})") from None
    Budget(file).take(f"the input array {shape} of {dtype}", declared_bytes(shape, dtype.itemsize))
    try:
        a = np.load(file, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise FileError(f"{file}: holds an object array, which needs unpickling; lstmcalc loads with allow_pickle=False") from None
        raise FileError(f"{file}: not a readable .npy array ({first_line(e)})") from None
    except (OSError, EOFError) as e:
        raise FileError(f"{file}: not a readable .npy array ({first_line(e)})") from None
    except MemoryError:
        raise FileError(f"{file}: the array {shape} of {dtype} does not fit in the memory available") from None
    if isinstance(a, np.lib.npyio.NpzFile):
        a.close()
        raise FileError(f"{file}: is an .npz archive; inputs are one .npy array (batch, time, features)")
    if a.ndim != 3 or 0 in a.shape:
        raise FileError(f"{file}: shape {a.shape}; inputs must be (batch, time, features), each >= 1")
    if input_size is not None and a.shape[2] != input_size:
        raise FileError(f"{file}: {a.shape[2]} features per step (shape {a.shape}), but the layer takes {input_size}")
    _check_float(file, "the input", a, allowed=COMPUTE_DTYPES)
    return a


def result_arrays(result, spec: LayerSpec | None = None) -> dict[str, np.ndarray]:
    """The arrays :func:`save_npz` writes: what the layer returns, in its order
    (:attr:`~lstmcalc.cells.ForwardResult.returned`) under its own names: PyTorch's
    ``output``, ``h_n`` and LSTM ``c_n``; ONNX's ``Y``, ``Y_h``, ``Y_c``; Keras' ``output``
    and with ``return_state`` ``h``, ``c`` (a Bidirectional layer: ``h_backward``,
    ``c_backward``)."""
    return dict(result.returned)


