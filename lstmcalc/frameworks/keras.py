"""Keras 3: ``keras.layers.LSTM``, ``GRU``, ``SimpleRNN`` and ``Bidirectional``.

Source (read, not guessed): ``keras/src/layers/rnn/lstm.py``, ``gru.py``, ``simple_rnn.py``,
``bidirectional.py``. ConvLSTM1D/2D/3D (counted and shaped only) are in
:mod:`lstmcalc.frameworks.keras_convlstm`. ``kernel`` (X, G·H) and ``recurrent_kernel`` (H, G·H) hold the gate
blocks along the last axis, LSTM order i, f, c, o (c is our g), GRU z, r, h (h is our n);
``bias`` is (G·H,), or (2, 3H) for a GRU with ``reset_after=True`` (the default): row 0 the
input bias, row 1 the recurrent bias, which the candidate keeps inside r ⊙ (...).
``reset_after=False`` applies the reset gate before the recurrent product,
(r ⊙ h_(t-1)) U_n, with one bias per gate. A ``Bidirectional`` wrapper lists its forward
layer's weights, then its backward layer's; ``merge_mode`` concat | sum | mul | ave.

Weights files use our keys: ``kernel``, ``recurrent_kernel``, ``bias`` for one
unidirectional layer; ``layer{k}/{forward|backward}/{name}`` otherwise (Keras itself
repeats the bare names in every layer).
"""

from __future__ import annotations

import re

from ..canonical import CELL_GATES, DIRECTIONS, Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import CONV_CELLS, LayerSpec, SpecError
from . import keras_convlstm as conv
from .base import Convention
from .shared import PER, WHOLE, count_in, shape_text

NAME = "keras"
TITLE = "Keras 3"
SHORT = "Keras"  # in running text
CELLS = ("lstm", "gru", "rnn")
SHAPED_CELLS = CONV_CELLS  # ConvLSTM1D/2D/3D: count and breakdown only (no weights, no run)
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN", **conv.CELL_TITLES}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n"), "rnn": ("h",),
              **{cell: conv.GATE_ORDER for cell in CONV_CELLS}}
LETTERS = {("lstm", "g"): "c", ("gru", "n"): "h", **{(cell, "g"): "c" for cell in CONV_CELLS}}  # Keras: k_i, k_f, k_c, k_o
# recurrent_activation: the LSTM / GRU gate function, sigmoid or a hard_sigmoid (spec.RECURRENT_ACTIVATIONS:
# Keras 2's, read from a legacy file, or Keras 3's); converting into Keras 3 keeps only Keras 3's own
OPTIONS = frozenset({"merge_mode", "reset_before", "return_sequences", "return_state", "recurrent_activation"})
GATE_FUNCTIONS = ("sigmoid", "hard_sigmoid_keras3")  # what keras.layers.LSTM(recurrent_activation=...) names
CONVERT_TO = "torch"  # what `convert` writes from a Keras file without --to
PEER = "torch"  # what a grid sets beside it, and the bias sentence compares with
WHY_NOT = {
    "proj_size": "Keras LSTM has no projection (proj_size is PyTorch's weight_hr)",
    "peepholes": "Keras 3 LSTM has no peephole connections",
    "layout": "is an ONNX attribute; Keras inputs are always (batch, time, features)",
    "direction": ("reverse is ONNX's one direction run backwards, with Y in input order; Keras' go_backwards=True "
                  "runs the same but returns its sequence reversed, which lstmcalc does not model"),
}

BARE = re.compile(r"^(?P<name>kernel|recurrent_kernel|bias)$")
NESTED = re.compile(r"^layer(?P<layer>\d+)/(?P<direction>forward|backward)/(?P<name>kernel|recurrent_kernel|bias)$")
NAMES_HINT = "kernel, recurrent_kernel, bias or layer{k}/{forward|backward}/{name}"


# --- layout (stdlib) -------------------------------------------------------------------------


