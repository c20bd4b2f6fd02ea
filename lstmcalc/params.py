"""How many parameters a layer has, per layer and direction and in all (stdlib only).

Per layer and direction, with G gate blocks, H units, X_k inputs to layer k, H_out = P with
a projection (else H) and nb bias vectors per gate (the framework module says how many,
gate by gate where they differ):

    params_k = G × (k·X_k·H + k·H_out·H + nb·H) + P·H (+ 3H with LSTM peepholes)

k is 1 but for a ConvLSTM, whose blocks are convolutions over k = k_1 · … · k_n positions
(X_k its input channels C, H its filters F).
"""

from __future__ import annotations

from . import frameworks
from .canonical import PEEPHOLE_GATES
from .conventions import gate_order
from .spec import LayerSpec


def layer_count(spec: LayerSpec, layer: int) -> int:
    """Parameters of one direction of layer ``layer``."""
    h, x = spec.units, spec.layer_input_size(layer)
    biases = sum(frameworks.gate_biases(spec, q) for q in gate_order(spec)) * h  # nb·H per gate, usually
    peepholes = len(PEEPHOLE_GATES) * h if spec.peepholes else 0
    return spec.gates * spec.kernel_volume * (x * h + spec.hidden_out * h) + biases + spec.proj_size * h + peepholes


def total_count(spec: LayerSpec) -> int:
    """Parameters of the whole layer or stack, every direction."""
    return sum(layer_count(spec, k) for k in range(spec.layers)) * spec.directions
