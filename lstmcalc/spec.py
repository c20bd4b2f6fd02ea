"""A recurrent layer described by its sizes and options, validated once (stdlib only).

Every public entry point turns its keywords into a :class:`LayerSpec` through
:func:`lstmcalc.frameworks.make_spec`, which checks them against the framework's own
options (its module in :mod:`lstmcalc.frameworks` says which it has).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import LstmcalcError


CELLS = ("lstm", "gru", "rnn")
CONV_CELLS = ("convlstm1d", "convlstm2d", "convlstm3d")  # Keras 3 ConvLSTM1D/2D/3D: counted and shaped only
MERGE_MODES = ("concat", "sum", "mul", "ave")
ACTIVATIONS = ("tanh", "relu")
# LSTM variants a few conventions have, with their "none" values (LayerSpec fields and
# make_spec keywords of the same names; ``VARIANT_WORDS`` says what each is).
VARIANTS = {"cifg": False, "layer_norm": False, "proj_bias": False, "diagonal": False,
            "cell_clip": 0.0, "proj_clip": 0.0}
VARIANT_WORDS = {
    "cifg": "a coupled input and forget gate (no input gate, i = 1 − f)",
    "layer_norm": "layer normalisation of each gate's pre-activation",
    "proj_bias": "a bias after the projection",
    "diagonal": "diagonal recurrent weights (one vector per gate)",
    "cell_clip": "a clip of the cell state",
    "proj_clip": "a clip of the projection's output",
}
# An LSTM / GRU's gate function (Keras recurrent_activation), as each framework defines it:
# sigmoid 1 / (1 + e^-a); Keras 2's hard_sigmoid clip(0.2·a + 0.5, 0, 1) (keras 2.2.4
# backend/tensorflow_backend.py, tf.keras backend.py); Keras 3's hard_sigmoid relu6(a + 3) / 6
# (keras/src/ops/nn.py), which is clip(a / 6 + 0.5, 0, 1): the same name, another function.
RECURRENT_ACTIVATIONS = ("sigmoid", "hard_sigmoid_keras2", "hard_sigmoid_keras3")
RECURRENT_ACTIVATION_FORMULAS = {
    "sigmoid": "1 / (1 + exp(-a))",
    "hard_sigmoid_keras2": "clip(0.2·a + 0.5, 0, 1)",
    "hard_sigmoid_keras3": "relu6(a + 3) / 6",
}



class SpecError(LstmcalcError):
    """An option value, or a combination of options, that describes no real layer.

    ``param`` is the library keyword's Python name (``"input_size"``) and ``problem`` the
    sentence without the name; the CLI names the flag (``--input``) and exits 2.
    """

    def __init__(self, param: str, problem: str):
        self.param = param
        self.problem = problem
        super().__init__(f"{param}: {problem}")


@dataclass(frozen=True)
class ConvSpec:
    """The convolution of a ConvLSTM layer, one value per spatial dimension."""

    rank: int  # n: spatial dimensions (ConvLSTM1D 1, 2D 2, 3D 3)
    kernel_size: tuple[int, ...]  # (k_1, ..., k_n)
    strides: tuple[int, ...]  # input convolution only; the recurrent one strides 1
    padding: str  # "valid" | "same" (input convolution; the recurrent one is always "same")
    dilation_rate: tuple[int, ...]
    data_format: str  # "channels_last": (B, T, *S, C); "channels_first": (B, T, C, *S)
    spatial: tuple[int, ...] | None  # the input's spatial size (S_1, ..., S_n); None: not given

    @property
    def kernel_volume(self) -> int:
        """k: positions in one window, k_1 · … · k_n."""
        k = 1
        for d in self.kernel_size:
            k *= d
        return k

    def output_spatial(self) -> tuple[int, ...] | None:
        """The output's (and h's, c's) spatial size, or None without ``spatial``."""
        if self.spatial is None:
            return None
        return tuple(conv_out_size(s, k, st, d, self.padding)
                     for s, k, st, d in zip(self.spatial, self.kernel_size, self.strides, self.dilation_rate))

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
            "data_format": self.data_format,
            "spatial": list(self.spatial) if self.spatial is not None else None,
            "output_spatial": list(self.output_spatial()) if self.spatial is not None else None,
        }


