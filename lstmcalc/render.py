"""Rich renderables and JSON text for lstmcalc's results; no arithmetic here.

Renderers *return* renderables; the CLI decides where they are printed. Colour is
left to the Console: Rich drops every escape code when the output is not a
terminal or when NO_COLOR is set, which is how ``lstmcalc ... | cat`` stays plain.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from . import frameworks
from .frameworks import DIRECTIONS, KERAS_CLASSES, framework_letter, framework_title, gate_order
if TYPE_CHECKING:  # the renderers take the library's results; they never import them at run time
    from .counting import Breakdown

CELL_TITLES = KERAS_CLASSES  # LSTM, GRU, SimpleRNN
GATE_STYLES = {
    "i": "green",
    "f": "red",
    "g": "yellow",
    "o": "blue",
    "z": "magenta",
    "r": "cyan",
    "n": "yellow",
    "h": "yellow",
    "proj": "white",
}


def to_json(data: dict) -> str:
    """Stable JSON text: two-space indent, keys in the order the library gives them."""
    return json.dumps(data, indent=2, ensure_ascii=False)


DIRECTION_SHORT = {"forward": "fw", "backward": "bw", "reverse": "rev"}  # reverse: ONNX's one backward direction


def _layer_title(spec, total: int, text: Text | None = None, label: str | None = None) -> Text:
    """'Keras 3 LSTM, units H = 2, input X = 1[, 2 layers, ...]: 32 parameters'; ``label``
    in place of the framework's title ('Keras 2.2.4' for a file that records it)."""
    text = text if text is not None else Text()
    text.append(f"{label or framework_title(spec)} {CELL_TITLES[spec.cell]}", style="bold")
    if spec.conv is not None:  # ConvLSTM: filters and channels, and its convolution
        from .convlstm import describe

        text.append(f", filters F = {spec.units}, channels C = {spec.input_size}, {describe(spec.conv)}")
    else:
        text.append(f", units H = {spec.units}, input X = {spec.input_size}")
    if spec.layers > 1:
        text.append(f", {spec.layers} layers")
    if spec.bidirectional:
        text.append(", bidirectional")
    if spec.reverse:
        text.append(", direction reverse")
    if spec.proj_size:
        text.append(f", proj_size P = {spec.proj_size}")
    if spec.peepholes:
        text.append(", peepholes")
    if spec.recurrent_activation != "sigmoid":
        text.append(f", gates {spec.recurrent_activation}")
    if not spec.bias:
        text.append(", no bias")
    text.append(": ")
    text.append(f"{total:,} parameters", style="bold green")
    return text


def _title(b: Breakdown) -> Text:
    return _layer_title(b.spec, b.total)


def gate_table(b: Breakdown) -> Table:
    """One row per gate, per layer and direction, with subtotals and the grand total."""
    spec = b.spec
    multi = spec.layers > 1 or spec.bidirectional
    rec_head = "recurrent H·P" if spec.proj_size else "recurrent H·H"
    in_head = "input X·H"
    if spec.conv is not None:  # ConvLSTM: k window positions, C channels, F filters
        in_head, rec_head = "input k·C·F", "recurrent k·F·F"
    table = Table(title="Parameters per gate", box=box.SIMPLE_HEAD, title_justify="left")
    if spec.layers > 1:
        table.add_column("layer", justify="right")
    if spec.bidirectional:
        table.add_column("dir")
    table.add_column("gate", no_wrap=True)
    table.add_column(in_head, justify="right")
    table.add_column(rec_head, justify="right")
    table.add_column("bias", justify="right")
    if spec.proj_size:
        table.add_column("proj P·H", justify="right")
    if spec.peepholes:
        table.add_column("peephole H", justify="right")
    table.add_column("total", justify="right")

    by_place: dict = {}  # (layer, direction) -> its gate rows, in order: one pass, not one per layer
    for g in b.gates:
        by_place.setdefault((g.layer, g.direction), []).append(g)
    for formula in b.formulas:
        for direction in DIRECTIONS[: spec.directions]:
            rows = by_place.get((formula.layer, direction), [])
            for k, row in enumerate(rows):
                cells = []
                if spec.layers > 1:
                    cells.append(str(row.layer) if k == 0 else "")
                if spec.bidirectional:
                    cells.append(DIRECTION_SHORT[direction] if k == 0 else "")
                if row.gate == "proj":
                    cells += [Text("projection", style="bold"), "", "", ""]
                else:
                    label = Text(f"{row.gate} ", style=f"bold {GATE_STYLES[row.gate]}")
                    label.append(row.name, style="")
                    cells += [label, f"{row.input_weights:,}", f"{row.recurrent_weights:,}", f"{row.bias:,}"]
                if spec.proj_size:
                    cells.append(f"{row.projection:,}" if row.gate == "proj" else "")
                if spec.peepholes:
                    cells.append(f"{row.peephole:,}")
                cells.append(f"{row.total:,}")
                table.add_row(*cells, end_section=k == len(rows) - 1 and multi)
    lead = [""] * ((spec.layers > 1) + spec.bidirectional)
    pad = [""] * (len(table.columns) - len(lead) - 2)
    table.add_row(*lead, Text("total", style="bold"), *pad, Text(f"{b.total:,}", style="bold"))
    return table


