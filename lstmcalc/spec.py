"""A recurrent layer described by its sizes and options, validated once (stdlib only).

Every public entry point (``count``, ``breakdown``, later ``run`` and ``cost``)
turns its keywords into a :class:`LayerSpec` through :func:`make_spec`, so the
rules about which option goes with which cell and framework live here alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import LstmcalcError

CELLS = ("lstm", "gru", "rnn")
FRAMEWORKS = ("keras", "torch")
MERGE_MODES = ("concat", "sum", "mul", "ave")
ACTIVATIONS = ("tanh", "relu")

# Library keyword -> command-line option, for messages that must name the option.
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
}


class SpecError(LstmcalcError):
    """An option value, or a combination of options, that describes no real layer.

    ``param`` is the library keyword (``"input_size"``), ``option`` the command-line
    spelling (``"--input"``) and ``problem`` the sentence without the name. Exit code 2.
    """

    code = 2

    def __init__(self, param: str, problem: str):
        self.param = param
        self.option = OPTION_NAMES.get(param, param)
        self.problem = problem
        super().__init__(f"{param}: {problem}")


@dataclass(frozen=True)
class LayerSpec:
    """One recurrent layer (or a stack of them), in one framework's convention."""

    units: int  # H: hidden size, Keras `units`, PyTorch `hidden_size`
    input_size: int  # X: features per time step, the last dim of the input
    cell: str = "lstm"  # lstm | gru | rnn (Keras SimpleRNN, torch.nn.RNN)
    framework: str = "keras"  # keras | torch
    bias: bool = True  # Keras use_bias, PyTorch bias
    bidirectional: bool = False  # Keras Bidirectional(...), PyTorch bidirectional=True
    merge_mode: str = "concat"  # Keras Bidirectional merge_mode (ignored unless bidirectional)
    layers: int = 1  # L: stacked layers (PyTorch num_layers)
    proj_size: int = 0  # P: PyTorch LSTM proj_size; 0 = no projection
    reset_after: bool = True  # Keras GRU reset_after; PyTorch's GRU is always reset-after
    batch: int = 32  # B, for shapes only
    time: int = 1  # T, for shapes only
    return_sequences: bool = False  # Keras: output (B, T, .) instead of (B, .) from the last layer
    return_state: bool = False  # Keras: also return the last layer's final states
    activation: str = "tanh"  # SimpleRNN / torch.nn.RNN nonlinearity

    @property
    def directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def gates(self) -> int:
        """G: weight blocks per cell (LSTM 4, GRU 3, SimpleRNN 1)."""
        return {"lstm": 4, "gru": 3, "rnn": 1}[self.cell]

    @property
    def hidden_out(self) -> int:
        """H_out: the size of h_t (P with a PyTorch projection, else H)."""
        return self.proj_size if self.proj_size else self.units

    def layer_input_size(self, layer: int) -> int:
        """Features that reach layer ``layer`` (0-based) at each time step."""
        if layer == 0:
            return self.input_size
        if self.framework == "keras" and self.bidirectional and self.merge_mode != "concat":
            return self.hidden_out  # sum/mul/ave merges keep H features
        return self.directions * self.hidden_out

    def to_dict(self) -> dict:
        return asdict(self)


