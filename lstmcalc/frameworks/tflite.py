"""TFLite (LiteRT): the fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``, ``BIDIRECTIONAL_SEQUENCE_LSTM``
and ``UNIDIRECTIONAL_SEQUENCE_RNN`` operators.

Source (read, not guessed): tensorflow/lite/kernels/lstm_shared.h (the input positions),
unidirectional_sequence_lstm.cc, bidirectional_sequence_lstm.cc, lstm_eval.cc (the
arithmetic), unidirectional_sequence_rnn.cc, and schema.fbs (the options); measured with
ai-edge-litert 2.3.0. The op's inputs by position, one tensor per gate, matrices out × in::

    0  input (B, T, X), (T, B, X) with time_major
    1-4   input_to_{input, forget, cell, output}_weights      (H, X)
    5-8   recurrent_to_{input, forget, cell, output}_weights  (H, H_out), (H,) with diagonal
    9-11  cell_to_{input, forget, output}_weights             (H,)  peepholes
    12-15 {input, forget, cell, output}_gate_bias             (H,)
    16 projection_weights (P, H);  17 projection_bias (P,)
    18 output_state (B, H_out), 19 cell_state (B, H): variable tensors, kept between invoke()s
    20-23 {input, forget, cell, output}_layer_norm_coefficients (H,)

An absent optional input is -1; no input gate (1, 5, 12 absent) is CIFG, i = 1 − f. Tensor
names in a converted file are meaningless (``arith.constantN``): the role is the position.
The bidirectional op takes 48 inputs: forward 1-17, backward 18-34 (the same order), states
35-38 (fw h, fw c, bw h, bw c), auxiliary input 39-47; it has no layer norm. The RNN op:
0 input, 1 weights (H, X), 2 recurrent_weights (H, H), 3 bias (H,), 4 hidden_state (B, H).
There is no fused GRU. The cell (lstm_eval.cc, float): a_q = W_q x + U_q h_prev (+ p_q ⊙ c),
normalised over H and times the coefficient with layer norm, then + b_q; c_t = f ⊙ c_prev + i ⊙
act(a_g), clipped to ±cell_clip; h = o ⊙ act(c_t), then W_proj h + b_proj clipped to
±proj_clip. Here gate letters are ours (g is what TFLite calls "cell").
"""

from __future__ import annotations

import re

from ..canonical import DIRECTIONS, Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import LayerSpec, SpecError

NAME = "tflite"
TITLE = "TFLite (LiteRT)"
SHORT = "TFLite"  # in running text
CELLS = ("lstm", "rnn")
CELL_TITLES = {"lstm": "UNIDIRECTIONAL_SEQUENCE_LSTM", "rnn": "UNIDIRECTIONAL_SEQUENCE_RNN"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "rnn": ("h",)}
LETTERS = {("lstm", "g"): "cell"}  # TFLite names the candidate "cell" (input_to_cell_weights, cell_gate_bias)
GATE_WORD = {"i": "input", "f": "forget", "g": "cell", "o": "output"}
OPTIONS = frozenset({"proj_size", "peepholes", "layout", "cifg", "layer_norm", "proj_bias", "diagonal",
                     "cell_clip", "proj_clip"})
DEFAULT_LAYOUT = 1  # time_major = false, the converter's choice for a Keras LSTM: input (B, T, X)
WHY_NOT = {
    "gru": "TFLite has no fused GRU operator: the converter writes every GRU as a WHILE loop (or unrolled "
           "FULLY_CONNECTED ops), which holds no GRU layer to count",
    "merge_mode": "is a Keras Bidirectional option; BIDIRECTIONAL_SEQUENCE_LSTM concatenates (merge_outputs) "
                  "or returns both directions apart",
    "reset_before": "TFLite has no fused GRU",
    "return_sequences": "is a Keras option; the fused op always returns every step",
    "return_state": "is a Keras option; the fused op keeps its states in variable tensors, not outputs",
    "no_bias": "the fused op's gate biases 12-15 are required inputs (a bias-free Keras LSTM converts with zeros)",
}
POSITIONS = {"input": 1, "recurrent": 5, "peephole": 9, "bias": 12, "projection": 16, "projection_bias": 17,
             "layer_norm": 20}
