"""Convert recurrent-layer weights between the Keras 3 and the PyTorch conventions (NumPy).

Per layer and direction, with H units and gate blocks in each framework's order
(``conventions.GATE_ORDER``: LSTM i, f, g, o in both; GRU Keras z, r, n, PyTorch r, z, n):

    Keras                              PyTorch
    kernel            (X, G·H)    <->  weight_ih_l{k}  (G·H, X)   transpose, reorder blocks
    recurrent_kernel  (H, G·H)    <->  weight_hh_l{k}  (G·H, H)   transpose, reorder blocks
    bias   LSTM/RNN   (G·H,)       ->  bias_ih = bias, bias_hh = 0
                                  <-   bias = bias_ih + bias_hh
    bias   GRU        (2, 3H)     <->  row 0 = bias_ih, row 1 = bias_hh (reset_after form)

Why the sums are exact: LSTM and SimpleRNN add both PyTorch biases to the same
pre-activation (``W_ih x + b_ih + W_hh h + b_hh``, torch/nn/modules/rnn.py), so one Keras
bias carries them. The GRU candidate keeps its recurrent bias inside the reset product,
``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`` (Cho et al. 2014, the form PyTorch and
Keras' ``reset_after=True`` share), so both rows must stay separate.

Two layers have no twin and are refused with a :class:`~lstmcalc.spec.SpecError`:
Keras GRU with ``reset_after=False`` (bias (3H,)) and PyTorch LSTM with ``proj_size``.
Tensors whose names or shapes contradict each other raise :class:`FileError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from .atomic import check_target, write_atomic
from .conventions import all_tensors, gate_order, weights_key
from .errors import FileError
from .spec import CELLS, FRAMEWORKS, LayerSpec, SpecError, make_spec


CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}
CELL_WORDS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN/RNN"}
A_CELL = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a SimpleRNN/RNN"}

# PyTorch state_dict names, optionally after a module prefix such as "encoder.lstm.".
TORCH_NAME = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<name>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
    r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
# Our Keras keys: bare, or layer{k}/{forward|backward}/{name} (conventions.weights_key).
KERAS_BARE = re.compile(r"^(?P<name>kernel|recurrent_kernel|bias)$")
KERAS_NESTED = re.compile(
    r"^layer(?P<layer>\d+)/(?P<direction>forward|backward)/(?P<name>kernel|recurrent_kernel|bias)$"
)

KERAS_HINT = "kernel, recurrent_kernel, bias or layer{k}/{forward|backward}/{name}"
TORCH_HINT = "weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k}, suffix _reverse"


def infer_framework(names: Iterable[str]) -> str:
    """``"torch"`` when every name is a PyTorch ``state_dict`` name (``weight_ih_l0``,
    ``encoder.lstm.weight_hh_l1_reverse``), ``"keras"`` when every name is one of our Keras
    keys (``kernel``, ``layer1/backward/recurrent_kernel``); otherwise :class:`FileError`.
    """
    names = list(names)
    if not names:
        raise FileError("no tensors: nothing to tell the framework from")
    torch_like = [bool(TORCH_NAME.match(n)) for n in names]
    keras_like = [bool(KERAS_BARE.match(n) or KERAS_NESTED.match(n)) for n in names]
    if all(torch_like):
        return "torch"
    if all(keras_like):
        return "keras"
    if any(torch_like) and any(keras_like):
        first_t = names[torch_like.index(True)]
        first_k = names[keras_like.index(True)]
        raise FileError(f"{first_t!r} is a PyTorch name but {first_k!r} is a Keras name; a file holds one framework")
    odd = next(n for n, t, k in zip(names, torch_like, keras_like) if not (t or k))
    raise FileError(
        f"{odd!r} is neither a Keras name ({KERAS_HINT}) nor a PyTorch state_dict name ({TORCH_HINT})"
    )


def _shape(a) -> tuple[int, ...]:
    return tuple(int(d) for d in np.shape(a))


def _as_array(key: str, value) -> np.ndarray:
    a = np.asarray(value)
    if a.dtype.kind not in "fiu":
        raise FileError(f"{key}: dtype {a.dtype} is not a real number type")
    return a


def _parse_names(names: Iterable[str], framework: str) -> dict[tuple[int, str, str], str]:
    """{(layer, direction, role): key}; role is the framework's tensor name without suffix."""
    parsed: dict[tuple[int, str, str], str] = {}
    bare = nested = False
    for key in names:
        if framework == "torch":
            m = TORCH_NAME.match(key)
            if not m or m["prefix"]:
                raise FileError(f"{key!r} is not a PyTorch RNN state_dict name ({TORCH_HINT})")
            slot = (int(m["layer"]), "backward" if m["reverse"] else "forward", m["name"])
        else:
            m = KERAS_BARE.match(key)
            if m:
                bare = True
                slot = (0, "forward", m["name"])
            else:
                m = KERAS_NESTED.match(key)
                if not m:
                    raise FileError(f"{key!r} is not a Keras weights key ({KERAS_HINT})")
                nested = True
                slot = (int(m["layer"]), m["direction"], m["name"])
        if bare and nested:
            raise FileError(
                f"{key!r}: bare Keras names (kernel) and layer{{k}}/{{direction}}/ names mixed in one set"
            )
        parsed[slot] = key
    return parsed


