"""The ``lstmcalc`` command: parse options, call the library, render the result.

Errors become one line on stderr here, at the edge: bad options and impossible
combinations exit 2, bad files exit 1; never a traceback, nothing on stdout.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from . import __version__
from .frameworks import FRAMEWORKS
from .spec import SpecError

PROG = "lstmcalc"

# What each option allows, for messages about values Typer itself rejects.
ALLOWED = {
    "units": "a whole number >= 1",
    "input_size": "a whole number >= 1",
    "layers": "a whole number >= 1",
    "batch": "a whole number >= 1",
    "time": "a whole number >= 1",
    "proj_size": "a whole number 0 < P < units (PyTorch LSTM only)",
}


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


# --framework choices: every registered framework (lstmcalc.frameworks.MODULES)
Framework = Enum("Framework", {name: name for name in FRAMEWORKS}, type=str)


class MergeMode(str, Enum):
    concat = "concat"
    sum = "sum"
    mul = "mul"
    ave = "ave"


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return code


def _click_message(err) -> str:
    """One line for a parsing error raised by Typer's bundled Click."""
    kind = type(err).__name__  # Typer's bundled Click classes are private; match by name
    param = getattr(err, "param", None)
    option = param.opts[0] if param is not None and getattr(param, "opts", None) else None
    allowed = ALLOWED.get(param.name) if param is not None else None
    if kind == "MissingParameter" and option:
        return f"missing option {option}" + (f" ({allowed})" if allowed else "")
    if kind == "NoSuchOption":
        hint = f"; did you mean {', '.join(err.possibilities)}?" if err.possibilities else ""
        return f"no such option {err.option_name}{hint} (see '{PROG} --help')"
    if kind == "NoArgsIsHelpError":
        return ""  # handled by the caller: help was asked for by giving nothing
    if isinstance(err, typer.BadParameter) and option:
        detail = err.message.rstrip(".").removeprefix("Value error, ")
        if detail.startswith("Input should be a valid integer"):
            detail = "not a whole number"
        return f"invalid value for {option}: {detail}" + (f"; allowed: {allowed}" if allowed else "")
    return " ".join(err.format_message().split())