def _slices(spec: LayerSpec, axis: int) -> tuple[GateSlice, ...]:
    h = spec.units
    return tuple(GateSlice(g, axis, k * h, (k + 1) * h) for k, g in enumerate(GATE_ORDER[spec.cell]))


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer and direction, in Keras' own order."""
    if spec.conv is not None:
        return conv.layer_tensors(spec, layer, direction)
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    out = [
        TensorLayout("kernel", layer, direction, (x, g * h), "input", _slices(spec, 1)),
        TensorLayout("recurrent_kernel", layer, direction, (h, g * h), "recurrent", _slices(spec, 1)),
    ]
    if spec.bias:
        if spec.cell == "gru" and spec.reset_after:
            # row 0: input bias, row 1: recurrent bias (applied inside r * (...))
            out.append(TensorLayout("bias", layer, direction, (2, g * h), "bias", _slices(spec, 1)))
        else:
            out.append(TensorLayout("bias", layer, direction, (g * h,), "bias", _slices(spec, 0)))
    return out


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """``kernel`` for one unidirectional layer, else ``layer{k}/{direction}/kernel``."""
    if spec.layers == 1 and not spec.bidirectional:
        return tensor.name
    return f"layer{tensor.layer}/{tensor.direction}/{tensor.name}"


def biases_per_gate(spec: LayerSpec) -> int:
    """Bias vectors of length H per gate: 1, or 2 for a reset-after GRU; 0 without bias."""
    if not spec.bias:
        return 0
    return 2 if spec.cell == "gru" and spec.reset_after else 1


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One direction's count as Keras' docs write it, symbolic and with numbers."""
    if spec.conv is not None:
        return conv.formula(spec)
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    nb = biases_per_gate(spec)
    prefix = f"{g} × " if g > 1 else ""
    bias_sym = {0: "", 1: " + H", 2: " + 2H"}[nb]
    bias_num = {0: "", 1: f" + {h}", 2: f" + 2 × {h}"}[nb]
    if nb:
        sym = f"{prefix}((X + H) × H{bias_sym})"
        num = f"{prefix}(({x} + {h}) × {h}{bias_num})"
    else:
        sym = f"{prefix}(X + H) × H"
        num = f"{prefix}({x} + {h}) × {h}"
    if g == 1 and nb:
        sym, num = sym[1:-1], num[1:-1]  # no outer parentheses without a gate factor
    return sym, num


def outputs(spec: LayerSpec) -> list[Output]:
    """What the last layer returns, in Keras' order (output, then states with return_state)."""
    if spec.conv is not None:
        return conv.outputs(spec)
    b, t, h = spec.batch, spec.time, spec.units
    merged = 2 * h if spec.bidirectional and spec.merge_mode == "concat" else h
    merge = f", {spec.merge_mode} of both directions" if spec.bidirectional else ""
    if spec.return_sequences:
        out = [Output("output", (b, t, merged), f"h_t at every step{merge}")]
    else:
        out = [Output("output", (b, merged), f"h_T, the last step only{merge}")]
    if spec.return_state:
        states = ["h", "c"] if spec.cell == "lstm" else ["h"]
        words = {"h": "final hidden state", "c": "final cell state"}
        if spec.bidirectional:
            for suffix, side in (("fw", "forward"), ("bw", "backward")):
                out += [Output(f"{s}_{suffix}", (b, h), f"{words[s]}, {side} layer") for s in states]
        else:
            out += [Output(s, (b, h), words[s]) for s in states]
    return out


def lengths_note(spec: LayerSpec, steps: int) -> str:
    """Keras masking computes every step of every row (keras/src/backend/torch/rnn.py)."""
    b, t = spec.batch, spec.time
    return (f"Keras masking does not skip work: its loop computes every step of every row and keeps the "
            f"previous states where the mask is off (keras/src/backend/torch/rnn.py), so Keras runs "
            f"B·T = {b * t:,} sample-steps' arithmetic for these {steps:,}.")