def _slice_text(b: Breakdown, tensor) -> str:
    if not tensor.slices:
        return "projection, not split by gate"
    axis = tensor.slices[0].axis
    ndim = len(tensor.shape)
    parts = " ".join(
        f"[{s.start}:{s.stop}]={framework_letter(b.spec, s.gate)}" for s in tensor.slices
    )
    if ndim == 1:
        return parts
    if tensor.role == "bias_both":  # input-side biases, then recurrent-side ones (ONNX Wb, Rb)
        half = len(tensor.slices) // 2
        parts = " ".join(f"[{s.start}:{s.stop}]={framework_letter(b.spec, s.gate)}" for s in tensor.slices[:half])
        parts += " input side; " + " ".join(
            f"[{s.start}:{s.stop}]={framework_letter(b.spec, s.gate)}" for s in tensor.slices[half:]
        ) + " recurrent side"
    where = f"axis {axis}" if ndim > 2 else ("cols" if axis == ndim - 1 else "rows")
    text = f"{where} {parts}"
    leading = ndim > 2 and b.spec.conv is None  # a ConvLSTM kernel's leading axes are its window
    if leading or tensor.role in ("bias_both", "peephole"):  # a leading directions axis
        one = "axis 0 [0]=reverse; " if b.spec.reverse else "axis 0 [0]=fw; "  # ONNX direction="reverse"
        text = ("axis 0 [0]=fw [1]=bw; " if tensor.direction == "both" else one) + text
    if tensor.role == "bias" and ndim == 2:  # Keras GRU with reset_after: (2, 3H)
        text = "row 0 input, row 1 recurrent; " + text
    return text


def tensor_table(b: Breakdown) -> Table:
    """The framework's own tensors, with the slice that belongs to each gate."""
    spec = b.spec
    order = " ".join(framework_letter(spec, g) for g in gate_order(spec))  # per-gate trees (Flax) too
    renamed = [
        f"{framework_letter(spec, g)} is our {g}" for g in ("g", "n") if framework_letter(spec, g) != g
    ]
    title = f"{framework_title(spec)} tensors (gate order {order}"
    title += f"; {renamed[0]}, the candidate)" if renamed else ")"
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    keras_where = not frameworks.of(spec).NAMES_CARRY_POSITION  # PyTorch's names already carry them
    if keras_where and spec.layers > 1:
        table.add_column("layer", justify="right")
    if keras_where and spec.bidirectional:
        table.add_column("dir")
    table.add_column("name")
    table.add_column("shape")
    table.add_column("count", justify="right")
    table.add_column("gate slices")
    for t in b.tensors:
        cells = []
        if keras_where and spec.layers > 1:
            cells.append(str(t.layer))
        if keras_where and spec.bidirectional:
            cells.append(DIRECTION_SHORT[t.direction])
        shape = str(tuple(t.shape))  # "(8,)", "(2, 8)"
        cells += [t.name, shape, f"{t.count:,}", _slice_text(b, t)]
        table.add_row(*cells)
    return table


def formula_view(b: Breakdown) -> Group:
    """Each layer's formula, then with the numbers substituted."""
    spec = b.spec
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for f in b.formulas:
        line = Text(f.symbolic, style="cyan")
        line.append(f" = {f.substituted} = {f.per_direction:,}")
        if f.directions > 1:
            line.append(f"; × 2 directions = {f.total:,}")
        grid.add_row(f"layer {f.layer} (X = {f.input_size})" if spec.layers > 1 else "", line)
    if spec.layers > 1:
        line = Text(" + ".join(f"{f.total:,}" for f in b.formulas))
        line.append(f" = {b.total:,}", style="bold")
        grid.add_row("total", line)
    head = Text("Formula", style="bold")
    head.append(f" (G = {spec.gates} gate block{'s' if spec.gates > 1 else ''})")
    return Group(head, grid)


