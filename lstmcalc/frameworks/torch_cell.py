"""PyTorch cells: ``torch.nn.LSTMCell``, ``GRUCell`` and ``RNNCell`` (one layer, one
direction, one step a call; a sequence is the user's loop over its steps).

Source (read, not guessed): ``torch/nn/modules/rnn.py`` (``RNNCellBase``). ``weight_ih``
(G·H, X), ``weight_hh`` (G·H, H), ``bias_ih`` and ``bias_hh`` (G·H,), ``bias=False`` drops
both; the names carry no ``_l{k}`` (that is ``nn.LSTM``'s). Gate blocks along the first
axis, LSTM i, f, g, o; GRU r, z, n with ``b_hn`` inside r ⊙ (W_hn h + b_hn); RNNCell
``nonlinearity`` tanh or relu. The arithmetic is ``nn.LSTM``'s layer 0 (the same kernels,
``_VF.lstm_cell``): this module renames the tensors and hands the rest to
:mod:`lstmcalc.frameworks.torch`.

Calls: ``LSTMCell(x_t, (h, c))`` returns ``(h_1, c_1)``, each (B, H); ``GRUCell`` and
``RNNCell`` return ``h_1`` (B, H). A missing state is zeros. lstmcalc runs the loop
``for t in range(T): state = cell(x[:, t], state)`` and returns the final state, plus the
h of every step (what a loop that collects them holds).

Names shared exactly with another convention are not guessed: a bias-free LSTMCell's
``weight_ih``, ``weight_hh`` are Equinox's bias-free LSTMCell names too (say
``--framework``); with a bias, ``bias_ih``/``bias_hh`` are PyTorch's and Equinox's is
``bias``.
"""

from __future__ import annotations

from dataclasses import replace

from ..canonical import Output, TensorLayout
from ..spec import LayerSpec
from . import torch as _torch

NAME = "torch_cell"
TITLE = "PyTorch cell"
SHORT = "PyTorch's cell"  # in running text
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "RNNCell"}
GATE_ORDER = _torch.GATE_ORDER
LETTERS: dict = {}
OPTIONS = frozenset()
PEER = "keras"  # what a grid sets beside it
WHY_NOT = {
    "bidirectional": "a PyTorch cell is one direction; run a second cell over the reversed sequence yourself, "
                     "or use torch.nn.LSTM/GRU/RNN(bidirectional=True) (--framework torch)",
    "layers": "a PyTorch cell is one layer; stack cells yourself (each its own weights), or use "
              "torch.nn.LSTM/GRU/RNN(num_layers=...) (--framework torch)",
    "merge_mode": "is a Keras Bidirectional option",
    "reset_before": "PyTorch's GRUCell is always the reset-after form",
    "return_sequences": "is a Keras option; a PyTorch cell returns one step's state",
    "return_state": "is a Keras option; a PyTorch cell returns one step's state",
    "peepholes": "PyTorch's LSTMCell has no peephole connections",
    "layout": "is an ONNX attribute",
    "proj_size": "PyTorch's LSTMCell has no projection (proj_size is torch.nn.LSTM's, --framework torch)",
}
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
NAMES_HINT = "weight_ih, weight_hh, bias_ih, bias_hh (no _l{k})"


def _layer_spec(spec: LayerSpec) -> LayerSpec:
    """The same layer as ``torch.nn.LSTM/GRU/RNN`` (one layer): the arithmetic is shared."""
    return replace(spec, framework="torch")


def _cell_name(layer_name: str) -> str:
    return layer_name.removesuffix("_l0")


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh`` in ``named_parameters()`` order."""
    return [replace(t, name=_cell_name(t.name)) for t in _torch.layer_tensors(_layer_spec(spec), layer, direction)]


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The ``state_dict()`` name itself."""
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    """bias_ih and bias_hh: 2 per gate; 0 with ``bias=False``."""
    return 2 if spec.bias else 0


def formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    return _torch.formula(_layer_spec(spec), layer)


def outputs(spec: LayerSpec) -> list[Output]:
    """What the loop ``for t in range(T): state = cell(x[:, t], state)`` holds at the end, as
    ``run`` returns it: every call's h, then the state the last call returned."""
    b, h, t = spec.batch, spec.units, spec.time
    out = [Output("output", (b, t, h), f"h_1 of each of the {t} calls, collected by the loop")]
    if spec.cell == "lstm":
        out += [Output("h", (b, h), "h_1 of the last call (LSTMCell returns the tuple (h_1, c_1))"),
                Output("c", (b, h), "c_1 of the last call")]
    else:
        out.append(Output("h", (b, h), f"h_1 of the last call ({CELL_TITLES[spec.cell]} returns h_1)"))
    return out


def constructor(spec: LayerSpec) -> list[str]:
    args = [f"input_size={spec.input_size}", f"hidden_size={spec.units}"]
    if not spec.bias:
        args.append("bias=False")
    if spec.cell == "rnn" and spec.activation != "tanh":
        args.append(f'nonlinearity="{spec.activation}"')
    return [f"torch.nn.{CELL_TITLES[spec.cell]}({', '.join(args)})"]


