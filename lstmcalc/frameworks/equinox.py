"""Equinox: ``equinox.nn.LSTMCell`` and ``GRUCell`` (one cell, run over time with
``jax.lax.scan`` as Equinox's docstrings show).

Source (read, not guessed): ``equinox/nn/_rnn.py`` of equinox 0.13.8. ``LSTMCell``:
``weight_ih`` (4H, X), ``weight_hh`` (4H, H), ``bias`` (4H,) added once; blocks i, f, g, o
(``jnp.split(lin, 4)``); hidden is the tuple ``(h, c)``. ``GRUCell``: ``weight_ih`` (3H, X),
``weight_hh`` (3H, H), ``bias`` (3H,) on the input side, ``bias_n`` (H,) inside
r ⊙ (W_hn h + b_n); blocks r, z, n; h' = n + z ⊙ (h − n). ``use_bias=False`` drops both
biases. No SimpleRNN cell, no stacking, no bidirectional wrapper.

Weights files: keys ``weight_ih``, ``weight_hh``, ``bias``, ``bias_n`` (the cell's field
names; ``equinox.tree_serialise_leaves`` writes no names, so save them as an .npz).
"""

from __future__ import annotations

from ..spec import LayerSpec
from . import fused

NAME = "equinox"
TITLE = "Equinox"
SHORT = "Equinox"
CELLS = ("lstm", "gru")
CELL_TITLES = {"lstm": "LSTMCell", "gru": "GRUCell"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
LETTERS: dict = {}
OPTIONS = frozenset()
WHY_NOT = fused.single_layer_only(TITLE)
NAMES = {
    "lstm": {"input": "weight_ih", "recurrent": "weight_hh", "bias": "bias", "bias_n": None},
    "gru": {"input": "weight_ih", "recurrent": "weight_hh", "bias": "bias", "bias_n": "bias_n"},
}
NAMES_HINT = "weight_ih, weight_hh, bias[, bias_n for the GRU]"
A_TITLE = "an Equinox"
# init_weights (Fused): Equinox's defaults, every array U(−1/√H, 1/√H) (same distribution, not JAX's stream);
# layer_tensors: the cell's array fields in declaration order


def outputs(spec: LayerSpec):
    """What a ``jax.lax.scan`` of the cell over T steps carries out: the final state."""
    states = [("h", f"final hidden state after {spec.time} steps")]
    if spec.cell == "lstm":
        states.append(("c", f"final cell state after {spec.time} steps (hidden is the tuple (h, c))"))
    return fused.outputs_of(spec, states, sequence=False)


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """The final (h, c) (LSTM) or h a scan of the cell carries out."""
    return ("h", "c") if spec.cell == "lstm" else ("h",)


def constructor(spec: LayerSpec) -> list[str]:
    args = [str(spec.input_size), str(spec.units)]
    if not spec.bias:
        args.append("use_bias=False")
    args.append("key=jax.random.key(0)")
    return [f"equinox.nn.{CELL_TITLES[spec.cell]}({', '.join(args)})"]


def bias_note(spec: LayerSpec) -> tuple:
    """(sentence, the numbers it states): measured on equinox.nn in tests/crosscheck/test_bias_note_numbers.py."""
    h, per = spec.units, "per layer and direction"
    if spec.cell == "gru":
        return (f"Equinox's GRUCell adds bias (3H = {3 * h:,}) to the input projection and keeps bias_n (H = {h:,}) "
                "inside r ⊙ (W_hn h + bias_n): 4H biases, PyTorch's 6H less the 2H that only ever add up.",
                (("input_bias_params", 3 * h, per), ("recurrent_bias_params", h, per)))
    return (f"Equinox's LSTMCell keeps one bias per gate ({4 * h:,}); PyTorch's bias_ih + bias_hh convert into it "
            "as their sum.", (("bias_params", 4 * h, per),))


CONVENTION = fused.Fused(__name__)  # last: the instance takes every name above
