"""How Keras 3 and PyTorch name, shape and order the tensors of a recurrent layer (stdlib only).

Sources (read, not guessed):
- Keras 3 ``keras/src/layers/rnn/lstm.py``, ``gru.py``, ``simple_rnn.py``: ``kernel`` is
  (X, G*H), ``recurrent_kernel`` (H, G*H), gate blocks along the last axis, LSTM order
  i, f, c, o; GRU order z, r, h with ``bias`` (2, 3H) when ``reset_after`` (row 0 input
  bias, row 1 recurrent bias) and (3H,) otherwise.
- PyTorch ``torch/nn/modules/rnn.py``: ``weight_ih_l{k}`` (G*H, X_k), ``weight_hh_l{k}``
  (G*H, H_out), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), ``weight_hr_l{k}`` (P, H),
  suffix ``_reverse`` for the backward direction, gate blocks along the first axis,
  LSTM order i, f, g, o; GRU order r, z, n. ``named_parameters()`` lists, per layer and
  then per direction: weight_ih, weight_hh, bias_ih, bias_hh, weight_hr.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import LayerSpec

# Our gate letters (style guide): LSTM i, f, g, o (g = cell candidate); GRU z, r, n;
# SimpleRNN has one block, which computes the new hidden state h directly.
GATE_NAMES = {
    "i": "input",
    "f": "forget",
    "g": "candidate",
    "o": "output",
    "z": "update",
    "r": "reset",
    "n": "candidate",
    "h": "hidden state",
}

# Each framework's order of the gate blocks inside its fused tensors.
GATE_ORDER = {
    ("keras", "lstm"): ("i", "f", "g", "o"),
    ("torch", "lstm"): ("i", "f", "g", "o"),
    ("keras", "gru"): ("z", "r", "n"),
    ("torch", "gru"): ("r", "z", "n"),
    ("keras", "rnn"): ("h",),
    ("torch", "rnn"): ("h",),
}

# What the framework's own source calls a gate where it differs from our letter.
FRAMEWORK_LETTER = {
    ("keras", "lstm", "g"): "c",  # Keras: k_i, k_f, k_c, k_o
    ("keras", "gru", "n"): "h",  # Keras: x_h, recurrent_h
}

DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class GateSlice:
    """Gate ``gate``'s block is ``[start:stop]`` along ``axis`` of its tensor."""

    gate: str
    axis: int
    start: int
    stop: int

    def to_dict(self) -> dict:
        return {"gate": self.gate, "axis": self.axis, "start": self.start, "stop": self.stop}


@dataclass(frozen=True)
class TensorLayout:
    """One trainable tensor, as the framework names and shapes it."""

    name: str  # the framework's own name: "kernel", "weight_ih_l0_reverse", ...
    layer: int  # 0-based layer index
    direction: str  # "forward" | "backward"
    shape: tuple[int, ...]
    role: str  # "input" | "recurrent" | "bias" | "bias_input" | "bias_recurrent" | "projection"
    slices: tuple[GateSlice, ...]  # empty for the projection

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def gate_order(spec: LayerSpec) -> tuple[str, ...]:
    return GATE_ORDER[(spec.framework, spec.cell)]


def framework_letter(spec: LayerSpec, gate: str) -> str:
    return FRAMEWORK_LETTER.get((spec.framework, spec.cell, gate), gate)


