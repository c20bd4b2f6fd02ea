"""Flax nnx: ``flax.nnx.LSTMCell``, ``GRUCell``, ``SimpleCell`` (one cell; run over time
with ``flax.nnx.RNN``). ``OptimizedLSTMCell`` has another tree: ``flax_nnx_opt``.

Source (read, not guessed): ``flax/nnx/nn/recurrent.py`` of flax 0.12.8. Kernels are
``nnx.Linear`` kernels (in_features, out_features), applied as ``x @ kernel``.

- ``LSTMCell``: ``ii, if_, ig, io`` (X, H) without bias, ``hi, hf, hg, ho`` (H, H) with
  bias (H,); ``if_`` because ``if`` is a Python keyword (linen's Dense is named ``if``).
  Carry ``(c, h)``. 4H(X + H) + 4H.
- ``GRUCell``: ``dense_i`` kernel (X, 3H) with bias (3H,), ``dense_h`` kernel (H, 3H)
  *without* bias, blocks r, z, n: n = tanh(x W_in + b_in + r ⊙ (h W_hn)). There is no
  recurrent candidate bias b_hn (google/flax#5594): 3H(X + H) + 3H. A GRU whose b_hn is
  not zero (PyTorch, Keras reset_after, MLX, Equinox, linen) has no nnx equivalent and is
  refused; one whose b_hn is zero converts exactly.
- ``SimpleCell``: ``dense_h`` kernel (H, H) without bias, ``dense_i`` kernel (X, H) with
  bias; tanh.

Weights files: ``nnx.state(cell, nnx.Param)`` as a pure dict (``nnx.to_pure_dict``)
flattened with ``/`` in an ``.npz``, or ``flax.serialization.msgpack_serialize`` of it.
"""

from __future__ import annotations

from ..spec import LayerSpec
from . import flax as _linen
from . import fused, treeparams
from .treeparams import Leaf

NAME = "flax_nnx"
TITLE = "Flax nnx"
SHORT = "Flax nnx"
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}
LETTERS: dict = {}
OPTIONS = frozenset()
WHY_NOT = {**fused.single_layer_only(TITLE),
           "no_bias": "Flax nnx's LSTMCell, GRUCell and SimpleCell always have their biases (no use_bias option)"}
GATE_NAMES = {"i": "ii", "f": "if_", "g": "ig", "o": "io"}
# the cell's ``nnx.Param`` leaves in attribute order
TREE = {
    "lstm": tuple(Leaf(f"{GATE_NAMES[g]}/kernel", "input", (g,)) for g in "ifgo")
    + tuple(leaf for g in "ifgo" for leaf in (Leaf(f"h{g}/kernel", "recurrent", (g,)), Leaf(f"h{g}/bias", "bias", (g,)))),
    "gru": (Leaf("dense_i/kernel", "input", ("r", "z", "n")), Leaf("dense_i/bias", "bias", ("r", "z", "n")),
            Leaf("dense_h/kernel", "recurrent", ("r", "z", "n"))),
    "rnn": (Leaf("dense_h/kernel", "recurrent", ("h",)), Leaf("dense_i/kernel", "input", ("h",)),
            Leaf("dense_i/bias", "bias", ("h",))),
}
NAMES_HINT = "ii/kernel, if_/kernel, ..., hi/kernel, hi/bias, ... (LSTM); dense_i/kernel, dense_i/bias, dense_h/kernel"
WHY_NO_BHN = ("Flax nnx's GRUCell has no recurrent candidate bias b_hn (google/flax#5594: n = tanh(x W_in + b_in + "
              "r ⊙ (h W_hn))); this GRU's b_hn is not zero, so no nnx GRUCell computes the same outputs")


def constructor(spec: LayerSpec) -> list[str]:
    cell = f"flax.nnx.{CELL_TITLES[spec.cell]}({spec.input_size}, {spec.units}, rngs=flax.nnx.Rngs(0))"
    return [f"flax.nnx.RNN({cell}, return_carry=True)"]


def bias_note(spec: LayerSpec) -> tuple:
    h = spec.units
    if spec.cell == "gru":
        per = "per layer and direction"
        return (f"Flax nnx's GRUCell has one bias per gate on the input side (dense_i, 3H = {3 * h}) and none on "
                f"dense_h, so no b_hn inside r ⊙ (h W_hn) (google/flax#5594): 3H = {3 * h} biases, 3H = {3 * h} "
                f"fewer than Keras' reset-after GRU (6H = {6 * h}) and H = {h} fewer than linen's GRUCell "
                f"(4H = {4 * h}), both of which compute something else whenever b_hn ≠ 0.",
                (("input_bias_params", 3 * h, per), ("fewer_than_keras", 3 * h, per), ("keras_bias_params", 6 * h, per),
                 ("fewer_than_linen", h, per), ("linen_bias_params", 4 * h, per)))
    text, stated = _linen.bias_note(spec)  # the same biases as linen's LSTMCell and SimpleCell
    return text.replace("Flax's", "Flax nnx's"), stated


CONVENTION = treeparams.FlaxTree(__name__)  # last: the instance takes every name above
