"""PyTorch: ``torch.nn.LSTM``, ``GRU`` and ``RNN`` (``batch_first=True`` in our shapes).

Source (read, not guessed): ``torch/nn/modules/rnn.py``. ``weight_ih_l{k}`` (G·H, X_k),
``weight_hh_l{k}`` (G·H, H_out), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G·H,),
``weight_hr_l{k}`` (P, H) with ``proj_size``, suffix ``_reverse`` for the backward
direction; gate blocks along the first axis, LSTM order i, f, g, o, GRU r, z, n.
``named_parameters()`` lists, per layer and then per direction: weight_ih, weight_hh,
bias_ih, bias_hh, weight_hr. Both biases reach the same pre-activation, except the GRU
candidate's ``b_hn``, which sits inside r ⊙ (W_hn h + b_hn). Outputs: ``output``
(B, T, D·H_out), ``h_n`` (D·L, B, H_out) and for LSTM ``c_n`` (D·L, B, H); ``batch_first``
does not apply to the states.
"""

from __future__ import annotations

import re

from ..canonical import DIRECTIONS, Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import LayerSpec, SpecError
from .shared import PER, WHOLE, count_in

NAME = "torch"
TITLE = "PyTorch"
SHORT = "PyTorch"  # in running text
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}
LETTERS: dict = {}
OPTIONS = frozenset({"proj_size"})
NAMES_CARRY_POSITION = True  # weight_ih_l1_reverse
PEER = "keras"  # what a grid sets beside it
TORCH_MODULE = True  # torch.nn.LSTM / GRU / RNN themselves: what cost's FLOP counters run
WHY_NOT = {
    "merge_mode": "is a Keras Bidirectional option; PyTorch always concatenates the two directions",
    "reset_before": "PyTorch's GRU is always the reset-after form",
    "return_sequences": "is a Keras option; PyTorch always returns the whole output sequence",
    "return_state": "is a Keras option; PyTorch always returns the final states",
    "peepholes": "PyTorch's LSTM has no peephole connections",
    "layout": "is an ONNX attribute; use batch_first in PyTorch (our shapes are batch-first)",
    "direction": ("reverse is ONNX's one direction run backwards; PyTorch runs a direction backwards only as the "
                  "second half of bidirectional=True, with no reverse-only layer"),
    "recurrent_activation": "torch.nn.LSTM and nn.GRU gates are sigmoid; PyTorch has no hard_sigmoid gate option",
}

# state_dict names, optionally after a module prefix such as "encoder.lstm.".
TORCH_NAME = re.compile(
    r"^(?P<prefix>(?:.*\.)?)(?P<name>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
    r"_l(?P<layer>\d+)(?P<reverse>_reverse)?$"
)
NAMES_HINT = "weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, weight_hr_l{k}, suffix _reverse"


# --- layout (stdlib) -------------------------------------------------------------------------


def _slices(spec: LayerSpec) -> tuple[GateSlice, ...]:
    h = spec.units
    return tuple(GateSlice(g, 0, k * h, (k + 1) * h) for k, g in enumerate(GATE_ORDER[spec.cell]))


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer and direction, in ``named_parameters()`` order."""
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    suffix = f"_l{layer}" + ("_reverse" if direction == "backward" else "")
    s = _slices(spec)
    out = [
        TensorLayout(f"weight_ih{suffix}", layer, direction, (g * h, x), "input", s),
        TensorLayout(f"weight_hh{suffix}", layer, direction, (g * h, spec.hidden_out), "recurrent", s),
    ]
    if spec.bias:
        out.append(TensorLayout(f"bias_ih{suffix}", layer, direction, (g * h,), "bias_input", s))
        out.append(TensorLayout(f"bias_hh{suffix}", layer, direction, (g * h,), "bias_recurrent", s))
    if spec.proj_size:
        out.append(TensorLayout(f"weight_hr{suffix}", layer, direction, (spec.proj_size, h), "projection", ()))
    return out


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The ``state_dict()`` name itself."""
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    """bias_ih and bias_hh: 2 per gate; 0 with ``bias=False``."""
    return 2 if spec.bias else 0


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One direction's count, symbolic and with numbers."""
    g, h, p = spec.gates, spec.units, spec.proj_size
    x = spec.layer_input_size(layer)
    rec_sym, rec_num = ("P·H", f"{p}·{h}") if p else ("H·H", f"{h}·{h}")
    bias_sym, bias_num = (" + 2H", f" + 2·{h}") if spec.bias else ("", "")
    inner_sym = f"X·H + {rec_sym}{bias_sym}"
    inner_num = f"{x}·{h} + {rec_num}{bias_num}"
    if g > 1:
        sym, num = f"{g} × ({inner_sym})", f"{g} × ({inner_num})"
    else:
        sym, num = inner_sym, inner_num
    if p:
        sym, num = f"{sym} + P·H", f"{num} + {p}·{h}"
    return sym, num


