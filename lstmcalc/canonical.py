"""One vocabulary and one in-memory form for a recurrent layer's weights, shared by every
framework module (stdlib at import; the weights themselves are NumPy arrays).

Gate letters (ours, whatever the framework calls them): LSTM ``i, f, g, o`` (g is the cell
candidate; ``c`` is only the cell state), GRU ``z, r, n``, SimpleRNN ``h`` (its one block).

The canonical form of one layer and direction keeps, per gate, the input block ``w``
(H, X_k), the recurrent block ``u`` (H, H_out), and up to two bias vectors: ``b_w`` on the
input side and ``b_u`` on the recurrent side, each (H,). For every gate but the reset-after
GRU candidate only their sum reaches the output; the reset-after candidate keeps ``b_u``
inside the reset product. The equations every framework module converts to and from
(x_t (B, X_k), h_{t-1} (B, H_out), c_{t-1} (B, H); σ the logistic sigmoid):

    a_q = W_q x_t + b_w[q] + U_q h_{t-1} + b_u[q]           every gate q but the GRU candidate
    LSTM   i = σ(a_i + p_i ⊙ c_{t-1}), f = σ(a_f + p_f ⊙ c_{t-1}), g = tanh(a_g)
           c_t = f ⊙ c_{t-1} + i ⊙ g
           o = σ(a_o + p_o ⊙ c_t);  h_t = o ⊙ tanh(c_t), or W_hr (o ⊙ tanh(c_t)) with a projection
           (p: peepholes, ONNX ``P``; zero where the framework has none)
    GRU    z = σ(a_z), r = σ(a_r)
           reset after:  n = tanh(W_n x_t + b_w[n] + r ⊙ (U_n h_{t-1} + b_u[n]))
           reset before: n = tanh(W_n x_t + b_w[n] + U_n (r ⊙ h_{t-1}) + b_u[n])
           h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n
    RNN    h_t = act(a_h), act = tanh or relu

With ``clip`` (ONNX), every pre-activation is clipped to [−clip, clip] before its
activation function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

CELL_GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("z", "r", "n"), "rnn": ("h",)}
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
PEEPHOLE_GATES = ("i", "f", "o")
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
    """One trainable tensor, as its framework names and shapes it."""

    name: str  # the framework's own name: "kernel", "weight_ih_l0_reverse", "W", ...
    layer: int  # 0-based layer index
    direction: str  # "forward" | "backward"; "both" for a tensor that holds both (ONNX)
    shape: tuple[int, ...]
    # "input" | "recurrent" | "bias" | "bias_input" | "bias_recurrent" | "bias_both" |
    # "projection" | "peephole"
    role: str
    slices: tuple[GateSlice, ...]  # where each gate's block lies; empty for the projection

    @property
    def count(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Output:
    """One tensor the layer returns, in the framework's return order."""

    name: str
    shape: tuple[int, ...]
    meaning: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "meaning": self.meaning}


@dataclass(eq=False)
class Direction:
    """One layer and direction's weights, gate by gate (gate letters as :data:`CELL_GATES`).

    ``w[q]`` (H, X_k) input block, ``u[q]`` (H, H_out) recurrent block; ``b_w[q]``, ``b_u[q]``
    (H,) the input- and recurrent-side biases, ``None`` where the layer has no bias at all
    (``b_w``) or keeps one bias per gate (``b_u``); ``proj`` (P, H) PyTorch's ``weight_hr``;
    ``peep[q]`` (H,) the LSTM peepholes of i, f, o (ONNX ``P``).
    """

    w: dict
    u: dict
    b_w: dict | None = None
    b_u: dict | None = None
    proj: np.ndarray | None = None
    peep: dict | None = None
    # LSTM variants (spec.VARIANTS): ``norm[q]`` (H,) layer-norm coefficients, ``proj_b`` (P,)
    # the projection's bias; no "i" in w/u/b_w under CIFG; u[q] (H,) when diagonal.
    norm: dict | None = None
    proj_b: np.ndarray | None = None
    # hybrid int8 storage: {(role, gate): scale} of the weights stored as int8 (dequantized here)
    quant: dict | None = None