def _peer_total(spec: LayerSpec) -> int | None:
    """The same layer's count in ``PEER`` (PyTorch), where it has that layer: None for a reset-before
    GRU (torch.nn.GRU is reset-after only) and for a merged stacked Bidirectional (its upper layers
    read H features, PyTorch's 2H)."""
    if spec.cell == "gru" and not spec.reset_after:
        return None
    if spec.bidirectional and spec.merge_mode != "concat" and spec.layers > 1:
        return None
    return count_in(spec, PEER, merge_mode="concat", return_sequences=False, return_state=False)


def bias_note(spec: LayerSpec) -> tuple:
    """Keras' bias against PyTorch's two: (sentence, the numbers it states)."""
    g, h = spec.gates, spec.units
    gh, multi = g * h, spec.layers * spec.directions > 1
    twin = _peer_total(spec)
    if spec.cell == "gru" and spec.reset_after:
        text = (
            "With reset_after=True (the Keras 3 default, the form PyTorch also uses) the reset gate multiplies "
            "U_n h_(t-1) + b_hn, so every gate keeps a second, recurrent bias: bias has shape "
            f"{shape_text((2, gh))}, row 0 for the input, row 1 for the recurrent product. For z and r "
            "only the sum of the two rows reaches the gate; b_hn cannot be moved into the input row because r "
            "multiplies it, so those are not redundant."
        )
        stated = [("bias_shape", (2, gh), PER)]
        if twin is not None:
            text += f" PyTorch's GRU has the same count, {twin:,}."
            stated.append(("torch_twin_total", twin, WHOLE))
        return text, tuple(stated)
    if spec.cell == "gru":
        return ("With reset_after=False the reset gate multiplies h_(t-1) before the recurrent product, "
                "n = tanh(W_n x + U_n (r⊙h_(t-1)) + b_n), so there is one bias per gate: bias has shape "
                f"{shape_text((gh,))}. PyTorch has no such GRU.", (("bias_shape", (gh,), PER),))
    text = (
        f"PyTorch would report {gh:,} more"
        + (" per layer and direction" if multi else "")
        + (f" ({twin:,} in all)" if twin is not None else "")
        + f": it keeps two bias vectors per {'gate' if g > 1 else 'block'} (bias_ih and bias_hh, cuDNN's "
        f"formulation), and in the {CELL_TITLES[spec.cell]} only their sum reaches the {'gates' if g > 1 else 'block'}, "
        "so one of them is redundant."
    )
    return text, (("torch_extra_params", gh, PER),) + ((("torch_twin_total", twin, WHOLE),) if twin is not None else ())


def history_note(spec: LayerSpec) -> tuple | None:
    """Keras' initial forget-gate bias (unit_forget_bias=True: the f block of ``bias`` starts at 1,
    keras/src/layers/rnn/lstm.py), said after the LSTM's history."""
    if spec.cell != "lstm" or not spec.bias:
        return None
    return (" Keras starts the forget-gate bias at 1 (unit_forget_bias=True, after Jozefowicz, Zaremba & "
            "Sutskever, 2015), so a new cell keeps its memory by default.", (("forget_bias_init", 1, PER),))


def file_title(version: str | None) -> str | None:
    """'Keras 2.2.4' where a Keras file records a version other than 3 (its weights are laid out as
    Keras 3's), else None: the title."""
    if version is None or version.strip().startswith("3."):
        return None
    return f"Keras {version}"


def why_no_reverse(title: str = TITLE) -> str:
    """Why an ONNX direction=reverse node has no Keras weights (``title``: Keras 2's CuDNN layers too)."""
    return (f"an ONNX direction=reverse node has no {title} weights file: its twin is a layer with "
            "go_backwards=True, which returns its sequence reversed (its output[:, t] is the node's Y at step "
            "T-1-t; the final states are equal), and kernel/recurrent_kernel/bias cannot say go_backwards, "
            "so whatever reads them runs the layer forward")