BIDIRECTIONAL_BACKWARD = 17  # backward tensors sit 17 positions after the forward ones
NAMES_HINT = ("input_to_{input,forget,cell,output}_weights, recurrent_to_..._weights, cell_to_{input,forget,output}"
              "_weights, {input,forget,cell,output}_gate_bias, projection_weights, projection_bias, "
              "{gate}_layer_norm_coefficients (fw_/bw_ for a bidirectional op, layer{k}/ for a stack); RNN: "
              "weights, recurrent_weights, bias")
SCALE = ":scale"  # key suffix: the per-tensor scale of a hybrid (int8) weight, dequantized beside it
INPUTS_KEY = "asymmetric_quantize_inputs"  # 0-d: how a hybrid op quantizes its inputs (1 asymmetric)

TFLITE_NAME = re.compile(r"^(?:layer(?P<layer>\d+)/)?(?P<dir>fw_|bw_)?(?P<name>[a-z_]+)$")
LSTM_NAMES = (
    [f"input_to_{GATE_WORD[q]}_weights" for q in "ifgo"] + [f"recurrent_to_{GATE_WORD[q]}_weights" for q in "ifgo"]
    + [f"cell_to_{GATE_WORD[q]}_weights" for q in "ifo"] + [f"{GATE_WORD[q]}_gate_bias" for q in "ifgo"]
    + ["projection_weights", "projection_bias"] + [f"{GATE_WORD[q]}_layer_norm_coefficients" for q in "ifgo"]
)
RNN_NAMES = ("weights", "recurrent_weights", "bias")


# --- layout (stdlib) -------------------------------------------------------------------------


def weighted_gates(spec: LayerSpec) -> tuple[str, ...]:
    """The gates with tensors: i, f, g, o, without i under CIFG."""
    return tuple(q for q in GATE_ORDER[spec.cell] if not (spec.cifg and q == "i"))


def _prefix(spec: LayerSpec, layer: int, direction: str) -> str:
    stack = f"layer{layer}/" if spec.layers > 1 else ""
    side = ("fw_" if direction == "forward" else "bw_") if spec.bidirectional else ""
    return stack + side


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The constant inputs of one op (layer) and direction, in position order."""
    h, x, p = spec.units, spec.layer_input_size(layer), spec.proj_size
    pre = _prefix(spec, layer, direction)
    one = lambda q: (GateSlice(q, 0, 0, h),)  # noqa: E731  every tensor is one gate's block
    if spec.cell == "rnn":
        return [TensorLayout(pre + "weights", layer, direction, (h, x), "input", one("h")),
                TensorLayout(pre + "recurrent_weights", layer, direction, (h, h), "recurrent", one("h")),
                TensorLayout(pre + "bias", layer, direction, (h,), "bias", one("h"))]
    gates = weighted_gates(spec)
    rec = (h,) if spec.diagonal else (h, spec.hidden_out)
    out = [TensorLayout(f"{pre}input_to_{GATE_WORD[q]}_weights", layer, direction, (h, x), "input", one(q)) for q in gates]
    out += [TensorLayout(f"{pre}recurrent_to_{GATE_WORD[q]}_weights", layer, direction, rec, "recurrent", one(q))
            for q in gates]
    if spec.peepholes:
        out += [TensorLayout(f"{pre}cell_to_{GATE_WORD[q]}_weights", layer, direction, (h,), "peephole", one(q))
                for q in "ifo" if q in gates]
    out += [TensorLayout(f"{pre}{GATE_WORD[q]}_gate_bias", layer, direction, (h,), "bias", one(q)) for q in gates]
    if p:
        out.append(TensorLayout(f"{pre}projection_weights", layer, direction, (p, h), "projection", ()))
        if spec.proj_bias:
            out.append(TensorLayout(f"{pre}projection_bias", layer, direction, (p,), "projection_bias", ()))
    if spec.layer_norm:
        out += [TensorLayout(f"{pre}{GATE_WORD[q]}_layer_norm_coefficients", layer, direction, (h,), "layer_norm",
                             one(q)) for q in gates]
    return out


def position(spec: LayerSpec, tensor: TensorLayout) -> int:
    """The tensor's input position in its op (1-23; bidirectional backward 18-34)."""
    if spec.cell == "rnn":
        return {"input": 1, "recurrent": 2, "bias": 3}[tensor.role]
    base = POSITIONS[tensor.role]
    if tensor.role in ("input", "recurrent", "bias", "layer_norm"):
        base += "ifgo".index(tensor.slices[0].gate)
    elif tensor.role == "peephole":
        base += "ifo".index(tensor.slices[0].gate)
    return base + (BIDIRECTIONAL_BACKWARD if tensor.direction == "backward" else 0)


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The kernel's name of the input (lstm_shared.h), ``fw_``/``bw_`` and ``layer{k}/`` as needed."""
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    """One bias vector per gate (12-15)."""
    return 1


