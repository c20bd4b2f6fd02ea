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


def layer_tensors(spec: LayerSpec, layer: int, direction: str):
    """The tree's leaves in creation order (input Dense, then recurrent Dense, per gate)."""
    return treeparams.layer_tensors(TREE, spec, layer, direction)


def weights_key(spec: LayerSpec, tensor) -> str:
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    return 1


def gate_biases(spec: LayerSpec, gate: str) -> int:
    return treeparams.gate_biases(TREE, spec, gate)


def formula(spec: LayerSpec, layer: int):
    return treeparams.formula(TREE, spec, layer)


def outputs(spec: LayerSpec):
    """What ``flax.linen.RNN(cell, return_carry=True)`` returns: the final carry, then every
    step's output."""
    b, t, h = spec.batch, spec.time, spec.units
    from ..canonical import Output

    if spec.cell == "lstm":
        out = [Output("c", (b, h), "carry[0]: final cell state (Flax's carry is (c, h))"),
               Output("h", (b, h), "carry[1]: final hidden state")]
    else:
        out = [Output("h", (b, h), "carry: final hidden state")]
    return out + [Output("outputs", (b, t, h), "h_t at every step")]


def constructor(spec: LayerSpec) -> list[str]:
    cell = f"flax.linen.{CELL_TITLES[spec.cell]}(features={spec.units})"
    return [f"flax.linen.RNN({cell}, return_carry=True)  # input (B, T, {spec.input_size})"]


def recognises(key: str) -> bool:
    return treeparams.recognises(TREE, key)


def parse_name(key: str):
    return (0, "forward", key) if recognises(key) else None


def describe_names(names) -> dict:
    return treeparams.describe_names(TREE, TITLE, NAMES_HINT, names)


def infer_options(weights, parsed: dict, cell: str | None) -> dict:
    return treeparams.infer_options(TREE, weights, parsed, cell, TITLE)


def to_canonical(weights, spec: LayerSpec):
    return treeparams.to_canonical(TREE, weights, spec)


def from_canonical(c, spec: LayerSpec) -> dict:
    return treeparams.from_canonical(TREE, TITLE, c, spec)


def forward_result(spec: LayerSpec, output, h_n, c_n) -> dict:
    """The final carry (c, h) or h (B, H), and every step's h as ``outputs`` (B, T, H)."""
    return {**fused.forward_result(spec, output, h_n, c_n), "named": {"outputs": output}}


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """linen's defaults: input kernels lecun_normal (N(0, 1/X) truncated at 2 sigma),
    recurrent kernels orthogonal, biases zero. Same distributions, not JAX's stream."""
    return initial_tree(layer_tensors(spec, 0, "forward"), rng, dtype)


def initial_tree(tensors, rng, dtype) -> dict:
    """Flax's default initial values for ``tensors`` (TensorLayouts of one cell)."""
    import numpy as np

    out = {}
    for t in tensors:
        if t.role == "input":
            std = 1.0 / np.sqrt(t.shape[0]) / 0.87962566103423978  # truncated-normal correction
            a = np.clip(rng.normal(0, std, size=t.shape), -2 * std, 2 * std)
        elif t.role == "recurrent":  # (H, n·H), n·H >= H: orthonormal rows
            q, r = np.linalg.qr(rng.standard_normal((t.shape[1], t.shape[0])))  # (n·H, H)
            a = (q * np.sign(np.diag(r))).T  # (H, n·H)
        else:
            a = np.zeros(t.shape)
        out[t.name] = np.ascontiguousarray(a, dtype=dtype)
    return out


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




def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """``RNN(cell, return_carry=True)`` returns (carry, outputs): the carry (c, h) or h first."""
    return ("c", "h", "outputs") if spec.cell == "lstm" else ("h", "outputs")
unknown_options = fused.unknown_options


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