def recognises(key: str) -> bool:
    return key in NAMES


def parse_name(key: str) -> tuple[int, str, str] | None:
    return (0, "forward", key) if key in NAMES else None


def describe_names(names) -> dict[tuple[int, str, str], str]:
    from .shared import parsed_names

    return parsed_names(names, parse_name, f"a PyTorch cell state_dict name ({NAMES_HINT})")


def _as_layer(weights) -> dict:
    return {f"{k}_l0": v for k, v in weights.items()}


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    layer_weights = _as_layer({k: weights[k] for k in parsed.values()})
    layer_parsed = {(0, "forward", name): f"{name}_l0" for (_, _, name) in parsed}
    return _torch.infer_options(layer_weights, layer_parsed, cell)  # no weight_hr among NAMES: proj_size is 0


def to_canonical(weights, spec: LayerSpec):
    return _torch.to_canonical(_as_layer(weights), _layer_spec(spec))


def from_canonical(c, spec: LayerSpec) -> dict:
    from ..spec import SpecError

    if c.bidirectional or len(c.layers) > 1:
        what = "two directions" if c.bidirectional else f"{len(c.layers)} layers"
        raise SpecError("layers" if len(c.layers) > 1 else "bidirectional",
                        f"this layer has {what}; {WHY_NOT['layers' if len(c.layers) > 1 else 'bidirectional']}")
    if c.proj_size:
        raise SpecError("proj_size", f"an LSTM with a projection (proj_size={c.proj_size}) has no PyTorch cell "
                                     "equivalent: LSTMCell's h is the H-wide o ⊙ tanh(c)")
    return {_cell_name(k): v for k, v in _torch.from_canonical(c, _layer_spec(spec)).items()}


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """Every step's h (B, T, H), the last call's h (B, H) and, for the LSTM, its c (B, H)."""
    return {"output": output, "h": h_n[0].copy(), "c": None if c_n is None else c_n[0].copy(),
            "h_backward": None, "c_backward": None}


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """Every step's h (what the user's loop collects), the last h and (LSTM) c."""
    return ("output", "h", "c")


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """What names and shapes cannot show: an RNNCell's nonlinearity."""
    return {"activation": ("tanh", "relu")} if spec.cell == "rnn" else {}


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """PyTorch's defaults: every tensor U(−1/√H, 1/√H) (same distribution, not torch's stream)."""
    return {_cell_name(k): v for k, v in _torch.init_weights(_layer_spec(spec), rng, dtype).items()}


def bias_note(spec: LayerSpec) -> tuple:
    g, h = spec.gates, spec.units
    stated = (("bias_vector_params", g * h, "per layer and direction"),)
    if spec.cell == "gru":
        return (f"PyTorch's GRUCell keeps bias_ih and bias_hh ({g * h} each); b_hn sits inside r ⊙ (W_hn h + b_hn), "
                "so only b_hr and b_hz could merge into bias_ih.", stated)
    return (f"PyTorch's {CELL_TITLES[spec.cell]} keeps bias_ih and bias_hh ({g * h} each); only their sum reaches "
            f"the {'gates' if g > 1 else 'pre-activation'}, so one of the two is redundant.", stated)


# --- initial states ------------------------------------------------------------------------------


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """What the first call takes as ``hx``: ``h_0`` (B, H), for LSTMCell the tuple (h_0, c_0)."""
    b, h = spec.batch, spec.units
    out = [Output("h_0", (b, h), "h before the first call")]
    if spec.cell == "lstm":
        out.append(Output("c_0", (b, h), "c before the first call"))
    return out


def initial_state_from(spec: LayerSpec, given, dtype):
    """(h0 (1, B, H), c0 (1, B, H) or None) from ``hx`` as the cell takes it: ``h_0``, or for
    LSTMCell ``(h_0, c_0)``; or a mapping {"h_0": ..., "c_0": ...}."""
    from .shared import state_array, states_given

    shapes = initial_state_shapes(spec)
    names = [o.name for o in shapes]
    what = f"torch.nn.{CELL_TITLES[spec.cell]}'s hx"
    arrays = [state_array(o.name, v, o.shape, dtype)[None] for o, v in zip(shapes, states_given(given, names, what))]
    return arrays[0], (arrays[1] if spec.cell == "lstm" else None)


def initial_state_aliases(spec: LayerSpec) -> dict[str, tuple[str, ...]]:
    """Other names of h_0 and c_0 in a states file: h, c (what ``run --save`` writes for the
    last call's state)."""
    return {"h_0": ("h",), "c_0": ("c",)}


def initial_state_to(spec: LayerSpec, h_n, c_n):
    """The final states as the next call takes them: ``(h_1, c_1)`` or ``h_1``, each (B, H)."""
    return (h_n[0], c_n[0]) if spec.cell == "lstm" else h_n[0]


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