def _describe(spec: LayerSpec) -> str:
    parts = [f"{spec.framework} {CELL_WORDS[spec.cell]}", f"units {spec.units}", f"input {spec.input_size}"]
    if spec.layers > 1:
        parts.append(f"{spec.layers} layers")
    if spec.bidirectional:
        parts.append("bidirectional")
    if spec.proj_size:
        parts.append(f"proj_size {spec.proj_size}")
    if not spec.bias:
        parts.append("no bias")
    return ", ".join(parts)


def _cell_from_blocks(key: str, shape: tuple[int, ...], blocks: int, h: int, cell: str | None) -> str:
    found = CELL_BY_GATES.get(blocks)
    if cell is None:
        if found is None:
            raise FileError(
                f"{key}: shape {shape} holds {blocks} blocks of H={h}; an LSTM has 4, a GRU 3, a SimpleRNN 1"
            )
        return found
    want = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    if blocks != want:
        what = f"{A_CELL[found]}'s" if found else "no cell's"
        raise FileError(
            f"{key}: shape {shape} holds {blocks} gate blocks of H={h} ({what}), not the {want} of {A_CELL[cell]}"
        )
    return cell


def _infer_spec(
    weights: Mapping[str, np.ndarray],
    *,
    framework: str,
    cell: str | None = None,
    bidirectional: bool | None = None,
    layers: int | None = None,
    reset_after: bool | None = None,
) -> LayerSpec:
    """The :class:`LayerSpec` that the names and shapes of ``weights`` describe.

    ``weights`` use the keys of :func:`lstmcalc.conventions.weights_key` (PyTorch:
    bare ``state_dict`` names). ``cell``, ``bidirectional`` and ``layers`` are inferred
    when ``None`` and checked against the tensors otherwise. ``reset_after`` (Keras GRU)
    follows from the bias shape; without a bias it defaults to Keras' ``True``.
    Every tensor is checked against the shape the spec gives it: :class:`FileError`
    names the first one that contradicts the rest.
    """
    if not weights:
        raise FileError("no tensors")
    parsed = _parse_names(weights, framework)
    n_layers = max(layer for layer, _, _ in parsed) + 1
    bidir = any(direction == "backward" for _, direction, _ in parsed)
    if layers is not None and layers != n_layers:
        raise SpecError("layers", f"is {layers}, but the tensors describe {n_layers} layer(s)")
    if bidirectional is not None and bidirectional != bidir:
        found = "both directions" if bidir else "the forward direction only"
        raise SpecError("bidirectional", f"is {bidirectional}, but the tensors hold {found}")

    def get(layer: int, name: str) -> tuple[str, np.ndarray]:
        key = parsed.get((layer, "forward", name))
        if key is None:
            raise FileError(f"{name}: missing for layer {layer}, forward direction")
        return key, _as_array(key, weights[key])

    proj = 0
    if framework == "keras":
        rk_key, rk = get(0, "recurrent_kernel")
        if rk.ndim != 2 or rk.shape[0] == 0 or rk.shape[1] % rk.shape[0]:
            raise FileError(f"{rk_key}: shape {_shape(rk)} is not (H, G·H)")
        units = rk.shape[0]
        cell = _cell_from_blocks(rk_key, _shape(rk), rk.shape[1] // units, units, cell)
        k_key, kernel = get(0, "kernel")
        if kernel.ndim != 2:
            raise FileError(f"{k_key}: shape {_shape(kernel)} is not (X, G·H)")
        input_size = kernel.shape[0]
        bias_keys = [k for (layer, d, name), k in parsed.items() if name == "bias"]
        has_bias = bool(bias_keys)
        ra = None
        if cell == "gru":
            if has_bias:
                b_key = bias_keys[0]
                ra = np.ndim(weights[b_key]) == 2
                if reset_after is not None and reset_after != ra:
                    raise SpecError(
                        "reset_after",
                        f"is {reset_after}, but {b_key} has shape {_shape(weights[b_key])}"
                        f" ({'(2, 3H): reset_after=True' if ra else '(3H,): reset_after=False'})",
                    )
            else:
                ra = True if reset_after is None else reset_after
        merge = None
        if bidir:
            merge = "concat"
            if n_layers > 1:
                key1 = parsed.get((1, "forward", "kernel"))
                if key1 is not None and np.ndim(weights[key1]) == 2 and np.shape(weights[key1])[0] == units:
                    merge = "sum"  # sum, mul and ave all hand H features on; the weights cannot tell which
    else:
        hh_key, hh = get(0, "weight_hh")
        if hh.ndim != 2 or hh.shape[1] == 0:
            raise FileError(f"{hh_key}: shape {_shape(hh)} is not (G·H, H)")
        hr_key = parsed.get((0, "forward", "weight_hr"))
        if hr_key is not None:
            hr = _as_array(hr_key, weights[hr_key])
            if hr.ndim != 2:
                raise FileError(f"{hr_key}: shape {_shape(hr)} is not (P, H)")
            proj, units = hr.shape
            if hh.shape[1] != proj:
                raise FileError(
                    f"{hh_key}: shape {_shape(hh)} contradicts {hr_key} {_shape(hr)}: expected ({hh.shape[0]}, {proj})"
                )
        else:
            units = hh.shape[1]
        if hh.shape[0] % units:
            raise FileError(f"{hh_key}: shape {_shape(hh)} is not (G·H, H) for H={units}")
        cell = _cell_from_blocks(hh_key, _shape(hh), hh.shape[0] // units, units, cell)
        ih_key, ih = get(0, "weight_ih")
        if ih.ndim != 2:
            raise FileError(f"{ih_key}: shape {_shape(ih)} is not (G·H, X)")
        input_size = ih.shape[1]
        has_bias = any(name in ("bias_ih", "bias_hh") for _, _, name in parsed)
        ra = None
        merge = None
    try:
        spec = make_spec(
            units,
            input_size,
            cell=cell,
            framework=framework,
            bias=has_bias,
            bidirectional=bidir,
            layers=n_layers,
            proj_size=proj,
            reset_after=ra,
            merge_mode=merge,
        )
    except SpecError as e:
        raise FileError(f"the tensor shapes describe no real layer: {e}") from None
    _check_tensors(weights, spec)
    return spec


def _check_tensors(weights: Mapping[str, np.ndarray], spec: LayerSpec) -> None:
    """Every tensor the spec needs is there with its shape, and nothing else is."""
    expected = {weights_key(spec, t): t.shape for t in all_tensors(spec)}
    for key, shape in expected.items():
        if key not in weights:
            raise FileError(f"{key}: missing; the other tensors describe a {_describe(spec)}, which needs it {shape}")
        got = _shape(weights[key])
        if got != shape:
            raise FileError(f"{key}: shape {got} contradicts the other tensors ({_describe(spec)}): expected {shape}")
        _as_array(key, weights[key])
    for key in weights:
        if key not in expected:
            raise FileError(f"{key}: unexpected for a {_describe(spec)} (it has {len(expected)} tensors)")


def _reorder(a: np.ndarray, axis: int, units: int, src: tuple[str, ...], dst: tuple[str, ...]) -> np.ndarray:
    """Gate blocks of ``units`` along ``axis`` from order ``src`` to order ``dst``."""
    if src == dst:
        return a
    blocks = {g: np.take(a, range(k * units, (k + 1) * units), axis=axis) for k, g in enumerate(src)}
    return np.concatenate([blocks[g] for g in dst], axis=axis)


def convert_weights(
    weights: Mapping[str, np.ndarray],
    *,
    cell: str,
    source: str,
    target: str,
    bidirectional: bool | None = None,
    layers: int | None = None,
    reset_after: bool | None = None,
) -> dict[str, np.ndarray]:
    """The same layer's weights in the other framework's names, shapes and gate order.

    ``weights``: Keras keys (``kernel`` (X, G·H), ``recurrent_kernel`` (H, G·H), ``bias``
    (G·H,) or GRU (2, 3H); ``layer{k}/{forward|backward}/...`` for several layers or a
    backward direction) or PyTorch ``state_dict`` names (``weight_ih_l{k}`` (G·H, X_k),
    ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G·H,), ``_reverse``).
    ``bidirectional`` and ``layers`` are checked against the names when given.
    ``reset_after`` matters only for a bias-free Keras GRU, whose tensors cannot show it
    (default ``True``, Keras' own); with a bias it is read from the bias shape.

    Returns a new dict in the target framework's tensor order, dtypes kept. A Keras
    ``Bidirectional`` with ``merge_mode`` sum/mul/ave converts for one layer (PyTorch then
    returns the concatenation; merge it yourself) but not stacked, where layer 1 would
    read H features and PyTorch's reads 2H.
    """
    if cell not in CELLS:
        _bad_choice("cell", cell, CELLS)
    if source not in FRAMEWORKS:
        _bad_choice("source", source, FRAMEWORKS)
    if target not in FRAMEWORKS:
        _bad_choice("target", target, FRAMEWORKS)
    if source == target:
        raise SpecError("target", f"is the source framework too ({source}); nothing to convert")

    spec = _infer_spec(
        weights, framework=source, cell=cell, bidirectional=bidirectional, layers=layers, reset_after=reset_after
    )
    if source == "keras" and cell == "gru" and not spec.reset_after:
        raise SpecError(
            "reset_after",
            "Keras GRU with reset_after=False (bias (3H,)) has no PyTorch equivalent: Keras applies the reset gate "
            "to h_(t-1) before the recurrent product, (r ⊙ h_(t-1)) W_hn; PyTorch applies it after, "
            "r ⊙ (W_hn h_(t-1) + b_hn)",
        )
    if source == "keras" and spec.bidirectional and spec.layers > 1 and spec.merge_mode != "concat":
        raise SpecError(
            "merge_mode",
            "stacked Keras Bidirectional layers that sum, multiply or average the directions have no PyTorch "
            "equivalent: layer 1's kernel reads H features, PyTorch's weight_ih_l1 reads the 2H concatenation",
        )
    if source == "torch" and spec.proj_size:
        raise SpecError(
            "proj_size",
            f"PyTorch LSTM with a projection (weight_hr_l0, proj_size={spec.proj_size}) has no Keras equivalent: "
            "Keras LSTM has no weight_hr, its h_t is the H-wide o ⊙ tanh(c_t), "
            "PyTorch's is P-wide, W_hr (o ⊙ tanh(c_t))",
        )
    target_spec = make_spec(
        spec.units,
        spec.input_size,
        cell=cell,
        framework=target,
        bias=spec.bias,
        bidirectional=spec.bidirectional,
        layers=spec.layers,
    )
    src_order, dst_order = gate_order(spec), gate_order(target_spec)
    h = spec.units
    src = {(t.layer, t.direction, t.role): weights_key(spec, t) for t in all_tensors(spec)}
    out: dict[str, np.ndarray] = {}
    for t in all_tensors(target_spec):
        slot = (t.layer, t.direction)
        if source == "keras":
            if t.role == "input":  # kernel (X, G·H) -> weight_ih (G·H, X)
                a = _reorder(np.asarray(weights[src[slot + ("input",)]]).T, 0, h, src_order, dst_order)
            elif t.role == "recurrent":  # recurrent_kernel (H, G·H) -> weight_hh (G·H, H)
                a = _reorder(np.asarray(weights[src[slot + ("recurrent",)]]).T, 0, h, src_order, dst_order)
            else:
                bias = np.asarray(weights[src[slot + ("bias",)]])
                if bias.ndim == 2:  # GRU (2, 3H): row 0 input bias, row 1 recurrent bias
                    a = _reorder(bias[0 if t.role == "bias_input" else 1], 0, h, src_order, dst_order)
                elif t.role == "bias_input":  # (G·H,): the whole bias goes to b_ih
                    a = _reorder(bias, 0, h, src_order, dst_order)
                else:  # b_hh: zeros, so b_ih + b_hh is the Keras bias
                    a = np.zeros_like(bias)
        else:
            if t.role == "input":  # weight_ih (G·H, X) -> kernel (X, G·H)
                a = _reorder(np.asarray(weights[src[slot + ("input",)]]), 0, h, src_order, dst_order).T
            elif t.role == "recurrent":  # weight_hh (G·H, H) -> recurrent_kernel (H, G·H)
                a = _reorder(np.asarray(weights[src[slot + ("recurrent",)]]), 0, h, src_order, dst_order).T
            else:
                b_ih = np.asarray(weights[src[slot + ("bias_input",)]])
                b_hh = np.asarray(weights[src[slot + ("bias_recurrent",)]])
                if cell == "gru":  # (2, 3H): both kept, the recurrent one sits inside r ⊙ (...)
                    a = np.stack([_reorder(b, 0, h, src_order, dst_order) for b in (b_ih, b_hh)])
                else:  # both are added to the same pre-activation
                    a = _reorder(b_ih + b_hh, 0, h, src_order, dst_order)
        out[weights_key(target_spec, t)] = np.ascontiguousarray(a)
    return out


def _bad_choice(param: str, value, allowed: tuple[str, ...]):
    raise SpecError(param, f"must be one of {', '.join(allowed)}, got {value!r}")


def check_output_path(path: str, option: str = "--output", inputs: Iterable = ()) -> None:
    """An ``.npz`` path that can be written without losing anything, checked before any work:
    :class:`SpecError` for another extension (a bad option), :class:`FileError` for a
    directory, a missing or unwritable folder, or one of ``inputs`` (see
    :func:`lstmcalc.atomic.check_target`)."""
    check_target(path, option, inputs)  # first: a directory or device is refused as a path (exit 1)
    if not str(path).endswith(".npz"):
        raise SpecError("save" if option == "--save" else "output", f"{path!r} must end in .npz")


def save_arrays(path: str, arrays: Mapping[str, np.ndarray], option: str = "--output", inputs: Iterable = ()) -> None:
    """Write ``arrays`` to an ``.npz`` atomically (:func:`lstmcalc.atomic.write_atomic`): a
    failure never leaves a half-written file behind, and the target is never an input."""
    check_output_path(path, option, inputs)
    write_atomic(path, lambda f: np.savez(f, **arrays), option, inputs)