def gate_biases(spec: LayerSpec, gate: str) -> int:
    """1, but 0 for the input gate under CIFG (12 absent)."""
    return 0 if spec.cifg and gate == "i" else 1


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One op's (direction's) count, symbolic and with numbers."""
    h, x, p = spec.units, spec.layer_input_size(layer), spec.proj_size
    if spec.cell == "rnn":
        return "X·H + H·H + H", f"{x}·{h} + {h}·{h} + {h}"
    g = len(weighted_gates(spec))
    rec_sym, rec_num = ("H", f"{h}") if spec.diagonal else (("P·H", f"{p}·{h}") if p else ("H·H", f"{h}·{h}"))
    sym, num = f"{g} × (X·H + {rec_sym} + H)", f"{g} × ({x}·{h} + {rec_num} + {h})"
    if spec.peepholes:
        n = 2 if spec.cifg else 3
        sym, num = f"{sym} + {n}H", f"{num} + {n}·{h}"
    if p:
        sym, num = f"{sym} + P·H", f"{num} + {p}·{h}"
        if spec.proj_bias:
            sym, num = f"{sym} + P", f"{num} + {p}"
    if spec.layer_norm:
        sym, num = f"{sym} + {g}H", f"{num} + {g}·{h}"
    return sym, num


def _op(spec: LayerSpec) -> str:
    if spec.cell == "rnn":
        return "BIDIRECTIONAL_SEQUENCE_RNN" if spec.bidirectional else "UNIDIRECTIONAL_SEQUENCE_RNN"
    return "BIDIRECTIONAL_SEQUENCE_LSTM" if spec.bidirectional else "UNIDIRECTIONAL_SEQUENCE_LSTM"


def outputs(spec: LayerSpec) -> list[Output]:
    """The op's one output: every step, (B, T, D·H_out), (T, B, D·H_out) with time_major
    (the bidirectional op with merge_outputs)."""
    b, t, w = spec.batch, spec.time, spec.directions * spec.hidden_out
    last = " of the last op (one op per layer)" if spec.layers > 1 else ""
    shape = (t, b, w) if spec.layout == 0 else (b, t, w)
    return [Output("output", shape, f"h_t of every step{last} (time_major={spec.layout == 0})")]


def input_shapes(spec: LayerSpec) -> list[Output]:
    """Input 0, with the batch the file fixes."""
    b, t, x = spec.batch, spec.time, spec.input_size
    return [Output("input", (t, b, x) if spec.layout == 0 else (b, t, x), "position 0; the batch is fixed in the file")]


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """The variable tensors (18 h, 19 c; bidirectional 35-38; RNN 4), per op."""
    b, h = spec.batch, spec.units
    out = []
    for d in DIRECTIONS[: spec.directions]:
        side = ("fw_" if d == "forward" else "bw_") if spec.bidirectional else ""
        out.append(Output(f"{side}output_state", (b, spec.hidden_out), "variable tensor: h, kept between invoke()s"))
        if spec.cell == "lstm":
            out.append(Output(f"{side}cell_state", (b, h), "variable tensor: c, kept between invoke()s"))
    return out


def options_of(spec: LayerSpec) -> dict:
    """The op's options (schema.fbs) for ``spec``."""
    opts = {"fused_activation_function": "RELU" if spec.activation == "relu" else "TANH",
            "time_major": spec.layout == 0}
    if spec.cell == "lstm":
        opts.update(cell_clip=spec.cell_clip, proj_clip=spec.proj_clip)
        if not spec.bidirectional:
            opts["diagonal_recurrent_tensors"] = spec.diagonal
        else:
            opts["merge_outputs"] = True
    return opts


def constructor(spec: LayerSpec) -> list[str]:
    """Each op with its options and its inputs by position (-1: absent)."""
    lines = []
    for layer in range(spec.layers):
        slots = {}
        for d in DIRECTIONS[: spec.directions]:
            for t in layer_tensors(spec, layer, d):
                slots[position(spec, t)] = t.name
        n = 5 if spec.cell == "rnn" else (48 if spec.bidirectional else 24)
        states = [t.name for t in initial_state_shapes(spec)]
        first_state = {5: 4, 24: 18, 48: 35}[n]
        for k, name in enumerate(states):
            slots[first_state + k] = name
        slots[0] = "input" if layer == 0 else f"layer{layer - 1}/output"
        inputs = ", ".join(f"{k}:{slots[k]}" if k in slots else f"{k}:-1" for k in range(n))
        opts = ", ".join(f"{k}={v}" for k, v in options_of(spec).items())
        lines.append(f"{_op(spec)}({opts}) inputs [{inputs}]")
    return lines


