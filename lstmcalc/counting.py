"""Parameter, tensor-shape and output-shape arithmetic for recurrent layers (stdlib only).

Per layer and direction, with G gate blocks (LSTM 4, GRU 3, SimpleRNN 1), H units,
X_k inputs to layer k, H_out = P with a PyTorch projection (else H) and nb biases
per gate (Keras 1, or 2 for GRU with reset_after; PyTorch 2; 0 without bias):

    params_k = G × (X_k·H + H_out·H + nb·H) + P·H (+ 3H with LSTM peepholes)

Keras writes the same LSTM count as 4 × ((X + H) × H + H); PyTorch keeps b_ih and
b_hh, so it has 4H more per LSTM layer and direction, H more for SimpleRNN, and the
same for GRU (Keras 3's default reset_after=True also keeps two biases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import frameworks
from .canonical import DIRECTIONS, GATE_NAMES, PEEPHOLE_GATES, Output, TensorLayout
from .frameworks import all_tensors, constructor, layer_formula, outputs
from .params import layer_count, total_count, weighted_gates
from .frameworks import DEFAULT, make_spec
from .spec import LayerSpec

if TYPE_CHECKING:  # the annotation only
    from . import explain


@dataclass(frozen=True)
class GateRow:
    """The parameters of one gate (or the projection) in one layer and direction."""

    layer: int
    direction: str  # "forward" | "backward"
    gate: str  # i, f, g, o | z, r, n | h; "proj" for PyTorch's weight_hr
    name: str  # "forget", "candidate", "projection", ...
    input_weights: int  # X_k·H (ConvLSTM k·C·F): this gate's block of kernel / weight_ih
    recurrent_weights: int  # H_out·H (ConvLSTM k·F·F): its block of recurrent_kernel / weight_hh
    bias: int  # H per bias vector the framework keeps for it
    projection: int  # P·H for the "proj" row, else 0
    peephole: int = 0  # H for i, f and o with peepholes (ONNX P), else 0
    layer_norm: int = 0  # H with layer normalisation (its coefficients), else 0

    @property
    def total(self) -> int:
        return self.input_weights + self.recurrent_weights + self.bias + self.projection + self.peephole + self.layer_norm

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.gate,
            "name": self.name,
            "input_weights": self.input_weights,
            "recurrent_weights": self.recurrent_weights,
            "bias": self.bias,
            "projection": self.projection,
            "peephole": self.peephole,
            **({"layer_norm": self.layer_norm} if self.layer_norm else {}),
            "total": self.total,
        }


@dataclass(frozen=True)
class LayerFormula:
    """One layer's count (both directions), as a formula and with its numbers substituted."""

    layer: int
    input_size: int  # X_k
    symbolic: str  # "4 × ((X + H) × H + H)"
    substituted: str  # "4 × ((1 + 2) × 2 + 2)"
    per_direction: int
    directions: int
    total: int

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "input_size": self.input_size,
            "symbolic": self.symbolic,
            "substituted": self.substituted,
            "per_direction": self.per_direction,
            "directions": self.directions,
            "total": self.total,
        }


@dataclass(frozen=True)
class Breakdown:
    """Why a recurrent layer has ``total`` parameters, gate by gate and tensor by tensor."""

    spec: LayerSpec
    total: int
    gates: tuple[GateRow, ...]
    tensors: tuple[TensorLayout, ...]
    formulas: tuple[LayerFormula, ...]
    outputs: tuple[Output, ...]
    notes: tuple[str, ...]
    code: tuple[str, ...]  # the framework lines that build the same layer
    note_numbers: tuple[tuple[explain.Number, ...], ...] = ()  # per note, the numbers it states
    initial_states: tuple[Output, ...] = ()  # what the layer takes as initial states, in its order
    inputs: tuple[Output, ...] = ()  # the input's shape, where the convention gives it (ConvLSTM with its spatial size)

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "config": self.spec.to_dict(),
            "code": list(self.code),
            "formula": [f.to_dict() for f in self.formulas],
            "gates": [g.to_dict() for g in self.gates],
            "tensors": [
                {
                    "name": t.name,
                    "layer": t.layer,
                    "direction": t.direction,
                    "shape": list(t.shape),
                    "count": t.count,
                    "role": t.role,
                    "slices": [s.to_dict() for s in t.slices],
                }
                for t in self.tensors
            ],
            "outputs": [o.to_dict() for o in self.outputs],
            **({"inputs": [o.to_dict() for o in self.inputs]} if self.inputs else {}),
            "initial_states": [o.to_dict() for o in self.initial_states],
            "notes": list(self.notes),
            "note_numbers": [[n.to_dict() for n in numbers] for numbers in self.note_numbers],
        }

    def __repr__(self) -> str:
        from .render import summary_line

        return f"<Breakdown {summary_line(self.spec)}: {self.total:,} parameters>"

    def __str__(self) -> str:  # print(b): the plain-text rendering of the tables, 80 columns
        from .render import plain_text

        return plain_text(self)

    def __rich__(self):
        from .render import breakdown_view  # rich is imported only when rendering

        return breakdown_view(self)

    def _repr_html_(self) -> str:
        from .render import breakdown_html

        return breakdown_html(self)