def output_table(b: Breakdown) -> Table:
    """What the layer takes as initial states (in) and returns (out), with shapes."""
    spec = b.spec
    title = f"In and out, for batch B = {spec.batch}, time T = {spec.time}"
    caption = frameworks.of(spec).outputs_caption(spec)
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, title_justify="left",
                  caption_justify="left")
    table.add_column("")
    table.add_column("name")
    table.add_column("shape")
    table.add_column("what it is")
    for o in (*b.inputs, *b.initial_states):
        table.add_row("in", o.name, str(tuple(o.shape)), o.meaning)
    for o in b.outputs:
        table.add_row("out", o.name, str(tuple(o.shape)), o.meaning)
    return table


def notes_view(b: Breakdown) -> Group:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for note in b.notes:
        grid.add_row("•", note)
    return Group(Text("Why these numbers", style="bold"), grid)


def code_view(b: Breakdown) -> Group:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(style="green")
    for line in b.code:
        grid.add_row("", line)
    return Group(Text("The same layer in " + framework_title(b.spec), style="bold"), grid)


def breakdown_view(b: Breakdown) -> Group:
    """Everything ``lstmcalc breakdown`` shows, as one renderable (the shapes table only where
    there are shapes: a ConvLSTM's need its --spatial size)."""
    shapes = [output_table(b), Text("")] if b.outputs else []
    return Group(
        _title(b),
        Text(""),
        code_view(b),
        Text(""),
        gate_table(b),
        tensor_table(b),
        formula_view(b),
        Text(""),
        *shapes,
        notes_view(b),
    )


def grid_table(grid) -> Table:
    """Totals with units down and input sizes across, for the framework asked for."""
    fw = grid.frameworks[0]
    opts = grid.options
    title = f"{frameworks.get(fw).TITLE} {CELL_TITLES[opts.get('cell', 'lstm')]} {grid.quantity}"
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    conv = opts.get("kernel_size") is not None  # a ConvLSTM grid: filters down, channels across
    table.add_column("filters F \\ channels C" if conv else "units H \\ input X", justify="right")
    for x in grid.inputs:
        table.add_column(f"{x:,}", justify="right")
    for h in grid.units:
        table.add_row(f"{h:,}", *(f"{grid.values[fw][(h, x)]:,}" for x in grid.inputs))
    return table


# ---- HTML, for Jupyter's _repr_html_ (plain tags, inline-free: notebooks style tables) ----

def summary_line(spec) -> str:
    """'keras lstm, units 2, input 1[, 2 layers, bidirectional sum, ...]' for one-line reprs."""
    parts = [f"{spec.framework} {spec.cell}", f"units {spec.units}", f"input {spec.input_size}"]
    if spec.conv is not None:
        from .convlstm import describe

        parts.append(describe(spec.conv))
    if spec.layers > 1:
        parts.append(f"{spec.layers} layers")
    if spec.bidirectional:
        parts.append("bidirectional" + (f" {spec.merge_mode}" if "merge_mode" in frameworks.of(spec).OPTIONS else ""))
    if spec.reverse:
        parts.append("direction reverse")
    if spec.proj_size:
        parts.append(f"proj_size {spec.proj_size}")
    if spec.recurrent_activation != "sigmoid":
        parts.append(f"gates {spec.recurrent_activation}")
    if not spec.bias:
        parts.append("no bias")
    return ", ".join(parts)


def plain_text(renderable, width: int = 80) -> str:
    """What a renderable looks like piped: plain text, no escape codes, ``width`` columns."""
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False,
                      highlight=False, no_color=True, force_jupyter=False)
    console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines()).rstrip("\n")


def _html_cell(value) -> str:
    """One <td>: whole numbers with thousands separators, right-aligned; text left-aligned."""
    from html import escape

    if isinstance(value, int) and not isinstance(value, bool):
        return f"<td style=\"text-align:right\">{value:,}</td>"
    return f"<td style=\"text-align:left\">{escape(str(value))}</td>"