ABSENT = -1  # the tensor index an op lists for an absent optional input (schema.fbs)
CONVERTER_CELL_CLIP = 10  # what the converter writes as cell_clip for a Keras LSTM (tests/fixtures/tflite)


def bias_note(spec: LayerSpec) -> tuple:
    """(sentence, the numbers it states), measured in tests/crosscheck/test_note_numbers.py."""
    h = spec.units
    n = len(weighted_gates(spec)) if spec.cell == "lstm" else 1
    keras = "LSTM" if spec.cell == "lstm" else "SimpleRNN"
    per = "per layer and direction"
    return (f"One bias vector per gate ({n} × {h} = {n * h} per op and direction), a required input: a Keras "
            f"{keras} converts with its own bias, so the file holds exactly Keras' count_params().",
            (("weighted_gates", n, per), ("units", h, per), ("bias_params", n * h, per)))


def _positions(spec: LayerSpec, keep) -> tuple[int, ...]:
    """The input positions of the tensors ``keep(tensor)`` selects, every direction of one op."""
    return tuple(sorted(position(spec, t) for d in DIRECTIONS[: spec.directions]
                        for t in layer_tensors(spec, 0, d) if keep(t)))


def _span(positions: tuple[int, ...]) -> str:
    """20-23 for a run of positions, else 1, 5, 12."""
    if len(positions) > 1 and list(positions) == list(range(positions[0], positions[-1] + 1)):
        return f"{positions[0]}-{positions[-1]}"
    return ", ".join(map(str, positions))


def notes(spec: LayerSpec) -> list[tuple]:
    """What is particular to the fused ops: positions, variants, and the three surprises. Each
    note is (sentence, the numbers it states), measured in tests/crosscheck/test_note_numbers.py
    on the converter's fixtures and on ops the interpreter runs."""
    from dataclasses import replace

    h, b = spec.units, spec.batch
    per, whole = "per layer and direction", "whole configuration"
    first = "layer 0" + (", each direction" if spec.directions == 2 else "")
    out = [bias_note(spec)]
    if spec.cell == "lstm":
        n = 48 if spec.bidirectional else 24
        out.append((
            f"{_op(spec)} takes {n} inputs by position, one tensor per gate, matrices stored out × in "
            f"({h} × {spec.input_size} for input_to_*_weights): the role is the position, not the name, which a "
            f"converter leaves as arith.constantN. Absent optional inputs are {ABSENT}.",
            (("op_inputs", n, per), ("units", h, per), ("input_features", spec.input_size, first),
             ("absent_input_index", ABSENT, per))))
        if spec.cifg:
            gates = len(weighted_gates(spec))
            where = _positions(replace(spec, cifg=False), lambda t: t.slices and t.slices[0].gate == "i")
            out.append((
                f"CIFG: no input gate (positions {_span(where)} are {ABSENT}); i = 1 − f, so {gates} gates carry "
                f"weights, {gates} × {h} rows instead of {spec.gates} × {h}.",
                (("input_gate_positions", where, per), ("absent_input_index", ABSENT, per),
                 ("weighted_gates", gates, per), ("units", h, per), ("gates", spec.gates, per))))
        if spec.layer_norm:
            where = _positions(spec, lambda t: t.role == "layer_norm")
            out.append((
                f"Layer norm: each gate's pre-activation (without bias) is normalised over its {h} units, "
                f"times its coefficients ({_span(where)}), then the bias is added.",
                (("units", h, per), ("layer_norm_positions", where, per))))
        if spec.diagonal:
            where = _positions(spec, lambda t: t.role == "recurrent")
            out.append((f"Diagonal recurrent weights: {_span(where)} are vectors ({h},) multiplying h elementwise.",
                        (("recurrent_positions", where, per), ("units", h, per))))
        if spec.cell_clip:
            clip, conv = spec.cell_clip, CONVERTER_CELL_CLIP
            out.append((
                f"cell_clip = {clip:g}: c_t is clipped to ±{clip:g} after every step. "
                f"The converter writes cell_clip = {conv} into every Keras LSTM, so a converted model departs "
                f"from Keras once |c| passes {conv}.",
                (("cell_clip", clip, per), ("converter_cell_clip", conv, whole))))
        if spec.proj_clip:
            out.append((f"proj_clip = {spec.proj_clip:g}: the projection's output is clipped to ±{spec.proj_clip:g}.",
                        (("proj_clip", spec.proj_clip, per),)))
    states = "h and c" if spec.cell == "lstm" else "h"
    if spec.cell == "lstm" and spec.hidden_out != h:  # with a projection h is (B, P), c (B, H)
        shapes = f"h ({b}, {spec.hidden_out}) and c ({b}, {h})"
        stated = (("batch", b, whole), ("state_size", spec.hidden_out, per), ("cell_state_size", h, per))
    else:
        shapes = f"{states}, ({b}, {spec.hidden_out}) each"
        stated = (("batch", b, whole), ("state_size", spec.hidden_out, per))
    out.append((
        f"The states ({shapes}) are variable tensors: the interpreter keeps them between "
        "invoke() calls, so a second call continues from the first unless reset_all_variables() is called; the "
        f"batch size {b} is fixed in the file.", stated))
    if spec.layers > 1:
        out.append((f"The op has no stacking: these are {spec.layers} ops, each reading the previous one's output.",
                    (("layers", spec.layers, whole),)))
    return out


