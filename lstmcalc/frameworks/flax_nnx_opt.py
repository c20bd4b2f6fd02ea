"""Flax nnx ``OptimizedLSTMCell``: the fused tree of ``flax.nnx`` (other nnx cells:
``flax_nnx``).

Source (read, not guessed): ``flax/nnx/nn/recurrent.py`` of flax 0.12.8.
``dense_i`` kernel (X, 4H) without bias, ``dense_h`` kernel (H, 4H) with bias (4H,)
(``nnx.Linear``, applied as ``x @ kernel``); y = dense_i(x) + dense_h(h), split into i, f,
g, o (``jnp.split(y, 4)``). Carry ``(c, h)``. 4H(X + H) + 4H, as ``LSTMCell``, whose tree is
per gate.
"""

from __future__ import annotations

from ..spec import LayerSpec
from . import flax as _linen
from . import flax_nnx as _nnx
from . import fused, treeparams
from .treeparams import Leaf

NAME = "flax_nnx_opt"
TITLE = "Flax nnx (OptimizedLSTMCell)"
SHORT = "Flax nnx OptimizedLSTMCell"
CELLS = ("lstm",)
CELL_TITLES = {"lstm": "OptimizedLSTMCell"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o")}
LETTERS: dict = {}
OPTIONS = frozenset()
WHY_NOT = {**_nnx.WHY_NOT, "no_bias": "Flax nnx's OptimizedLSTMCell always has its dense_h bias"}
TREE = {"lstm": (Leaf("dense_i/kernel", "input", tuple("ifgo")), Leaf("dense_h/kernel", "recurrent", tuple("ifgo")),
                 Leaf("dense_h/bias", "bias", tuple("ifgo")))}
NAMES_HINT = "dense_i/kernel, dense_h/kernel, dense_h/bias"


def layer_tensors(spec: LayerSpec, layer: int, direction: str):
    return treeparams.layer_tensors(TREE, spec, layer, direction)


def weights_key(spec: LayerSpec, tensor) -> str:
    return tensor.name


def biases_per_gate(spec: LayerSpec) -> int:
    return 1


def gate_biases(spec: LayerSpec, gate: str) -> int:
    return treeparams.gate_biases(TREE, spec, gate)


def formula(spec: LayerSpec, layer: int):
    return treeparams.formula(TREE, spec, layer)


outputs = _linen.outputs
forward_result = _linen.forward_result


def constructor(spec: LayerSpec) -> list[str]:
    cell = f"flax.nnx.OptimizedLSTMCell({spec.input_size}, {spec.units}, rngs=flax.nnx.Rngs(0))"
    return [f"flax.nnx.RNN({cell}, return_carry=True)"]


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


def init_weights(spec: LayerSpec, rng, dtype) -> dict:
    """Flax's defaults (lecun_normal, orthogonal, zeros)."""
    return _linen.initial_tree(layer_tensors(spec, 0, "forward"), rng, dtype)


def bias_note(spec: LayerSpec) -> tuple:
    return (f"Flax nnx's OptimizedLSTMCell keeps one bias per gate, on dense_h (4H = {4 * spec.units:,}); "
            "PyTorch's bias_ih + bias_hh convert into it as their sum. Its carry is (c, h), not (h, c).",
            (("bias_params", 4 * spec.units, "per layer and direction"),))


returned_fields = _linen.returned_fields
unknown_options = fused.unknown_options


from .base import Convention  # noqa: E402  (last: the instance takes every name above)

CONVENTION = Convention(__name__)