def _size(param: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(param, f"must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise SpecError(param, f"must be a whole number >= {minimum}, got {value}")
    return value


def _choice(param: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise SpecError(param, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _flag(param: str, value) -> bool:
    if not isinstance(value, bool):
        raise SpecError(param, f"must be True or False, got {value!r}")
    return value


def make_spec(
    units,
    input_size,
    *,
    cell="lstm",
    framework="keras",
    bias=True,
    bidirectional=False,
    merge_mode=None,
    layers=1,
    proj_size=0,
    reset_after=None,
    batch=32,
    time=1,
    return_sequences=False,
    return_state=False,
    activation=None,
) -> LayerSpec:
    """Validate keywords as the CLI and the API take them and return a :class:`LayerSpec`.

    ``None`` for ``merge_mode``, ``reset_after`` and ``activation`` means "not given":
    the framework default applies, and giving them where they mean nothing is an error.
    """
    units = _size("units", units)
    input_size = _size("input_size", input_size)
    cell = _choice("cell", cell, CELLS)
    framework = _choice("framework", framework, FRAMEWORKS)
    bias = _flag("bias", bias)
    bidirectional = _flag("bidirectional", bidirectional)
    layers = _size("layers", layers)
    batch = _size("batch", batch)
    time = _size("time", time)
    return_sequences = _flag("return_sequences", return_sequences)
    return_state = _flag("return_state", return_state)

    if merge_mode is not None:
        merge_mode = _choice("merge_mode", merge_mode, MERGE_MODES)
        if framework != "keras":
            raise SpecError(
                "merge_mode",
                "is a Keras Bidirectional option; PyTorch always concatenates the two directions",
            )
        if not bidirectional:
            raise SpecError("merge_mode", "needs --bidirectional (it says how the two directions merge)")
    else:
        merge_mode = "concat"

    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise SpecError("proj_size", f"must be a whole number 0 < P < units, got {proj_size!r}")
    if proj_size != 0:
        if framework != "torch" or cell != "lstm":
            raise SpecError(
                "proj_size",
                f"exists only for PyTorch LSTM (--framework torch --cell lstm), not {framework} {cell}",
            )
        if not 0 < proj_size < units:
            raise SpecError(
                "proj_size", f"must be 0 < P < units ({units}), got {proj_size}"
            )

    if reset_after is not None:
        reset_after = _flag("reset_after", reset_after)
        if cell != "gru":
            raise SpecError("reset_after", f"applies to --cell gru only, not {cell}")
        if framework == "torch" and not reset_after:
            raise SpecError(
                "reset_after",
                "PyTorch's GRU is always the reset-after form; --no-reset-after is Keras only",
            )
    else:
        reset_after = True

    if activation is not None:
        activation = _choice("activation", activation, ACTIVATIONS)
        if cell != "rnn" and activation != "tanh":
            raise SpecError(
                "activation", f"relu applies to --cell rnn only; {cell} gates use sigmoid and tanh"
            )
    else:
        activation = "tanh"

    if framework == "torch":
        if return_sequences:
            raise SpecError(
                "return_sequences",
                "is a Keras option; PyTorch always returns the whole output sequence",
            )
        if return_state:
            raise SpecError(
                "return_state", "is a Keras option; PyTorch always returns the final states"
            )

    return LayerSpec(
        units=units,
        input_size=input_size,
        cell=cell,
        framework=framework,
        bias=bias,
        bidirectional=bidirectional,
        merge_mode=merge_mode,
        layers=layers,
        proj_size=proj_size,
        reset_after=reset_after,
        batch=batch,
        time=time,
        return_sequences=return_sequences,
        return_state=return_state,
        activation=activation,
    )


MAX_GRID_CELLS = 10_000


def parse_sizes(param: str, text: str) -> list[int]:
    """Sizes from the command line: ``"2"``, a list ``"1,2,4"`` or an inclusive range
    ``"32:256:32"`` / ``"1:8"`` (start:stop[:step]), in the order given.

    >>> parse_sizes("units", "32:128:32")
    [32, 64, 96, 128]
    """
    allowed = "whole numbers >= 1, as 2, 1,2,4 or start:stop[:step] like 32:256:32"
    text = text.strip()
    if not text:
        raise SpecError(param, f"is empty; allowed: {allowed}")
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(p.strip().isdecimal() and p.strip().isascii() for p in parts):
            raise SpecError(param, f"{text!r} is not a range; allowed: {allowed}")
        start, stop, step = (int(p) for p in parts) if len(parts) == 3 else (int(parts[0]), int(parts[1]), 1)
        if start < 1 or step < 1 or stop < start:
            raise SpecError(param, f"{text!r} needs 1 <= start <= stop and step >= 1; allowed: {allowed}")
        if (stop - start) // step + 1 > MAX_GRID_CELLS:
            raise SpecError(param, f"{text!r} has over {MAX_GRID_CELLS:,} values")
        return list(range(start, stop + 1, step))
    items = text.split(",")
    if not all(p.strip().isdecimal() and p.strip().isascii() for p in items):
        raise SpecError(param, f"{text!r} is not a whole number or a list of them; allowed: {allowed}")
    values = [int(p) for p in items]
    if min(values) < 1:
        raise SpecError(param, f"must be a whole number >= 1, got {min(values)}; allowed: {allowed}")
    if len(values) > MAX_GRID_CELLS:
        raise SpecError(param, f"has over {MAX_GRID_CELLS:,} values")
    return values


def check_grid(units: list[int], inputs: list[int]) -> None:
    if len(units) * len(inputs) > MAX_GRID_CELLS:
        raise SpecError(
            "units",
            f"and --input make a grid of {len(units) * len(inputs):,} cells; at most {MAX_GRID_CELLS:,} are allowed",
        )
