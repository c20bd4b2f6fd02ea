"""The ``lstmcalc`` command: parse options, call the library, render the result.

Errors become one line on stderr here, at the edge: bad options and impossible
combinations exit 2, bad files and the environment (memory, a full disk, a closed
stdout) exit 1; never a traceback, nothing on stdout. Only the library's own errors
(:class:`lstmcalc.errors.LstmcalcError`) are caught: anything else is a bug and shows
as one.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from enum import Enum
from inspect import cleandoc
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from ._version import __version__
from .dtypes import COMPUTE_DTYPES, COST_DTYPES
from .errors import LstmcalcError
from .frameworks import FRAMEWORKS
from .spec import CONV_CELLS, SpecError, refuse_shaped_only

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
    convlstm1d = "convlstm1d"  # Keras ConvLSTM1D/2D/3D: count and breakdown only
    convlstm2d = "convlstm2d"
    convlstm3d = "convlstm3d"


class Padding(str, Enum):
    valid = "valid"
    same = "same"


class DataFormat(str, Enum):
    channels_last = "channels_last"
    channels_first = "channels_first"


# --framework choices: every registered framework (lstmcalc.frameworks.MODULES)
Framework = Enum("Framework", {name: name for name in FRAMEWORKS}, type=str)


class Direction(str, Enum):
    forward = "forward"
    reverse = "reverse"
    bidirectional = "bidirectional"


class MergeMode(str, Enum):
    concat = "concat"
    sum = "sum"
    mul = "mul"
    ave = "ave"


def _one_line(message: str) -> str:
    """``message`` with every control character escaped (a newline or a terminal escape in a
    name read from a file must not break the one line or reach the terminal)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


# Library keyword (SpecError.param) -> command-line option: errors name the flag here, at the edge.
OPTION_NAMES = {
    "units": "--units",
    "input_size": "--input",
    "cell": "--cell",
    "framework": "--framework",
    "bias": "--no-bias",
    "bidirectional": "--bidirectional",
    "merge_mode": "--merge-mode",
    "layers": "--layers",
    "proj_size": "--proj-size",
    "reset_after": "--reset-after/--no-reset-after",
    "batch": "--batch",
    "time": "--time",
    "return_sequences": "--return-sequences",
    "return_state": "--return-state",
    "activation": "--activation",
    "dtype": "--dtype",
    "source": "--from",
    "target": "--to",
    "output": "--output/-o",
    "layer": "--layer",
    "seed": "--seed",
    "save": "--save",
    "backend": "--backend",
    "x": "--inputs",
    "weights": "--weights",
    "peepholes": "--peepholes",
    "layout": "--layout",
    "plot": "--plot",
    "initial_state": "--initial-state",
    "lengths": "--lengths",
}


def option_name(param: str) -> str:
    """The flag that sets library keyword ``param``."""
    return OPTION_NAMES.get(param, "--" + param.replace("_", "-"))