def _html_table(headers: list[str], rows: list[list], caption: str | None = None) -> str:
    from html import escape

    numeric = [all(isinstance(r[k], int) and not isinstance(r[k], bool) or r[k] == "" for r in rows)
               for k in range(len(headers))]
    out = ["<table>"]
    if caption:
        out.append(f"<caption style=\"text-align:left\"><b>{escape(caption)}</b></caption>")
    out.append("<thead><tr>" + "".join(
        f"<th style=\"text-align:{'right' if num else 'left'}\">{escape(h)}</th>" for h, num in zip(headers, numeric)
    ) + "</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _drop_columns(headers: list[str], rows: list[list], names: tuple[str, ...]) -> tuple[list[str], list[list]]:
    keep = [k for k, h in enumerate(headers) if h not in names]
    return [headers[k] for k in keep], [[row[k] for k in keep] for row in rows]


def breakdown_html(b: Breakdown) -> str:
    """The breakdown as HTML tables: gates, tensors, formula, outputs, notes."""
    from html import escape

    spec = b.spec
    title = _title(b).plain
    gate_rows = [
        [g.layer, g.direction, f"{g.gate} {g.name}", g.input_weights, g.recurrent_weights, g.bias,
         g.projection, g.total]
        for g in b.gates
    ]
    gate_rows.append(["", "", "total", "", "", "", "", b.total])
    tensors = [[t.name, t.layer, t.direction, str(t.shape), t.count, _slice_text(b, t)] for t in b.tensors]
    formulas = [[f.layer, f.input_size, f.symbolic, f.substituted, f.per_direction, f.directions, f.total]
                for f in b.formulas]
    outputs = [["in", o.name, str(o.shape), o.meaning] for o in (*b.inputs, *b.initial_states)]
    outputs += [["out", o.name, str(o.shape), o.meaning] for o in b.outputs]
    gate_head = ["layer", "direction", "gate", "input", "recurrent", "bias", "projection", "total"]
    tensor_head = ["name", "layer", "direction", "shape", "count", "gate slices"]
    formula_head = ["layer", "X", "formula", "with numbers", "per direction", "directions", "total"]
    if spec.layers == 1 and not spec.bidirectional:  # one layer, one direction: nothing to tell apart
        gate_head, gate_rows = _drop_columns(gate_head, gate_rows, ("layer", "direction"))
        tensor_head, tensors = _drop_columns(tensor_head, tensors, ("layer", "direction"))
        formula_head, formulas = _drop_columns(formula_head, formulas, ("layer", "directions"))
    if not spec.proj_size:
        gate_head, gate_rows = _drop_columns(gate_head, gate_rows, ("projection",))
    parts = [
        f"<div class=\"lstmcalc\"><p><b>{escape(title)}</b></p>",
        "<pre>" + escape("\n".join(b.code)) + "</pre>",
        _html_table(gate_head, gate_rows, "Parameters per gate"),
        _html_table(tensor_head, tensors, f"{framework_title(spec)} tensors"),
        _html_table(formula_head, formulas, "Formula"),
        _html_table(["", "name", "shape", "what it is"], outputs,
                    f"Initial states in, outputs out, for B = {spec.batch}, T = {spec.time}"),
        "<p><b>Why these numbers</b></p>",
        "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in b.notes) + "</ul></div>",
    ]
    return "".join(parts)


def questions_view(qa: list[tuple[str, str]]) -> Group:
    """Question in bold, answer indented below it."""
    parts = []
    for k, (question, answer) in enumerate(qa, 1):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column()
        grid.add_row("", answer)
        parts += [Text(f"{k}. {question}", style="bold"), grid, Text("")]
    return Group(*parts)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n:,} B ({n / size:,.1f} {unit})"
    return f"{n:,} B"


def _run_title(spec, dtype: str) -> Text:
    """'Keras 3 LSTM, units H = 2, input X = 1, batch B = 32, time T = 1, float32'."""
    title = Text()
    title.append(f"{framework_title(spec)} {CELL_TITLES[spec.cell]}", style="bold")
    title.append(f", units H = {spec.units}, input X = {spec.input_size}, batch B = {spec.batch}, "
                 f"time T = {spec.time}, {dtype}")
    return title


def cost_view(c) -> Group:
    """MACs, FLOPs by kind, memory and what the FLOP counters report, for a ``Cost``."""
    spec = c.spec
    title = _run_title(spec, c.dtype)
    title.append(": ")
    title.append(f"{c.macs:,} MACs", style="bold green")

    formula = Table.grid(padding=(0, 1))
    formula.add_column(no_wrap=True)
    formula.add_column()
    formula.add_row("MACs", Text(c.formula, style="cyan"))

    flops = Table(title="FLOPs", box=box.SIMPLE_HEAD, title_justify="left")
    flops.add_column("kind")
    flops.add_column("per step, per sample", justify="right")
    run_steps = f"B·T = {spec.batch * spec.time:,}" if c.lengths is None else f"Σ lengths = {c.steps:,}"
    flops.add_column(f"whole run ({run_steps})", justify="right")
    step = c.flops.per_step_per_sample
    for kind, label in (("matmul", "matmul (2 × MACs)"), ("bias", "bias adds"),
                        ("elementwise", "element-wise gate math"), ("activations", "sigmoid/tanh/relu")):
        flops.add_row(label, f"{getattr(step, kind):,}", f"{getattr(c.flops, kind):,}")
    flops.add_row(Text("total", style="bold"), f"{step.total:,}", Text(f"{c.flops.total:,}", style="bold"))

    memory = Table(title=f"Memory ({c.dtype}, {c.itemsize} B per element)", box=box.SIMPLE_HEAD,
                   title_justify="left")
    memory.add_column("what")
    memory.add_column("bytes", justify="right")
    memory.add_row("parameters", _bytes(c.memory_bytes.parameters))
    memory.add_row("inference (lstmcalc.forward peak)", _bytes(c.memory_bytes.inference))
    memory.add_row("training (BPTT, no optimizer state)", _bytes(c.memory_bytes.training))

    cmp = c.compare
    tools = Table(title="What FLOP counters report" + (f" for {cmp.torch_equivalent}" if cmp.torch_equivalent else ""),
                  box=box.SIMPLE_HEAD, title_justify="left")
    tools.add_column("tool")
    tools.add_column("reports", justify="right")
    tools.add_column("÷ our MACs", justify="right")
    tools.add_column("what it counts")
    for note in cmp.notes:
        value = getattr(cmp, note.tool)
        ratio = f"{value / c.macs:.2f}" if value is not None and c.macs else ""
        tools.add_row(note.tool, "n/a" if value is None else f"{value:,}", ratio, note.note)

    parts = [title, Text(""), formula, Text(""), flops, memory, tools]
    if cmp.reason:
        parts.append(Text(cmp.reason, style="italic"))
    notes = Table.grid(padding=(0, 1))
    notes.add_column(no_wrap=True)
    notes.add_column()
    for note in c.notes:
        notes.add_row("•", note)
    parts += [Text(""), Text("Notes", style="bold"), notes]
    return Group(*parts)