def constructor(spec: LayerSpec, titles: dict = CELL_TITLES) -> list[str]:
    """Python lines that build the same layer in Keras 3 (``titles``: the layer classes, so that
    Keras 2's CuDNN layers, which take the same arguments, are written by the same lines)."""
    if spec.conv is not None:
        return conv.constructor(spec)
    lines = []
    for layer in range(spec.layers):
        last = layer == spec.layers - 1
        args = [str(spec.units)]
        if spec.cell == "rnn" and spec.activation != "tanh":
            args.append(f'activation="{spec.activation}"')
        if not spec.bias:
            args.append("use_bias=False")
        if spec.cell == "gru" and not spec.reset_after:
            args.append("reset_after=False")
        if not last or spec.return_sequences:
            args.append("return_sequences=True")
        if last and spec.return_state:
            args.append("return_state=True")
        line = f"keras.layers.{titles[spec.cell]}({', '.join(args)})"
        if spec.bidirectional:
            merge = f', merge_mode="{spec.merge_mode}"' if spec.merge_mode != "concat" else ""
            line = f"keras.layers.Bidirectional({line}{merge})"
        lines.append(line)
    return lines


# --- weights (NumPy) -------------------------------------------------------------------------


def recognises(key: str) -> bool:
    """One of our Keras keys (``kernel``, ``layer1/backward/bias``)."""
    return parse_name(key) is not None


def parse_name(key: str) -> tuple[int, str, str] | None:
    """(layer, direction, tensor name) of one of our Keras keys, or None."""
    m = BARE.match(key)
    if m:
        return 0, "forward", m["name"]
    m = NESTED.match(key)
    if m:
        return int(m["layer"]), m["direction"], m["name"]
    return None