def conv_out_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """One spatial axis of a convolution's output (Keras' conv_output_length)."""
    if padding == "same":
        return (size - 1) // stride + 1
    return (size - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class LayerSpec:
    """One recurrent layer (or a stack of them), in one framework's convention."""

    units: int  # H: hidden size, Keras `units`, PyTorch `hidden_size`
    input_size: int  # X: features per time step, the last dim of the input
    cell: str = "lstm"  # lstm | gru | rnn (Keras SimpleRNN, torch.nn.RNN)
    framework: str = "keras"  # a registered convention: lstmcalc.frameworks.MODULES
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
    recurrent_activation: str = "sigmoid"  # LSTM / GRU gate function (RECURRENT_ACTIVATIONS; Keras only)
    peepholes: bool = False  # ONNX LSTM P: peephole weights from the cell state into i, f, o
    layout: int = 0  # ONNX layout: 0 time-major X (T, B, X), 1 batch-major (B, T, X)
    reverse: bool = False  # ONNX direction="reverse": one direction (D = 1), run from t = T−1 down to 0
    conv: ConvSpec | None = None  # ConvLSTM's convolution (units = filters F, input_size = channels C)
    # LSTM variants only some conventions have (VARIANTS; each framework module's OPTIONS says which):
    cifg: bool = False  # coupled input and forget gate: no input gate, i = 1 − f
    layer_norm: bool = False  # each gate's pre-activation normalised over H, times a coefficient (H,), + bias
    proj_bias: bool = False  # a bias (P,) after the projection (needs proj_size)
    diagonal: bool = False  # the recurrent weights are diagonal: one vector (H,) per gate
    cell_clip: float = 0.0  # c_t clipped to [−cell_clip, cell_clip]; 0: none
    proj_clip: float = 0.0  # the projection's output clipped to [−proj_clip, proj_clip]; 0: none

    @property
    def directions(self) -> int:
        """D: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def direction(self) -> str:
        """The ONNX ``direction`` attribute's word for it: forward, reverse or bidirectional."""
        return "bidirectional" if self.bidirectional else "reverse" if self.reverse else "forward"

    @property
    def gates(self) -> int:
        """G: weight blocks per cell (LSTM 4, GRU 3, SimpleRNN 1)."""
        return {"lstm": 4, "gru": 3, "rnn": 1, **{cell: 4 for cell in CONV_CELLS}}[self.cell]  # ConvLSTM: i, f, c, o

    @property
    def kernel_volume(self) -> int:
        """k: window positions each weight block has (ConvLSTM k_1 · … · k_n; 1 for the others)."""
        return self.conv.kernel_volume if self.conv is not None else 1

    @property
    def hidden_out(self) -> int:
        """H_out: the size of h_t (P with a PyTorch projection, else H)."""
        return self.proj_size if self.proj_size else self.units

    def layer_input_size(self, layer: int) -> int:
        """Features that reach layer ``layer`` (0-based) at each time step."""
        if layer == 0:
            return self.input_size
        if self.bidirectional and self.merge_mode != "concat":
            return self.hidden_out  # sum/mul/ave merges keep H features
        return self.directions * self.hidden_out

    def to_dict(self) -> dict:
        d = asdict(self)
        for name, default in VARIANTS.items():
            if d[name] == default:
                del d[name]  # the configs of layers without these variants stay as they were
        if self.conv is None:
            del d["conv"]  # the recurrent cells' configs stay as they were
        else:
            d["conv"] = self.conv.to_dict()
        if not self.reverse:
            del d["reverse"]  # likewise: present (true) only for an ONNX direction="reverse" layer
        return d


def parse_variants(text: str | None) -> dict:
    """``--variant`` text as make_spec keywords: ``"cifg,layer_norm,cell_clip=10"`` ->
    {"cifg": True, "layer_norm": True, "cell_clip": 10.0}; None or "" -> {}."""
    allowed = ", ".join(f"{k}=C" if isinstance(v, float) else k for k, v in VARIANTS.items())
    out: dict = {}
    for part in (text or "").split(","):
        name, eq, value = part.strip().partition("=")
        if not name:
            continue
        if name not in VARIANTS:
            raise SpecError("variant", f"{name!r} is not an LSTM variant; allowed: {allowed}")
        if isinstance(VARIANTS[name], float):
            try:
                out[name] = float(value)
            except ValueError:
                raise SpecError("variant", f"{name} needs a number, as {name}=10; got {part.strip()!r}") from None
        elif eq:
            raise SpecError("variant", f"{name} takes no value; got {part.strip()!r}")
        else:
            out[name] = True
    return out


def refuse_shaped_only(cell: str, what: str) -> None:
    """A :class:`SpecError` for ``what`` (a command or function) with a ConvLSTM cell."""
    if cell in CONV_CELLS:
        raise SpecError("cell", f"{cell}: ConvLSTM is counted and shaped only (count, breakdown); "
                                f"{what} takes {', '.join(CELLS)}")


MAX_GRID_CELLS = 10_000
MAX_DIGITS = 100  # a size written with more digits is refused (Python's int() itself stops at 4,300)


def check_digits(param: str, items: list[str]) -> None:
    """A :class:`SpecError` for a number of more than :data:`MAX_DIGITS` digits."""
    longest = max((len(p.strip()) for p in items), default=0)
    if longest > MAX_DIGITS:
        raise SpecError(param, f"has a number of {longest:,} digits; at most {MAX_DIGITS} are allowed")


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
        check_digits(param, parts)
        start, stop, step = (int(p) for p in parts) if len(parts) == 3 else (int(parts[0]), int(parts[1]), 1)
        if start < 1 or step < 1 or stop < start:
            raise SpecError(param, f"{text!r} needs 1 <= start <= stop and step >= 1; allowed: {allowed}")
        if (stop - start) // step + 1 > MAX_GRID_CELLS:
            raise SpecError(param, f"{text!r} has over {MAX_GRID_CELLS:,} values")
        return list(range(start, stop + 1, step))
    items = text.split(",")
    if not all(p.strip().isdecimal() and p.strip().isascii() for p in items):
        raise SpecError(param, f"{text!r} is not a whole number or a list of them; allowed: {allowed}")
    check_digits(param, items)
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
