"""Plain-language notes and answers about a layer's count, generated from its numbers (stdlib only).

Every number a sentence states is a :class:`Number` (name, value, scope) computed for the
configuration shown; the prose is a template over those fields, so a sentence cannot carry
a number that was not computed. ``scope`` says what a number is about, in a small fixed
grammar the cross-checks parse (``tests/crosscheck/test_explain_numbers.py``):

- ``"whole configuration"``, or ``"whole configuration, with units = 8"`` / ``"..., with
  input = 4"`` for the same configuration with one size changed;
- ``"per layer and direction"``, ``"per gate, per layer and direction"``: the same value in
  every layer and direction (and gate);
- ``"layer 0"`` (one direction) or ``"layer 0, each direction"``; ``"layers 1 and above"`` or
  ``"layers 1 and above, each direction"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import frameworks
from .frameworks.shared import shape_text
from .spec import LayerSpec

WHOLE = "whole configuration"
PER = "per layer and direction"
PER_GATE = "per gate, per layer and direction"
KIND = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


# What each number counts; a template can state only these (``_Words.n`` refuses others), and
# tests/crosscheck/_numbers.py measures each of them on the real frameworks.
NUMBER_NAMES = {
    "units": "H, hidden units",
    "gates": "G, gate blocks per cell (LSTM 4, GRU 3, SimpleRNN 1)",
    "input_features": "features each step's input vector has (X for layer 0)",
    "input_feature_adds": "parameters one more input feature adds",
    "total": "parameters",
    "layer_params": "parameters of one layer and direction",
    "layers": "L, stacked layers",
    "upper_layers": "layers above layer 0",
    "recurrent_layers": "L·D, layers times directions",
    "state_size": "entries of h_t (P with a projection, else H)",
    "cell_state_size": "entries of the LSTM cell state c_t",
    "proj_size": "P, PyTorch LSTM projection size",
    "projection_weights": "P·H weights of W_hr",
    "cross_unit_weights": "recurrent weights from one unit's h_(t-1) into another unit's gates",
    "independent_units_total": "parameters of that many independent one-unit copies",
    "biases_per_gate": "bias vectors of length H per gate",
    "bias_vectors": "bias vectors of length H in one layer and direction, G·nb (Keras 2 CuDNNLSTM's 8H: 8)",
    "bias_shape": "shape of Keras' bias tensor",
    "second_bias_params": "parameters of PyTorch's second bias vector (bias_hh)",
    "torch_extra_params": "parameters PyTorch has beyond Keras for the same layer",
    "keras_twin_total": "parameters of the same layer in Keras",
    "torch_twin_total": "parameters of the same layer in PyTorch",
    "forget_bias_init": "Keras' initial LSTM forget-gate bias (Keras 2 CuDNNLSTM: its two f biases' sum)",
    "time_steps": "T, time steps",
    "output_shape": "shape of the first tensor the layer returns",
    "output_features": "features per step of the layer's output",
    "growth_degree_units": "degree of the count as a polynomial in H (2 quadratic, 1 linear)",
    "growth_degree_inputs": "degree of the count as a polynomial in X",
    # the numbers a convention's own bias sentence states (Convention.bias_note returning (text, numbers))
    "bias_vector_params": "parameters of one bias vector of the convention (e.g. bias_ih, or bias_hh)",
    "bias_params": "bias parameters of one layer and direction of the convention, every bias vector counted",
    "input_bias_params": "parameters of the biases on the input side",
    "recurrent_bias_params": "parameters of the biases on the recurrent side (MLX bhn, Equinox bias_n: the "
                             "candidate's, inside r ⊙ (...); Keras 2 CuDNN: bias's second half)",
    "loaded_fewer_params": "parameters the LSTM that Keras 2 loads a CuDNNLSTM into has fewer than the CuDNNLSTM "
                           "(its one (4H,) bias against cuDNN's 8H)",
    "keras_bias_params": "bias parameters of the same layer in Keras (reset_after=True GRU: (2, 3H))",
    "linen_bias_params": "bias parameters of the same layer in Flax linen",
    "fewer_than_keras": "bias parameters this layer has fewer than the same layer in Keras",
    "fewer_than_linen": "bias parameters this layer has fewer than the same layer in Flax linen",
    # the numbers a convention's own notes state (Convention.notes returning (text, numbers) entries)
    "directions": "D, directions (2 bidirectional, else 1): the first axis of ONNX's W, R, B",
    "peephole_weights": "peephole weights of one layer and direction (ONNX P[d]: 3H)",
    "linear_before_reset": "the ONNX GRU node's linear_before_reset attribute (1: r multiplies R_h h + Rb_h)",
    "linear_before_reset_default": "linear_before_reset when the attribute is absent (the ONNX GRU operator's default)",
    "torch_linear_before_reset": "linear_before_reset of the node torch.onnx.export writes for a PyTorch GRU",
    "layout": "the ONNX node's layout attribute (0: X [T, B, X]; 1: X [B, T, X])",
    "runtime_layout": "the one layout onnxruntime runs (it refuses the other)",
    "last_step": "T − 1, the index of the last time step (where direction = reverse starts)",
    "weighted_gates": "gates that carry weights and a bias tensor (TFLite: 4, or 3 without the input gate under CIFG)",
    "op_inputs": "inputs a fused TFLite op takes by position (UNIDIRECTIONAL_SEQUENCE_LSTM 24, BIDIRECTIONAL 48)",
    "absent_input_index": "the tensor index a TFLite op lists at the position of an absent optional input",
    "input_gate_positions": "the op's input positions of the input gate's tensors (absent under CIFG)",
    "layer_norm_positions": "the op's input positions of the layer-norm coefficients",
    "recurrent_positions": "the op's input positions of the recurrent weights",
    "batch": "B, batch size (fixed in a TFLite file)",
    "cell_clip": "TFLite's cell_clip option: c_t is clipped to ±cell_clip after every step (0: no clip)",
    "proj_clip": "TFLite's proj_clip option: the projection's output is clipped to ±proj_clip (0: no clip)",
    "converter_cell_clip": "the cell_clip the TFLite converter writes into the op of a Keras LSTM",
}


# The numbers ConvLSTM's notes state (its own vocabulary: filters and channels, not units and
# features); tests/crosscheck/test_convlstm.py measures each of them on real Keras 3 layers.
CONV_NUMBER_NAMES = {
    "gates": "gate blocks (4: i, f, c, o)",
    "filters": "F, filters (channels of h and c)",
    "input_channels": "C, channels of the input",
    "kernel_volume": "k, positions in one convolution window (the product of kernel_size)",
    "kernel_shape": "shape of Keras' kernel tensor",
    "gate_input_weights": "weights of one gate's block of the kernel, k·C·F",
    "gate_recurrent_weights": "weights of one gate's block of the recurrent kernel, k·F·F",
    "gate_bias": "bias entries of one gate, F",
    "bias_params": "entries of Keras' bias tensor, 4F",
    "layer_params": "parameters of one direction",
    "total": "parameters",
    "spatial_dims": "spatial dimensions of the input",
    "input_spatial": "the input's spatial size",
    "output_spatial": "the spatial size of the output, h and c",
}


@dataclass(frozen=True)
class Number:
    """One number a sentence states, and what it is about."""

    name: str  # what it counts: "input_feature_adds", "total", "units", ...
    value: int | float | tuple[int, ...]  # an integer, a shape, or an option's value (a TFLite clip)
    scope: str  # see the module docstring

    def to_dict(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"name": self.name, "value": value, "scope": self.scope}


@dataclass(frozen=True)
class Sentence:
    """A paragraph of prose and the numbers it states."""

    text: str
    numbers: tuple[Number, ...]


@dataclass(frozen=True)
class Answer:
    """A newcomer's question about the layer, its answer and the numbers both state."""

    question: str
    answer: str
    numbers: tuple[Number, ...]

    def __iter__(self):  # question, answer = Answer(...)
        return iter((self.question, self.answer))

    def to_dict(self) -> dict:
        return {"question": self.question, "answer": self.answer, "numbers": [n.to_dict() for n in self.numbers]}


