"""Keras 2 ``CuDNNLSTM`` / ``CuDNNGRU`` (legacy ``.h5`` files; the layers are gone from Keras 3).

Source (read, not guessed): keras 2.2.4 ``keras/engine/saving.py`` (tf.keras 2.x:
``tensorflow/python/keras/saving/hdf5_format.py``), ``_convert_rnn_weights``, which Keras 2
ran on every load of a CuDNN layer's weights into ``LSTM`` / ``GRU(reset_after=True)``, and
``keras/layers/cudnn_recurrent.py`` (``_canonical_to_params``), which hands the variables to
cuDNN. Shapes match the plain layers' — ``kernel`` (X, G·H), ``recurrent_kernel``
(H, G·H), gate blocks along the last axis (LSTM i, f, c, o; GRU z, r, h) — but:

- each input-kernel block is cuDNN's row-major W_q (H, X) *flattened and viewed as* (X, H),
  not W_qᵀ. ``_convert_rnn_weights`` re-lays it out per gate block with
  ``kernel.T.reshape(kernel.shape, order='F')`` (``transpose_input(from_cudnn=True)``), which
  is ``W_qᵀ``; reading the file as a plain LSTM kernel gives wrong outputs and no error
  (keras#9463). So W_q = block.ravel().reshape(H, X).
- each recurrent block is cuDNN's R_q (H, H) itself (the converter transposes it: ``k.T``),
  so U_q = block.
- ``bias`` (2·G·H,): cuDNN's input-side biases of every gate, then the recurrent-side ones
  (LSTM 8H, GRU 6H); the converter sums the LSTM halves (``np.sum(np.split(b, 2))``) and
  reshapes the GRU one to (2, 3H) (reset-after: b_Rh stays inside r ⊙ (R_h h + b_Rh)).

Count per direction: G·H·(X + H) + 2·G·H (a bidirectional CuDNNLSTM(300) on 300 inputs:
2 × (4·300·600 + 8·300) = 1,444,800). CuDNN layers always have both biases (no use_bias);
keys as in :mod:`lstmcalc.frameworks.keras`.
"""

from __future__ import annotations

from ..canonical import DIRECTIONS, Canonical, Direction, GateSlice, TensorLayout
from ..spec import LayerSpec, SpecError
from . import keras as _keras

