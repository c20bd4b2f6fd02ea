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
from . import flax_nnx as _nnx
from . import treeparams
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


def constructor(spec: LayerSpec) -> list[str]:
    cell = f"flax.nnx.OptimizedLSTMCell({spec.input_size}, {spec.units}, rngs=flax.nnx.Rngs(0))"
    return [f"flax.nnx.RNN({cell}, return_carry=True)"]


def bias_note(spec: LayerSpec) -> tuple:
    return (f"Flax nnx's OptimizedLSTMCell keeps one bias per gate, on dense_h (4H = {4 * spec.units:,}); "
            "PyTorch's bias_ih + bias_hh convert into it as their sum. Its carry is (c, h), not (h, c).",
            (("bias_params", 4 * spec.units, "per layer and direction"),))


CONVENTION = treeparams.FlaxTree(__name__)  # last: the instance takes every name above