class _Words:
    """Collects the numbers a template states: ``w.n(name, value, scope)`` records the
    number and returns its text, so a number reaches the prose only through here."""

    def __init__(self, names: dict | None = None):
        self.numbers: list[Number] = []
        self.names = NUMBER_NAMES if names is None else names

    def n(self, name: str, value, scope: str) -> str:
        if name not in self.names:
            raise KeyError(f"undocumented number {name!r}: add it to NUMBER_NAMES")
        number = Number(name, value, scope)
        if number not in self.numbers:
            self.numbers.append(number)
        if isinstance(value, tuple):
            return shape_text(value)
        if isinstance(value, float):  # an option's value: 10.0 reads 10, 2.5 reads 2.5
            return f"{value:g}"
        return f"{value:,}"

    def sentence(self, text: str) -> Sentence:
        return Sentence(text, tuple(self.numbers))


def _s(count: int, one: str, many: str | None = None) -> str:
    """The noun for ``count`` of them: 1 feature, 2 features."""
    return one if count == 1 else (many or one + "s")


def layer_scope(spec: LayerSpec, layer: int) -> str:
    return f"layer {layer}" + (", each direction" if spec.directions == 2 else "")


def upper_scope(spec: LayerSpec) -> str:
    return "layers 1 and above" + (", each direction" if spec.directions == 2 else "")


def with_scope(key: str, value: int) -> str:
    return f"{WHOLE}, with {key} = {value}"


class _Facts:
    """The counts every template uses, for one spec (imports counting late: it imports us)."""

    def __init__(self, spec: LayerSpec):
        from .frameworks import biases_per_gate
        from .params import layer_count, total_count

        self.spec = spec
        self.g, self.h, self.x, self.t = spec.gates, spec.units, spec.input_size, spec.time
        self.d, self.layers, self.p = spec.directions, spec.layers, spec.proj_size
        self.hout = spec.hidden_out
        self.nb = biases_per_gate(spec)
        # a convention may give its gates different bias counts (MLX's GRU: b_hn on n only)
        self.uniform_bias = all(frameworks.gate_biases(spec, q) == self.nb for q in frameworks.of(spec).GATE_ORDER[spec.cell])
        self.total = total_count(spec)
        self.per = [layer_count(spec, k) for k in range(spec.layers)]
        self.multi = spec.layers * spec.directions > 1
        self.gates_word = "gates" if self.g > 1 else "block"
        self._total_count = total_count

    def count(self, **changes) -> int:
        return self._total_count(replace(self.spec, **changes))