def _stat(s) -> str:
    """mean ± std, then the largest |w|: '+0.01±0.31 ≤0.98'."""
    if s is None:
        return ""
    return f"{s.mean:+.2f}±{s.std:.2f} ≤{s.max_abs:.2f}"


def _bias_stat(s) -> str:
    if s is None:
        return ""
    if s.min == s.max:
        return f"all {s.min:.4g}"
    return f"{s.min:.2f}…{s.max:.2f} μ{s.mean:+.2f}"


def inspect_view(found) -> Group:
    """Every recurrent layer found in a file: what it is and its weights, gate by gate."""
    parts = []
    for f in found:
        spec = f.spec
        title = Text()
        title.append(f"{f.name or '(unnamed)'}: ", style="bold")
        _layer_title(spec, f.total, title, _keras_label(f))
        if f.keras_version is not None:
            title.append(f"\n  saved by Keras {f.keras_version} (the file's keras_version)")
        if f.config is not None:
            title.append("\n  config: " + (", ".join(f"{k}={v}" for k, v in f.config.items()) or "none of "
                                           "activation, recurrent_activation, go_backwards, return_sequences"))
        if spec.recurrent_activation != "sigmoid":
            from .spec import RECURRENT_ACTIVATION_FORMULAS

            title.append(f"\n  gates: {spec.recurrent_activation}, "
                         f"{RECURRENT_ACTIVATION_FORMULAS[spec.recurrent_activation]} (run computes it)")
        for name in ("merge_mode", "reset_after", "activation", "recurrent_activation"):
            if name in f.unknown:
                allowed = [str(v) for v in f.unknown[name]]
                said = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
                title.append(f"\n  {name}: unknown ({said}; the file does not say)")
        known = {"merge_mode": spec.merge_mode if spec.bidirectional and "merge_mode" in frameworks.of(spec).OPTIONS
                 else None, "activation": spec.activation if spec.cell == "rnn" else None}
        for name, value in known.items():
            if value is not None and name not in f.unknown:
                title.append(f"\n  {name}: {value}")
        for reason in f.refused:
            title.append(f"\n  run and convert refuse it: {reason}")
        table = Table(box=box.SIMPLE_HEAD, caption="weights: mean±std ≤max|w|; bias: min…max μmean",
                      caption_justify="left", padding=(0, 1), pad_edge=False)
        multi = spec.layers > 1 or spec.bidirectional
        if multi:
            table.add_column("", no_wrap=True)  # "0 fw": layer and direction
        table.add_column("gate", no_wrap=True)
        table.add_column("input weights", no_wrap=True)
        table.add_column("recurrent weights", no_wrap=True)
        table.add_column("bias", no_wrap=True)
        last = None
        for g in f.gates:
            cells = []
            if multi:
                where = (g.layer, g.direction)
                cells.append(f"{g.layer} {DIRECTION_SHORT[g.direction]}" if where != last else "")
                last = where
            if g.gate == "proj":
                cells += [Text("projection", style="bold"), _stat(g.projection), "", ""]
            else:
                label = Text(f"{g.gate} ", style=f"bold {GATE_STYLES[g.gate]}")
                label.append(g.name)
                cells += [label, _stat(g.input_weights), _stat(g.recurrent_weights), _bias_stat(g.bias)]
            table.add_row(*cells)
        parts += [title] + ([_node_attributes(f.attributes)] if f.attributes is not None else []) + [table]
    return Group(*parts)


