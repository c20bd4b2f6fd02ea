"""MLX: ``mlx.nn.LSTM``, ``GRU`` and ``RNN`` (one layer, one direction).

Source (read, not guessed): ``python/mlx/nn/layers/recurrent.py`` of mlx 0.32.4.
``LSTM``: ``Wx`` (4H, X), ``Wh`` (4H, H), ``bias`` (4H,), blocks i, f, g, o along the first
axis (``mx.split(ifgo, 4)``). ``GRU``: ``Wx`` (3H, X), ``Wh`` (3H, H), ``b`` (3H,) added to
the input projection, ``bhn`` (H,) inside r ⊙ (W_hn h + b_hn); blocks r, z, n; h_t =
(1 − z) ⊙ n + z ⊙ h. ``RNN``: ``Wxh`` (H, X), ``Whh`` (H, H), ``bias`` (H,),
``nonlinearity`` tanh (any callable; relu here). ``bias=False`` drops every bias.

Calls return every step: LSTM ``(hidden, cell)`` each (B, T, H); GRU and RNN ``hidden``
(B, T, H). State order (h, c), starting from zeros when no state is given. mlx#3249: GRU
versions that skipped ``bhn`` at t = 0 (no hidden state given) disagree with this at the
first step whenever ``bhn`` ≠ 0; 0.32.4 adds ``r * bhn`` there (the zero-state form).

Orientation: (G·H, X), (G·H, H) as read above. Issue 16 reports that MLX before 0.18 stored
the transposes ((X, 4H)); a file whose ``Wh`` is (H, G·H) is refused with that reason
(transpose it to read it), and an RNN ``Wxh`` that is (X, H) where X ≠ H likewise; a square
``Wxh``/``Whh`` cannot show its orientation and is read as today's.

Weights files: ``model.save_weights`` / ``mx.savez`` of the layer itself, keys ``Wx``,
``Wh``, ``bias`` | ``b``, ``bhn`` | ``Wxh``, ``Whh``, ``bias`` (.safetensors or .npz).
"""

from __future__ import annotations

from ..spec import LayerSpec
from . import fused

NAME = "mlx"
TITLE = "MLX"
SHORT = "MLX"
CELLS = ("lstm", "gru", "rnn")
CELL_TITLES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
GATE_ORDER = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn": ("h",)}
LETTERS: dict = {}
OPTIONS = frozenset()
WHY_NOT = fused.single_layer_only(TITLE)
CELL_SEQUENCE = True  # LSTM.__call__ returns (hidden, cell), every step of each
NAMES = {
    "lstm": {"input": "Wx", "recurrent": "Wh", "bias": "bias", "bias_n": None},
    "gru": {"input": "Wx", "recurrent": "Wh", "bias": "b", "bias_n": "bhn"},
    "rnn": {"input": "Wxh", "recurrent": "Whh", "bias": "bias", "bias_n": None},
}
NAMES_HINT = "Wx, Wh, bias (LSTM); Wx, Wh, b, bhn (GRU); Wxh, Whh, bias (RNN)"
A_TITLE = "an MLX"
# init_weights (Fused): MLX's defaults, every tensor U(−1/√H, 1/√H) (same distribution, not MLX's stream);
# layer_tensors: the module's parameters in ``parameters()`` order


def outputs(spec: LayerSpec):
    if spec.cell == "lstm":
        states = [("hidden", "h_t at every step"), ("cell", "c_t at every step")]
    else:
        states = [("hidden", "h_t at every step")]
    return fused.outputs_of(spec, states, sequence=True)


def returned_fields(spec: LayerSpec) -> tuple[str, ...]:
    """Every step's hidden (and LSTM cell) states, as the layer's call returns them."""
    return ("hidden", "cell") if spec.cell == "lstm" else ("hidden",)


def constructor(spec: LayerSpec) -> list[str]:
    args = [str(spec.input_size), str(spec.units)]
    if not spec.bias:
        args.append("bias=False")
    if spec.cell == "rnn" and spec.activation == "relu":
        args.append("nonlinearity=nn.relu")
    return [f"mlx.nn.{CELL_TITLES[spec.cell]}({', '.join(args)})"]


def bias_note(spec: LayerSpec) -> tuple:
    """(sentence, the numbers it states): measured on mlx.nn in tests/crosscheck/test_bias_note_numbers.py."""
    h, per = spec.units, "per layer and direction"
    if spec.cell == "gru":
        return (f"MLX's GRU adds b (3H = {3 * h:,}) to the input projection and keeps bhn (H = {h:,}) inside "
                "r ⊙ (W_hn h + bhn): 4H biases, PyTorch's 6H less the 2H (b_hr, b_hz) that only ever add to "
                "b_ir, b_iz. mlx#3249: versions that skip bhn at t = 0 differ at the first step.",
                (("input_bias_params", 3 * h, per), ("recurrent_bias_params", h, per)))
    return (f"MLX keeps one bias per {'gate' if spec.gates > 1 else 'block'} ({spec.gates * h:,}); PyTorch's "
            "bias_ih + bias_hh convert into it exactly as their sum.", (("bias_params", spec.gates * h, per),))


CONVENTION = fused.Fused(__name__)  # last: the instance takes every name above