@dataclass(eq=False)
class Canonical:
    """A whole layer (or stack): ``layers[k][d]`` is layer k's direction d (0 forward,
    1 backward). ``reset_after`` says where a GRU's reset gate applies (see the module
    docstring); ``activation`` is the SimpleRNN's; ``clip`` the ONNX cell clip (None: none).
    ``recurrent_activation`` is the LSTM / GRU gate function, σ above (one of
    :data:`lstmcalc.spec.RECURRENT_ACTIVATIONS`: sigmoid, or Keras 2's or Keras 3's hard_sigmoid).
    ``merge_mode`` is how two directions hand their outputs on (Keras ``Bidirectional``)."""

    cell: str
    layers: list = field(default_factory=list)  # [layer][direction] -> Direction
    reset_after: bool = True
    activation: str = "tanh"
    clip: float | None = None
    merge_mode: str = "concat"
    recurrent_activation: str = "sigmoid"
    cell_clip: float = 0.0  # c_t clipped to ±cell_clip (0: none)
    proj_clip: float = 0.0  # the projection's output clipped to ±proj_clip (0: none)
    asymmetric_inputs: bool = False  # a hybrid op quantizes its inputs asymmetrically (zero point)

    def variants(self) -> dict:
        """The LSTM variants (spec.VARIANTS) these weights have, with their values."""
        first = self.first
        found = {"cifg": self.cell == "lstm" and "i" not in first.w,
                 "layer_norm": first.norm is not None, "proj_bias": first.proj_b is not None,
                 "diagonal": any(getattr(u, "ndim", 2) == 1 for u in first.u.values()),
                 "cell_clip": self.cell_clip, "proj_clip": self.proj_clip}
        return {k: v for k, v in found.items() if v}

    @property
    def first(self) -> Direction:
        return self.layers[0][0]

    @property
    def units(self) -> int:
        return int(self.first.w[CELL_GATES[self.cell][1 if self.cell == "lstm" else 0]].shape[0])

    @property
    def input_size(self) -> int:
        return int(self.first.w[CELL_GATES[self.cell][1 if self.cell == "lstm" else 0]].shape[1])

    @property
    def proj_size(self) -> int:
        return 0 if self.first.proj is None else int(self.first.proj.shape[0])

    @property
    def bidirectional(self) -> bool:
        return len(self.layers[0]) == 2

    @property
    def bias(self) -> bool:
        return self.first.b_w is not None

    @property
    def peepholes(self) -> bool:
        return self.first.peep is not None

    def directions(self):
        """(layer, direction name, Direction) for every layer and direction, in order."""
        for k, row in enumerate(self.layers):
            for d, part in enumerate(row):
                yield k, DIRECTIONS[d], part


def bias_sum(part: Direction, gate: str):
    """b_w[gate] + b_u[gate] in float64 (what reaches every gate but the reset-after GRU
    candidate), or None without bias."""
    import numpy as np

    if part.b_w is None:
        return None
    total = np.asarray(part.b_w[gate], dtype=np.float64)
    if part.b_u is not None:
        total = total + np.asarray(part.b_u[gate], dtype=np.float64)
    return total


def merge_directions(mode: str, fw, bw, out) -> None:
    """out ← the merge of two directions' outputs, as Keras' ``Bidirectional`` does it
    (keras/src/layers/rnn/bidirectional.py): sum, mul, or ave = (fw + bw) / 2; concat is
    written in place by the caller. Arrays of one shape, (B, T, H) or (B, H)."""
    import numpy as np

    if mode == "sum":
        np.add(fw, bw, out=out)
    elif mode == "mul":
        np.multiply(fw, bw, out=out)
    else:  # ave: Keras computes (y + y_rev) / 2
        np.add(fw, bw, out=out)
        out /= 2
