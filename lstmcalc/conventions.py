"""How a framework names, shapes and orders the tensors of a recurrent layer: the calls
every other module makes, each answered by the framework's module in
:mod:`lstmcalc.frameworks` (stdlib only).
"""

from __future__ import annotations

from . import frameworks
from .canonical import DIRECTIONS, GATE_NAMES, GateSlice, Output, TensorLayout  # noqa: F401  (the vocabulary)
from .spec import LayerSpec


def gate_order(spec: LayerSpec) -> tuple[str, ...]:
    """Our gate letters in the order the framework's fused tensors hold them."""
    return frameworks.of(spec).GATE_ORDER[spec.cell]


def framework_letter(spec: LayerSpec, gate: str) -> str:
    """What the framework's own source calls ``gate`` (Keras ``c`` for our ``g``)."""
    return frameworks.of(spec).LETTERS.get((spec.cell, gate), gate)


def framework_title(spec: LayerSpec) -> str:
    """'Keras 3', 'PyTorch', ..."""
    return frameworks.of(spec).TITLE


def cell_title(spec: LayerSpec) -> str:
    """The framework's class name of the cell: 'SimpleRNN' in Keras, 'RNN' in PyTorch."""
    return frameworks.of(spec).CELL_TITLES[spec.cell]


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer and direction, in the framework's own order."""
    return frameworks.of(spec).layer_tensors(spec, layer, direction)


def all_tensors(spec: LayerSpec) -> list[TensorLayout]:
    """Every trainable tensor, in the order the framework lists them: layer by layer,
    forward then backward."""
    fw = frameworks.of(spec)
    return [
        t
        for layer in range(spec.layers)
        for direction in DIRECTIONS[: spec.directions]
        for t in fw.layer_tensors(spec, layer, direction)
    ]


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The name a tensor has in an ``.npz`` weights file."""
    return frameworks.of(spec).weights_key(spec, tensor)


def constructor(spec: LayerSpec) -> list[str]:
    """Python lines that build the same layer in the framework itself."""
    return frameworks.of(spec).constructor(spec)


def outputs(spec: LayerSpec) -> list[Output]:
    """What the layer returns, in the framework's return order."""
    return frameworks.of(spec).outputs(spec)


def layer_formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One direction of ``layer``'s count as a formula, symbolic and with numbers."""
    return frameworks.of(spec).formula(spec, layer)


def biases_per_gate(spec: LayerSpec) -> int:
    """nb: bias vectors of length H per gate (0, 1 or 2)."""
    return frameworks.of(spec).biases_per_gate(spec)


# The Keras class names: the cell's usual title in tables and plots.
KERAS_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN",
                 "convlstm1d": "ConvLSTM1D", "convlstm2d": "ConvLSTM2D", "convlstm3d": "ConvLSTM3D"}