def _fail(message: str, code: int) -> int:
    message = _one_line(message)
    if sys.stderr is not None:  # with stderr closed, the exit code is all that is left
        try:
            sys.stderr.write(f"{PROG}: error: {message}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    return code


def _warn(message: str) -> None:
    """One warning line on stderr (the command went through)."""
    if sys.stderr is not None:
        try:
            sys.stderr.write(f"{PROG}: warning: {_one_line(message)}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


class _OutputError(LstmcalcError):
    """Standard output cannot be written (a full disk, a closed descriptor)."""


class _Stdout:
    """sys.stdout while a command runs: a write or flush that fails with an OSError (a full
    disk, ``> /dev/full``) becomes :class:`_OutputError`, one line, not a traceback; a
    closed pipe (``| head``) stays a BrokenPipeError, which ends the command quietly."""

    def __init__(self, stream):
        self._stream = stream

    def _guard(self, call, *args):
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputError(f"cannot write to standard output ({e.strerror or e})") from None

    def write(self, text):
        return self._guard(self._stream.write, text)

    def writelines(self, lines):
        return self._guard(self._stream.writelines, lines)

    def flush(self):
        return self._guard(self._stream.flush)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of what is still buffered
    cannot fail again at exit ("Exception ignored ... BrokenPipeError")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


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


# --- help -------------------------------------------------------------------------------------
# Our own plain-text help (Typer's Rich help reads square brackets as markup, so "[default: 1]"
# vanished, and at 80 columns it left descriptions a 17-character column). Click's formatter
# wraps at the terminal width, at most 78 columns; options are grouped by rich_help_panel.

ACTIONS = ("help", "version", "install_completion", "show_completion")  # options that act, not settle


def _metavar(param, ctx) -> str:
    if param.metavar:
        return param.metavar
    shown = (param.display_type_rich(ctx=ctx) or "").strip("<>")  # Typer's "<int>", "<lstm|gru|rnn>"
    return {"int": "INT", "str": "TEXT"}.get(shown, f"[{shown}]")


def _is_argument(param) -> bool:
    return type(param).__name__.endswith("Argument")


def _help_name(param, ctx) -> str:
    if _is_argument(param):
        return _metavar(param, ctx)
    names = ", ".join(sorted(param.opts, key=len))
    if param.secondary_opts:
        return names + " / " + ", ".join(param.secondary_opts)
    return names if getattr(param, "is_flag", False) else f"{names} {_metavar(param, ctx)}"


def _help_default(param) -> str | None:
    """The "[default: ...]" / "[required]" note of one option; None for actions such as --help."""
    if param.name in ACTIONS:
        return None
    if param.required:
        return "[required]"
    if isinstance(param.show_default, str):
        return f"[default: {param.show_default}]"
    value = param.default
    if getattr(param, "is_flag", False) and not param.secondary_opts:
        return f"[default: {'on' if value else 'off'}]"
    if isinstance(value, bool):
        return f"[default: {param.opts[0] if value else param.secondary_opts[0]}]"
    if isinstance(value, Enum):
        value = value.value
    return f"[default: {value}]"


def _write_rows(formatter, rows: list[tuple[str, str]], col_max: int = 26) -> None:
    """Two columns, the second wrapped; "[default:" stays with its value."""
    import textwrap

    first = min(max(len(name) for name, _ in rows), col_max)
    indent = " " * formatter.current_indent
    text_width = max(formatter.width - formatter.current_indent - first - 2, 20)
    for name, text in rows:
        glued = re.sub(r"\[default: ", "[default:\0", text)  # "[default:" never ends a line
        lines = [line.replace("\0", " ")
                 for line in textwrap.wrap(glued, text_width, break_on_hyphens=False, break_long_words=False)]
        lines = lines or [""]
        if len(name) > first:
            formatter.write(f"{indent}{name}\n")
            lines_at = 0
        else:
            formatter.write(f"{indent}{name:<{first}}  {lines[0]}\n")
            lines_at = 1
        for line in lines[lines_at:]:
            formatter.write(f"{indent}{' ' * (first + 2)}{line}\n")


def _write_help(command, ctx, formatter, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
    arguments = [_metavar(p, ctx) for p in command.get_params(ctx) if _is_argument(p)]
    pieces = ["[OPTIONS]"] + arguments + (["COMMAND [ARGS]..."] if isinstance(command, TyperGroup) else [])
    formatter.write_usage(ctx.command_path, " ".join(pieces))
    text = cleandoc(command.help or "")
    about, _, examples = text.partition("Examples:")
    for paragraph in about.strip().split("\n\n"):
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(" ".join(paragraph.split()))
    for title, rows in sections:
        if rows:
            with formatter.section(title):
                _write_rows(formatter, rows)
    if examples.strip():
        formatter.write_paragraph()
        formatter.write("Examples:\n")
        for line in examples.strip("\n").splitlines():
            if line.strip():  # one example a line, never rewrapped
                formatter.write("  " + line.strip() + "\n")


class _Command(TyperCommand):
    """A subcommand whose --help is plain text, grouped by panel, defaults shown."""

    def format_help(self, ctx, formatter) -> None:
        panels: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            kind = "Arguments" if _is_argument(param) else None
            title = kind or getattr(param, "rich_help_panel", None) or "Help"
            note = _help_default(param)
            words = " ".join(x for x in ((param.help or "").strip(), note) if x)
            panels.setdefault(title, []).append((_help_name(param, ctx), words))
        known = ["Arguments", SIZES, LAYER, CONV, RUN, FILES, OUTPUT]
        order = sorted(panels, key=lambda t: known.index(t) if t in known else len(known))
        _write_help(self, ctx, formatter, [(t, panels[t]) for t in order])


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

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from difflib import get_close_matches

            names = self.list_commands(ctx)
            close = get_close_matches(name, names, n=2, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else f"; commands: {', '.join(names)}"
            ctx.fail(f"no such command {name!r}{hint} (see '{PROG} --help')")
        return super().resolve_command(ctx, args)

    def format_help(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            rows.append((name, cleandoc(command.help or "").split("\n", 1)[0]))
        options = [(_help_name(p, ctx), (p.help or "").strip()) for p in self.get_params(ctx) if not p.hidden]
        _write_help(self, ctx, formatter, [("Commands", rows), ("Options", options)])

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if sys.stdout is None:  # started with fd 1 closed (`>&-`): nowhere to put any output
            code = _fail("standard output is closed; nothing can be printed (redirect it to a file or /dev/null)", 1)
            if standalone_mode:
                sys.exit(code)
            return code
        real_stdout = sys.stdout
        sys.stdout = _Stdout(real_stdout)
        try:
            code = self._run(args, prog_name, complete_var, extra)
        finally:
            sys.stdout = real_stdout
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args, prog_name, complete_var, extra) -> int:
        """The command, its errors as (one line on stderr, exit code), stdout flushed."""
        try:
            try:
                rv = super().main(
                    args=args, prog_name=prog_name or PROG, complete_var=complete_var,
                    standalone_mode=False, **extra,
                )
                code = rv if isinstance(rv, int) else 0
            except typer.TyperException as err:  # Click's usage errors (exit_code 2)
                if type(err).__name__ != "NoArgsIsHelpError":
                    raise
                sys.stdout.write(err.ctx.get_help() + "\n")
                code = 0
            sys.stdout.flush()  # a full disk shows here, not in the interpreter's last flush
            return code
        except SpecError as err:  # an option: exit 2, named by its flag
            return _fail(f"{option_name(err.param)}: {err.problem}", 2)
        except LstmcalcError as err:  # a file or the environment: exit 1
            if isinstance(err, _OutputError):
                _silence_stdout()
            return _fail(str(err), 1)
        except typer.TyperException as err:
            return _fail(_click_message(err), getattr(err, "exit_code", 2))
        except typer.Abort:
            return _fail("aborted", 1)
        except BrokenPipeError:
            _silence_stdout()
            return 1
        except MemoryError:  # the memory guard estimates; this is the allocation it did not foresee
            from .memory import memory_budget

            free, source = memory_budget()
            return _fail(f"out of memory ({free / 1024**3:,.2f} GiB available, limited by {source}); "
                         "use smaller sizes or a smaller file", 1)


app = typer.Typer(
    name=PROG,
    cls=_Group,
    help="Explain the parameter counts, tensor shapes and outputs of LSTM, GRU and SimpleRNN "
    f"layers, in the conventions of {', '.join(FRAMEWORKS)} (--framework).\n\n"
    "Examples:\n"
    "lstmcalc breakdown --units 2 --input 1\n"
    "lstmcalc count --help\n"
    "python -m lstmcalc count --units 2 --input 1  # lstmcalc not on PATH",
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
    """Explain recurrent layers' parameter counts and shapes, gate by gate.

    Examples:
        lstmcalc breakdown --units 2 --input 1
        lstmcalc count --help
    """


# Options shared by count, breakdown, cost and explain, grouped in --help by panel.
SIZES, LAYER, OUTPUT, RUN, FILES, CONV = "Sizes", "Layer", "Output", "Run", "Files", "ConvLSTM"
UnitsOrFilters = Annotated[str, typer.Option("--units", "-u", "--filters", help="H: units (Keras units, PyTorch hidden_size), ConvLSTM filters F; a list 1,2,4 or a range 32:256:32 makes a grid.", show_default=False, rich_help_panel=SIZES)]
InputOrChannels = Annotated[str, typer.Option("--input", "-x", help="X: input features per step, ConvLSTM channels C; a list or a range makes a grid.", show_default=False, rich_help_panel=SIZES)]
KernelSize = Annotated[Optional[str], typer.Option("--kernel-size", help="3, or one per dimension: 3,5.", metavar="INTS", show_default="needed by convlstm*", rich_help_panel=CONV)]
Strides = Annotated[Optional[str], typer.Option("--strides", help="Of the input convolution.", metavar="INTS", show_default="1", rich_help_panel=CONV)]
PaddingOpt = Annotated[Optional[Padding], typer.Option("--padding", help="Of the input convolution.", show_default="valid", rich_help_panel=CONV)]
Dilation = Annotated[Optional[str], typer.Option("--dilation-rate", help="Keras: > 1 needs strides 1.", metavar="INTS", show_default="1", rich_help_panel=CONV)]
DataFormatOpt = Annotated[Optional[DataFormat], typer.Option("--data-format", help="Input (B, T, *S, C) or (B, T, C, *S).", show_default="channels_last", rich_help_panel=CONV)]
Spatial = Annotated[Optional[str], typer.Option("--spatial", help="Input size S for shapes: 32,32.", metavar="INTS", show_default="none", rich_help_panel=CONV)]
Units = Annotated[str, typer.Option("--units", "-u", help="H: units (Keras units, PyTorch hidden_size); a list 1,2,4 or a range 32:256:32 makes a grid.", show_default=False, rich_help_panel=SIZES)]
Input = Annotated[str, typer.Option("--input", "-x", help="X: input features per time step; a list or a range makes a grid.", show_default=False, rich_help_panel=SIZES)]
# The layer options of count, breakdown, cost, explain and run, declared once:
# param: (flags, help, panel, type, default, shown default (None: the default), run's shown
# default: run takes the option as None when not given, since the weights file, the inputs or
# the framework decide; None: run takes it as the describing commands do, or (variant) not at all).
SHARED_OPTIONS = {
    "cell": (("--cell",), "rnn is Keras SimpleRNN / torch.nn.RNN.", LAYER, Cell, Cell.lstm, None,
             "lstm, or from the weights"),
    "framework": (("--framework", "-f"), f"Whose convention: {', '.join(FRAMEWORKS)}.", LAYER, Framework,
                  Framework.keras, None, "keras, or from the weights' names"),
    "no_bias": (("--no-bias",), "No bias (Keras use_bias=False, PyTorch bias=False).", LAYER, bool, False, None, None),
    "bidirectional": (("--bidirectional",), "Keras Bidirectional, PyTorch bidirectional=True.", LAYER, bool, False,
                      None, None),
    "merge_mode": (("--merge-mode",), "Keras Bidirectional merge_mode.", LAYER, Optional[MergeMode], None, "concat",
                   "concat; needed with Keras Bidirectional weights"),
    "layers": (("--layers", "-l"), "L: stacked layers (PyTorch num_layers).", SIZES, int, 1, None,
               "1, or from the weights"),
    "proj_size": (("--proj-size",), "P: PyTorch LSTM proj_size, 0 < P < H; 0 = none.", SIZES, int, 0, None,
                  "0, or from the weights"),
    "reset_after": (("--reset-after/--no-reset-after",), "Keras GRU reset_after.", LAYER, Optional[bool], None,
                    "--reset-after, as Keras 3", "--reset-after; needed with bias-free GRU weights"),
    "peepholes": (("--peepholes/--no-peepholes",), "ONNX LSTM peepholes P [D, 3H]: i, o, f read the cell state.",
                  LAYER, bool, False, "off", "off, or from the weights"),
    "layout": (("--layout",), "ONNX layout: 0 X [T, B, X] and Y [T, D, B, H], 1 X [B, T, X] and Y [B, T, D, H].",
               LAYER, Optional[int], None, "0", "0, or the .onnx node's"),
    "variant": (("--variant",), "LSTM variants, comma-separated: cifg, layer_norm, proj_bias, diagonal, cell_clip=C, "
                "proj_clip=C (where the framework has them).", LAYER, Optional[str], None, "none", None),
    "direction": (("--direction",), "ONNX direction: reverse runs one direction from t = T-1 down to 0; "
                  "bidirectional is --bidirectional.", LAYER, Optional[Direction], None, "forward",
                  "forward, or the .onnx node's"),
    "batch": (("--batch", "-b"), "B: batch size.", SIZES, int, 32, None, "32, or from the inputs"),
    "time": (("--time", "-t"), "T: time steps.", SIZES, int, 1, None, "1, or from the inputs"),
    "return_sequences": (("--return-sequences",), "Keras: output every step of the last layer.", LAYER, bool, False,
                         None, None),
    "return_state": (("--return-state",), "Keras: also return the last layer's final states.", LAYER, bool, False,
                     None, None),
}
RUN_OMITS = ("variant",)  # run reads variants from a weights file only


def _declared(param: str, run: bool = False) -> tuple:
    """(param, its annotation, its default) for a describing command, or with ``run`` for run."""
    flags, text, panel, kind, default, shown, run_shown = SHARED_OPTIONS[param]
    extra = {"metavar": {"framework": "NAME", "variant": "LIST"}[param]} if param in ("framework", "variant") else {}
    if run and run_shown is not None:
        return param, Annotated[Optional[kind], typer.Option(*flags, help=text, show_default=run_shown,
                                                             rich_help_panel=panel, **extra)], None
    if shown is not None:
        extra["show_default"] = shown
    return param, Annotated[kind, typer.Option(*flags, help=text, rich_help_panel=panel, **extra)], default


class GateFunction(str, Enum):
    sigmoid = "sigmoid"
    hard_sigmoid_keras2 = "hard_sigmoid_keras2"
    hard_sigmoid_keras3 = "hard_sigmoid_keras3"


RecurrentActivation = Annotated[Optional[GateFunction], typer.Option("--recurrent-activation", help="Keras LSTM/GRU gate function: hard_sigmoid_keras2 clip(0.2a+0.5, 0, 1) (Keras 2 before 2.3), hard_sigmoid_keras3 relu6(a+3)/6.", show_default="sigmoid", rich_help_panel=LAYER)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.", rich_help_panel=OUTPUT)]
Diagram = Annotated[bool, typer.Option("--diagram", help="Draw layer 1's weight matrices as gate-coloured blocks.", rich_help_panel=OUTPUT)]
Plot = Annotated[Optional[str], typer.Option("--plot", help="Also draw the totals against H to FILE.png or .svg (needs lstmcalc[plot]).", metavar="FILE", show_default="none", rich_help_panel=OUTPUT)]


def _options(*, cell, framework, no_bias, bidirectional, merge_mode, layers,
             proj_size, reset_after, batch, time, return_sequences, return_state,
             peepholes=False, layout=None, variant=None, direction=None) -> dict:
    """The layer keywords shared by every command (everything but the sizes)."""
    from .spec import parse_variants

    return dict(**parse_variants(variant),
        cell=cell.value, framework=framework.value,
        bias=not no_bias, bidirectional=bidirectional,
        merge_mode=merge_mode.value if merge_mode is not None else None, layers=layers,
        proj_size=proj_size, reset_after=reset_after, batch=batch, time=time,
        return_sequences=return_sequences, return_state=return_state,
        peepholes=peepholes, layout=layout,
        direction=direction.value if direction is not None else None,
    )


def _conv_options(kernel_size, strides, padding, dilation_rate, data_format, spatial) -> dict:
    """The ConvLSTM keywords of count and breakdown (None: not given)."""
    return dict(
        kernel_size=kernel_size, strides=strides, padding=padding.value if padding is not None else None,
        dilation_rate=dilation_rate, data_format=data_format.value if data_format is not None else None,
        spatial=spatial,
    )


# (parameter, its option, default) of each shared option, as the describing commands (count,
# breakdown, cost, explain) and as run take them. A command decorated with @layer_options
# receives them as one ``layer`` dict.
LAYER_OPTIONS = tuple(_declared(name) for name in SHARED_OPTIONS)
RUN_OPTIONS = tuple(_declared(name, run=True) for name in SHARED_OPTIONS if name not in RUN_OMITS)
CONV_OPTIONS = (
    ("kernel_size", KernelSize, None), ("strides", Strides, None), ("padding", PaddingOpt, None),
    ("dilation_rate", Dilation, None), ("data_format", DataFormatOpt, None), ("spatial", Spatial, None),
)


def layer_options(conv: bool = False, run: bool = False):
    """Give a command the shared layer options (and with ``conv`` the ConvLSTM ones) after its
    sizes; it receives them as ``layer``, the keywords :func:`lstmcalc.frameworks.make_spec`
    takes (as sqlite-utils declares its output options once). With ``run``: run's forms of
    them, received as given (choices as their values, None where not given)."""
    import functools
    import inspect

    declared = RUN_OPTIONS if run else LAYER_OPTIONS + (CONV_OPTIONS if conv else ())

    def wrap(fn):
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "layer"]
        head = [p for p in own if p.name in ("ctx", "units", "input_size")]
        rest = [p for p in own if p.name not in ("ctx", "units", "input_size")]
        shared = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                  for n, a, d in declared]
        rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in rest]
        params = head + shared + rest

        @functools.wraps(fn)
        def command(**kwargs):
            given = {n: kwargs.pop(n) for n, _, _ in declared}
            if run:
                return fn(layer={n: v.value if isinstance(v, Enum) else v for n, v in given.items()}, **kwargs)
            layer = _options(**{n: given[n] for n, _, _ in LAYER_OPTIONS})
            if conv:
                layer.update(_conv_options(**{n: given[n] for n, _, _ in CONV_OPTIONS}))
            return fn(layer=layer, **kwargs)

        command.__signature__ = sig.replace(parameters=params)
        command.__annotations__ = {p.name: p.annotation for p in params}
        return command

    return wrap


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

        from .frameworks import KERAS_CLASSES

        against = "filters F" if options.get("kernel_size") is not None else "units H"
        plot_grid(result, plot, f"{KERAS_CLASSES[options['cell']]} {quantity} against {against}")
    if json:
        _print_json(result.to_dict())
    else:
        from .render import grid_table

        _console().print(grid_table(result))


@commands.command(cls=_Command)
@layer_options(conv=True)
def count(
    units: UnitsOrFilters,
    input_size: InputOrChannels,
    layer: dict,
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

        lstmcalc count --cell convlstm2d --filters 64 --input 3 --kernel-size 3
    """
    hs, xs = _sizes(units, input_size)
    options = layer
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


@commands.command(cls=_Command)
@layer_options(conv=True)
def breakdown(
    units: UnitsOrFilters,
    input_size: InputOrChannels,
    layer: dict,
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

        lstmcalc breakdown --cell convlstm2d -u 8 -x 3 --kernel-size 3 --spatial 9,9
    """
    hs, xs = _sizes(units, input_size)
    options = layer
    if len(hs) * len(xs) > 1 or plot:
        _grid(hs, xs, options, plot, json)
        return
    from .counting import breakdown as _breakdown

    if diagram and layer["cell"] in CONV_CELLS:
        raise SpecError("diagram", f"draws 2-D weight matrices; a {layer['cell']} kernel is kernel_size + (C, 4F), "
                                   "shown in the tensor table without --diagram")
    result = _breakdown(hs[0], xs[0], **options)
    if json:
        _print_json(result.to_dict())
    elif diagram:
        from .diagram import diagram_view

        _console().print(diagram_view(result))
    else:
        _console().print(result)


CostDtype = Enum("CostDtype", {name: name for name in COST_DTYPES}, type=str)  # lstmcalc.dtypes


@commands.command(cls=_Command)
@layer_options()
def cost(
    ctx: typer.Context,
    units: Units,
    input_size: Input,
    layer: dict,
    dtype: Annotated[CostDtype, typer.Option("--dtype", help="Element type for the memory figures.", rich_help_panel=OUTPUT)] = CostDtype.float32,
    lengths: Annotated[Optional[str], typer.Option("--lengths", help="Each sequence's real length in a padded batch: 7,3,1 or an .npy (B,); B and T default to their count and the longest.", metavar="LIST|FILE", show_default="all T", rich_help_panel=SIZES)] = None,
    json: Json = False,
    plot: Plot = None,
) -> None:
    """MACs, FLOPs, memory, and what ptflops, thop and torchinfo report.

    FLOPs are split into matmul, bias, element-wise and activations, per step per sample
    and for the whole run; memory for parameters, inference and training.

    Lists or ranges of --units/--input print a table of MACs.

    Examples:

        lstmcalc cost --units 2 --input 1 --batch 32 --time 10

        lstmcalc cost -u 256 -x 128 -f torch --layers 2 --dtype float16 --json

        lstmcalc cost --units 32:512:32 --input 64 --time 100 --plot macs.svg

        lstmcalc cost --units 64 --input 16 --framework torch --lengths 7,3,1
    """
    from .costing import cost_spec

    refuse_shaped_only(layer["cell"], "cost")
    hs, xs = _sizes(units, input_size)
    given_lengths = None
    if lengths is not None:
        from .readers.states import parse_lengths

        if len(hs) * len(xs) > 1 or plot:
            raise SpecError("lengths", "takes one --units and one --input, not lists or a plot")

        def defaulted(name: str) -> bool:  # not on the command line: --lengths gives it
            return getattr(ctx.get_parameter_source(name), "name", "") == "DEFAULT"

        given_lengths = [int(n) for n in parse_lengths(lengths, None if defaulted("batch") else layer["batch"])]
        if defaulted("batch"):
            layer["batch"] = len(given_lengths)
        if defaulted("time"):
            layer["time"] = max(given_lengths)
    options = layer
    if len(hs) * len(xs) > 1 or plot:
        _grid(hs, xs, options, plot, json, value=lambda spec: cost_spec(spec, dtype.value).macs, quantity="macs")
        return
    from .frameworks import make_spec

    result = cost_spec(make_spec(hs[0], xs[0], **options), dtype.value, given_lengths)
    if json:
        _print_json(result.to_dict())
    else:
        _console().print(result)


@commands.command(cls=_Command)
@layer_options()
def explain(
    units: Units,
    input_size: Input,
    layer: dict,
    recurrent_activation: RecurrentActivation = None,
    json: Json = False,
) -> None:
    """Answer a newcomer's questions with your sizes.

    One cell or many? Why does an input add G·H weights? Why 32, not 24? How do the
    numbers grow? Which papers?

    Examples:

        lstmcalc explain --units 2 --input 1

        lstmcalc explain --units 64 --input 10 --cell gru --framework torch
    """
    from .explain import answers
    from .frameworks import make_spec

    refuse_shaped_only(layer["cell"], "explain")
    hs, xs = _sizes(units, input_size)
    if len(hs) * len(xs) > 1:
        raise SpecError("units", "explain takes one size for --units and --input, not a list")
    spec = make_spec(hs[0], xs[0], **layer,
                     recurrent_activation=recurrent_activation.value if recurrent_activation is not None else None)
    qa = answers(spec)
    if json:
        _print_json({"config": spec.to_dict(), "questions": [a.to_dict() for a in qa]})
    else:
        from .render import questions_view

        _console().print(questions_view(qa))


RunDtype = Enum("RunDtype", {name: name for name in COMPUTE_DTYPES}, type=str)  # lstmcalc.dtypes


class Backend(str, Enum):
    auto = "auto"
    numpy = "numpy"
    numba = "numba"


class Activation(str, Enum):
    tanh = "tanh"
    relu = "relu"


@commands.command(cls=_Command)
@layer_options(run=True)
def run(
    layer: dict,
    units: Annotated[Optional[str], typer.Option("--units", "-u", help="H: units.", show_default="from the weights", rich_help_panel=SIZES)] = None,
    input_size: Annotated[Optional[str], typer.Option("--input", "-x", help="X: input features.", show_default="from the weights or the inputs", rich_help_panel=SIZES)] = None,
    activation: Annotated[Optional[Activation], typer.Option("--activation", help="SimpleRNN / torch.nn.RNN nonlinearity.", show_default="tanh; needed with weights", rich_help_panel=LAYER)] = None,
    recurrent_activation: RecurrentActivation = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the weights and the random batch.", rich_help_panel=RUN)] = 0,
    dtype: Annotated[RunDtype, typer.Option("--dtype", help="Precision of the pass.", rich_help_panel=RUN)] = RunDtype.float32,
    backend: Annotated[Backend, typer.Option("--backend", help="numba needs lstmcalc[numba] (its first call compiles); auto never waits for a compile NumPy would beat: Numba only when its kernels are already compiled in this process or NumPy's pass would take longer than compiling them, else NumPy.", rich_help_panel=RUN)] = Backend.numpy,
    weights: Annotated[Optional[str], typer.Option("--weights", help="Any file inspect reads: .npz, .pt, .safetensors, .keras, .h5, .onnx, .msgpack.", metavar="FILE", show_default="initialised", rich_help_panel=FILES)] = None,
    which: Annotated[Optional[str], typer.Option("--layer", help="Which recurrent layer of the --weights file.", show_default="the only one", rich_help_panel=FILES)] = None,
    inputs: Annotated[Optional[str], typer.Option("--inputs", help="An .npy of shape (B, T, X).", metavar="FILE", show_default="N(0, 1)", rich_help_panel=FILES)] = None,
    save: Annotated[Optional[str], typer.Option("--save", help="Write what the layer returns to this .npz.", metavar="FILE", show_default="none", rich_help_panel=FILES)] = None,
    initial_state: Annotated[Optional[str], typer.Option("--initial-state", help="An .npz of the states to start from, under the framework's names (torch h0, c0; onnx initial_h, initial_c; keras h, c or h_fw, c_fw, h_bw, c_bw) or as run --save wrote them (torch h_n, c_n; onnx Y_h, Y_c).", metavar="FILE", show_default="zeros", rich_help_panel=FILES)] = None,
    lengths: Annotated[Optional[str], typer.Option("--lengths", help="Each row's real length in a padded batch: 5,3,7 or an .npy (B,); B and T default to their count and the longest.", metavar="LIST|FILE", show_default="all T", rich_help_panel=SIZES)] = None,
    json: Json = False,
) -> None:
    """Run a forward pass on a random batch or on your own weights and inputs.

    Vectorised NumPy, or Numba; shows every tensor's shape, the final h, time and GFLOP/s.

    Outputs equal real Keras and PyTorch layers (1e-12 in float64, 1e-5 in float32).

    Examples:

        lstmcalc run --units 2 --input 1

        lstmcalc run -u 64 -x 16 -f torch -b 8 -t 100 --backend numba

        lstmcalc run -u 2 -x 1 --bidirectional --return-sequences --return-state

        lstmcalc run --weights lstm.npz --inputs x.npy -f torch --save out.npz

        lstmcalc run --weights dec.npz --initial-state enc.npz --lengths 5,3,7
    """
    from .running import RunRequest, process_elapsed_ms, run_request

    no_bias, bidirectional = layer.pop("no_bias"), layer.pop("bidirectional")
    request = RunRequest(
        units=_single("units", units), input_size=_single("input_size", input_size), **layer,
        bias=False if no_bias else None, bidirectional=True if bidirectional else None,
        activation=activation.value if activation is not None else None,
        recurrent_activation=recurrent_activation.value if recurrent_activation is not None else None,
        seed=seed, dtype=dtype.value, backend=backend.value, weights=weights, layer=which, inputs=inputs,
        initial_state=initial_state, lengths=lengths, save=save,
    )
    report = replace(run_request(request), wall_ms=process_elapsed_ms())
    if json:
        _print_json(report.to_dict())
    else:
        _console().print(report)


def _single(param: str, text: str | None) -> int | None:
    """One size (run takes no lists)."""
    from .spec import parse_sizes

    if text is None:
        return None
    values = parse_sizes(param, text)
    if len(values) > 1:
        raise SpecError(param, "run takes one size, not a list")
    return values[0]


@commands.command(cls=_Command)
def convert(
    path: Annotated[str, typer.Argument(help="Weights: .npz, .keras, .weights.h5, .h5, .pt/.pth, .safetensors.", metavar="IN", show_default=False)],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write: an .npz of tensors, (ONNX) a runnable .onnx model, or (Flax) a .msgpack tree.", show_default=False, rich_help_panel=OUTPUT)],
    cell: Annotated[Optional[Cell], typer.Option("--cell", help="Check the cell.", show_default="from the file", rich_help_panel=LAYER)] = None,
    source: Annotated[Optional[Framework], typer.Option("--from", help="The file's convention (a --framework name).", metavar="NAME", show_default="from the tensor names", rich_help_panel=LAYER)] = None,
    target: Annotated[Optional[Framework], typer.Option("--to", help="The convention to write (a --framework name).", metavar="NAME", show_default="the other one", rich_help_panel=LAYER)] = None,
    layer: Annotated[Optional[str], typer.Option("--layer", help="Which recurrent layer, when the file holds several.", show_default="the only one", rich_help_panel=LAYER)] = None,
    bidirectional: Annotated[Optional[bool], typer.Option("--bidirectional/--unidirectional", help="Check the direction count.", show_default="from the names", rich_help_panel=LAYER)] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", "-l", help="Check the layer count.", show_default="from the names", rich_help_panel=LAYER)] = None,
    reset_after: Annotated[Optional[bool], typer.Option("--reset-after/--no-reset-after", help="Keras GRU reset_after; needed only where the file does not show it (no bias, no config).", show_default="from the file", rich_help_panel=LAYER)] = None,
    drop_cell_clip: Annotated[bool, typer.Option("--drop-cell-clip", help="Convert a layer whose file clips the cell state (a TFLite LSTM's cell_clip) into a convention without one, leaving the clip out (a warning on stderr names it); refused otherwise.", rich_help_panel=LAYER)] = False,
    json: Json = False,
) -> None:
    """Move recurrent weights from one convention to another (any two --framework names).

    Transposes, gate orders (Keras z, r, h; PyTorch r, z, n; ONNX i, o, f, c), second
    biases, Bidirectional naming; what the target cannot hold is refused with the reason.

    The source convention comes from the tensor names (--from where they fit two); the
    target defaults to torch for a Keras file and to keras for any other.

    Examples:

        lstmcalc convert keras_lstm.npz --to torch -o torch_lstm.npz

        lstmcalc convert model.keras --layer encoder --to torch -o encoder.npz

        lstmcalc convert lstm.pt --from torch --to keras -o keras_lstm.npz
    """
    from .converting import convert_file

    report = convert_file(path, output, cell=cell.value if cell is not None else None,
                          source=source.value if source is not None else None,
                          target=target.value if target is not None else None, layer=layer,
                          bidirectional=bidirectional, layers=layers, reset_after=reset_after,
                          drop_cell_clip=drop_cell_clip)
    if json:
        _print_json(report.to_dict())
    else:
        from .render import convert_view

        _console().print(convert_view(report.spec.framework, report.target, report.arrays, output, list(report.notes)))
    for w in report.warnings:
        _warn(w["text"])


@commands.command(cls=_Command)
def inspect(
    path: Annotated[str, typer.Argument(help="A .keras, .weights.h5, .h5, .pt/.pth, .safetensors, .npz or .onnx file.", metavar="FILE", show_default=False)],
    layer: Annotated[Optional[str], typer.Option("--layer", help="Only this recurrent layer (a name, or part of one).", show_default="every layer", rich_help_panel=LAYER)] = None,
    framework: Annotated[Optional[Framework], typer.Option("--framework", "-f", help="The file's convention, where its names fit two.", metavar="NAME", show_default="from the tensor names", rich_help_panel=LAYER)] = None,
    json: Json = False,
) -> None:
    """Explain every recurrent layer in a saved model with its actual weights.

    Mean, std and max |w| per gate, and the biases summarised (a forget gate started at 1
    shows as "all 1").

    PyTorch files are read with torch.load(weights_only=True) only: nothing is unpickled.
    An ONNX node also shows its attributes, and one line for each that lstmcalc cannot
    compute (clip, other activations, input_forget).

    Examples:

        lstmcalc inspect model.keras

        lstmcalc inspect checkpoint.pt --layer encoder.lstm --json
    """
    from .readers import read_layers

    found = read_layers(path, layer, framework=framework.value if framework is not None else None)
    if json:
        _print_json({"layers": [f.to_dict() for f in found]})
    else:
        from .render import inspect_view

        _console().print(inspect_view(found))


# --- why: read a weight-loading error -----------------------------------------------------------


@commands.command(cls=_Command)
def why(
    text: Annotated[str, typer.Argument(help="The error message, quoted; - reads it from stdin.", metavar="TEXT", show_default=False)],
    json: Json = False,
) -> None:
    """Read a checkpoint-loading error and say how the two layers differ.

    PyTorch load_state_dict (size mismatch, missing and unexpected keys),
    Keras 3 load_weights and set_weights, Keras 2 load_weights, and
    onnxruntime's input shape errors of LSTM/GRU/RNN nodes (the node's
    attributes against its tensors). A field the text does not prove is
    shown as unknown, never guessed.

    Examples:

        lstmcalc why "$(python load.py 2>&1 | tail -n 5)"

        lstmcalc why - < load_error.txt
    """
    from .diagnose import diagnose

    if text == "-":
        text = sys.stdin.read(1_000_001)
    result = diagnose(text)
    if json:
        _print_json(result.to_dict())
    else:
        _console().print(result)


# --- diff: two weight sets as functions ---------------------------------------------------------


@commands.command(cls=_Command)
def diff(
    path_a: Annotated[str, typer.Argument(help="Layer A: any file inspect reads.", metavar="A", show_default=False)],
    path_b: Annotated[str, typer.Argument(help="Layer B: any file inspect reads.", metavar="B", show_default=False)],
    layer: Annotated[Optional[str], typer.Option("--layer", help="Which recurrent layer in each file, when one holds several.", show_default="the only one", rich_help_panel=LAYER)] = None,
    layer_b: Annotated[Optional[str], typer.Option("--layer-b", help="A different layer name for B.", show_default="the --layer name", rich_help_panel=LAYER)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the random float64 input both layers run on.", rich_help_panel=RUN)] = 0,
    json: Json = False,
) -> None:
    """Compare two layers' weights as functions and name the porting mistake.

    Equivalent when both compute the same outputs (a PyTorch LSTM bias moved
    between bias_ih and bias_hh is; the GRU candidate's is not). Otherwise:
    gate order, transposes, biases, directions, layer order, forget-bias
    offset or GRU reset form, if one of them maps A onto B; confirmed by
    running both on one random float64 input.

    Examples:

        lstmcalc diff keras_lstm.npz torch_lstm.pt

        lstmcalc diff model.keras ported.safetensors --layer encoder --json
    """
    from .comparing import diff_files

    if seed < 0:
        raise SpecError("seed", f"must be a whole number >= 0, got {seed}")
    result = diff_files(path_a, path_b, layer, layer_b, seed=seed)
    if json:
        _print_json(result.to_dict())
    else:
        _console().print(result)


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point."""
    return app(args=argv, prog_name=PROG)