def count(units, input_size, **options) -> int:
    """The number of trainable parameters, as Keras' ``count_params()`` or PyTorch's
    ``sum(p.numel() for p in module.parameters())`` reports it.

    Keywords as :func:`lstmcalc.spec.make_spec`: ``cell``, ``framework``, ``bias``,
    ``bidirectional``, ``merge_mode``, ``layers``, ``proj_size``, ``reset_after``, ...

    >>> count(units=2, input_size=1)
    32
    >>> count(units=2, input_size=1, framework="torch")
    40
    """
    return total_count(make_spec(units, input_size, **options))


def _gate_rows(spec: LayerSpec) -> list[GateRow]:
    rows = []
    h, k = spec.units, spec.kernel_volume  # k: window positions of a ConvLSTM block, else 1
    for layer in range(spec.layers):
        x = spec.layer_input_size(layer)
        for direction in DIRECTIONS[: spec.directions]:
            for gate in weighted_gates(spec):  # every gate, but a coupled input gate (cifg)
                peep = h if spec.peepholes and gate in PEEPHOLE_GATES else 0
                nb = frameworks.gate_biases(spec, gate)
                recurrent = h if spec.diagonal else k * spec.hidden_out * h
                rows.append(
                    GateRow(layer, direction, gate, GATE_NAMES[gate], k * x * h, recurrent, nb * h, 0, peep,
                            h if spec.layer_norm else 0)
                )
            if spec.proj_size:
                p = spec.proj_size
                rows.append(GateRow(layer, direction, "proj", "projection", 0, 0, 0, p * h + p * spec.proj_bias))
    return rows


def _initial_states(spec: LayerSpec) -> list[Output]:
    return frameworks.of(spec).initial_state_shapes(spec)


def _input_shapes(spec: LayerSpec) -> list[Output]:
    return frameworks.of(spec).input_shapes(spec)


def breakdown_spec(spec: LayerSpec) -> Breakdown:
    """The :class:`Breakdown` of a validated spec."""
    formulas = []
    for layer in range(spec.layers):
        sym, num = layer_formula(spec, layer)
        per_direction = layer_count(spec, layer)
        formulas.append(
            LayerFormula(
                layer,
                spec.layer_input_size(layer),
                sym,
                num,
                per_direction,
                spec.directions,
                per_direction * spec.directions,
            )
        )
    total = sum(f.total for f in formulas)
    from . import explain  # the words: not needed by count, so not imported at start-up

    sentences = explain.note_sentences(spec)
    return Breakdown(
        spec=spec,
        total=total,
        gates=tuple(_gate_rows(spec)),
        tensors=tuple(all_tensors(spec)),
        formulas=tuple(formulas),
        outputs=tuple(outputs(spec)),
        notes=tuple(s.text for s in sentences),
        code=tuple(constructor(spec)),
        note_numbers=tuple(s.numbers for s in sentences),
        initial_states=tuple(_initial_states(spec)),
        inputs=tuple(_input_shapes(spec)),
    )


def breakdown(units, input_size, **options) -> Breakdown:
    """Explain the parameter count gate by gate: per-gate rows, the framework's tensors
    with each gate's slice, the formula with numbers, the output shapes and notes.

    Keywords as :func:`count`.
    """
    return breakdown_spec(make_spec(units, input_size, **options))


@dataclass(frozen=True)
class Grid:
    """Totals over a grid of sizes: ``values[framework][(units, input_size)]``.

    The first framework is the one asked for (the table shows it); the other is there
    where the same layer exists in it, for plots that compare the two conventions.
    """

    units: tuple[int, ...]
    inputs: tuple[int, ...]
    quantity: str  # "parameters", or a cost quantity such as "macs"
    frameworks: tuple[str, ...]
    values: dict  # {framework: {(units, input_size): int}}
    options: dict  # the layer options shared by every cell

    def rows(self, framework: str | None = None) -> list[dict]:
        fw = framework or self.frameworks[0]
        return [
            {"units": h, "input_size": x, "framework": fw, self.quantity: self.values[fw][(h, x)]}
            for h in self.units
            for x in self.inputs
        ]

    def to_dict(self) -> list[dict]:
        return self.rows()


def other_framework_options(options: dict) -> dict | None:
    """The same layer's options in the framework plots compare against (PyTorch, or Keras
    for a PyTorch layer), or None where that framework has no such layer (a projection,
    a reset-before GRU, a merged Bidirectional, peepholes, ...)."""
    from .spec import SpecError

    from . import frameworks as _registry

    twin = {**options, "framework": _registry.get(options.get("framework", DEFAULT)).PEER}
    for option in ("merge_mode", "return_sequences", "return_state", "layout"):
        twin.pop(option, None)  # how a layer is called, not which parameters it has
    if options.get("bidirectional") and options.get("merge_mode") not in (None, "concat"):
        return None  # a merged stack's layer 1 reads H features, the twin's 2H
    try:
        make_spec(1, 1, **twin)
    except SpecError:
        return None
    return twin


def grid(units: list[int], inputs: list[int], value=None, quantity: str = "parameters", **options) -> Grid:
    """Totals for every (units, input_size) pair; ``value(spec)`` defaults to the count."""
    from .spec import check_grid

    check_grid(units, inputs)
    value = value or total_count
    table = {}
    frameworks = []
    twin = other_framework_options(options)
    for opts in (options, twin):
        if opts is None:
            continue
        fw = opts.get("framework", DEFAULT)
        table[fw] = {(h, x): value(make_spec(h, x, **opts)) for h in units for x in inputs}
        frameworks.append(fw)
    return Grid(tuple(units), tuple(inputs), quantity, tuple(frameworks), table, options)