def outputs(spec: LayerSpec) -> list[Output]:
    """``output, h_n`` (and LSTM ``c_n``), as the module returns them with batch_first=True."""
    b, t, h = spec.batch, spec.time, spec.units
    d, h_out = spec.directions, spec.hidden_out
    out = [
        Output("output", (b, t, d * h_out), "h_t of the last layer at every step (batch_first=True)"),
        Output("h_n", (d * spec.layers, b, h_out), "final h of every layer and direction"),
    ]
    if spec.cell == "lstm":
        out.append(Output("c_n", (d * spec.layers, b, h), "final c of every layer and direction"))
    return out


def outputs_caption(spec: LayerSpec) -> str:
    """batch_first applies to input and output only (torch/nn/modules/rnn.py)."""
    return "batch_first does not apply to h0/c0 and h_n/c_n: they stay (D·L, B, ·)."


_KIND = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}  # the bias sentence's words (Keras' class names)


def _peer_total(spec: LayerSpec) -> int | None:
    """The same layer's count in ``PEER`` (Keras 3, reset-after GRU), where it has that layer:
    None with a projection (Keras has none)."""
    if spec.proj_size:
        return None
    return count_in(spec, PEER, reset_after=True, merge_mode="concat")


def bias_note(spec: LayerSpec) -> tuple:
    """PyTorch's two bias vectors per gate against Keras' one: (sentence, the numbers it states)."""
    g, h = spec.gates, spec.units
    gh, multi = g * h, spec.layers * spec.directions > 1
    twin = _peer_total(spec)
    if spec.cell == "gru":
        return (
            "PyTorch keeps two bias vectors per gate, bias_ih and bias_hh (cuDNN's formulation). For r and z "
            "only the sums b_ir + b_hr and b_iz + b_hz reach the gates, but b_hn sits inside the reset gate, "
            "n = tanh(W_in x + b_in + r⊙(W_hn h_(t-1) + b_hn)), so it cannot be moved into b_in: the "
            "candidate's two biases are not redundant. Keras' GRU with reset_after=True (its default) "
            f"keeps the same two, so the counts agree: {twin:,} there too.", (("keras_twin_total", twin, WHOLE),))
    whole = gh * spec.layers * spec.directions
    text = (
        f"PyTorch keeps two bias vectors per {'gate' if g > 1 else 'block'}, bias_ih and bias_hh (cuDNN's "
        f"formulation). In the {_KIND[spec.cell]} only their sum b_ih + b_hh reaches the "
        f"{'gates' if g > 1 else 'block'}, so one of the two is redundant: it costs {gh:,} "
        f"{'parameter' if gh == 1 else 'parameters'}" + (f" per layer and direction, {whole:,} in all" if multi else "")
    )
    stated = [("second_bias_params", gh, PER)] + ([("second_bias_params", whole, WHOLE)] if multi else [])
    if twin is not None:
        text += f"; Keras keeps one bias and has {twin:,} for the same layer"
        stated.append(("keras_twin_total", twin, WHOLE))
    return text + ".", tuple(stated)


def why_no_reverse() -> str:
    """Why an ONNX direction=reverse node has no PyTorch twin."""
    return ("an ONNX direction=reverse node has no PyTorch twin: PyTorch runs a direction backwards only as "
            "the second half of bidirectional=True, with no reverse-only LSTM, GRU or RNN")


def constructor(spec: LayerSpec) -> list[str]:
    """The Python line that builds the same module."""
    args = [f"input_size={spec.input_size}", f"hidden_size={spec.units}"]
    if spec.layers > 1:
        args.append(f"num_layers={spec.layers}")
    if not spec.bias:
        args.append("bias=False")
    args.append("batch_first=True")
    if spec.bidirectional:
        args.append("bidirectional=True")
    if spec.proj_size:
        args.append(f"proj_size={spec.proj_size}")
    if spec.cell == "rnn" and spec.activation != "tanh":
        args.append(f'nonlinearity="{spec.activation}"')
    return [f"torch.nn.{CELL_TITLES[spec.cell]}({', '.join(args)})"]


# --- weights (NumPy) -------------------------------------------------------------------------


def recognises(key: str) -> bool:
    """A ``state_dict`` name, with or without a module prefix (``encoder.lstm.weight_ih_l0``)."""
    return TORCH_NAME.match(key) is not None


