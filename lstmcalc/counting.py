"""Parameter, tensor-shape and output-shape arithmetic for recurrent layers (stdlib only).

Per layer and direction, with G gate blocks (LSTM 4, GRU 3, SimpleRNN 1), H units,
X_k inputs to layer k, H_out = P with a PyTorch projection (else H) and nb biases
per gate (Keras 1, or 2 for GRU with reset_after; PyTorch 2; 0 without bias):

    params_k = G × (X_k·H + H_out·H + nb·H) + P·H

Keras writes the same LSTM count as 4 × ((X + H) × H + H); PyTorch keeps b_ih and
b_hh, so it has 4H more per LSTM layer and direction, H more for SimpleRNN, and the
same for GRU (Keras 3's default reset_after=True also keeps two biases).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import explain
from .conventions import DIRECTIONS, GATE_NAMES, TensorLayout, all_tensors, constructor, gate_order
from .spec import LayerSpec, make_spec


@dataclass(frozen=True)
class GateRow:
    """The parameters of one gate (or the projection) in one layer and direction."""

    layer: int
    direction: str  # "forward" | "backward"
    gate: str  # i, f, g, o | z, r, n | h; "proj" for PyTorch's weight_hr
    name: str  # "forget", "candidate", "projection", ...
    input_weights: int  # X_k·H: this gate's block of kernel / weight_ih
    recurrent_weights: int  # H_out·H: its block of recurrent_kernel / weight_hh
    bias: int  # H per bias vector the framework keeps for it
    projection: int  # P·H for the "proj" row, else 0

    @property
    def total(self) -> int:
        return self.input_weights + self.recurrent_weights + self.bias + self.projection

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
class Output:
    """One tensor the layer returns, in the framework's return order."""

    name: str
    shape: tuple[int, ...]
    meaning: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "meaning": self.meaning}


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
            "notes": list(self.notes),
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


def biases_per_gate(spec: LayerSpec) -> int:
    """nb: bias vectors of length H per gate (0, 1 or 2)."""
    if not spec.bias:
        return 0
    if spec.framework == "torch":
        return 2  # bias_ih and bias_hh
    return 2 if spec.cell == "gru" and spec.reset_after else 1


def layer_count(spec: LayerSpec, layer: int) -> int:
    """Parameters of one direction of layer ``layer``."""
    h, x = spec.units, spec.layer_input_size(layer)
    per_gate = x * h + spec.hidden_out * h + biases_per_gate(spec) * h
    return spec.gates * per_gate + spec.proj_size * h


def total_count(spec: LayerSpec) -> int:
    return sum(layer_count(spec, k) for k in range(spec.layers)) * spec.directions


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


def _formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """The count of one direction of ``layer`` as a formula and with numbers substituted."""
    g, h, p = spec.gates, spec.units, spec.proj_size
    x = spec.layer_input_size(layer)
    nb = biases_per_gate(spec)
    prefix, prefix_n = (f"{g} × ", f"{g} × ") if g > 1 else ("", "")
    if spec.framework == "keras":
        bias_sym = {0: "", 1: " + H", 2: " + 2H"}[nb]
        bias_num = {0: "", 1: f" + {h}", 2: f" + 2 × {h}"}[nb]
        if nb:
            sym = f"{prefix}((X + H) × H{bias_sym})"
            num = f"{prefix_n}(({x} + {h}) × {h}{bias_num})"
        else:
            sym = f"{prefix}(X + H) × H"
            num = f"{prefix_n}({x} + {h}) × {h}"
        if g == 1 and nb:
            sym, num = sym[1:-1], num[1:-1]  # no outer parentheses without a gate factor
        return sym, num
    rec_sym, rec_num = ("P·H", f"{p}·{h}") if p else ("H·H", f"{h}·{h}")
    bias_sym, bias_num = (" + 2H", f" + 2·{h}") if nb else ("", "")
    inner_sym = f"X·H + {rec_sym}{bias_sym}"
    inner_num = f"{x}·{h} + {rec_num}{bias_num}"
    if g > 1:
        sym, num = f"{g} × ({inner_sym})", f"{g} × ({inner_num})"
    else:
        sym, num = inner_sym, inner_num
    if p:
        sym, num = f"{sym} + P·H", f"{num} + {p}·{h}"
    return sym, num


def _gate_rows(spec: LayerSpec) -> list[GateRow]:
    rows = []
    h, nb = spec.units, biases_per_gate(spec)
    for layer in range(spec.layers):
        x = spec.layer_input_size(layer)
        for direction in DIRECTIONS[: spec.directions]:
            for gate in gate_order(spec):
                rows.append(
                    GateRow(layer, direction, gate, GATE_NAMES[gate], x * h, spec.hidden_out * h, nb * h, 0)
                )
            if spec.proj_size:
                rows.append(GateRow(layer, direction, "proj", "projection", 0, 0, 0, spec.proj_size * h))
    return rows


def _outputs(spec: LayerSpec) -> list[Output]:
    b, t, h = spec.batch, spec.time, spec.units
    if spec.framework == "torch":
        d, h_out = spec.directions, spec.hidden_out
        out = [
            Output("output", (b, t, d * h_out), "h_t of the last layer at every step (batch_first=True)"),
            Output("h_n", (d * spec.layers, b, h_out), "final h of every layer and direction"),
        ]
        if spec.cell == "lstm":
            out.append(Output("c_n", (d * spec.layers, b, h), "final c of every layer and direction"))
        return out
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


def breakdown_spec(spec: LayerSpec) -> Breakdown:
    """The :class:`Breakdown` of a validated spec."""
    formulas = []
    for layer in range(spec.layers):
        sym, num = _formula(spec, layer)
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
    return Breakdown(
        spec=spec,
        total=total,
        gates=tuple(_gate_rows(spec)),
        tensors=tuple(all_tensors(spec)),
        formulas=tuple(formulas),
        outputs=tuple(_outputs(spec)),
        notes=tuple(explain.notes(spec, total)),
        code=tuple(constructor(spec)),
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
    """The same layer's options in the other framework, or None where it has no twin
    (PyTorch projection; Keras GRU without reset_after; Keras-only options)."""
    framework = options.get("framework", "keras")
    if framework == "torch":
        if options.get("proj_size"):
            return None
        return {**options, "framework": "keras"}
    if options.get("cell") == "gru" and options.get("reset_after") is False:
        return None
    twin = {**options, "framework": "torch", "merge_mode": None}
    twin.pop("return_sequences", None)
    twin.pop("return_state", None)
    if options.get("bidirectional") and options.get("merge_mode") not in (None, "concat"):
        return None  # PyTorch always concatenates the directions
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
        fw = opts.get("framework", "keras")
        table[fw] = {(h, x): value(make_spec(h, x, **opts)) for h in units for x in inputs}
        frameworks.append(fw)
    return Grid(tuple(units), tuple(inputs), quantity, tuple(frameworks), table, options)
