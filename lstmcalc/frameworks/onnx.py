"""ONNX: the ``LSTM``, ``GRU`` and ``RNN`` operators (opset 14+, one node per layer).

Source (read, not guessed): onnx ``docs/Operators.md``, the same text as
``onnx.defs.get_schema("LSTM").doc``. Per node, the spec's names kept::

    W  [D, G·H, X_k]   input weights, gate blocks along axis 1; direction 0 forward, 1 reverse
    R  [D, G·H, H]     recurrent weights
    B  [D, 2·G·H]      Wb (G·H) then Rb (G·H): two bias vectors per gate
    P  [D, 3·H]        LSTM peepholes, gates i, o, f (optional input)
    Y  [T, D, B, H] (layout 0) or [B, T, D, H] (layout 1);  Y_h, Y_c [D, B, H] or [B, D, H]

LSTM gate order i, o, f, c (c is our g, the candidate), GRU z, r, h (h is our n), RNN one
block. ``linear_before_reset`` = 1 is the GRU whose candidate keeps Rbh inside the reset
product, r ⊙ (Rh h + Rbh): PyTorch's GRU and Keras' ``reset_after=True``; 0 (the
operator's default) applies r before the product, (r ⊙ h) Rh^T, like Keras
``reset_after=False``. Here ``--no-reset-after`` means linear_before_reset = 0 and the
default (reset_after) means 1, the form both other frameworks share.

The operator has no stacking and no projection: a stack is one node per layer, layer k > 0
reading the D·H features of the previous node's Y (transposed to [T, B, D·H]). Weights
files use ``W``, ``R``, ``B``, ``P`` for one layer and ``layer{k}/W``, ... for a stack;
each tensor holds both directions of its layer.
"""

from __future__ import annotations

import re

from ..canonical import DIRECTIONS, Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import LayerSpec, SpecError

NAME = "onnx"
TITLE = "ONNX"
SHORT = "ONNX"  # in running text
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
GATE_ORDER = {"lstm": ("i", "o", "f", "g"), "gru": ("z", "r", "n"), "rnn": ("h",)}
LETTERS = {("lstm", "g"): "c", ("gru", "n"): "h"}  # the spec's W[iofc], W[zrh]
PEEPHOLE_ORDER = ("i", "o", "f")  # P[iof]
OPTIONS = frozenset({"reset_before", "peepholes", "layout", "direction"})
WRITES = (".npz", ".onnx")  # W, R, B (P) as an .npz, or a runnable .onnx model (writers.write_onnx_weights)
NAMES_CARRY_POSITION = True  # the D axis of W, R, B; layer{k}/ in a stack
# the activations a node has when its attribute is absent (onnx docs/Operators.md: LSTM f=Sigmoid, g=Tanh,
# h=Tanh; GRU f=Sigmoid, g=Tanh; RNN Tanh)
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
WHY_NOT = {
    "merge_mode": "is a Keras Bidirectional option; an ONNX node returns both directions apart in Y [T, 2, B, H]",
    "proj_size": "the ONNX LSTM operator has no projection (PyTorch's weight_hr); its Y is H wide",
    "cell_clip": "its clip attribute bounds every gate's pre-activation, not the cell state c_t",
    "return_sequences": "is a Keras option; an ONNX node always returns Y (every step), Y_h and Y_c",
    "return_state": "is a Keras option; an ONNX node always returns Y (every step), Y_h and Y_c",
}
ACTIVATION_NAMES = {"tanh": "Tanh", "relu": "Relu"}  # RNN activations attribute

ONNX_NAME = re.compile(r"^(?:layer(?P<layer>\d+)/)?(?P<name>W|R|B|P)$")
NAMES_HINT = "W, R, B, P for one layer, layer{k}/W, layer{k}/R, ... for a stack"


# --- layout (stdlib) -------------------------------------------------------------------------