def parse_name(key: str) -> tuple[int, str, str] | None:
    """(layer, direction, tensor name) of a bare ``state_dict`` name, or None."""
    m = TORCH_NAME.match(key)
    if not m or m["prefix"]:
        return None
    return int(m["layer"]), "backward" if m["reverse"] else "forward", m["name"]


def describe_names(names) -> dict[tuple[int, str, str], str]:
    """{(layer, direction, name): key}; :class:`FileError` for a name that is not one."""
    from .shared import parsed_names

    return parsed_names(names, parse_name, f"a PyTorch RNN state_dict name ({NAMES_HINT})")


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    """Sizes and options that the names and shapes of ``state_dict`` tensors show."""
    from ..errors import FileError
    from .shared import as_array, cell_from_blocks, shape_of

    def get(layer: int, name: str):
        key = parsed.get((layer, "forward", name))
        if key is None:
            raise FileError(f"{name}: missing for layer {layer}, forward direction")
        return key, as_array(key, weights[key])

    hh_key, hh = get(0, "weight_hh")
    if hh.ndim != 2 or hh.shape[1] == 0:
        raise FileError(f"{hh_key}: shape {shape_of(hh)} is not (G·H, H)")
    proj = 0
    hr_key = parsed.get((0, "forward", "weight_hr"))
    if hr_key is not None:
        hr = as_array(hr_key, weights[hr_key])
        if hr.ndim != 2:
            raise FileError(f"{hr_key}: shape {shape_of(hr)} is not (P, H)")
        proj, units = hr.shape
        if hh.shape[1] != proj:
            raise FileError(
                f"{hh_key}: shape {shape_of(hh)} contradicts {hr_key} {shape_of(hr)}: expected ({hh.shape[0]}, {proj})"
            )
    else:
        units = hh.shape[1]
    if hh.shape[0] % units:
        raise FileError(f"{hh_key}: shape {shape_of(hh)} is not (G·H, H) for H={units}")
    cell = cell_from_blocks(hh_key, shape_of(hh), hh.shape[0] // units, units, cell)
    ih_key, ih = get(0, "weight_ih")
    if ih.ndim != 2:
        raise FileError(f"{ih_key}: shape {shape_of(ih)} is not (G·H, X)")
    return {
        "units": int(units), "input_size": int(ih.shape[1]), "cell": cell,
        "bias": any(name in ("bias_ih", "bias_hh") for _, _, name in parsed),
        "bidirectional": any(d == "backward" for _, d, _ in parsed),
        "layers": max(layer for layer, _, _ in parsed) + 1, "proj_size": int(proj),
    }


def to_canonical(weights, spec: LayerSpec) -> Canonical:
    """``state_dict`` tensors as the canonical form: row blocks as they are, ``bias_ih`` to
    ``b_w``, ``bias_hh`` to ``b_u``, ``weight_hr`` to ``proj``."""
    import numpy as np

    layers = []
    for layer in range(spec.layers):
        row = []
        for direction in DIRECTIONS[: spec.directions]:
            t = {x.role: x for x in layer_tensors(spec, layer, direction)}

            def blocks(role):
                a = np.asarray(weights[t[role].name])
                return {s.gate: a[s.start : s.stop] for s in t[role].slices}

            part = Direction(w=blocks("input"), u=blocks("recurrent"))
            if spec.bias:
                part.b_w, part.b_u = blocks("bias_input"), blocks("bias_recurrent")
            if spec.proj_size:
                part.proj = np.asarray(weights[t["projection"].name])
            row.append(part)
        layers.append(row)
    return Canonical(spec.cell, layers, reset_after=True, activation=spec.activation)


def from_canonical(c: Canonical, spec: LayerSpec) -> dict:
    """``state_dict`` tensors for ``spec``. A convention with one bias per gate puts it in
    ``bias_ih`` with ``bias_hh`` zero (b_ih + b_hh is what reaches the gates)."""
    import numpy as np

    if c.cell == "gru" and not c.reset_after:
        raise SpecError(
            "reset_after",
            "a GRU that applies the reset gate before the recurrent product (Keras reset_after=False, "
            "ONNX linear_before_reset=0), n = tanh(W_n x + U_n (r ⊙ h_(t-1)) + b_n), has no PyTorch equivalent: "
            "PyTorch applies it after, r ⊙ (W_hn h_(t-1) + b_hn)",
        )
    if c.peepholes:
        raise SpecError("peepholes", WHY_NOT["peepholes"] + ": the weights' P would be dropped and the outputs change")
    if c.clip is not None:
        raise SpecError("clip", f"PyTorch's RNN modules have no cell clip; this layer clips every pre-activation to ±{c.clip}")
    if c.bidirectional and c.merge_mode != "concat" and len(c.layers) > 1:
        raise SpecError(
            "merge_mode",
            f"stacked Bidirectional layers that {c.merge_mode} the directions have no PyTorch equivalent: "
            "layer 1 reads H features there, PyTorch's weight_ih_l1 reads the 2H concatenation",
        )
    order = GATE_ORDER[spec.cell]
    out = {}
    for layer, direction, part in c.directions():
        for t in layer_tensors(spec, layer, direction):
            if t.role == "input":
                a = np.concatenate([np.asarray(part.w[g]) for g in order])
            elif t.role == "recurrent":
                a = np.concatenate([np.asarray(part.u[g]) for g in order])
            elif t.role == "bias_input":
                a = np.concatenate([np.asarray(part.b_w[g]) for g in order])
            elif t.role == "bias_recurrent":
                if part.b_u is None:
                    a = np.zeros_like(np.concatenate([np.asarray(part.b_w[g]) for g in order]))
                else:
                    a = np.concatenate([np.asarray(part.b_u[g]) for g in order])
            else:
                a = np.asarray(part.proj)
            out[t.name] = np.ascontiguousarray(a)
    return out


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """ForwardResult fields: ``output`` (B, T, D·H_out), ``h`` = h_n (D·L, B, H_out), ``c`` = c_n;
    ``named``: h_n and c_n under PyTorch's names (``output, (h_n, c_n) = lstm(x)``)."""
    return {"output": output, "h": h_n, "c": c_n, "named": {"h_n": h_n, "c_n": c_n}}


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """``output, h_n`` (and ``c_n``): the module always returns all of them, under these names
    (torch.nn.LSTM's documented outputs)."""
    return ("output", "h_n", "c_n")


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """What ``state_dict`` names and shapes cannot show: an RNN's nonlinearity."""
    return {"activation": ("tanh", "relu")} if spec.cell == "rnn" else {}


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """PyTorch's default initial weights: every tensor U(−1/√H, 1/√H), ``weight_hr``
    included (``reset_parameters``). Same distribution, not torch's random stream."""
    import numpy as np

    bound = 1.0 / np.sqrt(spec.units)
    out = {}
    for layer in range(spec.layers):
        for direction in DIRECTIONS[: spec.directions]:
            for t in layer_tensors(spec, layer, direction):
                out[t.name] = np.ascontiguousarray(rng.uniform(-bound, bound, size=t.shape), dtype=dtype)
    return out


# --- initial states and padded batches ---------------------------------------------------------


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """What ``module(x, hx)`` takes as ``hx``: ``h0`` (D·L, B, H_out), and for LSTM the tuple
    ``(h0, c0)`` with ``c0`` (D·L, B, H); ``batch_first`` does not apply to them."""
    d, b = spec.directions, spec.batch
    out = [Output("h0", (d * spec.layers, b, spec.hidden_out), "initial h of every layer and direction")]
    if spec.cell == "lstm":
        out.append(Output("c0", (d * spec.layers, b, spec.units), "initial c of every layer and direction"))
    return out


def initial_state_from(spec: LayerSpec, given, dtype):
    """(h0 (D·L, B, H_out), c0 (D·L, B, H) or None) from ``hx`` as torch takes it: ``h0``, or
    for LSTM ``(h0, c0)``; or a mapping {"h0": ..., "c0": ...} (an .npz file's names)."""
    from .shared import state_array, states_given

    shapes = initial_state_shapes(spec)
    names = [o.name for o in shapes]
    what = f"torch.nn.{CELL_TITLES[spec.cell]}'s hx"
    arrays = [state_array(o.name, v, o.shape, dtype) for o, v in zip(shapes, states_given(given, names, what))]
    return arrays[0], (arrays[1] if spec.cell == "lstm" else None)


def initial_state_to(spec: LayerSpec, h_n, c_n):
    """The final states in the form ``initial_state_from`` takes: ``(h_n, c_n)`` or ``h_n``."""
    return (h_n, c_n) if spec.cell == "lstm" else h_n


def initial_state_aliases(spec: LayerSpec) -> dict[str, tuple[str, ...]]:
    """Other names of h0 and c0 in a states file: PyTorch's documented h_0, c_0; h_n, c_n (what
    ``run --save`` writes, so a run continues from the last one's file); h, c (earlier versions'
    ``run --save``)."""
    return {"h0": ("h_0", "h_n", "h"), "c0": ("c_0", "c_n", "c")}


def masked_output(spec: LayerSpec) -> str:
    """What ``pad_packed_sequence`` puts at the steps past a sequence's length: zeros
    (``padding_value=0.0``), in both directions."""
    return "zero"


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
