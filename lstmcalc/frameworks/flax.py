"""Flax linen: ``flax.linen.LSTMCell`` / ``OptimizedLSTMCell``, ``GRUCell``, ``SimpleCell``
(one cell; run over time with ``flax.linen.RNN`` or a scan).

Source (read, not guessed): ``flax/linen/recurrent.py`` of flax 0.12.8. Every gate has its
own ``Dense``: kernels (in_features, H) applied as ``x @ kernel``.

- ``LSTMCell``: ``ii, if, ig, io`` kernels (X, H) without bias (``dense_i``,
  ``use_bias=False``), ``hi, hf, hg, ho`` kernels (H, H) with bias (H,). The carry is
  ``(c, h)`` — cell state first (``c, h = carry``), the reverse of the (h, c) of PyTorch,
  Keras, MLX and Equinox. ``OptimizedLSTMCell`` creates the same parameters "with the same
  names/shapes as `LSTMCell` for compatibility" (``DenseParams``) and concatenates them when
  called: one tree for both. 4H(X + H) + 4H.
- ``GRUCell``: ``ir, iz, in`` (X, H) with bias, ``hr, hz`` (H, H) without, ``hn`` (H, H)
  with bias, inside r ⊙ (W_hn h + b_hn): 3H(X + H) + 4H. h' = (1 − z) ⊙ n + z ⊙ h.
- ``SimpleCell``: ``i`` (X, H) with bias, ``h`` (H, H) without; tanh (``residual=False``).

No bias-free form (the cells have no use_bias). Weights files: the ``params`` tree
flattened with ``/`` (``flax.traverse_util.flatten_dict(params, sep='/')``) in an ``.npz``,
or ``flax.serialization.msgpack_serialize`` of the tree (``.msgpack``; a top-level
``params`` collection is stepped into).
"""

from __future__ import annotations

from ..spec import LayerSpec
from . import fused, treeparams
from .treeparams import Leaf

NAME = "flax"
TITLE = "Flax linen"
SHORT = "Flax linen"
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "SimpleCell"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}
LETTERS: dict = {}
OPTIONS = frozenset()
WHY_NOT = {**fused.single_layer_only(TITLE),
           "no_bias": "Flax's LSTMCell, GRUCell and SimpleCell always have their biases (no use_bias option)"}
# the tree's leaves in creation order (input Dense, then recurrent Dense, per gate)
TREE = {
    "lstm": tuple(
        leaf for g in "ifgo" for leaf in (Leaf(f"i{g}/kernel", "input", (g,)), Leaf(f"h{g}/kernel", "recurrent", (g,)),
                                          Leaf(f"h{g}/bias", "bias", (g,)))
    ),
    "gru": (
        Leaf("ir/kernel", "input", ("r",)), Leaf("ir/bias", "bias", ("r",)), Leaf("hr/kernel", "recurrent", ("r",)),
        Leaf("iz/kernel", "input", ("z",)), Leaf("iz/bias", "bias", ("z",)), Leaf("hz/kernel", "recurrent", ("z",)),
        Leaf("in/kernel", "input", ("n",)), Leaf("in/bias", "bias", ("n",)), Leaf("hn/kernel", "recurrent", ("n",)),
        Leaf("hn/bias", "bias", ("n",), side="b_u"),
    ),
    "rnn": (Leaf("i/kernel", "input", ("h",)), Leaf("i/bias", "bias", ("h",)), Leaf("h/kernel", "recurrent", ("h",))),
}
# linen's letters: the LSTM gates' Dense modules are i? / h? with g the candidate
NAMES_HINT = "ii/kernel, hi/kernel, hi/bias, ... (LSTM); ir/kernel, ir/bias, ..., hn/bias (GRU); i/kernel, i/bias, h/kernel"


def constructor(spec: LayerSpec) -> list[str]:
    cell = f"flax.linen.{CELL_TITLES[spec.cell]}(features={spec.units})"
    return [f"flax.linen.RNN({cell}, return_carry=True)  # input (B, T, {spec.input_size})"]


def bias_note(spec: LayerSpec) -> tuple:
    """(sentence, the numbers it states): measured on flax.linen in tests/crosscheck/test_bias_note_numbers.py."""
    h, per = spec.units, "per layer and direction"
    if spec.cell == "gru":
        return (f"Flax's GRUCell gives ir, iz, in a bias and hr, hz none; hn has one, inside r ⊙ (W_hn h + b_hn): "
                f"4H = {4 * h:,} biases, PyTorch's 6H less the 2H that only ever add up.", (("bias_params", 4 * h, per),))
    if spec.cell == "lstm":
        return (f"Flax's LSTMCell puts the one bias per gate on the recurrent Dense (hi, hf, hg, ho): 4H = {4 * h:,}; "
                "PyTorch's bias_ih + bias_hh convert into it as their sum. Its carry is (c, h), not (h, c).",
                (("bias_params", 4 * h, per),))
    return f"Flax's SimpleCell has one bias, on the input Dense i (H = {h:,}).", (("bias_params", h, per),)


CONVENTION = treeparams.FlaxTree(__name__)  # last: the instance takes every name above
