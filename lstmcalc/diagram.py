"""``breakdown --diagram``: the weight matrices drawn as gate-coloured blocks (Rich).

Each character cell is one weight, labelled with its gate's letter in the framework's
own naming, so the picture still reads when colours are dropped (piped, NO_COLOR).
Beyond what fits, the drawing is a scaled sketch: one cell stands for s × s weights.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from .frameworks import TensorLayout, framework_letter, gate_order
from .counting import Breakdown

GATE_COLOURS = {"i": "green", "f": "red", "g": "yellow", "o": "blue", "z": "magenta", "r": "cyan", "n": "yellow", "h": "yellow"}
MAX_COLS = 64  # character columns for the gate axis of a matrix (2 per cell)
MAX_ROWS = 12  # rows per matrix when gate blocks run along the columns (Keras)
MAX_STACKED_ROWS = 36  # rows per matrix when gate blocks are stacked (PyTorch)


def _scale(gate_len: int, other: int, gates: int, gate_axis_cols: bool) -> int:
    """Weights per cell side, so that the matrix fits MAX_COLS × MAX_ROWS."""
    cols, rows = (gates * gate_len, other) if gate_axis_cols else (other, gates * gate_len)
    max_rows = MAX_ROWS if gate_axis_cols else MAX_STACKED_ROWS
    s = 1
    while -(-cols // s) * 2 > MAX_COLS or -(-rows // s) > max_rows:
        s += 1
    return s


def _matrix(b: Breakdown, t: TensorLayout) -> Text:
    spec = b.spec
    gates = [sl.gate for sl in t.slices]
    h = spec.units
    lead = len(t.shape) - 2  # a leading directions axis (ONNX [D, G·H, X]): draw direction 0
    gate_axis = t.slices[0].axis - lead
    other = t.shape[lead:][1 - gate_axis]
    cols_are_gates = gate_axis == 1
    s = _scale(h, other, len(gates), cols_are_gates)
    cells_per_gate = -(-h // s)
    other_cells = -(-other // s)

    def cell(gate: str) -> Text:
        letter = framework_letter(spec, gate)
        return Text(letter + " ", style=f"bold black on {GATE_COLOURS[gate]}")

    shape = " × ".join(str(d) for d in t.shape)
    if lead:
        shape = " × ".join(str(d) for d in t.shape[lead:])
    head = Text(f"{t.name}[0] ({shape}), the forward direction" if lead else f"{t.name} ({shape})", style="bold")
    if s > 1:
        head.append(f"  scaled: one cell = {s} × {s} weights")
    source = "x" if t.role == "input" else "h"  # what the non-gate axis indexes
    unit_labels = [f"u{k * s + 1}" for k in range(cells_per_gate)]
    other_labels = [f"{source}{k * s + 1}" for k in range(other_cells)]
    lines = [head]
    if cols_are_gates:
        # rows: input features x (or previous outputs h); columns: each gate's units side by side
        pad = max(len(label) for label in other_labels) + 1
        if s == 1 and h < 10:
            header = Text("u".rjust(pad - 1) + " ")
            header.append("│".join("".join(f"{k + 1} " for k in range(h)) for _ in gates))
            lines.append(header)
        for label in other_labels:
            line = Text(label.ljust(pad))
            for k, gate in enumerate(gates):
                for _ in range(cells_per_gate):
                    line.append_text(cell(gate))
                if k < len(gates) - 1:
                    line.append("│")
            lines.append(line)
    else:
        # rows: each gate's units stacked; columns: input features x (or previous outputs h)
        pad = max(len(label) for label in unit_labels) + 1
        if s == 1 and other < 10:
            lines.append(Text(source.rjust(pad - 1) + " " + "".join(f"{k + 1} " for k in range(other))))
        for k, gate in enumerate(gates):
            for label in unit_labels:
                line = Text(f"{framework_letter(spec, gate)}{label[1:]}".ljust(pad))
                for _ in range(other_cells):
                    line.append_text(cell(gate))
                lines.append(line)
            if k < len(gates) - 1:
                lines.append(Text(" " * pad + "─" * (2 * other_cells)))
    return Text("\n").join(lines)


def _bias_words(b: Breakdown, h: int) -> str:
    """'one', 'two', 'no', or 'one or two' (a GRU whose candidate alone has two)."""
    words = {0: "no", h: "one", 2 * h: "two"}
    found = sorted({row.bias for row in b.gates if row.gate != "proj"})
    return " or ".join(words.get(n, str(n // h)) for n in found)


def diagram_view(b: Breakdown) -> Group:
    """The first layer's input and recurrent weight matrices, one block per gate."""
    spec = b.spec
    tensors = [t for t in b.tensors if t.layer == 0 and t.direction in ("forward", "both") and t.role in ("input", "recurrent")]
    order = " ".join(framework_letter(spec, g) for g in gate_order(spec))  # per-gate trees (Flax) too
    axis = "columns" if tensors[0].slices[0].axis - (len(tensors[0].shape) - 2) == 1 else "rows"
    intro = Text(
        f"Weight matrices of layer 0 (gate blocks along {axis}, order {order}; each cell one weight):",
        style="bold",
    )
    parts = [intro]
    for t in tensors:
        parts += [Text(""), _matrix(b, t)]
    h = spec.units
    rec = spec.hidden_out
    parts.append(Text(""))
    parts.append(
        Text(
            (f"Every gate has its own {h} × {rec} recurrent block: " if spec.gates > 1
             else f"The recurrent matrix is {h} × {rec}: ")
            + ("the unit" if h == 1 else f"each of the {h} units")
            + (" reads the one value of h_(t-1)." if rec == 1 else f" reads all {rec} values of h_(t-1).")
            + f" Biases ({_bias_words(b, h)} per {'gate' if spec.gates > 1 else 'block'} here) are not drawn."
        )
    )
    return Group(*parts)