def _keras_label(f) -> str | None:
    """The convention's title for the version the file records ('Keras 2.2.4' for a Keras 3 layer
    from a file saved by Keras 2), else None: the framework's title."""
    return frameworks.of(f.spec).file_title(f.keras_version)


def _node_attributes(a: dict) -> Table:
    """An ONNX node's attributes, where its optional inputs come from, and one line per
    attribute lstmcalc's forward pass does not compute. A format that words its own
    attributes gives them as ``lines``."""
    if "lines" in a:
        grid = Table.grid(padding=(0, 1), pad_edge=False)
        grid.add_column(no_wrap=True)
        grid.add_column()
        for k, line in enumerate(a["lines"]):
            grid.add_row("  attributes" if k == 0 else "", line)
        return grid
    from .frameworks.onnx import DEFAULT_ACTIVATIONS

    said = [f"hidden_size={a['hidden_size'] if a['hidden_size'] is not None else 'unset'}",
            f"direction={a['direction']}", f"layout={a['layout']}"]
    for name in ("linear_before_reset", "input_forget"):
        if a[name] is not None:
            said.append(f"{name}={a[name]}")
    said.append(f"clip={a['clip']:g}" if a["clip"] is not None else "clip=none")
    if a["activations"] is None:
        said.append(f"activations=default ({', '.join(DEFAULT_ACTIVATIONS[a['op_type']])})")
    else:
        said.append(f"activations=[{', '.join(a['activations'])}]")
    for name in ("activation_alpha", "activation_beta"):
        if a[name] is not None:
            said.append(f"{name}=[{', '.join(f'{v:g}' for v in a[name])}]")
    if a["other_attributes"]:
        said.append(f"not in the spec: {', '.join(a['other_attributes'])}")
    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row("  attributes", ", ".join(said))
    inputs = []
    for slot, value in a["inputs"].items():
        where = value["source"]
        if value["name"]:
            where += f" {value['name']!r}"
        if value.get("producer"):
            where += f" (by {value['producer']})"
        if value["shape"] is not None:
            where += f" {list(value['shape'])}"
        inputs.append(f"{slot} {where}")
    grid.add_row("  inputs", "; ".join(inputs))
    for line in a.get("notes", ()):  # where the weights come from (readers.onnx.weight_notes)
        grid.add_row("  weights", line)
    for line in a["not_modelled"]:
        grid.add_row("  not modelled", Text(f"{line}; convert and run refuse this node", style="bold yellow"))
    return grid


