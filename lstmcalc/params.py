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
from .frameworks import gate_order
from .spec import LayerSpec


def weighted_gates(spec: LayerSpec) -> tuple[str, ...]:
    """The gates that have weights, in the framework's order: all of them, but the input
    gate of a coupled input and forget gate (``cifg``: i = 1 − f has none)."""
    return tuple(q for q in gate_order(spec) if not (spec.cifg and q == "i"))


def layer_count(spec: LayerSpec, layer: int) -> int:
    """Parameters of one direction of layer ``layer``. With the LSTM variants: G' = 3 gates
    with ``cifg`` (and 2 peepholes), the recurrent block H (not H_out·H) with ``diagonal``,
    G'·H layer-norm coefficients with ``layer_norm``, P more with ``proj_bias``."""
    h, x = spec.units, spec.layer_input_size(layer)
    gates = weighted_gates(spec)
    biases = sum(frameworks.gate_biases(spec, q) for q in gates) * h  # nb·H per gate, usually
    peepholes = len([q for q in PEEPHOLE_GATES if q in gates]) * h if spec.peepholes else 0
    recurrent = h if spec.diagonal else spec.hidden_out * h
    extra = len(gates) * h * spec.layer_norm + spec.proj_size * spec.proj_bias
    return len(gates) * spec.kernel_volume * (x * h + recurrent) + biases + spec.proj_size * h + peepholes + extra


def total_count(spec: LayerSpec) -> int:
    """Parameters of the whole layer or stack, every direction."""
    return sum(layer_count(spec, k) for k in range(spec.layers)) * spec.directions