# ---------------------------------------------------------------- sentences


def _gate_function(s: LayerSpec) -> str:
    """The sentence on a gate function other than sigmoid (Keras recurrent_activation), or ""."""
    if s.recurrent_activation == "sigmoid":
        return ""
    from .spec import RECURRENT_ACTIVATION_FORMULAS

    version = "2" if s.recurrent_activation == "hard_sigmoid_keras2" else "3"
    history = (" (the LSTM and GRU default of Keras 2 before 2.3; Keras 3's hard_sigmoid is relu6(a + 3) / 6, "
               "another function)" if version == "2" else " (Keras 2's hard_sigmoid was clip(0.2·a + 0.5, 0, 1))")
    return (f" Here σ is not the sigmoid but Keras {version}'s hard_sigmoid{history}: "
            f"σ(a) = {RECURRENT_ACTIVATION_FORMULAS[s.recurrent_activation]}, flat at 0 and 1 past its ends; "
            "the weights are the same, the outputs are not, and PyTorch has no such gate.")


def _history(f: _Facts, w: _Words) -> str:
    s = f.spec
    if s.cell == "lstm":
        b = " + b_i" if s.bias else ""
        if s.peepholes:  # ONNX P: the gates also read the cell state (Gers & Schmidhuber, 2000)
            text = (
                "This LSTM is the cell of Hochreiter & Schmidhuber (1997) with the forget gate of Gers, "
                "Schmidhuber & Cummins (2000) and the peephole connections of Gers & Schmidhuber (2000), "
                "which Keras 3 and PyTorch do not have: "
                f"i = σ(W_i x + U_i h_prev + p_i⊙c_prev{b}), f = σ(... + p_f⊙c_prev), g = tanh(...), "
                "c = f⊙c_prev + i⊙g, o = σ(... + p_o⊙c); h = o⊙tanh(c)."
            )
        else:
            text = (
                "The LSTM in Keras and PyTorch is the cell of Hochreiter & Schmidhuber (1997) with the "
                "forget gate that Gers, Schmidhuber & Cummins (2000) added, and no peephole "
                "connections: the cell drawn in Olah's \"Understanding LSTM Networks\". "
                f"i = σ(W_i x + U_i h_prev{b}), f = σ(...), g = tanh(...), o = σ(...); "
                "c = f⊙c_prev + i⊙g; h = o⊙tanh(c)."
            )
        if s.proj_size:
            text += " With proj_size, h = W_hr (o⊙tanh(c))."
        text += _stated(w, frameworks.of(s).history_note(s))  # its own defaults (Keras' forget-gate bias)
        return text + _gate_function(s)
    if s.cell == "gru":
        if s.reset_after and s.bias and frameworks.gate_biases(s, "n") < 2:  # no b_hn (Flax nnx's GRUCell)
            n = "n = tanh(W_n x + b_in + r⊙(U_n h_prev))"
            form = ("the reset-after form without the recurrent candidate bias b_hn that Keras (reset_after=True) "
                    "and PyTorch keep")
        elif s.reset_after:
            n = "n = tanh(W_n x + b_in + r⊙(U_n h_prev + b_hn))" if s.bias else "n = tanh(W_n x + r⊙(U_n h_prev))"
            form = "the reset-after form (Keras reset_after=True, PyTorch's only form)"
        else:
            n = "n = tanh(W_n x + U_n (r⊙h_prev) + b_n)" if s.bias else "n = tanh(W_n x + U_n (r⊙h_prev))"
            form = "the reset-before form (Keras reset_after=False)"
        return (
            "The GRU is the cell of Cho et al. (2014): an update gate z, a reset gate r and a "
            f"candidate n; h = z⊙h_prev + (1 − z)⊙n, here in {form}: {n}. Keras orders the blocks "
            "z, r, h(=n); PyTorch orders them r, z, n, so the slices differ even where the counts agree."
        ) + _gate_function(s)
    b = " + b" if s.bias else ""
    return (
        f"SimpleRNN (torch.nn.RNN) is the Elman (1990) network: one block, h = {s.activation}(W x + U h_prev{b}); "
        "tanh is the default nonlinearity and relu the other one both frameworks offer."
    )


def _input_note(f: _Facts) -> Sentence:
    s, w = f.spec, _Words()
    after = f.count(input_size=f.x + 1)
    gates = f"{w.n('gates', f.g, PER)} gates" if f.g > 1 else "one block"
    where = " of layer 0" if f.layers > 1 else ""
    where += " in each direction" if f.d == 2 else ""
    gh = f.g * f.h
    added = (f"{w.n('gates', f.g, PER)} × {w.n('units', f.h, PER)} = " if f.g > 1 else "") + \
        f"{w.n('input_feature_adds', gh, layer_scope(s, 0))}"
    per_what = "(one per gate per unit)" if f.g > 1 else "(one per unit)"
    text = (
        ("Every unit's gates read" if f.g > 1 else "Every unit reads") + " the whole input vector x_t: "
        + (f"each of the {gates} has" if f.g > 1 else "the block has")
        + f" an X × H = {w.n('input_features', f.x, layer_scope(s, 0))} × {w.n('units', f.h, PER)} block of input weights{where}, "
        f"so one more input feature adds {added} {_s(gh, 'weight')}{' per direction' if f.d == 2 else ''} {per_what}"
    )
    if f.d == 2:
        text += f", {w.n('input_feature_adds', after - f.total, WHOLE)} in all"
    if f.layers > 1:
        text += " (layers above the first read the layer below, not x_t)"
    text += (
        f": this configuration goes from {w.n('total', f.total, WHOLE)} to "
        f"{w.n('total', after, with_scope('input', f.x + 1))} parameters."
    )
    return w.sentence(text)