def _slices(spec: LayerSpec, axis: int) -> tuple[GateSlice, ...]:
    h = spec.units
    return tuple(
        GateSlice(gate, axis, k * h, (k + 1) * h) for k, gate in enumerate(gate_order(spec))
    )


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer and direction, in the framework's own order."""
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    if spec.framework == "keras":
        out = [
            TensorLayout("kernel", layer, direction, (x, g * h), "input", _slices(spec, 1)),
            TensorLayout(
                "recurrent_kernel", layer, direction, (h, g * h), "recurrent", _slices(spec, 1)
            ),
        ]
        if spec.bias:
            if spec.cell == "gru" and spec.reset_after:
                # row 0: input bias, row 1: recurrent bias (applied inside r * (...))
                out.append(TensorLayout("bias", layer, direction, (2, g * h), "bias", _slices(spec, 1)))
            else:
                out.append(TensorLayout("bias", layer, direction, (g * h,), "bias", _slices(spec, 0)))
        return out

    suffix = f"_l{layer}" + ("_reverse" if direction == "backward" else "")
    h_out = spec.hidden_out
    out = [
        TensorLayout(f"weight_ih{suffix}", layer, direction, (g * h, x), "input", _slices(spec, 0)),
        TensorLayout(
            f"weight_hh{suffix}", layer, direction, (g * h, h_out), "recurrent", _slices(spec, 0)
        ),
    ]
    if spec.bias:
        out.append(TensorLayout(f"bias_ih{suffix}", layer, direction, (g * h,), "bias_input", _slices(spec, 0)))
        out.append(
            TensorLayout(f"bias_hh{suffix}", layer, direction, (g * h,), "bias_recurrent", _slices(spec, 0))
        )
    if spec.proj_size:
        out.append(TensorLayout(f"weight_hr{suffix}", layer, direction, (spec.proj_size, h), "projection", ()))
    return out


def all_tensors(spec: LayerSpec) -> list[TensorLayout]:
    """Every trainable tensor, in the order the framework lists them.

    Keras: layer by layer, forward then backward (``Bidirectional`` lists its forward
    layer's weights first). PyTorch: ``named_parameters()`` order, the same nesting.
    """
    return [
        t
        for layer in range(spec.layers)
        for direction in DIRECTIONS[: spec.directions]
        for t in layer_tensors(spec, layer, direction)
    ]


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The name a tensor has in an ``.npz`` weights file.

    PyTorch: the ``state_dict()`` name itself (``weight_ih_l1_reverse``).
    Keras: ``kernel``, ``recurrent_kernel``, ``bias`` for one unidirectional layer; with
    several layers or a backward direction, ``layer{k}/{forward|backward}/{name}``
    (``layer1/backward/recurrent_kernel``), since Keras itself repeats the bare names.
    """
    if spec.framework == "torch" or (spec.layers == 1 and not spec.bidirectional):
        return tensor.name
    return f"layer{tensor.layer}/{tensor.direction}/{tensor.name}"


KERAS_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def constructor(spec: LayerSpec) -> list[str]:
    """Python lines that build the same layer in the framework itself."""
    if spec.framework == "torch":
        args = [f"input_size={spec.input_size}", f"hidden_size={spec.units}"]
        if spec.layers > 1:
            args.append(f"num_layers={spec.layers}")
        if not spec.bias:
            args.append("bias=False")
        args.append("batch_first=True")
        if spec.bidirectional:
            args.append("bidirectional=True")
        if spec.proj_size:
            args.append(f"proj_size={spec.proj_size}")
        if spec.cell == "rnn" and spec.activation != "tanh":
            args.append(f'nonlinearity="{spec.activation}"')
        return [f"torch.nn.{TORCH_CLASSES[spec.cell]}({', '.join(args)})"]
    lines = []
    for layer in range(spec.layers):
        last = layer == spec.layers - 1
        args = [str(spec.units)]
        if spec.cell == "rnn" and spec.activation != "tanh":
            args.append(f'activation="{spec.activation}"')
        if not spec.bias:
            args.append("use_bias=False")
        if spec.cell == "gru" and not spec.reset_after:
            args.append("reset_after=False")
        if not last or spec.return_sequences:
            args.append("return_sequences=True")
        if last and spec.return_state:
            args.append("return_state=True")
        line = f"keras.layers.{KERAS_CLASSES[spec.cell]}({', '.join(args)})"
        if spec.bidirectional:
            merge = f', merge_mode="{spec.merge_mode}"' if spec.merge_mode != "concat" else ""
            line = f"keras.layers.Bidirectional({line}{merge})"
        lines.append(line)
    return lines