def _slices(spec: LayerSpec, offset: int = 0) -> tuple[GateSlice, ...]:
    h = spec.units
    return tuple(GateSlice(g, 1, offset + k * h, offset + (k + 1) * h) for k, g in enumerate(GATE_ORDER[spec.cell]))


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer, in the node's input order (W, R, B, P). Each holds both
    directions (axis 0), so they are listed once, under "forward" ("both" when
    bidirectional); the backward direction lists none."""
    if direction == "backward":
        return []
    d, g, h, x = spec.directions, spec.gates, spec.units, spec.layer_input_size(layer)
    where = "both" if spec.bidirectional else "forward"
    name = (lambda n: n) if spec.layers == 1 else (lambda n: f"layer{layer}/{n}")
    out = [
        TensorLayout(name("W"), layer, where, (d, g * h, x), "input", _slices(spec)),
        TensorLayout(name("R"), layer, where, (d, g * h, h), "recurrent", _slices(spec)),
    ]
    if spec.bias:
        both = _slices(spec) + _slices(spec, g * h)  # Wb blocks, then Rb blocks: each gate twice
        out.append(TensorLayout(name("B"), layer, where, (d, 2 * g * h), "bias_both", both))
    if spec.peepholes:
        peep = tuple(GateSlice(q, 1, k * h, (k + 1) * h) for k, q in enumerate(PEEPHOLE_ORDER))
        out.append(TensorLayout(name("P"), layer, where, (d, 3 * h), "peephole", peep))
    return out


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """``W`` for one layer, ``layer{k}/W`` for a stack (the name itself)."""
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    """Wb and Rb: 2 per gate; 0 without B (the operator then takes zeros)."""
    return 2 if spec.bias else 0


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One direction's count (W, R, B and P rows of one direction), symbolic and with numbers."""
    g, h = spec.gates, spec.units
    x = spec.layer_input_size(layer)
    bias_sym, bias_num = (" + 2H", f" + 2·{h}") if spec.bias else ("", "")
    inner_sym, inner_num = f"X·H + H·H{bias_sym}", f"{x}·{h} + {h}·{h}{bias_num}"
    if g > 1:
        sym, num = f"{g} × ({inner_sym})", f"{g} × ({inner_num})"
    else:
        sym, num = inner_sym, inner_num
    if spec.peepholes:
        sym, num = f"{sym} + 3H", f"{num} + 3·{h}"
    return sym, num


def outputs(spec: LayerSpec) -> list[Output]:
    """Y, Y_h (and LSTM Y_c) of the (last) node, in the node's layout."""
    b, t, d, h = spec.batch, spec.time, spec.directions, spec.units
    last = " of the last node (one node per layer)" if spec.layers > 1 else ""
    ld = d * spec.layers  # a stack's Y_h/Y_c: every node's, layer by layer (as the models write_onnx_model writes return them)
    if spec.layout == 0:
        y, state = (t, d, b, h), (ld, b, h)
    else:
        y, state = (b, t, d, h), (b, ld, h)
    if spec.layers > 1:
        last_y, last = last, f" of every node, layer by layer ({spec.layers} nodes' Y_h concatenated along D)"
    else:
        last_y = last
    if spec.reverse:  # one direction from t = T−1 down to 0: Y in input order, the final states those of t = 0
        out = [
            Output("Y", y, f"h_t of every step, at its input step t (run from t = T−1 down to 0){last_y} "
                           f"(layout {spec.layout})"),
            Output("Y_h", state, f"final h, after step t = 0{last}"),
        ]
        if spec.cell == "lstm":
            out.append(Output("Y_c", state, f"final c, after step t = 0{last}"))
        return out
    out = [
        Output("Y", y, f"h_t of every step and direction{last_y} (layout {spec.layout})"),
        Output("Y_h", state, f"final h of each direction{last}"),
    ]
    if spec.cell == "lstm":
        out.append(Output("Y_c", state, f"final c of each direction{last}"))
    return out


def node_attributes(spec: LayerSpec) -> dict:
    """The attributes a node for ``spec`` carries (hidden_size, direction, layout, ...)."""
    attrs = {"hidden_size": spec.units, "direction": spec.direction, "layout": spec.layout}
    if spec.cell == "gru":
        attrs["linear_before_reset"] = 1 if spec.reset_after else 0
    if spec.cell == "rnn" and spec.activation != "tanh":
        attrs["activations"] = [ACTIVATION_NAMES[spec.activation]] * spec.directions
    return attrs