def convert_view(source: str, target: str, arrays: dict, path: str, notes=()) -> Group:
    table = Table(title=f"{frameworks.get(source).TITLE} → {frameworks.get(target).TITLE}: wrote {path}",
                  box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("tensor")
    table.add_column("shape")
    table.add_column("count", justify="right")
    for name, a in arrays.items():
        table.add_row(name, str(a.shape), f"{a.size:,}")
    return Group(table, *(_hanging("note: ", n) for n in notes))


def run_view(report) -> Group:
    """Every tensor's shape, a few values of the final h, backend, time and throughput."""
    spec = report.spec
    title = _run_title(spec, report.dtype)
    table = Table(title="Tensors, in the order data flows", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("role")
    table.add_column("name")
    table.add_column("shape")
    for role, name, shape in report.tensors:
        table.add_row(role, name, str(tuple(shape)))
    facts = Table.grid(padding=(0, 2))
    facts.add_column(no_wrap=True)
    facts.add_column()
    facts.add_row("weights", report.weights_from)
    facts.add_row("inputs", report.inputs_from)
    facts.add_row("initial states", report.initial_state_from)
    if report.lengths is not None:
        facts.add_row("lengths", ", ".join(map(str, report.lengths)) + f" of T = {spec.time}")
    facts.add_row("backend", report.result.backend + (f" ({report.backend_note})" if report.backend_note else ""))
    facts.add_row("time", f"{report.run_ms:,.3f} ms, the forward call alone")
    if report.wall_ms is not None:
        facts.add_row("wall", f"{report.wall_ms:,.0f} ms since the command started: Python and imports, weights and "
                      "inputs, the call" + (", compiling" if report.compile_ms else "") + "; printing excluded")
    facts.add_row("throughput", f"{report.gflops_per_s:,.3g} GFLOP/s ({report.matmul_flops:,} matmul FLOPs)")
    if report.compile_ms:
        facts.add_row("numba", f"{report.compile_ms:,.1f} ms more on the first call: compiling or loading the cached "
                      "kernels (time is the second, warm call)")
    out = report.result.output
    where, sample = report.output_sample()  # the first sample's (last) step
    facts.add_row(where, "[" + ", ".join(f"{v:+.5f}" for v in sample) + (", …]" if out.shape[-1] > 6 else "]"))
    return Group(title, Text(""), table, facts)


def cost_html(c) -> str:
    """The cost as HTML tables: FLOPs by kind, memory, what the FLOP counters report."""
    from html import escape

    spec = c.spec
    step = c.flops.per_step_per_sample
    kinds = ("matmul", "bias", "elementwise", "activations", "total")
    flops = [[k, getattr(step, k), getattr(c.flops, k)] for k in kinds]
    memory = [[k, getattr(c.memory_bytes, k)] for k in ("parameters", "inference", "training")]
    tools = [[n.tool, n.version, getattr(c.compare, n.tool), n.note] for n in c.compare.notes]
    title = (f"{framework_title(spec)} {CELL_TITLES[spec.cell]}, H = {spec.units}, X = {spec.input_size}, "
             f"B = {spec.batch}, T = {spec.time}, {c.dtype}: {c.macs:,} MACs")
    return "".join([
        f"<div class=\"lstmcalc\"><p><b>{escape(title)}</b></p><pre>{escape(c.formula)}</pre>",
        _html_table(["kind", "per step, per sample", "whole run"], flops, "FLOPs"),
        _html_table(["what", "bytes"], memory, f"Memory ({c.dtype})"),
        _html_table(["tool", "version", "reports", "what it counts"], tools, "What FLOP counters report"),
        "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in c.notes) + "</ul></div>",
    ])


def _forward_rows(r) -> list[list[str]]:
    rows = []
    for name, a in r.returned:
        flat = a.reshape(-1)
        sample = ", ".join(f"{v:+.5f}" for v in flat[:4]) + (", …" if flat.size > 4 else "")
        rows.append([name, str(a.shape), str(a.dtype), f"[{sample}]"])
    return rows


def forward_view(r) -> Group:
    """A forward result: each returned array's shape, dtype and first values."""
    spec = r.spec
    table = Table(title=f"{framework_title(spec)} {CELL_TITLES[spec.cell]} forward ({r.backend})",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for head in ("array", "shape", "dtype", "first values"):
        table.add_column(head)
    for row in _forward_rows(r):
        table.add_row(*row)
    return Group(table)


def forward_html(r) -> str:
    spec = r.spec
    return _html_table(["array", "shape", "dtype", "first values"], _forward_rows(r),
                       f"{framework_title(spec)} {CELL_TITLES[spec.cell]} forward ({r.backend})")


# --- why / diff ---------------------------------------------------------------------------------

WHY_FIELDS = (("cell", "cell"), ("units", "units H"), ("input_size", "input X"), ("layers", "layers"),
              ("bidirectional", "bidirectional"), ("proj_size", "proj_size P"), ("bias", "bias"))


def _known(value) -> str:
    if value is None:
        return "unknown"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return CELL_TITLES.get(value, str(value)) if isinstance(value, str) else str(value)


def _why_layer(name: str) -> str:
    """A layer's label in `why`: its module or layer path; "(top level)" for PyTorch keys
    without a prefix (the module load_state_dict was called on)."""
    return name or "(top level)"


def _hanging(lead: str, text: str) -> Table:
    """``lead`` then ``text``, wrapped lines indented under the text's start."""
    grid = Table.grid(padding=0)
    grid.add_column(no_wrap=True)
    grid.add_column()
    grid.add_row(lead, Text(text))
    return grid


def _shell_lines(command: str, width: int = 78) -> list[str]:
    """A command split before its options into lines of at most ``width`` characters, each
    but the last ending in " \\" (so that it still pastes into a shell as one command)."""
    if len(command) <= width:
        return [command]
    words = command.split(" ")
    tokens = []  # "--units 128" stays one token
    for w in words:
        if tokens and not w.startswith("-") and tokens[-1].startswith("-") and " " not in tokens[-1]:
            tokens[-1] += " " + w
        else:
            tokens.append(w)
    lines = [""]
    for t in tokens:
        if lines[-1] and len(lines[-1]) + 1 + len(t) + 2 > width:
            lines.append("    " + t)
        else:
            lines[-1] = f"{lines[-1]} {t}" if lines[-1] else t
    return [line + " \\" for line in lines[:-1]] + lines[-1:]


def why_view(d) -> Group:
    """Both sides of a weight-loading error: what the text proves about each layer, what
    differs in words, and how to build the checkpoint's layer."""
    parts = [Text(f"Read: {d.source}", style="bold")]
    for ck, mo in zip(d.checkpoint, d.model):
        table = Table(title=f"layer {_why_layer(ck.name)}", box=box.SIMPLE_HEAD,
                      title_justify="left", padding=(0, 1), pad_edge=False)
        table.add_column("", no_wrap=True)
        table.add_column(d.labels[0], no_wrap=True)
        table.add_column(d.labels[1], no_wrap=True)
        differs = {x.field for x in d.differences if x.layer == ck.name}
        for key, label in WHY_FIELDS:
            a, b = getattr(ck, key), getattr(mo, key)
            style = "bold red" if key in differs else ""
            table.add_row(label, Text(_known(a), style=style), Text(_known(b), style=style))
        parts += [Text(""), table]
    if d.differences:
        parts.append(Text("What differs:", style="bold"))
        parts += [_hanging("  • ", f"{_why_layer(x.layer)}: {x.words}") for x in d.differences]
    else:
        parts.append(Text("The text proves no difference in the fields above."))
    for note in d.notes:
        parts.append(_hanging("  note: ", note))
    for side, layers in ((d.labels[0], d.checkpoint), (d.labels[1], d.model)):
        for x in layers:
            line = x.breakdown_command()
            where = f"{side}, layer {_why_layer(x.name)}"
            if line:
                parts.append(Text(f"{where}:"))
                for code in (*_shell_lines(line), *x.constructor()):
                    parts.append(Text(f"  {code}"))
            else:
                parts.append(Text(f"{where}: not in the text: {', '.join(x.unknown())}", style="dim"))
    if d.ignored:
        shown = ", ".join(d.ignored[:4]) + (", …" if len(d.ignored) > 4 else "")
        parts.append(Text(f"Not recurrent-layer keys (ignored): {shown}", style="dim"))
    return Group(*parts)


def _side_text(side) -> str:
    s = side.spec
    bits = [f"{framework_title(s)} {CELL_TITLES[s.cell]}", f"H {s.units}", f"X {s.input_size}"]
    if s.layers > 1:
        bits.append(f"{s.layers} layers")
    if s.bidirectional:
        bits.append("bidirectional")
    if s.proj_size:
        bits.append(f"P {s.proj_size}")
    return f"{side.file}" + (f" [{side.name}]" if side.name else "") + ": " + ", ".join(bits)


def _ulps(n: float) -> str:
    return "inf" if n == float("inf") else f"{n:.3g}" if n < 1e6 else f"{n:.2e}"


def diff_view(c, top: int = 8) -> Group:
    """How two layers relate: equivalent, explained by a porting mistake, or the largest
    differences per tensor and gate; the output difference on one random input."""
    parts = [Text(f"A  {_side_text(c.a)}"), Text(f"B  {_side_text(c.b)}"), Text("")]
    within = f"every weight and bias within {c.ulps} ulps of {c.dtype}"
    if c.equivalent:
        parts.append(Text("equivalent: A and B compute the same function", style="bold green"))
        parts.append(Text(f"  ({within})"))
    else:
        parts.append(Text("not equivalent", style="bold red"))
        worst = f"; the largest difference is {_ulps(max(t.max_ulps for t in c.tensors))} ulps" if c.tensors else ""
        parts.append(_hanging("  ", f"(equivalent means {within}{worst})"))
    for f in c.structure:
        parts.append(Text(f"  {f.field}: A {_known(f.a)}, B {_known(f.b)}"))
    for m in c.explained_by:
        line = Text(m.description)
        if m.output_difference is not None:
            line.append(f" (undoing it: max output difference {m.output_difference:.3g})")
        grid = Table.grid(padding=0)
        grid.add_column(no_wrap=True)
        grid.add_column()
        grid.add_row(Text("  explained by: ", style="bold"), line)
        parts.append(grid)
    if not c.equivalent and not c.structure and not c.explained_by:
        parts.append(Text("  no usual porting mistake maps A onto B"))
    if c.max_output_difference is not None:
        shape = "×".join(map(str, c.input_shape))
        parts.append(Text(f"max |output A − output B| on one random float64 input ({shape}, seed {c.seed}): "
                          f"{c.max_output_difference:.3g}"))
    else:
        parts.append(Text("outputs not compared: the layers take or return different shapes"))
    shown = [t for t in c.tensors if not t.equal][:top]
    if shown and not c.explained_by:
        table = Table(title="Largest differences", box=box.SIMPLE_HEAD,
                      title_justify="left", padding=(0, 1), pad_edge=False)
        for col in ("layer", "gate", "part", "max |A − B|", f"ulps of {c.dtype}"):
            table.add_column(col, no_wrap=True, justify="right" if col.startswith(("max", "ulps")) else "left")
        for t in shown:
            table.add_row(f"{t.layer} {DIRECTION_SHORT[t.direction]}", t.gate or "-", t.part,
                          f"{t.max_abs_difference:.3g}", _ulps(t.max_ulps))
        parts += [Text(""), table]
    return Group(*parts)