def _recurrent_note(f: _Facts) -> Sentence:
    w = _Words()
    gw = f.gates_word
    per_gate = "per gate" if f.g > 1 else ""
    scope = f" {per_gate}" if per_gate else ""
    if f.multi:
        scope += " in every layer and direction"
    if f.p:
        text = (
            f"Every unit's {gw} also read all P = {w.n('proj_size', f.p, PER)} features of the projected previous "
            f"output h_(t-1): the recurrent matrix is H × P = {w.n('units', f.h, PER)} × {w.n('proj_size', f.p, PER)}"
            f"{scope}, so the units are not independent cells; W_hr (P × H = "
            f"{w.n('projection_weights', f.p * f.h, PER)} weights{' per layer and direction' if f.multi else ''}) "
            f"maps the {w.n('units', f.h, PER)} units to the {w.n('state_size', f.p, PER)} features of h_t."
        )
        return w.sentence(text)
    if f.h == 1:
        two = f.count(units=2)
        one = f.total
        text = (
            ("Every unit's gates also read" if f.g > 1 else "Every unit also reads")
            + " every unit's previous output h_(t-1): the recurrent matrix is "
            f"H × H = {w.n('units', 1, PER)} × {w.n('units', 1, PER)}{scope}, one weight with a single unit. "
            f"With 2 units it is 2 × 2, since each unit also reads the other's h_(t-1): this configuration "
            f"would have {w.n('total', two, with_scope('units', 2))} parameters, not 2 × {w.n('total', one, WHOLE)} = "
            f"{w.n('independent_units_total', 2 * one, with_scope('units', 2))} as two independent one-unit copies would."
        )
        return w.sentence(text)
    text = (
        ("Every unit's gates also read" if f.g > 1 else "Every unit also reads")
        + " every unit's previous output h_(t-1): the recurrent matrix is "
        f"H × H = {w.n('units', f.h, PER)} × {w.n('units', f.h, PER)}{scope}, so the units are not independent cells."
    )
    if f.layers == 1:
        one = f.count(units=1)
        more = f.total - f.h * one
        text += (
            f" {w.n('units', f.h, PER)} independent one-unit copies of this configuration would have "
            f"{w.n('units', f.h, PER)} × {w.n('total', one, with_scope('units', 1))} = "
            f"{w.n('independent_units_total', f.h * one, WHOLE)} parameters; the "
            f"{w.n('cross_unit_weights', more, WHOLE)} more here are the weights from each unit's h_(t-1) into the "
            f"other units' {gw}"
        )
        if f.d == 2:
            text += f", {w.n('cross_unit_weights', more // 2, PER)} per direction"
        text += "."
    else:
        text += (
            f" In each layer and direction, {w.n('cross_unit_weights', f.g * f.h * (f.h - 1), PER)} of the recurrent "
            f"weights connect one unit's h_(t-1) to another unit's {gw}."
        )
    return w.sentence(text)


def _time_note(f: _Facts) -> Sentence:
    w = _Words()
    return w.sentence(
        f"The same weights are used at every time step: a sequence of T = {w.n('time_steps', f.t, WHOLE)} "
        f"{_s(f.t, 'step')} (or any other length) adds computation, not parameters."
    )


def _stated(w: _Words, own) -> str:
    """The text of what a convention's hook says (``bias_note``, ``history_note``): a sentence, or
    (sentence, ((name, value, scope), ...)) whose numbers ``w`` records (KeyError for a number
    NUMBER_NAMES does not document); None: ""."""
    if isinstance(own, tuple):
        text, stated = own
        for name, value, scope in stated:
            w.n(name, value, scope)
        return text
    return own or ""


def _bias_note(f: _Facts) -> Sentence | None:
    """The convention's own sentence on its biases (``bias_note``), with the numbers it states."""
    s, w = f.spec, _Words()
    if not s.bias:
        return None
    text = _stated(w, frameworks.of(s).bias_note(s))
    return w.sentence(text) if text else None


def _own_note(entry) -> Sentence:
    """One of a convention's ``notes(spec)``: a sentence, or (sentence, ((name, value, scope), ...))."""
    w = _Words()
    return w.sentence(_stated(w, entry))


def _history_note(f: _Facts) -> Sentence:
    w = _Words()
    return w.sentence(_history(f, w))


def _projection_note(f: _Facts) -> Sentence | None:
    if not f.p:
        return None
    w = _Words()
    text = (
        f"With proj_size P = {w.n('proj_size', f.p, PER)}, h_t = W_hr (o⊙tanh(c_t)) is projected from "
        f"H = {w.n('units', f.h, PER)} down to P: weight_hr is P × H = {w.n('proj_size', f.p, PER)} × "
        f"{w.n('units', f.h, PER)}, the recurrent weights shrink to H × P per gate, and h_t and h_n"
        + (" (and so the next layer's input)" if f.layers > 1 else "")
        + f" have {w.n('state_size', f.p, PER)} features, while c_t and c_n keep {w.n('cell_state_size', f.h, PER)}."
    )
    return w.sentence(text)