def describe_names(names) -> dict[tuple[int, str, str], str]:
    """{(layer, direction, name): key}; a FileError-style ValueError for a key that is not ours
    or for bare and nested keys mixed in one set."""
    from ..errors import FileError

    parsed, bare, nested = {}, False, False
    for key in names:
        slot = parse_name(key)
        if slot is None:
            raise FileError(f"{key!r} is not a Keras weights key ({NAMES_HINT})")
        if BARE.match(key):
            bare = True
        else:
            nested = True
        if bare and nested:
            raise FileError(f"{key!r}: bare Keras names (kernel) and layer{{k}}/{{direction}}/ names mixed in one set")
        parsed[slot] = key
    return parsed


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    """Sizes and options that the names and shapes of Keras tensors show; see
    :func:`lstmcalc.weights.infer_spec`. ``merge_mode`` of a stacked Bidirectional whose
    layer 1 reads H features is one of sum, mul, ave: the tensors cannot tell which, so it is
    returned as ``None`` with ``merge_unknown`` set."""
    import numpy as np

    from ..errors import FileError
    from .shared import as_array, cell_from_blocks, shape_of

    def get(layer: int, name: str):
        key = parsed.get((layer, "forward", name))
        if key is None:
            raise FileError(f"{name}: missing for layer {layer}, forward direction")
        return key, as_array(key, weights[key])

    n_layers = max(layer for layer, _, _ in parsed) + 1
    bidir = any(direction == "backward" for _, direction, _ in parsed)
    rk_key, rk = get(0, "recurrent_kernel")
    if rk.ndim != 2 or rk.shape[0] == 0 or rk.shape[1] % rk.shape[0]:
        raise FileError(f"{rk_key}: shape {shape_of(rk)} is not (H, G·H)")
    units = rk.shape[0]
    cell = cell_from_blocks(rk_key, shape_of(rk), rk.shape[1] // units, units, cell)
    k_key, kernel = get(0, "kernel")
    if kernel.ndim != 2:
        raise FileError(f"{k_key}: shape {shape_of(kernel)} is not (X, G·H)")
    bias_keys = [k for (layer, d, name), k in parsed.items() if name == "bias"]
    options = {
        "units": units, "input_size": kernel.shape[0], "cell": cell, "bias": bool(bias_keys),
        "bidirectional": bidir, "layers": n_layers, "proj_size": 0,
    }
    if cell == "gru" and bias_keys:
        options["reset_after"] = np.ndim(weights[bias_keys[0]]) == 2
    if bidir and n_layers > 1:
        key1 = parsed.get((1, "forward", "kernel"))
        if key1 is not None and np.ndim(weights[key1]) == 2 and np.shape(weights[key1])[0] == units:
            options["merge_mode"] = "sum"  # sum, mul and ave all hand H features on
    return options


def to_canonical(weights, spec: LayerSpec) -> Canonical:
    """Keras tensors (checked against ``spec``) as the canonical form: kernel columns of gate q
    transposed to (H, X_k); one bias per gate goes to ``b_w``; the GRU (2, 3H) rows to
    ``b_w`` and ``b_u``."""
    import numpy as np

    layers = []
    for layer in range(spec.layers):
        row = []
        for direction in DIRECTIONS[: spec.directions]:
            t = {x.role: x for x in layer_tensors(spec, layer, direction)}
            kernel = np.asarray(weights[weights_key(spec, t["input"])])  # (X_k, G·H)
            rec = np.asarray(weights[weights_key(spec, t["recurrent"])])  # (H, G·H)
            part = Direction(
                w={s.gate: kernel[:, s.start : s.stop].T for s in t["input"].slices},  # (H, X_k)
                u={s.gate: rec[:, s.start : s.stop].T for s in t["recurrent"].slices},  # (H, H)
            )
            if spec.bias:
                bias = np.asarray(weights[weights_key(spec, t["bias"])])
                if bias.ndim == 2:  # GRU reset-after (2, 3H)
                    part.b_w = {s.gate: bias[0, s.start : s.stop] for s in t["bias"].slices}
                    part.b_u = {s.gate: bias[1, s.start : s.stop] for s in t["bias"].slices}
                else:
                    part.b_w = {s.gate: bias[s.start : s.stop] for s in t["bias"].slices}
            row.append(part)
        layers.append(row)
    return Canonical(spec.cell, layers, reset_after=spec.reset_after, activation=spec.activation,
                     merge_mode=spec.merge_mode, recurrent_activation=spec.recurrent_activation)


def from_canonical(c: Canonical, spec: LayerSpec) -> dict:
    """Keras tensors for ``spec`` from the canonical form. One Keras bias per gate carries
    b_w + b_u (exact: both reach the same pre-activation), except the reset-after GRU, whose
    (2, 3H) bias keeps both rows."""
    import numpy as np

    if c.proj_size:
        raise SpecError(
            "proj_size",
            f"an LSTM with a projection (weight_hr, proj_size={c.proj_size}) has no Keras equivalent: Keras LSTM has "
            "no weight_hr, its h_t is the H-wide o ⊙ tanh(c_t), the projected one is P-wide, W_hr (o ⊙ tanh(c_t))",
        )
    if c.peepholes:
        raise SpecError("peepholes", WHY_NOT["peepholes"] + ": the weights' P would be dropped and the outputs change")
    if c.clip is not None:
        raise SpecError("clip", f"Keras 3 has no cell clip; this layer clips every pre-activation to ±{c.clip}")
    out = {}
    for layer, direction, part in c.directions():
        for t in layer_tensors(spec, layer, direction):
            if t.role in ("input", "recurrent"):
                blocks = part.w if t.role == "input" else part.u
                a = np.concatenate([np.asarray(blocks[g]).T for g in GATE_ORDER[spec.cell]], axis=1)
            elif len(t.shape) == 2:  # GRU reset-after (2, 3H)
                b_u = part.b_u or {g: np.zeros_like(v) for g, v in part.b_w.items()}
                a = np.stack([np.concatenate([np.asarray(b[g]) for g in GATE_ORDER[spec.cell]]) for b in (part.b_w, b_u)])
            else:
                if part.b_u is not None:
                    dt = np.result_type(*part.b_w.values(), *part.b_u.values())
                    a = np.concatenate([np.add(part.b_w[g], part.b_u[g], dtype=dt) for g in GATE_ORDER[spec.cell]])
                else:
                    a = np.concatenate([np.asarray(part.b_w[g]) for g in GATE_ORDER[spec.cell]])
            out[weights_key(spec, t)] = np.ascontiguousarray(a)
    return out


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """ForwardResult fields from the core's output (B, T, ·) and states (D·L, B, ·): the whole
    sequence with ``return_sequences``, else the last step (for a Bidirectional layer the merge
    of both directions' final h: the backward one's is its output at t = 0, not T − 1), and
    the last layer's final states, forward then backward."""
    import numpy as np

    from ..canonical import merge_directions

    last = (spec.layers - 1) * spec.directions

    def pick(a, i):
        return None if a is None else a[i].copy()

    if not spec.return_sequences:
        if not spec.bidirectional:
            output = h_n[last].copy()  # (B, H)
        elif spec.merge_mode != "concat":
            output = np.empty_like(h_n[last])  # (B, H)
            merge_directions(spec.merge_mode, h_n[last], h_n[last + 1], output)
        else:
            output = np.concatenate([h_n[last], h_n[last + 1]], axis=-1)  # (B, 2H)
    out = {
        "output": output,
        "h": pick(h_n, last),
        "c": pick(c_n, last),
        "h_backward": pick(h_n, last + 1) if spec.bidirectional else None,
        "c_backward": pick(c_n, last + 1) if spec.bidirectional else None,
    }
    if spec.bidirectional:  # Bidirectional(...) returns [output, h_fw, c_fw, h_bw, c_bw]
        out["named"] = {"h_fw": out["h"], "c_fw": out["c"], "h_bw": out["h_backward"], "c_bw": out["c_backward"]}
    return out


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """What Keras returns, in its order, under the names ``outputs(spec)`` gives: output, and
    with return_state h, c (LSTM), for a Bidirectional layer h_fw, c_fw, h_bw, c_bw."""
    if not spec.return_state:
        return ("output",)
    return ("output", "h_fw", "c_fw", "h_bw", "c_bw") if spec.bidirectional else ("output", "h", "c")


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """What our Keras weights keys and shapes cannot show, with the values they allow: a
    Bidirectional layer's merge mode (in a stack, layer 1's kernel reads 2H features after
    concat and H after sum, mul or ave), a bias-free GRU's reset_after (only the bias shape
    shows it), a SimpleRNN's activation (tanh and relu have the same weights)."""
    out: dict[str, tuple] = {}
    if spec.bidirectional:
        if spec.layers == 1:
            out["merge_mode"] = ("concat", "sum", "mul", "ave")
        else:
            out["merge_mode"] = ("concat",) if spec.merge_mode == "concat" else ("sum", "mul", "ave")
    if spec.cell == "gru" and not spec.bias:
        out["reset_after"] = (True, False)
    if spec.cell == "rnn":
        out["activation"] = ("tanh", "relu")
    return out


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """Keras 3's default initial weights: ``kernel`` glorot_uniform, U(±sqrt(6 / (X + G·H)));
    ``recurrent_kernel`` orthogonal (rows orthonormal); ``bias`` zeros with the LSTM forget
    block at 1 (``unit_forget_bias=True``). Same distributions, not Keras' random stream."""
    import numpy as np

    out = {}
    for layer in range(spec.layers):
        for direction in DIRECTIONS[: spec.directions]:
            for t in layer_tensors(spec, layer, direction):
                if t.role == "input":
                    fan_in, fan_out = t.shape
                    limit = np.sqrt(6.0 / (fan_in + fan_out))
                    a = rng.uniform(-limit, limit, size=t.shape)
                elif t.role == "recurrent":
                    a = _orthogonal(rng, t.shape)
                else:
                    a = np.zeros(t.shape)
                    if spec.cell == "lstm":
                        forget = next(s for s in t.slices if s.gate == "f")
                        a[forget.start : forget.stop] = 1.0
                out[weights_key(spec, t)] = np.ascontiguousarray(a, dtype=dtype)
    return out


def _orthogonal(rng, shape: tuple[int, int]):
    """Keras 3 ``Orthogonal`` (keras/src/initializers/random_initializers.py): QR of a normal
    (max, min) matrix, columns sign-corrected by diag(R), transposed when rows < cols, so a
    (H, G·H) recurrent kernel has orthonormal rows: K Kᵀ = I_H."""
    import numpy as np

    rows, cols = shape
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))  # (max, min)
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape)  # (rows, cols): (H, G·H) for a recurrent kernel