def constructor(spec: LayerSpec) -> list[str]:
    """The ``onnx.helper.make_node`` line of each layer's node."""
    lines = []
    op = CELL_TITLES[spec.cell]
    for layer in range(spec.layers):
        names = {t.role: t.name for t in layer_tensors(spec, layer, "forward")}
        x = "X" if layer == 0 else f"layer{layer}/X"
        inputs = [x, names["input"], names["recurrent"], names.get("bias_both", "")]
        if spec.peepholes:
            inputs += ["", "", "", names["peephole"]]
        while inputs[-1] == "":
            inputs.pop()
        outs = ["Y", "Y_h", "Y_c"] if spec.cell == "lstm" else ["Y", "Y_h"]
        if spec.layers > 1:
            outs = [f"layer{layer}/{o}" for o in outs]
        attrs = ", ".join(f"{k}={v!r}" for k, v in node_attributes(spec).items())
        lines.append(f"onnx.helper.make_node({op!r}, {inputs!r}, {outs!r}, {attrs})".replace("'", '"'))
    return lines


def notes(spec: LayerSpec) -> list[tuple]:
    """What is particular to the ONNX operator, for breakdown's notes: the bias split, the
    gate order against Keras' and PyTorch's, linear_before_reset, peepholes, layout and
    stacking. Each note is (sentence, the numbers it states), every number computed for ``spec``
    (measured in tests/crosscheck/test_note_numbers.py)."""
    g, h, d = spec.gates, spec.units, spec.directions
    per, whole = "per layer and direction", "whole configuration"
    lbr = 1 if spec.reset_after else 0
    out = []
    if spec.bias:
        one_bias = g * h if spec.cell != "gru" or not spec.reset_after else 0
        keras = (f"Keras keeps one bias per gate here, {one_bias} fewer per layer and direction"
                 if one_bias else "Keras' GRU with reset_after=True keeps two as well")
        stated = (("directions", d, whole), ("bias_params", 2 * g * h, per))
        stated += (("torch_extra_params", one_bias, per),) if one_bias else ()
        candidate = spec.cell == "gru" and spec.reset_after
        stated += (("linear_before_reset", lbr, whole),) if candidate else ()
        out.append((
            f"B holds two bias vectors per gate, Wb then Rb: [D, 2·G·H] = [{d}, {2 * g * h}] per layer. Only their "
            "sum reaches a gate" + (f" (except the GRU candidate's Rbh with linear_before_reset = {lbr}, which sits "
                                    "inside the reset product)" if candidate else "")
            + f"; PyTorch's bias_ih/bias_hh give the same count, {keras}.", stated))
    if spec.cell == "lstm":
        out.append(
            "W, R and B hold the gates in the order i, o, f, c (the spec's W[iofc]; c is the candidate, our g). "
            "Keras uses i, f, c, o and PyTorch i, f, g, o: a converter that reads iofc as ifco swaps the forget "
            "and output gates and the candidate and raises no error, only wrong outputs."
        )
    elif spec.cell == "gru":
        default, torch_lbr = 0, 1  # the operator's default; what torch.onnx.export writes for nn.GRU
        form = ("the candidate is h = tanh(Wh x + r ⊙ (Rh h_(t-1) + Rbh) + Wbh): PyTorch's GRU and Keras' "
                "reset_after=True" if lbr else
                "the candidate is h = tanh(Wh x + Rh (r ⊙ h_(t-1)) + Rbh + Wbh): Keras' reset_after=False; "
                "PyTorch has no such GRU")
        out.append((
            f"The gate order is z, r, h (Keras z, r, h; PyTorch r, z, n). linear_before_reset = {lbr} here: {form}. "
            f"The attribute is not in the tensors, and the operator's default is {default}: a PyTorch GRU exported "
            f"without linear_before_reset = {torch_lbr} runs with no error and different outputs.",
            (("linear_before_reset", lbr, whole), ("linear_before_reset_default", default, whole),
             ("torch_linear_before_reset", torch_lbr, whole))))
    if spec.peepholes:
        out.append((
            f"P [D, 3H] = [{d}, {3 * h}] adds {3 * h} peephole weights per layer and direction: i and f also "
            "read p ⊙ c_(t-1), o reads p ⊙ c_t (order i, o, f). Keras and PyTorch have no peepholes, so this "
            "layer converts to neither.", (("directions", d, whole), ("peephole_weights", 3 * h, per))))
    if spec.reverse:
        out.append((
            f"direction = reverse: one direction (D = {d}) that reads X from its last step, t = T−1 = {spec.time - 1}, "
            "down to t = 0; Y at step t is "
            "h at input step t (in input order, not reversed), and Y_h is h after step 0. PyTorch has no such "
            "layer (only the second half of bidirectional=True); Keras' go_backwards=True returns the sequence "
            "reversed.", (("directions", d, whole), ("last_step", spec.time - 1, whole))))
    runtime = 0  # the layout onnxruntime runs, and so the one lstmcalc writes
    order = "[T, B, X], Y [T, D, B, H]" if spec.layout == 0 else "[B, T, X], Y [B, T, D, H]"
    out.append((
        f"layout = {spec.layout}: X is {order}. onnxruntime runs only layout {runtime} (lstmcalc writes that); "
        "the weights do not depend on it.", (("layout", spec.layout, whole), ("runtime_layout", runtime, whole))))
    if spec.layers > 1:
        upper = "layers 1 and above" + (", each direction" if d == 2 else "")
        out.append((
            f"The operator has no stacking: these are {spec.layers} nodes, and layer k ≥ 1 reads the previous "
            f"node's Y transposed and reshaped to [T, B, D·H] = {d * h} features.",
            (("layers", spec.layers, whole), ("input_features", d * h, upper))))
    return out