def _bidirectional_note(f: _Facts) -> Sentence | None:
    s = f.spec
    if not s.bidirectional:
        return None
    w = _Words()
    text = "Bidirectional runs a second copy of each layer, with its own weights, over the reversed sequence: "
    if f.layers == 1:
        text += (
            f"{w.n('layer_params', f.per[0], layer_scope(s, 0))} parameters in each direction, "
            f"{w.n('total', f.total, WHOLE)} in all."
        )
    else:
        merge = (f"the {s.merge_mode} of both directions" if "merge_mode" in frameworks.of(s).OPTIONS and s.merge_mode != "concat"
                 else "both directions concatenated")
        text += (
            f"layer 0 has {w.n('layer_params', f.per[0], layer_scope(s, 0))} parameters in each direction; the "
            f"layers above read {w.n('input_features', s.layer_input_size(1), upper_scope(s))} features ({merge}), "
            f"so each of their directions has {w.n('layer_params', f.per[1], upper_scope(s))}; "
            f"{w.n('total', f.total, WHOLE)} in all."
        )
    out = s.layer_input_size(1)  # what the last layer emits per step: D·H_out, or H for sum/mul/ave
    how = (f"the {s.merge_mode} of both directions" if "merge_mode" in frameworks.of(s).OPTIONS and s.merge_mode != "concat"
           else "both directions concatenated")
    text += f" The output has {w.n('output_features', out, WHOLE)} features per step ({how})."
    return w.sentence(text)


def _stack_note(f: _Facts) -> Sentence | None:
    s = f.spec
    if s.layers == 1 or s.bidirectional:
        return None
    w = _Words()
    upper = s.layer_input_size(1)
    return w.sentence(
        f"Stacked layers: layers 1 and above read the {w.n('input_features', upper, upper_scope(s))} features of "
        f"the layer below, not the {w.n('input_features', f.x, layer_scope(s, 0))} input features, so their input "
        f"blocks are {w.n('input_features', upper, upper_scope(s))} × {w.n('units', f.h, PER)}"
        f"{' per gate' if f.g > 1 else ''} and each has {w.n('layer_params', f.per[1], upper_scope(s))} parameters "
        f"(layer 0: {w.n('layer_params', f.per[0], layer_scope(s, 0))}; {w.n('total', f.total, WHOLE)} in all)."
    )


def _conv_notes(spec: LayerSpec) -> list[Sentence]:
    """A ConvLSTM's notes: the convolution blocks, the recurrent one, the bias and the shapes."""
    from .params import layer_count, total_count

    conv, f, c = spec.conv, spec.units, spec.input_size
    k = conv.kernel_volume
    dims = f" ({'×'.join(map(str, conv.kernel_size))})" if conv.rank > 1 else ""
    out = []
    w = _Words(CONV_NUMBER_NAMES)
    out.append(w.sentence(
        f"Each of the {w.n('gates', 4, PER)} gates convolves the input with its own filters: a window of "
        f"{w.n('kernel_volume', k, PER)} positions{dims} over all {w.n('input_channels', c, PER)} input channels, "
        f"for each of the {w.n('filters', f, PER)} filters, is {w.n('gate_input_weights', k * c * f, PER_GATE)} "
        f"weights per gate; kernel {w.n('kernel_shape', conv.kernel_size + (c, 4 * f), PER)} holds the four "
        "blocks along its last axis."
    ))
    w = _Words(CONV_NUMBER_NAMES)
    out.append(w.sentence(
        f"The recurrent kernel convolves h_(t-1), which has {w.n('filters', f, PER)} channels, with the same window, "
        "always with strides 1 and padding \"same\" (whatever the layer's own), so h and c keep the output's spatial "
        f"size: {w.n('gate_recurrent_weights', k * f * f, PER_GATE)} weights per gate, from every filter into every "
        "filter."
    ))
    w = _Words(CONV_NUMBER_NAMES)
    total = total_count(spec)
    both = (f" ({w.n('layer_params', layer_count(spec, 0), PER)} per direction)" if spec.bidirectional else "")
    if spec.bias:
        lead = (f"One bias per filter and gate, {w.n('gate_bias', f, PER_GATE)} per gate and "
                f"{w.n('bias_params', 4 * f, PER)} in bias, shared by every position")
    else:
        lead = "No bias (use_bias=False)"
    out.append(w.sentence(
        f"{lead}: the same filters slide over the whole input, so the count, {w.n('total', total, WHOLE)}{both}, "
        "does not depend on the input's spatial size."
    ))
    w = _Words(CONV_NUMBER_NAMES)
    if conv.spatial is None:
        out.append(w.sentence(
            f"Give --spatial (the input's spatial size, {w.n('spatial_dims', conv.rank, PER)} "
            f"value{'s' if conv.rank > 1 else ''}) for the input, output and state shapes."
        ))
    else:
        rule = ("floor((S − 1) / s) + 1" if conv.padding == "same"
                else "floor((S − d·(k − 1) − 1) / s) + 1")
        out.append(w.sentence(
            f"With padding {conv.padding}, strides {_tuple_text(conv.strides)} and dilation_rate "
            f"{_tuple_text(conv.dilation_rate)}, each spatial size S becomes {rule}: "
            f"{w.n('input_spatial', conv.spatial, WHOLE)} → {w.n('output_spatial', conv.output_spatial(), WHOLE)}, "
            "the size of the output, h and c."
        ))
    return out


