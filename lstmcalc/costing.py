"""Arithmetic cost and memory of a recurrent layer, and what FLOP counters report for it
(stdlib only: no NumPy, no torch).

Per time step, per sample, per layer k and direction, with G gate blocks (LSTM 4,
GRU 3, SimpleRNN 1), H units, X_k inputs to layer k, H_out = P with a PyTorch
projection (else H):

    MACs_k = G·(X_k·H + H_out·H) + P·H      (x·W_ih, h_prev·W_hh, then W_hr·h)

and for the whole call ``MACs = B·T·D·Σ_k MACs_k``. FLOPs are split as

- ``matmul``: 2 × MACs (one multiply and one add each);
- ``bias``: one add per bias vector element: nb·G·H per step with nb = 1 (Keras: one
  ``bias`` per gate), 2 (Keras GRU with reset_after: input and recurrent rows; PyTorch:
  ``bias_ih`` and ``bias_hh``) or 0 (no bias), plus P with a projection bias (TFLite).
  Bias adds are never MACs;
- ``elementwise``: the gate arithmetic, counted from the cell equations (see
  :func:`cell_elementwise`), plus the Keras ``Bidirectional`` merges (sum: H adds,
  mul: H multiplies, ave: H adds + H divides, concat: nothing; PyTorch always
  concatenates, which is no arithmetic);
- ``activations``: sigmoid, tanh and relu evaluations (LSTM 3H sigmoid + 2H tanh,
  GRU 2H sigmoid + H tanh, SimpleRNN H tanh or relu), each counted as 1 FLOP in ``total``
  (a real sigmoid or tanh costs several instructions; we count evaluations, not cycles);
- ``total`` = matmul + bias + elementwise + activations.

Sources for the cell equations: Keras 3 ``keras/src/layers/rnn/lstm.py``, ``gru.py``,
``simple_rnn.py``, ``bidirectional.py``; PyTorch ``torch.nn.LSTM``/``GRU``/``RNN`` docs.
What the three FLOP counters report is derived from their own source (see
:func:`compare_spec`), read in the versions in :data:`TOOL_VERSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .frameworks import constructor
from . import frameworks
from .counting import total_count
from .frameworks import make_spec
from .dtypes import COST_DTYPES
from .dtypes import ITEMSIZE as BYTES
from .memory import estimate_elements, overhead_bytes
from .spec import LayerSpec, SpecError, refuse_shaped_only

# bytes per number of each dtype a cost prices memory in (this order in messages), from the one table
DTYPES = {name: BYTES[name] for name in COST_DTYPES}

# The versions whose source the formulas in compare_spec were read from (PyPI, current
# when this was written). `thop` is the PyPI package "thop"; its maintained fork
# "ultralytics-thop" (2.2.x, same import name) has the same rnn_hooks.py formulas.
TOOL_VERSIONS = {"ptflops": "0.7.5", "thop": "0.1.1.post2209072238", "torchinfo": "1.8.0"}
TOOL_SOURCES = {
    "ptflops": "ptflops/pytorch_ops.py: rnn_flops, rnn_flops_counter_hook (default backend 'pytorch'); "
    "ptflops/pytorch_engine.py: compute_average_flops_cost divides by the batch",
    "thop": "thop/rnn_hooks.py: _count_lstm_cell, _count_gru_cell, _count_rnn_cell, count_lstm, count_gru, count_rnn",
    "torchinfo": "torchinfo/layer_info.py: LayerInfo.calculate_macs; model_statistics.py: total_mult_adds",
}


@dataclass(frozen=True)
class Flops:
    """Floating-point operations, split by kind (see the module docstring)."""

    matmul: int  # 2 × MACs
    bias: int  # bias-vector additions
    elementwise: int  # gate arithmetic and Keras Bidirectional merges
    activations: int  # sigmoid/tanh/relu evaluations, 1 FLOP each
    per_step_per_sample: Flops | None = None  # the same split for one time step of one sample

    @property
    def total(self) -> int:
        return self.matmul + self.bias + self.elementwise + self.activations

    def to_dict(self) -> dict:
        out = {
            "matmul": self.matmul,
            "bias": self.bias,
            "elementwise": self.elementwise,
            "activations": self.activations,
            "total": self.total,
        }
        if self.per_step_per_sample is not None:
            out["per_step_per_sample"] = self.per_step_per_sample.to_dict()
        return out


@dataclass(frozen=True)
class Memory:
    """Bytes for the parameters, an inference forward pass and training (BPTT).

    ``inference`` is the peak of :func:`lstmcalc.forward` on this layer
    (:func:`lstmcalc.memory.estimate_bytes`, in this dtype): an upper bound checked against
    tracemalloc in tests/test_memory.py. ``training`` is a model of what backpropagation
    through time keeps (:func:`memory_elements`), not a measurement.
    """

    parameters: int
    inference: int
    training: int

    def to_dict(self) -> dict:
        return {"parameters": self.parameters, "inference": self.inference, "training": self.training}


@dataclass(frozen=True)
class ToolNote:
    """How one FLOP counter computes its number for a recurrent layer, and what it counts
    differently from :class:`Cost`."""

    tool: str  # "ptflops" | "thop" | "torchinfo"
    version: str  # the version whose source the formula was read from
    source: str  # file and function the formula comes from
    formula: str  # the tool's formula, symbolic
    note: str  # one line: what it counts differently

    def to_dict(self) -> dict:
        return {"version": self.version, "source": self.source, "formula": self.formula, "note": self.note}


@dataclass(frozen=True)
class Comparison:
    """What ptflops, thop and torchinfo report for the equivalent ``torch.nn`` layer run on
    a (B, T, X) input with ``batch_first=True``; None where no equivalent layer exists."""

    torch_equivalent: str | None  # the torch.nn constructor the numbers are for
    ptflops: int | None  # get_model_complexity_info(...)[0] with as_strings=False
    thop: int | None  # profile(...)[0]
    torchinfo: int | None  # summary(...).total_mult_adds
    notes: tuple[ToolNote, ...]
    reason: str | None = None  # why the values are None, or a caveat about the equivalence

    def to_dict(self) -> dict:
        return {
            "torch_equivalent": self.torch_equivalent,
            "ptflops": self.ptflops,
            "thop": self.thop,
            "torchinfo": self.torchinfo,
            "reason": self.reason,
            "notes": {n.tool: n.to_dict() for n in self.notes},
        }


@dataclass(frozen=True)
class Cost:
    """Multiply-accumulates, FLOPs and memory of one call of the layer on a (B, T, X) input."""

    spec: LayerSpec
    dtype: str
    itemsize: int  # bytes per element of dtype
    macs: int
    formula: str  # the MAC formula, symbolic = with numbers = value
    flops: Flops
    memory_bytes: Memory
    compare: Comparison
    notes: tuple[str, ...]
    lengths: tuple[int, ...] | None = None  # (B,) each sequence's real length; None: all T
    steps: int = 0  # sample-steps computed: Σ lengths, or B·T

    def to_dict(self) -> dict:
        return {
            "config": self.spec.to_dict(),
            "dtype": self.dtype,
            "itemsize": self.itemsize,
            "macs": self.macs,
            "formula": self.formula,
            "flops": self.flops.to_dict(),
            "memory_bytes": self.memory_bytes.to_dict(),
            "compare": self.compare.to_dict(),
            "notes": list(self.notes),
            "lengths": None if self.lengths is None else list(self.lengths),
            "steps": self.steps,
        }

    def __repr__(self) -> str:
        from .render import summary_line

        return f"<Cost {summary_line(self.spec)}, {self.dtype}: {self.macs:,} MACs, {self.flops.total:,} FLOPs>"

    def __str__(self) -> str:  # print(c): the plain-text rendering, 80 columns
        from .render import plain_text

        return plain_text(self)

    def __rich__(self):
        from .render import cost_view  # rich is imported only when rendering

        return cost_view(self)

    def _repr_html_(self) -> str:
        from .render import cost_html

        return cost_html(self)


# --- per step, per sample ------------------------------------------------------------


def layer_macs(spec: LayerSpec, layer: int) -> int:
    """MACs of one time step of one sample in one direction of ``layer`` (a coupled input
    gate has no products; diagonal recurrent weights take H per gate, elementwise)."""
    g, h = spec.gates - spec.cifg, spec.units
    recurrent = h if spec.diagonal else spec.hidden_out * h
    return g * (spec.layer_input_size(layer) * h + recurrent) + spec.proj_size * h


def cell_elementwise(spec: LayerSpec) -> int:
    """Element-wise FLOPs of one cell step (one sample, one direction), biases excluded.

    LSTM (i, f, g, o):
        x·W + h_prev·U for each gate              G·H = 4H adds
        c = f⊙c_prev + i⊙g                        3H  (2 multiplies, 1 add)
        h = o⊙tanh(c)                             H   multiplies (then W_hr·h: MACs)
                                                  = 8H
    GRU (z, r, n), either reset form:
        x·W + h_prev·U for z and r                2H adds
        reset_after (Keras default, PyTorch):  n = tanh(x·W_n + r⊙(h_prev·U_n))
            r⊙(...) H multiplies, + x·W_n H adds  2H
        reset_after=False (Keras):             n = tanh(x·W_n + (r⊙h_prev)·U_n)
            r⊙h_prev H multiplies, + x·W_n H adds 2H
        h = z⊙h_prev + (1 − z)⊙n                  4H  (1 subtract, 2 multiplies, 1 add)
                                                  = 8H
    SimpleRNN:
        x·W + h_prev·U                            H adds
    LSTM peepholes (ONNX P): p_i⊙c_prev, p_f⊙c_prev, p_o⊙c and their adds
                                                  + 6H  (3 multiplies, 3 adds; 4H under CIFG)
    LSTM variants (TFLite, lstm_eval.cc):
        CIFG: 3 gates with products (3H adds), i = 1 − f (H subtracts): still 8H
        layer norm, per gate with weights (G' = 4, 3 under CIFG), MeanStddevNormalization
        then the coefficients: sum H adds, mean 1 divide, (a − mean)² H subtracts + H
        multiplies + H adds, variance 1 divide, 1 / sqrt(var) 1 sqrt + 1 divide,
        (a − mean)·inv H subtracts + H multiplies, ⊙ coefficients H multiplies
                                                  + G'·(7H + 4)
    (the projection's bias, P adds, is a bias: :func:`step_flops`)
    """
    h = spec.units
    peepholes = (4 if spec.cifg else 6) * h if spec.peepholes else 0
    norm = (spec.gates - spec.cifg) * (7 * h + 4) if spec.layer_norm else 0
    return {"lstm": 8 * h + peepholes + norm, "gru": 8 * h, "rnn": h}[spec.cell]


def cell_activations(spec: LayerSpec) -> int:
    """Nonlinearity evaluations of one cell step: LSTM 3H sigmoid (i, f, o; 2H under CIFG,
    where i = 1 − f) + 2H tanh (g and tanh(c)); GRU 2H sigmoid (z, r) + H tanh (n);
    SimpleRNN H tanh or relu."""
    h = spec.units
    return {"lstm": (4 if spec.cifg else 5) * h, "gru": 3 * h, "rnn": h}[spec.cell]


MERGE_FLOPS_PER_UNIT = {"concat": 0, "sum": 1, "mul": 1, "ave": 2}  # Keras: y + y_rev; y * y_rev; (y + y_rev) / 2


def _merge_per_vector(spec: LayerSpec) -> int:
    """FLOPs to merge one pair of H-vectors in a Keras Bidirectional (0 for PyTorch)."""
    if "merge_mode" not in frameworks.of(spec).OPTIONS or not spec.bidirectional:
        return 0
    return MERGE_FLOPS_PER_UNIT[spec.merge_mode] * spec.units


def _emits_sequence(spec: LayerSpec, layer: int) -> bool:
    """Whether ``layer``'s output is (B, T, .) (every step) rather than (B, .) (last step):
    always in a framework without return_sequences (PyTorch, ONNX)."""
    always = "return_sequences" not in frameworks.of(spec).OPTIONS
    return always or layer < spec.layers - 1 or spec.return_sequences


def step_flops(spec: LayerSpec) -> Flops:
    """FLOPs of one time step of one sample, over all layers and directions.

    Includes the Keras merge of every layer whose output is a sequence; the merge of a
    last layer with return_sequences=False happens once per sample, not per step, and
    is added only in the totals (see :func:`cost_spec`).
    """
    d = spec.directions
    per_cell_bias = sum(frameworks.gate_biases(spec, q) for q in frameworks.of(spec).GATE_ORDER[spec.cell]) * spec.units
    macs = sum(layer_macs(spec, k) for k in range(spec.layers))
    merges = sum(_merge_per_vector(spec) for k in range(spec.layers) if _emits_sequence(spec, k))
    return Flops(
        matmul=2 * d * macs,
        bias=d * spec.layers * (per_cell_bias + (spec.proj_size if spec.proj_bias else 0)),  # + P: projection bias
        elementwise=d * spec.layers * cell_elementwise(spec) + merges,
        activations=d * spec.layers * cell_activations(spec),
    )


# --- memory --------------------------------------------------------------------------


def memory_elements(spec: LayerSpec) -> dict:
    """Elements (not bytes) each memory model holds; ``cost_spec`` multiplies by itemsize.

    Per layer k (B batch, T steps, D directions, G gates):
      layer_input_k  = B·T·X_k               the previous layer's output (k ≥ 1)
      output_k       = B·T·D·H_out            h_t of every step and direction (PyTorch's
                                              output; Keras computes it too, then keeps
                                              the last step when return_sequences=False)
      merged_k       = B·T·H (B·H for a last layer without return_sequences)
                                              Keras sum/mul/ave merges only
      projection_buf = D·B·T·G·H              x·W_ih + b for every step at once, as
                                              cuDNN and PyTorch's kernels precompute it
      states         = D·B·(H_out + H if LSTM else H)   h_prev (and c_prev)
      step_buf       = D·B·G·H                h_prev·W_hh of the current step

    forward_model = parameters + input B·T·X
                + max_k (layer_input_k + output_k + merged_k + projection_buf + states + step_buf)
      (the least a forward pass keeps: the current layer's input and output sequences; the
      ``inference`` figure of :class:`Memory` is lstmcalc.forward's measured-bounded peak,
      which also holds the prepared weight copies and the input projections)

    training = 2 × parameters (weights and their gradients) + input B·T·X
               + Σ_k saved_k + projection_buf + states + step_buf
      saved_k = D·B·T·(G·H gate activations + H_out h_t + [LSTM] H c_t
                       + [projection] H for o⊙tanh(c) before W_hr
                       + [GRU] H for h_prev·U_n (+ b_hn) or r⊙h_prev, needed for r's gradient)
                + merged_k
      i.e. what backpropagation through time keeps from the forward pass of every step of
      every layer. Optimizer state and autograd's temporary gradient buffers are not counted.
    Training ≥ forward_model always: every sequence a forward pass holds is among the saved ones.
    """
    b, t, d, g, h = spec.batch, spec.time, spec.directions, spec.gates, spec.units
    h_out = spec.hidden_out
    params = total_count(spec)
    x = b * t * spec.input_size
    projection_buf = d * b * t * g * h
    states = d * b * (h_out + (h if spec.cell == "lstm" else 0))
    step_buf = d * b * g * h
    transient = projection_buf + states + step_buf

    def merged(k: int) -> int:
        if "merge_mode" not in frameworks.of(spec).OPTIONS or not spec.bidirectional or spec.merge_mode == "concat":
            return 0
        return b * (t if _emits_sequence(spec, k) else 1) * h

    live = []
    saved = []
    for k in range(spec.layers):
        layer_input = b * t * spec.layer_input_size(k) if k else 0
        output = b * t * d * h_out
        live.append(layer_input + output + merged(k))
        per_step = g * h + h_out
        if spec.cell in ("lstm", "gru"):
            per_step += h  # c_t (LSTM) or the recurrent candidate term (GRU)
        if spec.proj_size:
            per_step += h  # o⊙tanh(c) before the projection
        saved.append(d * b * t * per_step + merged(k))
    return {
        "parameters": params,
        "input": x,
        "transient": transient,
        "forward_model": params + x + max(live) + transient,
        "training": 2 * params + x + sum(saved) + transient,
    }


# --- what the FLOP counters report ---------------------------------------------------


def torch_twin(spec: LayerSpec) -> tuple[LayerSpec | None, str | None]:
    """The equivalent ``torch.nn`` layer of a spec (itself for PyTorch), or None and why."""
    if spec.framework == "torch":
        return spec, None
    if spec.cell == "gru" and not spec.reset_after:
        return None, (
            "A GRU in the reset-before form (Keras reset_after=False, the ONNX GRU without "
            "linear_before_reset) applies r to h_prev before the recurrent matmul; torch.nn.GRU is always reset-after, so no "
            "PyTorch layer computes the same thing"
        )
    if spec.peepholes:
        return None, "torch.nn.LSTM has no peepholes, so no PyTorch layer computes the same thing"
    if spec.bidirectional and spec.merge_mode != "concat" and spec.layers > 1:
        return None, (
            f"Keras merges the two directions with {spec.merge_mode}, so layers above the first "
            "see H inputs; a stacked bidirectional torch.nn layer always concatenates (2H inputs)"
        )
    twin = make_spec(
        spec.units,
        spec.input_size,
        cell=spec.cell,
        framework="torch",
        bias=spec.bias,
        bidirectional=spec.bidirectional,
        layers=spec.layers,
        batch=spec.batch,
        time=spec.time,
        activation=spec.activation if spec.cell == "rnn" else None,
    )
    caveats = []
    extra = total_count(twin) - total_count(spec)
    if extra:
        fw = frameworks.of(spec)
        caveats.append(
            f"the torch layer keeps two biases per gate (bias_ih, bias_hh): {extra:,} "
            f"{'more' if extra > 0 else 'fewer'} parameters than this {fw.TITLE} layer"
            + (" in the whole stack" if spec.layers * spec.directions > 1 else "")
        )
    if spec.bidirectional and spec.merge_mode != "concat":
        caveats.append(f"the tools do not see the {spec.merge_mode} merge of the two directions, which comes after the layer")
    return twin, ("; ".join(caveats) or None)


def _ptflops(twin: LayerSpec) -> int:
    """ptflops 0.7.5, backend 'pytorch': rnn_flops_counter_hook sums, per layer, the sizes of
    weight_ih_l{k} and weight_hh_l{k} (the forward direction's, real shapes, so D·H_out inputs
    above layer 0 and H_out recurrent columns with a projection), an element-wise term
    (RNN H, GRU H + 3H + 3H = 7H, LSTM 4H + 3H + 3H = 10H) and, with bias, the lengths of
    bias_ih and bias_hh (2GH); multiplies by batch, by time and by 2 if bidirectional.
    get_model_complexity_info then divides by the batch it counted (len(input[0]) = B
    with batch_first=True), so the number is per sample. weight_hr is never read."""
    g, h, d = twin.gates, twin.units, twin.directions
    extra = {"rnn": h, "gru": 7 * h, "lstm": 10 * h}[twin.cell]
    bias = 2 * g * h if twin.bias else 0
    per_step = sum(
        g * h * twin.layer_input_size(k) + g * h * twin.hidden_out + extra + bias for k in range(twin.layers)
    )
    return twin.time * d * per_step


def _thop_cell(twin: LayerSpec, input_size: int) -> int:
    """thop's _count_{rnn,gru,lstm}_cell(input_size, hidden_size, bias)."""
    h = twin.units
    gate = (input_size + h) * h + h + (2 * h if twin.bias else 0)  # MACs, + add of the two products, + 2 biases
    if twin.cell == "rnn":
        return gate
    if twin.cell == "gru":
        return 3 * gate + h + 3 * h  # r⊙(...), then (1 − z)⊙n + z⊙h
    return 4 * gate + 3 * h + h  # c' = f⊙c + i⊙g, h' = o⊙tanh(c')


def _thop(twin: LayerSpec) -> int:
    """thop: count_{rnn,gru,lstm} add _count_*_cell(input_size, hidden_size) for layer 0 and
    _count_*_cell(hidden_size·D, hidden_size) for every later layer, ×2 if bidirectional,
    then × time × batch. It reads only input_size, hidden_size, num_layers, bias and
    bidirectional: proj_size is ignored (recurrent width H, upper-layer input D·H, no W_hr)."""
    d, h = twin.directions, twin.units
    per_step = d * _thop_cell(twin, twin.input_size) + (twin.layers - 1) * d * _thop_cell(twin, d * h)
    return per_step * twin.time * twin.batch


def _torchinfo(twin: LayerSpec) -> int:
    """torchinfo: LayerInfo.calculate_macs adds prod(output_size[:2]) × numel for every
    parameter whose name contains "weight" or "bias"; for a batch_first RNN the output's
    first two dims are (B, T), so total_mult_adds = B·T·(all parameters)."""
    return twin.batch * twin.time * total_count(twin)


TOOL_FORMULAS = {
    "ptflops": "T·D·Σ_k [numel(weight_ih_lk) + numel(weight_hh_lk) + e·H + 2·G·H·bias], e = 1 | 7 | 10 (RNN | GRU | LSTM)",
    "thop": "B·T·D·Σ_k cell(X_k, H), cell = G·((X_k + H)·H + H + 2H·bias) + (0 | 4H | 4H), X_k = D·H above layer 0",
    "torchinfo": "B·T·(number of parameters)",
}


def _tool_notes(spec: LayerSpec, twin: LayerSpec | None) -> tuple[ToolNote, ...]:
    proj = twin is not None and twin.proj_size
    notes = {
        "ptflops": (
            "per sample (it divides by the batch); one number of MACs plus 2GH bias adds and "
            "an element-wise term per step (RNN H, GRU 7H, LSTM 10H), no activations"
            + ("; W_hr's P·H projection MACs are missing" if proj else "")
        ),
        "thop": (
            "whole batch; MACs plus, per gate, the add of the two products and 2H bias adds, "
            "plus 4H (GRU, LSTM) element-wise, no activations"
            + ("; proj_size ignored: it counts H recurrent columns and D·H upper-layer inputs and no W_hr" if proj else "")
        ),
        "torchinfo": (
            "whole batch; B·T × every parameter, so each bias element counts as a mult-add "
            "and no element-wise or activation work is counted"
            + ("; W_hr is included, since it is a parameter" if proj else "")
        ),
    }
    return tuple(
        ToolNote(tool, TOOL_VERSIONS[tool], TOOL_SOURCES[tool], TOOL_FORMULAS[tool], notes[tool])
        for tool in ("ptflops", "thop", "torchinfo")
    )


PACKED_NOTES = {
    "ptflops": "fails on a PackedSequence input and reports None: rnn_flops_counter_hook reads input[0].shape "
               "(AttributeError: 'PackedSequence' object has no attribute 'shape')",
    "thop": "charges every sequence for the longest one: count_lstm/gru/rnn take batch_size = max(batch_sizes) = B "
            "and num_steps = len(batch_sizes) = max(lengths), so B·max(lengths) = {charged} sample-steps for "
            "{real} real ones; per step as without lengths",
    "torchinfo": "fails on a PackedSequence input: summary() rebuilds it in traverse_input_data "
                 "(AttributeError: 'torch.Size' object has no attribute 'device')",
}


def compare_packed(spec: LayerSpec, lengths: tuple[int, ...]) -> Comparison:
    """What the three tools report for the spec's torch.nn twin run on
    ``pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)``: measured
    with the versions in :data:`TOOL_VERSIONS` (tests/crosscheck/test_cost_tools.py)."""
    twin, reason = torch_twin(spec)
    if twin is None:
        return Comparison(None, None, None, None, _tool_notes(spec, None), reason)
    from dataclasses import replace

    longest = max(lengths)
    charged = replace(twin, time=longest)
    notes = tuple(
        replace(n, note=PACKED_NOTES[n.tool].format(charged=twin.batch * longest, real=sum(lengths)))
        for n in _tool_notes(spec, twin)
    )
    return Comparison(
        torch_equivalent=constructor(twin)[0],
        ptflops=None,
        thop=_thop(charged),
        torchinfo=None,
        notes=notes,
        reason=reason,
    )


def compare_spec(spec: LayerSpec) -> Comparison:
    """What ptflops, thop and torchinfo report for the spec's equivalent torch.nn layer."""
    twin, reason = torch_twin(spec)
    if twin is None:
        return Comparison(None, None, None, None, _tool_notes(spec, None), reason)
    return Comparison(
        torch_equivalent=constructor(twin)[0],
        ptflops=_ptflops(twin),
        thop=_thop(twin),
        torchinfo=_torchinfo(twin),
        notes=_tool_notes(spec, twin),
        reason=reason,
    )


# --- the formula ---------------------------------------------------------------------


def _joined(*factors) -> str:
    return "·".join(str(f) for f in factors)


def mac_formula(spec: LayerSpec, lengths: tuple[int, ...] | None = None) -> str:
    """The MAC count as a formula, with numbers, and its value; with ``lengths``, Σlen
    sample-steps instead of B·T.

    >>> mac_formula(make_spec(2, 1))
    'B·T·D·L·G·(X·H + H·H) = 32·1·1·1·4·(1·2 + 2·2) = 768'
    >>> mac_formula(make_spec(2, 1, batch=3, time=7), (7, 3, 1))
    'Σlen·D·L·G·(X·H + H·H) = 11·1·1·4·(1·2 + 2·2) = 264'
    """
    if lengths is not None:
        full = mac_formula(spec)
        sym, num, _ = full.split(" = ")
        steps = sum(lengths)
        num = str(steps) + num[len(f"{spec.batch}·{spec.time}"):]
        macs = steps * spec.directions * sum(layer_macs(spec, k) for k in range(spec.layers))
        return f"{sym.replace('B·T', 'Σlen', 1)} = {num} = {macs}"
    g, h, p, L = spec.gates - spec.cifg, spec.units, spec.proj_size, spec.layers
    b, t, d = spec.batch, spec.time, spec.directions
    rec_sym, rec_num = ("P·H", f"{p}·{h}") if p else ("H·H", f"{h}·{h}")
    if spec.diagonal:
        rec_sym, rec_num = "H", f"{h}"
    g_sym, g_num = ("G·", f"{g}·") if g > 1 else ("", "")
    proj_sym, proj_num = (" + P·H", f" + {p}·{h}") if p else ("", "")

    def term(x_sym: str, x: int) -> tuple[str, str]:
        return (
            f"{g_sym}({x_sym}·H + {rec_sym}){proj_sym}",
            f"{g_num}({x}·{h} + {rec_num}){proj_num}",
        )

    def times(factor_sym: str, factor_num: str, t_sym: str, t_num: str) -> tuple[str, str]:
        if not p:  # "G·(...)" or "(...)" is one factor already
            return f"{factor_sym}·{t_sym}", f"{factor_num}·{t_num}"
        return f"{factor_sym}·({t_sym})", f"{factor_num}·({t_num})"

    macs = b * t * d * sum(layer_macs(spec, k) for k in range(L))
    x0, x1 = spec.input_size, spec.layer_input_size(1) if L > 1 else spec.input_size
    if L == 1 or x0 == x1:
        sym, num = times("B·T·D·L", _joined(b, t, d, L), *term("X", x0))
        return f"{sym} = {num} = {macs}"
    if spec.bidirectional and spec.merge_mode != "concat":
        x1_sym = "H"  # merged directions keep H features
    else:
        x1_sym = "(D·P)" if p else "(D·H)"
    sym0, num0 = term("X", x0)
    sym1, num1 = times("(L−1)", str(L - 1), *term(x1_sym, x1))
    return f"B·T·D·[{sym0} + {sym1}] = {_joined(b, t, d)}·[{num0} + {num1}] = {macs}"


# --- public --------------------------------------------------------------------------


def _notes(spec: LayerSpec, final_merge: int, lengths=None) -> list[str]:
    notes = [
        "MACs count the matrix products only (x·W_ih, h_prev·W_hh and the projection); "
        "bias adds are FLOPs, not MACs.",
        "flops.total = matmul (2 × MACs) + bias + elementwise + activations, counting one "
        "sigmoid, tanh or relu evaluation as 1 FLOP.",
        "memory_bytes.inference is the peak of lstmcalc's own forward pass (an upper bound, "
        "checked with tracemalloc): the weights and their prepared copies, the input, the "
        "current layer's input and output sequences, the x·W_ih buffer for every step, the "
        "states, and a fixed allowance for Python objects. training is a model of backpropagation "
        "through time: the parameters and their gradients, and every step's gate activations "
        "and states of every layer, without optimizer state.",
    ]
    if spec.bidirectional and "merge_mode" in frameworks.of(spec).OPTIONS:
        if spec.merge_mode == "concat":
            notes.append("Bidirectional merge_mode='concat' copies the two directions side by side: no FLOPs.")
        else:
            notes.append(
                f"Bidirectional merge_mode='{spec.merge_mode}' counts as elementwise FLOPs "
                f"({MERGE_FLOPS_PER_UNIT[spec.merge_mode]} per unit) for every merged vector."
            )
    if final_merge:
        notes.append(
            f"The last layer returns only its last step, so its merge ({final_merge} FLOPs) "
            "happens once per sample: it is in the totals but not in per_step_per_sample."
        )
    if lengths is not None:
        b, t, steps = spec.batch, spec.time, sum(lengths)
        notes.append(
            f"With lengths, the work is Σ lengths = {steps:,} sample-steps, not B·T = {b * t:,}: what PyTorch "
            "computes on pack_padded_sequence(x, lengths, enforce_sorted=False), whose every step runs only the "
            "sequences still going. Memory still holds the padded (B, T, ·) tensors."
        )
        own = frameworks.of(spec).lengths_note(spec, steps)  # what the framework itself computes then
        if own is not None:
            notes.append(own)
    return notes


def check_lengths(spec: LayerSpec, lengths) -> tuple[int, ...] | None:
    """lengths as a tuple of B whole numbers 1 ≤ length ≤ T, or a one-line SpecError."""
    if lengths is None:
        return None
    allowed = f"allowed: {spec.batch} whole number(s), one per batch row, each 1 <= length <= T = {spec.time}"
    try:
        values = tuple(lengths)
    except TypeError:
        raise SpecError("lengths", f"is not a list of whole numbers; {allowed}") from None
    if len(values) != spec.batch:
        raise SpecError("lengths", f"has {len(values)} value(s); {allowed}")
    for k, n in enumerate(values):
        if isinstance(n, bool) or not hasattr(n, "__index__") or not 1 <= int(n) <= spec.time:
            raise SpecError("lengths", f"lengths[{k}] = {n!r}; {allowed}")
    return tuple(int(n) for n in values)


def cost_spec(spec: LayerSpec, dtype: str = "float32", lengths=None) -> Cost:
    """The :class:`Cost` of a validated spec. ``lengths``: (B,) each sequence's real length
    in a padded batch: the arithmetic is Σ lengths sample-steps instead of B·T (memory
    still holds the padded (B, T, ·) tensors)."""
    refuse_shaped_only(spec.cell, "cost")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise SpecError("dtype", f"must be one of {', '.join(DTYPES)}, got {dtype!r}")
    lengths = check_lengths(spec, lengths)
    itemsize = DTYPES[dtype]
    b, t = spec.batch, spec.time
    steps = b * t if lengths is None else sum(lengths)
    step = step_flops(spec)
    # A Keras Bidirectional last layer without return_sequences merges (B, H) once.
    final_merge = 0 if _emits_sequence(spec, spec.layers - 1) else b * _merge_per_vector(spec)
    flops = Flops(
        matmul=step.matmul * steps,
        bias=step.bias * steps,
        elementwise=step.elementwise * steps + final_merge,
        activations=step.activations * steps,
        per_step_per_sample=step,
    )
    elements = memory_elements(spec)
    memory = Memory(
        parameters=elements["parameters"] * itemsize,
        inference=sum(estimate_elements(spec).values()) * itemsize + overhead_bytes(spec),
        training=elements["training"] * itemsize,
    )
    return Cost(
        spec=spec,
        dtype=dtype,
        itemsize=itemsize,
        macs=step.matmul // 2 * steps,
        formula=mac_formula(spec, lengths),
        flops=flops,
        memory_bytes=memory,
        compare=compare_spec(spec) if lengths is None else compare_packed(spec, lengths),
        notes=tuple(_notes(spec, final_merge, lengths)),
        lengths=lengths,
        steps=steps,
    )


def cost(units, input_size, *, dtype="float32", lengths=None, **layer_options) -> Cost:
    """Multiply-accumulates, FLOPs (matmul, bias, element-wise, activations), memory in
    bytes of ``dtype`` and what ptflops, thop and torchinfo report, for one call of the
    layer on a (B, T, X) input (``batch`` and ``time`` in the options).

    Keywords as :func:`lstmcalc.spec.make_spec`; ``dtype`` is one of float32, float16,
    bfloat16, float64, int8.

    ``lengths``: each sequence's real length in a padded batch (see :func:`cost_spec`);
    ``batch`` defaults to their count and ``time`` to the longest then.

    >>> cost(units=2, input_size=1, batch=1).macs
    24
    >>> cost(units=2, input_size=1, lengths=[7, 3, 1]).macs
    264
    """
    if lengths is not None and not isinstance(lengths, (str, bytes)):
        try:
            values = list(lengths)
        except TypeError:
            values = None
        if values:
            layer_options.setdefault("batch", len(values))
            if all(isinstance(n, int) for n in values):
                layer_options.setdefault("time", max(values))
    refuse_shaped_only(layer_options.get("cell", "lstm"), "cost")  # before make_spec asks for a kernel_size
    return cost_spec(make_spec(units, input_size, **layer_options), dtype, lengths)