assert set(GATE_ORDER) == set(CELL_GATES) | set(SHAPED_CELLS)


# --- initial states and masked batches ---------------------------------------------------------


def _layer_state_names(spec: LayerSpec) -> list[str]:
    """One layer's ``initial_state`` list: [h, c] (LSTM) or [h]; Bidirectional: the forward
    layer's states, then the backward layer's ([h_fw, c_fw, h_bw, c_bw])."""
    states = ["h", "c"] if spec.cell == "lstm" else ["h"]
    if spec.bidirectional:
        return [f"{s}_{side}" for side in ("fw", "bw") for s in states]
    return states


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """What ``layer(x, initial_state=[...])`` takes, each (B, H). A stack is L separate
    layers, each with its own ``initial_state``: names ``layer{k}/h`` etc. then."""
    if spec.conv is not None:
        return conv.initial_state_shapes(spec)
    b, h = spec.batch, spec.units
    words = {"h": "initial hidden state", "c": "initial cell state"}
    out = []
    for layer in range(spec.layers):
        prefix = f"layer{layer}/" if spec.layers > 1 else ""
        where = f", layer {layer}" if spec.layers > 1 else ""
        for name in _layer_state_names(spec):
            state, _, side = name.partition("_")
            side = {"fw": ", forward layer", "bw": ", backward layer"}.get(side, "")
            out.append(Output(prefix + name, (b, h), f"{words[state]}{where}{side}"))
    return out