class _Group(TyperGroup):
    """Typer's group, with every error turned into one line and an exit code, and each
    subcommand built only when it is asked for (so `count` does not pay for the options of
    every other command at start-up)."""

    def list_commands(self, ctx) -> list[str]:
        return [_command_name(info) for info in commands.registered_commands]

    def get_command(self, ctx, name: str):
        if name not in self.commands:
            info = next((i for i in commands.registered_commands if _command_name(i) == name), None)
            if info is None:
                return None
            self.commands[name] = typer.main.get_command_from_info(
                info, pretty_exceptions_short=app.pretty_exceptions_short, rich_markup_mode=app.rich_markup_mode
            )
        return self.commands[name]

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(
                args=args, prog_name=prog_name or PROG, complete_var=complete_var,
                standalone_mode=False, **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except SpecError as err:
            code = _fail(f"{err.option}: {err.problem}", 2)
        except ValueError as err:  # the library's other errors carry their exit code
            code = _fail(str(err), getattr(err, "code", 1))
        except typer.TyperException as err:  # Click's usage errors (exit_code 2)
            if type(err).__name__ == "NoArgsIsHelpError":
                sys.stdout.write(err.ctx.get_help() + "\n")
                code = 0
            else:
                code = _fail(_click_message(err), getattr(err, "exit_code", 2))
        except typer.Abort:
            code = _fail("aborted", 1)
        except BrokenPipeError:
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    name=PROG,
    cls=_Group,
    help="Explain the parameter counts, tensor shapes and outputs of LSTM, GRU and SimpleRNN "
    "layers, in the Keras and the PyTorch conventions.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


# The subcommands register here; _Group builds each one from its CommandInfo on demand.
commands = typer.Typer()


def _command_name(info) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"{PROG} {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Explain recurrent layers' parameter counts and shapes, gate by gate."""


# Options shared by count, breakdown (and later run, cost).
Units = Annotated[str, typer.Option("--units", "-u", help="H: units (Keras `units`, PyTorch `hidden_size`); a list 1,2,4 or range 32:256:32 makes a grid.", show_default=False)]
Input = Annotated[str, typer.Option("--input", "-x", help="X: input features per time step; a list or range makes a grid.", show_default=False)]
CellOpt = Annotated[Cell, typer.Option("--cell", help="lstm, gru or rnn (Keras SimpleRNN / torch.nn.RNN).")]
FrameworkOpt = Annotated[Framework, typer.Option("--framework", "-f", help="Whose convention: keras or torch.")]
NoBias = Annotated[bool, typer.Option("--no-bias", help="Layers without bias (Keras use_bias=False, PyTorch bias=False).")]
Bidirectional = Annotated[bool, typer.Option("--bidirectional", help="Keras Bidirectional(...) / PyTorch bidirectional=True.")]
Merge = Annotated[Optional[MergeMode], typer.Option("--merge-mode", help="Keras Bidirectional merge_mode [default: concat].", show_default=False)]
Layers = Annotated[int, typer.Option("--layers", "-l", help="L: stacked layers (PyTorch num_layers).")]
Proj = Annotated[int, typer.Option("--proj-size", help="P: PyTorch LSTM proj_size, 0 < P < units (0 = none).")]
ResetAfter = Annotated[Optional[bool], typer.Option("--reset-after/--no-reset-after", help="Keras GRU reset_after [default: on, as in Keras 3].", show_default=False)]
Batch = Annotated[int, typer.Option("--batch", "-b", help="B: batch size, for shapes.")]
Time = Annotated[int, typer.Option("--time", "-t", help="T: time steps, for shapes.")]
ReturnSeq = Annotated[bool, typer.Option("--return-sequences", help="Keras return_sequences on the last layer.")]
ReturnState = Annotated[bool, typer.Option("--return-state", help="Keras return_state on the last layer.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Diagram = Annotated[bool, typer.Option("--diagram", help="Draw the first layer's weight matrices as gate-coloured blocks.")]
Plot = Annotated[Optional[str], typer.Option("--plot", help="Also draw the totals against units to FILE.png or FILE.svg (needs lstmcalc[plot]).", metavar="FILE", show_default=False)]


def _options(cell, framework, no_bias, bidirectional, merge_mode, layers,
             proj_size, reset_after, batch, time, return_sequences, return_state) -> dict:
    """The layer keywords shared by every command (everything but the sizes)."""
    return dict(
        cell=cell.value, framework=framework.value,
        bias=not no_bias, bidirectional=bidirectional,
        merge_mode=merge_mode.value if merge_mode is not None else None, layers=layers,
        proj_size=proj_size, reset_after=reset_after, batch=batch, time=time,
        return_sequences=return_sequences, return_state=return_state,
    )


def _print_json(data: dict) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _console():
    """Rich on a terminal; no escape codes at all when piped or when NO_COLOR is set
    (Rich alone would drop colours for NO_COLOR but keep bold)."""
    import os

    from rich.console import Console

    plain = bool(os.environ.get("NO_COLOR"))
    return Console(highlight=False, color_system=None if plain else "auto")


def _sizes(units: str, input_size: str) -> tuple[list[int], list[int]]:
    from .spec import check_grid, parse_sizes

    hs, xs = parse_sizes("units", units), parse_sizes("input_size", input_size)
    check_grid(hs, xs)
    return hs, xs


def _grid(hs, xs, options, plot, json, value=None, quantity="parameters"):
    """Shared by every command that accepts lists of sizes: table or JSON, and the plot."""
    from .counting import grid

    if plot:
        from .plot import check_path

        check_path(plot)  # before any work: a bad path writes nothing
    result = grid(hs, xs, value=value, quantity=quantity, **options)
    if plot:
        from .plot import plot_grid

        from .conventions import KERAS_CLASSES

        plot_grid(result, plot, f"{KERAS_CLASSES[options['cell']]} {quantity} against units H")
    if json:
        _print_json(result.to_dict())
    else:
        from .render import grid_table

        _console().print(grid_table(result))


@commands.command()
def count(
    units: Units,
    input_size: Input,
    cell: CellOpt = Cell.lstm,
    framework: FrameworkOpt = Framework.keras,
    no_bias: NoBias = False,
    bidirectional: Bidirectional = False,
    merge_mode: Merge = None,
    layers: Layers = 1,
    proj_size: Proj = 0,
    reset_after: ResetAfter = None,
    batch: Batch = 32,
    time: Time = 1,
    return_sequences: ReturnSeq = False,
    return_state: ReturnState = False,
    json: Json = False,
    plot: Plot = None,
) -> None:
    """Print the parameter count alone, as model.summary() / sum(p.numel()) would.

    Lists or ranges of --units/--input print a table (units down, inputs across).

    Examples:

        lstmcalc count --units 2 --input 1                    # 32

        lstmcalc count --units 2 --input 1 --framework torch  # 40

        lstmcalc count --units 1,2 --input 1,2                # 12 16 / 32 40

        lstmcalc count --units 32:256:32 --input 8 --plot params.png
    """
    hs, xs = _sizes(units, input_size)
    options = _options(cell, framework, no_bias, bidirectional, merge_mode, layers, proj_size,
                       reset_after, batch, time, return_sequences, return_state)
    if len(hs) * len(xs) > 1 or plot:
        _grid(hs, xs, options, plot, json)
        return
    from .counting import total_count
    from .frameworks import make_spec

    spec = make_spec(hs[0], xs[0], **options)
    total = total_count(spec)
    if json:
        _print_json({"total": total, "config": spec.to_dict()})
    else:
        sys.stdout.write(f"{total}\n")


@commands.command()
def breakdown(
    units: Units,
    input_size: Input,
    cell: CellOpt = Cell.lstm,
    framework: FrameworkOpt = Framework.keras,
    no_bias: NoBias = False,
    bidirectional: Bidirectional = False,
    merge_mode: Merge = None,
    layers: Layers = 1,
    proj_size: Proj = 0,
    reset_after: ResetAfter = None,
    batch: Batch = 32,
    time: Time = 1,
    return_sequences: ReturnSeq = False,
    return_state: ReturnState = False,
    json: Json = False,
    plot: Plot = None,
    diagram: Diagram = False,
) -> None:
    """Show why the count is what it is, gate by gate.

    A per-gate table, the framework's tensors and gate slices, the formula with your
    numbers, output shapes and plain-language notes.

    Lists or ranges of --units/--input show a table of totals only.

    Examples:

        lstmcalc breakdown --units 2 --input 1

        lstmcalc breakdown --units 2 --input 2 --framework torch --bidirectional

        lstmcalc breakdown --units 8 --input 3 --cell gru --no-reset-after --json

        lstmcalc breakdown --units 2 --input 1 --diagram
    """
    hs, xs = _sizes(units, input_size)
    options = _options(cell, framework, no_bias, bidirectional, merge_mode, layers, proj_size,
                       reset_after, batch, time, return_sequences, return_state)
    if len(hs) * len(xs) > 1 or plot:
        _grid(hs, xs, options, plot, json)
        return
    from .counting import breakdown as _breakdown

    result = _breakdown(hs[0], xs[0], **options)
    if json:
        _print_json(result.to_dict())
    elif diagram:
        from .diagram import diagram_view

        _console().print(diagram_view(result))
    else:
        _console().print(result)


class CostDtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"
    int8 = "int8"


@commands.command()
def cost(
    ctx: typer.Context,
    units: Units,
    input_size: Input,
    cell: CellOpt = Cell.lstm,
    framework: FrameworkOpt = Framework.keras,
    no_bias: NoBias = False,
    bidirectional: Bidirectional = False,
    merge_mode: Merge = None,
    layers: Layers = 1,
    proj_size: Proj = 0,
    reset_after: ResetAfter = None,
    batch: Batch = 32,
    time: Time = 1,
    return_sequences: ReturnSeq = False,
    return_state: ReturnState = False,
    dtype: Annotated[CostDtype, typer.Option("--dtype", help="Element type for the memory figures.")] = CostDtype.float32,
    lengths: Annotated[Optional[str], typer.Option("--lengths", help="Each sequence's real length in a padded batch: 7,3,1 or an .npy (B,); B and T default to their count and the longest [default: all T].", metavar="LIST|FILE", show_default=False)] = None,
    json: Json = False,
    plot: Plot = None,
) -> None:
    """MACs, FLOPs, memory, and what ptflops, thop and torchinfo report.

    FLOPs are split into matmul, bias, element-wise and activations, per step per sample
    and for the whole run; memory for parameters, inference and training.

    Lists or ranges of --units/--input print a table of MACs.

    Examples:

        lstmcalc cost --units 2 --input 1 --batch 32 --time 10

        lstmcalc cost --units 256 --input 128 --framework torch --layers 2 --dtype float16 --json

        lstmcalc cost --units 32:512:32 --input 64 --time 100 --plot macs.svg

        lstmcalc cost --units 64 --input 16 --framework torch --lengths 7,3,1
    """
    from .costing import cost_spec

    hs, xs = _sizes(units, input_size)
    given_lengths = None
    if lengths is not None:
        from .statefiles import parse_lengths

        if len(hs) * len(xs) > 1 or plot:
            raise SpecError("lengths", "takes one --units and one --input, not lists or a plot")

        def defaulted(name: str) -> bool:  # not on the command line: --lengths gives it
            return getattr(ctx.get_parameter_source(name), "name", "") == "DEFAULT"

        given_lengths = [int(n) for n in parse_lengths(lengths, None if defaulted("batch") else batch)]
        if defaulted("batch"):
            batch = len(given_lengths)
        if defaulted("time"):
            time = max(given_lengths)
    options = _options(cell, framework, no_bias, bidirectional, merge_mode, layers, proj_size,
                       reset_after, batch, time, return_sequences, return_state)
    if len(hs) * len(xs) > 1 or plot:
        _grid(hs, xs, options, plot, json, value=lambda spec: cost_spec(spec, dtype.value).macs, quantity="macs")
        return
    from .frameworks import make_spec

    result = cost_spec(make_spec(hs[0], xs[0], **options), dtype.value, given_lengths)
    if json:
        _print_json(result.to_dict())
    else:
        _console().print(result)


@commands.command()
def explain(
    units: Units,
    input_size: Input,
    cell: CellOpt = Cell.lstm,
    framework: FrameworkOpt = Framework.keras,
    no_bias: NoBias = False,
    bidirectional: Bidirectional = False,
    merge_mode: Merge = None,
    layers: Layers = 1,
    proj_size: Proj = 0,
    reset_after: ResetAfter = None,
    batch: Batch = 32,
    time: Time = 1,
    return_sequences: ReturnSeq = False,
    return_state: ReturnState = False,
    json: Json = False,
) -> None:
    """Answer a newcomer's questions with your sizes.

    One cell or many? Why does an input add G·H weights? Why 32, not 24? How do the
    numbers grow? Which papers?

    Examples:

        lstmcalc explain --units 2 --input 1

        lstmcalc explain --units 64 --input 10 --cell gru --framework torch
    """
    from .explain import questions
    from .frameworks import make_spec

    hs, xs = _sizes(units, input_size)
    if len(hs) * len(xs) > 1:
        raise SpecError("units", "explain takes one size for --units and --input, not a list")
    spec = make_spec(hs[0], xs[0], **_options(cell, framework, no_bias, bidirectional, merge_mode, layers,
                                              proj_size, reset_after, batch, time, return_sequences,
                                              return_state))
    qa = questions(spec)
    if json:
        _print_json({"config": spec.to_dict(), "questions": [{"question": q, "answer": a} for q, a in qa]})
    else:
        from .render import questions_view

        _console().print(questions_view(qa))


class RunDtype(str, Enum):
    float32 = "float32"
    float64 = "float64"


class Backend(str, Enum):
    auto = "auto"
    numpy = "numpy"
    numba = "numba"


class Activation(str, Enum):
    tanh = "tanh"
    relu = "relu"


@commands.command()
def run(
    units: Annotated[Optional[str], typer.Option("--units", "-u", help="H: units [default: from --weights].", show_default=False)] = None,
    input_size: Annotated[Optional[str], typer.Option("--input", "-x", help="X: input features [default: from --weights or --inputs].", show_default=False)] = None,
    cell: CellOpt = Cell.lstm,
    framework: FrameworkOpt = Framework.keras,
    no_bias: NoBias = False,
    bidirectional: Bidirectional = False,
    merge_mode: Merge = None,
    layers: Annotated[Optional[int], typer.Option("--layers", "-l", help="L: stacked layers [default: 1, or from --weights].", show_default=False)] = None,
    proj_size: Annotated[Optional[int], typer.Option("--proj-size", help="P: PyTorch LSTM proj_size [default: 0, or from --weights].", show_default=False)] = None,
    reset_after: ResetAfter = None,
    batch: Annotated[Optional[int], typer.Option("--batch", "-b", help="B [default: 32, or from --inputs].", show_default=False)] = None,
    time: Annotated[Optional[int], typer.Option("--time", "-t", help="T [default: 1, or from --inputs].", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the weights and the random batch.")] = 0,
    dtype: Annotated[RunDtype, typer.Option("--dtype", help="float32 or float64.")] = RunDtype.float32,
    backend: Annotated[Backend, typer.Option("--backend", help="numpy, numba (lstmcalc[numba]) or auto.")] = Backend.auto,
    activation: Annotated[Optional[Activation], typer.Option("--activation", help="SimpleRNN / torch.nn.RNN nonlinearity [default: tanh].", show_default=False)] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", help="An .npz of the framework's tensors (see README).", metavar="FILE", show_default=False)] = None,
    inputs: Annotated[Optional[str], typer.Option("--inputs", help="An .npy of shape (B, T, X).", metavar="FILE", show_default=False)] = None,
    save: Annotated[Optional[str], typer.Option("--save", help="Write output, h (and c) to this .npz.", metavar="FILE", show_default=False)] = None,
    initial_state: Annotated[Optional[str], typer.Option("--initial-state", help="An .npz of the states to start from, under the framework's names: torch h0, c0; keras h, c or h_fw, c_fw, h_bw, c_bw [default: zeros].", metavar="FILE", show_default=False)] = None,
    lengths: Annotated[Optional[str], typer.Option("--lengths", help="Each row's real length in a padded batch: 5,3,7 or an .npy (B,); B and T default to their count and the longest [default: all T].", metavar="LIST|FILE", show_default=False)] = None,
    json: Json = False,
) -> None:
    """Run a forward pass on a random batch or on your own weights and inputs.

    Vectorised NumPy, or Numba; shows every tensor's shape, the final h, time and GFLOP/s.

    Outputs equal real Keras and PyTorch layers (1e-12 in float64, 1e-5 in float32).

    Examples:

        lstmcalc run --units 2 --input 1

        lstmcalc run --units 64 --input 16 --framework torch --batch 8 --time 100 --backend numba

        lstmcalc run --weights lstm.npz --inputs x.npy --framework torch --save out.npz

        lstmcalc run --weights dec.npz --inputs y.npy --initial-state enc_states.npz --lengths 5,3,7
    """
    from .running import run_layer
    from .frameworks import make_spec
    from .spec import parse_sizes

    if save is not None:
        from .converting import check_output_path

        try:
            check_output_path(save)  # before any work: a bad path writes nothing
        except SpecError as err:
            raise SpecError("save", err.problem) from None
    for name, value in (("seed", seed), ("batch", batch), ("time", time), ("layers", layers)):
        if value is not None and value < (0 if name == "seed" else 1):
            raise SpecError(name, f"must be a whole number >= {0 if name == 'seed' else 1}, got {value}")

    def single(param, text):
        if text is None:
            return None
        values = parse_sizes(param, text)
        if len(values) > 1:
            raise SpecError(param, "run takes one size, not a list")
        return values[0]

    h, x_size = single("units", units), single("input_size", input_size)
    given_lengths = None
    if lengths is not None:
        from .statefiles import parse_lengths

        given_lengths = parse_lengths(lengths, batch)
        if inputs is None and len(given_lengths):  # B and T from the lengths, unless given
            batch = batch or len(given_lengths)
            time = time or int(given_lengths.max())
    x = None
    if inputs is not None:
        from .weights import load_inputs

        x = load_inputs(inputs, input_size=x_size)
        x_size = x.shape[2]
        for name, given, actual in (("batch", batch, x.shape[0]), ("time", time, x.shape[1])):
            if given is not None and given != actual:
                raise SpecError(name, f"is {given}, but {inputs} has shape {x.shape} (batch, time, features)")
    options = dict(
        cell=cell.value, framework=framework.value,
        merge_mode=merge_mode.value if merge_mode is not None else None,
        reset_after=reset_after, activation=activation.value if activation is not None else None,
        batch=batch or (x.shape[0] if x is not None else 32), time=time or (x.shape[1] if x is not None else 1),
    )
    w = None
    if weights is not None:
        from .weights import infer_spec, load_npz

        w = load_npz(weights)
        given = {k: v for k, v in (("units", h), ("input_size", x_size), ("proj_size", proj_size)) if v is not None}
        if no_bias:
            given["bias"] = False
        spec = infer_spec(w, bidirectional=True if bidirectional else None, layers=layers,
                          **given, **{k: v for k, v in options.items() if v is not None})
    else:
        if h is None or x_size is None:
            missing = "--units" if h is None else "--input"
            raise SpecError("units" if h is None else "input_size",
                            f"is needed without --weights ({missing} gives the size)")
        spec = make_spec(h, x_size, bias=not no_bias, bidirectional=bidirectional, layers=layers or 1,
                         proj_size=proj_size or 0, **options)
    states = None
    if initial_state is not None:
        from .statefiles import load_initial_state

        states = load_initial_state(initial_state, spec, dtype.value)
    report = run_layer(spec, seed=seed, dtype=dtype.value, backend=backend.value, weights=w, x=x,
                       weights_from=weights, inputs_from=inputs, initial_state=states,
                       initial_state_from=initial_state, lengths=given_lengths)
    if save is not None:
        from .weights import save_npz

        save_npz(save, report.result, report.spec)
    if json:
        _print_json(report.to_dict())
    else:
        _console().print(report)


@commands.command()
def convert(
    path: Annotated[str, typer.Argument(help="Weights to convert: .npz, .keras, .weights.h5, .h5, .pt/.pth, .safetensors.", metavar="IN", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write the converted .npz.", show_default=False)],
    cell: Annotated[Optional[Cell], typer.Option("--cell", help="lstm, gru or rnn [default: from the file].", show_default=False)] = None,
    source: Annotated[Optional[Framework], typer.Option("--from", help="The file's convention [default: from the tensor names].", show_default=False)] = None,
    target: Annotated[Optional[Framework], typer.Option("--to", help="The convention to write [default: the other one].", show_default=False)] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Which recurrent layer, when the file holds several.", show_default=False)] = None,
    bidirectional: Annotated[Optional[bool], typer.Option("--bidirectional/--unidirectional", help="Check the direction count [default: from the names].", show_default=False)] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", "-l", help="Check the layer count [default: from the names].", show_default=False)] = None,
    json: Json = False,
) -> None:
    """Move recurrent weights between Keras and PyTorch.

    Transposes, GRU gate order (Keras z, r, h; PyTorch r, z, n), PyTorch's second bias,
    Bidirectional naming.

    Keras keys are kernel, recurrent_kernel, bias (layer{k}/{forward|backward}/... for
    several layers or directions); PyTorch keys are state_dict names.

    Examples:

        lstmcalc convert keras_lstm.npz --to torch -o torch_lstm.npz

        lstmcalc convert model.keras --layer encoder --to torch -o encoder.npz

        lstmcalc convert lstm.pt --cell lstm --from torch --to keras -o keras_lstm.npz
    """
    from .converting import check_output_path, convert_weights, save_arrays
    from .readers import read_layer

    check_output_path(output)  # before reading anything: a bad path writes nothing
    found = read_layer(path, layer)
    spec = found.spec
    if cell is not None and cell.value != spec.cell:
        raise SpecError("cell", f"is {cell.value}, but {path} holds {spec.cell} weights")
    if source is not None and source.value != spec.framework:
        raise SpecError("source", f"is {source.value}, but the tensor names in {path} are {spec.framework}'s")
    to = target.value if target is not None else ("torch" if spec.framework == "keras" else "keras")
    arrays = convert_weights(found.weights, cell=spec.cell, source=spec.framework, target=to,
                             bidirectional=bidirectional, layers=layers,
                             reset_after=spec.reset_after if spec.cell == "gru" else None)
    save_arrays(output, arrays)
    if json:
        _print_json({"input": path, "output": output, "cell": spec.cell, "from": spec.framework, "to": to,
                     "tensors": [{"name": k, "shape": list(a.shape), "count": int(a.size)} for k, a in arrays.items()]})
    else:
        from .render import convert_view

        _console().print(convert_view(spec.framework, to, arrays, output))


@commands.command()
def inspect(
    path: Annotated[str, typer.Argument(help="A .keras, .weights.h5, .h5, .pt/.pth, .safetensors or .npz file.", metavar="FILE", show_default=False)],
    layer: Annotated[Optional[str], typer.Option("--layer", help="Only this recurrent layer (a name, or part of one).", show_default=False)] = None,
    json: Json = False,
) -> None:
    """Explain every recurrent layer in a saved model with its actual weights.

    Mean, std and max |w| per gate, and the biases summarised (a forget gate started at 1
    shows as "all 1").

    PyTorch files are read with torch.load(weights_only=True) only: nothing is unpickled.

    Examples:

        lstmcalc inspect model.keras

        lstmcalc inspect checkpoint.pt --layer encoder.lstm --json
    """
    from .readers import read_layers

    found = read_layers(path, layer)
    if json:
        _print_json({"layers": [f.to_dict() for f in found]})
    else:
        from .render import inspect_view

        _console().print(inspect_view(found))


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point."""
    return app(args=argv, prog_name=PROG)