NAME = "keras2"
TITLE = "Keras 2 CuDNN"
SHORT = "Keras 2 CuDNN"
CELLS = ("lstm", "gru")
CELL_TITLES = {"lstm": "CuDNNLSTM", "gru": "CuDNNGRU"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n")}
LETTERS = {("lstm", "g"): "c", ("gru", "n"): "h"}
OPTIONS = frozenset({"merge_mode", "return_sequences", "return_state"})
WHY_NOT = {
    "proj_size": "CuDNNLSTM has no projection (proj_size is PyTorch's weight_hr)",
    "peepholes": "CuDNNLSTM has no peephole connections",
    "layout": "is an ONNX attribute; Keras inputs are always (batch, time, features)",
    "direction": _keras.WHY_NOT["direction"],
    "reset_before": "CuDNNGRU is always the reset-after form (cuDNN's GRU)",
    "no_bias": "CuDNNLSTM / CuDNNGRU always have both bias vectors (no use_bias option)",
    "recurrent_activation": "CuDNNLSTM / CuDNNGRU gates are cuDNN's sigmoid (no recurrent_activation option)",
}
NAMES_HINT = _keras.NAMES_HINT
# keys, outputs and constructor lines as Keras 3's (the Keras family class): the constructor writes the CuDNN
# classes (the layers need a GPU and TensorFlow 1.x / Keras 2; a CuDNN spec has no activation, use_bias or
# reset_after to write)


def _slices(spec: LayerSpec, axis: int, offset: int = 0) -> tuple[GateSlice, ...]:
    h = spec.units
    return tuple(GateSlice(g, axis, offset + k * h, offset + (k + 1) * h) for k, g in enumerate(GATE_ORDER[spec.cell]))


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """kernel (X, G·H), recurrent_kernel (H, G·H), bias (2·G·H,): per gate its input-side
    slice, then its recurrent-side slice."""
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    both = tuple(s for pair in zip(_slices(spec, 0), _slices(spec, 0, g * h)) for s in pair)
    return [
        TensorLayout("kernel", layer, direction, (x, g * h), "input", _slices(spec, 1)),
        TensorLayout("recurrent_kernel", layer, direction, (h, g * h), "recurrent", _slices(spec, 1)),
        TensorLayout("bias", layer, direction, (2 * g * h,), "bias_both", both),
    ]


def biases_per_gate(spec: LayerSpec) -> int:
    """Two per gate, always: cuDNN's b_W and b_R."""
    return 2


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    return f"{g}H × (X + H) + {2 * g}H", f"{g} × {h} × ({x} + {h}) + {2 * g} × {h}"


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    """As Keras', and the bias must be the CuDNN (2·G·H,) one."""
    import numpy as np

    from ..errors import FileError

    options = _keras.infer_options(weights, parsed, cell)
    h, cell = options["units"], options["cell"]
    if cell == "rnn":
        raise FileError("recurrent_kernel: one block of H: a SimpleRNN, and Keras 2 has no CuDNN SimpleRNN")
    options.pop("reset_after", None)
    if not options["bias"]:
        raise FileError(f"bias: missing; {CELL_TITLES[cell]} always has a (2·G·H,) bias")
    key = next(k for (layer, d, name), k in parsed.items() if name == "bias" and layer == 0 and d == "forward")
    shape = tuple(np.shape(weights[key]))
    want = (2 * (4 if cell == "lstm" else 3) * h,)
    if shape != want:
        raise FileError(f"{key}: shape {shape} is not the {CELL_TITLES[cell]} bias {want} (input side, then recurrent side)")
    return options


def claims_h5(arrays: dict) -> bool:
    """Legacy h5 datasets ``kernel`` (X, G·H), ``recurrent_kernel`` (H, G·H), ``bias``
    (2·G·H,) with G = 4 or 3: a CuDNN layer (Keras' LSTM bias is (4H,), GRU (3H,) or (2, 3H)).
    The same test as ``_convert_rnn_weights`` (``bias_shape == (2 * units * n_gates,)``)."""
    import numpy as np

    k, rk, b = arrays.get("kernel"), arrays.get("recurrent_kernel"), arrays.get("bias")
    if k is None or rk is None or b is None or np.ndim(rk) != 2 or np.ndim(b) != 1 or np.ndim(k) != 2:
        return False
    h = np.shape(rk)[0]
    if h == 0:
        return False
    g, rest = divmod(np.shape(rk)[1], h)
    return rest == 0 and g in (3, 4) and np.shape(k)[1] == g * h and np.shape(b) == (2 * g * h,)


def to_canonical(weights, spec: LayerSpec) -> Canonical:
    """CuDNN tensors as the canonical form (see the module docstring): W_q = the kernel's
    gate block read in memory order as (H, X); U_q = the recurrent block; b_w, b_u the two
    halves of the bias."""
    import numpy as np

    g, h = spec.gates, spec.units
    order = GATE_ORDER[spec.cell]
    layers = []
    for layer in range(spec.layers):
        row = []
        x = spec.layer_input_size(layer)
        for direction in DIRECTIONS[: spec.directions]:
            t = {x_.role: x_ for x_ in layer_tensors(spec, layer, direction)}
            kernel = np.asarray(weights[_keras.weights_key(spec, t["input"])])  # (X, G·H)
            rec = np.asarray(weights[_keras.weights_key(spec, t["recurrent"])])  # (H, G·H)
            bias = np.asarray(weights[_keras.weights_key(spec, t["bias_both"])])  # (2·G·H,)
            part = Direction(
                # block (X, H) in C order is cuDNN's flat W_q: read as (H, X)
                w={q: np.ascontiguousarray(kernel[:, k * h : (k + 1) * h]).reshape(h, x) for k, q in enumerate(order)},
                u={q: rec[:, k * h : (k + 1) * h].copy() for k, q in enumerate(order)},  # (H, H) = R_q
                b_w={q: bias[k * h : (k + 1) * h] for k, q in enumerate(order)},
                b_u={q: bias[(g + k) * h : (g + k + 1) * h] for k, q in enumerate(order)},
            )
            row.append(part)
        layers.append(row)
    return Canonical(spec.cell, layers, reset_after=True, merge_mode=spec.merge_mode)


def from_canonical(c: Canonical, spec: LayerSpec) -> dict:
    """CuDNN tensors for ``spec``: the inverse of :func:`to_canonical`
    (``_convert_rnn_weights(from_cudnn=False)``'s layout). Without b_u the recurrent half of
    the bias is zero (only b_W + b_R reaches an LSTM gate; Keras 2 itself splits it in halves)."""
    import numpy as np

    if c.cell == "gru" and not c.reset_after:
        raise SpecError("reset_after", "a reset-before GRU (Keras reset_after=False) has no CuDNNGRU equivalent: "
                        "cuDNN applies the reset gate after the recurrent product, r ⊙ (R_h h + b_Rh); "
                        "Keras 2's own converter refuses it too")
    if c.proj_size:
        raise SpecError("proj_size", f"an LSTM with a projection (weight_hr, proj_size={c.proj_size}) has no CuDNNLSTM "
                        "equivalent: CuDNNLSTM's h_t is H-wide o ⊙ tanh(c_t)")
    if c.peepholes:
        raise SpecError("peepholes", WHY_NOT["peepholes"] + ": the weights' P would be dropped and the outputs change")
    if c.clip is not None:
        raise SpecError("clip", f"cuDNN layers in Keras 2 have no cell clip; this layer clips to ±{c.clip}")
    order = GATE_ORDER[spec.cell]
    out = {}
    for layer, direction, part in c.directions():
        t = {x_.role: x_ for x_ in layer_tensors(spec, layer, direction)}
        x = spec.layer_input_size(layer)
        kernel = np.concatenate([np.asarray(part.w[q]).reshape(x, spec.units) for q in order], axis=1)
        rec = np.concatenate([np.asarray(part.u[q]) for q in order], axis=1)
        zero = {q: np.zeros(spec.units, dtype=kernel.dtype) for q in order}  # a bias-free source: zero biases
        b_w, b_u = part.b_w or zero, part.b_u or zero
        bias = np.concatenate([np.asarray(b_w[q]) for q in order] + [np.asarray(b_u[q]) for q in order])
        out[_keras.weights_key(spec, t["input"])] = np.ascontiguousarray(kernel)
        out[_keras.weights_key(spec, t["recurrent"])] = np.ascontiguousarray(rec)
        out[_keras.weights_key(spec, t["bias_both"])] = np.ascontiguousarray(bias)
    return out


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """Keras 2's CuDNN defaults: kernel glorot_uniform, recurrent_kernel orthogonal (both in
    the CuDNN layout of their draws), bias zeros with the LSTM forget block of the recurrent
    half at 1 (``unit_forget_bias``: CuDNNLSTM.build concatenates 5H zeros, H ones, 2H zeros).
    Same distributions, not Keras' random stream."""
    base = _keras.init_weights(_keras_twin(spec), rng, dtype)
    canonical = _keras.to_canonical(base, _keras_twin(spec))
    out = {k: v.astype(dtype) for k, v in from_canonical(canonical, spec).items()}
    if spec.cell == "lstm":  # Keras 3's 1 lands in the input half (b_W of f); CuDNNLSTM keeps it in b_R of f
        h = spec.units
        for key in [k for k in out if k.split("/")[-1] == "bias"]:
            out[key][5 * h : 6 * h], out[key][h : 2 * h] = out[key][h : 2 * h].copy(), 0
    return out


def _keras_twin(spec: LayerSpec) -> LayerSpec:
    from dataclasses import replace

    return replace(spec, framework="keras", reset_after=True)


def why_no_reverse() -> str:
    """As Keras 3's: kernel/recurrent_kernel/bias cannot say go_backwards."""
    return _keras.why_no_reverse(TITLE)


def bias_note(spec: LayerSpec) -> tuple:
    """Why the bias is 2·G·H long, and how the kernel blocks are laid out (for ``breakdown`` /
    ``explain``): (sentence, the numbers it states), each measured against cudnn_recurrent.py's
    shapes in tests/crosscheck/test_bias_note_numbers.py."""
    text, stated = _bias_words(spec)
    x, h = spec.input_size, spec.units
    first = "layer 0" + (", each direction" if spec.directions == 2 else "")  # X is layer 0's input
    kernel = "layer 0's kernel (the layers above likewise)" if spec.layers > 1 else "kernel"
    text += (
        f" Each ({x:,}, {h:,}) block of {kernel} holds cuDNN's W ({h:,}, {x:,}) "
        "in memory order, not its transpose; each recurrent block is cuDNN's R itself: read as a Keras kernel "
        "they give other outputs and no error (keras#9463)."
    )
    return text, stated + (("input_features", x, first), ("units", h, "per layer and direction"))


def history_note(spec: LayerSpec) -> tuple | None:
    """CuDNNLSTM's unit_forget_bias=True (keras/layers/cudnn_recurrent.py, CuDNNLSTM.build: bias
    starts as 5H zeros, H ones, 2H zeros), said after the LSTM's history."""
    if spec.cell != "lstm":
        return None
    return (" Keras 2's CuDNNLSTM starts the forget-gate bias at 1 (unit_forget_bias=True, after Jozefowicz, "
            "Zaremba & Sutskever, 2015): the recurrent-side f block of bias is ones, the rest zeros, so a new cell "
            "keeps its memory by default.", (("forget_bias_init", 1, "per layer and direction"),))


def _bias_words(spec: LayerSpec) -> tuple:
    g, h, per = spec.gates, spec.units, "per layer and direction"
    stated = (("bias_params", 2 * g * h, per), ("input_bias_params", g * h, per), ("recurrent_bias_params", g * h, per))
    if spec.cell == "lstm":
        return (
            f"{CELL_TITLES['lstm']} keeps cuDNN's two bias vectors per gate: bias has {2 * g * h:,} = 8H entries, the "
            f"{g * h:,} input-side ones (i, f, c, o), then the {g * h:,} recurrent-side ones. Only their sum reaches a "
            f"gate, so Keras 2 loads them into an LSTM as one (4H,) bias (_convert_rnn_weights): {g * h:,} fewer "
            "parameters per layer and direction than the file holds, same outputs."
        ), stated + (("loaded_fewer_params", g * h, per),)
    return (
        f"{CELL_TITLES['gru']} keeps cuDNN's two bias vectors per gate: bias has {2 * g * h:,} = 6H entries, the "
        f"{g * h:,} input-side ones (z, r, h), then the {g * h:,} recurrent-side ones; the candidate's recurrent bias "
        "stays inside r ⊙ (R_h h + b_Rh), so both halves matter. Keras 2 loads them into GRU(reset_after=True) "
        "as a (2, 3H) bias: the same count."
    ), stated + (("biases_per_gate", 2, "per gate, per layer and direction"),)  # the 2 rows of (2, 3H)


CONVENTION = _keras.Keras(__name__)  # last: the instance takes every name above; the rest as Keras 3's