def _tuple_text(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"


def note_sentences(spec: LayerSpec) -> list[Sentence]:
    """The breakdown's notes, each with the numbers it states. A framework module with its
    own ``notes(spec)`` (ONNX: W/R/B, iofc, linear_before_reset) words its biases itself."""
    if spec.conv is not None:
        return _conv_notes(spec)
    f = _Facts(spec)
    own = frameworks.of(spec).notes(spec)
    bias = [_own_note(entry) for entry in own] if own is not None else [_bias_note(f)]
    parts = [
        _input_note(f), _recurrent_note(f), _time_note(f), *bias, _history_note(f),
        _projection_note(f), _bidirectional_note(f), _stack_note(f),
    ]
    return [p for p in parts if p is not None]


def notes(spec: LayerSpec, total: int | None = None) -> list[str]:
    """Short paragraphs explaining the count of ``spec`` (``total`` is accepted for
    compatibility; the notes compute every number they state themselves)."""
    return [s.text for s in note_sentences(spec)]


# ---------------------------------------------------------------- questions


PAPERS = {
    "lstm": [
        "Hochreiter & Schmidhuber (1997), Long Short-Term Memory, Neural Computation 9(8).",
        "Gers, Schmidhuber & Cummins (2000), Learning to Forget: Continual Prediction with LSTM, Neural Computation 12(10).",
        "Jozefowicz, Zaremba & Sutskever (2015), An Empirical Exploration of Recurrent Network Architectures, ICML (forget-gate bias of 1).",
        "Sak, Senior & Beaufays (2014), LSTM Recurrent Neural Network Architectures for Large Scale Acoustic Modeling (the projection PyTorch's proj_size implements).",
    ],
    "gru": [
        "Cho et al. (2014), Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine Translation, EMNLP.",
        "Chung et al. (2014), Empirical Evaluation of Gated Recurrent Neural Networks on Sequence Modeling.",
    ],
    "rnn": ["Elman (1990), Finding Structure in Time, Cognitive Science 14(2)."],
}

BIAS_SOURCE = {
    "lstm": "PyTorch's second bias vector per gate comes from cuDNN's formulation; in the LSTM only the sum "
            "b_ih + b_hh affects the output, so moving bias between the two changes nothing.",
    "rnn": "PyTorch's second bias vector comes from cuDNN's formulation; in the SimpleRNN only the sum "
           "b_ih + b_hh affects the output, so moving bias between the two changes nothing.",
    "gru": "PyTorch's two bias vectors per gate come from cuDNN's formulation, which Keras' reset_after=True "
           "follows: for r and z only the sums b_i + b_h affect the output, but the candidate's b_hn is "
           "multiplied by the reset gate, n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), so moving it into b_in "
           "changes the output.",
}


def _one_cell(f: _Facts) -> Answer:
    s, w = f.spec, _Words()
    if f.h == 1:
        question = f"With units = {w.n('units', 1, PER)}, is that one cell?"
    else:
        question = f"With units = {w.n('units', f.h, PER)}, do I have one cell or {w.n('units', f.h, PER)}?"
    n_rec = s.layers * f.d
    if not f.multi:
        lead = "One layer"
    else:
        if f.d == 1:
            lead = f"{w.n('layers', s.layers, WHOLE)} stacked layers, each with its own weights"
        else:
            how = (f"{w.n('layers', s.layers, WHOLE)} stacked, each run forward and backward" if s.layers > 1
                   else "one forward, one backward")
            lead = f"{w.n('recurrent_layers', n_rec, WHOLE)} recurrent layers ({how}), each with its own weights"
    x_text = f"x_t has {w.n('input_features', f.x, layer_scope(s, 0))} {_s(f.x, 'feature')}"
    if s.layers > 1:
        x_text += f" (layer 0; the layers above read {w.n('input_features', s.layer_input_size(1), upper_scope(s))})"
    c_text = "c_t " if s.cell == "lstm" else ""
    if f.h == 1:
        answer = (
            f"{lead}. With units = {w.n('units', 1, PER)} the vectors on the arrows of a one-cell diagram are single "
            f"numbers: {'h_t, c_t' if c_text else 'h_t'} and each gate have one entry, and {x_text}. That is why the diagram "
            "looks like one cell; with more units the same box carries longer vectors, one entry per unit."
        )
    else:
        h_text = (f"h_t has {w.n('state_size', f.hout, PER)} entries (projected), {c_text}and each gate "
                  f"{w.n('units', f.h, PER)}" if f.p else
                  f"{'h_t, c_t' if c_text else 'h_t'} and each gate have {w.n('units', f.h, PER)} entries")
        answer = (
            f"{lead}. The box in a one-cell diagram is a whole layer at one time step, with vectors on every "
            f"arrow: {x_text}; {h_text}. Each \"unit\" is one entry of those vectors, not a separate cell."
        )
    if f.t == 1:
        answer += (f" With T = {w.n('time_steps', 1, WHOLE)} step the layer runs once; a longer sequence runs the "
                   "same weights again at every step.")
    else:
        answer += f" It runs at each of the T = {w.n('time_steps', f.t, WHOLE)} steps with the same weights."
    from .frameworks import outputs

    first = outputs(s)[0]
    answer += f" It returns output of shape {w.n('output_shape', tuple(first.shape), WHOLE)}: {first.meaning}."
    return Answer(question, answer, tuple(w.numbers))


def _input_answer(f: _Facts) -> Answer:
    s, w = f.spec, _Words()
    after = f.count(input_size=f.x + 1)
    question = (f"Why does one more input feature add {w.n('input_feature_adds', after - f.total, WHOLE)} "
                f"{_s(after - f.total, 'parameter')}?")
    lead = ("Only layer 0 reads x_t; the layers above read the layer below, so only layer 0 grows. "
            if s.layers > 1 else "")
    units = f"Each of the {w.n('units', f.h, PER)} units has" if f.h > 1 else "The unit has"
    where = f"in each of its {w.n('gates', f.g, PER)} gates" if f.g > 1 else "in its one block"
    block = "per gate" if f.g > 1 else ""
    answer = (
        f"{lead}{units}, {where}, one weight per input feature: the input block is X × H = "
        f"{w.n('input_features', f.x, layer_scope(s, 0))} × {w.n('units', f.h, PER)}{' ' + block if block else ''}"
        f"{' in each direction' if f.d == 2 else ''}. Going from X = {w.n('input_features', f.x, layer_scope(s, 0))} to "
        f"{f.x + 1:,} adds "
        + (f"a row of {w.n('gates', f.g, PER)} × {w.n('units', f.h, PER)} = " if f.g > 1 else "a row of ")
        + f"{w.n('input_feature_adds', f.g * f.h, layer_scope(s, 0))} {_s(f.g * f.h, 'weight')}"
        + (f" per direction, {w.n('input_feature_adds', after - f.total, WHOLE)} in all" if f.d == 2 else "")
        + f": this configuration goes from {w.n('total', f.total, WHOLE)} to "
        f"{w.n('total', after, with_scope('input', f.x + 1))} parameters."
    )
    return Answer(question, answer, tuple(w.numbers))


def _units_answer(f: _Facts) -> Answer:
    s, w = f.spec, _Words()
    gw = f.gates_word
    if s.layers == 1 and not f.p and f.h > 1:
        one = f.count(units=1)
        question = (
            f"Why do {w.n('units', f.h, PER)} units give {w.n('total', f.total, WHOLE)} parameters, not "
            f"{w.n('units', f.h, PER)} × {w.n('total', one, with_scope('units', 1))} = "
            f"{w.n('independent_units_total', f.h * one, WHOLE)}?"
        )
        answer = (
            f"Because units are not independent: every unit's {gw} read the previous output of every unit, so "
            f"the recurrent block is H × H = {w.n('units', f.h, PER)} × {w.n('units', f.h, PER)}"
            f"{' per gate' if f.g > 1 else ''}{' in each direction' if f.d == 2 else ''}, not "
            f"{w.n('units', f.h, PER)} separate single weights. The "
            f"{w.n('cross_unit_weights', f.total - f.h * one, WHOLE)} extra parameters are the weights from each "
            f"unit's h_(t-1) into the other units' {gw}"
            + (f", {w.n('cross_unit_weights', f.g * f.h * (f.h - 1), PER)} per direction" if f.d == 2 else "")
            + "."
        )
        return Answer(question, answer, tuple(w.numbers))
    if s.layers == 1 and not f.p:  # one unit: what two would give
        two = f.count(units=2)
        question = (
            f"Why would 2 units give {w.n('total', two, with_scope('units', 2))}, not 2 × "
            f"{w.n('total', f.total, WHOLE)} = {w.n('independent_units_total', 2 * f.total, with_scope('units', 2))}?"
        )
        answer = (
            "Every unit reads the whole previous output h_(t-1), so the recurrent weights grow as H × H"
            f"{' per gate' if f.g > 1 else ''}: with 2 units {'each gate' if f.g > 1 else 'the block'} has a 2 × 2 "
            "recurrent matrix, where two independent one-unit layers would have only each unit's own h_(t-1). "
            f"The {w.n('cross_unit_weights', two - 2 * f.total, with_scope('units', 2))} extra parameters are the "
            "weights across the units."
        )
        return Answer(question, answer, tuple(w.numbers))
    from .frameworks import layer_formula

    question = (f"Why {'does' if f.h == 1 else 'do'} {w.n('units', f.h, PER)} {_s(f.h, 'unit')} give "
                f"{w.n('total', f.total, WHOLE)} parameters?")
    parts = []
    shown = [0] + ([1] if s.layers > 1 else [])
    for k in shown:
        x_k = s.layer_input_size(k)
        scope = layer_scope(s, k) if k == 0 else upper_scope(s)
        _, substituted = layer_formula(s, k)
        # the formula's numbers: G, X_k, H, P and the bias vectors per gate
        w.n("gates", f.g, PER)
        w.n("input_features", x_k, scope)
        w.n("units", f.h, PER)
        if f.p:
            w.n("proj_size", f.p, PER)
        if f.nb:
            w.n("biases_per_gate", f.nb, PER_GATE)
            if f.uniform_bias:  # a formula may write them all as one coefficient (Keras 2 CuDNN: 8H)
                w.n("bias_vectors", f.nb * f.g, PER)
        who = (("layer 0" if s.layers > 1 else "the layer") if k == 0 else
               f"each of the {w.n('upper_layers', s.layers - 1, WHOLE)} layers above" if s.layers > 2 else "layer 1")
        parts.append(
            f"{who} reads {w.n('input_features', x_k, scope)} {_s(x_k, 'feature')}: {substituted} = "
            f"{w.n('layer_params', f.per[k], scope)}" + (" per direction" if f.d == 2 else "")
        )
    answer = "; ".join(parts)
    answer = answer[0].upper() + answer[1:]
    answer += f"; in all {w.n('total', f.total, WHOLE)}." if f.multi else "."
    if f.p:
        answer += (
            f" With the projection, every unit's {gw} read all P = {w.n('proj_size', f.p, PER)} features of the "
            f"projected h_(t-1), so the recurrent block is H × P = {w.n('units', f.h, PER)} × "
            f"{w.n('proj_size', f.p, PER)} per gate, and W_hr adds P × H = {w.n('projection_weights', f.p * f.h, PER)}"
            f"{' per layer and direction' if f.multi else ''}."
        )
    else:
        answer += (
            (" In every layer and direction every" if f.multi else " Every")
            + f" unit's {gw} read every unit's h_(t-1): the recurrent block is "
            f"H × H = {w.n('units', f.h, PER)} × {w.n('units', f.h, PER)}{' per gate' if f.g > 1 else ''}, so the "
            "units are not independent cells."
        )
    return Answer(question, answer, tuple(w.numbers))


def _growth_answer(f: _Facts) -> Answer:
    s, w = f.spec, _Words()
    degree = 1 if f.p else 2
    w.n("growth_degree_units", degree, WHOLE)
    w.n("growth_degree_inputs", 1, WHOLE)
    how = "Quadratically" if degree == 2 else f"Linearly (for a fixed P = {w.n('proj_size', f.p, PER)})"
    g = f"{w.n('gates', f.g, PER)} × " if f.g > 1 else ""
    bias = ""
    if f.nb and not f.uniform_bias:
        bias = " and the biases"
    elif f.nb:
        nb = f"{w.n('biases_per_gate', f.nb, PER_GATE)} × " if f.nb > 1 else ""
        bias = f" and {nb}{g}H biases"
    if f.p:
        terms = f"{g}H × P recurrent weights, {g}X_k × H input weights, P × H projection weights{bias}"
    else:
        terms = f"{g}H² recurrent weights, {g}X_k × H input weights{bias}"
    text = f"{how} in the units and linearly in the inputs: per layer and direction, {terms}"
    if s.layers > 1:
        text += (f", where X_k is X for layer 0 and {w.n('input_features', s.layer_input_size(1), upper_scope(s))} "
                 "for the layers above (they read the layer below, which grows with H)")
    sizes = [(2 * f.h, f.x), (4 * f.h, f.x), (f.h, 2 * f.x)]
    shown = []
    for h, x in sizes:
        if h != f.h:
            shown.append(f"H = {h:,}: {w.n('total', f.count(units=h), with_scope('units', h))}")
        else:
            shown.append(f"X = {x:,}: {w.n('total', f.count(input_size=x), with_scope('input', x))}")
    text += (
        f". This configuration has {w.n('total', f.total, WHOLE)}; with {', '.join(shown)}. Sequence length and "
        "batch size add none (they add computation and memory, see `lstmcalc cost`)."
    )
    return Answer("How do the numbers grow?", text, tuple(w.numbers))


def _direction_answer(f: _Facts) -> Answer | None:
    """ONNX direction = reverse: which way the node runs and where Y and Y_h come from."""
    s, w = f.spec, _Words()
    if not s.reverse:
        return None
    states = "Y_h and Y_c hold the states" if s.cell == "lstm" else "Y_h holds the state"
    text = (
        f"Backwards, in one direction: direction = reverse has D = {w.n('directions', s.directions, WHOLE)} (L·D = "
        f"{w.n('recurrent_layers', s.layers * s.directions, WHOLE)}), and reads x_t from the last of its "
        f"T = {w.n('time_steps', s.time, WHOLE)} steps down to t = 0, with the "
        f"{w.n('total', f.total, WHOLE)} parameters a forward node of these sizes has. Y at step t is the h computed at "
        f"input step t (Y is in input order, not reversed), and {states} after step 0. It is not bidirectional: "
        "there is no second set of weights."
    )
    return Answer("Which way does it run?", text, tuple(w.numbers))


def answers(spec: LayerSpec) -> list[Answer]:
    """The questions a newcomer asks about this layer, answered with its own numbers."""
    from .spec import refuse_shaped_only

    refuse_shaped_only(spec.cell, "explain")
    f = _Facts(spec)
    w = _Words()
    history = _history(f, w)
    return [a for a in (
        Answer("Is this the cell in the diagrams?", history, tuple(w.numbers)),
        _one_cell(f),
        _direction_answer(f),
        _input_answer(f),
        _units_answer(f),
        _growth_answer(f),
        Answer(
            f"Which papers do Keras and PyTorch implement for the {KIND[spec.cell]}?",
            " ".join(PAPERS[spec.cell]) + " " + BIAS_SOURCE[spec.cell],
            (),
        ),
    ) if a is not None]


def questions(spec: LayerSpec) -> list[tuple[str, str]]:
    """(question, answer) pairs: :func:`answers` without the numbers."""
    return [(a.question, a.answer) for a in answers(spec)]