def initial_state_aliases(spec: LayerSpec) -> dict[str, tuple[str, ...]]:
    """Other names of a one-layer Bidirectional layer's states in a states file: h, c,
    h_backward, c_backward (earlier versions' ``run --save``; it now writes h_fw, ... as Keras
    returns them)."""
    if not spec.bidirectional or spec.layers > 1:
        return {}
    old = {"h_fw": "h", "c_fw": "c", "h_bw": "h_backward", "c_bw": "c_backward"}
    return {n: (old[n],) for n in _layer_state_names(spec)}


def input_shapes(spec: LayerSpec) -> list[Output]:
    """The input's shape where ``breakdown`` shows it (ConvLSTM, with its spatial size)."""
    return conv.input_shapes(spec) if spec.conv is not None else []


def initial_state_from(spec: LayerSpec, given, dtype):
    """(h0 (D·L, B, H), c0 (D·L, B, H) or None) from ``initial_state`` as Keras takes it.

    One layer: the list its ``initial_state`` takes, [h, c] or [h] (a bare array for one
    state), Bidirectional [h_fw, c_fw, h_bw, c_bw]. A stack (L separate Keras layers, each
    with its own ``initial_state``): a list of L entries, each that list or None (zeros, as
    Keras starts a layer given none). Or a mapping by name (``initial_state_shapes``; an
    .npz file's names), where a stacked layer whose names are all absent starts from zeros.
    """
    from collections.abc import Mapping

    import numpy as np

    from .shared import state_array, states_given

    names = _layer_state_names(spec)
    d, b, h = spec.directions, spec.batch, spec.units
    h0 = np.zeros((d * spec.layers, b, h), dtype=dtype)  # (D·L, B, H)
    c0 = np.zeros((d * spec.layers, b, h), dtype=dtype) if spec.cell == "lstm" else None
    title = f"keras.layers.{CELL_TITLES[spec.cell]}"
    if spec.bidirectional:
        title = f"keras.layers.Bidirectional({title})"
    if spec.layers == 1:
        per_layer = [given]
    elif isinstance(given, Mapping):
        allowed = {o.name for o in initial_state_shapes(spec)}
        extra = sorted(set(given) - allowed)
        if extra:
            raise SpecError("initial_state", f"{extra[0]!r} is not a state name; this stack takes layer{{k}}/{{{', '.join(names)}}}, k < {spec.layers}")
        per_layer = []
        for layer in range(spec.layers):
            mine = {n: given[f"layer{layer}/{n}"] for n in names if f"layer{layer}/{n}" in given}
            per_layer.append(mine or None)
    else:
        entries_ok = isinstance(given, (list, tuple)) and all(
            e is None or isinstance(e, (list, tuple, Mapping)) for e in given)
        if not entries_ok or len(given) != spec.layers:
            raise SpecError(
                "initial_state",
                f"a stack of {spec.layers} Keras layers takes a list of {spec.layers} entries, one per layer, "
                f"each None or that layer's [{', '.join(names)}]",
            )
        per_layer = list(given)
    for layer, entry in enumerate(per_layer):
        if entry is None:
            continue
        prefix = f"layer{layer}/" if spec.layers > 1 else ""
        what = title + (f" (layer {layer})" if spec.layers > 1 else "") + "'s initial_state"
        values = states_given(entry, names, what)
        for name, value in zip(names, values):
            state, _, side = name.partition("_")
            a = state_array(prefix + name, value, (b, h), dtype)
            row = layer * d + (1 if side == "bw" else 0)
            (h0 if state == "h" else c0)[row] = a
    return h0, c0