# --- weights (NumPy) -------------------------------------------------------------------------


def recognises(key: str) -> bool:
    """``W``, ``R``, ``B``, ``P``, or ``layer{k}/`` and one of them."""
    return ONNX_NAME.match(key) is not None


def parse_name(key: str) -> tuple[int, str, str] | None:
    """(layer, "forward", tensor name) of one of our ONNX keys (a tensor holds both
    directions; the direction is a placeholder), or None."""
    m = ONNX_NAME.match(key)
    if not m:
        return None
    return int(m["layer"] or 0), "forward", m["name"]


def describe_names(names) -> dict[tuple[int, str, str], str]:
    """{(layer, "forward", name): key}; :class:`FileError` for a name that is not one, or
    bare and ``layer{k}/`` names mixed."""
    from ..errors import FileError

    parsed, bare, nested = {}, False, False
    for key in names:
        slot = parse_name(key)
        if slot is None:
            raise FileError(f"{key!r} is not an ONNX weights key ({NAMES_HINT})")
        if "/" in key:
            nested = True
        else:
            bare = True
        if bare and nested:
            raise FileError(f"{key!r}: bare ONNX names (W) and layer{{k}}/ names mixed in one set")
        parsed[slot] = key
    return parsed


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    """Sizes and options the names and shapes show: H and D from R [D, G·H, H], the cell
    from G, X from W, bias from B, peepholes from P. ``linear_before_reset`` and ``layout``
    are node attributes, not in the tensors: they are options the caller gives."""
    from ..errors import FileError
    from .shared import as_array, cell_from_blocks, shape_of

    def get(layer: int, name: str):
        key = parsed.get((layer, "forward", name))
        if key is None:
            raise FileError(f"{name}: missing for layer {layer}")
        return key, as_array(key, weights[key])

    r_key, r = get(0, "R")
    if r.ndim != 3 or r.shape[2] == 0 or r.shape[0] not in (1, 2) or r.shape[1] % r.shape[2]:
        raise FileError(f"{r_key}: shape {shape_of(r)} is not [D, G·H, H] with D 1 or 2")
    units = r.shape[2]
    cell = cell_from_blocks(r_key, shape_of(r), r.shape[1] // units, units, cell)
    w_key, w = get(0, "W")
    if w.ndim != 3:
        raise FileError(f"{w_key}: shape {shape_of(w)} is not [D, G·H, X]")
    return {
        "units": int(units), "input_size": int(w.shape[2]), "cell": cell,
        "bias": any(name == "B" for _, _, name in parsed),
        "bidirectional": r.shape[0] == 2,
        "layers": max(layer for layer, _, _ in parsed) + 1, "proj_size": 0,
        "peepholes": any(name == "P" for _, _, name in parsed),
    }


def to_canonical(weights, spec: LayerSpec) -> Canonical:
    """ONNX tensors as the canonical form: W[d] / R[d] row blocks as they are (already
    (H, X_k) / (H, H)), B[d]'s first half to ``b_w``, second to ``b_u``, P[d] to ``peep``."""
    import numpy as np

    layers = []
    for layer in range(spec.layers):
        t = {x.role: x for x in layer_tensors(spec, layer, "forward")}
        arrays = {role: np.asarray(weights[x.name]) for role, x in t.items()}
        g, h = spec.gates, spec.units
        row = []
        for d in range(spec.directions):
            part = Direction(
                w={s.gate: arrays["input"][d, s.start : s.stop] for s in t["input"].slices},  # (H, X_k)
                u={s.gate: arrays["recurrent"][d, s.start : s.stop] for s in t["recurrent"].slices},  # (H, H)
            )
            if spec.bias:
                b = arrays["bias_both"][d]  # (2·G·H,): Wb then Rb
                part.b_w = {s.gate: b[s.start : s.stop] for s in t["bias_both"].slices[:g]}
                part.b_u = {s.gate: b[s.start : s.stop] for s in t["bias_both"].slices[g:]}
                assert all(s.start >= g * h for s in t["bias_both"].slices[g:])
            if spec.peepholes:
                part.peep = {s.gate: arrays["peephole"][d, s.start : s.stop] for s in t["peephole"].slices}
            row.append(part)
        layers.append(row)
    return Canonical(spec.cell, layers, reset_after=spec.reset_after, activation=spec.activation)


def from_canonical(c: Canonical, spec: LayerSpec) -> dict:
    """ONNX tensors for ``spec``. One bias per gate (Keras LSTM/RNN, reset-before GRU) goes
    to Wb with Rb zero (Wb + Rb is what reaches the gate). Refused, with the reason: a
    projection, stacked merged Bidirectional layers, and a clip (a node attribute, which
    tensors cannot carry: write an .onnx model instead)."""
    import numpy as np

    if c.proj_size:
        raise SpecError(
            "proj_size",
            f"an LSTM with a projection (PyTorch weight_hr, proj_size={c.proj_size}) has no ONNX equivalent: the "
            "LSTM operator has no projection, its Y is the H-wide o ⊙ tanh(c_t), the projected one is "
            "P-wide, W_hr (o ⊙ tanh(c_t))",
        )
    if c.bidirectional and c.merge_mode != "concat" and len(c.layers) > 1:
        raise SpecError(
            "merge_mode",
            f"stacked Bidirectional layers that {c.merge_mode} the directions have no ONNX equivalent: layer 1 "
            "reads H features there, the next ONNX node reads both directions' 2H",
        )
    if c.clip is not None:
        raise SpecError("clip", f"is a node attribute (±{c.clip}) that W/R/B/P tensors cannot carry; "
                                "write an .onnx model to keep it")
    order = GATE_ORDER[spec.cell]
    out = {}
    for layer, row in enumerate(c.layers):
        for t in layer_tensors(spec, layer, "forward"):
            per_direction = []
            for part in row:
                if t.role == "input":
                    a = np.concatenate([np.asarray(part.w[g]) for g in order])  # (G·H, X_k)
                elif t.role == "recurrent":
                    a = np.concatenate([np.asarray(part.u[g]) for g in order])  # (G·H, H)
                elif t.role == "bias_both":
                    wb = np.concatenate([np.asarray(part.b_w[g]) for g in order])  # (G·H,)
                    rb = np.zeros_like(wb) if part.b_u is None else np.concatenate([np.asarray(part.b_u[g]) for g in order])
                    a = np.concatenate([wb, rb])  # (2·G·H,)
                else:
                    a = np.concatenate([np.asarray(part.peep[q]) for q in PEEPHOLE_ORDER])  # (3H,)
                per_direction.append(a)
            out[t.name] = np.ascontiguousarray(np.stack(per_direction))  # D first
    return out


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """ForwardResult fields in the node's shapes: ``output`` is Y [T, D, B, H] (layout 0)
    or [B, T, D, H] (layout 1) from the core's (B, T, D·H); ``h``/``c`` are Y_h/Y_c
    [D, B, H] (layout 1: [B, D, H]); ``named``: the same arrays under the node's output
    names Y, Y_h, Y_c (what ``run`` returns and saves). For a stack, ``h``/``c`` hold every layer's final
    states, layer by layer ([L·D, B, H]: what the nodes' Y_h concatenated give, as the
    models :func:`lstmcalc.readers.onnx.write_onnx_model` writes return them)."""
    import numpy as np

    b, t_len, _ = output.shape
    y = output.reshape(b, t_len, spec.directions, spec.units)  # (B, T, D, H)
    if spec.layout == 0:
        y = np.ascontiguousarray(y.transpose(1, 2, 0, 3))  # (T, D, B, H)
        h, c = h_n, c_n
    else:
        h = np.ascontiguousarray(h_n.swapaxes(0, 1))  # (B, L·D, H)
        c = None if c_n is None else np.ascontiguousarray(c_n.swapaxes(0, 1))
    return {"output": y, "h": h, "c": c, "named": {"Y": y, "Y_h": h, "Y_c": c}}


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """What the node takes as ``initial_h`` (and LSTM ``initial_c``): [D, B, H] with layout 0,
    [B, D, H] with layout 1. A stack is one node per layer; here its layers' states are
    concatenated layer by layer along the D axis ([L·D, B, H] or [B, L·D, H]), as the models
    :func:`lstmcalc.readers.onnx.write_onnx_model` writes take and return them."""
    d, b, h = spec.directions * spec.layers, spec.batch, spec.units
    shape = (d, b, h) if spec.layout == 0 else (b, d, h)
    where = "of every layer and direction" if spec.layers > 1 else "of every direction"
    out = [Output("initial_h", shape, f"initial h {where}")]
    if spec.cell == "lstm":
        out.append(Output("initial_c", shape, f"initial c {where}"))
    return out


def initial_state_from(spec: LayerSpec, given, dtype):
    """(h0 (D·L, B, H), c0 (D·L, B, H) or None) from ``initial_h`` (and ``initial_c``) in the
    node's layout: an array (GRU, RNN), a pair (LSTM), or a mapping by name (an .npz file)."""
    import numpy as np

    from .shared import state_array, states_given

    shapes = initial_state_shapes(spec)
    names = [o.name for o in shapes]
    arrays = [state_array(o.name, v, o.shape, dtype) for o, v in zip(shapes, states_given(given, names, "the ONNX node"))]
    if spec.layout == 1:  # [B, L·D, H] -> the core's (L·D, B, H)
        arrays = [np.ascontiguousarray(a.swapaxes(0, 1)) for a in arrays]
    return arrays[0], (arrays[1] if spec.cell == "lstm" else None)


def initial_state_to(spec: LayerSpec, h_n, c_n):
    """The final states in the form ``initial_state_from`` takes (Y_h, Y_c are already in it)."""
    return (h_n, c_n) if spec.cell == "lstm" else h_n


def initial_state_aliases(spec: LayerSpec) -> dict[str, tuple[str, ...]]:
    """Other names of initial_h and initial_c in a states file: the node's outputs Y_h, Y_c
    (what ``run --save`` writes, in the same layout), and h, c (earlier versions' ``run --save``)."""
    return {"initial_h": ("Y_h", "h"), "initial_c": ("Y_c", "c")}


def masked_output(spec: LayerSpec) -> str:
    """What Y holds past a sequence's ``sequence_lens``: zeros (onnxruntime; the spec leaves
    it to the runtime, measured in tests/crosscheck/test_onnx_states.py)."""
    return "zero"


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """Y, Y_h and (LSTM) Y_c: a node returns all of them, under the operator's output names."""
    return ("Y", "Y_h", "Y_c")


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """What W/R/B/P cannot show: an RNN node's activation (an attribute, not a tensor)."""
    return {"activation": ("tanh", "relu")} if spec.cell == "rnn" else {}


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """ONNX has no initialiser of its own; these are PyTorch's defaults, every tensor (P
    included) U(−1/√H, 1/√H): the distribution of weights exported from PyTorch."""
    import numpy as np

    bound = 1.0 / np.sqrt(spec.units)
    out = {}
    for layer in range(spec.layers):
        for t in layer_tensors(spec, layer, "forward"):
            out[t.name] = np.ascontiguousarray(rng.uniform(-bound, bound, size=t.shape), dtype=dtype)
    return out


assert set(GATE_ORDER) == set(CELLS) and DIRECTIONS == ("forward", "backward")


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