# --- weights (NumPy) -------------------------------------------------------------------------


def recognises(key: str) -> bool:
    m = TFLITE_NAME.match(key.removesuffix(SCALE))
    return m is not None and (m["name"] in LSTM_NAMES or m["name"] in RNN_NAMES) or key == INPUTS_KEY


def parse_name(key: str) -> tuple[int, str, str] | None:
    """(layer, direction, kernel name) of a key, or None (scales and the inputs flag are
    auxiliary: :func:`auxiliary`)."""
    m = TFLITE_NAME.match(key)
    if not m or not (m["name"] in LSTM_NAMES or m["name"] in RNN_NAMES):
        return None
    return int(m["layer"] or 0), "backward" if m["dir"] == "bw_" else "forward", m["name"]


def auxiliary(key: str) -> bool:
    """A key that is no tensor of the layer: a hybrid weight's scale, the inputs flag."""
    return key.endswith(SCALE) or key == INPUTS_KEY


def describe_names(names) -> dict[tuple[int, str, str], str]:
    from .shared import parsed_names

    return parsed_names(names, parse_name, f"a TFLite LSTM/RNN input name ({NAMES_HINT})", skip=auxiliary)


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    """Sizes and variants from the names present and the shapes."""
    from ..errors import FileError
    from .shared import as_array, shape_of

    names = {name for (_, _, name) in parsed}
    found_cell = "rnn" if "weights" in names else "lstm"
    if cell is not None and cell != found_cell:
        raise FileError(f"the tensors are a TFLite {found_cell} op's, not {cell}")
    first = {name: key for (layer, d, name), key in parsed.items() if layer == 0 and d == "forward"}
    if found_cell == "rnn":
        w = as_array(first["weights"], weights[first["weights"]])
        return {"units": int(w.shape[0]), "input_size": int(w.shape[1]), "cell": "rnn", "bias": True,
                "bidirectional": any(d == "backward" for _, d, _ in parsed),
                "layers": max(k for k, _, _ in parsed) + 1, "proj_size": 0}
    key = first.get("input_to_forget_weights")
    if key is None:
        raise FileError("input_to_forget_weights: missing (every TFLite LSTM has a forget gate)")
    w = as_array(key, weights[key])
    if w.ndim != 2:
        raise FileError(f"{key}: shape {shape_of(w)} is not (H, X)")
    proj = 0
    if "projection_weights" in first:
        proj = int(shape_of(weights[first["projection_weights"]])[0])
    rec = shape_of(weights[first["recurrent_to_forget_weights"]]) if "recurrent_to_forget_weights" in first else ()
    return {
        "units": int(w.shape[0]), "input_size": int(w.shape[1]), "cell": "lstm", "bias": True,
        "bidirectional": any(d == "backward" for _, d, _ in parsed),
        "layers": max(k for k, _, _ in parsed) + 1, "proj_size": proj,
        "peepholes": "cell_to_forget_weights" in names,
        "cifg": "input_to_input_weights" not in names,
        "layer_norm": "forget_layer_norm_coefficients" in names,
        "proj_bias": "projection_bias" in names,
        "diagonal": len(rec) == 1,
    }