def initial_state_to(spec: LayerSpec, h_n, c_n):
    """Every layer's final states (D·L, B, H) in the form ``initial_state_from`` takes."""
    names = _layer_state_names(spec)
    d = spec.directions
    per_layer = []
    for layer in range(spec.layers):
        row = []
        for name in names:
            state, _, side = name.partition("_")
            row.append((h_n if state == "h" else c_n)[layer * d + (1 if side == "bw" else 0)])
        per_layer.append(row)
    return per_layer[0] if spec.layers == 1 else per_layer


def masked_output(spec: LayerSpec) -> str:
    """What a masked step's output holds (measured on Keras 3.15.1, torch backend):
    ``"hold"``, the last unmasked step's output (RNN ``zero_output_for_mask=False``), for
    one direction; ``"zero"`` under ``Bidirectional``, which sets ``zero_output_for_mask``
    on both its layers. The states are held over masked steps either way."""
    return "zero" if spec.bidirectional else "hold"


# --- the Keras family ---------------------------------------------------------------------------


class Keras(Convention):
    """What Keras 3 (this module) and Keras 2 CuDNN (``keras2.py``) share, as this module's
    functions: our weights keys, the inference from their names and shapes, what the layer
    returns and what its keys cannot show, and the constructor lines (with the member's own
    ``CELL_TITLES``). A member defines its tensors, formula, conversions and initial weights."""

    weights_key = staticmethod(weights_key)
    recognises = staticmethod(recognises)
    parse_name = staticmethod(parse_name)
    describe_names = staticmethod(describe_names)
    infer_options = staticmethod(infer_options)
    outputs = staticmethod(outputs)
    forward_result = staticmethod(forward_result)
    returned_fields = staticmethod(returned_fields)
    unknown_options = staticmethod(unknown_options)

    def constructor(self, spec: LayerSpec) -> list[str]:
        return constructor(spec, self.CELL_TITLES)


CONVENTION = Keras(__name__)  # last: the instance takes every name above