def to_canonical(weights, spec: LayerSpec) -> Canonical:
    """Per gate tensors as they are (already (H, X_k) / (H, H_out)); the bias to ``b_w``;
    peepholes, layer-norm coefficients, projection and its bias; hybrid scales to ``quant``."""
    import numpy as np

    layers = []
    for layer in range(spec.layers):
        row = []
        for direction in DIRECTIONS[: spec.directions]:
            by_role: dict = {}
            quant = {}
            for t in layer_tensors(spec, layer, direction):
                a = np.asarray(weights[t.name])
                gate = t.slices[0].gate if t.slices else None
                by_role.setdefault(t.role, {})[gate] = a
                if t.name + SCALE in weights:
                    quant[(t.role, gate)] = float(np.asarray(weights[t.name + SCALE]))
            part = Direction(w=by_role["input"], u=by_role["recurrent"], b_w=by_role["bias"],
                             peep=by_role.get("peephole"), proj=by_role.get("projection", {}).get(None),
                             norm=by_role.get("layer_norm"), proj_b=by_role.get("projection_bias", {}).get(None),
                             quant=quant or None)
            row.append(part)
        layers.append(row)
    return Canonical(spec.cell, layers, activation=spec.activation, cell_clip=spec.cell_clip,
                     proj_clip=spec.proj_clip, asymmetric_inputs=bool(np.asarray(weights.get(INPUTS_KEY, False))))


def from_canonical(c: Canonical, spec: LayerSpec) -> dict:
    """The op's tensors for ``spec``. Two bias vectors per gate (PyTorch, ONNX) are summed
    (only their sum reaches a gate). Refused with the reason: a GRU, an ONNX pre-activation clip."""
    import numpy as np

    if c.cell == "gru":
        raise SpecError("cell", WHY_NOT["gru"])
    if c.clip is not None:
        raise SpecError("clip", f"clips every pre-activation to ±{c.clip} (ONNX); TFLite clips the cell state and "
                                "the projection only")
    if c.bidirectional and c.merge_mode != "concat":
        raise SpecError("merge_mode", f"a Bidirectional that {c.merge_mode}s the directions has no TFLite op: "
                                      "BIDIRECTIONAL_SEQUENCE_LSTM concatenates them")
    from ..canonical import bias_sum

    out = {}
    for layer, direction, part in c.directions():
        for t in layer_tensors(spec, layer, direction):
            gate = t.slices[0].gate if t.slices else None
            if t.role == "input":
                a = part.w[gate]
            elif t.role == "recurrent":
                a = part.u[gate]
            elif t.role == "bias":
                total = bias_sum(part, gate)
                a = np.zeros(spec.units) if total is None else total
                a = np.asarray(a, dtype=np.asarray(part.w[gate]).dtype)
            elif t.role == "peephole":
                a = part.peep[gate]
            elif t.role == "projection":
                a = part.proj
            elif t.role == "projection_bias":
                a = part.proj_b
            else:
                a = part.norm[gate]
            out[t.name] = np.ascontiguousarray(a)
    return out


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """``output`` (B, T, D·H_out), (T, B, D·H_out) with time_major; h and c are the variable
    tensors' values after the call (D·L, B, ·), which the op does not return."""
    import numpy as np

    y = np.ascontiguousarray(output.swapaxes(0, 1)) if spec.layout == 0 else output
    return {"output": y, "h": h_n, "c": c_n}


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """The op's one output."""
    return ("output",)


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """Tensors alone do not show the RNN's activation, the clips or time_major (the file's
    options do: the .tflite reader sets them)."""
    return {"activation": ("tanh", "relu")} if spec.cell == "rnn" else {}


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """No initialiser of its own (weights come from a converter): U(−1/√H, 1/√H) every
    tensor, layer-norm coefficients U(0.5, 1.5)."""
    import numpy as np

    bound = 1.0 / np.sqrt(spec.units)
    out = {}
    for layer in range(spec.layers):
        for d in DIRECTIONS[: spec.directions]:
            for t in layer_tensors(spec, layer, d):
                lo, hi = (0.5, 1.5) if t.role == "layer_norm" else (-bound, bound)
                out[t.name] = np.ascontiguousarray(rng.uniform(lo, hi, size=t.shape), dtype=dtype)
    return out


assert DIRECTIONS == ("forward", "backward")


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
